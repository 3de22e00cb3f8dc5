import { describe, expect, it } from 'vitest';
import { count, defineJob, hopping, kafkaSink, session, tumbling, type WindowResult } from '../src/index.js';
import type { WindowAssigner } from '../src/operators/windows/assigners.js';
import { type GoldenEvent, goldenSource, raw, run, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();

const jobOf = (assigner: WindowAssigner, emit: 'revisions' | 'final', lateness = '5s' as const) =>
  defineJob({
    name: `final-only-${emit}`,
    build: (j) => {
      const windows = j
        .source(goldenSource())
        .keyBy((e) => e.key ?? '', { partitioning: 'co-partitioned' })
        .window(assigner, count(), { allowedLateness: lateness, emit });
      windows.to(kafkaSink('counts'));
      windows.lateEvents().to(kafkaSink('late'));
    },
  });

/** What a consumer of the revisions keeps: the latest revision of each (key, windowStart), retracted ones dropped. */
function latest(results: WindowResult<number>[]): WindowResult<number>[] {
  const rows = new Map<string, WindowResult<number>>();
  for (const r of results) {
    const id = `${r.key}|${r.windowStart}`;
    const seen = rows.get(id);
    if (!seen || r.revision > seen.revision) rows.set(id, r);
  }
  return [...rows.values()].filter((r) => !r.retracted);
}

const byWindow = (a: WindowResult<number>, b: WindowResult<number>) =>
  a.key.localeCompare(b.key) || a.windowStart.localeCompare(b.windowStart);

/** A seeded generator: events of 3 keys, mostly in order, some late by up to 12 s (past the 5 s lateness at times). */
function randomEvents(seed: number, n: number): GoldenEvent[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  let t = 100;
  return Array.from({ length: n }, () => {
    t += Math.floor(next() * 4);
    const late = next() < 0.2 ? Math.floor(next() * 12) : 0;
    return { t: t - late, key: `k${Math.floor(next() * 3)}` };
  });
}

describe("window emit: 'final' (one result per window, after its lateness)", () => {
  it('emits each tumbling window once, when the watermark passes its end plus the lateness, late events folded in', () => {
    const input: GoldenEvent[] = [
      { t: 1, key: 'a' },
      { t: 12, key: 'a' }, // [0, 10) is due, but within its lateness: no result yet
      { t: 8, key: 'a' }, // late, within the lateness: folded into [0, 10)
      { t: 16, key: 'a' }, // watermark 16 >= 10 + 5: [0, 10) closes with 2
      { t: 3, key: 'a' }, // past the lateness: the late side output
      { t: 31, key: 'a' }, // closes [10, 20) with 2
    ];
    const outputs = run(jobOf(tumbling({ size: '10s' }), 'final'), raw(input));
    expect(values(outputs, 'counts')).toEqual([
      { key: 'a', windowStart: at(0), windowEnd: at(10), result: 2, revision: 0 },
      { key: 'a', windowStart: at(10), windowEnd: at(20), result: 2, revision: 0 },
    ]);
    expect(values(outputs, 'late')).toEqual([{ t: 3, key: 'a' }]);
  });

  it('rejects an emit mode it does not know, naming it', () => {
    expect(() => jobOf(tumbling({ size: '10s' }), 'eventually' as 'final')).toThrow(
      /emit must be 'revisions' or 'final'/,
    );
  });

  for (const [name, assigner] of [
    ['tumbling', tumbling({ size: '10s' })],
    ['hopping', hopping({ size: '10s', slide: '3s' })],
    ['session', session({ gap: '4s' })],
  ] as const) {
    it(`${name}: gives exactly the final state of the revisions, one result per window, on 200 random inputs`, () => {
      for (let seed = 1; seed <= 200; seed++) {
        // Closing events far ahead so that every window of the input closes in both modes.
        const input = [...randomEvents(seed, 60), { t: 10_000, key: 'k0' }, { t: 20_000, key: 'k0' }];
        const revisions = values(run(jobOf(assigner, 'revisions'), raw(input)), 'counts') as WindowResult<number>[];
        const finals = values(run(jobOf(assigner, 'final'), raw(input)), 'counts') as WindowResult<number>[];
        const expected = latest(revisions)
          .filter((r) => r.windowStart < at(10_000))
          .map((r) => ({ ...r, revision: 0 }))
          .sort(byWindow);
        const got = finals.filter((r) => r.windowStart < at(10_000));
        expect(new Set(got.map((r) => `${r.key}|${r.windowStart}`)).size, `seed ${seed}: one result per window`).toBe(
          got.length,
        );
        expect([...got].sort(byWindow), `seed ${seed}`).toEqual(expected);
        // The same events are refused as too late either way.
        expect(values(run(jobOf(assigner, 'final'), raw(input)), 'late'), `seed ${seed}: late`).toEqual(
          values(run(jobOf(assigner, 'revisions'), raw(input)), 'late'),
        );
      }
    });
  }

  it('gives the same output, in the same order, when restored at any point', () => {
    for (const seed of [3, 7, 11]) {
      const input = [...randomEvents(seed, 40), { t: 10_000, key: 'k0' }];
      for (const assigner of [session({ gap: '4s' }), tumbling({ size: '10s' })]) {
        const job = jobOf(assigner, 'final');
        const straight = values(run(job, raw(input)), 'counts');
        for (let point = 0; point < input.length; point += 3)
          expect(
            values(run(job, raw(input), { restartAfter: [point] }), 'counts'),
            `seed ${seed}, after ${point}`,
          ).toEqual(straight);
      }
    }
  });
});
