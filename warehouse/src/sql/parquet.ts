import { DuckDBInstance } from '@duckdb/node-api';
import type { SqlResult } from './session.js';

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * Writes a result to a local Parquet file. The analyst session cannot write files (that is the point of it), so the
 * rows go through a separate, private in-memory DuckDB that has no lake attached: the appender keeps every column's
 * exact type (decimals, timestamps with time zone, lists) in the file.
 */
export async function writeParquet(result: SqlResult, file: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
  const connection = await instance.connect();
  try {
    const columns = result.columns.map((c) => `${quoteIdentifier(c.name)} ${c.type.toString()}`).join(', ');
    await connection.run(`CREATE TABLE result (${columns})`);
    const appender = await connection.createAppender('result');
    for (const row of result.rows) {
      row.forEach((value, i) => {
        appender.appendValue(value, result.columns[i]?.type);
      });
      appender.endRow();
    }
    appender.closeSync();
    await connection.run(`COPY result TO ${quoteLiteral(file)} (FORMAT parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
