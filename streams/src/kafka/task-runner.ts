import type { Producer } from '@platformatic/kafka';
import type { RawRecord } from '../api/record.js';
import type { Task } from '../runtime/task.js';

export type Bytes = Buffer;
export type KafkaProducer = Producer<Bytes, Bytes, Bytes, Bytes>;
export type Transaction = Awaited<ReturnType<KafkaProducer['beginTransaction']>>;

/** A task with where it stands in its partition: the worker's unit of fetching, processing and checkpointing. */
export interface TaskRunner {
  task: Task;
  topic: string;
  partition: number;
  position: bigint;
  committed: bigint;
  lastStable: bigint;
  /** The task's own transactional producer, or the worker's shared one (dead letters of a transactional-sink job). */
  producer: KafkaProducer;
  ownsProducer: boolean;
  /** Begun (which fenced any previous owner) and not yet used. */
  transaction: Transaction | undefined;
  lastCheckpointAt: number | undefined;
  readThisBatch: boolean;
  /** Fetched, not yet processed (a checkpoint never takes more than maxBatchRecords of a task). */
  buffer: RawRecord[];
  bufferIndex: number;
  /** Where the next fetch starts: past the buffer. */
  fetchPosition: bigint;
  batchRecords: number;
}

export function newRunner(
  task: Task,
  position: bigint,
  producer: KafkaProducer,
  ownsProducer: boolean,
  transaction: Transaction | undefined,
): TaskRunner {
  return {
    task,
    topic: task.topic,
    partition: task.partition,
    position,
    committed: position,
    lastStable: position,
    producer,
    ownsProducer,
    transaction,
    lastCheckpointAt: undefined,
    readThisBatch: false,
    buffer: [],
    bufferIndex: 0,
    fetchPosition: position,
    batchRecords: 0,
  };
}
