/**
 * Sustained load on order creation: POST /v1/orders through the real service process (Postgres, Redis, outbox).
 *   npx tsx bench/services-orders.ts [--rate 500] [--seconds 30] [--concurrency 16]
 * Prints req/s and p50/p95/p99 latency (ms) at a fixed rate (open loop, latency from the scheduled send time), then
 * the maximum rate at a fixed concurrency. The load generator shares the 2 cores with the service, Postgres and
 * Redis: the figures include that contention. BENCH_SERVICE_NODE_FLAGS passes Node flags to the service process
 * only (e.g. --trace-gc; the service's output then goes to this terminal). It first runs the services' maintenance
 * (published outbox rows deleted) and VACUUM ANALYZE, like pgbench, so background vacuum of earlier runs is not measured.
 */
import { cpus, totalmem } from 'node:os';
import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { runMaintenance } from '@bitvelocity/services';
import pg from 'pg';
import { closedLoop, type LoadRequest, numberArg, openLoop } from './load.js';
import { startServices } from './services.js';

const rate = numberArg('rate', 500);
const seconds = numberArg('seconds', 30);
const concurrency = numberArg('concurrency', 16);
const port = 18096;

// Start from a settled database, as pgbench does: earlier runs leave hundreds of thousands of rows whose insert-triggered
// autovacuum would otherwise run in the middle of this one and be measured as order latency.
const ownerUrl = postgresUrl(loadPlatformConfig().postgres);
const maintenance = await runMaintenance(ownerUrl, { slotName: 'bv_outbox' });
const db = new pg.Client(ownerUrl);
await db.connect();
await db.query('VACUUM (ANALYZE) orders, order_lines, outbox, idempotency_keys');
await db.end();
console.log(`before: outbox rows published and deleted ${maintenance.outboxRowsDeleted}; VACUUM ANALYZE done`);

const services = await startServices({
  port,
  nodeFlags: process.env.BENCH_SERVICE_NODE_FLAGS?.split(' ').filter(Boolean) ?? [],
});
const { base, token, post } = services;
try {
  const customerIds: string[] = [];
  for (let i = 0; i < 50; i++) {
    const customer = { email: `bench${i}@example.com`, name: `Bench ${i}`, segment: 'consumer' };
    customerIds.push((await post('/v1/customers', customer)).customerId ?? '');
  }
  const productIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const product = { sku: `B-${i}`, name: `P${i}`, category: 'bench', price: `${i + 1}.99`, currency: 'EUR' };
    productIds.push((await post('/v1/products', product)).productId ?? '');
  }
  let n = 0;
  const createOrder: LoadRequest = {
    method: 'POST',
    path: '/v1/orders',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: () => {
      n++;
      const lines = [
        { productId: productIds[n % 20], quantity: 1 + (n % 3) },
        { productId: productIds[(n + 7) % 20], quantity: 1 },
      ];
      return JSON.stringify({ customerId: customerIds[n % 50], currency: 'EUR', lines });
    },
  };

  await openLoop('warm-up', base, createOrder, rate, 5);
  const rows = [
    await openLoop(`${rate} orders/s for ${seconds}s (open loop)`, base, createOrder, rate, seconds),
    await closedLoop(`max rate, ${concurrency} concurrent, 15s`, base, createOrder, concurrency, 15),
  ];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.table(rows);
} finally {
  services.stop();
}
