import { type DuckDb, type LakeTable, sqlLiteral } from '@bitvelocity/lakehouse';

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

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
