import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BvError } from '@bitvelocity/core';
import pg from 'pg';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
/** Serialises concurrent migrators (several lineage service replicas starting at once). */
const MIGRATION_LOCK = 7_240_015;

/**
 * Applies the lineage store's migrations, in order, each in its own transaction, inside the store's own schema
 * (`lineage` by default). An edited migration that was already applied is refused, never re-run.
 */
export async function migrateLineageStore(ownerUrl: string, schema = 'lineage'): Promise<string[]> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new BvError('CONFIG_INVALID', `bad lineage schema name ${schema}`);
  const client = new pg.Client(ownerUrl);
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET search_path TO ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const file of readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
      .sort()) {
      const sql = readFileSync(`${MIGRATIONS_DIR}/${file}`, 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const version = Number(file.slice(0, 4));
      const seen = done.get(version);
      if (seen !== undefined) {
        if (seen !== checksum)
          throw new BvError('MIGRATION_CHANGED', `lineage migration ${file} was changed after it was applied`);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          version,
          file.slice(5, -4),
          checksum,
        ]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (cause) {
        await client.query('ROLLBACK');
        throw new BvError('MIGRATION_FAILED', `lineage migration ${file} failed: ${(cause as Error).message}`, {
          cause,
        });
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
  return applied;
}
