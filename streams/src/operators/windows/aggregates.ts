import { DeadLetterError } from '../../runtime/dead-letter.js';
/**
 * An incremental aggregate over a window. Accumulators must be JSON values: they are checkpointed to the changelog.
 * `merge` is what lets session windows join when an event bridges two sessions.
 */
export interface Aggregate<T, A, R> {
  /**
   * What the accumulator is (e.g. `count`, `aggregates(n:count,s:sum)`), so that state of one aggregate is never
   * restored into another (api/shape.ts). Built-ins set it; a custom aggregate may, else it is `custom`.
   */
  signature?: string;
  init(): A;
  add(accumulator: A, value: T): A;
  merge(a: A, b: A): A;
  result(accumulator: A): R;
}

/**
 * The measure of a value, checked: a finite number, or the record goes to the dead-letter topic as
 * AGGREGATE_INPUT_INVALID (never `5 + "100"` = "5100", never a NaN that poisons the window).
 */
function numeric<T>(measure: (value: T) => number, what: string): (value: T) => number {
  return (value) => {
    const n: unknown = measure(value);
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new DeadLetterError(
        'AGGREGATE_INPUT_INVALID',
        `${what}: the measure gave ${n === undefined ? 'undefined' : (JSON.stringify(n) ?? typeof n)}, not a finite number`,
      );
    return n;
  };
}

export function count<T = unknown>(): Aggregate<T, number, number> {
  return { signature: 'count', init: () => 0, add: (n) => n + 1, merge: (a, b) => a + b, result: (n) => n };
}

export function sum<T>(of: (value: T) => number): Aggregate<T, number, number> {
  const measure = numeric(of, 'sum');
  return { signature: 'sum', init: () => 0, add: (s, v) => s + measure(v), merge: (a, b) => a + b, result: (s) => s };
}

export function min<T>(of: (value: T) => number): Aggregate<T, number | null, number | null> {
  const measure = numeric(of, 'min');
  return {
    signature: 'min',
    init: () => null,
    add: (m, v) => (m === null ? measure(v) : Math.min(m, measure(v))),
    merge: (a, b) => (a === null ? b : b === null ? a : Math.min(a, b)),
    result: (m) => m,
  };
}

export function max<T>(of: (value: T) => number): Aggregate<T, number | null, number | null> {
  const measure = numeric(of, 'max');
  return {
    signature: 'max',
    init: () => null,
    add: (m, v) => (m === null ? measure(v) : Math.max(m, measure(v))),
    merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
    result: (m) => m,
  };
}

export function avg<T>(of: (value: T) => number): Aggregate<T, [number, number], number | null> {
  const measure = numeric(of, 'avg');
  return {
    signature: 'avg',
    init: () => [0, 0],
    add: ([s, n], v) => [s + measure(v), n + 1],
    merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
    result: ([s, n]) => (n === 0 ? null : s / n),
  };
}

type ResultsOf<M> = { [K in keyof M]: M[K] extends Aggregate<never, unknown, infer R> ? R : never };

/** Several aggregates over the same window, e.g. `{ orders: count(), revenueCents: sum(o => o.cents) }`. */
export function aggregates<T, M extends Record<string, Aggregate<T, unknown, unknown>>>(
  members: M,
): Aggregate<T, Record<string, unknown>, ResultsOf<M>> {
  const names = Object.keys(members);
  return {
    signature: `aggregates(${[...names]
      .sort()
      .map((n) => `${n}:${members[n]?.signature ?? 'custom'}`)
      .join(',')})`,
    init: () => Object.fromEntries(names.map((n) => [n, members[n]?.init()])),
    add: (acc, value) => Object.fromEntries(names.map((n) => [n, members[n]?.add(acc[n], value)])),
    merge: (a, b) => Object.fromEntries(names.map((n) => [n, members[n]?.merge(a[n], b[n])])),
    result: (acc) => Object.fromEntries(names.map((n) => [n, members[n]?.result(acc[n])])) as ResultsOf<M>,
  };
}
