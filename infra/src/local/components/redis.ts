import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { versions } from '../../versions.js';
import { aptInstall } from '../apt.js';
import { type Component, probe } from '../component.js';
import { livePid, startDaemon, stopProcess, waitUntil } from '../process.js';
import type { StackSettings } from '../settings.js';

const BINARY = '/usr/bin/redis-server';
const dataDir = (s: StackSettings) => join(s.paths.data, 'redis');
const configFile = (s: StackSettings) => join(s.paths.config, 'redis', 'redis.conf');
const pidFile = (s: StackSettings) => join(s.paths.run, 'redis.pid');

/** The services' read-through cache: loopback only, password from the generated secrets, no persistence needed. */
function writeConfig(s: StackSettings): string {
  mkdirSync(join(s.paths.config, 'redis'), { recursive: true, mode: 0o700 });
  writeFileSync(
    configFile(s),
    [
      `bind ${s.host}`,
      `port ${s.ports.redis}`,
      'protected-mode yes',
      `requirepass ${s.secrets.redisPassword}`,
      `dir ${dataDir(s)}`,
      'save ""',
      'appendonly no',
      'maxmemory 256mb',
      'maxmemory-policy allkeys-lru',
      'daemonize no',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return configFile(s);
}

export const redis: Component = {
  name: 'redis',
  kind: 'server',
  portKey: 'redis',
  version: `${versions.redis.major}`,
  dependsOn: [],
  address: (s) => `${s.host}:${s.ports.redis}`,
  logFile: (s) => join(s.paths.logs, 'redis.log'),
  isInstalled: () => existsSync(BINARY),

  async install(s) {
    if (existsSync(BINARY)) return;
    const pkg = versions.redis.debianPackage;
    await aptInstall([pkg], this.logFile(s), `run: sudo apt-get install -y ${pkg}`);
  },

  runningPid: (s) => livePid(pidFile(s)),

  async start(s) {
    mkdirSync(dataDir(s), { recursive: true });
    startDaemon(BINARY, [writeConfig(s)], { logFile: this.logFile(s), pidFile: pidFile(s) });
    await waitUntil(() => redisRoundTrip(s), {
      timeoutMs: 30_000,
      intervalMs: 200,
      stillAlive: () => this.runningPid(s) !== undefined,
    });
  },

  stop: (s) => stopProcess(pidFile(s)),

  health: (s) => probe(() => redisRoundTrip(s)),
};

async function redisRoundTrip(s: StackSettings): Promise<string> {
  const client = new Redis({
    host: s.host,
    port: s.ports.redis,
    password: s.secrets.redisPassword,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  // Failures surface through connect()/ping(); without a listener ioredis would also print them as unhandled.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return `Redis ${version}: ${pong}`;
  } finally {
    client.disconnect();
  }
}
