import { ANALYTICS_TOPICS, fromCents } from '@bitvelocity/core';
import {
  type AnomalyEpisode,
  type AnomalyScore,
  defineJob,
  type JobDefinition,
  jsonRecords,
  type StreamRecord,
  type WindowResult,
} from '@bitvelocity/streams';
import type { LakeSystem } from '../sink/lake-sink.js';
import type { LakeCommitContext } from '../sink/lake-writer.js';
import type { LakeColumn, LakeTable, LakeView } from '../tables.js';

/** Where a Gold row came from on Kafka, and when it landed. */
export const SOURCE: LakeColumn[] = [
  { name: '_source_topic', type: 'VARCHAR', description: 'Kafka topic the row was landed from' },
  { name: '_source_partition', type: 'INTEGER', description: 'Kafka partition the row was landed from' },
  { name: '_source_offset', type: 'BIGINT', description: 'Kafka offset the row was landed from' },
  { name: '_landed_at', type: 'TIMESTAMP WITH TIME ZONE', description: 'When the lake commit that landed it began' },
];

export const WINDOW: LakeColumn[] = [
  { name: 'window_start', type: 'TIMESTAMP WITH TIME ZONE', description: 'Start of the window (inclusive)' },
  { name: 'window_end', type: 'TIMESTAMP WITH TIME ZONE', description: 'End of the window (exclusive)' },
  {
    name: 'revision',
    type: 'INTEGER',
    description: '0 for the on-time result; a late event within the allowed lateness lands the next revision',
  },
  {
    name: 'epoch',
    type: 'INTEGER',
    description:
      "The producing job's reprocessing epoch (one more at each bv jobs reset; 0 before, null in rows landed before epochs existed); a window's versions are ordered by (epoch, revision)",
  },
];

const revisions = (name: string, description: string, columns: LakeColumn[]): LakeTable => ({
  schema: 'gold',
  name: `${name}_revisions`,
  description,
  columns: [...columns, ...WINDOW, ...SOURCE],
  partitionedBy: ['year(window_start)', 'month(window_start)'],
});

export const GOLD_TABLES = {
  ordersPerProductMinute: revisions('orders_per_product_1m', 'Orders and units per product per minute (tumbling)', [
    { name: 'product_id', type: 'VARCHAR' },
    { name: 'orders', type: 'BIGINT' },
    { name: 'units', type: 'BIGINT' },
  ]),
  revenue5m: revisions('revenue_5m', 'Revenue per currency over 5 minutes, every minute (hopping)', [
    { name: 'currency', type: 'VARCHAR' },
    { name: 'orders', type: 'BIGINT' },
    { name: 'revenue', type: 'DECIMAL(18,2)' },
  ]),
  customerSessions: revisions('customer_sessions', 'Customer sessions (30-minute gap) with events and orders', [
    { name: 'customer_id', type: 'VARCHAR' },
    { name: 'events', type: 'BIGINT' },
    { name: 'orders', type: 'BIGINT' },
    {
      name: 'retracted',
      type: 'BOOLEAN',
      description:
        'true on a retraction: the session was merged into another (events and orders are null); the view drops it',
    },
  ]),
  anomalies: {
    schema: 'gold',
    name: 'anomalies',
    description:
      'Anomalous points of the rolling z-score detectors: the value, the window center and spread, the raw z, the calibrated score and the triggering event',
    columns: [
      { name: 'metric', type: 'VARCHAR' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'value', type: 'DOUBLE' },
      { name: 'mean', type: 'DOUBLE' },
      { name: 'stddev', type: 'DOUBLE' },
      { name: 'score', type: 'DOUBLE' },
      { name: 'samples', type: 'INTEGER' },
      { name: 'event_id', type: 'VARCHAR' },
      { name: 'event_time', type: 'TIMESTAMP WITH TIME ZONE' },
      ...SOURCE,
      { name: 'calibrated', type: 'DOUBLE', description: 'In [0, 1]: 1 minus the two-sided Student-t tail of the z' },
      {
        name: 'reason',
        type: 'VARCHAR',
        description: "'z' or 'zero_spread' (a value unlike a window of equal values)",
      },
      { name: 'episode_id', type: 'VARCHAR' },
    ],
    partitionedBy: ['year(event_time)', 'month(event_time)'],
  },
  anomalyScores: {
    schema: 'gold',
    name: 'anomaly_scores',
    description: 'Every point the z-score detectors scored: raw z, calibrated score, whether it was anomalous and why',
    columns: [
      { name: 'metric', type: 'VARCHAR' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'value', type: 'DOUBLE' },
      { name: 'mean', type: 'DOUBLE', description: 'The window center (the median with the robust detector)' },
      { name: 'stddev', type: 'DOUBLE', description: 'The window spread (MAD x 1.4826 with the robust detector)' },
      { name: 'score', type: 'DOUBLE', description: 'The raw z; +/-infinity for a zero-spread anomaly' },
      { name: 'calibrated', type: 'DOUBLE', description: 'In [0, 1]: 1 minus the two-sided Student-t tail of the z' },
      { name: 'samples', type: 'INTEGER' },
      { name: 'anomalous', type: 'BOOLEAN' },
      { name: 'reason', type: 'VARCHAR' },
      {
        name: 'season',
        type: 'INTEGER',
        description: 'Hour of day (0-23) or of week (0-167, from Monday) with seasonality',
      },
      { name: 'episode_id', type: 'VARCHAR' },
      { name: 'event_id', type: 'VARCHAR' },
      { name: 'event_time', type: 'TIMESTAMP WITH TIME ZONE' },
      ...SOURCE,
    ],
    partitionedBy: ['year(event_time)', 'month(event_time)'],
  },
  anomalyEpisodes: {
    schema: 'gold',
    name: 'anomaly_episode_events',
    description:
      "Anomaly episodes (the alerts): an 'open' row when one starts and a 'closed' row with its final peak, end and points",
    columns: [
      { name: 'episode_id', type: 'VARCHAR' },
      { name: 'status', type: 'VARCHAR' },
      { name: 'metric', type: 'VARCHAR' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'start_time', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'end_time', type: 'TIMESTAMP WITH TIME ZONE', description: 'The latest anomalous point' },
      { name: 'points', type: 'INTEGER', description: 'Anomalous points in the episode' },
      { name: 'peak_calibrated', type: 'DOUBLE' },
      { name: 'peak_score', type: 'DOUBLE', description: 'The peak raw z; +/-infinity for a zero-spread peak' },
      { name: 'peak_value', type: 'DOUBLE' },
      { name: 'peak_at', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'reason', type: 'VARCHAR' },
      { name: 'event_id', type: 'VARCHAR', description: 'The event that opened the episode' },
      ...SOURCE,
    ],
    partitionedBy: ['year(start_time)', 'month(start_time)'],
  },
} satisfies Record<string, LakeTable>;

/** What dashboards and analysts read: the latest revision of each window. */
export const GOLD_VIEWS: LakeView[] = [
  latest('orders_per_product_1m', ['product_id', 'window_start']),
  latest('revenue_5m', ['currency', 'window_start']),
  latest('customer_sessions', ['customer_id', 'window_start'], { retractions: true }),
  {
    schema: 'gold',
    name: 'anomaly_episodes',
    // One row per episode: the closed row once there is one, the open row until then.
    sql: `SELECT * EXCLUDE (_source_topic, _source_partition, _source_offset) FROM gold.anomaly_episode_events
          QUALIFY row_number() OVER (PARTITION BY episode_id ORDER BY (status = 'closed') DESC, _source_offset DESC) = 1`,
  },
];

/**
 * The latest version of each window: the highest revision of the latest reprocessing epoch. With `retractions`, a window whose latest revision is a retraction (a session
 * merged into another) is left out, so the view holds exactly the sessions that exist.
 */
export function latest(name: string, key: string[], options: { retractions?: boolean } = {}): LakeView {
  const excluded = [
    '_source_topic',
    '_source_partition',
    '_source_offset',
    ...(options.retractions ? ['retracted'] : []),
  ];
  const live = options.retractions ? ' AND retracted IS NOT TRUE' : '';
  return {
    schema: 'gold',
    name,
    sql: `SELECT * EXCLUDE (${excluded.join(', ')}) FROM gold.${name}_revisions
          QUALIFY row_number() OVER (PARTITION BY ${key.join(', ')} ORDER BY coalesce(epoch, 0) DESC, revision DESC, _source_offset DESC) = 1${live}`,
  };
}

export const source = (record: StreamRecord<unknown>, context: LakeCommitContext) => ({
  _source_topic: record.origin.topic,
  _source_partition: record.origin.partition,
  _source_offset: record.origin.offset,
  _landed_at: context.committedAt,
});

export const window = (w: { windowStart: string; windowEnd: string; revision: number; epoch?: number }) => ({
  window_start: w.windowStart,
  window_end: w.windowEnd,
  revision: w.revision,
  epoch: w.epoch ?? 0,
});

export interface GoldJobOptions {
  lake: LakeSystem;
  name?: string;
  topics?: Partial<
    Record<'ordersPerProductMinute' | 'revenue5m' | 'customerSessions' | 'anomalies' | 'anomalyScores', string>
  >;
}

/** The stream job that lands the platform jobs' window results and anomalies in Gold, exactly once. */
export function goldJob(options: GoldJobOptions): JobDefinition {
  const topics = {
    ordersPerProductMinute: ANALYTICS_TOPICS.ordersPerProductMinute,
    revenue5m: ANALYTICS_TOPICS.revenue5m,
    customerSessions: ANALYTICS_TOPICS.customerSessions,
    anomalies: ANALYTICS_TOPICS.anomalies,
    anomalyScores: ANALYTICS_TOPICS.anomalyScores,
    ...options.topics,
  };
  const json = <T>(topic: string) => jsonRecords<T>({ topics: [topic], maxOutOfOrderness: 0, idleTimeout: 0 });
  const { lake } = options;
  return defineJob({
    name: options.name ?? 'lake-gold',
    description: 'Lands window aggregates and anomalies in gold.*, exactly once',
    maxBatchWait: '500ms',
    build: (job) => {
      job.source(json<WindowResult<{ orders: number; units: number }>>(topics.ordersPerProductMinute)).to(
        lake.sink(GOLD_TABLES.ordersPerProductMinute, (r, c) => ({
          product_id: r.value.key,
          orders: r.value.result.orders,
          units: r.value.result.units,
          ...window(r.value),
          ...source(r, c),
        })),
      );
      job.source(json<WindowResult<{ orders: number; revenueCents: number }>>(topics.revenue5m)).to(
        lake.sink(GOLD_TABLES.revenue5m, (r, c) => ({
          currency: r.value.key,
          orders: r.value.result.orders,
          revenue: fromCents(r.value.result.revenueCents),
          ...window(r.value),
          ...source(r, c),
        })),
      );
      job.source(json<WindowResult<{ events: number; orders: number }>>(topics.customerSessions)).to(
        lake.sink(GOLD_TABLES.customerSessions, (r, c) => ({
          customer_id: r.value.key,
          // A retraction lands as a row of its own (the revisions table is append-only); the view applies it.
          events: r.value.retracted ? null : r.value.result.events,
          orders: r.value.retracted ? null : r.value.result.orders,
          retracted: r.value.retracted === true,
          ...window(r.value),
          ...source(r, c),
        })),
      );
      // The anomalies topic carries episodes; records written before episodes existed are anomalous points.
      const alerts = job.source(json<AnomalyEpisode | LegacyAnomaly>(topics.anomalies));
      alerts.filter(isEpisode).to(
        lake.sink(GOLD_TABLES.anomalyEpisodes, (r, c) => {
          const e = r.value as AnomalyEpisode;
          return {
            episode_id: e.episodeId,
            status: e.status,
            metric: e.metric,
            key: e.key,
            start_time: e.start,
            end_time: e.end,
            points: e.points,
            peak_calibrated: e.peakCalibrated,
            peak_score: e.peakScore ?? infinite(e.peakDirection),
            peak_value: e.peakValue,
            peak_at: e.peakAt,
            reason: e.reason,
            event_id: e.eventId,
            ...source(r, c),
          };
        }),
      );
      alerts
        .filter((a) => !isEpisode(a))
        .to(lake.sink<AnomalyEpisode | LegacyAnomaly>(GOLD_TABLES.anomalies, anomalyRow));
      const scores = job.source(json<AnomalyScore>(topics.anomalyScores));
      scores.to(
        lake.sink(GOLD_TABLES.anomalyScores, (r, c) => ({
          metric: r.value.metric,
          key: r.value.key,
          value: r.value.value,
          mean: r.value.mean,
          stddev: r.value.stddev,
          score: r.value.score ?? infinite(r.value.direction),
          calibrated: r.value.calibrated,
          samples: r.value.samples,
          anomalous: r.value.anomalous,
          reason: r.value.reason,
          season: r.value.season,
          episode_id: r.value.episodeId,
          event_id: r.value.eventId,
          event_time: r.value.eventTime,
          ...source(r, c),
        })),
      );
      // The anomalous points, where they always landed.
      // (One row function per table: both sinks of gold.anomalies share it.)
      scores.filter((s) => s.anomalous).to(lake.sink<AnomalyScore>(GOLD_TABLES.anomalies, anomalyRow));
    },
  });
}

/** A per-point anomaly as the anomalies topic carried it before episodes (and as the scores topic still does). */
type LegacyAnomaly = Pick<
  AnomalyScore,
  'metric' | 'key' | 'value' | 'mean' | 'stddev' | 'score' | 'samples' | 'eventId' | 'eventTime'
> &
  Partial<Pick<AnomalyScore, 'calibrated' | 'reason' | 'episodeId' | 'direction'>>;

const isEpisode = (value: AnomalyEpisode | LegacyAnomaly): boolean =>
  (value as AnomalyEpisode).kind === 'anomaly_episode';

/** JSON has no infinity: a zero-spread z arrives as null with its direction. */
export const infinite = (direction: number | undefined) =>
  direction === undefined || direction === 0 ? null : direction * Number.POSITIVE_INFINITY;

function anomalyRow(r: StreamRecord<unknown>, c: LakeCommitContext) {
  const a = r.value as LegacyAnomaly;
  return {
    metric: a.metric,
    key: a.key,
    value: a.value,
    mean: a.mean,
    stddev: a.stddev,
    score: a.score ?? infinite(a.direction),
    samples: a.samples,
    event_id: a.eventId,
    event_time: a.eventTime,
    calibrated: a.calibrated ?? null,
    reason: a.reason ?? 'z',
    episode_id: a.episodeId ?? null,
    ...source(r, c),
  };
}
