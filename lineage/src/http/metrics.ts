import { serveHttpMetrics } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** The lineage service's Prometheus metrics on GET /metrics (no token, like /healthz): HTTP latency by route. */
export function registerLineageMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bv_lineage_' });
  serveHttpMetrics(app, registry);
  return registry;
}
