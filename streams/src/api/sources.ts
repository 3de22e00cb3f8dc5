import { BvError, type Envelope, EventSchemaRegistry } from '@bitvelocity/core';
import { type Duration, toMillis } from './duration.js';
import type { RawRecord } from './record.js';

export type DecodeErrorCode = 'UNDECODABLE' | 'SCHEMA_VIOLATION' | 'NO_EVENT_TIME';

/** Why a record could not be decoded; it goes to the dead-letter topic with this code and reason. */
export class DecodeError extends BvError<DecodeErrorCode> {
  constructor(code: DecodeErrorCode, message: string, options: { cause?: unknown } = {}) {
    // The same bytes fail the same way every time: retrying a decode never helps.
    super(code, message, { ...options, retriable: false });
  }
}

export interface Decoded<T> {
  value: T;
  /** Event time, epoch ms. */
  timestamp: number;
  eventId?: string | undefined;
}

export type Decoder<T> = (record: RawRecord) => Decoded<T>;

export interface WatermarkOptions {
  /** How far out of order events may arrive and still be on time. */
  maxOutOfOrderness: Duration;
  /**
   * After this long without input (wall clock) and with nothing left to read, the partition counts as idle. `0` never
   * marks it idle (fully deterministic).
   */
  idleTimeout?: Duration;
  /**
   * What an idle partition's watermark does. `'hold'` (the default, Flink's rule): it stays where its events left it;
   * the idle partition holds nothing else back (each partition has its own watermark), and a replay that pauses
   * finds its later events on time. `'wall-clock'`: it follows `now − maxOutOfOrderness − 1 ms`, so the open windows
   * of a quiet stream close; then events older than that, e.g. a backlog after an outage, are late.
   */
  idleWatermark?: IdleWatermark;
}

export type IdleWatermark = 'hold' | 'wall-clock';

export interface SourceSpec<T> {
  topics: string[];
  decode: Decoder<T>;
  maxOutOfOrderness: number;
  idleTimeout: number;
  /** Default `'hold'` (see WatermarkOptions). */
  idleWatermark?: IdleWatermark;
  /**
   * A job's internal repartition topic (api/repartition.ts): its decoder gives the original key and coordinates. The
   * topics written into it (it gets as many partitions as the largest of them).
   */
  repartitionOf?: readonly string[];
}

function idleWatermarkOf(options: WatermarkOptions): IdleWatermark {
  const mode = options.idleWatermark ?? 'hold';
  if (mode !== 'hold' && mode !== 'wall-clock')
    throw new BvError('JOB_INVALID', `idleWatermark "${String(mode)}" must be 'hold' or 'wall-clock'`);
  return mode;
}

export interface EnvelopeSourceOptions extends WatermarkOptions {
  topics: string[];
}

let registry: EventSchemaRegistry | undefined;

/**
 * Kafka topics carrying the canonical envelope: each record is parsed and validated against the envelope schema and
 * its eventType's versioned schema; event time is `occurredAt`. A record that fails goes to the dead-letter topic.
 */
export function envelopes(options: EnvelopeSourceOptions): SourceSpec<Envelope> {
  registry ??= EventSchemaRegistry.load();
  const schemas = registry;
  return {
    topics: options.topics,
    maxOutOfOrderness: toMillis(options.maxOutOfOrderness, 'maxOutOfOrderness'),
    idleTimeout: toMillis(options.idleTimeout ?? '30s', 'idleTimeout'),
    idleWatermark: idleWatermarkOf(options),
    decode(record) {
      const envelope = parseJson(record);
      const outcome = schemas.validate(envelope);
      if (!outcome.valid) {
        const first = outcome.violations[0];
        throw new DecodeError(
          'SCHEMA_VIOLATION',
          `${outcome.violations.length} schema violation(s); first: ${first ? `${first.path || '/'} ${first.message}` : 'unknown'}`,
        );
      }
      const typed = envelope as Envelope;
      return { value: typed, timestamp: Date.parse(typed.occurredAt), eventId: typed.eventId };
    },
  };
}

export interface JsonSourceOptions<T> extends WatermarkOptions {
  topics: string[];
  /** Event time of a value; by default the Kafka record timestamp. */
  eventTime?: (value: T) => number;
  eventId?: (value: T) => string;
}

/** Kafka topics of JSON values (e.g. another job's output). */
export function jsonRecords<T>(options: JsonSourceOptions<T>): SourceSpec<T> {
  return {
    topics: options.topics,
    maxOutOfOrderness: toMillis(options.maxOutOfOrderness, 'maxOutOfOrderness'),
    idleTimeout: toMillis(options.idleTimeout ?? '30s', 'idleTimeout'),
    idleWatermark: idleWatermarkOf(options),
    decode(record) {
      const value = parseJson(record) as T;
      const timestamp = options.eventTime ? options.eventTime(value) : record.timestamp;
      if (!Number.isFinite(timestamp)) throw new DecodeError('NO_EVENT_TIME', 'the record has no valid event time');
      return { value, timestamp, eventId: options.eventId?.(value) };
    },
  };
}

/**
 * Kafka records as they are, bytes and headers, never failing to decode (a landing job keeps even what no schema
 * accepts). Event time is the record's timestamp.
 */
export function rawRecords(options: { topics: string[] }): SourceSpec<RawRecord> {
  return {
    topics: options.topics,
    maxOutOfOrderness: 0,
    idleTimeout: 0,
    decode: (record) => ({ value: record, timestamp: record.timestamp }),
  };
}

function parseJson(record: RawRecord): unknown {
  if (!record.value || record.value.length === 0) throw new DecodeError('UNDECODABLE', 'empty value (tombstone)');
  try {
    return JSON.parse(record.value.toString('utf8'));
  } catch (error) {
    throw new DecodeError('UNDECODABLE', `value is not JSON: ${(error as Error).message}`);
  }
}
