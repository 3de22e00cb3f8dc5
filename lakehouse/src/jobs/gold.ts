// `bv jobs deploy lakehouse/src/jobs/gold.ts`: lands the platform jobs' window results and anomalies in gold.*.
import { GOLD_VIEWS, goldJob } from '../layers/gold.js';
import { lakeSystem } from '../sink/lake-sink.js';

export default goldJob({
  lake: lakeSystem({ views: GOLD_VIEWS }),
  ...(process.env.BV_GOLD_JOB ? { name: process.env.BV_GOLD_JOB } : {}),
});
