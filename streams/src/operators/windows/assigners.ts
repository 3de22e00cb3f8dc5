import { BvError } from '@bitvelocity/core';
import { type Duration, toMillis } from '../../api/duration.js';

/** A window is [start, end) in event time (epoch ms). */
export interface Window {
  start: number;
  end: number;
}

export type WindowAssigner =
  | { kind: 'tumbling'; size: number }
  | { kind: 'hopping'; size: number; slide: number }
  | { kind: 'session'; gap: number };

export function tumbling(options: { size: Duration }): WindowAssigner {
  const size = toMillis(options.size, 'window size');
  if (size <= 0) throw new BvError('JOB_INVALID', 'window size must be positive');
  return { kind: 'tumbling', size };
}

export function hopping(options: { size: Duration; slide: Duration }): WindowAssigner {
  const size = toMillis(options.size, 'window size');
  const slide = toMillis(options.slide, 'window slide');
  if (size <= 0 || slide <= 0) throw new BvError('JOB_INVALID', 'window size and slide must be positive');
  if (slide > size) throw new BvError('JOB_INVALID', 'a hopping window slide larger than its size would skip events');
  return { kind: 'hopping', size, slide };
}

export function session(options: { gap: Duration }): WindowAssigner {
  const gap = toMillis(options.gap, 'session gap');
  if (gap <= 0) throw new BvError('JOB_INVALID', 'session gap must be positive');
  return { kind: 'session', gap };
}

const floorTo = (t: number, step: number) => t - (((t % step) + step) % step);

/** The fixed windows (tumbling or hopping) an event at `timestamp` belongs to, earliest first. */
export function assignFixedWindows(assigner: WindowAssigner, timestamp: number): Window[] {
  if (assigner.kind === 'tumbling') {
    const start = floorTo(timestamp, assigner.size);
    return [{ start, end: start + assigner.size }];
  }
  if (assigner.kind === 'hopping') {
    const windows: Window[] = [];
    const lastStart = floorTo(timestamp, assigner.slide);
    const perEvent = Math.ceil(assigner.size / assigner.slide);
    for (let start = lastStart - (perEvent - 1) * assigner.slide; start <= lastStart; start += assigner.slide) {
      if (timestamp < start + assigner.size) windows.push({ start, end: start + assigner.size });
    }
    return windows;
  }
  throw new Error('session windows are not fixed');
}
