import { fileURLToPath } from 'node:url';
import { deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, describe, expect, it } from 'vitest';
import { JobRegistry } from '../src/deploy/registry.js';
import { outputsPerPartition } from '../src/testing.js';
import { bv, killRandomWorker, restartsOf, stopJob } from './cli.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/eos-job.ts', import.meta.url));

describe('exactly-once under kill -9', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('a job whose workers are killed at random points writes exactly what an uninterrupted run writes', async () => {
    const input = await createTopic(brokers, 'eos', 3);
    const name = `test-eos-${input.slice(-8)}`;
    const env = { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
    // 12,000 readings over 7 sensors: out of order, with duplicates, spikes and two undecodable records.
    const records = Array.from({ length: 12_000 }, (_, i) => {
      const sensor = `s${i % 7}`;
      const id = i % 40 === 39 ? `r${i - 3}` : `r${i}`;
      const v = i % 97 === 0 ? 400 + (i % 13) : 100 + ((i * 7919) % 23);
      return { key: sensor, value: JSON.stringify({ id, sensor, t: 1_700_000_000_000 + i * 100 - (i % 11) * 150, v }) };
    });
    records.splice(1234, 0, { key: 's3', value: 'not json' });
    records.splice(9876, 0, { key: 's4', value: '' });
    await produce(brokers, input, records);

    // The reference: the same job, in process, uninterrupted, partition by partition.
    Object.assign(process.env, env);
    const { default: job } = await import('./fixtures/eos-job.js');
    const inputRecords = await readAll(brokers, input);
    const expected = outputsPerPartition(job, input, inputRecords);
    const windowsTopic = `${input}.windows`;
    const anomaliesTopic = `${input}.anomalies`;
    expect(expected.get(windowsTopic)?.length).toBeGreaterThan(100);
    expect(expected.get(anomaliesTopic)?.length).toBeGreaterThan(5);
    expect(expected.get(deadLetterTopicOf(input))).toHaveLength(2);

    bv(['jobs', 'deploy', FIXTURE, '--parallelism', '2'], env);
    cleanups.push(() => stopJob(name, env));
    const registry = await JobRegistry.create(config);
    cleanups.push(() => registry.close());

    // Kill a worker with SIGKILL at random points while it works; the supervisor restarts it.
    await waitFor('the first committed output', async () =>
      (await readAll(brokers, `${input}.windows`)).length > 0 ? true : undefined,
    );
    let kills = 0;
    const killedAt: number[] = [];
    const progressAtKill: number[] = [];
    const started = Date.now();
    while (kills < 5) {
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 500));
      if (!(await killRandomWorker(registry, name))) continue;
      kills++;
      killedAt.push(Date.now() - started);
      progressAtKill.push((await readAll(brokers, `${input}.windows`)).length);
    }

    const total = (topic: string) => expected.get(topic)?.length ?? 0;
    await waitFor(
      'the complete output',
      async () => {
        const windows = await readAll(brokers, windowsTopic);
        return windows.length >= total(windowsTopic) ? true : undefined;
      },
      300_000,
    );
    // Let any straggling transaction land before comparing (there must be none).
    await new Promise((r) => setTimeout(r, 2000));
    const sorted = async (topic: string) =>
      (await readAll(brokers, topic)).map((r) => r.value?.toString() ?? '').sort();
    expect(await sorted(windowsTopic), `kills at ${killedAt.join(', ')} ms`).toEqual(
      [...(expected.get(windowsTopic) ?? [])].sort(),
    );
    expect(await sorted(anomaliesTopic)).toEqual([...(expected.get(anomaliesTopic) ?? [])].sort());
    expect(await sorted(deadLetterTopicOf(input))).toEqual([...(expected.get(deadLetterTopicOf(input)) ?? [])].sort());
    // The kills landed while there was work left (not after the job had finished).
    console.log(
      `kills at ${killedAt.join(', ')} ms; window results committed then: ${progressAtKill.join(', ')} of ${total(windowsTopic)}`,
    );
    expect(progressAtKill.filter((n) => n < total(windowsTopic)).length).toBeGreaterThanOrEqual(3);
    await waitFor('the supervisor to restart every killed worker', async () =>
      (await restartsOf(registry, name)) >= kills ? true : undefined,
    );

    const status = JSON.parse(bv(['jobs', 'status', name, '--json'], env)) as {
      totals: { lag: number };
      partitions: unknown[];
    };
    expect(status.partitions).toHaveLength(3);
    expect(status.totals.lag).toBe(0);
  }, 540_000);
});
