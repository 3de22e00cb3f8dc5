import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BvError, bvHome, loadPlatformConfig } from '@bitvelocity/core';
import { Command, Option } from 'commander';
import { positiveInt, print } from '../output.js';

const BIN = fileURLToPath(new URL('../../bin/bv.js', import.meta.url));

function jobLogFile(job: string): string {
  const dir = join(bvHome(), 'logs', 'jobs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${job}.log`);
}

/** Runs `bv <args>` as a child writing to the job's log; detached ones outlive this command. */
function spawnBv(job: string, args: string[], detached: boolean) {
  const log = openSync(jobLogFile(job), 'a');
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', log, log], detached, env: process.env });
  if (detached) child.unref();
  return child;
}

/** Starts `bv jobs supervise <job>` detached (also used by `bv up`). */
export const launchSupervisor = (job: string): number => {
  const pid = spawnBv(job, ['jobs', 'supervise', job], true).pid;
  if (!pid) throw new BvError('COMMAND_FAILED', `could not start the supervisor of ${job}`);
  return pid;
};

const offsetOption = (value: string) => {
  if (!/^[0-9]+$/.test(value))
    throw new BvError('JOB_BAD_OPTION', `"${value}" is not an offset or partition (0 or more)`);
  return BigInt(value);
};

/**
 * A worker's index: a number, or a StatefulSet pod's name (`job-order-streams-2` is worker 2), so each replica is a
 * distinct static member of the job's consumer group.
 */
export function workerIndexOf(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const match = /^(?:.*-)?([0-9]+)$/.exec(value);
  if (!match)
    throw new BvError('JOB_BAD_OPTION', `worker index "${value}" is neither a number nor a name ending in -<n>`);
  return Number(match[1]);
}

const ago = (iso: string | null) =>
  iso ? `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))}s ago` : '-';

/** `bv jobs ...`: deploy and operate stream jobs. */
export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('deploy and operate stream jobs and lake transforms');

  jobs
    .command('deploy')
    .description(
      'register a job module (default export defineJob(...) or transformJob(...)), create its topics, and run it',
    )
    .argument('<module>', 'path of the job module')
    .option(
      '--parallelism <n>',
      'worker processes (up to the source partitions)',
      positiveInt('JOB_BAD_OPTION', '--parallelism'),
      1,
    )
    .option(
      '--external',
      'register the job and create its topics only: an orchestrator runs its workers (`bv jobs worker <job>`)',
    )
    .action(async (module: string, options: { parallelism: number; external?: boolean }) => {
      const { deployJob } = await import('@bitvelocity/streams');
      const result = await deployJob(loadPlatformConfig(), module, {
        parallelism: options.parallelism,
        ...(options.external ? {} : { launch: launchSupervisor }),
      });
      print(
        result.supervisorPid === null
          ? `job ${result.name}: registered with parallelism ${result.parallelism}; run its workers with \`bv jobs worker ${result.name}\``
          : `job ${result.name}: deployed with parallelism ${result.parallelism}; supervisor ${result.supervisorStarted ? 'started' : 'running'} (pid ${result.supervisorPid})`,
      );
      print(`logs: ${jobLogFile(result.name)}`);
    });

  jobs
    .command('list')
    .description('deployed jobs, their state, lag and input rate')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { listJobs } = await import('@bitvelocity/streams');
      const statuses = await listJobs(loadPlatformConfig());
      if (options.json) {
        print(
          JSON.stringify(
            statuses.map(({ partitions: _p, ...summary }) => summary),
            null,
            2,
          ),
        );
        return;
      }
      print(['JOB', 'STATE', 'WORKERS', 'GUARANTEE', 'LAG', 'IN/s'].join('\t'));
      for (const s of statuses) {
        const alive = s.workers.filter((w) => w.alive).length;
        print([s.name, s.state, `${alive}/${s.parallelism}`, s.guarantee, s.totals.lag, s.inputRate].join('\t'));
      }
    });

  jobs
    .command('status')
    .description('per partition: lag, watermark, late events, dedupe hits, anomalies, state size, last checkpoint')
    .argument('<job>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { json?: boolean }) => {
      const { jobStatus } = await import('@bitvelocity/streams');
      const status = await jobStatus(loadPlatformConfig(), name);
      if (options.json) {
        print(JSON.stringify(status, null, 2));
        return;
      }
      print(
        `job ${status.name}: ${status.state} (${status.guarantee}), parallelism ${status.parallelism}, input ${status.inputRate}/s`,
      );
      print(`module ${status.module}`);
      for (const w of status.workers)
        print(
          `  worker ${w.index}: pid ${w.pid ?? '-'} ${w.alive ? 'alive' : 'down'}, reported ${ago(w.reportedAt)}, restarts ${w.restarts}, metrics ${w.metricsPort ? `http://127.0.0.1:${w.metricsPort}/metrics` : '-'}`,
        );
      if (status.kind === 'transform') {
        const t = status.transform;
        if (!t) {
          print('  no report yet');
          return;
        }
        print(
          `  transform: runs ${t.runs}, held ${t.held}, failures ${t.failures}, last run ${ago(t.lastRunAt)}${t.lastError ? `, last error: ${t.lastError}` : ''}`,
        );
        print(
          `  lag: position ${t.lag.position}, ${t.lag.pendingRows} input rows pending, consumed up to ${t.lag.consumedUpTo ?? '-'}, input up to ${t.lag.inputUpTo ?? '-'}`,
        );
        return;
      }
      const t = status.totals;
      print(
        `  totals: processed ${t.processed}, lag ${t.lag}, late ${t.late}, too late ${t.tooLate}, dedupe hits ${t.dedupeHits}, anomalies ${t.anomalies}, dead letters ${t.deadLettered}, state ${t.stateEntries}`,
      );
      print(['  TOPIC[P]', 'COMMITTED', 'LAG', 'WATERMARK', 'STATE', 'CHECKPOINT', 'OWNER'].join('\t'));
      for (const p of status.partitions)
        print(
          [
            `  ${p.topic}[${p.partition}]`,
            p.committed ?? '-',
            p.lag,
            p.watermark ?? '-',
            p.stateEntries ?? '-',
            ago(p.lastCheckpointAt),
            p.owner ?? '-',
          ].join('\t'),
        );
      for (const p of status.partitions.filter((x) => x.stalled))
        print(
          `  STALLED ${p.topic}[${p.partition}] since ${p.stalled?.since} (${p.stalled?.failures} failed checkpoints): ${p.stalled?.reason}`,
        );
    });

  jobs
    .command('skip')
    .description(
      'make a job skip an offset range: each record in it becomes a SKIPPED_BY_OPERATOR dead letter (recorded)',
    )
    .argument('<job>')
    .requiredOption('--topic <topic>', 'a source topic of the job')
    .requiredOption('--partition <p>', 'the partition', (v: string) => Number(offsetOption(v)))
    .requiredOption('--from <offset>', 'first offset to skip, inclusive', offsetOption)
    .requiredOption('--to <offset>', 'last offset to skip, inclusive', offsetOption)
    .option('--reason <text>', 'why (kept with the skip and in each dead letter)', 'skipped by an operator')
    .action(
      async (name: string, options: { topic: string; partition: number; from: bigint; to: bigint; reason: string }) => {
        const { skipOffsets } = await import('@bitvelocity/streams');
        const skip = await skipOffsets(loadPlatformConfig(), {
          job: name,
          topic: options.topic,
          partition: options.partition,
          fromOffset: options.from,
          toOffset: options.to,
          reason: options.reason,
          requestedBy: process.env.USER ?? 'unknown',
        });
        print(
          `job ${name}: ${skip.topic}[${skip.partition}] offsets ${skip.fromOffset}-${skip.toOffset} will be skipped (dead letters SKIPPED_BY_OPERATOR); recorded at ${skip.requestedAt}`,
        );
      },
    );

  jobs
    .command('stop')
    .description('stop the workers (each commits and leaves the group)')
    .argument('<job>')
    .action(async (name: string) => {
      const { stopJob } = await import('@bitvelocity/streams');
      await stopJob(loadPlatformConfig(), name);
      print(`job ${name}: stopped`);
    });

  jobs
    .command('restart')
    .description('replace every worker (or start a stopped job)')
    .argument('<job>')
    .action(async (name: string) => {
      const { restartJob } = await import('@bitvelocity/streams');
      await restartJob(loadPlatformConfig(), name, launchSupervisor);
      print(`job ${name}: restart requested`);
    });

  jobs
    .command('reset')
    .description('move a stopped job to an input position and clear its state')
    .argument('<job>')
    .addOption(new Option('--to-offset <offset>', 'this offset on every source partition'))
    .addOption(new Option('--to-time <iso>', 'the first offset at or after this time'))
    .addOption(new Option('--to-earliest', 'the start of every source partition'))
    .action(async (name: string, options: { toOffset?: string; toTime?: string; toEarliest?: boolean }) => {
      const { resetJob } = await import('@bitvelocity/streams');
      if (options.toOffset !== undefined && !/^\d+$/.test(options.toOffset))
        throw new BvError('JOB_BAD_OPTION', '--to-offset must be a non-negative integer');
      const { offsets, epoch } = await resetJob(loadPlatformConfig(), name, {
        ...(options.toOffset !== undefined ? { toOffset: BigInt(options.toOffset) } : {}),
        ...(options.toTime !== undefined ? { toTime: new Date(options.toTime) } : {}),
        ...(options.toEarliest ? { toEarliest: true } : {}),
      });
      for (const o of offsets) print(`${o.topic}[${o.partition}] -> ${o.offset}`);
      print(`job ${name}: reset; state cleared; reprocessing epoch ${epoch}; start it with bv jobs restart ${name}`);
    });

  jobs
    .command('logs')
    .description("the job's supervisor and worker log")
    .argument('<job>')
    .option('-n, --lines <n>', 'last lines', positiveInt('JOB_BAD_OPTION', '--lines'), 50)
    .action((name: string, options: { lines: number }) => {
      const lines = readFileSync(jobLogFile(name), 'utf8').trimEnd().split('\n');
      print(lines.slice(-options.lines).join('\n'));
    });

  jobs
    .command('supervise', { hidden: true })
    .argument('<job>')
    .action(async (name: string) => {
      const { runSupervisor } = await import('@bitvelocity/streams');
      await runSupervisor(name, {
        spawnWorker: (index) => spawnBv(name, ['jobs', 'worker', name, '--index', String(index)], false),
      });
    });

  jobs
    .command('worker')
    .description(
      "run one worker of a deployed job in the foreground (what the supervisor starts; an orchestrator's container command)",
    )
    .argument('<job>')
    .option(
      '--index <n>',
      "the worker's index, unique among the job's workers (default: BV_WORKER_INDEX, a number or a pod name ending in -<n>, else 0)",
    )
    .action(async (name: string, options: { index?: string }) => {
      const { runWorkerProcess } = await import('@bitvelocity/streams');
      await runWorkerProcess(name, workerIndexOf(options.index ?? process.env.BV_WORKER_INDEX));
    });

  return jobs;
}
