import { type Envelope, EVENT_TYPES, type OrderCreatedPayload } from '@bitvelocity/core';

/** Exact cents of a decimal money string ("12.3" -> 1230): money never goes through binary floating point. */
export function toCents(amount: string): number {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(amount);
  if (!match) throw new TypeError(`"${amount}" is not a decimal amount`);
  const cents = Number(match[2]) * 100 + Number((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -cents : cents;
}

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
