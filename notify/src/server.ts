import { createLogger, type Logger, type PlatformConfig } from '@bitvelocity/core';
import { buildNotifyApp } from './app.js';
import { type FeedTopics, NotificationFeed } from './feed.js';
import { NotifyMetrics } from './metrics.js';

export interface NotifyServerOptions {
  config: PlatformConfig;
  jwtSecret: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  topics: FeedTopics;
  bufferSize?: number;
  maxBufferedBytes?: number;
  logger?: Logger;
}

export interface NotifyServer {
  /** `ws://host:port` of the server. */
  url: string;
  port: number;
  feed: NotificationFeed;
  close(): Promise<void>;
}

/** Starts the feed (one Kafka reader for the process) and the WebSocket server; resolves once listening. */
export async function startNotifyServer(options: NotifyServerOptions): Promise<NotifyServer> {
  const logger = options.logger ?? createLogger('notify');
  const metrics = new NotifyMetrics();
  const feed = await NotificationFeed.create({
    brokers: options.config.kafka.bootstrapServers,
    topics: options.topics,
    metrics,
    logger,
    ...(options.bufferSize === undefined ? {} : { bufferSize: options.bufferSize }),
  });
  const app = await buildNotifyApp({
    feed,
    metrics,
    jwtSecret: options.jwtSecret,
    logger,
    ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes }),
  });
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await feed.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `ws://${options.host}:${port}`,
    port,
    feed,
    close: async () => {
      await app.close();
      await feed.close();
    },
  };
}
