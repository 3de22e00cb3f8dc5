import {
  BV_JOB_NAMESPACE,
  datasetNames,
  type InputDatasetFacets,
  LineageClient,
  LineageEmitter,
  lakeCatalogOf,
  loadPlatformConfig,
  type PlatformConfig,
} from '@bitvelocity/core';
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

let shared: LineageClient | undefined;

/**
 * Reports a quality run to lineage: a BATCH run of the job `quality.<suite>` (jobType QUALITY) whose input is the
 * checked lake table, carrying `dataQualityAssertions` and `dataQualityMetrics` as input facets. START then COMPLETE
 * (a run whose expectations failed still completed: the assertions say what failed). Called by `bv quality run` and
 * by the publish gates for every increment they check; with no lineage configured it is a no-op. Never throws.
 */
export function reportQualityRun(
  run: SuiteRun,
  metrics?: TableMetrics,
  options: { client?: LineageClient; config?: PlatformConfig } = {},
): void {
  try {
    shared ??= options.client ? undefined : LineageClient.fromEnv();
    const client = options.client ?? (shared as LineageClient);
    if (client.transportName === 'noop') return;
    const config = options.config ?? loadPlatformConfig();
    const [schema = '', table = ''] = run.table.split('.');
    const job = new LineageEmitter(client).jobRun({
      job: { namespace: BV_JOB_NAMESPACE, name: `quality.${run.suite}` },
      processingType: 'BATCH',
      jobType: 'QUALITY',
      inputs: [
        {
          ...datasetNames.ducklake(lakeCatalogOf(config), schema, table),
          inputFacets: qualityFacets(run, metrics) as unknown as InputDatasetFacets,
        },
      ],
    });
    const started = new Date(run.startedAt);
    job.start(Number.isNaN(started.getTime()) ? {} : { eventTime: started });
    job.complete();
  } catch {
    // lineage is best effort: it never fails a quality run or a gate
  }
}

/** Delivers what the quality runs of this process queued (waits at most `timeoutMs`). */
export async function closeQualityLineage(timeoutMs = 2_000): Promise<void> {
  const client = shared;
  shared = undefined;
  await client?.close(timeoutMs);
}
