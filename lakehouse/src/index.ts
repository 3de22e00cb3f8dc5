export { isCommitConflict, retryOnConflict } from './conflicts.js';
export { DuckDb, type DuckDbOptions, type SqlParams, sqlLiteral } from './duckdb.js';
export { type LakeOptions, openLake } from './lake.js';
export { BRONZE_ENVELOPES, type BronzeJobOptions, bronzeJob, bronzeRow } from './layers/bronze.js';
export { type SilverBatchReport, type SilverOptions, SilverRefresher } from './layers/silver.js';
export { multiplyDecimal, type SilverTables, silverRowsOf, silverTables } from './layers/silver-tables.js';
export { LakeSystem, type LakeSystemOptions, lakeSystem } from './sink/lake-sink.js';
export {
  type LakeCommitContext,
  type LakeRow,
  type LakeTarget,
  LakeWriter,
  offsetsTableOf,
} from './sink/lake-writer.js';
export { ensureTable, type LakeColumn, type LakeColumnType, type LakeTable, qualifiedName } from './tables.js';
export { StagingTables } from './staging.js';
