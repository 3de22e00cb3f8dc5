import { spawn } from 'node:child_process';
import {
  type CheckpointCommittedEvent,
  diagnostics,
  type JobCrashedEvent,
  type JobWorkerEvent,
  loadPlatformConfig,
} from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { defineJob, JobRegistry, jsonRecords, kafkaSink, runSupervisor, runWorker } from '../src/index.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { createTopic, produce, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;

describe('diagnostics channels', () => {
  it('a subscriber sees each checkpoint a worker commits, with its job, worker, strategy and offsets', async () => {
    const input = await createTopic(brokers, 'diag-in', 2);
    const job = defineJob({
      name: `test-diag-${input.slice(-8)}`,
      maxBatchRecords: 50,
      build: (j) =>
        j
          .source(jsonRecords<{ n: number }>({ topics: [input], maxOutOfOrderness: '1s', idleTimeout: 0 }))
          .to(kafkaSink(`${input}.out`)),
    });
    const admin = new Admin({ clientId: 'streams-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 2 });
    await admin.close();
    await produce(
      brokers,
      input,
      Array.from({ length: 200 }, (_, n) => ({ key: `k${n % 5}`, value: JSON.stringify({ n }) })),
    );
    const seen: CheckpointCommittedEvent[] = [];
    const unsubscribe = diagnostics.checkpointCommitted.subscribe((event) => seen.push(event));
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: 'diag-0', signal: stop.signal });
    try {
      // The last checkpoint of each partition carries its end offset; together they cover all 200 records.
      await waitFor('checkpoints up to the end of the input', async () => {
        const last = new Map<number, bigint>();
        for (const event of seen) for (const o of event.offsets) last.set(o.partition, o.nextOffset);
        const total = [...last.values()].reduce((sum, offset) => sum + offset, 0n);
        return total === 200n ? true : undefined;
      });
    } finally {
      stop.abort();
      await worker;
      unsubscribe();
    }
    for (const event of seen) {
      expect(event).toMatchObject({ job: job.name, workerId: 'diag-0', strategy: 'kafka-transaction' });
      expect(event.offsets.every((o) => o.topic === input)).toBe(true);
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
    }
  }, 90_000);

  it('a subscriber sees a supervised worker start, crash (with its exit code and backoff), restart and stop', async () => {
    const name = `test-diag-sup-${Date.now().toString(36)}`;
    const registry = await JobRegistry.create(config);
    await registry.upsert({
      name,
      kind: 'stream',
      module: '/nonexistent',
      description: 'lifecycle events',
      guarantee: 'exactly-once',
      parallelism: 1,
      desiredState: 'running',
      sourceTopics: [],
      sinkTopics: [],
    });
    const started: JobWorkerEvent[] = [];
    const crashed: JobCrashedEvent[] = [];
    const stopped: JobWorkerEvent[] = [];
    const unsubscribe = [
      diagnostics.jobStarted.subscribe((e) => e.job === name && started.push(e)),
      diagnostics.jobCrashed.subscribe((e) => e.job === name && crashed.push(e)),
      diagnostics.jobStopped.subscribe((e) => e.job === name && stopped.push(e)),
    ];
    let spawned = 0;
    // The first worker crashes with exit code 3; the one started in its place runs until it is stopped.
    const supervisor = runSupervisor(name, {
      pollInterval: 100,
      spawnWorker: () =>
        spawn(process.execPath, [
          '-e',
          spawned++ === 0 ? 'setTimeout(() => process.exit(3), 200)' : 'setInterval(() => {}, 1000)',
        ]),
    });
    try {
      await waitFor('a restart after the crash', async () => (started.length >= 2 ? true : undefined), 30_000);
      await registry.setDesiredState(name, 'stopped');
      await supervisor;
    } finally {
      for (const off of unsubscribe) off();
      await registry.setDesiredState(name, 'stopped');
      await supervisor.catch(() => {});
      await registry.close();
    }
    expect(started.map((e) => e.workerIndex)).toEqual([0, 0]);
    expect(crashed).toHaveLength(1);
    expect(crashed[0]).toMatchObject({ workerIndex: 0, pid: started[0]?.pid, exitCode: 3, signal: null, failures: 1 });
    expect(crashed[0]?.restartInMs).toBe(500);
    expect(stopped).toEqual([{ job: name, workerIndex: 0, pid: started[1]?.pid }]);
  }, 60_000);
});
