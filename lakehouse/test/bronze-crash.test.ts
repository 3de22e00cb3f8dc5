import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '@bitvelocity/core';
import { bv, createTopic, killRandomWorker, produce, restartsOf, stopJob, waitFor } from '@bitvelocity/infra/testing';
import { JobRegistry } from '@bitvelocity/streams';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BRONZE_ENVELOPES,
  compact,
  DuckDb,
  ensureTable,
  offsetsTableOf,
  openLake,
  qualifiedName,
} from '../src/index.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const BRONZE_JOB = fileURLToPath(new URL('../src/jobs/bronze.ts', import.meta.url));

describe('Bronze under kill -9', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('lands every (topic, partition, offset) exactly once while its workers are killed under load', async () => {
    const topic = await createTopic(brokers, 'bronze', 3);
    const name = `test-bronze-${topic.slice(-8)}`;
    const schema = `test_bronze_${topic.slice(-8)}`;
    const bronze = { ...BRONZE_ENVELOPES, schema };
    const env = { BV_BRONZE_TOPICS: topic, BV_BRONZE_JOB: name, BV_BRONZE_SCHEMA: schema };
    const lake: DuckDb = await openLake(config);
    cleanups.push(() => lake.close());
    cleanups.push(async () => {
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(name))}`).catch(() => {});
      await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    });
    await ensureTable(lake, bronze);
    const landed = async () => {
      const [row] = await lake.rows<{ n: bigint; distinct_coordinates: bigint; commits: bigint }>(
        `SELECT count(*) AS n, count(DISTINCT (_source_partition, _source_offset)) AS distinct_coordinates,
                count(DISTINCT _ingested_at) AS commits
           FROM ${qualifiedName(bronze)} WHERE _source_topic = $1`,
        [topic],
      );
      return row ?? { n: 0n, distinct_coordinates: 0n, commits: 0n };
    };

    const batch = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => {
        const n = from + i;
        if (n % 997 === 0) return { key: `k${n % 13}`, value: 'not an envelope' };
        return {
          key: `k${n % 13}`,
          value: JSON.stringify({
            eventId: `e-${n}`,
            eventType: 'ecommerce.order.created.v1',
            occurredAt: new Date(1_700_000_000_000 + n).toISOString(),
            tenantId: 't1',
            payload: { n },
          }),
        };
      });
    let produced = 0;
    await produce(brokers, topic, batch(0, 4000));
    produced += 4000;

    bv(['jobs', 'deploy', BRONZE_JOB, '--parallelism', '2'], env);
    cleanups.push(() => stopJob(name, env));
    const registry = await JobRegistry.create(config);
    cleanups.push(() => registry.close());
    await waitFor('the first commit', async () => ((await landed()).n > 0n ? true : undefined), 90_000);

    // Keep producing while workers are killed at random points; the supervisor restarts them.
    let kills = 0;
    const landedAtKill: string[] = [];
    while (kills < 5) {
      await produce(brokers, topic, batch(produced, 3000));
      produced += 3000;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
      if (!(await killRandomWorker(registry, name))) continue;
      kills++;
      landedAtKill.push(`${(await landed()).n}/${produced}`);
    }

    const final = await waitFor(
      `all ${produced} records in Bronze`,
      async () => {
        const now = await landed();
        return now.n >= BigInt(produced) ? now : undefined;
      },
      180_000,
    );
    await new Promise((r) => setTimeout(r, 2000)); // a straggling commit would show up now (there must be none)
    const settled = await landed();
    expect(settled).toEqual(final);
    expect(settled.n).toBe(BigInt(produced));
    expect(settled.distinct_coordinates).toBe(BigInt(produced));
    // Exactly the offsets produced, per partition: 0 .. end-1 with no gap.
    const perPartition = await lake.rows<{ p: number; n: bigint; lo: bigint; hi: bigint }>(
      `SELECT _source_partition AS p, count(*) AS n, min(_source_offset) AS lo, max(_source_offset) AS hi
         FROM ${qualifiedName(bronze)} WHERE _source_topic = $1 GROUP BY 1 ORDER BY 1`,
      [topic],
    );
    for (const part of perPartition) {
      expect(part.lo).toBe(0n);
      expect(part.hi).toBe(part.n - 1n);
    }
    // What is not an envelope is kept, as text, for Silver to quarantine.
    const [bad] = await lake.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM ${qualifiedName(bronze)} WHERE _source_topic = $1 AND event_id IS NULL AND envelope = 'not an envelope'`,
      [topic],
    );
    expect(bad?.n).toBe(BigInt(Math.ceil(produced / 997)));
    console.log(`kill -9 x${kills}; landed/produced at each kill: ${landedAtKill.join(', ')}`);
    expect(
      landedAtKill.filter((at) => Number(at.split('/')[0]) < Number(at.split('/')[1])).length,
    ).toBeGreaterThanOrEqual(3);
    await waitFor('the supervisor to restart every killed worker', async () =>
      (await restartsOf(registry, name)) >= kills ? true : undefined,
    );
    // Standard Parquet: once inlined rows are flushed, a plain DuckDB (no DuckLake) reads every row from the files.
    await compact(lake, { schema, table: 'envelopes' });
    const files = await lake.rows<{ data_file: string }>(
      `SELECT data_file FROM ducklake_list_files('lake', 'envelopes', schema => '${schema}')`,
    );
    const reader = await DuckDb.create(config);
    try {
      const [read] = await reader.rows<{ n: bigint }>(
        `SELECT count(*) AS n FROM read_parquet([${files.map((f) => `'${f.data_file}'`).join(', ')}]) WHERE _source_topic = $1`,
        [topic],
      );
      expect(read?.n).toBe(BigInt(produced));
    } finally {
      reader.close();
    }
    // Batched: far fewer commits than records.
    expect(Number(settled.commits)).toBeLessThan(produced / 100);
  }, 300_000);
});
