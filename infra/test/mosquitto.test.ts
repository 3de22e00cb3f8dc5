import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentByName, MQTT_BRIDGE_USER, setMosquittoUser, settingsFor } from '../src/index.js';
import { type IsolatedStack, startIsolatedStack } from '../src/testing.js';

const PORT_BASE = 47_100;

describe('Mosquitto in the local stack', () => {
  let stack: IsolatedStack;
  let url: string;
  beforeAll(async () => {
    stack = await startIsolatedStack(['mosquitto'], PORT_BASE);
    url = stack.config.mqtt?.url ?? '';
  }, 120_000);
  afterAll(() => stack?.destroy());

  const connect = (username: string, password: string) =>
    mqtt.connectAsync(url, {
      username,
      password,
      protocolVersion: 5,
      clientId: `spec-${randomUUID().slice(0, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });

  it('is healthy by a real QoS 1 round trip and its address is in the platform config', async () => {
    const health = await componentByName('mosquitto').health(settingsFor(stack.env));
    expect(health).toMatchObject({ healthy: true });
    expect(health.detail).toMatch(/Mosquitto 2\.0\.\d+: QoS 1 round trip/);
    expect(stack.config.mqtt).toEqual({
      url: `mqtt://127.0.0.1:${PORT_BASE + 7}`,
      username: MQTT_BRIDGE_USER,
      password: expect.any(String),
    });
  });

  it('refuses a wrong password and anonymous clients', async () => {
    await expect(connect(MQTT_BRIDGE_USER, 'not-the-password')).rejects.toThrow(
      /Bad User Name or Password|Not authorized/i,
    );
    await expect(
      mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000 }),
    ).rejects.toThrow(/Bad User Name or Password|Not authorized/i);
  });

  it('lets a tenant publish only to its own devices topics', async () => {
    const tenant = `t${randomUUID().slice(0, 8)}`;
    const other = `t${randomUUID().slice(0, 8)}`;
    await setMosquittoUser(settingsFor(stack.env), tenant, 'tenant-secret');
    // the broker reloads its password file on SIGHUP: wait until the new user can connect
    let device: mqtt.MqttClient | undefined;
    for (let attempt = 0; !device && attempt < 50; attempt++) {
      device = await connect(tenant, 'tenant-secret').catch(() => undefined);
      if (!device) await new Promise((r) => setTimeout(r, 100));
    }
    if (!device) throw new Error('the new tenant user could not connect');
    const bridge = await connect(MQTT_BRIDGE_USER, stack.config.mqtt?.password ?? '');
    try {
      const received: string[] = [];
      bridge.on('message', (topic) => received.push(topic));
      await bridge.subscribeAsync('devices/+/+/readings', { qos: 1 });
      await device.publishAsync(`devices/${tenant}/d1/readings`, '{}', { qos: 1 });
      // MQTT 5: PUBACK with reason code 135 (not authorized), which the client reports as an error
      await expect(device.publishAsync(`devices/${other}/d1/readings`, '{}', { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      await expect.poll(() => received, { timeout: 5000 }).toEqual([`devices/${tenant}/d1/readings`]);
    } finally {
      await device.endAsync(true);
      await bridge.endAsync(true);
    }
  });
});
