import type { FastifyInstance } from 'fastify';
import { buildLineageApp } from './http/app.js';
import { migrateLineageStore } from './store/migrate.js';
import { LineageStore } from './store/store.js';

export interface LineageServerOptions {
  /** The schema owner's connection string (migrations run as the owner). */
  postgresUrl: string;
  jwtSecret: string;
  schema?: string;
  host?: string;
  port?: number;
  logger?: boolean;
}

export interface LineageServer {
  app: FastifyInstance;
  store: LineageStore;
  url: string;
  close(): Promise<void>;
}

/** Migrates the store, then serves the API and the browser. */
export async function startLineageServer(options: LineageServerOptions): Promise<LineageServer> {
  const schema = options.schema ?? 'lineage';
  await migrateLineageStore(options.postgresUrl, schema);
  const store = await LineageStore.create(options.postgresUrl, { schema });
  const app = await buildLineageApp({ store, jwtSecret: options.jwtSecret, logger: options.logger ?? false });
  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 5000 });
  return {
    app,
    store,
    url: address.replace('[::1]', '127.0.0.1'),
    async close() {
      await app.close();
      await store.close();
    },
  };
}
