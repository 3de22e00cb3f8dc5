import { createHash } from 'node:crypto';
import { type Duration, toMillis } from '../api/duration.js';
import { DeadLetterError } from '../runtime/dead-letter.js';
import type { OperatorFactory } from './operator.js';

export interface DedupeOptions<T> {
  /** The identity of an event; by default the envelope's eventId. */
  id?: (value: T) => string;
  /** How long (event time, measured against the watermark) an id is remembered. */
  ttl: Duration;
}

interface Seen {
  /** Event time after which the id is forgotten. */
  expiresAt: number;
  /** Digest of the first copy's value (envelope eventIds only); absent in state written before it was kept. */
  digest?: string;
}

/** Envelopes carry their eventId in the value; other sources' ids (an `eventId` function) say only what to drop. */
const isEnvelope = (value: unknown) =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { eventId?: unknown }).eventId === 'string' &&
  typeof (value as { eventType?: unknown }).eventType === 'string';

const digestOf = (value: unknown) => createHash('sha1').update(JSON.stringify(value)).digest('base64url');

/**
 * Drops events whose id was seen within the TTL. Expiry follows the watermark, not the wall clock, so a replay gives
 * the same result as the live run. Duplicates from CDC re-delivery carry the same Kafka key, so they meet in the same
 * partition and no repartition is needed.
 */
export function dedupeOperator<T>(options: DedupeOptions<T>): OperatorFactory {
  const ttl = toMillis(options.ttl, 'dedupe ttl');
  const idOf = options.id;
  return (context) => {
    const seen = context.state<Seen>('seen');
    let sweptAt = Number.NEGATIVE_INFINITY;
    let currentWatermark = Number.NEGATIVE_INFINITY;
    return {
      process(record, out) {
        // Normalised to a string: state keys come back from the changelog as strings, so a numeric id 5 must be "5"
        // live too (or it would pass once live and again after a restore).
        const rawId: unknown = idOf ? idOf(record.value as T) : record.origin.eventId;
        const id = rawId === undefined || rawId === null ? undefined : String(rawId);
        if (id === undefined) {
          out.emit(record);
          return;
        }
        // An expired entry that the sweep has not reached yet counts as absent, so when sweeps happen never matters.
        const entry = seen.get(id);
        // An envelope's eventId names one event on its topic: a copy with other content is not a re-delivery but a
        // conflicting duplicate, which goes to the dead-letter topic instead of vanishing as a dedupe hit.
        const digest = idOf || !isEnvelope(record.value) ? undefined : digestOf(record.value);
        if (entry !== undefined && entry.expiresAt > currentWatermark) {
          if (digest !== undefined && entry.digest !== undefined && entry.digest !== digest) {
            throw new DeadLetterError(
              'CONFLICTING_DUPLICATE',
              `eventId ${id} was seen before with different content; an eventId names one event on its topic`,
            );
          }
          context.counters.dedupeHits++;
          return;
        }
        seen.set(
          id,
          digest === undefined ? { expiresAt: record.timestamp + ttl } : { expiresAt: record.timestamp + ttl, digest },
        );
        out.emit(record);
      },
      onWatermark(watermark) {
        currentWatermark = watermark;
        // Sweep at most ten times per TTL: expiry is a memory bound, not a semantic edge, so slack is fine as long as
        // it is deterministic (it is: the sweep points depend on the watermark only).
        if (watermark - sweptAt < ttl / 10) return;
        sweptAt = watermark;
        for (const [id, entry] of seen) if (entry.expiresAt <= watermark) seen.delete(id);
      },
    };
  };
}
