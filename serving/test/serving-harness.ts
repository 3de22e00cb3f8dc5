import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type Envelope, loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import {
  createServiceDeps,
  createServicesApp,
  ensureAppRole,
  hashPassword,
  migrate,
  type Role,
} from '@bitvelocity/services';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import type { ServingApp } from '../src/http/app.js';
import { createServingApp } from '../src/index.js';
import { LakeFixture, landed } from './lake-fixture.js';

export const config = loadPlatformConfig();
const PASSWORD = 'correct horse battery staple';
type User = 'dashboardA' | 'analystA' | 'writerA' | 'dashboardB' | 'writerB';

export interface ServingHarness {
  services: FastifyInstance;
  serving: ServingApp;
  baseUrl: string;
  lake: LakeFixture;
  tenantA: string;
  tenantB: string;
  token(user: User): Promise<string>;
  /** Calls the services as a user (inject: the services' own routes, auth and Postgres). */
  services_(user: User, method: 'GET' | 'POST', url: string, payload?: object): Promise<Record<string, unknown>>;
  /** The tenant's outbox envelopes (what the services wrote), oldest first, after `since`. */
  envelopes(tenant: string, since?: Date): Promise<Envelope[]>;
  /** Per-minute Gold rows the spec seeded and landed: product -> minute (ms) -> { orders, units, revision }. */
  perMinute: Map<string, Map<number, { orders: number; units: number; revision: number }>>;
  products: { a: string[]; b: string[] };
  customers: { a: string; b: string };
  /** Writes the Gold minute windows of orders (revision + 1 of each window touched), as the Gold job would. */
  landOrdersInGold(orders: Envelope[]): Promise<void>;
  close(): Promise<void>;
}

export async function startServingHarness(options: { jobs?: string[] } = {}): Promise<ServingHarness> {
  const ownerUrl = postgresUrl(config.postgres);
  await migrate(ownerUrl);
  await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
  const tenantA = `t-${randomUUID().slice(0, 8)}`;
  const tenantB = `t-${randomUUID().slice(0, 8)}`;
  const hash = await hashPassword(PASSWORD);
  const roles: Record<User, [string, Role[]]> = {
    dashboardA: [tenantA, ['dashboard']],
    analystA: [tenantA, ['analyst']],
    writerA: [tenantA, ['reader', 'writer']],
    dashboardB: [tenantB, ['dashboard']],
    writerB: [tenantB, ['reader', 'writer']],
  };
  const users = Object.entries(roles).map(([name, [tenantId, r]]) => ({
    username: `${name}@${tenantId}`,
    passwordHash: hash,
    tenantId,
    roles: r,
  }));
  const jwtSecret = randomUUID() + randomUUID();
  const services = await createServicesApp(
    createServiceDeps({
      databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
      redisUrl: config.redis.url,
      auth: { jwtSecret, users, tokenTtlSeconds: 900 },
      poolSize: 4,
    }),
  );
  await services.ready();
  const owner = new pg.Client(ownerUrl);
  await owner.connect();
  const tokens = new Map<User, string>();
  const token = async (user: User) => {
    const known = tokens.get(user);
    if (known) return known;
    const response = await services.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { username: `${user}@${roles[user][0]}`, password: PASSWORD },
    });
    const accessToken = response.json<{ accessToken: string }>().accessToken;
    tokens.set(user, accessToken);
    return accessToken;
  };
  const call = async (user: User, method: 'GET' | 'POST', url: string, payload?: object) => {
    const response = await services.inject({
      method,
      url,
      headers: { authorization: `Bearer ${await token(user)}` },
      ...(payload ? { payload } : {}),
    });
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
    return response.json<Record<string, unknown>>();
  };
  const envelopes = async (tenant: string, since = new Date(0)) => {
    const { rows } = await owner.query<{ payload: Envelope }>(
      "SELECT payload FROM outbox WHERE tenant_id = $1 AND occurred_at >= ($2::timestamptz AT TIME ZONE 'UTC') ORDER BY occurred_at, id",
      [tenant, since.toISOString()],
    );
    return rows.map((r) => r.payload);
  };

  // The services' own data: customers, products and orders of two tenants.
  const customer = async (user: User, name: string) =>
    (await call(user, 'POST', '/v1/customers', { email: `${name}@example.com`, name, segment: 'consumer' }))
      .customerId as string;
  const product = async (user: User, sku: string, price: string) =>
    (await call(user, 'POST', '/v1/products', { sku, name: sku, category: 'c', price, currency: 'EUR' }))
      .productId as string;
  const customers = { a: await customer('writerA', 'ada'), b: await customer('writerB', 'bob') };
  const products = {
    a: [await product('writerA', 'Book', '12.50'), await product('writerA', 'Pen', '0.99')],
    b: [await product('writerB', 'Gadget', '99.00')],
  };
  for (let i = 0; i < 3; i++)
    await call('writerA', 'POST', '/v1/orders', {
      customerId: customers.a,
      currency: 'EUR',
      lines: [
        { productId: products.a[0], quantity: 1 + i },
        { productId: products.a[1], quantity: 2 },
      ],
    });
  await call('writerB', 'POST', '/v1/orders', {
    customerId: customers.b,
    currency: 'EUR',
    lines: [{ productId: products.b[0], quantity: 5 }],
  });

  const lake = await LakeFixture.create(config);
  await lake.landInSilver([...(await envelopes(tenantA)), ...(await envelopes(tenantB))]);

  // Gold history: the last 60 minutes of per-minute windows; tenant B's product far busier, so a leak would show.
  const minute = 60_000;
  const now = Math.floor(Date.now() / minute) * minute;
  const perMinute: ServingHarness['perMinute'] = new Map();
  const goldRows: Record<string, unknown>[] = [];
  let offset = 0;
  const put = (productId: string, start: number, orders: number, units: number, revision: number) => {
    const windows = perMinute.get(productId) ?? new Map();
    windows.set(start, { orders, units, revision });
    perMinute.set(productId, windows);
    goldRows.push({
      product_id: productId,
      orders,
      units,
      window_start: new Date(start).toISOString(),
      window_end: new Date(start + minute).toISOString(),
      revision,
      ...landed(offset++),
    });
  };
  for (let i = 60; i >= 2; i--) {
    put(products.a[0] as string, now - i * minute, i === 7 ? 14 : 2 + (i % 3), 3 + (i % 4), 0);
    if (i % 2 === 0) put(products.a[1] as string, now - i * minute, 1, 2, 0);
    put(products.b[0] as string, now - i * minute, 40, 80, 0);
  }
  put(products.a[0] as string, now - 10 * minute, 5, 6, 1); // a late event's revision supersedes revision 0
  const anomaly = (metric: string, key: string, value: number, at: number, eventId: string) => ({
    metric,
    key,
    value,
    mean: 3,
    stddev: 0.8,
    score: (value - 3) / 0.8,
    samples: 50,
    event_id: eventId,
    event_time: new Date(at).toISOString(),
    ...landed(offset++),
  });
  const session = (customerId: string, start: number, events: number, orders: number) => ({
    customer_id: customerId,
    events,
    orders,
    window_start: new Date(start).toISOString(),
    window_end: new Date(start + 35 * minute).toISOString(),
    revision: 0,
    ...landed(offset++),
  });
  await lake.insert([
    [lake.gold('ordersPerProductMinute'), goldRows],
    [
      lake.gold('anomalies'),
      [
        anomaly('product_orders_per_minute', products.a[0] as string, 14, now - 7 * minute, randomUUID()),
        anomaly('product_orders_per_minute', products.b[0] as string, 99, now - 3 * minute, randomUUID()),
      ],
    ],
    [
      lake.gold('customerSessions'),
      [session(customers.a, now - 50 * minute, 6, 3), session(customers.b, now - 40 * minute, 9, 1)],
    ],
  ]);

  const landOrdersInGold = async (orders: Envelope[]) => {
    const rows: Record<string, unknown>[] = [];
    for (const order of orders) {
      if (order.eventType !== 'ecommerce.order.created.v1') continue;
      const start = Math.floor(Date.parse(order.occurredAt) / minute) * minute;
      const lines = (order.payload as { lines: { productId: string; quantity: number }[] }).lines;
      for (const line of lines) {
        const windows = perMinute.get(line.productId) ?? new Map();
        const before = windows.get(start) ?? { orders: 0, units: 0, revision: -1 };
        const after = { orders: before.orders + 1, units: before.units + line.quantity, revision: before.revision + 1 };
        windows.set(start, after);
        perMinute.set(line.productId, windows);
        rows.push({
          product_id: line.productId,
          ...after,
          window_start: new Date(start).toISOString(),
          window_end: new Date(start + minute).toISOString(),
          ...landed(offset++),
        });
      }
    }
    await lake.insert([[lake.gold('ordersPerProductMinute'), rows]]);
  };

  const serving = await createServingApp({
    config,
    jwtSecret,
    schemas: lake.schemas,
    pollIntervalMs: 500,
    jobs: options.jobs ?? [],
  });
  await serving.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = serving.app.server.address() as AddressInfo;
  return {
    services,
    serving,
    baseUrl: `http://127.0.0.1:${port}`,
    lake,
    tenantA,
    tenantB,
    token,
    services_: call,
    envelopes,
    perMinute,
    products,
    customers,
    landOrdersInGold,
    close: async () => {
      await serving.close();
      await lake.drop();
      await owner.end();
      await services.close();
    },
  };
}
