import { randomUUID } from 'node:crypto';
import { type DeviceReadingPayload, type Envelope, loadPlatformConfig, readingEventId } from '@bitvelocity/core';
import { setMosquittoUser, settingsFor } from '@bitvelocity/infra';
import { type IsolatedStack, startIsolatedStack, waitFor } from '@bitvelocity/infra/testing';
import { readAll } from '@bitvelocity/streams/testing';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fleetReading,
  runFleet,
  startTelemetryService,
  TELEMETRY_DLQ_HEADERS,
  type TelemetryService,
} from '../src/index.js';

const PORT_BASE = 47_200;
const brokers = loadPlatformConfig().kafka.bootstrapServers;

describe('the MQTT-to-Kafka telemetry bridge', () => {
  let stack: IsolatedStack;
  let service: TelemetryService;
  const tenant = `t${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  const topic = `test.iot-device.${randomUUID().slice(0, 8)}`;
  let url: string;
  const jwtSecret = randomUUID() + randomUUID();

  beforeAll(async () => {
    stack = await startIsolatedStack(['mosquitto'], PORT_BASE);
    url = stack.config.mqtt?.url ?? '';
    await setMosquittoUser(settingsFor(stack.env), tenant, password);
    service = await startTelemetryService({
      config: { ...loadPlatformConfig(), ...(stack.config.mqtt ? { mqtt: stack.config.mqtt } : {}) },
      topic,
      clientId: `spec-bridge-${randomUUID().slice(0, 8)}`,
      rateLimit: { ratePerSecond: 20, burst: 100 },
      // Several Kafka producers, one batch in flight each: the order spec below holds across them.
      producers: 4,
      maxBatchRecords: 20,
      jwtSecret,
      maxHttpBatch: 50,
    });
  }, 180_000);
  afterAll(async () => {
    await service?.close();
    await stack?.destroy();
  });

  const envelopesOf = async (name: string) =>
    (await readAll(brokers, name)).map((r) => ({
      key: r.key?.toString(),
      headers: Object.fromEntries([...r.headers].map(([k, v]) => [k, v.toString()])),
      value: r.value?.toString() ?? '',
    }));

  it('delivers every reading to iot.device in the canonical envelope, keyed by tenant and device', async () => {
    const fleet = { url, tenant, password, devices: 12, readingsPerDevice: 20, metrics: ['temperature', 'humidity'] };
    const result = await runFleet({ ...fleet, devicePrefix: 'a-', connections: 3, collectEventIds: true });
    expect(result.published).toBe(12 * 20 * 2);
    await waitFor(
      'all readings in Kafka',
      async () => ((await readAll(brokers, topic)).length >= result.published ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    const records = await envelopesOf(topic);
    const envelopes = records.map((r) => JSON.parse(r.value) as Envelope<DeviceReadingPayload>);
    expect(new Set(envelopes.map((e) => e.eventId))).toEqual(result.eventIds);
    for (const [i, e] of envelopes.entries()) {
      const device = Number(e.payload.deviceId.slice(2));
      const reading = fleetReading(fleet, device, e.payload.seq ?? -1, e.payload.metric);
      expect(e.payload).toEqual({ ...reading, deviceId: `a-${device}` });
      expect(e).toMatchObject({
        eventType: 'iot.device.reading.v1',
        tenantId: tenant,
        partitionKey: `${tenant}:a-${device}`,
        occurredAt: reading.recordedAt,
        eventId: readingEventId({ tenantId: tenant, deviceId: `a-${device}`, ...reading }),
      });
      expect(records[i]?.key).toBe(`${tenant}:a-${device}`);
      expect(records[i]?.headers).toMatchObject({
        eventType: 'iot.device.reading.v1',
        tenantId: tenant,
        traceId: e.traceId,
      });
      expect(records[i]?.headers.traceparent).toMatch(new RegExp(`^00-${e.traceId}-[0-9a-f]{16}-01$`));
    }
    // Each device publishes in seq order on one connection: its readings of a metric are in Kafka in that order.
    const seqs = new Map<string, number[]>();
    for (const e of envelopes) {
      const series = `${e.payload.deviceId}/${e.payload.metric}`;
      seqs.set(series, [...(seqs.get(series) ?? []), e.payload.seq ?? -1]);
    }
    expect(seqs.size).toBe(12 * 2);
    for (const list of seqs.values()) expect(list).toEqual(Array.from({ length: 20 }, (_, k) => k));
  });

  it('dead-letters malformed readings with the reason and keeps the good ones of a batch', async () => {
    const device = await mqtt.connectAsync(url, { protocolVersion: 5, username: tenant, password, reconnectPeriod: 0 });
    const ok = { metric: 'temperature', value: 21.5, recordedAt: '2026-12-02T04:00:00.000Z' };
    const send = (deviceId: string, body: string) =>
      device.publishAsync(`devices/${tenant}/${deviceId}/readings`, body, { qos: 1 });
    await send('b-json', '{"metric": "temperature", "value": ');
    await send('b-schema', JSON.stringify({ metric: 'Bad Metric!', value: 1, recordedAt: ok.recordedAt }));
    await send('b-string', JSON.stringify({ ...ok, value: 'hot' }));
    await send('b-infinite', '{"metric":"temperature","value":1e999,"recordedAt":"2026-12-02T04:00:00.000Z"}');
    await send('b-array', JSON.stringify([ok, { ...ok, recordedAt: 'yesterday' }, { ...ok, seq: 2 }]));
    await send('bad device id!', JSON.stringify(ok));
    await device.endAsync();

    await waitFor(
      'dead letters',
      async () => ((await readAll(brokers, `${topic}.dlq`)).length >= 6 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    const letters = await envelopesOf(`${topic}.dlq`);
    const byKey = (key: string) => letters.filter((l) => l.key === key).map((l) => l.headers);
    expect(byKey(`${tenant}:b-json`)).toEqual([
      expect.objectContaining({ [TELEMETRY_DLQ_HEADERS.code]: 'UNDECODABLE' }),
    ]);
    expect(byKey(`${tenant}:b-schema`)[0]).toMatchObject({
      [TELEMETRY_DLQ_HEADERS.code]: 'SCHEMA_VIOLATION',
      [TELEMETRY_DLQ_HEADERS.reason]: expect.stringContaining('/payload/metric'),
    });
    expect(byKey(`${tenant}:b-string`)[0]?.[TELEMETRY_DLQ_HEADERS.reason]).toMatch(/value.*number/);
    expect(byKey(`${tenant}:b-infinite`)[0]?.[TELEMETRY_DLQ_HEADERS.reason]).toBe('value must be a finite number');
    expect(byKey(`${tenant}:b-array`)).toEqual([
      expect.objectContaining({ [TELEMETRY_DLQ_HEADERS.code]: 'SCHEMA_VIOLATION', [TELEMETRY_DLQ_HEADERS.index]: '1' }),
    ]);
    const badTopic = letters.find((l) => l.headers[TELEMETRY_DLQ_HEADERS.code] === 'TELEMETRY_TOPIC_INVALID');
    expect(badTopic?.headers[TELEMETRY_DLQ_HEADERS.source]).toBe(`mqtt:devices/${tenant}/bad device id!/readings`);
    for (const l of letters) expect(l.headers[TELEMETRY_DLQ_HEADERS.job]).toBe('telemetry-bridge');

    const good = (await envelopesOf(topic))
      .map((r) => JSON.parse(r.value) as Envelope<DeviceReadingPayload>)
      .filter((e) => e.payload.deviceId === 'b-array');
    expect(good.map((e) => e.payload.seq ?? null).sort()).toEqual([2, null]);
  });

  it('limits a flooding device while the other devices keep flowing', async () => {
    const flood = runFleet({
      url,
      tenant,
      password,
      devices: 1,
      readingsPerDevice: 1500,
      devicePrefix: 'flood-',
      connections: 1,
    });
    const others = runFleet({
      url,
      tenant,
      password,
      devices: 10,
      readingsPerDevice: 15,
      devicePrefix: 'calm-',
      connections: 2,
    });
    const [flooded, calm] = await Promise.all([flood, others]);
    expect(flooded.published).toBe(1500);
    expect(calm.published).toBe(150);
    const isFlood = (key: string | undefined) => key === `${tenant}:flood-0`;
    await waitFor(
      'every flood reading written or dead-lettered',
      async () => {
        const written = (await readAll(brokers, topic)).filter((r) => isFlood(r.key?.toString())).length;
        const limited = (await readAll(brokers, `${topic}.dlq`)).filter((r) => isFlood(r.key?.toString())).length;
        return written + limited >= 1500 ? { written, limited } : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const readings = await envelopesOf(topic);
    const letters = await envelopesOf(`${topic}.dlq`);
    const written = readings.filter((r) => isFlood(r.key)).length;
    const limited = letters.filter((l) => isFlood(l.key));
    // burst 100 plus 20/s while it floods: far fewer than it sent
    expect(written).toBeGreaterThanOrEqual(100);
    expect(written).toBeLessThan(100 + 20 * (flooded.seconds + 5));
    expect(written + limited.length).toBe(1500);
    for (const l of limited) {
      expect(l.headers[TELEMETRY_DLQ_HEADERS.code]).toBe('TELEMETRY_RATE_LIMITED');
      expect(l.headers[TELEMETRY_DLQ_HEADERS.reason]).toMatch(/^rate_limited: /);
    }
    const calmKeys = readings.filter((r) => r.key?.startsWith(`${tenant}:calm-`));
    expect(calmKeys).toHaveLength(150);
    expect(letters.filter((l) => l.key?.startsWith(`${tenant}:calm-`))).toEqual([]);
  });

  describe('POST /v1/devices/:deviceId/readings', () => {
    const token = (claims: object) => service.http?.jwt.sign(claims as never) ?? '';
    const post = (deviceId: string, body: unknown, auth?: string) =>
      fetch(`${service.httpAddress}/v1/devices/${encodeURIComponent(deviceId)}/readings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const writer = () => token({ sub: 'device-gw', tenant, roles: ['writer'] });
    const reading = (seq: number) => ({
      metric: 'power',
      value: seq * 1.5,
      unit: 'W',
      seq,
      recordedAt: '2026-12-02T05:00:00.000Z',
    });

    it('accepts a batch with 202 and reports each bad reading by its index', async () => {
      const response = await post(
        'h-1',
        [reading(0), { ...reading(1), value: 'x' }, reading(2), { metric: 'power' }],
        writer(),
      );
      expect(response.status).toBe(202);
      const body = (await response.json()) as { accepted: number; rejected: { index: number; code: string }[] };
      expect(body.accepted).toBe(2);
      expect(body.rejected.map((r) => [r.index, r.code])).toEqual([
        [1, 'SCHEMA_VIOLATION'],
        [3, 'SCHEMA_VIOLATION'],
      ]);
      const envelopes = (await envelopesOf(topic))
        .map((r) => JSON.parse(r.value) as Envelope<DeviceReadingPayload>)
        .filter((e) => e.payload.deviceId === 'h-1');
      expect(envelopes.map((e) => e.payload.seq).sort()).toEqual([0, 2]);
      expect(envelopes[0]).toMatchObject({ tenantId: tenant, partitionKey: `${tenant}:h-1` });
      expect(envelopes.map((e) => e.eventId).sort()).toEqual(
        [0, 2].map((seq) => readingEventId({ tenantId: tenant, deviceId: 'h-1', ...reading(seq) })).sort(),
      );
      const letters = (await envelopesOf(`${topic}.dlq`)).filter((l) => l.key === `${tenant}:h-1`);
      expect(letters.map((l) => l.headers[TELEMETRY_DLQ_HEADERS.index]).sort()).toEqual(['1', '3']);
      expect(letters[0]?.headers[TELEMETRY_DLQ_HEADERS.source]).toBe('http:/v1/devices/h-1/readings');
    });

    it('answers 4xx with a code for bad requests', async () => {
      const cases: [Response, number, string][] = [
        [await post('h-2', [reading(0)]), 401, 'TELEMETRY_UNAUTHORIZED'],
        [await post('h-2', [reading(0)], 'not-a-token'), 401, 'TELEMETRY_UNAUTHORIZED'],
        [await post('h-2', [reading(0)], token({ sub: 'r', tenant, roles: ['reader'] })), 403, 'TELEMETRY_FORBIDDEN'],
        [await post('h-2', reading(0), writer()), 400, 'TELEMETRY_BATCH_INVALID'],
        [await post('h-2', [], writer()), 400, 'TELEMETRY_BATCH_INVALID'],
        [await post('h-2', '[{"metric":', writer()), 400, 'TELEMETRY_BATCH_INVALID'],
        [await post('bad id!', [reading(0)], writer()), 400, 'TELEMETRY_DEVICE_INVALID'],
        [
          await post(
            'h-2',
            Array.from({ length: 51 }, (_, i) => reading(i)),
            writer(),
          ),
          413,
          'TELEMETRY_BATCH_TOO_LARGE',
        ],
      ];
      for (const [response, status, code] of cases) {
        expect(response.status).toBe(status);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
      }
      const sent = (await envelopesOf(topic)).filter((r) => r.key === `${tenant}:h-2`);
      expect(sent).toEqual([]);
    });

    it('takes the tenant from the token, never from the body', async () => {
      const other = `t${randomUUID().slice(0, 8)}`;
      const response = await post('h-3', [reading(7)], token({ sub: 'gw', tenant: other, roles: ['writer'] }));
      expect(response.status).toBe(202);
      const envelopes = (await envelopesOf(topic))
        .map((r) => JSON.parse(r.value) as Envelope<DeviceReadingPayload>)
        .filter((e) => e.payload.deviceId === 'h-3');
      expect(envelopes.map((e) => [e.tenantId, e.partitionKey])).toEqual([[other, `${other}:h-3`]]);
    });
  });
});
