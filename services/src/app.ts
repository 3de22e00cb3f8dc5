import { EventSchemaRegistry, Tracing } from '@bitvelocity/core';
import fastifySwagger from '@fastify/swagger';
import type { Tracer } from '@opentelemetry/api';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { customerRoutes } from './customers/routes.js';
import type { ServiceDeps, ServiceName } from './deps.js';
import { deviceRoutes } from './devices/routes.js';
import { type AuthConfig, authenticate, registerAuth } from './http/auth.js';
import { BODY_LIMIT_BYTES, registerJsonBody } from './http/body.js';
import { ApiError, registerErrorHandling } from './http/errors.js';
import { ServiceMetrics } from './http/metrics.js';
import { registerTracing } from './http/trace.js';
import { orderRoutes } from './orders/routes.js';
import { OutboxWriter } from './outbox/outbox.js';
import { ProductCache } from './products/cache.js';
import { productRoutes } from './products/routes.js';

export const ALL_SERVICES: readonly ServiceName[] = ['product', 'customer', 'order', 'device'];

export interface ServicesOptions {
  /** Postgres URL of the application role (no BYPASSRLS). */
  databaseUrl: string;
  redisUrl: string;
  auth: AuthConfig;
  services?: readonly ServiceName[];
  /** A pino logger (core's createLogger); silent when omitted. */
  logger?: FastifyBaseLogger;
  poolSize?: number;
  /** The process's tracer (core's Tracing); ids are still made and propagated when omitted, nothing is exported. */
  tracer?: Tracer;
  /** The outbox connector's replication slot, whose lag /metrics reports (default bv_outbox). */
  cdcSlot?: string;
}

/** Builds the ready dependencies (pool, Redis, schemas, metrics) the routes share. */
export function createServiceDeps(options: ServicesOptions): ServiceDeps {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 20,
    // Connections stay open once made: by default the pool closes one idle for 10 s, and the next burst then pays a
    // backend fork, SCRAM authentication and re-preparing every named statement in the middle of requests.
    idleTimeoutMillis: 0,
    statement_timeout: 10_000,
  });
  const redis = new Redis(options.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined); // surfaced per request as cache errors (metric) and by /ready
  const schemas = EventSchemaRegistry.load();
  const metrics = new ServiceMetrics();
  metrics.watchCdc(pool, options.cdcSlot ?? 'bv_outbox');
  const tracer = options.tracer ?? Tracing.silent('bv-services').tracer;
  return {
    pool,
    redis,
    schemas,
    metrics,
    tracer,
    outbox: new OutboxWriter(schemas, metrics, tracer),
    productCache: new ProductCache(redis, metrics),
    auth: options.auth,
  };
}

/**
 * The product, customer and order HTTP services as one fastify app (or a subset, to deploy them apart). Route
 * schemas validate every input and document it (GET /openapi.json); unknown fields are refused, never stripped.
 */
export async function createServicesApp(
  deps: ServiceDeps,
  options: Pick<ServicesOptions, 'services' | 'logger'> = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } },
    bodyLimit: BODY_LIMIT_BYTES,
  });
  registerJsonBody(app);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'BitVelocity services',
        version: '1.0.0',
        description: 'Product, customer, order and device APIs',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  registerErrorHandling(app);
  registerTracing(app, deps.tracer);
  deps.metrics.register(app);

  app.get('/health', { schema: { tags: ['operations'], security: [] } }, async () => ({ status: 'ok' }));
  app.get('/ready', { schema: { tags: ['operations'], security: [] } }, async () => {
    try {
      await deps.pool.query('SELECT 1');
      await deps.redis.ping();
    } catch (error) {
      throw new ApiError('UNAVAILABLE', `not ready: ${(error as Error).message}`);
    }
    return { status: 'ready' };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await registerAuth(app, deps.auth);
  const services = new Set(options.services ?? ALL_SERVICES);
  await app.register(async (secured) => {
    secured.addHook('onRequest', authenticate);
    if (services.has('product')) await productRoutes(secured, deps);
    if (services.has('customer')) await customerRoutes(secured, deps);
    if (services.has('order')) await orderRoutes(secured, deps);
    if (services.has('device')) await deviceRoutes(secured, deps);
  });
  app.addHook('onClose', async () => {
    await deps.pool.end();
    deps.redis.disconnect();
  });
  return app;
}
