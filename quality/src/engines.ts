import { EXPECTATION_TYPES } from './catalog.js';
import { runGreatExpectations } from './gx.js';
import { type ExpectationResult, isPandasType, newRunId, type SuiteRun } from './native.js';
import type { QualitySuite } from './suite.js';

/**
 * Runs a suite with the real Great Expectations on a Parquet file. Only the expectations GX has are sent; the
 * platform's own (`bv_…`), and type checks written with DuckDB types, are left out and named in `skipped`.
 */
export async function runWithGx(
  suite: QualitySuite,
  options: { python: string; dataPath: string; table?: string; timeoutMs?: number },
): Promise<SuiteRun & { skipped: string[] }> {
  const started = Date.now();
  // A type check written with a DuckDB type (TIMESTAMP WITH TIME ZONE) means nothing to GX's pandas dtypes.
  const inGx = (e: QualitySuite['expectations'][number]) =>
    EXPECTATION_TYPES[e.type]?.gx === true &&
    (e.type !== 'expect_column_values_to_be_of_type' || isPandasType(String(e.kwargs.type_)));
  const sent = suite.expectations.filter(inGx);
  const skipped = suite.expectations.filter((e) => !inGx(e)).map((e) => e.type);
  const gx = await runGreatExpectations({
    python: options.python,
    dataPath: options.dataPath,
    suite: { name: suite.name, expectations: sent },
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  const results: ExpectationResult[] = gx.results.map((r, i) => {
    const e = sent[i];
    const k = e?.kwargs ?? r.kwargs;
    return {
      type: r.type,
      kwargs: k,
      severity: e?.meta.severity ?? 'critical',
      column: typeof k.column === 'string' ? k.column : Array.isArray(k.column_list) ? k.column_list.join(',') : null,
      success: r.success,
      observedValue: r.observedValue,
      unexpectedCount: r.unexpectedCount,
      unexpectedPercent: r.unexpectedPercent,
      partialUnexpectedList: r.partialUnexpectedList,
      exception: r.exception,
    };
  });
  return {
    runId: newRunId(),
    suite: suite.name,
    table: options.table ?? suite.meta.table,
    scope: 'table',
    engine: 'gx',
    rowCount: gx.rowCount,
    success: results.every((r) => r.success),
    criticalSuccess: results.every((r) => r.success || r.severity !== 'critical'),
    results,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    skipped,
  };
}
