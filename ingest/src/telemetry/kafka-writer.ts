import { setTimeout as sleep } from 'node:timers/promises';
import { deadLetterTopicOf, errorMessage, type Logger, TELEMETRY_TOPIC } from '@bitvelocity/core';
import { defaultPartitioner, type MessageToProduce, Producer } from '@platformatic/kafka';
import { type ReadingRecord, type ReadingReject, readingJson } from './readings.js';

/** Headers of a telemetry dead letter (the same `bv-dlq-*` names as the stream jobs' dead letters). */
export const TELEMETRY_DLQ_HEADERS = {
  code: 'bv-dlq-code',
  reason: 'bv-dlq-reason',
  job: 'bv-dlq-job',
  /** Where the reading came from: `mqtt:<topic>` or `http:<path>`. */
  source: 'bv-dlq-source',
  /** The reading's index in an array body. */
  index: 'bv-dlq-index',
} as const;

export const TELEMETRY_DLQ_TOPIC = deadLetterTopicOf(TELEMETRY_TOPIC);
const JOB = 'telemetry-bridge';

export interface WriterOptions {
  bootstrapServers: string[];
  /** A batch is sent when it holds this many records ... */
  maxBatchRecords?: number;
  /** ... or when its first record has waited this long. */
  lingerMs?: number;
  /** Batches sent and not yet acknowledged by Kafka. */
  maxInflightBatches?: number;
  topic?: string;
  deadLetterTopic?: string;
  logger?: Logger;
  clientId?: string;
}

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;
type Pending = { messages: Message[]; resolves: (() => void)[] };

/** Header names, encoded once: records are handed to the producer as bytes, so it serialises nothing per record. */
const HEADER = {
  eventType: Buffer.from('eventType'),
  traceparent: Buffer.from('traceparent'),
  traceId: Buffer.from('traceId'),
  tenantId: Buffer.from('tenantId'),
} as const;

/**
 * Produces readings and dead letters to Kafka in batches (acks=all, idempotent), and resolves each write only when
 * Kafka acknowledged the batch it went in: the bridge acknowledges MQTT on that. A failed batch is retried with
 * back-off until it succeeds; nothing is acknowledged meanwhile, so the broker keeps the readings.
 */
export class TelemetryKafkaWriter {
  private pending: Pending = { messages: [], resolves: [] };
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  /** The tenant id header's bytes by tenant, and the eventType header's by event type. */
  private readonly encoded = new Map<string, Buffer>();
  private readonly topic: string;
  private readonly deadLetterTopic: string;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly maxInflight: number;

  constructor(private readonly options: WriterOptions) {
    this.producer = new Producer({
      clientId: options.clientId ?? 'bv-telemetry-bridge',
      bootstrapBrokers: options.bootstrapServers,
      acks: -1,
      idempotent: true,
      // Each write is retried here (with the batch): the producer's own retries would reorder nothing but hide time.
      retries: 3,
    });
    this.topic = options.topic ?? TELEMETRY_TOPIC;
    this.deadLetterTopic = options.deadLetterTopic ?? TELEMETRY_DLQ_TOPIC;
    this.maxBatch = options.maxBatchRecords ?? 2000;
    this.lingerMs = options.lingerMs ?? 5;
    // One batch in flight: the idempotent producer's sequence numbers stay in order (concurrent sends of one
    // producer are refused with OUT_OF_ORDER_SEQUENCE_NUMBER), and the next batch fills while Kafka answers.
    this.maxInflight = options.maxInflightBatches ?? 1;
  }

  /**
   * Resolves when Kafka has the readings. The readings of one call share one headers map (the same trace, and the
   * tenant and event type of one device), so a message of 100 readings costs one set of header buffers.
   */
  writeReadings(records: readonly ReadingRecord[], headers: { traceparent: string }): Promise<void> {
    const first = records[0];
    if (!first) return Promise.resolve();
    const envelope = first.envelope;
    const shared = new Map<Buffer, Buffer>([
      [HEADER.eventType, this.bytesOf(envelope.eventType)],
      [HEADER.traceparent, Buffer.from(headers.traceparent)],
      [HEADER.traceId, Buffer.from(envelope.traceId)],
      [HEADER.tenantId, this.bytesOf(envelope.tenantId)],
    ]);
    const sameDevice = records.every((r) => r.key === first.key && r.envelope.traceId === envelope.traceId);
    const key = Buffer.from(first.key);
    // The producer's own partitioner (murmur2 of the key), run once for the device instead of once per reading.
    const partition = defaultPartitioner({ topic: this.topic }, key);
    const messages: Message[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as ReadingRecord;
      messages[i] = sameDevice
        ? { topic: this.topic, partition, key, value: Buffer.from(readingJson(r.envelope)), headers: shared }
        : {
            topic: this.topic,
            key: Buffer.from(r.key),
            value: Buffer.from(readingJson(r.envelope)),
            headers: this.headersOf(r, headers.traceparent),
          };
    }
    return this.enqueue(messages);
  }

  private headersOf(record: ReadingRecord, traceparent: string): Map<Buffer, Buffer> {
    return new Map([
      [HEADER.eventType, this.bytesOf(record.envelope.eventType)],
      [HEADER.traceparent, Buffer.from(traceparent)],
      [HEADER.traceId, Buffer.from(record.envelope.traceId)],
      [HEADER.tenantId, this.bytesOf(record.envelope.tenantId)],
    ]);
  }

  /** A small, recurring string (tenant id, event type) as bytes; the cache is bounded by the tenants. */
  private bytesOf(text: string): Buffer {
    let bytes = this.encoded.get(text);
    if (!bytes) {
      bytes = Buffer.from(text);
      if (this.encoded.size < 10_000) this.encoded.set(text, bytes);
    }
    return bytes;
  }

  /** Resolves when Kafka has the dead letters. */
  writeDeadLetters(rejects: readonly ReadingReject[], context: { key: string; source: string }): Promise<void> {
    return this.enqueue(
      rejects.map((r) => {
        const headers = new Map<Buffer, Buffer>([
          [Buffer.from(TELEMETRY_DLQ_HEADERS.code), Buffer.from(r.code)],
          [Buffer.from(TELEMETRY_DLQ_HEADERS.reason), Buffer.from(r.reason.slice(0, 2000))],
          [Buffer.from(TELEMETRY_DLQ_HEADERS.job), Buffer.from(JOB)],
          [Buffer.from(TELEMETRY_DLQ_HEADERS.source), Buffer.from(context.source.slice(0, 1000))],
        ]);
        if (r.index !== undefined) headers.set(Buffer.from(TELEMETRY_DLQ_HEADERS.index), Buffer.from(String(r.index)));
        // A dead letter must fit under the broker's message.max.bytes (1 MiB): keep the first 512 KiB of the body.
        return {
          topic: this.deadLetterTopic,
          key: Buffer.from(context.key),
          value: Buffer.from(r.raw.slice(0, 512 * 1024)),
          headers,
        };
      }),
    );
  }

  private enqueue(messages: Message[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the telemetry writer is closed'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      for (const message of messages) this.pending.messages.push(message);
      this.pending.resolves.push(resolve);
      if (this.pending.messages.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.messages.length === 0) return;
    const batch = this.pending;
    this.pending = { messages: [], resolves: [] };
    void this.send(batch);
  }

  private async send(batch: Pending): Promise<void> {
    while (this.inflight >= this.maxInflight) await new Promise<void>((r) => this.waiting.push(r));
    this.inflight++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.producer.send({ messages: batch.messages });
          break;
        } catch (error) {
          if (this.closed) throw error;
          this.options.logger?.warn(
            { error: producerErrorOf(error), attempt, records: batch.messages.length },
            'kafka write failed; retrying',
          );
          await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
        }
      }
      for (const resolve of batch.resolves) resolve();
    } catch {
      // closed while Kafka was away: nothing was acknowledged, the broker redelivers to the next bridge
    } finally {
      this.inflight--;
      this.waiting.shift()?.();
    }
  }

  /** Sends what is pending and waits for it, then closes the producer. */
  async close(): Promise<void> {
    this.flush();
    while (this.inflight > 0 || this.waiting.length > 0) await sleep(10);
    this.closed = true;
    await this.producer.close();
  }
}

/**
 * The Kafka client reports a failed produce as "Producing messages failed." with the brokers' answers nested in
 * `errors` (one per destination) and `cause`: the log line carries those, or an operator cannot tell why.
 */
function producerErrorOf(error: unknown, depth = 0): string {
  const text = errorMessage(error);
  if (depth > 3 || typeof error !== 'object' || error === null) return text;
  const nested = [
    ...(((error as { errors?: unknown[] }).errors ?? []) as unknown[]),
    ...((error as { cause?: unknown }).cause ? [(error as { cause?: unknown }).cause] : []),
  ];
  const code = (error as { code?: unknown }).code;
  const head = typeof code === 'string' ? `${text} [${code}]` : text;
  return nested.length ? `${head} (${nested.map((e) => producerErrorOf(e, depth + 1)).join('; ')})` : head;
}
