export { backwardCompatibilityProblems, type CompatibilityProblem } from './compatibility.js';
export { createEnvelope, type Envelope, type EventTypeName, type NewEnvelope, parseEventType } from './envelope.js';
export {
  EventSchemaRegistry,
  type JsonSchema,
  type SchemaViolation,
  type ValidationOutcome,
} from './registry.js';
export * from './types.js';
