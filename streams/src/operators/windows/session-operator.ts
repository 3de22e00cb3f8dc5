import type { Origin, StreamRecord } from '../../api/record.js';
import { DeadLetterError } from '../../runtime/dead-letter.js';
import { isoOrNull } from '../../runtime/event-time.js';
import type { Collector, OperatorFactory } from '../operator.js';
import { TimerIndex } from '../timers.js';
import type { Aggregate } from './aggregates.js';
import { LATE, type WindowResult } from './result.js';
import type { WindowOptions } from './window-operator.js';

interface Session {
  start: number;
  /** Exclusive: last event time + gap. */
  end: number;
  accumulator: unknown;
  /** Firings so far minus one: -1 until the session first fires. */
  revision: number;
  /** Changed since it last fired; fires when the watermark passes its end. */
  pending: boolean;
  lastOffset: string;
}

/**
 * Session windows per key: an event opens [t, t + gap); sessions that overlap merge (their accumulators with
 * `aggregate.merge`). A session fires when the watermark passes its end; a late event within the allowed lateness
 * that lands in (or bridges) fired sessions fires the merged session again with the next revision.
 */
export function sessionWindowOperator<T, A, R>(
  gap: number,
  aggregate: Aggregate<T, A, R>,
  options: WindowOptions,
): OperatorFactory {
  const lateness = options.allowedLateness;
  return (context) => {
    const sessionsByKey = context.state<Session[]>('sessions');
    const timers = new TimerIndex();
    let watermark = Number.NEGATIVE_INFINITY;
    let origin: Pick<Origin, 'topic' | 'partition'> = { topic: '', partition: -1 };
    // Carried from the first reset on; absent in epoch 0, so results of a never-reset job keep their shape.
    const epoch = context.epoch > 0 ? { epoch: context.epoch } : {};

    /** Emits the session's result as `revision`; throws (WINDOW_FIRE_FAILED) having emitted nothing if `result()` throws. */
    const fire = (key: string, session: Session, revision: number, out: Collector) => {
      let result: R;
      try {
        result = aggregate.result(session.accumulator as A);
      } catch (error) {
        throw new DeadLetterError(
          'WINDOW_FIRE_FAILED',
          `the aggregate of session [${isoOrNull(session.start)}, ${isoOrNull(session.end)}) of key "${key}" threw: ${(error as Error).message}`,
        );
      }
      const value: WindowResult<R> = {
        key,
        windowStart: new Date(session.start).toISOString(),
        windowEnd: new Date(session.end).toISOString(),
        result,
        revision,
        ...epoch,
      };
      out.emit({ value, key, timestamp: session.end - 1, origin: { ...origin, offset: BigInt(session.lastOffset) } });
    };

    /**
     * A tombstone for a session merged into another: same key and windowStart as its last result, the next revision,
     * `retracted: true` and no result. A consumer that upserts on (key, windowStart) deletes (or marks) that row.
     */
    const retract = (key: string, session: Session, out: Collector) => {
      const value: WindowResult<R> = {
        key,
        windowStart: new Date(session.start).toISOString(),
        windowEnd: new Date(session.end).toISOString(),
        result: null as R,
        revision: session.revision + 1,
        ...epoch,
        retracted: true,
      };
      out.emit({ value, key, timestamp: session.end - 1, origin: { ...origin, offset: BigInt(session.lastOffset) } });
    };

    return {
      process(record: StreamRecord<unknown>, out) {
        // Only the task's coordinates: a result is not caused by the last record of some other key.
        origin = { topic: record.origin.topic, partition: record.origin.partition };
        const key = record.key ?? '';
        const sessions = sessionsByKey.get(key);
        let merged: Session = {
          start: record.timestamp,
          end: record.timestamp + gap,
          accumulator: aggregate.add(aggregate.init(), record.value as T),
          revision: -1,
          pending: true,
          lastOffset: record.origin.offset.toString(),
        };
        if (sessions === undefined || sessions.length === 0) {
          // The common case, a key with no open session: nothing to merge, retract or sort.
          const maxTimestamp = merged.end - 1;
          if (maxTimestamp + lateness <= watermark) {
            context.counters.tooLate++;
            out.side(LATE, record);
            return;
          }
          if (maxTimestamp <= watermark) {
            fire(key, merged, 0, out);
            merged.revision = 0;
            merged.pending = false;
            context.counters.late++;
            timers.add(maxTimestamp + lateness, key);
          } else timers.add(maxTimestamp, key);
          sessionsByKey.set(key, [merged]);
          return;
        }
        const untouched: Session[] = [];
        const absorbed: Session[] = [];
        for (const session of sessions) {
          // Touching counts (Flink's and Kafka Streams' rule): events exactly `gap` apart are one session.
          if (session.start <= merged.end && merged.start <= session.end) {
            absorbed.push(session);
            merged = {
              start: Math.min(session.start, merged.start),
              end: Math.max(session.end, merged.end),
              accumulator: aggregate.merge(session.accumulator as A, merged.accumulator as A),
              revision: Math.max(session.revision, merged.revision),
              pending: true,
              lastOffset: merged.lastOffset,
            };
          } else untouched.push(session);
        }
        const maxTimestamp = merged.end - 1;
        if (maxTimestamp + lateness <= watermark) {
          context.counters.tooLate++;
          out.side(LATE, record);
          return;
        }
        // Sessions that fired under another start are gone from the changelog's point of view: retract each one (the
        // merged session comes out under its own start, now if it is due, else when it fires).
        const retractions = absorbed.filter((s) => s.revision >= 0 && s.start !== merged.start);
        if (maxTimestamp <= watermark) {
          // Late, and the (merged) session is already due: fire it now, as an update if it fired before. If the
          // aggregate throws, the record is dead-lettered (by the task) and the stored sessions stay as they were.
          fire(key, merged, merged.revision + 1, out);
          merged.revision++;
          merged.pending = false;
          context.counters.late++;
          timers.add(maxTimestamp + lateness, key);
        } else timers.add(maxTimestamp, key);
        for (const gone of retractions) retract(key, gone, out);
        untouched.push(merged);
        if (untouched.length > 1) untouched.sort((a, b) => a.start - b.start);
        sessionsByKey.set(key, untouched);
      },

      onWatermark(next, out) {
        watermark = next;
        for (const [time, key] of timers.due(next)) {
          const sessions = sessionsByKey.get(key);
          if (!sessions) continue;
          let changed = false;
          const kept: Session[] = [];
          for (const session of sessions) {
            const maxTimestamp = session.end - 1;
            // Only the sessions due by this timer: a session fires at its own end's timer, so the sessions due at one
            // watermark come out in end-time order, live as after a restore (an earlier timer of the key, left from
            // before a merge extended its session, must not fire the extended session ahead of others' earlier ends).
            if (session.pending && maxTimestamp <= time) {
              // Each session in its own try: one that throws is dead-lettered and dropped, the others still fire.
              try {
                fire(key, session, session.revision + 1, out);
              } catch (error) {
                changed = true;
                out.deadLetter?.({
                  code: error instanceof DeadLetterError ? error.code : 'WINDOW_FIRE_FAILED',
                  reason: (error as Error).message,
                  key,
                  value: { key, windowStart: session.start, windowEnd: session.end, accumulator: session.accumulator },
                  origin: { ...origin, offset: BigInt(session.lastOffset) },
                });
                continue;
              }
              session.revision++;
              session.pending = false;
              changed = true;
              if (lateness > 0 && maxTimestamp + lateness > next) timers.add(maxTimestamp + lateness, key);
            }
            if (!session.pending && maxTimestamp + lateness <= next) changed = true;
            else kept.push(session);
          }
          if (!changed) continue;
          if (kept.length === 0) sessionsByKey.delete(key);
          else sessionsByKey.set(key, kept);
        }
      },

      restored() {
        timers.clear();
        for (const [key, sessions] of sessionsByKey) {
          for (const session of sessions) {
            const maxTimestamp = session.end - 1;
            timers.add(session.pending ? maxTimestamp : maxTimestamp + lateness, key);
          }
        }
      },
    };
  };
}
