import { deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { count, defineJob, jsonRecords, kafkaSink, tumbling } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { runWorker } from '../src/kafka/worker.js';
import { Task } from '../src/runtime/task.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const brokers = loadPlatformConfig().kafka.bootstrapServers;

interface Reading {
  id: string;
  sensor: string;
  t: number;
}

describe('a Kafka-to-Kafka job on the local broker', () => {
  it('produces exactly what the same job computes in process, and dead-letters bad records', async () => {
    const input = await createTopic(brokers, 'worker-in', 3);
    const output = `${input}.counts`;
    const job = defineJob({
      name: `test-worker-${input.slice(-8)}`,
      maxBatchRecords: 100,
      build: (j) =>
        j
          .source(
            jsonRecords<Reading>({
              topics: [input],
              maxOutOfOrderness: '2s',
              idleTimeout: 0,
              eventTime: (r) => r.t,
              eventId: (r) => r.id,
            }),
          )
          .dedupe({ ttl: '1m', scope: 'partition' })
          .keyBy((r) => r.sensor, { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '10s' }), count(), { allowedLateness: '5s' })
          .to(kafkaSink(output)),
    });
    const records = Array.from({ length: 600 }, (_, i) => {
      const sensor = `s${i % 7}`;
      const id = i % 50 === 49 ? `r${i - 1}` : `r${i}`; // some duplicates
      return { key: sensor, value: JSON.stringify({ id, sensor, t: 1_700_000_000_000 + i * 250 - (i % 9) * 400 }) };
    });
    records.splice(300, 0, { key: 's1', value: '{broken' });
    await produce(brokers, input, records);

    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 3 });
    await admin.close();
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: 'test-0', signal: stop.signal });

    // Reference: the same job run in process over each partition's records.
    const inputRecords = await readAll(brokers, input);
    const expected: string[] = [];
    for (const partition of [0, 1, 2]) {
      const task = new Task(job, input, partition);
      for (const record of inputRecords.filter((r) => r.partition === partition)) task.process(record);
      expected.push(
        ...task
          .takeOutputs()
          .filter((o) => o.topic === output)
          .map((o) => o.value.toString()),
      );
    }
    expect(expected.length).toBeGreaterThan(10);
    const actual = await waitFor('all window results', async () => {
      const out = await readAll(brokers, output);
      return out.length >= expected.length ? out : undefined;
    });
    stop.abort();
    await worker;
    expect(actual.map((r) => r.value?.toString()).sort()).toEqual(expected.sort());
    const dead = await readAll(brokers, deadLetterTopicOf(input));
    expect(dead).toHaveLength(1);
    expect(dead[0]?.headers.get('bv-dlq-code')?.toString()).toBe('UNDECODABLE');
    expect(dead[0]?.value?.toString()).toBe('{broken');
  }, 120_000);

  it('commits a checkpoint larger than the broker takes in one request (regression: MESSAGE_TOO_LARGE forever)', async () => {
    const input = await createTopic(brokers, 'worker-big', 1);
    const output = `${input}.out`;
    const job = defineJob({
      name: `test-big-${input.slice(-8)}`,
      maxBatchRecords: 5000,
      maxBatchWait: '2s',
      build: (j) =>
        j
          .source(jsonRecords<{ id: string; pad: string }>({ topics: [input], maxOutOfOrderness: 0, idleTimeout: 0 }))
          .dedupe({ ttl: '1h', id: (r) => r.id }) // a changelog entry per record on top of the outputs
          .to(kafkaSink(output)),
    });
    // 5,000 records of ~800 B read in one checkpoint: ~4 MB of outputs and changelog in one transaction.
    const pad = 'x'.repeat(760);
    await produce(
      brokers,
      input,
      Array.from({ length: 5000 }, (_, i) => ({ key: `k${i % 10}`, value: JSON.stringify({ id: `r${i}`, pad }) })),
    );
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 1 });
    await admin.close();
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: 'test-big', signal: stop.signal });
    try {
      const out = await waitFor('every record through', async () => {
        const records = await readAll(brokers, output);
        return records.length >= 5000 ? records : undefined;
      });
      expect(out).toHaveLength(5000);
    } finally {
      stop.abort();
      await worker;
    }
  }, 120_000);
});
