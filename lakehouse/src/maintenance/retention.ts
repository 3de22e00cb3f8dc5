import type { DuckDb } from '../duckdb.js';
import {
  attachedLake,
  LAKE_LAYERS,
  LakeError,
  type LakeLayer,
  maintenance,
  qualified,
  quoteIdentifier,
  tableColumns,
} from './catalog.js';

/** Days each layer keeps its rows; a layer without a value keeps them forever. */
export type RetentionPolicy = Partial<Record<LakeLayer, number>>;

export interface TableRetention {
  layer: LakeLayer;
  schema: string;
  table: string;
  timeColumn: string;
  /** Rows whose time column is before this were deleted. */
  cutoff: Date;
  /** Rows deleted (or, in a dry run, that would be). */
  rowsDeleted: number;
}

export interface RetentionSkip {
  layer: LakeLayer;
  schema: string;
  table: string;
  reason: string;
}

export interface LayerRetention {
  layer: LakeLayer;
  schema: string;
  days: number;
  cutoff: Date;
  /** Tables found in the layer's schema (0 when the schema does not exist). */
  tables: number;
}

export interface RetentionReport {
  dryRun: boolean;
  layers: LayerRetention[];
  tables: TableRetention[];
  skipped: RetentionSkip[];
}

/**
 * The column whose age decides retention, keyed "<layer>.<table>" for one table or "<layer>.*" for every table of a
 * layer that has the column (the layer, not the schema, so the map holds wherever the layers live). A table declared
 * by name without that column is skipped; other tables fall back to RETENTION_TIME_COLUMN_FALLBACK.
 *
 * Silver ages by event time: its tables are partitioned by `occurred_at`, so retention drops whole files, and
 * "keep N days" means N days of events. Its quarantine has no event time and falls back to `_ingested_at`.
 */
export const RETENTION_TIME_COLUMNS: Readonly<Record<string, string>> = Object.freeze({ 'silver.*': 'occurred_at' });

/** The first of these a table has is its retention clock when RETENTION_TIME_COLUMNS names none: Bronze's first. */
export const RETENTION_TIME_COLUMN_FALLBACK = ['_ingested_at', 'occurred_at', 'window_start'] as const;

const TEMPORAL_TYPE = /^(DATE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE)$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes rows older than the policy's days from every table of each layer's schema, by the table's time column
 * (RETENTION_TIME_COLUMNS, overridable per call with `timeColumns`, else the first of RETENTION_TIME_COLUMN_FALLBACK
 * it has); tables without one are skipped and reported. One commit per table, so a sink appending to one table conflicts with at most that delete. Rows with
 * no time are kept. `schemas` maps a layer to the schema that holds it (default: the layer's name).
 */
export async function applyRetention(
  lake: DuckDb,
  policy: RetentionPolicy,
  options: {
    schemas?: Partial<Record<LakeLayer, string>>;
    timeColumns?: Readonly<Record<string, string>>;
    now?: Date;
    dryRun?: boolean;
  } = {},
): Promise<RetentionReport> {
  for (const [layer, days] of Object.entries(policy)) {
    if (!LAKE_LAYERS.includes(layer as LakeLayer)) {
      throw new LakeError('LAKE_BAD_OPTION', `"${layer}" is not a lake layer (${LAKE_LAYERS.join(', ')})`);
    }
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
      throw new LakeError('LAKE_BAD_OPTION', `retention for ${layer} must be a positive whole number of days`);
    }
  }
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const timeColumns = { ...RETENTION_TIME_COLUMNS, ...options.timeColumns };
  const catalog = await attachedLake(lake);
  const report: RetentionReport = { dryRun, layers: [], tables: [], skipped: [] };

  for (const layer of LAKE_LAYERS) {
    const days = policy[layer];
    if (days === undefined) continue;
    const schema = options.schemas?.[layer] ?? layer;
    const cutoff = new Date(now.getTime() - days * DAY_MS);
    const tables = await tableColumns(lake, catalog, schema);
    report.layers.push({ layer, schema, days, cutoff, tables: tables.length });
    for (const { table, columns } of tables) {
      const declared = timeColumns[`${layer}.${table}`];
      const layerWide = timeColumns[`${layer}.*`];
      const timeColumn =
        declared ??
        (layerWide !== undefined && columns.has(layerWide) ? layerWide : undefined) ??
        RETENTION_TIME_COLUMN_FALLBACK.find((name) => columns.has(name));
      const type = timeColumn === undefined ? undefined : columns.get(timeColumn);
      if (timeColumn === undefined || type === undefined) {
        const wanted = declared ?? RETENTION_TIME_COLUMN_FALLBACK.join(', ');
        report.skipped.push({ layer, schema, table, reason: `no time column (looked for ${wanted})` });
        continue;
      }
      if (!TEMPORAL_TYPE.test(type)) {
        report.skipped.push({ layer, schema, table, reason: `time column ${timeColumn} is ${type}, not a date/time` });
        continue;
      }
      const target = `${qualified(catalog, schema, table)} WHERE ${quoteIdentifier(timeColumn)} < $cutoff::TIMESTAMPTZ`;
      const params = { cutoff: cutoff.toISOString() };
      const [result] = dryRun
        ? await lake.rows<{ Count: bigint }>(`SELECT count(*) AS Count FROM ${target}`, params)
        : await maintenance(lake, `retention on ${schema}.${table}`, `DELETE FROM ${target}`, params);
      const rowsDeleted = Number(result?.Count ?? 0);
      report.tables.push({ layer, schema, table, timeColumn, cutoff, rowsDeleted });
    }
  }
  return report;
}
