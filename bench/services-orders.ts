/**
 * Sustained load on order creation: POST /v1/orders through the real service process (Postgres, Redis, outbox).
 *   npx tsx bench/services-orders.ts [--rate 500] [--seconds 30] [--concurrency 16]
 * Prints req/s and p50/p95/p99 latency (ms) at a fixed rate (open loop, latency from the scheduled send time), then
 * the maximum rate at a fixed concurrency. The load generator shares the 2 cores with the service, Postgres and
 * Redis: the figures include that contention. BENCH_SERVICE_NODE_FLAGS passes Node flags to the service process
 * only (e.g. --trace-gc; the service's output then goes to this terminal).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword, writeServicesAuth } from '@bitvelocity/services';
import { closedLoop, type LoadRequest, numberArg, openLoop } from './load.js';

const rate = numberArg('rate', 500);
const seconds = numberArg('seconds', 30);
const concurrency = numberArg('concurrency', 16);
const port = 18096;
const base = `http://127.0.0.1:${port}`;

const dir = mkdtempSync(join(tmpdir(), 'bv-bench-services-'));
const env = { ...process.env, BV_SERVICES_AUTH_FILE: join(dir, 'auth.json'), BV_LOG_LEVEL: 'error' };
const password = randomUUID();
const tenant = `bench-${randomUUID().slice(0, 8)}`;
const passwordHash = await hashPassword(password);
writeServicesAuth(
  {
    jwtSecret: randomUUID() + randomUUID(),
    users: [{ username: 'bench', passwordHash, tenantId: tenant, roles: ['admin'] }],
  },
  env,
);

async function post(path: string, body: object, token?: string): Promise<Record<string, string>> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, string>;
}

let server: ChildProcess | undefined;
try {
  const nodeFlags = process.env.BENCH_SERVICE_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  server = spawn('node', [...nodeFlags, 'cli/bin/bv.js', 'services', 'start', '--port', String(port)], {
    env,
    stdio: ['ignore', nodeFlags.length ? 'inherit' : 'ignore', 'inherit'],
  });
  for (
    let i = 0;
    !(await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  ) {
    if (i > 150) throw new Error('the service did not become ready');
    await sleep(200);
  }
  const token = (await post('/auth/token', { username: 'bench', password })).accessToken ?? '';
  const customerIds: string[] = [];
  for (let i = 0; i < 50; i++) {
    const customer = { email: `bench${i}@example.com`, name: `Bench ${i}`, segment: 'consumer' };
    customerIds.push((await post('/v1/customers', customer, token)).customerId ?? '');
  }
  const productIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const product = { sku: `B-${i}`, name: `P${i}`, category: 'bench', price: `${i + 1}.99`, currency: 'EUR' };
    productIds.push((await post('/v1/products', product, token)).productId ?? '');
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
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
