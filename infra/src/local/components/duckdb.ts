import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type DuckDbExtension, versions } from '../../versions.js';
import { type Component, probe } from '../component.js';
import { runCommand } from '../process.js';
import { platformConfigOf, type StackSettings } from '../settings.js';

const { duckdb: v } = versions;
const PLATFORM = 'linux_amd64';

const wheelsDir = (s: StackSettings) => join(s.paths.dist, 'duckdb', `wheels-${v.version}`);
const filesDir = (s: StackSettings) => join(s.paths.dist, 'duckdb', `files-${v.version}`);
const extensionDirectory = (s: StackSettings) => platformConfigOf(s).duckdb.extensionDirectory;
const installedFile = (s: StackSettings, name: DuckDbExtension) =>
  join(extensionDirectory(s), `v${v.version}`, PLATFORM, `${name}.duckdb_extension`);

/** PyPI names the signed extension wheels with dashes: duckdb-extension-postgres-scanner. */
const wheelName = (name: DuckDbExtension) => `duckdb-extension-${name.replaceAll('_', '-')}==${v.version}`;

const UNZIP_EXTENSIONS = `
import pathlib, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for wheel in wheels.glob('*.whl'):
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.endswith('.duckdb_extension'):
                (out / pathlib.Path(member).name).write_bytes(z.read(member))
`;

export const duckdb: Component = {
  name: 'duckdb',
  kind: 'toolchain',
  version: `${v.version} (${v.extensions.join(', ')})`,
  dependsOn: [],
  address: () => null,
  logFile: (s) => join(s.paths.logs, 'duckdb.log'),
  isInstalled: (s) => v.extensions.every((name) => existsSync(installedFile(s, name))),

  async install(s) {
    if (this.isInstalled(s)) return;
    // DuckDB cannot download extensions here; the official signed binaries ship on PyPI as wheels.
    await runCommand(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--cache-dir',
        s.paths.pipCache,
        '--dest',
        wheelsDir(s),
        ...v.extensions.map(wheelName),
      ],
      { logFile: this.logFile(s), timeoutMs: 10 * 60_000 },
    );
    await runCommand('python3', ['-c', UNZIP_EXTENSIONS, wheelsDir(s), filesDir(s)], { logFile: this.logFile(s) });
    mkdirSync(extensionDirectory(s), { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', { extension_directory: extensionDirectory(s) });
    const connection = await instance.connect();
    try {
      for (const file of readdirSync(filesDir(s))) {
        await connection.run(`FORCE INSTALL '${join(filesDir(s), file).replaceAll("'", "''")}'`);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    const missing = v.extensions.filter((name) => !existsSync(installedFile(s, name)));
    if (missing.length)
      throw new Error(`extension(s) ${missing.join(', ')} did not install into ${extensionDirectory(s)}`);
  },

  runningPid: () => undefined,
  start: async () => {},
  stop: async () => false,

  health: (s) =>
    probe(async () => {
      const instance = await DuckDBInstance.create(':memory:', {
        extension_directory: extensionDirectory(s),
        autoinstall_known_extensions: 'false',
      });
      const connection = await instance.connect();
      try {
        for (const name of v.extensions) await connection.run(`LOAD ${name}`);
        const reader = await connection.runAndReadAll(
          `SELECT extension_name, extension_version FROM duckdb_extensions() WHERE loaded AND extension_name IN (${v.extensions.map((e) => `'${e}'`).join(', ')}) ORDER BY 1`,
        );
        const loaded = reader.getRowObjects().map((row) => `${row.extension_name} ${row.extension_version}`);
        const version = (await connection.runAndReadAll('SELECT version() AS v')).getRowObjects()[0]?.v;
        return `DuckDB ${String(version)}; loaded ${loaded.join(', ')}`;
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    }),
};
