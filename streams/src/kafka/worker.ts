import { createLogger, type Logger } from '@bitvelocity/core';
import { Consumer, Producer } from '@platformatic/kafka';
import { type JobDefinition, sourceTopics, transactionalSystemOf } from '../api/job.js';
import type { RawRecord } from '../api/record.js';
import type { TransactionalWriter } from '../api/sinks.js';
import { isoOrNull } from '../runtime/event-time.js';
import { PartitionFailureLog } from '../runtime/failure-log.js';
import { StallDetector } from '../runtime/stall.js';
import { Task } from '../runtime/task.js';
import { readChangelog } from './changelog.js';
import { type Checkpointer, KafkaCheckpointer, TransactionalSinkCheckpointer } from './checkpointers.js';
import { PartitionFetcher, partitionId } from './fetcher.js';
import type { WorkerStatus } from './status.js';
import { type Bytes, newRunner, type TaskRunner } from './task-runner.js';
import { changelogTopicOf, jobGroupId, transactionalIdOf } from './topics.js';

export type { TaskStatus, WorkerStatus } from './status.js';

export interface WorkerOptions {
  job: JobDefinition;
  bootstrapServers: string[];
  workerId: string;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called after checkpoints, at most once a second. */
  onStatus?: (status: WorkerStatus) => void;
  sessionTimeout?: number;
  /**
   * Static group membership: a restarted worker with the same instance id gets its partitions back at once instead
   * of waiting for the session timeout and a rebalance.
   */
  groupInstanceId?: string;
  /** The job's reprocessing epoch (the registry's), carried by its window results. */
  epoch?: number;
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
  const writer: TransactionalWriter | undefined = system ? await system.connect(job.name, options.workerId) : undefined;
  const sharedProducer = writer
    ? new Producer<Bytes, Bytes, Bytes, Bytes>({ ...base, idempotent: true, acks: -1, retryDelay: 20 })
    : undefined;
  const fetcher = new PartitionFetcher(consumer);
  const runners = new Map<string, TaskRunner>();
  const startedAt = new Date().toISOString();
  let rebalanced = false;
  consumer.on('consumer:group:join', () => {
    rebalanced = true;
  });

  const openTransactionalTask = async (topic: string, partition: number): Promise<TaskRunner> => {
    const claimed = await (writer as TransactionalWriter).claim(topic, partition);
    const position = claimed ?? (await fetcher.earliest(topic, partition));
    const task = new Task(job, topic, partition, Date.now, options.epoch ?? 0);
    log[levelOf(topic, partition)](
      { topic, partition, position: position.toString(), system: system?.name },
      'task assigned and claimed',
    );
    return newRunner(task, position, sharedProducer as Producer<Bytes, Bytes, Bytes, Bytes>, false, undefined);
  };

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
      const task = new Task(job, topic, partition, Date.now, options.epoch ?? 0);
      const restoreStarted = performance.now();
      const entries = await readChangelog(fetcher, changelogTopicOf(job.name, topic), partition);
      task.restore(entries);
      log[levelOf(topic, partition)](
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

  const stalls = new StallDetector();
  // A task closed and reopened on every retry of a failing partition: those lines at debug, the failure log says it.
  const levelOf = (topic: string, partition: number) => (stalls.isFailing(topic, partition) ? 'debug' : 'info');
  // The first failure in full, then a summary a minute while it keeps failing (runtime/failure-log.ts).
  const failureLog = new PartitionFailureLog(log);
  const noteFailure = (topic: string, partition: number, error: unknown, what = 'checkpoint failed') =>
    failureLog.failed(what, stalls.failed(topic, partition, error), error);
  const closeTask = async (id: string, reason: string) => {
    const runner = runners.get(id);
    if (!runner) return;
    runners.delete(id);
    fetcher.forget(runner.topic, runner.partition);
    log[levelOf(runner.topic, runner.partition)](
      { topic: runner.topic, partition: runner.partition, reason },
      'task closed',
    );
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
        noteFailure(topic, partition, error, 'could not open task; retrying on the next cycle');
      }
    }
  };

  const context = {
    job,
    workerId: options.workerId,
    consumer,
    log,
    closeTask,
    checkpointFailed: noteFailure,
    progressed: (topic: string, partition: number) => {
      const was = stalls.progressed(topic, partition);
      if (was) failureLog.progressed(topic, partition, was.failures);
    },
  };
  const checkpointer: Checkpointer =
    writer && sharedProducer
      ? new TransactionalSinkCheckpointer(context, writer, sharedProducer, system?.name ?? 'transactional system')
      : new KafkaCheckpointer(context, exactlyOnce, groupId);

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
        watermark: isoOrNull(r.task.watermark),
        stateEntries: r.task.stateSize,
        lastCheckpointAt: isoOrNull(r.lastCheckpointAt),
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
      await checkpointer.checkpoint(runners);
      report();
    }
  } finally {
    await checkpointer.drain();
    report(true);
    for (const id of [...runners.keys()]) await closeTask(id, 'worker stopping');
    await sharedProducer?.close().catch(() => {});
    await writer?.close().catch(() => {});
    await consumer.close().catch(() => {});
    log.info({ worker: options.workerId }, 'worker stopped');
  }
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
