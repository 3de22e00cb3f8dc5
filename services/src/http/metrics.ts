import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The services' Prometheus metrics; one registry per app instance (no global state). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'bv_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly outboxEvents = new Counter({
    name: 'bv_outbox_events_total',
    help: 'Events written to the outbox, by event type',
    labelNames: ['event_type'] as const,
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: 'bv_product_cache_requests_total',
    help: 'Product cache look-ups by result (hit, miss, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bv_services_' });
    const requests = this.cacheRequests;
    new Gauge({
      name: 'bv_product_cache_hit_ratio',
      help: 'Product cache hits / (hits + misses) since start',
      registers: [this.registry],
      // Computed at scrape time from the counters, so it always agrees with them.
      async collect() {
        const values = (await requests.get()).values;
        const count = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0;
        const total = count('hit') + count('miss');
        this.set(total ? count('hit') / total : 0);
      },
    });
  }

  register(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      this.requestDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('content-type', this.registry.contentType);
      return this.registry.metrics();
    });
  }
}
