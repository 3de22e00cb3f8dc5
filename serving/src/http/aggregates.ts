import type { SqlParams } from '@bitvelocity/lakehouse';
import { ServingApiError } from './errors.js';

/** The lake schemas serving reads (tests point them at schemas of their own). */
export interface LakeSchemas {
  bronze: string;
  silver: string;
  gold: string;
}

export const DEFAULT_SCHEMAS: LakeSchemas = { bronze: 'bronze', silver: 'silver', gold: 'gold' };

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_RANGE_MS = 31 * DAY_MS;

const range = {
  from: { type: 'string', format: 'date-time', description: 'inclusive start (ISO 8601); default: `to` minus 24 h' },
  to: { type: 'string', format: 'date-time', description: 'exclusive end (ISO 8601); default: now' },
} as const;

const limit = (max: number, dflt: number) =>
  ({ type: 'integer', minimum: 1, maximum: max, default: dflt, description: `rows to return (1-${max})` }) as const;

export interface AggregateQuery {
  from?: string;
  to?: string;
  product?: string;
  currency?: string;
  limit?: number;
}

/** A named aggregate: its querystring schema, and the SQL (tenant-filtered) with its parameters. */
export interface NamedAggregate {
  name: string;
  summary: string;
  querystring: Record<string, unknown>;
  /** The lake relations (`schema.name`; a view and the tables under it) the SQL reads: an answer's version. */
  reads(schemas: LakeSchemas): string[];
  sql(schemas: LakeSchemas, query: AggregateQuery, tenant: string): { sql: string; params: SqlParams };
}

/** The query's range as timestamps; 400 BAD_RANGE when it is empty, reversed or longer than 31 days. */
export function resolveRange(query: AggregateQuery, now = Date.now()): { from: string; to: string } {
  const to = query.to ? Date.parse(query.to) : now;
  const from = query.from ? Date.parse(query.from) : to - DAY_MS;
  if (!(from < to)) throw new ServingApiError('BAD_RANGE', '`from` must be before `to`', 'querystring/from');
  if (to - from > MAX_RANGE_MS)
    throw new ServingApiError('BAD_RANGE', 'the range is at most 31 days', 'querystring/to');
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/*
 * Tenant isolation. The Gold window tables are keyed by product, currency or customer, not by tenant, so a tenant's
 * Gold rows are the rows of the products and customers that tenant owns (product and customer ids are created by one
 * tenant's services). Revenue by currency mixes tenants in Gold (a currency is not owned), so it is computed from the
 * tenant's own Silver orders in the same 5-minute windows.
 */
const tenantProducts = (s: LakeSchemas) => `
  SELECT product_id FROM ${s.silver}.order_lines WHERE tenant_id = $tenant
  UNION SELECT product_id FROM ${s.silver}.products WHERE tenant_id = $tenant`;
const tenantCustomers = (s: LakeSchemas) => `
  SELECT customer_id FROM ${s.silver}.orders WHERE tenant_id = $tenant
  UNION SELECT customer_id FROM ${s.silver}.customers WHERE tenant_id = $tenant`;

const productKeys = (s: LakeSchemas) => [`${s.silver}.order_lines`, `${s.silver}.products`];
const customerKeys = (s: LakeSchemas) => [`${s.silver}.orders`, `${s.silver}.customers`];
const goldMinutes = (s: LakeSchemas) => [
  `${s.gold}.orders_per_product_1m`,
  `${s.gold}.orders_per_product_1m_revisions`,
];

export const NAMED_AGGREGATES: NamedAggregate[] = [
  {
    name: 'orders-per-minute',
    summary: 'Orders and units per minute (Gold, latest revision of each window), optionally of one product',
    querystring: { ...range, product: { type: 'string', minLength: 1, maxLength: 200 } },
    reads: (s) => [...goldMinutes(s), ...productKeys(s)],
    sql: (s, q, tenant) => ({
      sql: `SELECT strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS minute,
                   sum(orders)::BIGINT AS orders, sum(units)::BIGINT AS units
              FROM ${s.gold}.orders_per_product_1m
             WHERE product_id IN (${tenantProducts(s)})
               AND window_start >= $from::TIMESTAMPTZ AND window_start < $to::TIMESTAMPTZ
               ${q.product ? 'AND product_id = $product' : ''}
             GROUP BY window_start ORDER BY window_start`,
      params: { tenant, ...resolveRange(q), ...(q.product ? { product: q.product } : {}) },
    }),
  },
  {
    name: 'revenue-5m',
    summary: "Revenue and orders per currency in 5-minute windows (the tenant's Silver orders)",
    querystring: { ...range, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
    reads: (s) => [`${s.silver}.orders`],
    sql: (s, q, tenant) => ({
      sql: `SELECT strftime(time_bucket(INTERVAL 5 MINUTE, occurred_at) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS window_start,
                   currency, count(*)::BIGINT AS orders, sum(amount)::DECIMAL(18,2) AS revenue
              FROM ${s.silver}.orders
             WHERE tenant_id = $tenant AND event_type = 'ecommerce.order.created.v1'
               AND occurred_at >= $from::TIMESTAMPTZ AND occurred_at < $to::TIMESTAMPTZ
               ${q.currency ? 'AND currency = $currency' : ''}
             GROUP BY ALL ORDER BY window_start, currency`,
      params: { tenant, ...resolveRange(q), ...(q.currency ? { currency: q.currency } : {}) },
    }),
  },
  {
    name: 'top-products',
    summary: 'The products with the most orders in the range (Gold), with their latest name',
    querystring: { ...range, limit: limit(100, 10) },
    reads: (s) => [...goldMinutes(s), ...productKeys(s)],
    sql: (s, q, tenant) => ({
      sql: `WITH totals AS (
              SELECT product_id, sum(orders)::BIGINT AS orders, sum(units)::BIGINT AS units
                FROM ${s.gold}.orders_per_product_1m
               WHERE product_id IN (${tenantProducts(s)})
                 AND window_start >= $from::TIMESTAMPTZ AND window_start < $to::TIMESTAMPTZ
               GROUP BY product_id),
            names AS (
              SELECT product_id, arg_max(name, occurred_at) AS name FROM ${s.silver}.products
               WHERE tenant_id = $tenant AND name IS NOT NULL GROUP BY product_id)
            SELECT t.product_id, n.name, t.orders, t.units FROM totals t LEFT JOIN names n USING (product_id)
             ORDER BY t.orders DESC, t.units DESC, t.product_id LIMIT $limit`,
      params: { tenant, ...resolveRange(q), limit: q.limit ?? 10 },
    }),
  },
  {
    name: 'anomalies-latest',
    summary: "The latest anomalies on the tenant's products' order rates and order amounts (Gold)",
    querystring: { limit: limit(200, 20) },
    reads: (s) => [`${s.gold}.anomalies`, ...productKeys(s), `${s.silver}.orders`],
    sql: (s, q, tenant) => ({
      sql: `SELECT metric, key, value, mean, stddev, score, samples, event_id,
                   strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS event_time
              FROM ${s.gold}.anomalies
             WHERE (metric = 'product_orders_per_minute' AND key IN (${tenantProducts(s)}))
                OR (metric = 'order_amount_cents' AND event_id IN
                      (SELECT event_id FROM ${s.silver}.orders WHERE tenant_id = $tenant))
             ORDER BY event_time DESC, event_id LIMIT $limit`,
      params: { tenant, limit: q.limit ?? 20 },
    }),
  },
  {
    name: 'customer-sessions',
    summary: "Customer sessions (30-minute gap) that started in the range, newest first, of the tenant's customers",
    querystring: { ...range, limit: limit(500, 50) },
    reads: (s) => [`${s.gold}.customer_sessions`, `${s.gold}.customer_sessions_revisions`, ...customerKeys(s)],
    sql: (s, q, tenant) => ({
      sql: `SELECT customer_id,
                   strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS session_start,
                   strftime(window_end AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS session_end,
                   events, orders
              FROM ${s.gold}.customer_sessions
             WHERE customer_id IN (${tenantCustomers(s)})
               AND window_start >= $from::TIMESTAMPTZ AND window_start < $to::TIMESTAMPTZ
             ORDER BY window_start DESC, customer_id LIMIT $limit`,
      params: { tenant, ...resolveRange(q), limit: q.limit ?? 50 },
    }),
  },
];
