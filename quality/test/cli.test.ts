import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'bv-quality-cli-'));
const data = join(dir, 'orders.parquet');
const suiteFile = join(dir, 'orders.json');

const expectation = (type: string, kwargs: Record<string, unknown>, severity = 'critical') => ({
  type,
  kwargs,
  meta: { severity },
});

beforeAll(async () => {
  const db = await DuckDb.create(loadPlatformConfig());
  // 200 orders; planted: 3 NULL customers, 2 repeated ids (4 rows), 4 bad currencies, 5 negative amounts.
  await db.run(`COPY (
    SELECT CASE WHEN i > 198 THEN i - 100 ELSE i END AS id,
           CASE WHEN i IN (5, 6, 7) THEN NULL ELSE 'c' || (i % 20) END AS customer_id,
           CASE WHEN i IN (10, 11, 12, 13) THEN 'euro' ELSE 'EUR' END AS currency,
           CASE WHEN i IN (20, 21, 22, 23, 24) THEN -1 ELSE i * 1.5 END AS amount
    FROM range(1, 201) t(i)) TO ${sqlLiteral(data)} (FORMAT parquet)`);
  db.close();
  writeFileSync(
    suiteFile,
    JSON.stringify({
      name: 'orders',
      meta: { table: 'test.orders', keys: ['id'] },
      expectations: [
        expectation('expect_column_values_to_not_be_null', { column: 'customer_id' }),
        expectation('expect_column_values_to_be_unique', { column: 'id' }),
        expectation('expect_column_values_to_match_regex', { column: 'currency', regex: '^[A-Z]{3}$' }),
        expectation('expect_column_values_to_be_between', { column: 'amount', min_value: 0 }, 'warning'),
        expectation('expect_table_row_count_to_be_between', { min_value: 100, max_value: 1000 }),
        expectation('bv_expect_duplicate_key_rate_to_be_below', { column_list: ['id'], max_rate: 0.05 }),
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = {
  engine: string;
  results: { type: string; success: boolean; unexpectedCount: number | null }[];
  skipped?: string[];
};
const run = async (engine: string): Promise<{ code: number; runs: Run[] }> => {
  const args = ['cli/bin/bv.js', 'quality', 'run', '--engine', engine, '--data', data, '--suite', suiteFile, '--json'];
  try {
    const { stdout } = await exec('node', args);
    return { code: 0, runs: JSON.parse(stdout) };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, runs: JSON.parse(e.stdout) };
  }
};

describe('bv quality run --engine native|gx', () => {
  it('gives the same verdicts and unexpected counts on the same Parquet file, and fails on a critical defect', async () => {
    const [native, gx] = await Promise.all([run('native'), run('gx')]);
    expect([native.code, gx.code]).toEqual([1, 1]);
    const verdicts = (r: Run) => r.results.map((x) => [x.type, x.success, x.unexpectedCount]);
    expect(verdicts(native.runs[0] as Run)).toEqual([
      ['expect_column_values_to_not_be_null', false, 3],
      ['expect_column_values_to_be_unique', false, 4],
      ['expect_column_values_to_match_regex', false, 4],
      ['expect_column_values_to_be_between', false, 5],
      ['expect_table_row_count_to_be_between', true, null],
      ['bv_expect_duplicate_key_rate_to_be_below', true, 2],
    ]);
    expect(verdicts(gx.runs[0] as Run)).toEqual(verdicts(native.runs[0] as Run).slice(0, 5));
    expect(gx.runs[0]?.skipped).toEqual(['bv_expect_duplicate_key_rate_to_be_below']);
  }, 120_000);

  it('refuses an unknown engine', async () => {
    const error = await exec('node', ['cli/bin/bv.js', 'quality', 'run', '--engine', 'fast']).catch((e: unknown) => e);
    expect((error as { stderr: string }).stderr).toContain(
      '[QUALITY_BAD_OPTION]: --engine is native or gx, got "fast"',
    );
  });
});
