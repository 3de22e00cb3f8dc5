import {
  BV_JOB_NAMESPACE,
  type DatasetId,
  DEPLOYED_RUN_ENV,
  datasetNames,
  deployedRunFromEnv,
  diagnostics,
  type JobRun,
  LineageClient,
  LineageEmitter,
  lakeCatalogOf,
  loadPlatformConfig,
  type PlatformConfig,
} from '@bitvelocity/core';
import { type JobDefinition, sinkTopics, sourceTopics } from '../api/job.js';
import { isRepartitionTopic } from '../api/repartition.js';

/**
 * A deployed stream job's lifecycle as OpenLineage runs (jobType STREAMING): START when the supervisor starts it,
 * FAIL when a worker crashes (the restarted worker begins a new run), COMPLETE when it is stopped. Emission never
 * blocks or throws; without BV_LINEAGE_URL (or _FILE) it is a no-op.
 */
export class StreamJobLineage {
  private run: JobRun | undefined;
  private readonly emitter: LineageEmitter;

  constructor(
    private readonly jobName: string,
    private readonly client: LineageClient = LineageClient.fromEnv(),
  ) {
    this.emitter = new LineageEmitter(client);
  }

  /** Once per run: call whenever a worker starts; only the first start of a run emits START. */
  workerStarted(job: { sourceTopics: string[]; sinkTopics: string[]; description?: string | undefined }): void {
    if (this.run || this.client.transportName === 'noop') return;
    try {
      const bootstrap = loadPlatformConfig().kafka.bootstrapServers;
      this.run = this.emitter.jobRun({
        job: { namespace: BV_JOB_NAMESPACE, name: `stream.${this.jobName}` },
        processingType: 'STREAMING',
        jobType: 'STREAM_JOB',
        inputs: job.sourceTopics.map((t) => datasetNames.kafka(bootstrap, t)),
        outputs: job.sinkTopics.map((t) => datasetNames.kafka(bootstrap, t)),
      });
      this.run.start();
    } catch {
      // Lineage is best effort: a config problem here must not stop the job.
    }
  }

  /**
   * Hands the current run to the worker processes about to be spawned (they inherit the environment), so their
   * RUNNING statistics and the transform runs they drive belong to it.
   */
  exportRun(env: NodeJS.ProcessEnv = process.env): void {
    if (this.run) {
      env[DEPLOYED_RUN_ENV.runId] = this.run.runId;
      env[DEPLOYED_RUN_ENV.job] = `stream.${this.jobName}`;
    } else {
      delete env[DEPLOYED_RUN_ENV.runId];
      delete env[DEPLOYED_RUN_ENV.job];
    }
  }

  workerCrashed(index: number, code: number | null, signal: string | null): void {
    this.run?.fail(new Error(`worker ${index} of ${this.jobName} exited (${signal ?? `code ${code}`})`));
    this.run = undefined;
  }

  async stopped(): Promise<void> {
    this.run?.complete();
    this.run = undefined;
    await this.client.close(2_000);
  }
}

export interface StreamRunProgressOptions {
  /** Defaults to `LineageClient.fromEnv()` (closed by `close()`); with no lineage configured nothing subscribes. */
  client?: LineageClient;
  config?: PlatformConfig;
  /** How often RUNNING is reported, in ms (default `BV_LINEAGE_RUNNING_INTERVAL_MS` or 60 s). */
  intervalMs?: number;
  /** The run the RUNNING events belong to (default: the supervisor's, from the environment; else a run of its own). */
  runId?: string;
}

type Produced = DatasetId & { rows: number; bytes: number };

/**
 * A stream worker's periodic RUNNING events (jobType STREAMING) with outputStatistics: the records and bytes each
 * output received since the previous event, from the worker's checkpoint events (Kafka outputs) and lake commits
 * (the lake tables of Bronze and Gold landing jobs; rows only). Each worker of a job reports its own share of the
 * job's run. The stream runtime knows nothing of it: it only subscribes to the diagnostics channels.
 */
export class StreamRunProgress {
  private readonly outputs = new Map<string, Produced>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void)[];
  private readonly run: JobRun;
  private readonly owned: boolean;

  private constructor(
    private readonly client: LineageClient,
    job: { name: string; sourceTopics: string[]; sinkTopics: string[] },
    workerId: string,
    options: StreamRunProgressOptions,
  ) {
    this.owned = !options.client;
    const config = options.config ?? loadPlatformConfig();
    const bootstrap = config.kafka.bootstrapServers;
    const catalog = lakeCatalogOf(config);
    for (const topic of job.sinkTopics) this.produced(datasetNames.kafka(bootstrap, topic), 0, 0);
    const deployed = options.runId ?? deployedRunFromEnv()?.runId;
    this.run = new LineageEmitter(client).jobRun({
      job: { namespace: BV_JOB_NAMESPACE, name: `stream.${job.name}` },
      processingType: 'STREAMING',
      jobType: 'STREAM_JOB',
      inputs: job.sourceTopics.map((t) => datasetNames.kafka(bootstrap, t)),
      ...(deployed ? { runId: deployed } : {}),
    });
    if (!deployed) this.run.start({ outputs: this.datasets() });
    this.unsubscribe = [
      diagnostics.checkpointCommitted.subscribe((event) => {
        if (event.workerId !== workerId) return;
        for (const p of event.produced ?? []) this.produced(datasetNames.kafka(bootstrap, p.topic), p.records, p.bytes);
      }),
      diagnostics.lakeCommit.subscribe((event) => {
        if (event.writer !== job.name) return;
        for (const [table, rows] of Object.entries(event.written)) {
          const [schema = '', name = ''] = table.split('.');
          this.produced(datasetNames.ducklake(catalog, schema, name), rows, 0);
        }
      }),
    ];
    const interval = options.intervalMs ?? Number(process.env.BV_LINEAGE_RUNNING_INTERVAL_MS ?? 60_000);
    this.timer = setInterval(() => this.report(), interval);
    this.timer.unref();
  }

  /** Starts reporting for a worker of `job`; undefined (nothing subscribed) when lineage is not configured. */
  static install(
    job: { name: string; sourceTopics: string[]; sinkTopics: string[] },
    workerId: string,
    options: StreamRunProgressOptions = {},
  ): StreamRunProgress | undefined {
    const client = options.client ?? LineageClient.fromEnv();
    if (client.transportName === 'noop') return undefined;
    try {
      return new StreamRunProgress(client, job, workerId, options);
    } catch {
      return undefined; // lineage is best effort: a config problem must not stop the worker
    }
  }

  /**
   * `install` for a job definition run in-process (not deployed): its inputs are the topics it reads, without its
   * internal repartition topics, its outputs the topics it writes (and the lake tables it commits to).
   */
  static installFor(
    job: JobDefinition,
    workerId: string,
    options: StreamRunProgressOptions = {},
  ): StreamRunProgress | undefined {
    return StreamRunProgress.install(
      {
        name: job.name,
        sourceTopics: sourceTopics(job).filter((topic) => !isRepartitionTopic(topic)),
        sinkTopics: sinkTopics(job),
      },
      workerId,
      options,
    );
  }

  get runId(): string {
    return this.run.runId;
  }

  /** One RUNNING event with what each output received since the last one (called by the timer). */
  report(): void {
    const outputStatistics: Record<string, { rowCount: number; size: number }> = {};
    for (const output of this.outputs.values()) {
      outputStatistics[output.name] = { rowCount: output.rows, size: output.bytes };
      output.rows = 0;
      output.bytes = 0;
    }
    this.run.running({ outputs: this.datasets(), outputStatistics });
  }

  /** Reports what is left and stops; the supervisor reports the run's end. */
  async close(timeoutMs = 2_000): Promise<void> {
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    if ([...this.outputs.values()].some((o) => o.rows > 0)) this.report();
    if (this.owned) await this.client.close(timeoutMs);
    else await this.client.flush(timeoutMs);
  }

  private datasets(): DatasetId[] {
    return [...this.outputs.values()].map(({ namespace, name }) => ({ namespace, name }));
  }

  private produced(id: DatasetId, rows: number, bytes: number): void {
    const key = `${id.namespace} ${id.name}`;
    const entry = this.outputs.get(key);
    if (entry) {
      entry.rows += rows;
      entry.bytes += bytes;
    } else this.outputs.set(key, { ...id, rows, bytes });
  }
}
