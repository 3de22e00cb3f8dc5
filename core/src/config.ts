import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './errors.js';

/** Where the platform's servers are and how to reach them. One loader for every package. */
export interface PlatformConfig {
  /**
   * `user` owns the schema (migrations); services connect as `appUser`, a role without superuser or BYPASSRLS, so
   * row-level security isolates tenants.
   */
  postgres: {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
    appUser: string;
    appPassword: string;
    /** A Unix socket directory of the same server, when it is on this host: much cheaper per round trip than TCP. */
    socketDir?: string;
  };
  kafka: { bootstrapServers: string[] };
  redis: { url: string };
  connect: { url: string };
  s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; bucket: string };
  duckdb: { extensionDirectory: string };
  /**
   * DuckLake: the catalog lives in a Postgres database, the Parquet data files under an s3:// prefix. `retentionDays`
   * is how long each layer keeps rows (`bv lake retention`); a layer without a value keeps them forever.
   */
  lake: { catalogDatabase: string; dataPath: string; retentionDays?: LakeRetentionDays };
  gx: { python: string };
  /**
   * The MQTT broker devices publish readings to (Mosquitto in the local stack) and the bridge's own credentials.
   * Optional: only the telemetry bridge needs it.
   */
  mqtt?: { url: string; username: string; password: string };
}

export type LakeRetentionDays = { bronze?: number; silver?: number; gold?: number };

export type Env = Record<string, string | undefined>;

/**
 * The one home for downloads, data, logs and generated config. PostgreSQL refuses to run as root and cannot traverse
 * /root, so root gets a system location instead of ~/.bitvelocity.
 */
export function bvHome(env: Env = process.env): string {
  if (env.BV_HOME) return env.BV_HOME;
  if (process.getuid?.() === 0) return '/var/lib/bitvelocity';
  return join(homedir(), '.bitvelocity');
}

export function platformConfigFile(env: Env = process.env): string {
  return join(bvHome(env), 'config', 'platform.json');
}

/**
 * Loads the platform config: the file the local stack writes (`bv stack up`), overridden field by field from
 * BV_* environment variables, so a deployment against other servers needs only env.
 */
export function loadPlatformConfig(env: Env = process.env): PlatformConfig {
  const file = platformConfigFile(env);
  let base: Partial<PlatformConfig> = {};
  if (existsSync(file)) {
    try {
      base = JSON.parse(readFileSync(file, 'utf8')) as Partial<PlatformConfig>;
    } catch (cause) {
      throw new ConfigError('CONFIG_INVALID', `${file} is not valid JSON; delete it and run \`bv stack up\``, {
        cause,
      });
    }
  }
  const pick = (name: string, fromFile: string | number | undefined): string => {
    const value = env[name] ?? (fromFile === undefined ? undefined : String(fromFile));
    if (value === undefined || value === '') {
      throw new ConfigError(
        'CONFIG_MISSING',
        `${name} is not set and ${file} does not define it; run \`npx bv stack up\` or set ${name}`,
        { details: { variable: name, file } },
      );
    }
    return value;
  };
  const port = (name: string, fromFile: number | undefined): number => {
    const raw = pick(name, fromFile);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      throw new ConfigError('CONFIG_INVALID', `${name} must be a TCP port (1-65535), got "${raw}"`, {
        details: { variable: name },
      });
    }
    return value;
  };
  const days = (name: string, key: string, fromFile: number | undefined): number | undefined => {
    const raw = env[name] ?? (fromFile === undefined ? undefined : String(fromFile));
    if (raw === undefined || raw === '') return undefined;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1) {
      const source = env[name] === undefined ? `${key} in ${file}` : name;
      throw new ConfigError('CONFIG_INVALID', `${source} must be a positive whole number of days, got "${raw}"`, {
        details: { variable: name, file },
      });
    }
    return Number(raw);
  };
  const retentionDays: LakeRetentionDays = {};
  for (const layer of ['bronze', 'silver', 'gold'] as const) {
    const variable = `BV_LAKE_RETENTION_${layer.toUpperCase()}_DAYS`;
    const value = days(variable, `lake.retentionDays.${layer}`, base.lake?.retentionDays?.[layer]);
    if (value !== undefined) retentionDays[layer] = value;
  }
  const optional = <K extends string>(key: K, value: string | undefined) =>
    (value ? { [key]: value } : {}) as Partial<Record<K, string>>;
  return {
    postgres: {
      host: pick('BV_PG_HOST', base.postgres?.host),
      port: port('BV_PG_PORT', base.postgres?.port),
      user: pick('BV_PG_USER', base.postgres?.user),
      password: pick('BV_PG_PASSWORD', base.postgres?.password),
      database: pick('BV_PG_DATABASE', base.postgres?.database),
      appUser: pick('BV_PG_APP_USER', base.postgres?.appUser),
      appPassword: pick('BV_PG_APP_PASSWORD', base.postgres?.appPassword),
      ...optional('socketDir', env.BV_PG_SOCKET_DIR ?? base.postgres?.socketDir),
    },
    kafka: {
      bootstrapServers: pick('BV_KAFKA_BOOTSTRAP', base.kafka?.bootstrapServers?.join(','))
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
    redis: { url: pick('BV_REDIS_URL', base.redis?.url) },
    connect: { url: pick('BV_CONNECT_URL', base.connect?.url) },
    s3: {
      endpoint: pick('BV_S3_ENDPOINT', base.s3?.endpoint),
      region: pick('BV_S3_REGION', base.s3?.region ?? 'us-east-1'),
      accessKeyId: pick('BV_S3_ACCESS_KEY_ID', base.s3?.accessKeyId),
      secretAccessKey: pick('BV_S3_SECRET_ACCESS_KEY', base.s3?.secretAccessKey),
      bucket: pick('BV_S3_BUCKET', base.s3?.bucket),
    },
    duckdb: { extensionDirectory: pick('BV_DUCKDB_EXTENSION_DIR', base.duckdb?.extensionDirectory) },
    lake: {
      catalogDatabase: pick('BV_LAKE_CATALOG_DB', base.lake?.catalogDatabase),
      dataPath: pick('BV_LAKE_DATA_PATH', base.lake?.dataPath),
      ...(Object.keys(retentionDays).length ? { retentionDays } : {}),
    },
    gx: { python: pick('BV_GX_PYTHON', base.gx?.python) },
    ...mqttOf(env, base.mqtt),
  };
}

/** A libpq-style connection string for the given database (defaults to the platform database). */
export function postgresUrl(
  config: PlatformConfig['postgres'],
  options: { database?: string; as?: 'owner' | 'app'; preferSocket?: boolean } = {},
): string {
  const app = options.as === 'app';
  const user = encodeURIComponent(app ? config.appUser : config.user);
  const password = encodeURIComponent(app ? config.appPassword : config.password);
  const database = options.database ?? config.database;
  if (options.preferSocket && config.socketDir) {
    const socket = encodeURIComponent(config.socketDir);
    return `postgres://${user}:${password}@/${encodeURIComponent(database)}?host=${socket}&port=${config.port}`;
  }
  return `postgres://${user}:${password}@${config.host}:${config.port}/${encodeURIComponent(database)}`;
}

/** The broker section when the file or env names one (BV_MQTT_URL, BV_MQTT_USERNAME, BV_MQTT_PASSWORD). */
function mqttOf(env: Env, fromFile: Partial<NonNullable<PlatformConfig['mqtt']>> | undefined): Partial<PlatformConfig> {
  const url = env.BV_MQTT_URL || fromFile?.url;
  if (!url) return {};
  const username = env.BV_MQTT_USERNAME || fromFile?.username;
  const password = env.BV_MQTT_PASSWORD || fromFile?.password;
  if (!username || !password) {
    throw new ConfigError('CONFIG_MISSING', 'the MQTT broker needs BV_MQTT_USERNAME and BV_MQTT_PASSWORD', {
      details: { variable: username ? 'BV_MQTT_PASSWORD' : 'BV_MQTT_USERNAME' },
    });
  }
  return { mqtt: { url, username, password } };
}
