import { BvError } from '@bitvelocity/core';
import type { Origin, StreamRecord } from '../api/record.js';
import type { StateStores } from '../state/store.js';

/** Where an operator sends what it produces: downstream, or to a named side output (e.g. `late`). */
export interface Collector {
  emit(record: StreamRecord<unknown>): void;
  side(tag: string, record: StreamRecord<unknown>): void;
  /**
   * Sends something the operator could not emit (e.g. a window whose aggregate threw) to the dead-letter topic of the
   * input partition, with a code and the reason; `value` is what is kept of it (JSON), `origin` the record it came from.
   * The task's collectors always have it; optional only so in-process harnesses (bench/) need not implement it.
   */
  deadLetter?(letter: DeadLetter): void;
}

export interface DeadLetter {
  code: string;
  reason: string;
  key: string | undefined;
  value: unknown;
  origin: Pick<Origin, 'topic' | 'partition' | 'offset'>;
}

/** Counters an operator reports; the worker exports them as Prometheus metrics and in `bv jobs status`. */
export interface OperatorCounters {
  late: number;
  tooLate: number;
  dedupeHits: number;
  anomalies: number;
}

export interface OperatorContext {
  /**
   * Opens one of the keyed state stores the operator declared in the job graph, checkpointed with the task. Names are
   * scoped to the operator; an undeclared name is refused.
   */
  state<V>(name: string): import('../state/store.js').KeyValueStore<V>;
  counters: OperatorCounters;
  /** The job's reprocessing epoch: 0, then one more at each `bv jobs reset`. */
  epoch: number;
}

/** One step of a job's graph, instantiated per task (per input partition). */
export interface Operator {
  process(record: StreamRecord<unknown>, out: Collector): void;
  /** The task's watermark advanced; fire timers that are due. */
  onWatermark?(watermark: number, out: Collector): void;
  /** State was restored from the changelog; rebuild in-memory indexes. */
  restored?(): void;
}

export type OperatorFactory = (context: OperatorContext) => Operator;

export function scopedContext(
  stores: StateStores,
  operatorId: string,
  declared: readonly string[],
  counters: OperatorCounters,
  epoch = 0,
): OperatorContext {
  return {
    state: <V>(name: string) => {
      if (!declared.includes(name))
        throw new BvError(
          'JOB_INVALID',
          `operator ${operatorId} uses state "${name}" it did not declare (declared: ${declared.join(', ') || 'none'})`,
        );
      return stores.declare<V>(`${operatorId}.${name}`);
    },
    counters,
    epoch,
  };
}
