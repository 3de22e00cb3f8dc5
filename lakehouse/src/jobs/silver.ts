// `bv jobs deploy lakehouse/src/jobs/silver.ts`: keeps Silver fresh from Bronze, supervised and restarted on a crash.
import { BRONZE_ENVELOPES } from '../layers/bronze.js';
import { SilverRefresher } from '../layers/silver.js';
import { silverTables } from '../layers/silver-tables.js';
import { transformJob } from '../transform/job.js';

const env = process.env;
const maxBatchRows = env.BV_SILVER_MAX_BATCH_ROWS ? Number(env.BV_SILVER_MAX_BATCH_ROWS) : undefined;

export default transformJob({
  name: env.BV_SILVER_JOB ?? 'silver',
  description: 'Silver from Bronze: typed, deduplicated, invalid rows quarantined',
  intervalMs: 300,
  // Silver's quality gate (quality/suites/silver; BV_QUALITY_GATES=off turns it off). Imported when the job starts:
  // the quality package builds on this one, so the lakehouse library itself does not depend on it.
  beforePublish: async (lake) => {
    const { layerGate } = await import('@bitvelocity/quality');
    return layerGate(lake, 'silver');
  },
  create: (lake) =>
    SilverRefresher.create(lake, {
      ...(env.BV_SILVER_JOB ? { name: env.BV_SILVER_JOB } : {}),
      ...(env.BV_BRONZE_SCHEMA ? { bronze: { ...BRONZE_ENVELOPES, schema: env.BV_BRONZE_SCHEMA } } : {}),
      ...(env.BV_SILVER_SCHEMA ? { tables: silverTables(env.BV_SILVER_SCHEMA) } : {}),
      ...(maxBatchRows ? { maxBatchRows } : {}),
    }),
});
