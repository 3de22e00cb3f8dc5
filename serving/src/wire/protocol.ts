/**
 * Framing of the PostgreSQL frontend/backend protocol, version 3.0: reading the client's messages out of a byte stream
 * and building the server's. Only framing lives here; what a message means is the session's business.
 */

export const PROTOCOL_VERSION_3 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** One message from the client: its type byte (absent for the untyped startup packets) and its body. */
export interface FrontendMessage {
  type: string | null;
  body: Buffer;
}

/** Cuts messages out of the incoming stream; the first message of a connection has no type byte. */
export class MessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  private expectStartup = true;

  constructor(private readonly maxMessageBytes = 64 * 1024 * 1024) {}

  /** After SSLRequest/GSSENCRequest the client sends another startup packet. */
  expectStartupPacket(): void {
    this.expectStartup = true;
  }

  push(chunk: Buffer): FrontendMessage[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const messages: FrontendMessage[] = [];
    for (;;) {
      const headerBytes = this.expectStartup ? 4 : 5;
      if (this.buffer.length < headerBytes) break;
      const length = this.buffer.readInt32BE(headerBytes - 4);
      if (length < 4 || length > this.maxMessageBytes) throw new Error(`invalid message length ${length}`);
      const total = headerBytes - 4 + length;
      if (this.buffer.length < total) break;
      const type = this.expectStartup ? null : String.fromCharCode(this.buffer[0] ?? 0);
      messages.push({ type, body: this.buffer.subarray(headerBytes, total) });
      this.buffer = this.buffer.subarray(total);
      if (this.expectStartup) this.expectStartup = false;
    }
    return messages;
  }
}

/** Reads the fields of one message body in order. */
export class BodyReader {
  private offset = 0;
  constructor(private readonly body: Buffer) {}

  int16(): number {
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new Error('unterminated string in message');
    const value = this.body.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return value;
  }

  bytes(length: number): Buffer {
    const value = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  byte(): string {
    const value = String.fromCharCode(this.body[this.offset] ?? 0);
    this.offset += 1;
    return value;
  }

  get remaining(): number {
    return this.body.length - this.offset;
  }
}

/** Builds one backend message: type byte, length, fields. */
export class MessageWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly type: string) {}

  int16(value: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(value);
    return this.add(b);
  }

  int32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(value);
    return this.add(b);
  }

  cstring(value: string): this {
    return this.add(Buffer.from(`${value}\0`, 'utf8'));
  }

  bytes(value: Buffer): this {
    return this.add(value);
  }

  byte(value: string): this {
    return this.add(Buffer.from(value, 'latin1'));
  }

  private add(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  build(): Buffer {
    const header = Buffer.allocUnsafe(5);
    header.write(this.type, 0, 'latin1');
    header.writeInt32BE(this.size + 4, 1);
    return Buffer.concat([header, ...this.parts], 5 + this.size);
  }
}

export const message = (type: string) => new MessageWriter(type);

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** ErrorResponse ('E') or NoticeResponse ('N'). */
export function errorResponse(fields: ErrorFields, type: 'E' | 'N' = 'E'): Buffer {
  const m = message(type).byte('S').cstring(fields.severity).byte('V').cstring(fields.severity);
  m.byte('C').cstring(fields.code).byte('M').cstring(fields.message);
  if (fields.detail) m.byte('D').cstring(fields.detail);
  if (fields.hint) m.byte('H').cstring(fields.hint);
  return m.byte('\0').build();
}

export const readyForQuery = (status: 'I' | 'T' | 'E') => message('Z').byte(status).build();
export const parameterStatus = (name: string, value: string) => message('S').cstring(name).cstring(value).build();
export const commandComplete = (tag: string) => message('C').cstring(tag).build();
export const authentication = (code: number, payload?: Buffer) => {
  const m = message('R').int32(code);
  if (payload) m.bytes(payload);
  return m.build();
};
export const PARSE_COMPLETE = message('1').build();
export const BIND_COMPLETE = message('2').build();
export const CLOSE_COMPLETE = message('3').build();
export const NO_DATA = message('n').build();
export const EMPTY_QUERY = message('I').build();
export const PORTAL_SUSPENDED = message('s').build();
