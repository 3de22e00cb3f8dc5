import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { versions } from '../../versions.js';
import { aptInstall } from '../apt.js';
import { type Component, probe } from '../component.js';
import { livePid, runCommand } from '../process.js';
import type { StackSettings } from '../settings.js';

const BIN = `/usr/lib/postgresql/${versions.postgres.major}/bin`;
const isRoot = process.getuid?.() === 0;
/** PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` OS user. */
const OS_USER = isRoot ? 'postgres' : undefined;

const dataDir = (s: StackSettings) => join(s.paths.data, 'postgres');
const socketDir = (s: StackSettings) => join(s.paths.run, 'postgres');

function ownedByServer(path: string): void {
  if (!OS_USER) return;
  const uid = Number(execFileSync('id', ['-u', OS_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', OS_USER]).toString().trim());
  chownSync(path, uid, gid);
}

export const postgres: Component = {
  name: 'postgres',
  kind: 'server',
  portKey: 'postgres',
  version: `${versions.postgres.major}`,
  dependsOn: [],
  address: (s) => `${s.host}:${s.ports.postgres}`,
  logFile: (s) => join(s.paths.logs, 'postgres.log'),

  isInstalled: (s) => existsSync(join(BIN, 'postgres')) && existsSync(join(dataDir(s), 'PG_VERSION')),

  async install(s) {
    if (!existsSync(join(BIN, 'postgres'))) {
      const pkg = versions.postgres.debianPackage;
      await aptInstall([pkg], this.logFile(s), `run: sudo apt-get install -y ${pkg}`);
    }
    if (existsSync(join(dataDir(s), 'PG_VERSION'))) return;
    // Parents stay traversable for the server's OS user; only the cluster directory itself is private.
    mkdirSync(s.paths.data, { recursive: true });
    mkdirSync(dataDir(s), { recursive: true, mode: 0o700 });
    ownedByServer(dataDir(s));
    const pwFile = join(s.paths.run, 'postgres-initdb.pw');
    mkdirSync(s.paths.run, { recursive: true });
    writeFileSync(pwFile, `${s.secrets.postgresPassword}\n`, { mode: 0o600 });
    ownedByServer(pwFile);
    try {
      await runCommand(
        join(BIN, 'initdb'),
        [
          '-D',
          dataDir(s),
          '-U',
          s.postgresUser,
          `--pwfile=${pwFile}`,
          '--auth-local=scram-sha-256',
          '--auth-host=scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C.UTF-8',
        ],
        { asUser: OS_USER, logFile: this.logFile(s) },
      );
    } finally {
      rmSync(pwFile, { force: true });
    }
    // Debezium reads the outbox through logical decoding (pgoutput); slots keep at most 2 GB of WAL so a stopped
    // connector can never fill the disk.
    const conf = [
      `listen_addresses = '${s.host}'`,
      `port = ${s.ports.postgres}`,
      `unix_socket_directories = '${socketDir(s)}'`,
      'wal_level = logical',
      'max_replication_slots = 10',
      'max_wal_senders = 10',
      "max_slot_wal_keep_size = '2GB'",
      'max_connections = 200',
      "shared_buffers = '256MB'",
      'log_min_messages = warning',
      '',
    ].join('\n');
    writeFileSync(join(dataDir(s), 'postgresql.auto.conf'), conf);
    ownedByServer(join(dataDir(s), 'postgresql.auto.conf'));
  },

  runningPid: (s) => livePid(join(dataDir(s), 'postmaster.pid')),

  async start(s) {
    mkdirSync(socketDir(s), { recursive: true });
    ownedByServer(socketDir(s));
    const log = this.logFile(s);
    if (!existsSync(log)) writeFileSync(log, '');
    ownedByServer(log);
    // The port may have changed since initdb; the command line wins over postgresql.auto.conf.
    const options = `-p ${s.ports.postgres} -c listen_addresses=${s.host} -c unix_socket_directories=${socketDir(s)}`;
    await runCommand(join(BIN, 'pg_ctl'), ['-D', dataDir(s), '-l', log, '-o', options, '-w', '-t', '60', 'start'], {
      asUser: OS_USER,
      timeoutMs: 90_000,
    });
    await ensureDatabases(s);
  },

  async stop(s) {
    if (this.runningPid(s) === undefined) return false;
    await runCommand(join(BIN, 'pg_ctl'), ['-D', dataDir(s), '-m', 'fast', '-w', '-t', '60', 'stop'], {
      asUser: OS_USER,
      timeoutMs: 90_000,
    });
    return true;
  },

  health: (s) =>
    probe(async () => {
      const client = new pg.Client(clientConfig(s, s.postgresDatabase));
      await client.connect();
      try {
        const { rows } = await client.query<{ version: string; wal_level: string }>(
          "SELECT current_setting('server_version') AS version, current_setting('wal_level') AS wal_level",
        );
        const row = rows[0];
        if (row?.wal_level !== 'logical') throw new Error(`wal_level is ${row?.wal_level}, Debezium needs logical`);
        return `PostgreSQL ${row.version}, wal_level=logical`;
      } finally {
        await client.end();
      }
    }),
};

function clientConfig(s: StackSettings, database: string): pg.ClientConfig {
  return {
    host: s.host,
    port: s.ports.postgres,
    user: s.postgresUser,
    password: s.secrets.postgresPassword,
    database,
    connectionTimeoutMillis: 5000,
  };
}

/** The platform database and the DuckLake catalog database exist after every start. */
async function ensureDatabases(s: StackSettings): Promise<void> {
  const client = new pg.Client(clientConfig(s, 'postgres'));
  await client.connect();
  try {
    for (const database of [s.postgresDatabase, s.lakeCatalogDatabase]) {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (!rowCount) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    }
  } finally {
    await client.end();
  }
}
