import type { PlatformConfig } from '@bitvelocity/core';
import { type JobStatus, jobStatus, listJobs } from '@bitvelocity/streams';
import type { LakeSchemas } from './aggregates.js';
import type { LakeReader } from './lake-reader.js';

export interface JobFreshness {
  name: string;
  state: string;
  /** Records the job's consumer group is behind its source topics' ends. */
  consumerLag: number;
  /** The lowest watermark across the job's partitions (how far event time has progressed), or null. */
  watermark: string | null;
  inputRate: number;
}

export interface Freshness {
  snapshotId: number;
  snapshotTime: string | null;
  latestBronzeAt: string | null;
  latestSilverAt: string | null;
  latestSilverEventAt: string | null;
  latestGoldWindowEnd: string | null;
  latestGoldLandedAt: string | null;
  /** Bronze rows Silver has not refined yet, as time: newest Bronze ingest minus newest Silver row's ingest. */
  silverLagSeconds: number | null;
  /** Event time Gold's closed minute windows are behind the newest Silver order. */
  goldLagSeconds: number | null;
  jobs: JobFreshness[];
  /** Why the job list is empty or old, when the registry or Kafka could not be asked. */
  jobsError: string | null;
  jobsAt: string | null;
}

const seconds = (later: string | null, earlier: string | null) =>
  later && earlier ? Math.max(0, Math.round((Date.parse(later) - Date.parse(earlier)) / 100) / 10) : null;

function toJob(status: JobStatus): JobFreshness {
  const watermarks = status.partitions
    .map((p) => p.watermark)
    .filter((w): w is string => w !== null)
    .sort();
  return {
    name: status.name,
    state: status.state,
    consumerLag: status.totals.lag,
    watermark: watermarks[0] ?? null,
    inputRate: status.inputRate,
  };
}

/**
 * The pipeline's freshness. Lake figures are read at the current snapshot; the stream jobs' lag and watermarks come
 * from the job registry and Kafka, refreshed in the background at most every `jobsEveryMs` (they cost a Kafka admin
 * round trip per job), so a dashboard refresh never waits on Kafka.
 */
export class FreshnessProbe {
  private jobs: JobFreshness[] = [];
  private jobsError: string | null = null;
  private jobsAt: string | null = null;
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;

  constructor(
    private readonly config: PlatformConfig,
    private readonly reader: LakeReader,
    private readonly schemas: LakeSchemas,
    private readonly options: { jobs?: readonly string[]; jobsEveryMs?: number } = {},
  ) {}

  async read(): Promise<Freshness> {
    this.refreshJobsInBackground();
    const s = this.schemas;
    const at = async (sql: string): Promise<string | null> => {
      try {
        const result = await this.reader.read(
          `SELECT strftime((${sql}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS t`,
          {},
          { timeoutMs: 5000, maxRows: 1 },
        );
        return (result.rows[0]?.t as string | null) ?? null;
      } catch {
        return null; // a layer that does not exist (yet) has no freshness
      }
    };
    const latestOf = (tables: string[], column: string) =>
      `SELECT max(t) FROM (${tables.map((t) => `SELECT max(${column}) AS t FROM ${t}`).join(' UNION ALL ')})`;
    const [latestBronzeAt, latestSilverAt, latestSilverEventAt, latestGoldWindowEnd, latestGoldLandedAt, snapshot] =
      await Promise.all([
        at(`SELECT max(_ingested_at) FROM ${s.bronze}.envelopes`),
        at(latestOf([`${s.silver}.orders`, `${s.silver}.products`, `${s.silver}.customers`], '_ingested_at')),
        at(`SELECT max(occurred_at) FROM ${s.silver}.orders`),
        at(`SELECT max(window_end) FROM ${s.gold}.orders_per_product_1m_revisions`),
        at(
          latestOf(
            [`${s.gold}.orders_per_product_1m_revisions`, `${s.gold}.revenue_5m_revisions`, `${s.gold}.anomalies`],
            '_landed_at',
          ),
        ),
        this.reader
          .read(
            `SELECT snapshot_id AS id, strftime(snapshot_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS t
               FROM ducklake_snapshots('lake') ORDER BY snapshot_id DESC LIMIT 1`,
            {},
            { timeoutMs: 5000, maxRows: 1 },
          )
          .catch(() => undefined),
      ]);
    return {
      snapshotId: Number(snapshot?.rows[0]?.id ?? 0),
      snapshotTime: (snapshot?.rows[0]?.t as string | undefined) ?? null,
      latestBronzeAt,
      latestSilverAt,
      latestSilverEventAt,
      latestGoldWindowEnd,
      latestGoldLandedAt,
      silverLagSeconds: latestBronzeAt && latestSilverAt ? seconds(latestBronzeAt, latestSilverAt) : null,
      goldLagSeconds: seconds(latestSilverEventAt, latestGoldWindowEnd),
      jobs: this.jobs,
      jobsError: this.jobsError,
      jobsAt: this.jobsAt,
    };
  }

  /** Waits for a job refresh under way (tests, and the first answer after start). */
  async settled(): Promise<void> {
    this.refreshJobsInBackground();
    await this.refreshing;
  }

  private refreshJobsInBackground(): void {
    if (this.refreshing || Date.now() - this.lastRefresh < (this.options.jobsEveryMs ?? 5000)) return;
    this.refreshing = (async () => {
      try {
        const wanted = this.options.jobs;
        const statuses = wanted
          ? (await Promise.all(wanted.map((name) => jobStatus(this.config, name).catch(() => undefined)))).filter(
              (j): j is JobStatus => j !== undefined,
            )
          : await listJobs(this.config);
        this.jobs = statuses.map(toJob);
        this.jobsError = null;
        this.jobsAt = new Date().toISOString();
      } catch (error) {
        this.jobsError = error instanceof Error ? error.message : String(error);
      } finally {
        this.lastRefresh = Date.now();
        this.refreshing = undefined;
      }
    })();
  }
}
