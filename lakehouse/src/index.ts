export { retryOnConflict } from './conflicts.js';
export { DuckDb, type SqlParams, sqlLiteral } from './duckdb.js';
export { openLake } from './lake.js';
export { BRONZE_ENVELOPES, bronzeJob, bronzeRow } from './layers/bronze.js';
export { GOLD_TABLES, GOLD_VIEWS, goldJob } from './layers/gold.js';
export { GOLD_TELEMETRY_TABLES, GOLD_TELEMETRY_VIEWS, goldTelemetryJob } from './layers/gold-telemetry.js';
export { type SilverBatchReport, SilverRefresher } from './layers/silver.js';
export { type SilverTables, silverRowsOf, silverTables } from './layers/silver-tables.js';
export {
  HELD_FACET,
  installTransformLineage,
  type LineageSubscription,
  type TransformLineageOptions,
  transformJobName,
} from './lineage.js';
export { quoteIdentifier } from './maintenance/catalog.js';
export { compact } from './maintenance/compact.js';
export { expireSnapshots } from './maintenance/expire.js';
export { listSnapshots, listTables } from './maintenance/inspect.js';
export { applyRetention } from './maintenance/retention.js';
export { lakeSystem } from './sink/lake-sink.js';
export { type LakeRow, offsetsTableOf } from './sink/lake-writer.js';
export { StagingTables } from './staging.js';
export {
  describeTable,
  ensureTable,
  ensureView,
  type LakeColumn,
  type LakeColumnType,
  type LakeTable,
  qualifiedName,
} from './tables.js';
export type {
  LakeTransform,
  PendingIncrement,
  PublishHook,
  TransformContext,
  TransformLag,
  TransformReport,
} from './transform/contract.js';
export { transformJob } from './transform/job.js';
export { followTransform, rebuildTransform, runIncrement, runUntilCaughtUp } from './transform/runner.js';
