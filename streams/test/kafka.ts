// Kafka helpers of the streams specs: the generic ones from the shared test kit, readAll from the streams' own.
export { createTopic, produce, type TestRecord, waitFor } from '@bitvelocity/infra/testing';
export { readAll } from '../src/testing.js';
