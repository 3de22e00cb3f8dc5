/** The largest epoch-ms a JavaScript Date can hold (±100,000,000 days around 1970); beyond it toISOString throws. */
export const MAX_DATE_MS = 8.64e15;

/** True when `ms` is a time a Date can represent. */
export function isRepresentableTime(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS;
}

/** ISO-8601 of an epoch-ms time, or null for -Infinity / NaN / a time outside the Date range (never throws). */
export function isoOrNull(ms: number | undefined): string | null {
  if (ms === undefined || !isRepresentableTime(ms)) return null;
  return new Date(ms).toISOString();
}

/**
 * Why an event time cannot be used, or undefined when it can: it must be a representable date and no later than the
 * wall clock plus the job's tolerance (a microsecond timestamp read as milliseconds lands in year 58133).
 */
export function eventTimeProblem(timestamp: number, now: number, tolerance: number): string | undefined {
  if (!isRepresentableTime(timestamp))
    return `event time ${timestamp} is outside the date range (±${MAX_DATE_MS} ms around 1970)`;
  if (timestamp > now + tolerance)
    return `event time ${new Date(timestamp).toISOString()} is more than ${tolerance} ms after the wall clock (${new Date(now).toISOString()}); is it in microseconds or nanoseconds?`;
  return undefined;
}
