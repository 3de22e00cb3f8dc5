import { BvError } from '@bitvelocity/core';
import type { FastifyError, FastifyInstance } from 'fastify';

/** A serving failure below HTTP (the lake cannot be opened, a query ran out of time). */
export class ServingError extends BvError {}

/** Every code the query API answers with, and its HTTP status. docs/serving.md lists each (a test checks). */
export const SERVING_API_ERRORS = {
  VALIDATION_FAILED: 400,
  INVALID_BODY: 400,
  BAD_RANGE: 400,
  QUERY_REFUSED: 400,
  QUERY_FAILED: 400,
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  ROUTE_NOT_FOUND: 404,
  QUERY_TIMEOUT: 408,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ServingApiErrorCode = keyof typeof SERVING_API_ERRORS;

/** An answer of the query API other than 2xx/304: a stable code, an actionable message, the failing field if any. */
export class ServingApiError extends Error {
  readonly statusCode: number;

  constructor(
    readonly code: ServingApiErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServingApiError';
    this.statusCode = SERVING_API_ERRORS[code];
  }

  toBody() {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export const errorResponseSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(SERVING_API_ERRORS) },
        message: { type: 'string' },
        field: { type: 'string' },
      },
    },
  },
} as const;

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, errorResponseSchema]));

function failingField(error: FastifyError): string | undefined {
  const first = error.validation?.[0];
  if (!first) return error.validationContext;
  const params = first.params as Record<string, unknown>;
  const leaf = (params.missingProperty ?? params.additionalProperty) as string | undefined;
  const base = first.instancePath || '';
  const field = leaf ? `${base}/${leaf}` : base;
  return field ? `${error.validationContext ?? 'body'}${field}` : error.validationContext;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ServingApiError | ServingError, request, reply) => {
    if (error instanceof ServingApiError) return reply.code(error.statusCode).send(error.toBody());
    if (error instanceof ServingError) {
      const code = error.code === 'SERVING_QUERY_TIMEOUT' ? 'QUERY_TIMEOUT' : 'UNAVAILABLE';
      return reply.code(SERVING_API_ERRORS[code]).send(new ServingApiError(code, error.message).toBody());
    }
    if (error.validation) {
      return reply
        .code(400)
        .send(new ServingApiError('VALIDATION_FAILED', error.message, failingField(error)).toBody());
    }
    if (error.statusCode === 400 || error.statusCode === 415 || error.code?.startsWith('FST_ERR_CTP_')) {
      return reply.code(400).send(new ServingApiError('INVALID_BODY', error.message).toBody());
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(new ServingApiError('INTERNAL', 'internal error; see the server log').toBody());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new ServingApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`).toBody()),
  );
}
