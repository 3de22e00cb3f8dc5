/**
 * Event-time timers: what must happen when the watermark reaches a time. Kept in memory and rebuilt from state after
 * a restore; timers come out earliest time first, keys sorted within a time, so firing order never depends on restore
 * order.
 *
 * A binary min-heap on (time, key): adding and firing a timer are O(log n), so firing n timers is O(n log n) (the
 * sorted array drained with `shift()` it replaces was quadratic: 1M pending sessions blocked a record for 110 s). A
 * timer is removed only when `due` hands it out: if the caller throws while firing one, the rest stay pending.
 */
export class TimerIndex {
  private times: number[] = [];
  private keys: string[] = [];
  /** The keys of the pending timers, by time: adding the same timer twice keeps one (no string built per timer). */
  private readonly pending = new Map<number, Set<string>>();

  get size(): number {
    return this.times.length;
  }

  add(time: number, key: string): void {
    let keys = this.pending.get(time);
    if (!keys) {
      keys = new Set();
      this.pending.set(time, keys);
    } else if (keys.has(key)) return;
    keys.add(key);
    this.times.push(time);
    this.keys.push(key);
    this.siftUp(this.times.length - 1);
  }

  /** Removes and returns, one at a time, the timers due at or before `watermark`: earliest first, keys sorted. */
  *due(watermark: number): Generator<[number, string]> {
    while (this.times.length > 0 && (this.times[0] as number) <= watermark) {
      const time = this.times[0] as number;
      const key = this.keys[0] as string;
      this.pop();
      const keys = this.pending.get(time);
      if (keys) {
        keys.delete(key);
        if (keys.size === 0) this.pending.delete(time);
      }
      yield [time, key];
    }
  }

  clear(): void {
    this.times = [];
    this.keys = [];
    this.pending.clear();
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a] as number;
    const tb = this.times[b] as number;
    return ta < tb || (ta === tb && (this.keys[a] as string) < (this.keys[b] as string));
  }

  private swap(a: number, b: number): void {
    const t = this.times[a] as number;
    this.times[a] = this.times[b] as number;
    this.times[b] = t;
    const k = this.keys[a] as string;
    this.keys[a] = this.keys[b] as string;
    this.keys[b] = k;
  }

  private siftUp(at: number): void {
    let i = at;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const last = this.times.length - 1;
    this.swap(0, last);
    this.times.pop();
    this.keys.pop();
    let i = 0;
    const n = this.times.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.less(right, left) ? right : left;
      if (!this.less(child, i)) break;
      this.swap(i, child);
      i = child;
    }
  }
}
