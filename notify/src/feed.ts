import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BvError, errorMessage, type Logger } from '@bitvelocity/core';
import { PartitionFetcher, type PartitionPosition, type RawRecord } from '@bitvelocity/streams';
import { Admin, Consumer } from '@platformatic/kafka';
import { type Cursor, partitionKey } from './cursor.js';
import type { NotifyMetrics } from './metrics.js';
import { type Decoded, decodeDeviceAnomalyRecord, decodeOrderRecord } from './notification.js';
import { type FeedEntry, ReplayBuffer } from './replay-buffer.js';

/** What a client can subscribe to, and the topic each is read from. */
export const STREAMS = ['orders', 'devices'] as const;
export type NotificationStream = (typeof STREAMS)[number];

export interface FeedTopics {
  /** Order envelopes: the CDC topic `ecommerce.order` (lowest latency) or its deduplicated copy. */
  orders: string;
  /** Device anomaly episodes (`analytics.device_anomalies`). */
  devices: string;
}

/** One connected client as the feed sees it: its tenant, and where to hand the notifications of that tenant. */
export interface FeedSubscriber {
  readonly tenantId: string;
  readonly streams: readonly NotificationStream[];
  /** Called in feed order per partition; the subscriber drops what it has already been shown (by its cursor). */
  offer(entry: FeedEntry): void;
}

export interface NotificationFeedOptions {
  brokers: string[];
  topics: FeedTopics;
  /** Notifications held in memory for resumes (default 10,000). */
  bufferSize?: number;
  /** How long one Kafka fetch waits for new records (default 500 ms; records are returned as soon as they come). */
  maxWaitTime?: number;
  metrics: NotifyMetrics;
  logger: Logger;
}

type Bytes = Buffer;
const BUFFER_SIZE = 10_000;

/**
 * The process's one reader of the notification topics: it follows every partition from the end it found at start
 * (read_committed), keeps the last notifications in a replay buffer and fans each out to the subscribers of its
 * tenant. A subscriber that resumes from a cursor older than the buffer is first brought up from Kafka itself, from
 * the cursor's offsets, then from the buffer, then joins the live fan-out; all in one pass with no await between the
 * buffer replay and joining, so nothing falls between the two.
 */
export class NotificationFeed {
  private readonly consumer: Consumer<Bytes, Bytes, Bytes, Bytes>;
  private readonly fetcher: PartitionFetcher;
  /** A second connection for resumes from Kafka, so a long catch-up never delays the live feed. */
  private readonly catchUpConsumer: Consumer<Bytes, Bytes, Bytes, Bytes>;
  /** Lists topics: asking a consumer for the metadata of a missing topic fails only after its retries. */
  private readonly admin: Admin;
  private readonly position: Cursor = new Map();
  private readonly partitions = new Map<string, number>();
  private readonly subscribers = new Map<string, Set<FeedSubscriber>>();
  private buffer!: ReplayBuffer;
  private running: Promise<void> | undefined;
  private closed = false;
  private lastFetchOk = 0;
  private lastDiscovery = 0;

  private constructor(private readonly options: NotificationFeedOptions) {
    const base = { bootstrapBrokers: options.brokers, groupId: `bv-notify-${randomUUID()}` };
    this.consumer = new Consumer({ ...base, clientId: 'bv-notify-feed' });
    this.catchUpConsumer = new Consumer({ ...base, clientId: 'bv-notify-catch-up' });
    this.admin = new Admin({ bootstrapBrokers: options.brokers, clientId: 'bv-notify-admin' });
    this.fetcher = new PartitionFetcher(this.consumer);
  }

  /** The partition count of each topic of the feed, 0 for a topic that does not exist (yet). */
  private async partitionCounts(): Promise<Map<string, number>> {
    const wanted = Object.values(this.options.topics);
    const existing = new Set(await this.admin.listTopics({ includeInternals: false }));
    const present = wanted.filter((topic) => existing.has(topic));
    const metadata = present.length ? await this.consumer.metadata({ topics: present, forceUpdate: true }) : undefined;
    return new Map(wanted.map((topic) => [topic, metadata?.topics.get(topic)?.partitionsCount ?? 0]));
  }

  /** Finds the partitions and their ends, then starts following them. */
  static async create(options: NotificationFeedOptions): Promise<NotificationFeed> {
    const feed = new NotificationFeed(options);
    try {
      await feed.start();
    } catch (error) {
      await feed.close();
      throw error;
    }
    return feed;
  }

  private async start(): Promise<void> {
    for (const [topic, count] of await this.partitionCounts()) {
      this.partitions.set(topic, count);
      for (let partition = 0; partition < count; partition++)
        this.position.set(partitionKey(topic, partition), await this.fetcher.end(topic, partition));
    }
    this.buffer = new ReplayBuffer(this.options.bufferSize ?? BUFFER_SIZE, this.position);
    this.lastFetchOk = Date.now();
    this.lastDiscovery = Date.now();
    this.running = this.follow();
  }

  /**
   * Picks up a topic created after the start (the platform creates some on first use) and partitions added since:
   * they did not exist when the feed started, so everything in them is new and is read from offset 0.
   */
  private async discover(): Promise<void> {
    this.lastDiscovery = Date.now();
    for (const [topic, count] of await this.partitionCounts()) {
      const known = this.partitions.get(topic) ?? 0;
      if (count <= known) continue;
      for (let partition = known; partition < count; partition++) {
        this.position.set(partitionKey(topic, partition), 0n);
        this.buffer.coverage.set(partitionKey(topic, partition), 0n);
      }
      this.partitions.set(topic, count);
      this.options.logger.info({ topic, partitions: count }, 'notification feed follows new partitions');
    }
  }

  topicOf(stream: NotificationStream): string {
    return this.options.topics[stream];
  }

  partitionsOf = (topic: string): number => this.partitions.get(topic) ?? 0;

  /** Ready while the last fetch succeeded less than 10 s ago. */
  get ready(): boolean {
    return !this.closed && Date.now() - this.lastFetchOk < 10_000;
  }

  /** The feed's position for the topics of `streams`: a fresh subscription's starting cursor. */
  positionOf(streams: readonly NotificationStream[]): Cursor {
    const topics = new Set(streams.map((s) => this.topicOf(s)));
    return new Map([...this.position].filter(([key]) => topics.has(key.slice(0, key.lastIndexOf(':')))));
  }

  /**
   * Adds a subscriber at `cursor` (a fresh subscription passes positionOf(): nothing to replay). What it missed comes
   * from Kafka where the buffer does not reach back, then from the buffer; then it is live. Returns where the missed
   * notifications came from.
   */
  async subscribe(subscriber: FeedSubscriber, cursor: Cursor): Promise<'none' | 'buffer' | 'kafka'> {
    let source: 'none' | 'buffer' | 'kafka' = 'none';
    let fetcher: PartitionFetcher | undefined;
    // How far each partition has been read for this subscriber (its cursor only moves on its own notifications).
    const reached: Cursor = new Map(cursor);
    for (;;) {
      if (this.closed) throw new BvError('NOTIFY_UNAVAILABLE', 'the notification server is shutting down');
      const behind = [...reached].filter(([key, offset]) => offset < (this.buffer.coverage.get(key) ?? 0n));
      if (behind.length === 0) break;
      // The buffer no longer reaches back to the cursor: read the gap from Kafka, up to where the buffer starts.
      fetcher ??= new PartitionFetcher(this.catchUpConsumer);
      source = 'kafka';
      for (const [key, from] of behind) {
        const to = this.buffer.coverage.get(key) ?? 0n;
        const [topic, partition] = splitKey(key);
        const earliest = await fetcher.earliest(topic, partition);
        if (earliest > from)
          throw new BvError(
            'NOTIFY_RESUME_EXPIRED',
            `${topic}[${partition}] no longer holds offset ${from} (retention removed it; the earliest is ${earliest}): ` +
              'subscribe without a token and reload the current state',
          );
        await this.readRange(fetcher, topic, partition, from, to, (entry) => subscriber.offer(entry));
        reached.set(key, to);
      }
    }
    // From here to joining the fan-out nothing awaits: no notification can slip in between.
    for (const entry of this.buffer) {
      if (entry.notification.tenantId !== subscriber.tenantId) continue;
      if (source === 'none' && entry.offset >= (cursor.get(partitionKey(entry.topic, entry.partition)) ?? 0n))
        source = 'buffer';
      subscriber.offer(entry);
    }
    let same = this.subscribers.get(subscriber.tenantId);
    if (!same) {
      same = new Set();
      this.subscribers.set(subscriber.tenantId, same);
    }
    same.add(subscriber);
    return source;
  }

  unsubscribe(subscriber: FeedSubscriber): void {
    const same = this.subscribers.get(subscriber.tenantId);
    same?.delete(subscriber);
    if (same?.size === 0) this.subscribers.delete(subscriber.tenantId);
  }

  private async readRange(
    fetcher: PartitionFetcher,
    topic: string,
    partition: number,
    from: bigint,
    to: bigint,
    deliver: (entry: FeedEntry) => void,
  ): Promise<void> {
    let position = from;
    const key = partitionKey(topic, partition);
    while (position < to && !this.closed) {
      const part = (await fetcher.fetch([{ topic, partition, offset: position }], { maxWaitTime: 100 })).get(key);
      if (!part || part.nextOffset <= position)
        // Never skip ahead: an unread range would be a gap. The client resumes again with its token.
        throw new BvError('NOTIFY_UNAVAILABLE', `${key} could not be read from offset ${position}; resume again`, {
          retriable: true,
        });
      for (const record of part.records) {
        if (record.offset >= to) break;
        const decoded = this.decode(record);
        if ('notification' in decoded)
          deliver({ topic, partition, offset: record.offset, notification: decoded.notification });
      }
      position = part.nextOffset;
    }
  }

  private decode(record: RawRecord): Decoded {
    return record.topic === this.options.topics.orders ? decodeOrderRecord(record) : decodeDeviceAnomalyRecord(record);
  }

  private async follow(): Promise<void> {
    const { metrics, logger } = this.options;
    let failures = 0;
    while (!this.closed) {
      const positions: PartitionPosition[] = [...this.position].map(([key, offset]) => {
        const [topic, partition] = splitKey(key);
        return { topic, partition, offset };
      });
      try {
        // A missing topic is looked for every second, new partitions every 30 s.
        const missing = [...this.partitions.values()].some((count) => count === 0);
        if (Date.now() - this.lastDiscovery > (missing ? 1_000 : 30_000)) await this.discover();
        if (positions.length === 0) {
          this.lastFetchOk = Date.now();
          await sleep(200);
          continue;
        }
        const fetched = await this.fetcher.fetch(positions, { maxWaitTime: this.options.maxWaitTime ?? 500 });
        failures = 0;
        this.lastFetchOk = Date.now();
        if (this.closed) return;
        for (const [key, part] of fetched) {
          for (const record of part.records) this.append(record);
          if (part.nextOffset > (this.position.get(key) ?? 0n)) this.position.set(key, part.nextOffset);
        }
        metrics.buffered.set(this.buffer.size);
      } catch (error) {
        if (this.closed) return;
        failures++;
        metrics.fetchErrors.inc();
        logger.warn({ err: errorMessage(error), failures }, 'notification feed fetch failed; retrying');
        await sleep(Math.min(100 * 2 ** failures, 5_000));
      }
    }
  }

  /** One record read live: decoded, held in the buffer, and offered to the subscribers of its tenant. */
  private append(record: RawRecord): void {
    const { metrics } = this.options;
    metrics.records.inc({ topic: record.topic });
    const decoded = this.decode(record);
    if ('skipped' in decoded) {
      metrics.skipped.inc({ topic: record.topic, reason: decoded.skipped });
      return;
    }
    const entry: FeedEntry = {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      notification: decoded.notification,
    };
    this.buffer.push(entry);
    const subscribers = this.subscribers.get(entry.notification.tenantId);
    if (subscribers) for (const subscriber of subscribers) subscriber.offer(entry);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.consumer.close(true), this.catchUpConsumer.close(true), this.admin.close()]);
    await this.running?.catch(() => undefined);
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
