// `bv jobs deploy lakehouse/src/jobs/gold-telemetry.ts`: lands the device telemetry job's output in gold.device_*.
import { GOLD_TELEMETRY_VIEWS, goldTelemetryJob } from '../layers/gold-telemetry.js';
import { lakeSystem } from '../sink/lake-sink.js';

export default goldTelemetryJob({
  lake: lakeSystem({ views: GOLD_TELEMETRY_VIEWS }),
  ...(process.env.BV_GOLD_TELEMETRY_JOB ? { name: process.env.BV_GOLD_TELEMETRY_JOB } : {}),
});
