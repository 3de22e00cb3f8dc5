import { loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { Command } from 'commander';
import { print, tcpPort } from '../output.js';

/** `bv lineage ...`: the OpenLineage service (Marquez-compatible API) and the reviewers' browser. */
export function lineageCommand(): Command {
  const lineage = new Command('lineage').description('the OpenLineage service and lineage browser');

  lineage
    .command('serve')
    .description(
      'serve POST /api/v1/lineage, the Marquez-compatible read API and the browser (tokens: the services JWT secret)',
    )
    .option('--port <port>', 'TCP port', tcpPort('CLI_BAD_OPTION', '--port', true), 5000)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--schema <schema>', 'Postgres schema of the lineage store', 'lineage')
    .action(async (options: { port: number; host: string; schema: string }) => {
      const [{ startLineageServer }, { loadServicesAuth }] = await Promise.all([
        import('@bitvelocity/lineage'),
        import('@bitvelocity/services'),
      ]);
      const config = loadPlatformConfig();
      const server = await startLineageServer({
        postgresUrl: postgresUrl(config.postgres),
        jwtSecret: loadServicesAuth().jwtSecret,
        schema: options.schema,
        host: options.host,
        port: options.port,
      });
      print(`lineage service on ${server.url} (browser: ${server.url}/, API: ${server.url}/api/v1)`);
      const stop = async () => {
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  return lineage;
}
