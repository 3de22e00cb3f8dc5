import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backwardCompatibilityProblems } from '../src/events/compatibility.js';
import { parseEventType } from '../src/events/envelope.js';
import { createEnvelope, EventSchemaRegistry } from '../src/index.js';

const registry = EventSchemaRegistry.load();
const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

const orderCreated = () =>
  createEnvelope({
    eventType: 'ecommerce.order.created.v1',
    producer: 'order-service',
    tenantId: 'acme',
    partitionKey: '0190b5b8-7a8e-7c61-9a4e-1f2d3c4b5a69',
    traceId,
    payload: {
      orderId: '0190b5b8-7a8e-7c61-9a4e-1f2d3c4b5a69',
      customerId: randomUUID(),
      status: 'created',
      currency: 'EUR',
      totalAmount: '25.50',
      lines: [{ lineNo: 1, productId: randomUUID(), quantity: 3, unitPrice: '8.50' }],
      createdAt: new Date().toISOString(),
    },
  });

describe('event envelopes', () => {
  it('take their schemaVersion from the event type and default the correlation id to the event id', () => {
    const envelope = orderCreated();
    expect(envelope.schemaVersion).toBe(1);
    expect(envelope.correlationId).toBe(envelope.eventId);
    expect(parseEventType('ecommerce.product.price_changed.v2')).toEqual({
      domain: 'ecommerce',
      aggregate: 'product',
      action: 'price_changed',
      version: 2,
    });
    // an optional entity segment names the part of the aggregate the event is about
    expect(parseEventType('analytics.order.fact.corrected.v1')).toEqual({
      domain: 'analytics',
      aggregate: 'order',
      entity: 'fact',
      action: 'corrected',
      version: 1,
    });
    expect(parseEventType('a.b.c.d.e.v1')).toBeUndefined();
    const { occurredAt: _, ...fields } = orderCreated();
    expect(() => createEnvelope({ ...fields, eventType: 'OrderCreated' })).toThrow(/<domain>.<aggregate>/);
  });

  it('validate against the envelope schema and the payload schema of their event type', () => {
    expect(registry.validate(orderCreated())).toEqual({ valid: true });
  });

  it('report each violation with the JSON pointer of the failing value', () => {
    const envelope = orderCreated();
    const broken = {
      ...envelope,
      payload: { ...envelope.payload, totalAmount: 25.5, lines: [{ lineNo: 1, productId: 'x', quantity: 0 }] },
    };
    const outcome = registry.validate(broken);
    expect(outcome.valid).toBe(false);
    const paths = outcome.valid ? [] : outcome.violations.map((v) => v.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/payload/totalAmount',
        '/payload/lines/0/productId',
        '/payload/lines/0/quantity',
        '/payload/lines/0/unitPrice',
      ]),
    );
  });

  it('reject unknown event types and envelopes missing fields', () => {
    expect(registry.validate({ ...orderCreated(), eventType: 'ecommerce.order.teleported.v1' })).toEqual({
      valid: false,
      violations: [{ path: '/eventType', message: 'unknown event type ecommerce.order.teleported.v1' }],
    });
    const { traceId: _, ...withoutTrace } = orderCreated();
    expect(registry.validate(withoutTrace)).toMatchObject({ valid: false, violations: [{ path: '/traceId' }] });
  });

  it('have one schema file per event type, each titled with its name', () => {
    const types = registry.eventTypes();
    expect(types).toContain('ecommerce.order.created.v1');
    for (const type of types) {
      expect(parseEventType(type), type).toBeDefined();
      expect(registry.schemaOf(type)?.title).toBe(type);
    }
  });
});

describe('backward compatibility of a new schema version', () => {
  const v1 = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string' }, status: { type: 'string', enum: ['a', 'b'] }, n: { type: 'integer' } },
  };

  it('accepts an added optional field, a widened type and an added enum value', () => {
    const v2 = {
      ...v1,
      properties: {
        ...v1.properties,
        note: { type: 'string' },
        status: { type: 'string', enum: ['a', 'b', 'c'] },
        n: { type: 'number' },
      },
    };
    expect(backwardCompatibilityProblems(v1, v2)).toEqual([]);
  });

  it('rejects a newly required field, a narrowed type, a removed enum value and a closed shape', () => {
    const v2 = {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'tenant'],
      properties: {
        id: { type: 'integer' },
        tenant: { type: 'string' },
        status: { type: 'string', enum: ['a'] },
        n: { type: 'integer' },
      },
    };
    expect(backwardCompatibilityProblems(v1, v2)).toEqual([
      { path: '/tenant', problem: 'is newly required' },
      { path: '/', problem: 'no longer accepts additional properties' },
      { path: '/id', problem: 'type string is no longer accepted' },
      { path: '/status', problem: 'enum value "b" was removed' },
    ]);
  });

  it('holds for every pair of consecutive versions the platform ships', () => {
    const types = registry.eventTypes();
    for (const type of types) {
      const name = parseEventType(type);
      if (!name || name.version === 1) continue;
      const previous = type.replace(/\.v\d+$/, `.v${name.version - 1}`);
      const before = registry.schemaOf(previous);
      const after = registry.schemaOf(type);
      expect(before, `${type} has no predecessor ${previous}`).toBeDefined();
      expect(backwardCompatibilityProblems(before ?? {}, after ?? {}), type).toEqual([]);
    }
  });
});
