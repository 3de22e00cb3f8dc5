import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BvError, isAlive, loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { Command } from 'commander';
import { print, printJson } from '../output.js';
import {
  type PlatformComponent,
  type ProcessComponent,
  platformComponents,
  platformStateDir,
  selectComponents,
} from '../platform/components.js';
import { launchSupervisor } from './jobs.js';

const BIN = fileURLToPath(new URL('../../bin/bv.js', import.meta.url));
const progress = (name: string, message: string) => process.stderr.write(`  ${name.padEnd(22)} ${message}\n`);

/** What one `up` started, so `down` stops exactly that (in reverse order) and nothing that was already running. */
type StartedEntry =
  | { name: 'stack'; kind: 'stack'; components: string[] }
  | { name: string; kind: 'process'; pid: number; pidFile: string }
  | { name: string; kind: 'job'; job: string };

interface UpRecord {
  /** The `--only` selection of the last `up` (null: everything); `status` reports the same set. */
  selection: string[] | null;
  started: StartedEntry[];
}

const recordFile = () => join(platformStateDir(), 'up.json');
const pidFileOf = (name: string) => join(platformStateDir(), `${name}.pid`);
const logFileOf = (name: string) => join(platformStateDir(), 'logs', `${name}.log`);

function readRecord(): UpRecord {
  if (!existsSync(recordFile())) return { selection: null, started: [] };
  return JSON.parse(readFileSync(recordFile(), 'utf8')) as UpRecord;
}

function writeRecord(record: UpRecord): void {
  mkdirSync(platformStateDir(), { recursive: true });
  const tmp = `${recordFile()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, recordFile());
}

const onlyList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function runStep(component: Extract<PlatformComponent, { kind: 'step' }>): Promise<string> {
  const config = loadPlatformConfig();
  if (component.name === 'migrations') {
    const { ensureAppRole, migrate } = await import('@bitvelocity/services');
    const ownerUrl = postgresUrl(config.postgres);
    const result = await migrate(ownerUrl);
    await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
    return `applied ${result.applied.length ? result.applied.join(', ') : 'none'}; schema at ${result.current}`;
  }
  const { applyOutboxConnector, defaultOutboxConnector } = await import('@bitvelocity/ingest');
  const report = await applyOutboxConnector(config, defaultOutboxConnector());
  return `${report.status.name} ${report.status.connector}`;
}

/** Starts `bv supervise <name> -- <args>` detached and waits for its health probe. */
async function startProcess(component: ProcessComponent): Promise<number> {
  const { startDaemon, stopProcess, waitUntil } = await import('@bitvelocity/infra');
  const pidFile = pidFileOf(component.name);
  const pid = startDaemon(process.execPath, [BIN, 'supervise', component.name, '--', ...component.args], {
    logFile: logFileOf(component.name),
    pidFile,
    env: process.env,
  });
  try {
    await waitUntil(component.probe, { timeoutMs: 120_000, intervalMs: 500, stillAlive: () => isAlive(pid) });
  } catch (cause) {
    await stopProcess(pidFile, 10_000);
    throw new BvError(
      'PLATFORM_START_FAILED',
      `${component.name} did not become healthy: ${(cause as Error).message}; see ${logFileOf(component.name)}`,
      { cause },
    );
  }
  return pid;
}

async function jobRunning(job: string): Promise<boolean> {
  const { JobRegistry } = await import('@bitvelocity/streams');
  const registry = await JobRegistry.create(loadPlatformConfig());
  try {
    const record = await registry.get(job);
    return record?.desiredState === 'running' && isAlive(record.supervisorPid);
  } finally {
    await registry.close();
  }
}

interface UpReport {
  started: string[];
  alreadyRunning: string[];
  ran: { name: string; detail: string }[];
  skipped: { name: string; reason: string }[];
}

/**
 * One `up` or `down` at a time per state directory: a second one would start the same processes twice. A lock left by
 * a process that died is taken over.
 */
async function withLock<T>(body: () => Promise<T>): Promise<T> {
  mkdirSync(platformStateDir(), { recursive: true });
  const lock = join(platformStateDir(), 'up.lock');
  for (;;) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (!isAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      throw new BvError('PLATFORM_BUSY', `another bv up/down (pid ${holder}) is running; wait for it to finish`, {
        retriable: true,
      });
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function up(only: string[] | undefined): Promise<UpReport> {
  const components = selectComponents(platformComponents(), only);
  const record = readRecord();
  record.selection = only ?? null;
  const report: UpReport = { started: [], alreadyRunning: [], ran: [], skipped: [] };
  const remember = (entry: StartedEntry) => {
    record.started.push(entry);
    writeRecord(record); // after each start: a later failure still leaves `down` able to stop what did start
  };
  for (const component of components) {
    switch (component.kind) {
      case 'stack': {
        const { stackUp } = await import('@bitvelocity/infra');
        const result = await stackUp({ onEvent: ({ component: c, message }) => progress(`stack:${c}`, message) });
        if (result.started.length) {
          remember({ name: 'stack', kind: 'stack', components: result.started });
          report.started.push(...result.started.map((c) => `stack:${c}`));
        }
        report.alreadyRunning.push(...result.alreadyRunning.map((c) => `stack:${c}`));
        break;
      }
      case 'step': {
        const detail = await runStep(component);
        progress(component.name, detail);
        report.ran.push({ name: component.name, detail });
        break;
      }
      case 'process': {
        if (component.available && !component.available()) {
          report.skipped.push({ name: component.name, reason: `\`bv ${component.args[0]}\` is not in this build` });
          continue;
        }
        const { livePid } = await import('@bitvelocity/infra');
        // A probe of shared state (the warehouse reads the lake) says nothing about whether the process runs.
        const answering =
          !component.needsProcess &&
          (await component.probe().then(
            () => true,
            () => false,
          ));
        if (livePid(pidFileOf(component.name)) !== undefined || answering) {
          // Ours from an earlier `up`, or someone else's on that address: either way, not ours to start (or stop).
          report.alreadyRunning.push(component.name);
          continue;
        }
        progress(component.name, `starting bv ${component.args.join(' ')}`);
        const pid = await startProcess(component);
        remember({ name: component.name, kind: 'process', pid, pidFile: pidFileOf(component.name) });
        report.started.push(component.name);
        progress(component.name, `healthy (pid ${pid}) at ${component.url}`);
        break;
      }
      case 'job': {
        if (await jobRunning(component.job)) {
          report.alreadyRunning.push(component.name);
          continue;
        }
        const { deployJob } = await import('@bitvelocity/streams');
        const result = await deployJob(loadPlatformConfig(), component.module, {
          parallelism: 1,
          launch: launchSupervisor,
        });
        remember({ name: component.name, kind: 'job', job: result.name });
        report.started.push(component.name);
        progress(component.name, `deployed; supervisor pid ${result.supervisorPid}`);
        break;
      }
    }
  }
  writeRecord(record);
  return report;
}

async function down(): Promise<string[]> {
  const record = readRecord();
  const stopped: string[] = [];
  for (const entry of [...record.started].reverse()) {
    progress(entry.name, 'stopping');
    if (entry.kind === 'process') {
      const { stopProcess } = await import('@bitvelocity/infra');
      await stopProcess(entry.pidFile, 20_000);
    } else if (entry.kind === 'job') {
      const { stopJob } = await import('@bitvelocity/streams');
      await stopJob(loadPlatformConfig(), entry.job).catch((error: unknown) => {
        if (!(error instanceof BvError && error.code === 'JOB_NOT_FOUND')) throw error;
      });
    } else {
      const { componentByName, settingsFor } = await import('@bitvelocity/infra');
      const settings = settingsFor();
      for (const name of [...entry.components].reverse()) await componentByName(name).stop(settings);
    }
    stopped.push(entry.name);
    record.started = record.started.filter((e) => e !== entry);
    writeRecord(record);
  }
  return stopped;
}

export interface ComponentHealth {
  name: string;
  kind: PlatformComponent['kind'] | 'stack-server';
  healthy: boolean;
  address: string | null;
  pid: number | null;
  /** Jobs: records (stream) or input rows (transform) not yet processed. */
  lag: number | null;
  /** Jobs: the lowest partition watermark (stream) or the input position consumed up to (transform). */
  watermark: string | null;
  startedByUp: boolean;
  detail: string;
}

async function probeStep(name: string): Promise<Omit<ComponentHealth, 'startedByUp'>> {
  const config = loadPlatformConfig();
  const base = { name, kind: 'step' as const, pid: null, lag: null, watermark: null };
  if (name === 'migrations') {
    const [{ default: pg }, { readMigrations }] = await Promise.all([import('pg'), import('@bitvelocity/services')]);
    const client = new pg.Client(postgresUrl(config.postgres));
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      const expected = readMigrations().length;
      const applied = rows[0]?.n ?? 0;
      return {
        ...base,
        healthy: applied >= expected,
        address: `postgresql://${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`,
        detail: `${applied} of ${expected} migrations applied`,
      };
    } finally {
      await client.end();
    }
  }
  const { defaultOutboxConnector, outboxConnectorStatus } = await import('@bitvelocity/ingest');
  const status = await outboxConnectorStatus(config, defaultOutboxConnector());
  const running = status.connector === 'RUNNING' && status.tasks.every((t) => t.state === 'RUNNING');
  return {
    ...base,
    healthy: running && status.tasks.length > 0,
    address: `${config.connect.url}/connectors/${status.name}`,
    lag: status.slot?.lagBytes ?? null,
    detail: `${status.connector}, tasks ${status.tasks.map((t) => t.state).join(',') || 'none'}${status.slot ? `, slot lag ${status.slot.lagBytes} B` : ''}`,
  };
}

async function probeJob(job: string, name: string): Promise<Omit<ComponentHealth, 'startedByUp'>> {
  const { jobStatus } = await import('@bitvelocity/streams');
  const status = await jobStatus(loadPlatformConfig(), job);
  const watermarks = status.partitions.map((p) => p.watermark).filter((w): w is string => w !== null);
  const watermark =
    status.kind === 'transform' ? (status.transform?.lag.consumedUpTo ?? null) : (watermarks.sort()[0] ?? null);
  return {
    name,
    kind: 'job',
    healthy: status.state === 'running',
    address: status.workers[0]?.metricsPort
      ? `http://127.0.0.1:${status.workers[0].metricsPort}/metrics`
      : `registry:${job}`,
    pid: status.workers[0]?.pid ?? null,
    lag: status.totals.lag,
    watermark,
    detail: `${status.state}, ${status.workers.filter((w) => w.alive).length}/${status.parallelism} workers, restarts ${status.workers.reduce((n, w) => n + w.restarts, 0)}`,
  };
}

async function status(only: string[] | undefined): Promise<ComponentHealth[]> {
  const record = readRecord();
  const selection = only ?? record.selection ?? undefined;
  const components = selectComponents(platformComponents(), selection);
  const startedNames = new Set(
    record.started.flatMap((e) => (e.kind === 'stack' ? e.components.map((c) => `stack:${c}`) : [e.name])),
  );
  const failed = (
    c: PlatformComponent,
    address: string | null,
    error: unknown,
  ): Omit<ComponentHealth, 'startedByUp'> => ({
    name: c.name,
    kind: c.kind,
    healthy: false,
    address,
    pid: null,
    lag: null,
    watermark: null,
    detail: error instanceof Error ? error.message : String(error),
  });
  const rows = await Promise.all(
    components.map(async (c): Promise<Omit<ComponentHealth, 'startedByUp'>[]> => {
      try {
        switch (c.kind) {
          case 'stack': {
            const { stackStatus } = await import('@bitvelocity/infra');
            return (await stackStatus()).map((s) => ({
              name: `stack:${s.name}`,
              kind: 'stack-server',
              healthy: s.healthy,
              address: s.address,
              pid: s.pid,
              lag: null,
              watermark: null,
              detail: s.detail,
            }));
          }
          case 'step':
            return [await probeStep(c.name)];
          case 'job':
            return [await probeJob(c.job, c.name)];
          case 'process': {
            if (c.available && !c.available()) return [];
            const { livePid } = await import('@bitvelocity/infra');
            const pid = livePid(pidFileOf(c.name)) ?? null;
            try {
              const answer = await c.probe();
              const { detail, lag } = typeof answer === 'string' ? { detail: answer, lag: null } : answer;
              const alive = pid !== null || !c.needsProcess;
              return [
                {
                  name: c.name,
                  kind: 'process',
                  healthy: alive,
                  address: c.url,
                  pid,
                  lag,
                  watermark: null,
                  detail: alive ? detail : `not running (run \`bv up\`); ${detail}`,
                },
              ];
            } catch (error) {
              return [{ ...failed(c, c.url, error), pid }];
            }
          }
        }
      } catch (error) {
        return [failed(c, null, error)];
      }
    }),
  );
  return rows.flat().map((r) => ({ ...r, startedByUp: startedNames.has(r.name) }));
}

function table(rows: ComponentHealth[]): string {
  const header = ['COMPONENT', 'HEALTH', 'ADDRESS', 'LAG', 'WATERMARK', 'DETAIL'];
  const body = rows.map((r) => [
    r.name,
    r.healthy ? 'healthy' : 'UNHEALTHY',
    r.address ?? '-',
    r.lag === null ? '-' : String(r.lag),
    r.watermark ?? '-',
    r.detail,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

/**
 * Keeps `bv <args>` running: restarts it with exponential backoff when it exits (reset after a minute of health),
 * forwards SIGTERM/SIGINT and exits once it has stopped. This is the process whose pid file `bv up` writes.
 */
async function supervise(name: string, args: string[]): Promise<void> {
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    child?.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  while (!stopping) {
    const startedAt = Date.now();
    child = spawn(process.execPath, [BIN, ...args], { stdio: 'inherit', env: process.env });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child?.once('exit', (c, s) => resolve([c, s])),
    );
    if (stopping) break;
    failures = Date.now() - startedAt > 60_000 ? 1 : failures + 1;
    const backoff = Math.min(30_000, 500 * 2 ** (failures - 1));
    process.stderr.write(
      `${new Date().toISOString()} ${name}: exited (code ${code}, signal ${signal}); restart ${failures} in ${backoff} ms\n`,
    );
    await new Promise((r) => setTimeout(r, backoff));
  }
}

/** `bv up`, `bv down`, `bv status` (the whole platform) and the hidden `bv supervise` they run processes under. */
export function platformCommands(): Command[] {
  const upCommand = new Command('up')
    .description(
      'start the whole platform: stack, migrations, connector, services, stream and lake jobs, warehouse, lineage, serving (idempotent)',
    )
    .option('--only <components>', 'comma-separated subset (names as in `bv status`; `jobs` for every job)', onlyList)
    .option('--json', 'machine-readable output')
    .action(async (options: { only?: string[]; json?: boolean }) => {
      const report = await withLock(() => up(options.only));
      if (options.json) printJson(report);
      else {
        print(`up: started ${report.started.join(', ') || 'nothing'}`);
        if (report.alreadyRunning.length) print(`already running: ${report.alreadyRunning.join(', ')}`);
        for (const s of report.skipped) print(`skipped ${s.name}: ${s.reason}`);
        print('see `bv status`');
      }
    });

  const downCommand = new Command('down')
    .description('stop exactly what `bv up` started, in reverse order (nothing that was already running)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const stopped = await withLock(() => down());
      if (options.json) printJson({ stopped });
      else print(`down: stopped ${stopped.join(', ') || 'nothing'}`);
    });

  const statusCommand = new Command('status')
    .description('every component: address, health (a real round trip), and for jobs their lag and watermark')
    .option('--only <components>', 'comma-separated subset (default: what the last `bv up` selected)', onlyList)
    .option('--json', 'machine-readable output')
    .action(async (options: { only?: string[]; json?: boolean }) => {
      const rows = await status(options.only);
      const healthy = rows.every((r) => r.healthy);
      if (options.json) printJson({ healthy, components: rows });
      else print(table(rows));
      if (!healthy) process.exitCode = 3;
    });

  const superviseCommand = new Command('supervise')
    .description('(internal) keep `bv <args>` running, restarting it on a crash')
    .argument('<name>')
    .argument('<args...>')
    .action((name: string, args: string[]) => supervise(name, args));

  return [upCommand, downCommand, statusCommand, superviseCommand];
}
