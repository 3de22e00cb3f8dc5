import { randomUUID } from 'node:crypto';
import { createEnvelope, createLogger, deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { repartitionTopics } from '../src/api/job.js';
import type { RawRecord } from '../src/api/record.js';
import { count, defineJob, envelopes, jsonRecords, kafkaSink, tumbling } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { runWorker } from '../src/kafka/worker.js';
import { Task } from '../src/runtime/task.js';
import { createTopic, produce, readAll, type TestRecord, waitFor } from './kafka.js';

const brokers = loadPlatformConfig().kafka.bootstrapServers;
const silent = createLogger('test', 'silent');

const product = (name: string, eventId: string = randomUUID()) => {
  const productId = randomUUID();
  return createEnvelope({
    eventId,
    eventType: 'ecommerce.product.created.v1',
    producer: 'test',
    tenantId: 't-repartition',
    partitionKey: productId,
    traceId: '0'.repeat(32),
    payload: { productId, sku: name, name, category: 'c', price: '1.00', currency: 'EUR', version: 1 },
  });
};
type Product = ReturnType<typeof product>;
const on = (partition: number, envelope: Product, key = envelope.partitionKey): TestRecord => ({
  key,
  value: JSON.stringify(envelope),
  partition,
});

async function provision(job: Parameters<typeof ensureJobTopics>[1]) {
  const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
  try {
    await ensureJobTopics(admin, job, { sinkPartitions: 2 });
    return await admin.metadata({ topics: repartitionTopics(job) });
  } finally {
    await admin.close();
  }
}

async function runUntil<T>(
  job: Parameters<typeof runWorker>[0]['job'],
  id: string,
  what: string,
  until: () => Promise<T | undefined>,
) {
  const stop = new AbortController();
  const worker = runWorker({ job, bootstrapServers: brokers, workerId: id, signal: stop.signal, logger: silent });
  try {
    return await waitFor(what, until);
  } finally {
    stop.abort();
    await worker;
  }
}

describe('regression: the same eventId on two different keys (partitions) was counted downstream', () => {
  it('dedupe keeps one copy across the topic, flags the conflicting one, exactly once across a restart', async () => {
    const input = await createTopic(brokers, 'same-event-id', 2);
    const output = `${input}.deduped`;
    const job = defineJob({
      name: `test-rp-dedupe-${input.slice(-8)}`,
      maxBatchRecords: 7,
      build: (j) =>
        j
          .source(envelopes({ topics: [input], maxOutOfOrderness: '1m', idleTimeout: 0 }))
          .dedupe({ ttl: '24h' })
          .to(kafkaSink(output)),
    });
    const metadata = await provision(job);
    // The internal topic gets the source's partition count.
    expect([...metadata.topics.values()].map((t) => t.partitionsCount)).toEqual([2]);

    const first = Array.from({ length: 20 }, (_, i) => product(`p${i}`));
    const conflicting = product('other name', first[5]?.eventId);
    await produce(brokers, input, [
      ...first.map((e, i) => on(i % 2, e)),
      // Re-deliveries of the same events under other keys, in the other partition.
      ...first.slice(0, 5).map((e, i) => on((i + 1) % 2, e, randomUUID())),
      on(0, conflicting),
    ]);
    const countsOf = (records: RawRecord[]) => {
      const ids = records.map((r) => JSON.parse(r.value?.toString() ?? '{}').eventId as string);
      return { ids, unique: new Set(ids).size };
    };
    const dlq = deadLetterTopicOf(input);
    await runUntil(job, 'rp-0', 'the first 20 events once and the conflict dead-lettered', async () => {
      const out = await readAll(brokers, output);
      const dead = await readAll(brokers, dlq);
      return out.length >= 20 && dead.length >= 1 ? out : undefined;
    });

    // After a restart (state restored from the changelog of the repartition topic's tasks), copies of events already
    // written are still dropped, wherever they land.
    const second = Array.from({ length: 10 }, (_, i) => product(`q${i}`));
    await produce(brokers, input, [
      ...second.map((e, i) => on(i % 2, e)),
      ...first.slice(6, 10).map((e, i) => on(i % 2, e, randomUUID())),
      ...second.slice(0, 3).map((e, i) => on((i + 1) % 2, e, randomUUID())),
    ]);
    const out = await runUntil(job, 'rp-1', 'all 30 events', async () => {
      const records = await readAll(brokers, output);
      return records.length >= 30 ? records : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const final = await readAll(brokers, output);
    expect(final.length).toBe(out.length);
    const { ids, unique } = countsOf(final);
    expect(ids).toHaveLength(30);
    expect(unique).toBe(30);
    expect(new Set(ids)).toEqual(new Set([...first, ...second].map((e) => e.eventId)));
    // Keyed as before the hop: by a key the event was produced with (the aggregate id for the originals).
    for (const record of final) {
      const envelope = JSON.parse(record.value?.toString() ?? '{}') as Product;
      if (!first.slice(0, 5).some((e) => e.eventId === envelope.eventId))
        expect(record.key?.toString()).toBe(envelope.partitionKey);
    }
    // The conflicting duplicate: flagged with the reason and its input coordinates, never dropped silently.
    const dead = await readAll(brokers, dlq);
    expect(dead.map((d) => d.headers.get('bv-dlq-code')?.toString())).toEqual(['CONFLICTING_DUPLICATE']);
    expect(dead[0]?.headers.get('bv-dlq-topic')?.toString()).toBe(input);
    expect(['0', '1']).toContain(dead[0]?.headers.get('bv-dlq-partition')?.toString());
    expect(JSON.parse(dead[0]?.value?.toString() ?? '{}').eventId).toBe(first[5]?.eventId);
    expect(dead[0]?.headers.get('bv-dlq-reason')?.toString()).toContain('different content');
  }, 180_000);
});

interface Order {
  orderId: string;
  customerId: string;
  t: number;
}

describe('regression: keyBy on a field other than the Kafka key gave partial results per partition', () => {
  it('one customer’s events over two partitions give ONE window result', async () => {
    const input = await createTopic(brokers, 'keyby-repartition', 2);
    const output = `${input}.per-customer`;
    const job = defineJob({
      name: `test-rp-keyby-${input.slice(-8)}`,
      build: (j) =>
        j
          .source(
            jsonRecords<Order>({
              topics: [input],
              maxOutOfOrderness: '1s',
              idleTimeout: 0,
              eventTime: (o) => o.t,
              eventId: (o) => o.orderId,
            }),
          )
          .keyBy((o) => o.customerId)
          .window(tumbling({ size: '1m' }), count())
          .to(kafkaSink(output)),
    });
    await provision(job);
    const [internal] = repartitionTopics(job);
    expect(internal).toBe(`${job.name}-1-keyBy-repartition`);
    const base = Date.parse('2026-11-25T10:00:00.000Z');
    const order = (customerId: string, t: number, partition: number): TestRecord => {
      const orderId = randomUUID();
      return { key: orderId, value: JSON.stringify({ orderId, customerId, t }), partition };
    };
    // Keyed (and spread) by order id: each customer's orders are in both partitions.
    await produce(brokers, input, [
      ...Array.from({ length: 10 }, (_, i) => order('c1', base + i * 1000, i % 2)),
      ...Array.from({ length: 6 }, (_, i) => order('c2', base + 500 + i * 1000, (i + 1) % 2)),
    ]);
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: 'kb-0', signal: stop.signal, logger: silent });
    try {
      await waitFor('every order in the repartition topic', async () => {
        const records = await readAll(brokers, internal ?? '');
        return records.length >= 16 ? records : undefined;
      });
      // Later orders of both customers move their partitions' watermarks past the minute.
      await produce(brokers, input, [order('c1', base + 180_000, 0), order('c2', base + 180_000, 1)]);
      const results = await waitFor('both customers’ minute', async () => {
        const records = await readAll(brokers, output);
        return records.length >= 2 ? records : undefined;
      });
      await new Promise((r) => setTimeout(r, 1000));
      const all = (await readAll(brokers, output)).map((r) => JSON.parse(r.value?.toString() ?? '{}'));
      expect(all.length).toBe(results.length);
      expect(all.map((w) => [w.key, w.windowStart, w.result]).sort()).toEqual([
        ['c1', '2026-11-25T10:00:00.000Z', 10],
        ['c2', '2026-11-25T10:00:00.000Z', 6],
      ]);
    } finally {
      stop.abort();
      await worker;
    }
  }, 180_000);

  it('refuses keyed state after a keyBy that does not bring a key’s records together, with the reason', () => {
    const source = () => jsonRecords<Order>({ topics: ['test.rp.input'], maxOutOfOrderness: '1s' });
    expect(() =>
      defineJob({
        name: 'test-rp-none',
        build: (j) =>
          j
            .source(source())
            .keyBy((o) => o.customerId, { partitioning: 'none' })
            .window(tumbling({ size: '1m' }), count())
            .to(kafkaSink('x')),
      }),
    ).toThrow(expect.objectContaining({ code: 'JOB_INVALID', message: expect.stringMatching(/partial result/) }));
    expect(() =>
      defineJob({
        name: 'test-rp-after-dedupe',
        build: (j) =>
          j
            .source(source())
            .dedupe({ ttl: '1h' })
            .keyBy((o) => o.customerId, { partitioning: 'co-partitioned' })
            .window(tumbling({ size: '1m' }), count())
            .to(kafkaSink('x')),
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'JOB_INVALID',
        message: expect.stringMatching(/repartitioned the stream by eventId/),
      }),
    );
    // Keyed only for the output's key: fine.
    defineJob({
      name: 'test-rp-none-ok',
      build: (j) =>
        j
          .source(source())
          .keyBy((o) => o.customerId, { partitioning: 'none' })
          .to(kafkaSink('x')),
    });
  });

  it('a co-partitioned keyBy dead-letters a record partitioned by another key instead of a partial result', () => {
    const job = defineJob({
      name: 'test-rp-copart',
      build: (j) =>
        j
          .source(jsonRecords<Order>({ topics: ['test.rp.copart'], maxOutOfOrderness: '1s', eventTime: (o) => o.t }))
          .keyBy((o) => o.customerId, { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '1m' }), count())
          .to(kafkaSink('x')),
    });
    const task = new Task(job, 'test.rp.copart', 0);
    const t = Date.now() - 60_000;
    const record = (offset: bigint, key: string, customerId: string): RawRecord => ({
      topic: 'test.rp.copart',
      partition: 0,
      offset,
      timestamp: t,
      key: Buffer.from(key),
      value: Buffer.from(JSON.stringify({ orderId: 'o', customerId, t })),
      headers: new Map(),
    });
    task.process(record(0n, 'c1', 'c1'));
    task.process(record(1n, 'o-2', 'c1'));
    const dead = task.takeOutputs().filter((o) => o.topic === deadLetterTopicOf('test.rp.copart'));
    expect(dead.map((d) => [d.headers['bv-dlq-code'], d.headers['bv-dlq-offset']])).toEqual([
      ['KEY_NOT_COPARTITIONED', '1'],
    ]);
  });
});
