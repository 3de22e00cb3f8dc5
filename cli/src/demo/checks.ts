import { EVENT_TYPES, fromCents, toCents } from '@bitvelocity/core';
import { type DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';
import type pg from 'pg';
import { type Activity, apiEventsOf } from './activity.js';
import { type PlantedDefects, plantedEnvelopes } from './defects.js';

/** What every layer check reads: the lake, Postgres, the run's tenant, what it asked the API to do and what it planted. */
export interface LayerCheck {
  lake: DuckDb;
  postgres: pg.Client;
  tenant: string;
  activity: Activity;
  /** Set once the defects are on the topics. */
  planted?: PlantedDefects;
  waitFor: <T>(what: string, probe: () => Promise<T | undefined>) => Promise<T>;
}

/** Bronze: every event of the run's API calls landed, exactly once. */
export async function bronzeLanded(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const t = sqlLiteral(tenant);
  const expectedEvents = apiEventsOf(activity);
  const landed = await waitFor('Bronze', async () => {
    const [row] = await lakeDb.rows<{ n: bigint; events: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM bronze.envelopes WHERE tenant_id = ${t}`,
    );
    return row && Number(row.events) >= expectedEvents ? row : undefined;
  });
  if (Number(landed.events) !== expectedEvents)
    throw new Error(`Bronze has ${landed.events} events of the run, the API made ${expectedEvents}`);
  return `${landed.events} events in bronze.envelopes (${Number(landed.n) - Number(landed.events)} CDC re-deliveries kept as raw rows)`;
}

/** Bronze keeps every planted record as it came: duplicates as second raw rows, malformed ones with their text. */
export async function bronzeKeptDefects(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const planted = check.planted as PlantedDefects;
  const t = sqlLiteral(tenant);
  const expectedEvents = apiEventsOf(activity) + plantedEnvelopes(planted);
  const duplicates = planted.duplicates.map(sqlLiteral).join(', ') || "''";
  const landed = await waitFor('the planted records in Bronze', async () => {
    const [row] = await lakeDb.rows<{ events: bigint; resent: bigint; notJson: bigint }>(
      `SELECT (SELECT count(DISTINCT event_id) FROM bronze.envelopes WHERE tenant_id = ${t}) AS events,
              (SELECT count(*) FROM (SELECT event_id FROM bronze.envelopes WHERE tenant_id = ${t} AND event_id IN (${duplicates})
                GROUP BY event_id HAVING count(*) >= 2)) AS resent,
              (SELECT count(*) FROM bronze.envelopes WHERE event_id IS NULL AND envelope LIKE ${sqlLiteral(`%${planted.marker}%`)}) AS notJson`,
    );
    return row &&
      Number(row.events) >= expectedEvents &&
      Number(row.resent) >= planted.duplicates.length &&
      Number(row.notJson) >= planted.notJson
      ? row
      : undefined;
  });
  if (Number(landed.events) !== expectedEvents || Number(landed.notJson) !== planted.notJson)
    throw new Error(
      `Bronze has ${landed.events} events and ${landed.notJson} not-JSON records of the run, expected ${expectedEvents} and ${planted.notJson}`,
    );
  return `${landed.events} events (the planted ones too), ${landed.resent} re-sent twice as raw rows, ${landed.notJson} not-JSON records kept as text`;
}

/**
 * Silver: typed orders, lines, products and customers, each event once (duplicates dropped), the late and out-of-order
 * customer updates in place, and exactly the planted malformed records in quarantine.
 */
export async function silverTyped(check: LayerCheck): Promise<string> {
  const { lake: lakeDb, tenant, activity, waitFor } = check;
  const planted = check.planted as PlantedDefects;
  const t = sqlLiteral(tenant);
  const lineCount = activity.orders.reduce((n, o) => n + o.lines.length, 0);
  const orderEvents = activity.orders.length + activity.paid + activity.shipped + activity.cancelled;
  const customerEvents =
    activity.customers + activity.segmentChanges + planted.late.length + 2 * planted.outOfOrder.length;
  const productEvents = activity.productIds.length + activity.priceChanges;
  const want = { orders: orderEvents, lines: lineCount, products: productEvents, customers: customerEvents };
  const wantQuarantine = { SCHEMA_VIOLATION: planted.schemaViolations.length, UNDECODABLE: planted.notJson };
  let quarantine: Record<string, number> = {};
  const counts = await waitFor('Silver', async () => {
    const [row] = await lakeDb.rows<{ orders: bigint; lines: bigint; products: bigint; customers: bigint }>(
      `SELECT (SELECT count(*) FROM silver.orders WHERE tenant_id = ${t}) AS orders,
              (SELECT count(*) FROM silver.order_lines WHERE tenant_id = ${t}) AS lines,
              (SELECT count(*) FROM silver.products WHERE tenant_id = ${t}) AS products,
              (SELECT count(*) FROM silver.customers WHERE tenant_id = ${t}) AS customers`,
    );
    if (!row || !Object.entries(want).every(([k, n]) => Number(row[k as keyof typeof row]) >= n)) return undefined;
    quarantine = await quarantinedOfRun(lakeDb, tenant, planted);
    const quarantined = Object.values(quarantine).reduce((a, b) => a + b, 0);
    return quarantined >= planted.schemaViolations.length + planted.notJson ? row : undefined;
  });
  const got = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Number(n)]));
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error(`Silver has ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  if (JSON.stringify(quarantine) !== JSON.stringify(wantQuarantine))
    throw new Error(`the run's quarantine is ${JSON.stringify(quarantine)}, planted ${JSON.stringify(wantQuarantine)}`);
  const outOfOrder: string[] = [];
  for (const pair of planted.outOfOrder) {
    const [latest] = await lakeDb.rows<{ event_id: string; segment: string }>(
      `SELECT arg_max(event_id, occurred_at) AS event_id, arg_max(segment, occurred_at) AS segment
         FROM silver.customers WHERE tenant_id = ${t} AND customer_id = ${sqlLiteral(pair.customerId)}`,
    );
    if (latest?.event_id !== pair.first.eventId)
      throw new Error(
        `customer ${pair.customerId}: the latest event in Silver is ${latest?.event_id}, not the one sent first`,
      );
    outOfOrder.push(latest.segment);
  }
  return [
    `${counts.orders} order events, ${counts.lines} lines, ${counts.products} product and ${counts.customers} customer events`,
    `${planted.duplicates.length} duplicates dropped, ${planted.late.length} late and ${planted.outOfOrder.length * 2} out-of-order updates kept in event-time order`,
    `quarantined: ${Object.entries(quarantine)
      .map(([code, n]) => `${n} ${code}`)
      .join(', ')}, exactly the planted ones`,
  ].join('; ');
}

/** The run's rows in Silver's quarantine per reason: its tenant's events, and the not-JSON records by their marker. */
export async function quarantinedOfRun(
  lake: DuckDb,
  tenant: string,
  planted: PlantedDefects,
): Promise<Record<string, number>> {
  const rows = await lake.rows<{ reason_code: string; n: bigint }>(
    `SELECT q.reason_code, count(*) AS n FROM silver.quarantine q JOIN bronze.envelopes b ON b.rowid = q._bronze_rowid
      WHERE b.tenant_id = ${sqlLiteral(tenant)} OR (b.tenant_id IS NULL AND b.envelope LIKE ${sqlLiteral(`%${planted.marker}%`)})
      GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.reason_code, Number(r.n)]));
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
    `SELECT count(*) AS windows FROM gold.revenue_5m WHERE currency = ${sqlLiteral(activity.currency)} AND window_end > now() - INTERVAL 10 MINUTE`,
  );
  return `${expected.length} product-minute windows match Silver line for line (revenue_5m has ${revenueRow?.windows ?? 0} recent windows of the run's currency)`;
}
