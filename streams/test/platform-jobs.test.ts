import { ANALYTICS_TOPICS, createEnvelope, toCents } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import type { OutputRecord, RawRecord } from '../src/api/record.js';
import customerSessions from '../src/jobs/customer-sessions.js';
import orderStreams from '../src/jobs/order-streams.js';
import productMetrics from '../src/jobs/product-metrics.js';
import revenue from '../src/jobs/revenue.js';
import { Task } from '../src/runtime/task.js';
import { runJobInProcess } from '../src/testing.js';

const PRODUCT_A = '0190a0a0-0000-7000-8000-00000000000a';
const PRODUCT_B = '0190a0a0-0000-7000-8000-00000000000b';
const CUSTOMER = '0190a0a0-0000-7000-8000-0000000000c1';
const base = Date.parse('2026-11-25T10:00:00.000Z');

function orderCreated(i: number, minute: number, lines: [string, number, string][]) {
  const orderId = `0190a0a0-0000-7000-8000-${String(100000 + i).padStart(12, '0')}`;
  const total = lines.reduce((sum, [, q, price]) => sum + q * Number(toCents(price)), 0);
  return createEnvelope({
    eventType: 'ecommerce.order.created.v1',
    producer: 'test',
    tenantId: 't1',
    partitionKey: orderId,
    traceId: 'a'.repeat(32),
    occurredAt: new Date(base + minute * 60_000 + i * 10),
    payload: {
      orderId,
      customerId: CUSTOMER,
      status: 'created',
      currency: 'EUR',
      totalAmount: (total / 100).toFixed(2),
      lines: lines.map(([productId, quantity, unitPrice], n) => ({ lineNo: n + 1, productId, quantity, unitPrice })),
      createdAt: new Date(base + minute * 60_000).toISOString(),
    },
  });
}

const toRaw = (topic: string, values: { key?: string | undefined; value: string | Buffer }[]): RawRecord[] =>
  values.map((v, offset) => ({
    topic,
    partition: 0,
    offset: BigInt(offset),
    timestamp: 0,
    key: v.key === undefined ? undefined : Buffer.from(v.key),
    value: Buffer.isBuffer(v.value) ? v.value : Buffer.from(v.value),
    headers: new Map(),
  }));

function runJob(job: typeof orderStreams, _topic: string, input: RawRecord[]): OutputRecord[] {
  // A fixed clock a day after the events (event times beyond now + 1 h would be dead-lettered). Through the job's
  // repartition topics (order-streams dedupes by eventId across the topic).
  return runJobInProcess(job, input, { now: () => base + 86_400_000 });
}

describe('the platform jobs', () => {
  const envelopes = [
    orderCreated(1, 0, [
      [PRODUCT_A, 2, '10.00'],
      [PRODUCT_B, 1, '5.50'],
    ]),
    orderCreated(2, 0, [[PRODUCT_A, 1, '10.00']]),
    orderCreated(3, 1, [[PRODUCT_B, 3, '5.50']]),
    orderCreated(4, 3, [[PRODUCT_A, 1, '10.00']]), // moves the watermark past minutes 0 and 1
  ];
  const orderInput = toRaw(
    'ecommerce.order',
    [...envelopes, envelopes[1]].map((e) => ({ key: e?.partitionKey, value: JSON.stringify(e) })),
  );
  const stage1 = runJob(orderStreams, 'ecommerce.order', orderInput);
  const on = (topic: string) => stage1.filter((o) => o.topic === topic);

  it('order-streams re-keys deduplicated orders: lines by product, amounts by currency, activity by customer', () => {
    expect(on(ANALYTICS_TOPICS.orderLines).map((o) => o.key)).toEqual([
      PRODUCT_A,
      PRODUCT_B,
      PRODUCT_A,
      PRODUCT_B,
      PRODUCT_A,
    ]);
    expect(on(ANALYTICS_TOPICS.orderAmounts).map((o) => [o.key, JSON.parse(o.value.toString()).amountCents])).toEqual([
      ['EUR', 2550],
      ['EUR', 1000],
      ['EUR', 1650],
      ['EUR', 1000],
    ]);
    expect(on(ANALYTICS_TOPICS.customerActivity)).toHaveLength(4); // the duplicate is gone
  });

  it('product-metrics counts orders and units per product per minute', () => {
    const lines = toRaw(ANALYTICS_TOPICS.orderLines, on(ANALYTICS_TOPICS.orderLines));
    const results = runJob(productMetrics, ANALYTICS_TOPICS.orderLines, lines)
      .filter((o) => o.topic === ANALYTICS_TOPICS.ordersPerProductMinute)
      .map((o) => JSON.parse(o.value.toString()));
    expect(results).toEqual([
      {
        key: PRODUCT_A,
        windowStart: '2026-11-25T10:00:00.000Z',
        windowEnd: '2026-11-25T10:01:00.000Z',
        result: { orders: 2, units: 3 },
        revision: 0,
      },
      {
        key: PRODUCT_B,
        windowStart: '2026-11-25T10:00:00.000Z',
        windowEnd: '2026-11-25T10:01:00.000Z',
        result: { orders: 1, units: 1 },
        revision: 0,
      },
      {
        key: PRODUCT_B,
        windowStart: '2026-11-25T10:01:00.000Z',
        windowEnd: '2026-11-25T10:02:00.000Z',
        result: { orders: 1, units: 3 },
        revision: 0,
      },
    ]);
  });

  it('revenue sums exact cents per currency in 5-minute windows every minute', () => {
    const amounts = toRaw(ANALYTICS_TOPICS.orderAmounts, on(ANALYTICS_TOPICS.orderAmounts));
    const windows = runJob(revenue, ANALYTICS_TOPICS.orderAmounts, amounts)
      .filter((o) => o.topic === ANALYTICS_TOPICS.revenue5m)
      .map((o) => JSON.parse(o.value.toString()));
    // The watermark is 10:02:50 (10:03:00 - 10 s): the windows ending at 09:57 ... 10:02 have fired.
    expect(windows.map((w) => [w.windowEnd.slice(11, 16), w.result.orders, w.result.revenueCents])).toEqual([
      ['10:01', 2, 3550],
      ['10:02', 3, 5200],
    ]);
  });

  it('customer-sessions groups a customer’s activity into sessions', () => {
    const activity = toRaw(ANALYTICS_TOPICS.customerActivity, on(ANALYTICS_TOPICS.customerActivity));
    const task = new Task(customerSessions, ANALYTICS_TOPICS.customerActivity, 0, () => base + 86_400_000);
    for (const record of activity) task.process(record);
    // Still within 30 minutes of the last event: the session is open, nothing fired yet.
    expect(task.takeOutputs()).toEqual([]);
    expect(task.stateSize).toBeGreaterThan(0);
  });
});
