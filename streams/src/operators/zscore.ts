import { type Duration, toMillis } from '../api/duration.js';
import type { OperatorFactory } from './operator.js';

export interface ZScoreOptions<T> {
  /** The observed value of an event. */
  value: (value: T) => number;
  /** The rolling window: the last N points, or the points of the last T of event time. */
  window: { points: number } | { duration: Duration };
  /** Points needed in the window before anything is scored. */
  minSamples: number;
  /** |score| at or above which the event is an anomaly. */
  threshold: number;
  /** Names the metric in the anomaly event, e.g. `order_amount`. */
  metric: string;
}

/** What the z-score operator emits for an anomalous event. */
export interface Anomaly {
  metric: string;
  key: string;
  value: number;
  mean: number;
  stddev: number;
  score: number;
  samples: number;
  /** The event that triggered it. */
  eventId: string | null;
  eventTime: string;
}

interface Rolling {
  /** Values in the window, oldest first. */
  values: number[];
  /** Their event times, kept only for a time-based window (the state is checkpointed: keep it small). */
  times?: number[];
  mean: number;
  /** Welford's sum of squared deviations. */
  m2: number;
}

/**
 * Rolling z-score per key: each event is scored against the mean and (sample) standard deviation of the points before
 * it in the window, then joins the window. Welford's update with removal keeps it O(1) per event; the state is the
 * window itself, checkpointed like any other.
 */
export function zScoreOperator<T>(options: ZScoreOptions<T>): OperatorFactory {
  const maxPoints = 'points' in options.window ? options.window.points : Number.POSITIVE_INFINITY;
  const span = 'duration' in options.window ? toMillis(options.window.duration, 'z-score window') : undefined;
  if (options.minSamples < 2) throw new RangeError('z-score minSamples must be at least 2');
  return (context) => {
    const rolling = context.state<Rolling>('rolling');
    return {
      process(record, out) {
        const key = record.key ?? '';
        const x = options.value(record.value as T);
        if (!Number.isFinite(x)) return;
        const state: Rolling = upgrade(rolling.get(key)) ?? {
          values: [],
          mean: 0,
          m2: 0,
          ...(span === undefined ? {} : { times: [] }),
        };
        if (span !== undefined && state.times) {
          while (state.times.length > 0 && (state.times[0] as number) <= record.timestamp - span) remove(state);
        }
        const n = state.values.length;
        if (n >= options.minSamples) {
          const stddev = Math.sqrt(Math.max(state.m2, 0) / (n - 1));
          if (stddev > 0) {
            const score = (x - state.mean) / stddev;
            if (Math.abs(score) >= options.threshold) {
              context.counters.anomalies++;
              const anomaly: Anomaly = {
                metric: options.metric,
                key,
                value: x,
                mean: state.mean,
                stddev,
                score,
                samples: n,
                eventId: record.origin.eventId ?? null,
                eventTime: new Date(record.timestamp).toISOString(),
              };
              out.emit({ ...record, value: anomaly });
            }
          }
        }
        add(state, record.timestamp, x);
        while (state.values.length > maxPoints) remove(state);
        rolling.set(key, state);
      },
    };
  };
}

/** State checkpointed before the window kept values and times apart held `[time, value]` pairs. */
function upgrade(state: (Rolling & { points?: [number, number][] }) | undefined): Rolling | undefined {
  if (!state?.points) return state;
  const { points, ...rest } = state;
  return { ...rest, values: points.map((p) => p[1]), times: points.map((p) => p[0]) };
}

function add(state: Rolling, timestamp: number, x: number): void {
  state.values.push(x);
  state.times?.push(timestamp);
  const n = state.values.length;
  const delta = x - state.mean;
  state.mean += delta / n;
  state.m2 += delta * (x - state.mean);
}

function remove(state: Rolling): void {
  const x = state.values.shift();
  state.times?.shift();
  if (x === undefined) return;
  const n = state.values.length;
  if (n === 0) {
    state.mean = 0;
    state.m2 = 0;
    return;
  }
  const previousMean = state.mean;
  state.mean = (previousMean * (n + 1) - x) / n;
  state.m2 -= (x - previousMean) * (x - state.mean);
}
