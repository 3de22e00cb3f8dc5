import { ANALYTICS_TOPICS } from '@bitvelocity/core';
import { aggregates, count, defineJob, jsonRecords, kafkaSink, session, sum } from '../index.js';
import { type CustomerActivity, eventTime } from './model.js';

/** Customer sessions: activity separated by 30 minutes of silence, with their event and order counts. */
export default defineJob({
  name: 'customer-sessions',
  description: 'Sessions per customer (30-minute gap) with events and orders',
  build: (job) => {
    const sessions = job
      .source(
        jsonRecords<CustomerActivity>({
          topics: [ANALYTICS_TOPICS.customerActivity],
          maxOutOfOrderness: '30s',
          // The dashboard reads these windows live: a quiet stream's last windows close on the clock (docs/streams.md).
          idleWatermark: 'wall-clock',
          eventTime,
          eventId: (a) => a.eventId,
        }),
      )
      .keyBy((a) => a.customerId, { partitioning: 'co-partitioned' })
      .window(
        session({ gap: '30m' }),
        aggregates({ events: count<CustomerActivity>(), orders: sum<CustomerActivity>((a) => (a.isOrder ? 1 : 0)) }),
        { allowedLateness: '10m' },
      );
    sessions.to(kafkaSink(ANALYTICS_TOPICS.customerSessions));
  },
});
