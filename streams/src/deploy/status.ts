import { isAlive, type JobKind, type PlatformConfig } from '@bitvelocity/core';
import { ListOffsetTimestamps } from '@platformatic/kafka';
import { offsetsAt, withAdmin } from '../kafka/admin.js';
import { jobGroupId } from '../kafka/topics.js';
import type { TaskStatus, WorkerStatus } from '../kafka/worker.js';
import type { StalledPartition } from '../runtime/stall.js';
import { requireJob, withRegistry } from './registry.js';
import type { TransformJobStatus } from './transform-job.js';

const REPORT_FRESH_MS = 10_000;

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
  kind: JobKind;
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
  /** A transform job's last report (runs, position, lag); null for a stream job or before the first report. */
  transform: TransformJobStatus | null;
}

const isStreamStatus = (status: WorkerStatus | TransformJobStatus | null): status is WorkerStatus =>
  status !== null && 'tasks' in status;

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
      if (!isStreamStatus(worker.status)) continue;
      for (const s of worker.status.stalled ?? []) stalled.set(`${s.topic}:${s.partition}`, s);
      for (const task of worker.status.tasks) {
        owners.set(`${task.topic}:${task.partition}`, { worker: worker.status.workerId, task });
      }
    }
    const transformStatus =
      job.kind === 'transform' ? ((workers[0]?.status as TransformJobStatus | null) ?? null) : null;
    const partitions =
      job.kind === 'transform'
        ? []
        : await withAdmin(config, async (admin) => {
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
    if (transformStatus) {
      totals.lag = transformStatus.lag.pendingRows;
      totals.processed = transformStatus.runs;
    }
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
      kind: job.kind,
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
      inputRate: fresh.reduce((sum, w) => sum + (isStreamStatus(w.status) ? w.status.inputRate : 0), 0),
      totals,
      partitions,
      transform: transformStatus,
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
