import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { loadPlatformConfig } from '@bitvelocity/core';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const mqttConfig = loadPlatformConfig().mqtt;
if (!mqttConfig) throw new Error('no MQTT broker in the platform config: run `bv stack up`');
const broker = mqttConfig;

const bv = (...args: string[]) => exec('node', ['cli/bin/bv.js', 'telemetry', 'users', ...args]);
/** Runs `bv telemetry users ...` with `input` on stdin; resolves with the exit code, stdout and stderr. */
const bvWithStdin = (input: string, ...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('node', ['cli/bin/bv.js', 'telemetry', 'users', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('the command succeeded');
    },
    (error: { code: number; stderr: string }) => error,
  );

const connect = (username: string, password: string) =>
  mqtt.connectAsync(broker.url, {
    username,
    password,
    protocolVersion: 5,
    clientId: `spec-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });

/** The broker reloads its password file on SIGHUP, a moment after the command returns. */
async function connectOnceReloaded(username: string, password: string): Promise<mqtt.MqttClient> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const client = await connect(username, password).catch(() => undefined);
    if (client) return client;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${username} could not connect`);
}

const tenant = `spec${randomUUID().slice(0, 8)}`;
const other = `spec${randomUUID().slice(0, 8)}`;
afterAll(async () => {
  for (const name of [tenant, other]) await bv('remove', name).catch(() => undefined);
});

describe('bv telemetry users', () => {
  it('adds a tenant user that may publish to its own devices topic and not to another tenant', async () => {
    const added = JSON.parse((await bv('add', tenant, '--json')).stdout) as { tenant: string; password: string };
    expect(added).toEqual({ tenant, password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/), generated: true });
    expect(JSON.parse((await bv('list', '--json')).stdout)).toContain(tenant);
    expect(JSON.parse((await bv('list', '--json')).stdout)).not.toContain('bv-bridge');

    const device = await connectOnceReloaded(tenant, added.password);
    const bridge = await connect(broker.username, broker.password);
    try {
      const received: string[] = [];
      bridge.on('message', (topic) => received.push(topic));
      await bridge.subscribeAsync(`devices/+/spec-device-${tenant}/readings`, { qos: 1 });
      await device.publishAsync(`devices/${tenant}/spec-device-${tenant}/readings`, '{}', { qos: 1 });
      // MQTT 5: the broker answers PUBACK with reason 135 (not authorized) for a topic outside the tenant's own
      await expect(
        device.publishAsync(`devices/${other}/spec-device-${tenant}/readings`, '{}', { qos: 1 }),
      ).rejects.toThrow(/Not authorized/);
      await expect
        .poll(() => received, { timeout: 5000 })
        .toEqual([`devices/${tenant}/spec-device-${tenant}/readings`]);
    } finally {
      await device.endAsync(true);
      await bridge.endAsync(true);
    }
  });

  it('sets a password from stdin, and a removed tenant can no longer connect', async () => {
    const password = `pw-${randomUUID()}`;
    const set = await bvWithStdin(`${password}\n`, 'add', other, '--password-stdin');
    expect(set).toMatchObject({ code: 0, stdout: `tenant ${other}: password set\n` });
    (await connectOnceReloaded(other, password)).end(true);

    await bv('remove', other);
    expect(JSON.parse((await bv('list', '--json')).stdout)).not.toContain(other);
    await expect
      .poll(
        () =>
          connect(other, password).then(
            (c) => {
              c.end(true);
              return 'connected';
            },
            (e: Error) => e.message,
          ),
        {
          timeout: 5000,
        },
      )
      .toMatch(/Bad User Name or Password|Not authorized/i);
  });

  it('refuses a malformed tenant id, the bridge user, a short password and an unknown tenant with their codes', async () => {
    for (const bad of ['a/b', 'devices+', 'x'.repeat(65), 'bv-bridge']) {
      const error = await failure(bv('add', bad));
      expect(error.code).toBe(1);
      expect(error.stderr).toMatch(/\[TELEMETRY_USER_INVALID\]/);
    }
    const short = await bvWithStdin('short\n', 'add', `spec${randomUUID().slice(0, 8)}`, '--password-stdin');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/\[TELEMETRY_PASSWORD_INVALID\].*12-128/);
    const unknown = await failure(bv('remove', `spec${randomUUID().slice(0, 8)}`));
    expect(unknown.stderr).toMatch(/\[TELEMETRY_USER_UNKNOWN\]/);
  });
});
