// `bv jobs deploy lakehouse/src/jobs/bronze.ts`: lands every envelope topic in bronze.envelopes, exactly once.
import { BRONZE_ENVELOPES, bronzeJob } from '../layers/bronze.js';
import { lakeSystem } from '../sink/lake-sink.js';

const topics = process.env.BV_BRONZE_TOPICS?.split(',').filter(Boolean);

export default bronzeJob({
  lake: lakeSystem(),
  ...(topics ? { topics } : {}),
  ...(process.env.BV_BRONZE_JOB ? { name: process.env.BV_BRONZE_JOB } : {}),
  ...(process.env.BV_BRONZE_SCHEMA ? { table: { ...BRONZE_ENVELOPES, schema: process.env.BV_BRONZE_SCHEMA } } : {}),
});
