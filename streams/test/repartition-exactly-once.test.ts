import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, describe, expect, it } from 'vitest';
import { JobRegistry } from '../src/deploy/registry.js';
import { bv, killRandomWorker, stopJob } from './cli.js';
import { createTopic, produce, readAll, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/eos-repartition-job.ts', import.meta.url));

describe('exactly-once through repartition topics under kill -9', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('each eventId once across partitions, and every reading counted once in its sensor’s window', async () => {
    const input = await createTopic(brokers, 'eos-rp', 3);
    const name = `test-eos-rp-${input.slice(-8)}`;
    const env = { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
    const base = 1_700_000_000_000;
    // 6,000 readings of 7 sensors keyed by reading (spread over the partitions), 1 in 20 re-sent under another key.
    const records = Array.from({ length: 6000 }, (_, i) => {
      const original = i % 20 === 19 ? i - 7 : i;
      const reading = { id: `r${original}`, sensor: `s${original % 7}`, t: base + original * 50 };
      return { key: `k${i}`, value: JSON.stringify(reading) };
    });
    const ids = new Set(records.map((r) => JSON.parse(r.value).id as string));
    const perWindow = new Map<string, number>();
    for (const id of ids) {
      const n = Number(id.slice(1));
      const window = `s${n % 7}@${new Date(Math.floor((base + n * 50) / 10_000) * 10_000).toISOString()}`;
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
    }
    await produce(brokers, input, records);

    bv(['jobs', 'deploy', FIXTURE, '--parallelism', '2'], env);
    cleanups.push(() => stopJob(name, env));
    const registry = await JobRegistry.create(config);
    cleanups.push(() => registry.close());
    await waitFor('the first committed output', async () =>
      (await readAll(brokers, `${input}.unique`)).length > 0 ? true : undefined,
    );
    let kills = 0;
    const progressAtKill: number[] = [];
    while (kills < 4) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
      if (!(await killRandomWorker(registry, name))) continue;
      kills++;
      progressAtKill.push((await readAll(brokers, `${input}.unique`)).length);
    }
    const unique = await waitFor(
      'every eventId through',
      async () => {
        const out = await readAll(brokers, `${input}.unique`);
        return out.length >= ids.size ? out : undefined;
      },
      300_000,
    );
    // Later readings of every sensor close the windows (after everything else is through the repartition topics).
    await produce(
      brokers,
      input,
      Array.from({ length: 7 }, (_, s) => ({
        key: `flush-${s}`,
        value: JSON.stringify({ id: `flush-${s}`, sensor: `s${s}`, t: base + 86_400_000 * 2 }),
      })),
    );
    const lastRevision = async () => {
      const latest = new Map<string, { revision: number; result: number }>();
      for (const record of await readAll(brokers, `${input}.counts`)) {
        const w = JSON.parse(record.value?.toString() ?? '{}');
        const key = `${w.key}@${w.windowStart}`;
        if ((latest.get(key)?.revision ?? -1) < w.revision) latest.set(key, { revision: w.revision, result: w.result });
      }
      return latest;
    };
    const counts = await waitFor(
      'every window closed',
      async () => {
        const latest = await lastRevision();
        return [...perWindow.keys()].every((k) => latest.has(k)) ? latest : undefined;
      },
      300_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const finalUnique = await readAll(brokers, `${input}.unique`);
    const seen = finalUnique.map((r) => JSON.parse(r.value?.toString() ?? '{}').id as string);
    expect(seen.filter((id) => !id.startsWith('flush'))).toHaveLength(unique.length);
    expect(unique).toHaveLength(ids.size);
    expect(new Set(seen).size).toBe(seen.length);
    // Neither lost nor counted twice, whatever the kills replayed.
    const final = await lastRevision();
    for (const [window, n] of perWindow) expect(final.get(window)?.result, window).toBe(n);
    expect(counts.size).toBeGreaterThanOrEqual(perWindow.size);
    console.log(`kills with ${progressAtKill.join(', ')} of ${ids.size} unique readings committed`);
    expect(progressAtKill.filter((n) => n < ids.size).length).toBeGreaterThanOrEqual(2);
  }, 720_000);
});
