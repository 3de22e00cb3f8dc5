import {
  COMPONENTS,
  type ComponentStatus,
  stackDown,
  stackKill,
  stackLogs,
  stackRestart,
  stackStatus,
  stackUp,
} from '@bitvelocity/infra';
import { Command } from 'commander';
import { positiveInt, print } from '../output.js';

const width = Math.max(...COMPONENTS.map((c) => c.name.length));
const progress = ({ component, message }: { component: string; message: string }) =>
  process.stderr.write(`  ${component.padEnd(width)}  ${message}\n`);

function statusTable(rows: ComponentStatus[]): string {
  const state = (r: ComponentStatus) =>
    r.healthy ? 'healthy' : r.running ? 'UNHEALTHY' : r.installed ? 'stopped' : 'not installed';
  const header = ['COMPONENT', 'STATE', 'VERSION', 'ADDRESS', 'DETAIL'];
  const table = [header, ...rows.map((r) => [r.name, state(r), r.version, r.address ?? '-', r.detail])];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  return table
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

export function stackCommand(): Command {
  const stack = new Command('stack').description('the local stack of real servers (no Docker), under BV_HOME');

  stack
    .command('up')
    .description(
      'install (first time) and start PostgreSQL, Kafka, Kafka Connect + Debezium, MinIO, DuckDB extensions, Great Expectations',
    )
    .argument('[components...]', 'only these (and what they depend on); all when omitted')
    .action(async (components: string[]) => {
      const result = await stackUp({ onEvent: progress, ...(components.length ? { components } : {}) });
      const already = result.alreadyRunning.length ? `, already running: ${result.alreadyRunning.join(', ')}` : '';
      print(
        `stack up: started ${result.started.length ? result.started.join(', ') : 'nothing'}${already} (install ${result.installSeconds}s, start ${result.startSeconds}s)`,
      );
    });

  stack
    .command('down')
    .description('stop the servers this stack started')
    .action(async () => {
      const stopped = await stackDown({ onEvent: progress });
      print(`stack down: stopped ${stopped.length ? stopped.join(', ') : 'nothing'}`);
    });

  stack
    .command('status')
    .description('each component with version, address and health (a real round trip)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const rows = await stackStatus();
      print(options.json ? JSON.stringify({ components: rows }, null, 2) : statusTable(rows));
      if (rows.some((r) => !r.healthy)) process.exitCode = 3;
    });

  const servers = COMPONENTS.filter((c) => c.kind === 'server')
    .map((c) => c.name)
    .join(' | ');
  stack
    .command('restart')
    .description('stop one server and start it again (dependents keep running); for fault drills, docs/runbooks/')
    .argument('<component>', servers)
    .action(async (component: string) => {
      const result = await stackRestart(component, { onEvent: progress });
      print(
        `stack restart ${component}: pid ${result.stoppedPid ?? '-'} -> ${result.startedPid ?? '-'}, healthy after ${result.seconds}s`,
      );
    });

  stack
    .command('kill')
    .description('kill -9 one server, as a crash would (bring it back with `bv stack up <component>`)')
    .argument('<component>', servers)
    .action(async (component: string) => {
      const pid = await stackKill(component, { onEvent: progress });
      print(`stack kill ${component}: pid ${pid} killed (SIGKILL); start it again with: npx bv stack up ${component}`);
    });

  stack
    .command('logs')
    .description('the last lines of a component log')
    .argument('<component>', COMPONENTS.map((c) => c.name).join(' | '))
    .option('-n, --lines <n>', 'how many lines', positiveInt('CLI_BAD_OPTION', '--lines'), 100)
    .action((component: string, options: { lines: number }) => {
      const { file, text } = stackLogs(component, options.lines);
      process.stderr.write(`==> ${file} <==\n`);
      print(text);
    });

  return stack;
}
