import {
  DuckDBBlobValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { SqlResult } from './session.js';

/** A value as an analyst reads it in a table or CSV cell: DuckDB's own rendering, NULL as empty. */
export function displayText(value: DuckDBValue): string {
  if (value === null) return '';
  if (value instanceof DuckDBBlobValue) return `\\x${Buffer.from(value.bytes).toString('hex')}`;
  return String(value);
}

/**
 * A value as JSON: numbers that fit a double stay numbers, exact decimals and wide integers become strings (a JSON
 * reader would round them), lists become arrays and JSON columns are embedded as JSON.
 */
export function jsonValue(value: DuckDBValue, type: DuckDBType): unknown {
  if (value === null) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number' || typeof value === 'boolean')
    return Number.isFinite(value) || typeof value === 'boolean' ? value : String(value);
  if (value instanceof DuckDBDecimalValue) return value.toString();
  if (value instanceof DuckDBListValue && 'valueType' in type) {
    return value.items.map((item) => jsonValue(item, (type as { valueType: DuckDBType }).valueType));
  }
  if (type.typeId === DuckDBTypeId.VARCHAR && type.alias === 'JSON' && typeof value === 'string') {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return displayText(value);
}

export function renderJson(result: SqlResult): string {
  const rows = result.rows.map((row) =>
    Object.fromEntries(result.columns.map((column, i) => [column.name, jsonValue(row[i] ?? null, column.type)])),
  );
  return JSON.stringify(rows, null, 2);
}

const csvCell = (text: string) =>
  /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;

export function renderCsv(result: SqlResult): string {
  const lines = [result.columns.map((c) => csvCell(c.name)).join(',')];
  for (const row of result.rows) lines.push(row.map((v) => csvCell(displayText(v))).join(','));
  return lines.join('\n');
}

/** psql's aligned format: header, a rule, right-aligned numbers, and the row count. */
export function renderTable(result: SqlResult): string {
  const numeric = result.columns.map((c) => NUMERIC_TYPES.has(c.type.typeId));
  const cells = result.rows.map((row) =>
    row.map((v) => (v === null ? 'NULL' : displayText(v)).replaceAll('\n', '\\n')),
  );
  const widths = result.columns.map((c, i) => Math.max(c.name.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const pad = (text: string, i: number, right: boolean) =>
    right ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  const lines = [
    result.columns.map((c, i) => pad(c.name, i, false)).join(' | '),
    widths.map((w) => '-'.repeat(w)).join('-+-'),
    ...cells.map((row) => row.map((cell, i) => pad(cell, i, numeric[i] ?? false)).join(' | ')),
    `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'}${result.truncated ? ', truncated at the row limit' : ''})`,
  ];
  return lines.map((line) => line.trimEnd()).join('\n');
}

const NUMERIC_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.FLOAT,
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.DECIMAL,
]);
