import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BvError } from '@bitvelocity/core';
import pg from 'pg';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
/** Any fixed number: serialises concurrent migrators (several service replicas starting at once). */
const MIGRATION_LOCK = 7_240_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(directory = MIGRATIONS_DIR): Migration[] {
  return readdirSync(directory)
    .filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(`${directory}/${file}`, 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

/**
 * Applies pending SQL migrations in order, each in its own transaction, as the schema owner. A migration that was
 * edited after it was applied is refused (checksum), never silently re-run.
 */
export async function migrate(ownerUrl: string, migrations = readMigrations()): Promise<MigrateResult> {
  const client = new pg.Client(ownerUrl);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const applied: string[] = [];
    for (const migration of migrations) {
      const checksum = done.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new BvError(
            'MIGRATION_CHANGED',
            `migration ${migration.version}_${migration.name} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await client.query('COMMIT');
      } catch (cause) {
        await client.query('ROLLBACK');
        throw new BvError(
          'MIGRATION_FAILED',
          `migration ${migration.version}_${migration.name} failed: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
      applied.push(`${migration.version}_${migration.name}`);
    }
    return { applied, current: Math.max(0, ...migrations.map((m) => m.version)) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

const APP_TABLES = ['products', 'customers', 'orders', 'order_lines', 'devices', 'outbox', 'idempotency_keys'];

/**
 * The role services connect as: LOGIN, no superuser, no BYPASSRLS, DML on the domain tables only (never on their
 * partitions directly, so every read goes through the row-level security of the parent). Its password comes from
 * config, so it is set here rather than in a migration file.
 */
export async function ensureAppRole(ownerUrl: string, appUser: string, appPassword: string): Promise<void> {
  const client = new pg.Client(ownerUrl);
  await client.connect();
  try {
    const role = pg.escapeIdentifier(appUser);
    const password = pg.escapeLiteral(appPassword);
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [appUser]);
    await client.query(
      rowCount
        ? `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${password}`
        : `CREATE ROLE ${role} WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${password}`,
    );
    const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
    await client.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(rows[0]?.db ?? '')} TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${APP_TABLES.join(', ')} TO ${role}`);
    // Outbox retention assumes no service transaction stays open for long (see db/maintenance.ts).
    await client.query(`ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '30s'`);
    await client.query(`ALTER ROLE ${role} SET statement_timeout = '10s'`);
  } finally {
    await client.end();
  }
}
