import { BvError, type PlatformConfig } from '@bitvelocity/core';
import {
  Admin,
  ConfigResourceTypes,
  FetchIsolationLevels,
  IncrementalAlterConfigOperationTypes,
  ListOffsetTimestamps,
} from '@platformatic/kafka';
import { sinkTopics, sourceTopics, transactionalSystemOf } from '../api/job.js';
import { changelogTopicOf, ensureJobTopics, jobGroupId } from '../kafka/topics.js';
import type { TaskStatus } from '../kafka/worker.js';
import type { StalledPartition } from '../runtime/stall.js';
import { loadJobModule } from './load.js';
import { type JobRecord, JobRegistry } from './registry.js';
import { isAlive } from './supervisor.js';

/** Starts the job's supervisor as a detached process and returns its pid. Provided by the CLI. */
export type SupervisorLauncher = (job: string) => number;

const REPORT_FRESH_MS = 10_000;

async function withRegistry<T>(config: PlatformConfig, body: (registry: JobRegistry) => Promise<T>): Promise<T> {
  const registry = await JobRegistry.create(config);
  try {
    return await body(registry);
  } finally {
    await registry.close();
  }
}

async function withAdmin<T>(config: PlatformConfig, body: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'bv-jobs', bootstrapBrokers: config.kafka.bootstrapServers });
  try {
    return await body(admin);
  } finally {
    await admin.close();
  }
}

/** Offsets of every partition of `topics` at a timestamp (LATEST = the end, EARLIEST = the start). */
async function offsetsAt(
  admin: Admin,
  topics: string[],
  timestamp: bigint,
  readCommitted = false,
): Promise<Map<string, bigint[]>> {
  const metadata = await admin.metadata({ topics });
  const listed = await admin.listOffsets({
    topics: topics.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, partitionIndex) => ({
        partitionIndex,
        timestamp,
      })),
    })),
    ...(readCommitted ? { isolationLevel: FetchIsolationLevels.READ_COMMITTED } : {}),
  });
  const result = new Map<string, bigint[]>();
  for (const topic of listed) {
    const offsets: bigint[] = [];
    for (const p of topic.partitions) offsets[p.partitionIndex] = p.offset;
    result.set(topic.name, offsets);
  }
  return result;
}

async function requireJob(registry: JobRegistry, name: string): Promise<JobRecord> {
  const job = await registry.get(name);
  if (!job) throw new BvError('JOB_NOT_FOUND', `job ${name} is not deployed (see bv jobs list)`);
  return job;
}

export interface DeployResult {
  name: string;
  module: string;
  parallelism: number;
  supervisorPid: number;
  supervisorStarted: boolean;
}

/** Registers (or updates) a job, creates its topics, and makes sure a supervisor runs it. */
export async function deployJob(
  config: PlatformConfig,
  modulePath: string,
  options: { parallelism: number; launch: SupervisorLauncher },
): Promise<DeployResult> {
  if (!Number.isInteger(options.parallelism) || options.parallelism < 1)
    throw new BvError('JOB_BAD_OPTION', '--parallelism must be a positive integer');
  const { path, job } = await loadJobModule(modulePath);
  await withAdmin(config, (admin) => ensureJobTopics(admin, job));
  return withRegistry(config, async (registry) => {
    const previous = await registry.get(job.name);
    await registry.upsert({
      name: job.name,
      module: path,
      description: job.description,
      guarantee: job.options.guarantee,
      parallelism: options.parallelism,
      desiredState: 'running',
      sourceTopics: sourceTopics(job),
      sinkTopics: sinkTopics(job),
    });
    // A redeploy of a changed module restarts the workers so they load it.
    if (previous && previous.desiredState === 'running') await registry.requestRestart(job.name);
    const running = previous?.supervisorPid && isAlive(previous.supervisorPid) ? previous.supervisorPid : undefined;
    const supervisorPid = running ?? options.launch(job.name);
    return {
      name: job.name,
      module: path,
      parallelism: options.parallelism,
      supervisorPid,
      supervisorStarted: running === undefined,
    };
  });
}

export interface PartitionStatus {
  topic: string;
  partition: number;
  /** Committed offset of the job's group (where a restart resumes). */
  committed: string | null;
  /** End of the partition (last stable offset). */
  end: string;
  lag: number;
  /** From the worker that owns the partition, if it reported recently. */
  owner: string | null;
  watermark: string | null;
  stateEntries: number | null;
  lastCheckpointAt: string | null;
  counters: TaskStatus['counters'] | null;
  /** Set when the partition cannot make progress (its checkpoints keep failing), with the reason. */
  stalled: StalledPartition | null;
}

export interface JobStatus {
  name: string;
  module: string;
  guarantee: string;
  desiredState: string;
  state: 'running' | 'starting' | 'degraded' | 'stalled' | 'stopped' | 'failed';
  parallelism: number;
  workers: {
    index: number;
    pid: number | null;
    alive: boolean;
    reportedAt: string | null;
    restarts: number;
    metricsPort: number | null;
  }[];
  inputRate: number;
  totals: TaskStatus['counters'] & { lag: number; stateEntries: number };
  partitions: PartitionStatus[];
}

export async function jobStatus(config: PlatformConfig, name: string): Promise<JobStatus> {
  return withRegistry(config, async (registry) => {
    const job = await requireJob(registry, name);
    const workers = await registry.workers(name);
    const now = Date.now();
    const fresh = workers.filter(
      (w) => isAlive(w.pid) && w.reportedAt !== null && now - w.reportedAt.getTime() < REPORT_FRESH_MS && w.status,
    );
    const owners = new Map<string, { worker: string; task: TaskStatus }>();
    const stalled = new Map<string, StalledPartition>();
    for (const worker of fresh) {
      for (const s of worker.status?.stalled ?? []) stalled.set(`${s.topic}:${s.partition}`, s);
      for (const task of worker.status?.tasks ?? []) {
        owners.set(`${task.topic}:${task.partition}`, { worker: worker.status?.workerId ?? '', task });
      }
    }
    const partitions = await withAdmin(config, async (admin) => {
      const ends = await offsetsAt(admin, job.sourceTopics, ListOffsetTimestamps.LATEST, true);
      const [group] = await admin.listConsumerGroupOffsets({ groups: [jobGroupId(name)] });
      const committed = new Map<string, bigint>();
      for (const topic of group?.topics ?? [])
        for (const p of topic.partitions)
          if (p.committedOffset >= 0n) committed.set(`${topic.name}:${p.partitionIndex}`, p.committedOffset);
      return partitionRows(job.sourceTopics, ends, committed, owners).map((p) => ({
        ...p,
        stalled: stalled.get(`${p.topic}:${p.partition}`) ?? null,
      }));
    });
    const totals = {
      processed: 0,
      deadLettered: 0,
      late: 0,
      tooLate: 0,
      dedupeHits: 0,
      anomalies: 0,
      lag: 0,
      stateEntries: 0,
    };
    for (const p of partitions) {
      totals.lag += p.lag;
      totals.stateEntries += p.stateEntries ?? 0;
      for (const key of ['processed', 'deadLettered', 'late', 'tooLate', 'dedupeHits', 'anomalies'] as const)
        totals[key] += p.counters?.[key] ?? 0;
    }
    const supervised = isAlive(job.supervisorPid);
    const state: JobStatus['state'] =
      job.desiredState === 'stopped'
        ? 'stopped'
        : !supervised
          ? 'failed'
          : stalled.size > 0
            ? 'stalled'
            : fresh.length === job.parallelism
              ? 'running'
              : workers.some((w) => w.restarts > 0)
                ? 'degraded'
                : 'starting';
    return {
      name,
      module: job.module,
      guarantee: job.guarantee,
      desiredState: job.desiredState,
      state,
      parallelism: job.parallelism,
      workers: workers.map((w) => ({
        index: w.workerIndex,
        pid: w.pid,
        alive: isAlive(w.pid),
        reportedAt: w.reportedAt?.toISOString() ?? null,
        restarts: w.restarts,
        metricsPort: w.metricsPort,
      })),
      inputRate: fresh.reduce((sum, w) => sum + (w.status?.inputRate ?? 0), 0),
      totals,
      partitions,
    };
  });
}

function partitionRows(
  topics: string[],
  ends: Map<string, bigint[]>,
  committed: Map<string, bigint>,
  owners: Map<string, { worker: string; task: TaskStatus }>,
): PartitionStatus[] {
  const rows: PartitionStatus[] = [];
  for (const topic of topics) {
    (ends.get(topic) ?? []).forEach((end, partition) => {
      const id = `${topic}:${partition}`;
      const position = committed.get(id);
      const owner = owners.get(id);
      rows.push({
        topic,
        partition,
        committed: position?.toString() ?? null,
        end: end.toString(),
        lag: Number(end - (position ?? 0n)),
        owner: owner?.worker ?? null,
        watermark: owner?.task.watermark ?? null,
        stateEntries: owner?.task.stateEntries ?? null,
        lastCheckpointAt: owner?.task.lastCheckpointAt ?? null,
        counters: owner?.task.counters ?? null,
        stalled: null,
      });
    });
  }
  return rows;
}

export async function listJobs(config: PlatformConfig): Promise<JobStatus[]> {
  const names = await withRegistry(config, async (registry) => (await registry.list()).map((j) => j.name));
  const statuses: JobStatus[] = [];
  for (const name of names) statuses.push(await jobStatus(config, name));
  return statuses;
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

export interface ResetTarget {
  toOffset?: bigint;
  toTime?: Date;
  toEarliest?: boolean;
}

/**
 * Moves a stopped job's input position (every source partition) and clears its state, so the next start reprocesses
 * from there. Outputs already written stay where they are.
 */
export async function resetJob(
  config: PlatformConfig,
  name: string,
  target: ResetTarget,
): Promise<{ topic: string; partition: number; offset: string }[]> {
  const chosen = [target.toOffset !== undefined, target.toTime !== undefined, target.toEarliest === true].filter(
    Boolean,
  );
  if (chosen.length !== 1)
    throw new BvError('JOB_BAD_OPTION', 'give exactly one of --to-offset, --to-time, --to-earliest');
  if (target.toTime && Number.isNaN(target.toTime.getTime()))
    throw new BvError('JOB_BAD_OPTION', '--to-time is not a date');
  return withRegistry(config, async (registry) => {
    const job = await requireJob(registry, name);
    if (job.desiredState !== 'stopped' || isAlive(job.supervisorPid))
      throw new BvError('JOB_RUNNING', `stop job ${name} first (bv jobs stop ${name})`);
    return withAdmin(config, async (admin) => {
      const ends = await offsetsAt(admin, job.sourceTopics, ListOffsetTimestamps.LATEST);
      const resolved =
        target.toTime !== undefined
          ? await offsetsAt(admin, job.sourceTopics, BigInt(target.toTime.getTime()))
          : target.toEarliest
            ? await offsetsAt(admin, job.sourceTopics, ListOffsetTimestamps.EARLIEST)
            : undefined;
      const offsets: { topic: string; partition: number; offset: string }[] = [];
      for (const [topic, topicEnds] of ends) {
        topicEnds.forEach((end, partition) => {
          let offset = target.toOffset ?? resolved?.get(topic)?.[partition] ?? end;
          // A time after the last record resolves to -1; an offset past the end means the end.
          if (offset < 0n || offset > end) offset = end;
          offsets.push({ topic, partition, offset: offset.toString() });
        });
      }
      const { job: definition } = await loadJobModule(job.module);
      const system = transactionalSystemOf(definition);
      if (system) {
        // The offsets a lake job resumes from live in the lake; it claims the partitions (fencing any zombie) first.
        await system.resetOffsets(
          name,
          offsets.map((o) => ({ topic: o.topic, partition: o.partition, nextOffset: BigInt(o.offset) })),
        );
      } else {
        // State belongs to the old position: empty the changelogs first, so a failure leaves the job where it was.
        await clearChangelogs(
          admin,
          job.sourceTopics.map((topic) => changelogTopicOf(name, topic)),
        );
      }
      await admin.alterConsumerGroupOffsets({
        groupId: jobGroupId(name),
        topics: job.sourceTopics.map((topic) => ({
          name: topic,
          partitionOffsets: offsets
            .filter((o) => o.topic === topic)
            .map((o) => ({ partition: o.partition, offset: BigInt(o.offset) })),
        })),
      });
      return offsets;
    });
  });
}

/**
 * Deletes every record of compacted changelog topics. Kafka refuses DeleteRecords on a topic whose cleanup policy is
 * only `compact`, so the policy gains `delete` for the deletion and gets `compact` back after it.
 */
async function clearChangelogs(admin: Admin, topics: string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const changelogs = topics.filter((topic) => existing.has(topic));
  if (changelogs.length === 0) return;
  const setPolicy = (value: string) =>
    admin.incrementalAlterConfigs({
      resources: changelogs.map((topic) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configs: [{ name: 'cleanup.policy', configOperation: IncrementalAlterConfigOperationTypes.SET, value }],
      })),
    });
  await setPolicy('compact,delete');
  try {
    const ends = await offsetsAt(admin, changelogs, ListOffsetTimestamps.LATEST);
    await admin.deleteRecords({
      topics: [...ends].map(([topic, topicEnds]) => ({
        name: topic,
        partitions: topicEnds.map((offset, partition) => ({ partition, offset })),
      })),
    });
  } finally {
    await setPolicy('compact');
  }
}
