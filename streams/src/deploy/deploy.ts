import { BvError, diagnostics, isAlive, type JobKind, type PlatformConfig } from '@bitvelocity/core';
import { ListOffsetTimestamps } from '@platformatic/kafka';
import { sinkTopics, sourceTopics } from '../api/job.js';
import { incompatibleState, type StateShape, stateShape } from '../api/shape.js';
import { offsetsAt, withAdmin } from '../kafka/admin.js';
import { changelogTopicOf, ensureJobTopics } from '../kafka/topics.js';
import { loadJobModule } from './load.js';
import { requireJob, withRegistry } from './registry.js';
import { isTransformJob } from './transform-job.js';

/** Starts the job's supervisor as a detached process and returns its pid. Provided by the CLI. */
export type SupervisorLauncher = (job: string) => number;

export interface DeployResult {
  name: string;
  module: string;
  parallelism: number;
  /** Null when the job was only registered: an orchestrator (Kubernetes, compose) runs its workers. */
  supervisorPid: number | null;
  supervisorStarted: boolean;
}

/** Registers (or updates) a job, creates its topics, and makes sure a supervisor runs it (unless `launch` is left out). */
export async function deployJob(
  config: PlatformConfig,
  modulePath: string,
  /** `launch` starts the job's supervisor; without it the job is only registered (its workers run elsewhere). */
  options: { parallelism: number; launch?: SupervisorLauncher },
): Promise<DeployResult> {
  if (!Number.isInteger(options.parallelism) || options.parallelism < 1)
    throw new BvError('JOB_BAD_OPTION', '--parallelism must be a positive integer');
  const { path, job } = await loadJobModule(modulePath);
  const kind: JobKind = isTransformJob(job) ? 'transform' : 'stream';
  if (isTransformJob(job)) {
    // A transform's increments are serialised by its position: a second worker would only conflict with the first.
    if (options.parallelism !== 1)
      throw new BvError('JOB_BAD_OPTION', `job ${job.name} is a lake transform: it runs with --parallelism 1`);
  } else {
    await withAdmin(config, (admin) => ensureJobTopics(admin, job));
  }
  return withRegistry(config, async (registry) => {
    const previous = await registry.get(job.name);
    const shape = isTransformJob(job) ? null : stateShape(job);
    if (shape && previous?.stateShape)
      await refuseIncompatibleState(config, job.name, previous.sourceTopics, previous.stateShape, shape);
    await registry.upsert({
      name: job.name,
      kind,
      module: path,
      description: job.description,
      guarantee: isTransformJob(job) ? job.guarantee : job.options.guarantee,
      parallelism: options.parallelism,
      desiredState: 'running',
      sourceTopics: isTransformJob(job) ? [] : sourceTopics(job),
      sinkTopics: isTransformJob(job) ? [] : sinkTopics(job),
      stateShape: shape,
    });
    diagnostics.jobDeployed.publish({ job: job.name, kind, module: path, parallelism: options.parallelism });
    // A redeploy of a changed module restarts the workers so they load it.
    if (previous && previous.desiredState === 'running') await registry.requestRestart(job.name);
    const running = previous?.supervisorPid && isAlive(previous.supervisorPid) ? previous.supervisorPid : undefined;
    const supervisorPid = running ?? options.launch?.(job.name) ?? null;
    return {
      name: job.name,
      module: path,
      parallelism: options.parallelism,
      supervisorPid,
      supervisorStarted: running === undefined && supervisorPid !== null,
    };
  });
}

/** Asks the supervisor to stop the job's workers (they commit and leave the group) and waits for it. */
export async function stopJob(config: PlatformConfig, name: string, timeoutMs = 60_000): Promise<void> {
  await withRegistry(config, async (registry) => {
    const job = await requireJob(registry, name);
    await registry.setDesiredState(name, 'stopped');
    const deadline = Date.now() + timeoutMs;
    while (isAlive(job.supervisorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    if (isAlive(job.supervisorPid)) throw new BvError('JOB_RUNNING', `job ${name} did not stop within ${timeoutMs} ms`);
  });
}

export async function restartJob(config: PlatformConfig, name: string, launch: SupervisorLauncher): Promise<void> {
  await withRegistry(config, async (registry) => {
    const job = await requireJob(registry, name);
    await registry.requestRestart(name);
    if (!isAlive(job.supervisorPid)) launch(name);
  });
}

/**
 * Refuses a module whose operators would read the job's existing state as something else (JOB_STATE_INCOMPATIBLE),
 * unless the job has no state (never ran, or reset since): then there is nothing to misread.
 */
export async function refuseIncompatibleState(
  config: PlatformConfig,
  name: string,
  sourceTopics: readonly string[],
  previous: StateShape,
  next: StateShape,
): Promise<void> {
  const changed = incompatibleState(previous, next);
  if (changed.length === 0) return;
  const changelogs = sourceTopics.map((topic) => changelogTopicOf(name, topic));
  const held = await withAdmin(config, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const topics = changelogs.filter((t) => existing.has(t));
    if (topics.length === 0) return 0n;
    const [starts, ends] = await Promise.all([
      offsetsAt(admin, topics, ListOffsetTimestamps.EARLIEST),
      offsetsAt(admin, topics, ListOffsetTimestamps.LATEST),
    ]);
    let records = 0n;
    for (const [topic, topicEnds] of ends)
      topicEnds.forEach((end, partition) => {
        records += end - (starts.get(topic)?.[partition] ?? 0n);
      });
    return records;
  });
  if (held === 0n) return;
  throw new BvError(
    'JOB_STATE_INCOMPATIBLE',
    `job ${name} has state its new definition would misread (${changed.join('; ')}): stop it and empty its state first (bv jobs stop ${name}; bv jobs reset ${name} --to-earliest), then deploy again; or give the new operator its own uid so it starts empty`,
    { details: { job: name, changed } },
  );
}
