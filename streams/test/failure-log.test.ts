import { describe, expect, it } from 'vitest';
import { type FailureLogger, PartitionFailureLog } from '../src/runtime/failure-log.js';
import { StallDetector } from '../src/runtime/stall.js';

describe('regression: a stalled partition logged every retry (about 5,000 lines in 11 minutes)', () => {
  it('logs the first failure, the stall, then one summary a minute with the retry count, and the recovery', () => {
    let now = Date.parse('2026-12-01T10:00:00.000Z');
    const clock = () => now;
    const lines: { level: string; msg: string; object: Record<string, unknown> }[] = [];
    const at = (level: string) => (object: object, msg?: string) =>
      void lines.push({ level, msg: msg ?? '', object: object as Record<string, unknown> });
    const logger = { info: at('info'), warn: at('warn'), error: at('error') } as unknown as FailureLogger;
    const stalls = new StallDetector(clock);
    const log = new PartitionFailureLog(logger, 60_000, clock);
    const error = new Error('MESSAGE_TOO_LARGE');
    // The drill: a retry every 132 ms for 11 minutes.
    const retries = 5000;
    for (let i = 0; i < retries; i++) {
      log.failed('checkpoint failed', stalls.failed('orders', 3, error), error);
      now += 132;
    }
    expect(lines.length).toBeLessThanOrEqual(13);
    expect(lines.slice(0, 2).map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'checkpoint failed'],
      ['error', 'partition stalled: it cannot make progress'],
    ]);
    const summaries = lines.slice(2);
    expect(summaries.length).toBe(10);
    for (const summary of summaries) {
      expect(summary.msg).toMatch(/^checkpoint failed: still failing, \d+ more retries since the last log line$/);
      expect(summary.object).toMatchObject({ topic: 'orders', partition: 3, reason: 'MESSAGE_TOO_LARGE' });
    }
    // Every failure is accounted for: the two logged in full and the retries the summaries count.
    const counted = summaries.reduce((sum, l) => sum + Number(l.object.retries), 0);
    expect(2 + counted).toBeLessThanOrEqual(retries);
    expect(retries - (2 + counted)).toBeLessThan(60_000 / 132 + 1);
    // The stalled state is still there for status and metrics.
    expect(stalls.stalled()).toMatchObject([{ topic: 'orders', partition: 3, failures: retries }]);

    const was = stalls.progressed('orders', 3);
    log.progressed('orders', 3, was?.failures ?? 0);
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'partition progressing again',
      object: { failures: retries },
    });
    expect(stalls.stalled()).toEqual([]);
    // A later failure is a new episode: logged in full again.
    log.failed('checkpoint failed', stalls.failed('orders', 3, error), error);
    expect(lines.at(-1)).toMatchObject({ level: 'warn', msg: 'checkpoint failed' });
  });
});
