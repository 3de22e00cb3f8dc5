import { BvError, type BvErrorOptions, type ErrorCode } from '@bitvelocity/core';

/**
 * An analyst's statement the engine refused or could not run. `sqlState` is the Postgres SQLSTATE the wire endpoint
 * sends for it; `engineMessage` is DuckDB's own message, which `bv sql` prints as it is.
 */
export class SqlError extends BvError {
  readonly sqlState: string;
  readonly engineMessage: string;

  constructor(code: ErrorCode, message: string, sqlState: string, options: BvErrorOptions = {}) {
    super(code, message, { ...options, details: { ...options.details, sqlState } });
    this.sqlState = sqlState;
    this.engineMessage = options.cause instanceof Error ? options.cause.message : message;
  }
}

/** DuckDB's error class (the text before ": ") to a SQLSTATE, for errors that are not about the session's limits. */
const SQLSTATE_BY_ENGINE_CLASS: Record<string, string> = {
  'Parser Error': '42601',
  'Catalog Error': '42P01',
  'Binder Error': '42703',
  'Conversion Error': '22P02',
  'Out of Range Error': '22003',
  'Invalid Input Error': '22023',
  'Out of Memory Error': '53200',
  'Not implemented Error': '0A000',
  'Constraint Error': '23000',
};

/**
 * Names what the engine refused. The refusal itself comes from DuckDB's settings (a read-only attach and database,
 * external access off, the configuration locked); this only reads its message to give it a stable code.
 */
export function classifyEngineError(
  error: unknown,
  interrupted?: 'timeout' | 'cancelled',
  timeoutMs?: number,
): SqlError {
  if (error instanceof SqlError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (interrupted === 'timeout' || (interrupted === undefined && /^INTERRUPT Error/i.test(message) && timeoutMs)) {
    return new SqlError(
      'SQL_TIMEOUT',
      `the statement ran longer than the ${timeoutMs} ms statement timeout and was stopped; narrow the query or raise --timeout`,
      '57014',
      { cause: error },
    );
  }
  if (interrupted === 'cancelled' || /^INTERRUPT Error/i.test(message)) {
    return new SqlError('SQL_CANCELLED', 'the statement was cancelled', '57014', { cause: error });
  }
  if (/attached in read-only mode|in-memory database in read-only mode|read-only transaction/i.test(message)) {
    return new SqlError(
      'SQL_READ_ONLY',
      `the analyst session is read-only: the lake is attached READ_ONLY, so writes and DDL are refused (${firstLine(message)})`,
      '25006',
      { cause: error },
    );
  }
  if (/disabled by configuration|Permission Error|permission denied/i.test(message)) {
    return new SqlError(
      'SQL_ACCESS_DENIED',
      `the analyst session has no external access: files, URLs, COPY ... TO, ATTACH and INSTALL/LOAD are refused (${firstLine(message)})`,
      '42501',
      { cause: error },
    );
  }
  if (/configuration has been locked|Cannot enable external access while database is running/i.test(message)) {
    return new SqlError(
      'SQL_CONFIG_LOCKED',
      `the analyst session's configuration is locked (${firstLine(message)})`,
      '55P02',
      { cause: error },
    );
  }
  const engineClass = /^([A-Za-z ]+ Error):/.exec(message)?.[1] ?? '';
  return new SqlError('SQL_FAILED', message, SQLSTATE_BY_ENGINE_CLASS[engineClass] ?? 'XX000', { cause: error });
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
