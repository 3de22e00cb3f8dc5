import { randomUUID } from 'node:crypto';
import { deadLetterTopicOf, loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { deviceTelemetryJob } from '../src/jobs/device-telemetry.js';
import type { DeviceAnomalyEpisode, DeviceReadingsMinute, DeviceSilence } from '../src/jobs/model.js';
import { ensureJobTopics } from '../src/kafka/topics.js';
import { runWorker } from '../src/kafka/worker.js';
import { deviceEnvelope, deviceReadingEnvelope } from '../src/testing.js';
import { createTopic, produce, readAll, type TestRecord, waitFor } from './kafka.js';

const brokers = loadPlatformConfig().kafka.bootstrapServers;
const MINUTE = 60_000;

interface Sent {
  deviceId: string;
  metric: string;
  value: number;
  t: number;
}

/** A small fleet over 20 minutes of event time two hours ago, every reading each 5 s, uniform noise (bounded |z|). */
function fleet(tenantId: string, base: number) {
  let seed = 7;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed / 2 ** 31) * 2 - 1;
  };
  const devices = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'].map((d) => `${d}:${tenantId.slice(-6)}`);
  const records: TestRecord[] = [];
  const sent: Sent[] = [];
  const key = (deviceId: string) => `${tenantId}:${deviceId}`;
  // d5 is never registered: its readings carry no context.
  for (const [i, deviceId] of devices.slice(0, 5).entries()) {
    const device = { deviceId, name: `Sensor ${i}`, kind: 'thermometer', site: 'hall-1', firmware: '1.0', version: 1 };
    records.push({ key: key(deviceId), value: JSON.stringify(deviceEnvelope(tenantId, device, new Date(base))) });
  }
  const silentDevice = devices[5] as string;
  const spikeDevice = devices[2] as string;
  for (let step = 0; step < 240; step++) {
    const t = base + step * 5_000;
    if (step === 60) {
      // d2 moves to another hall at minute 5, before its spike: the anomaly carries the new site.
      const moved = { deviceId: spikeDevice, name: 'Sensor 2', kind: 'thermometer', site: 'hall-2', firmware: '1.1' };
      const update = deviceEnvelope(tenantId, { ...moved, version: 2 }, new Date(t), ['site', 'firmware']);
      records.push({ key: key(spikeDevice), value: JSON.stringify(update) });
    }
    for (const deviceId of devices) {
      // d5 is silent from minute 10 to minute 18.
      if (deviceId === silentDevice && t >= base + 10 * MINUTE && t < base + 18 * MINUTE) continue;
      for (const [metric, unit, level] of [
        ['temperature', 'C', 20],
        ['humidity', '%', 45],
      ] as const) {
        const spike = deviceId === spikeDevice && metric === 'temperature' && step === 180;
        const value = spike ? 50 : Math.round((level + noise()) * 1000) / 1000;
        const reading = { deviceId, metric, value, unit, seq: step, recordedAt: new Date(t).toISOString() };
        const record = { key: key(deviceId), value: JSON.stringify(deviceReadingEnvelope(tenantId, reading)) };
        records.push(record);
        // Every 17th reading is delivered twice (MQTT QoS 1): dedupe removes the copy.
        if (sent.length % 17 === 0) records.push(record);
        sent.push({ deviceId, metric, value, t });
      }
    }
  }
  return { devices, records, sent, silentDevice, spikeDevice };
}

describe('the device telemetry job on the local broker', () => {
  it('deduplicates readings, aggregates each device metric per minute exactly, finds the planted spike with the device context, and reports silence', async () => {
    const input = await createTopic(brokers, 'telemetry', 1);
    const suffix = input.slice(-8);
    const topics = {
      input,
      readings1m: `${input}.readings_1m`,
      anomalies: `${input}.anomalies`,
      silence: `${input}.silence`,
    };
    const job = deviceTelemetryJob({
      name: `test-telemetry-${suffix}`,
      topics,
      silenceAfter: '1m',
      idleTimeout: '2s',
    });
    const tenantId = `tenant-${randomUUID().slice(0, 8)}`;
    const base = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;
    const { devices, records, sent, silentDevice, spikeDevice } = fleet(tenantId, base);
    records.push({ key: `${tenantId}:x`, value: '{"not an envelope"' });
    await produce(brokers, input, records);

    const admin = new Admin({ clientId: 'telemetry-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, job, { sinkPartitions: 1 });
    await admin.close();
    const stop = new AbortController();
    const worker = runWorker({ job, bootstrapServers: brokers, workerId: `telemetry-${suffix}`, signal: stop.signal });
    const values = async <T>(topic: string) =>
      (await readAll(brokers, topic)).map((r) => ({ key: r.key?.toString(), value: JSON.parse(String(r.value)) as T }));

    try {
      // The clock (idle partition, wall-clock watermark) closes every minute and silences every device in the end.
      const silence = await waitFor('every device silent at the end', async () => {
        const out = await values<DeviceSilence>(topics.silence);
        return out.filter((s) => s.value.status === 'silent').length >= devices.length + 1 ? out : undefined;
      });
      const minutes = await waitFor('every minute of every device metric', async () => {
        const out = await values<DeviceReadingsMinute>(topics.readings1m);
        return out.length >= 6 * 2 * 20 - 2 * 8 ? out : undefined;
      });
      const anomalies = await waitFor('the spike episode opened and closed', async () => {
        const out = await values<DeviceAnomalyEpisode>(topics.anomalies);
        return out.length >= 2 ? out : undefined;
      });

      // 1-minute aggregates, against an independent computation over the distinct readings sent.
      const expected = new Map<string, { count: number; min: number; max: number; sum: number }>();
      for (const s of sent) {
        const id = `${s.deviceId}|${s.metric}|${new Date(Math.floor(s.t / MINUTE) * MINUTE).toISOString()}`;
        const e = expected.get(id) ?? {
          count: 0,
          min: Number.POSITIVE_INFINITY,
          max: Number.NEGATIVE_INFINITY,
          sum: 0,
        };
        expected.set(id, {
          count: e.count + 1,
          min: Math.min(e.min, s.value),
          max: Math.max(e.max, s.value),
          sum: e.sum + s.value,
        });
      }
      expect(minutes).toHaveLength(expected.size);
      for (const { key, value: m } of minutes) {
        expect(key).toBe(`${tenantId}:${m.deviceId}`);
        expect(m.revision).toBe(0);
        const e = expected.get(`${m.deviceId}|${m.metric}|${m.windowStart}`);
        expect(e, `${m.deviceId} ${m.metric} ${m.windowStart}`).toBeDefined();
        expect([m.count, m.min, m.max]).toEqual([e?.count, e?.min, e?.max]);
        expect(m.sum).toBeCloseTo(e?.sum ?? Number.NaN, 9);
        expect(m.mean).toBeCloseTo((e?.sum ?? Number.NaN) / (e?.count ?? 1), 9);
        expect(m.unit).toBe(m.metric === 'temperature' ? 'C' : '%');
      }
      // Twelve readings a minute: the duplicates were removed.
      expect(minutes.every((m) => m.value.count === 12)).toBe(true);

      // The one planted spike, as one episode (open, then closed), with the device's context after its update.
      expect(anomalies.map((a) => a.value.status)).toEqual(['open', 'closed']);
      for (const { key, value: a } of anomalies) {
        expect(key).toBe(`${tenantId}:${spikeDevice}`);
        expect(a).toMatchObject({
          kind: 'anomaly_episode',
          tenantId,
          deviceId: spikeDevice,
          metric: 'temperature',
          key: `${tenantId}:${spikeDevice}:temperature`,
          peakValue: 50,
          peakDirection: 1,
          start: new Date(base + 180 * 5_000).toISOString(),
          deviceName: 'Sensor 2',
          deviceKind: 'thermometer',
          site: 'hall-2',
          points: 1,
        });
      }

      // Silence: d5 went silent a minute after its last reading before the gap (by the watermark of the other
      // devices' readings) and resumed at minute 18; at the end the clock silenced every device.
      const ofSilent = silence.filter((s) => s.value.deviceId === silentDevice).map((s) => s.value);
      expect(ofSilent.map((s) => [s.status, s.lastReadingAt, s.silentSince, s.resumedAt])).toEqual([
        ['silent', iso(base + 10 * MINUTE - 5_000), iso(base + 11 * MINUTE - 5_000), null],
        ['resumed', iso(base + 10 * MINUTE - 5_000), iso(base + 11 * MINUTE - 5_000), iso(base + 18 * MINUTE)],
        ['silent', iso(base + 20 * MINUTE - 5_000), iso(base + 21 * MINUTE - 5_000), null],
      ]);
      expect(ofSilent[0]).toMatchObject({ tenantId, deviceKind: null, site: null, silenceAfterMs: 60_000 });
      const last = silence.slice(-devices.length).map((s) => s.value);
      expect(last.map((s) => s.deviceId).sort()).toEqual([...devices].sort());
      expect(new Set(last.map((s) => s.lastReadingAt))).toEqual(new Set([iso(base + 20 * MINUTE - 5_000)]));
      expect(last.find((s) => s.deviceId === spikeDevice)).toMatchObject({ deviceKind: 'thermometer', site: 'hall-2' });

      const dead = await readAll(brokers, deadLetterTopicOf(input));
      expect(dead.map((d) => d.headers.get('bv-dlq-code')?.toString())).toEqual(['UNDECODABLE']);
    } finally {
      stop.abort();
      await worker;
    }
  }, 180_000);
});

const iso = (t: number) => new Date(t).toISOString();
