import { toJson } from './sinks.js';
import { type Decoded, DecodeError, type SourceSpec } from './sources.js';

/**
 * Repartitioning (Kafka Streams' model): a stream re-keyed by a field other than the Kafka key is written, inside the
 * task's transaction, to an internal topic `<job>-<operator id>-repartition` keyed by the new partitioning key, and
 * the rest of the graph runs in the tasks of that topic (the same job's workers; their offsets, state and output
 * commit in their own transactions). Every record of one key then meets in one task: keyed state sees all of them.
 *
 * A record crosses as JSON (values must survive JSON: bigints become strings) with its event time, its stream key
 * after the hop and its original coordinates, so dead letters and lineage downstream name the input record.
 */
export interface RepartitionedRecord {
  /** The value. */
  v: unknown;
  /** Event time, epoch ms. */
  t: number;
  /** The stream's key after the hop (the partitioning key for keyBy, the previous key for dedupe). */
  k?: string | undefined;
  /** The original input record's coordinates. */
  o: { topic: string; partition: number; offset: string; eventId?: string | undefined; key?: string | undefined };
}

export const REPARTITION_SUFFIX = '-repartition';

/** The internal topic of a repartitioning operator. */
export const repartitionTopicOf = (job: string, operatorId: string) => `${job}-${operatorId}${REPARTITION_SUFFIX}`;

/** Whether a topic is a job's internal repartition topic (left out of lineage; reset to its end, never replayed). */
export const isRepartitionTopic = (topic: string) => topic.endsWith(REPARTITION_SUFFIX);

/** JSON of the record; without a replacer (several times faster) unless the value holds a bigint. */
export function encodeRepartitioned(record: RepartitionedRecord): string {
  try {
    return JSON.stringify(record);
  } catch {
    return toJson(record);
  }
}

/** What a repartition source decodes: the value with its original coordinates and the key after the hop. */
export interface RepartitionDecoded<T> extends Decoded<T> {
  key: string | undefined;
  origin: { topic: string; partition: number; offset: bigint; eventId?: string | undefined; key?: string | undefined };
}

/** The source that reads a repartition topic; watermark settings are the upstream source's. */
export function repartitionSource(
  topic: string,
  upstream: Pick<SourceSpec<unknown>, 'topics' | 'maxOutOfOrderness' | 'idleTimeout' | 'idleWatermark'>,
): SourceSpec<unknown> {
  return {
    topics: [topic],
    maxOutOfOrderness: upstream.maxOutOfOrderness,
    idleTimeout: upstream.idleTimeout,
    ...(upstream.idleWatermark ? { idleWatermark: upstream.idleWatermark } : {}),
    repartitionOf: upstream.topics,
    decode(record): RepartitionDecoded<unknown> {
      let parsed: RepartitionedRecord;
      try {
        parsed = JSON.parse(record.value?.toString('utf8') ?? '') as RepartitionedRecord;
      } catch (error) {
        throw new DecodeError('UNDECODABLE', `repartition record is not JSON: ${(error as Error).message}`);
      }
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.t !== 'number' || typeof parsed.o !== 'object')
        throw new DecodeError('UNDECODABLE', 'not a repartition record');
      return {
        value: parsed.v,
        timestamp: parsed.t,
        eventId: parsed.o.eventId,
        key: parsed.k,
        origin: {
          topic: parsed.o.topic,
          partition: parsed.o.partition,
          offset: BigInt(parsed.o.offset),
          eventId: parsed.o.eventId,
          key: parsed.o.key,
        },
      };
    },
  };
}
