import type { Logger } from '@bitvelocity/core';
import { STALL_AFTER_FAILURES, type StalledPartition } from './stall.js';

/** The logger calls the failure log makes. */
export type FailureLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** How often a partition that keeps failing is summarised in the log (once a minute). */
export const FAILURE_SUMMARY_INTERVAL_MS = 60_000;

interface Failing {
  /** Failures not yet in a log line. */
  unlogged: number;
  lastLoggedAt: number;
}

/**
 * Logs a partition's failures to make progress without flooding the log: the first failure in full, the one that
 * makes the partition stalled, then one summary per interval with the retry count and the last reason, and one line
 * when it moves again. A partition retrying every cycle (about 5,000 failures in 11 minutes in a drill) writes about a
 * dozen lines instead of thousands; its stalled state stays in status and metrics (runtime/stall.ts).
 */
export class PartitionFailureLog {
  private readonly failing = new Map<string, Failing>();

  constructor(
    private readonly log: FailureLogger,
    private readonly intervalMs = FAILURE_SUMMARY_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** `what`: what failed, e.g. `checkpoint failed`; `entry`: the partition's state after this failure. */
  failed(what: string, entry: StalledPartition, error: unknown): void {
    const id = `${entry.topic}:${entry.partition}`;
    const now = this.now();
    const failing = this.failing.get(id);
    if (!failing) {
      this.failing.set(id, { unlogged: 0, lastLoggedAt: now });
      this.log.warn({ topic: entry.topic, partition: entry.partition, err: error }, what);
      return;
    }
    if (entry.failures === STALL_AFTER_FAILURES) {
      failing.unlogged = 0;
      failing.lastLoggedAt = now;
      this.log.error({ ...entry }, 'partition stalled: it cannot make progress');
      return;
    }
    failing.unlogged++;
    if (now - failing.lastLoggedAt < this.intervalMs) return;
    this.log.warn(
      { ...entry, retries: failing.unlogged, sinceLastLogMs: now - failing.lastLoggedAt },
      `${what}: still failing, ${failing.unlogged} more retries since the last log line`,
    );
    failing.unlogged = 0;
    failing.lastLoggedAt = now;
  }

  /** The partition committed again. */
  progressed(topic: string, partition: number, failures: number): void {
    const id = `${topic}:${partition}`;
    if (!this.failing.delete(id)) return;
    this.log.info({ topic, partition, failures }, 'partition progressing again');
  }
}
