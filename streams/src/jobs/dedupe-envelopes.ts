import { AGGREGATE_TOPICS, dedupedTopicOf } from '@bitvelocity/core';
import { defineJob, envelopes, kafkaSink } from '../index.js';

/**
 * CDC delivers at least once (a Connect crash re-sends events with the same eventId). This job writes each envelope
 * topic's events once to `<topic>.deduped`, exactly once, keyed as before (aggregate id).
 */
export default defineJob({
  name: 'dedupe-envelopes',
  description: 'Every envelope topic, deduplicated by eventId (24 h), to <topic>.deduped',
  build: (job) => {
    for (const topic of AGGREGATE_TOPICS) {
      job
        .source(envelopes({ topics: [topic], maxOutOfOrderness: '1m' }))
        .dedupe({ ttl: '24h' })
        .to(kafkaSink(dedupedTopicOf(topic)));
    }
  },
});
