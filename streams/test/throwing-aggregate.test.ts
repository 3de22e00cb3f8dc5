import { deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { count, defineJob, kafkaSink, session, tumbling } from '../src/index.js';
import type { Aggregate } from '../src/operators/windows/aggregates.js';
import { DEAD_LETTER_HEADERS } from '../src/runtime/dead-letter.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, goldenSource, raw, run, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const source = goldenSource();

/** A count whose result() throws for the key "bad" (its accumulator remembers the key). */
const fragile: Aggregate<GoldenEvent, { n: number; key: string }, number> = {
  init: () => ({ n: 0, key: '' }),
  add: (a, v) => ({ n: a.n + 1, key: v.key ?? '' }),
  merge: (a, b) => ({ n: a.n + b.n, key: b.key || a.key }),
  result: (a) => {
    if (a.key === 'bad') throw new Error('cannot render this window');
    return a.n;
  },
};

const fixedJob = (lateness: `${number}s`) =>
  defineJob({
    name: 'throwing-aggregate',
    build: (j) =>
      j
        .source(source)
        .keyBy((e) => e.key ?? '', { partitioning: 'co-partitioned' })
        .window(tumbling({ size: '10s' }), fragile, { allowedLateness: lateness })
        .to(kafkaSink('counts')),
  });

const deadLetters = (outputs: ReturnType<Task['takeOutputs']>) =>
  outputs
    .filter((o) => o.topic === deadLetterTopicOf('input'))
    .map((o) => ({ code: o.headers[DEAD_LETTER_HEADERS.code], key: o.key, value: JSON.parse(o.value.toString()) }));

const input: GoldenEvent[] = [
  { t: 1, key: 'a' },
  { t: 2, key: 'bad' },
  { t: 3, key: 'c' },
  { t: 4, key: 'a' },
  { t: 12, key: 'a' }, // closes [0, 10) for every key
  { t: 22, key: 'a' }, // closes [10, 20)
];
const expected = [
  { key: 'a', windowStart: at(0), windowEnd: at(10), result: 2, revision: 0 },
  { key: 'c', windowStart: at(0), windowEnd: at(10), result: 1, revision: 0 },
  { key: 'a', windowStart: at(10), windowEnd: at(20), result: 1, revision: 0 },
];

describe('an aggregate whose result() throws no longer loses the other keys windows or crashes the restore', () => {
  it('fires every other window of the same watermark and dead-letters only the one that threw', () => {
    const outputs = run(fixedJob('0s'), raw(input));
    expect(values(outputs, 'counts')).toEqual(expected);
    expect(deadLetters(outputs)).toEqual([
      {
        code: 'WINDOW_FIRE_FAILED',
        key: 'bad',
        value: { key: 'bad', windowStart: 0, windowEnd: 10_000, accumulator: { n: 1, key: 'bad' } },
      },
    ]);
  });

  it('leaves no window of the failed firing in state', () => {
    const task = new Task(fixedJob('0s'), 'input', 0);
    for (const record of raw(input)) task.process(record);
    // Only [20, 30) of "a" and the task's own progress are left.
    expect(task.stateSize).toBe(2);
  });

  it('gives the same output when restored at any point, and a restore never throws', () => {
    for (let point = 0; point < input.length; point++) {
      const outputs = run(fixedJob('0s'), raw(input), { restartAfter: [point] });
      expect(values(outputs, 'counts'), `restart after record ${point}`).toEqual(expected);
    }
  });

  it('restores a changelog in which the throwing window is already due without throwing', () => {
    const job = fixedJob('0s');
    const first = new Task(job, 'input', 0);
    for (const record of raw(input.slice(0, 4))) first.process(record);
    const changelog = first.takeChangelog();
    // As an older version left it: the watermark past the windows' end, the windows still in state.
    changelog.push({ key: '__task\u0000progress', value: JSON.stringify({ maxTimestamp: 12_000, watermark: 11_999 }) });
    const second = new Task(job, 'input', 0);
    expect(() => second.restore(changelog)).not.toThrow();
    for (const record of raw(input).slice(4)) second.process(record);
    expect(values(second.takeOutputs(), 'counts')).toEqual([
      { key: 'a', windowStart: at(10), windowEnd: at(20), result: 1, revision: 0 },
    ]);
  });

  it('keeps a fired window at its revision when a late update throws, and fires the others', () => {
    const outputs = run(fixedJob('10s'), raw([...input.slice(0, 5), { t: 5, key: 'bad' }, { t: 6, key: 'c' }]));
    expect(values(outputs, 'counts')).toEqual([
      { key: 'a', windowStart: at(0), windowEnd: at(10), result: 2, revision: 0 },
      { key: 'c', windowStart: at(0), windowEnd: at(10), result: 1, revision: 0 },
      { key: 'c', windowStart: at(0), windowEnd: at(10), result: 2, revision: 1 },
    ]);
    expect(deadLetters(outputs).map((d) => d.code)).toEqual(['WINDOW_FIRE_FAILED', 'WINDOW_FIRE_FAILED']);
  });

  it('fires the other sessions of the same watermark and dead-letters only the one that threw', () => {
    const job = defineJob({
      name: 'throwing-session',
      build: (j) =>
        j
          .source(source)
          .keyBy((e) => e.key ?? '', { partitioning: 'co-partitioned' })
          .window(session({ gap: '5s' }), fragile)
          .to(kafkaSink('sessions')),
    });
    const outputs = run(job, raw(input.slice(0, 5)));
    // In end-time order (docs/streams.md), as after a restore.
    expect(values(outputs, 'sessions')).toEqual([
      { key: 'c', windowStart: at(3), windowEnd: at(8), result: 1, revision: 0 },
      { key: 'a', windowStart: at(1), windowEnd: at(9), result: 2, revision: 0 },
    ]);
    expect(deadLetters(outputs).map((d) => [d.code, d.key])).toEqual([['WINDOW_FIRE_FAILED', 'bad']]);
    // count() alone is unaffected by the same input.
    expect(count().result(3)).toBe(3);
  });
});
