import { BvError } from './errors.js';

/**
 * The one retry policy of the platform, modelled on kafkajs' retrier: exponential backoff with jitter, bounded by a
 * number of retries and by a ceiling per wait. It retries only errors that say so: `retriable` is decided where an
 * error is made (a BvError with `retriable: true`), never by reading its message.
 */
export interface RetryOptions {
  /** Retries after the first attempt (kafkajs: 5). */
  retries?: number;
  /** The first wait, in ms (kafkajs: 300). */
  initialRetryTime?: number;
  /** Each wait is the previous one times this (kafkajs: 2). */
  multiplier?: number;
  /** Jitter: each wait is randomised by up to this share either way (kafkajs: 0.2). */
  factor?: number;
  /** No single wait is longer than this, in ms (kafkajs: 30 000). */
  maxRetryTime?: number;
  /** Decides whether an error is worth another attempt (default: its `retriable` flag). */
  retriable?: (error: unknown) => boolean;
  /** Called before each wait (for a log line or a metric). */
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
  signal?: AbortSignal;
}

/** Whether an error says another attempt may succeed. */
export function isRetriable(error: unknown): boolean {
  return error instanceof BvError ? error.retriable : false;
}

/** The wait before retry `attempt` (1-based), before jitter and the ceiling. */
function baseWait(options: Required<Pick<RetryOptions, 'initialRetryTime' | 'multiplier'>>, attempt: number): number {
  return options.initialRetryTime * options.multiplier ** (attempt - 1);
}

/** Runs `attempt` until it succeeds, an error is not retriable, or the retries are used up (then rethrows). */
export async function retry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const initialRetryTime = options.initialRetryTime ?? 300;
  const multiplier = options.multiplier ?? 2;
  const factor = options.factor ?? 0.2;
  const maxRetryTime = options.maxRetryTime ?? 30_000;
  const retriable = options.retriable ?? isRetriable;
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (attemptNumber > retries || !retriable(error) || options.signal?.aborted) throw error;
      const base = baseWait({ initialRetryTime, multiplier }, attemptNumber);
      const jittered = base * (1 - factor + Math.random() * 2 * factor);
      const waitMs = Math.round(Math.min(maxRetryTime, jittered));
      options.onRetry?.(error, attemptNumber, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
