import { BvError, createLogger, type Logger } from '@bitvelocity/core';
import { Consumer, type Message, Producer } from '@platformatic/kafka';
import { type JobDefinition, sourceTopics, transactionalSystemOf } from '../api/job.js';
import type { OutputRecord, RawRecord, StreamRecord } from '../api/record.js';
import type { PartitionOffset, TransactionalWriter } from '../api/sinks.js';
import { StallDetector, type StalledPartition } from '../runtime/stall.js';
import { type ChangelogEntry, Task, type TaskCounters } from '../runtime/task.js';
import { PartitionFetcher, partitionId } from './fetcher.js';
import { changelogTopicOf, jobGroupId, transactionalIdOf } from './topics.js';

export interface TaskStatus {
  topic: string;
  partition: number;
  /** Next offset to read. */
  position: string;
  /** Records between the position and the end of what read_committed can see. */
  lag: number;
  watermark: string | null;
  stateEntries: number;
  lastCheckpointAt: string | null;
  counters: TaskCounters;
}

export interface WorkerStatus {
  job: string;
  workerId: string;
  pid: number;
  startedAt: string;
  guarantee: string;
  /** Input records per second since the previous report. */
  inputRate: number;
  tasks: TaskStatus[];
  /** Partitions whose checkpoints keep failing: the job cannot get past their position (see runtime/stall.ts). */
  stalled?: StalledPartition[];
}

export interface WorkerOptions {
  job: JobDefinition;
  bootstrapServers: string[];
  workerId: string;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called after checkpoints, at most once a second. */
  onStatus?: (status: WorkerStatus) => void;
  /** Called after every checkpoint of a task, with its duration (ms). */
  onCheckpoint?: (task: Task, millis: number) => void;
  sessionTimeout?: number;
  /**
   * Static group membership: a restarted worker with the same instance id gets its partitions back at once instead
   * of waiting for the session timeout and a rebalance.
   */
  groupInstanceId?: string;
}

type Bytes = Buffer;
type Transaction = Awaited<ReturnType<Producer<Bytes, Bytes, Bytes, Bytes>['beginTransaction']>>;

interface TaskRunner {
  task: Task;
  topic: string;
  partition: number;
  position: bigint;
  committed: bigint;
  lastStable: bigint;
  /** The task's own transactional producer, or the worker's shared one (dead letters of a transactional-sink job). */
  producer: Producer<Bytes, Bytes, Bytes, Bytes>;
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

/**
 * A worker of a job: a member of the job's consumer group that runs one Task per assigned input partition.
 *
 * Exactly-once is Kafka Streams' design with one transactional producer per task: each checkpoint sends the task's
 * outputs, its state changes (to the changelog partition of the same number) and its input offset in one
 * transaction. A new owner of a partition begins a transaction with the task's transactional id first, which fences
 * the old owner and aborts its open transaction; only then does it read the committed offset and replay the
 * changelog, so it starts from exactly the last committed checkpoint.
 *
 * A job whose sinks write into a transactional system (the lake) is exactly-once through that system instead: the
 * worker's writer claims each partition it is assigned (fencing earlier owners) and resumes from the offsets the
 * system holds; each checkpoint commits every task's records and offsets in one transaction of the system.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const { job } = options;
  const log = options.logger ?? createLogger(`streams.${job.name}`);
  const system = transactionalSystemOf(job);
  // Kafka transactions: only when the outputs are Kafka topics.
  const exactlyOnce = !system && job.options.guarantee === 'exactly-once';
  const groupId = jobGroupId(job.name);
  const base = { clientId: options.workerId, bootstrapBrokers: options.bootstrapServers, timeout: 30_000 };
  const consumer = new Consumer<Bytes, Bytes, Bytes, Bytes>({
    ...base,
    groupId,
    sessionTimeout: options.sessionTimeout ?? 10_000,
    heartbeatInterval: 1_000,
    rebalanceTimeout: 30_000,
    ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
  });
  if (system && new Task(job, sourceTopics(job)[0] as string, 0).hasOperatorState) {
    throw new BvError(
      'JOB_INVALID',
      `job ${job.name} writes into ${system.name} and keeps keyed state: state is checkpointed to Kafka, the output to ${system.name}, and the two cannot commit together; split it into a Kafka-to-Kafka job and a stateless landing job`,
    );
  }
  const writer: TransactionalWriter | undefined = system ? await system.connect(job.name, options.workerId) : undefined;
  const sharedProducer = writer
    ? new Producer<Bytes, Bytes, Bytes, Bytes>({ ...base, idempotent: true, acks: -1, retryDelay: 20 })
    : undefined;
  const fetcher = new PartitionFetcher(consumer);
  const runners = new Map<string, TaskRunner>();
  const stalls = new StallDetector();
  const noteFailure = (topic: string, partition: number, error: unknown) => {
    const entry = stalls.failed(topic, partition, error);
    if (StallDetector.justStalled(entry)) log.error({ ...entry }, 'partition stalled: it cannot make progress');
  };
  const startedAt = new Date().toISOString();
  let rebalanced = false;
  consumer.on('consumer:group:join', () => {
    rebalanced = true;
  });

  const openTransactionalTask = async (topic: string, partition: number): Promise<TaskRunner> => {
    const claimed = await (writer as TransactionalWriter).claim(topic, partition);
    const position = claimed ?? (await fetcher.earliest(topic, partition));
    const task = new Task(job, topic, partition);
    task.nextOffset = position;
    log.info({ topic, partition, position: position.toString(), system: system?.name }, 'task assigned and claimed');
    return newRunner(task, position, sharedProducer as Producer<Bytes, Bytes, Bytes, Bytes>, false, undefined);
  };

  const newRunner = (
    task: Task,
    position: bigint,
    producer: Producer<Bytes, Bytes, Bytes, Bytes>,
    ownsProducer: boolean,
    transaction: Transaction | undefined,
  ): TaskRunner => ({
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
  });

  const openTask = async (topic: string, partition: number): Promise<TaskRunner> => {
    if (writer) return openTransactionalTask(topic, partition);
    const producer = new Producer<Bytes, Bytes, Bytes, Bytes>({
      ...base,
      idempotent: true,
      acks: -1,
      retryDelay: 20,
      ...(exactlyOnce
        ? {
            transactionalId: transactionalIdOf(job.name, topic, partition),
            // The client would otherwise send producer id 0 / epoch 0, which the broker refuses for a transactional
            // id that another process used before (PRODUCER_FENCED): -1 asks for the current one and bumps its epoch.
            producerId: -1n,
            producerEpoch: -1,
          }
        : {}),
    });
    try {
      const transaction = exactlyOnce ? await producer.beginTransaction() : undefined;
      const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [partition] }] });
      let position = committed.get(topic)?.[partition] ?? -1n;
      if (position < 0n) position = await fetcher.earliest(topic, partition);
      const task = new Task(job, topic, partition);
      const restoreStarted = performance.now();
      const entries = await readChangelog(fetcher, changelogTopicOf(job.name, topic), partition);
      task.restore(entries);
      task.nextOffset = position;
      log.info(
        {
          topic,
          partition,
          position: position.toString(),
          changelog: entries.length,
          restoreMs: Math.round(performance.now() - restoreStarted),
        },
        'task assigned and restored',
      );
      return newRunner(task, position, producer, true, transaction);
    } catch (error) {
      await producer.close().catch(() => {});
      throw error;
    }
  };

  const closeTask = async (id: string, reason: string) => {
    const runner = runners.get(id);
    if (!runner) return;
    runners.delete(id);
    fetcher.forget(runner.topic, runner.partition);
    log.info({ topic: runner.topic, partition: runner.partition, reason }, 'task closed');
    if (runner.ownsProducer) await runner.producer.close().catch(() => {});
  };

  const reconcile = async () => {
    rebalanced = false;
    const assigned = new Set<string>();
    const wanted: [string, number][] = [];
    for (const assignment of consumer.assignments ?? []) {
      for (const partition of assignment.partitions) {
        assigned.add(partitionId(assignment.topic, partition));
        wanted.push([assignment.topic, partition]);
      }
    }
    for (const id of [...runners.keys()]) if (!assigned.has(id)) await closeTask(id, 'revoked');
    for (const [topic, partition] of wanted) {
      const id = partitionId(topic, partition);
      if (runners.has(id)) continue;
      try {
        runners.set(id, await openTask(topic, partition));
      } catch (error) {
        log.warn({ topic, partition, err: error }, 'could not open task; retrying on the next cycle');
        noteFailure(topic, partition, error);
      }
    }
  };

  const checkpoint = async (runner: TaskRunner) => {
    const outputs = runner.task.takeOutputs();
    const changes = runner.task.takeChangelog();
    if (outputs.length === 0 && changes.length === 0 && runner.position === runner.committed) return;
    const started = performance.now();
    const messages = [
      ...outputs.map(toMessage),
      ...changes.map((entry) => changelogMessage(changelogTopicOf(job.name, runner.topic), runner.partition, entry)),
    ];
    if (exactlyOnce) {
      const transaction = runner.transaction ?? (await runner.producer.beginTransaction());
      runner.transaction = undefined;
      for (const chunk of produceChunks(messages)) await transaction.send({ messages: chunk });
      await transaction.addConsumer(consumer as never);
      await transaction.addOffset(offsetMessage(consumer, groupId, runner));
      await transaction.commit();
    } else {
      for (const chunk of produceChunks(messages)) await runner.producer.send({ messages: chunk });
      await consumer.commit({
        offsets: [{ topic: runner.topic, partition: runner.partition, offset: runner.position, leaderEpoch: -1 }],
      });
    }
    runner.committed = runner.position;
    runner.lastCheckpointAt = Date.now();
    stalls.progressed(runner.topic, runner.partition);
    options.onCheckpoint?.(runner.task, performance.now() - started);
  };

  /**
   * One transaction of the system for every task's records and offsets; dead letters go to Kafka first. The batch is
   * taken synchronously; its commit runs while the next batch is read and processed (one commit in flight at a time),
   * so fetching from Kafka and writing the lake overlap.
   */
  let inFlight: Promise<void> = Promise.resolve();
  let commitFailed = false;
  const checkpointTransactional = async (target: TransactionalWriter) => {
    await inFlight;
    if (commitFailed) {
      // What was processed since the failed commit is dropped too; the tasks reopen from the offsets the system holds.
      commitFailed = false;
      for (const id of [...runners.keys()]) await closeTask(id, 'checkpoint failed');
      return;
    }
    const records = new Map<string, StreamRecord<unknown>[]>();
    const deadLetters: OutputRecord[] = [];
    const offsets: PartitionOffset[] = [];
    const advanced: [TaskRunner, bigint][] = [];
    for (const runner of runners.values()) {
      for (const [name, list] of runner.task.takeTransactionalRecords()) {
        const all = records.get(name);
        if (all) for (const record of list) all.push(record);
        else records.set(name, list);
      }
      for (const output of runner.task.takeOutputs()) deadLetters.push(output);
      runner.task.takeChangelog(); // the watermark's progress only; a stateless job does not restore it
      if (runner.position !== runner.committed) {
        offsets.push({ topic: runner.topic, partition: runner.partition, nextOffset: runner.position });
        advanced.push([runner, runner.position]);
      }
    }
    if (offsets.length === 0) return;
    inFlight = (async () => {
      const started = performance.now();
      try {
        // At least once into the dead-letter topics, before the commit that moves past them.
        for (const chunk of produceChunks(deadLetters.map(toMessage))) await sharedProducer?.send({ messages: chunk });
        await target.commit({ records, offsets });
      } catch (error) {
        log.warn({ err: error, system: system?.name }, 'checkpoint failed');
        for (const [runner] of advanced) noteFailure(runner.topic, runner.partition, error);
        commitFailed = true;
        return;
      }
      const millis = performance.now() - started;
      const now = Date.now();
      for (const [runner, position] of advanced) {
        runner.committed = position;
        runner.lastCheckpointAt = now;
        stalls.progressed(runner.topic, runner.partition);
        options.onCheckpoint?.(runner.task, millis);
      }
      // The group's offsets mirror the system's for lag tools; the system's are the ones a task resumes from.
      await consumer
        .commit({
          offsets: offsets.map((o) => ({
            topic: o.topic,
            partition: o.partition,
            offset: o.nextOffset,
            leaderEpoch: -1,
          })),
        })
        .catch(() => {});
    })();
  };

  let lastReportAt = performance.now();
  let recordsSinceReport = 0;
  const report = (force = false) => {
    if (!options.onStatus) return;
    const now = performance.now();
    if (!force && now - lastReportAt < 1000) return;
    const seconds = (now - lastReportAt) / 1000;
    lastReportAt = now;
    const inputRate = seconds > 0 ? recordsSinceReport / seconds : 0;
    recordsSinceReport = 0;
    options.onStatus({
      job: job.name,
      workerId: options.workerId,
      pid: process.pid,
      startedAt,
      guarantee: job.options.guarantee,
      inputRate: Math.round(inputRate),
      tasks: [...runners.values()].map((r) => ({
        topic: r.topic,
        partition: r.partition,
        position: r.position.toString(),
        lag: Number(r.lastStable > r.position ? r.lastStable - r.position : 0n),
        watermark: Number.isFinite(r.task.watermark) ? new Date(r.task.watermark).toISOString() : null,
        stateEntries: r.task.stateSize,
        lastCheckpointAt: r.lastCheckpointAt === undefined ? null : new Date(r.lastCheckpointAt).toISOString(),
        counters: { ...r.task.counters },
      })),
      stalled: stalls.stalled(),
    });
  };

  consumer.topics.trackAll(...sourceTopics(job));
  await consumer.joinGroup({});
  log.info({ worker: options.workerId, guarantee: job.options.guarantee }, 'worker joined its group');
  try {
    while (!options.signal?.aborted) {
      await reconcile();
      if (runners.size === 0) {
        await sleep(200, options.signal);
        report();
        continue;
      }
      for (const runner of runners.values()) {
        runner.readThisBatch = false;
        runner.batchRecords = 0;
      }
      const batchStarted = performance.now();
      let batchRecords = 0;
      const hasBudget = (r: TaskRunner) => r.batchRecords < job.options.maxBatchRecords;
      const buffered = (r: TaskRunner) => r.bufferIndex < r.buffer.length;
      for (;;) {
        const toFetch = [...runners.values()].filter((r) => hasBudget(r) && !buffered(r));
        let fetchedRecords = 0;
        if (toFetch.length > 0) {
          const waitForData = ![...runners.values()].some((r) => hasBudget(r) && buffered(r));
          const remaining = Math.max(10, job.options.maxBatchWait - (performance.now() - batchStarted));
          const fetched = await fetcher.fetch(
            toFetch.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.fetchPosition })),
            { maxWaitTime: waitForData ? Math.round(remaining) : 0 },
          );
          for (const [id, part] of fetched) {
            const runner = runners.get(id);
            if (!runner) continue;
            runner.buffer = part.records;
            runner.bufferIndex = 0;
            if (part.nextOffset > runner.fetchPosition) runner.fetchPosition = part.nextOffset;
            runner.lastStable = part.lastStableOffset;
            if (part.records.length > 0) runner.readThisBatch = true;
            fetchedRecords += part.records.length;
          }
        }
        let read = 0;
        for (const runner of runners.values()) {
          while (buffered(runner) && hasBudget(runner)) {
            const record = runner.buffer[runner.bufferIndex++] as RawRecord;
            if (record.offset < runner.position) continue;
            runner.task.process(record);
            runner.position = record.offset + 1n;
            runner.batchRecords++;
            read++;
          }
          // Past control records (transaction markers) once everything fetched is processed.
          if (!buffered(runner) && runner.fetchPosition > runner.position) runner.position = runner.fetchPosition;
        }
        batchRecords += read;
        if (read === 0 && fetchedRecords === 0) break;
        if (![...runners.values()].some(hasBudget)) break;
        if (performance.now() - batchStarted >= job.options.maxBatchWait || rebalanced || options.signal?.aborted)
          break;
      }
      recordsSinceReport += batchRecords;
      for (const runner of runners.values()) {
        if (!runner.readThisBatch && runner.position >= runner.lastStable) runner.task.idle();
      }
      if (writer) await checkpointTransactional(writer);
      else
        await Promise.all(
          [...runners.entries()].map(async ([id, runner]) => {
            try {
              await checkpoint(runner);
            } catch (error) {
              // Fenced (a new owner took the partition) or a failed commit: drop the task; if it is still ours, the next
              // cycle reopens it from the last committed checkpoint.
              log.warn({ topic: runner.topic, partition: runner.partition, err: error }, 'checkpoint failed');
              noteFailure(runner.topic, runner.partition, error);
              await closeTask(id, 'checkpoint failed');
            }
          }),
        );
      report();
    }
  } finally {
    await inFlight;
    report(true);
    for (const id of [...runners.keys()]) await closeTask(id, 'worker stopping');
    await sharedProducer?.close().catch(() => {});
    await writer?.close().catch(() => {});
    await consumer.close().catch(() => {});
    log.info({ worker: options.workerId }, 'worker stopped');
  }
}

async function readChangelog(fetcher: PartitionFetcher, topic: string, partition: number): Promise<ChangelogEntry[]> {
  const entries: ChangelogEntry[] = [];
  let position = await fetcher.earliest(topic, partition);
  const end = await fetcher.end(topic, partition);
  while (position < end) {
    const fetched = (await fetcher.fetch([{ topic, partition, offset: position }], { maxWaitTime: 100 })).get(
      partitionId(topic, partition),
    );
    if (!fetched) break;
    for (const record of fetched.records) {
      if (record.offset >= end) break;
      if (!record.key) continue;
      entries.push({ key: record.key.toString('utf8'), value: record.value ? record.value.toString('utf8') : null });
    }
    if (fetched.nextOffset <= position) break;
    position = fetched.nextOffset;
  }
  fetcher.forget(topic, partition);
  return entries;
}

/** Bytes a produce request may carry here: well under the broker's default message.max.bytes (1 MiB) per batch. */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Splits a checkpoint's messages into produce requests the broker accepts. One request for a large checkpoint (a
 * backlog read in batches of thousands of records) builds a record batch over message.max.bytes, which the broker
 * refuses (MESSAGE_TOO_LARGE) every time the task retries it: the job would never get past it.
 */
export function* produceChunks<
  M extends { key?: Buffer | undefined; value?: Buffer | undefined; headers?: Map<Buffer, Buffer> },
>(messages: M[]): Generator<M[]> {
  let chunk: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    let size = 64 + (message.key?.length ?? 0) + (message.value?.length ?? 0);
    for (const [name, value] of message.headers ?? []) size += name.length + value.length + 8;
    if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

function toMessage(output: OutputRecord) {
  const headers = new Map<Bytes, Bytes>();
  for (const [name, value] of Object.entries(output.headers)) headers.set(Buffer.from(name), Buffer.from(value));
  return {
    topic: output.topic,
    key: output.key === undefined ? undefined : Buffer.from(output.key),
    value: typeof output.value === 'string' ? Buffer.from(output.value) : output.value,
    headers,
    timestamp: BigInt(Math.trunc(output.timestamp)),
  };
}

function changelogMessage(topic: string, partition: number, entry: ChangelogEntry) {
  return {
    topic,
    partition,
    key: Buffer.from(entry.key),
    value: entry.value === null ? undefined : Buffer.from(entry.value),
  };
}

/**
 * The offset to commit in the transaction. Generation -1 and no member id: the task's transactional id, not the
 * group generation, is what fences a zombie (so a rebalance that keeps the partition here does not fail the commit).
 */
function offsetMessage(consumer: Consumer<Bytes, Bytes, Bytes, Bytes>, groupId: string, runner: TaskRunner) {
  return {
    topic: runner.topic,
    partition: runner.partition,
    offset: runner.position - 1n,
    metadata: { consumer: { groupId, generationId: -1, memberId: '', coordinatorId: consumer.coordinatorId } },
  } as unknown as Message<Bytes, Bytes, Bytes, Bytes>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
