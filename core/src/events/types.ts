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
  deviceRegistered: 'iot.device.registered.v1',
  deviceUpdated: 'iot.device.updated.v1',
  deviceReading: 'iot.device.reading.v1',
} as const;

/** Every event type the platform publishes (the e-commerce domain and device telemetry). */
export type PlatformEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

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

export interface DeviceRegisteredPayload {
  /** The device's own id, unique within its tenant: 1-64 of `[A-Za-z0-9._:-]`. */
  deviceId: string;
  name: string;
  /** What the device is, e.g. `thermometer`, `power_meter`. */
  kind: string;
  /** Where it is installed; null when unknown. */
  site: string | null;
  firmware: string;
  version: number;
}

export interface DeviceUpdatedPayload extends DeviceRegisteredPayload {
  changed: string[];
}

/**
 * One measurement of one device. The envelope's `occurredAt` is `recordedAt` (the device's clock), its key the
 * deviceId, and its eventId is derived from (tenant, deviceId, metric, recordedAt, seq), so a re-delivered reading
 * (MQTT QoS 1, an HTTP retry) keeps its id and is removed downstream by dedupe.
 */
export interface DeviceReadingPayload {
  deviceId: string;
  /** What was measured, e.g. `temperature`: 1-64 of `[a-z0-9_]`. */
  metric: string;
  /** A finite number. */
  value: number;
  unit?: string;
  /** The device's own counter, when it keeps one. */
  seq?: number;
  recordedAt: string;
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
  'iot.device.registered.v1': DeviceRegisteredPayload;
  'iot.device.updated.v1': DeviceUpdatedPayload;
  'iot.device.reading.v1': DeviceReadingPayload;
}

/** Is this envelope-shaped value of the given event type (and so carries its payload type)? */
export function isEventOf<T extends PlatformEventType, E extends { eventType: string; payload: object }>(
  type: T,
  event: E,
): event is E & { eventType: T; payload: EventPayloads[T] } {
  return event.eventType === type;
}
