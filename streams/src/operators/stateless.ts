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

/**
 * Keys the record. Keys are strings (state keys come back from the changelog as strings): a number, bigint or boolean
 * key is turned into its string, so live and restored runs agree; a missing or object key is refused (dead letter).
 */
export function keyByOperator<T>(keyOf: (value: T) => string): OperatorFactory {
  return () => ({
    process(record, out) {
      const key: unknown = keyOf(record.value as T);
      if (typeof key === 'string') out.emit({ ...record, key });
      else if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean')
        out.emit({ ...record, key: String(key) });
      else throw new Error(`keyBy: the key of the value is ${key === null ? 'null' : typeof key}, not a string`);
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
