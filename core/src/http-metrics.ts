import { Histogram, type Registry } from 'prom-client';

/**
 * What the HTTP metrics need of a server: fastify's onResponse hook and a GET route, described structurally so core
 * does not depend on fastify.
 */
export interface HttpMetricsServer {
  addHook(
    name: 'onResponse',
    hook: (
      request: { method: string; routeOptions: { url?: string | undefined } },
      reply: { statusCode: number; elapsedTime: number },
    ) => Promise<void>,
  ): unknown;
  get(
    path: '/metrics',
    options: { schema: { hide: boolean } },
    handler: (request: unknown, reply: { header(name: string, value: string): unknown }) => Promise<string>,
  ): unknown;
}

const HTTP_DURATION = 'bv_http_request_duration_seconds';

/**
 * Every HTTP server's latency histogram (`bv_http_request_duration_seconds{method,route,status}`) in `registry`, and
 * GET /metrics serving that registry (hidden from the OpenAPI document). Returns the histogram.
 */
export function serveHttpMetrics(app: HttpMetricsServer, registry: Registry): Histogram<'method' | 'route' | 'status'> {
  // One histogram per registry, however many servers report into it (the services' metrics can serve several apps).
  const existing = registry.getSingleMetric(HTTP_DURATION) as Histogram<'method' | 'route' | 'status'> | undefined;
  const duration =
    existing ??
    new Histogram({
      name: HTTP_DURATION,
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return duration;
}
