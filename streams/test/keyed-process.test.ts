import { describe, expect, it } from 'vitest';
import { defineJob, kafkaSink } from '../src/index.js';
import { Task } from '../src/runtime/task.js';
import { goldenSource, raw, values } from './golden.js';

/** Per key: counts events, and reports a key silent 10 s (event time) after its last event. */
const silenceJob = defineJob({
  name: 'keyed-process',
  build: (j) =>
    j
      .source(goldenSource())
      .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
      .process<{ key: string; events: number; silentAt?: number }, { events: number; last: number }>({
        process(_e, ctx) {
          const known = ctx.state();
          const last = Math.max(known?.last ?? ctx.timestamp, ctx.timestamp);
          ctx.update({ events: (known?.events ?? 0) + 1, last });
          ctx.timer(last + 10_000);
        },
        onTimer(time, ctx) {
          ctx.emit({ key: ctx.key, events: ctx.state()?.events ?? 0, silentAt: time / 1000 });
          ctx.update(undefined);
        },
      })
      .to(kafkaSink('silence')),
});

describe('a keyed process function', () => {
  it('fires only the latest timer of a key, once, when the watermark reaches it', () => {
    const task = new Task(silenceJob, 'input', 0, () => 10_000_000);
    for (const r of raw([
      { t: 1, key: 'a' },
      { t: 5, key: 'a' },
      { t: 8, key: 'b' },
      { t: 16, key: 'c' },
      { t: 30, key: 'c' },
    ]))
      task.process(r);
    // a's first timer (11 s) was replaced by 15 s; b's fires at 18 s; c's (40 s) is not due.
    expect(values(task.takeOutputs(), 'silence')).toEqual([
      { key: 'a', events: 2, silentAt: 15 },
      { key: 'b', events: 1, silentAt: 18 },
    ]);
  });

  it('keeps its state and timers across a restore from the changelog', () => {
    const first = new Task(silenceJob, 'input', 0, () => 10_000_000);
    const input = raw([
      { t: 1, key: 'a' },
      { t: 2, key: 'a' },
      { t: 3, key: 'b' },
      { t: 20, key: 'c' },
    ]);
    for (const r of input.slice(0, 3)) first.process(r);
    expect(first.takeOutputs()).toEqual([]);
    const changelog = first.takeChangelog();
    const restored = new Task(silenceJob, 'input', 0, () => 10_000_000);
    restored.restore(changelog);
    restored.process(input[3] as never);
    expect(values(restored.takeOutputs(), 'silence')).toEqual([
      { key: 'a', events: 2, silentAt: 12 },
      { key: 'b', events: 1, silentAt: 13 },
    ]);
  });
});
