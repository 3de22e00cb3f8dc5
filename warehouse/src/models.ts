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
}

/** The surrogate key of a natural key's first version (or its inferred member): md5 of the natural key, as BIGINT. */
export const memberKeySql = (naturalKey: string) => `CAST(('0x' || substr(md5(${naturalKey}), 1, 15)) AS BIGINT)`;

/** The surrogate key of a later version: md5 of natural key, valid_from (epoch microseconds) and Bronze offset. */
export const versionKeySql = (naturalKey: string) =>
  `CAST(('0x' || substr(md5(concat_ws('|', ${naturalKey}, CAST(epoch_us(occurred_at) AS VARCHAR), CAST(_bronze_partition AS VARCHAR), CAST(_bronze_offset AS VARCHAR))), 1, 15)) AS BIGINT)`;

const cache = new Map<ModelName, string>();

/** A model's SQL (models/<name>.sql, read once) with its placeholders filled in. */
export function modelSql(name: ModelName, context: ModelContext): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${MODELS_DIR}${name}.sql`, 'utf8');
    cache.set(name, text);
  }
  return text
    .replaceAll('{{gold}}', context.gold)
    .replaceAll('{{silver}}', context.silver)
    .replaceAll('{{position}}', context.position.toString())
    .replaceAll('{{open}}', OPEN_VALID_TO)
    .replace(/\{\{scope (\w+) ([\w.]+)\}\}/g, (_m, set: string, column: string) =>
      context.full ? 'true' : `${column} IN (SELECT ${column.replace(/^\w+\./, '')} FROM temp.main.${set})`,
    )
    .replace(/\{\{memberKey ([\w.]+)\}\}/g, (_m, key: string) => memberKeySql(key))
    .replace(/\{\{versionKey ([\w.]+)\}\}/g, (_m, key: string) => versionKeySql(key));
}
