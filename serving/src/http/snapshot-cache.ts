/** Results keyed by what was asked, each valid at one version (an entry at another version is stale; LRU-bounded). */
export class SnapshotCache<T> {
  private readonly entries = new Map<string, { snapshotId: number; value: T }>();

  constructor(private readonly maxEntries = 2000) {}

  get(key: string, snapshotId: number): T | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.snapshotId !== snapshotId) return undefined;
    // Map order is insertion order: re-inserting keeps the most recently used last (LRU eviction from the front).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, snapshotId: number, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { snapshotId, value });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
