import { type DuckDb, ensureTable, type LakeTable } from '@bitvelocity/lakehouse';
import type { TableMetrics } from './metrics.js';
import type { SuiteRun } from './native.js';

/** Where the platform keeps quality results in the lake (all in the meta schema, `bv_meta` by default). */
export interface QualityTables {
  results: LakeTable;
  metrics: LakeTable;
  held: LakeTable;
  failures: LakeTable;
}

export function qualityTables(schema = 'bv_meta'): QualityTables {
  return {
    results: {
      schema,
      name: 'quality_results',
      description: 'One row per expectation per run (gates, `bv quality run`)',
      columns: [
        { name: 'run_id', type: 'VARCHAR' },
        { name: 'checked_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'table_name', type: 'VARCHAR' },
        { name: 'scope', type: 'VARCHAR', description: 'table | increment' },
        { name: 'engine', type: 'VARCHAR' },
        { name: 'suite', type: 'VARCHAR' },
        { name: 'batch_id', type: 'VARCHAR', description: 'the gated batch, when a gate ran it' },
        { name: 'outcome', type: 'VARCHAR', description: 'published | held | released | checked' },
        { name: 'expectation', type: 'VARCHAR' },
        { name: 'column_name', type: 'VARCHAR' },
        { name: 'severity', type: 'VARCHAR' },
        { name: 'success', type: 'BOOLEAN' },
        { name: 'unexpected_count', type: 'BIGINT' },
        { name: 'unexpected_percent', type: 'DOUBLE' },
        { name: 'result', type: 'JSON', description: 'the whole result: kwargs, observed value, sample, exception' },
      ],
    },
    metrics: {
      schema,
      name: 'quality_metrics',
      description: 'Quality metrics per table per run',
      columns: [
        { name: 'run_id', type: 'VARCHAR' },
        { name: 'checked_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'table_name', type: 'VARCHAR' },
        { name: 'scope', type: 'VARCHAR' },
        { name: 'outcome', type: 'VARCHAR' },
        { name: 'row_count', type: 'BIGINT' },
        { name: 'valid_rows_pct', type: 'DOUBLE' },
        { name: 'duplicate_key_rate', type: 'DOUBLE' },
        { name: 'late_events', type: 'BIGINT' },
        { name: 'freshness_lag_seconds', type: 'DOUBLE' },
        { name: 'volume_baseline', type: 'DOUBLE', description: 'mean row count of the previous runs' },
        { name: 'volume_ratio', type: 'DOUBLE' },
        { name: 'null_rates', type: 'JSON', description: '{column: fraction of NULL}' },
        { name: 'column_metrics', type: 'JSON', description: '{column: {nullCount, distinctCount, min, max}}' },
        { name: 'warnings', type: 'JSON' },
      ],
    },
    held: {
      schema,
      name: 'quality_held',
      description: 'Batches a gate held back, until released and replayed',
      columns: [
        { name: 'batch_id', type: 'VARCHAR' },
        { name: 'transform', type: 'VARCHAR' },
        { name: 'table_name', type: 'VARCHAR' },
        { name: 'held_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'row_count', type: 'BIGINT' },
        { name: 'reason', type: 'VARCHAR' },
        {
          name: 'failing',
          type: 'JSON',
          description: '[{expectation, column, unexpectedCount}] of the critical failures',
        },
        { name: 'status', type: 'VARCHAR', description: 'held | released | replayed' },
        { name: 'released_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'released_by', type: 'VARCHAR' },
        { name: 'replayed_at', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'alert', type: 'VARCHAR', description: 'sent | failed: <reason> | off' },
      ],
    },
    failures: {
      schema,
      name: 'quality_failures',
      description: 'The failing rows of held batches (and of warnings), each as JSON, per expectation',
      columns: [
        { name: 'batch_id', type: 'VARCHAR' },
        { name: 'run_id', type: 'VARCHAR' },
        { name: 'table_name', type: 'VARCHAR' },
        { name: 'expectation', type: 'VARCHAR' },
        { name: 'column_name', type: 'VARCHAR' },
        { name: 'severity', type: 'VARCHAR' },
        { name: 'row_data', type: 'JSON' },
      ],
    },
  };
}

export async function ensureQualityStore(lake: DuckDb, schema = 'bv_meta'): Promise<QualityTables> {
  const tables = qualityTables(schema);
  for (const table of Object.values(tables)) await ensureTable(lake, table);
  return tables;
}

const q = (t: LakeTable) => `"${t.schema}"."${t.name}"`;
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));

async function insert(lake: DuckDb, table: LakeTable, rows: unknown[][]): Promise<void> {
  const width = table.columns.length;
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const values = chunk.map(
      (_, r) => `(${table.columns.map((c, j) => `$${r * width + j + 1}::${c.type}`).join(', ')})`,
    );
    await lake.run(
      `INSERT INTO ${q(table)} VALUES ${values.join(', ')}`,
      chunk.flat().map((v) => (v === undefined ? null : (v as never))),
    );
  }
}

export interface RecordedRun {
  run: SuiteRun;
  metrics: TableMetrics;
  outcome: 'published' | 'held' | 'released' | 'checked';
  batchId?: string;
}

/** Writes a run's results and metrics (inside the caller's transaction, if one is open). */
export async function recordRun(lake: DuckDb, tables: QualityTables, recorded: RecordedRun): Promise<void> {
  const { run, metrics, outcome, batchId } = recorded;
  await insert(
    lake,
    tables.results,
    run.results.map((r) => [
      run.runId,
      run.startedAt,
      run.table,
      run.scope,
      run.engine,
      run.suite,
      batchId ?? null,
      outcome,
      r.type,
      r.column,
      r.severity,
      r.success,
      r.unexpectedCount,
      r.unexpectedPercent,
      json(r),
    ]),
  );
  await insert(lake, tables.metrics, [
    [
      run.runId,
      run.startedAt,
      run.table,
      run.scope,
      outcome,
      metrics.rowCount,
      metrics.validRowsPct,
      metrics.duplicateKeyRate,
      metrics.lateEvents,
      metrics.freshnessLagSeconds,
      metrics.volumeBaseline,
      metrics.volumeRatio,
      json(metrics.nullRates),
      json(metrics.columnMetrics),
      json(metrics.warnings),
    ],
  ]);
}

export interface HeldBatch {
  batchId: string;
  transform: string;
  table: string;
  heldAt: string;
  rowCount: number;
  reason: string;
  failing: { expectation: string; column: string | null; unexpectedCount: number | null }[];
  alert: string;
}

export async function recordHeld(
  lake: DuckDb,
  tables: QualityTables,
  held: HeldBatch,
  failingRows: { runId: string; expectation: string; column: string | null; severity: string; row: string }[],
): Promise<void> {
  await insert(lake, tables.held, [
    [
      held.batchId,
      held.transform,
      held.table,
      held.heldAt,
      held.rowCount,
      held.reason,
      json(held.failing),
      'held',
      null,
      null,
      null,
      held.alert,
    ],
  ]);
  await insert(
    lake,
    tables.failures,
    failingRows.map((f) => [held.batchId, f.runId, held.table, f.expectation, f.column, f.severity, f.row]),
  );
}

/** The latest run's metrics of every table (or one), newest first. */
export async function previousRowCounts(
  lake: DuckDb,
  tables: QualityTables,
  table: string,
  scope: string,
  window: number,
): Promise<number[]> {
  const rows = await lake.rows<{ row_count: bigint }>(
    `SELECT row_count FROM ${q(tables.metrics)} WHERE table_name = $1 AND scope = $2 AND outcome <> 'held' ORDER BY checked_at DESC LIMIT ${window}`,
    [table, scope],
  );
  return rows.map((r) => Number(r.row_count));
}

export const tableSql = q;
