import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, outboxRows, startServices } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startServices();
});
afterAll(() => h.close());

const newProduct = (sku: string, price = '19.90') => ({
  sku,
  name: `Product ${sku}`,
  category: 'books',
  price,
  currency: 'EUR',
});

describe('products', () => {
  it('creates a product and its outbox event in one transaction, carrying the caller’s trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await h.call('writerA', {
      method: 'POST',
      url: '/v1/products',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      payload: newProduct('SKU-1'),
    });
    expect(response.statusCode).toBe(201);
    const product = response.json();
    expect(product).toMatchObject({ sku: 'SKU-1', price: '19.90', currency: 'EUR', version: 1 });
    expect(response.headers.etag).toBe('"1"');
    expect(response.headers.location).toBe(`/v1/products/${product.productId}`);
    expect(response.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === product.productId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      aggregate_type: 'ecommerce.product',
      event_type: 'ecommerce.product.created.v1',
      trace_id: traceId,
      traceparent: response.headers.traceparent,
      partition_key: product.productId,
    });
    expect(events[0]?.payload).toMatchObject({
      eventType: 'ecommerce.product.created.v1',
      tenantId: h.tenantA,
      traceId,
      payload: { productId: product.productId, sku: 'SKU-1', price: '19.90', version: 1 },
    });
  });

  it('serves reads from the Redis cache and updates it when the price changes', async () => {
    const created = (
      await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-CACHE', '5.00') })
    ).json();
    const url = `/v1/products/${created.productId}`;
    const hitsBefore = await cacheCount('hit');
    for (let i = 0; i < 3; i++) expect((await h.call('readerA', { method: 'GET', url })).json().price).toBe('5.00');
    expect((await cacheCount('hit')) - hitsBefore).toBe(3);

    const changed = await h.call('writerA', {
      method: 'PUT',
      url: `${url}/price`,
      headers: { 'if-match': '"1"' },
      payload: { price: '6.5' },
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ price: '6.50', version: 2 });
    const read = await h.call('readerA', { method: 'GET', url });
    expect(read.json()).toMatchObject({ price: '6.50', version: 2 });
    expect(read.headers.etag).toBe('"2"');

    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === created.productId);
    expect(events.map((e) => e.event_type)).toEqual([
      'ecommerce.product.created.v1',
      'ecommerce.product.price_changed.v1',
    ]);
    expect(events[1]?.payload.payload).toMatchObject({ oldPrice: '5.00', newPrice: '6.50', version: 2 });

    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/bv_product_cache_hit_ratio \d/);
  });

  it('requires If-Match on updates and refuses a stale version with 412', async () => {
    const created = (
      await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-ETAG') })
    ).json();
    const url = `/v1/products/${created.productId}`;
    const missing = await h.call('writerA', { method: 'PATCH', url, payload: { name: 'x' } });
    expect(missing.statusCode).toBe(428);
    expect(missing.json().error).toMatchObject({ code: 'PRECONDITION_REQUIRED', field: 'header/if-match' });

    expect(
      (await h.call('writerA', { method: 'PATCH', url, headers: { 'if-match': '"1"' }, payload: { name: 'Renamed' } }))
        .statusCode,
    ).toBe(200);
    const stale = await h.call('writerA', {
      method: 'PATCH',
      url,
      headers: { 'if-match': '"1"' },
      payload: { name: 'Again' },
    });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error).toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 2 } });
  });

  it('lets exactly one of many concurrent updates of the same version win', async () => {
    const created = (
      await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-RACE') })
    ).json();
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        h.call('writerA', {
          method: 'PUT',
          url: `/v1/products/${created.productId}/price`,
          headers: { 'if-match': '"1"' },
          payload: { price: `${10 + i}.00` },
        }),
      ),
    );
    const statuses = attempts.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 412, 412, 412, 412, 412, 412, 412]);
    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === created.productId);
    expect(events.map((e) => e.event_type)).toEqual([
      'ecommerce.product.created.v1',
      'ecommerce.product.price_changed.v1',
    ]);
  });

  it('answers a duplicate SKU with 409 and writes no event', async () => {
    await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-DUP') });
    const before = (await outboxRows(h.owner, h.tenantA)).length;
    const duplicate = await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-DUP') });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().error).toMatchObject({ code: 'DUPLICATE', field: 'body/sku' });
    expect((await outboxRows(h.owner, h.tenantA)).length).toBe(before);
  });

  it('deletes a product: 204, then 404, and a deleted event', async () => {
    const created = (
      await h.call('writerA', { method: 'POST', url: '/v1/products', payload: newProduct('SKU-DEL') })
    ).json();
    const url = `/v1/products/${created.productId}`;
    await h.call('readerA', { method: 'GET', url }); // cached
    expect((await h.call('writerA', { method: 'DELETE', url, headers: { 'if-match': '"1"' } })).statusCode).toBe(204);
    const gone = await h.call('readerA', { method: 'GET', url });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('NOT_FOUND');
  });
});

async function cacheCount(result: 'hit' | 'miss'): Promise<number> {
  const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
  const match = new RegExp(`bv_product_cache_requests_total\\{result="${result}"\\} (\\d+)`).exec(metrics);
  return Number(match?.[1] ?? 0);
}
