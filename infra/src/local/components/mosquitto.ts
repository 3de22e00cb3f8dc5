import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { versions } from '../../versions.js';
import { aptInstall } from '../apt.js';
import { type Component, probe } from '../component.js';
import { livePid, runCommand, startDaemon, stopProcess, waitUntil } from '../process.js';
import type { StackSettings } from '../settings.js';

const BINARY = '/usr/sbin/mosquitto';
const PASSWD = '/usr/bin/mosquitto_passwd';
/** The MQTT user the telemetry bridge (and the health probe) connects as. */
export const MQTT_BRIDGE_USER = 'bv-bridge';
/** Topic the health probe round-trips a message on; only the bridge user may use it. */
const HEALTH_TOPIC = 'bv/health';

const dataDir = (s: StackSettings) => join(s.paths.data, 'mosquitto');
const configDir = (s: StackSettings) => join(s.paths.config, 'mosquitto');
const configFile = (s: StackSettings) => join(configDir(s), 'mosquitto.conf');
export const mosquittoPasswordFile = (s: StackSettings) => join(configDir(s), 'passwd');
const aclFile = (s: StackSettings) => join(configDir(s), 'acl');
const pidFile = (s: StackSettings) => join(s.paths.run, 'mosquitto.pid');

/**
 * Loopback only, no anonymous clients, persistence on so the bridge's persistent session (its subscription and the
 * QoS 1 readings not yet acknowledged) survives a broker restart. Devices connect as their tenant: the ACL's
 * `%u` pattern lets user `<tenant>` publish only to `devices/<tenant>/+/readings`.
 */
function writeConfig(s: StackSettings): string {
  mkdirSync(configDir(s), { recursive: true, mode: 0o700 });
  writeFileSync(
    aclFile(s),
    [
      `user ${MQTT_BRIDGE_USER}`,
      'topic read devices/+/+/readings',
      `topic readwrite ${HEALTH_TOPIC}/#`,
      '',
      '# every other user is a tenant: it publishes its own devices readings, nothing else',
      'pattern write devices/%u/+/readings',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  writeFileSync(
    configFile(s),
    [
      'per_listener_settings false',
      `listener ${s.ports.mosquitto} ${s.host}`,
      'allow_anonymous false',
      `password_file ${mosquittoPasswordFile(s)}`,
      `acl_file ${aclFile(s)}`,
      'persistence true',
      `persistence_location ${dataDir(s)}/`,
      'autosave_interval 30',
      // Many QoS 1 messages in flight per connection: the bridge acknowledges in batches, after Kafka did.
      'max_inflight_messages 10000',
      'max_queued_messages 1000000',
      'max_keepalive 300',
      'user root',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'connection_messages false',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return configFile(s);
}

/** MQTT user names the broker accepts: a tenant id (the ACL's `%u`, so no `/`, `+` or `#`). */
export const MQTT_USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A running broker reloads its password file (and ACL) on SIGHUP. */
function reloadBroker(s: StackSettings): void {
  const pid = livePid(pidFile(s));
  if (pid !== undefined) process.kill(pid, 'SIGHUP');
}

/** Adds (or changes the password of) an MQTT user; a running broker reloads its password file on SIGHUP. */
export async function setMosquittoUser(s: StackSettings, username: string, password: string): Promise<void> {
  if (!MQTT_USER_NAME.test(username)) throw new Error(`"${username}" is not a valid MQTT user name`);
  const file = mosquittoPasswordFile(s);
  mkdirSync(configDir(s), { recursive: true, mode: 0o700 });
  const create = existsSync(file) ? [] : ['-c'];
  await runCommand(PASSWD, [...create, '-b', file, username, password], { timeoutMs: 30_000 });
  reloadBroker(s);
}

/** The users in the broker's password file (the bridge's and every tenant's), sorted. */
export function listMosquittoUsers(s: StackSettings): string[] {
  const file = mosquittoPasswordFile(s);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.slice(0, line.indexOf(':')))
    .filter((name) => name.length > 0)
    .sort();
}

/** Deletes an MQTT user; false when there was none. Its live connections are refused at their next (re)connect. */
export async function removeMosquittoUser(s: StackSettings, username: string): Promise<boolean> {
  if (!listMosquittoUsers(s).includes(username)) return false;
  await runCommand(PASSWD, ['-D', mosquittoPasswordFile(s), username], { timeoutMs: 30_000 });
  reloadBroker(s);
  return true;
}

export const mosquitto: Component = {
  name: 'mosquitto',
  kind: 'server',
  portKey: 'mosquitto',
  version: versions.mosquitto.version,
  dependsOn: [],
  address: (s) => `mqtt://${s.host}:${s.ports.mosquitto}`,
  logFile: (s) => join(s.paths.logs, 'mosquitto.log'),
  isInstalled: () => existsSync(BINARY) && existsSync(PASSWD),

  async install(s) {
    if (this.isInstalled(s)) return;
    const pkg = versions.mosquitto.debianPackage;
    await aptInstall([pkg], this.logFile(s), `run: sudo apt-get install -y ${pkg}`);
  },

  runningPid: (s) => livePid(pidFile(s)),

  async start(s) {
    mkdirSync(dataDir(s), { recursive: true });
    // Tenant users stay in the password file across restarts; the bridge's entry follows the generated secret.
    await setMosquittoUser(s, MQTT_BRIDGE_USER, s.secrets.mqttBridgePassword);
    startDaemon(BINARY, ['-c', writeConfig(s)], { logFile: this.logFile(s), pidFile: pidFile(s) });
    await waitUntil(() => mqttRoundTrip(s), {
      timeoutMs: 30_000,
      intervalMs: 200,
      stillAlive: () => this.runningPid(s) !== undefined,
    });
  },

  stop: (s) => stopProcess(pidFile(s)),

  health: (s) => probe(() => mqttRoundTrip(s)),
};

/** Connects with the bridge's credentials, subscribes a probe topic and publishes to it with QoS 1. */
async function mqttRoundTrip(s: StackSettings): Promise<string> {
  const client = await mqtt.connectAsync(`mqtt://${s.host}:${s.ports.mosquitto}`, {
    username: MQTT_BRIDGE_USER,
    password: s.secrets.mqttBridgePassword,
    protocolVersion: 5,
    clientId: `bv-health-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: 2000,
  });
  try {
    const topic = `${HEALTH_TOPIC}/${randomUUID()}`;
    const body = randomUUID();
    const received = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the probe message did not come back within 2 s')), 2000);
      client.on('message', (t, payload) => {
        if (t === topic && payload.toString() === body) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const [granted] = await client.subscribeAsync(topic, { qos: 1 });
    if (granted?.qos !== 1) throw new Error(`subscription refused (granted ${JSON.stringify(granted)})`);
    await client.publishAsync(topic, body, { qos: 1 });
    await received;
    return `Mosquitto ${versions.mosquitto.version}: QoS 1 round trip as ${MQTT_BRIDGE_USER}`;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}
