/**
 * MessagePack on ingestion's hot path, without msgpackr's decode and re-encode of what the bus
 * delivered:
 *
 * - **Reading** ({@link PartReader}): decodes an encoded `TxnPart` to exactly the value
 *   shared's `decode` gives (msgpackr: `mapsAsObjects`, `int64AsType: 'bigint'`), and notes
 *   where each change's `key` and `row` values sit in the bytes. It reads *plain* MessagePack
 *   only: nil, booleans, numbers, strings of valid UTF-8, binaries, arrays, and maps with string
 *   keys; no extension types and no msgpackr string bundles or records, so every value's bytes
 *   decode on their own exactly as they do in place. Anything else (and anything msgpackr would
 *   reject) goes to shared's `decode` as it is. Short ASCII strings (map keys, table names,
 *   ops) are interned instead of allocated for every change.
 * - **Writing** ({@link ValueWriter}): store.ts values (`history`, `latest`, `lsnlog`, `bytime`)
 *   assembled from such byte ranges and a few scalars, into large blocks. Scalars and strings are
 *   written as shared's `encode` (msgpackr: `useRecords: false`, no float32) writes them, so a
 *   value assembled from bytes that `encode` produced is byte-identical to `encode` of the
 *   decoded value (msgpack.test.ts checks both halves against msgpackr).
 */
import { decode, encode, type PartDecoder } from '@stratum/shared';

/** Thrown inside the reader when the bytes are not plain MessagePack (then msgpackr decodes them). */
const NOT_PLAIN = new Error('not plain MessagePack');
/** Deepest nesting the reader follows (deeper input goes to msgpackr). */
const MAX_DEPTH = 512;
/** Longest string (bytes) that is interned. */
const INTERN_MAX = 16;
const INTERN_SLOTS = 4096;

const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;
const utf8Slice = Buffer.prototype.utf8Slice as (this: Uint8Array, start: number, end: number) => string;

/**
 * Decodes encoded parts (see the module comment) and keeps, per part handed to
 * {@link decodePart} since the last {@link reset}, its bytes and where its changes' `key` and
 * `row` values are. Not reentrant; one per ingestion engine.
 */
export class PartReader {
  /** The bytes of each part decoded since {@link reset}, in order. */
  bytes: Uint8Array[] = [];
  /**
   * For each of {@link bytes}: `[keyStart, keyEnd, rowStart, rowEnd]` at 4·i for change i
   * (`rowStart` -1: no `row` field), or undefined when msgpackr decoded the part.
   */
  slices: (Int32Array | undefined)[] = [];
  private src: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(new ArrayBuffer(0)) as DataView;
  private pos = 0;
  private end = 0;
  /** Array elements still allowed (msgpackr's allocation budget: a valid tree never exceeds its byte count). */
  private budget = 0;
  private depth = 0;
  private partSlices: Int32Array | undefined;
  private readonly interned = new Array<string | undefined>(INTERN_SLOTS);

  /** A {@link PartDecoder} for shared's `decodeBusBatch`. */
  readonly decodePart: PartDecoder = (bytes, what) => {
    this.bytes.push(bytes);
    const plain = this.readPart(bytes);
    this.slices.push(plain === NOT_PLAIN ? undefined : this.partSlices);
    return plain === NOT_PLAIN ? decode<unknown>(bytes, what) : plain;
  };

  /** Start anew (the arrays handed out so far are left as they are). */
  reset(): void {
    this.bytes = [];
    this.slices = [];
  }

  /** The part's value, or {@link NOT_PLAIN}. */
  private readPart(b: Uint8Array): unknown {
    this.src = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.pos = 0;
    this.end = b.length;
    this.budget = b.length;
    this.depth = 0;
    this.partSlices = undefined;
    try {
      const v = this.readTop();
      return this.pos === this.end ? v : NOT_PLAIN;
    } catch {
      // NOT_PLAIN, or anything unforeseen: msgpackr decides.
      return NOT_PLAIN;
    } finally {
      this.src = new Uint8Array(0);
    }
  }

  /** The part's map, noting its changes' slices. */
  private readTop(): unknown {
    const n = this.mapHeader();
    if (n < 0) return this.read();
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.readKey();
      if (k === 'changes') {
        const len = this.arrayHeader();
        o[k] = len < 0 ? this.read() : this.readChanges(len);
        if (len < 0) this.partSlices = undefined;
      } else o[k] = this.read();
    }
    this.depth--;
    return o;
  }

  private readChanges(n: number): unknown[] {
    const out = new Array<unknown>(n);
    const sl = new Int32Array(4 * n);
    let ok = true;
    for (let j = 0; j < n; j++) {
      const m = this.mapHeader();
      if (m < 0) {
        out[j] = this.read();
        ok = false;
        continue;
      }
      const o: Record<string, unknown> = {};
      let keyStart = -1;
      sl[4 * j + 2] = -1;
      for (let i = 0; i < m; i++) {
        const k = this.readKey();
        const start = this.pos;
        o[k] = this.read();
        if (k === 'key') {
          keyStart = start;
          sl[4 * j] = start;
          sl[4 * j + 1] = this.pos;
        } else if (k === 'row') {
          sl[4 * j + 2] = start;
          sl[4 * j + 3] = this.pos;
        }
      }
      this.depth--;
      if (keyStart < 0) ok = false;
      out[j] = o;
    }
    this.depth--;
    this.partSlices = ok ? sl : undefined;
    return out;
  }

  /** Entry count of a map token at pos (consumed, depth entered), or -1 (nothing consumed) when it is not a map. */
  private mapHeader(): number {
    return this.header(0x80, 0xde);
  }

  /** Element count of an array token at pos (consumed, depth entered, budget spent), or -1 (nothing consumed). */
  private arrayHeader(): number {
    return this.header(0x90, 0xdc);
  }

  /**
   * The count of a map (`fix` 0x80, `t16` 0xde) or array (0x90, 0xdc) token at pos; -1 when the
   * token is not one. @throws NOT_PLAIN where msgpackr throws (a count the bytes left cannot hold).
   */
  private header(fix: number, t16: number): number {
    if (this.pos >= this.end) throw NOT_PLAIN;
    const t = this.src[this.pos] as number;
    let n: number;
    if (t >= fix && t < fix + 0x10) {
      n = t & 0x0f;
      this.pos++;
    } else if (t === t16) {
      this.pos++;
      n = this.u16();
    } else if (t === t16 + 1) {
      this.pos++;
      n = this.u32();
    } else return -1;
    const left = this.end - this.pos;
    if ((fix === 0x80 ? n > left / 2 : n > left || (this.budget -= n) < 0) || ++this.depth > MAX_DEPTH) throw NOT_PLAIN;
    return n;
  }

  private read(): unknown {
    if (this.pos >= this.end) throw NOT_PLAIN;
    const t = this.src[this.pos] as number;
    if (t < 0x80) {
      this.pos++;
      return t;
    }
    if (t >= 0xe0) {
      this.pos++;
      return t - 0x100;
    }
    if (t < 0xa0) {
      if (t < 0x90) return this.readMap();
      return this.readArray();
    }
    if (t < 0xc0) {
      this.pos++;
      return this.readStr(t & 0x1f);
    }
    const dv = this.dv;
    this.pos++;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return this.readBin(this.length(t - 0xc4));
      case 0xca:
        return dv.getFloat32(this.take(4));
      case 0xcb:
        return dv.getFloat64(this.take(8));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return dv.getBigUint64(this.take(8));
      case 0xd0:
        return dv.getInt8(this.take(1));
      case 0xd1:
        return dv.getInt16(this.take(2));
      case 0xd2:
        return dv.getInt32(this.take(4));
      case 0xd3:
        return dv.getBigInt64(this.take(8));
      case 0xd9:
      case 0xda:
      case 0xdb:
        return this.readStr(this.length(t - 0xd9));
      case 0xdc:
      case 0xdd:
        this.pos--;
        return this.readArray();
      case 0xde:
      case 0xdf:
        this.pos--;
        return this.readMap();
      default:
        throw NOT_PLAIN; // 0xc1 (msgpackr's bundled strings), extension types
    }
  }

  private readMap(): Record<string, unknown> {
    const n = this.mapHeader();
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.readKey();
      o[k] = this.read();
    }
    this.depth--;
    return o;
  }

  private readArray(): unknown[] {
    const n = this.arrayHeader();
    const a = new Array<unknown>(n);
    for (let i = 0; i < n; i++) a[i] = this.read();
    this.depth--;
    return a;
  }

  /** A map key: a string (msgpackr renames `__proto__`). */
  private readKey(): string {
    if (this.pos >= this.end) throw NOT_PLAIN;
    const t = this.src[this.pos++] as number;
    let k: string;
    if (t >= 0xa0 && t < 0xc0) k = this.readStr(t & 0x1f);
    else if (t >= 0xd9 && t <= 0xdb) k = this.readStr(this.length(t - 0xd9));
    else throw NOT_PLAIN;
    return k === '__proto__' ? '__proto_' : k;
  }

  /** `n` bytes of UTF-8 at pos as a string (interned when short ASCII). @throws NOT_PLAIN on invalid UTF-8. */
  private readStr(n: number): string {
    this.need(n);
    const b = this.src;
    const p = this.pos;
    const e = p + n;
    if (n <= INTERN_MAX) {
      let h = n;
      let ascii = true;
      for (let i = p; i < e; i++) {
        const c = b[i] as number;
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        h = (Math.imul(h, 31) + c) | 0;
      }
      if (ascii) {
        const slot = h & (INTERN_SLOTS - 1);
        const s = this.interned[slot];
        if (s !== undefined && s.length === n) {
          let same = true;
          for (let i = 0; i < n; i++) {
            if (s.charCodeAt(i) !== b[p + i]) {
              same = false;
              break;
            }
          }
          if (same) {
            this.pos = e;
            return s;
          }
        }
        const fresh = latin1Slice.call(b, p, e);
        this.interned[slot] = fresh;
        this.pos = e;
        return fresh;
      }
    } else {
      let ascii = true;
      for (let i = p; i < e; i++) {
        if ((b[i] as number) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.pos = e;
        return latin1Slice.call(b, p, e);
      }
    }
    if (!validUtf8(b, p, e)) throw NOT_PLAIN;
    this.pos = e;
    return utf8Slice.call(b, p, e);
  }

  private readBin(n: number): Uint8Array {
    this.need(n);
    // As msgpackr (no copyBuffers): a view of the source, of the source's class.
    return this.src.subarray(this.pos, (this.pos += n));
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw NOT_PLAIN;
  }

  /** The offset of the next `n` bytes, which are then consumed. */
  private take(n: number): number {
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A length field of 1, 2 or 4 bytes (`size` 0, 1, 2). */
  private length(size: number): number {
    return size === 0 ? this.u8() : size === 1 ? this.u16() : this.u32();
  }

  private u8(): number {
    return this.src[this.take(1)] as number;
  }

  private u16(): number {
    return this.dv.getUint16(this.take(2));
  }

  private u32(): number {
    return this.dv.getUint32(this.take(4));
  }
}

/** True when bytes `p`..`e` of `b` are well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
export function validUtf8(b: Uint8Array, p: number, e: number): boolean {
  while (p < e) {
    const c = b[p] as number;
    if (c < 0x80) {
      p++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = c & 0x07;
    } else return false;
    if (p + need >= e) return false;
    for (let i = 1; i <= need; i++) {
      const d = b[p + i] as number;
      if ((d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += need + 1;
  }
  return true;
}

/** Bytes of one block of {@link ValueWriter} (a value larger than this gets a block of its own). */
const BLOCK_BYTES = 1 << 20;

/**
 * Writes MessagePack values into large off-heap blocks and hands out views of them. A block is
 * never written twice: lmdb-js keeps a pointer to a value until its transaction commits, and a
 * view keeps its block alive that long. Scalars and strings are written as shared's `encode`
 * writes them (see the module comment).
 */
export class ValueWriter {
  private buf: Buffer = Buffer.allocUnsafeSlow(0);
  private pos = 0;
  private start = 0;

  /** Start a value of at most `max` bytes. */
  begin(max: number): void {
    if (this.pos + max > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, max));
      this.pos = 0;
    }
    this.start = this.pos;
  }

  /** The value written since {@link begin}. */
  end(): Buffer {
    return this.buf.subarray(this.start, this.pos);
  }

  /** An array header of `n` elements. At most 5 bytes. */
  array(n: number): void {
    if (n < 0x10) this.buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) this.u16(0xdc, n);
    else this.u32(0xdd, n);
  }

  /** A map header of `n` entries as msgpackr writes a plain object's (always 16-bit). 3 bytes. */
  map16(n: number): void {
    this.u16(0xde, n);
  }

  /** Token `t` and the byte `n`. */
  private u8(t: number, n: number): void {
    this.buf[this.pos++] = t;
    this.buf[this.pos++] = n;
  }

  /** Token `t` and a 16-bit big-endian `n`. */
  private u16(t: number, n: number): void {
    const b = this.buf;
    b[this.pos++] = t;
    b[this.pos++] = n >> 8;
    b[this.pos++] = n & 0xff;
  }

  /** Token `t` and a 32-bit big-endian `n`. */
  private u32(t: number, n: number): void {
    this.buf[this.pos++] = t;
    this.pos = this.buf.writeUInt32BE(n, this.pos);
  }

  /** nil. 1 byte. */
  nil(): void {
    this.buf[this.pos++] = 0xc0;
  }

  /** A number as msgpackr writes it (32-bit integers in their smallest form, else a float64). At most 9 bytes. */
  number(v: number): void {
    if (v >>> 0 === v) {
      if (v < 0x80) this.buf[this.pos++] = v;
      else if (v < 0x100) this.u8(0xcc, v);
      else if (v < 0x10000) this.u16(0xcd, v);
      else this.u32(0xce, v);
    } else if (v >> 0 === v) {
      if (v >= -0x20) this.buf[this.pos++] = 0x100 + v;
      else if (v >= -0x80) this.u8(0xd0, v & 0xff);
      else if (v >= -0x8000) this.u16(0xd1, v & 0xffff);
      else this.u32(0xd2, v >>> 0);
    } else {
      this.buf[this.pos++] = 0xcb;
      this.pos = this.buf.writeDoubleBE(v, this.pos);
    }
  }

  /** A string as msgpackr writes it. At most {@link strMax}(s) bytes. */
  str(s: string): void {
    const n = s.length;
    const b = this.buf;
    const head = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    let p = this.pos + head;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Not ASCII: msgpackr's own bytes (its UTF-8 writers differ on lone surrogates).
        this.raw(encode(s), 0, -1);
        return;
      }
      b[p++] = c;
    }
    // The header goes before the characters, at the place kept for it.
    if (head === 1) b[this.pos] = 0xa0 | n;
    else if (head === 2) this.u8(0xd9, n);
    else if (head === 3) this.u16(0xda, n);
    else this.u32(0xdb, n);
    this.pos = p;
  }

  /** Bytes `from`..`to` of `src` (`to` -1: to its end), as they are. */
  raw(src: Uint8Array, from: number, to: number): void {
    const end = to < 0 ? src.length : to;
    if (end - from < 16) {
      const b = this.buf;
      for (let i = from; i < end; i++) b[this.pos++] = src[i] as number;
    } else {
      this.buf.set(src.subarray(from, end), this.pos);
      this.pos += end - from;
    }
  }
}

/** Most bytes {@link ValueWriter.str} writes for `s`. */
export function strMax(s: string): number {
  return 5 + 3 * s.length;
}
