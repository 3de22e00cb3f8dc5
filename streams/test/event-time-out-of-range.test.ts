import { deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { count, defineJob, kafkaSink, tumbling } from '../src/index.js';
import { DEAD_LETTER_HEADERS } from '../src/runtime/dead-letter.js';
import { isoOrNull } from '../src/runtime/event-time.js';
import { Task } from '../src/runtime/task.js';
import { type GoldenEvent, goldenSource, raw, values } from './golden.js';

// The wall clock of these specs: 2026-01-01T00:00:00Z. Event times are in seconds.
const NOW = Date.UTC(2026, 0, 1);
const T0 = NOW / 1000 - 3600;
const at = (seconds: number) => new Date(seconds * 1000).toISOString();

const job = defineJob({
  name: 'event-time-range',
  eventTimeTolerance: '1h',
  build: (j) =>
    j
      .source(goldenSource())
      .dedupe({ ttl: '1m', id: (e) => e.id ?? '', scope: 'partition' })
      .keyBy(() => 'k', { partitioning: 'co-partitioned' })
      .window(tumbling({ size: '10s' }), count())
      .to(kafkaSink('counts')),
});

const deadLetters = (outputs: ReturnType<Task['takeOutputs']>) =>
  outputs
    .filter((o) => o.topic === deadLetterTopicOf('input'))
    .map((o) => ({ code: o.headers[DEAD_LETTER_HEADERS.code], offset: o.headers[DEAD_LETTER_HEADERS.offset] }));

describe('a far-future event time (microseconds read as milliseconds) no longer moves the watermark to year 58133', () => {
  it('dead-letters it as EVENT_TIME_OUT_OF_RANGE; the watermark, dedupe and windows go on as before', () => {
    const task = new Task(job, 'input', 0, () => NOW);
    const input: GoldenEvent[] = [
      { t: T0 + 1, id: 'a' },
      { t: (T0 + 2) * 1000, id: 'b' }, // microseconds read as milliseconds: year 58133
      { t: T0 + 3, id: 'c' },
      { t: T0 + 3, id: 'c' }, // a duplicate: still caught
      { t: NOW / 1000 + 3601, id: 'd' }, // just past the 1 h tolerance
      { t: T0 + 12, id: 'e' }, // closes [T0, T0 + 10)
    ];
    for (const record of raw(input)) task.process(record);
    const outputs = task.takeOutputs();
    expect(deadLetters(outputs)).toEqual([
      { code: 'EVENT_TIME_OUT_OF_RANGE', offset: '1' },
      { code: 'EVENT_TIME_OUT_OF_RANGE', offset: '4' },
    ]);
    expect(values(outputs, 'counts')).toEqual([
      { key: 'k', windowStart: at(T0), windowEnd: at(T0 + 10), result: 2, revision: 0 },
    ]);
    expect(task.watermark).toBe((T0 + 12) * 1000 - 1);
    expect(task.counters.dedupeHits).toBe(1);
  });

  it('dead-letters a time of 1e16 (outside the date range) and the status line still renders', () => {
    const task = new Task(job, 'input', 0, () => NOW);
    for (const record of raw([{ t: 1e13, id: 'x' }])) task.process(record);
    expect(deadLetters(task.takeOutputs())).toEqual([{ code: 'EVENT_TIME_OUT_OF_RANGE', offset: '0' }]);
    expect(isoOrNull(task.watermark)).toBeNull();
    expect(isoOrNull(1e16)).toBeNull();
    expect(isoOrNull(Number.NaN)).toBeNull();
    expect(isoOrNull(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('clamps a bad watermark restored from an older changelog to the wall clock plus the tolerance', () => {
    const task = new Task(job, 'input', 0, () => NOW);
    const progress = { maxTimestamp: 1e16, watermark: 1e16 };
    task.restore([{ key: '__task\u0000progress', value: JSON.stringify(progress) }]);
    expect(task.watermark).toBe(NOW + 3_600_000);
    expect(isoOrNull(task.watermark)).toBe('2026-01-01T01:00:00.000Z');
  });
});
