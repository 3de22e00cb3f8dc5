import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EVENT_TYPES, EventSchemaRegistry, postgresUrl } from '@bitvelocity/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERRORS } from '../src/http/errors.js';
import { config, type Harness, outboxRows, startServices } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startServices();
});
afterAll(() => h.close());

const product = (sku: string) => ({ sku, name: sku, category: 'c', price: '1.00', currency: 'EUR' });

describe('authentication and authorisation', () => {
  it('answers 401 with a code for a missing, malformed or forged token and wrong credentials', async () => {
    const missing = await h.call(null, { method: 'GET', url: '/v1/products' });
    expect([missing.statusCode, missing.json().error.code]).toEqual([401, 'TOKEN_MISSING']);
    const malformed = await h.call(null, {
      method: 'GET',
      url: '/v1/products',
      headers: { authorization: 'Bearer nope' },
    });
    expect([malformed.statusCode, malformed.json().error.code]).toEqual([401, 'TOKEN_INVALID']);
    const [header, payload] = (await h.token('readerA')).split('.');
    const forged = await h.call(null, {
      method: 'GET',
      url: '/v1/products',
      headers: { authorization: `Bearer ${header}.${payload}.c2lnbmF0dXJl` },
    });
    expect([forged.statusCode, forged.json().error.code]).toEqual([401, 'TOKEN_INVALID']);
    const wrong = await h.call(null, {
      method: 'POST',
      url: '/auth/token',
      payload: { username: `reader@${h.tenantA}`, password: 'guess' },
    });
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([401, 'INVALID_CREDENTIALS']);
  });

  it('answers 403 when the role is missing', async () => {
    const response = await h.call('readerA', { method: 'POST', url: '/v1/products', payload: product('R-1') });
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toMatchObject({ code: 'FORBIDDEN', details: { required: 'writer' } });
  });
});

describe('input validation', () => {
  it('answers 400 VALIDATION_FAILED naming the failing field', async () => {
    const cases: [object, string][] = [
      [{ ...product('V-1'), price: undefined }, 'body/price'],
      [{ ...product('V-2'), price: '1.999' }, 'body/price'],
      [{ ...product('V-3'), colour: 'red' }, 'body/colour'],
      [{ ...product('V-4'), currency: 'euro' }, 'body/currency'],
    ];
    for (const [payload, field] of cases) {
      const response = await h.call('writerA', { method: 'POST', url: '/v1/products', payload });
      expect(response.statusCode, field).toBe(400);
      expect(response.json().error, field).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    const badLine = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { customerId: randomUUID(), currency: 'EUR', lines: [{ productId: randomUUID(), quantity: 0 }] },
    });
    expect(badLine.json().error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'body/lines/0/quantity' });
    const badId = await h.call('readerA', { method: 'GET', url: '/v1/orders/not-a-uuid' });
    expect(badId.json().error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'params/orderId' });
    const notJson = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { 'content-type': 'application/json' },
      payload: '{"sku":',
    });
    expect([notJson.statusCode, notJson.json().error.code]).toEqual([400, 'INVALID_BODY']);
  });
});

describe('tenant isolation', () => {
  it('never shows one tenant’s rows to another, through the API or directly in SQL', async () => {
    const created = (
      await h.call('writerA', { method: 'POST', url: '/v1/products', payload: product('ISO-1') })
    ).json();
    const fromB = await h.call('writerB', { method: 'GET', url: `/v1/products/${created.productId}` });
    expect(fromB.statusCode).toBe(404);
    expect((await h.call('writerB', { method: 'GET', url: '/v1/products' })).json().items).toEqual([]);

    const app = new pg.Client(postgresUrl(config.postgres, { as: 'app' }));
    await app.connect();
    try {
      const count = async (tenant: string | null) => {
        await app.query('BEGIN');
        if (tenant) await app.query("SELECT set_config('bv.tenant_id', $1, true)", [tenant]);
        const { rows } = await app.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM products WHERE product_id = $1',
          [created.productId],
        );
        await app.query('ROLLBACK');
        return rows[0]?.n;
      };
      expect(await count(h.tenantA)).toBe(1);
      expect(await count(h.tenantB)).toBe(0);
      expect(await count(null)).toBe(0);
      await app.query('BEGIN');
      await app.query("SELECT set_config('bv.tenant_id', $1, true)", [h.tenantB]);
      await expect(
        app.query(
          `INSERT INTO products (tenant_id, product_id, sku, name, category, price, currency) VALUES ($1, $2, 'X', 'X', 'c', 1, 'EUR')`,
          [h.tenantA, randomUUID()],
        ),
      ).rejects.toThrow(/row-level security/);
      await app.query('ROLLBACK');
    } finally {
      await app.end();
    }
  });
});

describe('the transactional outbox', () => {
  it('keeps no domain row when the outbox write fails, and no event when the commit fails', async () => {
    await h.owner.query(`
      CREATE OR REPLACE FUNCTION bv_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure'; END $$;
      DROP TRIGGER IF EXISTS bv_test_fail_outbox ON outbox;
      CREATE TRIGGER bv_test_fail_outbox BEFORE INSERT ON outbox FOR EACH ROW
        WHEN (NEW.payload->'payload'->>'sku' = 'FAIL-OUTBOX') EXECUTE FUNCTION bv_test_fail();
      DROP TRIGGER IF EXISTS bv_test_fail_commit ON products;
      CREATE CONSTRAINT TRIGGER bv_test_fail_commit AFTER INSERT ON products DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.sku = 'FAIL-AT-COMMIT') EXECUTE FUNCTION bv_test_fail();`);
    try {
      for (const sku of ['FAIL-OUTBOX', 'FAIL-AT-COMMIT']) {
        const response = await h.call('writerA', { method: 'POST', url: '/v1/products', payload: product(sku) });
        expect(response.statusCode, sku).toBe(500);
        expect(response.json().error.code).toBe('INTERNAL');
        const products = await h.owner.query('SELECT 1 FROM products WHERE tenant_id = $1 AND sku = $2', [
          h.tenantA,
          sku,
        ]);
        expect(products.rowCount, sku).toBe(0);
        const events = (await outboxRows(h.owner, h.tenantA)).filter(
          (e) => (e.payload.payload as { sku?: string }).sku === sku,
        );
        expect(events, sku).toEqual([]);
      }
    } finally {
      await h.owner.query(
        'DROP TRIGGER IF EXISTS bv_test_fail_outbox ON outbox; DROP TRIGGER IF EXISTS bv_test_fail_commit ON products',
      );
    }
  });

  it('emits only envelopes valid against their event type’s schema, covering every event type the services write', async () => {
    const customer = (
      await h.call('writerA', {
        method: 'POST',
        url: '/v1/customers',
        payload: { email: 'c@example.com', name: 'C', segment: 'enterprise' },
      })
    ).json();
    await h.call('writerA', {
      method: 'PATCH',
      url: `/v1/customers/${customer.customerId}`,
      headers: { 'if-match': '"1"' },
      payload: {
        segment: 'small_business',
        address: { line1: '1 Main St', city: 'Oslo', postalCode: '0150', country: 'NO' },
      },
    });
    const p = (await h.call('writerA', { method: 'POST', url: '/v1/products', payload: product('ALL-1') })).json();
    const purl = `/v1/products/${p.productId}`;
    await h.call('writerA', {
      method: 'PATCH',
      url: purl,
      headers: { 'if-match': '"1"' },
      payload: { name: 'All one' },
    });
    await h.call('writerA', {
      method: 'PUT',
      url: `${purl}/price`,
      headers: { 'if-match': '"2"' },
      payload: { price: '2.00' },
    });
    const order = async () =>
      (
        await h.call('writerA', {
          method: 'POST',
          url: '/v1/orders',
          payload: {
            customerId: customer.customerId,
            currency: 'EUR',
            lines: [{ productId: p.productId, quantity: 1 }],
          },
        })
      ).json().orderId as string;
    const shipped = await order();
    await h.call('writerA', { method: 'POST', url: `/v1/orders/${shipped}/pay`, payload: { paymentReference: 'R' } });
    await h.call('writerA', {
      method: 'POST',
      url: `/v1/orders/${shipped}/ship`,
      payload: { carrier: 'UPS', trackingNumber: '1Z' },
    });
    await h.call('writerA', { method: 'POST', url: `/v1/orders/${await order()}/cancel`, payload: { reason: 'test' } });
    await h.call('writerA', { method: 'DELETE', url: purl, headers: { 'if-match': '"3"' } });
    const device = { deviceId: 'all-1', name: 'All one', kind: 'meter', site: null, firmware: '1' };
    await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: device });
    await h.call('writerA', {
      method: 'PATCH',
      url: '/v1/devices/all-1',
      headers: { 'if-match': '"1"' },
      payload: { site: 'roof' },
    });

    const registry = EventSchemaRegistry.load();
    const events = await outboxRows(h.owner, h.tenantA);
    for (const event of events) expect(registry.validate(event.payload), event.event_type).toEqual({ valid: true });
    // Every event type but the device reading, which devices send (the telemetry bridge), not the services.
    expect(new Set(events.map((e) => e.event_type))).toEqual(
      new Set(Object.values(EVENT_TYPES).filter((t) => t !== EVENT_TYPES.deviceReading)),
    );
  });
});

describe('operations', () => {
  it('serves health, readiness, metrics and the OpenAPI document without a token', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ method: 'GET', url: '/ready' })).json()).toEqual({ status: 'ready' });
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).body).toContain(
      'bv_http_request_duration_seconds_bucket',
    );
    const openapi = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/auth/token',
        '/v1/products',
        '/v1/products/{productId}',
        '/v1/orders/{orderId}/pay',
        '/v1/customers/{customerId}',
      ]),
    );
  });

  it('documents every error code it can answer with, and no other (docs/services/errors.md)', () => {
    const doc = readFileSync(new URL('../../docs/services/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(documented)).toEqual(API_ERRORS);
  });
});
