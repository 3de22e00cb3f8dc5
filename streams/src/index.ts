export * from './api/duration.js';
export * from './api/job.js';
export type * from './api/record.js';
export * from './api/sinks.js';
export * from './api/sources.js';
export * from './deploy/deploy.js';
export { StreamRunProgress, type StreamRunProgressOptions } from './deploy/lineage.js';
export { JobRegistry } from './deploy/registry.js';
export * from './deploy/reset.js';
export * from './deploy/status.js';
export { runSupervisor } from './deploy/supervisor.js';
export {
  defineTransformJob,
  type TransformJobContext,
  type TransformJobDefinition,
  type TransformJobStatus,
} from './deploy/transform-job.js';
export { runWorkerProcess } from './deploy/worker-process.js';
export {
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterTopicSummary,
  DeadLetterTopics,
} from './dlq/dead-letters.js';
export { listSkips, type SkipRequest, skipOffsets } from './dlq/skip.js';
export { changelogTopicOf, ensureJobTopics, jobGroupId } from './kafka/topics.js';
export { runWorker, type TaskStatus, type WorkerOptions, type WorkerStatus } from './kafka/worker.js';
export * from './operators/windows/aggregates.js';
export * from './operators/windows/assigners.js';
export type { WindowResult } from './operators/windows/result.js';
export {
  ANOMALY_DEFAULTS,
  type Anomaly,
  type AnomalyEpisode,
  type AnomalyReason,
  type AnomalyScore,
  type ZScoreOptions,
} from './operators/zscore.js';
export { DEAD_LETTER_HEADERS, DEAD_LETTER_MAX_BYTES } from './runtime/dead-letter.js';
export type { OffsetSkip } from './runtime/skips.js';
export type { StalledPartition } from './runtime/stall.js';
export { type ChangelogEntry, Task, type TaskCounters } from './runtime/task.js';
