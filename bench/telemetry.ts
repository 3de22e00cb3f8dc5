/**
 * Device telemetry, by part:
 *   npx tsx bench/telemetry.ts [--part ingest] [--devices 10000] [--readings-per-device 10] [--connections 4]
 *     [--inflight 1000] [--per-message 1] [--batch 2000] [--linger-ms 5] [--receive-maximum 10000]
 *     [--producers 2] [--bridges 1]
 * ingest: readings/s from MQTT (QoS 1, Mosquitto of the stack) into Kafka through `bv telemetry bridge` as its own
 *   process: `devices` devices publish `readings-per-device` readings each from `connections` publisher connections
 *   with `inflight` unacknowledged QoS 1 messages each; the rate is readings in Kafka / seconds from the first
 *   publish to the last reading in Kafka. CPU-seconds per 1,000 readings of each process (bridge, Mosquitto, Kafka,
 *   the publishers) say where the ceiling is. More parts (gold, notify) are added as further `--part` sections.
 * Needs the stack up (`bv stack up`, Mosquitto included). Run it under the shared bench lock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlatformConfig } from '@bitvelocity/core';
import { componentByName, MQTT_BRIDGE_USER, setMosquittoUser, settingsFor } from '@bitvelocity/infra';
import { BV } from '@bitvelocity/infra/testing';
import { runFleet } from '@bitvelocity/ingest';
import { Admin, Consumer } from '@platformatic/kafka';
import { connectAsync } from 'mqtt';
import { numberArg } from './load.js';

const config = loadPlatformConfig();
const brokers = config.kafka.bootstrapServers;
const stringArg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** CPU-seconds (user + system) a process has used so far, from /proc. */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return Number.NaN;
  }
}

async function recordCount(consumer: Consumer, topic: string): Promise<number> {
  const offsets = await consumer.listOffsets({ topics: [topic] }).catch(() => undefined);
  return (offsets?.get(topic) ?? []).reduce((sum, end) => sum + Number(end), 0);
}

async function startBridge(
  topic: string,
  clientId: string,
  mqtt: { url: string; username: string; password: string },
  options: string[],
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    'node',
    [
      // e.g. BENCH_BRIDGE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the bridge alone
      ...(process.env.BENCH_BRIDGE_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      BV,
      'telemetry',
      'bridge',
      '--topic',
      topic,
      '--client-id',
      clientId,
      '--no-http',
      ...options,
    ],
    {
      env: {
        ...process.env,
        BV_LOG_LEVEL: 'warn',
        BV_MQTT_URL: mqtt.url,
        BV_MQTT_USERNAME: mqtt.username,
        BV_MQTT_PASSWORD: mqtt.password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  for (let waited = 0; !output.includes('telemetry bridge ready'); waited += 100) {
    if (child.exitCode !== null || waited > 120_000) throw new Error(`the bridge did not start: ${output}`);
    await sleep(100);
  }
  return { child, output: () => output };
}

/** Ends the bench bridge's persistent session, which would otherwise queue every device's readings in the broker. */
async function endSession(mqtt: { url: string; username: string; password: string }, clientId: string): Promise<void> {
  const client = await connectAsync(mqtt.url, {
    username: mqtt.username,
    password: mqtt.password,
    protocolVersion: 5,
    clientId,
    clean: true,
    properties: { sessionExpiryInterval: 0 },
    reconnectPeriod: 0,
  }).catch(() => undefined);
  await client?.endAsync(true);
}

async function ingest(): Promise<void> {
  const devices = numberArg('devices', 10_000);
  const perDevice = numberArg('readings-per-device', 10);
  const connections = numberArg('connections', 4);
  const inflight = numberArg('inflight', 1000);
  const perMessage = numberArg('per-message', 1);
  const total = devices * perDevice;
  const settings = settingsFor();
  // The local stack's broker (platform.json says the same once `bv stack up` wrote it).
  const mqtt = config.mqtt ?? {
    url: `mqtt://${settings.host}:${settings.ports.mosquitto}`,
    username: MQTT_BRIDGE_USER,
    password: settings.secrets.mqttBridgePassword,
  };
  const tenant = `bench${randomUUID().slice(0, 6)}`;
  const password = randomUUID();
  await setMosquittoUser(settings, tenant, password);
  const topic = `bench.iot-device.${randomUUID().slice(0, 8)}`;
  const group = `bench-${randomUUID().slice(0, 8)}`;
  // --bridges N > 1: N bridge processes split the devices through a shared subscription ($share/<group>/...).
  const bridgeCount = numberArg('bridges', 1);
  const clientIds = Array.from({ length: bridgeCount }, (_, i) => (bridgeCount > 1 ? `${group}-${i}` : group));
  const options = [
    '--rate',
    '1000000',
    '--burst',
    '1000000',
    '--batch',
    String(numberArg('batch', 2000)),
    '--linger-ms',
    String(numberArg('linger-ms', 5)),
    '--receive-maximum',
    String(numberArg('receive-maximum', 10_000)),
    '--producers',
    String(numberArg('producers', 2)),
    ...(bridgeCount > 1 ? ['--share-group', group] : []),
  ];
  const bridges: Awaited<ReturnType<typeof startBridge>>[] = [];
  for (const id of clientIds) bridges.push(await startBridge(topic, id, mqtt, options));
  const bridgeOutput = () => bridges.map((b) => b.output()).join('\n');
  const bridgeCpu = () => bridges.reduce((sum, b) => sum + cpuSecondsOf(b.child.pid), 0);
  const consumer = new Consumer({ clientId: 'bench', bootstrapBrokers: brokers, groupId: `bench-${randomUUID()}` });
  const pids = {
    mosquitto: componentByName('mosquitto').runningPid(settings),
    kafka: componentByName('kafka').runningPid(settings),
  };
  console.log(
    `ingest: ${devices} devices x ${perDevice} readings = ${total} readings, ${perMessage} per message, ` +
      `${connections} publisher connections x ${inflight} in flight, ${bridgeCount} bridge(s) x ${numberArg('producers', 2)} producers; ${cpus().length} vCPU ${cpus()[0]?.model}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(`load average (uptime) before: ${load()}`);
  await sleep(1000);
  const before = {
    bridge: bridgeCpu(),
    mosquitto: cpuSecondsOf(pids.mosquitto),
    kafka: cpuSecondsOf(pids.kafka),
    self: process.cpuUsage(),
  };
  const started = performance.now();
  let lastSeen = 0;
  let inKafka = 0;
  let stalled = false;
  const watcher = (async () => {
    let progressAt = performance.now();
    while (inKafka < total) {
      const count = await recordCount(consumer, topic);
      if (count > inKafka) {
        progressAt = performance.now();
        lastSeen = progressAt;
      }
      inKafka = count;
      // No reading reached Kafka for 30 s: the bridge is stuck (its log says why); stop rather than wait forever.
      if (performance.now() - progressAt > 30_000 || performance.now() - started > 600_000) {
        stalled = true;
        break;
      }
      await sleep(50);
    }
  })();
  const fleet = await runFleet({
    url: mqtt.url,
    tenant,
    password,
    devices,
    readingsPerDevice: perDevice,
    connections,
    inflightPerConnection: inflight,
    readingsPerMessage: perMessage,
  });
  await watcher;
  if (stalled)
    console.log(`STALLED at ${inKafka} of ${total} readings; the bridge said:\n${bridgeOutput().slice(-3000)}`);
  const seconds = (lastSeen - started) / 1000;
  const self = process.cpuUsage(before.self);
  const cpu = {
    bridge: bridgeCpu() - before.bridge,
    mosquitto: cpuSecondsOf(pids.mosquitto) - before.mosquitto,
    kafka: cpuSecondsOf(pids.kafka) - before.kafka,
    publishers: (self.user + self.system) / 1e6,
  };
  const per1000 = (s: number) => ((s / inKafka) * 1000).toFixed(4);
  console.log(
    `published (PUBACK to the fleet): ${fleet.published} readings in ${fleet.seconds.toFixed(2)} s = ${Math.round(fleet.published / fleet.seconds)}/s`,
  );
  console.log(
    `in Kafka: ${inKafka} readings in ${seconds.toFixed(2)} s = ${Math.round(inKafka / seconds)} readings/s (MQTT QoS 1 -> Kafka acks=all)`,
  );
  console.log(
    `CPU-seconds per 1,000 readings: bridge ${per1000(cpu.bridge)}, mosquitto ${per1000(cpu.mosquitto)}, kafka ${per1000(cpu.kafka)}, publishers ${per1000(cpu.publishers)}`,
  );
  const cpuTotal = cpu.bridge + cpu.mosquitto + cpu.kafka + cpu.publishers;
  console.log(
    `CPU-bound ceiling on 2 cores at this cost: ${Math.round((2 / cpuTotal) * inKafka)} readings/s (bridge alone on 1 core: ${Math.round(inKafka / cpu.bridge)}/s)`,
  );
  console.log(`load average (uptime) after: ${load()}`);
  for (const { child } of bridges) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(stalled ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }
  for (const id of clientIds) await endSession(mqtt, id);
  await consumer.close();
  const admin = new Admin({ clientId: 'bench', bootstrapBrokers: brokers });
  await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
  await admin.close();
}

const parts: Record<string, () => Promise<void>> = { ingest };
const part = stringArg('part', 'ingest');
const run = parts[part];
if (!run) throw new Error(`--part must be one of ${Object.keys(parts).join(', ')}`);
await run();
