import { randomUUID } from 'node:crypto';
import { loadPlatformConfig } from '@bitvelocity/core';
import type { StreamRecord, TransactionalWriter } from '@bitvelocity/streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, type LakeTable, lakeSystem, openLake, qualifiedName } from '../src/index.js';

const config = loadPlatformConfig();
const schema = `test_sink_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const table: LakeTable = {
  schema,
  name: 'readings',
  columns: [
    { name: 'id', type: 'VARCHAR' },
    { name: 'value', type: 'DOUBLE' },
    { name: 'amount', type: 'DECIMAL(12,2)' },
    { name: 'at', type: 'TIMESTAMP WITH TIME ZONE' },
  ],
};

const record = (id: string, offset: number, value = 1.5): StreamRecord<{ id: string; value: number }> => ({
  value: { id, value },
  timestamp: 1_700_000_000_000 + offset,
  key: id,
  origin: { topic: 'in', partition: 0, offset: BigInt(offset) },
});

describe('the exactly-once lake sink', () => {
  let lake: DuckDb;
  const writers: TransactionalWriter[] = [];
  const system = lakeSystem();
  const sink = system.sink<{ id: string; value: number }>(table, (r) => ({
    id: r.value.id,
    value: r.value.value,
    amount: (r.value.value * 2).toFixed(2),
    at: r.timestamp,
  }));
  const job = `test-sink-${schema.slice(-12)}`;

  beforeAll(async () => {
    lake = await openLake(config);
  });
  afterAll(async () => {
    for (const writer of writers) await writer.close();
    await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await lake.run(`DROP TABLE IF EXISTS bv_meta.offsets_${job.replaceAll('-', '_')}`).catch(() => {});
    lake.close();
  });

  const connect = async (worker: string) => {
    const writer = await system.connect(job, worker);
    writers.push(writer);
    return writer;
  };
  const rows = () =>
    lake.rows<{ id: string; amount: string }>(
      `SELECT id, amount::VARCHAR AS amount FROM ${qualifiedName(table)} ORDER BY id`,
    );

  it('commits rows and offsets together and resumes from the committed offset', async () => {
    const writer = await connect('w1');
    expect(await writer.claim('in', 0)).toBeUndefined();
    await writer.commit({
      records: new Map([[sink.target, [record('a', 0), record('b', 1)]]]),
      offsets: [{ topic: 'in', partition: 0, nextOffset: 2n }],
    });
    expect(await rows()).toEqual([
      { id: 'a', amount: '3.00' },
      { id: 'b', amount: '3.00' },
    ]);
    // A new owner (a restarted worker) resumes right after what was committed.
    const next = await connect('w2');
    expect(await next.claim('in', 0)).toBe(2n);
  });

  it('fences the previous owner: its commit fails and lands nothing', async () => {
    const zombie = await connect('zombie');
    expect(await zombie.claim('in', 1)).toBeUndefined();
    const owner = await connect('owner');
    await owner.claim('in', 1);
    await expect(
      zombie.commit({
        records: new Map([[sink.target, [record('zombie', 10)]]]),
        offsets: [{ topic: 'in', partition: 1, nextOffset: 11n }],
      }),
    ).rejects.toMatchObject({ code: 'LAKE_FENCED' });
    await owner.commit({
      records: new Map([[sink.target, [record('owner', 10)]]]),
      offsets: [{ topic: 'in', partition: 1, nextOffset: 11n }],
    });
    expect((await rows()).map((r) => r.id)).toEqual(['a', 'b', 'owner']);
    const again = await connect('after');
    expect(await again.claim('in', 1)).toBe(11n);
  });
});

describe('resetting a lake job', () => {
  it('moves the offsets the job resumes from, fencing the writer that had the partition', async () => {
    const system = lakeSystem();
    const job = `test-reset-${randomUUID().slice(0, 8)}`;
    const writer = await system.connect(job, 'w');
    try {
      await writer.claim('in', 0);
      await writer.commit({ records: new Map(), offsets: [{ topic: 'in', partition: 0, nextOffset: 500n }] });
      await system.resetOffsets(job, [{ topic: 'in', partition: 0, nextOffset: 7n }]);
      await expect(
        writer.commit({ records: new Map(), offsets: [{ topic: 'in', partition: 0, nextOffset: 600n }] }),
      ).rejects.toMatchObject({ code: 'LAKE_FENCED' });
      const next = await system.connect(job, 'w2');
      expect(await next.claim('in', 0)).toBe(7n);
      await next.close();
    } finally {
      await writer.close();
      const lake = await openLake(config);
      await lake.run(`DROP TABLE IF EXISTS bv_meta.offsets_${job.replaceAll('-', '_')}`);
      lake.close();
    }
  });
});
