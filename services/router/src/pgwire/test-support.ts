/**
 * Raw PostgreSQL protocol client for wire-level tests: frontend message builders and a backend
 * message reader over a plain socket.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';

export const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
export const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
export const cstr = (s: string) => Buffer.from(`${s}\0`);
export const frame = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), i32(body.length + 4), body]);
};
export const startupPacket = (params: Record<string, string>, version = 196608) => {
  const body = Buffer.concat([i32(version), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([i32(body.length + 4), body]);
};
export const Q = (sql: string) => frame('Q', cstr(sql));
export const P = (name: string, sql: string, oids: number[] = []) => frame('P', cstr(name), cstr(sql), i16(oids.length), ...oids.map(i32));
export const B = (portal: string, stmt: string, formats: number[], values: (Buffer | null)[], resultFormats: number[] = []) =>
  frame(
    'B',
    cstr(portal),
    cstr(stmt),
    i16(formats.length),
    ...formats.map(i16),
    i16(values.length),
    ...values.flatMap((v) => (v === null ? [i32(-1)] : [i32(v.length), v])),
    i16(resultFormats.length),
    ...resultFormats.map(i16),
  );
export const D = (kind: 'S' | 'P', name: string) => frame('D', Buffer.from(kind), cstr(name));
export const E = (portal: string, maxRows = 0) => frame('E', cstr(portal), i32(maxRows));
export const C = (kind: 'S' | 'P', name: string) => frame('C', Buffer.from(kind), cstr(name));
export const S = () => frame('S');

export interface Msg {
  type: string;
  payload: Buffer;
}

/** Backend message reader over a raw socket. */
export class Raw {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  ended = false;
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<Raw> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Raw(socket);
  }

  static async ready(port: number, params: Record<string, string> = { user: 'raw', database: 'db' }): Promise<Raw> {
    const r = await Raw.open(port);
    r.send(startupPacket(params));
    const msgs = await r.until('Z');
    assert.equal(msgs[0]?.type, 'R');
    return r;
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  private async waitData(): Promise<void> {
    if (this.ended) throw new Error('connection closed');
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.wake = resolve;
        timer = setTimeout(() => reject(new Error('timeout waiting for the server')), 5000);
      });
    } finally {
      clearTimeout(timer);
      this.wake = null;
    }
  }

  async byte(): Promise<string> {
    while (this.buf.length < 1) await this.waitData();
    const c = String.fromCharCode(this.buf[0] as number);
    this.buf = this.buf.subarray(1);
    return c;
  }

  async next(): Promise<Msg> {
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= len + 1) {
          const m = { type: String.fromCharCode(this.buf[0] as number), payload: this.buf.subarray(5, len + 1) };
          this.buf = this.buf.subarray(len + 1);
          return m;
        }
      }
      await this.waitData();
    }
  }

  /** Messages up to and including the first of `type`. */
  async until(type: string): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (m.type === type) return out;
    }
  }

  async closed(): Promise<void> {
    while (!this.ended) await this.waitData().catch(() => {});
  }

  end(): void {
    this.socket.end(frame('X'));
  }
}

export const types = (msgs: Msg[]) => msgs.map((m) => m.type).join('');
export function errorFields(m: Msg | undefined): Record<string, string> {
  assert.ok(m && (m.type === 'E' || m.type === 'N'), `expected ErrorResponse, got ${m?.type}`);
  const out: Record<string, string> = {};
  let p = 0;
  while (m.payload[p]) {
    const end = m.payload.indexOf(0, p + 1);
    out[String.fromCharCode(m.payload[p] as number)] = m.payload.toString('utf8', p + 1, end);
    p = end + 1;
  }
  return out;
}
export function dataRow(m: Msg | undefined): (Buffer | null)[] {
  assert.equal(m?.type, 'D');
  const out: (Buffer | null)[] = [];
  let p = 2;
  for (let i = m.payload.readInt16BE(0); i > 0; i--) {
    const len = m.payload.readInt32BE(p);
    p += 4;
    out.push(len < 0 ? null : m.payload.subarray(p, p + len));
    p += Math.max(len, 0);
  }
  return out;
}
export const textRow = (m: Msg | undefined) => dataRow(m).map((b) => (b === null ? null : b.toString('utf8')));
export function rowDescription(m: Msg | undefined): { name: string; oid: number; format: number }[] {
  assert.equal(m?.type, 'T');
  const out: { name: string; oid: number; format: number }[] = [];
  let p = 2;
  for (let i = m.payload.readInt16BE(0); i > 0; i--) {
    const end = m.payload.indexOf(0, p);
    const name = m.payload.toString('utf8', p, end);
    p = end + 1;
    out.push({ name, oid: m.payload.readInt32BE(p + 6), format: m.payload.readInt16BE(p + 16) });
    p += 18;
  }
  return out;
}
export const cstrOf = (m: Msg | undefined) => m?.payload.toString('utf8', 0, m.payload.length - 1);
