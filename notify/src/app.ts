import { BvError, type ErrorCode, holdsRole, type Logger, type Principal, tokenClaimsProblem } from '@bitvelocity/core';
import fastifyJwt from '@fastify/jwt';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { NotificationFeed } from './feed.js';
import type { NotifyMetrics } from './metrics.js';
import { CLOSE_CODES, CLOSE_GOING_AWAY, NOTIFICATIONS_PATH } from './protocol.js';
import { NotificationSession } from './session.js';

export interface NotifyAppOptions {
  feed: NotificationFeed;
  metrics: NotifyMetrics;
  /** The services' JWT secret: this server verifies the tokens the services issue and never issues any. */
  jwtSecret: string;
  logger: Logger;
  /** Bytes queued on one socket beyond which its client is closed as too slow (default 8 MiB). */
  maxBufferedBytes?: number;
}

/** The bearer token of an upgrade request: `Authorization: Bearer` or, for browsers, `?access_token=`. */
function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) return /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
  const query = request.query as { access_token?: unknown };
  return typeof query.access_token === 'string' ? query.access_token : undefined;
}

/**
 * GET /v1/notifications (WebSocket), GET /health, /ready, /metrics. Authentication happens after the upgrade so a
 * refused client learns why from a close code (a browser cannot read an HTTP 401 of a WebSocket handshake).
 */
export async function buildNotifyApp(options: NotifyAppOptions): Promise<FastifyInstance> {
  const { feed, metrics, logger } = options;
  const app = Fastify({ logger: false });
  await app.register(fastifyJwt, {
    secret: options.jwtSecret,
    verify: { algorithms: ['HS256'] },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  const sessions = new Set<NotificationSession>();

  const authenticate = (request: FastifyRequest): Principal => {
    const token = tokenOf(request);
    if (!token)
      throw new BvError(
        'NOTIFY_TOKEN_MISSING',
        'send Authorization: Bearer <token> or ?access_token=<token> (POST /auth/token of the services)',
      );
    let claims: unknown;
    try {
      claims = app.jwt.verify(token);
    } catch (error) {
      if ((error as { code?: string }).code === 'FAST_JWT_EXPIRED')
        throw new BvError('NOTIFY_TOKEN_EXPIRED', 'the token has expired; get a new one');
      throw new BvError('NOTIFY_TOKEN_INVALID', 'the bearer token is not valid');
    }
    const problem = tokenClaimsProblem(claims);
    if (problem !== undefined)
      throw new BvError('NOTIFY_TOKEN_INVALID', `the token's claims are not valid (${problem}); get a new token`);
    const principal = claims as Principal;
    if (!holdsRole(principal, 'reader'))
      throw new BvError('NOTIFY_FORBIDDEN', 'notifications need the reader role', {
        details: { held: principal.roles },
      });
    return principal;
  };

  app.get(NOTIFICATIONS_PATH, { websocket: true }, (socket, request) => {
    let principal: Principal;
    try {
      principal = authenticate(request);
    } catch (error) {
      const code = (error as BvError).code as ErrorCode;
      metrics.refused.inc({ code });
      socket.send(JSON.stringify({ type: 'error', code, message: (error as Error).message }));
      socket.close(CLOSE_CODES[code] ?? 4401, code);
      return;
    }
    const session = new NotificationSession(socket, principal, feed, metrics, logger, {
      maxBufferedBytes: options.maxBufferedBytes ?? 8 * 1024 * 1024,
    });
    sessions.add(session);
    socket.on('close', () => sessions.delete(session));
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    if (!feed.ready) return reply.status(503).send({ status: 'not ready', reason: 'the Kafka feed is not reading' });
    return { status: 'ready', sessions: sessions.size };
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.addHook('preClose', async () => {
    for (const session of sessions) session.close(CLOSE_GOING_AWAY, 'server shutting down');
  });
  return app;
}
