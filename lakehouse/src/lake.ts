import type { PlatformConfig } from '@bitvelocity/core';
import { DuckDb, type DuckDbOptions, sqlLiteral } from './duckdb.js';

export interface LakeOptions extends Omit<DuckDbOptions, 'extensions'> {
  /** The name the lake is attached under; SQL addresses tables as <alias>.<schema>.<table>. */
  alias?: string;
  readOnly?: boolean;
}

/** The libpq keyword string DuckLake's postgres catalog takes. */
function catalogConnectionString(config: PlatformConfig): string {
  const { host, port, user, password } = config.postgres;
  const quote = (v: string) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  return `dbname=${quote(config.lake.catalogDatabase)} host=${quote(host)} port=${port} user=${quote(user)} password=${quote(password)}`;
}

/**
 * Opens DuckDB with the lakehouse attached: DuckLake with its catalog in Postgres and its Parquet data files in the
 * object store. The lake is the connection's default catalog.
 */
export async function openLake(config: PlatformConfig, options: LakeOptions = {}): Promise<DuckDb> {
  const alias = options.alias ?? 'lake';
  const db = await DuckDb.create(config, { ...options, extensions: ['ducklake', 'postgres_scanner'] });
  try {
    const attachOptions = [`DATA_PATH ${sqlLiteral(config.lake.dataPath)}`];
    if (options.readOnly) attachOptions.push('READ_ONLY');
    await db.run(
      `ATTACH ${sqlLiteral(`ducklake:postgres:${catalogConnectionString(config)}`)} AS ${alias} (${attachOptions.join(', ')})`,
    );
    await db.run(`USE ${alias}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
