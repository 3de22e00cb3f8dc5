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
  /**
   * Batches sent and not yet acknowledged by Kafka, per producer. Keep 1: the client numbers an idempotent
   * producer's records only when a batch is acknowledged, so concurrent sends of one producer are refused
   * (OUT_OF_ORDER_SEQUENCE_NUMBER).
   */
  maxInflightBatches?: number;
  /**
   * Idempotent producers, each with its own connection and its own batch in flight: a device's records always go
   * through the same one (chosen by the key's hash), so the order of a device's readings is kept in Kafka while up
   * to this many batches are in flight at once.
   */
  producers?: number;
  topic?: string;
  deadLetterTopic?: string;
  logger?: Logger;
  clientId?: string;
}

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;
type Pending = { messages: Message[]; resolves: (() => void)[] };

/** One producer with its batch being filled and its batches in flight. */
interface Lane {
  producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  pending: Pending;
  timer: NodeJS.Timeout | undefined;
  inflight: number;
  waiting: (() => void)[];
}

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
  private readonly lanes: Lane[];
  private closed = false;
  /** The tenant id header's bytes by tenant, and the eventType header's by event type. */
  private readonly encoded = new Map<string, Buffer>();
  private readonly topic: string;
  private readonly deadLetterTopic: string;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly maxInflight: number;

  constructor(private readonly options: WriterOptions) {
    const producers = Math.max(1, Math.min(16, options.producers ?? 2));
    this.lanes = Array.from({ length: producers }, (_, i) => ({
      producer: new Producer<Buffer, Buffer, Buffer, Buffer>({
        clientId: `${options.clientId ?? 'bv-telemetry-bridge'}-${i}`,
        bootstrapBrokers: options.bootstrapServers,
        acks: -1,
        idempotent: true,
        // Each write is retried here (with the batch): the producer's own retries would reorder nothing but hide time.
        retries: 3,
      }),
      pending: { messages: [], resolves: [] },
      timer: undefined,
      inflight: 0,
      waiting: [],
    }));
    this.topic = options.topic ?? TELEMETRY_TOPIC;
    this.deadLetterTopic = options.deadLetterTopic ?? TELEMETRY_DLQ_TOPIC;
    this.maxBatch = options.maxBatchRecords ?? 2000;
    this.lingerMs = options.lingerMs ?? 5;
    // One batch in flight per producer: its sequence numbers stay in order, and the next batch fills meanwhile.
    this.maxInflight = options.maxInflightBatches ?? 1;
  }

  /** The lane of a key's hash (the producer's own murmur2, the one that also picks the partition). */
  private laneOf(hash: number): Lane {
    return this.lanes[hash % this.lanes.length] as Lane;
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
    if (!sameDevice) return this.enqueueByKey(records.map((r) => this.readingMessage(r, headers.traceparent)));
    const messages: Message[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as ReadingRecord;
      messages[i] = { topic: this.topic, partition, key, value: Buffer.from(readingJson(r.envelope)), headers: shared };
    }
    return this.enqueue(this.laneOf(partition), messages);
  }

  private readingMessage(r: ReadingRecord, traceparent: string): Message {
    return {
      topic: this.topic,
      key: Buffer.from(r.key),
      value: Buffer.from(readingJson(r.envelope)),
      headers: this.headersOf(r, traceparent),
    };
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
    const key = Buffer.from(context.key);
    return this.enqueue(
      this.laneOf(defaultPartitioner({ topic: this.deadLetterTopic }, key)),
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
          key,
          value: Buffer.from(r.raw.slice(0, 512 * 1024)),
          headers,
        };
      }),
    );
  }

  /** Messages of several keys: each goes to its key's lane; resolves when every lane has its share in Kafka. */
  private enqueueByKey(messages: Message[]): Promise<void> {
    const byLane = new Map<Lane, Message[]>();
    for (const message of messages) {
      const lane = this.laneOf(defaultPartitioner({ topic: message.topic }, message.key));
      const list = byLane.get(lane);
      if (list) list.push(message);
      else byLane.set(lane, [message]);
    }
    return Promise.all([...byLane].map(([lane, list]) => this.enqueue(lane, list))).then(() => undefined);
  }

  private enqueue(lane: Lane, messages: Message[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the telemetry writer is closed'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      for (const message of messages) lane.pending.messages.push(message);
      lane.pending.resolves.push(resolve);
      if (lane.pending.messages.length >= this.maxBatch) this.flush(lane);
      else lane.timer ??= setTimeout(() => this.flush(lane), this.lingerMs);
    });
  }

  private flush(lane: Lane): void {
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.pending.messages.length === 0) return;
    const batch = lane.pending;
    lane.pending = { messages: [], resolves: [] };
    void this.send(lane, batch);
  }

  private async send(lane: Lane, batch: Pending): Promise<void> {
    while (lane.inflight >= this.maxInflight) await new Promise<void>((r) => lane.waiting.push(r));
    lane.inflight++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await lane.producer.send({ messages: batch.messages });
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
      lane.inflight--;
      lane.waiting.shift()?.();
    }
  }

  /** Sends what is pending and waits for it, then closes the producers. */
  async close(): Promise<void> {
    for (const lane of this.lanes) this.flush(lane);
    while (this.lanes.some((lane) => lane.inflight > 0 || lane.waiting.length > 0)) await sleep(10);
    this.closed = true;
    await Promise.all(this.lanes.map((lane) => lane.producer.close()));
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
