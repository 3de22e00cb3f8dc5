import { EventSchemaRegistry } from '@bitvelocity/core';
import { describe, expect, it } from 'vitest';
import { readingJson, readingsOf } from '../src/telemetry/readings.js';
import { TraceIds } from '../src/telemetry/trace-ids.js';

const registry = EventSchemaRegistry.load();
const device = { tenantId: 'acme', deviceId: 'pump-7' };
const good = { metric: 'temperature', value: 21.5, unit: 'C', seq: 3, recordedAt: '2026-12-02T04:00:00.000Z' };

describe('readingsOf', () => {
  it('builds envelopes that pass the full envelope schema, though it checks only the payload', () => {
    const traceId = new TraceIds().traceId();
    const outcome = readingsOf(registry, device, [good, { ...good, seq: 4, unit: undefined }], { traceId });
    expect(outcome.rejects).toEqual([]);
    expect(outcome.indexes).toEqual([0, 1]);
    for (const { key, envelope } of outcome.records) {
      expect(key).toBe('acme:pump-7');
      // the way it travels: through JSON (an undefined unit disappears, as on Kafka)
      expect(registry.validate(JSON.parse(JSON.stringify(envelope)))).toEqual({ valid: true });
      // what goes to Kafka is exactly JSON.stringify's text, written without walking the envelope
      expect(readingJson(envelope)).toBe(JSON.stringify(envelope));
      expect(envelope).toMatchObject({
        eventType: 'iot.device.reading.v1',
        tenantId: 'acme',
        partitionKey: 'acme:pump-7',
        traceId,
        occurredAt: '2026-12-02T04:00:00.000Z',
        payload: { deviceId: 'pump-7', metric: 'temperature' },
      });
    }
  });

  it('refuses each bad element with its index and every violation, and keeps the good ones', () => {
    const outcome = readingsOf(
      registry,
      device,
      [good, { metric: 'Bad Metric', value: 'hot', recordedAt: 'yesterday', extra: 1 }, 7, { ...good, deviceId: 'x' }],
      { traceId: new TraceIds().traceId() },
    );
    expect(outcome.indexes).toEqual([0]);
    expect(outcome.rejects.map((r) => [r.index, r.code])).toEqual([
      [1, 'SCHEMA_VIOLATION'],
      [2, 'SCHEMA_VIOLATION'],
      [3, 'SCHEMA_VIOLATION'],
    ]);
    // all violations of the element, not only the first one
    const reason = outcome.rejects[0]?.reason ?? '';
    for (const part of ['/payload/extra', '/payload/metric', '/payload/value', '/payload/recordedAt'])
      expect(reason).toContain(part);
    expect(outcome.rejects[2]?.reason).toMatch(/deviceId "x" differs/);
  });
});

describe('TraceIds', () => {
  it('gives W3C trace and span ids that do not repeat across pool refills', () => {
    const ids = new TraceIds();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const traceId = ids.traceId();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(ids.traceparent(traceId)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      seen.add(traceId);
    }
    expect(seen.size).toBe(1000);
  });
});
