import type { JS } from '@duckdb/node-api';

/**
 * The structures the named aggregates are answered from, built in JS once per copy of a dataset (gold-mirror.ts) out
 * of the in-memory tables DuckDB has just filled. A request then binary-searches a tenant's sorted times and joins
 * the rows' ready JSON text: no query to plan, no thread-pool round trips, ~0.1 ms instead of the 3-10 ms of CPU a
 * DuckDB query over the same tables cost (most of it the per-query overhead, not the scan).
 */

/** Reads the rows of a query over the copied tables (inside the copy's transaction). */
export type RowReader = (sql: string) => Promise<Record<string, JS>[]>;

/** Rows in ascending time order (epoch microseconds) with what a request needs of each. */
export class TimeSeries<Row> {
  private constructor(
    readonly times: Float64Array,
    readonly rows: readonly Row[],
  ) {}

  /** Groups `source` (sorted by key, then time `t`) into one series per key. */
  static group<Source extends { t?: JS | number }, Row>(
    source: readonly Source[],
    keyOf: (row: Source) => string,
    rowOf: (row: Source) => Row,
  ): Map<string, TimeSeries<Row>> {
    const grouped = new Map<string, { times: number[]; rows: Row[] }>();
    for (const raw of source) {
      const key = keyOf(raw);
      let group = grouped.get(key);
      if (!group) {
        group = { times: [], rows: [] };
        grouped.set(key, group);
      }
      group.times.push(Number(raw.t));
      group.rows.push(rowOf(raw));
    }
    const series = new Map<string, TimeSeries<Row>>();
    for (const [key, { times, rows }] of grouped) series.set(key, new TimeSeries(Float64Array.from(times), rows));
    return series;
  }

  /** The first index whose time is >= `time` (the rows' length when none is). */
  lowerBound(time: number): number {
    return lowerBound(this.times, time);
  }

  /** The rows with from <= time < to, ascending. */
  within(from: number, to: number): Row[] {
    return this.rows.slice(this.lowerBound(from), this.lowerBound(to)) as Row[];
  }
}

/** The first index of ascending `times` whose time is >= `time` (the length when none is). */
export function lowerBound(times: Float64Array, time: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A tenant's row, and a key of two parts, as map keys. */
export const pairKey = (a: string, b: string) => `${a}\u0000${b}`;

const text = (value: JS | undefined): string => String(value);
const count = (value: JS | undefined): number | null => (value === null || value === undefined ? null : Number(value));

/** A minute of Gold: its counts and its answer JSON (orders-per-minute's row shape). */
export interface MinuteRow {
  productId: string;
  orders: number | null;
  units: number | null;
  json: string;
}

export interface ProductTotals {
  productId: string;
  orders: number | null;
  units: number | null;
}

export interface MinutesIndex {
  /** Per tenant: its products' minutes summed (orders-per-minute without a product). */
  perTenant: Map<string, TimeSeries<string>>;
  /** Per tenant and product: that product's minutes. */
  perProduct: Map<string, TimeSeries<MinuteRow>>;
  /** Per tenant: every product's minutes (top-products' partial hours). */
  windows: Map<string, TimeSeries<MinuteRow>>;
  /** Per tenant: each product's hours (top-products' whole hours). */
  hourly: Map<string, TimeSeries<ProductTotals>>;
  /** Per tenant and product: the latest name. */
  names: Map<string, string>;
}

const M = 'memory.main';
const minuteOf = (r: Record<string, JS>): MinuteRow => ({
  productId: text(r.product_id),
  orders: count(r.orders),
  units: count(r.units),
  json: text(r.row_json),
});

export async function minutesIndex(rows: RowReader): Promise<MinutesIndex> {
  const windows = await rows(
    `SELECT tenant_id, product_id, epoch_us(window_start)::DOUBLE AS t, orders, units, row_json
       FROM ${M}.minutes_windows WHERE window_start IS NOT NULL ORDER BY tenant_id, window_start, product_id`,
  );
  const perTenant = await rows(
    `SELECT tenant_id, epoch_us(window_start)::DOUBLE AS t, row_json FROM ${M}.minutes_per_tenant
      WHERE window_start IS NOT NULL ORDER BY tenant_id, window_start`,
  );
  const hourly = await rows(
    `SELECT tenant_id, product_id, epoch_us(hour)::DOUBLE AS t, orders, units FROM ${M}.minutes_hourly
      WHERE hour IS NOT NULL ORDER BY tenant_id, hour, product_id`,
  );
  const names = await rows(
    `SELECT tenant_id, product_id, name FROM ${M}.minutes_product_names
      WHERE tenant_id IS NOT NULL AND product_id IS NOT NULL`,
  );
  // One object per minute, shared by the per-product and the per-tenant series.
  const minutes = windows.map((r) => ({ t: r.t, tenant: text(r.tenant_id), row: minuteOf(r) }));
  return {
    perTenant: TimeSeries.group(
      perTenant,
      (r) => text(r.tenant_id),
      (r) => text(r.row_json),
    ),
    perProduct: TimeSeries.group(
      minutes,
      (m) => pairKey(m.tenant, m.row.productId),
      (m) => m.row,
    ),
    windows: TimeSeries.group(
      minutes,
      (m) => m.tenant,
      (m) => m.row,
    ),
    hourly: TimeSeries.group(
      hourly,
      (r) => text(r.tenant_id),
      (r) => ({ productId: text(r.product_id), orders: count(r.orders), units: count(r.units) }),
    ),
    names: new Map(names.map((r) => [pairKey(text(r.tenant_id), text(r.product_id)), text(r.name)])),
  };
}

/** Orders or revenue of one currency in one 5-minute bucket; revenue in cents (DECIMAL(18,2) exactly). */
export interface CurrencyBucket {
  bucket: number;
  currency: string | null;
  orders: number;
  cents: bigint | null;
}

/**
 * A tenant's created orders in columns (one Silver row each, so the largest index: 28 bytes an order instead of an
 * object), ascending by time; `cents` is NO_CENTS where the amount is NULL.
 */
export interface CreatedOrders {
  times: Float64Array;
  buckets: Float64Array;
  currencies: Uint32Array;
  cents: BigInt64Array;
}

/** An amount of NULL (DECIMAL(18,2) in cents never reaches -2^63). */
export const NO_CENTS = -(2n ** 63n);

export interface OrdersIndex {
  /** Per tenant: created orders per 5-minute bucket and currency (whole buckets). */
  buckets: Map<string, TimeSeries<CurrencyBucket>>;
  /** Per tenant: each created order with its 5-minute bucket (partial buckets). */
  created: Map<string, CreatedOrders>;
  /** The currencies `CreatedOrders.currencies` points into (null: a NULL currency). */
  currencies: (string | null)[];
}

const bucketOf = (r: Record<string, JS>): CurrencyBucket => ({
  bucket: Number(r.bucket),
  currency: r.currency === null || r.currency === undefined ? null : text(r.currency),
  orders: Number(r.orders),
  cents: typeof r.cents === 'bigint' ? r.cents : null,
});

export async function ordersIndex(rows: RowReader): Promise<OrdersIndex> {
  const buckets = await rows(
    `SELECT tenant_id, epoch_us(bucket)::DOUBLE AS t, epoch_us(bucket)::DOUBLE AS bucket, currency, orders,
            (revenue * 100)::HUGEINT AS cents
       FROM ${M}.orders_5m WHERE tenant_id IS NOT NULL AND bucket IS NOT NULL ORDER BY tenant_id, bucket`,
  );
  const counts = await rows(
    `SELECT tenant_id, count(*)::DOUBLE AS n FROM ${M}.orders_created
      WHERE tenant_id IS NOT NULL AND occurred_at IS NOT NULL GROUP BY tenant_id`,
  );
  const created = new Map<string, CreatedOrders>();
  for (const { tenant_id, n } of counts) {
    const length = Number(n);
    created.set(text(tenant_id), {
      times: new Float64Array(length),
      buckets: new Float64Array(length),
      currencies: new Uint32Array(length),
      cents: new BigInt64Array(length),
    });
  }
  const currencies: (string | null)[] = [];
  const currencyIds = new Map<string | null, number>();
  let tenant: string | undefined;
  let column: CreatedOrders | undefined;
  let i = 0;
  for (const r of await rows(
    `SELECT tenant_id, epoch_us(occurred_at)::DOUBLE AS t,
            epoch_us(time_bucket(INTERVAL 5 MINUTE, occurred_at))::DOUBLE AS bucket, currency,
            (amount * 100)::BIGINT AS cents
       FROM ${M}.orders_created WHERE tenant_id IS NOT NULL AND occurred_at IS NOT NULL ORDER BY tenant_id, occurred_at`,
  )) {
    if (text(r.tenant_id) !== tenant) {
      tenant = text(r.tenant_id);
      column = created.get(tenant);
      i = 0;
    }
    if (!column) continue;
    const currency = r.currency === null || r.currency === undefined ? null : text(r.currency);
    let id = currencyIds.get(currency);
    if (id === undefined) {
      id = currencies.push(currency) - 1;
      currencyIds.set(currency, id);
    }
    column.times[i] = Number(r.t);
    column.buckets[i] = Number(r.bucket);
    column.currencies[i] = id;
    column.cents[i] = typeof r.cents === 'bigint' ? r.cents : NO_CENTS;
    i++;
  }
  return { buckets: TimeSeries.group(buckets, (r) => text(r.tenant_id), bucketOf), created, currencies };
}

export interface AnomaliesIndex {
  /** Per tenant: the anomalies' answer JSON, newest first (event_time DESC, event_id). */
  latest: Map<string, string[]>;
}

export async function anomaliesIndex(rows: RowReader): Promise<AnomaliesIndex> {
  const latest = new Map<string, string[]>();
  for (const r of await rows(
    `SELECT tenant_id, row_json FROM ${M}.anomalies_by_tenant WHERE tenant_id IS NOT NULL ORDER BY tenant_id, event_time DESC, event_id`,
  )) {
    const tenant = text(r.tenant_id);
    const list = latest.get(tenant) ?? [];
    if (list.length === 0) latest.set(tenant, list);
    list.push(text(r.row_json));
  }
  return { latest };
}

export interface SessionsIndex {
  /**
   * Per tenant: the sessions' answer JSON by start, ascending, ties by customer_id descending, so reading a range
   * backwards gives the answer's order (window_start DESC, customer_id).
   */
  byStart: Map<string, TimeSeries<string>>;
}

export async function sessionsIndex(rows: RowReader): Promise<SessionsIndex> {
  const sessions = await rows(
    `SELECT tenant_id, epoch_us(window_start)::DOUBLE AS t, row_json FROM ${M}.sessions_by_tenant
      WHERE window_start IS NOT NULL ORDER BY tenant_id, window_start, customer_id DESC`,
  );
  return {
    byStart: TimeSeries.group(
      sessions,
      (r) => text(r.tenant_id),
      (r) => text(r.row_json),
    ),
  };
}

export interface MirrorIndexes {
  minutes: MinutesIndex;
  orders: OrdersIndex;
  anomalies: AnomaliesIndex;
  sessions: SessionsIndex;
}

/** DECIMAL(18,2) text of a number of cents, as DuckDB prints it (`-0.50`, `12.00`). */
export function centsText(cents: bigint): string {
  const negative = cents < 0n;
  const digits = (negative ? -cents : cents).toString().padStart(3, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}
