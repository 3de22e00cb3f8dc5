import { createLogger, loadPlatformConfig, postgresUrl } from '@bitvelocity/core';
import { Command } from 'commander';
import { print, tcpPort } from '../output.js';

async function readSecretFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** `bv services ...`: the product, customer and order HTTP services. Implementations load on use. */
export function servicesCommand(): Command {
  const services = new Command('services').description('the product, customer and order HTTP services');

  services
    .command('migrate')
    .description('apply pending SQL migrations and set up the application role')
    .action(async () => {
      const { ensureAppRole, migrate } = await import('@bitvelocity/services');
      const config = loadPlatformConfig();
      const ownerUrl = postgresUrl(config.postgres);
      const result = await migrate(ownerUrl);
      await ensureAppRole(ownerUrl, config.postgres.appUser, config.postgres.appPassword);
      print(
        `migrations: applied ${result.applied.length ? result.applied.join(', ') : 'none'}; schema at ${result.current}`,
      );
    });

  services
    .command('start')
    .description('serve the APIs (migrates first); stops on SIGINT/SIGTERM')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', tcpPort('CLI_BAD_OPTION', '--port'), 18080)
    .option('--only <services>', 'comma-separated subset: product,customer,order,device')
    .action(async (options: { host: string; port: number; only?: string }) => {
      const { startServer } = await import('@bitvelocity/services');
      const only = options.only?.split(',').map((s) => s.trim()) as
        | ('product' | 'customer' | 'order' | 'device')[]
        | undefined;
      const app = await startServer({
        host: options.host,
        port: options.port,
        logger: createLogger('services', process.env.BV_LOG_LEVEL ?? 'warn'),
        ...(only ? { services: only } : {}),
      });
      print(`services listening on http://${options.host}:${options.port} (OpenAPI: /openapi.json)`);
      const stop = async () => {
        await app.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  services
    .command('user')
    .description('manage the users that may get tokens')
    .command('add')
    .argument('<username>')
    .requiredOption('--tenant <tenant>', 'the tenant the user acts in')
    .requiredOption('--roles <roles>', 'comma-separated: reader, writer, admin, dashboard, analyst')
    .option('--password-stdin', 'read the password from standard input (otherwise BV_NEW_USER_PASSWORD)')
    .action(async (username: string, options: { tenant: string; roles: string; passwordStdin?: boolean }) => {
      const { hashPassword, loadServicesAuth, newUserProblems, parseRoles, writeServicesAuth, servicesAuthFile } =
        await import('@bitvelocity/services');
      const password = options.passwordStdin ? await readSecretFromStdin() : process.env.BV_NEW_USER_PASSWORD;
      const problems = newUserProblems({ username, tenantId: options.tenant, password });
      if (problems.length > 0) {
        for (const problem of problems) process.stderr.write(`bv services user add: ${problem}\n`);
        process.stderr.write('nothing was saved\n');
        process.exitCode = 2;
        return;
      }
      const auth = loadServicesAuth({ ...process.env, BV_JWT_SECRET: '' });
      const user = {
        username,
        passwordHash: await hashPassword(password as string),
        tenantId: options.tenant,
        roles: parseRoles(options.roles),
      };
      writeServicesAuth({
        jwtSecret: auth.jwtSecret,
        users: [...auth.users.filter((u) => u.username !== username), user],
      });
      print(`user ${username} (${user.roles.join(', ')}) in tenant ${user.tenantId} saved to ${servicesAuthFile()}`);
    });

  services
    .command('maintain')
    .description('outbox retention (what the CDC slot confirmed), partitions ahead, idempotency key TTL')
    .option('--slot <name>', 'the replication slot Debezium reads the outbox with', 'bv_outbox')
    .option('--json', 'machine-readable output')
    .action(async (options: { slot: string; json?: boolean }) => {
      const { runMaintenance } = await import('@bitvelocity/services');
      const report = await runMaintenance(postgresUrl(loadPlatformConfig().postgres), { slotName: options.slot });
      print(
        options.json
          ? JSON.stringify(report, null, 2)
          : Object.entries(report)
              .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
              .join('\n'),
      );
    });

  return services;
}
