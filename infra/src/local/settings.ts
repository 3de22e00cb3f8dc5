import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Env, type PlatformConfig } from '@bitvelocity/core';
import type { StackPaths } from './paths.js';

/** Ports the local stack listens on (loopback only). Defaults avoid the well-known ports a developer may use. */
export interface StackPorts {
  postgres: number;
  kafka: number;
  kafkaController: number;
  connect: number;
  minio: number;
  minioConsole: number;
  redis: number;
  mosquitto: number;
}

const DEFAULT_PORTS: StackPorts = {
  postgres: 55432,
  kafka: 19092,
  kafkaController: 19093,
  connect: 18083,
  minio: 19000,
  minioConsole: 19001,
  redis: 16379,
  mosquitto: 11883,
};

export const PORT_VARIABLES: Record<keyof StackPorts, string> = {
  postgres: 'BV_PG_PORT',
  kafka: 'BV_KAFKA_PORT',
  kafkaController: 'BV_KAFKA_CONTROLLER_PORT',
  connect: 'BV_CONNECT_PORT',
  minio: 'BV_MINIO_PORT',
  minioConsole: 'BV_MINIO_CONSOLE_PORT',
  redis: 'BV_REDIS_PORT',
  mosquitto: 'BV_MQTT_PORT',
};

/** Credentials generated once per BV_HOME (never committed); env variables override them. */
interface StackSecrets {
  postgresPassword: string;
  minioAccessKey: string;
  minioSecretKey: string;
  kafkaClusterId: string;
  redisPassword: string;
  appDbPassword: string;
  /** The MQTT user of the telemetry bridge. */
  mqttBridgePassword: string;
}

export interface StackSettings {
  paths: StackPaths;
  ports: StackPorts;
  secrets: StackSecrets;
  host: '127.0.0.1';
  postgresUser: string;
  postgresDatabase: string;
  /** The database DuckLake keeps its catalog in. */
  lakeCatalogDatabase: string;
  lakeBucket: string;
}

export function readPorts(env: Env = process.env): StackPorts {
  const ports = { ...DEFAULT_PORTS };
  for (const key of Object.keys(PORT_VARIABLES) as (keyof StackPorts)[]) {
    const variable = PORT_VARIABLES[key];
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1024 || value > 65535) {
      throw new ConfigError('CONFIG_INVALID', `${variable} must be a port between 1024 and 65535, got "${raw}"`, {
        details: { variable },
      });
    }
    ports[key] = value;
  }
  const seen = new Map<number, string>();
  for (const [key, port] of Object.entries(ports)) {
    const other = seen.get(port);
    if (other) throw new ConfigError('CONFIG_INVALID', `${other} and ${key} are both set to port ${port}`);
    seen.set(port, key);
  }
  return ports;
}

function loadSecrets(paths: StackPaths, env: Env): StackSecrets {
  const file = join(paths.config, 'secrets.json');
  let stored: Partial<StackSecrets> = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackSecrets>;
  const generated: StackSecrets = {
    postgresPassword: stored.postgresPassword ?? randomBytes(18).toString('base64url'),
    minioAccessKey: stored.minioAccessKey ?? `bv${randomBytes(8).toString('hex')}`,
    minioSecretKey: stored.minioSecretKey ?? randomBytes(24).toString('base64url'),
    // Kafka's cluster id is a base64url-encoded 16-byte UUID, the same as `kafka-storage random-uuid` prints.
    kafkaClusterId: stored.kafkaClusterId ?? randomBytes(16).toString('base64url'),
    redisPassword: stored.redisPassword ?? randomBytes(18).toString('base64url'),
    appDbPassword: stored.appDbPassword ?? randomBytes(18).toString('base64url'),
    mqttBridgePassword:
      stored.mqttBridgePassword ?? readSecretCopy(paths, 'mqtt-bridge') ?? randomBytes(18).toString('base64url'),
  };
  if (JSON.stringify(stored) !== JSON.stringify(generated)) writePrivateJson(file, generated);
  writeSecretCopy(paths, 'mqtt-bridge', generated.mqttBridgePassword);
  return {
    ...generated,
    postgresPassword: env.BV_PG_PASSWORD || generated.postgresPassword,
    minioAccessKey: env.BV_S3_ACCESS_KEY_ID || generated.minioAccessKey,
    minioSecretKey: env.BV_S3_SECRET_ACCESS_KEY || generated.minioSecretKey,
  };
}

/**
 * A copy of a secret that a running server was configured with (Mosquitto's password file holds only a hash). An
 * older `bv` rewrites secrets.json without the keys it does not know; the copy keeps the server reachable then.
 */
const secretCopyFile = (paths: StackPaths, name: string) => join(paths.config, 'keep', `${name}.secret`);

function readSecretCopy(paths: StackPaths, name: string): string | undefined {
  const file = secretCopyFile(paths, name);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}

function writeSecretCopy(paths: StackPaths, name: string, value: string): void {
  if (readSecretCopy(paths, name) === value) return;
  const file = secretCopyFile(paths, name);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
}

export function loadStackSettings(paths: StackPaths, env: Env = process.env): StackSettings {
  return {
    paths,
    ports: readPorts(env),
    secrets: loadSecrets(paths, env),
    host: '127.0.0.1',
    postgresUser: 'bv',
    postgresDatabase: 'bitvelocity',
    lakeCatalogDatabase: 'bv_lake_catalog',
    lakeBucket: env.BV_S3_BUCKET || 'bv-lake',
  };
}

/** The platform config the rest of the platform reads through core's loadPlatformConfig(). */
export function platformConfigOf(settings: StackSettings): PlatformConfig {
  const { host, ports, secrets, paths } = settings;
  return {
    postgres: {
      host,
      port: ports.postgres,
      user: settings.postgresUser,
      password: secrets.postgresPassword,
      database: settings.postgresDatabase,
      appUser: 'bv_app',
      appPassword: secrets.appDbPassword,
      socketDir: join(paths.run, 'postgres'),
    },
    kafka: { bootstrapServers: [`${host}:${ports.kafka}`] },
    redis: { url: `redis://:${encodeURIComponent(secrets.redisPassword)}@${host}:${ports.redis}/0` },
    connect: { url: `http://${host}:${ports.connect}` },
    s3: {
      endpoint: `http://${host}:${ports.minio}`,
      region: 'us-east-1',
      accessKeyId: secrets.minioAccessKey,
      secretAccessKey: secrets.minioSecretKey,
      bucket: settings.lakeBucket,
    },
    duckdb: { extensionDirectory: join(paths.dist, 'duckdb', 'extensions') },
    lake: { catalogDatabase: settings.lakeCatalogDatabase, dataPath: `s3://${settings.lakeBucket}/lake/` },
    gx: { python: join(paths.venvs, 'gx', 'bin', 'python') },
    mqtt: { url: `mqtt://${host}:${ports.mosquitto}`, username: 'bv-bridge', password: secrets.mqttBridgePassword },
  };
}

export function writePrivateJson(file: string, value: unknown): void {
  const dir = join(file, '..');
  // Only the file's own folder is private: a recursive mkdir would give every folder it creates (BV_HOME itself on a
  // new machine) mode 0700, and the postgres user could then not reach its data directory.
  mkdirSync(join(dir, '..'), { recursive: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
