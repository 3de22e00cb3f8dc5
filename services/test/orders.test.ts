import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, outboxRows, startServices } from './harness.js';

let h: Harness;
let customerId: string;
let bookId: string;
let penId: string;

beforeAll(async () => {
  h = await startServices();
  customerId = (
    await h.call('writerA', {
      method: 'POST',
      url: '/v1/customers',
      payload: { email: 'ada@example.com', name: 'Ada', segment: 'consumer' },
    })
  ).json().customerId;
  const product = async (sku: string, price: string) =>
    (
      await h.call('writerA', {
        method: 'POST',
        url: '/v1/products',
        payload: { sku, name: sku, category: 'c', price, currency: 'EUR' },
      })
    ).json().productId as string;
  bookId = await product('BOOK', '12.50');
  penId = await product('PEN', '0.99');
});
afterAll(() => h.close());

const orderBody = () => ({
  customerId,
  currency: 'EUR',
  lines: [
    { productId: bookId, quantity: 2 },
    { productId: penId, quantity: 3 },
  ],
});

describe('orders', () => {
  it('prices lines from the catalog and totals them exactly', async () => {
    const response = await h.call('writerA', { method: 'POST', url: '/v1/orders', payload: orderBody() });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      status: 'created',
      totalAmount: '27.97',
      version: 1,
      lines: [
        { lineNo: 1, productId: bookId, quantity: 2, unitPrice: '12.50' },
        { lineNo: 2, productId: penId, quantity: 3, unitPrice: '0.99' },
      ],
    });
  });

  it('moves through created -> paid -> shipped and refuses illegal transitions with 409', async () => {
    const order = (await h.call('writerA', { method: 'POST', url: '/v1/orders', payload: orderBody() })).json();
    const url = `/v1/orders/${order.orderId}`;
    const ship = () =>
      h.call('writerA', { method: 'POST', url: `${url}/ship`, payload: { carrier: 'DHL', trackingNumber: 'T1' } });

    const early = await ship();
    expect(early.statusCode).toBe(409);
    expect(early.json().error).toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      details: { status: 'created', command: 'ship' },
    });

    const paid = await h.call('writerA', { method: 'POST', url: `${url}/pay`, payload: { paymentReference: 'PAY-1' } });
    expect(paid.json()).toMatchObject({ status: 'paid', paymentReference: 'PAY-1', version: 2 });
    expect((await ship()).json()).toMatchObject({ status: 'shipped', carrier: 'DHL', version: 3 });
    expect((await ship()).statusCode).toBe(409);
    const cancel = await h.call('writerA', { method: 'POST', url: `${url}/cancel`, payload: { reason: 'late' } });
    expect(cancel.statusCode).toBe(409);

    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === order.orderId);
    expect(events.map((e) => e.event_type)).toEqual([
      'ecommerce.order.created.v1',
      'ecommerce.order.paid.v1',
      'ecommerce.order.shipped.v1',
    ]);
  });

  it('cancels a paid order, recording the previous status', async () => {
    const order = (await h.call('writerA', { method: 'POST', url: '/v1/orders', payload: orderBody() })).json();
    await h.call('writerA', {
      method: 'POST',
      url: `/v1/orders/${order.orderId}/pay`,
      payload: { paymentReference: 'P' },
    });
    const cancelled = await h.call('writerA', {
      method: 'POST',
      url: `/v1/orders/${order.orderId}/cancel`,
      payload: { reason: 'changed mind' },
    });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', cancelReason: 'changed mind' });
    const [event] = (await outboxRows(h.owner, h.tenantA)).filter(
      (e) => e.event_type === 'ecommerce.order.cancelled.v1',
    );
    expect(event?.payload.payload).toMatchObject({ previousStatus: 'paid', reason: 'changed mind' });
  });

  it('replays the first response for a retried Idempotency-Key and writes no second event', async () => {
    const key = randomUUID();
    const send = (body: object) =>
      h.call('writerA', { method: 'POST', url: '/v1/orders', headers: { 'idempotency-key': key }, payload: body });
    const first = await send(orderBody());
    const retries = await Promise.all([send(orderBody()), send(orderBody())]);
    for (const retry of retries) {
      expect(retry.statusCode).toBe(201);
      expect(retry.json()).toEqual(first.json());
      expect(retry.headers['idempotent-replayed']).toBe('true');
    }
    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === first.json().orderId);
    expect(events).toHaveLength(1);

    const reused = await send({ ...orderBody(), lines: [{ productId: penId, quantity: 1 }] });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'header/idempotency-key' });
  });

  it('refuses unknown customers and products with 422 naming the field', async () => {
    const unknownCustomer = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { ...orderBody(), customerId: randomUUID() },
    });
    expect(unknownCustomer.statusCode).toBe(422);
    expect(unknownCustomer.json().error).toMatchObject({ code: 'REFERENCE_NOT_FOUND', field: 'body/customerId' });
    const unknownProduct = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: {
        ...orderBody(),
        lines: [
          { productId: bookId, quantity: 1 },
          { productId: randomUUID(), quantity: 1 },
        ],
      },
    });
    expect(unknownProduct.json().error).toMatchObject({ code: 'REFERENCE_NOT_FOUND', field: 'body/lines/1/productId' });
    const usd = await h.call('writerA', {
      method: 'POST',
      url: '/v1/orders',
      payload: { ...orderBody(), currency: 'USD' },
    });
    expect(usd.json().error).toMatchObject({ code: 'CURRENCY_MISMATCH', field: 'body/lines/0/productId' });
  });

  it('lands orders in the monthly partition of their creation time', async () => {
    const order = (await h.call('writerA', { method: 'POST', url: '/v1/orders', payload: orderBody() })).json();
    const { rows } = await h.owner.query<{ partition: string }>(
      'SELECT tableoid::regclass::text AS partition FROM orders WHERE order_id = $1',
      [order.orderId],
    );
    const month = order.createdAt.slice(0, 7).replace('-', '');
    expect(rows[0]?.partition).toBe(`orders_p${month}`);
    const outbox = await h.owner.query<{ partition: string }>(
      'SELECT tableoid::regclass::text AS partition FROM outbox WHERE aggregate_id = $1',
      [order.orderId],
    );
    expect(outbox.rows[0]?.partition).toBe(`outbox_p${month}`);
  });
});
