import { randomUUID } from 'node:crypto';
import { loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, ensureTable, type LakeTable, openLake, qualifiedName } from '../src/index.js';

describe('lake tables as code', () => {
  let lake: DuckDb;
  const schema = `test_tables_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const v1: LakeTable = {
    schema,
    name: 'events',
    columns: [
      { name: 'id', type: 'VARCHAR' },
      { name: 'happened_at', type: 'TIMESTAMP WITH TIME ZONE' },
    ],
    partitionedBy: ['year(happened_at)'],
  };
  beforeAll(async () => {
    lake = await openLake(loadPlatformConfig());
  });
  afterAll(async () => {
    await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    lake.close();
  });

  it('creates a table once, evolves it by adding columns, and keeps the rows it had', async () => {
    expect(await ensureTable(lake, v1)).toEqual({ created: true, added: [] });
    expect(await ensureTable(lake, v1)).toEqual({ created: false, added: [] });
    await lake.run(`INSERT INTO ${qualifiedName(v1)} VALUES ('a', '2026-11-25T10:00:00Z')`);
    const v2: LakeTable = { ...v1, columns: [...v1.columns, { name: 'amount', type: 'DECIMAL(18,2)' }] };
    expect(await ensureTable(lake, v2)).toEqual({ created: false, added: ['amount'] });
    await lake.run(`INSERT INTO ${qualifiedName(v2)} VALUES ('b', '2026-11-25T11:00:00Z', 12.5)`);
    expect(await lake.rows(`SELECT id, amount::VARCHAR AS amount FROM ${qualifiedName(v2)} ORDER BY id`)).toEqual([
      { id: 'a', amount: null },
      { id: 'b', amount: '12.50' },
    ]);
  });

  it('refuses a change that is not additive (a type changed, a column dropped), naming each problem', async () => {
    const changed: LakeTable = {
      ...v1,
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'happened_at', type: 'TIMESTAMP WITH TIME ZONE' },
      ],
    };
    await expect(ensureTable(lake, changed)).rejects.toMatchObject({
      code: 'LAKE_SCHEMA_INCOMPATIBLE',
      message: expect.stringMatching(/id is VARCHAR, the definition says BIGINT.*amount is not in the definition/),
    });
  });
});
