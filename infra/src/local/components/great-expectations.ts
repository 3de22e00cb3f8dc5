import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../../versions.js';
import { type Component, probe } from '../component.js';
import { runCommand } from '../process.js';
import { platformConfigOf, type StackSettings } from '../settings.js';

const venvDir = (s: StackSettings) => join(s.paths.venvs, 'gx');
const python = (s: StackSettings) => platformConfigOf(s).gx.python;
const marker = (s: StackSettings) => join(venvDir(s), '.bv-requirements');
const requirements = versions.greatExpectations.packages.join('\n');

export const greatExpectations: Component = {
  name: 'great-expectations',
  kind: 'toolchain',
  version: versions.greatExpectations.packages[0].split('==')[1] ?? 'unknown',
  dependsOn: [],
  address: () => null,
  logFile: (s) => join(s.paths.logs, 'great-expectations.log'),
  isInstalled: (s) => existsSync(marker(s)) && readFileSync(marker(s), 'utf8') === requirements,

  async install(s) {
    if (this.isInstalled(s)) return;
    const log = this.logFile(s);
    if (!existsSync(python(s))) await runCommand('python3', ['-m', 'venv', venvDir(s)], { logFile: log });
    await runCommand(
      python(s),
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--cache-dir',
        s.paths.pipCache,
        ...versions.greatExpectations.packages,
      ],
      { logFile: log, timeoutMs: 20 * 60_000 },
    );
    writeFileSync(marker(s), requirements);
  },

  runningPid: () => undefined,
  start: async () => {},
  stop: async () => false,

  health: (s) =>
    probe(async () => {
      const { stdout } = await runCommand(
        python(s),
        [
          '-c',
          'import great_expectations as gx, pandas, pyarrow; print(gx.__version__, pandas.__version__, pyarrow.__version__)',
        ],
        { timeoutMs: 60_000 },
      );
      const [gx, pandas, pyarrow] = stdout.trim().split(' ');
      return `great_expectations ${gx} (pandas ${pandas}, pyarrow ${pyarrow})`;
    }),
};
