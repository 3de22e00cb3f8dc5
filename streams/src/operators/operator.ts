import type { StreamRecord } from '../api/record.js';
import type { StateStores } from '../state/store.js';

/** Where an operator sends what it produces: downstream, or to a named side output (e.g. `late`). */
export interface Collector {
  emit(record: StreamRecord<unknown>): void;
  side(tag: string, record: StreamRecord<unknown>): void;
}

/** Counters an operator reports; the worker exports them as Prometheus metrics and in `bv jobs status`. */
export interface OperatorCounters {
  late: number;
  tooLate: number;
  dedupeHits: number;
  anomalies: number;
}

export interface OperatorContext {
  /** Declares a keyed state store, checkpointed with the task. Names are scoped to the operator. */
  state<V>(name: string): import('../state/store.js').KeyValueStore<V>;
  counters: OperatorCounters;
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

export function scopedContext(stores: StateStores, operatorId: string, counters: OperatorCounters): OperatorContext {
  return { state: <V>(name: string) => stores.declare<V>(`${operatorId}.${name}`), counters };
}
