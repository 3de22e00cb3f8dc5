import { createLogger, deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { JobRegistry } from '../src/deploy/registry.js';
import { defineJob, jsonRecords, kafkaSink } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { runWorker } from '../src/kafka/worker.js';
import { bv } from './cli.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;

interface Reading {
  id: string;
  n: number;
}
const readingsJob = (name: string, input: string, output: string) =>
  defineJob({
    name,
    maxBatchRecords: 50,
    build: (j) =>
      j
        .source(
          jsonRecords<Reading>({ topics: [input], maxOutOfOrderness: '1s', idleTimeout: 0, eventId: (r) => r.id }),
        )
        .to(kafkaSink(output)),
  });

/** Runs the job's worker until `done` holds, then stops it. */
async function runUntil(job: ReturnType<typeof readingsJob>, done: () => Promise<boolean>): Promise<void> {
  const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
  await ensureJobTopics(admin, job, { sinkPartitions: 1 });
  await admin.close();
  const stop = new AbortController();
  const worker = runWorker({
    job,
    bootstrapServers: brokers,
    workerId: `${job.name}-0`,
    signal: stop.signal,
    logger: createLogger('test', 'silent'),
  });
  try {
    await waitFor(`${job.name} to finish`, async () => ((await done()) ? true : undefined));
  } finally {
    stop.abort();
    await worker;
  }
}

const registries: JobRegistry[] = [];
afterAll(async () => {
  for (const r of registries) await r.close();
});

describe('bv dlq list | show | replay | purge', () => {
  it('lists counts per reason, shows coordinates, replays the originals (also to another topic) and purges', async () => {
    const input = await createTopic(brokers, 'dlqtool', 1);
    const output = `${input}.out`;
    const job = readingsJob(`test-dlqtool-${input.slice(-8)}`, input, output);
    const good = (n: number) => ({ key: 'k', value: JSON.stringify({ id: `r${n}`, n }) });
    await produce(brokers, input, [good(1), { key: 'k', value: '{broken' }, good(2), { key: 'k', value: 'nope' }]);
    await runUntil(job, async () => (await readAll(brokers, output)).length === 2);

    const dlq = deadLetterTopicOf(input);
    const listed = JSON.parse(bv(['dlq', 'list', '--prefix', input, '--no-quarantine', '--json']));
    expect(listed.topics).toEqual([expect.objectContaining({ dlqTopic: dlq, count: 2, byCode: { UNDECODABLE: 2 } })]);
    const shown = JSON.parse(bv(['dlq', 'show', input, '--json']));
    expect(
      shown.map((l: { topic: string; partition: number; offset: string; code: string }) => [
        l.topic,
        l.partition,
        l.offset,
        l.code,
      ]),
    ).toEqual([
      [input, 0, '1', 'UNDECODABLE'],
      [input, 0, '3', 'UNDECODABLE'],
    ]);
    expect(bv(['dlq', 'show', dlq, '--from-offset', '2'])).toMatch(
      new RegExp(`${input.replaceAll('.', '\\.')}\\[0\\]@3\\tUNDECODABLE`),
    );

    // Replay to a topic of our own: the originals, without the bv-dlq-* headers, saying where they came from.
    const fixed = `${input}.fixed`;
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await admin.createTopics({ topics: [fixed], partitions: 1, replicas: 1 });
    await admin.close();
    expect(bv(['dlq', 'replay', input, '--to', fixed])).toMatch(/replayed 2 dead letter/);
    const replayed = await readAll(brokers, fixed);
    expect(replayed.map((r) => r.value?.toString())).toEqual(['{broken', 'nope']);
    expect([...(replayed[0]?.headers.keys() ?? [])].filter((h) => h.startsWith('bv-dlq-'))).toEqual([
      'bv-dlq-replayed-from',
    ]);
    expect(replayed[0]?.headers.get('bv-dlq-replayed-from')?.toString()).toBe(`${dlq}@0:0`);

    // Replay by code and offset range to the original topic.
    expect(bv(['dlq', 'replay', input, '--code', 'UNDECODABLE', '--from-offset', '3', '--to-offset', '3'])).toMatch(
      /replayed 1 /,
    );
    expect((await readAll(brokers, input)).at(-1)?.value?.toString()).toBe('nope');

    expect(() => bv(['dlq', 'purge', input])).toThrow(/add --yes/);
    expect(bv(['dlq', 'purge', input, '--yes'])).toMatch(/purged 2 dead letter/);
    expect(await readAll(brokers, dlq)).toEqual([]);
  }, 120_000);
});

describe('bv jobs skip', () => {
  it('records the skip in the job registry, and the runtime dead-letters the range as SKIPPED_BY_OPERATOR', async () => {
    const input = await createTopic(brokers, 'skip', 1);
    const output = `${input}.out`;
    const job = readingsJob(`test-skip-${input.slice(-8)}`, input, output);
    const registry = await JobRegistry.create(config);
    registries.push(registry);
    await registry.upsert({
      name: job.name,
      kind: 'stream',
      module: 'streams/test/dlq-tooling.test.ts',
      description: 'skip test',
      guarantee: job.options.guarantee,
      parallelism: 1,
      desiredState: 'stopped',
      sourceTopics: [input],
      sinkTopics: [output],
    });
    await produce(
      brokers,
      input,
      Array.from({ length: 6 }, (_, n) => ({ key: 'k', value: JSON.stringify({ id: `r${n}`, n }) })),
    );
    expect(() =>
      bv(['jobs', 'skip', job.name, '--topic', 'elsewhere', '--partition', '0', '--from', '1', '--to', '2']),
    ).toThrow(/does not read elsewhere/);
    expect(() =>
      bv(['jobs', 'skip', job.name, '--topic', input, '--partition', '0', '--from', '3', '--to', '1']),
    ).toThrow(/not an offset range/);
    expect(
      bv([
        'jobs',
        'skip',
        job.name,
        '--topic',
        input,
        '--partition',
        '0',
        '--from',
        '2',
        '--to',
        '3',
        '--reason',
        'poison',
      ]),
    ).toMatch(/offsets 2-3 will be skipped/);
    const skips = await registry.skips(job.name);
    expect(skips).toMatchObject([{ topic: input, partition: 0, fromOffset: 2n, toOffset: 3n, reason: 'poison' }]);

    // What a worker process does at start: the job with the registry's skips.
    await runUntil({ ...job, skips }, async () => (await readAll(brokers, output)).length === 4);
    const out = await readAll(brokers, output);
    expect(out.map((r) => JSON.parse(r.value?.toString() ?? '{}').n)).toEqual([0, 1, 4, 5]);
    const dead = await readAll(brokers, deadLetterTopicOf(input));
    expect(
      dead.map((d) => [d.headers.get('bv-dlq-code')?.toString(), d.headers.get('bv-dlq-offset')?.toString()]),
    ).toEqual([
      ['SKIPPED_BY_OPERATOR', '2'],
      ['SKIPPED_BY_OPERATOR', '3'],
    ]);
    expect(dead[0]?.headers.get('bv-dlq-reason')?.toString()).toMatch(/offsets 2-3 skipped at .*: poison/);
    expect(dead.map((d) => JSON.parse(d.value?.toString() ?? '{}').n)).toEqual([2, 3]);
    await registry.remove(job.name);
  }, 120_000);
});
