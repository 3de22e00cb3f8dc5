import { randomUUID } from 'node:crypto';
import { createEnvelope, createLogger, deadLetterTopicOf, type Logger, loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { repartitionTopics } from '../src/api/job.js';
import { defineJob, envelopes, kafkaSink } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { runWorker, type WorkerStatus } from '../src/kafka/worker.js';
import { DEAD_LETTER_MAX_BYTES } from '../src/runtime/dead-letter.js';
import { STALL_AFTER_FAILURES } from '../src/runtime/stall.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const brokers = loadPlatformConfig().kafka.bootstrapServers;
/** The broker's default message.max.bytes (1 MiB + 12); a record of JUST_UNDER bytes is accepted on the input. */
const JUST_UNDER = 1_048_000;

const product = (name: string, eventId = randomUUID()) => {
  const productId = randomUUID();
  return {
    key: productId,
    value: JSON.stringify(
      createEnvelope({
        eventId,
        eventType: 'ecommerce.product.created.v1',
        producer: 'test',
        tenantId: 't-size',
        partitionKey: productId,
        traceId: '0'.repeat(32),
        payload: { productId, sku: 's', name, category: 'c', price: '1.00', currency: 'EUR', version: 1 },
      }),
    ),
  };
};
/** A valid envelope whose JSON is `bytes` long (the name fills it). */
const productOfSize = (bytes: number) => {
  const shell = product('');
  return product('x'.repeat(bytes - shell.value.length));
};

const dedupeJob = (name: string, input: string, output: string) =>
  defineJob({
    name,
    maxBatchRecords: 50,
    build: (j) =>
      j
        .source(envelopes({ topics: [input], maxOutOfOrderness: '1m', idleTimeout: 0 }))
        .dedupe({ ttl: '24h' })
        .to(kafkaSink(output)),
  });

describe('regression: a record just under the broker limit stalled dedupe-envelopes on its partition forever', () => {
  it('dead-letters it cut to fit, with its coordinates and size, and the records after it still arrive', async () => {
    const input = await createTopic(brokers, 'dlq-size', 1);
    const output = `${input}.deduped`;
    const job = dedupeJob(`test-dlq-size-${input.slice(-8)}`, input, output);
    const before = [product('a'), product('b')];
    const validButHuge = productOfSize(JUST_UNDER);
    const invalidHuge = { key: 'junk', value: `{"not":"an envelope","pad":"${'y'.repeat(JUST_UNDER - 40)}"}` };
    const after = [product('c'), product('d'), product('e')];
    expect(validButHuge.value.length).toBe(JUST_UNDER);
    // One produce request each: two of them in one batch would be over the limit on the way in.
    for (const batch of [before, [validButHuge], [invalidHuge], after]) await produce(brokers, input, batch);

    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 1 });
    await admin.close();
    const statuses: WorkerStatus[] = [];
    const stop = new AbortController();
    const worker = runWorker({
      job,
      bootstrapServers: brokers,
      workerId: 'size-0',
      signal: stop.signal,
      onStatus: (s) => statuses.push(s),
      logger: createLogger('test', 'silent'),
    });
    try {
      const landed = await waitFor('the records after the huge ones', async () => {
        const out = await readAll(brokers, output);
        return out.length >= 5 ? out : undefined;
      });
      const names = landed.map((r) => JSON.parse(r.value?.toString() ?? '{}').payload.name);
      expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);

      const dead = await readAll(brokers, deadLetterTopicOf(input));
      expect(dead).toHaveLength(2);
      const header = (i: number, name: string) => dead[i]?.headers.get(name)?.toString();
      expect(dead.map((_, i) => header(i, 'bv-dlq-code'))).toEqual(['OUTPUT_TOO_LARGE', 'SCHEMA_VIOLATION']);
      expect(
        dead.map((_, i) => [header(i, 'bv-dlq-topic'), header(i, 'bv-dlq-partition'), header(i, 'bv-dlq-offset')]),
      ).toEqual([
        [input, '0', '2'],
        [input, '0', '3'],
      ]);
      expect(Number(header(1, 'bv-dlq-original-bytes'))).toBe(invalidHuge.value.length);
      expect(Number(header(0, 'bv-dlq-original-bytes'))).toBeGreaterThanOrEqual(JUST_UNDER);
      for (const letter of dead) {
        expect(letter.value?.length).toBeLessThan(DEAD_LETTER_MAX_BYTES);
        expect(letter.value?.length).toBeGreaterThan(DEAD_LETTER_MAX_BYTES - 10_000); // the first bytes are kept
      }
      expect(dead[1]?.value?.subarray(0, 20).toString()).toBe(invalidHuge.value.slice(0, 20));
      expect(statuses.flatMap((s) => s.stalled ?? [])).toEqual([]);
    } finally {
      stop.abort();
      await worker;
    }
  }, 120_000);
});

interface LogLine {
  level: string;
  msg: string;
  topic?: string;
}

/** A logger that keeps the lines (the worker logs through info, warn and error). */
const capturing = (lines: LogLine[]): Logger => {
  const at =
    (level: string) =>
    (object: { topic?: string }, msg: string): void => {
      lines.push({ level, msg, ...(object.topic ? { topic: object.topic } : {}) });
    };
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger;
};

describe('regression: a job that could not make progress on a partition still said running', () => {
  it('reports the partition as stalled with the broker’s reason, and clears it once it moves again', async () => {
    const input = await createTopic(brokers, 'stall', 1);
    const output = `${input}.small`;
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    // A sink topic that refuses records over 4 KB: every checkpoint carrying the 20 KB record fails.
    await admin.createTopics({
      topics: [output],
      partitions: 1,
      replicas: 1,
      configs: [{ name: 'max.message.bytes', value: '4096' }],
    });
    const job = dedupeJob(`test-stall-${input.slice(-8)}`, input, output);
    await ensureJobTopics(admin, job);
    await produce(brokers, input, [productOfSize(20_000)]);
    const statuses: WorkerStatus[] = [];
    const lines: LogLine[] = [];
    const stop = new AbortController();
    const worker = runWorker({
      job,
      bootstrapServers: brokers,
      workerId: 'stall-0',
      signal: stop.signal,
      onStatus: (s) => statuses.push(s),
      logger: capturing(lines),
    });
    try {
      // The job dedupes across the topic: the sink is written by the tasks of its repartition topic.
      const [internal] = repartitionTopics(job);
      const stalled = await waitFor('a stalled report', async () => {
        const entry = statuses.at(-1)?.stalled?.[0];
        return entry && entry.failures >= STALL_AFTER_FAILURES + 5 ? entry : undefined;
      });
      expect(stalled).toMatchObject({ topic: internal, partition: 0 });
      expect(stalled.failures).toBeGreaterThanOrEqual(STALL_AFTER_FAILURES);
      // Regression: every retry was logged (about 5,000 lines in 11 minutes). The first failure and the stall are;
      // the retries after them are summarised once a minute.
      expect(
        lines
          .filter((l) => l.topic === internal && (l.level === 'warn' || l.level === 'error'))
          .map((l) => [l.level, l.msg]),
      ).toEqual([
        ['warn', 'checkpoint failed'],
        ['error', 'partition stalled: it cannot make progress'],
      ]);
      // Closing and reopening the task on each retry is at debug; the first opening (and the first close) at info.
      expect(lines.filter((l) => l.topic === internal && l.level === 'info').length).toBeLessThanOrEqual(3);
      expect(stalled.reason).toMatch(/MESSAGE_TOO_LARGE/);
      expect(await readAll(brokers, output)).toEqual([]);
      // The operator raises the topic's limit: the partition moves and is no longer reported as stalled.
      await admin.alterConfigs({
        resources: [
          { resourceType: 2, resourceName: output, configs: [{ name: 'max.message.bytes', value: '1048588' }] },
        ],
      });
      await waitFor('the record in the sink', async () =>
        (await readAll(brokers, output)).length === 1 ? true : undefined,
      );
      await waitFor('no stalled report', async () => (statuses.at(-1)?.stalled?.length === 0 ? true : undefined));
      expect(lines.filter((l) => l.topic === internal).at(-1)?.msg).toBe('partition progressing again');
    } finally {
      stop.abort();
      await worker;
      await admin.close();
    }
  }, 120_000);
});
