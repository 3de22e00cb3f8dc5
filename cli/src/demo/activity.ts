import type { ApiCall } from './api-client.js';
import { type LoadPlan, planTotals } from './load.js';

/** What the run did through the API, to check every layer against. */
export interface Activity {
  /** The run's own currency: its order amounts are one key of the order-amount anomaly detector. */
  currency: string;
  productIds: string[];
  customerIds: string[];
  customers: number;
  orders: { index: number; orderId: string; lines: { productId: string; quantity: number }[]; spike: boolean }[];
  paid: number;
  shipped: number;
  cancelled: number;
  priceChanges: number;
  segmentChanges: number;
}

export function emptyActivity(currency: string): Activity {
  return {
    currency,
    productIds: [],
    customerIds: [],
    customers: 0,
    orders: [],
    paid: 0,
    shipped: 0,
    cancelled: 0,
    priceChanges: 0,
    segmentChanges: 0,
  };
}

/** Events the API calls of the run put in the outbox. */
export const apiEventsOf = (a: Activity) =>
  a.productIds.length +
  a.priceChanges +
  a.customers +
  a.segmentChanges +
  a.orders.length +
  a.paid +
  a.shipped +
  a.cancelled;

/** Orders created at once (the API's concurrency; one day's orders go in batches of this size). */
const BATCH = 8;

/**
 * Plays the plan through the HTTP API, day by day: that day's price changes and segment changes, its orders (8 at a
 * time), then their payments, shipments and cancellations. Records it all in `activity`, to check every layer against.
 */
export async function runLoad(
  call: ApiCall,
  plan: LoadPlan,
  activity: Activity,
  options: { runId: string; onProgress?: (done: number, total: number) => void },
): Promise<void> {
  const tag = options.runId.slice(-8);
  const total = planTotals(plan).apiEvents;
  let done = 0;
  const sent = () => options.onProgress?.(++done, total);
  const productVersion: number[] = [];
  const customerVersion: number[] = [];
  for (const [i, planned] of plan.products.entries()) {
    const product = await call('POST', '/v1/products', {
      sku: `DEMO-${tag}-${i}`,
      name: planned.name,
      category: planned.category,
      price: planned.price,
      currency: activity.currency,
    });
    activity.productIds.push(String(product.productId));
    productVersion.push(Number(product.version ?? 1));
    sent();
  }
  for (const [i, planned] of plan.customers.entries()) {
    const customer = await call('POST', '/v1/customers', {
      email: `demo${i}.${tag}@example.com`,
      name: `Demo Customer ${i}`,
      segment: planned.segment,
    });
    activity.customerIds.push(String(customer.customerId));
    customerVersion.push(Number(customer.version ?? 1));
    activity.customers++;
    sent();
  }
  const orderIds: string[] = [];
  const create = async (index: number) => {
    const planned = plan.orders[index];
    if (!planned) return;
    const lines = planned.lines.map((l) => ({
      productId: activity.productIds[l.product] as string,
      quantity: l.quantity,
    }));
    const order = await call('POST', '/v1/orders', {
      customerId: activity.customerIds[planned.customer],
      currency: activity.currency,
      lines,
    });
    orderIds[index] = String(order.orderId);
    activity.orders.push({ index, orderId: String(order.orderId), lines, spike: planned.spike });
    sent();
  };
  for (const day of plan.days) {
    for (const change of day.priceChanges) {
      const version = productVersion[change.product] as number;
      const product = await call(
        'PUT',
        `/v1/products/${activity.productIds[change.product]}/price`,
        { price: change.price },
        { 'if-match': `"${version}"` },
      );
      productVersion[change.product] = Number(product.version ?? version + 1);
      activity.priceChanges++;
      sent();
    }
    for (const change of day.segmentChanges) {
      const version = customerVersion[change.customer] as number;
      const customer = await call(
        'PATCH',
        `/v1/customers/${activity.customerIds[change.customer]}`,
        { segment: change.segment },
        { 'if-match': `"${version}"` },
      );
      customerVersion[change.customer] = Number(customer.version ?? version + 1);
      activity.segmentChanges++;
      sent();
    }
    // Batches keep the plan's order: the order-amount detector sees the warm-up orders before the first spike.
    for (let i = 0; i < day.orders.length; i += BATCH) await Promise.all(day.orders.slice(i, i + BATCH).map(create));
    for (const index of day.orders) {
      const planned = plan.orders[index];
      const orderId = orderIds[index];
      if (!planned || !orderId) continue;
      if (planned.fate === 'cancelled') {
        await call('POST', `/v1/orders/${orderId}/cancel`, { reason: 'changed my mind' });
        activity.cancelled++;
        sent();
        continue;
      }
      if (planned.fate === 'open') continue;
      await call('POST', `/v1/orders/${orderId}/pay`, { paymentReference: `PAY-${tag}-${index}` });
      activity.paid++;
      sent();
      if (planned.fate === 'shipped') {
        await call('POST', `/v1/orders/${orderId}/ship`, { carrier: 'DHL', trackingNumber: `TRK${tag}${index}` });
        activity.shipped++;
        sent();
      } else if (planned.fate === 'paid-then-cancelled') {
        await call('POST', `/v1/orders/${orderId}/cancel`, { reason: 'found it cheaper' });
        activity.cancelled++;
        sent();
      }
    }
  }
}
