import type { runGreatExpectations } from '@bitvelocity/quality';

type Suite = Parameters<typeof runGreatExpectations>[0]['suite'];

/** The demo's Great Expectations suite over the run's Silver orders (exported to Parquet): `rows` order events. */
export function silverOrdersSuite(rows: number): Suite {
  return {
    name: 'demo_silver_orders',
    expectations: [
      {
        type: 'expect_table_row_count_to_equal',
        kwargs: { value: rows },
      },
      { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'event_id' } },
      { type: 'expect_column_values_to_be_unique', kwargs: { column: 'event_id' } },
      {
        type: 'expect_column_values_to_be_in_set',
        kwargs: { column: 'status', value_set: ['created', 'paid', 'shipped', 'cancelled'] },
      },
      {
        type: 'expect_column_values_to_be_between',
        kwargs: { column: 'amount', min_value: 0, max_value: 100_000, mostly: 1.0 },
      },
    ],
  };
}
