import { ANALYTICS_TOPICS } from '@bitvelocity/core';
import { ANOMALY_DEFAULTS, aggregates, count, defineJob, hopping, jsonRecords, kafkaSink, sum } from '../index.js';
import { eventTime, type OrderAmount } from './model.js';

/** Revenue per currency over 5 minutes, every minute (hopping), and z-score anomalies on order amounts. */
export default defineJob({
  name: 'revenue',
  description: 'Revenue per currency, 5-minute windows every minute; anomalous order amounts',
  build: (job) => {
    const amounts = job
      .source(
        jsonRecords<OrderAmount>({
          topics: [ANALYTICS_TOPICS.orderAmounts],
          maxOutOfOrderness: '10s',
          // The dashboard reads these windows live: a quiet stream's last windows close on the clock (docs/streams.md).
          idleWatermark: 'wall-clock',
          eventTime,
          eventId: (o) => o.eventId,
        }),
      )
      .keyBy((o) => o.currency, { partitioning: 'co-partitioned' });
    amounts
      .window(
        hopping({ size: '5m', slide: '1m' }),
        aggregates({ orders: count<OrderAmount>(), revenueCents: sum<OrderAmount>((o) => o.amountCents) }),
        { allowedLateness: '5m' },
      )
      .to(kafkaSink(ANALYTICS_TOPICS.revenue5m));
    // Settings chosen with bench/anomalies.ts (docs/anomalies.md): order amounts are heavy-tailed, so they are scored
    // on a log scale (the median/MAD detector raised more false alerts on them and is 10x slower); 200 orders, as 500
    // adapted too slowly to a level shift. Episodes are the alerts, every score lands in Gold.
    const anomalies = amounts.zScore({
      metric: 'order_amount_cents',
      value: (o) => o.amountCents,
      window: { points: 200 },
      minSamples: 30,
      alertAt: ANOMALY_DEFAULTS.alertAt,
      transform: 'log',
      closeAfter: '5m',
    });
    anomalies.to(kafkaSink(ANALYTICS_TOPICS.anomalies, { key: (a) => `${a.metric}:${a.key}` }));
    anomalies.scores().to(kafkaSink(ANALYTICS_TOPICS.anomalyScores, { key: (a) => `${a.metric}:${a.key}` }));
  },
});
