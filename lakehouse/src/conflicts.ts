import { BvError, retry } from '@bitvelocity/core';

/** Whether an error is a DuckLake commit conflict (the DuckDb helper turns those into LAKE_COMMIT_CONFLICT). */
export function isCommitConflict(error: unknown): boolean {
  return error instanceof BvError && error.code === 'LAKE_COMMIT_CONFLICT';
}

/** Runs `attempt` again after a commit conflict (core's retry policy, short waits), up to `attempts` times in all. */
export function retryOnConflict<T>(attempt: () => Promise<T>, attempts = 8): Promise<T> {
  return retry(attempt, {
    retries: attempts - 1,
    initialRetryTime: 20,
    multiplier: 2,
    factor: 0.5,
    maxRetryTime: 5_000,
    retriable: isCommitConflict,
  });
}
