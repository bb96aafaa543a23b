/**
 * Binary value formats (format code 1) for the types the wire layer converts itself, both
 * directions: parameters (and binary COPY fields) arriving in binary are decoded to PostgreSQL
 * *text* format; result columns (and binary COPY TO fields) are encoded from the text value the
 * SQL layer produced. Scalars, and arrays of them (any number of dimensions and lower bounds).
 *
 * Protocol reference: PostgreSQL 15 docs §55.2.3 "Formats and Format Codes"; layouts follow
 * the server's typsend/typreceive functions (int2send, numeric_send, interval_send, jsonb_send,
 * array_send, ...), and the text forms the output functions with DateStyle ISO, IntervalStyle
 * postgres and TimeZone UTC (the session defaults the wire layer announces).
 */
import { isUtf8 } from 'node:buffer';
import { PgError } from './errors.ts';

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
/** Days from 1970-01-01 to the PostgreSQL epoch 2000-01-01. */
const PG_EPOCH_DAYS = 10_957;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;
const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;

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
 *   22021 bad UTF-8 in text; 22008 time/interval out of range; 42804 wrong array element type.
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
      return float4Text(data.readFloatBE(0));
    case OID.float8:
      len(8);
      return float8Text(data.readDoubleBE(0));
    case OID.uuid: {
      len(16);
      const h = data.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case OID.bytea:
      return `\\x${data.toString('hex')}`;
    case OID.date: {
      len(4);
      const d = data.readInt32BE(0);
      if (d === INT32_MAX) return 'infinity';
      if (d === INT32_MIN) return '-infinity';
      return dateText(d + PG_EPOCH_DAYS);
    }
    case OID.time: {
      len(8);
      const us = data.readBigInt64BE(0);
      if (us < 0n || us > US_PER_DAY) throw new PgError('22008', 'time out of range');
      return timeText(us);
    }
    case OID.timestamp:
    case OID.timestamptz: {
      len(8);
      const us = data.readBigInt64BE(0);
      if (us === INT64_MAX) return 'infinity';
      if (us === INT64_MIN) return '-infinity';
      return timestampText(us, oid === OID.timestamptz);
    }
    case OID.interval:
      len(16);
      return intervalText(data.readBigInt64BE(0), data.readInt32BE(8), data.readInt32BE(12));
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
 * Encode a text-format value of type `oid` into its binary form.
 * @throws PgError 0A000 unsupported type; 22P02 text that does not parse; 22003/22008 out of range.
 */
export function encodeBinaryValue(oid: number, text: string): Buffer {
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
    case OID.bytea:
      return parseByteaText(text);
    case OID.date: {
      const t = text.trim().toLowerCase();
      const b = Buffer.allocUnsafe(4);
      if (t === 'infinity') b.writeInt32BE(INT32_MAX);
      else if (t === '-infinity') b.writeInt32BE(INT32_MIN);
      else b.writeInt32BE(Number(parseTimestamp(text, false, 'date') / US_PER_DAY));
      return b;
    }
    case OID.time: {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64BE(parseTime(text));
      return b;
    }
    case OID.timestamp:
    case OID.timestamptz: {
      const t = text.trim().toLowerCase();
      const b = Buffer.allocUnsafe(8);
      if (t === 'infinity') b.writeBigInt64BE(INT64_MAX);
      else if (t === '-infinity') b.writeBigInt64BE(INT64_MIN);
      else b.writeBigInt64BE(parseTimestamp(text, oid === OID.timestamptz, oid === OID.timestamp ? 'timestamp' : 'timestamptz'));
      return b;
    }
    case OID.interval: {
      const { micros, days, months } = parseInterval(text);
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
      if (elem !== undefined) return encodeArray(text, elem);
      throw unsupported(oid);
    }
  }
}

// ---------------------------------------------------------------- floats

function float8Text(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  return Object.is(v, -0) ? '-0' : String(v);
}

/** Shortest decimal that round-trips through float4 (PostgreSQL's extra_float_digits = 1 output). */
function float4Text(v: number): string {
  if (!Number.isFinite(v) || v === 0) return float8Text(v);
  for (let p = 1; p < 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === v) return String(candidate);
  }
  return String(Number(v.toPrecision(9)));
}

function parseFloatText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === 'infinity' || t === '+infinity' || t === 'inf') return Number.POSITIVE_INFINITY;
  if (t === '-infinity' || t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw syntax('double precision', text);
  return Number(t);
}

// ---------------------------------------------------------------- dates

/** Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's civil_from_days). */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** Days since 1970-01-01 of a proleptic Gregorian date (astronomical year numbering). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = year - (month <= 2 ? 1 : 0);
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** 'YYYY-MM-DD' plus the era; returns [date, isBC]. */
function datePart(unixDays: number): [string, boolean] {
  const [y, m, d] = civilFromDays(unixDays);
  const bc = y <= 0;
  return [`${pad(bc ? 1 - y : y, 4)}-${pad(m)}-${pad(d)}`, bc];
}

function dateText(unixDays: number): string {
  const [s, bc] = datePart(unixDays);
  return bc ? `${s} BC` : s;
}

/** ISO text of µs since 2000-01-01, as PostgreSQL prints with DateStyle ISO and TimeZone UTC. */
function timestampText(pgMicros: bigint, withZone: boolean): string {
  let days = pgMicros / US_PER_DAY;
  let rem = pgMicros % US_PER_DAY;
  if (rem < 0n) {
    rem += US_PER_DAY;
    days -= 1n;
  }
  const [date, bc] = datePart(Number(days) + PG_EPOCH_DAYS);
  const us = Number(rem);
  const secs = Math.floor(us / 1e6);
  const frac = us % 1e6;
  let s = `${date} ${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  if (frac) s += `.${pad(frac, 6).replace(/0+$/, '')}`;
  if (withZone) s += '+00';
  return bc ? `${s} BC` : s;
}

const TS_RE =
  /^\s*(\d{1,7})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{1,2}(?::?\d{2}(?::?\d{2})?)?)?(?:\s+(BC|AD))?\s*$/i;

/** Parse ISO date/timestamp text to µs since 2000-01-01 (UTC when `withZone`; the offset is ignored otherwise). */
function parseTimestamp(text: string, withZone: boolean, type: string): bigint {
  const m = TS_RE.exec(text);
  if (!m) throw syntax(type, text);
  const [, y, mo, d, hh = '0', mi = '0', ss = '0', frac = '', tz, era] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(hh) > 24 || Number(mi) > 59 || Number(ss) > 60) throw syntax(type, text);
  const year = era?.toUpperCase() === 'BC' ? 1 - Number(y) : Number(y);
  const days = BigInt(daysFromCivil(year, month, day) - PG_EPOCH_DAYS);
  let us =
    days * US_PER_DAY + BigInt((Number(hh) * 3600 + Number(mi) * 60 + Number(ss)) * 1e6) + BigInt(frac.padEnd(6, '0').slice(0, 6) || '0');
  if (withZone && tz && tz.toUpperCase() !== 'Z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const digits = tz.slice(1).replaceAll(':', '');
    const hours = digits.length <= 2 ? digits : digits.slice(0, digits.length - (digits.length > 4 ? 4 : 2));
    const rest = digits.slice(hours.length);
    const offset = Number(hours) * 3600 + Number(rest.slice(0, 2) || '0') * 60 + Number(rest.slice(2, 4) || '0');
    us -= BigInt(sign * offset * 1e6);
  }
  return us;
}

// ---------------------------------------------------------------- bytea

function parseByteaText(text: string): Buffer {
  if (text.startsWith('\\x')) {
    const hex = text.slice(2).replace(/\s+/g, '');
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw syntax('bytea', text);
    return Buffer.from(hex, 'hex');
  }
  // Escape format: '\\' is a backslash, '\ooo' an octal byte, everything else literal.
  const out: number[] = [];
  const raw = Buffer.from(text, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c !== 0x5c) {
      out.push(c);
    } else if (raw[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else {
      const oct = raw.toString('latin1', i + 1, i + 4);
      if (!/^[0-3][0-7]{2}$/.test(oct)) throw syntax('bytea', text);
      out.push(Number.parseInt(oct, 8));
      i += 3;
    }
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------- numeric

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

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

function encodeNumeric(text: string): Buffer {
  const t = text.trim();
  const special = { nan: NUMERIC_NAN, infinity: NUMERIC_PINF, '+infinity': NUMERIC_PINF, '-infinity': NUMERIC_NINF }[t.toLowerCase()];
  if (special !== undefined) {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(special, 4);
    // numeric_send reads dscale out of the special value's header bits: 0 for NaN, 32 for ±Infinity.
    if (special !== NUMERIC_NAN) b.writeInt16BE(32, 6);
    return b;
  }
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m || (!m[2] && !m[3])) throw syntax('numeric', text);
  const exp = Number(m[4] ?? 0);
  const fracIn = m[3] ?? '';
  let digits = (m[2] ?? '') + fracIn;
  let point = (m[2] ?? '').length + exp;
  const dscale = Math.max(0, fracIn.length - exp);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits.padEnd(point, '0');
  let int = digits.slice(0, point);
  let frac = digits.slice(point);
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
  b.writeUInt16BE(m[1] === '-' && groups.length > 0 ? NUMERIC_NEG : NUMERIC_POS, 4);
  b.writeInt16BE(dscale, 6);
  for (let i = 0; i < groups.length; i++) b.writeInt16BE(groups[i] as number, 8 + 2 * i);
  return b;
}

// ---------------------------------------------------------------- time

/** `HH:MM:SS[.ffffff]` of µs since midnight (time_out). */
function timeText(us: bigint): string {
  const total = Number(us);
  const secs = Math.floor(total / 1e6);
  const frac = total % 1e6;
  const s = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  return frac ? `${s}.${pad(frac, 6).replace(/0+$/, '')}` : s;
}

/** `HH:MM[:SS[.frac]]` → µs since midnight; 24:00:00 is the largest value (time_in). */
function parseTime(text: string): bigint {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*$/.exec(text);
  if (!m) throw syntax('time without time zone', text);
  const [, hh, mi, ss = '0', frac = ''] = m;
  const h = Number(hh);
  const min = Number(mi);
  const sec = Number(ss);
  if (h > 24 || min > 59 || sec > 60) throw new PgError('22008', `date/time field value out of range: "${text}"`);
  const us = BigInt((h * 3600 + min * 60 + sec) * 1e6 + Math.round(Number(`0.${frac || '0'}`) * 1e6));
  if (us > US_PER_DAY) throw new PgError('22008', `date/time field value out of range: "${text}"`);
  return us;
}

// ---------------------------------------------------------------- interval

const US_PER_HOUR = 3_600_000_000n;
const US_PER_MINUTE = 60_000_000n;
const US_PER_SECOND = 1_000_000n;

/**
 * interval_out with IntervalStyle postgres: `1 year 2 mons -3 days +04:05:06.5`, `00:00:00` for zero
 * (PostgreSQL's EncodeInterval, INTSTYLE_POSTGRES, including its sign rules).
 */
export function intervalText(micros: bigint, days: number, months: number): string {
  const parts: string[] = [];
  let isBefore = false;
  const add = (value: number, unit: string) => {
    if (value === 0) return;
    parts.push(`${isBefore && value > 0 ? '+' : ''}${value} ${unit}${value !== 1 ? 's' : ''}`);
    isBefore = value < 0;
  };
  add(Math.trunc(months / 12), 'year');
  add(months % 12, 'mon');
  add(days, 'day');
  if (parts.length === 0 || micros !== 0n) {
    const minus = micros < 0n;
    const abs = minus ? -micros : micros;
    const h = abs / US_PER_HOUR;
    const m = (abs % US_PER_HOUR) / US_PER_MINUTE;
    const s = (abs % US_PER_MINUTE) / US_PER_SECOND;
    const f = Number(abs % US_PER_SECOND);
    let t = `${minus ? '-' : isBefore ? '+' : ''}${String(h).padStart(2, '0')}:${pad(Number(m))}:${pad(Number(s))}`;
    if (f) t += `.${pad(f, 6).replace(/0+$/, '')}`;
    parts.push(t);
  }
  return parts.join(' ');
}

/** Interval units (PostgreSQL's deltatktbl) → [months, days, µs] per unit. */
const INTERVAL_UNITS: Record<string, [number, number, number]> = {};
for (const [names, value] of [
  [
    ['microsecond', 'microseconds', 'us', 'usec', 'usecs', 'useconds'],
    [0, 0, 1],
  ],
  [
    ['millisecond', 'milliseconds', 'ms', 'msec', 'msecs', 'mseconds'],
    [0, 0, 1e3],
  ],
  [
    ['second', 'seconds', 's', 'sec', 'secs'],
    [0, 0, 1e6],
  ],
  [
    ['minute', 'minutes', 'm', 'min', 'mins'],
    [0, 0, 60e6],
  ],
  [
    ['hour', 'hours', 'h', 'hr', 'hrs'],
    [0, 0, 3600e6],
  ],
  [
    ['day', 'days', 'd'],
    [0, 1, 0],
  ],
  [
    ['week', 'weeks', 'w'],
    [0, 7, 0],
  ],
  [
    ['month', 'months', 'mon', 'mons'],
    [1, 0, 0],
  ],
  [
    ['year', 'years', 'y', 'yr', 'yrs'],
    [12, 0, 0],
  ],
  [
    ['decade', 'decades', 'dec', 'decs'],
    [120, 0, 0],
  ],
  [
    ['century', 'centuries', 'c', 'cent'],
    [1200, 0, 0],
  ],
  [
    ['millennium', 'millennia', 'mil', 'mils', 'millenniums'],
    [12000, 0, 0],
  ],
] as [string[], [number, number, number]][]) {
  for (const n of names) INTERVAL_UNITS[n] = value;
}

/** An interval as PostgreSQL stores it: months, days and µs kept apart. */
export interface IntervalParts {
  months: number;
  days: number;
  micros: bigint;
}

/**
 * Parse interval text: PostgreSQL's own output (`1 year 2 mons -3 days +04:05:06.5`, `@ 1 day ago`),
 * `<number> <unit>` lists with fractions spilling into smaller fields as interval_in does (month = 30 days,
 * day = 24 h), `[-]HH:MM[:SS.f]`, a year-month `Y-M`, and ISO 8601 with designators (`P1Y2M3DT4H5M6.5S`).
 * @throws PgError 22007 on bad syntax, 22015 when a field overflows.
 */
export function parseInterval(text: string): IntervalParts {
  const err = () => new PgError('22007', `invalid input syntax for type interval: "${text}"`);
  let months = 0;
  let days = 0;
  let micros = 0;
  /** Add `value` of a unit [months, days, µs]: fractions of months go to days (×30), of days to µs, as interval_in does. */
  const addUnit = (value: number, [mo, d, us]: [number, number, number]) => {
    if (mo >= 12) {
      // Years (and decades, centuries, millennia): a fraction is rounded to whole months.
      const whole = Math.trunc(value);
      months += whole * mo + Math.round((value - whole) * mo);
    } else if (mo) {
      const m = value * mo;
      const whole = Math.trunc(m);
      months += whole;
      const fracDays = (m - whole) * 30;
      const wholeDays = Math.trunc(fracDays);
      days += wholeDays;
      micros += Math.round((fracDays - wholeDays) * 86_400e6);
    } else if (d) {
      const dd = value * d;
      const whole = Math.trunc(dd);
      days += whole;
      micros += Math.round((dd - whole) * 86_400e6);
    } else micros += Math.round(value * us);
  };
  let t = text.trim().toLowerCase();
  if (t === '') throw err();
  const iso =
    /^p(?:([-+]?[\d.]+)y)?(?:([-+]?[\d.]+)m)?(?:([-+]?[\d.]+)w)?(?:([-+]?[\d.]+)d)?(?:t(?:([-+]?[\d.]+)h)?(?:([-+]?[\d.]+)m)?(?:([-+]?[\d.]+)s)?)?$/.exec(
      t,
    );
  if (iso) {
    if (t === 'p' || t.endsWith('t')) throw err();
    const units: [string, number, number, number][] = [
      ['y', 12, 0, 0],
      ['mo', 1, 0, 0],
      ['w', 0, 7, 0],
      ['d', 0, 1, 0],
      ['h', 0, 0, 3600e6],
      ['mi', 0, 0, 60e6],
      ['s', 0, 0, 1e6],
    ];
    units.forEach(([, mo, d, us], i) => {
      const v = iso[i + 1];
      if (v === undefined) return;
      const n = Number(v);
      if (!Number.isFinite(n)) throw err();
      addUnit(n, [mo, d, us]);
    });
    return finishInterval(months, days, micros, text);
  }
  let ago = false;
  if (t.startsWith('@')) t = t.slice(1).trim();
  if (t.endsWith(' ago') || t === 'ago') {
    ago = true;
    t = t.slice(0, -3).trim();
  }
  const tokens = t.split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw err();
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    const time = /^([-+])?(\d+):(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?)?$/.exec(tok);
    if (time) {
      const [, sign, h, m, s = '0', f = ''] = time;
      const us = (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1e6 + Math.round(Number(`0.${f || '0'}`) * 1e6);
      micros += sign === '-' ? -us : us;
      continue;
    }
    const ym = /^([-+])?(\d+)-(\d+)$/.exec(tok);
    if (ym) {
      const total = Number(ym[2]) * 12 + Number(ym[3]);
      months += ym[1] === '-' ? -total : total;
      continue;
    }
    const num = /^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)([a-z]*)$/.exec(tok);
    if (!num) throw err();
    const value = Number(num[1]);
    let unit = num[2] as string;
    if (unit === '') {
      const next = tokens[i + 1];
      if (next !== undefined && INTERVAL_UNITS[next]) {
        unit = next;
        i++;
      } else unit = 'second'; // a bare number is seconds
    }
    const u = INTERVAL_UNITS[unit];
    if (!u) throw err();
    addUnit(value, u);
  }
  if (ago) {
    months = -months;
    days = -days;
    micros = -micros;
  }
  return finishInterval(months, days, micros, text);
}

function finishInterval(months: number, days: number, micros: number, text: string): IntervalParts {
  const in32 = (n: number) => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX;
  if (!in32(months) || !in32(days) || !Number.isSafeInteger(micros)) {
    throw new PgError('22015', `interval field value out of range: "${text}"`);
  }
  return { months: months || 0, days: days || 0, micros: BigInt(micros) };
}

// ---------------------------------------------------------------- arrays

/** Most dimensions PostgreSQL allows (MAXDIM). */
const MAX_DIMS = 6;

/**
 * array_recv layout → array_out text: int32 ndim, int32 has-null flag, uint32 element OID, per dimension
 * int32 length and int32 lower bound, then each element as int32 length (-1 NULL) and its binary form.
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
    if (len < 0 || p + len > data.length) throw len < 0 ? bad(`invalid array element length ${len}`) : short();
    values.push(decodeBinaryParam(elemOid, data.subarray(p, p + len)));
    p += len;
  }
  if (p !== data.length) throw bad();
  let k = 0;
  const nest = (d: number): string => {
    const items: string[] = [];
    for (let i = 0; i < (dims[d] as number); i++) items.push(d + 1 < ndim ? nest(d + 1) : quoteArrayElement(values[k++] as string | null));
    return `{${items.join(',')}}`;
  };
  const decoration = lbounds.some((lb) => lb !== 1)
    ? `${dims.map((n, i) => `[${lbounds[i]}:${(lbounds[i] as number) + n - 1}]`).join('')}=`
    : '';
  return decoration + nest(0);
}

/** array_out quoting: NULL bare; quotes around empty strings, `NULL`, and values holding `{},"\` or white space. */
function quoteArrayElement(v: string | null): string {
  if (v === null) return 'NULL';
  if (v === '' || v.toLowerCase() === 'null' || /[{},"\\\s]/.test(v)) return `"${v.replace(/["\\]/g, '\\$&')}"`;
  return v;
}

/** A parsed array literal: dimensions, lower bounds and the elements in row-major order. */
export interface ArrayLiteral {
  dims: number[];
  lbounds: number[];
  values: (string | null)[];
}

/**
 * Parse PostgreSQL array text (array_in): `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","\\""}`, `[0:1]={a,b}`,
 * elements trimmed of white space unless quoted, unquoted `NULL` (any case) meaning NULL.
 * @throws PgError 22P02 "malformed array literal" with PostgreSQL's detail texts.
 */
export function parseArrayLiteral(text: string): ArrayLiteral {
  const malformed = (detail: string) => new PgError('22P02', `malformed array literal: "${text}"`, { detail });
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
  let p = 0;
  const skip = () => {
    while (isSpace(text[p])) p++;
  };
  skip();
  let explicit: { dims: number[]; lbounds: number[] } | null = null;
  if (text[p] === '[') {
    explicit = { dims: [], lbounds: [] };
    while (text[p] === '[') {
      const m = /^\[\s*([-+]?\d+)\s*(?::\s*([-+]?\d+)\s*)?\]/.exec(text.slice(p));
      if (!m) throw malformed('"[" must introduce explicitly-specified array dimensions.');
      const lo = m[2] === undefined ? 1 : Number(m[1]);
      const hi = Number(m[2] ?? m[1]);
      if (hi < lo - 1) throw new PgError('2202E', 'upper bound cannot be less than lower bound');
      explicit.lbounds.push(lo);
      explicit.dims.push(hi - lo + 1);
      p += m[0].length;
    }
    skip();
    if (text[p] !== '=') throw malformed('Missing "=" after array dimensions.');
    p++;
    skip();
  }
  if (text[p] !== '{') throw malformed('Array value must start with "{" or dimension information.');
  const dims: number[] = [];
  const values: (string | null)[] = [];
  /** Depth at which the elements are (every element must be at the same depth). */
  let leafDepth: number | undefined;
  /** Parse one `{…}` at depth `d`. */
  const level = (d: number): void => {
    p++; // '{'
    let n = 0;
    skip();
    if (text[p] === '}') {
      p++;
      if (d > 0) throw malformed('Multidimensional arrays must have sub-arrays with matching dimensions.');
      dims.length = 0;
      return;
    }
    for (;;) {
      skip();
      if (text[p] === '{') {
        if (leafDepth !== undefined && d >= leafDepth) throw malformed('Unexpected "{" character.');
        level(d + 1);
      } else {
        if (leafDepth === undefined) leafDepth = d;
        else if (d !== leafDepth) throw malformed('Unexpected array element.');
        values.push(element());
      }
      n++;
      skip();
      const c = text[p];
      if (c === ',') {
        p++;
        continue;
      }
      if (c === '}') {
        p++;
        break;
      }
      throw malformed(c === undefined ? 'Unexpected end of input.' : `Unexpected "${c}" character.`);
    }
    if (dims[d] === undefined) dims[d] = n;
    else if (dims[d] !== n) throw malformed('Multidimensional arrays must have sub-arrays with matching dimensions.');
  };
  const element = (): string | null => {
    let out = '';
    let quoted = false;
    let escaped = false;
    let sawAny = false;
    let pendingSpace = '';
    for (;;) {
      const c = text[p];
      if (c === undefined) throw malformed('Unexpected end of input.');
      if (c === '"') {
        if (quoted) throw malformed('Unexpected array element.');
        if (sawAny && !quoted) throw malformed('Incorrectly quoted array element.');
        p++;
        for (;;) {
          const q = text[p++];
          if (q === undefined) throw malformed('Unexpected end of input.');
          if (q === '"') break;
          if (q === '\\') {
            const e = text[p++];
            if (e === undefined) throw malformed('Unexpected end of input.');
            out += e;
          } else out += q;
        }
        quoted = true;
        sawAny = true;
        continue;
      }
      if (c === ',' || c === '}') break;
      if (c === '{') throw malformed('Unexpected "{" character.');
      if (isSpace(c)) {
        pendingSpace += c;
        p++;
        continue;
      }
      if (quoted) throw malformed('Incorrectly quoted array element.');
      if (c === '\\') {
        const e = text[p + 1];
        if (e === undefined) throw malformed('Unexpected end of input.');
        out += pendingSpace + e;
        escaped = true;
        p += 2;
      } else {
        out += pendingSpace + c;
        p++;
      }
      pendingSpace = '';
      sawAny = true;
    }
    if (!sawAny) throw malformed('Unexpected "," character.');
    if (!quoted && !escaped && /^null$/i.test(out)) return null;
    return out;
  };
  level(0);
  skip();
  if (p !== text.length) throw malformed('Junk after closing right brace.');
  const lbounds = dims.map(() => 1);
  if (explicit) {
    if (explicit.dims.length !== dims.length || explicit.dims.some((n, i) => n !== dims[i])) {
      if (!(dims.length === 0 && explicit.dims.every((n) => n === 0))) {
        throw malformed('Specified array dimensions do not match array contents.');
      }
    }
    return { dims, lbounds: explicit.lbounds.slice(0, dims.length), values };
  }
  return { dims, lbounds, values };
}

/** array_send: the binary form of array text, each element encoded with the element type's binary format. */
function encodeArray(text: string, elemOid: number): Buffer {
  const { dims, lbounds, values } = parseArrayLiteral(text);
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12 + 8 * dims.length);
  head.writeInt32BE(dims.length, 0);
  head.writeInt32BE(values.includes(null) ? 1 : 0, 4);
  head.writeUInt32BE(elemOid, 8);
  dims.forEach((n, i) => {
    head.writeInt32BE(n, 12 + 8 * i);
    head.writeInt32BE(lbounds[i] as number, 16 + 8 * i);
  });
  parts.push(head);
  for (const v of values) {
    const len = Buffer.allocUnsafe(4);
    if (v === null) {
      len.writeInt32BE(-1);
      parts.push(len);
      continue;
    }
    const b = encodeBinaryValue(elemOid, v);
    len.writeInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}
