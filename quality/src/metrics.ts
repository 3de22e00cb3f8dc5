import type { DuckDb } from '@bitvelocity/lakehouse';
import { Gauge, Registry } from 'prom-client';
import { distinctKeysSql, jsonable, keyHashCounts, quoteIdent, rowCheckOf } from './native.js';
import type { QualitySuite } from './suite.js';

/** When a metric becomes a warning. Every field has a default; a deployment overrides what it needs. */
export interface QualityThresholds {
  /** Rows passing every row-level expectation, in %: Silver's target is above 99 %. */
  minValidRowsPct: number;
  /** (rows - distinct keys) / rows over the suite's `meta.keys`. */
  maxDuplicateKeyRate: number;
  /** NULL fraction per column (columns not named have no limit). */
  maxNullRate: Record<string, number>;
  /** Newest `meta.time_column` behind now, in seconds (undefined: no limit). */
  maxFreshnessLagSeconds?: number;
  /** A run's rows against the mean of the previous runs: a ratio outside [1 - band, 1 + band] is a warning. */
  volumeBand: number;
  /** How many previous runs make the volume baseline. */
  volumeWindow: number;
}

export const DEFAULT_THRESHOLDS: QualityThresholds = {
  minValidRowsPct: 99,
  maxDuplicateKeyRate: 0,
  maxNullRate: {},
  volumeBand: 0.5,
  volumeWindow: 10,
};

export interface ColumnMetrics {
  nullCount: number;
  /** Approximate (HyperLogLog); absent in a gate's light profile. */
  distinctCount?: number;
  count: number;
  min?: number;
  max?: number;
}

export interface TableMetrics {
  table: string;
  scope: 'table' | 'increment';
  rowCount: number;
  /** % of rows that pass every row-level expectation of the suite but uniqueness (null: no rows). */
  validRowsPct: number | null;
  duplicateKeyRate: number | null;
  nullRates: Record<string, number>;
  lateEvents: number | null;
  freshnessLagSeconds: number | null;
  volumeBaseline: number | null;
  volumeRatio: number | null;
  columnMetrics: Record<string, ColumnMetrics>;
  /** Thresholds breached (warnings: they never hold a batch). */
  warnings: string[];
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/;

/** Profiles a batch (one scan for the column metrics, one for the valid rows) and applies the thresholds. */
export async function computeMetrics(
  db: DuckDb,
  suite: QualitySuite,
  options: {
    relation: string;
    table: string;
    scope: 'table' | 'increment';
    now?: Date;
    thresholds?: Partial<QualityThresholds>;
    previousRowCounts?: number[];
    /** `light` leaves out the distinct counts (the costliest part of the profile): what a gate uses. */
    profile?: 'full' | 'light';
    /** The valid rows the native run already counted (saves evaluating every check again). */
    validRows?: number;
    /** The profile already scanned with the native run's counts (see metricsScan): no scan of its own. */
    scanned?: { columns: { column_name: string; column_type: string }[]; row: Record<string, unknown> };
  },
): Promise<TableMetrics> {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const { relation } = options;
  const schema = options.table.split('.')[0] ?? '';
  const now = options.now ?? new Date();
  const columns =
    options.scanned?.columns ??
    (await db.rows<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${relation}`));
  const names = new Set(columns.map((c) => c.column_name));
  const select = profileSelect(suite, columns, options.profile);
  const late = suite.meta.late_column ?? '_is_late';
  const keys = (suite.meta.keys ?? []).filter((k) => names.has(k));
  // Valid rows: rows failing no row-level check, counted in the same scan. Uniqueness is left to the duplicate-key
  // rate (counting it per row needs a window over the whole batch).
  const checks = suite.expectations.flatMap((e, i) => {
    const check = rowCheckOf(e, i, schema);
    return check && !check.groupBy ? [check] : [];
  });
  const failing = checks.map((c) => `((${c.domain}) AND (${c.unexpected}))`).join(' OR ');
  const validSelect =
    checks.length && options.validRows === undefined
      ? [`count(*) FILTER (WHERE NOT coalesce(${failing}, FALSE)) AS "__valid"`]
      : [];
  // Counted with the native run's scan when given; else one scan of its own.
  let profile: Record<string, unknown> = options.scanned?.row ?? {};
  if (!options.scanned) {
    try {
      [profile = {}] = await db.rows(`SELECT ${[...select, ...validSelect].join(', ')} FROM ${relation} __bv_b`);
    } catch {
      [profile = {}] = await db.rows(`SELECT ${select.join(', ')} FROM ${relation} __bv_b`);
    }
  }
  const rowCount = Number(profile.__rows ?? 0);

  let validRowsPct: number | null = rowCount === 0 ? null : 100;
  if (rowCount > 0 && options.validRows !== undefined) validRowsPct = (options.validRows / rowCount) * 100;
  else if (rowCount > 0 && profile.__valid !== undefined) validRowsPct = (Number(profile.__valid) / rowCount) * 100;
  else if (rowCount > 0 && checks.length > 0) validRowsPct = null; // a check the batch cannot evaluate fails in the run

  const columnMetrics: Record<string, ColumnMetrics> = {};
  const nullRates: Record<string, number> = {};
  columns.forEach((c, i) => {
    const count = Number(profile[`c${i}`] ?? 0);
    const metrics: ColumnMetrics = { nullCount: rowCount - count, count };
    if (profile[`d${i}`] !== undefined) metrics.distinctCount = Number(profile[`d${i}`]);
    const lo = profile[`lo${i}`];
    const hi = profile[`hi${i}`];
    if (typeof lo === 'number') metrics.min = lo;
    if (typeof hi === 'number') metrics.max = hi;
    columnMetrics[c.column_name] = metrics;
    nullRates[c.column_name] = rowCount === 0 ? 0 : (rowCount - count) / rowCount;
  });
  // No key hash repeats: the keys counted are all distinct; else they are counted exactly (there are duplicates).
  let distinctKeys = Number(profile.__keycount ?? 0);
  if (keys.length && rowCount > 0 && Number(profile.__keyhashes ?? 0) !== distinctKeys)
    distinctKeys = Number((await db.rows(`SELECT ${distinctKeysSql(keys)} AS k FROM ${relation}`))[0]?.k ?? 0);
  const duplicateKeyRate = keys.length && rowCount > 0 ? (rowCount - distinctKeys) / rowCount : null;
  const newest = profile.__newest;
  const freshnessLagSeconds =
    newest === undefined || newest === null
      ? null
      : (now.getTime() - new Date(String(jsonable(newest))).getTime()) / 1000;
  const previous = options.previousRowCounts ?? [];
  const volumeBaseline = previous.length ? previous.reduce((a, b) => a + b, 0) / previous.length : null;
  const volumeRatio = volumeBaseline ? rowCount / volumeBaseline : null;

  const warnings: string[] = [];
  if (validRowsPct !== null && validRowsPct < thresholds.minValidRowsPct)
    warnings.push(`valid rows ${validRowsPct.toFixed(2)} % below ${thresholds.minValidRowsPct} %`);
  if (duplicateKeyRate !== null && duplicateKeyRate > thresholds.maxDuplicateKeyRate)
    warnings.push(`duplicate key rate ${duplicateKeyRate.toFixed(4)} above ${thresholds.maxDuplicateKeyRate}`);
  for (const [column, max] of Object.entries(thresholds.maxNullRate)) {
    const rate = nullRates[column];
    if (rate !== undefined && rate > max) warnings.push(`null rate of ${column} ${rate.toFixed(4)} above ${max}`);
  }
  if (
    thresholds.maxFreshnessLagSeconds !== undefined &&
    freshnessLagSeconds !== null &&
    freshnessLagSeconds > thresholds.maxFreshnessLagSeconds
  )
    warnings.push(`freshness lag ${Math.round(freshnessLagSeconds)} s above ${thresholds.maxFreshnessLagSeconds} s`);
  if (volumeRatio !== null && Math.abs(volumeRatio - 1) > thresholds.volumeBand)
    warnings.push(
      `volume ${rowCount} rows is ${volumeRatio.toFixed(2)}x the mean of the previous ${previous.length} runs (band ±${thresholds.volumeBand})`,
    );
  return {
    table: options.table,
    scope: options.scope,
    rowCount,
    validRowsPct,
    duplicateKeyRate,
    nullRates,
    lateEvents: names.has(late) ? Number(profile.__late ?? 0) : null,
    freshnessLagSeconds,
    volumeBaseline,
    volumeRatio,
    columnMetrics,
    warnings,
  };
}

/** The quality metrics as Prometheus gauges (the latest value per table and scope), for a /metrics endpoint. */
export class QualityPrometheus {
  readonly registry = new Registry();
  private readonly gauges: Record<string, Gauge<string>>;

  constructor() {
    const gauge = (name: string, help: string, labels: string[] = ['table', 'scope']) =>
      new Gauge({ name, help, labelNames: labels, registers: [this.registry] });
    this.gauges = {
      rows: gauge('bv_quality_rows', 'Rows in the batch checked'),
      valid: gauge('bv_quality_valid_rows_ratio', 'Fraction of rows passing every row-level expectation'),
      duplicates: gauge('bv_quality_duplicate_key_rate', '(rows - distinct keys) / rows'),
      nulls: gauge('bv_quality_null_rate', 'Fraction of NULL per column', ['table', 'scope', 'column']),
      late: gauge('bv_quality_late_events', 'Late events in the batch'),
      freshness: gauge('bv_quality_freshness_lag_seconds', 'Now minus the newest event time'),
      volume: gauge('bv_quality_volume_ratio', 'Rows against the mean of the previous runs'),
      warnings: gauge('bv_quality_warnings', 'Thresholds breached in the latest run'),
      failed: gauge('bv_quality_failed_expectations', 'Expectations failed in the latest run', [
        'table',
        'scope',
        'severity',
      ]),
    };
  }

  observe(metrics: TableMetrics, failed: { critical: number; warning: number } = { critical: 0, warning: 0 }): void {
    const labels = { table: metrics.table, scope: metrics.scope };
    const g = this.gauges as Record<string, Gauge<string>>;
    const set = (name: string, value: number | null) => {
      if (value !== null) g[name]?.set(labels, value);
    };
    set('rows', metrics.rowCount);
    set('valid', metrics.validRowsPct === null ? null : metrics.validRowsPct / 100);
    set('duplicates', metrics.duplicateKeyRate);
    set('late', metrics.lateEvents);
    set('freshness', metrics.freshnessLagSeconds);
    set('volume', metrics.volumeRatio);
    set('warnings', metrics.warnings.length);
    for (const [column, rate] of Object.entries(metrics.nullRates)) g.nulls?.set({ ...labels, column }, rate);
    for (const severity of ['critical', 'warning'] as const) g.failed?.set({ ...labels, severity }, failed[severity]);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The profile's aggregates over a relation of these columns (one row; aliases `__rows`, `c<i>`, `lo<i>`...). */
function profileSelect(
  suite: QualitySuite,
  columns: { column_name: string; column_type: string }[],
  profileKind: 'full' | 'light' | undefined,
): string[] {
  const options = { profile: profileKind };
  const names = new Set(columns.map((c) => c.column_name));
  const select: string[] = ['count(*) AS "__rows"'];
  columns.forEach((c, i) => {
    const col = quoteIdent(c.column_name);
    select.push(`count(${col}) AS "c${i}"`);
    if (options.profile !== 'light') select.push(`approx_count_distinct(CAST(${col} AS VARCHAR)) AS "d${i}"`);
    if (NUMERIC.test(c.column_type))
      select.push(`CAST(min(${col}) AS DOUBLE) AS "lo${i}"`, `CAST(max(${col}) AS DOUBLE) AS "hi${i}"`);
  });
  const keys = (suite.meta.keys ?? []).filter((k) => names.has(k));
  if (keys.length) {
    const counts = keyHashCounts(keys);
    select.push(`${counts.hashes} AS "__keyhashes"`, `${counts.keys} AS "__keycount"`);
  }
  const late = suite.meta.late_column ?? '_is_late';
  if (names.has(late)) select.push(`count(*) FILTER (WHERE ${quoteIdent(late)}) AS "__late"`);
  const time = suite.meta.time_column;
  if (time && names.has(time)) select.push(`max(${quoteIdent(time)}) AS "__newest"`);
  return select;
}

const SCANNED = '__m_';

/**
 * The light profile as extra aggregates for the native run's one scan (gates): the columns of the relation, the
 * aggregates (aliases prefixed so they never meet the run's own) and how to read them back for computeMetrics.
 */
export async function metricsScan(db: DuckDb, suite: QualitySuite, relation: string) {
  const columns = await db.rows<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${relation}`);
  const select = profileSelect(suite, columns, 'light').map((s) => s.replace(/ AS "([^"]+)"$/, ` AS "${SCANNED}$1"`));
  const read = (row: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(row)
        .filter(([k]) => k.startsWith(SCANNED))
        .map(([k, v]) => [k.slice(SCANNED.length), v]),
    );
  return { columns, select, read };
}
