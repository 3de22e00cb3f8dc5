import type { Origin } from '../api/record.js';
import type { Collector, OperatorFactory } from './operator.js';
import { TimerIndex } from './timers.js';

/** What a keyed process function sees of its key while it handles one record or one timer. */
export interface ProcessContext<U, S> {
  readonly key: string;
  /** Event time of the record (or the timer's time). */
  readonly timestamp: number;
  /** The task's watermark before this record or timer. */
  readonly watermark: number;
  /** The key's state (a JSON value, checkpointed with the task), undefined when it has none. */
  state(): S | undefined;
  /** Replaces the key's state; undefined deletes it. */
  update(state: S | undefined): void;
  /** Emits downstream, keyed by the same key, at the given event time (the record's or the timer's by default). */
  emit(value: U, timestamp?: number): void;
  /**
   * Sets the key's one event-time timer, replacing an earlier one; undefined clears it. It fires (once) when the
   * watermark reaches the time. Timers are state: they survive a restore.
   */
  timer(time: number | undefined): void;
}

/** Flink's KeyedProcessFunction, reduced: one JSON state value and at most one event-time timer per key. */
export interface KeyedProcessFunction<T, U, S> {
  process(value: T, context: ProcessContext<U, S>): void;
  onTimer?(time: number, context: ProcessContext<U, S>): void;
}

/** The state the process operator keeps (declared with the operator in the job graph). */
export const PROCESS_STATE: readonly string[] = ['values', 'timers'];

export function processOperator<T, U, S>(fn: KeyedProcessFunction<T, U, S>): OperatorFactory {
  return (context) => {
    const values = context.state<S>('values');
    const timerTimes = context.state<number>('timers');
    const timers = new TimerIndex();
    let watermark = Number.NEGATIVE_INFINITY;
    let partitionOrigin: Pick<Origin, 'topic' | 'partition'> = { topic: '', partition: -1 };

    const contextFor = (key: string, timestamp: number, origin: Origin, out: Collector): ProcessContext<U, S> => ({
      key,
      timestamp,
      watermark,
      state: () => values.get(key),
      update: (state) => (state === undefined ? values.delete(key) : values.set(key, state)),
      emit: (value, at) => out.emit({ value, key, timestamp: at ?? timestamp, origin }),
      timer: (time) => {
        if (time === undefined) timerTimes.delete(key);
        else {
          timerTimes.set(key, time);
          timers.add(time, key);
        }
      },
    });

    return {
      process(record, out) {
        partitionOrigin = { topic: record.origin.topic, partition: record.origin.partition };
        fn.process(record.value as T, contextFor(record.key ?? '', record.timestamp, record.origin, out));
      },

      onWatermark(next, out) {
        for (const [time, key] of timers.due(next)) {
          // A timer replaced since it was added is stale: only the key's current one fires.
          if (timerTimes.get(key) !== time) continue;
          timerTimes.delete(key);
          // No input record caused a timer's output: it carries the task's coordinates only.
          fn.onTimer?.(time, contextFor(key, time, { ...partitionOrigin, offset: -1n }, out));
        }
        watermark = next;
      },

      restored() {
        timers.clear();
        for (const [key, time] of timerTimes) timers.add(time, key);
      },
    };
  };
}
