import type { Origin } from '../api/record.js';
import type { OperatorFactory } from './operator.js';

export type MapFunction<T, U> = (value: T, origin: Origin) => U;

export function mapOperator<T, U>(fn: MapFunction<T, U>): OperatorFactory {
  return () => ({
    process(record, out) {
      out.emit({ ...record, value: fn(record.value as T, record.origin) });
    },
  });
}

export function filterOperator<T>(predicate: (value: T, origin: Origin) => boolean): OperatorFactory {
  return () => ({
    process(record, out) {
      if (predicate(record.value as T, record.origin)) out.emit(record);
    },
  });
}

export function flatMapOperator<T, U>(fn: (value: T, origin: Origin) => Iterable<U>): OperatorFactory {
  return () => ({
    process(record, out) {
      for (const value of fn(record.value as T, record.origin)) out.emit({ ...record, value });
    },
  });
}

export function keyByOperator<T>(keyOf: (value: T) => string): OperatorFactory {
  return () => ({
    process(record, out) {
      out.emit({ ...record, key: keyOf(record.value as T) });
    },
  });
}

/** Re-stamps event time from the value (e.g. a field other than the envelope's occurredAt). */
export function eventTimeOperator<T>(timestampOf: (value: T) => number): OperatorFactory {
  return () => ({
    process(record, out) {
      const timestamp = timestampOf(record.value as T);
      // Thrown, the record goes to the dead-letter topic; a NaN timestamp would otherwise poison every checkpoint.
      if (!Number.isFinite(timestamp)) throw new Error('withEventTime: the value has no valid event time');
      out.emit({ ...record, timestamp });
    },
  });
}
