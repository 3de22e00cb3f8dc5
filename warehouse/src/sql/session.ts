import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BvError, bvHome, type PlatformConfig } from '@bitvelocity/core';
import { sqlLiteral } from '@bitvelocity/lakehouse';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  type DuckDBResult,
  type DuckDBType,
  type DuckDBValue,
  type StatementType,
} from '@duckdb/node-api';
import { ensureCatalogReader } from './catalog-reader.js';
import { classifyEngineError, SqlError } from './errors.js';

/** The schemas an analyst sees, in search order. */
export const ANALYST_SCHEMAS = ['gold', 'silver'] as const;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
export const DEFAULT_ROW_LIMIT = 100_000;
const LAKE = 'lake';

export interface AnalystDatabaseOptions {
  /** Visible schemas, searched in this order; default gold, silver. */
  schemas?: readonly string[];
  /** Per statement; the connection is interrupted when it runs longer. Default 30 s. */
  statementTimeoutMs?: number;
  /** Rows a result keeps; the rest are not read and the result says it was truncated. Default 100,000. */
  rowLimit?: number;
  threads?: number;
  memoryLimit?: string;
}

export interface SqlColumn {
  name: string;
  type: DuckDBType;
}

export interface SqlResult {
  statementType: StatementType;
  columns: SqlColumn[];
  rows: DuckDBValue[][];
  /** True when the row limit cut the result short. */
  truncated: boolean;
  elapsedMs: number;
}

/** A table or view an analyst can read, with its description. */
export interface AnalystRelation {
  schema: string;
  name: string;
  kind: 'table' | 'view';
  comment: string | null;
}

export interface AnalystColumn {
  name: string;
  type: string;
  nullable: boolean;
  comment: string | null;
}

/**
 * One DuckDB instance for every analyst session of a process, set up so the ENGINE refuses anything but reading Gold
 * and Silver: its own database is an empty file opened read-only (no writable `memory` catalog, no ATTACH of a new
 * in-memory one), the lake is attached READ_ONLY as a catalog role that may only SELECT, external access is off
 * except for the lake's Gold and Silver data directories, extensions neither autoload nor install, and then the
 * configuration is locked. Sessions are connections on it.
 */
export class AnalystDatabase {
  readonly schemas: readonly string[];
  readonly statementTimeoutMs: number;
  readonly rowLimit: number;

  private constructor(
    private readonly instance: DuckDBInstance,
    options: AnalystDatabaseOptions,
  ) {
    this.schemas = options.schemas ?? ANALYST_SCHEMAS;
    this.statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.rowLimit = options.rowLimit ?? DEFAULT_ROW_LIMIT;
  }

  static async create(config: PlatformConfig, options: AnalystDatabaseOptions = {}): Promise<AnalystDatabase> {
    validateOptions(options);
    const reader = await ensureCatalogReader(config);
    const settings: Record<string, string> = {
      access_mode: 'READ_ONLY',
      extension_directory: config.duckdb.extensionDirectory,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      allow_community_extensions: 'false',
      allow_unsigned_extensions: 'false',
      allow_persistent_secrets: 'false',
    };
    if (options.threads) settings.threads = String(options.threads);
    if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
    const instance = await DuckDBInstance.create(await emptyDatabaseFile(), settings);
    const setup = await instance.connect();
    try {
      for (const extension of ['httpfs', 'ducklake', 'postgres_scanner']) await setup.run(`LOAD ${extension}`);
      const s3 = new URL(config.s3.endpoint);
      await setup.run(`CREATE SECRET bv_s3 (TYPE s3, KEY_ID ${sqlLiteral(config.s3.accessKeyId)},
        SECRET ${sqlLiteral(config.s3.secretAccessKey)}, REGION ${sqlLiteral(config.s3.region)},
        ENDPOINT ${sqlLiteral(s3.host)}, URL_STYLE 'path', USE_SSL ${s3.protocol === 'https:'})`);
      // The catalog password lives in a secret (shown redacted), not in the ATTACH string (shown by duckdb_databases()).
      await setup.run(`CREATE SECRET (TYPE postgres, HOST ${sqlLiteral(config.postgres.host)},
        PORT ${config.postgres.port}, DATABASE ${sqlLiteral(config.lake.catalogDatabase)},
        USER ${sqlLiteral(reader.user)}, PASSWORD ${sqlLiteral(reader.password)})`);
      await setup.run(
        `ATTACH ${sqlLiteral(`ducklake:postgres:dbname=${config.lake.catalogDatabase}`)} AS ${LAKE} (READ_ONLY)`,
      );
      const dataPath = config.lake.dataPath.endsWith('/') ? config.lake.dataPath : `${config.lake.dataPath}/`;
      const directories = (options.schemas ?? ANALYST_SCHEMAS).map((schema) => sqlLiteral(`${dataPath}${schema}/`));
      await setup.run(`SET allowed_directories = [${directories.join(', ')}]`);
      await setup.run('SET enable_external_access = false');
      await setup.run('SET lock_configuration = true');
    } catch (error) {
      setup.closeSync();
      instance.closeSync();
      if (/creating a new DuckLake is explicitly disabled/.test(error instanceof Error ? error.message : '')) {
        throw new BvError(
          'LAKE_NOT_ATTACHED',
          `there is no lake in catalog database "${config.lake.catalogDatabase}" yet: start the pipeline (npx bv demo) so Silver and Gold exist, then query them`,
          { cause: error },
        );
      }
      throw error;
    }
    setup.closeSync();
    return new AnalystDatabase(instance, options);
  }

  /** A session: its own connection, searching the analyst schemas. */
  async openSession(): Promise<AnalystSession> {
    const connection = await this.instance.connect();
    try {
      await connection.run(`USE ${LAKE}`);
      await connection.run(`SET search_path = ${sqlLiteral(this.schemas.map((s) => `${LAKE}.${s}`).join(','))}`);
    } catch (error) {
      connection.closeSync();
      throw classifyEngineError(error);
    }
    return new AnalystSession(connection, this);
  }

  close(): void {
    this.instance.closeSync();
  }
}

export interface RunOptions {
  /** Text-format parameter values for $1, $2, ...; null for SQL NULL. DuckDB casts each to the type it infers. */
  params?: readonly (string | null)[];
  rowLimit?: number;
  statementTimeoutMs?: number;
}

/** One analyst's connection. Statements run one at a time; `cancel()` interrupts the running one. */
export class AnalystSession {
  private interruptReason: 'timeout' | 'cancelled' | undefined;
  private running = false;

  constructor(
    private readonly connection: DuckDBConnection,
    readonly database: AnalystDatabase,
  ) {}

  /** Runs every statement of `sql` in order and returns one result per statement. */
  async run(sql: string, options: RunOptions = {}): Promise<SqlResult[]> {
    const extracted = await this.guard(() => this.connection.extractStatements(sql), options);
    const results: SqlResult[] = [];
    for (let index = 0; index < extracted.count; index += 1) {
      const prepared = await this.guard(() => extracted.prepare(index), options);
      try {
        results.push(
          await this.execute(prepared, index === extracted.count - 1 ? options : { ...options, params: [] }),
        );
      } finally {
        prepared.destroySync();
      }
    }
    return results;
  }

  /** Prepares one statement (the extended protocol's Parse); run it with `execute`. */
  async prepare(sql: string): Promise<DuckDBPreparedStatement> {
    return this.guard(() => this.connection.prepare(sql), {});
  }

  async execute(prepared: DuckDBPreparedStatement, options: RunOptions = {}): Promise<SqlResult> {
    const started = performance.now();
    const rowLimit = options.rowLimit ?? this.database.rowLimit;
    return this.guard(async () => {
      prepared.clearBindings();
      (options.params ?? []).forEach((value, i) => {
        if (value === null) prepared.bindNull(i + 1);
        else prepared.bindVarchar(i + 1, value);
      });
      const result = await prepared.stream();
      const { rows, truncated } = await readRows(result, rowLimit);
      const columns = Array.from({ length: result.columnCount }, (_, i) => ({
        name: result.columnName(i),
        type: result.columnType(i),
      }));
      return {
        statementType: result.statementType,
        columns,
        rows,
        truncated,
        elapsedMs: performance.now() - started,
      };
    }, options);
  }

  /** Interrupts the running statement, if any; it fails with SQL_CANCELLED. */
  cancel(): void {
    if (!this.running) return;
    this.interruptReason = 'cancelled';
    this.connection.interrupt();
  }

  /** The tables and views of the visible schemas. */
  async relations(): Promise<AnalystRelation[]> {
    const rows = await this.rowsOf<{ schema: string; name: string; kind: 'table' | 'view'; comment: string | null }>(
      `SELECT schema_name AS schema, table_name AS name, 'table' AS kind, comment FROM duckdb_tables()
         WHERE database_name = '${LAKE}' AND schema_name IN (${this.schemaList()})
       UNION ALL
       SELECT schema_name, view_name, 'view', comment FROM duckdb_views()
         WHERE database_name = '${LAKE}' AND schema_name IN (${this.schemaList()}) AND NOT internal
       ORDER BY 1, 2`,
    );
    return rows.map((r) => ({ ...r, comment: r.comment || null }));
  }

  /** A relation's columns; `name` is `table` (searched in the visible schemas in order) or `schema.table`. */
  async columns(name: string): Promise<{ relation: AnalystRelation; columns: AnalystColumn[] } | undefined> {
    const [schemaPart, tablePart] = name.includes('.') ? name.split('.', 2) : [undefined, name];
    const relation = (await this.relations()).find(
      (r) => r.name === tablePart && (schemaPart === undefined || r.schema === schemaPart),
    );
    if (!relation) return undefined;
    const columns = await this.rowsOf<{ name: string; type: string; nullable: boolean; comment: string | null }>(
      `SELECT column_name AS name, data_type AS type, is_nullable AS nullable, comment FROM duckdb_columns()
        WHERE database_name = '${LAKE}' AND schema_name = ${sqlLiteral(relation.schema)}
          AND table_name = ${sqlLiteral(relation.name)} ORDER BY column_index`,
    );
    return { relation, columns: columns.map((c) => ({ ...c, comment: c.comment || null })) };
  }

  close(): void {
    this.connection.closeSync();
  }

  private schemaList(): string {
    return this.database.schemas.map(sqlLiteral).join(', ');
  }

  private async rowsOf<T>(sql: string): Promise<T[]> {
    const reader = await this.guard(() => this.connection.runAndReadAll(sql), {});
    return reader.getRowObjectsJS() as T[];
  }

  /** Runs engine work under the statement timeout and turns the engine's refusals into coded errors. */
  private async guard<T>(work: () => Promise<T>, options: RunOptions): Promise<T> {
    const timeoutMs = options.statementTimeoutMs ?? this.database.statementTimeoutMs;
    this.interruptReason = undefined;
    this.running = true;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            this.interruptReason = 'timeout';
            this.connection.interrupt();
          }, timeoutMs)
        : undefined;
    try {
      return await work();
    } catch (error) {
      throw classifyEngineError(error, this.interruptReason, timeoutMs);
    } finally {
      this.running = false;
      if (timer) clearTimeout(timer);
    }
  }
}

async function readRows(
  result: DuckDBResult,
  rowLimit: number,
): Promise<{ rows: DuckDBValue[][]; truncated: boolean }> {
  const rows: DuckDBValue[][] = [];
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return { rows, truncated: false };
    for (const row of chunk.getRows()) {
      if (rows.length >= rowLimit) return { rows, truncated: true };
      rows.push(row);
    }
  }
}

function validateOptions(options: AnalystDatabaseOptions): void {
  const positive = (name: string, value: number | undefined, allowZero = false) => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
      throw new SqlError(
        'SQL_BAD_OPTION',
        `${name} must be a ${allowZero ? 'non-negative' : 'positive'} whole number, got ${value}`,
        '22023',
      );
    }
  };
  positive('statementTimeoutMs', options.statementTimeoutMs, true);
  positive('rowLimit', options.rowLimit);
  for (const schema of options.schemas ?? []) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new SqlError('SQL_BAD_OPTION', `schema names are lower-case identifiers, got "${schema}"`, '22023');
    }
  }
}

/**
 * The instance's own database: an empty DuckDB file, opened read-only so a session has no writable catalog besides
 * its TEMP scratch. Made once (atomically, as several processes may start at once) under BV_HOME.
 */
async function emptyDatabaseFile(): Promise<string> {
  const file = join(bvHome(), 'cache', 'sql', 'analyst-empty.duckdb');
  if (existsSync(file)) return file;
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}.draft`;
  rmSync(draft, { force: true });
  const instance = await DuckDBInstance.create(draft);
  instance.closeSync();
  renameSync(draft, file);
  return file;
}
