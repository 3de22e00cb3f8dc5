import { BvError, diagnostics, isAlive, type JobKind, type PlatformConfig } from '@bitvelocity/core';
import { sinkTopics, sourceTopics } from '../api/job.js';
import { withAdmin } from '../kafka/admin.js';
import { ensureJobTopics } from '../kafka/topics.js';
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
