import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../src/http/body.js';
import { type Harness, outboxRows, startServices } from './harness.js';

const exec = promisify(execFile);

let h: Harness;
beforeAll(async () => {
  h = await startServices();
});
afterAll(() => h.close());

const product = (sku: string, extra: object = {}) => ({
  sku,
  name: sku,
  category: 'c',
  price: '1.00',
  currency: 'EUR',
  ...extra,
});
const errorOf = (response: { statusCode: number; json: () => { error: { code: string; field?: string } } }) => [
  response.statusCode,
  response.json().error.code,
  response.json().error.field,
];

async function createCustomer(email: string): Promise<string> {
  const response = await h.call('writerA', {
    method: 'POST',
    url: '/v1/customers',
    payload: { email, name: 'Ada', segment: 'consumer' },
  });
  expect(response.statusCode).toBe(201);
  return response.json().customerId;
}

describe('regression: a NUL character in a string answered 500 (Postgres refuses 0x00)', () => {
  it('answers 400 INVALID_CHARACTER naming the field, for product and customer names and query values', async () => {
    const inProduct = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      payload: product('NUL-1', { name: 'bad\u0000name' }),
    });
    expect(errorOf(inProduct)).toEqual([400, 'INVALID_CHARACTER', 'body/name']);
    const inCustomer = await h.call('writerA', {
      method: 'POST',
      url: '/v1/customers',
      payload: { email: `nul-${randomUUID()}@example.com`, name: 'A\u0000da', segment: 'consumer' },
    });
    expect(errorOf(inCustomer)).toEqual([400, 'INVALID_CHARACTER', 'body/name']);
    const inQuery = await h.call('readerA', { method: 'GET', url: '/v1/products?category=a%00b' });
    expect(errorOf(inQuery)).toEqual([400, 'INVALID_CHARACTER', 'querystring/category']);
    expect(await outboxRows(h.owner, h.tenantA)).toEqual([]);
  });
});

describe('regression: a lone surrogate was a 500 in paymentReference and silently U+FFFD in a product name', () => {
  it('refuses unpaired surrogates at the edge and still accepts paired ones (emoji)', async () => {
    const lone = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'content-type': 'application/json' },
      payload: '{"sku":"SUR-1","name":"ref\\udfff","category":"c","price":"1.00","currency":"EUR"}',
    });
    expect(errorOf(lone)).toEqual([400, 'INVALID_CHARACTER', 'body/name']);
    const pay = await h.call('writerA', {
      method: 'POST',
      url: `/v1/orders/${randomUUID()}/pay`,
      headers: { 'content-type': 'application/json' },
      payload: '{"paymentReference":"ref\\ud800"}',
    });
    expect(errorOf(pay)).toEqual([400, 'INVALID_CHARACTER', 'body/paymentReference']);
    const emoji = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      payload: product('SUR-2', { name: 'rocket 🚀' }),
    });
    expect(emoji.statusCode).toBe(201);
    expect(emoji.json().name).toBe('rocket 🚀');
  });
});

describe('regression: an order total over NUMERIC(14,2) answered 500', () => {
  it('answers 422 ORDER_TOTAL_TOO_LARGE and writes nothing; the largest total that fits is accepted', async () => {
    const expensive = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      payload: product('MAX-PRICE', { price: '9999999999.99' }),
    });
    expect(expensive.statusCode).toBe(201);
    const customerId = await createCustomer(`max-${randomUUID()}@example.com`);
    const before = (await outboxRows(h.owner, h.tenantA)).length;
    const tooLarge = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { customerId, currency: 'EUR', lines: [{ productId: expensive.json().productId, quantity: 10000 }] },
    });
    expect(errorOf(tooLarge)).toEqual([422, 'ORDER_TOTAL_TOO_LARGE', 'body/lines']);
    expect(tooLarge.json().error.details).toEqual({ total: '99999999999900.00', maxTotal: '999999999999.99' });
    expect((await outboxRows(h.owner, h.tenantA)).length).toBe(before);
    const fits = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { customerId, currency: 'EUR', lines: [{ productId: expensive.json().productId, quantity: 99 }] },
    });
    expect([fits.statusCode, fits.json().totalAmount]).toEqual([201, '989999999999.01']);
  });
});

describe('regression: an oversized body was 400 INVALID_BODY and text/plain 400 VALIDATION_FAILED', () => {
  it('answers 413 BODY_TOO_LARGE and 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const big = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      payload: product('BIG', { name: 'x'.repeat(BODY_LIMIT_BYTES) }),
    });
    expect(errorOf(big)).toEqual([413, 'BODY_TOO_LARGE', undefined]);
    const plain = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify(product('PLAIN')),
    });
    expect(errorOf(plain)).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE', undefined]);
    const empty = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expect(errorOf(empty)).toEqual([400, 'INVALID_BODY', undefined]);
  });
});

describe('regression: the same Idempotency-Key with the same fields in another order got 422', () => {
  it('replays the first response when the body differs only in key order, and still refuses a different body', async () => {
    const key = `k-${randomUUID()}`;
    const first = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      payload: '{"sku":"IDEM-1","name":"n","category":"c","price":"2.00","currency":"EUR"}',
    });
    expect(first.statusCode).toBe(201);
    const reordered = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      payload: '{"currency":"EUR","price":"2.00","category":"c","name":"n","sku":"IDEM-1"}',
    });
    expect([reordered.statusCode, reordered.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(reordered.json().productId).toBe(first.json().productId);
    const different = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'idempotency-key': key },
      payload: product('IDEM-1', { price: '3.00' }),
    });
    expect(errorOf(different)).toEqual([422, 'IDEMPOTENCY_KEY_REUSED', 'header/idempotency-key']);
  });
});

describe('regression: a reader sending an invalid body to a write route got 400 before 403', () => {
  it('checks the role before the body', async () => {
    const response = await h.call('readerA', { method: 'POST', url: '/v1/products', payload: { nonsense: true } });
    expect(errorOf(response)).toEqual([403, 'FORBIDDEN', undefined]);
    const huge = await h.call('readerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { customerId: 'x', lines: 'x'.repeat(BODY_LIMIT_BYTES) },
    });
    expect(huge.statusCode).toBe(403);
  });
});

describe('regression: token claims were not validated (no roles: 500; roles as a string passed by substring)', () => {
  const bearer = (claims: object) => ({ authorization: `Bearer ${h.app.jwt.sign(claims as never)}` });
  it('answers 401 TOKEN_INVALID for every bad shape of a correctly signed token', async () => {
    const bad: [string, object][] = [
      ['no roles', { sub: 'u', tenant: h.tenantA }],
      ['roles as a string', { sub: 'u', tenant: h.tenantA, roles: 'readerwriteradmin' }],
      ['an unknown role', { sub: 'u', tenant: h.tenantA, roles: ['superuser'] }],
      ['no tenant', { sub: 'u', roles: ['admin'] }],
      ['an empty tenant', { sub: 'u', tenant: '', roles: ['admin'] }],
      ['a tenant over 64 characters', { sub: 'u', tenant: 't'.repeat(71), roles: ['admin'] }],
      ['no subject', { tenant: h.tenantA, roles: ['admin'] }],
    ];
    for (const [what, claims] of bad) {
      for (const request of [
        { method: 'GET' as const, url: '/v1/products' },
        { method: 'POST' as const, url: '/v1/products', payload: product(`TOK-${what.length}`) },
      ]) {
        const response = await h.call(null, { ...request, headers: bearer(claims) });
        expect(errorOf(response), `${what}: ${request.method}`).toEqual([401, 'TOKEN_INVALID', undefined]);
      }
    }
    const good = await h.call(null, {
      method: 'GET',
      url: '/v1/products',
      headers: bearer({ sub: 'u', tenant: h.tenantA, roles: ['reader'] }),
    });
    expect(good.statusCode).toBe(200);
  });
});

describe('regression: `bv services user add` printed nothing for a short password and took a 71-character tenant', () => {
  it('refuses with a message saying why and exit code 2, and saves nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bv-user-add-'));
    const authFile = join(home, 'services-auth.json');
    const run = (args: string[], password: string) =>
      exec('node', ['cli/bin/bv.js', 'services', 'user', 'add', ...args], {
        env: { ...process.env, BV_SERVICES_AUTH_FILE: authFile, BV_NEW_USER_PASSWORD: password },
      }).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    try {
      const short = await run(['ada', '--tenant', 'acme', '--roles', 'writer'], 'short');
      expect(short.code).toBe(2);
      expect(short.stderr).toMatch(/at least 12 characters is needed \(it is 5/);
      const longTenant = await run(['ada', '--tenant', 't'.repeat(71), '--roles', 'writer'], 'long enough password');
      expect(longTenant.code).toBe(2);
      expect(longTenant.stderr).toMatch(/tenant must be 1-64 characters .*it is 71/);
      expect(() => readFileSync(authFile, 'utf8')).toThrow();
      const ok = await run(['ada', '--tenant', 't'.repeat(64), '--roles', 'writer'], 'long enough password');
      expect(ok.code).toBe(0);
      expect(JSON.parse(readFileSync(authFile, 'utf8')).users).toMatchObject([
        { username: 'ada', tenantId: 't'.repeat(64) },
      ]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
