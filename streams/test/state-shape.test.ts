import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  aggregates,
  count,
  defineJob,
  incompatibleState,
  jsonRecords,
  kafkaSink,
  stateShape,
  sum,
  tumbling,
} from '../src/index.js';
import type { Aggregate } from '../src/operators/windows/aggregates.js';
import { BV, bv, stopJob } from './cli.js';
import { createTopic, produce, waitFor } from './kafka.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const FIXTURE = fileURLToPath(new URL('./fixtures/eos-job.ts', import.meta.url));

interface Reading {
  sensor: string;
  t: number;
  v: number;
}
const source = jsonRecords<Reading>({ topics: ['in'], maxOutOfOrderness: '1s', eventTime: (r) => r.t });

describe('a job restores its state only into operators that keep the same state', () => {
  it('tells a count from aggregates({ n: count(), total: sum() }) under the same positional id', () => {
    const job = (wide: boolean) =>
      defineJob({
        name: 'shape-job',
        build: (j) =>
          j
            .source(source)
            .keyBy((r) => r.sensor, { partitioning: 'co-partitioned' })
            .window(
              tumbling({ size: '1m' }),
              (wide ? aggregates({ n: count(), total: sum((r: Reading) => r.v) }) : count()) as Aggregate<
                Reading,
                unknown,
                unknown
              >,
            )
            .to(kafkaSink('out')),
      });
    expect(stateShape(job(false))).toEqual({ '2-tumblingWindow': 'tumblingWindow(count)' });
    expect(incompatibleState(stateShape(job(false)), stateShape(job(true)))).toEqual([
      '2-tumblingWindow: tumblingWindow(count) -> tumblingWindow(aggregates(n:count,total:sum))',
    ]);
    expect(incompatibleState(stateShape(job(false)), stateShape(job(false)))).toEqual([]);
  });

  it("keeps a uid-named operator's state when a step is added before it; a positional id shifts", () => {
    const job = (withFilter: boolean, uid?: string) =>
      defineJob({
        name: 'shape-job',
        build: (j) => {
          const s = j.source(source);
          (withFilter ? s.filter((r) => r.v >= 0) : s)
            .keyBy((r) => r.sensor, { partitioning: 'co-partitioned' })
            .window(tumbling({ size: '1m' }), count(), uid ? { uid } : {})
            .to(kafkaSink('out'));
        },
      });
    expect(Object.keys(stateShape(job(false)))).toEqual(['2-tumblingWindow']);
    expect(Object.keys(stateShape(job(true)))).toEqual(['3-tumblingWindow']);
    expect(stateShape(job(true, 'per-minute'))).toEqual(stateShape(job(false, 'per-minute')));
    expect(stateShape(job(true, 'per-minute'))).toEqual({ 'per-minute': 'tumblingWindow(count)' });
  });

  it('tells final-only results from revisions, and refuses a bad or repeated uid', () => {
    const job = (emit: 'revisions' | 'final') =>
      defineJob({
        name: 'shape-job',
        build: (j) =>
          j
            .source(source)
            .keyBy((r) => r.sensor, { partitioning: 'co-partitioned' })
            .window(tumbling({ size: '1m' }), count(), { emit, uid: 'w' })
            .to(kafkaSink('out')),
      });
    expect(incompatibleState(stateShape(job('revisions')), stateShape(job('final')))).toEqual([
      'w: tumblingWindow(count) -> tumblingWindow(count,final)',
    ]);
    const twice = () =>
      defineJob({
        name: 'shape-job',
        build: (j) => {
          const keyed = j.source(source).keyBy((r) => r.sensor, { partitioning: 'co-partitioned' });
          keyed.window(tumbling({ size: '1m' }), count(), { uid: 'w' }).to(kafkaSink('a'));
          keyed.window(tumbling({ size: '5m' }), count(), { uid: 'w' }).to(kafkaSink('b'));
        },
      });
    expect(twice).toThrow(/two operators have the uid "w"/);
    expect(() =>
      defineJob({
        name: 'shape-job',
        build: (j) => j.source(source).dedupe({ ttl: '1m', scope: 'partition', uid: '9-dedupe' }).to(kafkaSink('out')),
      }),
    ).toThrow(/uid "9-dedupe" must match/);
  });

  describe('bv jobs deploy of a changed module', () => {
    const cleanups: (() => unknown)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('is refused while the job holds state the new operators would misread, and accepted after bv jobs reset', async () => {
      const input = await createTopic(brokers, 'shape', 1);
      const name = `test-shape-${input.slice(-8)}`;
      const env = { BV_TEST_EOS_INPUT: input, BV_TEST_EOS_JOB: name };
      const wide = { ...env, BV_TEST_EOS_AGGREGATE: 'wide' };
      await produce(
        brokers,
        input,
        Array.from({ length: 40 }, (_, i) => ({
          key: 's0',
          value: JSON.stringify({ id: `r${i}`, sensor: 's0', t: 1_700_000_000_000 + i * 500, v: i }),
        })),
      );
      bv(['jobs', 'deploy', FIXTURE], env);
      cleanups.push(() => stopJob(name, env));
      await waitFor(
        'the input processed, so the job holds state',
        async () => {
          const s = JSON.parse(bv(['jobs', 'status', name, '--json'], env)) as {
            totals: { lag: number };
            partitions: { lastCheckpointAt: string | null }[];
          };
          return s.totals.lag === 0 && s.partitions[0]?.lastCheckpointAt ? true : undefined;
        },
        90_000,
      );
      bv(['jobs', 'stop', name], env);

      const refused = spawnSync(process.execPath, [BV, 'jobs', 'deploy', FIXTURE], {
        env: { ...process.env, ...wide },
        encoding: 'utf8',
      });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('[JOB_STATE_INCOMPATIBLE]');
      expect(refused.stderr).toContain(
        '3-tumblingWindow: tumblingWindow(count) -> tumblingWindow(aggregates(n:count,total:sum))',
      );
      expect(refused.stderr).toContain(`bv jobs reset ${name}`);
      // Refused before anything changed: the registry still has the old shape, the job stays stopped.
      const listed = JSON.parse(bv(['jobs', 'status', name, '--json'], env)) as { desiredState: string };
      expect(listed.desiredState).toBe('stopped');

      bv(['jobs', 'reset', name, '--to-earliest'], env);
      const accepted = bv(['jobs', 'deploy', FIXTURE], wide);
      expect(accepted).toContain(name);
    }, 240_000);
  });
});
