import { BvError, type ErrorCode, EventSchemaRegistry } from '@bitvelocity/core';
import fastifyJwt from '@fastify/jwt';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { TelemetryKafkaWriter } from './kafka-writer.js';
import type { TelemetryMetrics } from './metrics.js';
import type { DeviceRateLimiter } from './rate-limit.js';
import { deviceKey, deviceOfTopic, type ReadingReject, readingsOf } from './readings.js';
import { TraceIds } from './trace-ids.js';

export interface TelemetryHttpOptions {
  writer: TelemetryKafkaWriter;
  metrics: TelemetryMetrics;
  /** The services' signing secret: a token from `POST /auth/token` of the services is valid here. */
  jwtSecret: string;
  /** Readings per request, at most. */
  maxBatch?: number;
  /** How long a request waits for Kafka before it answers 503 (the client retries; eventIds make that safe). */
  writeTimeoutMs?: number;
  limiter?: DeviceRateLimiter | undefined;
  registry?: EventSchemaRegistry;
  /** What `GET /ready` reports: the bridge's MQTT session (the HTTP path alone needs only Kafka). */
  readiness?: () => { ready: boolean; mqtt: 'connected' | 'disconnected'; unacked: number };
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  TELEMETRY_UNAUTHORIZED: 401,
  TELEMETRY_FORBIDDEN: 403,
  TELEMETRY_BATCH_INVALID: 400,
  TELEMETRY_DEVICE_INVALID: 400,
  TELEMETRY_BATCH_TOO_LARGE: 413,
  TELEMETRY_UNAVAILABLE: 503,
};

class TelemetryHttpError extends BvError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly statusCode = HTTP_STATUS[code] ?? 400,
  ) {
    super(code, message);
  }
}

interface Principal {
  sub: string;
  tenant: string;
  roles: string[];
}

/**
 * `POST /v1/devices/:deviceId/readings` for devices that cannot speak MQTT: a JSON array of readings, the tenant
 * from the bearer token (role `writer` or `admin`). The same envelopes, eventIds and dead letters as the MQTT path;
 * 202 `{accepted, rejected: [{index, code, reason}]}` once Kafka has them.
 */
export async function createTelemetryHttp(options: TelemetryHttpOptions): Promise<FastifyInstance> {
  const maxBatch = options.maxBatch ?? 1000;
  const registry = options.registry ?? EventSchemaRegistry.load();
  const traceIds = new TraceIds();
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
  await app.register(fastifyJwt, { secret: options.jwtSecret, verify: { algorithms: ['HS256'] } });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof TelemetryHttpError)
      return reply.status(error.statusCode).send({ error: { code: error.code, message: error.message } });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.status(413).send({ error: { code: 'TELEMETRY_BATCH_TOO_LARGE', message: error.message } });
    if ((error.statusCode ?? 500) < 500)
      return reply.status(400).send({ error: { code: 'TELEMETRY_BATCH_INVALID', message: error.message } });
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    if (!request.headers.authorization)
      throw new TelemetryHttpError('TELEMETRY_UNAUTHORIZED', 'send Authorization: Bearer <token>');
    let claims: Partial<Principal>;
    try {
      claims = await request.jwtVerify<Partial<Principal>>();
    } catch {
      throw new TelemetryHttpError('TELEMETRY_UNAUTHORIZED', 'the bearer token is not valid or has expired');
    }
    if (typeof claims.tenant !== 'string' || !Array.isArray(claims.roles))
      throw new TelemetryHttpError('TELEMETRY_UNAUTHORIZED', "the token's claims carry no tenant or roles");
    if (!claims.roles.includes('writer') && !claims.roles.includes('admin'))
      throw new TelemetryHttpError('TELEMETRY_FORBIDDEN', 'sending readings needs the writer role');
    return claims as Principal;
  };

  app.get('/health', async () => ({ status: 'ok' }));
  // Ready = the bridge holds its MQTT session; 503 while it reconnects (readings wait in the broker meanwhile).
  app.get('/ready', async (_request, reply) => {
    const state = options.readiness?.() ?? { ready: true, mqtt: 'disconnected' as const, unacked: 0 };
    return reply.status(state.ready ? 200 : 503).send({ status: state.ready ? 'ready' : 'not ready', ...state });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });

  app.post<{ Params: { deviceId: string }; Body: unknown }>(
    '/v1/devices/:deviceId/readings',
    async (request, reply) => {
      const principal = await authenticate(request);
      const device = deviceOfTopic(`devices/${principal.tenant}/${request.params.deviceId}/readings`);
      if (typeof device === 'string') throw new TelemetryHttpError('TELEMETRY_DEVICE_INVALID', device);
      const body = request.body;
      if (!Array.isArray(body) || body.length === 0)
        throw new TelemetryHttpError('TELEMETRY_BATCH_INVALID', 'the body must be a non-empty JSON array of readings');
      if (body.length > maxBatch)
        throw new TelemetryHttpError('TELEMETRY_BATCH_TOO_LARGE', `at most ${maxBatch} readings per request`);

      const traceId = traceIds.traceId();
      const outcome = readingsOf(registry, device, body, { traceId });
      const key = deviceKey(device);
      const rejects: ReadingReject[] = outcome.rejects;
      const granted = options.limiter ? options.limiter.takeUpTo(key, outcome.records.length) : outcome.records.length;
      outcome.records.slice(granted).forEach((record, i) => {
        rejects.push({
          index: outcome.indexes[granted + i],
          code: 'TELEMETRY_RATE_LIMITED',
          reason: `rate_limited: device ${key} is over its reading rate limit`,
          raw: JSON.stringify(record.envelope.payload),
        });
      });
      const records = outcome.records.slice(0, granted);
      const writes: Promise<void>[] = [];
      if (records.length)
        writes.push(options.writer.writeReadings(records, { traceparent: traceIds.traceparent(traceId) }));
      if (rejects.length) writes.push(options.writer.writeDeadLetters(rejects, { key, source: `http:${request.url}` }));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TelemetryHttpError('TELEMETRY_UNAVAILABLE', 'Kafka did not acknowledge in time; retry')),
          options.writeTimeoutMs ?? 10_000,
        );
      });
      try {
        await Promise.race([Promise.all(writes), timeout]);
      } finally {
        clearTimeout(timer);
      }
      options.metrics.readings.inc({ source: 'http' }, records.length);
      for (const r of rejects) options.metrics.deadLetters.inc({ source: 'http', code: r.code });
      rejects.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      return reply.status(202).send({
        accepted: records.length,
        rejected: rejects.map((r) => ({ index: r.index, code: r.code, reason: r.reason })),
      });
    },
  );
  return app;
}
