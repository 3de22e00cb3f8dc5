import { EVENT_TYPES, fromCents, toCents } from '@bitvelocity/core';
import { type DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import type pg from 'pg';
import type { Activity } from './activity.js';

/** What every layer check reads: the lake, Postgres, the run's tenant and what it asked the API to do. */
export interface LayerCheck {
  lake: DuckDb;
  postgres: pg.Client;
  tenant: string;
  activity: Activity;
  waitFor: <T>(what: string, probe: () => Promise<T | undefined>) => Promise<T>;
}

const eventsOf = (a: Activity) =>
  a.productIds.length + a.priceChanges + a.customers + a.orders.length + a.paid + a.shipped + a.cancelled;

/** Bronze: every event of the run landed, exactly once. */
export async function bronzeLanded(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const t = sqlLiteral(tenant);
  const expectedEvents = eventsOf(activity);
  const landed = await waitFor('Bronze', async () => {
    const [row] = await lakeDb.rows<{ n: bigint; events: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM bronze.envelopes WHERE tenant_id = ${t}`,
    );
    return row && Number(row.events) >= expectedEvents ? row : undefined;
  });
  return `${landed.events} events in bronze.envelopes (${Number(landed.n) - Number(landed.events)} CDC re-deliveries kept as raw rows)`;
}

/** Silver: typed orders, lines, products and customers; nothing quarantined. */
export async function silverTyped(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const t = sqlLiteral(tenant);
  const lineCount = activity.orders.reduce((n, o) => n + o.lines.length, 0);
  const orderEvents = activity.orders.length + activity.paid + activity.shipped + activity.cancelled;
  const counts = await waitFor('Silver', async () => {
    const [row] = await lakeDb.rows<{ orders: bigint; lines: bigint; products: bigint; customers: bigint }>(
      `SELECT (SELECT count(*) FROM silver.orders WHERE tenant_id = ${t}) AS orders,
              (SELECT count(*) FROM silver.order_lines WHERE tenant_id = ${t}) AS lines,
              (SELECT count(*) FROM silver.products WHERE tenant_id = ${t}) AS products,
              (SELECT count(*) FROM silver.customers WHERE tenant_id = ${t}) AS customers`,
    );
    return row && Number(row.orders) >= orderEvents && Number(row.lines) >= lineCount ? row : undefined;
  });
  if (Number(counts.orders) !== orderEvents || Number(counts.lines) !== lineCount)
    throw new Error(
      `Silver has ${counts.orders} order events / ${counts.lines} lines, expected ${orderEvents} / ${lineCount}`,
    );
  const [quarantined] = await lakeDb.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM silver.quarantine q JOIN bronze.envelopes b ON b.rowid = q._bronze_rowid WHERE b.tenant_id = ${t}`,
  );
  if (Number(quarantined?.n ?? 0n) > 0) throw new Error(`${quarantined?.n} of the run's events were quarantined`);
  return `${counts.orders} order events, ${counts.lines} lines, ${counts.products} product and ${counts.customers} customer events`;
}

/** Consistency: the lake agrees with Postgres. */
export async function lakeAgreesWithPostgres(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, postgres, tenant } = check;
  const t = sqlLiteral(tenant);
  const { rows } = await postgres.query<{ n: string; total: string; status: string }>(
    `SELECT status, count(*)::text AS n, sum(total_amount)::text AS total FROM orders WHERE tenant_id = $1 GROUP BY status ORDER BY status`,
    [tenant],
  );
  const lakeRows = await lakeDb.rows<{ status: string; n: bigint; total: string }>(
    `WITH latest AS (
       SELECT order_id,
              -- later event wins; within one millisecond, the later step of the status machine
              arg_max(status, epoch_ms(occurred_at) * 10 + CASE status WHEN 'created' THEN 0 WHEN 'paid' THEN 1 ELSE 2 END) AS status
         FROM silver.orders WHERE tenant_id = ${t} GROUP BY order_id),
     created AS (SELECT order_id, amount FROM silver.orders WHERE tenant_id = ${t} AND event_type = ${sqlLiteral(EVENT_TYPES.orderCreated)})
     SELECT latest.status, count(*) AS n, sum(created.amount)::VARCHAR AS total
       FROM latest JOIN created USING (order_id) GROUP BY 1 ORDER BY 1`,
  );
  const fromLake = lakeRows.map((r) => `${r.status} ${r.n} ${fromCents(toCents(r.total))}`).join(', ');
  const fromPostgres = rows.map((r) => `${r.status} ${r.n} ${fromCents(toCents(r.total))}`).join(', ');
  if (fromLake !== fromPostgres) throw new Error(`lake: ${fromLake}; Postgres: ${fromPostgres}`);
  return `orders by status and amount, same in both: ${fromLake}`;
}

/** Gold: each closed minute window equals the count from Silver. */
export async function goldMatchesSilver(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const t = sqlLiteral(tenant);
  const products = activity.productIds.map(sqlLiteral).join(', ');
  // The run's orders fall in one or two minutes; each window closes 10 s after its end once the partition has
  // moved on or been idle for 30 s.
  const expected = await lakeDb.rows<{ product_id: string; window_start: string; lines: bigint; units: bigint }>(
    `SELECT product_id, time_bucket(INTERVAL 1 MINUTE, occurred_at)::VARCHAR AS window_start,
            count(*) AS lines, sum(quantity) AS units
       FROM silver.order_lines WHERE tenant_id = ${t} GROUP BY ALL ORDER BY ALL`,
  );
  const gold = await waitFor('the Gold windows', async () => {
    const rows = await lakeDb.rows<{ product_id: string; window_start: string; orders: bigint; units: bigint }>(
      `SELECT product_id, window_start::VARCHAR AS window_start, orders, units FROM gold.orders_per_product_1m
        WHERE product_id IN (${products}) ORDER BY ALL`,
    );
    return rows.length >= expected.length ? rows : undefined;
  });
  const key = (r: { product_id: string; window_start: string }) => `${r.product_id}|${r.window_start}`;
  const goldByWindow = new Map(gold.map((g) => [key(g), g]));
  for (const want of expected) {
    const got = goldByWindow.get(key(want));
    if (!got || got.orders !== want.lines || got.units !== want.units)
      throw new Error(`window ${key(want)}: Gold ${got?.orders}/${got?.units}, Silver ${want.lines}/${want.units}`);
  }
  const [revenueRow] = await lakeDb.rows<{ windows: bigint }>(
    `SELECT count(*) AS windows FROM gold.revenue_5m WHERE currency = 'EUR' AND window_end > now() - INTERVAL 10 MINUTE`,
  );
  return `${expected.length} product-minute windows match Silver line for line (revenue_5m has ${revenueRow?.windows ?? 0} recent EUR windows)`;
}
