import type { StreamRecord } from './record.js';

export interface KafkaSinkSpec<T> {
  kind: 'kafka';
  topic: string;
  key: (record: StreamRecord<T>) => string | undefined;
  value: (value: T) => string;
}

export interface KafkaSinkOptions<T> {
  /** The record key; by default the stream's key (after keyBy) or the input record's key. */
  key?: (value: T) => string;
  /** Serialises the value; JSON by default (bigints as strings). */
  value?: (value: T) => string;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Writes to a Kafka topic; with exactly-once, inside the task's transaction. */
export function kafkaSink<T>(topic: string, options: KafkaSinkOptions<T> = {}): KafkaSinkSpec<T> {
  const keyOf = options.key;
  return {
    kind: 'kafka',
    topic,
    key: keyOf ? (record) => keyOf(record.value) : (record) => record.key,
    value: options.value ?? toJson,
  };
}
