export { DuckDb, type DuckDbOptions, type SqlParams, sqlLiteral } from './duckdb.js';
export { type LakeOptions, openLake } from './lake.js';
