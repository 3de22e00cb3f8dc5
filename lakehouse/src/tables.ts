import { BvError } from '@bitvelocity/core';
import { retryOnConflict } from './conflicts.js';
import { type DuckDb, sqlLiteral } from './duckdb.js';

/** Column types the lake's tables use; each is a DuckDB type name as DuckDB reports it back. */
export type LakeColumnType =
  | 'VARCHAR'
  | 'JSON'
  | 'BOOLEAN'
  | 'INTEGER'
  | 'BIGINT'
  | 'DOUBLE'
  | 'DATE'
  | 'TIMESTAMP WITH TIME ZONE'
  | `DECIMAL(${number},${number})`;

export interface LakeColumn {
  name: string;
  type: LakeColumnType;
  description?: string;
  /**
   * A SQL expression over the row's other (written) columns that computes this one as the rows go into the lake, in
   * DuckDB's vectorised engine instead of per row in JavaScript (e.g. fields extracted from a JSON column).
   */
  derivedFrom?: string;
}

/** A lake table as code: created when missing, evolved additively (new columns) when the definition grows. */
export interface LakeTable {
  schema: string;
  name: string;
  columns: readonly LakeColumn[];
  /** DuckLake partition expressions, e.g. `year(_ingested_at)`. */
  partitionedBy?: readonly string[];
  description?: string;
}

/** A view over lake tables, defined as code like the tables; replaced when its SQL changes. */
export interface LakeView {
  schema: string;
  name: string;
  sql: string;
}

/** Creates or replaces a view in the lake. */
export async function ensureView(lake: DuckDb, view: LakeView): Promise<void> {
  await retryOnConflict(async () => {
    await lake.run(`CREATE SCHEMA IF NOT EXISTS ${ident(view.schema)}`);
    await lake.run(`CREATE OR REPLACE VIEW ${ident(view.schema)}.${ident(view.name)} AS ${view.sql}`);
  });
}

export const qualifiedName = (table: Pick<LakeTable, 'schema' | 'name'>) => `${table.schema}.${table.name}`;

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Makes the lake's table match its definition: creates schema and table (with partitioning) when missing; adds the
 * columns the definition has and the table lacks. Anything else (a column whose type changed, one the definition no
 * longer has) is not an additive change and fails with LAKE_SCHEMA_INCOMPATIBLE instead of rewriting data.
 */
export async function ensureTable(lake: DuckDb, table: LakeTable): Promise<{ created: boolean; added: string[] }> {
  return retryOnConflict(async () => {
    const existing = await lake.rows<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [table.schema, table.name],
    );
    if (existing.length === 0) {
      await lake.transaction(async () => {
        await lake.run(`CREATE SCHEMA IF NOT EXISTS ${ident(table.schema)}`);
        const columns = table.columns.map((c) => `${ident(c.name)} ${c.type}`).join(', ');
        await lake.run(`CREATE TABLE IF NOT EXISTS ${ident(table.schema)}.${ident(table.name)} (${columns})`);
        if (table.partitionedBy?.length) {
          await lake.run(
            `ALTER TABLE ${ident(table.schema)}.${ident(table.name)} SET PARTITIONED BY (${table.partitionedBy.join(', ')})`,
          );
        }
      });
      return { created: true, added: [] };
    }
    const have = new Map(existing.map((c) => [c.column_name, c.data_type]));
    const wanted = new Set(table.columns.map((c) => c.name));
    const problems: string[] = [];
    for (const column of table.columns) {
      const type = have.get(column.name);
      if (type !== undefined && normalise(type) !== normalise(column.type))
        problems.push(`${column.name} is ${type}, the definition says ${column.type}`);
    }
    for (const name of have.keys()) if (!wanted.has(name)) problems.push(`${name} is not in the definition`);
    if (problems.length > 0) {
      throw new BvError(
        'LAKE_SCHEMA_INCOMPATIBLE',
        `table ${qualifiedName(table)} cannot evolve additively: ${problems.join('; ')}. Create a new table version instead`,
        { details: { table: qualifiedName(table), problems } },
      );
    }
    const added = table.columns.filter((c) => !have.has(c.name));
    for (const column of added) {
      await lake.run(
        `ALTER TABLE ${ident(table.schema)}.${ident(table.name)} ADD COLUMN IF NOT EXISTS ${ident(column.name)} ${column.type}`,
      );
    }
    return { created: false, added: added.map((c) => c.name) };
  });
}

function normalise(type: string): string {
  const upper = type.toUpperCase().replaceAll(' ', '');
  return upper === 'TIMESTAMPTZ' ? 'TIMESTAMPWITHTIMEZONE' : upper;
}

/**
 * Writes a table's description and its columns' descriptions into the catalog with COMMENT ON (DuckLake keeps them
 * in its catalog), so `\d` and duckdb_columns() show them. Only comments that differ are written: an unchanged
 * definition makes no catalog commit.
 */
export async function describeTable(lake: DuckDb, table: LakeTable): Promise<number> {
  const name = `${ident(table.schema)}.${ident(table.name)}`;
  const [current] = await lake.rows<{ comment: string | null }>(
    `SELECT comment FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2`,
    [table.schema, table.name],
  );
  const columns = new Map(
    (
      await lake.rows<{ column_name: string; comment: string | null }>(
        `SELECT column_name, comment FROM duckdb_columns()
          WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2`,
        [table.schema, table.name],
      )
    ).map((c) => [c.column_name, c.comment]),
  );
  const statements: string[] = [];
  if (table.description && current?.comment !== table.description)
    statements.push(`COMMENT ON TABLE ${name} IS ${sqlLiteral(table.description)}`);
  for (const column of table.columns) {
    if (column.description && columns.get(column.name) !== column.description)
      statements.push(`COMMENT ON COLUMN ${name}.${ident(column.name)} IS ${sqlLiteral(column.description)}`);
  }
  if (statements.length > 0)
    await lake.transaction(async () => {
      for (const statement of statements) await lake.run(statement);
    });
  return statements.length;
}
