import { diagnostics, type Logger, MAX_TRACE_LINKS } from '@bitvelocity/core';
import type { Consumer } from '@platformatic/kafka';
import type { JobDefinition } from '../api/job.js';
import type { OutputRecord, StreamRecord } from '../api/record.js';
import type { PartitionOffset, TransactionalWriter } from '../api/sinks.js';
import { changelogMessage, offsetMessage, produceChunks, toMessage } from './messages.js';
import type { Bytes, KafkaProducer, TaskRunner } from './task-runner.js';
import { changelogTopicOf } from './topics.js';

/** How a worker makes its tasks' progress durable: one strategy per way a job commits (see runWorker). */
export interface Checkpointer {
  /** Commits what the tasks processed since the last checkpoint; a task whose commit failed is closed (and reopened). */
  checkpoint(runners: ReadonlyMap<string, TaskRunner>): Promise<void>;
  /** Waits for a commit still in flight (before the worker stops). */
  drain(): Promise<void>;
}

export interface CheckpointerContext {
  job: JobDefinition;
  workerId: string;
  consumer: Consumer<Bytes, Bytes, Bytes, Bytes>;
  log: Logger;
  closeTask(id: string, reason: string): Promise<void>;
  /**
   * A partition's checkpoint failed (a partition failing again and again is stalled: runtime/stall.ts). It logs the
   * failure: the first in full, then a summary a minute (runtime/failure-log.ts).
   */
  checkpointFailed(topic: string, partition: number, error: unknown): void;
  /** A partition's checkpoint committed. */
  progressed(topic: string, partition: number): void;
}

/**
 * Kafka to Kafka: each task commits on its own, through its own producer. Exactly once: its outputs, its state changes
 * (to its changelog partition) and its input offset in one Kafka transaction; at least once: outputs, then the offset.
 */
export class KafkaCheckpointer implements Checkpointer {
  constructor(
    private readonly context: CheckpointerContext,
    private readonly exactlyOnce: boolean,
    private readonly groupId: string,
  ) {}

  async checkpoint(runners: ReadonlyMap<string, TaskRunner>): Promise<void> {
    await Promise.all(
      [...runners.entries()].map(async ([id, runner]) => {
        try {
          await this.commitTask(runner);
        } catch (error) {
          // Fenced (a new owner took the partition) or a failed commit: drop the task; if it is still ours, the next
          // cycle reopens it from the last committed checkpoint. Logged by checkpointFailed, rate-limited.
          this.context.checkpointFailed(runner.topic, runner.partition, error);
          await this.context.closeTask(id, 'checkpoint failed');
        }
      }),
    );
  }

  drain(): Promise<void> {
    return Promise.resolve();
  }

  private async commitTask(runner: TaskRunner): Promise<void> {
    const outputs = runner.task.takeOutputs();
    const changes = runner.task.takeChangelog();
    if (outputs.length === 0 && changes.length === 0 && runner.position === runner.committed) return;
    const started = performance.now();
    const messages = [
      ...outputs.map(toMessage),
      ...changes.map((entry) =>
        changelogMessage(changelogTopicOf(this.context.job.name, runner.topic), runner.partition, entry),
      ),
    ];
    if (this.exactlyOnce) {
      const transaction = runner.transaction ?? (await runner.producer.beginTransaction());
      runner.transaction = undefined;
      for (const chunk of produceChunks(messages)) await transaction.send({ messages: chunk });
      await transaction.addConsumer(this.context.consumer as never);
      await transaction.addOffset(offsetMessage(this.context.consumer, this.groupId, runner));
      await transaction.commit();
    } else {
      for (const chunk of produceChunks(messages)) await runner.producer.send({ messages: chunk });
      await this.context.consumer.commit({
        offsets: [{ topic: runner.topic, partition: runner.partition, offset: runner.position, leaderEpoch: -1 }],
      });
    }
    runner.committed = runner.position;
    runner.lastCheckpointAt = Date.now();
    this.context.progressed(runner.topic, runner.partition);
    diagnostics.checkpointCommitted.publish({
      job: this.context.job.name,
      workerId: this.context.workerId,
      strategy: this.exactlyOnce ? 'kafka-transaction' : 'at-least-once',
      offsets: [{ topic: runner.topic, partition: runner.partition, nextOffset: runner.position }],
      produced: producedOf(messages.slice(0, outputs.length)),
      ...traceparentsOf(outputs),
      durationMs: performance.now() - started,
    });
  }
}

/**
 * One transaction of the system for every task's records and offsets; dead letters go to Kafka first. The batch is
 * taken synchronously; its commit runs while the next batch is read and processed (one commit in flight at a time),
 * so fetching from Kafka and writing the lake overlap.
 */
export class TransactionalSinkCheckpointer implements Checkpointer {
  private inFlight: Promise<void> = Promise.resolve();
  private commitFailed = false;

  constructor(
    private readonly context: CheckpointerContext,
    private readonly writer: TransactionalWriter,
    /** Dead letters go to Kafka, at least once, before the commit that moves past them. */
    private readonly deadLetterProducer: KafkaProducer,
    private readonly systemName: string,
  ) {}

  async checkpoint(runners: ReadonlyMap<string, TaskRunner>): Promise<void> {
    await this.inFlight;
    if (this.commitFailed) {
      // What was processed since the failed commit is dropped too; the tasks reopen from the offsets the system holds.
      this.commitFailed = false;
      for (const id of [...runners.keys()]) await this.context.closeTask(id, 'checkpoint failed');
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
    this.inFlight = (async () => {
      const started = performance.now();
      try {
        // At least once into the dead-letter topics, before the commit that moves past them.
        for (const chunk of produceChunks(deadLetters.map(toMessage)))
          await this.deadLetterProducer.send({ messages: chunk });
        await this.writer.commit({ records, offsets });
      } catch (error) {
        // Logged per partition by checkpointFailed, rate-limited; every failed commit only at debug.
        this.context.log.debug({ err: error, system: this.systemName }, 'commit failed');
        for (const [runner] of advanced) this.context.checkpointFailed(runner.topic, runner.partition, error);
        this.commitFailed = true;
        return;
      }
      const millis = performance.now() - started;
      const now = Date.now();
      for (const [runner, position] of advanced) {
        runner.committed = position;
        runner.lastCheckpointAt = now;
        this.context.progressed(runner.topic, runner.partition);
      }
      diagnostics.checkpointCommitted.publish({
        job: this.context.job.name,
        workerId: this.context.workerId,
        strategy: 'transactional-sink',
        offsets,
        durationMs: millis,
      });
      // The group's offsets mirror the system's for lag tools; the system's are the ones a task resumes from.
      await this.context.consumer
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
  }

  drain(): Promise<void> {
    return this.inFlight;
  }
}

/** The distinct traceparents of a checkpoint's outputs (capped), only when a tracer listens. */
function traceparentsOf(outputs: readonly OutputRecord[]): { traceparents?: string[] } {
  if (!diagnostics.checkpointCommitted.hasSubscribers) return {};
  const traceparents = new Set<string>();
  for (const output of outputs) {
    if (traceparents.size >= MAX_TRACE_LINKS) break;
    const traceparent = output.headers.traceparent;
    if (traceparent) traceparents.add(traceparent);
  }
  return traceparents.size > 0 ? { traceparents: [...traceparents] } : {};
}

/** Records and key + value bytes per topic, for the checkpoint event (lineage's output statistics). */
function producedOf(messages: { topic: string; key?: Buffer | undefined; value?: unknown }[]) {
  const byTopic = new Map<string, { topic: string; records: number; bytes: number }>();
  for (const m of messages) {
    let entry = byTopic.get(m.topic);
    if (!entry) {
      entry = { topic: m.topic, records: 0, bytes: 0 };
      byTopic.set(m.topic, entry);
    }
    entry.records++;
    entry.bytes += (m.key?.length ?? 0) + (Buffer.isBuffer(m.value) ? m.value.length : 0);
  }
  return [...byTopic.values()];
}
