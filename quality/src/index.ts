export {
  type Expectation,
  type ExpectationSuite,
  type GxExpectationResult,
  type GxRequest,
  type GxValidationResult,
  runGreatExpectations,
} from './gx.js';
