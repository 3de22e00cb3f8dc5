import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { count, defineJob, JobRegistry, jsonRecords, kafkaSink, tumbling } from '../src/index.js';
import { Task } from '../src/runtime/task.js';
import { BV } from './cli.js';

const INVALID = fileURLToPath(new URL('./fixtures/stateful-lake-job.ts', import.meta.url));
const source = () => jsonRecords<{ k: string; t: number }>({ topics: ['test.v.input'], maxOutOfOrderness: '1s' });

describe('a job is validated before anything is registered', () => {
  it('defineJob refuses keyed state feeding a transactional sink, naming the stateful operators', () => {
    const system = { name: 'lake', connect: () => Promise.reject(), resetOffsets: () => Promise.reject() };
    const define = () =>
      defineJob({
        name: 'test-v-lake',
        build: (job) =>
          job
            .source(source())
            .dedupe({ ttl: '1m', scope: 'partition' })
            .to({ kind: 'transactional', system, target: 't' }),
      });
    expect(define).toThrow(
      expect.objectContaining({
        code: 'JOB_INVALID',
        details: expect.objectContaining({ statefulOperators: ['1-dedupe'] }),
      }),
    );
    expect(define).toThrow(/keeps keyed state \(1-dedupe\)/);
  });

  it('the DSL answers bad arguments with JOB_INVALID, not TypeError or RangeError', () => {
    expect(() => defineJob({ name: 'Bad Name', build: () => {} })).toThrow(
      expect.objectContaining({ code: 'JOB_INVALID' }),
    );
    expect(() => tumbling({ size: 0 })).toThrow(expect.objectContaining({ code: 'JOB_INVALID' }));
    expect(() => defineJob({ name: 'test-v-no-sink', build: (job) => void job.source(source()) })).toThrow(
      expect.objectContaining({ code: 'JOB_INVALID', message: 'job test-v-no-sink has no sink' }),
    );
  });

  it('an operator may use only the state it declared', () => {
    const job = defineJob({
      name: 'test-v-undeclared',
      build: (j) =>
        j
          .source(source())
          .keyBy((r) => r.k, { partitioning: 'co-partitioned' })
          .window(tumbling({ size: '5s' }), count())
          .to(kafkaSink('x')),
    });
    expect(job.nodes.filter((n) => n.kind === 'operator').map((n) => [n.id, n.state])).toEqual([
      ['1-keyBy', []],
      ['2-tumblingWindow', ['windows']],
    ]);
    // The same graph with the window's declaration taken away: its task refuses to open.
    const stripped = {
      ...job,
      nodes: job.nodes.map((n) => (n.kind === 'operator' && n.id === '2-tumblingWindow' ? { ...n, state: [] } : n)),
    };
    expect(() => new Task(stripped, 'test.v.input', 0)).toThrow(
      /operator 2-tumblingWindow uses state "windows" it did not declare/,
    );
  });

  it('bv jobs deploy refuses the invalid job with the reason and registers nothing', async () => {
    const name = `test-v-deploy-${Date.now().toString(36)}`;
    const result = spawnSync(process.execPath, [BV, 'jobs', 'deploy', INVALID], {
      env: { ...process.env, BV_TEST_INVALID_JOB: name },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[JOB_INVALID]');
    expect(result.stderr).toContain(`job ${name} writes into test-system and keeps keyed state (2-tumblingWindow)`);
    const registry = await JobRegistry.create(loadPlatformConfig());
    try {
      expect(await registry.get(name)).toBeUndefined();
    } finally {
      await registry.close();
    }
  }, 60_000);
});
