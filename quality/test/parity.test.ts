import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTATION_TYPES } from '../src/catalog.js';
import { runGreatExpectations } from '../src/gx.js';
import { computeMetrics, parseSuite, runNative, type SuiteRun } from '../src/index.js';
import { qualityFacets } from '../src/lineage.js';

const config = loadPlatformConfig();
const dir = mkdtempSync(join(tmpdir(), 'bv-parity-'));
const file = join(dir, 'planted.parquet');
let db: DuckDb;

/**
 * 1,000 rows and planted defects: ids 9 and 10 twice (4 rows), 6 NULL names, 3 negative and 4 NULL amounts, 5
 * statuses outside the set, 6 identical malformed e-mails, 2 codes of the wrong length, 3 repeated (order, line) pairs.
 */
const PLANTED = `
  SELECT
    CAST(CASE WHEN i > 998 THEN i - 990 ELSE i END AS BIGINT) AS id,
    CASE WHEN i % 143 = 0 THEN NULL ELSE 'name ' || i END AS name,
    CASE WHEN i IN (10, 20, 30) THEN -1.5 WHEN i IN (11, 21, 31, 41) THEN NULL ELSE (i % 100) + 0.25 END AS amount,
    CASE WHEN i IN (100, 200, 300, 400, 500) THEN 'lost' ELSE ['created', 'paid', 'shipped'][i % 3 + 1] END AS status,
    CASE WHEN i IN (1, 2, 3, 4, 5, 6) THEN 'nobody.example.com' ELSE 'user' || i || '@example.com' END AS email,
    CASE WHEN i IN (7, 8) THEN 'EURO' ELSE 'EUR' END AS code,
    CAST(CASE WHEN i IN (900, 901, 902) THEN i - 100 ELSE i END AS BIGINT) AS order_id,
    1 AS line_no
  FROM range(1, 1001) t(i)`;

const suite = parseSuite({
  name: 'planted',
  meta: { table: 'test.planted', keys: ['id'] },
  expectations: [
    ['expect_column_values_to_not_be_null', { column: 'name' }],
    ['expect_column_values_to_not_be_null', { column: 'name', mostly: 0.99 }],
    ['expect_column_values_to_not_be_null', { column: 'id' }],
    ['expect_column_values_to_be_unique', { column: 'id' }],
    ['expect_column_values_to_be_unique', { column: 'email' }],
    ['expect_compound_columns_to_be_unique', { column_list: ['order_id', 'line_no'] }],
    ['expect_column_values_to_be_between', { column: 'amount', min_value: 0, max_value: 100 }],
    ['expect_column_values_to_be_between', { column: 'amount', min_value: 0, mostly: 0.99 }],
    ['expect_column_values_to_be_between', { column: 'id', min_value: 1, max_value: 998, strict_max: true }],
    ['expect_column_values_to_be_in_set', { column: 'status', value_set: ['created', 'paid', 'shipped', 'cancelled'] }],
    ['expect_column_values_to_match_regex', { column: 'email', regex: '^[^@]+@[^@]+\\.[a-z]+$' }],
    ['expect_column_values_to_match_regex', { column: 'name', regex: 'name' }],
    ['expect_column_value_lengths_to_be_between', { column: 'code', min_value: 3, max_value: 3 }],
    ['expect_table_row_count_to_be_between', { min_value: 1000, max_value: 1000 }],
    ['expect_table_row_count_to_be_between', { min_value: 1001 }],
    ['expect_table_row_count_to_equal', { value: 1000 }],
    ['expect_column_values_to_be_of_type', { column: 'id', type_: 'int64' }],
    ['expect_column_values_to_be_of_type', { column: 'email', type_: 'int64' }],
  ].map(([type, kwargs]) => ({ type, kwargs, meta: { severity: 'critical' } })),
});

beforeAll(async () => {
  db = await DuckDb.create(config);
  await db.run(`COPY (${PLANTED}) TO ${sqlLiteral(file)} (FORMAT parquet)`);
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the native runner and Great Expectations on the same Parquet file with planted defects', () => {
  let native: SuiteRun;
  let gx: Awaited<ReturnType<typeof runGreatExpectations>>;
  beforeAll(async () => {
    native = await runNative(db, suite, { relation: `read_parquet(${sqlLiteral(file)})` });
    gx = await runGreatExpectations({ python: config.gx.python, dataPath: file, suite });
  }, 120_000);

  it('every expectation of the suite is one both engines support', () => {
    expect(suite.expectations.every((e) => EXPECTATION_TYPES[e.type]?.gx)).toBe(true);
    expect(gx.unknownExpectations).toEqual([]);
    expect(gx.results).toHaveLength(suite.expectations.length);
  });

  it('agree on success and on the unexpected count of every expectation', () => {
    const pairs = suite.expectations.map((e, i) => ({
      expectation: `${e.type} ${JSON.stringify(e.kwargs)}`,
      native: [native.results[i]?.success, native.results[i]?.unexpectedCount ?? null],
      gx: [gx.results[i]?.success, gx.results[i]?.unexpectedCount ?? null],
    }));
    for (const pair of pairs) expect(pair.native, pair.expectation).toEqual(pair.gx);
    expect(native.results.map((r) => r.exception)).toEqual(suite.expectations.map(() => null));
  });

  it('finds exactly the planted defects', () => {
    expect(native.rowCount).toBe(1000);
    expect(native.results.map((r) => [r.success, r.unexpectedCount])).toEqual([
      [false, 6], // NULL names
      [true, 6], // ... within mostly 0.99
      [true, 0],
      [false, 4], // ids 9 and 10 twice: every row of a repeated value
      [false, 6], // the malformed e-mail, six times
      [false, 6], // (800..802, 1) twice
      [false, 3], // negative amounts; NULLs are not unexpected
      [true, 3],
      [false, 1], // 998 is outside the open upper bound
      [false, 5],
      [false, 6],
      [true, 0],
      [false, 2],
      [true, null],
      [false, null],
      [true, null],
      [true, null],
      [false, null],
    ]);
  });

  it('agree on unexpected percent, which, as in GX, leaves NULLs out of the denominator', () => {
    for (const [i, r] of native.results.entries()) {
      const theirs = gx.results[i]?.unexpectedPercent ?? null;
      if (theirs === null) expect(r.unexpectedPercent).toBeNull();
      else expect(r.unexpectedPercent).toBeCloseTo(theirs, 9);
    }
    // 3 negative amounts over 996 non-null amounts, not over 1,000 rows.
    expect(native.results[6]?.unexpectedPercent).toBeCloseTo((3 / 996) * 100, 9);
    // not_be_null counts over every row.
    expect(native.results[0]?.unexpectedPercent).toBeCloseTo(0.6, 9);
  });

  it('report the observed type and row count as GX does', () => {
    expect(native.results[13]?.observedValue).toBe(gx.results[13]?.observedValue);
    expect(native.results[16]?.observedValue).toBe(gx.results[16]?.observedValue);
    expect(native.results[17]?.observedValue).toBe(gx.results[17]?.observedValue);
  });
});

describe('the OpenLineage facets of a run', () => {
  it('carry one assertion per expectation and the profile of every column', async () => {
    const relation = `read_parquet(${sqlLiteral(file)})`;
    const run = await runNative(db, suite, { relation });
    const metrics = await computeMetrics(db, suite, { relation, table: 'test.planted', scope: 'table' });
    const { dataQualityAssertions, dataQualityMetrics } = qualityFacets(run, metrics);
    expect(dataQualityAssertions.assertions.slice(0, 6)).toEqual([
      { assertion: 'expect_column_values_to_not_be_null', success: false, column: 'name' },
      { assertion: 'expect_column_values_to_not_be_null', success: true, column: 'name' },
      { assertion: 'expect_column_values_to_not_be_null', success: true, column: 'id' },
      { assertion: 'expect_column_values_to_be_unique', success: false, column: 'id' },
      { assertion: 'expect_column_values_to_be_unique', success: false, column: 'email' },
      { assertion: 'expect_compound_columns_to_be_unique', success: false },
    ]);
    expect(dataQualityMetrics.rowCount).toBe(1000);
    expect(dataQualityMetrics.columnMetrics.amount).toMatchObject({ nullCount: 4, count: 996, min: -1.5, max: 99.25 });
    expect(dataQualityMetrics.columnMetrics.name).toMatchObject({ nullCount: 6, count: 994 });
    expect(dataQualityMetrics._schemaURL).toMatch(/DataQualityMetricsInputDatasetFacet/);
    // Rows failing any row-level expectation: 6 names, 4 repeated ids, 6 e-mails (the same rows twice), 6 pairs,
    // 3 amounts, 1 id at the bound, 5 statuses, 2 codes; the key (id) repeats twice in 1,000 rows.
    expect(metrics.duplicateKeyRate).toBeCloseTo(2 / 1000, 9);
    expect(metrics.validRowsPct).toBeGreaterThan(95);
    expect(metrics.warnings[0]).toMatch(/valid rows .* below 99 %/);
  });
});

describe('quality metrics against their thresholds', () => {
  it('warn on a volume outside the band of the previous runs, and on a null rate above its limit', async () => {
    const relation = `read_parquet(${sqlLiteral(file)})`;
    const metrics = await computeMetrics(db, suite, {
      relation,
      table: 'test.planted',
      scope: 'table',
      previousRowCounts: [400, 500, 600],
      thresholds: { volumeBand: 0.5, maxNullRate: { name: 0.001, amount: 0.01 }, minValidRowsPct: 90 },
    });
    expect(metrics).toMatchObject({ volumeBaseline: 500, volumeRatio: 2, nullRates: { name: 0.006, amount: 0.004 } });
    expect(metrics.warnings).toEqual([
      'duplicate key rate 0.0020 above 0',
      'null rate of name 0.0060 above 0.001',
      'volume 1000 rows is 2.00x the mean of the previous 3 runs (band ±0.5)',
    ]);
  });
});
