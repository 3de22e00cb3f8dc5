import { describe, expect, it } from 'vitest';
import {
  createEnvelope,
  EVENT_TYPES,
  type EventPayloads,
  EventSchemaRegistry,
  type PlatformEventType,
} from '../src/index.js';

const registry = EventSchemaRegistry.load();
const id = '0190b5b8-7a8e-7c61-9a4e-1f2d3c4b5a69';
const at = '2026-01-01T00:00:00.000Z';

/**
 * One payload per event type with exactly the interface's required fields: the type checker refuses a missing
 * required field or an unknown one, and the specs below compare the same fields with the JSON Schema.
 */
const product = {
  productId: id,
  sku: 'SKU-1',
  name: 'Mug',
  category: 'kitchen',
  price: '8.50',
  currency: 'EUR',
  version: 1,
} as const;

const required: { [K in PlatformEventType]: EventPayloads[K] } = {
  'ecommerce.product.created.v1': { ...product },
  'ecommerce.product.updated.v1': { ...product, version: 2, changed: ['name'] },
  'ecommerce.product.price_changed.v1': {
    productId: id,
    oldPrice: '8.50',
    newPrice: '9.00',
    currency: 'EUR',
    version: 3,
  },
  'ecommerce.product.deleted.v1': { productId: id, version: 4 },
  'ecommerce.customer.registered.v1': {
    customerId: id,
    email: 'a@example.com',
    name: 'Ann',
    segment: 'consumer',
    address: null,
    version: 1,
  },
  'ecommerce.customer.updated.v1': {
    customerId: id,
    email: 'a@example.com',
    name: 'Ann',
    segment: 'enterprise',
    address: { line1: '1 Road', city: 'Ghent', postalCode: '9000', country: 'BE' },
    version: 2,
    changed: ['segment'],
  },
  'ecommerce.order.created.v1': {
    orderId: id,
    customerId: id,
    status: 'created',
    currency: 'EUR',
    totalAmount: '17.00',
    lines: [{ lineNo: 1, productId: id, quantity: 2, unitPrice: '8.50' }],
    createdAt: at,
  },
  'ecommerce.order.paid.v1': {
    orderId: id,
    customerId: id,
    status: 'paid',
    amount: '17.00',
    currency: 'EUR',
    paymentReference: 'pay-1',
    paidAt: at,
  },
  'ecommerce.order.shipped.v1': {
    orderId: id,
    customerId: id,
    status: 'shipped',
    carrier: 'bpost',
    trackingNumber: 'T1',
    shippedAt: at,
  },
  'ecommerce.order.cancelled.v1': {
    orderId: id,
    customerId: id,
    status: 'cancelled',
    previousStatus: 'created',
    reason: 'changed mind',
    cancelledAt: at,
  },
  'iot.device.registered.v1': {
    deviceId: 'dev-1',
    name: 'Boiler room',
    kind: 'thermometer',
    site: null,
    firmware: '1.0.0',
    version: 1,
  },
  'iot.device.updated.v1': {
    deviceId: 'dev-1',
    name: 'Boiler room',
    kind: 'thermometer',
    site: 'Ghent',
    firmware: '1.0.1',
    version: 2,
    changed: ['site', 'firmware'],
  },
  'iot.device.reading.v1': { deviceId: 'dev-1', metric: 'temperature', value: 21.5, recordedAt: at },
};

/** The optional fields of each interface (the schema lists them as properties, not as required). */
const optional: Partial<Record<PlatformEventType, string[]>> = { 'iot.device.reading.v1': ['seq', 'unit'] };

const schemaOf = (type: string) => registry.schemaOf(type) as { required?: string[]; properties: object };

describe('event payload types', () => {
  it('name every domain event type that has a schema, and no other', () => {
    const withSchema = registry.eventTypes().filter((t) => t.startsWith('ecommerce.') || t.startsWith('iot.'));
    expect(Object.values(EVENT_TYPES).sort()).toEqual(withSchema.sort());
    expect(Object.keys(required).sort()).toEqual(withSchema.sort());
  });

  it.each(Object.keys(required) as PlatformEventType[])(
    '%s: the interface requires what the schema requires',
    (type) => {
      const schema = schemaOf(type);
      expect(Object.keys(required[type]).sort()).toEqual([...(schema.required ?? [])].sort());
      expect(Object.keys(schema.properties).sort()).toEqual(
        [...Object.keys(required[type]), ...(optional[type] ?? [])].sort(),
      );
    },
  );

  it.each(Object.keys(required) as PlatformEventType[])(
    '%s: a payload of the interface is valid by the schema',
    (type) => {
      const envelope = createEnvelope({
        eventType: type,
        producer: 'spec',
        tenantId: 'acme',
        partitionKey: id,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        payload: required[type],
      });
      expect(registry.validate(envelope)).toEqual({ valid: true });
    },
  );
});
