import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, describe, expect, it } from 'vitest';
import { JobRegistry } from '../src/deploy/registry.js';
import { deviceEnvelope, deviceReadingEnvelope, outputsPerPartition } from '../src/testing.js';
import { bv, killRandomWorker, restartsOf, stopJob } from './cli.js';
import { createTopic, produce, readAll, type TestRecord, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/telemetry-eos-job.ts', import.meta.url));
const MINUTE = 60_000;

describe('the device telemetry job under kill -9', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('writes exactly the minutes, episodes and silences an uninterrupted run writes, though its workers are killed at random points', async () => {
    const input = await createTopic(brokers, 'telemetry-eos', 3);
    const name = `test-telemetry-eos-${input.slice(-8)}`;
    const env = { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
    const tenantId = `tenant-${randomUUID().slice(0, 8)}`;
    const base = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;
    const devices = Array.from({ length: 9 }, (_, i) => `dev-${i}`);
    const key = (d: string) => `${tenantId}:${d}`;
    const records: TestRecord[] = devices
      .filter((_, i) => i % 2 === 0)
      .map((deviceId) => ({
        key: key(deviceId),
        value: JSON.stringify(
          deviceEnvelope(
            tenantId,
            { deviceId, name: deviceId, kind: 'meter', site: 'roof', firmware: '1', version: 1 },
            new Date(base),
          ),
        ),
      }));
    // 150 steps of 5 s: 12.5 minutes, two metrics, spikes, re-deliveries, and two devices silent for a while.
    for (let step = 0; step < 150; step++) {
      const t = base + step * 5_000;
      for (const [i, deviceId] of devices.entries()) {
        if (i >= 7 && step >= 40 && step < 80) continue;
        for (const metric of ['power', 'voltage']) {
          const spike = step % 50 === 45 && i % 3 === 0 && metric === 'power';
          const value = spike ? 500 : 100 + ((step * 7919 + i * 31) % 23) / 10;
          const reading = { deviceId, metric, value, seq: step, recordedAt: new Date(t).toISOString() };
          const record = { key: key(deviceId), value: JSON.stringify(deviceReadingEnvelope(tenantId, reading)) };
          records.push(record);
          if ((step + i) % 13 === 0) records.push(record);
        }
      }
    }
    records.splice(777, 0, { key: key('dev-1'), value: 'not json' });
    await produce(brokers, input, records);

    // The reference: the same job, in process, uninterrupted, partition by partition.
    Object.assign(process.env, env);
    const { default: job } = await import('./fixtures/telemetry-eos-job.js');
    const inputRecords = await readAll(brokers, input);
    const expected = outputsPerPartition(job, input, inputRecords);
    const topics = [`${input}.readings_1m`, `${input}.anomalies`, `${input}.silence`, deadLetterTopicOf(input)];
    const [minutesTopic, anomaliesTopic, silenceTopic] = topics as [string, string, string, string];
    expect(expected.get(minutesTopic)?.length).toBeGreaterThan(150);
    expect(expected.get(anomaliesTopic)?.length).toBeGreaterThanOrEqual(3);
    expect(expected.get(silenceTopic)?.length).toBeGreaterThanOrEqual(4);
    expect(expected.get(deadLetterTopicOf(input))).toHaveLength(1);

    bv(['jobs', 'deploy', FIXTURE, '--parallelism', '2'], env);
    cleanups.push(() => stopJob(name, env));
    const registry = await JobRegistry.create(config);
    cleanups.push(() => registry.close());
    await waitFor('the first committed output', async () =>
      (await readAll(brokers, minutesTopic)).length > 0 ? true : undefined,
    );
    const total = expected.get(minutesTopic)?.length ?? 0;
    let kills = 0;
    const progressAtKill: number[] = [];
    while (kills < 4) {
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 400));
      if (!(await killRandomWorker(registry, name))) continue;
      kills++;
      progressAtKill.push((await readAll(brokers, minutesTopic)).length);
    }
    await waitFor(
      'the complete output',
      async () => ((await readAll(brokers, minutesTopic)).length >= total ? true : undefined),
      120_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const sorted = async (topic: string) =>
      (await readAll(brokers, topic)).map((r) => r.value?.toString() ?? '').sort();
    for (const topic of topics) expect(await sorted(topic), topic).toEqual([...(expected.get(topic) ?? [])].sort());
    console.log(`kills with minutes committed: ${progressAtKill.join(', ')} of ${total}`);
    expect(progressAtKill.filter((n) => n < total).length).toBeGreaterThanOrEqual(2);
    await waitFor('the supervisor to restart every killed worker', async () =>
      (await restartsOf(registry, name)) >= kills ? true : undefined,
    );
  }, 300_000);
});
