/**
 * The warehouse: full build, a 1 % incremental build, and five analyst questions over the marts and facts versus the
 * same questions over a plain Parquet export of the raw (Silver) data.
 *   npx tsx bench/warehouse.ts [--scale 1] [--keep]
 * Scale 1: 100,000 customers, 10,000 products (with segment and price changes over two years), about 3 million orders
 * (created, 60 % also paid) and 10 million order lines, generated straight into Silver tables of the bench's own
 * schema with DuckDB's range() and random() (seeded). The incremental step adds 1 % more orders (a tenth of them late,
 * anywhere in the two years), price changes for 1 % of the products and segment changes for 1 % of the customers.
 * Needs the stack up (the lake: DuckLake on MinIO with its catalog in Postgres). Every process shares the 2 cores.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { loadPlatformConfig } from '@bitvelocity/core';
import { DuckDb, ensureTable, openLake, qualifiedName, retryOnConflict, silverTables } from '@bitvelocity/lakehouse';
import { modelSql, Warehouse } from '@bitvelocity/warehouse';
import { numberArg } from './load.js';

const scale = numberArg('scale', 1);
const keep = process.argv.includes('--keep');
const config = loadPlatformConfig();
const id = Date.now().toString(36);
const silver = silverTables(`bench_wh_${id}_silver`, `bench_wh_${id}_meta`);
const gold = `bench_wh_${id}_gold`;
const exportDir = `/tmp/bv-bench-warehouse-${id}`;
const n = {
  customers: Math.round(100_000 * scale),
  products: Math.round(10_000 * scale),
  orders: Math.round(3_000_000 * scale),
};
const START = '2024-12-01 00:00:00+00';
const DAYS = 730;

const lake = await openLake(config, { threads: 2, memoryLimit: '8GB' });
// the shared catalog is busy (other writers commit snapshots all the time): retry a commit's catalog write longer
await lake.run('SET ducklake_max_retry_count = 100');
const S = {
  orders: qualifiedName(silver.orders),
  lines: qualifiedName(silver.orderLines),
  products: qualifiedName(silver.products),
  customers: qualifiedName(silver.customers),
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}
/** The work's CPU seconds in this process (every DuckDB thread), which other processes' load distorts far less. */
async function cpuTimed<T>(work: () => Promise<T>): Promise<[T, number, number]> {
  const cpu = process.cpuUsage();
  const [result, ms] = await timed(work);
  const used = process.cpuUsage(cpu);
  return [result, ms, (used.user + used.system) / 1e6];
}
const load = () =>
  `load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;

/** Generates one slice of Silver: customers/products with their changes, orders [from, to) with lines and payments. */
async function generate(step: 'initial' | 'increment'): Promise<void> {
  const [{ base } = { base: 0n }] = await lake.rows<{ base: bigint }>(
    `SELECT coalesce(max(_bronze_rowid), 0) AS base FROM (SELECT _bronze_rowid FROM ${S.orders} UNION ALL SELECT _bronze_rowid FROM ${S.products} UNION ALL SELECT _bronze_rowid FROM ${S.customers})`,
  );
  const initial = step === 'initial';
  const fromOrder = initial ? 0 : n.orders;
  const toOrder = initial ? n.orders : Math.round(n.orders * 1.01);
  await lake.run(`SELECT setseed(${initial ? 0.42 : 0.43})`);
  const ts = (expr: string) => `TIMESTAMPTZ '${START}' + to_microseconds(CAST(${expr} AS BIGINT))`;
  const day = 86_400_000_000;
  // customers: registered before the two years; then segment changes
  await lake.run(`CREATE OR REPLACE TEMP TABLE g_customers AS
    SELECT i, 'cust-' || i AS customer_id,
           ${initial ? `CASE WHEN k = 0 THEN ${ts(`-random() * 30 * ${day}`)} ELSE ${ts(`random() * ${DAYS} * ${day}`)} END` : ts(`(${DAYS} - random()) * ${day}`)} AS occurred_at,
           ['consumer', 'small_business', 'enterprise'][1 + CAST(floor(random() * 3) AS INTEGER)] AS segment, k
      FROM range(${n.customers}) c(i), range(${initial ? 2 : 1}) v(k)
     WHERE ${initial ? `k = 0 OR hash(i, k, 'c') % 100 < 50` : `hash(i, 'c+') % 100 = 0`}`);
  await lake.run(`INSERT INTO ${S.customers} (event_id, event_type, occurred_at, tenant_id, customer_id, email, name, segment, address, version,
                    _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at)
    SELECT md5(customer_id || k || '${step}'), 'ecommerce.customer.updated.v1', occurred_at, 't1', customer_id,
           customer_id || '@example.com', 'Customer ' || i, segment,
           CAST('{"line1":"1 Main St","city":"City ' || (i % 500) || '","postalCode":"1000","country":"FR"}' AS JSON), k + 1,
           'ecommerce.customer', 0, ${base} + row_number() OVER (), ${base} + row_number() OVER (), now()
      FROM g_customers`);
  const afterCustomers = base + BigInt(n.customers * 2);
  // products: created before the two years; then price changes
  await lake.run(`CREATE OR REPLACE TEMP TABLE g_products AS
    SELECT i, 'prod-' || i AS product_id, k,
           ${initial ? `CASE WHEN k = 0 THEN ${ts(`-random() * 30 * ${day}`)} ELSE ${ts(`random() * ${DAYS} * ${day}`)} END` : ts(`(${DAYS} - random()) * ${day}`)} AS occurred_at,
           CAST(round((5.99 + (i % 200)) * (1 + (random() - 0.5) * 0.3), 2) AS DECIMAL(18,2)) AS price
      FROM range(${n.products}) p(i), range(${initial ? 6 : 1}) v(k)
     WHERE ${initial ? `k = 0 OR hash(i, k, 'p') % 100 < 80` : `hash(i, 'p+') % 100 = 0`}`);
  await lake.run(`INSERT INTO ${S.products} (event_id, event_type, occurred_at, tenant_id, product_id, sku, name, category, price, currency, version, is_deleted,
                    _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at)
    SELECT md5(product_id || k || '${step}'),
           CASE WHEN k = 0 AND ${initial} THEN 'ecommerce.product.created.v1' ELSE 'ecommerce.product.price_changed.v1' END,
           occurred_at, 't1', product_id,
           CASE WHEN k = 0 AND ${initial} THEN 'SKU-' || i END, CASE WHEN k = 0 AND ${initial} THEN 'Product ' || i END,
           CASE WHEN k = 0 AND ${initial} THEN ['books', 'games', 'toys', 'garden', 'music', 'sports', 'food', 'tools'][1 + i % 8] END,
           CASE WHEN k = 0 AND ${initial} THEN CAST(5.99 + (i % 200) AS DECIMAL(18,2)) ELSE price END, 'EUR', k + 1, false,
           'ecommerce.product', 0, ${afterCustomers} + row_number() OVER (), ${afterCustomers} + row_number() OVER (), now()
      FROM g_products`);
  const afterProducts = afterCustomers + BigInt(n.products * 6);
  // orders and their lines (the created event carries the lines: they share its Bronze coordinates)
  await lake.run(`CREATE OR REPLACE TEMP TABLE g_orders AS
    SELECT o, 'ord-' || o AS order_id, 'cust-' || CAST(floor(random() * ${n.customers}) AS BIGINT) AS customer_id,
           ${initial ? ts(`random() * ${DAYS} * ${day}`) : `CASE WHEN random() < 0.1 THEN ${ts(`random() * ${DAYS} * ${day}`)} ELSE ${ts(`(${DAYS} + random()) * ${day}`)} END`} AS occurred_at,
           1 + CAST(floor(random() * 5.6667) AS INTEGER) AS line_count, random() < 0.6 AS paid,
           ${afterProducts} + 2 * (o - ${fromOrder}) + 1 AS rowid
      FROM range(${fromOrder}, ${toOrder}) t(o)`);
  await lake.run(`CREATE OR REPLACE TEMP TABLE g_lines AS
    SELECT o, order_id, occurred_at, rowid, line_no + 1 AS line_no,
           'prod-' || CAST(floor(pow(random(), 2) * ${n.products}) AS BIGINT) AS product_id,
           1 + CAST(floor(random() * 3) AS INTEGER) AS quantity
      FROM (SELECT *, unnest(range(line_count)) AS line_no FROM g_orders)`);
  await lake.run(`INSERT INTO ${S.lines} (event_id, event_type, occurred_at, tenant_id, order_id, line_no, product_id, quantity, unit_price, line_amount, currency,
                    _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at)
    SELECT md5(order_id), 'ecommerce.order.created.v1', occurred_at, 't1', order_id, line_no, product_id, quantity,
           CAST(5.99 + CAST(split_part(product_id, '-', 2) AS INTEGER) % 200 AS DECIMAL(18,2)),
           CAST(quantity * (5.99 + CAST(split_part(product_id, '-', 2) AS INTEGER) % 200) AS DECIMAL(18,2)), 'EUR',
           'ecommerce.order', 0, rowid, rowid, now()
      FROM g_lines`);
  await lake.run(`INSERT INTO ${S.orders} (event_id, event_type, occurred_at, tenant_id, order_id, customer_id, status, currency, amount, line_count, status_at,
                    _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid, _ingested_at)
    SELECT md5(o.order_id), 'ecommerce.order.created.v1', o.occurred_at, 't1', o.order_id, o.customer_id, 'created', 'EUR',
           t.total, o.line_count, o.occurred_at, 'ecommerce.order', 0, o.rowid, o.rowid, now()
      FROM g_orders o JOIN (SELECT o, sum(CAST(quantity * (5.99 + CAST(split_part(product_id, '-', 2) AS INTEGER) % 200) AS DECIMAL(18,2))) AS total FROM g_lines GROUP BY o) t USING (o)
    UNION ALL
    SELECT md5(o.order_id || 'paid'), 'ecommerce.order.paid.v1', o.occurred_at + INTERVAL 7 MINUTE, 't1', o.order_id, o.customer_id, 'paid', 'EUR',
           NULL, NULL, o.occurred_at + INTERVAL 7 MINUTE, 'ecommerce.order', 0, o.rowid + 1, o.rowid + 1, now()
      FROM g_orders o WHERE o.paid`);
  for (const t of ['g_customers', 'g_products', 'g_orders', 'g_lines']) await lake.run(`DROP TABLE temp.main.${t}`);
}

const count = async (table: string) =>
  Number((await lake.rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n ?? 0);

async function question(db: DuckDb, sql: string): Promise<number> {
  await db.rows(sql); // warm: metadata and file footers
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push((await timed(() => db.rows(sql)))[1]);
  return runs.sort((a, b) => a - b)[1] ?? 0;
}

print(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; scale ${scale}`,
);
for (const table of [silver.orders, silver.orderLines, silver.products, silver.customers])
  await ensureTable(lake, table);
const [, generateMs] = await timed(() => retryOnConflict(() => lake.transaction(() => generate('initial'))));
print(
  `silver generated in ${seconds(generateMs)}: ${await count(S.customers)} customer events, ${await count(S.products)} product events, ${await count(S.orders)} order events, ${await count(S.lines)} order lines`,
);

const warehouse = await Warehouse.create({ lake, silver, schema: gold });
print(`before the full build: ${load()}`);
const [[full], fullMs, fullCpu] = await cpuTimed(() => warehouse.rebuild());
print(
  `full build: ${seconds(fullMs)}, ${fullCpu.toFixed(1)} CPU-s, ${load()} (${full?.read} Silver rows; fact_order ${await count(`${gold}.fact_order`)}, fact_order_line ${await count(`${gold}.fact_order_line`)}, dim_product ${await count(`${gold}.dim_product`)}, dim_customer ${await count(`${gold}.dim_customer`)})`,
);

const steps = (r: { steps: Record<string, number>; stepsCpu: Record<string, number> } | undefined) =>
  Object.entries(r?.steps ?? {})
    .filter(([, ms]) => ms >= 200)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${seconds(ms)} (${((r?.stepsCpu[name] ?? 0) / 1000).toFixed(1)} CPU-s)`)
    .join(', ');
print(`  steps: ${steps(full)}`);
await retryOnConflict(() => lake.transaction(() => generate('increment')));
print(`before the incremental build: ${load()}`);
const [incremental, incrementalMs, incrementalCpu] = await cpuTimed(() => warehouse.runOnce());
print(
  `incremental build (1 %): ${seconds(incrementalMs)}, ${incrementalCpu.toFixed(1)} CPU-s, ${load()} (${incremental.read} Silver rows, ${incremental.lateFacts} late facts, fact_order rows rewritten ${incremental.written[`${gold}.fact_order`] ?? 0})`,
);
print(`  steps: ${steps(incremental)}`);
// The incremental build keeps mart_daily_sales by difference: it must equal the mart recomputed from all the facts.
const dailyFromFacts = `SELECT l.date_key, d.date AS sale_date, coalesce(p.category, 'unknown') AS category,
         coalesce(c.segment, 'unknown') AS segment, l.currency, count(DISTINCT l.order_id) AS orders, count(*) AS lines,
         sum(l.quantity) AS units, CAST(sum(l.line_amount) AS DECIMAL(18,2)) AS revenue
    FROM ${gold}.fact_order_line l LEFT JOIN ${gold}.dim_product p ON p.product_key = l.product_key
    LEFT JOIN ${gold}.dim_customer c ON c.customer_key = l.customer_key LEFT JOIN ${gold}.dim_date d ON d.date_key = l.date_key
   WHERE NOT l.is_cancelled GROUP BY ALL`;
const dailyColumns = 'date_key, sale_date, category, segment, currency, orders, lines, units, revenue';
const [diff] = await lake.rows<{ n: bigint }>(
  `SELECT count(*) AS n FROM ((SELECT ${dailyColumns} FROM ${gold}.mart_daily_sales EXCEPT ALL SELECT ${dailyColumns} FROM (${dailyFromFacts}))
     UNION ALL (SELECT ${dailyColumns} FROM (${dailyFromFacts}) EXCEPT ALL SELECT ${dailyColumns} FROM ${gold}.mart_daily_sales))`,
);
print(`  mart_daily_sales after the increment vs recomputed from all facts: ${diff?.n ?? '?'} differing rows`);
// The other marts an incremental build keeps by difference, against their model run over all the facts.
for (const name of ['mart_hourly_orders_by_status', 'mart_orders_per_minute', 'mart_product_price_history'] as const) {
  const recomputed = modelSql(name, { gold, silver: silver.orders.schema, position: 0n, full: true });
  const [d] = await lake.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM ((SELECT * FROM ${gold}.${name} EXCEPT ALL SELECT * FROM (${recomputed}))
       UNION ALL (SELECT * FROM (${recomputed}) EXCEPT ALL SELECT * FROM ${gold}.${name}))`,
  );
  print(`  ${name} after the increment vs recomputed from all facts: ${d?.n ?? '?'} differing rows`);
}

// The plain export: the raw Silver rows as Parquet files on local disk, read by a bare DuckDB.
mkdirSync(exportDir, { recursive: true });
const [, exportMs] = await timed(async () => {
  for (const [name, table] of Object.entries(S))
    await lake.run(`COPY (SELECT * FROM ${table}) TO '${exportDir}/${name}.parquet' (FORMAT parquet)`);
});
print(`parquet export of Silver: ${seconds(exportMs)}`);
const raw = await DuckDb.create(config, { threads: 2, memoryLimit: '8GB' });
for (const name of Object.keys(S))
  await raw.run(`CREATE VIEW ${name} AS SELECT * FROM read_parquet('${exportDir}/${name}.parquet')`);
await lake.run(`SET TimeZone = 'UTC'`);
await raw.run(`SET TimeZone = 'UTC'`);

const product = 'prod-7';
const dayKey = 20250615;
const questions: [string, string, string][] = [
  [
    'sales by category by month',
    `SELECT category, date_trunc('month', sale_date) AS month, sum(revenue) AS revenue FROM ${gold}.mart_daily_sales GROUP BY ALL ORDER BY ALL`,
    // raw: the category of each product (its created event), lines of orders not cancelled
    `WITH category AS (SELECT product_id, category FROM products WHERE category IS NOT NULL)
     SELECT c.category, date_trunc('month', l.occurred_at) AS month, sum(l.line_amount) AS revenue
       FROM lines l JOIN category c USING (product_id) GROUP BY ALL ORDER BY ALL`,
  ],
  [
    'top 10 customers by lifetime value',
    `SELECT customer_id, revenue, orders, average_order_value FROM ${gold}.mart_customer_ltv ORDER BY revenue DESC LIMIT 10`,
    `SELECT customer_id, sum(amount) AS revenue, count(*) AS orders FROM orders WHERE event_type = 'ecommerce.order.created.v1'
      GROUP BY customer_id ORDER BY revenue DESC LIMIT 10`,
  ],
  [
    "a product's price history with units sold at each price",
    `SELECT price, price_from, price_to, units_sold FROM ${gold}.mart_product_price_history WHERE product_id = '${product}' ORDER BY price_from`,
    `WITH prices AS (SELECT occurred_at AS price_from, price FROM products WHERE product_id = '${product}')
     SELECT p.price, p.price_from, sum(l.quantity) AS units_sold
       FROM (SELECT * FROM lines WHERE product_id = '${product}') l ASOF JOIN prices p ON l.occurred_at >= p.price_from
      GROUP BY ALL ORDER BY p.price_from`,
  ],
  [
    "one day's orders by hour and status",
    `SELECT hour_key, status, sum(orders) AS orders FROM ${gold}.mart_hourly_orders_by_status WHERE date_key = ${dayKey} GROUP BY ALL ORDER BY ALL`,
    `WITH latest AS (SELECT order_id, arg_max(status, occurred_at) AS status, min(occurred_at) AS order_at FROM orders GROUP BY order_id)
     SELECT hour(order_at) AS hour, status, count(*) AS orders FROM latest
      WHERE order_at >= TIMESTAMPTZ '2025-06-15 00:00:00+00' AND order_at < TIMESTAMPTZ '2025-06-16 00:00:00+00' GROUP BY ALL ORDER BY ALL`,
  ],
  [
    'revenue by the customer segment valid at order time, one month (as-of join)',
    `SELECT d.segment, sum(f.order_amount) AS revenue FROM ${gold}.fact_order f JOIN ${gold}.dim_customer d USING (customer_key)
      WHERE f.date_key BETWEEN 20250601 AND 20250630 GROUP BY ALL ORDER BY ALL`,
    `SELECT c.segment, sum(o.amount) AS revenue
       FROM (SELECT * FROM orders WHERE event_type = 'ecommerce.order.created.v1'
               AND occurred_at >= TIMESTAMPTZ '2025-06-01 00:00:00+00' AND occurred_at < TIMESTAMPTZ '2025-07-01 00:00:00+00') o
       ASOF LEFT JOIN customers c ON o.customer_id = c.customer_id AND o.occurred_at >= c.occurred_at
      GROUP BY ALL ORDER BY ALL`,
  ],
];
print('\n| question | warehouse (marts/facts in the lake) | plain Parquet export of Silver |\n|---|---|---|');
for (const [name, martSql, rawSql] of questions) {
  const mart = await question(lake, martSql);
  const plain = await question(raw, rawSql);
  print(`| ${name} | ${Math.round(mart)} ms | ${Math.round(plain)} ms |`);
}
print(`(median of 3 runs after one warm-up run; ${load()})`);

raw.close();
rmSync(exportDir, { recursive: true, force: true });
if (!keep)
  for (const schema of [silver.orders.schema, gold])
    await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
lake.close();

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}
