import { BvError } from '@bitvelocity/core';
import { type Duration, toMillis } from '../../api/duration.js';
import { normalTwoSidedConfidence } from './calibrate.js';

export interface ZScoreOptions<T> {
  /** The operator's own id for its state (Flink's uid); see WindowSpecOptions.uid. */
  uid?: string;
  /** The observed value of an event. A value that is not a finite number is dead-lettered. */
  value: (value: T) => number;
  /** The rolling window: the last N points, or the points of the last T of event time. */
  window: { points: number } | { duration: Duration };
  /** Points needed in the window (of the point's season, with seasonality) before anything is scored. */
  minSamples: number;
  /** Names the metric in the anomaly events, e.g. `order_amount`. */
  metric: string;
  /**
   * Calibrated score in (0, 1) at or above which a point is anomalous (1 minus the two-sided Student-t tail of its z):
   * 0.99999 means "outside the 99.999% prediction interval". Default {@link ANOMALY_DEFAULTS.alertAt}.
   */
  alertAt?: number;
  /**
   * The older way to say it: |z| at or above which a point is anomalous under the normal; it is turned into `alertAt`
   * (threshold 4 = 0.99994). Give `alertAt` or `threshold`, not both.
   */
  threshold?: number;
  /** `mean` (mean and standard deviation, the default) or `median` (median and MAD x 1.4826, for heavy tails). */
  center?: 'mean' | 'median';
  /**
   * Score a transformed value: `log` (log(1 + x), for heavy-tailed amounts) or `sqrt` (Anscombe's 2 sqrt(x + 3/8),
   * for counts, whose variance grows with their mean). Values must then be >= 0. The reported mean and stddev are on
   * the transformed scale; `value` is the observed one.
   */
  transform?: 'log' | 'sqrt';
  /** A baseline per hour of the day or per hour of the week (UTC): each point is scored against its season's window. */
  seasonality?: 'hourOfDay' | 'hourOfWeek';
  /** An episode closes once no point was anomalous for this long (event time). Default `10m`. */
  closeAfter?: Duration;
  /** Hard cap on the points a window keeps (a duration window's bound). Default 10,000. */
  maxPoints?: number;
  /**
   * Duration windows: a point more than this ahead of the current one is evicted when it reaches the window's front
   * instead of holding every point behind it. Default: the window's duration.
   */
  maxFutureSkew?: Duration;
  /** A key (or season) with no point for this long (event time) is forgotten. Default `7d` (`8d` with hourOfWeek). */
  stateTtl?: Duration;
  /** Exact recompute of the window's sums at least every N updates. Default: max(window capacity, 64). */
  recomputeEvery?: number;
  /**
   * What an episode says of where it happened (a JSON value, e.g. the device's kind and site): taken from the point
   * that opened the episode and carried on its `open` and `closed` events as `context`.
   */
  context?: (value: T) => unknown;
}

/** The platform's defaults, chosen with bench/anomalies.ts (see docs/anomalies.md). */
export const ANOMALY_DEFAULTS = {
  alertAt: 0.99999,
  closeAfter: '10m',
  maxPoints: 10_000,
  stateTtl: '7d',
} as const;

const MAX_POINTS_LIMIT = 1_000_000;

export interface ResolvedOptions {
  value: (value: unknown) => number;
  context: ((value: unknown) => unknown) | undefined;
  metric: string;
  capacity: number;
  span: number | undefined;
  skew: number;
  minSamples: number;
  alertAt: number;
  robust: boolean;
  transform: 'log' | 'sqrt' | undefined;
  seasonality: 'hourOfDay' | 'hourOfWeek' | undefined;
  closeAfter: number;
  ttl: number;
  recomputeEvery: number;
}

function bad(metric: string, message: string): never {
  throw new BvError('ANOMALY_BAD_OPTION', `z-score ${metric}: ${message}`, { details: { metric } });
}

function duration(metric: string, what: string, value: Duration): number {
  try {
    return toMillis(value, what);
  } catch (error) {
    return bad(metric, (error as Error).message);
  }
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;

/** Checks the options when the job is defined: settings that could never score are refused here, not at run time. */
export function resolveOptions<T>(options: ZScoreOptions<T>): ResolvedOptions {
  const metric = typeof options.metric === 'string' && options.metric !== '' ? options.metric : '?';
  if (metric === '?') bad(metric, 'metric must be a non-empty name');
  if (typeof options.value !== 'function') bad(metric, 'value must be a function of the event');
  const maxPoints = options.maxPoints ?? ANOMALY_DEFAULTS.maxPoints;
  if (!isCount(maxPoints) || maxPoints > MAX_POINTS_LIMIT)
    bad(metric, `maxPoints must be an integer from 2 to ${MAX_POINTS_LIMIT}, not ${maxPoints}`);
  let capacity: number;
  let span: number | undefined;
  if (options.window && 'points' in options.window) {
    const points = options.window.points;
    if (!isCount(points) || points < 2 || points > maxPoints)
      bad(metric, `window.points must be an integer from 2 to maxPoints (${maxPoints}), not ${points}`);
    capacity = points;
  } else if (options.window && 'duration' in options.window) {
    span = duration(metric, 'window.duration', options.window.duration);
    if (span <= 0) bad(metric, 'window.duration must be longer than 0');
    capacity = maxPoints;
  } else {
    return bad(metric, 'window must be { points: N } or { duration: D }');
  }
  const { minSamples } = options;
  if (!isCount(minSamples) || minSamples < 2)
    bad(metric, `minSamples must be an integer of at least 2, not ${minSamples}`);
  if (minSamples > capacity)
    bad(
      metric,
      `minSamples (${minSamples}) is more than the window can hold (${capacity} points): nothing would ever be scored`,
    );
  if (options.alertAt !== undefined && options.threshold !== undefined)
    bad(metric, 'give alertAt (a calibrated score) or threshold (a |z|), not both');
  let alertAt: number = ANOMALY_DEFAULTS.alertAt;
  if (options.threshold !== undefined) {
    if (!(typeof options.threshold === 'number' && options.threshold > 0 && Number.isFinite(options.threshold)))
      bad(metric, `threshold must be a positive |z|, not ${options.threshold}`);
    alertAt = normalTwoSidedConfidence(options.threshold);
  }
  if (options.alertAt !== undefined) {
    if (!(typeof options.alertAt === 'number' && options.alertAt > 0 && options.alertAt < 1))
      bad(metric, `alertAt must be a calibrated score strictly between 0 and 1, not ${options.alertAt}`);
    alertAt = options.alertAt;
  }
  const center = options.center ?? 'mean';
  if (center !== 'mean' && center !== 'median') bad(metric, `center must be 'mean' or 'median', not ${center}`);
  const transform = options.transform;
  if (transform !== undefined && transform !== 'log' && transform !== 'sqrt')
    bad(metric, `transform must be 'log' or 'sqrt', not ${transform}`);
  const seasonality = options.seasonality;
  if (seasonality !== undefined && seasonality !== 'hourOfDay' && seasonality !== 'hourOfWeek')
    bad(metric, `seasonality must be 'hourOfDay' or 'hourOfWeek', not ${seasonality}`);
  const closeAfter = duration(metric, 'closeAfter', options.closeAfter ?? ANOMALY_DEFAULTS.closeAfter);
  const ttl = duration(
    metric,
    'stateTtl',
    options.stateTtl ?? (seasonality === 'hourOfWeek' ? '8d' : ANOMALY_DEFAULTS.stateTtl),
  );
  if (ttl <= 0) bad(metric, 'stateTtl must be longer than 0');
  if (span !== undefined && ttl < span) bad(metric, 'stateTtl must be at least the window duration');
  const period = seasonality === 'hourOfWeek' ? 7 * 86_400_000 : seasonality === 'hourOfDay' ? 86_400_000 : 0;
  if (ttl <= period) bad(metric, `stateTtl must be longer than the season's period (${period / 3_600_000}h)`);
  const skew = span === undefined ? 0 : duration(metric, 'maxFutureSkew', options.maxFutureSkew ?? span);
  const recomputeEvery = options.recomputeEvery ?? Math.max(capacity, 64);
  if (!isCount(recomputeEvery)) bad(metric, `recomputeEvery must be a positive integer, not ${recomputeEvery}`);
  return {
    value: options.value as (value: unknown) => number,
    context: options.context as ((value: unknown) => unknown) | undefined,
    metric,
    capacity,
    span,
    skew,
    minSamples,
    alertAt,
    robust: center === 'median',
    transform,
    seasonality,
    closeAfter,
    ttl,
    recomputeEvery,
  };
}
