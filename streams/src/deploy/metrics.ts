import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkerStatus } from '../kafka/worker.js';

const LABELS = ['job', 'topic', 'partition'] as const;

/** A worker's Prometheus metrics, fed from its status reports and checkpoints; served on /metrics. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private latest: WorkerStatus | undefined;
  private readonly checkpointSeconds: Histogram<'job'>;
  private readonly lakeCommitSeconds: Histogram<'job'>;
  /** Per lake table written: when the last commit with rows for it finished (epoch ms). */
  private readonly lastLanded = new Map<string, number>();

  constructor(readonly job: string) {
    this.registry.setDefaultLabels({ worker: String(process.pid) });
    const fromTasks = (
      name: string,
      help: string,
      kind: 'counter' | 'gauge',
      read: (task: WorkerStatus['tasks'][number]) => number | undefined,
    ) => {
      const self = this;
      const Metric = kind === 'counter' ? Counter : Gauge;
      new Metric({
        name,
        help,
        labelNames: LABELS,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const task of self.latest?.tasks ?? []) {
            const value = read(task);
            if (value === undefined) continue;
            const labels = { job: self.job, topic: task.topic, partition: String(task.partition) };
            if (this instanceof Counter) this.inc(labels, value);
            else (this as Gauge<(typeof LABELS)[number]>).set(labels, value);
          }
        },
      });
    };
    fromTasks('bv_stream_input_records_total', 'Records decoded and processed', 'counter', (t) => t.counters.processed);
    fromTasks(
      'bv_stream_dead_letters_total',
      'Records sent to the dead-letter topic',
      'counter',
      (t) => t.counters.deadLettered,
    );
    fromTasks(
      'bv_stream_late_events_total',
      'Late events that updated a fired window',
      'counter',
      (t) => t.counters.late,
    );
    fromTasks(
      'bv_stream_too_late_events_total',
      'Events past the allowed lateness (late side output)',
      'counter',
      (t) => t.counters.tooLate,
    );
    fromTasks('bv_stream_dedupe_hits_total', 'Duplicates dropped by dedupe', 'counter', (t) => t.counters.dedupeHits);
    fromTasks(
      'bv_stream_anomalies_total',
      'Anomalies emitted by z-score operators',
      'counter',
      (t) => t.counters.anomalies,
    );
    fromTasks('bv_stream_lag_records', 'Committed records not yet processed', 'gauge', (t) => t.lag);
    fromTasks('bv_stream_state_entries', 'Entries in the task state stores', 'gauge', (t) => t.stateEntries);
    fromTasks('bv_stream_watermark_delay_seconds', 'Wall clock minus the task watermark', 'gauge', (t) =>
      t.watermark === null ? undefined : (Date.now() - Date.parse(t.watermark)) / 1000,
    );
    fromTasks(
      'bv_stream_last_checkpoint_timestamp_seconds',
      'When the task last committed a checkpoint',
      'gauge',
      (t) => (t.lastCheckpointAt === null ? undefined : Date.parse(t.lastCheckpointAt) / 1000),
    );
    const self = this;
    new Gauge({
      name: 'bv_stream_partition_stalled',
      help: 'Partitions whose checkpoints keep failing (1 = stalled; the reason is in `bv jobs status`)',
      labelNames: LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const stalled of self.latest?.stalled ?? [])
          this.set({ job: self.job, topic: stalled.topic, partition: String(stalled.partition) }, 1);
      },
    });
    new Gauge({
      name: 'bv_stream_input_rate',
      help: 'Input records per second over the last report interval',
      labelNames: ['job'],
      registers: [this.registry],
      collect() {
        this.set({ job: self.job }, self.latest?.inputRate ?? 0);
      },
    });
    this.checkpointSeconds = new Histogram({
      name: 'bv_stream_checkpoint_seconds',
      help: 'Time to commit a task checkpoint (outputs, changelog and offsets in one transaction)',
      labelNames: ['job'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.lakeCommitSeconds = new Histogram({
      name: 'bv_lake_commit_seconds',
      help: 'Time to commit a batch to the lake (rows and the position in one DuckLake transaction)',
      labelNames: ['job'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    const landed = this.lastLanded;
    new Gauge({
      name: 'bv_lake_freshness_seconds',
      help: 'Seconds since this worker last committed rows to the lake table',
      labelNames: ['job', 'table'],
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const [table, at] of landed) this.set({ job: self.job, table }, (now - at) / 1000);
      },
    });
  }

  update(status: WorkerStatus): void {
    this.latest = status;
  }

  observeCheckpoint(millis: number): void {
    this.checkpointSeconds.observe({ job: this.job }, millis / 1000);
  }

  /** A lake commit of this worker (core's `bv:lake:commit` diagnostics event). */
  observeLakeCommit(event: { durationMs: number; written: Record<string, number> }): void {
    this.lakeCommitSeconds.observe({ job: this.job }, event.durationMs / 1000);
    const now = Date.now();
    for (const [table, rows] of Object.entries(event.written)) if (rows > 0) this.lastLanded.set(table, now);
  }

  /** Serves /metrics; port 0 picks a free one. Resolves to the bound port. */
  serve(port = 0, host = '127.0.0.1'): Promise<{ port: number; server: Server }> {
    const server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      this.registry
        .metrics()
        .then((body) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(body))
        .catch((error: Error) => response.writeHead(500).end(error.message));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address();
        resolve({ port: typeof address === 'object' && address ? address.port : port, server });
      });
    });
  }
}
