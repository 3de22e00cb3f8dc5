/**
 * DuckLake commits optimistically: a transaction that changed a table another transaction changed since it began fails
 * at COMMIT with a conflict (appends alone are merged by DuckLake itself). Such a failure is safe to redo from the
 * start of the transaction.
 */
export function isCommitConflict(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /conflict|Failed to commit DuckLake transaction/i.test(message);
}

/** Runs `attempt` again after a commit conflict, with jittered backoff, up to `attempts` times. */
export async function retryOnConflict<T>(attempt: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= attempts || !isCommitConflict(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.round(10 * 2 ** i * (0.5 + Math.random()))));
    }
  }
}
