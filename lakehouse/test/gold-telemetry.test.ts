import { randomUUID } from 'node:crypto';
import { createLogger, loadPlatformConfig } from '@bitvelocity/core';
import { createTopic, produce, type TestRecord, waitFor } from '@bitvelocity/infra/testing';
import { ensureJobTopics, type JobDefinition, runWorker } from '@bitvelocity/streams';
import { deviceTelemetryJob } from '@bitvelocity/streams/jobs/device-telemetry';
import { deviceEnvelope, deviceReadingEnvelope } from '@bitvelocity/streams/testing';
import { Admin } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type DuckDb,
  GOLD_TELEMETRY_VIEWS,
  goldTelemetryJob,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
} from '../src/index.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const MINUTE = 60_000;

describe('device telemetry in Gold', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('lands the minutes (latest revision in the view), the spike episode with its device context and the silences, exactly once, with the catalog comments', async () => {
    const input = await createTopic(brokers, 'gold-telemetry', 2);
    const suffix = input.slice(-8);
    const topics = {
      deviceReadings1m: `${input}.readings_1m`,
      deviceAnomalies: `${input}.anomalies`,
      deviceSilence: `${input}.silence`,
    };
    const telemetry = deviceTelemetryJob({
      name: `test-telemetry-${suffix}`,
      topics: {
        input,
        readings1m: topics.deviceReadings1m,
        anomalies: topics.deviceAnomalies,
        silence: topics.deviceSilence,
      },
      silenceAfter: '30s',
      idleTimeout: '2s',
    });
    const landing = goldTelemetryJob({
      lake: lakeSystem({ views: GOLD_TELEMETRY_VIEWS }),
      name: `test-gold-telemetry-${suffix}`,
      topics,
    });
    const admin = new Admin({ clientId: 'gold-telemetry-test', bootstrapBrokers: brokers });
    await ensureJobTopics(admin, telemetry, { sinkPartitions: 2 });
    await ensureJobTopics(admin, landing);
    await admin.close();

    const tenantId = `tenant-${randomUUID().slice(0, 8)}`;
    const base = Math.floor((Date.now() - 3_600_000) / MINUTE) * MINUTE;
    const devices = [`pump-1-${suffix}`, `pump-2-${suffix}`];
    const records: TestRecord[] = [];
    const key = (d: string) => `${tenantId}:${d}`;
    const device = { deviceId: devices[0] as string, name: 'Pump 1', kind: 'pump', site: 'plant-a', firmware: '2.0' };
    records.push({
      key: key(device.deviceId),
      value: JSON.stringify(deviceEnvelope(tenantId, { ...device, version: 1 }, new Date(base))),
    });
    const expected = new Map<string, number[]>();
    for (let step = 0; step < 90; step++) {
      const t = base + step * 2_000;
      for (const [i, deviceId] of devices.entries()) {
        const value = deviceId === devices[0] && step === 60 ? 99 : 10 + i + ((step * 7) % 5) / 10;
        const reading = {
          deviceId,
          metric: 'pressure',
          value,
          unit: 'bar',
          seq: step,
          recordedAt: new Date(t).toISOString(),
        };
        const record = { key: key(deviceId), value: JSON.stringify(deviceReadingEnvelope(tenantId, reading)) };
        records.push(record);
        if (step % 10 === 0) records.push(record); // re-delivered
        const id = `${deviceId}|${new Date(Math.floor(t / MINUTE) * MINUTE).toISOString()}`;
        expected.set(id, [...(expected.get(id) ?? []), value]);
      }
    }
    await produce(brokers, input, records);

    const logger = createLogger('test', 'warn');
    const workers = [telemetry, landing].map((job: JobDefinition) => {
      const stop = new AbortController();
      const worker = runWorker({
        job,
        bootstrapServers: brokers,
        workerId: `w-${job.name}`,
        signal: stop.signal,
        logger,
      });
      cleanups.push(async () => {
        stop.abort();
        await worker;
      });
      return worker;
    });
    expect(workers).toHaveLength(2);
    const lake: DuckDb = await openLake(config);
    cleanups.push(() => lake.close());
    cleanups.push(async () => {
      await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(landing.name))}`).catch(() => {});
    });
    const count = async (table: string) => {
      try {
        const [row] = await lake.rows<{ n: bigint }>(`SELECT count(*) AS n FROM gold.${table} WHERE tenant_id = $1`, [
          tenantId,
        ]);
        return Number(row?.n ?? 0n);
      } catch {
        return 0; // not created yet
      }
    };
    await waitFor(
      'the minutes, the episode and the silences in Gold',
      async () =>
        (await count('device_readings_1m_revisions')) === 6 &&
        (await count('device_anomaly_events')) === 2 &&
        (await count('device_silence')) === 2
          ? true
          : undefined,
      { timeoutMs: 120_000 },
    );

    const minutes = await lake.rows<{
      device_id: string;
      window_start: Date;
      readings: bigint;
      min_value: number;
      max_value: number;
      mean_value: number;
      unit: string;
      revision: number;
    }>(
      `SELECT device_id, window_start, readings, min_value, max_value, mean_value, unit, revision
         FROM gold.device_readings_1m WHERE tenant_id = $1 ORDER BY device_id, window_start`,
      [tenantId],
    );
    expect(minutes).toHaveLength(expected.size);
    for (const m of minutes) {
      const values = expected.get(`${m.device_id}|${new Date(m.window_start).toISOString()}`) ?? [];
      expect([Number(m.readings), m.min_value, m.max_value, m.unit, m.revision]).toEqual([
        values.length,
        Math.min(...values),
        Math.max(...values),
        'bar',
        0,
      ]);
      expect(m.mean_value).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
    }

    const episodes = await lake.rows(
      `SELECT status, device_id, metric, device_name, device_kind, site, peak_value, points, start_time
         FROM gold.device_anomalies WHERE tenant_id = $1`,
      [tenantId],
    );
    expect(episodes).toEqual([
      {
        status: 'closed',
        device_id: devices[0],
        metric: 'pressure',
        device_name: 'Pump 1',
        device_kind: 'pump',
        site: 'plant-a',
        peak_value: 99,
        points: 1,
        start_time: new Date(base + 60 * 2_000),
      },
    ]);

    const silences = await lake.rows(
      `SELECT device_id, status, device_kind, last_reading_at, silent_since FROM gold.device_silence
        WHERE tenant_id = $1 ORDER BY device_id`,
      [tenantId],
    );
    const lastAt = new Date(base + 89 * 2_000);
    expect(silences).toEqual([
      {
        device_id: devices[0],
        status: 'silent',
        device_kind: 'pump',
        last_reading_at: lastAt,
        silent_since: new Date(lastAt.getTime() + 30_000),
      },
      {
        device_id: devices[1],
        status: 'silent',
        device_kind: null,
        last_reading_at: lastAt,
        silent_since: new Date(lastAt.getTime() + 30_000),
      },
    ]);

    const comments = await lake.rows<{ table_name: string; comment: string | null }>(
      `SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'gold'
          AND table_name IN ('device_readings_1m_revisions', 'device_anomaly_events', 'device_silence') ORDER BY table_name`,
    );
    expect(comments.map((c) => c.table_name)).toEqual([
      'device_anomaly_events',
      'device_readings_1m_revisions',
      'device_silence',
    ]);
    expect(comments.every((c) => (c.comment ?? '').length > 20)).toBe(true);
    const uncommented = await lake.rows(
      `SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'gold'
          AND table_name IN ('device_readings_1m_revisions', 'device_anomaly_events', 'device_silence') AND comment IS NULL`,
    );
    expect(uncommented).toEqual([]);
  }, 240_000);
});
