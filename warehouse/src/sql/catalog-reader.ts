import { createHmac } from 'node:crypto';
import type { PlatformConfig } from '@bitvelocity/core';
import { DuckDb, sqlLiteral } from '@bitvelocity/lakehouse';

/** The Postgres role analyst sessions read the DuckLake catalog as. */
export const CATALOG_READER_ROLE = 'bv_lake_reader';

export interface CatalogReader {
  user: string;
  password: string;
}

/**
 * The reader's password, derived from the owner's: every process on the platform computes the same one without a
 * shared file, and it changes when the owner's does. It is never stored.
 */
export function catalogReaderPassword(config: PlatformConfig): string {
  return createHmac('sha256', config.postgres.password).update(`${CATALOG_READER_ROLE}:v1`).digest('base64url');
}

const libpq = (value: string | number) => `'${String(value).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * Makes sure the catalog reader role exists and may only read the DuckLake catalog tables. Analyst sessions attach
 * the lake as this role, not as the owner: DuckDB's postgres extension lets any SQL reach the catalog connection
 * (postgres_query / postgres_execute), and as a superuser owner that would be a way out of read-only. As this role
 * it can read the catalog's tables and nothing else; writes fail in Postgres itself.
 */
export async function ensureCatalogReader(config: PlatformConfig): Promise<CatalogReader> {
  const password = catalogReaderPassword(config);
  const admin = await DuckDb.create(config, { extensions: ['postgres_scanner'] });
  try {
    const { host, port, user } = config.postgres;
    const connection = `host=${libpq(host)} port=${port} user=${libpq(user)} password=${libpq(config.postgres.password)} dbname=${libpq(config.lake.catalogDatabase)}`;
    await admin.run(`ATTACH ${sqlLiteral(connection)} AS catalog (TYPE postgres)`);
    const role = CATALOG_READER_ROLE;
    const statements = [
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
           CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
         END IF;
       END $$`,
      `ALTER ROLE ${role} PASSWORD ${sqlLiteral(password)}`,
      `ALTER ROLE ${role} SET default_transaction_read_only = on`,
      `GRANT CONNECT ON DATABASE "${config.lake.catalogDatabase}" TO ${role}`,
      `GRANT USAGE ON SCHEMA public TO ${role}`,
      `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`,
      // DuckLake creates tables later (inlined data per table): they must be readable too.
      `ALTER DEFAULT PRIVILEGES FOR ROLE "${user}" IN SCHEMA public GRANT SELECT ON TABLES TO ${role}`,
    ];
    for (const statement of statements)
      await withRetry(() => admin.run(`CALL postgres_execute('catalog', ${sqlLiteral(statement)})`));
  } finally {
    admin.close();
  }
  return { user: CATALOG_READER_ROLE, password };
}

/** Concurrent processes granting at once can collide in Postgres's catalog ("tuple concurrently updated"). */
async function withRetry(work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= 5 || !/concurrently|already exists|duplicate key/i.test(message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}
