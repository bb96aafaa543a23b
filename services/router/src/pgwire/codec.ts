/**
 * Message framing and encoding for protocol 3.0.
 *
 * Protocol reference: PostgreSQL 15 docs §55.2 "Message Flow" (startup packets) and §55.7
 * "Message Formats". All integers are big-endian; strings are NUL-terminated UTF-8.
 */

import { typeSizeOf } from './binary-format.ts';
import { ProtocolViolation } from './errors.ts';
import type { FieldDescription, Notice, PgErrorLike, TxStatus } from './types.ts';

/** Protocol version 3.0 as sent in a StartupMessage (major << 16 | minor). */
export const PROTOCOL_3_0 = 196608;
/** SSLRequest code (§55.7), answered with a single 'N' byte: TLS is not offered. */
export const SSL_REQUEST_CODE = 80877103;
/** GSSENCRequest code (§55.7), answered with a single 'N' byte: GSSAPI encryption is not offered. */
export const GSSENC_REQUEST_CODE = 80877104;
/** CancelRequest code (§55.7), followed by int32 process id and int32 secret key. */
export const CANCEL_REQUEST_CODE = 80877102;
/** Largest accepted startup packet in bytes (PostgreSQL's MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_BYTES = 10_000;
/** Default frontend message size limit in bytes: 16 MiB plus 1 KiB of framing headroom. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 1024;

/** Type bytes a frontend may send after startup (§55.7); anything else is a protocol violation. */
const FRONTEND_TYPES = new Set([...'QPBDECSHXpFdcf'].map((c) => c.charCodeAt(0)));

/** One unit produced by {@link FrameReader}. `payload` never includes the type byte or length word. */
export type Frame =
  /** An untyped startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
  | { kind: 'startup'; payload: Buffer }
  /** A typed message; `type` is the type byte (e.g. 0x51 'Q'). */
  | { kind: 'message'; type: number; payload: Buffer }
  /** A typed message longer than the limit; its `length` bytes (declared length) were dropped unbuffered. */
  | { kind: 'oversized'; type: number; length: number }
  /** Unrecoverable framing error; the reader accepts no further input. */
  | { kind: 'violation'; message: string };

/**
 * Incremental frame splitter for the frontend byte stream. Starts in untyped (startup)
 * mode and switches to typed mode after the first StartupMessage. Messages whose declared
 * length exceeds `maxMessageBytes` are counted and dropped as they arrive, never buffered.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private typed = false;
  private dead = false;
  private skip: { type: number; length: number; remaining: number } | null = null;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes currently held for an incomplete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feed bytes; returns the frames completed by them, in order. */
  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let data = chunk;
    while (!this.dead) {
      if (this.skip) {
        const n = Math.min(this.skip.remaining, data.length);
        this.skip.remaining -= n;
        data = data.subarray(n);
        if (this.skip.remaining > 0) break;
        out.push({ kind: 'oversized', type: this.skip.type, length: this.skip.length });
        this.skip = null;
        continue;
      }
      if (data.length > 0) {
        this.chunks.push(data);
        this.buffered += data.length;
        data = Buffer.alloc(0);
      }
      const headerLen = this.typed ? 5 : 4;
      if (this.buffered < headerLen) break;
      const head = this.head(headerLen);
      const type = this.typed ? (head[0] as number) : 0;
      const length = head.readInt32BE(this.typed ? 1 : 0);
      const bad = this.check(type, length);
      if (bad) {
        this.dead = true;
        this.chunks = [];
        this.buffered = 0;
        out.push({ kind: 'violation', message: bad });
        break;
      }
      const total = length + (this.typed ? 1 : 0);
      if (this.typed && length > this.maxMessageBytes) {
        const all = this.take();
        const consumed = Math.min(total, all.length);
        this.skip = { type, length, remaining: total - consumed };
        data = all.subarray(consumed);
        continue;
      }
      if (this.buffered < total) break;
      const all = this.take();
      const payload = all.subarray(headerLen, total);
      const rest = all.subarray(total);
      if (rest.length > 0) {
        this.chunks = [rest];
        this.buffered = rest.length;
      }
      if (this.typed) {
        out.push({ kind: 'message', type, payload });
      } else {
        out.push({ kind: 'startup', payload });
        const code = payload.length >= 4 ? payload.readInt32BE(0) : 0;
        if (code !== SSL_REQUEST_CODE && code !== GSSENC_REQUEST_CODE && code !== CANCEL_REQUEST_CODE) this.typed = true;
      }
    }
    return out;
  }

  private check(type: number, length: number): string | null {
    if (!this.typed) {
      return length < 8 || length > MAX_STARTUP_PACKET_BYTES ? `invalid length of startup packet: ${length}` : null;
    }
    if (!FRONTEND_TYPES.has(type)) {
      const ch = type >= 0x20 && type < 0x7f ? ` ('${String.fromCharCode(type)}')` : '';
      return `invalid frontend message type ${type}${ch}`;
    }
    return length < 4 ? `invalid message length ${length} for message type '${String.fromCharCode(type)}'` : null;
  }

  /** First `n` bytes, merging leading chunks when the first one is shorter. */
  private head(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  private take(): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }
}

/**
 * Cursor over one message payload. Every read checks bounds and throws
 * {@link ProtocolViolation} ("invalid message format") on truncated or malformed content.
 */
export class PayloadReader {
  private pos = 0;

  /** `what` names the message in error texts, e.g. 'Bind'. */
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  /** Bytes not yet consumed. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new ProtocolViolation(`invalid ${this.what} message format: ${field} exceeds message length`);
    }
  }

  /** Unsigned byte. */
  byte(field = 'byte'): number {
    this.need(1, field);
    return this.buf[this.pos++] as number;
  }

  /** Signed 16-bit integer. */
  int16(field = 'int16'): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** Unsigned 16-bit integer (counts). */
  uint16(field = 'count'): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** Signed 32-bit integer. */
  int32(field = 'int32'): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned 32-bit integer (OIDs). */
  uint32(field = 'oid'): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** NUL-terminated UTF-8 string. */
  cstring(field = 'string'): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new ProtocolViolation(`invalid ${this.what} message format: ${field} is missing its NUL terminator`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /** `n` raw bytes (a view, not a copy). */
  bytes(n: number, field = 'value'): Buffer {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** All remaining bytes. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** Assert the payload was consumed exactly. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new ProtocolViolation(`invalid ${this.what} message format: ${this.remaining} unexpected trailing bytes`);
    }
  }
}

/** Builder for one backend message: type byte, int32 length (self-inclusive), body. */
class MessageBuilder {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly type: string) {}

  private add(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  int8(v: number): this {
    return this.add(Buffer.from([v & 0xff]));
  }
  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    return this.add(b);
  }
  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v | 0);
    return this.add(b);
  }
  cstring(s: string): this {
    return this.add(Buffer.from(`${s.replaceAll('\0', '')}\0`, 'utf8'));
  }
  bytes(b: Buffer): this {
    return this.add(b);
  }
  build(): Buffer {
    const out = Buffer.allocUnsafe(5 + this.size);
    out[0] = this.type.charCodeAt(0);
    out.writeInt32BE(4 + this.size, 1);
    let off = 5;
    for (const p of this.parts) off += p.copy(out, off);
    return out;
  }
}

function errorFields(b: MessageBuilder, severity: string, code: string, fields: Omit<PgErrorLike, 'code' | 'severity'>): Buffer {
  b.int8(0x53).cstring(severity).int8(0x56).cstring(severity).int8(0x43).cstring(code).int8(0x4d).cstring(fields.message);
  if (fields.detail !== undefined) b.int8(0x44).cstring(fields.detail);
  if (fields.hint !== undefined) b.int8(0x48).cstring(fields.hint);
  if (fields.position !== undefined) b.int8(0x50).cstring(String(fields.position));
  if (fields.where !== undefined) b.int8(0x57).cstring(fields.where);
  return b.int8(0).build();
}

function copyResponse(type: 'G' | 'H', binary: boolean, columnFormats: readonly number[]): Buffer {
  const b = new MessageBuilder(type).int8(binary ? 1 : 0).int16(columnFormats.length);
  for (const f of columnFormats) b.int16(f);
  return b.build();
}

/** Encode a DataRow ('D') from already-encoded column values (null = SQL NULL). */
export function encodeDataRow(values: readonly (Buffer | string | null)[]): Buffer {
  let size = 4 + 2;
  const lens: number[] = [];
  for (const v of values) {
    const n = v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
    lens.push(n);
    size += 4 + Math.max(n, 0);
  }
  const out = Buffer.allocUnsafe(1 + size);
  out[0] = 0x44;
  out.writeInt32BE(size, 1);
  out.writeInt16BE(values.length, 5);
  let off = 7;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Buffer | string | null;
    const n = lens[i] as number;
    out.writeInt32BE(n, off);
    off += 4;
    if (v === null) continue;
    off += typeof v === 'string' ? out.write(v, off, 'utf8') : v.copy(out, off);
  }
  return out;
}

/** ReadyForQuery messages by transaction status (immutable, shared). */
const READY: Partial<Record<TxStatus, Buffer>> = {};
/** RowDescription messages by fields array, then by format codes (immutable, shared). */
const ROW_DESCRIPTIONS = new WeakMap<readonly FieldDescription[], Map<string, Buffer>>();

function buildRowDescription(fields: readonly FieldDescription[], formats: readonly number[]): Buffer {
  const b = new MessageBuilder('T').int16(fields.length);
  fields.forEach((f, i) => {
    b.cstring(f.name)
      .int32(f.tableOid ?? 0)
      .int16(f.columnAttr ?? 0)
      .int32(f.typeOid)
      .int16(f.typeSize ?? typeSizeOf(f.typeOid))
      .int32(f.typeModifier ?? -1)
      .int16(formats[i] ?? 0);
  });
  return b.build();
}

/** Encoders of the backend messages used by the server (§55.7). Each returns one complete message. */
export const backendMessage = {
  /** AuthenticationOk: 'R', int32 0. */
  authenticationOk: (): Buffer => new MessageBuilder('R').int32(0).build(),
  /** AuthenticationSASL: 'R', int32 10, mechanism names, terminating empty string. */
  authenticationSasl: (mechanisms: readonly string[]): Buffer => {
    const b = new MessageBuilder('R').int32(10);
    for (const m of mechanisms) b.cstring(m);
    return b.int8(0).build();
  },
  /** AuthenticationSASLContinue: 'R', int32 11, server-first-message. */
  authenticationSaslContinue: (data: string): Buffer => new MessageBuilder('R').int32(11).bytes(Buffer.from(data, 'utf8')).build(),
  /** AuthenticationSASLFinal: 'R', int32 12, server-final-message. */
  authenticationSaslFinal: (data: string): Buffer => new MessageBuilder('R').int32(12).bytes(Buffer.from(data, 'utf8')).build(),
  /** NegotiateProtocolVersion: 'v', newest supported minor version, unrecognized `_pq_.` options. */
  negotiateProtocolVersion: (minor: number, unrecognized: readonly string[]): Buffer => {
    const b = new MessageBuilder('v').int32(minor).int32(unrecognized.length);
    for (const o of unrecognized) b.cstring(o);
    return b.build();
  },
  /** ParameterStatus: 'S', name, value. */
  parameterStatus: (name: string, value: string): Buffer => new MessageBuilder('S').cstring(name).cstring(value).build(),
  /** BackendKeyData: 'K', process id, secret key (both int32). */
  backendKeyData: (pid: number, secret: number): Buffer => new MessageBuilder('K').int32(pid).int32(secret).build(),
  /** ReadyForQuery: 'Z', transaction status byte. */
  readyForQuery: (status: TxStatus): Buffer => {
    let b = READY[status];
    if (!b) READY[status] = b = new MessageBuilder('Z').int8(status.charCodeAt(0)).build();
    return b;
  },
  /**
   * RowDescription: 'T'; `formats[i]` is the column's format code (0 text, 1 binary). Built once
   * per fields array and formats (a prepared statement's fields keep their identity), since a
   * Describe precedes every execution of a prepared statement.
   */
  rowDescription: (fields: readonly FieldDescription[], formats: readonly number[]): Buffer => {
    let byFormats = ROW_DESCRIPTIONS.get(fields);
    if (!byFormats) ROW_DESCRIPTIONS.set(fields, (byFormats = new Map()));
    const key = formats.join();
    let built = byFormats.get(key);
    if (!built) {
      built = buildRowDescription(fields, formats);
      if (byFormats.size < 8) byFormats.set(key, built);
    }
    return built;
  },
  /** ParameterDescription: 't', parameter type OIDs. */
  parameterDescription: (oids: readonly number[]): Buffer => {
    const b = new MessageBuilder('t').int16(oids.length);
    for (const o of oids) b.int32(o);
    return b.build();
  },
  /** CommandComplete: 'C', command tag. */
  commandComplete: (tag: string): Buffer => new MessageBuilder('C').cstring(tag).build(),
  /** EmptyQueryResponse: 'I'. */
  emptyQueryResponse: (): Buffer => new MessageBuilder('I').build(),
  /** ParseComplete: '1'. */
  parseComplete: (): Buffer => new MessageBuilder('1').build(),
  /** BindComplete: '2'. */
  bindComplete: (): Buffer => new MessageBuilder('2').build(),
  /** CloseComplete: '3'. */
  closeComplete: (): Buffer => new MessageBuilder('3').build(),
  /** NoData: 'n'. */
  noData: (): Buffer => new MessageBuilder('n').build(),
  /** PortalSuspended: 's'. */
  portalSuspended: (): Buffer => new MessageBuilder('s').build(),
  /** CopyInResponse: 'G', overall format (0 textual, 1 binary), per-column format codes (§55.7). */
  copyInResponse: (binary: boolean, columnFormats: readonly number[]): Buffer => copyResponse('G', binary, columnFormats),
  /** CopyOutResponse: 'H', same layout as CopyInResponse. */
  copyOutResponse: (binary: boolean, columnFormats: readonly number[]): Buffer => copyResponse('H', binary, columnFormats),
  /** CopyData: 'd' followed by the data bytes. */
  copyData: (data: Buffer): Buffer => {
    const out = Buffer.allocUnsafe(5 + data.length);
    out[0] = 0x64;
    out.writeInt32BE(4 + data.length, 1);
    data.copy(out, 5);
    return out;
  },
  /** CopyDone: 'c'. */
  copyDone: (): Buffer => new MessageBuilder('c').build(),
  /** ErrorResponse: 'E' with fields S, V, C, M and D, H, P, W when present (§55.8). */
  errorResponse: (err: PgErrorLike): Buffer => errorFields(new MessageBuilder('E'), err.severity ?? 'ERROR', err.code, err),
  /** NoticeResponse: 'N' with the same field layout as ErrorResponse. */
  noticeResponse: (n: Notice): Buffer => errorFields(new MessageBuilder('N'), n.severity, n.code, n),
};
