export { retryOnConflict } from './conflicts.js';
export { DuckDb, type DuckDbOptions, type SqlParams, sqlLiteral } from './duckdb.js';
export { type LakeOptions, openLake } from './lake.js';
export { BRONZE_ENVELOPES, type BronzeJobOptions, bronzeJob, bronzeRow } from './layers/bronze.js';
export { GOLD_TABLES, GOLD_VIEWS, type GoldJobOptions, goldJob } from './layers/gold.js';
export { type SilverBatchReport, type SilverOptions, SilverRefresher } from './layers/silver.js';
export { multiplyDecimal, type SilverTables, silverTables } from './layers/silver-tables.js';
export {
  HELD_FACET,
  installTransformLineage,
  type LineageSubscription,
  type TransformLineageOptions,
  transformJobName,
} from './lineage.js';
export {
  DEFAULT_FILE_GRACE_MS,
  LAKE_LAYERS,
  LakeError,
  type LakeLayer,
  quoteIdentifier,
} from './maintenance/catalog.js';
export { type CompactionReport, compact, type TableCompaction } from './maintenance/compact.js';
export { type ExpiryReport, expireSnapshots } from './maintenance/expire.js';
export { type LakeSnapshot, type LakeTableInfo, listSnapshots, listTables } from './maintenance/inspect.js';
export {
  applyRetention,
  type LayerRetention,
  type RetentionPolicy,
  type RetentionReport,
  type RetentionSkip,
  type TableRetention,
} from './maintenance/retention.js';
export { LakeSystem, type LakeSystemOptions, lakeSystem } from './sink/lake-sink.js';
export {
  type LakeCommitContext,
  type LakeRow,
  type LakeTarget,
  offsetsTableOf,
} from './sink/lake-writer.js';
export { StagingTables } from './staging.js';
export {
  ensureTable,
  ensureView,
  type LakeColumn,
  type LakeColumnType,
  type LakeTable,
  type LakeView,
  qualifiedName,
} from './tables.js';
export type {
  LakeTransform,
  PendingIncrement,
  PublishHook,
  PublishVerdict,
  TransformContext,
  TransformLag,
  TransformReport,
} from './transform/contract.js';
export { type TransformJobOptions, transformJob } from './transform/job.js';
export {
  type FollowOptions,
  followTransform,
  rebuildTransform,
  runIncrement,
  runUntilCaughtUp,
} from './transform/runner.js';
