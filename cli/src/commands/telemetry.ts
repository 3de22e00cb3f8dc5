import { loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { positiveInt, print, tcpPort } from '../output.js';

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
  return telemetry;
}
