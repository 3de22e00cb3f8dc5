import { ANALYTICS_TOPICS } from '@bitvelocity/core';
import {
  type Anomaly,
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
const SOURCE: LakeColumn[] = [
  { name: '_source_topic', type: 'VARCHAR' },
  { name: '_source_partition', type: 'INTEGER' },
  { name: '_source_offset', type: 'BIGINT' },
  { name: '_landed_at', type: 'TIMESTAMP WITH TIME ZONE' },
];

const WINDOW: LakeColumn[] = [
  { name: 'window_start', type: 'TIMESTAMP WITH TIME ZONE' },
  { name: 'window_end', type: 'TIMESTAMP WITH TIME ZONE' },
  {
    name: 'revision',
    type: 'INTEGER',
    description: '0 for the on-time result; a late event within the allowed lateness lands the next revision',
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
  ]),
  anomalies: {
    schema: 'gold',
    name: 'anomalies',
    description: 'Rolling z-score anomalies: the value, the window mean and stddev, the score and the triggering event',
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
    ],
    partitionedBy: ['year(event_time)', 'month(event_time)'],
  },
} satisfies Record<string, LakeTable>;

/** What dashboards and analysts read: the latest revision of each window. */
export const GOLD_VIEWS: LakeView[] = [
  latest('orders_per_product_1m', ['product_id', 'window_start']),
  latest('revenue_5m', ['currency', 'window_start']),
  latest('customer_sessions', ['customer_id', 'window_start']),
];

function latest(name: string, key: string[]): LakeView {
  return {
    schema: 'gold',
    name,
    sql: `SELECT * EXCLUDE (_source_topic, _source_partition, _source_offset) FROM gold.${name}_revisions
          QUALIFY row_number() OVER (PARTITION BY ${key.join(', ')} ORDER BY revision DESC, _source_offset DESC) = 1`,
  };
}

const source = (record: StreamRecord<unknown>, context: LakeCommitContext) => ({
  _source_topic: record.origin.topic,
  _source_partition: record.origin.partition,
  _source_offset: record.origin.offset,
  _landed_at: context.committedAt,
});

const window = (w: WindowResult<unknown>) => ({
  window_start: w.windowStart,
  window_end: w.windowEnd,
  revision: w.revision,
});

const cents = (value: number) => (value / 100).toFixed(2);

export interface GoldJobOptions {
  lake: LakeSystem;
  name?: string;
  topics?: Partial<Record<'ordersPerProductMinute' | 'revenue5m' | 'customerSessions' | 'anomalies', string>>;
}

/** The stream job that lands the platform jobs' window results and anomalies in Gold, exactly once. */
export function goldJob(options: GoldJobOptions): JobDefinition {
  const topics = {
    ordersPerProductMinute: ANALYTICS_TOPICS.ordersPerProductMinute,
    revenue5m: ANALYTICS_TOPICS.revenue5m,
    customerSessions: ANALYTICS_TOPICS.customerSessions,
    anomalies: ANALYTICS_TOPICS.anomalies,
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
          revenue: cents(r.value.result.revenueCents),
          ...window(r.value),
          ...source(r, c),
        })),
      );
      job.source(json<WindowResult<{ events: number; orders: number }>>(topics.customerSessions)).to(
        lake.sink(GOLD_TABLES.customerSessions, (r, c) => ({
          customer_id: r.value.key,
          events: r.value.result.events,
          orders: r.value.result.orders,
          ...window(r.value),
          ...source(r, c),
        })),
      );
      job.source(json<Anomaly>(topics.anomalies)).to(
        lake.sink(GOLD_TABLES.anomalies, (r, c) => ({
          metric: r.value.metric,
          key: r.value.key,
          value: r.value.value,
          mean: r.value.mean,
          stddev: r.value.stddev,
          score: r.value.score,
          samples: r.value.samples,
          event_id: r.value.eventId,
          event_time: r.value.eventTime,
          ...source(r, c),
        })),
      );
    },
  });
}
