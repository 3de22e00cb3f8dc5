import { describe, expect, it } from 'vitest';
import { aggregates, count, defineJob, hopping, jsonRecords, kafkaSink, session, sum, tumbling } from '../src/index.js';
import { max } from '../src/operators/windows/aggregates.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, raw, run, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const source = (maxOutOfOrderness: `${number}s`) =>
  jsonRecords<GoldenEvent>({
    topics: ['input'],
    maxOutOfOrderness,
    idleTimeout: 0,
    eventTime: (e) => e.t * 1000,
    eventId: (e) => e.id ?? `${e.t}`,
  });

describe('tumbling windows', () => {
  const job = defineJob({
    name: 'golden-tumbling',
    build: (j) => {
      const windowed = j
        .source(source('2s'))
        .keyBy((e) => e.key ?? 'a', { partitioning: 'co-partitioned' })
        .window(tumbling({ size: '10s' }), count(), { allowedLateness: '5s' });
      windowed.to(kafkaSink('counts'));
      windowed.lateEvents().to(kafkaSink('late'));
    },
  });
  // Out of order (8 after 12), late within lateness (8), too late (5 after the watermark passed 14.999 s).
  const input: GoldenEvent[] = [
    { t: 1, key: 'b' },
    { t: 3, key: 'a' },
    { t: 9, key: 'a' },
    { t: 12, key: 'a' },
    { t: 8, key: 'a' },
    { t: 15, key: 'a' },
    { t: 21, key: 'a' },
    { t: 5, key: 'a' },
    { t: 33, key: 'a' },
  ];
  const expected = [
    { key: 'a', windowStart: at(0), windowEnd: at(10), result: 2, revision: 0 },
    { key: 'b', windowStart: at(0), windowEnd: at(10), result: 1, revision: 0 },
    { key: 'a', windowStart: at(0), windowEnd: at(10), result: 3, revision: 1 },
    { key: 'a', windowStart: at(10), windowEnd: at(20), result: 2, revision: 0 },
    { key: 'a', windowStart: at(20), windowEnd: at(30), result: 1, revision: 0 },
  ];

  it('fires on the watermark, updates on a late event, sends a too-late event to the side output', () => {
    const outputs = run(job, raw(input));
    expect(values(outputs, 'counts')).toEqual(expected);
    expect(values(outputs, 'late')).toEqual([{ t: 5, key: 'a' }]);
  });

  it('gives the same output when restored from its changelog at any point', () => {
    for (let at = 0; at < input.length; at++) {
      const outputs = run(job, raw(input), { restartAfter: [at] });
      expect(values(outputs, 'counts'), `restart after record ${at}`).toEqual(expected);
      expect(values(outputs, 'late')).toEqual([{ t: 5, key: 'a' }]);
    }
  });
});

describe('hopping windows', () => {
  const job = defineJob({
    name: 'golden-hopping',
    build: (j) =>
      j
        .source(source('0s'))
        .keyBy(() => 'all', { partitioning: 'co-partitioned' })
        .window(
          hopping({ size: '10s', slide: '5s' }),
          aggregates({ total: sum((e) => e.amount as number), largest: max((e) => e.amount as number) }),
        )
        .to(kafkaSink('sums')),
  });
  const input: GoldenEvent[] = [
    { t: 1, amount: 1 },
    { t: 6, amount: 2 },
    { t: 11, amount: 4 },
    { t: 20, amount: 8 },
  ];
  const expected = [
    { key: 'all', windowStart: at(-5), windowEnd: at(5), result: { total: 1, largest: 1 }, revision: 0 },
    { key: 'all', windowStart: at(0), windowEnd: at(10), result: { total: 3, largest: 2 }, revision: 0 },
    { key: 'all', windowStart: at(5), windowEnd: at(15), result: { total: 6, largest: 4 }, revision: 0 },
    { key: 'all', windowStart: at(10), windowEnd: at(20), result: { total: 4, largest: 4 }, revision: 0 },
  ];

  it('puts each event in size/slide windows and fires each once', () => {
    expect(values(run(job, raw(input)), 'sums')).toEqual(expected);
    expect(values(run(job, raw(input), { restartAfter: [1, 2] }), 'sums')).toEqual(expected);
  });
});

describe('session windows', () => {
  const job = defineJob({
    name: 'golden-session',
    build: (j) => {
      const sessions = j
        .source(source('0s'))
        .keyBy((e) => e.key ?? 'a', { partitioning: 'co-partitioned' })
        .window(session({ gap: '5s' }), count(), { allowedLateness: '10s' });
      sessions.to(kafkaSink('sessions'));
      sessions.lateEvents().to(kafkaSink('late'));
    },
  });
  const input: GoldenEvent[] = [
    { t: 1 },
    { t: 3 },
    { t: 15 }, // watermark 14.999 s: [1, 8) fires; kept until 17.999 s for late events
    { t: 6 }, // late: extends the fired session to [1, 11), which is already due: revision 1 at once
    { t: 12 }, // on time: joins [15, 20) into [12, 20)
    { t: 9 }, // bridges [1, 11) and [12, 20) into [1, 20), due when the watermark passes 19.999 s
    { t: 40 }, // [1, 20) fires as revision 2
    { t: 2 }, // too late: its session would have ended at 6.999 s + 10 s lateness
  ];
  const expected = [
    { key: 'a', windowStart: at(1), windowEnd: at(8), result: 2, revision: 0 },
    { key: 'a', windowStart: at(1), windowEnd: at(11), result: 3, revision: 1 },
    { key: 'a', windowStart: at(1), windowEnd: at(20), result: 6, revision: 2 },
  ];

  it('opens, merges and fires sessions, with late updates and a late side output', () => {
    const outputs = run(job, raw(input));
    expect(values(outputs, 'sessions')).toEqual(expected);
    expect(values(outputs, 'late')).toEqual([{ t: 2 }]);
  });

  it('gives the same output when restored from its changelog at any point', () => {
    for (let at = 0; at < input.length; at++) {
      const outputs = run(job, raw(input), { restartAfter: [at] });
      expect(values(outputs, 'sessions'), `restart after record ${at}`).toEqual(expected);
    }
  });
});

describe('watermarks of an idle partition', () => {
  it("follow the clock after the idle timeout with idleWatermark: 'wall-clock', so open windows still fire", () => {
    let now = 1_000_000;
    const job = defineJob({
      name: 'golden-idle',
      build: (j) =>
        j
          .source(
            jsonRecords<GoldenEvent>({
              topics: ['input'],
              maxOutOfOrderness: '1s',
              idleTimeout: '30s',
              idleWatermark: 'wall-clock',
              eventTime: (e) => e.t * 1000,
            }),
          )
          .keyBy(() => 'k', { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '1m' }), count())
          .to(kafkaSink('counts')),
    });
    const task = new Task(job, 'input', 0, () => now);
    for (const record of raw([{ t: 1000 }, { t: 1001 }])) task.process(record);
    task.idle();
    expect(task.takeOutputs()).toEqual([]);
    now += 29_000;
    task.idle();
    expect(task.takeOutputs()).toEqual([]);
    now += 2_000;
    task.idle();
    expect(values(task.takeOutputs(), 'counts')).toEqual([
      { key: 'k', windowStart: at(960), windowEnd: at(1020), result: 2, revision: 0 },
    ]);
  });
});
