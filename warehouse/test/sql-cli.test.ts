import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnalystTestLake, createAnalystTestLake } from '../src/testing.js';

const BV = join(import.meta.dirname, '../../cli/bin/bv.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('npx bv sql', () => {
  let lake: AnalystTestLake;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  const bv = (args: string[], stdin?: string) =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [BV, 'sql', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });

  beforeAll(async () => {
    lake = await createAnalystTestLake('sqlcli');
    dir = mkdtempSync(join(tmpdir(), 'bv-sql-cli-'));
    env = {
      ...process.env,
      BV_LAKE_CATALOG_DB: lake.config.lake.catalogDatabase,
      BV_LAKE_DATA_PATH: lake.config.lake.dataPath,
      BV_SQL_HISTORY: join(dir, 'history'),
    };
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await lake?.destroy();
  });

  it('-c prints an aligned table with the row count', async () => {
    const run = await bv(['-c', 'SELECT category, sum(revenue) AS revenue FROM daily_sales GROUP BY 1 ORDER BY 1']);
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout.split('\n').slice(0, 6)).toEqual([
      'category | revenue',
      '---------+---------',
      'books    | 17437.50',
      'games    | 16687.50',
      'tools    | 17062.50',
      '(3 rows)',
    ]);
  });

  it('--format csv and json keep exact decimals, lists and JSON', async () => {
    const sql = 'SELECT day, revenue, top_products, attributes FROM daily_sales ORDER BY day, revenue LIMIT 1';
    const csv = await bv(['-c', sql, '--format', 'csv']);
    expect(csv.stdout.trim().split('\n')).toEqual([
      'day,revenue,top_products,attributes',
      `2026-11-01,375.00,"['p-30', 'p-31']","{""rank"": 30}"`,
    ]);
    const json = await bv(['-c', sql, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual([
      { day: '2026-11-01', revenue: '375.00', top_products: ['p-30', 'p-31'], attributes: { rank: 30 } },
    ]);
  });

  it('--format parquet -o writes the result with its types', async () => {
    const file = join(dir, 'sales.parquet');
    const run = await bv(['-c', 'SELECT * FROM daily_sales', '--format', 'parquet', '-o', file]);
    expect(run).toMatchObject({ code: 0, stderr: expect.stringContaining('wrote 90 rows') });
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, sum(revenue)::VARCHAR AS revenue, typeof(any_value(revenue)) AS type FROM '${file}'`,
    );
    expect(reader.getRowObjectsJS()).toEqual([{ n: 90, revenue: '51187.50', type: 'DECIMAL(18,2)' }]);
    connection.closeSync();
    instance.closeSync();
  });

  it('-f runs the statements of a file', async () => {
    const file = join(dir, 'q.sql');
    writeFileSync(file, '-- two statements\nSELECT 1 AS a;\nSELECT count(*) AS orders FROM silver.orders;\n');
    const run = await bv(['-f', file, '--format', 'csv']);
    expect(run.stdout.trim().split('\n')).toEqual(['a', '1', 'orders', '5000']);
  });

  it("a SQL error prints DuckDB's message and exits 1", async () => {
    const run = await bv(['-c', 'SELECT nope FROM daily_sales']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Binder Error: Referenced column "nope" not found');
    const write = await bv(['-c', 'DELETE FROM gold.daily_sales']);
    expect(write.code).toBe(1);
    expect(write.stderr).toContain('[SQL_READ_ONLY]');
    expect(write.stderr).toContain('attached in read-only mode');
  });

  it('the REPL takes multi-line statements, \\d, \\d <table>, \\timing and \\q, and keeps a history', async () => {
    const input = [
      'SELECT count(*) AS n',
      'FROM silver.orders;',
      '\\d',
      '\\d daily_sales',
      '\\timing',
      'SELECT 7 AS seven;',
      'DROP TABLE gold.daily_sales;',
      '\\q',
      'SELECT 1;',
    ].join('\n');
    const run = await bv([], `${input}\n`);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('n\n----\n5000\n(1 row)');
    expect(run.stdout).toMatch(/gold\.daily_sales\s+table\s+Sales per day and product category/);
    expect(run.stdout).toMatch(/silver\.orders\s+table\s+Orders, typed and deduplicated/);
    expect(run.stdout).toMatch(/revenue\s+DECIMAL\(18,2\)\s+yes\s+Revenue of the day, exact decimal, in EUR/);
    expect(run.stdout).toContain('Timing is on.');
    expect(run.stdout).toMatch(/seven\n-----\n {4}7\n\(1 row\)\nTime: [\d.]+ ms/);
    expect(run.stderr).toContain('ERROR [SQL_READ_ONLY]');
    expect(readFileSync(join(dir, 'history'), 'utf8')).toContain('SELECT count(*) AS n FROM silver.orders;');
  });

  it('rejects bad flags with a code', async () => {
    const run = await bv(['-c', 'SELECT 1', '--format', 'parquet']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('[SQL_BAD_OPTION]');
  });
});
