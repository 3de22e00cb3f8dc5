import { type Cursor, partitionKey } from './cursor.js';
import type { Notification } from './notification.js';

/** A notification with the Kafka coordinates it was read at. */
export interface FeedEntry {
  topic: string;
  partition: number;
  offset: bigint;
  notification: Notification;
}

/**
 * The last `capacity` notifications of the feed, oldest first, and for each partition the offset from which it holds
 * every notification (`coverage`): a subscriber whose cursor is at or after it can be replayed from memory.
 */
export class ReplayBuffer {
  private readonly entries: (FeedEntry | undefined)[];
  private head = 0;
  private count = 0;
  /** Per partition: every notification at or after this offset (up to the feed's position) is held. */
  readonly coverage: Cursor;

  constructor(
    readonly capacity: number,
    start: Cursor,
  ) {
    this.entries = new Array(capacity);
    this.coverage = new Map(start);
  }

  get size(): number {
    return this.count;
  }

  push(entry: FeedEntry): void {
    if (this.capacity === 0) {
      this.coverage.set(partitionKey(entry.topic, entry.partition), entry.offset + 1n);
      return;
    }
    if (this.count === this.capacity) {
      const evicted = this.entries[this.head] as FeedEntry;
      this.coverage.set(partitionKey(evicted.topic, evicted.partition), evicted.offset + 1n);
      this.entries[this.head] = entry;
      this.head = (this.head + 1) % this.capacity;
      return;
    }
    this.entries[(this.head + this.count) % this.capacity] = entry;
    this.count++;
  }

  *[Symbol.iterator](): IterableIterator<FeedEntry> {
    for (let i = 0; i < this.count; i++) yield this.entries[(this.head + i) % this.capacity] as FeedEntry;
  }
}
