import type { BvError } from '@bitvelocity/core';
import { silverTables } from '@bitvelocity/lakehouse';
import { warehouseTables } from '@bitvelocity/warehouse';
import { describe, expect, it } from 'vitest';
import { EXPECTATION_TYPES } from '../src/catalog.js';
import { loadSuites, parseSuite, suiteForTable } from '../src/index.js';

const refusal = (value: unknown): BvError => {
  try {
    parseSuite(value, 'orders.json');
  } catch (error) {
    return error as BvError;
  }
  throw new Error('the suite was accepted');
};
const suite = (expectations: unknown[]) => ({ name: 'orders', meta: { table: 'silver.orders' }, expectations });
const critical = { severity: 'critical' };

describe('expectation suites', () => {
  it('one suite per Silver table is kept in the repository, and every one loads', () => {
    const suites = loadSuites();
    const tables = silverTables();
    for (const table of [tables.orders, tables.orderLines, tables.products, tables.customers, tables.quarantine]) {
      const found = suiteForTable(suites, table.schema, table.name);
      expect(found?.meta.table, table.name).toBe(`silver.${table.name}`);
      const columns = new Set(table.columns.map((c) => c.name));
      for (const e of found?.expectations ?? []) {
        for (const column of [e.kwargs.column, ...((e.kwargs.column_list as string[] | undefined) ?? [])])
          if (typeof column === 'string') expect(columns.has(column), `${table.name}.${column}`).toBe(true);
      }
    }
    expect(suites.filter((s) => s.meta.pending).map((s) => s.meta.table)).toEqual([]);
  });

  it('has a suite for every fact, dimension and key mart of the warehouse, naming only its columns', () => {
    const suites = loadSuites();
    const gold = warehouseTables();
    for (const table of [
      gold.dimProduct,
      gold.dimCustomer,
      gold.dimDevice,
      gold.factOrder,
      gold.factOrderLine,
      gold.martDailySales,
      gold.martCustomerLifetimeValue,
      gold.martHourlyOrdersByStatus,
      gold.martOrdersPerMinute,
      gold.martProductPriceHistory,
    ]) {
      const found = suiteForTable(suites, table.schema, table.name);
      expect(found?.meta.table, table.name).toBe(`gold.${table.name}`);
      const columns = new Set(table.columns.map((c) => c.name));
      const named = [
        ...(found?.meta.keys ?? []),
        ...(found?.meta.time_column ? [found.meta.time_column] : []),
        ...(found?.expectations ?? []).flatMap((e) => [
          e.kwargs.column,
          ...((e.kwargs.column_list as string[] | undefined) ?? []),
        ]),
      ];
      for (const column of named)
        if (typeof column === 'string') expect(columns.has(column), `${table.name}.${column}`).toBe(true);
    }
  });

  it('a table in another schema finds the suite of its name', () => {
    expect(suiteForTable(loadSuites(), 'test_x_silver', 'orders')?.name).toBe('silver.orders');
  });

  it('refuses an unknown expectation type, naming it, where GX would drop it silently', () => {
    const error = refusal(
      suite([
        { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'id' }, meta: critical },
        { type: 'expect_column_to_be_awesome', kwargs: { column: 'id' }, meta: critical },
      ]),
    );
    expect(error.code).toBe('QUALITY_SUITE_INVALID');
    expect(error.message).toContain('expectations[1] expect_column_to_be_awesome: unknown expectation type');
  });

  it('refuses bad kwargs with the reason, every problem at once', () => {
    const error = refusal(
      suite([
        { type: 'expect_column_values_to_be_between', kwargs: { colum: 'id', min_value: 0 }, meta: critical },
        { type: 'expect_column_values_to_be_in_set', kwargs: { column: 'status', value_set: [] }, meta: critical },
        { type: 'expect_column_values_to_be_between', kwargs: { column: 'amount' }, meta: critical },
        { type: 'bv_expect_custom_sql_to_return_no_rows', kwargs: { query: 'SELECT 1' }, meta: critical },
      ]),
    );
    expect(error.details.problems).toEqual([
      "expectations[0] expect_column_values_to_be_between: bad kwargs: / must have required property 'column'; / must NOT have additional properties (colum)",
      'expectations[1] expect_column_values_to_be_in_set: bad kwargs: /value_set must NOT have fewer than 1 items',
      "expectations[2] expect_column_values_to_be_between: bad kwargs: / must have required property 'min_value'; / must have required property 'max_value'; / must match a schema in anyOf",
      'expectations[3] bv_expect_custom_sql_to_return_no_rows: bad kwargs: /query must match pattern "\\{batch\\}"',
    ]);
  });

  it('requires a severity, critical or warning, on every expectation', () => {
    const error = refusal(
      suite([
        { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'id' }, meta: {} },
        { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'id' }, meta: { severity: 'fatal' } },
      ]),
    );
    expect(error.details.problems).toEqual([
      "expectations[0] expect_column_values_to_not_be_null: /meta must have required property 'severity'",
      'expectations[1] expect_column_values_to_not_be_null: /meta/severity must be equal to one of the allowed values',
    ]);
  });

  it('names GX’s own types after GX and the platform’s own with a bv_ prefix', () => {
    for (const [type, spec] of Object.entries(EXPECTATION_TYPES))
      expect(type.startsWith(spec.gx ? 'expect_' : 'bv_expect_'), type).toBe(true);
  });
});
