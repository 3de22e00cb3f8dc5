import { AGGREGATE_TOPICS, ANALYTICS_TOPICS, loadPlatformConfig } from '@bitvelocity/core';
import { Command } from 'commander';
import { positiveInt, print, tcpPort } from '../output.js';

const ORDER_TOPIC = AGGREGATE_TOPICS[2];

/** `bv notify ...`: live notifications for the services' clients over WebSocket. */
export function notifyCommand(): Command {
  const notify = new Command('notify').description('live order-status and device-anomaly notifications (WebSocket)');

  notify
    .command('serve')
    .description(
      'serve ws://<host>:<port>/v1/notifications (services tokens), /health, /ready and /metrics; see docs/notifications.md',
    )
    .option('--port <port>', 'TCP port (0 picks a free one)', tcpPort('NOTIFY_BAD_OPTION', '--port', true), 18095)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--orders-topic <topic>', 'order envelopes: the CDC topic or its deduplicated copy', ORDER_TOPIC)
    .option('--devices-topic <topic>', 'device anomaly episodes', ANALYTICS_TOPICS.deviceAnomalies)
    .option(
      '--buffer <n>',
      'notifications kept in memory for resumes (older ones are re-read from Kafka)',
      positiveInt('NOTIFY_BAD_OPTION', '--buffer'),
      10_000,
    )
    .action(
      async (options: { port: number; host: string; ordersTopic: string; devicesTopic: string; buffer: number }) => {
        const [{ startNotifyServer }, { loadServicesAuth }] = await Promise.all([
          import('@bitvelocity/notify'),
          import('@bitvelocity/services'),
        ]);
        const server = await startNotifyServer({
          config: loadPlatformConfig(),
          jwtSecret: loadServicesAuth().jwtSecret,
          host: options.host,
          port: options.port,
          topics: { orders: options.ordersTopic, devices: options.devicesTopic },
          bufferSize: options.buffer,
        });
        print(
          `notifications on ${server.url}/v1/notifications (orders: ${options.ordersTopic}, devices: ${options.devicesTopic})`,
        );
        const stop = async () => {
          await server.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
  return notify;
}
