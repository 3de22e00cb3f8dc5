import { BvError, parseDuration } from '@bitvelocity/core';
/** A duration as milliseconds or a string such as `500ms`, `5s`, `1m`, `2h`, `1d`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

export function toMillis(duration: Duration, what = 'duration'): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0)
      throw new BvError('JOB_INVALID', `${what} must be a non-negative number of ms`);
    return duration;
  }
  const millis = parseDuration(duration, { units: ['ms', 's', 'm', 'h', 'd'], fractions: true });
  if (millis === undefined || duration.trim() !== duration)
    throw new BvError('JOB_INVALID', `${what} "${duration}" is not a duration like 500ms, 5s, 1m, 2h or 1d`);
  return millis;
}
