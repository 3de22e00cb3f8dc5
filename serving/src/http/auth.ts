import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServingApiError } from './errors.js';

/** The roles that read through serving; admin holds every role (as in the services). */
export type ServingRole = 'dashboard' | 'analyst';

/**
 * Verifies the services' own bearer tokens (same secret, HS256); this process never issues tokens. A dashboard sends
 * the same token on every request: fast-jwt's verified-token cache (bounded by the token's own expiry) spares the
 * HMAC and the decode on the hot path.
 */
export async function registerTokenVerification(app: FastifyInstance, jwtSecret: string): Promise<void> {
  await app.register(fastifyJwt, {
    secret: jwtSecret,
    verify: { algorithms: ['HS256'], cache: 1000, cacheTTL: 60_000 },
  });
}

export async function authenticate(request: FastifyRequest): Promise<void> {
  if (!request.headers.authorization)
    throw new ServingApiError('TOKEN_MISSING', 'send Authorization: Bearer <token> (POST /auth/token of the services)');
  try {
    await request.jwtVerify();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED')
      throw new ServingApiError('TOKEN_EXPIRED', 'the token has expired; get a new one');
    if (code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER')
      throw new ServingApiError('TOKEN_MISSING', 'send Authorization: Bearer <token>');
    throw new ServingApiError('TOKEN_INVALID', 'the bearer token is not valid');
  }
  const { tenant, roles } = request.user as { tenant?: unknown; roles?: unknown };
  if (typeof tenant !== 'string' || !Array.isArray(roles))
    throw new ServingApiError('TOKEN_INVALID', 'the token carries no tenant or roles');
}

/** preHandler: the principal holds one of `roles` (or admin). */
export function requireRole(...roles: ServingRole[]) {
  return async (request: FastifyRequest): Promise<void> => {
    const held = (request.user as { roles: string[] }).roles;
    if (!held.includes('admin') && !roles.some((role) => held.includes(role)))
      throw new ServingApiError('FORBIDDEN', `this needs the ${roles.join(' or ')} role`);
  };
}

export const tenantOf = (request: FastifyRequest) => (request.user as { tenant: string }).tenant;
