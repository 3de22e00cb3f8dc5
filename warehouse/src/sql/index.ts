export {
  CATALOG_READER_ROLE,
  type CatalogReader,
  catalogReaderPassword,
  ensureCatalogReader,
} from './catalog-reader.js';
export { classifyEngineError, SqlError } from './errors.js';
export { writeParquet } from './parquet.js';
export { displayText, jsonValue, renderCsv, renderJson, renderTable } from './render.js';
export {
  ANALYST_SCHEMAS,
  type AnalystColumn,
  AnalystDatabase,
  type AnalystDatabaseOptions,
  type AnalystRelation,
  AnalystSession,
  DEFAULT_ROW_LIMIT,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  type RunOptions,
  type SqlColumn,
  type SqlResult,
} from './session.js';
