/**
 * How ingestion turns stored values (shared/src/types.ts) into LMDB key components.
 *
 * Two encodings:
 * - **Storage keys** (`history`, `latest`): the row's key values as lmdb-js's ordered-binary
 *   writes them, except byte strings (bytea) and arrays, which ordered-binary would copy raw
 *   (ambiguous inside an array key): they become strings (`x` + hex, `a` + hex of MessagePack).
 *   Lookups are exact; the order is PostgreSQL's only for the types of {@link lmdbOrdersLikePg}.
 *   Decoding such keys loses precision (a bigint beyond 2^53 comes back as a number), so readers
 *   take exact key values from the row itself, never from a decoded key. The merge writes them
 *   into a {@link KeyArena} (the same bytes, with no Buffer per key).
 * - **Index values** ({@link sortable}): one ASCII-or-UTF-8 string per value whose byte order is
 *   PostgreSQL's btree order for the value's type and whose equality is PostgreSQL's `=`:
 *   numeric by value whatever its scale ('1.50' = '1.5'; -Infinity < numbers < Infinity < NaN),
 *   interval by its span (PostgreSQL's `interval_cmp_value`: 1 month = 30 days, 1 day = 24 h),
 *   floats with -0 = 0 and NaN above everything, char without trailing spaces, bytea by bytes,
 *   NULL after every value (btree's default NULLS LAST). Text is ordered by code point
 *   (PostgreSQL's "C" collation); jsonb by its canonical text (PostgreSQL orders jsonb by
 *   structure first: equality is exact, range order is not PostgreSQL's); array elements in
 *   turn, a shorter array first, NULL elements last.
 */
import type { SqlType, Value } from '@stratum/shared';
import { decode, elementType, encode, intervalParts, isArrayType, parseNumeric, storageKeyPart, trimPadding } from '@stratum/shared';
import type { Key as LmdbKey } from 'lmdb';
import * as lmdb from 'lmdb';

/**
 * Encode a key as lmdb-js does for `keyEncoding: 'ordered-binary'` (lmdb re-exports ordered-binary's
 * `toBufferKey` as `keyValueToBuffer`, untyped). A Buffer inside an array key is written as is, so
 * `[rowKey, commitTs, version]` with `rowKey` = the encoded `[table, ...pk]` is byte-identical to the
 * encoding of `[table, ...pk, commitTs, version]`.
 */
export const toBufferKey = (lmdb as unknown as { keyValueToBuffer: (k: LmdbKey) => Buffer }).keyValueToBuffer;

/** A storage-key value as an LMDB key component (shared's `storageKeyPart`, which `ingestionSet` orders by). */
export function keyPart(v: Value): LmdbKey {
  return storageKeyPart(v) as LmdbKey;
}

/** The LMDB key `[table, ...key]` of a row (storage name, storage-key values). */
export function rowKey(table: string, key: readonly Value[]): LmdbKey[] {
  if (key.length === 1) {
    const v = key[0] as Value;
    return [table, typeof v === 'object' && v !== null ? keyPart(v) : (v as LmdbKey)];
  }
  const out: LmdbKey[] = [table];
  for (const v of key) out.push(keyPart(v));
  return out;
}

/**
 * The smallest key that sorts after every key starting with the encoded `prefix` components
 * (ordered-binary separates array elements with byte 0, and every encoded component byte is ≥ 4).
 */
export function prefixEnd(prefix: Buffer): Buffer {
  return Buffer.concat([prefix, Buffer.from([1])]);
}

/**
 * True when ordered-binary sorts values of `type` as PostgreSQL does, so a range on a storage-key
 * column of that type can seek in `latest`: integers, timestamps, dates, times, booleans, and
 * strings compared by code point. Floats are not (-0 sorts after every positive), nor are
 * numeric (strings), interval, bytea, json or arrays.
 */
export function lmdbOrdersLikePg(type: SqlType): boolean {
  switch (type) {
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
    case 'boolean':
    case 'text':
    case 'varchar':
    case 'uuid':
      return true;
    default:
      return false;
  }
}

/** Encoded NULL: sorts after every non-null value (every non-null encoding starts with '1'). */
export const NULL_SORTABLE = '2';

/** The index-value encoding of `v` as a value of `type` (see the module comment). */
export function sortable(v: Value, type: SqlType): string {
  if (v === null || v === undefined) return NULL_SORTABLE;
  return `1${sortableBody(v, type)}`;
}

function sortableBody(v: Value, type: SqlType): string {
  if (isArrayType(type)) {
    if (!Array.isArray(v)) return sortableBody(v, elementType(type));
    const et = elementType(type);
    let s = '';
    for (const e of v) s += `${sortable(e, et)}\u0005`;
    return s;
  }
  switch (type) {
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return sortableBigint(typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))));
    case 'real':
    case 'double':
      return sortableFloat(Number(v));
    case 'numeric':
      return sortableNumeric(String(v));
    case 'interval':
      return sortableBigint(intervalSpan(String(v)));
    case 'boolean':
      return v === true ? 't' : 'f';
    case 'char':
      return escapeLow(trimPadding(String(v)));
    case 'bytea':
      return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : String(v);
    default:
      return escapeLow(String(v));
  }
}

/** True when `s` has a character U+0000–U+0006 (a loop: biome refuses control characters in a regex). */
function hasLow(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) <= 6) return true;
  return false;
}

/**
 * Text with the characters U+0000–U+0006 written as U+0006 followed by '0'–'6': order and
 * equality stay as they were, U+0005 is free to end array elements, and no character ≤ U+0004
 * remains (ordered-binary escapes those only in strings shorter than 64 characters, so they
 * would sort differently by length and end a long string when its key is decoded).
 */
function escapeLow(s: string): string {
  if (!hasLow(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c <= 6 ? `\u0006${String.fromCharCode(0x30 + c)}` : ch;
  }
  return out;
}

/** Order-preserving text of an integer of any size: sign, digit count, hex digits (inverted when negative). */
export function sortableBigint(n: bigint): string {
  if (n >= 0n) {
    const h = n.toString(16);
    return `p${String.fromCharCode(0x40 + h.length)}${h}`;
  }
  const h = (-n).toString(16);
  let inv = '';
  for (let i = 0; i < h.length; i++) inv += (15 - Number.parseInt(h[i] as string, 16)).toString(16);
  return `n${String.fromCharCode(0x7e - h.length)}${inv}`;
}

const f64 = new DataView(new ArrayBuffer(8));

/** Order-preserving hex of an IEEE double (-0 as 0, every NaN as one value above +Infinity). */
function sortableFloat(n: number): string {
  if (Number.isNaN(n)) return 'z';
  f64.setFloat64(0, n === 0 ? 0 : n);
  let hi = f64.getUint32(0);
  let lo = f64.getUint32(4);
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else hi = (hi | 0x80000000) >>> 0;
  return `y${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`;
}

/** Exponent offset of {@link sortableNumeric} (numeric exponents stay within ±200,000). */
const EXP_BIAS = 200_000;

/**
 * Order-preserving text of a numeric's text ('-1.50', 'NaN', 'Infinity', parsed by types.ts
 * `parseNumeric`): its value as 0.DIGITS × 10^E with DIGITS stripped of trailing zeros (so the
 * display scale does not matter), E fixed-width; negative values invert exponent and digits and
 * end with '~' (a shorter magnitude with the same leading digits is the larger negative).
 */
export function sortableNumeric(text: string): string {
  const v = parseNumeric(text);
  if (v === 'NaN') return 'p';
  if (v === 'Infinity') return 'o';
  if (v === '-Infinity') return 'k';
  if (v.digits === 0n) return 'm';
  const all = v.digits.toString();
  const digits = all.replace(/0+$/, '');
  const exp = all.length - v.scale;
  if (!v.neg) return `n${String(exp + EXP_BIAS).padStart(6, '0')}${digits}`;
  let inv = '';
  for (let i = 0; i < digits.length; i++) inv += String(9 - (digits.charCodeAt(i) - 48));
  return `l${String(EXP_BIAS - exp).padStart(6, '0')}${inv}~`;
}

const US_PER_DAY = 86_400_000_000n;

/** Span of a stored interval as PostgreSQL compares intervals (`interval_cmp_value`): µs + days × 24 h + months × 30 days. */
export function intervalSpan(iso: string): bigint {
  const p = intervalParts(iso);
  return (BigInt(p.months) * 30n + BigInt(p.days)) * US_PER_DAY + p.micros;
}

/** Compare two {@link sortable} strings in LMDB's (UTF-8 byte) order. */
export function compareSortable(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Encode the exact storage-key values kept as an index entry's value. */
export function encodeKeyValues(key: readonly Value[]): Buffer {
  return encode(key);
}

/** Decode {@link encodeKeyValues}. */
export function decodeKeyValues(b: Uint8Array): Value[] {
  return decode<Value[]>(b, 'index entry');
}

/** ordered-binary's `writeKey`: writes `key` at `pos` of `target`, returns the end (`inSequence`: as an array element, no padding). */
export type WriteKey = (key: LmdbKey, target: Uint8Array, pos: number, inSequence?: boolean) => number;

/**
 * ordered-binary's `writeKey` as lmdb-js keeps it on a database of ordered-binary keys (lmdb
 * re-exports only {@link toBufferKey}). @throws Error when `db` writes keys another way (checked
 * against {@link toBufferKey}).
 */
export function orderedWriteKey(db: object): WriteKey {
  const w = (db as { writeKey?: WriteKey }).writeKey;
  const probe: LmdbKey[] = ['t', 12_345_678_901_234n as unknown as LmdbKey, -1.5, 'é'];
  const target = Buffer.alloc(64);
  if (typeof w !== 'function' || !toBufferKey(probe).equals(target.subarray(0, w(probe, target, 0)))) {
    throw new Error('lmdb-js database does not write ordered-binary keys as toBufferKey does');
  }
  return w;
}

/** DataViews of the buffers lmdb-js has {@link KeyArena.encoder} write keys into (a few, reused). */
const views = new WeakMap<Uint8Array, DataView>();

/** A DataView of all of `b`. */
function viewOf(b: Uint8Array): DataView {
  let v = views.get(b);
  if (!v) views.set(b, (v = new DataView(b.buffer, b.byteOffset, b.byteLength)));
  return v;
}

/** Integers a double holds exactly: |v| ≤ 2^53. */
const SAFE = 2n ** 53n;

/** Most bytes of one key (lmdb-js's largest key, 1978, with room for its padding). */
const KEY_ROOM = 2048;

/**
 * Storage keys written into one buffer and named by small integers (refs), for an lmdb-js
 * database handle opened with {@link KeyArena.encoder}: looking a key up or writing it then
 * copies its bytes, with no Buffer or array made per key, and a history key is its row key's
 * bytes followed by the commit time and version (as `toBufferKey([rowKey, commitTs, version])`).
 * Refs are valid until {@link reset}.
 */
export class KeyArena {
  private buf: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  /** A view of {@link buf}, to copy four bytes at a time. */
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private used = 0;
  private starts = new Int32Array(1024);
  private ends = new Int32Array(1024);
  private n = 0;
  /**
   * An lmdb-js `keyEncoder` whose keys are refs: it writes the bytes of the key a ref names, and
   * the zero padding lmdb-js's comparator of ordered-binary databases reads after a key.
   */
  readonly encoder = {
    enableNullTermination(): void {},
    writeKey: (ref: number, target: Uint8Array, pos: number): number => {
      const s = this.starts[ref] as number;
      const n = (this.ends[ref] as number) - s;
      // Four bytes at a time through DataViews (a subarray to copy from would be garbage for every lookup and write).
      const from = this.view;
      const to = viewOf(target);
      let i = 0;
      for (; i + 4 <= n; i += 4) to.setUint32(pos + i, from.getUint32(s + i));
      for (; i < n; i++) target[pos + i] = this.buf[s + i] as number;
      const p = pos + n;
      target[p] = target[p + 1] = target[p + 2] = target[p + 3] = 0;
      return p;
    },
    readKey: (source: Uint8Array, start: number, end: number): Buffer => Buffer.from(source.subarray(start, end)),
  };

  constructor(private readonly writeKey: WriteKey) {}

  /** Forget every key (their refs become invalid). */
  reset(): void {
    this.used = 0;
    this.n = 0;
  }

  /** The ref of the row key `[table, ...key]` (keys.ts {@link rowKey}). */
  rowKey(table: string, key: readonly Value[]): number {
    this.room();
    const v = key.length === 1 ? key[0] : undefined;
    if (typeof v === 'bigint' && v >= -SAFE && v <= SAFE) {
      // ordered-binary writes a bigint that a double holds exactly as that double; without its bigint arithmetic.
      const b = this.buf;
      let p = this.writeKey(table, b, this.used, true);
      b[p++] = 0;
      p = this.writeKey(Number(v), b, p, true);
      b[p] = b[p + 1] = b[p + 2] = b[p + 3] = 0;
      return this.add(p);
    }
    return this.add(this.writeKey(rowKey(table, key), this.buf, this.used));
  }

  /** The ref of the history key `[row, commitTs, version]`, `row` the ref of a row key. */
  historyKey(row: number, commitTs: number, version: string): number {
    this.room();
    const b = this.buf;
    const s = this.starts[row] as number;
    const e = this.ends[row] as number;
    b.copyWithin(this.used, s, e);
    let p = this.used + e - s;
    b[p++] = 0;
    p = this.writeKey(commitTs, b, p, true);
    b[p++] = 0;
    return this.add(this.writeKey(version, b, p, true));
  }

  /** The key a ref names, copied. */
  bytes(ref: number): Buffer {
    return Buffer.from(this.buf.subarray(this.starts[ref] as number, this.ends[ref] as number));
  }

  /** The buffer that holds the keys (another one once more keys are added). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Where the key `ref` starts in {@link buffer}. */
  start(ref: number): number {
    return this.starts[ref] as number;
  }

  /** Where the key `ref` ends in {@link buffer}. */
  end(ref: number): number {
    return this.ends[ref] as number;
  }

  /** Room for one more key of any size. */
  private room(): void {
    if (this.used + KEY_ROOM > this.buf.length) {
      // A multiple of 8 bytes: ordered-binary views the target through a DataView rounded up to 4.
      const more = Buffer.allocUnsafeSlow((2 * (this.used + KEY_ROOM) + 7) & ~7);
      this.buf.copy(more, 0, 0, this.used);
      this.buf = more;
      this.view = new DataView(more.buffer, more.byteOffset, more.byteLength);
    }
    if (this.n === this.starts.length) {
      const starts = new Int32Array(2 * this.n);
      const ends = new Int32Array(2 * this.n);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
  }

  /** Record the key written from `used` to `end`; returns its ref. */
  private add(end: number): number {
    const ref = this.n++;
    this.starts[ref] = this.used;
    this.ends[ref] = end;
    this.used = end;
    return ref;
  }
}
