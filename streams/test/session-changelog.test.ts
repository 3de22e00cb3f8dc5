import { describe, expect, it } from 'vitest';
import { count, defineJob, kafkaSink, session, type WindowResult } from '../src/index.js';
import { type GoldenEvent, goldenSource, raw, run, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const sessionJob = (lateness: `${number}s`) =>
  defineJob({
    name: 'session-changelog',
    build: (j) =>
      j
        .source(goldenSource())
        .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
        .window(session({ gap: '5s' }), count(), { allowedLateness: lateness })
        .to(kafkaSink('sessions')),
  });

/** The documented consumer: upsert on (key, windowStart) keeping the highest revision; a retraction deletes. */
function consume(results: WindowResult<number>[]): Map<string, WindowResult<number>> {
  const table = new Map<string, WindowResult<number>>();
  for (const r of results) {
    const id = `${r.key}|${r.windowStart}`;
    const current = table.get(id);
    if (current && current.revision > r.revision) continue;
    if (r.retracted) table.delete(id);
    else table.set(id, r);
  }
  return table;
}

describe('two events exactly gap apart no longer form two sessions', () => {
  it('forms one session, as Flink and Kafka Streams do', () => {
    const outputs = run(sessionJob('0s'), raw([{ t: 1 }, { t: 6 }, { t: 30 }]));
    expect(values(outputs, 'sessions')).toEqual([
      { key: 'k', windowStart: at(1), windowEnd: at(11), result: 2, revision: 0 },
    ]);
  });

  it('still keeps events more than gap apart in two sessions', () => {
    const outputs = run(sessionJob('0s'), raw([{ t: 1 }, { t: 6.001 }, { t: 30 }]));
    expect(values(outputs, 'sessions')).toEqual([
      { key: 'k', windowStart: at(1), windowEnd: at(6), result: 1, revision: 0 },
      { key: 'k', windowStart: at(6.001), windowEnd: at(11.001), result: 1, revision: 0 },
    ]);
  });
});

describe('a session merge no longer leaves the merged-away session as a stale row', () => {
  it('emits a retraction for each fired session merged away', () => {
    const input: GoldenEvent[] = [
      { t: 1 },
      { t: 10 },
      { t: 30, key: 'other' }, // fires [1, 6) and [10, 15)
      { t: 6 }, // late: bridges both into [1, 15)
    ];
    const outputs = values(run(sessionJob('60s'), raw(input)), 'sessions');
    expect(outputs).toEqual([
      { key: 'k', windowStart: at(1), windowEnd: at(6), result: 1, revision: 0 },
      { key: 'k', windowStart: at(10), windowEnd: at(15), result: 1, revision: 0 },
      { key: 'k', windowStart: at(1), windowEnd: at(15), result: 3, revision: 1 },
      { key: 'k', windowStart: at(10), windowEnd: at(15), result: null, revision: 1, retracted: true },
    ]);
    expect([...consume(outputs as WindowResult<number>[]).values()]).toEqual([
      { key: 'k', windowStart: at(1), windowEnd: at(15), result: 3, revision: 1 },
    ]);
  });

  it('leaves a consumer with exactly the true sessions over random inputs and restore points', () => {
    let seed = 20;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run_ = 0; run_ < 300; run_++) {
      const input: GoldenEvent[] = [];
      for (let i = 0; i < 30; i++) {
        const key = `k${Math.floor(random() * 3)}`;
        // Mostly forward with jitter, so sessions fire and late events merge fired ones.
        input.push({ t: Math.round((i * 4 + random() * 40) * 10) / 10, key });
      }
      input.push({ t: 10_000, key: 'flush' });
      // The reference: per key, sorted times split where two neighbours are more than the gap apart.
      const expected = new Map<string, number>();
      for (const key of ['k0', 'k1', 'k2']) {
        const times = input.filter((e) => e.key === key).map((e) => e.t);
        times.sort((a, b) => a - b);
        let start: number | undefined;
        let last = 0;
        let n = 0;
        for (const t of times) {
          if (start !== undefined && t - last > 5) {
            expected.set(`${key}|${at(start)}`, n);
            start = undefined;
          }
          if (start === undefined) {
            start = t;
            n = 0;
          }
          n++;
          last = t;
        }
        if (start !== undefined) expected.set(`${key}|${at(start)}`, n);
      }
      const restartAfter = [Math.floor(random() * input.length)];
      const outputs = values(run(sessionJob('1000s'), raw(input), { restartAfter }), 'sessions');
      const table = consume(outputs as WindowResult<number>[]);
      const got = new Map([...table].map(([id, r]) => [id, r.result]));
      expect(got, `run ${run_}, restart after ${restartAfter[0]}`).toEqual(expected);
    }
  });
});
