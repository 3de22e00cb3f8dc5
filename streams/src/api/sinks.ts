import type { StreamRecord } from './record.js';

export interface KafkaSinkSpec<T> {
  kind: 'kafka';
  topic: string;
  key: (record: StreamRecord<T>) => string | undefined;
  value: (value: T) => string;
  /** A job's internal repartition topic (api/repartition.ts), not one of its outputs. */
  internal?: boolean;
}

export interface KafkaSinkOptions<T> {
  /** The record key; by default the stream's key (after keyBy) or the input record's key. */
  key?: (value: T) => string;
  /** Serialises the value; JSON by default (bigints as strings). */
  value?: (value: T) => string;
}

const bigintsAsStrings = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/**
 * JSON of a sink value, bigints as strings. A replacer makes JSON.stringify several times slower for every value, so
 * it is used only for a value that has a bigint (plain JSON.stringify refuses those with a TypeError).
 */
export function toJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof TypeError) return JSON.stringify(value, bigintsAsStrings);
    throw error;
  }
}

/** Writes to a Kafka topic; with exactly-once, inside the task's transaction. */
export function kafkaSink<T>(topic: string, options: KafkaSinkOptions<T> = {}): KafkaSinkSpec<T> {
  const keyOf = options.key;
  return {
    kind: 'kafka',
    topic,
    key: keyOf ? (record) => keyOf(record.value) : (record) => record.key,
    value: options.value ?? toJson,
  };
}

/** A record handed to a transactional sink: the value with its event time, key and input coordinates. */
export type SinkRecord<T> = StreamRecord<T>;

/** Where a task's input stands: the offset after the last record whose output is in the commit. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  nextOffset: bigint;
}

export interface TransactionalCommit {
  /** The records of each sink target (e.g. a lake table), in processing order. */
  records: ReadonlyMap<string, readonly SinkRecord<unknown>[]>;
  offsets: readonly PartitionOffset[];
}

/**
 * A writer of an external transactional system (the lake) that keeps the consumed offsets itself, Arroyo's committing
 * sink: it commits the output records and the offsets in one transaction, so a restart resumes exactly after the last
 * commit. One writer per worker process.
 */
export interface TransactionalWriter {
  /**
   * Takes ownership of an input partition: from now on a commit by any earlier owner fails. Returns the offset to
   * resume from, or undefined when nothing was ever committed for it.
   */
  claim(topic: string, partition: number): Promise<bigint | undefined>;
  /** Commits records and offsets atomically; throws when a partition in it was claimed by another writer since. */
  commit(batch: TransactionalCommit): Promise<void>;
  close(): Promise<void>;
}

/** A transactional system; all of a job's sinks into one system commit together. */
export interface TransactionalSystem {
  /** Names the system in errors and logs, e.g. `lake`. */
  name: string;
  connect(job: string, workerId: string): Promise<TransactionalWriter>;
  /** Moves where a stopped job resumes (`bv jobs reset`): claims the partitions and stores these offsets. */
  resetOffsets(job: string, offsets: readonly PartitionOffset[]): Promise<void>;
}

/** A sink into a transactional system (see `TransactionalWriter`). */
export interface TransactionalSinkSpec<T> {
  kind: 'transactional';
  system: TransactionalSystem;
  /** The target inside the system, e.g. a table. */
  target: string;
  /** Marks the type parameter; never read. */
  readonly __type?: T;
}

export type SinkSpec<T> = KafkaSinkSpec<T> | TransactionalSinkSpec<T>;
