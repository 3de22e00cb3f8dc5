import { randomUUID } from 'node:crypto';
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import type { RawRecord } from '../api/record.js';
import { PartitionFetcher, partitionId } from '../kafka/fetcher.js';
import { DEAD_LETTER_HEADERS } from '../runtime/dead-letter.js';

/** A dead letter as read back from a `<topic>.dlq` topic. */
export interface DeadLetter {
  /** Where the dead letter itself is. */
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: string;
  code: string;
  reason: string;
  job: string;
  /** The original's coordinates. */
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** Bytes of the value as stored here; `originalBytes` when it was cut to fit. */
  valueBytes: number;
  originalBytes: number | null;
  timestamp: string;
  headers: Record<string, string>;
  value: Buffer;
}

export interface DeadLetterTopicSummary {
  dlqTopic: string;
  count: number;
  byCode: Record<string, number>;
  oldest: string | null;
  newest: string | null;
}

type Bytes = Buffer;

/** Reads and changes the dead-letter topics (`<topic>.dlq`) the stream runtime and the CDC connectors write. */
export class DeadLetterTopics {
  private constructor(
    private readonly admin: Admin,
    private readonly consumer: Consumer<Bytes, Bytes, Bytes, Bytes>,
    private readonly fetcher: PartitionFetcher,
    private readonly brokers: string[],
  ) {}

  static async create(brokers: string[]): Promise<DeadLetterTopics> {
    const admin = new Admin({ clientId: 'bv-dlq', bootstrapBrokers: brokers });
    const consumer = new Consumer<Bytes, Bytes, Bytes, Bytes>({
      clientId: 'bv-dlq',
      bootstrapBrokers: brokers,
      groupId: `bv-dlq-${randomUUID()}`,
    });
    return new DeadLetterTopics(admin, consumer, new PartitionFetcher(consumer), brokers);
  }

  async close(): Promise<void> {
    await this.consumer.close().catch(() => {});
    await this.admin.close().catch(() => {});
  }

  /** The dead-letter topics, optionally only those whose name starts with `prefix`. */
  async topics(prefix = ''): Promise<string[]> {
    return (await this.admin.listTopics()).filter((t) => t.endsWith('.dlq') && t.startsWith(prefix)).sort();
  }

  /** Count per reason code and the time span, per dead-letter topic. */
  async summary(prefix = ''): Promise<DeadLetterTopicSummary[]> {
    const summaries: DeadLetterTopicSummary[] = [];
    for (const dlqTopic of await this.topics(prefix)) {
      const byCode: Record<string, number> = {};
      let count = 0;
      let oldest: number | undefined;
      let newest: number | undefined;
      for await (const record of this.read(dlqTopic)) {
        count++;
        const code = record.headers.get(DEAD_LETTER_HEADERS.code)?.toString() ?? 'UNKNOWN';
        byCode[code] = (byCode[code] ?? 0) + 1;
        oldest = Math.min(oldest ?? record.timestamp, record.timestamp);
        newest = Math.max(newest ?? record.timestamp, record.timestamp);
      }
      summaries.push({
        dlqTopic,
        count,
        byCode,
        oldest: oldest === undefined ? null : new Date(oldest).toISOString(),
        newest: newest === undefined ? null : new Date(newest).toISOString(),
      });
    }
    return summaries;
  }

  /** The dead letters of one topic, oldest first, filtered by code and the original's offset range. */
  async list(dlqTopic: string, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for await (const record of this.read(dlqTopic)) {
      const letter = deadLetterOf(record);
      if (matches(letter, filter)) letters.push(letter);
      if (filter.limit !== undefined && letters.length >= filter.limit) break;
    }
    return letters;
  }

  /**
   * The original record of a dead letter: read from its coordinates when the dead letter's value was cut to fit
   * (and the source topic still retains it), else the dead letter's own bytes.
   */
  async original(letter: DeadLetter): Promise<{ key: Buffer | undefined; value: Buffer; complete: boolean }> {
    const key = letter.key === null ? undefined : Buffer.from(letter.key);
    if (letter.originalBytes === null) return { key, value: letter.value, complete: true };
    const offset = BigInt(letter.offset);
    const fetched = (
      await this.fetcher.fetch([{ topic: letter.topic, partition: letter.partition, offset }], {
        maxWaitTime: 500,
        partitionMaxBytes: 16 * 1024 * 1024,
        maxBytes: 16 * 1024 * 1024,
      })
    ).get(partitionId(letter.topic, letter.partition));
    const record = fetched?.records.find((r) => r.offset === offset);
    if (!record?.value) return { key, value: letter.value, complete: false };
    return { key: record.key, value: record.value, complete: true };
  }

  /**
   * Sends the originals of the matching dead letters to `to` (default: the topic each came from), without the
   * `bv-dlq-*` headers and with `bv-dlq-replayed-from: <dlq>@<partition>:<offset>`. Refuses a cut dead letter whose
   * original the source topic no longer retains (it would replay a fragment). Returns what was sent and refused.
   */
  async replay(
    dlqTopic: string,
    options: DeadLetterFilter & { to?: string } = {},
  ): Promise<{ replayed: number; refused: DeadLetter[] }> {
    const letters = await this.list(dlqTopic, options);
    const producer = new Producer<Bytes, Bytes, Bytes, Bytes>({
      clientId: 'bv-dlq-replay',
      bootstrapBrokers: this.brokers,
      idempotent: true,
      acks: -1,
    });
    const refused: DeadLetter[] = [];
    let replayed = 0;
    try {
      for (const letter of letters) {
        const original = await this.original(letter);
        if (!original.complete) {
          refused.push(letter);
          continue;
        }
        const headers = new Map<Bytes, Bytes>();
        for (const [name, value] of Object.entries(letter.headers))
          if (!name.startsWith('bv-dlq-')) headers.set(Buffer.from(name), Buffer.from(value));
        headers.set(
          Buffer.from('bv-dlq-replayed-from'),
          Buffer.from(`${letter.dlqTopic}@${letter.dlqPartition}:${letter.dlqOffset}`),
        );
        await producer.send({
          messages: [
            {
              topic: options.to ?? letter.topic,
              ...(original.key ? { key: original.key } : {}),
              value: original.value,
              headers,
            },
          ],
        });
        replayed++;
      }
    } finally {
      await producer.close().catch(() => {});
    }
    return { replayed, refused };
  }

  /** Deletes every dead letter of the topic up to now (Kafka DeleteRecords); returns how many there were. */
  async purge(dlqTopic: string): Promise<number> {
    const metadata = await this.admin.metadata({ topics: [dlqTopic] });
    const partitions = metadata.topics.get(dlqTopic)?.partitionsCount ?? 0;
    const offsets: { partition: number; offset: bigint }[] = [];
    for (let partition = 0; partition < partitions; partition++)
      offsets.push({ partition, offset: await this.fetcher.end(dlqTopic, partition) });
    // Counted by reading: offsets also hold transaction markers, which are not dead letters.
    let purged = 0;
    for await (const record of this.read(dlqTopic)) {
      const end = offsets.find((o) => o.partition === record.partition)?.offset ?? 0n;
      if (record.offset < end) purged++;
    }
    await this.admin.deleteRecords({ topics: [{ name: dlqTopic, partitions: offsets }] });
    return purged;
  }

  private async *read(topic: string): AsyncGenerator<RawRecord> {
    const metadata = await this.consumer.metadata({ topics: [topic] });
    const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
    for (let partition = 0; partition < partitions; partition++) {
      let position = await this.fetcher.earliest(topic, partition);
      const end = await this.fetcher.end(topic, partition);
      while (position < end) {
        const part = (
          await this.fetcher.fetch([{ topic, partition, offset: position }], {
            maxWaitTime: 100,
            partitionMaxBytes: 4 * 1024 * 1024,
            maxBytes: 4 * 1024 * 1024,
          })
        ).get(partitionId(topic, partition));
        if (!part) break;
        for (const record of part.records) if (record.offset < end) yield record;
        if (part.nextOffset <= position) break;
        position = part.nextOffset;
      }
      this.fetcher.forget(topic, partition);
    }
  }
}

export interface DeadLetterFilter {
  code?: string;
  /** The original's partition and offset range (inclusive). */
  partition?: number;
  fromOffset?: bigint;
  toOffset?: bigint;
  limit?: number;
}

function matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.code !== undefined && letter.code !== filter.code) return false;
  if (filter.partition !== undefined && letter.partition !== filter.partition) return false;
  const offset = BigInt(letter.offset);
  if (filter.fromOffset !== undefined && offset < filter.fromOffset) return false;
  if (filter.toOffset !== undefined && offset > filter.toOffset) return false;
  return true;
}

function deadLetterOf(record: RawRecord): DeadLetter {
  const headers: Record<string, string> = {};
  for (const [name, value] of record.headers) headers[name] = value.toString('utf8');
  const original = headers[DEAD_LETTER_HEADERS.originalBytes];
  return {
    dlqTopic: record.topic,
    dlqPartition: record.partition,
    dlqOffset: record.offset.toString(),
    code: headers[DEAD_LETTER_HEADERS.code] ?? 'UNKNOWN',
    reason: headers[DEAD_LETTER_HEADERS.reason] ?? '',
    job: headers[DEAD_LETTER_HEADERS.job] ?? '',
    topic: headers[DEAD_LETTER_HEADERS.topic] ?? record.topic.replace(/\.dlq$/, ''),
    partition: Number(headers[DEAD_LETTER_HEADERS.partition] ?? -1),
    offset: headers[DEAD_LETTER_HEADERS.offset] ?? '-1',
    key: record.key?.toString('utf8') ?? null,
    valueBytes: record.value?.length ?? 0,
    originalBytes: original === undefined ? null : Number(original),
    timestamp: new Date(record.timestamp).toISOString(),
    headers,
    value: record.value ?? Buffer.alloc(0),
  };
}
