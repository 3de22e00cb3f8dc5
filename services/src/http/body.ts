import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/** The largest request body the services accept; larger ones get 413 BODY_TOO_LARGE. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/**
 * Why a string cannot be stored as text, or undefined when it can: Postgres text refuses byte 0x00, and jsonb
 * refuses (text silently replaces) an unpaired UTF-16 surrogate, which JSON allows as an escape such as "\udfff".
 */
export function unstorableText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const pointerEscape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON pointer of the first string (key or value) that cannot be stored, with the reason. */
export function firstUnstorableText(value: unknown, path = ''): { field: string; reason: string } | undefined {
  if (typeof value === 'string') {
    const reason = unstorableText(value);
    return reason ? { field: path, reason } : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstUnstorableText(value[i], `${path}/${i}`);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const keyReason = unstorableText(key);
      if (keyReason) return { field: `${path}/${pointerEscape(key.replace(/[^\x20-\x7e]/g, '?'))}`, reason: keyReason };
      const found = firstUnstorableText(child, `${path}/${pointerEscape(key)}`);
      if (found) return found;
    }
  }
  return undefined;
}

function refuseUnstorable(value: unknown, context: 'body' | 'querystring' | 'params'): void {
  const found = firstUnstorableText(value);
  if (found) {
    const field = `${context}${found.field}`;
    throw new ApiError('INVALID_CHARACTER', `${field} ${found.reason}`, field);
  }
}

/**
 * The only body parser: JSON (any other media type is 415, an oversized body 413). Strings that Postgres cannot
 * store are refused here, before schema validation, with the field that holds them.
 */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES },
    (_request: FastifyRequest, body: string | Buffer, done: (error: Error | null, body?: unknown) => void) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(new ApiError('INVALID_BODY', 'the body is empty; send a JSON document'));
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        return done(new ApiError('INVALID_BODY', `the body is not valid JSON: ${(error as Error).message}`));
      }
      try {
        refuseUnstorable(parsed, 'body');
      } catch (error) {
        return done(error as Error);
      }
      done(null, parsed);
    },
  );
  // Path and query values reach SQL too (e.g. ?category=); a NUL there must be a 400, not a Postgres error.
  app.addHook('preValidation', async (request) => {
    refuseUnstorable(request.params, 'params');
    refuseUnstorable(request.query, 'querystring');
  });
}
