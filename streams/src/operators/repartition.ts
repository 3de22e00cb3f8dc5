import type { StreamRecord } from '../api/record.js';
import { encodeRepartitioned } from '../api/repartition.js';
import { DeadLetterError } from '../runtime/dead-letter.js';
import type { OperatorFactory } from './operator.js';

/** A key as the state sees it: a string (numbers, bigints and booleans by their string); anything else is refused. */
export function normaliseKey(key: unknown, what: string): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  throw new Error(`${what}: the key of the value is ${key === null ? 'null' : typeof key}, not a string`);
}

/**
 * The writing half of a repartition: the record's value becomes the internal topic's record (see api/repartition.ts),
 * its key the partitioning key. `streamKey` says which key the stream has after the hop.
 */
export function repartitionWriteOperator(
  partitionKeyOf: (record: StreamRecord<unknown>) => unknown,
  streamKey: 'partition-key' | 'previous',
  what: string,
): OperatorFactory {
  return () => ({
    process(record, out) {
      const raw = partitionKeyOf(record);
      // keyBy needs a key; dedupe lets a record without an id pass wherever it lands.
      const key = streamKey === 'previous' && (raw === undefined || raw === null) ? undefined : normaliseKey(raw, what);
      const value = encodeRepartitioned({
        v: record.value,
        t: record.timestamp,
        k: streamKey === 'previous' ? record.key : key,
        o: {
          topic: record.origin.topic,
          partition: record.origin.partition,
          offset: record.origin.offset.toString(),
          eventId: record.origin.eventId,
          key: record.origin.key ?? record.key,
        },
      });
      out.emit({ ...record, key, value });
    },
  });
}

/**
 * keyBy on the Kafka key: the new key must be the key the input record was partitioned by, or the keyed state of
 * this task would see only part of the key's records. A record whose key differs goes to the dead-letter topic with
 * KEY_NOT_COPARTITIONED instead of a partial result; a record without a Kafka key cannot be checked and passes.
 */
export function coPartitionedKeyOperator<T>(
  keyOf: (value: T) => string,
  partitionedBy?: (value: T) => string,
): OperatorFactory {
  return () => ({
    process(record, out) {
      const key = normaliseKey(keyOf(record.value as T), 'keyBy');
      const expected = partitionedBy ? normaliseKey(partitionedBy(record.value as T), 'keyBy') : key;
      if (record.key !== undefined && record.key !== expected)
        throw new DeadLetterError(
          'KEY_NOT_COPARTITIONED',
          `keyBy expects records partitioned by key "${expected.slice(0, 200)}" but this one is partitioned by key "${record.key.slice(0, 200)}": its other records may be in other partitions; use keyBy(fn) (repartition) instead of partitioning: 'co-partitioned'`,
        );
      out.emit(record.key === key ? record : { ...record, key });
    },
  });
}
