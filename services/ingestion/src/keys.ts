/**
 * How ingestion turns stored values (shared/src/types.ts) into LMDB key components.
 *
 * Two encodings:
 * - **Storage keys** (`history`, `latest`): the row's key values as lmdb-js's ordered-binary
 *   writes them, except byte strings (bytea) and arrays, which ordered-binary would copy raw
 *   (ambiguous inside an array key): they become strings (`x` + hex, `a` + hex of MessagePack).
 *   Lookups are exact; the order is PostgreSQL's only for the types of {@link lmdbOrdersLikePg}.
 *   Decoding such keys loses precision (a bigint beyond 2^53 comes back as a number), so readers
 *   take exact key values from the row itself, never from a decoded key.
 * - **Index values** ({@link sortable}): one ASCII-or-UTF-8 string per value whose byte order is
 *   PostgreSQL's btree order for the value's type and whose equality is PostgreSQL's `=`:
 *   numeric by value whatever its scale ('1.50' = '1.5'; -Infinity < numbers < Infinity < NaN),
 *   interval by its span (PostgreSQL's `interval_cmp_value`: 1 month = 30 days, 1 day = 24 h),
 *   floats with -0 = 0 and NaN above everything, char without trailing spaces, bytea by bytes,
 *   NULL after every value (btree's default NULLS LAST). Text is ordered by code point
 *   (PostgreSQL's "C" collation); jsonb by its canonical text; array elements in turn, NULL
 *   elements last (an element containing U+0001 may sort out of place).
 */
import type { SqlType, Value } from '@stratum/shared';
import { decode, elementType, encode, isArrayType, storageKeyPart } from '@stratum/shared';
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
    for (const e of v) s += `${sortable(e, et)}\u0001`;
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
      return String(v).replace(/ +$/, '');
    case 'bytea':
      return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : String(v);
    default:
      return String(v);
  }
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
 * Order-preserving text of a numeric's text ('-1.50', 'NaN', 'Infinity'): its value as
 * 0.DIGITS × 10^E with DIGITS stripped of leading and trailing zeros (so scale does not matter),
 * E fixed-width; negative values invert exponent and digits and end with '~'.
 */
export function sortableNumeric(text: string): string {
  const t = text.trim();
  const low = t.toLowerCase();
  if (low === 'nan') return 'p';
  if (low === 'infinity' || low === '+infinity' || low === 'inf') return 'o';
  if (low === '-infinity' || low === '-inf') return 'k';
  let neg = false;
  let s = t;
  if (s.startsWith('-')) {
    neg = true;
    s = s.slice(1);
  } else if (s.startsWith('+')) s = s.slice(1);
  let exp10 = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exp10 = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  const intPart = dot < 0 ? s : s.slice(0, dot);
  const fracPart = dot < 0 ? '' : s.slice(dot + 1);
  let digits = intPart + fracPart;
  let exp = intPart.length + exp10;
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead);
  exp -= lead;
  digits = digits.replace(/0+$/, '');
  if (digits.length === 0) return 'm';
  if (!neg) return `n${String(exp + EXP_BIAS).padStart(6, '0')}${digits}`;
  let inv = '';
  for (let i = 0; i < digits.length; i++) inv += String(9 - (digits.charCodeAt(i) - 48));
  return `l${String(EXP_BIAS - exp).padStart(6, '0')}${inv}~`;
}

const US_PER_DAY = 86_400_000_000n;

/**
 * Span of an ISO 8601 interval as PostgreSQL compares intervals (`interval_cmp_value`):
 * µs + days × 24 h + months × 30 days. Accepts PostgreSQL's `iso_8601` output ('P1Y2M3DT4H5M6.5S',
 * negative fields 'P-1D', 'PT-1H-30M'), weeks too.
 */
export function intervalSpan(iso: string): bigint {
  const m = /^(-)?P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/.exec(
    iso.trim(),
  );
  if (!m) return 0n;
  const n = (i: number) => BigInt(m[i] ?? 0);
  const months = n(2) * 12n + n(3);
  const days = n(4) * 7n + n(5);
  const secText = m[8] ?? '0';
  const secNeg = secText.startsWith('-');
  const [whole, frac = ''] = secText.replace('-', '').split('.');
  let us = BigInt(whole ?? 0) * 1_000_000n + BigInt((frac + '000000').slice(0, 6));
  if (secNeg) us = -us;
  us += n(6) * 3_600_000_000n + n(7) * 60_000_000n;
  const span = us + days * US_PER_DAY + months * 30n * US_PER_DAY;
  return m[1] ? -span : span;
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
