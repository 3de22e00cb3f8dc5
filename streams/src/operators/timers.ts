/**
 * Event-time timers: what must happen when the watermark reaches a time. Kept in memory and rebuilt from state after
 * a restore; entries due at the same time come out sorted, so firing order never depends on restore order.
 */
export class TimerIndex {
  private readonly byTime = new Map<number, Set<string>>();
  private times: number[] = [];

  add(time: number, key: string): void {
    let keys = this.byTime.get(time);
    if (!keys) {
      keys = new Set();
      this.byTime.set(time, keys);
      const at = this.insertionPoint(time);
      this.times.splice(at, 0, time);
    }
    keys.add(key);
  }

  /** Removes and returns the timers due at or before `watermark`, earliest time first, keys sorted within a time. */
  *due(watermark: number): Generator<[number, string]> {
    while (this.times.length > 0 && (this.times[0] as number) <= watermark) {
      const time = this.times.shift() as number;
      const keys = [...(this.byTime.get(time) ?? [])].sort();
      this.byTime.delete(time);
      for (const key of keys) yield [time, key];
    }
  }

  clear(): void {
    this.byTime.clear();
    this.times = [];
  }

  private insertionPoint(time: number): number {
    let low = 0;
    let high = this.times.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.times[mid] as number) < time) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
