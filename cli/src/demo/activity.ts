import type { ApiCall } from './api-client.js';

/** What the run did through the API, to check every layer against. */
export interface Activity {
  productIds: string[];
  customers: number;
  orders: { orderId: string; lines: { productId: string; quantity: number }[] }[];
  paid: number;
  shipped: number;
  cancelled: number;
  priceChanges: number;
}

/**
 * What the demo asks the API to do: 5 products, 10 customers, `orders` orders of 1-3 lines (8 at a time), then pays,
 * ships and cancels some of them and changes one price. Records it all in `activity`, to check every layer against.
 */
export async function placeOrders(call: ApiCall, activity: Activity, runId: string, orders: number): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const product = await call('POST', '/v1/products', {
      sku: `DEMO-${runId.slice(-8)}-${i}`,
      name: ['Espresso beans', 'Grinder', 'Kettle', 'Filter papers', 'Mug'][i],
      category: 'coffee',
      price: ['14.50', '89.00', '39.90', '4.20', '12.00'][i],
      currency: 'EUR',
    });
    activity.productIds.push(String(product.productId));
  }
  const customerIds: string[] = [];
  for (let i = 0; i < 10; i++) {
    const customer = await call('POST', '/v1/customers', {
      email: `demo${i}.${runId.slice(-8)}@example.com`,
      name: `Demo Customer ${i}`,
      segment: i % 3 === 0 ? 'small_business' : 'consumer',
    });
    customerIds.push(String(customer.customerId));
    activity.customers++;
  }
  const create = async (i: number) => {
    const lines = Array.from({ length: 1 + (i % 3) }, (_, k) => ({
      productId: activity.productIds[(i + k * 2) % 5] as string,
      quantity: 1 + ((i + k) % 4),
    }));
    const order = await call('POST', '/v1/orders', { customerId: customerIds[i % 10], currency: 'EUR', lines });
    activity.orders.push({ orderId: String(order.orderId), lines });
  };
  for (let i = 0; i < orders; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, orders - i) }, (_, k) => create(i + k)));
  }
  for (const [i, order] of activity.orders.entries()) {
    if (i % 10 === 9) {
      await call('POST', `/v1/orders/${order.orderId}/cancel`, { reason: 'changed my mind' });
      activity.cancelled++;
    } else if (i % 5 < 3) {
      await call('POST', `/v1/orders/${order.orderId}/pay`, { paymentReference: `PAY-${i}` });
      activity.paid++;
      if (i % 2 === 0) {
        await call('POST', `/v1/orders/${order.orderId}/ship`, { carrier: 'DHL', trackingNumber: `TRK${i}` });
        activity.shipped++;
      }
    }
  }
  await call('PUT', `/v1/products/${activity.productIds[0]}/price`, { price: '15.90' }, { 'if-match': '"1"' });
  activity.priceChanges++;
}
