import { BvError, type JobKind, type PlatformConfig, postgresUrl } from '@bitvelocity/core';
import pg from 'pg';
import type { StateShape } from '../api/shape.js';
import type { WorkerStatus } from '../kafka/worker.js';
import type { OffsetSkip } from '../runtime/skips.js';
import type { TransformJobStatus } from './transform-job.js';

export type DesiredState = 'running' | 'stopped';

export interface JobRecord {
  name: string;
  /** A Kafka dataflow (`defineJob`) or a lake transform (`transformJob`). */
  kind: JobKind;
  module: string;
  description: string;
  guarantee: string;
  parallelism: number;
  desiredState: DesiredState;
  sourceTopics: string[];
  sinkTopics: string[];
  supervisorPid: number | null;
  restartRequestedAt: Date | null;
  deployedAt: Date;
  updatedAt: Date;
  /**
   * The job's reprocessing epoch: 0 when deployed, one more at each `bv jobs reset`. Window results carry it, so a
   * consumer orders a window's versions by (epoch, revision) and a reprocessed result supersedes the old ones.
   */
  epoch: number;
  /** What each stateful operator's state holds, as deployed (api/shape.ts); null for a transform or an older deploy. */
  stateShape: StateShape | null;
}

export interface WorkerRecord {
  job: string;
  workerIndex: number;
  pid: number | null;
  metricsPort: number | null;
  startedAt: Date | null;
  reportedAt: Date | null;
  restarts: number;
  /** The worker's last report: a stream worker's (tasks, rates) or a transform worker's (runs, lag). */
  status: WorkerStatus | TransformJobStatus | null;
}

// Idempotent DDL: the registry is the stream runtime's own small schema in the platform database.
const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS bv_streams;
CREATE TABLE IF NOT EXISTS bv_streams.jobs (
  name text PRIMARY KEY,
  module text NOT NULL,
  description text NOT NULL DEFAULT '',
  guarantee text NOT NULL,
  parallelism integer NOT NULL CHECK (parallelism > 0),
  desired_state text NOT NULL CHECK (desired_state IN ('running', 'stopped')),
  source_topics text[] NOT NULL,
  sink_topics text[] NOT NULL,
  supervisor_pid integer,
  restart_requested_at timestamptz,
  deployed_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bv_streams.workers (
  job text NOT NULL REFERENCES bv_streams.jobs (name) ON DELETE CASCADE,
  worker_index integer NOT NULL,
  pid integer,
  metrics_port integer,
  started_at timestamptz,
  reported_at timestamptz,
  restarts integer NOT NULL DEFAULT 0,
  status jsonb,
  PRIMARY KEY (job, worker_index)
);
ALTER TABLE bv_streams.jobs ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'stream';
ALTER TABLE bv_streams.jobs ADD COLUMN IF NOT EXISTS epoch integer NOT NULL DEFAULT 0 CHECK (epoch >= 0);
ALTER TABLE bv_streams.jobs ADD COLUMN IF NOT EXISTS state_shape jsonb;
CREATE TABLE IF NOT EXISTS bv_streams.skips (
  job text NOT NULL REFERENCES bv_streams.jobs (name) ON DELETE CASCADE,
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  from_offset bigint NOT NULL CHECK (from_offset >= 0),
  to_offset bigint NOT NULL,
  reason text NOT NULL,
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  CHECK (to_offset >= from_offset)
);`;

const jobOf = (row: Record<string, unknown>): JobRecord => ({
  name: row.name as string,
  kind: (row.kind as JobKind | undefined) ?? 'stream',
  module: row.module as string,
  description: row.description as string,
  guarantee: row.guarantee as string,
  parallelism: row.parallelism as number,
  desiredState: row.desired_state as DesiredState,
  sourceTopics: row.source_topics as string[],
  sinkTopics: row.sink_topics as string[],
  supervisorPid: row.supervisor_pid as number | null,
  restartRequestedAt: row.restart_requested_at as Date | null,
  deployedAt: row.deployed_at as Date,
  updatedAt: row.updated_at as Date,
  epoch: (row.epoch as number | undefined) ?? 0,
  stateShape: (row.state_shape as StateShape | null | undefined) ?? null,
});

/** Where deployed jobs, their desired state and their workers' last reports live (Postgres). */
export class JobRegistry {
  private constructor(private readonly pool: pg.Pool) {}

  static async create(config: PlatformConfig): Promise<JobRegistry> {
    const pool = new pg.Pool({ connectionString: postgresUrl(config.postgres, { preferSocket: true }), max: 2 });
    const client = await pool.connect();
    try {
      // Serialise concurrent first runs (CREATE ... IF NOT EXISTS can still race on the catalog).
      await client.query('SELECT pg_advisory_lock(hashtext($1))', ['bv_streams.schema']);
      await client.query(SCHEMA);
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', ['bv_streams.schema']);
    } finally {
      client.release();
    }
    return new JobRegistry(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async upsert(
    job: Omit<
      JobRecord,
      'supervisorPid' | 'restartRequestedAt' | 'deployedAt' | 'updatedAt' | 'epoch' | 'stateShape'
    > & {
      stateShape?: StateShape | null;
    },
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO bv_streams.jobs (name, module, description, guarantee, parallelism, desired_state, source_topics, sink_topics, kind, state_shape)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (name) DO UPDATE SET module = $2, description = $3, guarantee = $4, parallelism = $5,
         desired_state = $6, source_topics = $7, sink_topics = $8, kind = $9, state_shape = $10, updated_at = now()`,
      [
        job.name,
        job.module,
        job.description,
        job.guarantee,
        job.parallelism,
        job.desiredState,
        job.sourceTopics,
        job.sinkTopics,
        job.kind,
        job.stateShape ? JSON.stringify(job.stateShape) : null,
      ],
    );
  }

  async get(name: string): Promise<JobRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM bv_streams.jobs WHERE name = $1', [name]);
    return rows[0] ? jobOf(rows[0]) : undefined;
  }

  async list(): Promise<JobRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM bv_streams.jobs ORDER BY name');
    return rows.map(jobOf);
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    await this.pool.query('UPDATE bv_streams.jobs SET desired_state = $2, updated_at = now() WHERE name = $1', [
      name,
      state,
    ]);
  }

  async requestRestart(name: string): Promise<void> {
    await this.pool.query(
      `UPDATE bv_streams.jobs SET restart_requested_at = now(), desired_state = 'running', updated_at = now() WHERE name = $1`,
      [name],
    );
  }

  /** Starts the job's next reprocessing epoch (`bv jobs reset`); returns it. */
  async nextEpoch(name: string): Promise<number> {
    const { rows } = await this.pool.query(
      'UPDATE bv_streams.jobs SET epoch = epoch + 1, updated_at = now() WHERE name = $1 RETURNING epoch',
      [name],
    );
    if (rows.length === 0) throw new BvError('JOB_NOT_FOUND', `no job named ${name}`);
    return rows[0].epoch as number;
  }

  async setSupervisor(name: string, pid: number | null): Promise<void> {
    await this.pool.query('UPDATE bv_streams.jobs SET supervisor_pid = $2 WHERE name = $1', [name, pid]);
  }

  async workerStarted(job: string, index: number, pid: number, restarted: boolean): Promise<void> {
    await this.pool.query(
      `INSERT INTO bv_streams.workers (job, worker_index, pid, started_at, restarts, status) VALUES ($1, $2, $3, now(), 0, NULL)
       ON CONFLICT (job, worker_index) DO UPDATE SET pid = $3, started_at = now(), status = NULL, metrics_port = NULL,
         restarts = bv_streams.workers.restarts + CASE WHEN $4 THEN 1 ELSE 0 END`,
      [job, index, pid, restarted],
    );
  }

  async report(
    job: string,
    index: number,
    metricsPort: number | null,
    status: WorkerStatus | TransformJobStatus,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE bv_streams.workers SET reported_at = now(), metrics_port = $3, status = $4 WHERE job = $1 AND worker_index = $2`,
      [job, index, metricsPort, JSON.stringify(status)],
    );
  }

  async workers(job: string): Promise<WorkerRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM bv_streams.workers WHERE job = $1 ORDER BY worker_index', [
      job,
    ]);
    return rows.map((row) => ({
      job: row.job,
      workerIndex: row.worker_index,
      pid: row.pid,
      metricsPort: row.metrics_port,
      startedAt: row.started_at,
      reportedAt: row.reported_at,
      restarts: row.restarts,
      status: row.status,
    }));
  }

  /** Records that the job must skip an offset range (applied by its workers from their next start). */
  async addSkip(job: string, skip: Omit<OffsetSkip, 'requestedAt'>, requestedBy: string): Promise<OffsetSkip> {
    const { rows } = await this.pool.query<{ requested_at: Date }>(
      `INSERT INTO bv_streams.skips (job, topic, partition, from_offset, to_offset, reason, requested_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING requested_at`,
      [job, skip.topic, skip.partition, skip.fromOffset.toString(), skip.toOffset.toString(), skip.reason, requestedBy],
    );
    return { ...skip, requestedAt: (rows[0]?.requested_at ?? new Date()).toISOString() };
  }

  async skips(job: string): Promise<(OffsetSkip & { requestedBy: string })[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM bv_streams.skips WHERE job = $1 ORDER BY requested_at, topic, partition, from_offset',
      [job],
    );
    return rows.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      fromOffset: BigInt(r.from_offset),
      toOffset: BigInt(r.to_offset),
      reason: r.reason,
      requestedAt: (r.requested_at as Date).toISOString(),
      requestedBy: r.requested_by,
    }));
  }

  /** Forgets a job (its workers and skips go with it). */
  async remove(name: string): Promise<void> {
    await this.pool.query('DELETE FROM bv_streams.jobs WHERE name = $1', [name]);
  }

  async removeWorkersFrom(job: string, fromIndex: number): Promise<void> {
    await this.pool.query('DELETE FROM bv_streams.workers WHERE job = $1 AND worker_index >= $2', [job, fromIndex]);
  }
}

/** Opens the registry for one command and closes it afterwards. */
export async function withRegistry<T>(config: PlatformConfig, body: (registry: JobRegistry) => Promise<T>): Promise<T> {
  const registry = await JobRegistry.create(config);
  try {
    return await body(registry);
  } finally {
    await registry.close();
  }
}

export async function requireJob(registry: JobRegistry, name: string): Promise<JobRecord> {
  const job = await registry.get(name);
  if (!job) throw new BvError('JOB_NOT_FOUND', `job ${name} is not deployed (see bv jobs list)`);
  return job;
}
