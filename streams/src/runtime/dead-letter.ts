import { deadLetterTopicOf } from '@bitvelocity/core';
import type { OutputRecord, RawRecord } from '../api/record.js';

/**
 * The most bytes (key + value + headers) one dead letter or sink record may take. The broker refuses a record batch
 * over message.max.bytes (1 MiB by default); a record just under that limit, copied with the `bv-dlq-*` headers, is
 * over it, and a checkpoint that carries it fails on every retry: the task could never get past it. 900 KiB leaves
 * room for the batch framing under any limit of 1 MiB or more.
 */
export const DEAD_LETTER_MAX_BYTES = 900 * 1024;

/** Header values copied from the original are cut to this; the reason to REASON_MAX_CHARS. */
const HEADER_VALUE_MAX_BYTES = 4096;
const REASON_MAX_CHARS = 2000;
const KEY_MAX_BYTES = 4096;
/** Per-record framing the broker counts (varints, attributes, timestamps, header counts), rounded up. */
const RECORD_OVERHEAD_BYTES = 64;

/** Headers of a dead letter: who sent it there, why, and the original's coordinates. */
export const DEAD_LETTER_HEADERS = {
  code: 'bv-dlq-code',
  reason: 'bv-dlq-reason',
  job: 'bv-dlq-job',
  topic: 'bv-dlq-topic',
  partition: 'bv-dlq-partition',
  offset: 'bv-dlq-offset',
  /** Present when the value was cut to fit: the original's size in bytes. Replay re-reads it by its coordinates. */
  originalBytes: 'bv-dlq-original-bytes',
  /** Present when the key was cut to fit: the original key's size in bytes. */
  originalKeyBytes: 'bv-dlq-original-key-bytes',
} as const;

/** Bytes a record takes on the wire, as the broker counts it against message.max.bytes (upper bound). */
export function outputBytes(output: OutputRecord): number {
  let size = RECORD_OVERHEAD_BYTES + byteLength(output.key) + byteLength(output.value);
  for (const [name, value] of Object.entries(output.headers)) size += Buffer.byteLength(name) + byteLength(value) + 8;
  return size;
}

/** An upper bound of outputBytes without encoding anything (headers measured as outputBytes does). */
function quickBound(output: OutputRecord): number {
  let size = RECORD_OVERHEAD_BYTES + boundOf(output.key) + boundOf(output.value);
  for (const name in output.headers) size += 3 * name.length + boundOf(output.headers[name]) + 8;
  return size;
}

const boundOf = (value: string | Buffer | undefined) =>
  value === undefined ? 0 : typeof value === 'string' ? 3 * value.length : value.length;

const byteLength = (value: string | Buffer | undefined) =>
  value === undefined ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;

/** The first `max` bytes of a UTF-8 string, never splitting a character. */
function cutUtf8(value: string, max: number): string {
  const bytes = Buffer.from(value);
  if (bytes.length <= max) return value;
  let end = max;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

export interface DeadLetterCause {
  job: string;
  code: string;
  reason: string;
}

/**
 * The dead letter of an input record, on `<topic>.dlq`: its key, value and headers with the `bv-dlq-*` headers added,
 * cut so it always fits under DEAD_LETTER_MAX_BYTES. A cut value keeps its first bytes and says the original's size
 * (`bv-dlq-original-bytes`); the original itself stays readable at `bv-dlq-topic/partition/offset` for the topic's
 * retention, which is where `bv dlq replay` reads it from.
 */
export function deadLetterOf(
  record: RawRecord,
  cause: DeadLetterCause,
  maxBytes = DEAD_LETTER_MAX_BYTES,
): OutputRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of record.headers) {
    if (name.startsWith('bv-dlq-')) continue; // a replayed dead letter gets fresh ones
    headers[name] = cutUtf8(value.toString('utf8'), HEADER_VALUE_MAX_BYTES);
  }
  Object.assign(headers, {
    [DEAD_LETTER_HEADERS.code]: cause.code,
    [DEAD_LETTER_HEADERS.reason]:
      cause.reason.length > REASON_MAX_CHARS ? `${cause.reason.slice(0, REASON_MAX_CHARS)}…` : cause.reason,
    [DEAD_LETTER_HEADERS.job]: cause.job,
    [DEAD_LETTER_HEADERS.topic]: record.topic,
    [DEAD_LETTER_HEADERS.partition]: String(record.partition),
    [DEAD_LETTER_HEADERS.offset]: record.offset.toString(),
  });
  let key = record.key?.toString('utf8');
  if (key !== undefined && Buffer.byteLength(key) > KEY_MAX_BYTES) {
    headers[DEAD_LETTER_HEADERS.originalKeyBytes] = String(record.key?.length ?? 0);
    key = cutUtf8(key, KEY_MAX_BYTES);
  }
  const value = record.value ?? Buffer.alloc(0);
  const letter: OutputRecord = {
    topic: deadLetterTopicOf(record.topic),
    key,
    value,
    timestamp: record.timestamp,
    headers,
  };
  return fitValue(letter, value.length, maxBytes);
}

/** Cuts the record's value so the whole record fits, saying the original size in a header. */
function fitValue(output: OutputRecord, originalBytes: number, maxBytes: number): OutputRecord {
  if (outputBytes(output) <= maxBytes) return output;
  const headers = { ...output.headers, [DEAD_LETTER_HEADERS.originalBytes]: String(originalBytes) };
  const withoutValue = outputBytes({ ...output, value: Buffer.alloc(0), headers });
  const room = Math.max(0, maxBytes - withoutValue);
  const value = typeof output.value === 'string' ? output.value : output.value;
  const cut = Buffer.isBuffer(value) ? value.subarray(0, room) : Buffer.from(cutUtf8(value, room));
  return { ...output, value: cut, headers };
}

/**
 * A sink record too large to send becomes a dead letter of the input record it came from (code OUTPUT_TOO_LARGE,
 * the output's first bytes as its value), instead of a checkpoint that fails forever. Records that fit pass as they are.
 */
export function fitSinkOutput(
  output: OutputRecord,
  origin: { topic: string; partition: number; offset: bigint },
  job: string,
  maxBytes = DEAD_LETTER_MAX_BYTES,
): OutputRecord {
  // A UTF-8 character is at most 3 bytes per UTF-16 unit: most records are far below the limit by that bound alone.
  if (quickBound(output) <= maxBytes) return output;
  const size = outputBytes(output);
  if (size <= maxBytes) return output;
  const letter: OutputRecord = {
    topic: deadLetterTopicOf(origin.topic),
    key: output.key === undefined ? undefined : cutUtf8(output.key, KEY_MAX_BYTES),
    value: output.value,
    timestamp: output.timestamp,
    headers: {
      ...output.headers,
      [DEAD_LETTER_HEADERS.code]: 'OUTPUT_TOO_LARGE',
      [DEAD_LETTER_HEADERS.reason]: `the record for ${output.topic} is ${size} bytes; at most ${maxBytes} fit in a Kafka record here`,
      [DEAD_LETTER_HEADERS.job]: job,
      [DEAD_LETTER_HEADERS.topic]: origin.topic,
      [DEAD_LETTER_HEADERS.partition]: String(origin.partition),
      [DEAD_LETTER_HEADERS.offset]: origin.offset.toString(),
    },
  };
  return fitValue(letter, byteLength(output.value), maxBytes);
}

/** Thrown by an operator to send the record it is processing to the dead-letter topic under its own code. */
export class DeadLetterError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeadLetterError';
  }
}
