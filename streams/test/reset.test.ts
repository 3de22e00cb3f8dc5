import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '@bitvelocity/core';
import { Admin, ConfigResourceTypes, ListOffsetTimestamps } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { changelogTopicOf, jobGroupId } from '../src/kafka/topics.js';
import { bv, stopJob } from './cli.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/eos-job.ts', import.meta.url));

describe('bv jobs reset', () => {
  const admin = new Admin({ clientId: 'reset-test', bootstrapBrokers: brokers });
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await admin.close();
  });

  it('moves a stopped job back to the earliest offsets with its state emptied; a restart reprocesses from there', async () => {
    const input = await createTopic(brokers, 'reset', 2);
    const name = `test-reset-${input.slice(-8)}`;
    const env = { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
    const readings = Array.from({ length: 300 }, (_, i) => ({
      key: `s${i % 3}`,
      value: JSON.stringify({ id: `r${i}`, sensor: `s${i % 3}`, t: 1_700_000_000_000 + i * 100, v: 100 + (i % 7) }),
    }));
    await produce(brokers, input, readings);
    bv(['jobs', 'deploy', FIXTURE], env);
    cleanups.push(() => stopJob(name, env));
    const windows = `${input}.windows`;
    const status = () =>
      JSON.parse(bv(['jobs', 'status', name, '--json'], env)) as { totals: { lag: number }; partitions: unknown[] };
    await waitFor(
      'the whole input processed',
      async () => {
        const s = status();
        return s.partitions.length === 2 && s.totals.lag === 0 ? true : undefined;
      },
      150_000,
    );
    const firstRun = (await readAll(brokers, windows)).length;
    expect(firstRun).toBeGreaterThan(0);

    bv(['jobs', 'stop', name], env);
    const out = bv(['jobs', 'reset', name, '--to-earliest'], env);
    expect(out).toContain(`${input}[0] -> 0`);
    expect(out).toContain('reprocessing epoch 1');

    // State emptied: every changelog partition starts where it ends; the policy is compact again.
    const changelog = changelogTopicOf(name, input);
    const listAt = (timestamp: bigint) =>
      admin.listOffsets({
        topics: [{ name: changelog, partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp })) }],
      });
    const offsets = await listAt(ListOffsetTimestamps.EARLIEST);
    const ends = await listAt(ListOffsetTimestamps.LATEST);
    const start = offsets.flatMap((t) => t.partitions.map((p) => p.offset));
    const end = ends.flatMap((t) => t.partitions.map((p) => p.offset));
    expect(start).toEqual(end);
    expect(end.some((o) => o > 0n)).toBe(true);
    const [described] = await admin.describeConfigs({
      resources: [
        { resourceType: ConfigResourceTypes.TOPIC, resourceName: changelog, configurationKeys: ['cleanup.policy'] },
      ],
    });
    expect(described?.configs.find((c) => c.name === 'cleanup.policy')?.value).toBe('compact');
    const committed = await admin.listConsumerGroupOffsets({
      groups: [{ groupId: jobGroupId(name), topics: [{ name: input, partitionIndexes: [0, 1] }] }],
    });
    expect(committed[0]?.topics[0]?.partitions.map((p) => p.committedOffset)).toEqual([0n, 0n]);

    // Restarted, it computes the same windows again from the start (outputs already written stay).
    bv(['jobs', 'restart', name], env);
    await waitFor(
      'the reprocessed output',
      async () => ((await readAll(brokers, windows)).length >= 2 * firstRun ? true : undefined),
      150_000,
    );
    const all = (await readAll(brokers, windows)).map((r) => JSON.parse(r.value?.toString() ?? '{}'));
    expect(all.length).toBe(2 * firstRun);
    // The first run's results have no epoch (0); the reprocessed ones carry epoch 1, so they supersede them in a
    // consumer that orders a window's versions by (epoch, revision), though their revisions start again at 0.
    const windowOf = (w: { key: string; windowStart: string }) => `${w.key}|${w.windowStart}`;
    const original = all.filter((w) => w.epoch === undefined);
    const reprocessed = all.filter((w) => w.epoch === 1);
    expect([original.length, reprocessed.length]).toEqual([firstRun, firstRun]);
    expect(new Set(reprocessed.map(windowOf))).toEqual(new Set(original.map(windowOf)));
  }, 400_000);
});
