import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGreatExpectations } from '../src/gx.js';

const config = loadPlatformConfig();
const dir = mkdtempSync(join(tmpdir(), 'bv-gx-'));
const orders = join(dir, 'orders.parquet');
const validate = (expectations: { type: string; kwargs?: Record<string, unknown> }[], dataPath = orders) =>
  runGreatExpectations({ python: config.gx.python, dataPath, suite: { name: 'orders', expectations } });

beforeAll(async () => {
  const db = await DuckDb.create(config);
  try {
    await db.run(
      `COPY (SELECT * FROM (VALUES (1, 'a', 10.5), (2, 'b', NULL), (3, NULL, 7.0)) t(id, name, amount)) TO '${orders}' (FORMAT parquet)`,
    );
  } finally {
    db.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Great Expectations runner', () => {
  it('validates a Parquet file and reports each expectation', async () => {
    const result = await validate([
      { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'id' } },
      {
        type: 'expect_column_values_to_be_between',
        kwargs: { column: 'amount', min_value: 0, max_value: 100, mostly: 0.6 },
      },
      { type: 'expect_table_row_count_to_be_between', kwargs: { min_value: 1, max_value: 10 } },
    ]);
    expect(result).toMatchObject({
      success: true,
      rowCount: 3,
      unknownExpectations: [],
      gxVersion: '1.24.1',
      statistics: { evaluated_expectations: 3, successful_expectations: 3 },
    });
    expect(result.results.map((r) => [r.type, r.success])).toEqual([
      ['expect_column_values_to_not_be_null', true],
      ['expect_column_values_to_be_between', true],
      ['expect_table_row_count_to_be_between', true],
    ]);
  });

  it('reports a failing expectation with its unexpected values', async () => {
    const result = await validate([{ type: 'expect_column_values_to_not_be_null', kwargs: { column: 'name' } }]);
    expect(result.success).toBe(false);
    expect(result.results[0]).toMatchObject({ success: false, unexpectedCount: 1, partialUnexpectedList: [null] });
  });

  it('fails the run on an expectation type GX does not know, instead of ignoring it', async () => {
    const result = await validate([
      { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'id' } },
      { type: 'expect_column_to_be_awesome', kwargs: { column: 'id' } },
    ]);
    expect(result.success).toBe(false);
    expect(result.unknownExpectations).toEqual(['expect_column_to_be_awesome']);
    expect(result.results).toHaveLength(1);
  });

  it('answers a missing or unreadable file with QUALITY_RUNNER_FAILED naming it', async () => {
    const missing = join(dir, 'nope.parquet');
    await expect(validate([], missing)).rejects.toThrow(new RegExp(`DATA_NOT_FOUND: no file at ${missing}`));
    const garbage = join(dir, 'garbage.parquet');
    writeFileSync(garbage, 'not parquet');
    const error = await validate([], garbage).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BvError);
    expect((error as BvError).code).toBe('QUALITY_RUNNER_FAILED');
    expect((error as BvError).message).toMatch(/DATA_UNREADABLE/);
  });

  it('refuses an expectation with arguments GX rejects', async () => {
    await expect(validate([{ type: 'expect_column_values_to_be_between', kwargs: { colum: 'id' } }])).rejects.toThrow(
      /BAD_EXPECTATION/,
    );
  });
});
