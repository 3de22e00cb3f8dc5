import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { positiveInt, print, readPasswordFromStdin, tcpPort } from '../output.js';

function usersCommand(): Command {
  const users = new Command('users').description('the analyst users of the Postgres endpoint (SCRAM-SHA-256)');
  users
    .command('add <name>')
    .description('add or re-key a user; the password is read from stdin (or generated and printed once)')
    .option('--generate', 'generate a password and print it')
    .action(async (name: string, options: { generate?: boolean }) => {
      const { addAnalystUser, analystUsersFile } = await import('@bitvelocity/serving');
      const { randomBytes } = await import('node:crypto');
      const password = options.generate ? randomBytes(18).toString('base64url') : await readPasswordFromStdin();
      addAnalystUser(name, password);
      print(`user ${name} saved in ${analystUsersFile()}`);
      if (options.generate) print(`password: ${password}`);
    });
  users
    .command('remove <name>')
    .description('remove a user')
    .action(async (name: string) => {
      const { removeAnalystUser } = await import('@bitvelocity/serving');
      if (!removeAnalystUser(name)) throw new BvError('WIRE_BAD_OPTION', `no analyst user named "${name}"`);
      print(`user ${name} removed`);
    });
  users
    .command('list')
    .description('list the users')
    .action(async () => {
      const { readAnalystUsers } = await import('@bitvelocity/serving');
      for (const [name, entry] of Object.entries(readAnalystUsers().users)) print(`${name}  added ${entry.createdAt}`);
    });
  return users;
}

/** `bv pg-serve`: the Postgres wire-protocol endpoint for analysts' tools (psql, DBeaver, Grafana, ...). */
export function pgServeCommand(): Command {
  const command = new Command('pg-serve')
    .description('serve Gold and Silver read-only over the Postgres wire protocol; stops on SIGINT/SIGTERM')
    .option('--port <port>', 'TCP port (default 15432)', tcpPort('WIRE_BAD_OPTION', '--port', true))
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--tls-cert <file>', 'PEM certificate; with --tls-key every client must use TLS')
    .option('--tls-key <file>', 'PEM private key')
    .option(
      '--timeout <ms>',
      'statement timeout in milliseconds (default 30000)',
      positiveInt('WIRE_BAD_OPTION', '--timeout'),
    )
    .option('--row-limit <rows>', 'rows a result keeps (default 100000)', positiveInt('WIRE_BAD_OPTION', '--row-limit'))
    .action(
      async (options: {
        port?: number;
        host?: string;
        tlsCert?: string;
        tlsKey?: string;
        timeout?: number;
        rowLimit?: number;
      }) => {
        const certFile = options.tlsCert ?? process.env.BV_PG_SERVE_TLS_CERT;
        const keyFile = options.tlsKey ?? process.env.BV_PG_SERVE_TLS_KEY;
        if (Boolean(certFile) !== Boolean(keyFile)) {
          throw new BvError('WIRE_BAD_OPTION', 'TLS needs both a certificate and a key (--tls-cert and --tls-key)');
        }
        const { startPgServer } = await import('@bitvelocity/serving');
        const server = await startPgServer({
          config: loadPlatformConfig(),
          ...(options.port !== undefined ? { port: options.port } : {}),
          ...(options.host ? { host: options.host } : {}),
          ...(certFile && keyFile ? { tls: { certFile, keyFile } } : {}),
          ...(options.timeout ? { statementTimeoutMs: options.timeout } : {}),
          ...(options.rowLimit ? { rowLimit: options.rowLimit } : {}),
        });
        print(
          `postgres endpoint listening on ${options.host ?? '127.0.0.1'}:${server.port}${certFile ? ' (TLS)' : ''}`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      },
    );
  command.addCommand(usersCommand());
  return command;
}
