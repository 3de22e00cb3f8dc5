import { deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { defineJob, kafkaSink, sum, tumbling } from '../src/index.js';
import { DEAD_LETTER_HEADERS } from '../src/runtime/dead-letter.js';
import { type GoldenEvent, goldenSource, raw, run, values } from './golden.js';

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const source = goldenSource();
const codes = (outputs: ReturnType<typeof run>) =>
  outputs
    .filter((o) => o.topic === deadLetterTopicOf('input'))
    .map((o) => [o.headers[DEAD_LETTER_HEADERS.code], o.headers[DEAD_LETTER_HEADERS.offset]]);

describe('sum no longer adds whatever comes (5 + "100" + 3 = "51003") or differs after a restore', () => {
  const job = defineJob({
    name: 'typed-sum',
    build: (j) =>
      j
        .source(source)
        .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
        .window(
          tumbling({ size: '10s' }),
          sum((e) => e.v as number),
        )
        .to(kafkaSink('sums')),
  });
  const input: GoldenEvent[] = [{ t: 1, v: 5 }, { t: 2, v: '100' }, { t: 3 }, { t: 4, v: 3 }, { t: 12, v: 1 }];

  it('dead-letters a non-numeric or missing measure as AGGREGATE_INPUT_INVALID and sums the rest', () => {
    const outputs = run(job, raw(input));
    expect(values(outputs, 'sums')).toEqual([
      { key: 'k', windowStart: at(0), windowEnd: at(10), result: 8, revision: 0 },
    ]);
    expect(codes(outputs)).toEqual([
      ['AGGREGATE_INPUT_INVALID', '1'],
      ['AGGREGATE_INPUT_INVALID', '2'],
    ]);
  });

  it('gives the same output restored at any point', () => {
    const live = run(job, raw(input));
    for (let point = 0; point < input.length; point++) {
      const restored = run(job, raw(input), { restartAfter: [point] });
      expect(values(restored, 'sums'), `restart after ${point}`).toEqual(values(live, 'sums'));
      expect(codes(restored)).toEqual(codes(live));
    }
  });
});

describe('a numeric key or dedupe id no longer becomes a string only after a restore', () => {
  it('passes a numeric dedupe id once, live and restored', () => {
    const job = defineJob({
      name: 'typed-dedupe',
      build: (j) =>
        j
          .source(source)
          .dedupe({ ttl: '1m', id: (e) => e.n as unknown as string, scope: 'partition' })
          .to(kafkaSink('unique')),
    });
    const input: GoldenEvent[] = [
      { t: 1, n: 5 },
      { t: 2, n: 5 },
      { t: 3, n: 6 },
    ];
    const live = values(run(job, raw(input)), 'unique');
    expect(live).toEqual([
      { t: 1, n: 5 },
      { t: 3, n: 6 },
    ]);
    expect(values(run(job, raw(input), { restartAfter: [0] }), 'unique')).toEqual(live);
  });

  it('keys by the string of a numeric key, live and restored', () => {
    const job = defineJob({
      name: 'typed-key',
      build: (j) =>
        j
          .source(source)
          .keyBy((e) => e.customer as unknown as string, { partitioning: 'co-partitioned' })
          .window(
            tumbling({ size: '10s' }),
            sum((e) => e.v as number),
          )
          .to(kafkaSink('sums')),
    });
    const input: GoldenEvent[] = [
      { t: 1, customer: 7, v: 1 },
      { t: 2, customer: 7, v: 2 },
      { t: 3, customer: null, v: 4 },
      { t: 12, customer: 7, v: 1 },
    ];
    const expected = [{ key: '7', windowStart: at(0), windowEnd: at(10), result: 3, revision: 0 }];
    expect(values(run(job, raw(input)), 'sums')).toEqual(expected);
    expect(values(run(job, raw(input), { restartAfter: [0] }), 'sums')).toEqual(expected);
    expect(codes(run(job, raw(input)))).toEqual([['PROCESSING_FAILED', '2']]);
  });
});
