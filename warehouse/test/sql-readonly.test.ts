import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalystDatabase, type AnalystSession, type SqlError } from '../src/index.js';
import { type AnalystTestLake, createAnalystTestLake } from '../src/testing.js';

const SLOW_QUERY = 'SELECT count(*) FROM range(5000000000) t(i) WHERE i % 7 = 3';

describe('analyst sessions: read-only by the engine', () => {
  let lake: AnalystTestLake;
  let database: AnalystDatabase;
  let session: AnalystSession;

  beforeAll(async () => {
    lake = await createAnalystTestLake('sqlro');
    database = await AnalystDatabase.create(lake.config, { statementTimeoutMs: 10_000, rowLimit: 1000 });
    session = await database.openSession();
  });
  afterAll(async () => {
    session?.close();
    database?.close();
    await lake?.destroy();
  });

  const refusal = async (sql: string) => {
    const error = (await session.run(sql).then(
      () => undefined,
      (e: unknown) => e,
    )) as SqlError | undefined;
    return error ? { code: error.code, sqlState: error.sqlState } : 'ran';
  };

  it('reads Gold and Silver, searched by name, with exact decimals', async () => {
    const [result] = await session.run('SELECT sum(revenue)::VARCHAR AS revenue, count(*) AS n FROM daily_sales');
    expect(result?.rows.map((r) => r.map(String))).toEqual([['51187.50', '90']]);
    const [orders] = await session.run('SELECT count(*) FROM silver.orders');
    expect(String(orders?.rows[0]?.[0])).toBe('5000');
  });

  it.each([
    ['INSERT', "INSERT INTO gold.daily_sales (category) VALUES ('x')", 'SQL_READ_ONLY', '25006'],
    ['UPDATE', "UPDATE gold.daily_sales SET category = 'x'", 'SQL_READ_ONLY', '25006'],
    ['DELETE', 'DELETE FROM silver.orders', 'SQL_READ_ONLY', '25006'],
    ['CREATE TABLE', 'CREATE TABLE gold.evil (i INTEGER)', 'SQL_READ_ONLY', '25006'],
    ['CREATE TABLE unqualified', 'CREATE TABLE evil AS SELECT 1', 'SQL_READ_ONLY', '25006'],
    ['DROP TABLE', 'DROP TABLE gold.daily_sales', 'SQL_READ_ONLY', '25006'],
    ['ALTER TABLE', 'ALTER TABLE gold.daily_sales ADD COLUMN x INTEGER', 'SQL_READ_ONLY', '25006'],
    ['CREATE SCHEMA', 'CREATE SCHEMA gold2', 'SQL_READ_ONLY', '25006'],
    ['COMMENT ON', "COMMENT ON TABLE gold.daily_sales IS 'x'", 'SQL_READ_ONLY', '25006'],
    ['ATTACH in-memory', "ATTACH ':memory:' AS scratch", 'SQL_READ_ONLY', '25006'],
    ['ATTACH file', "ATTACH '/tmp/bv-evil.duckdb' AS evil", 'SQL_ACCESS_DENIED', '42501'],
    ['COPY ... TO', "COPY (SELECT 1) TO '/tmp/bv-evil.csv'", 'SQL_ACCESS_DENIED', '42501'],
    ['EXPORT DATABASE', "EXPORT DATABASE '/tmp/bv-evil'", 'SQL_ACCESS_DENIED', '42501'],
    ['read_csv of a local file', "SELECT * FROM read_csv('/etc/passwd')", 'SQL_ACCESS_DENIED', '42501'],
    ['read_text of a local file', "SELECT * FROM read_text('/etc/hostname')", 'SQL_ACCESS_DENIED', '42501'],
    ['glob of the file system', "SELECT * FROM glob('/etc/*')", 'SQL_ACCESS_DENIED', '42501'],
    ['network read', "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')", 'SQL_ACCESS_DENIED', '42501'],
    [
      'object store outside Gold/Silver',
      "SELECT * FROM read_parquet('s3://bv-lake/**/*.parquet')",
      'SQL_ACCESS_DENIED',
      '42501',
    ],
    ['INSTALL', 'INSTALL spatial', 'SQL_ACCESS_DENIED', '42501'],
    ['LOAD', 'LOAD spatial', 'SQL_ACCESS_DENIED', '42501'],
    ['SET enable_external_access', 'SET enable_external_access = true', 'SQL_CONFIG_LOCKED', '55P02'],
    ['RESET lock_configuration', 'RESET lock_configuration', 'SQL_CONFIG_LOCKED', '55P02'],
    ['SET threads', 'SET threads = 1', 'SQL_CONFIG_LOCKED', '55P02'],
    [
      'a write through the catalog connection',
      "CALL postgres_execute('__ducklake_metadata_lake', 'COMMIT; CREATE TABLE evil (i int)')",
      'SQL_READ_ONLY',
      '25006',
    ],
    [
      'a superuser file read through the catalog connection',
      "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT pg_read_file(''/etc/hostname'')')",
      'SQL_ACCESS_DENIED',
      '42501',
    ],
  ])('refuses %s with its code', async (_kind, sql, code, sqlState) => {
    expect(await refusal(sql)).toEqual({ code, sqlState });
  });

  it('keeps the lake unchanged after every refusal', async () => {
    const [result] = await session.run('SELECT count(*) FROM gold.daily_sales');
    expect(String(result?.rows[0]?.[0])).toBe('90');
  });

  it('does not show the owner catalog password to analysts', async () => {
    const [result] = await session.run("SELECT string_agg(coalesce(path, ''), ' ') FROM duckdb_databases()");
    expect(String(result?.rows[0]?.[0])).not.toContain(lake.config.postgres.password);
  });

  it('lists only the analyst schemas, with their descriptions', async () => {
    expect(await session.relations()).toEqual([
      { schema: 'gold', name: 'daily_sales', kind: 'table', comment: 'Sales per day and product category' },
      { schema: 'silver', name: 'orders', kind: 'table', comment: 'Orders, typed and deduplicated' },
    ]);
    const described = await session.columns('daily_sales');
    expect(described?.columns.find((c) => c.name === 'revenue')).toEqual({
      name: 'revenue',
      type: 'DECIMAL(18,2)',
      nullable: true,
      comment: 'Revenue of the day, exact decimal, in EUR',
    });
  });

  it('cuts a result at the row limit and says so', async () => {
    const [result] = await session.run('SELECT * FROM silver.orders');
    expect(result?.rows).toHaveLength(1000);
    expect(result?.truncated).toBe(true);
  });

  it('stops a statement that runs past the timeout, and the session stays usable', async () => {
    expect(await session.run(SLOW_QUERY, { statementTimeoutMs: 300 }).catch((e: SqlError) => e.code)).toBe(
      'SQL_TIMEOUT',
    );
    const [result] = await session.run('SELECT 42');
    expect(String(result?.rows[0]?.[0])).toBe('42');
  });

  it('serves many sessions at once on one instance', async () => {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => database.openSession()));
    const counts = await Promise.all(
      sessions.map(async (s, i) => {
        const [r] = await s.run('SELECT count(*) FROM silver.orders WHERE amount > $1', { params: [String(i)] });
        return Number(r?.rows[0]?.[0]);
      }),
    );
    for (const s of sessions) s.close();
    expect(counts[0]).toBe(5000);
    expect(counts).toHaveLength(20);
  });
});
