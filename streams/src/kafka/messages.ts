import type { Consumer, Message } from '@platformatic/kafka';
import type { OutputRecord } from '../api/record.js';
import type { ChangelogEntry } from '../runtime/task.js';
import type { Bytes, TaskRunner } from './task-runner.js';

/** How the worker's outputs, changelog entries and offsets become Kafka messages. */

/** Bytes a produce request may carry here: well under the broker's default message.max.bytes (1 MiB) per batch. */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Splits a checkpoint's messages into produce requests the broker accepts. One request for a large checkpoint (a
 * backlog read in batches of thousands of records) builds a record batch over message.max.bytes, which the broker
 * refuses (MESSAGE_TOO_LARGE) every time the task retries it: the job would never get past it.
 */
export function* produceChunks<
  M extends { key?: Buffer | undefined; value?: Buffer | undefined; headers?: Map<Buffer, Buffer> },
>(messages: M[]): Generator<M[]> {
  let chunk: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    let size = 64 + (message.key?.length ?? 0) + (message.value?.length ?? 0);
    for (const [name, value] of message.headers ?? []) size += name.length + value.length + 8;
    if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Header names and short values repeat on every record (`bv-job: <job>`): their bytes are made once. The producer only
 * reads them, so one Buffer may serve many messages. Bounded, so varying values cannot grow it without limit.
 */
const headerBytes = new Map<string, Bytes>();
const HEADER_CACHE_ENTRIES = 1024;
const HEADER_CACHE_MAX_CHARS = 128;

function bytesOf(text: string): Bytes {
  if (text.length > HEADER_CACHE_MAX_CHARS) return Buffer.from(text);
  let bytes = headerBytes.get(text);
  if (!bytes) {
    bytes = Buffer.from(text);
    if (headerBytes.size < HEADER_CACHE_ENTRIES) headerBytes.set(text, bytes);
  }
  return bytes;
}

export function toMessage(output: OutputRecord) {
  const headers = new Map<Bytes, Bytes>();
  for (const name in output.headers) headers.set(bytesOf(name), bytesOf(output.headers[name] as string));
  return {
    topic: output.topic,
    key: output.key === undefined ? undefined : Buffer.from(output.key),
    value: typeof output.value === 'string' ? Buffer.from(output.value) : output.value,
    headers,
    timestamp: BigInt(Math.trunc(output.timestamp)),
  };
}

export function changelogMessage(topic: string, partition: number, entry: ChangelogEntry) {
  return {
    topic,
    partition,
    key: Buffer.from(entry.key),
    value: entry.value === null ? undefined : Buffer.from(entry.value),
  };
}

/**
 * The offset to commit in the transaction. Generation -1 and no member id: the task's transactional id, not the
 * group generation, is what fences a zombie (so a rebalance that keeps the partition here does not fail the commit).
 */
export function offsetMessage(
  consumer: Consumer<Bytes, Bytes, Bytes, Bytes>,
  groupId: string,
  runner: TaskRunner,
): Message<Bytes, Bytes, Bytes, Bytes> {
  return {
    topic: runner.topic,
    partition: runner.partition,
    offset: runner.position - 1n,
    metadata: { consumer: { groupId, generationId: -1, memberId: '', coordinatorId: consumer.coordinatorId } },
  } as unknown as Message<Bytes, Bytes, Bytes, Bytes>;
}
