// The z-score's changelog carries what changed, not its whole window at each checkpoint (it wrote 293 MiB for 1M
// events): a window's statistics as one small header and each point once, in its own slot. In process, no server.
import { describe, expect, it } from 'vitest';
import { defineJob, jsonRecords, kafkaSink } from '../src/index.js';
import type { ChangelogEntry } from '../src/runtime/task.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, raw, values } from './golden.js';

const source = jsonRecords<GoldenEvent>({
  topics: ['input'],
  maxOutOfOrderness: '0s',
  idleTimeout: 0,
  eventTime: (e) => e.t * 1000,
  eventId: (e) => e.id ?? `${e.t}`,
});

const job = (points: number, window: { points: number } | { duration: '20s' } = { points }) =>
  defineJob({
    name: 'spec-zscore-delta',
    build: (j) => {
      const anomalies = j
        .source(source)
        .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
        .zScore({ metric: 'm', value: (e) => e.v as number, window, minSamples: 5 });
      anomalies.to(kafkaSink('episodes'));
      anomalies.scores().to(kafkaSink('scores'));
    },
  });

/** Deterministic values around 100 with a spike now and then. */
const events = (n: number, from = 0, keys = 3): GoldenEvent[] =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { t: 1 + i, id: `p${i}`, key: `k${i % keys}`, v: 100 + ((i * 7919) % 13) + (i % 97 === 0 ? 60 : 0) };
  });

const bytes = (entries: ChangelogEntry[]) =>
  entries.reduce((n, e) => n + Buffer.byteLength(e.key) + Buffer.byteLength(e.value ?? ''), 0);

describe('the z-score no longer writes its whole window into the changelog at each checkpoint', () => {
  it('one more point of a full 200-point window writes its header and that point, ~200 bytes, not the window', () => {
    const task = new Task(job(200), 'input', 0);
    for (const r of raw(events(600, 0, 1))) task.process(r);
    task.takeChangelog();
    for (const r of raw(events(1, 600, 1))) task.process(r);
    const changes = task.takeChangelog().filter((e) => e.key.includes('zScore'));
    expect(changes.map((e) => e.key.split('\u0000')[0]).sort()).toEqual(['2-zScore.points', '2-zScore.rolling']);
    expect(bytes(changes)).toBeLessThan(400);
  });

  it.each([
    ['a 50-point window', job(50)],
    ['a 20 s window (points evicted by time)', job(0, { duration: '20s' })],
  ])('gives the same scores restored at any checkpoint as the live run: %s', (_, spec) => {
    const all = events(900);
    const live = new Task(spec, 'input', 0);
    for (const r of raw(all)) live.process(r);
    const expected = values(live.takeOutputs(), 'scores');

    for (const cut of [1, 7, 150, 151, 420, 899]) {
      const first = new Task(spec, 'input', 0);
      const changelog: ChangelogEntry[] = [];
      const before = raw(all.slice(0, cut));
      for (const [i, r] of before.entries()) {
        first.process(r);
        if (i % 10 === 9) changelog.push(...first.takeChangelog()); // a checkpoint every 10 records
      }
      changelog.push(...first.takeChangelog());
      const outputs = values(first.takeOutputs(), 'scores');
      const restored = new Task(spec, 'input', 0);
      restored.restore(changelog);
      for (const r of raw(all.slice(cut))) restored.process(r);
      expect([...outputs, ...values(restored.takeOutputs(), 'scores')]).toEqual(expected);
    }
  });

  it('a window checkpointed whole (layout 2) is restored, then written as points at its next point', () => {
    const task = new Task(job(5), 'input', 0);
    task.restore([
      {
        key: '2-zScore.rolling\u0000k',
        value: JSON.stringify({
          layout: 2,
          values: [11, 10, 11, 12, 11],
          shift: 11,
          mean: 0,
          m2: 2,
          since: 1,
          run: 1,
          last: 5000,
        }),
      },
    ]);
    for (const r of raw([{ t: 9, id: 'e9', v: 30 }])) task.process(r);
    const [score] = values(task.takeOutputs(), 'scores') as { samples: number; mean: number }[];
    expect(score).toMatchObject({ samples: 5, mean: 11 });
    const changes = task.takeChangelog();
    // The window now holds 10, 11, 12, 11, 30: all five are written once, under their slots.
    expect(changes.filter((e) => e.key.startsWith('2-zScore.points')).length).toBe(5);
    const again = new Task(job(5), 'input', 0);
    again.restore(changes);
    for (const r of raw([{ t: 10, id: 'e10', v: 11 }])) again.process(r);
    const [next] = values(again.takeOutputs(), 'scores') as { samples: number; mean: number }[];
    expect(next?.samples).toBe(5);
    expect(next?.mean).toBeCloseTo((10 + 11 + 12 + 11 + 30) / 5, 12);
  });

  it('a point missing from the changelog leaves it out and recomputes the statistics from the rest', () => {
    const task = new Task(job(6), 'input', 0);
    for (const r of raw(events(6, 0, 1))) task.process(r);
    const changes = task.takeChangelog().filter((e) => e.key !== '2-zScore.points\u0000k0\u00022');
    const restored = new Task(job(6), 'input', 0);
    restored.restore(changes);
    for (const r of raw(events(1, 6, 1))) restored.process(r);
    const [score] = values(restored.takeOutputs(), 'scores') as { samples: number; mean: number }[];
    const kept = events(6, 0, 1)
      .filter((_, i) => i !== 2)
      .map((e) => e.v as number);
    expect(score?.samples).toBe(5);
    expect(score?.mean).toBeCloseTo(kept.reduce((a, b) => a + b, 0) / 5, 12);
  });
});
