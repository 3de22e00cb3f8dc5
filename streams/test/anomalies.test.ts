// Specifications of the z-score anomaly detector, in process (no server is involved): the window statistics, the
// zero-spread and non-finite cases, episodes, calibration, the robust and seasonal baselines, eviction and the options.
import { BvError, deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { defineJob, jsonRecords, kafkaSink, type ZScoreOptions } from '../src/index.js';
import { calibrated, twoSidedTail } from '../src/operators/anomaly/calibrate.js';
import { medianAndMad } from '../src/operators/anomaly/robust.js';
import { RollingWindow } from '../src/operators/anomaly/window.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, raw, run, values } from './golden.js';

const source = jsonRecords<GoldenEvent>({
  topics: ['input'],
  maxOutOfOrderness: '0s',
  idleTimeout: 0,
  eventTime: (e) => e.t * 1000,
  eventId: (e) => e.id ?? `${e.t}`,
});

type Options = Omit<ZScoreOptions<GoldenEvent>, 'value' | 'metric'> & { metric?: string };

function detector(options: Options) {
  return defineJob({
    name: 'spec-anomalies',
    build: (j) => {
      const anomalies = j
        .source(source)
        .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
        .zScore({ metric: 'm', value: (e) => e.v as number, ...options });
      anomalies.to(kafkaSink('episodes'));
      anomalies.scores().to(kafkaSink('scores'));
    },
  });
}

interface Score {
  value: number;
  mean: number;
  stddev: number;
  score: number | null;
  calibrated: number;
  direction: number;
  samples: number;
  anomalous: boolean;
  reason: string | null;
  episodeId: string | null;
  eventId: string;
  season: number | null;
}
interface Episode {
  status: 'open' | 'closed';
  episodeId: string;
  start: string;
  end: string;
  points: number;
  peakValue: number;
  peakScore: number | null;
  peakCalibrated: number;
  reason: string;
}

const series = (vs: number[], start = 1, step = 1): GoldenEvent[] =>
  vs.map((v, i) => ({ t: start + i * step, id: `p${i}`, v }));

/** A deterministic standard-normal sequence (xorshift + Box-Muller). */
function normals(n: number, seed = 1): number[] {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/**
 * The reference: mean and sample stddev by two passes over the points, the deviations scaled by their largest
 * magnitude (so 1e200 does not overflow), with a compensated sum; written independently of the operator's code.
 */
function reference(xs: readonly number[]): { mean: number; stddev: number } {
  const n = xs.length;
  const big = Math.max(...xs.map(Math.abs)) || 1;
  let sum = 0;
  let c = 0;
  for (const x of xs) {
    const y = x / big - c;
    const t = sum + y;
    c = t - sum - y;
    sum = t;
  }
  const mean = (sum / n) * big;
  const scale = Math.max(...xs.map((x) => Math.abs(x - mean))) || 1;
  let ss = 0;
  let corr = 0;
  for (const x of xs) {
    const d = (x - mean) / scale;
    ss += d * d;
    corr += d;
  }
  return {
    mean: mean + (corr / n) * scale,
    stddev: n < 2 ? 0 : scale * Math.sqrt(Math.max(ss - (corr * corr) / n, 0) / (n - 1)),
  };
}

/** Runs a series through a window of `size` points and checks it against the reference after every update. */
function checkAgainstReference(xs: number[], size: number, every = 1) {
  const window = new RollingWindow(false, Math.max(size, 64));
  let worstMean = 0;
  let worstStddev = 0;
  xs.forEach((x, i) => {
    window.add(x, i);
    while (window.count > size) window.removeOldest();
    if (i % every !== 0 && i !== xs.length - 1) return;
    const live = window.live();
    const ref = reference(live);
    const meanError = Math.abs(window.mean - ref.mean) / Math.max(Math.abs(ref.mean), ref.stddev, Number.MIN_VALUE);
    const stddevError = ref.stddev === 0 ? window.stddev : Math.abs(window.stddev - ref.stddev) / ref.stddev;
    worstMean = Math.max(worstMean, meanError);
    worstStddev = Math.max(worstStddev, stddevError);
  });
  return { worstMean, worstStddev };
}

describe('window statistics', () => {
  it('match a two-pass reference on adversarial series (huge and small, tiny differences around 1e9, constants)', () => {
    const noise = normals(3000, 7);
    const cases: Record<string, number[]> = {
      'huge magnitudes mixed with small': noise.map((z, i) => (i % 97 === 0 ? 1e200 * (1 + z / 10) : z)),
      'both signs of 1e300': noise.map((z, i) => (i % 50 === 0 ? (i % 100 === 0 ? 1e300 : -1e300) : z)),
      'tiny differences around 1e9': noise.map((z) => 1e9 + z * 1e-6),
      'a constant after noise': noise.map((z, i) => (i < 1000 ? z : 0.1)),
      'alternating scales': noise.map((z, i) => (Math.floor(i / 200) % 2 === 0 ? 1e12 + z : z * 1e-12)),
    };
    for (const [name, xs] of Object.entries(cases)) {
      const { worstMean, worstStddev } = checkAgainstReference(xs, 60);
      expect(worstMean, name).toBeLessThan(1e-9);
      expect(worstStddev, name).toBeLessThan(1e-9);
    }
  });

  it('the relative error does not grow with the length of the stream (2 million points)', () => {
    const n = 2_000_000;
    const noise = normals(n, 11);
    const xs = noise.map((z, i) => 1e6 + 1e3 * Math.sin(i / 1e4) + z);
    const { worstStddev, worstMean } = checkAgainstReference(xs, 500, 9973);
    expect(worstStddev).toBeLessThan(1e-10);
    expect(worstMean).toBeLessThan(1e-10);
  });

  it('a constant window has a spread of exactly 0, not leftover noise', () => {
    const window = new RollingWindow(false, 1_000_000); // never recomputed periodically
    for (const z of normals(500, 3)) window.add(1e4 + z * 1e3, 0);
    for (let i = 0; i < 60; i++) {
      window.add(0.1, 0);
      while (window.count > 60) window.removeOldest();
    }
    expect(window.stddev).toBe(0);
    expect(window.mean).toBe(0.1);
  });

  it('the median and MAD are exact', () => {
    expect(medianAndMad([5, 1, 3, 2, 4])).toEqual({ median: 3, mad: 1.4826 });
    expect(medianAndMad([1, 2, 3, 100])).toEqual({ median: 2.5, mad: 1.4826 });
  });
});

describe('calibrated score', () => {
  it('is 1 minus the two-sided Student-t tail of the prediction t, in [0, 1]', () => {
    expect(twoSidedTail(2, 10)).toBeCloseTo(0.0733880348, 8); // R: 2 * pt(-2, 10)
    expect(twoSidedTail(1, 1)).toBeCloseTo(0.5, 12); // Cauchy
    const z = 3;
    const n = 30;
    expect(calibrated(z, n)).toBeCloseTo(1 - twoSidedTail(z / Math.sqrt(1 + 1 / n), n - 1), 4);
    expect(calibrated(0, 30)).toBe(0);
    expect(calibrated(Number.POSITIVE_INFINITY, 30)).toBe(1);
    let previous = -1;
    for (let zz = 0; zz < 50; zz += 0.25) {
      const c = calibrated(zz, 60);
      expect(c).toBeGreaterThanOrEqual(previous);
      expect(c).toBeLessThanOrEqual(1);
      previous = c;
    }
  });

  it('the same z over fewer points scores lower (a threshold means the same on every window size)', () => {
    expect(calibrated(4, 10)).toBeLessThan(calibrated(4, 500));
  });
});

describe('zero spread and non-finite values', () => {
  it('a spike after a flat stretch is flagged (reason zero_spread, infinite z, calibrated 1)', () => {
    const job = detector({ window: { points: 60 }, minSamples: 10, closeAfter: '10s' });
    const outputs = run(job, raw(series([...Array(20).fill(5), 5, 1e9])));
    const scores = values(outputs, 'scores') as Score[];
    expect(scores.filter((s) => s.anomalous)).toEqual([
      expect.objectContaining({
        value: 1e9,
        reason: 'zero_spread',
        calibrated: 1,
        direction: 1,
        score: null,
        stddev: 0,
      }),
    ]);
    // The same value again is not an anomaly: its z is 0.
    expect(scores.find((s) => s.eventId === 'p20')).toMatchObject({ anomalous: false, score: 0, calibrated: 0 });
    expect(values(outputs, 'episodes')).toEqual([
      expect.objectContaining({ status: 'open', reason: 'zero_spread', peakValue: 1e9, peakScore: null }),
    ]);
  });

  it('a zero-spread z is infinite in process (JSON writes it as null with its direction)', () => {
    const job = detector({ window: { points: 10 }, minSamples: 5 });
    const task = new Task(job, 'input', 0);
    for (const r of raw(series([7, 7, 7, 7, 7, 3]))) task.process(r);
    const [score] = values(task.takeOutputs(), 'scores').filter((s) => (s as Score).anomalous) as Score[];
    expect(score).toMatchObject({ direction: -1, reason: 'zero_spread' });
  });

  it('a value of 1e200 does not poison the key: it is flagged, and scoring resumes once it left the window', () => {
    const noise = normals(200, 5).map((z) => 100 + z);
    const vs = [...noise.slice(0, 50), 1e200, ...noise.slice(50, 150), 130];
    const job = detector({ window: { points: 30 }, minSamples: 20, closeAfter: '5s' });
    const scores = values(run(job, raw(series(vs))), 'scores') as Score[];
    expect(scores.every((s) => Number.isFinite(s.mean) && Number.isFinite(s.stddev))).toBe(true);
    const flagged = scores.filter((s) => s.anomalous).map((s) => s.value);
    expect(flagged[0]).toBe(1e200);
    expect(flagged.at(-1)).toBe(130);
    // The points right after it are not anomalies (the window's spread is huge), and nothing is NaN.
    expect(scores.every((s) => !Number.isNaN(s.calibrated))).toBe(true);
  });

  it('a value that is not a finite number is dead-lettered with the reason and counted; the key goes on', () => {
    const job = detector({ window: { points: 10 }, minSamples: 3 });
    const task = new Task(job, 'input', 0);
    const input = raw([
      { t: 1, v: 1 },
      { t: 2, v: 2 },
      { t: 3, v: 'lots' },
      { t: 4, v: null },
      { t: 5, v: 1 },
      { t: 6, v: 2 },
    ]);
    for (const r of input) task.process(r);
    const outputs = task.takeOutputs();
    const dead = outputs.filter((o) => o.topic === deadLetterTopicOf('input'));
    expect(dead.map((d) => [d.headers['bv-dlq-code'], d.headers['bv-dlq-offset']])).toEqual([
      ['ANOMALY_VALUE_INVALID', '2'],
      ['ANOMALY_VALUE_INVALID', '3'],
    ]);
    expect(dead[0]?.headers['bv-dlq-reason']).toMatch(/z-score m: the value of key "k" is lots, not a finite number/);
    expect(task.counters.deadLettered).toBe(2);
    expect(values(outputs, 'scores')).toHaveLength(1); // t=6, over 1, 2, 1
  });
});

describe('scales', () => {
  it('a negative value on a log or square-root scale is dead-lettered, not scored as NaN', () => {
    const job = detector({ window: { points: 10 }, minSamples: 3, transform: 'log' });
    const outputs = run(job, raw(series([10, 12, 11, -5, 10])));
    expect(
      outputs.filter((o) => o.topic === deadLetterTopicOf('input')).map((o) => o.headers['bv-dlq-reason']),
    ).toEqual(['z-score m: the value of key "k" is -5; a log scale needs values >= 0']);
    expect((values(outputs, 'scores') as Score[]).map((s) => s.value)).toEqual([10]);
  });

  it('on a log scale a large multiplicative jump is flagged and the observed value is reported', () => {
    const noise = normals(60, 21).map((z) => Math.round(4000 * Math.exp(0.3 * z)));
    const job = detector({ window: { points: 50 }, minSamples: 30, transform: 'log' });
    const scores = values(run(job, raw(series([...noise, 400_000]))), 'scores') as Score[];
    expect(scores.filter((s) => s.anomalous).map((s) => s.value)).toEqual([400_000]);
    expect(scores.at(-1)?.mean).toBeCloseTo(Math.log1p(4000), 0);
  });
});

describe('episodes', () => {
  const job = detector({ window: { points: 30 }, minSamples: 20, closeAfter: '10s', alertAt: 0.9999 });
  const base = normals(300, 9).map((z) => 50 + z);
  // One anomalous stretch of five spikes within 10 s, then quiet; then a second, separate spike.
  const vs = base.slice(0, 100);
  for (const i of [40, 42, 43, 45, 47]) vs[i] = 80 + i / 10;
  vs[90] = 20;

  it('one anomalous stretch is one alert with its peak, start, end and points, not one alert per point', () => {
    const outputs = run(job, raw(series(vs)));
    const episodes = values(outputs, 'episodes') as Episode[];
    expect(episodes.map((e) => [e.status, e.episodeId])).toEqual([
      ['open', 'm:k:41000'],
      ['closed', 'm:k:41000'],
      ['open', 'm:k:91000'],
    ]);
    const closed = episodes[1];
    const scores = values(outputs, 'scores') as (Score & { eventTime: string })[];
    const inEpisode = scores.filter((s) => s.episodeId === 'm:k:41000');
    expect(inEpisode.length).toBeGreaterThanOrEqual(2);
    expect(closed).toMatchObject({
      start: new Date(41_000).toISOString(),
      end: inEpisode.at(-1)?.eventTime,
      points: inEpisode.length,
      peakValue: 80 + 40 / 10, // the first spike: the later ones are scored against a window that holds it
    });
  });

  it('an episode closes when the watermark passes its quiet time, without another point of its key', () => {
    const job2 = detector({ window: { points: 30 }, minSamples: 20, closeAfter: '10s' });
    const input = series(vs.slice(0, 41)).concat([{ t: 200, key: 'other', v: 1 }]);
    const episodes = values(run(job2, raw(input)), 'episodes') as Episode[];
    expect(episodes.map((e) => e.status)).toEqual(['open', 'closed']);
  });

  it('episodes and scores are the same when restored from the changelog at any point', () => {
    const input = raw(series(vs));
    const expected = run(job, input);
    for (let at = 0; at < input.length; at += 3) {
      const restarted = run(job, input, { restartAfter: [at] });
      expect(values(restarted, 'episodes'), `restart after ${at}`).toEqual(values(expected, 'episodes'));
      expect(values(restarted, 'scores'), `restart after ${at}`).toEqual(values(expected, 'scores'));
    }
  });
});

describe('robust and seasonal baselines', () => {
  it('the median/MAD detector is not blinded by an earlier outlier in its window', () => {
    const noise = normals(80, 13).map((z) => 100 + z);
    const vs = [...noise.slice(0, 40), 10_000, ...noise.slice(40, 50), 108];
    const flaggedBy = (center: 'mean' | 'median') =>
      (values(run(detector({ window: { points: 60 }, minSamples: 20, center }), raw(series(vs))), 'scores') as Score[])
        .filter((s) => s.anomalous)
        .map((s) => s.value);
    expect(flaggedBy('median')).toEqual([10_000, 108]);
    expect(flaggedBy('mean')).toEqual([10_000]); // the outlier inflated the stddev: 108 is missed
  });

  it('with seasonality a value normal for its hour is not flagged, and a broken cycle is', () => {
    // Hourly points over 20 days: 100 by day (08-20 UTC), 10 by night, small noise.
    const noise = normals(24 * 21, 17);
    const events: GoldenEvent[] = [];
    for (let h = 0; h < 24 * 20; h++) {
      const hour = h % 24;
      events.push({ t: h * 3600, id: `h${h}`, v: (hour >= 8 && hour < 20 ? 100 : 10) + (noise[h] as number) });
    }
    // Day 20 at 03:00: the daytime level at night.
    events.push({ t: (24 * 20 + 3) * 3600, id: 'broken', v: 100 });
    const seasonal = values(
      run(detector({ window: { points: 14 }, minSamples: 7, seasonality: 'hourOfDay', closeAfter: '1h' }), raw(events)),
      'scores',
    ) as Score[];
    expect(seasonal.filter((s) => s.anomalous).map((s) => s.eventId)).toEqual(['broken']);
    expect(seasonal.at(-1)?.season).toBe(3);
  });
});

describe('eviction and state', () => {
  it('a far-future point does not block eviction of a duration window', () => {
    const job = detector({ window: { duration: '1m' }, minSamples: 5 });
    // One early point carries a time a year ahead; then 20,000 points one per second.
    const events: GoldenEvent[] = [
      { t: 1, id: 'a', v: 1 },
      { t: 1 + 365 * 86_400, id: 'future', v: 1 },
    ];
    for (let i = 0; i < 20_000; i++) events.push({ t: 2 + i, id: `p${i}`, v: (i % 7) + 1 });
    const scores = values(run(job, raw(events)), 'scores') as Score[];
    expect(Math.max(...scores.map((s) => s.samples))).toBeLessThanOrEqual(61);
  });

  it('a duration window holds at most maxPoints points', () => {
    const job = detector({ window: { duration: '1d' }, minSamples: 5, maxPoints: 100 });
    const scores = values(run(job, raw(series(normals(500, 2)))), 'scores') as Score[];
    expect(Math.max(...scores.map((s) => s.samples))).toBe(100);
  });

  it('a key quiet for longer than the state TTL is forgotten (a tombstone in the changelog; it starts afresh)', () => {
    const job = detector({ window: { points: 10 }, minSamples: 3, stateTtl: '1h' });
    const task = new Task(job, 'input', 0);
    for (const r of raw([
      ...series([1, 2, 3, 4], 1).map((e) => ({ ...e, key: 'quiet' })),
      ...series([5, 6, 7], 10_000).map((e) => ({ ...e, key: 'busy', id: `b${e.t}` })),
    ]))
      task.process(r);
    const deleted = task
      .takeChangelog()
      .filter((e) => e.value === null)
      .map((e) => e.key);
    expect(deleted).toContain('2-zScore.rolling\u0000quiet');
    const again = new Task(job, 'input', 0);
    const input = raw([
      ...series([1, 2, 3, 4], 1).map((e) => ({ ...e, key: 'quiet' })),
      { t: 10_000, key: 'quiet', id: 'back', v: 1000 },
    ]);
    for (const r of input) again.process(r);
    const scores = values(again.takeOutputs(), 'scores') as Score[];
    expect(scores.find((s) => s.eventId === 'back')).toBeUndefined(); // its old window was forgotten
  });

  it('state checkpointed in the older layouts is restored and its statistics recomputed exactly', () => {
    const job = detector({ window: { points: 5 }, minSamples: 3, threshold: 3 });
    const legacy = (value: unknown) => ({ key: '2-zScore.rolling\u0000k', value: JSON.stringify(value) });
    for (const state of [
      // { values, mean, m2 } with running sums that had drifted (m2 slightly negative)
      { values: [11, 10, 11, 12, 11], mean: 11.000000001, m2: -1e-9 },
      // the layout before values and times were split
      { points: [1, 2, 3, 4, 5].map((t, i) => [t * 1000, [11, 10, 11, 12, 11][i]]) },
    ]) {
      const task = new Task(job, 'input', 0);
      task.restore([legacy(state)]);
      for (const r of raw([{ t: 9, id: 'e9', v: 30 }])) task.process(r);
      const [score] = values(task.takeOutputs(), 'scores') as Score[];
      expect(score).toMatchObject({ samples: 5, mean: 11, anomalous: true });
      expect(score?.stddev).toBeCloseTo(Math.sqrt(2 / 4), 12);
    }
  });
});

describe('options are checked when the job is defined', () => {
  const refused = (options: Options) => {
    try {
      detector(options);
    } catch (error) {
      return error instanceof BvError ? `${error.code}: ${error.message}` : String(error);
    }
    return 'accepted';
  };

  it('settings that can never score, or are contradictory, are refused with ANOMALY_BAD_OPTION', () => {
    expect(refused({ window: { points: 10 }, minSamples: 11 })).toMatch(
      /^ANOMALY_BAD_OPTION: z-score m: minSamples \(11\) is more than the window can hold \(10 points\)/,
    );
    expect(refused({ window: { duration: '1m' }, minSamples: 200, maxPoints: 100 })).toMatch(/^ANOMALY_BAD_OPTION/);
    expect(refused({ window: { points: 10 }, minSamples: 1 })).toMatch(/minSamples must be an integer of at least 2/);
    expect(refused({ window: { points: 10 }, minSamples: 3, alertAt: 1 })).toMatch(/strictly between 0 and 1/);
    expect(refused({ window: { points: 10 }, minSamples: 3, alertAt: 0.99, threshold: 3 })).toMatch(/not both/);
    expect(refused({ window: { duration: 'soon' as '1m' }, minSamples: 3 })).toMatch(/^ANOMALY_BAD_OPTION/);
    expect(refused({ window: { points: 10 }, minSamples: 3, seasonality: 'hourOfWeek', stateTtl: '1d' })).toMatch(
      /longer than the season's period/,
    );
    expect(refused({ window: { points: 10 }, minSamples: 3 })).toBe('accepted');
  });
});
