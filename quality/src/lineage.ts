import type { TableMetrics } from './metrics.js';
import type { SuiteRun } from './native.js';

const PRODUCER = 'https://github.com/bitvelocity/bitvelocity/tree/main/quality';

export interface DataQualityAssertionsFacet {
  _producer: string;
  _schemaURL: string;
  assertions: { assertion: string; success: boolean; column?: string }[];
}

export interface DataQualityMetricsFacet {
  _producer: string;
  _schemaURL: string;
  rowCount: number;
  columnMetrics: Record<
    string,
    { nullCount?: number; distinctCount?: number; count?: number; min?: number; max?: number }
  >;
}

/**
 * The OpenLineage dataset facets of a quality run, to attach to the dataset it checked (an input facet of the run's
 * event): `dataQualityAssertions` (one assertion per expectation; `column` only for a single-column one) and
 * `dataQualityMetrics` (row count and per-column null count, distinct count, min and max of numeric columns).
 */
export function qualityFacets(
  run: SuiteRun,
  metrics?: TableMetrics,
  producer = PRODUCER,
): { dataQualityAssertions: DataQualityAssertionsFacet; dataQualityMetrics: DataQualityMetricsFacet } {
  return {
    dataQualityAssertions: {
      _producer: producer,
      _schemaURL:
        'https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet',
      assertions: run.results.map((r) => ({
        assertion: r.type,
        success: r.success,
        ...(r.column && !r.column.includes(',') ? { column: r.column } : {}),
      })),
    },
    dataQualityMetrics: {
      _producer: producer,
      _schemaURL:
        'https://openlineage.io/spec/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet',
      rowCount: metrics?.rowCount ?? run.rowCount,
      columnMetrics: Object.fromEntries(
        Object.entries(metrics?.columnMetrics ?? {}).map(([column, m]) => [
          column,
          {
            nullCount: m.nullCount,
            ...(m.distinctCount === undefined ? {} : { distinctCount: m.distinctCount }),
            count: m.count,
            ...(m.min === undefined ? {} : { min: m.min }),
            ...(m.max === undefined ? {} : { max: m.max }),
          },
        ]),
      ),
    },
  };
}
