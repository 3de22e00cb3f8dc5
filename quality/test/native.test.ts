import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb } from '@bitvelocity/lakehouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMetrics, parseSuite, runNative, type SuiteRun } from '../src/index.js';

const config = loadPlatformConfig();
let db: DuckDb;

/**
 * 12 order lines and a product dimension with planted defects: product 'zz' (twice) is no product, one line has no
 * product; the dimension holds a NULL key and a key twice; id 4 repeats and one id is NULL; (order 1, line 2) repeats.
 */
const FACTS = `
  SELECT * FROM (VALUES
    (1, 1, 1, 'p1', TIMESTAMPTZ '2026-12-01 10:00:00+00'),
    (2, 1, 2, 'p2', TIMESTAMPTZ '2026-12-01 10:01:00+00'),
    (3, 1, 2, 'p1', TIMESTAMPTZ '2026-12-01 10:02:00+00'),
    (4, 2, 1, NULL, TIMESTAMPTZ '2026-12-01 10:03:00+00'),
    (4, 2, 2, 'zz', TIMESTAMPTZ '2026-12-01 10:04:00+00'),
    (NULL, 3, 1, 'zz', TIMESTAMPTZ '2026-12-01 10:05:00+00'),
    (7, 3, 2, 'p3', TIMESTAMPTZ '2026-12-01 10:06:00+00'),
    (8, 4, 1, 'p3', TIMESTAMPTZ '2026-12-01 10:07:00+00'),
    (9, 4, 2, 'p2', TIMESTAMPTZ '2026-12-01 10:08:00+00'),
    (10, 5, 1, 'p1', TIMESTAMPTZ '2026-12-01 10:09:00+00'),
    (11, 5, 2, 'p1', TIMESTAMPTZ '2026-12-01 10:10:00+00'),
    (12, NULL, NULL, 'p2', TIMESTAMPTZ '2026-12-01 10:11:00+00')
  ) t(id, order_id, line_no, product_id, occurred_at)`;

const e = (type: string, kwargs: Record<string, unknown>) => ({ type, kwargs, meta: { severity: 'critical' } });
const expectations = [
  e('bv_expect_column_values_to_exist_in_dimension', {
    column: 'product_id',
    dimension: '{schema}.products',
    dimension_column: 'product_id',
  }),
  e('expect_column_values_to_be_unique', { column: 'id' }),
  e('expect_column_values_to_be_unique', { column: 'occurred_at' }),
  e('expect_compound_columns_to_be_unique', { column_list: ['order_id', 'line_no'] }),
  e('bv_expect_duplicate_key_rate_to_be_below', { column_list: ['id'], max_rate: 0.5 }),
  e('bv_expect_duplicate_key_rate_to_be_below', { column_list: ['order_id', 'line_no'], max_rate: 0 }),
  e('bv_expect_duplicate_key_rate_to_be_below', { column_list: ['occurred_at'], max_rate: 0 }),
  e('bv_expect_table_to_be_fresh', { column: 'occurred_at', max_age_minutes: 60 }),
  e('expect_column_values_to_not_be_null', { column: 'product_id' }),
  e('expect_column_values_to_match_regex', { column: 'product_id', regex: '^p[0-9]$' }),
  e('expect_column_values_to_be_of_type', { column: 'occurred_at', type_: 'TIMESTAMP WITH TIME ZONE' }),
  e('bv_expect_custom_sql_to_return_no_rows', { query: 'SELECT * FROM {batch} WHERE line_no > order_id' }),
];
const suite = parseSuite({ name: 'native.facts', meta: { table: 'native.facts', keys: ['id'] }, expectations });
const now = new Date('2026-12-01T10:30:00Z');

/** What a run says of each expectation, samples in a stable order. */
const verdicts = (run: SuiteRun) =>
  run.results.map((r) => ({
    type: r.type,
    column: r.column,
    success: r.success,
    observed: r.observedValue,
    unexpected: r.unexpectedCount,
    percent: r.unexpectedPercent,
    sample: r.partialUnexpectedList?.map((v) => JSON.stringify(v)).sort() ?? null,
    exception: r.exception,
  }));

beforeAll(async () => {
  db = await DuckDb.create(config);
  await db.run('CREATE SCHEMA native');
  await db.run(`CREATE TABLE native.facts AS ${FACTS}`);
  await db.run(
    `CREATE TABLE native.products AS SELECT * FROM (VALUES ('p1'), ('p2'), ('p2'), ('p3'), (NULL)) t(product_id)`,
  );
});
afterAll(() => db.close());

describe("the native runner's one scan", () => {
  it('counts every expectation exactly as the expectation counted on its own does', async () => {
    const scanned = await runNative(db, suite, { now });
    // A check that cannot be evaluated breaks the shared scan: every expectation is then counted by its own queries.
    const alone = await runNative(
      db,
      parseSuite({
        name: 'native.facts.alone',
        meta: suite.meta,
        expectations: [...expectations, e('expect_column_values_to_not_be_null', { column: 'no_such_column' })],
      }),
      { now },
    );
    expect(alone.results.at(-1)?.exception).toMatch(/no_such_column/);
    expect(verdicts(scanned)).toEqual(verdicts(alone).slice(0, -1));
    expect(scanned.validRows).toBe(9); // the lines with no product, product 'zz'
  });

  it('finds exactly the planted defects', async () => {
    const run = await runNative(db, suite, { now });
    const byIndex = (i: number) => run.results[i];
    // referential integrity: 'zz' twice among the 11 lines with a product; the dimension's NULL key matches nothing
    expect(byIndex(0)).toMatchObject({ success: false, unexpectedCount: 2, partialUnexpectedList: ['zz', 'zz'] });
    expect(byIndex(0)?.unexpectedPercent).toBeCloseTo((2 / 11) * 100, 10);
    expect(byIndex(1)).toMatchObject({ success: false, unexpectedCount: 2 }); // id 4 twice; the NULL id is no key
    expect(byIndex(2)).toMatchObject({ success: true, unexpectedCount: 0 });
    expect(byIndex(3)).toMatchObject({ success: false, unexpectedCount: 2 }); // (1, 2) twice
    // duplicate-key rate: 12 rows, 10 distinct non-null ids; 11 distinct (order, line) pairs; 12 distinct times
    expect(byIndex(4)).toMatchObject({ success: true, unexpectedCount: 2, observedValue: 2 / 12 });
    expect(byIndex(5)).toMatchObject({ success: false, unexpectedCount: 1, observedValue: 1 / 12 });
    expect(byIndex(6)).toMatchObject({ success: true, unexpectedCount: 0, observedValue: 0 });
    expect(byIndex(7)).toMatchObject({
      success: true,
      observedValue: { newest: '2026-12-01T10:11:00.000Z', lag_minutes: 19 },
    });
    expect(byIndex(9)).toMatchObject({ success: false, unexpectedCount: 2 });
    expect(byIndex(11)).toMatchObject({ success: false, unexpectedCount: 2 }); // order 1's two lines numbered 2
  });

  it('gives the exact duplicate-key rate in the metrics, with and without repeated keys', async () => {
    const rate = async (keys: string[]) =>
      (
        await computeMetrics(
          db,
          parseSuite({ name: 'native.keys', meta: { table: 'native.facts', keys }, expectations }),
          {
            relation: 'native.facts',
            table: 'native.facts',
            scope: 'table',
            now,
          },
        )
      ).duplicateKeyRate;
    expect(await rate(['id'])).toBeCloseTo(2 / 12, 10);
    expect(await rate(['order_id', 'line_no'])).toBeCloseTo(1 / 12, 10);
    expect(await rate(['occurred_at'])).toBe(0);
  });
});
