import { BvError, type Logger } from '@bitvelocity/core';
import { JOB_NAME } from '../api/job.js';

/**
 * A deployed job that is not a Kafka dataflow but a batch step over the lake (a lakehouse LakeTransform): the
 * supervisor runs and restarts it like a stream job's workers, and its one worker reports its own status (runs,
 * position, lag) to the registry. The lakehouse builds these (`transformJob`); the stream runtime only runs them.
 */
export interface TransformJobDefinition {
  kind: 'transform';
  name: string;
  description: string;
  /** What a crash at any point gives: the transform commits rows and position in one lake transaction. */
  guarantee: 'exactly-once';
  /** Runs until `signal` aborts; a crash (throw or kill) is restarted by the supervisor. */
  run(context: TransformJobContext): Promise<void>;
}

export interface TransformJobContext {
  signal: AbortSignal;
  logger: Logger;
  workerId: string;
  /** Records the worker's status in the registry (best effort; never slows the transform). */
  report(status: TransformJobStatus): void;
}

/** A transform worker's last report, as `bv jobs status` shows it (JSON: times are ISO strings). */
export interface TransformJobStatus {
  workerId: string;
  /** Increments run since the worker started (empty ones included), held back by a publish hook, failed. */
  runs: number;
  held: number;
  failures: number;
  lastRunAt: string | null;
  lastError: string | null;
  /** The transform's TransformLag: position, input rows after it, and how far input and output have come. */
  lag: { position: string; pendingRows: number; consumedUpTo: string | null; inputUpTo: string | null };
}

/** Checks a transform job's shape once, at the edge (its module's default export). */
export function defineTransformJob(spec: Omit<TransformJobDefinition, 'kind' | 'guarantee'>): TransformJobDefinition {
  if (!JOB_NAME.test(spec.name))
    throw new BvError('JOB_INVALID', `job name "${spec.name}" must match ${JOB_NAME}`, { details: { job: spec.name } });
  if (typeof spec.run !== 'function')
    throw new BvError('JOB_INVALID', `transform job ${spec.name} needs a run function`, {
      details: { job: spec.name },
    });
  return { kind: 'transform', guarantee: 'exactly-once', ...spec };
}

export function isTransformJob(job: unknown): job is TransformJobDefinition {
  return typeof job === 'object' && job !== null && (job as { kind?: unknown }).kind === 'transform';
}
