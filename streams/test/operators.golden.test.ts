import { deadLetterTopicOf } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { count, defineJob, envelopes, jsonRecords, kafkaSink, tumbling } from '../src/index.js';
import { type GoldenEvent, raw, run, values } from './golden.js';

const source = jsonRecords<GoldenEvent>({
  topics: ['input'],
  maxOutOfOrderness: '0s',
  idleTimeout: 0,
  eventTime: (e) => e.t * 1000,
  eventId: (e) => e.id ?? `${e.t}`,
});

describe('dedupe', () => {
  const job = defineJob({
    name: 'golden-dedupe',
    build: (j) => j.source(source).dedupe({ ttl: '10s', scope: 'partition' }).to(kafkaSink('unique')),
  });
  const input: GoldenEvent[] = [
    { t: 1, id: 'x' },
    { t: 2, id: 'y' },
    { t: 3, id: 'x' }, // duplicate within the TTL
    { t: 2, id: 'y' }, // duplicate, out of order
    { t: 12, id: 'z' }, // watermark 11.999 s: x (seen at 1 s) expires
    { t: 13, id: 'x' }, // x again after its TTL: passes
    { t: 14, id: 'y' }, // y expired at 12 s: passes
    { t: 14, id: 'y' }, // duplicate of the one just passed
  ];
  const expected = [
    { t: 1, id: 'x' },
    { t: 2, id: 'y' },
    { t: 12, id: 'z' },
    { t: 13, id: 'x' },
    { t: 14, id: 'y' },
  ];

  it('drops ids seen within the TTL, measured in event time', () => {
    expect(values(run(job, raw(input)), 'unique')).toEqual(expected);
  });

  it('remembers ids across a restore', () => {
    for (let at = 0; at < input.length; at++) {
      expect(values(run(job, raw(input), { restartAfter: [at] }), 'unique'), `restart after ${at}`).toEqual(expected);
    }
  });
});

describe('rolling z-score', () => {
  const job = defineJob({
    name: 'golden-zscore',
    build: (j) => {
      const anomalies = j
        .source(source)
        .keyBy((e) => e.key ?? 'a', { partitioning: 'co-partitioned' })
        .zScore({ metric: 'amount', value: (e) => e.v as number, window: { points: 5 }, minSamples: 3, threshold: 3 });
      anomalies.to(kafkaSink('anomalies'));
      anomalies.scores().to(kafkaSink('scores'));
    },
  });
  const input: GoldenEvent[] = [
    { t: 1, id: 'e1', v: 10 },
    { t: 2, id: 'e2', v: 12 },
    { t: 3, id: 'e3', v: 50 }, // only 2 samples before it: not scored
    { t: 4, id: 'e4', v: 11 },
    { t: 5, id: 'e5', v: 10 },
    { t: 6, id: 'e6', v: 11 },
    { t: 7, id: 'e7', v: 12 },
    { t: 8, id: 'e8', v: 11 }, // window now 11, 10, 11, 12, 11 (e3's 50 has rolled out)
    { t: 9, id: 'e9', v: 30 }, // anomaly
    { t: 10, id: 'b1', key: 'b', v: 1000 }, // another key: its own window
  ];

  it('scores each event against the window before it; an anomalous point opens an episode with its context', () => {
    const outputs = run(job, raw(input));
    const scores = values(outputs, 'scores') as Record<string, unknown>[];
    // e4..e9 of key a are scored (e1..e3 had fewer than 3 points before them); b1 is its key's first point.
    expect(scores.map((s) => s.eventId)).toEqual(['e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
    const anomalous = scores.filter((s) => s.anomalous);
    // The five points before e9 are e4..e8.
    const before = [11, 10, 11, 12, 11];
    const mean = before.reduce((a, b) => a + b) / before.length;
    const stddev = Math.sqrt(before.reduce((a, b) => a + (b - mean) ** 2, 0) / (before.length - 1));
    expect(anomalous).toHaveLength(1);
    const [anomaly] = anomalous;
    expect(anomaly).toMatchObject({
      metric: 'amount',
      key: 'a',
      value: 30,
      samples: 5,
      reason: 'z',
      eventId: 'e9',
      episodeId: 'amount:a:9000',
      eventTime: new Date(9000).toISOString(),
    });
    expect(anomaly?.mean as number).toBeCloseTo(mean, 10);
    expect(anomaly?.stddev as number).toBeCloseTo(stddev, 10);
    expect(anomaly?.score as number).toBeCloseTo((30 - mean) / stddev, 10);
    expect(anomaly?.calibrated as number).toBeGreaterThan(0.9999);
    expect(values(outputs, 'anomalies')).toEqual([
      expect.objectContaining({ kind: 'anomaly_episode', status: 'open', episodeId: 'amount:a:9000', points: 1 }),
    ]);
  });

  it('flags a spike once the window has enough samples, and not a value inside the spread', () => {
    const spikes = values(
      run(
        job,
        raw(
          [1, 2, 3, 4]
            .map((t) => ({ t, id: `p${t}`, v: t % 2 === 0 ? 10 : 12 }))
            .concat([
              { t: 5, id: 'p5', v: 11 },
              { t: 6, id: 'p6', v: 40 },
            ]),
        ),
      ),
      'scores',
    ) as { eventId: string; anomalous: boolean }[];
    expect(spikes.filter((s) => s.anomalous).map((s) => s.eventId)).toEqual(['p6']);
  });

  it('gives the same scores and episodes when restored from its changelog at any point', () => {
    const expected = run(job, raw(input));
    for (let at = 0; at < input.length; at++) {
      const restarted = run(job, raw(input), { restartAfter: [at] });
      expect(values(restarted, 'anomalies'), `restart after ${at}`).toEqual(values(expected, 'anomalies'));
      expect(values(restarted, 'scores'), `restart after ${at}`).toEqual(values(expected, 'scores'));
    }
  });
});

describe('bad input', () => {
  it('goes to the dead-letter topic with the reason and its coordinates, and the job continues', () => {
    const job = defineJob({
      name: 'golden-dlq',
      build: (j) =>
        j
          .source(envelopes({ topics: ['ecommerce.order'], maxOutOfOrderness: '5s', idleTimeout: 0 }))
          .map((e) => e.eventId)
          .to(kafkaSink('ids')),
    });
    const good = {
      eventId: '0190a0a0-0000-7000-8000-000000000001',
      eventType: 'ecommerce.customer.registered.v1',
      occurredAt: '2026-11-25T10:00:00.000Z',
      producer: 'test',
      traceId: 'a'.repeat(32),
      correlationId: 'c',
      schemaVersion: 1,
      tenantId: 't1',
      partitionKey: 'k',
      payload: {
        customerId: '0190a0a0-0000-7000-8000-0000000000c1',
        email: 'a@example.com',
        name: 'A',
        segment: 'consumer',
        address: null,
        version: 1,
      },
    };
    const input = [
      { value: Buffer.from('{not json'), headers: new Map([['traceparent', Buffer.from('00-abc')]]) },
      { value: Buffer.from(JSON.stringify({ ...good, payload: { wrong: true } })), headers: new Map() },
      { value: Buffer.from(JSON.stringify(good)), headers: new Map() },
    ].map((r, i) => ({
      topic: 'ecommerce.order',
      partition: 0,
      offset: BigInt(40 + i),
      timestamp: 0,
      key: Buffer.from('k'),
      ...r,
    }));
    const outputs = run(job, input);
    const dead = outputs.filter((o) => o.topic === deadLetterTopicOf('ecommerce.order'));
    expect(dead.map((d) => d.headers['bv-dlq-code'])).toEqual(['UNDECODABLE', 'SCHEMA_VIOLATION']);
    expect(dead[0]?.headers).toMatchObject({
      'bv-dlq-topic': 'ecommerce.order',
      'bv-dlq-partition': '0',
      'bv-dlq-offset': '40',
      'bv-dlq-job': 'golden-dlq',
      traceparent: '00-abc',
    });
    expect(dead[0]?.value.toString()).toBe('{not json');
    expect(dead[1]?.headers['bv-dlq-reason']).toMatch(/schema violation/);
    expect(values(outputs, 'ids')).toEqual([good.eventId]);
  });
});

describe('regressions', () => {
  it('a window whose aggregate throws on firing is dead-lettered itself (at its last record); the task goes on', () => {
    const job = defineJob({
      name: 'golden-throwing-window',
      build: (j) =>
        j
          .source(source)
          .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '10s' }), {
            init: () => 0,
            add: (n: number) => n + 1,
            merge: (a: number, b: number) => a + b,
            result: (n: number) => {
              if (n === 2) throw new Error('two is not allowed');
              return n;
            },
          })
          .to(kafkaSink('counts')),
    });
    const outputs = run(job, raw([{ t: 1 }, { t: 2 }, { t: 11 }, { t: 25 }]));
    const dead = outputs.filter((o) => o.topic === deadLetterTopicOf('input'));
    expect(dead.map((o) => [o.headers['bv-dlq-code'], o.headers['bv-dlq-offset']])).toEqual([
      ['WINDOW_FIRE_FAILED', '1'],
    ]);
    expect(values(outputs, 'counts')).toMatchObject([{ windowStart: '1970-01-01T00:00:10.000Z', result: 1 }]);
  });

  it('window results do not carry the eventId of an unrelated record processed last', () => {
    const job = defineJob({
      name: 'golden-window-origin',
      build: (j) =>
        j
          .source(source)
          .keyBy((e) => e.key ?? 'k', { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '10s' }), count())
          .map((w, origin) => ({ key: w.key, eventId: origin.eventId ?? null }))
          .to(kafkaSink('origins')),
    });
    const outputs = run(
      job,
      raw([
        { t: 1, key: 'a', id: 'a1' },
        { t: 12, key: 'b', id: 'b1' },
      ]),
    );
    expect(values(outputs, 'origins')).toEqual([{ key: 'a', eventId: null }]);
  });

  it('refuses a job that reads one topic from two sources (only one graph would run for its partitions)', () => {
    expect(() =>
      defineJob({
        name: 'golden-two-sources',
        build: (j) => {
          j.source(source).to(kafkaSink('a'));
          j.source(source).to(kafkaSink('b'));
        },
      }),
    ).toThrow(/reads input from more than one source/);
  });

  it('a value whose withEventTime is not a time is dead-lettered instead of poisoning the checkpoint', () => {
    const job = defineJob({
      name: 'golden-bad-event-time',
      build: (j) =>
        j
          .source(source)
          .withEventTime((e) => (e.id === 'bad' ? Number.NaN : e.t * 1000))
          .to(kafkaSink('out')),
    });
    const outputs = run(job, raw([{ t: 1 }, { t: 2, id: 'bad' }, { t: 3 }]));
    expect(values(outputs, 'out')).toHaveLength(2);
    expect(outputs.filter((o) => o.topic === deadLetterTopicOf('input')).map((o) => o.headers['bv-dlq-code'])).toEqual([
      'PROCESSING_FAILED',
    ]);
  });
});
