/**
 * Binary value formats (format code 1) for the types the wire layer converts itself, both
 * directions: parameters (and binary COPY fields) arriving in binary are decoded to PostgreSQL
 * *text* format; result columns (and binary COPY TO fields) are encoded from the text value the
 * SQL layer produced. Scalars, and arrays of them (decoding: any number of dimensions and lower
 * bounds; encoding: Stratum's one-dimensional arrays).
 *
 * This module owns the byte layouts only; text is read and written by the type I/O of
 * `@stratum/shared` (pgtypes: one parser per format). Decoded text uses DateStyle ISO and
 * IntervalStyle postgres, which the SQL layer reads under any setting; encoding reads the SQL
 * layer's text under the session's DateStyle, TimeZone and IntervalStyle ({@link TextSettings}).
 *
 * Protocol reference: PostgreSQL 15 docs §55.2.3 "Formats and Format Codes"; layouts follow
 * the server's typsend/typreceive functions (int2send, numeric_send, interval_send, jsonb_send,
 * array_send, ...).
 */
import { isUtf8 } from 'node:buffer';
import {
  DATE_INFINITY,
  DATE_NEG_INFINITY,
  formatBytea,
  formatDateStyle,
  formatFloat,
  formatInterval,
  formatPgArray,
  formatTime,
  formatTimestampStyle,
  type IntervalStyle,
  parseBytea,
  parseDate,
  parseInterval,
  parseNumeric,
  parsePgArray,
  parseTime,
  parseTimestamp,
  TS_INFINITY,
  TS_NEG_INFINITY,
} from '@stratum/shared';
import { PgError } from './errors.ts';

/** Session settings that shape the SQL layer's text of dates, times and intervals (what ParameterStatus announced). */
export interface TextSettings {
  /** DateStyle, default 'ISO, MDY'. */
  dateStyle?: string;
  /** TimeZone, default 'UTC'. */
  timeZone?: string;
  /** IntervalStyle, default 'postgres'. */
  intervalStyle?: IntervalStyle;
}

/** Scalar type OIDs handled here. */
export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** Array type OID → element type OID (pg_type.typelem) for the arrays handled here. */
export const ARRAY_ELEMENT_OID: Readonly<Record<number, number>> = {
  1000: OID.bool,
  1001: OID.bytea,
  1002: OID.char,
  1003: OID.name,
  1005: OID.int2,
  1007: OID.int4,
  1009: OID.text,
  1014: OID.bpchar,
  1015: OID.varchar,
  1016: OID.int8,
  1021: OID.float4,
  1022: OID.float8,
  1028: OID.oid,
  1115: OID.timestamp,
  1182: OID.date,
  1183: OID.time,
  1185: OID.timestamptz,
  1187: OID.interval,
  1231: OID.numeric,
  199: OID.json,
  2951: OID.uuid,
  3807: OID.jsonb,
};

/** PostgreSQL's `format_type` names of the scalar types, for error messages. */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  16: 'boolean',
  17: 'bytea',
  18: '"char"',
  19: 'name',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'text',
  26: 'oid',
  114: 'json',
  700: 'real',
  701: 'double precision',
  705: 'unknown',
  1042: 'character',
  1043: 'character varying',
  1082: 'date',
  1083: 'time without time zone',
  1114: 'timestamp without time zone',
  1184: 'timestamp with time zone',
  1186: 'interval',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
};

/** OIDs whose binary form is plain UTF-8 text (0 = unspecified parameter type). */
const TEXT_OIDS = new Set<number>([0, OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown, OID.json]);
const SCALAR_OIDS = new Set<number>([...TEXT_OIDS, ...Object.values(OID)]);

const FIXED_SIZES: Record<number, number> = {
  16: 1,
  18: 1,
  19: 64,
  20: 8,
  21: 2,
  23: 4,
  26: 4,
  700: 4,
  701: 8,
  1082: 4,
  1083: 8,
  1114: 8,
  1184: 8,
  1186: 16,
  2950: 16,
};

/** pg_type.typlen for RowDescription: fixed byte size, or -1 (varlena) for unknown/variable types. */
export function typeSizeOf(oid: number): number {
  return FIXED_SIZES[oid] ?? -1;
}

/** Whether values of type `oid` can be sent or received in binary format by this layer. */
export function supportsBinary(oid: number): boolean {
  return SCALAR_OIDS.has(oid) || ARRAY_ELEMENT_OID[oid] !== undefined;
}

const US_PER_DAY = 86_400_000_000n;
/** Days from 1970-01-01 to the PostgreSQL epoch 2000-01-01 (binary dates count from the latter). */
const PG_EPOCH_DAYS = 10_957;
/** µs from 1970-01-01 to 2000-01-01 (binary timestamps count from the latter). */
const PG_EPOCH_US = BigInt(PG_EPOCH_DAYS) * US_PER_DAY;

/** Fewer bytes than the type's layout needs (PostgreSQL's `pq_getmsg*`). */
function short(): PgError {
  return new PgError('08P01', 'insufficient data left in message');
}

/** Bytes left over after the type's layout, or an impossible field (PostgreSQL's receive-function checks). */
function bad(message = 'incorrect binary data format'): PgError {
  return new PgError('22P03', message);
}

function syntax(type: string, text: string): PgError {
  return new PgError('22P02', `invalid input syntax for type ${type}: "${text}"`);
}

function unsupported(oid: number): PgError {
  return new PgError('0A000', `binary format is not supported for type OID ${oid}`);
}

/**
 * 22021 for bytes that are not valid UTF-8 (or hold NUL), naming the first bad sequence as PostgreSQL's
 * `report_invalid_encoding` does (`invalid byte sequence for encoding "UTF8": 0xe2 0x82`).
 */
export function invalidUtf8Error(buf: Buffer): PgError {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (b === 0 || n === 0 || i + n > buf.length || !isUtf8(buf.subarray(i, i + n))) {
      // pg_utf_mblen: the length the lead byte announces.
      const len = (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1;
      const shown = [...buf.subarray(i, Math.min(buf.length, i + len))].map((x) => `0x${x.toString(16).padStart(2, '0')}`);
      return new PgError('22021', `invalid byte sequence for encoding "UTF8": ${shown.join(' ')}`);
    }
    i += n;
  }
  return new PgError('22021', 'invalid byte sequence for encoding "UTF8"');
}

/** True when `b` is valid UTF-8 without NUL bytes (what a PostgreSQL UTF8 database accepts as text). */
export function isValidText(b: Buffer): boolean {
  return b.indexOf(0) < 0 && isUtf8(b);
}

function utf8(data: Buffer): string {
  if (!isValidText(data)) throw invalidUtf8Error(data);
  return data.toString('utf8');
}

/**
 * Decode one binary-format value of type `oid` (a Bind parameter, a binary COPY field) to its text form.
 * @throws PgError 0A000 unsupported type; 08P01 too few bytes; 22P03 extra bytes or an impossible layout;
 *   22021 bad UTF-8 in text; 22008 time out of range; 42804 wrong array element type.
 */
export function decodeBinaryParam(oid: number, data: Buffer): string {
  const len = (n: number) => {
    if (data.length < n) throw short();
    if (data.length > n) throw bad();
  };
  switch (oid) {
    case OID.bool:
      len(1);
      return data[0] ? 't' : 'f';
    case OID.char:
      len(1);
      return data[0] === 0 ? '' : utf8(data);
    case OID.int2:
      len(2);
      return String(data.readInt16BE(0));
    case OID.int4:
      len(4);
      return String(data.readInt32BE(0));
    case OID.oid:
      len(4);
      return String(data.readUInt32BE(0));
    case OID.int8:
      len(8);
      return data.readBigInt64BE(0).toString();
    case OID.float4:
      len(4);
      return formatFloat(data.readFloatBE(0), true);
    case OID.float8:
      len(8);
      return formatFloat(data.readDoubleBE(0));
    case OID.uuid: {
      len(16);
      const h = data.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case OID.bytea:
      return formatBytea(data);
    case OID.date: {
      len(4);
      const d = data.readInt32BE(0);
      return formatDateStyle(d === DATE_INFINITY || d === DATE_NEG_INFINITY ? d : d + PG_EPOCH_DAYS, 'ISO');
    }
    case OID.time: {
      len(8);
      const us = data.readBigInt64BE(0);
      if (us < 0n || us > US_PER_DAY) throw new PgError('22008', 'time out of range');
      return formatTime(Number(us));
    }
    case OID.timestamp:
    case OID.timestamptz: {
      len(8);
      const us = data.readBigInt64BE(0);
      const stored = us === TS_INFINITY || us === TS_NEG_INFINITY ? us : us + PG_EPOCH_US;
      return formatTimestampStyle(stored, oid === OID.timestamptz ? 'UTC' : undefined, 'ISO');
    }
    case OID.interval:
      len(16);
      return formatInterval({ micros: data.readBigInt64BE(0), days: data.readInt32BE(8), months: data.readInt32BE(12) }, 'postgres');
    case OID.numeric:
      return numericText(data);
    case OID.jsonb: {
      if (data.length < 1) throw short();
      if (data[0] !== 1) throw bad(`unsupported jsonb version number ${data[0]}`);
      return utf8(data.subarray(1));
    }
    default: {
      if (TEXT_OIDS.has(oid)) return utf8(data);
      const elem = ARRAY_ELEMENT_OID[oid];
      if (elem !== undefined) return arrayText(data, elem);
      throw unsupported(oid);
    }
  }
}

/**
 * Encode a text-format value of type `oid` into its binary form; dates, times and intervals are read
 * under `settings` (the session's DateStyle, TimeZone, IntervalStyle).
 * @throws PgError/DataError 0A000 unsupported type or a multidimensional array; 22P02/22007 text that
 *   does not parse; 22003/22008 out of range.
 */
export function encodeBinaryValue(oid: number, text: string, settings: TextSettings = {}): Buffer {
  switch (oid) {
    case OID.bool: {
      const v = text.trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(v)) return Buffer.from([1]);
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(v)) return Buffer.from([0]);
      throw syntax('boolean', text);
    }
    case OID.char: {
      const b = Buffer.from(text, 'utf8');
      return b.length === 0 ? Buffer.from([0]) : b.subarray(0, 1);
    }
    case OID.int2:
    case OID.int4:
    case OID.int8: {
      if (!/^\s*[+-]?\d+\s*$/.test(text)) throw syntax(oid === OID.int8 ? 'bigint' : oid === OID.int4 ? 'integer' : 'smallint', text);
      const v = BigInt(text.trim());
      const bits = oid === OID.int2 ? 16 : oid === OID.int4 ? 32 : 64;
      if (v !== BigInt.asIntN(bits, v)) throw new PgError('22003', `value "${text}" is out of range for a ${bits}-bit integer`);
      const b = Buffer.allocUnsafe(bits / 8);
      if (bits === 16) b.writeInt16BE(Number(v));
      else if (bits === 32) b.writeInt32BE(Number(v));
      else b.writeBigInt64BE(v);
      return b;
    }
    case OID.oid: {
      if (!/^\s*\d+\s*$/.test(text) || Number(text) > 0xffffffff) throw syntax('oid', text);
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(Number(text));
      return b;
    }
    case OID.float4:
    case OID.float8: {
      const v = parseFloatText(text);
      const b = Buffer.allocUnsafe(oid === OID.float4 ? 4 : 8);
      if (oid === OID.float4) b.writeFloatBE(v);
      else b.writeDoubleBE(v);
      return b;
    }
    case OID.uuid: {
      const hex = text
        .trim()
        .replace(/^\{|\}$/g, '')
        .replaceAll('-', '');
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw syntax('uuid', text);
      return Buffer.from(hex, 'hex');
    }
    case OID.bytea: {
      const v = parseBytea(text);
      return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    case OID.date: {
      const d = parseDate(text, settings);
      const b = Buffer.allocUnsafe(4);
      b.writeInt32BE(d === DATE_INFINITY || d === DATE_NEG_INFINITY ? d : d - PG_EPOCH_DAYS);
      return b;
    }
    case OID.time: {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(BigInt(parseTime(text, settings)));
      return b;
    }
    case OID.timestamp:
    case OID.timestamptz: {
      const us = parseTimestamp(text, oid === OID.timestamp ? 'timestamp' : 'timestamptz', settings);
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(us === TS_INFINITY || us === TS_NEG_INFINITY ? us : us - PG_EPOCH_US);
      return b;
    }
    case OID.interval: {
      const { micros, days, months } = parseInterval(text, '', settings.intervalStyle ?? 'postgres');
      const b = Buffer.allocUnsafe(16);
      b.writeBigInt64BE(micros, 0);
      b.writeInt32BE(days, 8);
      b.writeInt32BE(months, 12);
      return b;
    }
    case OID.numeric:
      return encodeNumeric(text);
    case OID.jsonb:
      return Buffer.concat([Buffer.from([1]), Buffer.from(text, 'utf8')]);
    default: {
      if (TEXT_OIDS.has(oid)) return Buffer.from(text, 'utf8');
      const elem = ARRAY_ELEMENT_OID[oid];
      if (elem !== undefined) return encodeArray(text, elem, settings);
      throw unsupported(oid);
    }
  }
}

// ---------------------------------------------------------------- floats

function parseFloatText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === 'infinity' || t === '+infinity' || t === 'inf') return Number.POSITIVE_INFINITY;
  if (t === '-infinity' || t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw syntax('double precision', text);
  return Number(t);
}

// ---------------------------------------------------------------- numeric

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** numeric_send layout: int16 ndigits, int16 weight, uint16 sign, int16 dscale, ndigits × int16 base-10000 digits (numeric_recv's checks). */
function numericText(data: Buffer): string {
  if (data.length < 8) throw short();
  const ndigits = data.readInt16BE(0);
  const weight = data.readInt16BE(2);
  const sign = data.readUInt16BE(4);
  const dscale = data.readInt16BE(6);
  if (ndigits < 0) throw bad('invalid length in external "numeric" value');
  if (data.length < 8 + 2 * ndigits) throw short();
  if (data.length > 8 + 2 * ndigits) throw bad();
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) throw bad('invalid sign in external "numeric" value');
  if (dscale < 0 || dscale > 0x3fff) throw bad('invalid scale in external "numeric" value');
  const digit = (i: number) => {
    if (i < 0 || i >= ndigits) return 0;
    const v = data.readInt16BE(8 + 2 * i);
    if (v < 0 || v > 9999) throw bad('invalid digit in external "numeric" value');
    return v;
  };
  for (let i = 0; i < ndigits; i++) digit(i);
  let int = '';
  for (let i = 0; i <= weight; i++) int += i === 0 ? String(digit(i)) : pad(digit(i), 4);
  int = int.replace(/^0+(?=\d)/, '') || '0';
  let frac = '';
  for (let j = 1; frac.length < dscale; j++) frac += pad(digit(weight + j), 4);
  frac = frac.slice(0, dscale);
  const negative = sign === NUMERIC_NEG && /[1-9]/.test(int + frac);
  return `${negative ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** numeric_send of numeric text (read by shared's `parseNumeric`, so `1.5e3`, ` 12.50 `, `-0` as numeric_in reads them). */
function encodeNumeric(text: string): Buffer {
  const v = parseNumeric(text);
  if (typeof v === 'string') {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(v === 'NaN' ? NUMERIC_NAN : v === 'Infinity' ? NUMERIC_PINF : NUMERIC_NINF, 4);
    // numeric_send reads dscale out of the special value's header bits: 0 for NaN, 32 for ±Infinity.
    if (v !== 'NaN') b.writeInt16BE(32, 6);
    return b;
  }
  const all = v.digits.toString().padStart(v.scale + 1, '0');
  let int = all.slice(0, all.length - v.scale);
  let frac = all.slice(all.length - v.scale);
  int = int.padStart(Math.ceil(int.length / 4) * 4, '0');
  frac = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < int.length; i += 4) groups.push(Number(int.slice(i, i + 4)));
  for (let i = 0; i < frac.length; i += 4) groups.push(Number(frac.slice(i, i + 4)));
  let weight = int.length / 4 - 1;
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  const b = Buffer.allocUnsafe(8 + 2 * groups.length);
  b.writeInt16BE(groups.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(v.neg && groups.length > 0 ? NUMERIC_NEG : NUMERIC_POS, 4);
  b.writeInt16BE(v.scale, 6);
  for (let i = 0; i < groups.length; i++) b.writeInt16BE(groups[i] as number, 8 + 2 * i);
  return b;
}

// ---------------------------------------------------------------- arrays

/** Most dimensions PostgreSQL allows (MAXDIM). */
const MAX_DIMS = 6;

/**
 * array_recv layout → array_out text: int32 ndim, int32 has-null flag, uint32 element OID, per dimension
 * int32 length and int32 lower bound, then each element as int32 length (-1 NULL) and its binary form.
 * Any shape is decoded (`{{1,2},{3,4}}`, `[0:1]={a,b}`); the SQL layer decides what it accepts.
 */
function arrayText(data: Buffer, elemOid: number): string {
  if (data.length < 12) throw short();
  const ndim = data.readInt32BE(0);
  const flags = data.readInt32BE(4);
  const elem = data.readUInt32BE(8);
  if (ndim < 0) throw bad(`invalid number of dimensions: ${ndim}`);
  if (ndim > MAX_DIMS) throw new PgError('54000', `number of array dimensions (${ndim}) exceeds the maximum allowed (${MAX_DIMS})`);
  if (flags !== 0 && flags !== 1) throw bad('invalid array flags');
  if (elem !== elemOid) {
    const name = (oid: number) => TYPE_NAMES[oid] ?? '???';
    throw new PgError(
      '42804',
      `binary data has array element type ${elem} (${name(elem)}) instead of expected ${elemOid} (${name(elemOid)})`,
    );
  }
  if (data.length < 12 + 8 * ndim) throw short();
  const dims: number[] = [];
  const lbounds: number[] = [];
  let count = ndim > 0 ? 1 : 0;
  for (let i = 0; i < ndim; i++) {
    const n = data.readInt32BE(12 + 8 * i);
    const lb = data.readInt32BE(16 + 8 * i);
    if (n < 0) throw bad('array size exceeds the maximum allowed');
    dims.push(n);
    lbounds.push(lb);
    count *= n;
  }
  if (count === 0) {
    if (data.length > 12 + 8 * ndim) throw bad();
    return '{}';
  }
  let p = 12 + 8 * ndim;
  const values: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 4 > data.length) throw short();
    const len = data.readInt32BE(p);
    p += 4;
    if (len === -1) {
      values.push(null);
      continue;
    }
    if (len < 0) throw bad(`invalid array element length ${len}`);
    if (p + len > data.length) throw short();
    values.push(decodeBinaryParam(elemOid, data.subarray(p, p + len)));
    p += len;
  }
  if (p !== data.length) throw bad();
  // array_out: innermost dimension as a plain array text, outer ones as braces around them.
  let k = 0;
  const nest = (d: number): string => {
    if (d === ndim - 1) {
      const row = values.slice(k, k + (dims[d] as number));
      k += dims[d] as number;
      return formatPgArray(row);
    }
    const items: string[] = [];
    for (let i = 0; i < (dims[d] as number); i++) items.push(nest(d + 1));
    return `{${items.join(',')}}`;
  };
  const decoration = lbounds.some((lb) => lb !== 1)
    ? `${dims.map((n, i) => `[${lbounds[i]}:${(lbounds[i] as number) + n - 1}]`).join('')}=`
    : '';
  return decoration + nest(0);
}

/**
 * array_send of array text (read by shared's `parsePgArray`: one dimension, lower bound 1, as Stratum's
 * arrays are), each element encoded with the element type's binary format.
 */
function encodeArray(text: string, elemOid: number, settings: TextSettings): Buffer {
  const values = parsePgArray(text);
  const ndim = values.length === 0 ? 0 : 1;
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12 + 8 * ndim);
  head.writeInt32BE(ndim, 0);
  head.writeInt32BE(values.includes(null) ? 1 : 0, 4);
  head.writeUInt32BE(elemOid, 8);
  if (ndim === 1) {
    head.writeInt32BE(values.length, 12);
    head.writeInt32BE(1, 16);
  }
  parts.push(head);
  for (const v of values) {
    const len = Buffer.allocUnsafe(4);
    if (v === null) {
      len.writeInt32BE(-1);
      parts.push(len);
      continue;
    }
    const b = encodeBinaryValue(elemOid, v, settings);
    len.writeInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}
