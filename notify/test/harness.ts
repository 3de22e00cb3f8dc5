import { createHmac, randomUUID } from 'node:crypto';
import { createEnvelope, loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { createTopic, produce } from '@bitvelocity/infra/testing';
import { createServiceDeps, createServicesApp, hashPassword, type Role } from '@bitvelocity/services';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { type NotifyServer, startNotifyServer } from '../src/index.js';

export const config = loadPlatformConfig();
export const brokers = config.kafka.bootstrapServers;
const PASSWORD = 'correct horse battery staple';

/** The services (in process, real Postgres and Redis) issue the tokens: the notify server only verifies them. */
export interface Issuer {
  jwtSecret: string;
  tenantA: string;
  tenantB: string;
  token(user: 'readerA' | 'readerB' | 'writerOnlyA'): Promise<string>;
  /** A request to the services as `user` (readerA also holds the writer role). */
  call(user: 'readerA' | 'readerB', options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startIssuer(): Promise<Issuer> {
  const tenantA = `n-${randomUUID().slice(0, 8)}`;
  const tenantB = `n-${randomUUID().slice(0, 8)}`;
  const jwtSecret = randomUUID() + randomUUID();
  const hash = await hashPassword(PASSWORD);
  const users: { username: string; passwordHash: string; tenantId: string; roles: Role[] }[] = [
    { username: `reader@${tenantA}`, passwordHash: hash, tenantId: tenantA, roles: ['reader', 'writer'] },
    { username: `reader@${tenantB}`, passwordHash: hash, tenantId: tenantB, roles: ['reader'] },
    { username: `writer@${tenantA}`, passwordHash: hash, tenantId: tenantA, roles: ['writer'] },
  ];
  const app: FastifyInstance = await createServicesApp(
    createServiceDeps({
      databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
      redisUrl: config.redis.url,
      auth: { jwtSecret, users, tokenTtlSeconds: 900 },
      poolSize: 2,
    }),
  );
  await app.ready();
  const names = { readerA: `reader@${tenantA}`, readerB: `reader@${tenantB}`, writerOnlyA: `writer@${tenantA}` };
  const token = async (user: keyof typeof names) => {
    const response = await app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { username: names[user], password: PASSWORD },
    });
    return response.json<{ accessToken: string }>().accessToken;
  };
  return {
    jwtSecret,
    tenantA,
    tenantB,
    token,
    call: async (user, options) =>
      app.inject({ ...options, headers: { authorization: `Bearer ${await token(user)}`, ...options.headers } }),
    close: () => app.close(),
  };
}

/** An HS256 token with any claims, for the refusals (expired, foreign secret, bad claims). */
export function signToken(secret: string, claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export interface Topics {
  orders: string;
  devices: string;
}

/** The spec's own order and device-anomaly topics (several partitions each), so parallel specs never meet. */
export async function createTopics(): Promise<Topics> {
  return {
    orders: await createTopic(brokers, 'notify-orders', 3),
    devices: await createTopic(brokers, 'notify-devices', 2),
  };
}

export function startServer(topics: Topics, jwtSecret: string, bufferSize?: number): Promise<NotifyServer> {
  return startNotifyServer({
    config,
    jwtSecret,
    host: '127.0.0.1',
    port: 0,
    topics,
    ...(bufferSize === undefined ? {} : { bufferSize }),
  });
}

export type OrderStatus = 'created' | 'paid' | 'shipped' | 'cancelled';

/** An order envelope as the outbox connector publishes it (key = the order id). */
export function orderEvent(tenantId: string, orderId: string, status: OrderStatus) {
  const envelope = createEnvelope({
    eventType: `ecommerce.order.${status}.v1`,
    producer: 'order-service',
    tenantId,
    partitionKey: orderId,
    traceId: randomUUID().replaceAll('-', ''),
    payload: { orderId, customerId: 'c-1', status, currency: 'EUR', totalAmount: '10.00' },
  });
  return { key: orderId, value: JSON.stringify(envelope), eventId: envelope.eventId };
}

/** A device anomaly episode as the telemetry job publishes it (AnomalyEpisode plus tenantId, deviceId, context). */
export function anomalyEvent(tenantId: string, deviceId: string, status: 'open' | 'closed', start: string) {
  const episodeId = `temperature:${tenantId}:${deviceId}:${Date.parse(start)}`;
  const value = {
    kind: 'anomaly_episode',
    status,
    metric: 'temperature',
    key: `${tenantId}:${deviceId}`,
    episodeId,
    start,
    end: start,
    points: 1,
    peakCalibrated: 0.999,
    peakScore: 6.2,
    peakValue: 91.5,
    peakAt: start,
    peakDirection: 1,
    reason: 'zscore',
    eventId: randomUUID(),
    tenantId,
    deviceId,
    device: { name: 'boiler', kind: 'thermometer', site: 'plant-1' },
  };
  return { key: `${tenantId}:${deviceId}`, value: JSON.stringify(value), episodeId };
}

export const send = (topic: string, records: { key: string; value: string }[]) => produce(brokers, topic, records);
