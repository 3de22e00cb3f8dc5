import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type DeviceReadingPayload, type Envelope, loadPlatformConfig } from '@bitvelocity/core';
import { setMosquittoUser, settingsFor } from '@bitvelocity/infra';
import { BV, type IsolatedStack, startIsolatedStack, waitFor } from '@bitvelocity/infra/testing';
import { readAll } from '@bitvelocity/streams/testing';
import { Consumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet } from '../src/index.js';

const PORT_BASE = 47_300;
const brokers = loadPlatformConfig().kafka.bootstrapServers;

/** Records in the topic so far (sum of the partitions' end offsets). */
async function recordCount(consumer: Consumer, topic: string): Promise<number> {
  const offsets = await consumer.listOffsets({ topics: [topic] }).catch(() => undefined);
  return (offsets?.get(topic) ?? []).reduce((sum, end) => sum + Number(end), 0);
}

describe('the telemetry bridge under kill -9', () => {
  let stack: IsolatedStack;
  let consumer: Consumer;
  const children: ChildProcess[] = [];
  const tenant = `t${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  const topic = `test.iot-crash.${randomUUID().slice(0, 8)}`;
  const clientId = `spec-crash-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    stack = await startIsolatedStack(['mosquitto'], PORT_BASE);
    await setMosquittoUser(settingsFor(stack.env), tenant, password);
    consumer = new Consumer({ clientId: 'spec', bootstrapBrokers: brokers, groupId: `spec-${randomUUID()}` });
  }, 180_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await consumer?.close();
    await stack?.destroy();
  });

  /** `bv telemetry bridge` as its own process; resolves once it says it is ready. */
  async function startBridge(): Promise<ChildProcess> {
    const mqtt = stack.config.mqtt;
    const child = spawn(
      'node',
      [
        BV,
        'telemetry',
        'bridge',
        '--topic',
        topic,
        '--client-id',
        clientId,
        '--no-http',
        '--rate',
        '1000000',
        '--burst',
        '1000000',
      ],
      {
        env: {
          ...process.env,
          BV_MQTT_URL: mqtt?.url,
          BV_MQTT_USERNAME: mqtt?.username,
          BV_MQTT_PASSWORD: mqtt?.password,
          BV_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    await waitFor(
      'the bridge is ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`the bridge exited: ${output}`);
        return output.includes('telemetry bridge ready') ? true : undefined;
      },
      { timeoutMs: 90_000 },
    );
    return child;
  }

  it('loses no reading when the bridge is killed mid-stream and restarted', async () => {
    const first = await startBridge();
    const fleet = runFleet({
      url: stack.config.mqtt?.url ?? '',
      tenant,
      password,
      devices: 50,
      readingsPerDevice: 300,
      connections: 2,
      inflightPerConnection: 50,
      collectEventIds: true,
    });
    // kill -9 while readings are flowing: some in Kafka, more in flight and queued in the broker
    await waitFor(
      'the first readings in Kafka',
      async () => ((await recordCount(consumer, topic)) >= 2000 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 50,
      },
    );
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = await recordCount(consumer, topic);
    await startBridge();
    const published = await fleet;
    expect(published.published).toBe(15_000);
    expect(atKill).toBeLessThan(15_000);

    const eventIds = await waitFor(
      'every published reading in Kafka',
      async () => {
        const ids = new Set(
          (await readAll(brokers, topic)).map(
            (r) => (JSON.parse(r.value?.toString() ?? '{}') as Envelope<DeviceReadingPayload>).eventId,
          ),
        );
        return ids.size >= published.eventIds.size ? ids : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    expect(eventIds).toEqual(published.eventIds);
  }, 240_000);
});
