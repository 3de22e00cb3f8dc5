import { randomUUID } from 'node:crypto';
import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import type { Tracer } from '@opentelemetry/api';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { createServiceDeps, createServicesApp, ensureAppRole, hashPassword, migrate, type Role } from '../src/index.js';

export const config = loadPlatformConfig();
export const ownerUrl = postgresUrl(config.postgres);
const appUrl = postgresUrl(config.postgres, { as: 'app', preferSocket: true });

export interface Harness {
  app: FastifyInstance;
  /** Two tenants unique to this test file, so files never see each other's rows. */
  tenantA: string;
  tenantB: string;
  owner: pg.Client;
  token(user: 'writerA' | 'readerA' | 'writerB'): Promise<string>;
  call(user: 'writerA' | 'readerA' | 'writerB' | null, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

const PASSWORD = 'correct horse battery staple';

export async function startServices(options: { tracer?: Tracer } = {}): Promise<Harness> {
  await migrate(ownerUrl);
  await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
  const tenantA = `t-${randomUUID().slice(0, 8)}`;
  const tenantB = `t-${randomUUID().slice(0, 8)}`;
  const hash = await hashPassword(PASSWORD);
  const users: { username: string; passwordHash: string; tenantId: string; roles: Role[] }[] = [
    { username: `writer@${tenantA}`, passwordHash: hash, tenantId: tenantA, roles: ['reader', 'writer'] },
    { username: `reader@${tenantA}`, passwordHash: hash, tenantId: tenantA, roles: ['reader'] },
    { username: `writer@${tenantB}`, passwordHash: hash, tenantId: tenantB, roles: ['admin'] },
  ];
  const deps = createServiceDeps({
    databaseUrl: appUrl,
    redisUrl: config.redis.url,
    auth: { jwtSecret: randomUUID() + randomUUID(), users, tokenTtlSeconds: 900 },
    poolSize: 30,
    ...(options.tracer ? { tracer: options.tracer } : {}),
  });
  const app = await createServicesApp(deps);
  await app.ready();
  const owner = new pg.Client(ownerUrl);
  await owner.connect();
  const names = { writerA: `writer@${tenantA}`, readerA: `reader@${tenantA}`, writerB: `writer@${tenantB}` };
  const tokens = new Map<string, string>();
  const token = async (user: keyof typeof names) => {
    const cached = tokens.get(user);
    if (cached) return cached;
    const response = await app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { username: names[user], password: PASSWORD },
    });
    const accessToken = response.json<{ accessToken: string }>().accessToken;
    tokens.set(user, accessToken);
    return accessToken;
  };
  return {
    app,
    tenantA,
    tenantB,
    owner,
    token,
    call: async (user, options) =>
      app.inject({
        ...options,
        headers: { ...(user ? { authorization: `Bearer ${await token(user)}` } : {}), ...options.headers },
      }),
    close: async () => {
      await owner.end();
      await app.close();
    },
  };
}

/** Outbox rows of a tenant, read as the schema owner (outside row-level security), oldest first. */
export async function outboxRows(owner: pg.Client, tenantId: string) {
  const { rows } = await owner.query<{
    id: string;
    aggregate_type: string;
    aggregate_id: string;
    event_type: string;
    payload: Record<string, unknown>;
    trace_id: string;
    traceparent: string;
    partition_key: string;
  }>('SELECT * FROM outbox WHERE tenant_id = $1 ORDER BY occurred_at, id', [tenantId]);
  return rows;
}
