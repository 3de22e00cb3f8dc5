import type { StalledPartition } from '../runtime/stall.js';
import type { TaskCounters } from '../runtime/task.js';

/** What a worker reports about itself and each of its tasks (the registry, /metrics and `bv jobs status`). */

export interface TaskStatus {
  topic: string;
  partition: number;
  /** Next offset to read. */
  position: string;
  /** Records between the position and the end of what read_committed can see. */
  lag: number;
  watermark: string | null;
  stateEntries: number;
  lastCheckpointAt: string | null;
  counters: TaskCounters;
}

export interface WorkerStatus {
  job: string;
  workerId: string;
  pid: number;
  startedAt: string;
  guarantee: string;
  /** Input records per second since the previous report. */
  inputRate: number;
  tasks: TaskStatus[];
  /** Partitions whose checkpoints keep failing: the job cannot get past their position (see runtime/stall.ts). */
  stalled?: StalledPartition[];
}
