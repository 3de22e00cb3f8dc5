import { channel, subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';

/**
 * The platform's instrumentation seam: the runtime, the lake, the transform runner and the supervisor publish what
 * they do on `node:diagnostics_channel` (as @platformatic/kafka does), and lineage emission, metrics and quality
 * subscribe without the publishers knowing them. Publishing with no subscriber costs one property read.
 *
 * Every channel is defined here once, with its payload type; subscribe with `diagnostics.<name>.subscribe(...)`.
 */
export class DiagnosticChannel<Message extends object> {
  private readonly channel;

  constructor(readonly name: string) {
    this.channel = channel(name);
  }

  get hasSubscribers(): boolean {
    return this.channel.hasSubscribers;
  }

  /** Publishes to every subscriber synchronously; a subscriber that throws does not affect the publisher. */
  publish(message: Message): void {
    if (this.channel.hasSubscribers) this.channel.publish(message);
  }

  /** Subscribes `listener`; returns the function that unsubscribes it. */
  subscribe(listener: (message: Message) => void): () => void {
    const onMessage = (message: unknown) => listener(message as Message);
    subscribeChannel(this.name, onMessage);
    return () => {
      unsubscribeChannel(this.name, onMessage);
    };
  }
}

/** A stream task's checkpoint committed: its outputs, state and input offsets are durable together. */
export interface CheckpointCommittedEvent {
  job: string;
  workerId: string;
  /**
   * How it was committed: one Kafka transaction (outputs + changelog + offsets), outputs then offsets (at least once),
   * or one commit of a transactional sink's system (the lake) for every task of the worker.
   */
  strategy: 'kafka-transaction' | 'at-least-once' | 'transactional-sink';
  /** The input positions committed: the next offset to read per partition. */
  offsets: { topic: string; partition: number; nextOffset: bigint }[];
  /** The records (and their key + value bytes) this checkpoint made durable, per output topic. */
  produced?: { topic: string; records: number; bytes: number }[];
  /** The distinct W3C traceparents of the records made durable (capped), so a tracer can link their traces. */
  traceparents?: readonly string[];
  durationMs: number;
}

/** A DuckLake transaction committed by the platform (a lake sink's batch or a transform's increment). */
export interface LakeCommitEvent {
  /** The stream job or transform that committed. */
  writer: string;
  /** Rows written per lake table (qualified name -> rows). */
  written: Record<string, number>;
  /** For a lake sink: the Kafka offsets committed with the rows. */
  offsets?: { topic: string; partition: number; nextOffset: bigint }[];
  /** For a transform: the position recorded with the rows. */
  position?: string;
  /** The distinct W3C traceparents of the rows committed (capped), so a tracer can link their traces. */
  traceparents?: readonly string[];
  durationMs: number;
}

/** A lake table as a transform names it in its events (the lakehouse's LakeTable is this type). */
export interface TransformTableRef {
  schema: string;
  name: string;
  columns?: readonly { name: string; type: string; description?: string }[];
}

export interface TransformStartEvent {
  transform: string;
  mode: 'increment' | 'rebuild';
  /** The lake tables the transform reads and writes (for lineage). */
  inputs?: readonly TransformTableRef[];
  outputs?: readonly TransformTableRef[];
  /** A rebuild's starting point (everything when omitted). */
  from?: Date;
}

/** What every transform run reports: the lakehouse's TransformReport is this type. */
export interface TransformRunSummary {
  transform: string;
  /** Input rows read in this increment (0: nothing new). */
  read: number;
  /** Rows written per output table (qualified name -> rows). */
  written: Record<string, number>;
  /** The position recorded after this increment (a transform-specific cursor, printable). */
  position: string;
  /** False when a publish hook held the increment back (nothing was committed; the position did not move). */
  published: boolean;
  /** The hook's reason when it held the increment back. */
  heldReason?: string;
  /** The lake snapshot id of the commit, when one was made. */
  snapshotId?: bigint;
  durationMs: number;
}

export interface TransformFinishEvent {
  transform: string;
  mode: 'increment' | 'rebuild';
  reports: TransformRunSummary[];
}

export interface TransformHeldEvent {
  transform: string;
  reason: string;
  report: TransformRunSummary;
}

export interface TransformFailEvent {
  transform: string;
  mode: 'increment' | 'rebuild';
  error: unknown;
}

export type JobKind = 'stream' | 'transform';

export interface JobDeployedEvent {
  job: string;
  kind: JobKind;
  module: string;
  parallelism: number;
}

export interface JobWorkerEvent {
  job: string;
  workerIndex: number;
  pid: number | undefined;
}

export interface JobCrashedEvent extends JobWorkerEvent {
  exitCode: number | null;
  signal: string | null;
  /** Consecutive failures of this worker slot (drives the restart backoff). */
  failures: number;
  restartInMs: number;
}

export const diagnostics = {
  checkpointCommitted: new DiagnosticChannel<CheckpointCommittedEvent>('bv:stream:checkpoint'),
  lakeCommit: new DiagnosticChannel<LakeCommitEvent>('bv:lake:commit'),
  transformStart: new DiagnosticChannel<TransformStartEvent>('bv:transform:start'),
  transformFinish: new DiagnosticChannel<TransformFinishEvent>('bv:transform:finish'),
  transformHeld: new DiagnosticChannel<TransformHeldEvent>('bv:transform:held'),
  transformFail: new DiagnosticChannel<TransformFailEvent>('bv:transform:fail'),
  jobDeployed: new DiagnosticChannel<JobDeployedEvent>('bv:job:deployed'),
  jobStarted: new DiagnosticChannel<JobWorkerEvent>('bv:job:started'),
  jobStopped: new DiagnosticChannel<JobWorkerEvent>('bv:job:stopped'),
  jobCrashed: new DiagnosticChannel<JobCrashedEvent>('bv:job:crashed'),
} as const;
