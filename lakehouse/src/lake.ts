import type { PlatformConfig } from '@bitvelocity/core';
import { DuckDb, type DuckDbOptions, sqlLiteral } from './duckdb.js';

export interface LakeOptions extends Omit<DuckDbOptions, 'extensions'> {
  /** The name the lake is attached under; SQL addresses tables as <alias>.<schema>.<table>. */
  alias?: string;
  readOnly?: boolean;
}

const LAKE_RETRY_SETTINGS = [
  ['ducklake_max_retry_count', 20],
  ['ducklake_retry_wait_ms', 100],
  ['ducklake_retry_backoff', 1.25],
] as const;

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
    else {
      // Concurrent writers race for the next snapshot id; DuckLake retries a loser whose changes do not conflict.
      // Its default (10 tries, 100 ms growing 1.5x) gives up under a busy catalog (a dozen lake jobs and refreshes);
      // 20 tries growing 1.25x wait up to ~34 s in all, no single wait over 7 s. Real conflicts still fail at once.
      for (const [name, value] of LAKE_RETRY_SETTINGS) await db.run(`SET GLOBAL ${name} = ${value}`);
    }
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
