import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnalystTestLake, createAnalystTestLake } from '@bitvelocity/warehouse/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAnalystUser, startPgServer, verifiersFromFile } from '../src/index.js';
import type { PgServer } from '../src/wire/server.js';
import { CLIENT_CATALOG_QUERIES } from './client-catalog-queries.js';

const PASSWORD = 'correct-horse-battery';

/*
 * No JDBC driver, DBeaver, Metabase or Grafana runs here (no project code in Java): their catalog SQL, taken from
 * their sources (client-catalog-queries.ts), is replayed through node pg's extended protocol (Parse/Bind/Describe/
 * Execute with $n parameters, as pgjdbc sends a PreparedStatement) and each answer must carry what the client reads.
 */
describe('the wire endpoint answers the catalog queries of JDBC tools, DBeaver, Metabase and Grafana', () => {
  let lake: AnalystTestLake;
  let dir: string;
  let server: PgServer;
  let client: pg.Client;

  beforeAll(async () => {
    lake = await createAnalystTestLake('wireclients');
    dir = mkdtempSync(join(tmpdir(), 'bv-wire-clients-'));
    const usersFile = join(dir, 'pg-users.json');
    addAnalystUser('analyst', PASSWORD, usersFile);
    server = await startPgServer({ config: lake.config, port: 0, verifiers: verifiersFromFile(usersFile) });
    client = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'analyst',
      password: PASSWORD,
      database: 'lake',
    });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    await lake?.destroy();
  });

  const run = (sql: string, values?: unknown[]) => client.query({ text: sql, values });

  for (const query of CLIENT_CATALOG_QUERIES) {
    it(`${query.client}: ${query.what}`, async () => {
      const result = await run(query.sql, query.params?.('gold', 'daily_sales'));
      const columns = result.fields.map((f) => f.name.toLowerCase());
      for (const column of query.reads) expect(columns, `column ${column}`).toContain(column.toLowerCase());
      const text = JSON.stringify(result.rows);
      if (query.finds === 'schema') expect(text).toContain('"gold"');
      if (query.finds === 'table') expect(text).toMatch(/"(gold\.)?daily_sales"/);
      if (query.finds === 'column') expect(text).toContain('"revenue"');
      expect(text).not.toContain('bv_meta');
    });
  }

  it('pgjdbc getTables and getColumns carry the comments, Postgres type OIDs and numeric precision', async () => {
    const tables = CLIENT_CATALOG_QUERIES.find((q) => q.what.startsWith('DatabaseMetaData.getTables'));
    const columns = CLIENT_CATALOG_QUERIES.find((q) => q.what.startsWith('DatabaseMetaData.getColumns'));
    if (!tables?.params || !columns?.params) throw new Error('queries missing');
    const [table] = (await run(tables.sql, tables.params('gold', 'daily_sales'))).rows;
    expect(table).toMatchObject({ TABLE_SCHEM: 'gold', TABLE_NAME: 'daily_sales', TABLE_TYPE: 'TABLE' });
    expect(table.REMARKS).toBe('Sales per day and product category');
    const rows = (await run(columns.sql, columns.params('gold', 'daily_sales'))).rows;
    const byName = Object.fromEntries(rows.map((r) => [r.attname, r]));
    expect(rows.map((r) => r.attname)).toEqual([
      'day',
      'category',
      'orders',
      'revenue',
      'avg_order',
      'first_order_at',
      'is_weekend',
      'top_products',
      'attributes',
    ]);
    expect(rows.map((r) => Number(r.attnum))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // pg_type.dat OIDs: what pgjdbc maps to java.sql.Types
    expect(Object.fromEntries(rows.map((r) => [r.attname, Number(r.atttypid)]))).toEqual({
      day: 1082,
      category: 25,
      orders: 20,
      revenue: 1700,
      avg_order: 701,
      first_order_at: 1184,
      is_weekend: 16,
      top_products: 1009,
      attributes: 114,
    });
    // numeric(18,2): typmod ((18 << 16) | 2) + 4, which pgjdbc turns into COLUMN_SIZE 18, DECIMAL_DIGITS 2
    expect(Number(byName.revenue.atttypmod)).toBe(((18 << 16) | 2) + 4);
    expect(byName.revenue.description).toBe('Revenue of the day, exact decimal, in EUR');
    expect(rows.every((r) => r.typtype === 'b' && Number(r.typbasetype) === 0)).toBe(true);
    const types = await run(
      'SELECT pg_catalog.format_type(1700, $1::INTEGER) AS n, pg_catalog.format_type(1009, -1) AS a, pg_catalog.format_type(1184, -1) AS t',
      [((18 << 16) | 2) + 4],
    );
    expect(types.rows[0]).toEqual({ n: 'numeric(18,2)', a: 'text[]', t: 'timestamptz' });
  });

  it("Grafana lists tables schema-qualified (no analyst schema is on the search path) and reads a table's columns", async () => {
    const version = await run("SELECT current_setting('server_version_num')::int/100 as version");
    expect(version.rows[0].version).toBe(1500);
    const showTables = CLIENT_CATALOG_QUERIES.find((q) => q.what.startsWith('showTables()'));
    const getSchema = CLIENT_CATALOG_QUERIES.find((q) => q.what.startsWith('getSchema'));
    if (!showTables || !getSchema?.params) throw new Error('queries missing');
    expect((await run(showTables.sql)).rows.map((r) => r.table)).toEqual(['gold.daily_sales', 'silver.orders']);
    const columns = (await run(getSchema.sql, getSchema.params('gold', 'daily_sales'))).rows;
    expect(columns.find((c) => c.column === 'revenue')?.type).toBe('DECIMAL(18,2)');
  });
});
