/** The Kafka topics the platform's aggregates publish to: one per aggregate, named like the outbox aggregate_type. */
export const AGGREGATE_TOPICS = ['ecommerce.product', 'ecommerce.customer', 'ecommerce.order'] as const;
export type AggregateTopic = (typeof AGGREGATE_TOPICS)[number];

/** Partitions of each aggregate topic as provisioned: the most workers a job reading one can use. */
export const PLATFORM_TOPIC_PARTITIONS = 6;

/**
 * Device telemetry: `iot.device.reading.v1` from the MQTT bridge and the HTTP batch endpoint, and the devices'
 * registrations and updates, keyed by `<tenantId>:<deviceId>` so one device's events stay in order on one partition.
 */
export const TELEMETRY_TOPIC = 'iot.device';

/**
 * The dead-letter topic convention every consumer shares: records a job cannot decode or validate go to
 * `<topic>.dlq` with the reason and their source coordinates in headers, never dropped.
 */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}.dlq`;
}

/** Topics the platform's stream jobs write (DESIGN: streams). */
export const ANALYTICS_TOPICS = {
  /** One record per order line of a created order, keyed by productId. */
  orderLines: 'analytics.order_lines',
  /** One record per created order with its amount in cents, keyed by currency. */
  orderAmounts: 'analytics.order_amounts',
  /** Order and profile events per customer, keyed by customerId. */
  customerActivity: 'analytics.customer_activity',
  ordersPerProductMinute: 'analytics.orders_per_product_1m',
  revenue5m: 'analytics.revenue_5m',
  customerSessions: 'analytics.customer_sessions',
  /** Anomaly episodes (the alerts): an `open` and a `closed` event per episode, keyed by `<metric>:<key>`. */
  anomalies: 'analytics.anomalies',
  /** Every point the z-score detectors scored (raw z, calibrated score, episode), keyed by `<metric>:<key>`. */
  anomalyScores: 'analytics.anomaly_scores',
  /** Per-device 1-minute aggregates of each metric (min, max, mean, count), keyed by `<tenantId>:<deviceId>`. */
  deviceReadings1m: 'analytics.device_readings_1m',
  /** Per-device anomaly episodes (an `open` and a `closed` event each) with the device's context. */
  deviceAnomalies: 'analytics.device_anomalies',
  /** A device went silent (no reading for its configured time, by the watermark) or came back. */
  deviceSilence: 'analytics.device_silence',
} as const;

/** The deduplicated copy of an envelope topic. */
export const dedupedTopicOf = (topic: string) => `${topic}.deduped`;
