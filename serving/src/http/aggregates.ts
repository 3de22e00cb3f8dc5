import type { SqlParams } from '@bitvelocity/lakehouse';
import { ServingApiError } from './errors.js';
import type { GoldMirror, MirrorDataset } from './gold-mirror.js';
import {
  anomaliesIndex,
  type CurrencyBucket,
  centsText,
  lowerBound,
  type MirrorIndexes,
  minutesIndex,
  NO_CENTS,
  ordersIndex,
  pairKey,
  sessionsIndex,
  type TimeSeries,
} from './mirror-indexes.js';

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
  /** The answer straight from the lake (the reference the mirror's answer equals). */
  sql(schemas: LakeSchemas, query: AggregateQuery, tenant: string): { sql: string; params: SqlParams };
  /** The mirror dataset (see mirrorDatasets) the answer is read from; its relations are `reads`. */
  dataset: MirrorDatasetName;
  /**
   * The answer's rows as a JSON array, from the dataset's copy at `version` or later: the parameters are checked
   * here (400 BAD_RANGE before anything is read), the returned function reads.
   */
  answer(query: AggregateQuery, tenant: string, maxRows: number): AnswerRead;
}

/** Where the named aggregates' answers come from: the per-snapshot copies of their datasets. */
export type IndexSource = Pick<GoldMirror<MirrorIndexes>, 'indexOf'>;
export type AnswerRead = (mirror: IndexSource, version: number) => Promise<string>;

/** An aggregate's answer over one dataset's index: `plan` checks the query and returns what reads the index. */
function over<K extends MirrorDatasetName>(
  dataset: K,
  plan: (query: AggregateQuery, tenant: string, maxRows: number) => (index: MirrorIndexes[K]) => string,
): Pick<NamedAggregate, 'dataset' | 'answer'> {
  return {
    dataset,
    answer: (query, tenant, maxRows) => {
      const read = plan(query, tenant, maxRows);
      return async (mirror, version) => read(await mirror.indexOf(dataset, version));
    },
  };
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

export type MirrorDatasetName = keyof MirrorIndexes;

const tenantProductPairs = (s: LakeSchemas) => `
  SELECT DISTINCT tenant_id, product_id FROM (
    SELECT tenant_id, product_id FROM ${s.silver}.order_lines UNION ALL SELECT tenant_id, product_id FROM ${s.silver}.products)
   WHERE tenant_id IS NOT NULL AND product_id IS NOT NULL`;
const M = 'memory.main';
const utcMinute = (column: string) => `strftime(${column} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')`;
const finite = (column: string) => `CASE WHEN isfinite(${column}) THEN ${column} END`;

/**
 * The whole buckets of `bucketMs` (epoch-aligned, as DuckDB's time_bucket of an hour or 5 minutes) inside the range:
 * those are read pre-aggregated, the edges before and after them row by row. No whole bucket: fullFrom = fullTo = from.
 */
export function withFullBuckets(range: { from: string; to: string }, bucketMs: number) {
  const from = Date.parse(range.from);
  const to = Date.parse(range.to);
  const fullFrom = Math.ceil(from / bucketMs) * bucketMs;
  const fullTo = Math.floor(to / bucketMs) * bucketMs;
  const [a, b] = fullFrom < fullTo ? [fullFrom, fullTo] : [from, from];
  return { ...range, fullFrom: new Date(a).toISOString(), fullTo: new Date(b).toISOString() };
}
/*
 * Each row's answer JSON is written once per copy (the API's row shapes: BIGINT and DECIMAL as strings, non-finite
 * doubles as null, times as UTC ISO strings), so a request only picks rows and joins their text.
 */
const minuteJson = `json_object('minute', ${utcMinute('window_start')}, 'orders', orders::VARCHAR, 'units', units::VARCHAR)::VARCHAR`;
const anomalyJson = `json_object('metric', metric, 'key', key, 'value', ${finite('value')}, 'mean', ${finite('mean')},
  'stddev', ${finite('stddev')}, 'score', ${finite('score')}, 'samples', samples, 'event_id', event_id,
  'event_time', strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ'))::VARCHAR`;
const sessionJson = `json_object('customer_id', c.customer_id, 'session_start', ${utcMinute('c.window_start')},
  'session_end', ${utcMinute('c.window_end')}, 'events', c.events::VARCHAR, 'orders', c.orders::VARCHAR)::VARCHAR`;

/**
 * What the named aggregates read, as in-memory tables copied at one lake snapshot (serving/src/http/gold-mirror.ts):
 * the latest revision of each Gold window already resolved, and each tenant's rows already picked out of Gold (the
 * tenants' product and customer key sets joined once per copy instead of in every query).
 */
export function mirrorDatasets(s: LakeSchemas): { [K in MirrorDatasetName]: MirrorDataset<MirrorIndexes[K]> } {
  return {
    minutes: {
      reads: [...goldMinutes(s), ...productKeys(s)],
      tables: [
        { name: 'minutes_tenant_products', sql: tenantProductPairs(s) },
        {
          name: 'minutes_windows',
          sql: `SELECT k.tenant_id, w.product_id, w.window_start, w.orders, w.units, ${minuteJson} AS row_json
                  FROM ${s.gold}.orders_per_product_1m w JOIN ${M}.minutes_tenant_products k USING (product_id)
                 ORDER BY k.tenant_id, w.window_start`,
        },
        {
          name: 'minutes_per_tenant',
          sql: `SELECT *, ${minuteJson} AS row_json FROM (
                  SELECT tenant_id, window_start, sum(orders)::BIGINT AS orders, sum(units)::BIGINT AS units
                    FROM ${M}.minutes_windows GROUP BY tenant_id, window_start)
                 ORDER BY tenant_id, window_start`,
        },
        {
          name: 'minutes_hourly',
          sql: `SELECT tenant_id, product_id, time_bucket(INTERVAL 1 HOUR, window_start) AS hour,
                       sum(orders) AS orders, sum(units) AS units
                  FROM ${M}.minutes_windows GROUP BY ALL ORDER BY tenant_id, hour`,
        },
        {
          name: 'minutes_product_names',
          sql: `SELECT tenant_id, product_id, arg_max(name, occurred_at) AS name FROM ${s.silver}.products
                 WHERE name IS NOT NULL GROUP BY tenant_id, product_id`,
        },
      ],
      index: minutesIndex,
    },
    orders: {
      reads: [`${s.silver}.orders`],
      tables: [
        {
          name: 'orders_created',
          sql: `SELECT tenant_id, occurred_at, currency, amount FROM ${s.silver}.orders
                 WHERE event_type = 'ecommerce.order.created.v1' ORDER BY tenant_id, occurred_at`,
        },
        {
          name: 'orders_5m',
          sql: `SELECT tenant_id, time_bucket(INTERVAL 5 MINUTE, occurred_at) AS bucket, currency,
                       count(*)::BIGINT AS orders, sum(amount) AS revenue
                  FROM ${M}.orders_created GROUP BY ALL ORDER BY tenant_id, bucket`,
        },
      ],
      index: ordersIndex,
    },
    anomalies: {
      reads: [`${s.gold}.anomalies`, ...productKeys(s), `${s.silver}.orders`],
      tables: [
        { name: 'anomalies_tenant_products', sql: tenantProductPairs(s) },
        {
          name: 'anomalies_by_tenant',
          sql: `SELECT tenant_id, event_time, event_id, ${anomalyJson} AS row_json FROM (
                  SELECT k.tenant_id, a.metric, a.key, a.value, a.mean, a.stddev, a.score, a.samples, a.event_id,
                         a.event_time
                    FROM ${s.gold}.anomalies a JOIN ${M}.anomalies_tenant_products k ON a.key = k.product_id
                   WHERE a.metric = 'product_orders_per_minute'
                  UNION ALL
                  SELECT o.tenant_id, a.metric, a.key, a.value, a.mean, a.stddev, a.score, a.samples, a.event_id,
                         a.event_time
                    FROM ${s.gold}.anomalies a
                    JOIN (SELECT DISTINCT tenant_id, event_id FROM ${s.silver}.orders WHERE tenant_id IS NOT NULL) o
                      ON a.event_id = o.event_id
                   WHERE a.metric = 'order_amount_cents')
                 ORDER BY tenant_id, event_time DESC, event_id`,
        },
      ],
      index: anomaliesIndex,
    },
    sessions: {
      reads: [`${s.gold}.customer_sessions`, `${s.gold}.customer_sessions_revisions`, ...customerKeys(s)],
      tables: [
        {
          name: 'sessions_tenant_customers',
          sql: `SELECT DISTINCT tenant_id, customer_id FROM (
                  SELECT tenant_id, customer_id FROM ${s.silver}.orders
                  UNION ALL SELECT tenant_id, customer_id FROM ${s.silver}.customers)
                 WHERE tenant_id IS NOT NULL AND customer_id IS NOT NULL`,
        },
        {
          name: 'sessions_by_tenant',
          sql: `SELECT k.tenant_id, c.customer_id, c.window_start, ${sessionJson} AS row_json
                  FROM ${s.gold}.customer_sessions c JOIN ${M}.sessions_tenant_customers k USING (customer_id)
                 ORDER BY k.tenant_id, c.window_start`,
        },
      ],
      index: sessionsIndex,
    },
  };
}

const datasetReads = (s: LakeSchemas, name: MirrorDatasetName) => mirrorDatasets(s)[name].reads;

/** A range's bounds in epoch microseconds (the mirror's times). */
function micros<R extends { from: string; to: string }>(range: R): { [K in keyof R]: number } {
  return Object.fromEntries(Object.entries(range).map(([k, v]) => [k, Date.parse(v) * 1000])) as {
    [K in keyof R]: number;
  };
}

/** The rows of a series in the parts of [from, to) outside the whole buckets [fullFrom, fullTo). */
function edgesOf<Row>(
  series: TimeSeries<Row> | undefined,
  range: { from: number; to: number; fullFrom: number; fullTo: number },
): Row[] {
  if (!series) return [];
  return [...series.within(range.from, range.fullFrom), ...series.within(range.fullTo, range.to)];
}

/** Rows' ready JSON text as one array. */
const jsonArray = (rows: readonly string[]) => `[${rows.join(',')}]`;

/** SQL's sum over counts: NULLs skipped, NULL when every value is NULL. */
const addCount = (sum: number | null, value: number | null) => (value === null ? sum : (sum ?? 0) + value);

/** ORDER BY x DESC as DuckDB sorts it (NULLs last). */
const compareCountsDesc = (a: number | null, b: number | null) =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : b - a;

/** ORDER BY x ASC over text as DuckDB sorts it (byte order, NULLs last). */
function compareNullsLast(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** An epoch-microsecond time as the answers print a minute: UTC, seconds, no fraction. */
const isoMinute = (micros: number) => new Date(micros / 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const NAMED_AGGREGATES: NamedAggregate[] = [
  {
    name: 'orders-per-minute',
    summary: 'Orders and units per minute (Gold, latest revision of each window), optionally of one product',
    querystring: { ...range, product: { type: 'string', minLength: 1, maxLength: 200 } },
    reads: (s) => datasetReads(s, 'minutes'),
    ...over('minutes', (q, tenant, maxRows) => {
      const { from, to } = micros(resolveRange(q));
      return (index) => {
        const series = q.product ? index.perProduct.get(pairKey(tenant, q.product)) : index.perTenant.get(tenant);
        const rows = series?.within(from, to) ?? [];
        return jsonArray(rows.slice(0, maxRows).map((r) => (typeof r === 'string' ? r : r.json)));
      };
    }),
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
    reads: (s) => datasetReads(s, 'orders'),
    ...over('orders', (q, tenant, maxRows) => {
      const range = micros(withFullBuckets(resolveRange(q), 5 * 60_000));
      const currency = q.currency;
      return (index) => {
        const sums = new Map<string, CurrencyBucket>();
        const add = (part: CurrencyBucket) => {
          if (currency !== undefined && part.currency !== currency) return;
          const key = `${part.bucket}|${part.currency === null ? '\u0000' : `=${part.currency}`}`;
          const sum = sums.get(key);
          if (!sum) sums.set(key, { ...part });
          else {
            sum.orders += part.orders;
            sum.cents = part.cents === null ? sum.cents : (sum.cents ?? 0n) + part.cents;
          }
        };
        for (const part of index.buckets.get(tenant)?.within(range.fullFrom, range.fullTo) ?? []) add(part);
        const created = index.created.get(tenant);
        if (created)
          for (const [from, to] of [
            [range.from, range.fullFrom],
            [range.fullTo, range.to],
          ] as const)
            for (let i = lowerBound(created.times, from), end = lowerBound(created.times, to); i < end; i++) {
              const cents = created.cents[i] as bigint;
              add({
                bucket: created.buckets[i] as number,
                currency: index.currencies[created.currencies[i] as number] ?? null,
                orders: 1,
                cents: cents === NO_CENTS ? null : cents,
              });
            }
        const rows = [...sums.values()].sort((a, b) => a.bucket - b.bucket || compareNullsLast(a.currency, b.currency));
        return JSON.stringify(
          rows.slice(0, maxRows).map((r) => ({
            window_start: isoMinute(r.bucket),
            currency: r.currency,
            orders: String(r.orders),
            revenue: r.cents === null ? null : centsText(r.cents),
          })),
        );
      };
    }),
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
    reads: (s) => datasetReads(s, 'minutes'),
    ...over('minutes', (q, tenant) => {
      const range = micros(withFullBuckets(resolveRange(q), 60 * 60_000));
      const limit = q.limit ?? 10;
      return (index) => {
        const parts = [
          ...(index.hourly.get(tenant)?.within(range.fullFrom, range.fullTo) ?? []),
          ...edgesOf(index.windows.get(tenant), range),
        ];
        const totals = new Map<string, { orders: number | null; units: number | null }>();
        for (const part of parts) {
          const total = totals.get(part.productId) ?? { orders: null, units: null };
          total.orders = addCount(total.orders, part.orders);
          total.units = addCount(total.units, part.units);
          totals.set(part.productId, total);
        }
        const rows = [...totals].sort(
          ([pa, a], [pb, b]) =>
            compareCountsDesc(a.orders, b.orders) || compareCountsDesc(a.units, b.units) || compareNullsLast(pa, pb),
        );
        return JSON.stringify(
          rows.slice(0, limit).map(([productId, t]) => ({
            product_id: productId,
            name: index.names.get(pairKey(tenant, productId)) ?? null,
            orders: t.orders === null ? null : String(t.orders),
            units: t.units === null ? null : String(t.units),
          })),
        );
      };
    }),
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
    reads: (s) => datasetReads(s, 'anomalies'),
    ...over('anomalies', (q, tenant) => {
      const limit = q.limit ?? 20;
      return (index) => jsonArray((index.latest.get(tenant) ?? []).slice(0, limit));
    }),
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
    reads: (s) => datasetReads(s, 'sessions'),
    ...over('sessions', (q, tenant) => {
      const { from, to } = micros(resolveRange(q));
      const limit = q.limit ?? 50;
      return (index) => {
        const series = index.byStart.get(tenant);
        if (!series) return '[]';
        const first = series.lowerBound(from);
        const rows: string[] = [];
        for (let i = series.lowerBound(to) - 1; i >= first && rows.length < limit; i--)
          rows.push(series.rows[i] as string);
        return jsonArray(rows);
      };
    }),
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
