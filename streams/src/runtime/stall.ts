/** A partition whose task cannot get past its position: its checkpoints (or its opening) keep failing. */
export interface StalledPartition {
  topic: string;
  partition: number;
  /** The last failure, as the broker or system said it. */
  reason: string;
  /** When the first of the consecutive failures happened (ISO). */
  since: string;
  /** Consecutive failures so far. */
  failures: number;
}

/** After this many consecutive failures without a checkpoint in between, a partition reports as stalled. */
export const STALL_AFTER_FAILURES = 3;

const idOf = (topic: string, partition: number) => `${topic}:${partition}`;

/** The error's message with the broker's error ids found anywhere in it (Kafka clients nest them two deep). */
function reasonOf(error: unknown): string {
  const ids = new Set<string>();
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 4) return;
    const x = e as { apiId?: unknown; serverErrorMessage?: unknown; errors?: unknown; cause?: unknown };
    if (typeof x.apiId === 'string') ids.add(x.serverErrorMessage ? `${x.apiId}: ${x.serverErrorMessage}` : x.apiId);
    if (Array.isArray(x.errors)) for (const inner of x.errors) walk(inner, depth + 1);
    walk(x.cause, depth + 1);
  };
  walk(error, 0);
  const message = (error as { message?: string }).message ?? String(error);
  return ids.size > 0 ? `${message} (${[...ids].join(', ')})` : message;
}

/**
 * Tracks, per partition, failures to make progress. A failed checkpoint is retried from the last committed one, which
 * is right for a passing fault (a fenced producer, a broker restart) and wrong for one that comes back every time: the
 * job would say `running` forever while the partition never moves. This makes the second case visible (status,
 * metrics) with the reason, and clears it at the next successful checkpoint.
 */
export class StallDetector {
  private readonly failing = new Map<string, StalledPartition>();

  constructor(private readonly now: () => number = Date.now) {}

  failed(topic: string, partition: number, error: unknown): StalledPartition {
    const id = idOf(topic, partition);
    const previous = this.failing.get(id);
    const entry: StalledPartition = {
      topic,
      partition,
      reason: reasonOf(error),
      since: previous?.since ?? new Date(this.now()).toISOString(),
      failures: (previous?.failures ?? 0) + 1,
    };
    this.failing.set(id, entry);
    return entry;
  }

  /** The partition committed: no longer failing. Returns what it was failing with, if it was. */
  progressed(topic: string, partition: number): StalledPartition | undefined {
    if (this.failing.size === 0) return undefined;
    const id = idOf(topic, partition);
    const entry = this.failing.get(id);
    if (entry) this.failing.delete(id);
    return entry;
  }

  /** Whether the partition's last attempt failed (its reopen after a failure is not news worth an info line). */
  isFailing(topic: string, partition: number): boolean {
    return this.failing.size > 0 && this.failing.has(idOf(topic, partition));
  }

  /** Whether this failure is the one that makes the partition stalled (to log it once, loudly). */
  static justStalled(entry: StalledPartition): boolean {
    return entry.failures === STALL_AFTER_FAILURES;
  }

  stalled(): StalledPartition[] {
    return [...this.failing.values()].filter((e) => e.failures >= STALL_AFTER_FAILURES);
  }
}
