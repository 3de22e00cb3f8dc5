import { ANALYTICS_TOPICS } from '@bitvelocity/core';
import { ANOMALY_DEFAULTS, aggregates, count, defineJob, jsonRecords, kafkaSink, sum, tumbling } from '../index.js';
import { eventTime, type OrderLine } from './model.js';

/** Orders per product per minute (tumbling), and z-score anomalies on each product's per-minute order rate. */
export default defineJob({
  name: 'product-metrics',
  description: 'Orders and units per product per minute; anomalies in a product’s order rate',
  build: (job) => {
    const perMinute = job
      .source(
        jsonRecords<OrderLine>({
          topics: [ANALYTICS_TOPICS.orderLines],
          maxOutOfOrderness: '10s',
          // The dashboard reads these windows live: a quiet stream's last windows close on the clock (docs/streams.md).
          idleWatermark: 'wall-clock',
          eventTime,
          eventId: (l) => l.eventId,
        }),
      )
      .keyBy((line) => line.productId, { partitioning: 'co-partitioned' })
      .window(
        tumbling({ size: '1m' }),
        aggregates({ orders: count<OrderLine>(), units: sum<OrderLine>((l) => l.quantity) }),
        {
          allowedLateness: '5m',
        },
      );
    perMinute.to(kafkaSink(ANALYTICS_TOPICS.ordersPerProductMinute));
    const anomalies = perMinute
      // Only the on-time firing of a minute is a sample of the rate; late updates would count a minute twice.
      .filter((w) => w.revision === 0)
      .keyBy((w) => w.key, { partitioning: 'co-partitioned' })
      // Settings chosen with bench/anomalies.ts (docs/anomalies.md): episodes are the alerts, every score lands in Gold.
      .zScore({
        metric: 'product_orders_per_minute',
        value: (w) => w.result.orders,
        window: { points: 60 },
        minSamples: 20,
        alertAt: ANOMALY_DEFAULTS.alertAt,
        // Order counts: their variance grows with their mean; on the square-root scale a quiet product is not noisy.
        transform: 'sqrt',
        closeAfter: '10m',
      });
    anomalies.to(kafkaSink(ANALYTICS_TOPICS.anomalies, { key: (a) => `${a.metric}:${a.key}` }));
    anomalies.scores().to(kafkaSink(ANALYTICS_TOPICS.anomalyScores, { key: (a) => `${a.metric}:${a.key}` }));
  },
});
