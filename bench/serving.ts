/**
 * Named-aggregate latency of the query API at a steady request rate, cached and uncached.
 *   npx tsx bench/serving.ts [--rate 200] [--uncached-rate 200] [--query-rate 20] [--seconds 20] [--timeout 10]
 *                            [--products 50] [--quick]
 * Data: a schema pair of the bench's own in the shared lake: one day of Gold minute windows for `products` products
 * (products x 1440 rows, plus a second revision of every 10th window), 20 000 Silver orders with lines, 1 000 sessions
 * and 200 anomalies, one tenant. The server is this process's createServingApp on 127.0.0.1 (its default query
 * connections: one per core). Answers are versioned by the commits to the tables they read, so other people's commits
 * to the shared lake (counted per phase) leave the bench's cache warm.
 * Phases, each open-loop at `rate` requests/s over the five named aggregates in turn (latency counted from each
 * request's scheduled time, so a stall shows in the tail):
 *   cached   - the same five URLs again and again: answered from the cache (x-cache: hit; misses counted apart);
 *   uncached - every request with a distinct `to` (a new cache key), so every answer is computed afresh;
 *   query    - POST /v1/query at `query-rate`, an analyst's parameterised aggregate with a distinct parameter each time
 *              (uncached: read from the lake at the open snapshot, through the tenant-scoped relations).
 * A request not answered within `timeout` seconds is abandoned and counted as timed out, so a phase ends in bounded
 * time even when the server cannot keep up.
 * Then the same five queries in-process, one after another: from the lake (LakeReader.read) and from the per-snapshot
 * per-snapshot indexes that answer the API's misses (NamedAggregate.answer over GoldMirror).
 */

import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlatformConfig } from '@bitvelocity/core';
import { ensureTable, ensureView, GOLD_TABLES, GOLD_VIEWS, openLake, silverTables } from '@bitvelocity/lakehouse';
import { createServingApp, NAMED_AGGREGATES } from '@bitvelocity/serving';
import * as hdr from 'hdr-histogram-js';
import { numberArg } from './load.js';

const quick = process.argv.includes('--quick');
const rate = numberArg('rate', 200);
const uncachedRate = numberArg('uncached-rate', rate);
const seconds = numberArg('seconds', quick ? 5 : 20);
const timeoutMs = numberArg('timeout', 10) * 1000;
const productCount = numberArg('products', quick ? 10 : 50);
const queryRate = numberArg('query-rate', 20);
const config = loadPlatformConfig();
const run = `benchserving${randomUUID().slice(0, 6)}`;
const schemas = { bronze: `${run}_bronze`, silver: `${run}_silver`, gold: `${run}_gold` };
const tenant = 'bench-tenant';

const lake = await openLake(config);
const t0 = performance.now();
const silver = silverTables(schemas.silver, `${run}_meta`);
for (const table of [silver.orders, silver.orderLines, silver.products, silver.customers])
  await ensureTable(lake, table);
for (const table of Object.values(GOLD_TABLES)) await ensureTable(lake, { ...table, schema: schemas.gold });
for (const view of GOLD_VIEWS)
  await ensureView(lake, { ...view, schema: schemas.gold, sql: view.sql.replaceAll('gold.', `${schemas.gold}.`) });
const dayStart = `(date_trunc('minute', now()) - INTERVAL 1 DAY)`;
const lineage = `'b', 0, i, i, now(), 0, false`;
await lake.transaction(async () => {
  await lake.run(`INSERT INTO ${schemas.silver}.products (event_id, event_type, occurred_at, tenant_id, trace_id,
      product_id, sku, name, category, price, previous_price, currency, version, is_deleted,
      _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at, _lateness_ms, _is_late)
    SELECT 'p' || i, 'ecommerce.product.created.v1', ${dayStart}, '${tenant}', 't', 'product-' || i, 'SKU' || i,
           'Product ' || i, 'c', 9.99, NULL, 'EUR', 1, false, ${lineage} FROM range(${productCount}) t(i)`);
  await lake.run(`INSERT INTO ${schemas.silver}.orders (event_id, event_type, occurred_at, tenant_id, trace_id,
      order_id, customer_id, status, currency, amount, line_count,
      _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at, _lateness_ms, _is_late)
    SELECT 'o' || i, 'ecommerce.order.created.v1', ${dayStart} + INTERVAL (i * 4) SECOND, '${tenant}', 't',
           'order-' || i, 'customer-' || (i % 1000), 'CREATED', CASE WHEN i % 3 = 0 THEN 'USD' ELSE 'EUR' END,
           (10 + i % 90)::DECIMAL(18,2), 1, ${lineage} FROM range(20000) t(i)`);
  await lake.run(`INSERT INTO ${schemas.silver}.order_lines (event_id, event_type, occurred_at, tenant_id, trace_id,
      order_id, line_no, product_id, quantity, unit_price, line_amount, currency,
      _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at, _lateness_ms, _is_late)
    SELECT 'o' || i, 'ecommerce.order.created.v1', ${dayStart} + INTERVAL (i * 4) SECOND, '${tenant}', 't',
           'order-' || i, 1, 'product-' || (i % ${productCount}), 1, 9.99, 9.99, 'EUR', ${lineage} FROM range(20000) t(i)`);
  await lake.run(`INSERT INTO ${schemas.gold}.orders_per_product_1m_revisions
    SELECT 'product-' || p, 1 + (m * 7 + p) % 9, 2 + (m * 5 + p) % 11, ${dayStart} + INTERVAL (m) MINUTE,
           ${dayStart} + INTERVAL (m + 1) MINUTE, r, 'b', 0, m * 1000 + p, now()
      FROM range(${productCount}) a(p), range(1440) b(m), range(2) c(r) WHERE r = 0 OR m % 10 = 0`);
  await lake.run(`INSERT INTO ${schemas.gold}.customer_sessions_revisions
    SELECT 'customer-' || i, 5, 2, false, ${dayStart} + INTERVAL (i) MINUTE, ${dayStart} + INTERVAL (i + 30) MINUTE, 0,
           'b', 0, i, now() FROM range(1000) t(i)`);
  await lake.run(`INSERT INTO ${schemas.gold}.anomalies
    SELECT 'product_orders_per_minute', 'product-' || (i % ${productCount}), 20, 5, 1.5, 10, 60, 'a' || i,
           ${dayStart} + INTERVAL (i * 7) MINUTE, 'b', 0, i, now(), 0.99, 'z', 'e' || i FROM range(200) t(i)`);
});
const loadSeconds = ((performance.now() - t0) / 1000).toFixed(1);

const serving = await createServingApp({ config, jwtSecret: randomUUID() + randomUUID(), schemas, jobs: [] });
await serving.app.listen({ host: '127.0.0.1', port: 0 });
const { port } = serving.app.server.address() as AddressInfo;
const token = serving.app.jwt.sign({ sub: 'bench', tenant, roles: ['dashboard'] });
const analystToken = serving.app.jwt.sign({ sub: 'bench-analyst', tenant, roles: ['analyst'] });
const paths = [
  '/v1/metrics/orders-per-minute',
  '/v1/metrics/revenue-5m',
  '/v1/metrics/top-products?limit=10',
  '/v1/metrics/anomalies-latest?limit=20',
  '/v1/metrics/customer-sessions?limit=50',
];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** GET `path` (or POST `body` to it as the analyst) and read the whole answer. */
function get(path: string, timeout = 60_000, body?: string): Promise<{ status: number; cache: string }> {
  return new Promise((resolve, reject) => {
    const headers = body
      ? { authorization: `Bearer ${analystToken}`, 'content-type': 'application/json' }
      : { authorization: `Bearer ${token}` };
    const req = httpRequest({ agent, host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, cache: String(res.headers['x-cache'] ?? '') });
      });
    });
    // From the request's start, whether or not it got a socket yet (a phase ends in bounded time).
    const timer = setTimeout(() => req.destroy(new Error('timed out')), timeout);
    req.on('error', reject);
    req.end(body);
  });
}

const histogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
const ms = (h: hdr.Histogram, p: number) => (h.getValueAtPercentile(p) / 1000).toFixed(1);

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function phase(label: string, rate: number, pathOf: (i: number) => string, bodyOf?: (i: number) => string) {
  const byCache = { hit: histogram(), miss: histogram() };
  let failed = 0;
  let timedOut = 0;
  const snapshotsBefore = serving.watcher.snapshotId;
  const cpuBefore = process.cpuUsage();
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = started + (i * 1000) / rate;
    const wait = scheduled - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(
      get(pathOf(i), timeoutMs, bodyOf?.(i)).then(
        ({ status, cache }) => {
          if (status !== 200) failed++;
          const h = cache === 'hit' ? byCache.hit : byCache.miss;
          h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
        },
        (error: Error) => {
          if (error.message === 'timed out') timedOut++;
          else failed++;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuPerRequest = ((cpu.user + cpu.system) / 1000 / total).toFixed(2);
  const all = histogram();
  all.add(byCache.hit);
  all.add(byCache.miss);
  const name = `${label}, ${rate}/s, ${seconds} s (${serving.watcher.snapshotId - snapshotsBefore} lake commits meanwhile, load ${load()}, CPU ${cpuPerRequest} ms/request)`;
  const row = (answers: string, h: hdr.Histogram) =>
    `| ${name} | ${answers} | ${h.totalCount} | ${ms(h, 50)} | ${ms(h, 95)} | ${ms(h, 99)} | ${(h.maxValue / 1000).toFixed(1)} |`;
  console.log(row('all answered', all));
  if (byCache.hit.totalCount) console.log(row('cache hits', byCache.hit));
  if (byCache.miss.totalCount) console.log(row('cache misses', byCache.miss));
  if (timedOut) console.log(`| ${name} | not answered within ${timeoutMs / 1000} s | ${timedOut} | | | | |`);
  if (failed) console.log(`| ${name} | non-200 or failed | ${failed} | | | | |`);
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; data loaded in ${loadSeconds} s (${productCount} products x 1440 minutes)`,
);
for (const path of paths) await get(path); // warm the connections and the cache
console.log(`load average (uptime) before: ${load()}; ${serving.reader.connections} query connections\n`);
console.log('| phase | answers | requests | p50 ms | p95 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|---|---|');
await phase('cached', rate, (i) => paths[i % paths.length] as string);
const now = Date.now();
await phase('uncached', uncachedRate, (i) => {
  const path = paths[i % paths.length] as string;
  // anomalies-latest takes no range: vary its limit instead (misses are reported apart from any hits anyway).
  if (path.includes('anomalies')) return `/v1/metrics/anomalies-latest?limit=${1 + (i % 200)}`;
  return `${path}${path.includes('?') ? '&' : '?'}to=${new Date(now - i * 1000).toISOString()}`;
});
const analystSql = `SELECT product_id, sum(orders) AS orders, sum(units) AS units FROM orders_per_product_1m
  WHERE window_start >= $since::TIMESTAMPTZ GROUP BY product_id ORDER BY orders DESC, product_id LIMIT 10`;
await phase(
  'query (POST /v1/query)',
  queryRate,
  () => '/v1/query',
  (i) => JSON.stringify({ sql: analystSql, params: { since: new Date(now - 3_600_000 - i * 1000).toISOString() } }),
);

// In-process, sequentially: the same aggregates straight from the lake (LakeReader.read: the DuckLake snapshot, the
// latest-revision views) and from the per-snapshot indexes the API answers misses from (GoldMirror).
const query = { to: new Date().toISOString() };
for (const path of ['lake', 'mirror'] as const) {
  const inProcess = histogram();
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < 100; i++) {
    const aggregate = NAMED_AGGREGATES[i % NAMED_AGGREGATES.length];
    if (!aggregate) continue;
    const version = serving.watcher.versionOf(aggregate.reads(schemas));
    const started = performance.now();
    if (path === 'lake') {
      const { sql, params } = aggregate.sql(schemas, query, tenant);
      await serving.reader.read(sql, params, { timeoutMs: 10_000, maxRows: 10_000, atLeast: version });
    } else {
      await aggregate.answer(query, tenant, 10_000)(serving.mirror, version);
    }
    inProcess.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
  }
  const cpu = process.cpuUsage(cpuBefore);
  console.log(
    `| in-process ${path === 'lake' ? 'from the lake (LakeReader.read, open read transaction)' : 'from the per-snapshot indexes (NamedAggregate.answer over GoldMirror)'}, sequential, load ${load()}, CPU ${((cpu.user + cpu.system) / 1000 / 100).toFixed(2)} ms/query | all | 100 | ${ms(inProcess, 50)} | ${ms(inProcess, 95)} | ${ms(inProcess, 99)} | ${(inProcess.maxValue / 1000).toFixed(1)} |`,
  );
}

agent.destroy();
await serving.close();
for (const schema of Object.values(schemas)) await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
lake.close();
