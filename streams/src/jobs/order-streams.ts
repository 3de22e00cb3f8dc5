import { ANALYTICS_TOPICS, EVENT_TYPES, toCents } from '@bitvelocity/core';
import { defineJob, envelopes, kafkaSink } from '../index.js';
import { type CustomerActivity, isOrderCreated, type OrderAmount, type OrderLine } from './model.js';

/**
 * Re-keys the order and customer streams for the keyed jobs downstream (what a repartition topic does): order lines by
 * product, order amounts by currency, customer activity by customer. Input is deduplicated here first.
 */
export default defineJob({
  name: 'order-streams',
  description: 'Order lines by product, order amounts by currency, customer activity by customer',
  build: (job) => {
    const orders = job
      .source(envelopes({ topics: ['ecommerce.order'], maxOutOfOrderness: '1m' }))
      .dedupe({ ttl: '24h' });
    const created = orders.filterType(isOrderCreated);
    created
      .flatMap((e): OrderLine[] =>
        e.payload.lines.map((line) => ({
          orderId: e.payload.orderId,
          productId: line.productId,
          tenantId: e.tenantId,
          quantity: line.quantity,
          amountCents: Number(toCents(line.unitPrice)) * line.quantity,
          occurredAt: e.occurredAt,
          eventId: `${e.eventId}:${line.lineNo}`,
        })),
      )
      .to(kafkaSink(ANALYTICS_TOPICS.orderLines, { key: (line) => line.productId }));
    created
      .map(
        (e): OrderAmount => ({
          orderId: e.payload.orderId,
          customerId: e.payload.customerId,
          tenantId: e.tenantId,
          currency: e.payload.currency,
          amountCents: Number(toCents(e.payload.totalAmount)),
          occurredAt: e.occurredAt,
          eventId: e.eventId,
        }),
      )
      .to(kafkaSink(ANALYTICS_TOPICS.orderAmounts, { key: (o) => o.currency }));
    orders
      .filter((e) => typeof e.payload.customerId === 'string')
      .map(
        (e): CustomerActivity => ({
          customerId: String(e.payload.customerId),
          tenantId: e.tenantId,
          eventType: e.eventType,
          isOrder: e.eventType === EVENT_TYPES.orderCreated,
          occurredAt: e.occurredAt,
          eventId: e.eventId,
        }),
      )
      .to(kafkaSink(ANALYTICS_TOPICS.customerActivity, { key: (a) => a.customerId }));
    job
      .source(envelopes({ topics: ['ecommerce.customer'], maxOutOfOrderness: '1m' }))
      .dedupe({ ttl: '24h' })
      .map(
        (e): CustomerActivity => ({
          customerId: String(e.payload.customerId),
          tenantId: e.tenantId,
          eventType: e.eventType,
          isOrder: false,
          occurredAt: e.occurredAt,
          eventId: e.eventId,
        }),
      )
      .to(kafkaSink(ANALYTICS_TOPICS.customerActivity, { key: (a) => a.customerId }));
  },
});
