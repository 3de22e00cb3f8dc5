/**
 * The Postgres wire endpoint's latency next to the same queries on an analyst session in-process.
 *   npx tsx bench/serving-wire.ts [--quick] [--warehouse <gold schema>]
 * Builds a lake of its own (Gold/Silver tables, 90 and 5,000 rows), starts the endpoint on a free port, and runs each
 * query N times sequentially on one connection each way (node pg over TCP with SCRAM done once, vs session.run).
 * With --warehouse: the warehouse bench's marts instead (`npx tsx bench/warehouse.ts --scale 0.1 --keep` leaves its
 * `bench_wh_<id>_gold` schema in the shared lake): its five analyst questions, over the endpoint and in-process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadPlatformConfig } from '@bitvelocity/core';
import { addAnalystUser, startPgServer, verifiersFromFile } from '@bitvelocity/serving';
import { AnalystDatabase } from '@bitvelocity/warehouse';
import { createAnalystTestLake } from '@bitvelocity/warehouse/testing';
import pg from 'pg';

const quick = process.argv.includes('--quick');
const warehouseGold = process.argv[process.argv.indexOf('--warehouse') + 1];
const onWarehouse = process.argv.includes('--warehouse') && warehouseGold !== undefined;
if (onWarehouse && !/^[a-z_][a-z0-9_]*$/.test(warehouseGold)) throw new Error('--warehouse takes a schema name');
const iterations = onWarehouse ? (quick ? 10 : 50) : quick ? 50 : 300;
// bench/warehouse.ts's analyst questions over its marts and facts (parameters where a client would bind them)
const WAREHOUSE_QUERIES: [string, string, unknown[]][] = [
  [
    'sales by category by month',
    `SELECT category, date_trunc('month', sale_date) AS month, sum(revenue) AS revenue FROM ${warehouseGold}.mart_daily_sales GROUP BY ALL ORDER BY ALL`,
    [],
  ],
  [
    'top 10 customers by lifetime value',
    `SELECT customer_id, revenue, orders, average_order_value FROM ${warehouseGold}.mart_customer_ltv ORDER BY revenue DESC LIMIT 10`,
    [],
  ],
  [
    "a product's price history with units sold at each price",
    `SELECT price, price_from, price_to, units_sold FROM ${warehouseGold}.mart_product_price_history WHERE product_id = $1 ORDER BY price_from`,
    ['prod-7'],
  ],
  [
    "one day's orders by hour and status",
    `SELECT hour_key, status, sum(orders) AS orders FROM ${warehouseGold}.mart_hourly_orders_by_status WHERE date_key = $1 GROUP BY ALL ORDER BY ALL`,
    [20250615],
  ],
  [
    'revenue by the customer segment valid at order time, one month (as-of join)',
    `SELECT d.segment, sum(f.order_amount) AS revenue FROM ${warehouseGold}.fact_order f JOIN ${warehouseGold}.dim_customer d USING (customer_key)
      WHERE f.date_key BETWEEN $1 AND $2 GROUP BY ALL ORDER BY ALL`,
    [20250601, 20250630],
  ],
];
const SMALL_QUERIES: [string, string, unknown[]][] = [
  ['point: one row by key', 'SELECT * FROM silver.orders WHERE order_id = $1', ['o-4242']],
  ['aggregate: revenue by category', 'SELECT category, sum(revenue) FROM gold.daily_sales GROUP BY 1 ORDER BY 1', []],
  ['scan: 2,000 rows out', 'SELECT * FROM silver.orders WHERE amount > $1 LIMIT 2000', ['10']],
];
const QUERIES = onWarehouse ? WAREHOUSE_QUERIES : SMALL_QUERIES;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
/** Wall-clock p50/p99 and this process's CPU per run (the wire's client and server both run here). */
async function time(work: () => Promise<unknown>): Promise<{ p50: number; p99: number; cpu: number }> {
  for (let i = 0; i < 10; i += 1) await work();
  const samples: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < iterations; i += 1) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  const cpu = process.cpuUsage(cpuBefore);
  samples.sort((a, b) => a - b);
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    cpu: (cpu.user + cpu.system) / 1000 / iterations,
  };
}

const lake = onWarehouse ? undefined : await createAnalystTestLake('benchwire');
const config = lake?.config ?? loadPlatformConfig();
const dir = mkdtempSync(join(tmpdir(), 'bv-bench-wire-'));
const users = join(dir, 'users.json');
addAnalystUser('bench', 'bench-password', users);
const database = await AnalystDatabase.create(config, onWarehouse ? { schemas: [warehouseGold] } : {});
const server = await startPgServer({ config, port: 0, verifiers: verifiersFromFile(users), database });
const session = await database.openSession();
const client = new pg.Client({
  host: '127.0.0.1',
  port: server.port,
  user: 'bench',
  password: 'bench-password',
  database: 'lake',
});
await client.connect();
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${iterations} runs per query`,
);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
console.log(
  `load average before: ${load()}; data: ${onWarehouse ? `warehouse marts ${warehouseGold}` : 'own small lake'}`,
);
console.log(
  'query | in-process p50 / p99 ms | wire p50 / p99 ms | wire / in-process (p50) | CPU ms/query in-process / wire (client + server)',
);
try {
  for (const [name, sql, params] of QUERIES) {
    const local = await time(() => session.run(sql, { params: params.map(String) }));
    const wire = await time(() => client.query(sql, params));
    console.log(
      `${name} | ${local.p50.toFixed(2)} / ${local.p99.toFixed(2)} | ${wire.p50.toFixed(2)} / ${wire.p99.toFixed(2)} | ${(wire.p50 / local.p50).toFixed(2)}x | ${local.cpu.toFixed(2)} / ${wire.cpu.toFixed(2)} (load ${load()})`,
    );
  }
} finally {
  await client.end();
  session.close();
  await server.close();
  database.close();
  rmSync(dir, { recursive: true, force: true });
  await lake?.destroy();
}
