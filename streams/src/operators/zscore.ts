import { BvError } from '@bitvelocity/core';
import { calibrated } from './anomaly/calibrate.js';
import { isoTime } from './anomaly/iso.js';
import { type ResolvedOptions, resolveOptions, type ZScoreOptions } from './anomaly/options.js';
import { medianAndMad } from './anomaly/robust.js';
import {
  type LegacyState,
  RollingWindow,
  type StoredPoint,
  type WindowHeader,
  type WindowState,
} from './anomaly/window.js';
import type { Collector, OperatorFactory } from './operator.js';

export { ANOMALY_DEFAULTS, type ZScoreOptions } from './anomaly/options.js';

/** The side output of every scored point. */
export const SCORES = 'scores';

/** Why a point is anomalous: its calibrated score crossed `alertAt`, or it differs from a window of equal values. */
export type AnomalyReason = 'z' | 'zero_spread';

/** One scored point (the `scores()` side output; the Gold table `gold.anomaly_scores`). */
export interface AnomalyScore {
  metric: string;
  key: string;
  value: number;
  /** The window's center (mean, or median with `center: 'median'`) and spread (stddev, or MAD x 1.4826). */
  mean: number;
  stddev: number;
  /** The raw z. Infinite for a zero-spread anomaly (JSON writes that as null: read `direction` and `reason`). */
  score: number;
  /** 1 minus the two-sided Student-t tail of the z over `samples` points: in [0, 1], comparable across metrics. */
  calibrated: number;
  /** +1 above the center, -1 below, 0 at it. */
  direction: 1 | -1 | 0;
  samples: number;
  anomalous: boolean;
  reason: AnomalyReason | null;
  /** The season bucket (hour of day 0-23 or of week 0-167, UTC) with seasonality, otherwise null. */
  season: number | null;
  /** The episode this point opened or extended. */
  episodeId: string | null;
  /** The event that was scored. */
  eventId: string | null;
  eventTime: string;
}

/** @deprecated the per-point record is {@link AnomalyScore}. */
export type Anomaly = AnomalyScore;

/**
 * An anomaly episode: the alert. `open` is emitted when a point's calibrated score first crosses `alertAt`; `closed`
 * once no point was anomalous for `closeAfter`, with the final peak, end and point count.
 */
export interface AnomalyEpisode {
  kind: 'anomaly_episode';
  status: 'open' | 'closed';
  metric: string;
  key: string;
  /** `<metric>:<key>:<start in ms>`, stable across restarts. */
  episodeId: string;
  start: string;
  /** The event time of the latest anomalous point. */
  end: string;
  /** Anomalous points in the episode so far. */
  points: number;
  peakCalibrated: number;
  /** The peak's raw z; null when infinite (a zero-spread anomaly). */
  peakScore: number | null;
  peakValue: number;
  peakAt: string;
  peakDirection: 1 | -1 | 0;
  reason: AnomalyReason;
  /** The event that opened the episode. */
  eventId: string | null;
  /** With the detector's `context` option: what it says of the point that opened the episode. */
  context?: unknown;
}

interface EpisodeState {
  id: string;
  start: number;
  last: number;
  points: number;
  peakCalibrated: number;
  peakScore: number | null;
  peakValue: number;
  peakAt: number;
  peakDirection: 1 | -1 | 0;
  reason: AnomalyReason;
  eventId: string | null;
  context?: unknown;
}

const SEASON_SEP = '\u0001';
/** Between a window's key and a point's slot in the `points` store. */
const SLOT_SEP = '\u0002';
const HOUR = 3_600_000;

/**
 * The state the z-score operator keeps (declared with the operator in the job graph): each window's statistics
 * (`rolling`), its points one entry per slot (`points`, so a checkpoint writes only the points added since the last
 * one), and the open episodes.
 */
export const ZSCORE_STATE: readonly string[] = ['rolling', 'points', 'episodes'];

/**
 * Rolling z-score per key. Each point is scored against the points before it in its key's window (of its season, with
 * seasonality), then joins the window. Emits anomaly episodes (the alerts) on the main output and every scored point
 * on the `scores` side output. See docs/anomalies.md.
 */
export function zScoreOperator<T>(options: ZScoreOptions<T>): OperatorFactory {
  const o = resolveOptions(options);
  return (context) => {
    const windows = context.state<RollingWindow | WindowHeader | WindowState | LegacyState>('rolling');
    const points = context.state<StoredPoint>('points');
    const episodes = context.state<EpisodeState>('episodes');
    /** Keys with an open episode (an index over the `episodes` store, rebuilt on restore). */
    const open = new Set<string>();
    let watermark = Number.NEGATIVE_INFINITY;
    let sweptBucket = Number.NEGATIVE_INFINITY;
    const sweepEvery = Math.max(Math.floor(o.ttl / 4), 1);

    const load = (windowKey: string, now: number): RollingWindow => {
      const stored = windows.get(windowKey);
      let window: RollingWindow | undefined;
      if (stored instanceof RollingWindow) window = stored;
      else if (stored && 'layout' in stored && stored.layout === 3)
        window = RollingWindow.fromHeader(stored, o.span !== undefined, o.recomputeEvery, (slot) =>
          points.get(`${windowKey}${SLOT_SEP}${slot}`),
        );
      else if (stored) window = RollingWindow.restore(stored as WindowState, o.span !== undefined, o.recomputeEvery);
      // A key quiet for longer than the TTL starts afresh (whether or not the sweep has deleted it yet).
      // (A window restored from the oldest layouts has no times: its age is unknown until its next point.)
      if (window && window.last > Number.NEGATIVE_INFINITY && window.last < Math.max(watermark, now) - o.ttl)
        window = undefined;
      if (window) return window;
      const fresh = new RollingWindow(o.span !== undefined, o.recomputeEvery);
      fresh.slots = o.capacity;
      return fresh;
    };

    /** Checkpoints the point just added; the whole window when its points are not stored under this capacity yet. */
    const savePoints = (windowKey: string, window: RollingWindow, x: number, t: number) => {
      if (window.slots === o.capacity) {
        const seq = window.seq - 1;
        points.set(`${windowKey}${SLOT_SEP}${seq % o.capacity}`, [seq, x, t]);
        return;
      }
      for (const point of window.points()) points.set(`${windowKey}${SLOT_SEP}${point[0] % o.capacity}`, point);
      window.slots = o.capacity;
    };

    /** Forgets a window: its header and every slot its points may be in. */
    const forget = (windowKey: string, window: RollingWindow | WindowHeader | WindowState | LegacyState) => {
      windows.delete(windowKey);
      const header =
        window instanceof RollingWindow || ('layout' in window && window.layout === 3) ? window : undefined;
      if (!header) return;
      const used = Math.min(header.seq, Math.max(header.slots, o.capacity));
      for (let slot = 0; slot < used; slot++) points.delete(`${windowKey}${SLOT_SEP}${slot}`);
    };

    const close = (key: string, episode: EpisodeState, out: Collector) => {
      episodes.delete(key);
      open.delete(key);
      out.emit({ ...episodeRecordBase, key, value: episodeEvent(o, key, episode, 'closed'), timestamp: episode.last });
    };
    // The record fields an episode emitted from a watermark carries (no input record caused it).
    const episodeRecordBase = { origin: { topic: '', partition: -1, offset: -1n } };

    return {
      process(record, out) {
        const key = record.key ?? '';
        const observed = o.value(record.value);
        if (typeof observed !== 'number' || !Number.isFinite(observed)) {
          throw new BvError(
            'ANOMALY_VALUE_INVALID',
            `z-score ${o.metric}: the value of key "${key}" is ${String(observed)}, not a finite number`,
            { details: { metric: o.metric, key } },
          );
        }
        if (o.transform !== undefined && observed < 0) {
          throw new BvError(
            'ANOMALY_VALUE_INVALID',
            `z-score ${o.metric}: the value of key "${key}" is ${observed}; a ${o.transform} scale needs values >= 0`,
            { details: { metric: o.metric, key } },
          );
        }
        // Scored on the transformed scale (mean and stddev are on it too); `value` stays the observed one.
        const x =
          o.transform === 'log'
            ? Math.log1p(observed)
            : o.transform === 'sqrt'
              ? 2 * Math.sqrt(observed + 0.375)
              : observed;
        const t = record.timestamp;
        let episode = episodes.get(key);
        if (episode && t - episode.last >= o.closeAfter) {
          close(key, episode, out);
          episode = undefined;
        }
        const season =
          o.seasonality === undefined
            ? null
            : o.seasonality === 'hourOfDay'
              ? mod(Math.floor(t / HOUR), 24)
              : mod(Math.floor(t / HOUR) + 72, 168); // epoch day 0 was a Thursday: 0 = Monday 00:00 UTC
        const windowKey = season === null ? key : `${key}${SEASON_SEP}${season}`;
        const window = load(windowKey, t);
        if (o.span !== undefined) evict(window, t, o.span, o.skew);

        const n = window.count;
        if (n >= o.minSamples) {
          let center: number;
          let spread: number;
          if (o.robust) {
            const robust = medianAndMad(window.live());
            center = robust.median;
            // MAD is 0 when more than half the window is one value: fall back to the standard deviation.
            spread = robust.mad > 0 ? robust.mad : window.stddev;
          } else {
            center = window.mean;
            spread = window.stddev;
          }
          let z: number;
          let cal: number;
          let reason: AnomalyReason | null = null;
          const direction: 1 | -1 | 0 = x > center ? 1 : x < center ? -1 : 0;
          if (spread > 0) {
            z = (x - center) / spread;
            cal = calibrated(z, n);
            if (cal >= o.alertAt) reason = 'z';
          } else {
            // A window of equal values: any other value is an anomaly (its z is infinite), the same value is not.
            z = direction === 0 ? 0 : direction * Number.POSITIVE_INFINITY;
            cal = direction === 0 ? 0 : 1;
            if (direction !== 0) reason = 'zero_spread';
          }
          if (reason !== null) {
            context.counters.anomalies++;
            if (!episode) {
              episode = {
                id: `${o.metric}:${key}:${t}`,
                start: t,
                last: t,
                points: 0,
                peakCalibrated: -1,
                peakScore: 0,
                peakValue: observed,
                peakAt: t,
                peakDirection: direction,
                reason,
                eventId: record.origin.eventId ?? null,
                ...(o.context ? { context: o.context(record.value) ?? null } : {}),
              };
            }
            const opening = episode.points === 0;
            episode.points++;
            if (t > episode.last) episode.last = t;
            const magnitude = Number.isFinite(z) ? Math.abs(z) : Number.POSITIVE_INFINITY;
            const peak = episode.peakScore === null ? Number.POSITIVE_INFINITY : Math.abs(episode.peakScore);
            if (cal > episode.peakCalibrated || (cal === episode.peakCalibrated && magnitude > peak)) {
              episode.peakCalibrated = cal;
              episode.peakScore = Number.isFinite(z) ? z : null;
              episode.peakValue = observed;
              episode.peakAt = t;
              episode.peakDirection = direction;
              episode.reason = reason;
            }
            episodes.set(key, episode);
            open.add(key);
            if (opening) out.emit({ ...record, value: episodeEvent(o, key, episode, 'open') });
          }
          const score: AnomalyScore = {
            metric: o.metric,
            key,
            value: observed,
            mean: center,
            stddev: spread,
            score: z,
            calibrated: cal,
            direction,
            samples: n,
            anomalous: reason !== null,
            reason,
            season,
            episodeId: reason !== null && episode ? episode.id : null,
            eventId: record.origin.eventId ?? null,
            eventTime: isoTime(t),
          };
          out.side(SCORES, { ...record, value: score });
        }
        window.add(x, t);
        while (window.count > o.capacity) window.removeOldest();
        savePoints(windowKey, window, x, t);
        windows.set(windowKey, window);
      },

      onWatermark(next, out) {
        watermark = next;
        for (const key of open) {
          const episode = episodes.get(key);
          if (!episode) open.delete(key);
          else if (next - episode.last >= o.closeAfter) close(key, episode, out);
        }
        // Forget quiet keys now and then (the TTL is applied on read too, so when this runs changes nothing seen).
        const bucket = Math.floor(next / sweepEvery);
        if (bucket > sweptBucket) {
          sweptBucket = bucket;
          const horizon = next - o.ttl;
          const stale: [string, RollingWindow | WindowHeader | WindowState | LegacyState][] = [];
          for (const [windowKey, window] of windows) {
            const last = window instanceof RollingWindow ? window.last : (window as WindowState).last;
            if (typeof last === 'number' && last > Number.NEGATIVE_INFINITY && last < horizon)
              stale.push([windowKey, window]);
          }
          for (const [windowKey, window] of stale) forget(windowKey, window);
        }
      },

      restored() {
        open.clear();
        for (const [key] of episodes) open.add(key);
      },
    };
  };
}

/** Evicts by the current point's event time; a point far ahead of it cannot hold the points behind it. */
function evict(window: RollingWindow, t: number, span: number, skew: number): void {
  const newest = window.times?.[window.times.length - 1];
  // A late point (older than the one before it) evicts only what is stale for it; it never flushes newer points.
  const inOrder = newest === undefined || t >= newest;
  for (;;) {
    const oldest = window.oldestTime();
    if (oldest === undefined) return;
    if (oldest <= t - span || (inOrder && oldest > t + skew)) window.removeOldest();
    else return;
  }
}

function episodeEvent(
  o: ResolvedOptions,
  key: string,
  e: EpisodeState,
  status: AnomalyEpisode['status'],
): AnomalyEpisode {
  return {
    kind: 'anomaly_episode',
    status,
    metric: o.metric,
    key,
    episodeId: e.id,
    start: isoTime(e.start),
    end: isoTime(e.last),
    points: e.points,
    peakCalibrated: e.peakCalibrated,
    peakScore: e.peakScore,
    peakValue: e.peakValue,
    peakAt: isoTime(e.peakAt),
    peakDirection: e.peakDirection,
    reason: e.reason,
    eventId: e.eventId,
    ...(e.context !== undefined ? { context: e.context } : {}),
  };
}

const mod = (a: number, m: number) => ((a % m) + m) % m;
