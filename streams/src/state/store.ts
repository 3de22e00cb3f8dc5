import { BvError } from '@bitvelocity/core';
/**
 * Keyed operator state. Every write is remembered until the next checkpoint, when the runtime sends the changes to
 * the job's changelog topic in the same Kafka transaction as the outputs and the consumed offsets; restoring a task
 * replays that changelog (Kafka Streams' design).
 */
export class KeyValueStore<V> {
  private readonly entries = new Map<string, V>();
  private readonly dirty = new Set<string>();

  constructor(readonly name: string) {}

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: V): void {
    this.entries.set(key, value);
    this.dirty.add(key);
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.dirty.add(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether anything was written since the last `takeChanges`. */
  get changed(): boolean {
    return this.dirty.size > 0;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries.entries();
  }

  /** The changes since the last call, as (key, value | undefined for a deletion). */
  takeChanges(): [string, V | undefined][] {
    const changes: [string, V | undefined][] = [];
    for (const key of this.dirty) changes.push([key, this.entries.get(key)]);
    this.dirty.clear();
    return changes;
  }

  /** Applies a changelog entry while restoring; not recorded as a change. */
  restore(key: string, value: V | undefined): void {
    if (value === undefined) this.entries.delete(key);
    else this.entries.set(key, value);
  }

  /** Forgets uncommitted changes' bookkeeping (the task is being rebuilt from the changelog). */
  clear(): void {
    this.entries.clear();
    this.dirty.clear();
  }
}

/** The stores of one task, by name. Operators declare theirs when the task opens. */
export class StateStores {
  private readonly stores = new Map<string, KeyValueStore<unknown>>();

  declare<V>(name: string): KeyValueStore<V> {
    if (this.stores.has(name)) throw new BvError('JOB_INVALID', `state store "${name}" is declared twice`);
    const store = new KeyValueStore<V>(name);
    this.stores.set(name, store as KeyValueStore<unknown>);
    return store;
  }

  get(name: string): KeyValueStore<unknown> | undefined {
    return this.stores.get(name);
  }

  all(): Iterable<KeyValueStore<unknown>> {
    return this.stores.values();
  }

  /** Whether any store was written since its last `takeChanges`. */
  get changed(): boolean {
    for (const store of this.stores.values()) if (store.changed) return true;
    return false;
  }

  /** Number of entries across all stores. */
  get size(): number {
    let size = 0;
    for (const store of this.stores.values()) size += store.size;
    return size;
  }
}
