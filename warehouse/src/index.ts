export { describeTable } from './comments.js';
export {
  CORRECTION_EVENT_TYPE,
  CORRECTIONS_TOPIC,
  CorrectionPublisher,
  type OrderFactCorrected,
  type PeriodCorrection,
} from './corrections.js';
export { installWarehouseLineage, SqlColumnLineage, warehouseColumnLineage } from './lineage.js';
export { memberKeySql, versionKeySql } from './models.js';
export * from './sql/index.js';
export {
  INFERRED_VALID_FROM,
  OPEN_VALID_TO,
  UNKNOWN_KEY,
  type WarehouseTables,
  warehouseInputs,
  warehouseTables,
} from './tables.js';
export {
  type BuildRecord,
  Warehouse,
  type WarehouseOptions,
  type WarehouseReport,
  type WarehouseStatus,
} from './warehouse.js';
