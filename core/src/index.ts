export type { Logger } from './../../node_modules/pino/pino.d.js';
export { holdsRole, type Principal, ROLES, type Role, TENANT_MAX_LENGTH, tokenClaimsProblem } from './auth.js';
export {
  bvHome,
  type Env,
  loadPlatformConfig,
  type PlatformConfig,
  platformConfigFile,
  postgresUrl,
} from './config.js';
export {
  type CheckpointCommittedEvent,
  diagnostics,
  type JobCrashedEvent,
  type JobKind,
  type JobWorkerEvent,
  type LakeCommitEvent,
  type TransformRunSummary,
  type TransformTableRef,
} from './diagnostics.js';
export { parseDuration } from './duration.js';
export {
  BvError,
  type BvErrorOptions,
  CommandError,
  ConfigError,
  type ErrorCode,
  errorMessage,
  StackError,
} from './errors.js';
export { createEnvelope, type Envelope } from './events/envelope.js';
export { type ReadingIdentity, readingEventId } from './events/reading-id.js';
export { EventSchemaRegistry } from './events/registry.js';
export {
  type CustomerRegisteredPayload,
  type CustomerUpdatedPayload,
  type DeviceReadingPayload,
  type DeviceRegisteredPayload,
  type DeviceUpdatedPayload,
  EVENT_TYPES,
  type EventPayloads,
  type OrderCancelledPayload,
  type OrderCreatedPayload,
  type OrderPaidPayload,
  type OrderShippedPayload,
  type PlatformEventType,
  type ProductCreatedPayload,
  type ProductDeletedPayload,
  type ProductPriceChangedPayload,
  type ProductUpdatedPayload,
} from './events/types.js';
export { type HttpMetricsServer, serveHttpMetrics } from './http-metrics.js';
export { LineageClient } from './lineage/client.js';
export { DEPLOYED_RUN_ENV, deployedRunFromEnv, JobRun, LineageEmitter } from './lineage/emitter.js';
export { inputDataset, newRunId, outputDataset, runEvent } from './lineage/events.js';
export { BV_PRODUCER, facets } from './lineage/facets.js';
export { BV_JOB_NAMESPACE, type DatasetId, datasetNames, lakeCatalogOf } from './lineage/naming.js';
export { FileTransport } from './lineage/transport.js';
export type {
  ColumnLineageDatasetFacet,
  DatasetEvent,
  DatasetFacets,
  InputDataset,
  InputDatasetFacets,
  JobEvent,
  LineageEvent,
  OutputDataset,
  RunEvent,
} from './lineage/types.js';
export { OpenLineageValidator } from './lineage/validate.js';
export { createLogger } from './logger.js';
export { fromCents, multiplyDecimal, toCents } from './money.js';
export { isAlive } from './process.js';
export { retry } from './retry.js';
export {
  AGGREGATE_TOPICS,
  type AggregateTopic,
  ANALYTICS_TOPICS,
  deadLetterTopicOf,
  dedupedTopicOf,
  PLATFORM_TOPIC_PARTITIONS,
  TELEMETRY_TOPIC,
} from './topics.js';
export {
  contextFromTraceparent,
  JsonLinesSpanExporter,
  linksFromTraceparents,
  MAX_TRACE_LINKS,
  readTraceFile,
  type SpanLine,
  spanContextFromTraceparent,
  TRACE_FILE_MAX_BYTES,
  type TraceDestination,
  Tracing,
  type TracingOptions,
  traceDiagnostics,
  traceFileOf,
  traceparentOf,
} from './tracing/index.js';
export { waitFor } from './wait.js';
