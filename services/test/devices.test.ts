import { EventSchemaRegistry } from '@bitvelocity/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, outboxRows, startServices } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startServices();
});
afterAll(() => h.close());

const newDevice = (deviceId: string) => ({
  deviceId,
  name: `Thermometer ${deviceId}`,
  kind: 'thermometer',
  site: 'hall-1',
  firmware: '1.0.0',
});

describe('devices', () => {
  it('registers a device and writes iot.device.registered.v1 to the outbox in the same transaction, keyed <tenant>:<deviceId>', async () => {
    const response = await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-01') });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ ...newDevice('th-01'), version: 1 });
    expect(response.headers.etag).toBe('"1"');
    expect(response.headers.location).toBe('/v1/devices/th-01');

    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === `${h.tenantA}:th-01`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      aggregate_type: 'iot.device',
      event_type: 'iot.device.registered.v1',
      partition_key: `${h.tenantA}:th-01`,
    });
    expect(events[0]?.payload).toMatchObject({
      eventType: 'iot.device.registered.v1',
      tenantId: h.tenantA,
      partitionKey: `${h.tenantA}:th-01`,
      payload: { ...newDevice('th-01'), version: 1 },
    });
    expect(EventSchemaRegistry.load().validate(events[0]?.payload).valid).toBe(true);
  });

  it('reads a device with its ETag; another tenant does not see it', async () => {
    await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-read') });
    const read = await h.call('readerA', { method: 'GET', url: '/v1/devices/th-read' });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ deviceId: 'th-read', kind: 'thermometer', site: 'hall-1', version: 1 });
    expect(read.headers.etag).toBe('"1"');
    const other = await h.call('writerB', { method: 'GET', url: '/v1/devices/th-read' });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('NOT_FOUND');
    // The same device id in another tenant is another device.
    expect(
      (await h.call('writerB', { method: 'POST', url: '/v1/devices', payload: newDevice('th-read') })).statusCode,
    ).toBe(201);
  });

  it('updates a device with If-Match, writing iot.device.updated.v1 with the changed fields; stale and missing versions are refused', async () => {
    await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-move') });
    const url = '/v1/devices/th-move';
    const missing = await h.call('writerA', { method: 'PATCH', url, payload: { site: 'hall-2' } });
    expect(missing.statusCode).toBe(428);
    expect(missing.json().error).toMatchObject({ code: 'PRECONDITION_REQUIRED', field: 'header/if-match' });

    const moved = await h.call('writerA', {
      method: 'PATCH',
      url,
      headers: { 'if-match': '"1"' },
      payload: { site: 'hall-2', firmware: '1.1.0', name: `Thermometer th-move` },
    });
    expect(moved.statusCode).toBe(200);
    expect(moved.json()).toMatchObject({ site: 'hall-2', firmware: '1.1.0', version: 2 });
    expect(moved.headers.etag).toBe('"2"');

    const stale = await h.call('writerA', {
      method: 'PATCH',
      url,
      headers: { 'if-match': '"1"' },
      payload: { site: null },
    });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error.code).toBe('VERSION_CONFLICT');

    const unmoved = await h.call('writerA', {
      method: 'PATCH',
      url,
      headers: { 'if-match': '"2"' },
      payload: { site: null },
    });
    expect(unmoved.json()).toMatchObject({ site: null, version: 3 });

    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) => e.aggregate_id === `${h.tenantA}:th-move`);
    expect(events.map((e) => [e.event_type, (e.payload.payload as { changed?: string[] }).changed])).toEqual([
      ['iot.device.registered.v1', undefined],
      ['iot.device.updated.v1', ['site', 'firmware']],
      ['iot.device.updated.v1', ['site']],
    ]);
    expect(events[2]?.payload.payload).toMatchObject({ site: null, version: 3 });
  });

  it('refuses bad input with machine-readable codes: a duplicate id, an id or kind outside the contract, a reader writing', async () => {
    await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-dup') });
    const duplicate = await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-dup') });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().error).toMatchObject({ code: 'DUPLICATE', field: 'body/deviceId' });

    const badId = await h.call('writerA', { method: 'POST', url: '/v1/devices', payload: newDevice('has space') });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error.code).toBe('VALIDATION_FAILED');
    const badKind = await h.call('writerA', {
      method: 'POST',
      url: '/v1/devices',
      payload: { ...newDevice('th-kind'), kind: 'Thermo Meter' },
    });
    expect(badKind.statusCode).toBe(400);
    const reader = await h.call('readerA', { method: 'POST', url: '/v1/devices', payload: newDevice('th-ro') });
    expect(reader.statusCode).toBe(403);
    const anonymous = await h.call(null, { method: 'GET', url: '/v1/devices/th-dup' });
    expect(anonymous.statusCode).toBe(401);
    const events = (await outboxRows(h.owner, h.tenantA)).filter((e) =>
      ['th-kind', 'has space', 'th-ro'].some((id) => e.aggregate_id === `${h.tenantA}:${id}`),
    );
    expect(events).toEqual([]);
  });

  it('documents the device routes in OpenAPI', async () => {
    const openapi = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/devices', '/v1/devices/{deviceId}']));
    expect(Object.keys(openapi.paths['/v1/devices/{deviceId}'])).toEqual(expect.arrayContaining(['get', 'patch']));
  });
});
