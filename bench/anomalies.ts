/**
 * The z-score anomaly detector's accuracy and speed, in process (no server).
 *   npx tsx bench/anomalies.ts [--quick] [--throughput-only] [--series 20] [--points 6000] [--throughput-points 2000000]
 *
 * (a) Labelled series, one key each, one point a minute: spikes, level shifts, variance changes, spikes after flat
 *     stretches, slow drift, seasonal with a broken cycle; each detector setting is run over them and scored by
 *     episode: a labelled anomaly window [a, b] is found when an episode overlaps [a, b + tolerance] (it counts once,
 *     however many episodes or points hit it); an episode is a true positive when it overlaps some labelled window
 *     (with the tolerance), a false positive otherwise. Precision, recall and F1 per kind.
 * (b) Anomaly-free series, five times longer (Gaussian noise, a quiet Poisson count, heavy-tailed log-normal amounts,
 *     a seasonal cycle): alerts (episodes) per 10,000 points.
 * Seasonal kinds run the same setting with hour-of-day seasons (last 14 points per season, min 12, closeAfter 3h).
 * (c) Throughput: points/s through the operator (scores and episodes collected, no serialisation), 100 keys, by wall
 *     clock and per CPU-second of this process (the machine is shared: the CPU figure is the steadier one).
 */
import { cpus } from 'node:os';
import type { StreamRecord } from '../streams/src/api/record.js';
import { ANOMALY_DEFAULTS, type AnomalyEpisode, type ZScoreOptions } from '../streams/src/index.js';
import { type OperatorCounters, scopedContext } from '../streams/src/operators/operator.js';
import { ZSCORE_STATE, zScoreOperator } from '../streams/src/operators/zscore.js';
import { StateStores } from '../streams/src/state/store.js';
import { numberArg } from './load.js';

const QUICK = process.argv.includes('--quick');
const SERIES = numberArg('series', QUICK ? 6 : 20);
const POINTS = numberArg('points', QUICK ? 3000 : 6000);
const THROUGHPUT_POINTS = numberArg('throughput-points', QUICK ? 300_000 : 2_000_000);
const MINUTE = 60_000;
/** Points after a labelled window's end within which an episode still counts as finding it. */
const TOLERANCE = 5;

// ---------------------------------------------------------------- series

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const poisson = (lambda: number) => {
    const l = Math.exp(-lambda);
    let k = 0;
    let p = uniform();
    while (p > l) {
      k++;
      p *= uniform();
    }
    return k;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(uniform() * (hi - lo));
  return { uniform, normal, poisson, int };
}

interface Series {
  kind: string;
  values: number[];
  /** Labelled anomaly windows, as point indexes [start, end]. */
  labels: [number, number][];
  /** Minutes between points. */
  step: number;
}

/** Positions at least `gap` apart, away from the start (the window must fill first). */
function positions(r: ReturnType<typeof rng>, n: number, count: number, gap: number, from = 300): number[] {
  const out: number[] = [];
  let at = from + r.int(0, gap);
  while (out.length < count && at < n - gap) {
    out.push(at);
    at += gap + r.int(0, gap);
  }
  return out;
}

function generate(kind: string, seed: number, n: number): Series {
  const r = rng(seed);
  const noise = (level: number, sd: number) => Array.from({ length: n }, () => level + sd * r.normal());
  const labels: [number, number][] = [];
  let values: number[];
  let step = 1;
  switch (kind) {
    case 'spike': {
      values = noise(100, 5);
      for (const at of positions(r, n, 20, 250)) {
        const sign = r.uniform() < 0.7 ? 1 : -1;
        values[at] = 100 + sign * 5 * (6 + 4 * r.uniform());
        labels.push([at, at]);
      }
      break;
    }
    case 'level shift': {
      // The level steps by 5-8 sd and back, alternately; each step is a labelled change point.
      const steps = positions(r, n, 12, 400);
      const base = noise(100, 5);
      let current = 0;
      let next = 0;
      values = base.map((v, i) => {
        if (i === steps[next]) {
          current = current === 0 ? (r.uniform() < 0.5 ? 1 : -1) * 5 * (5 + 3 * r.uniform()) : 0;
          labels.push([i, i]);
          next++;
        }
        return v + current;
      });
      break;
    }
    case 'variance change': {
      values = noise(100, 5);
      for (const at of positions(r, n, 10, 400)) {
        for (let i = at; i < Math.min(at + 60, n); i++) values[i] = 100 + 5 * 5 * r.normal();
        labels.push([at, Math.min(at + 59, n - 1)]);
      }
      break;
    }
    case 'spike after flat': {
      // A count around 24; now and then it sticks at 5 for 80 points (a stuck sensor, a product out of stock), then
      // jumps. Two labelled anomalies each time: the start of the flat stretch, and the jump (with the return after it).
      values = Array.from({ length: n }, () => 20 + r.poisson(4));
      for (const at of positions(r, n, 12, 300)) {
        for (let i = at - 80; i < at; i++) values[i] = 5;
        values[at] = 60 + 40 * r.uniform();
        labels.push([at - 80, at - 80], [at, at + 1]);
      }
      break;
    }
    case 'slow drift': {
      values = noise(100, 5);
      for (const at of positions(r, n, 4, 1000)) {
        // 0.05 sd per point for 300 points: 15 sd in all, never a jump.
        for (let i = at; i < n; i++) values[i] = (values[i] as number) + 0.25 * Math.min(i - at, 300);
        for (let i = at + 300; i < n; i++) values[i] = (values[i] as number) - 0.25 * 300; // and back at once
        labels.push([at, at + 300]);
      }
      break;
    }
    case 'seasonal broken cycle': {
      // One point every 10 minutes for `n` points: a daily cycle of +-40 around 100, noise 5; one day in each 10 the
      // afternoon peak does not come (an outage), six hours of the night level.
      step = 10;
      const perDay = 144;
      values = Array.from(
        { length: n },
        (_, i) => 100 + 40 * Math.sin((2 * Math.PI * (i % perDay)) / perDay) + 5 * r.normal(),
      );
      for (let day = 12; (day + 1) * perDay < n; day += 10) {
        const start = day * perDay + 12; // 02:00 to 08:00, the cycle's high
        for (let i = start; i < start + 36; i++) values[i] = 100 + 5 * r.normal();
        labels.push([start, start + 35]);
      }
      break;
    }
    case 'noise':
      values = noise(100, 5);
      break;
    case 'quiet count':
      values = Array.from({ length: n }, () => r.poisson(3));
      break;
    case 'heavy tail':
      values = Array.from({ length: n }, () => Math.round(4000 * Math.exp(0.6 * r.normal())));
      break;
    case 'seasonal':
      step = 10;
      values = Array.from(
        { length: n },
        (_, i) => 100 + 40 * Math.sin((2 * Math.PI * (i % 144)) / 144) + 5 * r.normal(),
      );
      break;
    default:
      throw new Error(`unknown kind ${kind}`);
  }
  return { kind, values, labels, step };
}

// ---------------------------------------------------------------- running the operator

type Settings = Omit<ZScoreOptions<number>, 'value' | 'metric'>;

function counters(): OperatorCounters {
  return { late: 0, tooLate: 0, dedupeHits: 0, anomalies: 0 };
}

const ORIGIN = { topic: 'bench', partition: 0, offset: 0n };

/** Runs one series through a fresh operator; returns the episodes (open events, as point indexes). */
function detect(series: Series, settings: Settings): { start: number; end: number }[] {
  const operator = zScoreOperator<number>({ metric: 'bench', value: (v) => v, ...settings })(
    scopedContext(new StateStores(), '0-zScore', ZSCORE_STATE, counters()),
  );
  const episodes = new Map<string, { start: number; end: number }>();
  const stepMs = series.step * MINUTE;
  const out = {
    emit(record: StreamRecord<unknown>) {
      const e = record.value as AnomalyEpisode;
      episodes.set(e.episodeId, { start: Date.parse(e.start) / stepMs, end: Date.parse(e.end) / stepMs });
    },
    side() {},
  };
  // A Monday, so season buckets line up with the generated days.
  const epoch = Date.parse('2026-11-02T00:00:00Z');
  series.values.forEach((v, i) => {
    const timestamp = epoch + i * stepMs;
    operator.process({ value: v, timestamp, key: 'k', origin: ORIGIN }, out);
    operator.onWatermark?.(timestamp - 1, out);
  });
  return [...episodes.values()].map((e) => ({ start: e.start - epoch / stepMs, end: e.end - epoch / stepMs }));
}

interface Tally {
  tp: number;
  fp: number;
  found: number;
  labels: number;
  points: number;
  episodes: number;
}

function score(series: Series, episodes: { start: number; end: number }[], tally: Tally): void {
  tally.points += series.values.length;
  tally.episodes += episodes.length;
  tally.labels += series.labels.length;
  const hits = (e: { start: number; end: number }, [a, b]: [number, number]) => e.start <= b + TOLERANCE && e.end >= a;
  for (const label of series.labels) if (episodes.some((e) => hits(e, label))) tally.found++;
  for (const e of episodes) {
    if (series.labels.some((label) => hits(e, label))) tally.tp++;
    else tally.fp++;
  }
}

const LABELLED = ['spike', 'level shift', 'variance change', 'spike after flat', 'slow drift', 'seasonal broken cycle'];
const CLEAN = ['noise', 'quiet count', 'heavy tail', 'seasonal'];

const datasets = new Map<string, Series[]>();
for (const kind of [...LABELLED, ...CLEAN]) {
  // Anomaly-free series are five times longer: a false-alert rate below 1 in 10,000 needs many points to measure.
  const n = (kind.startsWith('seasonal') ? Math.max(POINTS, 144 * 40) : POINTS) * (CLEAN.includes(kind) ? 5 : 1);
  datasets.set(
    kind,
    Array.from({ length: SERIES }, (_, i) => generate(kind, 1000 * (LABELLED.indexOf(kind) + 2) + 17 * i + 1, n)),
  );
}

function evaluate(name: string, settings: Settings, seasonalSettings: Settings) {
  const rows: string[] = [];
  const summary: Record<string, number> = {};
  for (const kind of [...LABELLED, ...CLEAN]) {
    const tally: Tally = { tp: 0, fp: 0, found: 0, labels: 0, points: 0, episodes: 0 };
    const use = kind.startsWith('seasonal') ? seasonalSettings : settings;
    for (const series of datasets.get(kind) ?? []) score(series, detect(series, use), tally);
    if (tally.labels > 0) {
      const precision = tally.tp + tally.fp === 0 ? 1 : tally.tp / (tally.tp + tally.fp);
      const recall = tally.found / tally.labels;
      const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
      summary[kind] = f1;
      rows.push(
        `  ${kind.padEnd(22)} P ${precision.toFixed(3)}  R ${recall.toFixed(3)}  F1 ${f1.toFixed(3)}  (${tally.found}/${tally.labels} windows found, ${tally.episodes} episodes)`,
      );
    } else {
      const per10k = (tally.episodes / tally.points) * 10_000;
      summary[kind] = per10k;
      rows.push(
        `  ${kind.padEnd(22)} ${per10k.toFixed(2)} alerts per 10,000 points (${tally.episodes} in ${tally.points})`,
      );
    }
  }
  console.log(`\n${name}\n${rows.join('\n')}`);
  return summary;
}

console.log(
  `anomaly bench: ${SERIES} series per kind, ${POINTS} points each (seasonal: one per 10 min, 40 days); tolerance ${TOLERANCE} points; ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}`,
);
const seasonal = (s: Settings): Settings => ({
  ...s,
  window: { points: 14 },
  minSamples: 12,
  seasonality: 'hourOfDay',
  closeAfter: '3h',
});
const grid: [string, Settings][] = [
  [
    'legacy: last 60, min 10, |z| >= 3, no episodes (closeAfter 0)',
    { window: { points: 60 }, minSamples: 10, threshold: 3, closeAfter: 0 },
  ],
  ['last 60, min 20, alertAt 0.999', { window: { points: 60 }, minSamples: 20, alertAt: 0.999 }],
  ['last 60, min 20, alertAt 0.9999', { window: { points: 60 }, minSamples: 20, alertAt: 0.9999 }],
  ['last 60, min 20, alertAt 0.99999 (the default)', { window: { points: 60 }, minSamples: 20, alertAt: 0.99999 }],
  ['last 200, min 30, alertAt 0.99999', { window: { points: 200 }, minSamples: 30, alertAt: 0.99999 }],
  [
    'median/MAD, last 60, min 20, alertAt 0.99999',
    { window: { points: 60 }, minSamples: 20, alertAt: 0.99999, center: 'median' },
  ],
  [
    'product-metrics: sqrt scale, last 60, min 20, alertAt 0.99999',
    { window: { points: 60 }, minSamples: 20, alertAt: 0.99999, transform: 'sqrt' },
  ],
  [
    'log scale, last 500, min 30, alertAt 0.99999, closeAfter 5m',
    { window: { points: 500 }, minSamples: 30, alertAt: 0.99999, transform: 'log', closeAfter: '5m' },
  ],
  [
    'revenue: log scale, last 200, min 30, alertAt 0.99999, closeAfter 5m',
    { window: { points: 200 }, minSamples: 30, alertAt: 0.99999, transform: 'log', closeAfter: '5m' },
  ],
];
const THROUGHPUT_ONLY = process.argv.includes('--throughput-only');
const results = THROUGHPUT_ONLY
  ? []
  : grid.map(([name, settings]) => [name, evaluate(name, settings, seasonal(settings))] as const);

// ---------------------------------------------------------------- throughput

function throughput(name: string, settings: Settings, keys = 100) {
  const operator = zScoreOperator<number>({ metric: 'bench', value: (v) => v, ...settings })(
    scopedContext(new StateStores(), '0-zScore', ZSCORE_STATE, counters()),
  );
  let scores = 0;
  let episodes = 0;
  const out = {
    emit() {
      episodes++;
    },
    side() {
      scores++;
    },
  };
  const r = rng(99);
  const values = Float64Array.from({ length: 1 << 16 }, () => 100 + 5 * r.normal());
  const keyNames = Array.from({ length: keys }, (_, i) => `k${i}`);
  const record: StreamRecord<unknown> = { value: 0, timestamp: 0, key: '', origin: ORIGIN };
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      record.value = values[i & 0xffff];
      record.timestamp = i * 1000;
      record.key = keyNames[i % keys];
      operator.process(record, out);
      if (i % 100 === 0) operator.onWatermark?.(record.timestamp - 1, out);
    }
  };
  run(Math.min(THROUGHPUT_POINTS / 10, 200_000)); // warm up (JIT, windows full)
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  run(THROUGHPUT_POINTS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const rate = (s: number) => Math.round(THROUGHPUT_POINTS / s).toLocaleString('en');
  console.log(
    `  ${name.padEnd(44)} ${rate(seconds).padStart(10)} points/s wall, ${rate(cpuSeconds).padStart(10)} per CPU-second (${THROUGHPUT_POINTS.toLocaleString('en')} points, ${keys} keys, ${scores} scores, ${episodes} episode events)`,
  );
}

console.log('\nthroughput, in process (one core)');
throughput('last 60 (the default alertAt)', {
  window: { points: 60 },
  minSamples: 20,
  alertAt: ANOMALY_DEFAULTS.alertAt,
});
throughput('last 500', { window: { points: 500 }, minSamples: 30 });
throughput('duration 1h (60 points per key)', { window: { duration: '1h' }, minSamples: 20 });
throughput('median/MAD, last 60', { window: { points: 60 }, minSamples: 20, center: 'median' });
throughput('median/MAD, last 500', { window: { points: 500 }, minSamples: 30, center: 'median' });
throughput('log scale, last 500', { window: { points: 500 }, minSamples: 30, transform: 'log' });
throughput('hour-of-day seasons, last 14 per season', {
  window: { points: 14 },
  minSamples: 7,
  seasonality: 'hourOfDay',
  stateTtl: '30d',
});

console.log('\nF1 on spikes / level shifts, alerts per 10k on noise, by setting:');
for (const [name, s] of results)
  console.log(`  ${name.padEnd(62)} ${s.spike?.toFixed(3)} / ${s['level shift']?.toFixed(3)} / ${s.noise?.toFixed(2)}`);
