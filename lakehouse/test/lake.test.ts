import { randomUUID } from 'node:crypto';
import { loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDb, openLake } from '../src/index.js';

const config = loadPlatformConfig();

describe('DuckDB on the object store', () => {
  let db: DuckDb;
  beforeAll(async () => {
    db = await DuckDb.create(config);
  });
  afterAll(() => db.close());

  it('writes Parquet to MinIO and reads the same rows back through httpfs', async () => {
    const url = `s3://${config.s3.bucket}/tests/${randomUUID()}/orders.parquet`;
    await db.run(
      `COPY (SELECT i AS order_id, 'customer-' || (i % 7) AS customer_id, round(i * 1.25, 2)::DECIMAL(12,2) AS amount
             FROM range(1, 1001) t(i)) TO '${url}' (FORMAT parquet)`,
    );
    const [summary] = await db.rows<{ n: bigint; total: string; customers: bigint }>(
      `SELECT count(*) AS n, sum(amount)::VARCHAR AS total, count(DISTINCT customer_id) AS customers FROM read_parquet('${url}')`,
    );
    expect(summary).toEqual({ n: 1000n, total: '625625.00', customers: 7n });
    const [schema] = await db.rows<{ columns: string }>(
      `SELECT string_agg(name || ':' || type, ',' ORDER BY name) AS columns FROM parquet_schema('${url}') WHERE type IS NOT NULL`,
    );
    expect(schema?.columns).toBe('amount:INT64,customer_id:BYTE_ARRAY,order_id:INT64');
  });
});

describe('DuckLake with its catalog in Postgres and data in MinIO', () => {
  let lake: DuckDb;
  const schema = `test_${randomUUID().replaceAll('-', '')}`;
  beforeAll(async () => {
    lake = await openLake(config);
    await lake.run(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    lake.close();
  });

  it('commits a multi-statement transaction atomically, rolls one back, and travels back in time', async () => {
    const table = `${schema}.orders`;
    await lake.run(`CREATE TABLE ${table} (order_id BIGINT, status VARCHAR, amount DECIMAL(12,2))`);

    await lake.run('BEGIN');
    await lake.run(`INSERT INTO ${table} VALUES (1, 'created', 10.00), (2, 'created', 20.00)`);
    await lake.run(`INSERT INTO ${table} VALUES (3, 'created', 30.00)`);
    await lake.run('COMMIT');
    const [{ v: afterInsert } = { v: 0n }] = await lake.rows<{ v: bigint }>(
      `SELECT max(snapshot_id) AS v FROM ducklake_snapshots('lake')`,
    );

    await lake.run('BEGIN');
    await lake.run(`UPDATE ${table} SET status = 'paid' WHERE order_id = 2`);
    await lake.run(`DELETE FROM ${table} WHERE order_id = 3`);
    await lake.run('COMMIT');

    await lake.run('BEGIN');
    await lake.run(`INSERT INTO ${table} VALUES (99, 'never', 0)`);
    await lake.run('ROLLBACK');

    expect(await lake.rows(`SELECT order_id, status FROM ${table} ORDER BY order_id`)).toEqual([
      { order_id: 1n, status: 'created' },
      { order_id: 2n, status: 'paid' },
    ]);
    expect(
      await lake.rows(`SELECT order_id, status FROM ${table} AT (VERSION => ${afterInsert}) ORDER BY order_id`),
    ).toEqual([
      { order_id: 1n, status: 'created' },
      { order_id: 2n, status: 'created' },
      { order_id: 3n, status: 'created' },
    ]);
  });

  it('keeps its data as Parquet files in the bucket that any reader can open', async () => {
    const table = `${schema}.events`;
    await lake.run(`CREATE TABLE ${table} AS SELECT range AS id FROM range(500)`);
    const files = await lake.rows<{ data_file: string }>(
      `SELECT data_file FROM ducklake_list_files('lake', 'events', schema => '${schema}')`,
    );
    expect(files.length).toBeGreaterThan(0);
    for (const { data_file } of files) expect(data_file).toMatch(new RegExp(`^${config.lake.dataPath}.*\\.parquet$`));

    const reader = await DuckDb.create(config);
    try {
      const urls = files.map((f) => `'${f.data_file}'`).join(', ');
      expect(await reader.rows(`SELECT count(*) AS n FROM read_parquet([${urls}])`)).toEqual([{ n: 500n }]);
    } finally {
      reader.close();
    }
  });
});
