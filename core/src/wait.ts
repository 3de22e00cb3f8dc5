import { setTimeout as sleep } from 'node:timers/promises';
import { BvError } from './errors.js';

export interface WaitOptions {
  /** How long to wait at the most; 60 s unless told. */
  timeoutMs?: number;
  /** The pause between two probes; 250 ms unless told. */
  intervalMs?: number;
  /** The error to throw once the time is up, instead of WAIT_TIMED_OUT (e.g. one that names the last probe). */
  timeoutError?: () => Error;
}

/**
 * Polls `probe` until it returns a value other than `undefined`, and returns that value. A probe that throws ends the
 * wait with its error (catch inside the probe to keep waiting). Once `timeoutMs` has passed, throws WAIT_TIMED_OUT
 * naming `what` (or `options.timeoutError()`). The one wait-until loop of the platform, its tests and the demo.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions | number = {},
): Promise<T> {
  const {
    timeoutMs = 60_000,
    intervalMs = 250,
    timeoutError,
  } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      throw (
        timeoutError?.() ?? new BvError('WAIT_TIMED_OUT', `timed out after ${timeoutMs / 1000}s waiting for ${what}`)
      );
    }
    await sleep(intervalMs);
  }
}
