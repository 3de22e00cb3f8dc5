// Live and restored runs give the same output: one job with every stateful operator (dedupe, tumbling, hopping and
// session windows, a z-score, a keyed process function), over random inputs with the awkward cases the runtime must
// keep straight (numeric keys and ids, duplicates, out-of-order and too-late events, bad measures), restored from its
// changelog at random points. Every output topic (results, late events, dead letters) must match the uninterrupted
// run exactly, record for record and in order.
import { describe, expect, it } from 'vitest';
import {
  aggregates,
  count,
  defineJob,
  hopping,
  jsonRecords,
  kafkaSink,
  max,
  session,
  sum,
  tumbling,
} from '../src/index.js';
import { type GoldenEvent, raw, run } from './golden.js';

interface Reading {
  /** Event time, seconds. */
  t: number;
  /** An event id: a string or (sometimes) a number, which must dedupe the same as its string. */
  id?: string | number;
  /** A sensor id: a string or (sometimes) a number, which must key the same as its string. */
  sensor: string | number;
  /** Usually a number; sometimes a string or missing, which the numeric aggregates dead-letter. */
  v?: unknown;
}

const job = (emit: 'revisions' | 'final') =>
  defineJob({
    name: `differential-${emit}`,
    build: (j) => {
      const deduped = j
        .source(
          jsonRecords<Reading>({
            topics: ['input'],
            maxOutOfOrderness: '3s',
            idleTimeout: 0,
            eventTime: (e) => e.t * 1000,
            eventId: (e) => e.id as string | number | undefined as string,
          }),
        )
        .dedupe({ ttl: '1m', scope: 'partition', uid: 'seen' });
      const keyed = deduped.keyBy((e) => e.sensor as string, { partitioning: 'co-partitioned' });
      const tumblingSum = keyed.window(
        tumbling({ size: '10s' }),
        sum((e: Reading) => e.v as number),
        {
          allowedLateness: '4s',
          emit,
        },
      );
      tumblingSum.to(kafkaSink('sums'));
      tumblingSum.lateEvents().to(kafkaSink('late'));
      keyed
        .window(hopping({ size: '10s', slide: '4s' }), count(), { allowedLateness: '2s', emit })
        .to(kafkaSink('hops'));
      keyed
        .window(session({ gap: '5s' }), aggregates({ n: count<Reading>(), top: max((e: Reading) => e.v as number) }), {
          allowedLateness: '6s',
          emit,
        })
        .to(kafkaSink('sessions'));
      keyed
        .zScore({ metric: 'v', value: (e) => e.v as number, window: { points: 20 }, minSamples: 5, threshold: 2 })
        .scores()
        .to(kafkaSink('scores'));
      keyed
        .process<{ sensor: string; events: number; quietAt: number }, { events: number; last: number }>({
          process(_e, ctx) {
            const known = ctx.state();
            const last = Math.max(known?.last ?? ctx.timestamp, ctx.timestamp);
            ctx.update({ events: (known?.events ?? 0) + 1, last });
            ctx.timer(last + 8_000);
          },
          onTimer(time, ctx) {
            ctx.emit({ sensor: ctx.key, events: ctx.state()?.events ?? 0, quietAt: time / 1000 });
            ctx.update(undefined);
          },
        })
        .to(kafkaSink('quiet'));
    },
  });

/** A seeded generator (an LCG: the same seed, the same input). */
function randomInput(seed: number, n: number): Reading[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const events: Reading[] = [];
  let t = 1_000;
  for (let i = 0; i < n; i++) {
    t += Math.floor(next() * 3);
    const r = next();
    const n4 = Math.floor(next() * 4);
    const sensor = n4 === 3 ? 3 : `s${n4}`; // sensor 3 is a number
    const spike = next() < 0.05;
    const v =
      r < 0.04 ? 'oops' : r < 0.07 ? undefined : spike ? 500 + Math.floor(next() * 50) : 100 + Math.floor(next() * 10);
    // 15 % arrive late (up to 15 s behind, past some lateness); 8 % are re-deliveries of an earlier event.
    const late = next() < 0.15 ? Math.floor(next() * 15) : 0;
    const earlier = events[Math.floor(next() * events.length)];
    if (earlier && next() < 0.08) events.push({ ...earlier });
    else events.push({ id: i % 17 === 0 ? i : `e${i}`, t: t - late, sensor, ...(v === undefined ? {} : { v }) });
  }
  return events;
}

const TOPICS = ['sums', 'late', 'hops', 'sessions', 'scores', 'quiet', 'input.dlq'];
const byTopic = (outputs: ReturnType<typeof run>) =>
  Object.fromEntries(
    TOPICS.map((topic) => [
      topic,
      outputs.filter((o) => o.topic === topic).map((o) => `${o.key?.toString() ?? ''} ${o.value.toString()}`),
    ]),
  );

describe('live and restored runs of one job with every stateful operator', () => {
  for (const emit of ['revisions', 'final'] as const) {
    it(`give the same output on 60 random inputs, each restored at three random points (emit: '${emit}')`, () => {
      for (let seed = 1; seed <= 60; seed++) {
        const input = raw([
          ...randomInput(seed, 150),
          { t: 100_000, sensor: 's0', id: 'end', v: 1 },
        ] as unknown as GoldenEvent[]);
        const straight = byTopic(run(job(emit), input));
        // The input exercises what it should: late events, dead letters and results on every topic.
        if (seed === 1) for (const topic of TOPICS) expect(straight[topic]?.length, topic).toBeGreaterThan(0);
        const points = [seed * 7, seed * 13, seed * 31].map((p) => p % input.length).sort((a, b) => a - b);
        expect(
          byTopic(run(job(emit), input, { restartAfter: points })),
          `seed ${seed}, restored after ${points}`,
        ).toEqual(straight);
      }
    });
  }
});
