import type { EventSchemaRegistry } from '@bitvelocity/core';
import type { Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { AuthConfig } from './http/auth.js';
import type { ServiceMetrics } from './http/metrics.js';
import type { OutboxWriter } from './outbox/outbox.js';
import type { ProductCache } from './products/cache.js';

export type ServiceName = 'product' | 'customer' | 'order' | 'device';

/** What the routes need, built once by createServices() and passed down (no globals). */
export interface ServiceDeps {
  pool: pg.Pool;
  redis: Redis;
  schemas: EventSchemaRegistry;
  metrics: ServiceMetrics;
  tracer: Tracer;
  outbox: OutboxWriter;
  productCache: ProductCache;
  auth: AuthConfig;
}
