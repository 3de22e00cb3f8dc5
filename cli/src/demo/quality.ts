import type { DuckDb } from '@bitvelocity/lakehouse';
import { loadSuites, parseSuite, type QualitySuite, runNative, runWithGx, type SuiteRun } from '@bitvelocity/quality';

/**
 * The demo's check of its own Silver orders: the repository's Silver suite (quality/suites/silver/orders.json, the one
 * Silver's gate applies) plus the run's exact row count, over the run's tenant only.
 */
export function silverOrdersSuite(rows: number): QualitySuite {
  const suite = loadSuites().find((s) => s.meta.table === 'silver.orders');
  if (!suite) throw new Error('quality/suites/silver/orders.json is missing');
  return parseSuite(
    {
      name: `demo.${suite.name}`,
      meta: suite.meta,
      expectations: [
        { type: 'expect_table_row_count_to_equal', kwargs: { value: rows }, meta: { severity: 'critical' } },
        ...suite.expectations,
      ],
    },
    suite.source,
  );
}

export interface DemoQualityOutcome {
  native: SuiteRun;
  gx: SuiteRun & { skipped: string[] };
  /** Expectations both engines ran whose success or unexpected count differ (none when they agree). */
  disagreements: string[];
}

/**
 * Runs the suite with the native runner on the lake and with Great Expectations on the same rows exported to Parquet,
 * and compares the two on every expectation GX supports.
 */
export async function checkSilverOrders(
  lake: DuckDb,
  options: { python: string; relation: string; parquet: string; rows: number },
): Promise<DemoQualityOutcome> {
  const suite = silverOrdersSuite(options.rows);
  const native = await runNative(lake, suite, { relation: options.relation, table: 'silver.orders' });
  const gx = await runWithGx(suite, { python: options.python, dataPath: options.parquet, table: 'silver.orders' });
  const disagreements: string[] = [];
  const used = new Set<number>();
  for (const g of gx.results) {
    const index = native.results.findIndex(
      (n, i) => !used.has(i) && n.type === g.type && JSON.stringify(n.kwargs) === JSON.stringify(g.kwargs),
    );
    const n = native.results[index];
    if (!n) continue;
    used.add(index);
    if (n.success !== g.success || (n.unexpectedCount ?? 0) !== (g.unexpectedCount ?? 0))
      disagreements.push(
        `${g.type}${g.column ? `(${g.column})` : ''}: native ${n.success}/${n.unexpectedCount}, GX ${g.success}/${g.unexpectedCount}`,
      );
  }
  return { native, gx, disagreements };
}
