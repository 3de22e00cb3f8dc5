import {
  ConfigError,
  createLogger,
  deadLetterTopicOf,
  EventSchemaRegistry,
  type PlatformConfig,
  TELEMETRY_TOPIC,
} from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import type { FastifyInstance } from 'fastify';
import { provisionTopics, topicWithDeadLetters } from '../topics.js';
import { TelemetryBridge } from './bridge.js';
import { createTelemetryHttp } from './http.js';
import { TelemetryMetrics } from './metrics.js';
import { DeviceRateLimiter, type RateLimit } from './rate-limit.js';

export interface TelemetryServiceOptions {
  config: PlatformConfig;
  /** The services' JWT secret; without it the HTTP endpoint is not served. */
  jwtSecret?: string;
  topic?: string;
  clientId?: string;
  rateLimit?: RateLimit;
  receiveMaximum?: number;
  maxBatchRecords?: number;
  lingerMs?: number;
  /** Idempotent Kafka producers, each with one batch in flight (a device always uses the same one). */
  producers?: number;
  shareGroup?: string;
  /** HTTP port of the batch endpoint (0: any free one). */
  httpPort?: number;
  httpHost?: string;
  maxHttpBatch?: number;
}

export interface TelemetryService {
  bridge: TelemetryBridge;
  http: FastifyInstance | undefined;
  /** The HTTP endpoint's address, when served. */
  httpAddress: string | undefined;
  close(): Promise<void>;
}

/**
 * The telemetry ingest process (`bv telemetry bridge`): provisions `iot.device` and its dead-letter topic, runs the
 * MQTT bridge and, in the same process and Kafka producer, the HTTP batch endpoint.
 */
export async function startTelemetryService(options: TelemetryServiceOptions): Promise<TelemetryService> {
  const mqtt = options.config.mqtt;
  if (!mqtt)
    throw new ConfigError(
      'CONFIG_MISSING',
      'no MQTT broker configured: run `bv stack up mosquitto` or set BV_MQTT_URL',
      {
        details: { variable: 'BV_MQTT_URL' },
      },
    );
  const topic = options.topic ?? TELEMETRY_TOPIC;
  const admin = new Admin({ clientId: 'bv-telemetry-bridge', bootstrapBrokers: options.config.kafka.bootstrapServers });
  try {
    await provisionTopics(admin, topicWithDeadLetters(topic));
  } finally {
    await admin.close();
  }
  const logger = createLogger('telemetry-bridge');
  const metrics = new TelemetryMetrics();
  const registry = EventSchemaRegistry.load();
  const rateLimit = options.rateLimit ?? { ratePerSecond: 100, burst: 200 };
  const bridge = await TelemetryBridge.create({
    mqtt,
    kafka: {
      bootstrapServers: options.config.kafka.bootstrapServers,
      topic,
      deadLetterTopic: deadLetterTopicOf(topic),
      ...(options.maxBatchRecords ? { maxBatchRecords: options.maxBatchRecords } : {}),
      ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
      ...(options.producers ? { producers: options.producers } : {}),
    },
    ...(options.clientId ? { clientId: options.clientId } : {}),
    ...(options.receiveMaximum ? { receiveMaximum: options.receiveMaximum } : {}),
    ...(options.shareGroup ? { shareGroup: options.shareGroup } : {}),
    rateLimit,
    logger,
    metrics,
    registry,
  });
  let http: FastifyInstance | undefined;
  let httpAddress: string | undefined;
  if (options.jwtSecret) {
    http = await createTelemetryHttp({
      writer: bridge.writer,
      metrics,
      jwtSecret: options.jwtSecret,
      limiter: new DeviceRateLimiter(rateLimit),
      registry,
      readiness: () => ({
        ready: bridge.connected,
        mqtt: bridge.connected ? 'connected' : 'disconnected',
        unacked: bridge.unacknowledged,
      }),
      ...(options.maxHttpBatch ? { maxBatch: options.maxHttpBatch } : {}),
    });
    httpAddress = await http.listen({ host: options.httpHost ?? '127.0.0.1', port: options.httpPort ?? 0 });
  }
  return {
    bridge,
    http,
    httpAddress,
    async close() {
      await http?.close();
      await bridge.close();
    },
  };
}
