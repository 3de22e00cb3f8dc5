export { CorrectionPublisher } from './corrections.js';
export { installWarehouseLineage } from './lineage.js';
export { type ModelName, modelSql } from './models.js';
export { SqlError } from './sql/errors.js';
export { writeParquet } from './sql/parquet.js';
export { renderCsv, renderJson, renderTable } from './sql/render.js';
export { AnalystDatabase, type AnalystDatabaseOptions, AnalystSession, type SqlResult } from './sql/session.js';
export { warehouseTables } from './tables.js';
export { Warehouse, type WarehouseReport } from './warehouse.js';
