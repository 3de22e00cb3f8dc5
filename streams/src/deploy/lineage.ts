import {
  BV_JOB_NAMESPACE,
  datasetNames,
  type JobRun,
  LineageClient,
  LineageEmitter,
  loadPlatformConfig,
} from '@bitvelocity/core';

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
