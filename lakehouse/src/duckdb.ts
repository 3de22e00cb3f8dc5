import { BvError, type PlatformConfig } from '@bitvelocity/core';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';

export type SqlParams = Record<string, DuckDBValue> | DuckDBValue[];

/** SQL string literal quoting for the few statements DuckDB does not accept parameters in (ATTACH, SECRET). */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export interface DuckDbOptions {
  /** A database file; in-memory when omitted. */
  path?: string;
  /** Extensions to load besides httpfs (which every lake connection needs). */
  extensions?: ('ducklake' | 'postgres_scanner')[];
  threads?: number;
  memoryLimit?: string;
}

/**
 * A DuckDB connection wired to the platform: the official extensions load from the project's extension directory
 * (DuckDB cannot download them here), and an S3 secret points httpfs at the object store.
 */
export class DuckDb {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  static async create(config: PlatformConfig, options: DuckDbOptions = {}): Promise<DuckDb> {
    const settings: Record<string, string> = {
      extension_directory: config.duckdb.extensionDirectory,
      autoinstall_known_extensions: 'false',
    };
    if (options.threads) settings.threads = String(options.threads);
    if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
    const instance = await DuckDBInstance.create(options.path ?? ':memory:', settings);
    const connection = await instance.connect();
    const db = new DuckDb(instance, connection);
    try {
      for (const extension of ['httpfs', ...(options.extensions ?? [])]) await connection.run(`LOAD ${extension}`);
      await connection.run(s3SecretSql(config.s3));
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  }

  async run(sql: string, params?: SqlParams): Promise<void> {
    await this.connection.run(sql, params).catch(rethrowClassified);
  }

  /** Runs a query and returns its rows as plain objects keyed by column name. */
  async rows<T extends Record<string, unknown> = Record<string, DuckDBValue>>(
    sql: string,
    params?: SqlParams,
  ): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql, params).catch(rethrowClassified);
    return reader.getRowObjectsJS() as T[];
  }

  /**
   * Runs `work` in one transaction: committed when it returns, rolled back when it throws (and the error rethrown).
   * `readOnly`: always rolled back, for reads that must all see one snapshot and leave nothing behind.
   */
  async transaction<T>(work: () => Promise<T>, options: { readOnly?: boolean } = {}): Promise<T> {
    await this.connection.run('BEGIN TRANSACTION');
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await this.connection.run('ROLLBACK').catch(() => {});
      throw error;
    }
    if (options.readOnly) {
      await this.connection.run('ROLLBACK');
      return result;
    }
    await this.connection.run('COMMIT').catch(async (error: unknown) => {
      await this.connection.run('ROLLBACK').catch(() => {});
      rethrowClassified(error);
    });
    return result;
  }

  /**
   * Another connection to the same database (its settings, extensions, attached lake and in-memory tables), for
   * queries that run side by side; the caller closes it before `close()`.
   */
  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * DuckLake commits optimistically: a transaction that changed what another transaction changed since it began fails
 * with a conflict (appends alone are merged by DuckLake itself), and is safe to redo from its start. DuckDB reports
 * that only in its message, so it is read once, here where the error surfaces, and becomes a retriable BvError.
 */
const COMMIT_CONFLICT = /conflict|Failed to commit DuckLake transaction/i;

function rethrowClassified(error: unknown): never {
  if (error instanceof Error && !(error instanceof BvError) && COMMIT_CONFLICT.test(error.message)) {
    throw new BvError('LAKE_COMMIT_CONFLICT', `the lake commit conflicted with a concurrent one: ${error.message}`, {
      cause: error,
      retriable: true,
    });
  }
  throw error;
}

function s3SecretSql(s3: PlatformConfig['s3']): string {
  const url = new URL(s3.endpoint);
  return `CREATE OR REPLACE SECRET bv_s3 (
    TYPE s3,
    KEY_ID ${sqlLiteral(s3.accessKeyId)},
    SECRET ${sqlLiteral(s3.secretAccessKey)},
    REGION ${sqlLiteral(s3.region)},
    ENDPOINT ${sqlLiteral(url.host)},
    URL_STYLE 'path',
    USE_SSL ${url.protocol === 'https:'}
  )`;
}
