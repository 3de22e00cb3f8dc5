import type { Origin, StreamRecord } from '../../api/record.js';
import { DeadLetterError } from '../../runtime/dead-letter.js';
import { isoOrNull } from '../../runtime/event-time.js';
import type { Collector, OperatorFactory } from '../operator.js';
import { TimerIndex } from '../timers.js';
import type { Aggregate } from './aggregates.js';
import { assignFixedWindows, type WindowAssigner } from './assigners.js';
import { LATE, type WindowResult } from './result.js';

interface WindowState {
  key: string;
  start: number;
  end: number;
  accumulator: unknown;
  /** -1 until the window first fires. */
  revision: number;
  /** Offset (as a string) of the last record added, for the result's origin. */
  lastOffset: string;
}

export interface WindowOptions {
  /** How long after a window fired a late event still updates it (a new revision). */
  allowedLateness: number;
}

/**
 * Tumbling and hopping windows in event time, Flink's semantics: a window fires when the watermark reaches its last
 * millisecond; a later event within the allowed lateness updates it and fires again; an event whose every window is
 * past lateness goes to the `late` side output, never silently dropped.
 */
export function fixedWindowOperator<T, A, R>(
  assigner: WindowAssigner,
  aggregate: Aggregate<T, A, R>,
  options: WindowOptions,
): OperatorFactory {
  const lateness = options.allowedLateness;
  return (context) => {
    const windows = context.state<WindowState>('windows');
    const timers = new TimerIndex();
    let watermark = Number.NEGATIVE_INFINITY;
    let origin: Pick<Origin, 'topic' | 'partition'> = { topic: '', partition: -1 };
    // Carried from the first reset on; absent in epoch 0, so results of a never-reset job keep their shape.
    const epoch = context.epoch > 0 ? { epoch: context.epoch } : {};

    /**
     * Emits the window's result as `revision`; the caller records the revision only once this returned. Throws (a
     * DeadLetterError WINDOW_FIRE_FAILED) when the aggregate's `result()` throws, having emitted nothing.
     */
    const fire = (state: WindowState, revision: number, out: Collector) => {
      let result: R;
      try {
        result = aggregate.result(state.accumulator as A);
      } catch (error) {
        throw new DeadLetterError(
          'WINDOW_FIRE_FAILED',
          `the aggregate of window [${isoOrNull(state.start)}, ${isoOrNull(state.end)}) of key "${state.key}" threw: ${(error as Error).message}`,
        );
      }
      const value: WindowResult<R> = {
        key: state.key,
        windowStart: new Date(state.start).toISOString(),
        windowEnd: new Date(state.end).toISOString(),
        result,
        revision,
        ...epoch,
      };
      out.emit({
        value,
        key: state.key,
        timestamp: state.end - 1,
        origin: { ...origin, offset: BigInt(state.lastOffset) },
      });
    };

    /** A window that cannot fire: its state goes to the dead-letter topic and out of the store. */
    const abandon = (id: string, state: WindowState, error: unknown, out: Collector) => {
      windows.delete(id);
      out.deadLetter?.({
        code: error instanceof DeadLetterError ? error.code : 'WINDOW_FIRE_FAILED',
        reason: (error as Error).message,
        key: state.key,
        value: { key: state.key, windowStart: state.start, windowEnd: state.end, accumulator: state.accumulator },
        origin: { ...origin, offset: BigInt(state.lastOffset) },
      });
    };

    return {
      process(record: StreamRecord<unknown>, out) {
        // Only the task's coordinates: a result is not caused by the last record of some other key.
        origin = { topic: record.origin.topic, partition: record.origin.partition };
        const key = record.key ?? '';
        let accepted = false;
        let offset: string | undefined;
        for (const window of assignFixedWindows(assigner, record.timestamp)) {
          const maxTimestamp = window.end - 1;
          if (maxTimestamp + lateness <= watermark) continue;
          accepted = true;
          const id = `${key}\u0001${window.start}`;
          const stored = windows.get(id);
          const firesNow = stored !== undefined && !(stored.revision === -1 && maxTimestamp > watermark);
          // Updated in place unless it fires now: then a copy, so that if the late firing throws, the stored window is
          // left as it was. (`aggregate.add` returns the new accumulator; a throwing add changes nothing.)
          const state: WindowState = stored
            ? firesNow
              ? { ...stored }
              : stored
            : {
                key,
                start: window.start,
                end: window.end,
                accumulator: aggregate.init(),
                revision: -1,
                lastOffset: '0',
              };
          state.accumulator = aggregate.add(state.accumulator as A, record.value as T);
          offset ??= record.origin.offset.toString();
          state.lastOffset = offset;
          if (state.revision === -1 && maxTimestamp > watermark) {
            if (!stored) timers.add(maxTimestamp, id);
          } else {
            // Late but within the allowed lateness: update the fired result. If the aggregate throws, the record is
            // dead-lettered (by the task) and the window keeps its previous revision.
            fire(state, state.revision + 1, out);
            state.revision++;
            context.counters.late++;
            if (state.revision === 0) timers.add(maxTimestamp + lateness, id);
          }
          windows.set(id, state);
        }
        if (!accepted) {
          context.counters.tooLate++;
          out.side(LATE, record);
        }
      },

      onWatermark(next, out) {
        watermark = next;
        for (const [time, id] of timers.due(next)) {
          const state = windows.get(id);
          if (!state) continue;
          const maxTimestamp = state.end - 1;
          if (state.revision === -1 && time === maxTimestamp) {
            // Each window in its own try: one that throws is dead-lettered, the others still fire.
            try {
              fire(state, 0, out);
            } catch (error) {
              abandon(id, state, error, out);
              continue;
            }
            state.revision = 0;
            if (lateness > 0 && maxTimestamp + lateness > next) {
              windows.set(id, state);
              timers.add(maxTimestamp + lateness, id);
              continue;
            }
          }
          if (maxTimestamp + lateness <= next) windows.delete(id);
        }
      },

      restored() {
        timers.clear();
        for (const [id, state] of windows) {
          const maxTimestamp = state.end - 1;
          timers.add(state.revision === -1 ? maxTimestamp : maxTimestamp + lateness, id);
        }
      },
    };
  };
}
