/**
 * Device telemetry from Kafka to Gold: readings/s through the device-telemetry job (dedupe, device context, 1-minute
 * aggregates, z-score, silence; exactly-once Kafka transactions) and the lake-gold-telemetry landing job into
 * gold.device_readings_1m, for a fleet of devices.
 *   flock /work/coord/bench.lock npx tsx bench/telemetry-gold.ts [--devices 10000] [--readings 30] [--partitions 6]
 * The readings (one metric per device, one every 2 s of event time an hour ago) are produced first, untimed; then both
 * jobs start in this process (one worker each) and the clock runs until the view gold.device_readings_1m (the latest
 * revision of each device-minute) counts every reading. Devices are staggered by up to 59 s within a step, beyond the
 * job's 30 s out-of-orderness, so some readings are late and land as revisions. The
 * partitions' last minutes close when they go idle (idleTimeout 1 s, wall-clock watermark), so the run includes
 * about a second of idle wait. CPU-seconds are this process's (both jobs, their Kafka clients and DuckDB).
 * Needs the stack up (`bv stack up`). Every process shares the same 2 cores.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlatformConfig } from '@bitvelocity/core';
import {
  GOLD_TELEMETRY_VIEWS,
  goldTelemetryJob,
  lakeSystem,
  offsetsTableOf,
  openLake,
  qualifiedName,
} from '@bitvelocity/lakehouse';
import { ensureJobTopics } from '@bitvelocity/streams';
import { deviceTelemetryJob } from '@bitvelocity/streams/jobs/device-telemetry';
import { deviceReadingEnvelope } from '@bitvelocity/streams/testing';
import { Admin, Producer } from '@platformatic/kafka';
import { numberArg } from './load.js';
import { start, stopAll } from './workers.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const MINUTE = 60_000;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main() {
  const devices = numberArg('devices', 10_000);
  const perDevice = numberArg('readings', 30);
  const partitions = numberArg('partitions', 6);
  const id = randomUUID().slice(0, 8);
  const input = `bench.telemetry.${id}`;
  const tenantId = `bench-${id}`;
  const admin = new Admin({ clientId: 'bench-telemetry', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [input], partitions, replicas: 1 });
  const telemetry = deviceTelemetryJob({
    name: `bench-telemetry-${id}`,
    topics: {
      input,
      readings1m: `${input}.readings_1m`,
      anomalies: `${input}.anomalies`,
      silence: `${input}.silence`,
    },
    idleTimeout: '1s',
  });
  const landing = goldTelemetryJob({
    lake: lakeSystem({ views: GOLD_TELEMETRY_VIEWS }),
    name: `bench-gold-telemetry-${id}`,
    topics: {
      deviceReadings1m: `${input}.readings_1m`,
      deviceAnomalies: `${input}.anomalies`,
      deviceSilence: `${input}.silence`,
    },
  });
  await ensureJobTopics(admin, telemetry, { sinkPartitions: partitions });
  await ensureJobTopics(admin, landing);
  await admin.close();

  // The fleet: devices start at staggered seconds, so their minutes are not all aligned.
  const base = Math.floor((Date.now() - 3_600_000) / MINUTE) * MINUTE;
  const producer = new Producer({ clientId: 'bench-telemetry', bootstrapBrokers: brokers, acks: -1 });
  const expectedMinutes = new Set<string>();
  let batch: { topic: string; key: Buffer; value: Buffer }[] = [];
  let bytes = 0;
  const produceStart = performance.now();
  for (let step = 0; step < perDevice; step++) {
    for (let d = 0; d < devices; d++) {
      const deviceId = `dev-${d}`;
      const t = base + (d % 60) * 1_000 + step * 2_000;
      const reading = {
        deviceId,
        metric: 'temperature',
        value: 20 + (d % 7) + ((step * 13 + d) % 10) / 10,
        unit: 'C',
        seq: step,
        recordedAt: new Date(t).toISOString(),
      };
      const value = Buffer.from(JSON.stringify(deviceReadingEnvelope(tenantId, reading)));
      bytes += value.length;
      batch.push({ topic: input, key: Buffer.from(`${tenantId}:${deviceId}`), value });
      expectedMinutes.add(`${deviceId}|${Math.floor(t / MINUTE)}`);
      if (batch.length === 5_000) {
        await producer.send({ messages: batch });
        batch = [];
      }
    }
  }
  if (batch.length > 0) await producer.send({ messages: batch });
  await producer.close();
  const readings = devices * perDevice;
  console.log(
    `produced ${readings} readings of ${devices} devices (${Math.round(bytes / readings)} B each) in ${((performance.now() - produceStart) / 1000).toFixed(1)} s; ${expectedMinutes.size} device-minutes expected`,
  );

  const lake = await openLake(config);
  // Complete when the latest revisions of the device-minutes hold every reading (late readings land as revisions).
  const goldReadings = async () => {
    try {
      const [row] = await lake.rows<{ n: bigint; readings: bigint | null }>(
        'SELECT count(*) AS n, sum(readings) AS readings FROM gold.device_readings_1m WHERE tenant_id = $1',
        [tenantId],
      );
      return { rows: Number(row?.n ?? 0n), readings: Number(row?.readings ?? 0n) };
    } catch {
      return { rows: 0, readings: 0 };
    }
  };
  console.log(`load before: ${load()}`);
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const workers = [start(telemetry), start(landing)];
  let jobDoneAt: number | undefined;
  let gold = { rows: 0, readings: 0 };
  const timeoutAt = wallStart + 30 * MINUTE;
  while (performance.now() < timeoutAt) {
    await sleep(250);
    const s = workers[0]?.status;
    if (jobDoneAt === undefined && s && s.tasks.length === partitions && s.tasks.every((t) => t.lag === 0))
      jobDoneAt = performance.now();
    gold = await goldReadings();
    if (gold.readings >= readings) break;
  }
  const wall = (performance.now() - wallStart) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const loadAfter = load();
  await stopAll(workers);
  await lake.run(`DROP TABLE IF EXISTS ${qualifiedName(offsetsTableOf(landing.name))}`).catch(() => {});
  lake.close();

  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} vCPU ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`,
    devices,
    readings,
    partitions,
    goldDeviceMinutes: gold.rows,
    expectedDeviceMinutes: expectedMinutes.size,
    goldReadings: gold.readings,
    jobCaughtUpSeconds: jobDoneAt === undefined ? null : Number(((jobDoneAt - wallStart) / 1000).toFixed(1)),
    kafkaToGoldSeconds: Number(wall.toFixed(1)),
    readingsPerSecond: Math.round(readings / wall),
    cpuSecondsPer100kReadings: Number(((cpuSeconds / readings) * 100_000).toFixed(2)),
    loadAfter,
  };
  console.log(JSON.stringify(result, null, 2));
  if (gold.readings < readings || gold.rows !== expectedMinutes.size) process.exitCode = 1;
}

await main();
