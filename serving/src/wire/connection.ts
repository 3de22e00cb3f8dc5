import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { AnalystDatabase, AnalystSession, SqlResult } from '@bitvelocity/warehouse';
import { SqlError } from '@bitvelocity/warehouse';
import type { DuckDBPreparedStatement } from '@duckdb/node-api';
import { DuckDBTypeId, StatementType } from '@duckdb/node-api';
import { installCatalog, translateCatalogQuery } from './catalog.js';
import {
  authentication,
  BIND_COMPLETE,
  BodyReader,
  CANCEL_REQUEST_CODE,
  CLOSE_COMPLETE,
  commandComplete,
  EMPTY_QUERY,
  errorResponse,
  type FrontendMessage,
  GSSENC_REQUEST_CODE,
  MessageReader,
  message,
  NO_DATA,
  PARSE_COMPLETE,
  PORTAL_SUSPENDED,
  PROTOCOL_VERSION_3,
  parameterStatus,
  readyForQuery,
  SSL_REQUEST_CODE,
} from './protocol.js';
import { ScramExchange } from './scram.js';
import { type SessionCommand, sessionCommand, splitStatements } from './statements.js';
import { binaryParameterText, PG_OID, pgParameterOid, pgText, pgTypeOf } from './types.js';
import type { VerifierLookup } from './users.js';

export interface ConnectionContext {
  database: AnalystDatabase;
  verifiers: VerifierLookup;
  tls: SecureContext | undefined;
  /** The longest statement timeout a client may SET. */
  maxStatementTimeoutMs: number;
  register(connection: WireConnection): void;
  unregister(connection: WireConnection): void;
  cancel(processId: number, secretKey: number): void;
}

interface PreparedEntry {
  sql: string;
  command: SessionCommand | undefined;
  prepared: DuckDBPreparedStatement | undefined;
  parameterOids: number[];
}

interface Portal {
  statement: PreparedEntry;
  params: (string | null)[];
  result: SqlResult | undefined;
  sent: number;
}

/** The server's own answers for parameters Postgres clients read or set. */
const SERVER_PARAMETERS: Record<string, string> = {
  server_version: '15.0',
  server_version_num: '150000',
  search_path: '"$user", public',
  server_encoding: 'UTF8',
  client_encoding: 'UTF8',
  datestyle: 'ISO, MDY',
  intervalstyle: 'postgres',
  timezone: 'UTC',
  integer_datetimes: 'on',
  standard_conforming_strings: 'on',
  is_superuser: 'off',
  default_transaction_read_only: 'on',
  transaction_read_only: 'on',
  transaction_isolation: 'repeatable read',
  max_identifier_length: '63',
};
const REPORTED = ['server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'IntervalStyle', 'TimeZone'];

/** One client connection: startup, SCRAM authentication, then the simple and extended query protocols. */
export class WireConnection {
  readonly processId = randomInt(1, 2 ** 31 - 1);
  readonly secretKey = randomInt(1, 2 ** 31 - 1);
  private socket: Socket;
  private readonly reader = new MessageReader();
  private queue: Promise<void> = Promise.resolve();
  private phase: 'startup' | 'sasl-initial' | 'sasl-final' | 'ready' | 'closed' = 'startup';
  private user = '';
  private scram: ScramExchange | undefined;
  private session: AnalystSession | undefined;
  private readonly parameters: Record<string, string> = { ...SERVER_PARAMETERS };
  private statementTimeoutMs: number;
  private readonly statements = new Map<string, PreparedEntry>();
  private readonly portals = new Map<string, Portal>();
  private skipUntilSync = false;
  private transaction: 'I' | 'T' | 'E' = 'I';

  constructor(
    socket: Socket,
    private readonly context: ConnectionContext,
  ) {
    this.socket = socket;
    this.statementTimeoutMs = context.database.statementTimeoutMs;
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    let messages: FrontendMessage[];
    try {
      messages = this.reader.push(chunk);
    } catch (error) {
      this.fatal('08P01', (error as Error).message);
      return;
    }
    for (const m of messages) this.queue = this.queue.then(() => this.handle(m)).catch((error) => this.internal(error));
  }

  private send(...buffers: Buffer[]): void {
    if (this.phase !== 'closed' && !this.socket.destroyed)
      this.socket.write(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
  }

  private fatal(code: string, text: string): void {
    this.send(errorResponse({ severity: 'FATAL', code, message: text }));
    this.socket.end();
    this.close();
  }

  private internal(error: unknown): void {
    this.send(
      errorResponse({ severity: 'ERROR', code: 'XX000', message: (error as Error).message }),
      readyForQuery(this.transaction),
    );
  }

  cancel(): void {
    this.session?.cancel();
  }

  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.context.unregister(this);
    for (const entry of this.statements.values()) entry.prepared?.destroySync();
    this.statements.clear();
    this.session?.cancel();
    const session = this.session;
    this.session = undefined;
    // Close after the running statement (if any) has stopped.
    void this.queue.finally(() => session?.close());
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private async handle(m: FrontendMessage): Promise<void> {
    if (this.phase === 'closed') return;
    if (m.type === null) return this.startup(m.body);
    if (this.phase === 'sasl-initial' || this.phase === 'sasl-final') {
      if (m.type !== 'p') return this.fatal('08P01', 'expected a SASL response');
      return this.sasl(m.body);
    }
    if (m.type === 'X') return this.close();
    if (this.skipUntilSync && m.type !== 'S') return;
    try {
      switch (m.type) {
        case 'Q':
          return await this.simpleQuery(new BodyReader(m.body).cstring());
        case 'P':
          return await this.parse(new BodyReader(m.body));
        case 'B':
          return this.bind(new BodyReader(m.body));
        case 'D':
          return await this.describe(new BodyReader(m.body));
        case 'E':
          return await this.execute(new BodyReader(m.body));
        case 'C':
          return this.closeObject(new BodyReader(m.body));
        case 'S':
          this.skipUntilSync = false;
          return this.send(readyForQuery(this.transaction));
        case 'H':
          return;
        default:
          return this.fatal('08P01', `unsupported message type "${m.type}"`);
      }
    } catch (error) {
      this.sendError(error);
      if (m.type !== 'Q') this.skipUntilSync = true;
    }
  }

  private sendError(error: unknown): void {
    const sqlError = error instanceof SqlError ? error : undefined;
    const code = sqlError?.sqlState ?? 'XX000';
    if (this.transaction === 'T') this.transaction = 'E';
    this.send(
      errorResponse({
        severity: 'ERROR',
        code,
        message: sqlError?.engineMessage ?? (error as Error).message,
        ...(sqlError && sqlError.code !== 'SQL_FAILED' ? { hint: `${sqlError.code}: ${sqlError.message}` } : {}),
      }),
    );
  }

  // ---- startup and authentication ----

  private startup(body: Buffer): void {
    const r = new BodyReader(body);
    const code = r.int32();
    if (code === SSL_REQUEST_CODE) {
      if (!this.context.tls || this.socket instanceof TLSSocket) {
        this.socket.write('N');
        this.reader.expectStartupPacket();
        return;
      }
      this.socket.write('S');
      this.socket.removeAllListeners('data');
      this.socket.removeAllListeners('close');
      this.socket.removeAllListeners('error');
      const secure = new TLSSocket(this.socket, { isServer: true, secureContext: this.context.tls });
      this.socket = secure;
      this.attach(secure);
      this.reader.expectStartupPacket();
      return;
    }
    if (code === GSSENC_REQUEST_CODE) {
      this.socket.write('N');
      this.reader.expectStartupPacket();
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      this.context.cancel(r.int32(), r.int32());
      this.socket.end();
      this.close();
      return;
    }
    if (code !== PROTOCOL_VERSION_3) {
      this.fatal('0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
      return;
    }
    const params: Record<string, string> = {};
    while (r.remaining > 1) {
      const key = r.cstring();
      if (!key) break;
      params[key] = r.cstring();
    }
    if (this.context.tls && !(this.socket instanceof TLSSocket)) {
      this.fatal('28000', 'this server requires TLS: connect with sslmode=require');
      return;
    }
    this.user = params.user ?? '';
    if (params.application_name) this.parameters.application_name = params.application_name;
    this.scram = new ScramExchange(this.context.verifiers(this.user));
    this.phase = 'sasl-initial';
    const mechanisms = Buffer.from('SCRAM-SHA-256\0\0', 'utf8');
    this.send(authentication(10, mechanisms));
  }

  private async sasl(body: Buffer): Promise<void> {
    const scram = this.scram;
    if (!scram) return this.fatal('08P01', 'no SASL exchange in progress');
    const r = new BodyReader(body);
    try {
      if (this.phase === 'sasl-initial') {
        const mechanism = r.cstring();
        if (mechanism !== 'SCRAM-SHA-256') return this.fatal('28000', `unsupported SASL mechanism ${mechanism}`);
        const length = r.int32();
        const first = r.bytes(length).toString('utf8');
        this.phase = 'sasl-final';
        this.send(authentication(11, Buffer.from(scram.serverFirstMessage(first), 'utf8')));
        return;
      }
      const final = scram.serverFinalMessage(body.toString('utf8'));
      if (!final) return this.fatal('28P01', `password authentication failed for user "${this.user}"`);
      this.send(authentication(12, Buffer.from(final, 'utf8')), authentication(0));
    } catch (error) {
      return this.fatal('08P01', (error as Error).message);
    }
    try {
      this.session = await this.context.database.openSession();
      await installCatalog(this.session);
    } catch (error) {
      return this.fatal('57P03', `cannot open an analyst session: ${(error as Error).message}`);
    }
    this.phase = 'ready';
    this.parameters.session_authorization = this.user;
    this.context.register(this);
    const statuses = REPORTED.map((name) => parameterStatus(name, this.parameters[name.toLowerCase()] ?? ''));
    statuses.push(parameterStatus('integer_datetimes', 'on'), parameterStatus('standard_conforming_strings', 'on'));
    statuses.push(parameterStatus('is_superuser', 'off'), parameterStatus('session_authorization', this.user));
    statuses.push(parameterStatus('application_name', this.parameters.application_name ?? ''));
    statuses.push(parameterStatus('default_transaction_read_only', 'on'));
    this.send(...statuses, message('K').int32(this.processId).int32(this.secretKey).build(), readyForQuery('I'));
  }

  // ---- simple query ----

  private async simpleQuery(sql: string): Promise<void> {
    const statements = splitStatements(sql);
    if (!statements.length) {
      this.send(EMPTY_QUERY, readyForQuery(this.transaction));
      return;
    }
    try {
      for (const statement of statements) {
        const command = sessionCommand(statement);
        if (command) {
          const result = await this.runCommand(command);
          if (result) this.send(rowDescription(result), ...dataRows(result, 0, result.rows.length));
          this.send(commandComplete(command.kind === 'show' ? 'SHOW' : commandTag(command, result)));
          continue;
        }
        const [result] = await this.sessionOrFail().run(translateCatalogQuery(statement), {
          statementTimeoutMs: this.statementTimeoutMs,
        });
        if (!result) continue;
        this.sendResult(result, true);
      }
    } catch (error) {
      this.sendError(error);
    }
    this.send(readyForQuery(this.transaction));
  }

  private sendResult(result: SqlResult, withDescription: boolean): void {
    const returnsRows = result.columns.length > 0 && !isStatusOnly(result);
    if (withDescription && returnsRows) this.send(rowDescription(result));
    if (returnsRows) this.send(...dataRows(result, 0, result.rows.length));
    if (result.truncated) {
      this.send(
        errorResponse(
          {
            severity: 'NOTICE',
            code: '01000',
            message: `result truncated at the row limit (${result.rows.length} rows)`,
          },
          'N',
        ),
      );
    }
    this.send(commandComplete(resultTag(result)));
  }

  private sessionOrFail(): AnalystSession {
    if (!this.session) throw new Error('the session is closed');
    return this.session;
  }

  /** SET/SHOW/RESET/transaction control: answered here; only transactions reach DuckDB (for one snapshot). */
  private async runCommand(command: SessionCommand): Promise<SqlResult | undefined> {
    switch (command.kind) {
      case 'set':
        if (command.name === 'statement_timeout') this.statementTimeoutMs = this.timeoutFrom(command.value);
        this.parameters[command.name] = command.value;
        if (['application_name', 'timezone', 'datestyle', 'client_encoding', 'intervalstyle'].includes(command.name)) {
          const reported = REPORTED.find((n) => n.toLowerCase() === command.name) ?? command.name;
          this.send(parameterStatus(reported, command.value));
        }
        return undefined;
      case 'reset':
        if (command.name === 'statement_timeout') this.statementTimeoutMs = this.context.database.statementTimeoutMs;
        this.parameters[command.name] = SERVER_PARAMETERS[command.name] ?? '';
        return undefined;
      case 'show': {
        const value =
          command.name === 'statement_timeout'
            ? `${this.statementTimeoutMs}ms`
            : (this.parameters[command.name] ?? SERVER_PARAMETERS[command.name]);
        if (value === undefined)
          throw new SqlError('SQL_FAILED', `unrecognized configuration parameter "${command.name}"`, '42704');
        return textResult(command.name, value);
      }
      case 'begin':
        if (this.transaction === 'I') await this.sessionOrFail().run('BEGIN TRANSACTION');
        this.transaction = 'T';
        return undefined;
      case 'commit':
      case 'rollback':
        if (this.transaction !== 'I')
          await this.sessionOrFail()
            .run(this.transaction === 'E' ? 'ROLLBACK' : command.kind.toUpperCase())
            .catch(() => undefined);
        this.transaction = 'I';
        return undefined;
      case 'ignore':
        return undefined;
    }
  }

  private timeoutFrom(value: string): number {
    const m = /^\s*(\d+)\s*(ms|s|min)?\s*$/i.exec(value);
    if (!m?.[1]) throw new SqlError('SQL_BAD_OPTION', `invalid value for statement_timeout: "${value}"`, '22023');
    const ms =
      Number(m[1]) * ({ ms: 1, s: 1000, min: 60_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms' | 's' | 'min'] ?? 1);
    // 0 means "no timeout" in Postgres; here it means the server's maximum.
    return ms === 0 ? this.context.maxStatementTimeoutMs : Math.min(ms, this.context.maxStatementTimeoutMs);
  }

  // ---- extended query ----

  private async parse(r: BodyReader): Promise<void> {
    const name = r.cstring();
    const sql = r.cstring();
    const count = r.int16();
    const parameterOids = Array.from({ length: count }, () => r.int32());
    const statements = splitStatements(sql);
    if (statements.length > 1)
      throw new SqlError('SQL_FAILED', 'cannot insert multiple commands into a prepared statement', '42601');
    const text = statements[0] ?? '';
    const command = text ? sessionCommand(text) : undefined;
    const prepared = command || !text ? undefined : await this.sessionOrFail().prepare(translateCatalogQuery(text));
    this.statements.get(name)?.prepared?.destroySync();
    this.statements.set(name, { sql: text, command, prepared, parameterOids });
    this.send(PARSE_COMPLETE);
  }

  private bind(r: BodyReader): void {
    const portalName = r.cstring();
    const statementName = r.cstring();
    const statement = this.statements.get(statementName);
    if (!statement) throw new SqlError('SQL_FAILED', `prepared statement "${statementName}" does not exist`, '26000');
    const formatCount = r.int16();
    const formats = Array.from({ length: formatCount }, () => r.int16());
    const paramCount = r.int16();
    const params: (string | null)[] = [];
    for (let i = 0; i < paramCount; i += 1) {
      const length = r.int32();
      if (length < 0) {
        params.push(null);
        continue;
      }
      const bytes = r.bytes(length);
      const binary = (formatCount === 1 ? formats[0] : formats[i]) === 1;
      params.push(binary ? binaryParameterText(statement.parameterOids[i] ?? 0, bytes) : bytes.toString('utf8'));
    }
    // Result format codes are read but every column is sent as text; RowDescription says so.
    this.portals.set(portalName, { statement, params, result: undefined, sent: 0 });
    this.send(BIND_COMPLETE);
  }

  private async describe(r: BodyReader): Promise<void> {
    const kind = r.byte();
    const name = r.cstring();
    if (kind === 'S') {
      const statement = this.statements.get(name);
      if (!statement) throw new SqlError('SQL_FAILED', `prepared statement "${name}" does not exist`, '26000');
      const prepared = statement.prepared;
      const count = prepared?.parameterCount ?? 0;
      const oids = Array.from({ length: count }, (_, i) => {
        if (statement.parameterOids[i]) return statement.parameterOids[i] as number;
        const typeId = prepared?.parameterTypeId(i + 1) ?? DuckDBTypeId.INVALID;
        return pgParameterOid(typeId, typeId === DuckDBTypeId.INVALID ? undefined : prepared?.parameterType(i + 1));
      });
      const description = message('t').int16(count);
      for (const oid of oids) description.int32(oid);
      this.send(description.build());
      if (statement.command?.kind === 'show') return this.send(rowDescription(textResult(statement.command.name, '')));
      if (!prepared || prepared.columnCount === 0 || prepared.statementType !== StatementType.SELECT)
        return this.send(NO_DATA);
      const columns = Array.from({ length: prepared.columnCount }, (_, i) => ({
        name: prepared.columnName(i),
        oid: prepared.columnTypeId(i) === DuckDBTypeId.INVALID ? undefined : pgTypeOf(prepared.columnType(i)),
      }));
      return this.send(
        rowDescriptionOf(
          columns.map((c) => ({ name: c.name, type: c.oid ?? { oid: PG_OID.text, size: -1, modifier: -1 } })),
        ),
      );
    }
    const portal = this.portals.get(name);
    if (!portal) throw new SqlError('SQL_FAILED', `portal "${name}" does not exist`, '34000');
    // The columns of a statement are known for sure once its parameters are: run it now, send it at Execute.
    const result = await this.portalResult(portal);
    if (!result || result.columns.length === 0 || isStatusOnly(result)) return this.send(NO_DATA);
    this.send(rowDescription(result));
  }

  private async portalResult(portal: Portal): Promise<SqlResult | undefined> {
    if (portal.result) return portal.result;
    const { command, prepared } = portal.statement;
    if (command) {
      portal.result = (await this.runCommand(command)) ?? statusResult(commandTag(command, undefined));
      return portal.result;
    }
    if (!prepared) return undefined;
    portal.result = await this.sessionOrFail().execute(prepared, {
      params: portal.params,
      statementTimeoutMs: this.statementTimeoutMs,
    });
    return portal.result;
  }

  private async execute(r: BodyReader): Promise<void> {
    const name = r.cstring();
    const maxRows = r.int32();
    const portal = this.portals.get(name);
    if (!portal) throw new SqlError('SQL_FAILED', `portal "${name}" does not exist`, '34000');
    const result = await this.portalResult(portal);
    if (!result) return this.send(EMPTY_QUERY);
    if (result.columns.length === 0 || isStatusOnly(result)) return this.send(commandComplete(resultTag(result)));
    const end = maxRows > 0 ? Math.min(result.rows.length, portal.sent + maxRows) : result.rows.length;
    this.send(...dataRows(result, portal.sent, end));
    portal.sent = end;
    if (end < result.rows.length) return this.send(PORTAL_SUSPENDED);
    if (result.truncated) {
      this.send(
        errorResponse(
          {
            severity: 'NOTICE',
            code: '01000',
            message: `result truncated at the row limit (${result.rows.length} rows)`,
          },
          'N',
        ),
      );
    }
    this.send(commandComplete(resultTag(result)));
  }

  private closeObject(r: BodyReader): void {
    const kind = r.byte();
    const name = r.cstring();
    if (kind === 'S') {
      this.statements.get(name)?.prepared?.destroySync();
      this.statements.delete(name);
    } else this.portals.delete(name);
    this.send(CLOSE_COMPLETE);
  }
}

// ---- result encoding ----

function isStatusOnly(result: SqlResult): boolean {
  return result.statementType !== StatementType.SELECT && result.statementType !== StatementType.EXPLAIN
    ? result.columns.length === 1 && ['Success', 'Count'].includes(result.columns[0]?.name ?? '')
    : false;
}

function rowDescriptionOf(columns: { name: string; type: { oid: number; size: number; modifier: number } }[]): Buffer {
  const m = message('T').int16(columns.length);
  for (const c of columns)
    m.cstring(c.name).int32(0).int16(0).int32(c.type.oid).int16(c.type.size).int32(c.type.modifier).int16(0);
  return m.build();
}

function rowDescription(result: SqlResult): Buffer {
  return rowDescriptionOf(result.columns.map((c) => ({ name: c.name, type: pgTypeOf(c.type) })));
}

function dataRows(result: SqlResult, from: number, to: number): Buffer[] {
  const rows: Buffer[] = [];
  for (let i = from; i < to; i += 1) {
    const row = result.rows[i] ?? [];
    const m = message('D').int16(result.columns.length);
    result.columns.forEach((column, c) => {
      const text = pgText(row[c] ?? null, column.type);
      if (text === null) m.int32(-1);
      else {
        const bytes = Buffer.from(text, 'utf8');
        m.int32(bytes.length).bytes(bytes);
      }
    });
    rows.push(m.build());
  }
  return rows;
}

function resultTag(result: SqlResult): string {
  if (result.columns.length && !isStatusOnly(result)) return `SELECT ${result.rows.length}`;
  const tag = (result as SqlResult & { tag?: string }).tag;
  if (tag) return tag;
  switch (result.statementType) {
    case StatementType.SET:
    case StatementType.VARIABLE_SET:
      return 'SET';
    case StatementType.TRANSACTION:
      return 'BEGIN';
    default:
      return StatementType[result.statementType] ?? 'OK';
  }
}

function commandTag(command: SessionCommand, result: SqlResult | undefined): string {
  switch (command.kind) {
    case 'set':
      return 'SET';
    case 'reset':
      return 'RESET';
    case 'show':
      return result ? 'SHOW' : 'SHOW';
    case 'begin':
      return 'BEGIN';
    case 'commit':
      return 'COMMIT';
    case 'rollback':
      return 'ROLLBACK';
    case 'ignore':
      return command.tag;
  }
}

const VARCHAR_TYPE = {
  typeId: DuckDBTypeId.VARCHAR,
  alias: undefined,
} as unknown as SqlResult['columns'][number]['type'];

function textResult(name: string, value: string): SqlResult {
  return {
    statementType: StatementType.SELECT,
    columns: [{ name, type: VARCHAR_TYPE }],
    rows: [[value]],
    truncated: false,
    elapsedMs: 0,
  };
}

function statusResult(tag: string): SqlResult {
  return Object.assign(
    { statementType: StatementType.INVALID, columns: [], rows: [], truncated: false, elapsedMs: 0 },
    { tag },
  );
}
