import type { DuckDb } from '@bitvelocity/lakehouse';
import { sqlLiteral } from '@bitvelocity/lakehouse';
import { EXPECTATION_TYPES, type Severity } from './catalog.js';
import type { QualitySuite, SuiteExpectation } from './suite.js';

/** One expectation's outcome, in Great Expectations' result shape (plus what the platform adds). */
export interface ExpectationResult {
  type: string;
  kwargs: Record<string, unknown>;
  severity: Severity;
  /** The column (or columns, comma-separated) it checks; null for a table-level expectation. */
  column: string | null;
  success: boolean;
  observedValue: unknown;
  /** Rows that failed; null for a table-level expectation (as in GX). */
  unexpectedCount: number | null;
  /**
   * unexpectedCount over the rows in the expectation's domain, times 100. As in GX, NULLs are outside the domain of
   * every column-map expectation except not_be_null (so 1 bad value among 2 non-null of 4 rows is 50 %, not 25 %).
   */
  unexpectedPercent: number | null;
  /** Up to 20 of the unexpected values (rows, for compound and custom SQL expectations). */
  partialUnexpectedList: unknown[] | null;
  /** Set when the expectation could not be evaluated (it then fails). */
  exception: string | null;
}

export interface SuiteRun {
  runId: string;
  suite: string;
  /** The table checked, schema.table. */
  table: string;
  scope: 'table' | 'increment';
  engine: 'native' | 'gx';
  rowCount: number;
  /** Rows failing no row-level expectation but uniqueness (counted in the native runner's scan). */
  validRows?: number;
  /** Every expectation met. */
  success: boolean;
  /** Every critical expectation met (a gate publishes on this). */
  criticalSuccess: boolean;
  results: ExpectationResult[];
  startedAt: string;
  durationMs: number;
}

export interface NativeRunOptions {
  /** A SQL relation to check (a table name, a subquery, `read_parquet('…')`); the suite's table when omitted. */
  relation?: string;
  /** schema.table the relation stands for (resolves `{schema}` in dimension names); the suite's when omitted. */
  table?: string;
  scope?: 'table' | 'increment';
  /** The clock for freshness (tests). */
  now?: Date;
  runId?: string;
  /** The relation's columns (DESCRIBE's rows), when the caller has already described it: no DESCRIBE of its own. */
  columns?: readonly Column[];
  /** More aggregates to compute in the suite's one scan (a gate's metrics profile), handed to `onExtra`. */
  extraSelect?: string[];
  onExtra?: (row: Record<string, unknown>) => void;
}

/** A column as DESCRIBE reports it. */
export type Column = { column_name: string; column_type: string };

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

const literal = (value: unknown): string => {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return sqlLiteral(String(value));
};

/** An expectation over rows: the rows it considers, those of them that fail, and what to show of a failing row. */
interface RowCheck {
  /** Extra columns the check needs over the batch (window counts for uniqueness), `expr AS name`. */
  windows: string[];
  domain: string;
  unexpected: string;
  value: string;
  /** For uniqueness: the key columns; unexpected rows are those of groups with more than one row. */
  groupBy?: string[];
}

/** pandas dtypes (what GX's type check sees on a Parquet file) to the DuckDB types they come from. */
const PANDAS_TYPES: Record<string, string[]> = {
  int64: ['BIGINT'],
  int32: ['INTEGER'],
  int16: ['SMALLINT'],
  int8: ['TINYINT'],
  float64: ['DOUBLE'],
  float32: ['FLOAT'],
  bool: ['BOOLEAN'],
  str: ['VARCHAR'],
  object: ['VARCHAR', 'JSON', 'BLOB', 'DECIMAL'],
};

/** True for a type_ written as the pandas dtype GX checks (int64, object, ...) rather than a DuckDB type. */
export const isPandasType = (type: string) => PANDAS_TYPES[type] !== undefined;

/** The row-level SQL of a column-map expectation; undefined for table-level and custom SQL ones. */
export function rowCheckOf(expectation: SuiteExpectation, index: number, schema: string): RowCheck | undefined {
  const k = expectation.kwargs;
  const col = typeof k.column === 'string' ? quoteIdent(k.column) : '';
  const nonNull = `${col} IS NOT NULL`;
  const row = (unexpected: string, domain = nonNull): RowCheck => ({ windows: [], domain, unexpected, value: col });
  switch (expectation.type) {
    case 'expect_column_values_to_not_be_null':
      return row(`${col} IS NULL`, 'TRUE');
    case 'expect_column_values_to_be_unique': {
      const w = `__bv_w${index}`;
      return {
        windows: [`count(${col}) OVER (PARTITION BY ${col}) AS ${w}`],
        domain: nonNull,
        unexpected: `${w} > 1`,
        value: col,
        groupBy: [col],
      };
    }
    case 'expect_compound_columns_to_be_unique': {
      const cols = (k.column_list as string[]).map(quoteIdent);
      const w = `__bv_w${index}`;
      const ignore = (k.ignore_row_if as string | undefined) ?? 'all_values_are_missing';
      const domain =
        ignore === 'never'
          ? 'TRUE'
          : ignore === 'any_value_is_missing'
            ? cols.map((c) => `${c} IS NOT NULL`).join(' AND ')
            : `(${cols.map((c) => `${c} IS NOT NULL`).join(' OR ')})`;
      return {
        windows: [`count(*) FILTER (WHERE ${domain}) OVER (PARTITION BY ${cols.join(', ')}) AS ${w}`],
        domain,
        unexpected: `${w} > 1`,
        groupBy: cols,
        value: `struct_pack(${cols.map((c, i) => `${c} := ${cols[i]}`).join(', ')})`,
      };
    }
    case 'expect_column_values_to_be_between': {
      const tests: string[] = [];
      if (k.min_value !== undefined && k.min_value !== null)
        tests.push(`${col} ${k.strict_min ? '<=' : '<'} ${literal(k.min_value)}`);
      if (k.max_value !== undefined && k.max_value !== null)
        tests.push(`${col} ${k.strict_max ? '>=' : '>'} ${literal(k.max_value)}`);
      return row(`(${tests.join(' OR ') || 'FALSE'})`);
    }
    case 'expect_column_values_to_be_in_set':
      return row(`${col} NOT IN (${(k.value_set as unknown[]).map(literal).join(', ')})`);
    case 'expect_column_values_to_match_regex':
      return row(`NOT regexp_matches(CAST(${col} AS VARCHAR), ${literal(k.regex)})`);
    case 'expect_column_value_lengths_to_be_between': {
      const len = `length(CAST(${col} AS VARCHAR))`;
      const tests: string[] = [];
      if (k.min_value !== undefined) tests.push(`${len} < ${literal(k.min_value)}`);
      if (k.max_value !== undefined) tests.push(`${len} > ${literal(k.max_value)}`);
      return row(`(${tests.join(' OR ')})`);
    }
    case 'bv_expect_column_values_to_exist_in_dimension': {
      const dimension = String(k.dimension).replaceAll('{schema}', schema);
      const [dimSchema = '', dimTable = ''] = dimension.split('.');
      const key = `__bv_d.${quoteIdent(String(k.dimension_column))}`;
      // An uncorrelated IN (one hash semi-join) rather than a correlated NOT EXISTS (a delim join per use). The
      // dimension's NULL keys are left out, so for the non-null values of the domain it is exactly NOT EXISTS.
      return row(
        `NOT (__bv_b.${col} IN (SELECT ${key} FROM ${quoteIdent(dimSchema)}.${quoteIdent(dimTable)} __bv_d WHERE ${key} IS NOT NULL))`,
      );
    }
    default:
      return undefined;
  }
}

const SAMPLE = 20;

/** JSON-safe values (bigint, decimals, dates) for samples and observed values. */
export function jsonable(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonable);
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return String(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonable(v)]));
  }
  return value;
}

const num = (v: unknown) => Number(v ?? 0);

function columnOf(expectation: SuiteExpectation): string | null {
  const k = expectation.kwargs;
  if (typeof k.column === 'string') return k.column;
  if (Array.isArray(k.column_list)) return (k.column_list as string[]).join(',');
  return null;
}

const base = (relation: string, windows: string[]) =>
  `(SELECT *${windows.length ? `, ${windows.join(', ')}` : ''} FROM ${relation}) __bv_b`;

/** SQL returning the failing rows (every column, as the batch has them) of a row-level expectation. */
export function unexpectedRowsSql(
  expectation: SuiteExpectation,
  index: number,
  relation: string,
  schema: string,
): string | undefined {
  if (expectation.type === 'bv_expect_custom_sql_to_return_no_rows')
    return String(expectation.kwargs.query).replaceAll('{batch}', `(SELECT * FROM ${relation})`);
  const check = rowCheckOf(expectation, index, schema);
  if (!check) return undefined;
  return `SELECT * EXCLUDE (${['__bv_x', ...check.windows.map((w) => w.split(' AS ')[1])].join(', ')}) FROM (SELECT *, NULL AS __bv_x FROM ${base(relation, check.windows)} WHERE (${check.domain}) AND (${check.unexpected}))`;
}

async function evaluate(
  db: DuckDb,
  expectation: SuiteExpectation,
  index: number,
  relation: string,
  schema: string,
  rowCount: number,
  now: Date,
  counted?: Scanned,
  columns?: readonly Column[],
): Promise<Omit<ExpectationResult, 'type' | 'kwargs' | 'severity' | 'column' | 'exception'>> {
  const k = expectation.kwargs;
  const mostly = typeof k.mostly === 'number' ? k.mostly : 1;
  const check = rowCheckOf(expectation, index, schema);
  if (check) {
    let domain: number | undefined;
    let unexpected: number;
    let sample: unknown[] = [];
    if (check.groupBy) {
      // Uniqueness by grouping (much cheaper than the window the row-level form uses).
      const keys = check.groupBy.join(', ');
      const groups = `SELECT ${keys}, count(*) AS n FROM ${base(relation, [])} WHERE ${check.domain} GROUP BY ${keys} HAVING count(*) > 1`;
      domain = counted?.domain;
      domain ??= num((await db.rows(`SELECT count(*) FILTER (WHERE ${check.domain}) AS d FROM ${relation}`))[0]?.d);
      // First by a 64-bit hash of the key (cheaper to group on than wide strings): no repeated hash, no repeated
      // key. Only when some hash repeats are the keys themselves grouped, so a collision never counts.
      const allDistinct = counted?.allKeysDistinct === true;
      const hashed = `SELECT count(*) AS n FROM ${base(relation, [])} WHERE ${check.domain} GROUP BY hash(${keys}) HAVING count(*) > 1`;
      const suspects = allDistinct ? 0 : num((await db.rows(`SELECT coalesce(sum(n), 0) AS u FROM (${hashed})`))[0]?.u);
      unexpected = suspects === 0 ? 0 : num((await db.rows(`SELECT coalesce(sum(n), 0) AS u FROM (${groups})`))[0]?.u);
      if (unexpected > 0)
        sample = (await db.rows(`SELECT ${check.value} AS v FROM (${groups}) __bv_b LIMIT ${SAMPLE}`)).map((r) =>
          jsonable(r.v),
        );
    } else {
      const from = base(relation, check.windows);
      if (counted?.domain !== undefined && counted.unexpected !== undefined) {
        domain = counted.domain;
        unexpected = counted.unexpected;
      } else {
        const [counts] = await db.rows(
          `SELECT count(*) FILTER (WHERE ${check.domain}) AS domain, count(*) FILTER (WHERE (${check.domain}) AND (${check.unexpected})) AS unexpected FROM ${from}`,
        );
        domain = num(counts?.domain);
        unexpected = num(counts?.unexpected);
      }
      if (unexpected > 0)
        sample = (
          await db.rows(
            `SELECT ${check.value} AS v FROM ${from} WHERE (${check.domain}) AND (${check.unexpected}) LIMIT ${SAMPLE}`,
          )
        ).map((r) => jsonable(r.v));
    }
    const percent = domain === 0 ? null : (unexpected / domain) * 100;
    return {
      success: domain === 0 || (domain - unexpected) / domain >= mostly,
      observedValue: null,
      unexpectedCount: unexpected,
      unexpectedPercent: percent,
      partialUnexpectedList: sample,
    };
  }
  const col = typeof k.column === 'string' ? quoteIdent(k.column) : '';
  switch (expectation.type) {
    case 'expect_table_row_count_to_be_between': {
      const min = k.min_value as number | undefined;
      const max = k.max_value as number | undefined;
      return table((min === undefined || rowCount >= min) && (max === undefined || rowCount <= max), rowCount);
    }
    case 'expect_table_row_count_to_equal':
      return table(rowCount === k.value, rowCount);
    case 'expect_column_values_to_be_of_type': {
      const described = columns ?? (await db.rows<Column>(`DESCRIBE SELECT * FROM ${relation}`));
      const actual = described.find((c) => c.column_name === k.column)?.column_type;
      if (actual === undefined) throw new Error(`column ${String(k.column)} is not in the batch`);
      const wanted = String(k.type_);
      const accepted = PANDAS_TYPES[wanted] ?? [
        wanted.toUpperCase().replace('TIMESTAMPTZ', 'TIMESTAMP WITH TIME ZONE'),
      ];
      return table(
        accepted.some((t) => {
          const [a, b] = [actual.replaceAll(' ', ''), t.replaceAll(' ', '')];
          return a === b || (PANDAS_TYPES[wanted] !== undefined && a.startsWith(`${b}(`));
        }),
        PANDAS_TYPES[wanted] ? pandasName(actual) : actual,
      );
    }
    case 'bv_expect_table_to_be_fresh': {
      const newest =
        counted && 'newest' in counted
          ? counted.newest
          : (await db.rows(`SELECT max(${col}) AS newest FROM ${relation}`))[0]?.newest;
      if (newest === null || newest === undefined) return table(false, null);
      const at = newest instanceof Date ? newest : new Date(String(newest));
      const lagMinutes = (now.getTime() - at.getTime()) / 60_000;
      return table(lagMinutes <= Number(k.max_age_minutes), {
        newest: at.toISOString(),
        lag_minutes: Math.round(lagMinutes * 100) / 100,
      });
    }
    case 'bv_expect_duplicate_key_rate_to_be_below': {
      const cols = (k.column_list as string[]).map(quoteIdent).join(', ');
      const [row] =
        counted?.distinctKeys === undefined
          ? await db.rows(
              `SELECT count(*) AS n, ${distinctKeysSql(k.column_list as string[])} AS keys FROM ${relation}`,
            )
          : [{ n: rowCount, keys: counted.distinctKeys }];
      const n = num(row?.n);
      const duplicates = n - num(row?.keys);
      const rate = n === 0 ? 0 : duplicates / n;
      return {
        success: rate <= Number(k.max_rate),
        observedValue: rate,
        unexpectedCount: duplicates,
        unexpectedPercent: rate * 100,
        partialUnexpectedList:
          duplicates === 0
            ? []
            : (
                await db.rows(
                  `SELECT ${cols}, count(*) AS rows FROM ${relation} GROUP BY ${cols} HAVING count(*) > 1 ORDER BY rows DESC LIMIT ${SAMPLE}`,
                )
              ).map(jsonable),
      };
    }
    case 'bv_expect_custom_sql_to_return_no_rows': {
      const sql = unexpectedRowsSql(expectation, index, relation, schema) as string;
      const [row] = await db.rows(`SELECT count(*) AS n FROM (${sql})`);
      const n = num(row?.n);
      const sample = n === 0 ? [] : (await db.rows(`${sql} LIMIT ${SAMPLE}`)).map(jsonable);
      return {
        success: n <= Number(k.max_unexpected ?? 0),
        observedValue: n,
        unexpectedCount: n,
        unexpectedPercent: rowCount === 0 ? null : (n / rowCount) * 100,
        partialUnexpectedList: sample,
      };
    }
    default:
      throw new Error(`no native implementation of ${expectation.type}`);
  }
}

/** What the suite's one scan already counted for an expectation (absent: evaluated with a query of its own). */
interface Scanned {
  domain?: number;
  unexpected?: number;
  /** As many distinct key hashes as keys: no key repeats (see keyHashCounts). */
  allKeysDistinct?: boolean;
  /** The freshness column's newest value (null when the batch has none). */
  newest?: unknown;
  distinctKeys?: number;
}

function scannedFor(counted: Record<string, unknown>, index: number, check: RowCheck | undefined): Scanned {
  const scanned: Scanned = {};
  if (check) {
    scanned.domain = num(counted[`d${index}`]);
    if (!check.groupBy) scanned.unexpected = num(counted[`u${index}`]);
  }
  if (`h${index}` in counted) {
    scanned.allKeysDistinct = num(counted[`h${index}`]) === num(counted[`k${index}`]);
    if (scanned.allKeysDistinct) scanned.distinctKeys = num(counted[`k${index}`]);
  }
  if (`f${index}` in counted) scanned.newest = counted[`f${index}`];
  return scanned;
}

/** Distinct keys over these columns: one column's non-null values, or several columns' tuples. */
export const distinctKeysSql = (columns: readonly string[]) =>
  `count(DISTINCT (${columns.map(quoteIdent).join(', ')}))`;

/**
 * Whether the keys over these columns are all distinct, from two aggregates of one scan: as many distinct 64-bit
 * hashes as keys means as many distinct keys (equal keys hash equally), so the exact distinct count over wide keys
 * is needed only when some hash repeats. The keys are those distinctKeysSql counts. Written the same way wherever
 * they are counted (uniqueness, the duplicate-key rate, the metrics profile), so one scan computes them once.
 */
export function keyHashCounts(columns: readonly string[]): { keys: string; hashes: string } {
  const cols = columns.map(quoteIdent);
  return cols.length === 1
    ? { keys: `count(${cols[0]})`, hashes: `count(DISTINCT hash(${cols[0]})) FILTER (WHERE ${cols[0]} IS NOT NULL)` }
    : { keys: 'count(*)', hashes: `count(DISTINCT hash(${cols.join(', ')}))` };
}

/** The key columns of a uniqueness or duplicate-key expectation, unquoted. */
function keyColumnsOf(expectation: SuiteExpectation): string[] | undefined {
  const k = expectation.kwargs;
  switch (expectation.type) {
    case 'expect_column_values_to_be_unique':
      return typeof k.column === 'string' ? [k.column] : undefined;
    case 'expect_compound_columns_to_be_unique':
    case 'bv_expect_duplicate_key_rate_to_be_below':
      return Array.isArray(k.column_list) ? (k.column_list as string[]) : undefined;
    default:
      return undefined;
  }
}

const table = (success: boolean, observedValue: unknown) => ({
  success,
  observedValue,
  unexpectedCount: null,
  unexpectedPercent: null,
  partialUnexpectedList: null,
});

function pandasName(duckType: string): string {
  for (const [pandas, types] of Object.entries(PANDAS_TYPES))
    if (types.some((t) => duckType === t || duckType.startsWith(`${t}(`))) return pandas;
  return duckType;
}

/**
 * Runs a suite with DuckDB: every expectation compiled to SQL over the relation (a lake table, an increment, a
 * Parquet file). An expectation that cannot be evaluated (a missing column, a bad regex) fails with its exception;
 * the others still run.
 */
export async function runNative(db: DuckDb, suite: QualitySuite, options: NativeRunOptions = {}): Promise<SuiteRun> {
  const started = Date.now();
  const tableName = options.table ?? suite.meta.table;
  const schema = tableName.split('.')[0] ?? '';
  const relation = options.relation ?? tableName.split('.').map(quoteIdent).join('.');
  const now = options.now ?? new Date();
  // One scan counts the row count and every row-level check that needs no window (and the domain of those that do).
  // Each check's domain and failure are computed once per row, as columns of the scan, and only counted above it:
  // the valid-rows count reuses them instead of evaluating every regex and dimension lookup a second time.
  // count_if counts the TRUE ones, as count(*) FILTER does, and costs less in an aggregate this wide.
  const checks = suite.expectations.map((e, i) => (EXPECTATION_TYPES[e.type] ? rowCheckOf(e, i, schema) : undefined));
  const flags: string[] = [];
  const select = ['count(*) AS n'];
  checks.forEach((c, i) => {
    if (!c) return;
    flags.push(`(${c.domain}) AS __bv_d${i}`);
    select.push(`count_if(__bv_d${i}) AS d${i}`);
    if (!c.groupBy) {
      flags.push(`((${c.domain}) AND (${c.unexpected})) AS __bv_u${i}`);
      select.push(`count_if(__bv_u${i}) AS u${i}`);
    }
  });
  // ... and the rows failing none of them (the valid-rows metric; uniqueness is left to the duplicate-key rate).
  const rowLevel = checks.flatMap((c, i) => (c && !c.groupBy ? [`__bv_u${i}`] : []));
  if (rowLevel.length) select.push(`count_if(NOT coalesce(${rowLevel.join(' OR ')}, FALSE)) AS valid`);
  // Uniqueness, the duplicate-key rate and freshness are aggregates of the same scan too: when no key hash repeats, a
  // unique column or key needs no pass of its own (only when some hash repeats are its keys grouped).
  suite.expectations.forEach((e, i) => {
    if (!EXPECTATION_TYPES[e.type]) return;
    const keys = keyColumnsOf(e);
    if (keys) {
      const counts = keyHashCounts(keys);
      select.push(`${counts.hashes} AS h${i}`, `${counts.keys} AS k${i}`);
    }
    if (e.type === 'bv_expect_table_to_be_fresh' && typeof e.kwargs.column === 'string')
      select.push(`max(${quoteIdent(e.kwargs.column)}) AS f${i}`);
  });
  let counted: Record<string, unknown> | undefined;
  try {
    [counted] = await db.rows(
      `SELECT ${[...select, ...(options.extraSelect ?? [])].join(', ')} FROM (SELECT *${flags.map((f) => `, ${f}`).join('')} FROM ${relation} __bv_b) __bv_s`,
    );
    if (counted && options.onExtra) options.onExtra(counted);
  } catch {
    counted = undefined; // one expectation cannot be evaluated: each is counted on its own, the bad one fails alone
  }
  const rowCount = num(counted?.n ?? (await db.rows(`SELECT count(*) AS n FROM ${relation}`))[0]?.n);
  const results: ExpectationResult[] = [];
  for (const [index, expectation] of suite.expectations.entries()) {
    const head = {
      type: expectation.type,
      kwargs: expectation.kwargs,
      severity: expectation.meta.severity,
      column: columnOf(expectation),
    };
    try {
      if (!EXPECTATION_TYPES[expectation.type]) throw new Error(`unknown expectation type ${expectation.type}`);
      const pre = counted ? scannedFor(counted, index, checks[index]) : undefined;
      const outcome = await evaluate(db, expectation, index, relation, schema, rowCount, now, pre, options.columns);
      results.push({ ...head, ...outcome, exception: null });
    } catch (error) {
      results.push({
        ...head,
        success: false,
        observedValue: null,
        unexpectedCount: null,
        unexpectedPercent: null,
        partialUnexpectedList: null,
        exception: (error as Error).message,
      });
    }
  }
  return {
    runId: options.runId ?? newRunId(),
    suite: suite.name,
    table: tableName,
    ...(counted?.valid !== undefined ? { validRows: num(counted.valid) } : {}),
    scope: options.scope ?? (options.relation ? 'increment' : 'table'),
    engine: 'native',
    rowCount,
    success: results.every((r) => r.success),
    criticalSuccess: results.every((r) => r.success || r.severity !== 'critical'),
    results,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
  };
}

export const newRunId = () =>
  `${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${Math.random().toString(36).slice(2, 8)}`;
