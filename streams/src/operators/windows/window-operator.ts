import type { Origin, StreamRecord } from '../../api/record.js';
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

    const fire = (state: WindowState, out: Collector) => {
      const value: WindowResult<R> = {
        key: state.key,
        windowStart: new Date(state.start).toISOString(),
        windowEnd: new Date(state.end).toISOString(),
        result: aggregate.result(state.accumulator as A),
        revision: state.revision,
      };
      out.emit({
        value,
        key: state.key,
        timestamp: state.end - 1,
        origin: { ...origin, offset: BigInt(state.lastOffset) },
      });
    };

    return {
      process(record: StreamRecord<unknown>, out) {
        // Only the task's coordinates: a result is not caused by the last record of some other key.
        origin = { topic: record.origin.topic, partition: record.origin.partition };
        const key = record.key ?? '';
        let accepted = false;
        for (const window of assignFixedWindows(assigner, record.timestamp)) {
          const maxTimestamp = window.end - 1;
          if (maxTimestamp + lateness <= watermark) continue;
          accepted = true;
          const id = `${key}\u0001${window.start}`;
          const state = windows.get(id) ?? {
            key,
            start: window.start,
            end: window.end,
            accumulator: aggregate.init(),
            revision: -1,
            lastOffset: '0',
          };
          state.accumulator = aggregate.add(state.accumulator as A, record.value as T);
          state.lastOffset = record.origin.offset.toString();
          if (state.revision === -1 && maxTimestamp > watermark) {
            if (!windows.has(id)) timers.add(maxTimestamp, id);
          } else {
            // Late but within the allowed lateness: update the fired result.
            state.revision++;
            context.counters.late++;
            fire(state, out);
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
            state.revision = 0;
            fire(state, out);
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
