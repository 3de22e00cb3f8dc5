import { describe, expect, it } from 'vitest';
import { readingEventId } from '../src/index.js';

const reading = { tenantId: 't1', deviceId: 'dev-1', metric: 'temperature', recordedAt: '2026-12-02T04:00:00.000Z' };

describe('readingEventId', () => {
  it('gives the same reading the same UUIDv5, every time', () => {
    const id = readingEventId(reading);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(readingEventId({ ...reading })).toBe(id);
  });

  it('keeps the ids it always gave (readings redelivered across an upgrade still dedupe)', () => {
    expect(readingEventId(reading)).toBe('12ca21ef-8e51-5e52-9770-495d5b986c9e');
    expect(readingEventId({ ...reading, deviceId: 'dév-ü', seq: 7 })).toBe('884538c5-1c63-5ee1-8d27-0b160b031681');
  });

  it('tells apart readings that differ in any identifying field', () => {
    const ids = new Set([
      readingEventId(reading),
      readingEventId({ ...reading, tenantId: 't2' }),
      readingEventId({ ...reading, deviceId: 'dev-2' }),
      readingEventId({ ...reading, metric: 'humidity' }),
      readingEventId({ ...reading, recordedAt: '2026-12-02T04:00:00.001Z' }),
      readingEventId({ ...reading, seq: 0 }),
      readingEventId({ ...reading, seq: 1 }),
      // joined fields cannot be shifted into one another
      readingEventId({ ...reading, tenantId: 't1dev-1', deviceId: '' }),
    ]);
    expect(ids.size).toBe(8);
  });
});
