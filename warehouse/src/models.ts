import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPEN_VALID_TO } from './tables.js';

const MODELS_DIR = fileURLToPath(new URL('./models/', import.meta.url));

export type ModelName =
  | 'dim_product'
  | 'dim_customer'
  | 'dim_device'
  | 'fact_order'
  | 'fact_order_line'
  | 'mart_daily_sales'
  | 'mart_daily_sales_contributions'
  | 'mart_hourly_orders_by_status'
  | 'mart_orders_per_minute'
  | 'mart_customer_ltv'
  | 'mart_product_price_history';

export interface ModelContext {
  gold: string;
  silver: string;
  /** The highest Silver _bronze_rowid the build reads. */
  position: bigint;
  /** A full build: every key is in scope, so the scope filters fall away. */
  full: boolean;
  /** The fact_order rows a mart model reads (`{{orders}}`): gold.fact_order unless given. */
  orders?: string;
  /** The fact_order_line rows a mart model reads (`{{line_facts}}`): gold.fact_order_line unless given. */
  lineFacts?: string;
}

/** The surrogate key of a natural key's first version (or its inferred member): md5 of the natural key, as BIGINT. */
export const memberKeySql = (naturalKey: string) => `CAST(('0x' || substr(md5(${naturalKey}), 1, 15)) AS BIGINT)`;

/** The surrogate key of a later version: md5 of natural key, valid_from (epoch microseconds) and Bronze offset. */
export const versionKeySql = (naturalKey: string) =>
  `CAST(('0x' || substr(md5(concat_ws('|', ${naturalKey}, CAST(epoch_us(occurred_at) AS VARCHAR), CAST(_bronze_partition AS VARCHAR), CAST(_bronze_offset AS VARCHAR))), 1, 15)) AS BIGINT)`;

/**
 * A row's place in its chain as one HUGEINT: (event time in µs, Bronze partition, Bronze offset), compared as one
 * number instead of a struct or three sort keys (an order by it, or arg_min/arg_max by it, takes the fast path of a
 * single fixed-size key). Exact: the offset takes the low 48 bits and the partition the 16 above, under the event
 * time. A Bronze record is one (partition, offset) of its topic, so two rows of one chain never share a position.
 */
export const chainKeySql = (alias = '') =>
  `(CAST(epoch_us(${alias}occurred_at) AS HUGEINT) * 18446744073709551616 + CAST(coalesce(${alias}_bronze_partition, 0) AS HUGEINT) * 281474976710656 + coalesce(${alias}_bronze_offset, 0))`;

/**
 * Calendar parts of a TIMESTAMPTZ in UTC without ICU: the instant as a plain TIMESTAMP (its epoch microseconds), whose
 * year/month/day/hour and date_trunc are native arithmetic. (Date parts of a TIMESTAMPTZ go through ICU's calendar
 * row by row, about ten times slower; the build's TimeZone is UTC, so both give the same values.)
 */
export const utcSql = (ts: string) => `make_timestamp(epoch_us(${ts}))`;
/** The date key (yyyymmdd as INTEGER) of a TIMESTAMPTZ, in UTC. */
export const dateKeySql = (ts: string) => {
  const u = utcSql(ts);
  return `CAST(year(${u}) * 10000 + month(${u}) * 100 + day(${u}) AS INTEGER)`;
};
/** The hour of day (0-23, INTEGER) of a TIMESTAMPTZ, in UTC. */
export const hourSql = (ts: string) => `CAST(hour(${utcSql(ts)}) AS INTEGER)`;
/** date_trunc(unit, ts) of a TIMESTAMPTZ in UTC, as a TIMESTAMPTZ (whole seconds, so the DOUBLE is exact). */
export const truncSql = (unit: string, ts: string) =>
  `to_timestamp(epoch_us(date_trunc('${unit}', ${utcSql(ts)})) / 1000000)`;

const cache = new Map<ModelName, string>();

/** A model's SQL (models/<name>.sql, read once) with its placeholders filled in. */
export function modelSql(name: ModelName, context: ModelContext): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${MODELS_DIR}${name}.sql`, 'utf8');
    cache.set(name, text);
  }
  return text
    .replaceAll('{{orders}}', context.orders ?? `${context.gold}.fact_order`)
    .replaceAll('{{line_facts}}', context.lineFacts ?? `${context.gold}.fact_order_line`)
    .replaceAll('{{gold}}', context.gold)
    .replaceAll('{{silver}}', context.silver)
    .replaceAll('{{position}}', context.position.toString())
    .replaceAll('{{open}}', OPEN_VALID_TO)
    .replace(/\{\{scope (\w+) ([\w.]+)\}\}/g, (_m, set: string, column: string) =>
      context.full ? 'true' : `${column} IN (SELECT ${column.replace(/^\w+\./, '')} FROM temp.main.${set})`,
    )
    .replace(/\{\{memberKey ([\w.]+)\}\}/g, (_m, key: string) => memberKeySql(key))
    .replace(/\{\{chainKey(?: (\w+))?\}\}/g, (_m, alias?: string) => chainKeySql(alias ? `${alias}.` : ''))
    .replace(/\{\{dateKey ([\w.]+)\}\}/g, (_m, ts: string) => dateKeySql(ts))
    .replace(/\{\{hour ([\w.]+)\}\}/g, (_m, ts: string) => hourSql(ts))
    .replace(/\{\{trunc (\w+) ([\w.]+)\}\}/g, (_m, unit: string, ts: string) => truncSql(unit, ts))
    .replace(/\{\{versionKey ([\w.]+)\}\}/g, (_m, key: string) => versionKeySql(key));
}
