/**
 * The rolling window of one key (or one season bucket of a key): the points themselves, oldest first, and their
 * running statistics.
 *
 * The statistics are Welford's update with removal on shifted data (y = x - shift, the shift being the window's mean
 * at the last exact recompute), so that a window of large, nearly equal values keeps its precision. The running sums
 * are recomputed exactly from the points (two passes, with scaling when the squares would overflow) every
 * `recomputeEvery` updates, and at once when the running values stop being trustworthy: non-finite, a negative sum of
 * squares, or a sum of squares within the accumulated rounding bound of zero. A window whose points are all equal is
 * recognised exactly (by the run of equal trailing values), never through a sum that should cancel to 0.
 */

const EPS = Number.EPSILON;

/** What is checkpointed for a window (the state layout, version 2). */
export interface WindowState {
  layout: 2;
  values: number[];
  /** Event times, only for a time-based window. */
  times?: number[];
  shift: number;
  mean: number;
  m2: number;
  since: number;
  run: number;
  /** Event time of the key's latest point (for the quiet-key TTL). */
  last: number;
}

/**
 * What is checkpointed for a window since layout 3: its statistics only. The points are entries of their own, one per
 * slot (`seq % slots`), written once each when added, so a checkpoint writes what changed (a few points and this
 * header), not the whole window. The live points are the sequence numbers [seq - count, seq).
 */
export interface WindowHeader {
  layout: 3;
  /** Points ever added to the window. */
  seq: number;
  count: number;
  /** The number of slots the points are stored under (the window's capacity when they were written). */
  slots: number;
  shift: number;
  mean: number;
  m2: number;
  since: number;
  run: number;
  last: number;
}

/** One point as checkpointed (layout 3): its sequence number, value and event time. */
export type StoredPoint = [seq: number, value: number, time: number];

/** The layouts checkpointed before: `{ values, times?, mean, m2 }`, and before that `{ points: [time, value][] }`. */
export interface LegacyState {
  values?: number[];
  times?: number[];
  points?: [number, number][];
  mean?: number;
  m2?: number;
}

export class RollingWindow {
  values: number[];
  times: number[] | undefined;
  /** Index of the oldest live point (removal from the front is O(1); the arrays are compacted now and then). */
  private start = 0;
  private shift = 0;
  private meanY = 0;
  private m2 = 0;
  /** Updates since the last exact recompute. */
  private since = 0;
  /** How many of the newest points equal the newest one. */
  private run = 0;
  /** Set while the squares overflow a double: the spread is then recomputed exactly on every update. */
  private huge = false;
  private hugeStddev = 0;
  last: number;
  /** A sorted copy of the values for the robust statistics; rebuilt on demand, never checkpointed. */
  sorted: Float64Array | undefined;
  /** Points ever added (the sequence number of the next one). */
  seq = 0;
  /** Slots the checkpointed points are stored under; 0 when they are not stored as points yet (an older layout). */
  slots = 0;

  constructor(
    timed: boolean,
    private readonly recomputeEvery: number,
  ) {
    this.values = [];
    this.times = timed ? [] : undefined;
    this.last = Number.NEGATIVE_INFINITY;
  }

  /**
   * A window checkpointed as a header and points (layout 3). `point(slot)` reads a stored point. A point that is not
   * there (or holds another sequence number) is left out and the statistics are recomputed from the rest.
   */
  static fromHeader(
    header: WindowHeader,
    timed: boolean,
    recomputeEvery: number,
    point: (slot: number) => StoredPoint | undefined,
  ): RollingWindow {
    const window = new RollingWindow(timed, recomputeEvery);
    const values: number[] = [];
    const times: number[] = [];
    let complete = true;
    for (let s = header.seq - header.count; s < header.seq; s++) {
      const stored = point(s % header.slots);
      if (!stored || stored[0] !== s) {
        complete = false;
        continue;
      }
      values.push(stored[1]);
      times.push(stored[2]);
    }
    window.values = values;
    window.times = timed ? times : undefined;
    window.seq = header.seq;
    window.last = header.last ?? Number.NEGATIVE_INFINITY;
    if (complete) {
      window.slots = header.slots;
      window.shift = header.shift;
      window.meanY = header.mean;
      window.m2 = header.m2;
      window.since = header.since;
      window.run = header.run;
      if (!Number.isFinite(window.m2)) window.recompute();
      return window;
    }
    // Points missing: the window holds what was found, rewritten in full at its next point (slots 0).
    let run = 0;
    for (let i = values.length - 1; i >= 0 && values[i] === values[values.length - 1]; i--) run++;
    window.run = run;
    window.recompute();
    return window;
  }

  /** The live points with their sequence numbers, oldest first (to write a window's points in full). */
  *points(): Generator<StoredPoint> {
    const first = this.seq - this.count;
    for (let i = this.start; i < this.values.length; i++)
      yield [first + i - this.start, this.values[i] as number, this.times?.[i] ?? this.last];
  }

  static restore(state: WindowState | LegacyState, timed: boolean, recomputeEvery: number): RollingWindow {
    const window = new RollingWindow(timed, recomputeEvery);
    if ('layout' in state && state.layout === 2) {
      window.values = state.values.slice();
      window.times = timed ? (state.times ?? state.values.map(() => state.last)).slice() : undefined;
      window.shift = state.shift;
      window.meanY = state.mean;
      window.m2 = state.m2;
      window.since = state.since;
      window.run = state.run;
      window.last = state.last ?? Number.NEGATIVE_INFINITY;
      window.seq = window.values.length;
      // A window whose squares overflowed checkpoints m2 as null (JSON has no Infinity): recompute it.
      if (!Number.isFinite(window.m2)) window.recompute();
      return window;
    }
    // Older layouts: take the points and recompute the statistics exactly (their running sums are not trusted).
    const legacy = state as LegacyState;
    const values = legacy.points ? legacy.points.map((p) => p[1]) : (legacy.values ?? []);
    const times = legacy.points ? legacy.points.map((p) => p[0]) : legacy.times;
    window.values = values.filter((v) => Number.isFinite(v));
    if (timed) window.times = times && times.length === values.length ? times.slice() : values.map(() => 0);
    window.last = times && times.length > 0 ? Math.max(...times) : Number.NEGATIVE_INFINITY;
    let run = 0;
    for (let i = window.values.length - 1; i >= 0 && window.values[i] === window.values[window.values.length - 1]; i--)
      run++;
    window.run = run;
    window.seq = window.values.length;
    window.recompute();
    return window;
  }

  /** The checkpointed header (layout 3); the points are checkpointed one by one as they are added. */
  toJSON(): WindowHeader {
    return {
      layout: 3,
      seq: this.seq,
      count: this.count,
      slots: this.slots,
      shift: this.shift,
      mean: this.meanY,
      m2: this.m2,
      since: this.since,
      run: this.run,
      last: this.last,
    };
  }

  get count(): number {
    return this.values.length - this.start;
  }

  /** The oldest live point's event time (time-based windows). */
  oldestTime(): number | undefined {
    return this.times && this.count > 0 ? this.times[this.start] : undefined;
  }

  /** True when every point in the window has the same value. */
  get constant(): boolean {
    return this.count > 0 && this.run >= this.count;
  }

  get mean(): number {
    if (this.constant) return this.values[this.values.length - 1] as number;
    return this.shift + this.meanY;
  }

  /** Sample standard deviation (n - 1). */
  get stddev(): number {
    const n = this.count;
    if (n < 2 || this.constant) return 0;
    if (this.huge) return this.hugeStddev;
    return Math.sqrt(Math.max(this.m2, 0) / (n - 1));
  }

  add(x: number, time: number): void {
    const previous = this.count > 0 ? this.values[this.values.length - 1] : undefined;
    this.seq++;
    this.values.push(x);
    this.times?.push(time);
    if (time > this.last) this.last = time;
    this.run = previous === x ? this.run + 1 : 1;
    this.sorted = undefined;
    const n = this.count;
    if (n === 1) {
      this.shift = x;
      this.meanY = 0;
      this.m2 = 0;
      this.since = 0;
      this.huge = false;
      return;
    }
    const y = x - this.shift;
    const delta = y - this.meanY;
    this.meanY += delta / n;
    this.m2 += delta * (y - this.meanY);
    this.check();
  }

  /** Removes the oldest point. */
  removeOldest(): void {
    if (this.count === 0) return;
    const x = this.values[this.start] as number;
    this.start++;
    this.sorted = undefined;
    const n = this.count;
    if (this.run > n) this.run = n;
    if (n === 0) {
      this.values = [];
      if (this.times) this.times = [];
      this.start = 0;
      this.shift = 0;
      this.meanY = 0;
      this.m2 = 0;
      this.since = 0;
      this.huge = false;
      return;
    }
    const y = x - this.shift;
    const previous = this.meanY;
    this.meanY = previous - (y - previous) / n;
    this.m2 -= (y - previous) * (y - this.meanY);
    this.compact(false);
    this.check();
  }

  /** The live values, oldest first (a copy when the arrays hold removed points). */
  live(): number[] {
    return this.start === 0 ? this.values : this.values.slice(this.start);
  }

  private compact(force: boolean): void {
    if (this.start === 0) return;
    if (!force && (this.start < 64 || this.start * 2 < this.values.length)) return;
    this.values = this.values.slice(this.start);
    if (this.times) this.times = this.times.slice(this.start);
    this.start = 0;
  }

  private check(): void {
    this.since++;
    if (
      this.huge ||
      this.since >= this.recomputeEvery ||
      !(this.m2 >= 0) || // negative or NaN
      !Number.isFinite(this.m2) ||
      !Number.isFinite(this.meanY) ||
      // The rounding accumulated since the last recompute could be as large as the spread itself.
      this.m2 * 1e-10 < 4 * EPS * this.since * (this.count * this.meanY * this.meanY + this.m2)
    ) {
      this.recompute();
    }
  }

  /** Exact two-pass statistics from the points, scaled where the squares would overflow. */
  recompute(): void {
    const { values, start } = this;
    const n = values.length - start;
    this.since = 0;
    this.huge = false;
    if (n === 0 || this.run >= n) {
      this.shift = n === 0 ? 0 : (values[values.length - 1] as number);
      this.meanY = 0;
      this.m2 = 0;
      return;
    }
    let mean0 = meanOf(values, start);
    // Second pass with the correction term (the corrected two-pass algorithm).
    let c = 0;
    let ss = 0;
    for (let i = start; i < values.length; i++) {
      const d = (values[i] as number) - mean0;
      c += d;
      ss += d * d;
    }
    if (Number.isFinite(ss) && Number.isFinite(c)) {
      this.shift = mean0;
      this.meanY = c / n;
      this.m2 = Math.max(ss - (c * c) / n, 0);
      return;
    }
    // The squared deviations overflow: scale them by a power of two (exact), keep the spread as a standard deviation.
    if (!Number.isFinite(c)) mean0 = meanOf(values, start);
    let maxDev = 0;
    for (let i = start; i < values.length; i++)
      maxDev = Math.max(maxDev, Math.abs((values[i] as number) / 2 - mean0 / 2));
    const scale = 2 ** Math.ceil(Math.log2(maxDev));
    let css = 0;
    for (let i = start; i < values.length; i++) {
      const d = (values[i] as number) / 2 / scale - mean0 / 2 / scale;
      css += d * d;
    }
    this.shift = mean0;
    this.meanY = 0;
    this.m2 = Number.POSITIVE_INFINITY;
    this.huge = true;
    this.hugeStddev = n > 1 ? 2 * scale * Math.sqrt(css / (n - 1)) : 0;
  }
}

/** The mean of values[start..], without overflow (values are halved when their sum would overflow). */
function meanOf(values: number[], start: number): number {
  const n = values.length - start;
  let sum = 0;
  let compensation = 0;
  for (let i = start; i < values.length; i++) {
    // Neumaier's compensated sum.
    const x = values[i] as number;
    const t = sum + x;
    compensation += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
  }
  const mean = (sum + compensation) / n;
  if (Number.isFinite(mean)) return mean;
  let scaled = 0;
  for (let i = start; i < values.length; i++) scaled += (values[i] as number) / n;
  return scaled;
}
