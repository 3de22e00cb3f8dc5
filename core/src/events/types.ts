/**
 * The platform's event type names and their payload types, once, matching core/schemas/events/*.json
 * (core/test/event-types.test.ts checks every interface's required fields against its schema).
 */
export const EVENT_TYPES = {
  productCreated: 'ecommerce.product.created.v1',
  productUpdated: 'ecommerce.product.updated.v1',
  productPriceChanged: 'ecommerce.product.price_changed.v1',
  productDeleted: 'ecommerce.product.deleted.v1',
  customerRegistered: 'ecommerce.customer.registered.v1',
  customerUpdated: 'ecommerce.customer.updated.v1',
  orderCreated: 'ecommerce.order.created.v1',
  orderPaid: 'ecommerce.order.paid.v1',
  orderShipped: 'ecommerce.order.shipped.v1',
  orderCancelled: 'ecommerce.order.cancelled.v1',
} as const;

export type EcommerceEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/** A decimal money string with at most two fraction digits, e.g. `"12.30"`. */
export type DecimalAmount = string;

export interface ProductCreatedPayload {
  productId: string;
  sku: string;
  name: string;
  category: string;
  price: DecimalAmount;
  currency: string;
  version: number;
}

export interface ProductUpdatedPayload extends ProductCreatedPayload {
  changed: string[];
}

export interface ProductPriceChangedPayload {
  productId: string;
  oldPrice: DecimalAmount;
  newPrice: DecimalAmount;
  currency: string;
  version: number;
}

export interface ProductDeletedPayload {
  productId: string;
  version: number;
}

export interface CustomerAddress {
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface CustomerRegisteredPayload {
  customerId: string;
  email: string;
  name: string;
  segment: 'consumer' | 'small_business' | 'enterprise';
  address: CustomerAddress | null;
  version: number;
}

export interface CustomerUpdatedPayload extends CustomerRegisteredPayload {
  changed: string[];
}

export interface OrderLinePayload {
  lineNo: number;
  productId: string;
  quantity: number;
  unitPrice: DecimalAmount;
}

export interface OrderCreatedPayload {
  orderId: string;
  customerId: string;
  status: 'created';
  currency: string;
  totalAmount: DecimalAmount;
  lines: OrderLinePayload[];
  createdAt: string;
}

export interface OrderPaidPayload {
  orderId: string;
  customerId: string;
  status: 'paid';
  amount: DecimalAmount;
  currency: string;
  paymentReference: string;
  paidAt: string;
}

export interface OrderShippedPayload {
  orderId: string;
  customerId: string;
  status: 'shipped';
  carrier: string;
  trackingNumber: string;
  shippedAt: string;
}

export interface OrderCancelledPayload {
  orderId: string;
  customerId: string;
  status: 'cancelled';
  previousStatus: 'created' | 'paid';
  reason: string;
  cancelledAt: string;
}

/** The payload type of each event type. */
export interface EventPayloads {
  'ecommerce.product.created.v1': ProductCreatedPayload;
  'ecommerce.product.updated.v1': ProductUpdatedPayload;
  'ecommerce.product.price_changed.v1': ProductPriceChangedPayload;
  'ecommerce.product.deleted.v1': ProductDeletedPayload;
  'ecommerce.customer.registered.v1': CustomerRegisteredPayload;
  'ecommerce.customer.updated.v1': CustomerUpdatedPayload;
  'ecommerce.order.created.v1': OrderCreatedPayload;
  'ecommerce.order.paid.v1': OrderPaidPayload;
  'ecommerce.order.shipped.v1': OrderShippedPayload;
  'ecommerce.order.cancelled.v1': OrderCancelledPayload;
}

/** Is this envelope-shaped value of the given event type (and so carries its payload type)? */
export function isEventOf<T extends EcommerceEventType, E extends { eventType: string; payload: object }>(
  type: T,
  event: E,
): event is E & { eventType: T; payload: EventPayloads[T] } {
  return event.eventType === type;
}
