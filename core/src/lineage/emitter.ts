import type { LineageClient } from './client.js';
import { inputDataset, newRunId, outputDataset, runEvent } from './events.js';
import { facets } from './facets.js';
import type { DatasetId } from './naming.js';
import type { DatasetFacets, InputDataset, JobFacets, OutputDataset, RunFacets, RunState } from './types.js';

export interface JobRunSpec {
  job: DatasetId;
  /** STREAMING for long-running consumers, BATCH for runs that finish. */
  processingType: 'BATCH' | 'STREAMING';
  /** What kind of step: `STREAM_JOB`, `CDC_CONNECTOR`, `OUTBOX`, `LAKE_TRANSFORM`, `WAREHOUSE_BUILD`, `QUALITY`... */
  jobType: string;
  inputs?: (DatasetId & { facets?: DatasetFacets })[];
  outputs?: (DatasetId & { facets?: DatasetFacets })[];
  jobFacets?: JobFacets;
  runFacets?: RunFacets;
  parent?: { runId: string; job: DatasetId };
  runId?: string;
}

export interface RunProgress {
  /** Output statistics per output dataset name (`{ "orders.enriched": { rowCount: 120 } }`), or for all of them. */
  outputStatistics?: Record<string, { rowCount?: number; size?: number; fileCount?: number }>;
  outputs?: (DatasetId & { facets?: DatasetFacets })[];
}

/**
 * One run of one job, as a step sees it: `start()`, `running()` now and then, then `complete()`, `abort()` or
 * `fail(error)`. Each call emits an OpenLineage RunEvent through the client and returns at once.
 */
export class JobRun {
  readonly runId: string;

  constructor(
    private readonly client: LineageClient,
    private readonly spec: JobRunSpec,
  ) {
    this.runId = spec.runId ?? newRunId();
  }

  start(): void {
    this.emit('START', {}, true);
  }

  running(progress: RunProgress = {}): void {
    this.emit('RUNNING', progress);
  }

  complete(progress: RunProgress = {}): void {
    this.emit('COMPLETE', progress);
  }

  abort(progress: RunProgress = {}): void {
    this.emit('ABORT', progress);
  }

  fail(error: unknown, progress: RunProgress = {}): void {
    this.emit('FAIL', progress, false, facets.errorMessage(error));
  }

  private emit(
    eventType: RunState,
    progress: RunProgress,
    first = false,
    errorMessage?: ReturnType<typeof facets.errorMessage>,
  ): void {
    const spec = this.spec;
    const runFacets: RunFacets = { ...spec.runFacets };
    if (first || eventType === 'COMPLETE' || eventType === 'FAIL' || eventType === 'ABORT') {
      runFacets.processing_engine = facets.processingEngine();
    }
    if (spec.parent) runFacets.parent = facets.parent({ runId: spec.parent.runId }, spec.parent.job);
    if (errorMessage) runFacets.errorMessage = errorMessage;
    const inputs: InputDataset[] = (spec.inputs ?? []).map((d) => inputDataset(d, d.facets));
    const outputs: OutputDataset[] = (progress.outputs ?? spec.outputs ?? []).map((d) => {
      const stats = progress.outputStatistics?.[d.name];
      return outputDataset(d, d.facets, stats ? { outputStatistics: facets.outputStatistics(stats) } : undefined);
    });
    this.client.emit(
      runEvent({
        eventType,
        runId: this.runId,
        job: {
          namespace: spec.job.namespace,
          name: spec.job.name,
          facets: { jobType: facets.jobType(spec.processingType, spec.jobType), ...spec.jobFacets },
        },
        runFacets,
        inputs,
        outputs,
      }),
    );
  }
}

/** The API a step calls: `lineage.jobRun(spec).start()`. */
export class LineageEmitter {
  constructor(readonly client: LineageClient) {}

  jobRun(spec: JobRunSpec): JobRun {
    return new JobRun(this.client, spec);
  }
}
