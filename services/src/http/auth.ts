import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { holdsRole, type Principal, type Role, tokenClaimsProblem } from '@bitvelocity/core';
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorResponseSchema } from './errors.js';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object,
) => Promise<Buffer>;

// The token claims (Principal, roles, the tenant's limit) are core's, shared with every process that verifies tokens.
export { type Principal, ROLES, type Role, TENANT_MAX_LENGTH } from '@bitvelocity/core';

export interface ServiceUser {
  username: string;
  /** `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`, from hashPassword(). */
  passwordHash: string;
  tenantId: string;
  roles: Role[];
}

export interface AuthConfig {
  jwtSecret: string;
  users: ServiceUser[];
  tokenTtlSeconds: number;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Principal;
    user: Principal;
  }
}

const SCRYPT = { N: 16384, r: 8, p: 1 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(actual, expected);
}

/** A hash to compare against when the user does not exist, so timing does not reveal which usernames exist. */
const DECOY_HASH = `scrypt$16384$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

/** POST /auth/token, and request.principal for every other route via `authenticate`. */
export async function registerAuth(app: FastifyInstance, config: AuthConfig): Promise<void> {
  await app.register(fastifyJwt, {
    secret: config.jwtSecret,
    sign: { expiresIn: config.tokenTtlSeconds, algorithm: 'HS256' },
    verify: { algorithms: ['HS256'] },
  });
  const users = new Map(config.users.map((u) => [u.username, u]));

  app.post<{ Body: { username: string; password: string } }>(
    '/auth/token',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a configured user name and password for a bearer token',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'password'],
          properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string', minLength: 1 } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              accessToken: { type: 'string' },
              tokenType: { type: 'string' },
              expiresIn: { type: 'integer' },
            },
          },
          401: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const user = users.get(request.body.username);
      const ok = await verifyPassword(request.body.password, user?.passwordHash ?? DECOY_HASH);
      if (!user || !ok) throw new ApiError('INVALID_CREDENTIALS', 'unknown user or wrong password');
      const accessToken = app.jwt.sign({ sub: user.username, tenant: user.tenantId, roles: user.roles });
      return { accessToken, tokenType: 'Bearer', expiresIn: config.tokenTtlSeconds };
    },
  );
}

/** onRequest hook: a valid bearer token, or 401 with the reason's code. */
export async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!request.headers.authorization)
    throw new ApiError('TOKEN_MISSING', 'send Authorization: Bearer <token> (POST /auth/token)');
  try {
    await request.jwtVerify();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED')
      throw new ApiError('TOKEN_EXPIRED', 'the token has expired; get a new one');
    if (code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER')
      throw new ApiError('TOKEN_MISSING', 'send Authorization: Bearer <token>');
    throw new ApiError('TOKEN_INVALID', 'the bearer token is not valid');
  }
  const where = tokenClaimsProblem(request.user);
  if (where !== undefined) {
    throw new ApiError('TOKEN_INVALID', `the token's claims are not valid (${where}); get a new token`);
  }
}

/** preHandler: the principal holds the role (admin holds every role). */
export function requireRole(role: Role) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!holdsRole(request.user, role)) {
      throw new ApiError('FORBIDDEN', `this needs the ${role} role`, undefined, {
        required: role,
        held: request.user.roles,
      });
    }
  };
}
