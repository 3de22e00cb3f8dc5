export {
  type AlertSink,
  GATE_FAILED_EVENT,
  type GateFailedPayload,
  gateFailedEvent,
  kafkaAlerts,
  QUALITY_ALERTS_TOPIC,
} from './alerts.js';
export { EXPECTATION_TYPES, type ExpectationType, SEVERITIES, type Severity } from './catalog.js';
export { runWithGx } from './engines.js';
export { type GateCheck, type QualityGateOptions, qualityGate, releaseBatch } from './gate.js';
export {
  type GatedLayer,
  gateSuites,
  gatesEnabled,
  type LayerGateOptions,
  layerGate,
  qualitySchema,
} from './gates.js';
export {
  type Expectation,
  type ExpectationSuite,
  type GxExpectationResult,
  type GxRequest,
  type GxValidationResult,
  runGreatExpectations,
} from './gx.js';
export {
  closeQualityLineage,
  type DataQualityAssertionsFacet,
  type DataQualityMetricsFacet,
  qualityFacets,
  reportQualityRun,
} from './lineage.js';
export {
  type ColumnMetrics,
  computeMetrics,
  DEFAULT_THRESHOLDS,
  QualityPrometheus,
  type QualityThresholds,
  type TableMetrics,
} from './metrics.js';
export {
  type ExpectationResult,
  jsonable,
  type NativeRunOptions,
  newRunId,
  runNative,
  type SuiteRun,
  unexpectedRowsSql,
} from './native.js';
export { type QualityReport, qualityReport } from './report.js';
export {
  ensureQualityStore,
  type HeldBatch,
  type QualityTables,
  qualityTables,
  recordRun,
} from './store.js';
export {
  loadSuiteFile,
  loadSuites,
  parseSuite,
  type QualitySuite,
  SUITES_DIR,
  type SuiteExpectation,
  type SuiteMeta,
  suiteForTable,
} from './suite.js';
