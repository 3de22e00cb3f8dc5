export { EXPECTATION_TYPES, type ExpectationType, SEVERITIES, type Severity } from './catalog.js';
export {
  type Expectation,
  type ExpectationSuite,
  type GxExpectationResult,
  type GxRequest,
  type GxValidationResult,
  runGreatExpectations,
} from './gx.js';
export {
  type ExpectationResult,
  jsonable,
  type NativeRunOptions,
  newRunId,
  runNative,
  type SuiteRun,
  unexpectedRowsSql,
} from './native.js';
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
