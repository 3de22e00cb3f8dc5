import { BvError } from '@bitvelocity/core';
import type { FastifyError, FastifyInstance } from 'fastify';

/** Every error code the services answer with, and its HTTP status. docs/services/errors.md lists each (a test checks). */
export const API_ERRORS = {
  VALIDATION_FAILED: 400,
  INVALID_BODY: 400,
  INVALID_CHARACTER: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INVALID_CREDENTIALS: 401,
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  ILLEGAL_TRANSITION: 409,
  DUPLICATE: 409,
  IDEMPOTENCY_IN_PROGRESS: 409,
  VERSION_CONFLICT: 412,
  IDEMPOTENCY_KEY_REUSED: 422,
  REFERENCE_NOT_FOUND: 422,
  CURRENCY_MISMATCH: 422,
  ORDER_TOTAL_TOO_LARGE: 422,
  PRECONDITION_REQUIRED: 428,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; field?: string; details?: Record<string, unknown> };
}

/** An error the API answers with: a stable code, a message a client can act on, and the failing field if any. */
export class ApiError extends BvError<ApiErrorCode> {
  readonly statusCode: number;
  readonly field: string | undefined;
  /** What the body's `details` carries (none when omitted). */
  readonly bodyDetails: Record<string, unknown> | undefined;

  constructor(
    code: ApiErrorCode,
    message: string,
    field?: string,
    details?: Record<string, unknown>,
    options: { cause?: unknown } = {},
  ) {
    // Only an unavailable dependency is worth the client's retry; every other code needs a different request.
    super(code, message, { ...options, retriable: code === 'UNAVAILABLE', ...(details ? { details } : {}) });
    this.statusCode = API_ERRORS[code];
    this.field = field;
    this.bodyDetails = details;
  }

  toBody(): ApiErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field ? { field: this.field } : {}),
        ...(this.bodyDetails ? { details: this.bodyDetails } : {}),
      },
    };
  }
}

/** The JSON pointer of the first failing value of a schema validation error, e.g. `/lines/0/quantity`. */
function failingField(error: FastifyError): string | undefined {
  const first = error.validation?.[0];
  if (!first) return undefined;
  const params = first.params as Record<string, unknown>;
  const leaf = (params.missingProperty ?? params.additionalProperty) as string | undefined;
  const base = first.instancePath || '';
  const field = leaf ? `${base}/${leaf}` : base;
  return field ? `${error.validationContext ?? 'body'}${field}` : error.validationContext;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.statusCode).send(error.toBody());
    if (error.validation) {
      const field = failingField(error);
      const apiError = new ApiError('VALIDATION_FAILED', error.message, field);
      return reply.code(400).send(apiError.toBody());
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(new ApiError('BODY_TOO_LARGE', error.message).toBody());
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send application/json').toBody());
    }
    if (error.statusCode === 400 || error.code?.startsWith('FST_ERR_CTP_')) {
      return reply.code(400).send(new ApiError('INVALID_BODY', error.message).toBody());
    }
    // A Postgres data exception (class 22: a value the column cannot hold) is bad input the edge missed: still the
    // client's to fix, so a 400, and logged so the edge check gets added.
    const sqlState = (error as { code?: unknown }).code;
    if (typeof sqlState === 'string' && /^22[0-9A-Z]{3}$/.test(sqlState)) {
      request.log.warn({ err: error }, 'a value reached Postgres that validation should have refused');
      return reply
        .code(400)
        .send(new ApiError('VALIDATION_FAILED', `a value cannot be stored: ${error.message}`).toBody());
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(new ApiError('INTERNAL', 'internal error; see the service log').toBody());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`).toBody()),
  );
}

/** Shared response schema for error answers (documents them in OpenAPI). */
export const errorResponseSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(API_ERRORS) },
        message: { type: 'string' },
        field: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

/** The `response` schema entries for the error statuses a route can answer with. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorResponseSchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorResponseSchema]));
}
