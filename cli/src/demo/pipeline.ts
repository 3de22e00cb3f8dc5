import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type PlatformConfig, postgresUrl } from '@bitvelocity/core';
import { applyOutboxConnector, defaultOutboxConnector } from '@bitvelocity/ingest';
import {
  bronzeJob,
  type DuckDb,
  followTransform,
  GOLD_VIEWS,
  goldJob,
  lakeSystem,
  openLake,
  SilverRefresher,
  sqlLiteral,
} from '@bitvelocity/lakehouse';
import { type GxValidationResult, runGreatExpectations } from '@bitvelocity/quality';
import { createServiceDeps, createServicesApp, ensureAppRole, hashPassword, migrate } from '@bitvelocity/services';
import { ensureJobTopics, type JobDefinition, jobStatus, runWorker, type WorkerStatus } from '@bitvelocity/streams';
import customerSessions from '@bitvelocity/streams/jobs/customer-sessions';
import orderStreams from '@bitvelocity/streams/jobs/order-streams';
import productMetrics from '@bitvelocity/streams/jobs/product-metrics';
import revenue from '@bitvelocity/streams/jobs/revenue';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';

export interface DemoStep {
  name: string;
  seconds: number;
  outcome: string;
}

export interface DemoReport {
  runId: string;
  tenant: string;
  orders: number;
  steps: DemoStep[];
  ok: boolean;
}

interface DemoOptions {
  orders: number;
  onStep?: (step: DemoStep) => void;
  /** Longest wait for a layer to show the run's events. */
  timeoutMs?: number;
  /** Longest wait for the jobs to work through what their topics held before the run. */
  catchUpTimeoutMs?: number;
}

/** What the run did through the API, to check every layer against. */
interface Activity {
  productIds: string[];
  customers: number;
  orders: { orderId: string; lines: { productId: string; quantity: number }[] }[];
  paid: number;
  shipped: number;
  cancelled: number;
  priceChanges: number;
}

/**
 * `bv demo`: the platform's main job end to end on the local stack. Orders go in through the HTTP API (JWT, a tenant of
 * the run's own); the outbox -> Debezium -> Kafka; the platform's stream jobs (re-keying, per-product minute counts,
 * revenue, sessions, anomalies) and the lake jobs (Bronze, Gold) run, in this process unless they are deployed; Silver
 * is refreshed from Bronze. Then every layer is checked against what the API was asked to do: Bronze holds every
 * event, Silver every order with its lines and no quarantined event, the lake's totals equal Postgres's, each closed
 * Gold window equals the same count computed from Silver, and a Great Expectations suite passes on the Silver batch.
 */
export async function runPipelineDemo(config: PlatformConfig, options: DemoOptions): Promise<DemoReport> {
  const runId = `${new Date()
    .toISOString()
    .replaceAll(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const tenant = `demo-${runId.slice(-8)}`;
  const timeoutMs = options.timeoutMs ?? 180_000;
  const steps: DemoStep[] = [];
  let ok = true;
  const step = async (name: string, work: () => Promise<string>): Promise<boolean> => {
    if (!ok) return false; // each step builds on the ones before
    const started = performance.now();
    let outcome: string;
    try {
      outcome = await work();
    } catch (error) {
      ok = false;
      outcome = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
    }
    const done = { name, seconds: Math.round(performance.now() - started) / 1000, outcome };
    steps.push(done);
    options.onStep?.(done);
    return ok;
  };
  const catchUpTimeoutMs = options.catchUpTimeoutMs ?? 600_000;
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, within = timeoutMs): Promise<T> => {
    const deadline = Date.now() + within;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${within / 1000}s waiting for ${what}`);
      await sleep(250);
    }
  };

  const log = createLogger('demo', 'error');
  const scratch = mkdtempSync(join(tmpdir(), 'bv-demo-'));
  const postgres = new pg.Client(postgresUrl(config.postgres));
  const workers: { name: string; stop: AbortController; done: Promise<void>; status?: WorkerStatus }[] = [];
  let silverLoop: Promise<void> | undefined;
  const stopSilver = new AbortController();
  let lake: DuckDb | undefined;
  let silverLake: DuckDb | undefined;
  let closeServices: (() => Promise<void>) | undefined;
  let api:
    | ((
        method: string,
        path: string,
        body?: object,
        headers?: Record<string, string>,
      ) => Promise<Record<string, unknown>>)
    | undefined;
  const activity: Activity = {
    productIds: [],
    customers: 0,
    orders: [],
    paid: 0,
    shipped: 0,
    cancelled: 0,
    priceChanges: 0,
  };

  try {
    await postgres.connect();
    await step('services: migrate and serve the APIs', async () => {
      const ownerUrl = postgresUrl(config.postgres);
      await migrate(ownerUrl);
      await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
      const password = randomUUID();
      const deps = createServiceDeps({
        databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
        redisUrl: config.redis.url,
        auth: {
          jwtSecret: `${randomUUID()}${randomUUID()}`,
          users: [{ username: 'demo', passwordHash: await hashPassword(password), tenantId: tenant, roles: ['admin'] }],
          tokenTtlSeconds: 900,
        },
      });
      const app = await createServicesApp(deps);
      await app.listen({ host: '127.0.0.1', port: 0 });
      closeServices = () => app.close();
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      let token = '';
      api = async (method, path, body, headers = {}) => {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: {
            'content-type': 'application/json',
            'idempotency-key': randomUUID(),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...headers,
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const json = (await response.json()) as Record<string, unknown>;
        if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
        return json;
      };
      token = String((await api('POST', '/auth/token', { username: 'demo', password })).accessToken);
      return `product, customer and order APIs on ${base}, tenant ${tenant}`;
    });

    await step('cdc: the Debezium outbox connector runs', async () => {
      const report = await applyOutboxConnector(config, defaultOutboxConnector());
      return `connector ${report.status.name}: ${report.status.connector}, tasks ${report.status.tasks.map((t) => t.state).join(', ')}`;
    });

    await step('jobs: the stream jobs and the lake jobs run', async () => {
      const admin = new Admin({ clientId: 'bv-demo', bootstrapBrokers: config.kafka.bootstrapServers });
      const jobs: JobDefinition[] = [
        bronzeJob({ lake: lakeSystem() }),
        orderStreams,
        productMetrics,
        revenue,
        customerSessions,
        goldJob({ lake: lakeSystem({ views: GOLD_VIEWS }) }),
      ];
      const started: string[] = [];
      const deployed: string[] = [];
      try {
        for (const job of jobs) {
          await ensureJobTopics(admin, job);
          const status = await jobStatus(config, job.name).catch(() => undefined);
          if (status && (status.state === 'running' || status.state === 'degraded')) {
            deployed.push(job.name);
            continue;
          }
          const stop = new AbortController();
          const worker: (typeof workers)[number] = { name: job.name, stop, done: Promise.resolve() };
          worker.done = runWorker({
            job,
            bootstrapServers: config.kafka.bootstrapServers,
            workerId: `demo-${job.name}`,
            signal: stop.signal,
            logger: log,
            onStatus: (status) => {
              worker.status = status;
            },
          });
          workers.push(worker);
          started.push(job.name);
        }
      } finally {
        await admin.close();
      }
      silverLake = await openLake(config);
      const refresher = await SilverRefresher.create(silverLake);
      silverLoop = followTransform(refresher, {
        signal: stopSilver.signal,
        intervalMs: 300,
        onError: (error) => log.warn({ err: error }, 'silver refresh failed'),
      });
      // The jobs first catch up with what their topics already hold, so the run's own events are not queued behind it.
      let backlog = 0;
      await waitFor(
        'the jobs to catch up with their topics',
        async () => {
          const lags = workers.map((w) =>
            w.status && w.status.tasks.length > 0 ? w.status.tasks.reduce((sum, t) => sum + t.lag, 0) : undefined,
          );
          backlog = Math.max(backlog, ...lags.map((l) => l ?? 0));
          return lags.every((l) => l === 0) ? true : undefined;
        },
        catchUpTimeoutMs,
      );
      return [
        started.length ? `running here: ${started.join(', ')}` : '',
        backlog > 0 ? `caught up with a backlog of up to ${backlog} records` : '',
        deployed.length ? `already deployed: ${deployed.join(', ')}` : '',
        'Silver refreshing every 300 ms',
      ]
        .filter(Boolean)
        .join('; ');
    });

    await step(`api: ${options.orders} orders, payments, shipments, cancellations and a price change`, async () => {
      const call = api as NonNullable<typeof api>;
      for (let i = 0; i < 5; i++) {
        const product = await call('POST', '/v1/products', {
          sku: `DEMO-${runId.slice(-8)}-${i}`,
          name: ['Espresso beans', 'Grinder', 'Kettle', 'Filter papers', 'Mug'][i],
          category: 'coffee',
          price: ['14.50', '89.00', '39.90', '4.20', '12.00'][i],
          currency: 'EUR',
        });
        activity.productIds.push(String(product.productId));
      }
      const customerIds: string[] = [];
      for (let i = 0; i < 10; i++) {
        const customer = await call('POST', '/v1/customers', {
          email: `demo${i}.${runId.slice(-8)}@example.com`,
          name: `Demo Customer ${i}`,
          segment: i % 3 === 0 ? 'small_business' : 'consumer',
        });
        customerIds.push(String(customer.customerId));
        activity.customers++;
      }
      const create = async (i: number) => {
        const lines = Array.from({ length: 1 + (i % 3) }, (_, k) => ({
          productId: activity.productIds[(i + k * 2) % 5] as string,
          quantity: 1 + ((i + k) % 4),
        }));
        const order = await call('POST', '/v1/orders', { customerId: customerIds[i % 10], currency: 'EUR', lines });
        activity.orders.push({ orderId: String(order.orderId), lines });
      };
      for (let i = 0; i < options.orders; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, options.orders - i) }, (_, k) => create(i + k)));
      }
      for (const [i, order] of activity.orders.entries()) {
        if (i % 10 === 9) {
          await call('POST', `/v1/orders/${order.orderId}/cancel`, { reason: 'changed my mind' });
          activity.cancelled++;
        } else if (i % 5 < 3) {
          await call('POST', `/v1/orders/${order.orderId}/pay`, { paymentReference: `PAY-${i}` });
          activity.paid++;
          if (i % 2 === 0) {
            await call('POST', `/v1/orders/${order.orderId}/ship`, { carrier: 'DHL', trackingNumber: `TRK${i}` });
            activity.shipped++;
          }
        }
      }
      await call('PUT', `/v1/products/${activity.productIds[0]}/price`, { price: '15.90' }, { 'if-match': '"1"' });
      activity.priceChanges++;
      return `${activity.orders.length} orders (${activity.paid} paid, ${activity.shipped} shipped, ${activity.cancelled} cancelled) from ${activity.customers} customers over ${activity.productIds.length} products`;
    });

    lake = await openLake(config);
    const lakeDb = lake;
    const t = sqlLiteral(tenant);
    const expectedEvents =
      activity.productIds.length +
      activity.priceChanges +
      activity.customers +
      activity.orders.length +
      activity.paid +
      activity.shipped +
      activity.cancelled;

    await step('bronze: every event of the run landed, exactly once', async () => {
      const landed = await waitFor('Bronze', async () => {
        const [row] = await lakeDb.rows<{ n: bigint; events: bigint }>(
          `SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM bronze.envelopes WHERE tenant_id = ${t}`,
        );
        return row && Number(row.events) >= expectedEvents ? row : undefined;
      });
      return `${landed.events} events in bronze.envelopes (${Number(landed.n) - Number(landed.events)} CDC re-deliveries kept as raw rows)`;
    });

    const lineCount = activity.orders.reduce((n, o) => n + o.lines.length, 0);
    await step('silver: typed orders, lines, products and customers; nothing quarantined', async () => {
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
    });

    await step('consistency: the lake agrees with Postgres', async () => {
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
         created AS (SELECT order_id, amount FROM silver.orders WHERE tenant_id = ${t} AND event_type = 'ecommerce.order.created.v1')
         SELECT latest.status, count(*) AS n, sum(created.amount)::VARCHAR AS total
           FROM latest JOIN created USING (order_id) GROUP BY 1 ORDER BY 1`,
      );
      const fromLake = lakeRows.map((r) => `${r.status} ${r.n} ${Number(r.total).toFixed(2)}`).join(', ');
      const fromPostgres = rows.map((r) => `${r.status} ${r.n} ${Number(r.total).toFixed(2)}`).join(', ');
      if (fromLake !== fromPostgres) throw new Error(`lake: ${fromLake}; Postgres: ${fromPostgres}`);
      return `orders by status and amount, same in both: ${fromLake}`;
    });

    await step('gold: each closed minute window equals the count from Silver', async () => {
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
    });

    await step('quality: Great Expectations suite on the Silver orders', async () => {
      const parquet = join(scratch, 'orders.parquet');
      await lakeDb.run(
        `COPY (SELECT event_id, event_type, status, amount::DOUBLE AS amount, _lateness_ms
                 FROM silver.orders WHERE tenant_id = ${t}) TO ${sqlLiteral(parquet)} (FORMAT parquet)`,
      );
      const gx: GxValidationResult = await runGreatExpectations({
        python: config.gx.python,
        dataPath: parquet,
        suite: {
          name: 'demo_silver_orders',
          expectations: [
            {
              type: 'expect_table_row_count_to_equal',
              kwargs: { value: activity.orders.length + activity.paid + activity.shipped + activity.cancelled },
            },
            { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'event_id' } },
            { type: 'expect_column_values_to_be_unique', kwargs: { column: 'event_id' } },
            {
              type: 'expect_column_values_to_be_in_set',
              kwargs: { column: 'status', value_set: ['created', 'paid', 'shipped', 'cancelled'] },
            },
            {
              type: 'expect_column_values_to_be_between',
              kwargs: { column: 'amount', min_value: 0, max_value: 100_000, mostly: 1.0 },
            },
          ],
        },
      });
      if (!gx.success) throw new Error(`suite failed: ${JSON.stringify(gx.results.filter((r) => !r.success))}`);
      return `${gx.results.length}/${gx.results.length} expectations met (GX ${gx.gxVersion})`;
    });
  } finally {
    stopSilver.abort();
    await silverLoop;
    for (const worker of workers) worker.stop.abort();
    await Promise.allSettled(workers.map((w) => w.done));
    silverLake?.close();
    lake?.close();
    await closeServices?.().catch(() => undefined);
    await postgres.end().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
  return { runId, tenant, orders: options.orders, steps, ok };
}
