import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../outbox/outbox.js';
import { ApiError } from './errors.js';
import type { TraceContext } from './trace.js';

declare module 'fastify' {
  interface FastifyRequest {
    trace: TraceContext;
  }
}

export function requestContext(request: FastifyRequest, producer: string): RequestContext {
  return { tenantId: request.user.tenant, trace: request.trace, producer };
}

export const etag = (version: number) => `"${version}"`;

/** The version the client last saw, from If-Match: updates without one are refused (428), stale ones get 412. */
export function expectedVersion(request: FastifyRequest): number {
  const header = request.headers['if-match'];
  if (!header) {
    throw new ApiError(
      'PRECONDITION_REQUIRED',
      'send If-Match with the ETag of the version you are changing',
      'header/if-match',
    );
  }
  const match = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  if (!match) throw new ApiError('VALIDATION_FAILED', 'If-Match must be an ETag such as "3"', 'header/if-match');
  return Number(match[1]);
}

export function versionConflict(current: number, expected: number): ApiError {
  return new ApiError(
    'VERSION_CONFLICT',
    `the resource is at version ${current}, not ${expected}; read it again`,
    'header/if-match',
    {
      currentVersion: current,
    },
  );
}

/** Sends a (possibly replayed) write response with its ETag and Location. */
export function sendWrite(
  reply: FastifyReply,
  response: { status: number; body: unknown; replayed: boolean },
  location?: string,
): FastifyReply {
  const version = (response.body as { version?: number } | null)?.version;
  if (version !== undefined) reply.header('etag', etag(version));
  if (location && response.status === 201) reply.header('location', location);
  if (response.replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(response.status).send(response.body);
}

/** Postgres unique_violation. */
export const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';
