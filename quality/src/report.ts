import type { DuckDb } from '@bitvelocity/lakehouse';
import { jsonable } from './native.js';
import { qualityTables, tableSql } from './store.js';

export interface QualityReport {
  tables: {
    table: string;
    scope: string;
    checkedAt: string;
    outcome: string;
    rowCount: number;
    validRowsPct: number | null;
    duplicateKeyRate: number | null;
    lateEvents: number | null;
    freshnessLagSeconds: number | null;
    volumeRatio: number | null;
    warnings: string[];
    failed: { expectation: string; column: string | null; severity: string; unexpectedCount: number | null }[];
  }[];
  held: {
    batchId: string;
    transform: string;
    table: string;
    heldAt: string;
    rowCount: number;
    reason: string;
    status: string;
    alert: string;
    failingRows: number;
  }[];
}

/** The latest run per table and scope, with its failed expectations, and every batch held or released. */
export async function qualityReport(
  lake: DuckDb,
  options: { table?: string; metaSchema?: string } = {},
): Promise<QualityReport> {
  const t = qualityTables(options.metaSchema);
  const where = options.table ? 'WHERE table_name = $1' : '';
  const params = options.table ? [options.table] : [];
  const latest = await lake.rows(
    `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY table_name, scope ORDER BY checked_at DESC) AS rn FROM ${tableSql(t.metrics)} ${where}) WHERE rn = 1 ORDER BY table_name, scope`,
    params,
  );
  const failed = await lake.rows(
    `SELECT run_id, expectation, column_name, severity, unexpected_count FROM ${tableSql(t.results)} WHERE NOT success AND run_id IN (${latest.map((_, i) => `$${i + 1}`).join(', ') || 'NULL'}) ORDER BY severity, expectation`,
    latest.map((r) => r.run_id as string),
  );
  const held = await lake.rows(
    `SELECT h.*, (SELECT count(*) FROM ${tableSql(t.failures)} f WHERE f.batch_id = h.batch_id) AS failing_rows FROM ${tableSql(t.held)} h ${where.replace('table_name', 'h.table_name')} ORDER BY held_at DESC`,
    params,
  );
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    tables: latest.map((r) => ({
      table: String(r.table_name),
      scope: String(r.scope),
      checkedAt: String(jsonable(r.checked_at)),
      outcome: String(r.outcome),
      rowCount: Number(r.row_count),
      validRowsPct: n(r.valid_rows_pct),
      duplicateKeyRate: n(r.duplicate_key_rate),
      lateEvents: n(r.late_events),
      freshnessLagSeconds: n(r.freshness_lag_seconds),
      volumeRatio: n(r.volume_ratio),
      warnings: JSON.parse(String(r.warnings ?? '[]')),
      failed: failed
        .filter((f) => f.run_id === r.run_id)
        .map((f) => ({
          expectation: String(f.expectation),
          column: f.column_name === null ? null : String(f.column_name),
          severity: String(f.severity),
          unexpectedCount: n(f.unexpected_count),
        })),
    })),
    held: held.map((h) => ({
      batchId: String(h.batch_id),
      transform: String(h.transform),
      table: String(h.table_name),
      heldAt: String(jsonable(h.held_at)),
      rowCount: Number(h.row_count),
      reason: String(h.reason),
      status: String(h.status),
      alert: String(h.alert),
      failingRows: Number(h.failing_rows),
    })),
  };
}
