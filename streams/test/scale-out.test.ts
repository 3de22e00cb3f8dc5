import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { BV } from '@bitvelocity/infra/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../src/deploy/status.js';
import { outputsPerPartition } from '../src/testing.js';
import { bv, stopJob } from './cli.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/eos-job.ts', import.meta.url));
const PARTITIONS = 6;

/** Readings of 12 sensors (the Kafka key), out of order, with duplicates and spikes; `from` numbers them on. */
function readings(from: number, count: number) {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    const sensor = `s${i % 12}`;
    const id = i % 40 === 39 ? `r${i - 3}` : `r${i}`;
    const v = i % 97 === 0 ? 400 + (i % 13) : 100 + ((i * 7919) % 23);
    return { key: sensor, value: JSON.stringify({ id, sensor, t: 1_700_000_000_000 + i * 100 - (i % 11) * 150, v }) };
  });
}

describe('scale-out: one job, workers in separate processes', () => {
  const workers = new Map<number, ChildProcess>();
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const worker of workers.values()) worker.kill('SIGKILL');
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('three workers share six partitions; a killed one hands its partitions over, a fourth takes its share, exactly once', async () => {
    const input = await createTopic(brokers, 'scale', PARTITIONS);
    const name = `test-scale-${input.slice(-8)}`;
    const env = { ...process.env, BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
    // Registered only: the workers are this spec's own processes, as an orchestrator's pods would be.
    bv(['jobs', 'deploy', FIXTURE, '--external', '--parallelism', '3'], env);
    cleanups.push(() => stopJob(name, env));
    const start = (index: number) => {
      const child = spawn(process.execPath, [BV, 'jobs', 'worker', name, '--index', String(index)], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[worker ${index}] ${d}`));
      workers.set(index, child);
    };
    const status = () => JSON.parse(bv(['jobs', 'status', name, '--json'], env)) as JobStatus;
    /** Which worker index owns each partition, from the workers' own reports. */
    const owners = () => {
      const byOwner = new Map<number, number[]>();
      for (const p of status().partitions) {
        const index = p.owner ? Number(p.owner.split('-').at(-2)) : -1;
        byOwner.set(index, [...(byOwner.get(index) ?? []), p.partition]);
      }
      return byOwner;
    };
    let seen = new Map<number, number[]>();
    const shareOf = async (what: string, indexes: number[]) =>
      waitFor(
        what,
        async () => {
          const now = owners();
          seen = now;
          const sizes = indexes.map((i) => now.get(i)?.length ?? 0);
          return !now.has(-1) && sizes.every((n) => n >= 1) && sizes.reduce((a, b) => a + b, 0) === PARTITIONS
            ? now
            : undefined;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 1000,
          timeoutError: () => new Error(`${what}: owners by worker index were ${JSON.stringify([...seen])}`),
        },
      );

    await produce(brokers, input, readings(0, 2_500));
    for (const index of [0, 1, 2]) start(index);
    const first = await shareOf('three workers to own two partitions each', [0, 1, 2]);
    expect([0, 1, 2].map((i) => first.get(i)?.length)).toEqual([2, 2, 2]);

    // kill -9 of worker 1: its partitions move to workers 0 and 2 (after the group's session timeout).
    workers.get(1)?.kill('SIGKILL');
    workers.delete(1);
    await produce(brokers, input, readings(2_500, 2_500));
    const afterKill = await shareOf('workers 0 and 2 to own every partition', [0, 2]);
    expect(afterKill.has(1)).toBe(false);

    // A fourth worker joins and takes its share.
    start(3);
    await produce(brokers, input, readings(5_000, 2_500));
    const afterJoin = await shareOf('workers 0, 2 and 3 to share the partitions', [0, 2, 3]);
    expect(afterJoin.get(3)?.length).toBeGreaterThanOrEqual(1);

    // The reference: the same job in process, uninterrupted, partition by partition.
    Object.assign(process.env, { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name });
    const { default: job } = await import('./fixtures/eos-job.js');
    const inputRecords = await readAll(brokers, input);
    const expected = outputsPerPartition(job, input, inputRecords);
    const windows = `${input}.windows`;
    const anomalies = `${input}.anomalies`;
    expect(expected.get(windows)?.length).toBeGreaterThan(30);
    let landed = 0;
    let missing: string[] = [];
    /** What a timeout needs to be diagnosed: the windows that did not land, and each partition's own report. */
    const stuck = () =>
      `missing ${JSON.stringify(missing.slice(0, 12))}; partitions ${JSON.stringify(status().partitions)}`;
    await waitFor(
      'the complete output',
      async () => {
        const got = (await readAll(brokers, windows)).map((r) => r.value?.toString() ?? '');
        landed = got.length;
        const left = new Map<string, number>();
        for (const value of got) left.set(value, (left.get(value) ?? 0) + 1);
        missing = (expected.get(windows) ?? []).filter((value) => {
          const n = left.get(value) ?? 0;
          if (n > 0) left.set(value, n - 1);
          return n === 0;
        });
        return landed >= (expected.get(windows)?.length ?? 0) ? true : undefined;
      },
      {
        timeoutMs: 180_000,
        intervalMs: 1000,
        timeoutError: () =>
          new Error(`${landed} of ${expected.get(windows)?.length} window results landed; ${stuck()}`),
      },
    );
    await new Promise((r) => setTimeout(r, 2000));
    const sorted = async (topic: string) =>
      (await readAll(brokers, topic)).map((r) => r.value?.toString() ?? '').sort();
    expect(await sorted(windows)).toEqual([...(expected.get(windows) ?? [])].sort());
    expect(await sorted(anomalies)).toEqual([...(expected.get(anomalies) ?? [])].sort());
    expect(await sorted(deadLetterTopicOf(input))).toEqual([...(expected.get(deadLetterTopicOf(input)) ?? [])].sort());
    expect(status().totals.lag).toBe(0);
  }, 420_000);
});
