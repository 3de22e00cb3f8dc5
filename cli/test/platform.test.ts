import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isAlive, loadPlatformConfig } from '@bitvelocity/core';
import { stackStatus } from '@bitvelocity/infra';
import { createTopic } from '@bitvelocity/infra/testing';
import { Admin } from '@platformatic/kafka';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);

// The shared stack is already up: this `up` must find it running, start only its own processes (on ports of its own)
// and its own job (a name and topic of its own, so the shared registry and Kafka see no collision), and its `down`
// must stop exactly those. The warehouse build is left out here: it writes the shared Gold.
const input = await createTopic(loadPlatformConfig().kafka.bootstrapServers, 'platform', 1);
const stateDir = mkdtempSync(join(tmpdir(), 'bv-up-'));
const job = `platform-spec-${input.slice(-8)}`;
// The telemetry bridge gets a topic and MQTT session of its own: the shared iot.device and the product's session stay untouched.
const telemetryTopic = `${input}.telemetry`;
const telemetryClientId = `platform-spec-${input.slice(-8)}`;
const env = {
  ...process.env,
  BV_UP_STATE_DIR: stateDir,
  BV_SERVICES_PORT: '27180',
  BV_LINEAGE_PORT: '27150',
  BV_PG_SERVE_PORT: '27132',
  BV_TELEMETRY_PORT: '27196',
  BV_TELEMETRY_TOPIC: telemetryTopic,
  BV_TELEMETRY_CLIENT_ID: telemetryClientId,
  BV_UP_JOBS: `${job}=streams/test/fixtures/eos-job.ts`,
  BV_TEST_EOS_JOB: job,
  BV_TEST_EOS_INPUT: input,
};
const ONLY = 'stack,migrations,connector,services,jobs,lineage,telemetry,pg-serve';

const bv = async (...args: string[]) => {
  const started = Date.now();
  const { stdout } = await exec('node', ['cli/bin/bv.js', ...args], { env });
  process.stderr.write(`bv ${args.join(' ')}: ${Date.now() - started} ms\n`);
  return stdout;
};

interface Health {
  name: string;
  healthy: boolean;
  address: string | null;
  pid: number | null;
  lag: number | null;
  startedByUp: boolean;
  detail: string;
}
const statusOf = async () => JSON.parse(await bv('status', '--json')) as { healthy: boolean; components: Health[] };

afterAll(async () => {
  await bv('down').catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
  await forgetTelemetrySession();
  const admin = new Admin({ clientId: 'platform-spec', bootstrapBrokers: loadPlatformConfig().kafka.bootstrapServers });
  await admin.deleteTopics({ topics: [telemetryTopic, `${telemetryTopic}.dlq`] }).catch(() => undefined);
  await admin.close();
});

/** The bridge's persistent session would keep queueing every device's readings: end it with a clean start. */
async function forgetTelemetrySession(): Promise<void> {
  const broker = loadPlatformConfig().mqtt;
  if (!broker) return;
  const client = await mqtt
    .connectAsync(broker.url, {
      username: broker.username,
      password: broker.password,
      protocolVersion: 5,
      clientId: telemetryClientId,
      clean: true,
      properties: { sessionExpiryInterval: 0 },
      reconnectPeriod: 0,
    })
    .catch(() => undefined);
  await client?.endAsync(true);
}

describe('bv up / status / down', () => {
  it('starts what is not running, reports every component healthy, starts nothing twice, and stops only its own', async () => {
    const first = JSON.parse(await bv('up', '--only', ONLY, '--json')) as {
      started: string[];
      alreadyRunning: string[];
    };
    expect(first.started).toEqual(['services', `job:${job}`, 'lineage', 'telemetry', 'pg-serve']);
    expect(first.alreadyRunning).toEqual(expect.arrayContaining(['stack:postgres', 'stack:kafka', 'stack:connect']));

    const status = await statusOf();
    expect(status.components.filter((c) => !c.healthy)).toEqual([]);
    expect(status.healthy).toBe(true);
    const byName = new Map(status.components.map((c) => [c.name, c]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        'stack:postgres',
        'stack:kafka',
        'migrations',
        'connector',
        'services',
        `job:${job}`,
        'lineage',
        'pg-serve',
      ]),
    );
    expect(byName.get('services')).toMatchObject({ address: 'http://127.0.0.1:27180', startedByUp: true });
    expect(byName.get('pg-serve')?.detail).toMatch(/^SSLRequest answered/);
    expect(byName.get('telemetry')).toMatchObject({
      healthy: true,
      address: 'mqtt -> kafka; http://127.0.0.1:27196/v1/devices/:deviceId/readings',
      startedByUp: true,
      detail: expect.stringMatching(/^GET \/ready 200/),
    });
    expect(await (await fetch('http://127.0.0.1:27196/ready')).json()).toMatchObject({
      ready: true,
      mqtt: 'connected',
    });
    expect(byName.get(`job:${job}`)).toMatchObject({ lag: 0, startedByUp: true });
    expect(byName.get('stack:postgres')?.startedByUp).toBe(false);

    // Supervised: the services process is killed, its supervisor starts it again and it answers again.
    const supervisor = Number(readFileSync(join(stateDir, 'services.pid'), 'utf8'));
    const { stdout: children } = await exec('pgrep', ['-P', String(supervisor)]);
    const servicesPid = Number(children.trim().split('\n')[0]);
    process.kill(servicesPid, 'SIGKILL');
    let back: Health | undefined;
    for (let i = 0; i < 60 && !back?.healthy; i++) {
      await sleep(1000);
      back = (await fetch('http://127.0.0.1:27180/health')
        .then((r) => r.ok)
        .catch(() => false))
        ? { ...(byName.get('services') as Health), healthy: true }
        : undefined;
    }
    expect(back?.healthy).toBe(true);
    expect(isAlive(supervisor)).toBe(true);

    const second = JSON.parse(await bv('up', '--only', ONLY, '--json')) as {
      started: string[];
      alreadyRunning: string[];
    };
    expect(second.started).toEqual([]);
    expect(second.alreadyRunning).toEqual(
      expect.arrayContaining(['services', `job:${job}`, 'lineage', 'telemetry', 'pg-serve']),
    );

    const processPids = ['services', 'lineage', 'telemetry', 'pg-serve'].map((n) =>
      Number(readFileSync(join(stateDir, `${n}.pid`), 'utf8')),
    );
    const down = JSON.parse(await bv('down', '--json')) as { stopped: string[] };
    expect(down.stopped).toEqual(['pg-serve', 'telemetry', 'lineage', `job:${job}`, 'services']);
    expect(processPids.filter(isAlive)).toEqual([]);
    const jobState = JSON.parse(await bv('jobs', 'status', job, '--json')) as { state: string; desiredState: string };
    expect(jobState).toMatchObject({ state: 'stopped', desiredState: 'stopped' });
    // The shared stack was running before `up`, so `down` left it running.
    expect((await stackStatus()).filter((c) => !c.healthy)).toEqual([]);

    // Nothing of its own is left; what is left is reported unhealthy, with a non-zero exit.
    const after = await exec('node', ['cli/bin/bv.js', 'status', '--only', 'services,pg-serve'], { env }).catch(
      (e: unknown) => e as { code: number; stdout: string },
    );
    expect(after).toMatchObject({ code: 3 });
    expect((after as { stdout: string }).stdout).toMatch(/services\s+UNHEALTHY/);
    expect(JSON.parse(await bv('down', '--json'))).toEqual({ stopped: [] });
  }, 480_000);

  it('refuses an unknown component with a clear error', async () => {
    const error = (await bv('up', '--only', 'services,warp-drive').catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(error.code).toBe(1);
    expect(error.stderr).toContain('[PLATFORM_BAD_OPTION]: unknown component(s) warp-drive');
  });
  it('refuses to run while another up or down holds the lock, and takes over the lock of a dead one', async () => {
    const lock = join(stateDir, 'up.lock');
    writeFileSync(lock, `${process.pid}\n`); // this test runner: alive
    const busy = (await bv('up', '--only', 'migrations').catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`[PLATFORM_BUSY]: another bv up/down (pid ${process.pid}) is running`);
    writeFileSync(lock, '999999999\n'); // no such process
    expect(JSON.parse(await bv('down', '--json'))).toEqual({ stopped: [] });
    expect(existsSync(lock)).toBe(false);
  });
});
