import { randomBytes } from 'node:crypto';
import { BvError, loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { positiveInt, print, printJson, readPasswordFromStdin, tcpPort } from '../output.js';

/** MQTT passwords: long enough not to be guessed, printable, on one line (mosquitto_passwd reads them as text). */
const PASSWORD = /^[\x21-\x7e]{12,128}$/;

/** A tenant id as an MQTT user name (the ACL's `%u`); the bridge's own user is not a tenant. */
async function tenantUser(tenant: string): Promise<string> {
  const { MQTT_BRIDGE_USER, MQTT_USER_NAME } = await import('@bitvelocity/infra');
  if (!MQTT_USER_NAME.test(tenant))
    throw new BvError('TELEMETRY_USER_INVALID', `tenant "${tenant}" is not 1-64 of [A-Za-z0-9._-]`);
  if (tenant === MQTT_BRIDGE_USER)
    throw new BvError('TELEMETRY_USER_INVALID', `"${tenant}" is the bridge's own user, not a tenant`);
  return tenant;
}

/** `bv telemetry users add|list|remove`: the broker's tenant users (each publishes to devices/<tenant>/+/readings). */
function usersCommand(): Command {
  const users = new Command('users').description(
    "the MQTT broker's tenant users: user <tenant> may publish only to devices/<tenant>/<deviceId>/readings",
  );
  users
    .command('add')
    .description('add a tenant user, or set its password; prints a generated password unless --password-stdin')
    .argument('<tenant>', 'tenant id, 1-64 of [A-Za-z0-9._-]')
    .option('--password-stdin', 'read the password (12-128 printable ASCII characters) from stdin')
    .option('--json', 'print {tenant, password, generated} as JSON')
    .action(async (tenant: string, options: { passwordStdin?: boolean; json?: boolean }) => {
      const user = await tenantUser(tenant);
      const generated = !options.passwordStdin;
      const password = generated ? randomBytes(18).toString('base64url') : await readPasswordFromStdin();
      if (!PASSWORD.test(password))
        throw new BvError(
          'TELEMETRY_PASSWORD_INVALID',
          `the password must be 12-128 printable ASCII characters without spaces (got ${password.length} characters)`,
        );
      const { setMosquittoUser, settingsFor } = await import('@bitvelocity/infra');
      await setMosquittoUser(settingsFor(), user, password);
      if (options.json) printJson({ tenant: user, ...(generated ? { password } : {}), generated });
      else
        print(
          generated
            ? `tenant ${user}: MQTT user ${user}, password ${password} (shown once; devices publish to devices/${user}/<deviceId>/readings)`
            : `tenant ${user}: password set`,
        );
    });
  users
    .command('list')
    .description('list the tenant users')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const { listMosquittoUsers, MQTT_BRIDGE_USER, settingsFor } = await import('@bitvelocity/infra');
      const tenants = listMosquittoUsers(settingsFor()).filter((name) => name !== MQTT_BRIDGE_USER);
      if (options.json) printJson(tenants);
      else for (const tenant of tenants) print(tenant);
    });
  users
    .command('remove')
    .description('remove a tenant user; its devices can no longer connect')
    .argument('<tenant>', 'tenant id')
    .action(async (tenant: string) => {
      const user = await tenantUser(tenant);
      const { removeMosquittoUser, settingsFor } = await import('@bitvelocity/infra');
      if (!(await removeMosquittoUser(settingsFor(), user)))
        throw new BvError('TELEMETRY_USER_UNKNOWN', `no MQTT user "${user}" (see bv telemetry users list)`);
      print(`tenant ${user}: removed`);
    });
  return users;
}

/** `bv telemetry bridge`: device readings from MQTT (and HTTP) into Kafka. */
export function telemetryCommand(): Command {
  const telemetry = new Command('telemetry').description('device telemetry ingest');
  telemetry
    .command('bridge')
    .description(
      'run the MQTT-to-Kafka bridge (devices/<tenant>/<deviceId>/readings -> iot.device) and the HTTP batch endpoint',
    )
    .option('--topic <name>', 'Kafka topic for readings (dead letters go to <topic>.dlq)', 'iot.device')
    .option('--client-id <id>', 'MQTT client id of the persistent session', 'bv-telemetry-bridge')
    .option('--rate <n>', 'readings per second per device', positiveInt('CLI_BAD_OPTION', '--rate'), 100)
    .option('--burst <n>', 'readings a device may send at once', positiveInt('CLI_BAD_OPTION', '--burst'), 200)
    .option(
      '--receive-maximum <n>',
      'unacknowledged QoS 1 messages the broker may send (1-65535)',
      positiveInt('CLI_BAD_OPTION', '--receive-maximum'),
      10_000,
    )
    .option('--batch <n>', 'Kafka batch size in records', positiveInt('CLI_BAD_OPTION', '--batch'), 2000)
    .option('--linger-ms <n>', 'how long a Kafka batch waits to fill', positiveInt('CLI_BAD_OPTION', '--linger-ms'), 5)
    .option(
      '--producers <n>',
      'Kafka producers, one batch in flight each (a device always uses the same one; 1-16)',
      positiveInt('CLI_BAD_OPTION', '--producers'),
      2,
    )
    .option('--share-group <name>', 'split the devices over several bridges ($share/<name>/...)')
    .option('--host <host>', 'address of the HTTP endpoint', '127.0.0.1')
    .option(
      '--http-port <port>',
      'port of the HTTP endpoint (0: any)',
      tcpPort('CLI_BAD_OPTION', '--http-port', true),
      18096,
    )
    .option('--no-http', 'do not serve POST /v1/devices/:deviceId/readings')
    .action(
      async (options: {
        topic: string;
        clientId: string;
        rate: number;
        burst: number;
        receiveMaximum: number;
        batch: number;
        lingerMs: number;
        producers: number;
        shareGroup?: string;
        host: string;
        httpPort: number;
        http: boolean;
      }) => {
        const { startTelemetryService } = await import('@bitvelocity/ingest');
        const jwtSecret = options.http
          ? (await import('@bitvelocity/services')).loadServicesAuth().jwtSecret
          : undefined;
        const service = await startTelemetryService({
          config: loadPlatformConfig(),
          topic: options.topic,
          clientId: options.clientId,
          rateLimit: { ratePerSecond: options.rate, burst: options.burst },
          receiveMaximum: Math.min(options.receiveMaximum, 65_535),
          maxBatchRecords: options.batch,
          lingerMs: options.lingerMs,
          producers: Math.min(options.producers, 16),
          httpHost: options.host,
          httpPort: options.httpPort,
          ...(options.shareGroup ? { shareGroup: options.shareGroup } : {}),
          ...(jwtSecret ? { jwtSecret } : {}),
        });
        print(
          `telemetry bridge ready: MQTT ${loadPlatformConfig().mqtt?.url} -> Kafka ${options.topic}` +
            (service.httpAddress ? `; HTTP ${service.httpAddress}/v1/devices/:deviceId/readings` : ''),
        );
        await new Promise<void>((resolve) => {
          for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
        });
        await service.close();
      },
    );
  telemetry.addCommand(usersCommand());
  return telemetry;
}
