import type { LineageClient } from './client.js';
import { inputDataset, newRunId, outputDataset, runEvent } from './events.js';
import { facets } from './facets.js';
import { BV_JOB_NAMESPACE, type DatasetId } from './naming.js';
import type { DatasetFacets, InputDataset, JobFacets, OutputDataset, RunFacets, RunState } from './types.js';

export interface JobRunSpec {
  job: DatasetId;
  /** STREAMING for long-running consumers, BATCH for runs that finish. */
  processingType: 'BATCH' | 'STREAMING';
  /** What kind of step: `STREAM_JOB`, `CDC_CONNECTOR`, `OUTBOX`, `LAKE_TRANSFORM`, `WAREHOUSE_BUILD`, `QUALITY`... */
  jobType: string;
  inputs?: (DatasetId & { facets?: DatasetFacets; inputFacets?: InputDataset['inputFacets'] })[];
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
  /** Extra run facets for this event only (e.g. a custom facet saying why a run was aborted). */
  runFacets?: RunFacets;
  /** When it happened (default: now), e.g. a START reported after the fact. */
  eventTime?: Date;
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

  start(progress: RunProgress = {}): void {
    this.emit('START', progress, true);
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
    const runFacets: RunFacets = { ...spec.runFacets, ...progress.runFacets };
    if (first || eventType === 'COMPLETE' || eventType === 'FAIL' || eventType === 'ABORT') {
      runFacets.processing_engine = facets.processingEngine();
    }
    if (spec.parent) runFacets.parent = facets.parent({ runId: spec.parent.runId }, spec.parent.job);
    if (errorMessage) runFacets.errorMessage = errorMessage;
    const inputs: InputDataset[] = (spec.inputs ?? []).map((d) => inputDataset(d, d.facets, d.inputFacets));
    const outputs: OutputDataset[] = (progress.outputs ?? spec.outputs ?? []).map((d) => {
      const stats = progress.outputStatistics?.[d.name];
      return outputDataset(d, d.facets, stats ? { outputStatistics: facets.outputStatistics(stats) } : undefined);
    });
    this.client.emit(
      runEvent({
        eventType,
        runId: this.runId,
        ...(progress.eventTime ? { eventTime: progress.eventTime } : {}),
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

/**
 * The run of a deployed job, handed by its supervisor to the worker processes in the environment, so what a worker
 * reports (RUNNING statistics, the transform runs it drives) belongs to the supervisor's run.
 */
export const DEPLOYED_RUN_ENV = { runId: 'BV_LINEAGE_RUN_ID', job: 'BV_LINEAGE_JOB' } as const;

export function deployedRunFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { runId: string; job: DatasetId } | undefined {
  const runId = env[DEPLOYED_RUN_ENV.runId];
  const job = env[DEPLOYED_RUN_ENV.job];
  return runId && job ? { runId, job: { namespace: BV_JOB_NAMESPACE, name: job } } : undefined;
}
