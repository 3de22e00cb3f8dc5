import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../db/tenant.js';
import { ApiError } from './errors.js';

export interface StoredResponse {
  status: number;
  body: unknown;
  replayed: boolean;
}

const KEY = /^[\x21-\x7e]{1,200}$/;

/** JSON with every object's keys sorted: the same fields in another order are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, child]) => child !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalJson(child)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Runs a POST's work at most once per Idempotency-Key, inside the request's transaction. The key row is inserted
 * first: a concurrent retry blocks on it until the first commits, then replays the stored response. If the work
 * fails, the transaction (key included) rolls back and a retry runs it again. Without the header, work just runs.
 */
export async function idempotently(
  db: Db,
  request: FastifyRequest,
  work: () => Promise<{ status: number; body: unknown }>,
): Promise<StoredResponse> {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return { ...(await work()), replayed: false };
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || !KEY.test(key)) {
    throw new ApiError(
      'VALIDATION_FAILED',
      'Idempotency-Key must be 1-200 printable ASCII characters',
      'header/idempotency-key',
    );
  }
  const requestHash = createHash('sha256')
    .update(`${request.method} ${request.url}\n${canonicalJson(request.body ?? null)}`)
    .digest('hex');
  const inserted = await db.query(
    `INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash)
     VALUES (current_setting('bv.tenant_id'), $1, $2) ON CONFLICT DO NOTHING`,
    [key, requestHash],
  );
  if (inserted.rowCount === 0) {
    const { rows } = await db.query<{ request_hash: string; response_status: number | null; response_body: unknown }>(
      'SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE idempotency_key = $1',
      [key],
    );
    const stored = rows[0];
    if (stored && stored.request_hash !== requestHash) {
      throw new ApiError(
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was used for a different request',
        'header/idempotency-key',
      );
    }
    if (!stored || stored.response_status === null) {
      throw new ApiError(
        'IDEMPOTENCY_IN_PROGRESS',
        'a request with this Idempotency-Key is still running; retry shortly',
      );
    }
    return { status: stored.response_status, body: stored.response_body, replayed: true };
  }
  const response = await work();
  await db.query('UPDATE idempotency_keys SET response_status = $2, response_body = $3 WHERE idempotency_key = $1', [
    key,
    response.status,
    JSON.stringify(response.body),
  ]);
  return { ...response, replayed: false };
}
