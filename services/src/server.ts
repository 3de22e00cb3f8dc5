import { type Logger, loadPlatformConfig, postgresUrl, Tracing } from '@bitvelocity/core';
import type { FastifyInstance } from 'fastify';
import { ALL_SERVICES, createServiceDeps, createServicesApp } from './app.js';
import { loadServicesAuth } from './config.js';
import { ensureAppRole, migrate } from './db/migrate.js';
import type { ServiceName } from './deps.js';
import { reportOutboxLineage } from './lineage.js';

export interface StartOptions {
  host: string;
  port: number;
  services?: ServiceName[];
  logger?: Logger;
  /** Apply pending migrations (as the schema owner) before listening. */
  migrate?: boolean;
}

/** Starts the services on host:port with the platform config; resolves once listening. */
export async function startServer(options: StartOptions): Promise<FastifyInstance> {
  const config = loadPlatformConfig();
  const ownerUrl = postgresUrl(config.postgres);
  if (options.migrate ?? true) {
    await migrate(ownerUrl);
    await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
  }
  const auth = loadServicesAuth();
  // One tracer provider for the process: OTLP when a collector is configured, else $BV_HOME/traces/bv-services.jsonl.
  const tracing = Tracing.create({ service: 'bv-services' });
  const deps = createServiceDeps({
    tracer: tracing.tracer,
    databaseUrl: postgresUrl(config.postgres, { as: 'app', preferSocket: true }),
    redisUrl: config.redis.url,
    auth: { ...auth, tokenTtlSeconds: 900 },
  });
  const app = await createServicesApp(deps, {
    ...(options.services ? { services: options.services } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  app.addHook('onClose', async () => {
    await tracing.shutdown().catch(() => undefined);
  });
  await app.listen({ host: options.host, port: options.port });
  // Each service's outbox writes as a lineage job (not awaited: lineage never holds up a start).
  void reportOutboxLineage(config, options.services ?? ALL_SERVICES);
  return app;
}
