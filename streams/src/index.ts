export type { Duration } from './api/duration.js';
export { defineJob, type JobDefinition } from './api/job.js';
export type { RawRecord, StreamRecord } from './api/record.js';
export { incompatibleState, type StateShape, stateShape } from './api/shape.js';
export {
  kafkaSink,
  type PartitionOffset,
  type TransactionalCommit,
  type TransactionalSinkSpec,
  type TransactionalSystem,
  type TransactionalWriter,
} from './api/sinks.js';
export { envelopes, jsonRecords, rawRecords } from './api/sources.js';
export { deployJob, restartJob, stopJob } from './deploy/deploy.js';
export { StreamRunProgress } from './deploy/lineage.js';
export { JobRegistry } from './deploy/registry.js';
export { resetJob } from './deploy/reset.js';
export { type JobStatus, jobStatus, listJobs } from './deploy/status.js';
export { runSupervisor } from './deploy/supervisor.js';
export { defineTransformJob, type TransformJobDefinition, type TransformJobStatus } from './deploy/transform-job.js';
export { runWorkerProcess } from './deploy/worker-process.js';
export { DeadLetterTopics } from './dlq/dead-letters.js';
export { skipOffsets } from './dlq/skip.js';
export type { DeviceAnomalyEpisode, DeviceReadingsMinute, DeviceSilence } from './jobs/model.js';
export { type FetchedPartition, PartitionFetcher, type PartitionPosition } from './kafka/fetcher.js';
export { ensureJobTopics } from './kafka/topics.js';
export { runWorker, type WorkerStatus } from './kafka/worker.js';
export type { KeyedProcessFunction, ProcessContext } from './operators/process.js';
export { aggregates, avg, count, max, min, sum } from './operators/windows/aggregates.js';
export { hopping, session, tumbling } from './operators/windows/assigners.js';
export type { WindowResult } from './operators/windows/result.js';
export { ANOMALY_DEFAULTS, type AnomalyEpisode, type AnomalyScore, type ZScoreOptions } from './operators/zscore.js';
