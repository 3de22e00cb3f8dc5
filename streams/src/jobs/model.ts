import { type Envelope, EVENT_TYPES, type OrderCreatedPayload } from '@bitvelocity/core';

export interface OrderLine {
  orderId: string;
  productId: string;
  tenantId: string;
  quantity: number;
  amountCents: number;
  occurredAt: string;
  eventId: string;
}

export interface OrderAmount {
  orderId: string;
  customerId: string;
  tenantId: string;
  currency: string;
  amountCents: number;
  occurredAt: string;
  eventId: string;
}

export interface CustomerActivity {
  customerId: string;
  tenantId: string;
  eventType: string;
  isOrder: boolean;
  occurredAt: string;
  eventId: string;
}

export const isOrderCreated = (e: Envelope): e is Envelope<OrderCreatedPayload & Record<string, unknown>> =>
  e.eventType === EVENT_TYPES.orderCreated;

export const eventTime = (value: { occurredAt: string }) => Date.parse(value.occurredAt);
