import { loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { positiveInt, print, tcpPort } from '../output.js';

/** `bv serve`: the read-only query API and the live dashboard over the lake, verifying the services' tokens. */
export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'serve Gold read-only: the query API (/v1, /openapi.json), the live dashboard (/) and the Postgres wire protocol',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'HTTP port', tcpPort('CLI_BAD_OPTION', '--port', true), 8090)
    .option(
      '--connections <n>',
      'read-only lake connections for queries',
      positiveInt('CLI_BAD_OPTION', '--connections'),
      2,
    )
    .option('--jobs <names>', 'comma-separated stream jobs for the freshness panel (default: every registered job)')
    .option(
      '--pg-port <port>',
      "Postgres wire-protocol port for analysts' tools (see `bv pg-serve`)",
      tcpPort('CLI_BAD_OPTION', '--pg-port', true),
      15432,
    )
    .option('--no-pg', 'do not serve the Postgres wire protocol')
    .action(
      async (options: {
        host: string;
        port: number;
        connections: number;
        jobs?: string;
        pg: boolean;
        pgPort: number;
      }) => {
        const { loadServicesAuth } = await import('@bitvelocity/services');
        const { createServingApp } = await import('@bitvelocity/serving');
        const serving = await createServingApp({
          config: loadPlatformConfig(),
          jwtSecret: loadServicesAuth().jwtSecret,
          connections: options.connections,
          ...(options.jobs ? { jobs: options.jobs.split(',').map((j) => j.trim()) } : {}),
        });
        const address = await serving.app.listen({ host: options.host, port: options.port });
        print(`serving on ${address}: dashboard ${address}/#token=<dashboard token>, API ${address}/openapi.json`);
        const { startPgServer } = await import('@bitvelocity/serving');
        const pg = options.pg
          ? await startPgServer({ config: loadPlatformConfig(), host: options.host, port: options.pgPort })
          : undefined;
        if (pg) print(`Postgres wire protocol on ${options.host}:${pg.port} (users: bv pg-serve users add)`);
        await new Promise<void>((resolve) => {
          for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
        });
        await pg?.close();
        await serving.close();
      },
    );
}
