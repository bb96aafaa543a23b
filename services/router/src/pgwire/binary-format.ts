/**
 * Binary value formats (format code 1) for the types the wire layer converts itself.
 * Parameters arriving in binary are decoded to PostgreSQL *text* format; result columns
 * requested in binary are encoded from the text value the SQL layer produced.
 *
 * Protocol reference: PostgreSQL 15 docs §55.2.3 "Formats and Format Codes"; layouts follow
 * the server's typsend/typreceive functions (int2send, numeric_send, timestamp_send, ...).
 */
import { PgError } from './errors.ts';

/** Type OIDs handled here. */
export const OID = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
} as const;

/** OIDs whose binary form is plain UTF-8 text (0 = unspecified parameter type). */
const TEXT_OIDS = new Set<number>([0, OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown]);
const BINARY_OIDS = new Set<number>([...TEXT_OIDS, ...Object.values(OID)]);

const FIXED_SIZES: Record<number, number> = {
  16: 1,
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
  2950: 16,
};

/** pg_type.typlen for RowDescription: fixed byte size, or -1 (varlena) for unknown/variable types. */
export function typeSizeOf(oid: number): number {
  return FIXED_SIZES[oid] ?? -1;
}

/** Whether values of type `oid` can be sent or received in binary format by this layer. */
export function supportsBinary(oid: number): boolean {
  return BINARY_OIDS.has(oid);
}

const US_PER_DAY = 86_400_000_000n;
/** Days from 1970-01-01 to the PostgreSQL epoch 2000-01-01. */
const PG_EPOCH_DAYS = 10_957;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;
const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;

function bad(oid: number): PgError {
  return new PgError('22P03', `incorrect binary data format for type OID ${oid}`);
}

function syntax(type: string, text: string): PgError {
  return new PgError('22P02', `invalid input syntax for type ${type}: "${text}"`);
}

function unsupported(oid: number): PgError {
  return new PgError('0A000', `binary format is not supported for type OID ${oid}`);
}

/**
 * Decode one binary-format parameter value of type `oid` to its text form.
 * Throws PgError 0A000 for unsupported types and 22P03 for a wrong byte length or layout.
 */
export function decodeBinaryParam(oid: number, data: Buffer): string {
  const len = (n: number) => {
    if (data.length !== n) throw bad(oid);
  };
  switch (oid) {
    case OID.bool:
      len(1);
      return data[0] ? 't' : 'f';
    case OID.int2:
      len(2);
      return String(data.readInt16BE(0));
    case OID.int4:
      len(4);
      return String(data.readInt32BE(0));
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
    case OID.timestamp:
    case OID.timestamptz: {
      len(8);
      const us = data.readBigInt64BE(0);
      if (us === INT64_MAX) return 'infinity';
      if (us === INT64_MIN) return '-infinity';
      return timestampText(us, oid === OID.timestamptz);
    }
    case OID.numeric:
      return numericText(data, oid);
    default:
      if (TEXT_OIDS.has(oid)) return data.toString('utf8');
      throw unsupported(oid);
  }
}

/**
 * Encode a text-format value of type `oid` into its binary form.
 * Throws PgError 0A000 for unsupported types and 22P02 when the text does not parse.
 */
export function encodeBinaryValue(oid: number, text: string): Buffer {
  switch (oid) {
    case OID.bool: {
      const v = text.trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(v)) return Buffer.from([1]);
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(v)) return Buffer.from([0]);
      throw syntax('boolean', text);
    }
    case OID.int2:
    case OID.int4:
    case OID.int8: {
      if (!/^\s*[+-]?\d+\s*$/.test(text)) throw syntax(oid === OID.int8 ? 'bigint' : 'integer', text);
      const v = BigInt(text.trim());
      const bits = oid === OID.int2 ? 16 : oid === OID.int4 ? 32 : 64;
      if (v !== BigInt.asIntN(bits, v)) throw new PgError('22003', `value "${text}" is out of range for a ${bits}-bit integer`);
      const b = Buffer.allocUnsafe(bits / 8);
      if (bits === 16) b.writeInt16BE(Number(v));
      else if (bits === 32) b.writeInt32BE(Number(v));
      else b.writeBigInt64BE(v);
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
    case OID.timestamp:
    case OID.timestamptz: {
      const t = text.trim().toLowerCase();
      const b = Buffer.allocUnsafe(8);
      if (t === 'infinity') b.writeBigInt64BE(INT64_MAX);
      else if (t === '-infinity') b.writeBigInt64BE(INT64_MIN);
      else b.writeBigInt64BE(parseTimestamp(text, oid === OID.timestamptz, oid === OID.timestamp ? 'timestamp' : 'timestamptz'));
      return b;
    }
    case OID.numeric:
      return encodeNumeric(text);
    default:
      if (TEXT_OIDS.has(oid)) return Buffer.from(text, 'utf8');
      throw unsupported(oid);
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

/** numeric_send layout: int16 ndigits, int16 weight, uint16 sign, int16 dscale, ndigits × int16 base-10000 digits. */
function numericText(data: Buffer, oid: number): string {
  if (data.length < 8) throw bad(oid);
  const ndigits = data.readInt16BE(0);
  const weight = data.readInt16BE(2);
  const sign = data.readUInt16BE(4);
  const dscale = data.readInt16BE(6);
  if (ndigits < 0 || dscale < 0 || data.length !== 8 + 2 * ndigits) throw bad(oid);
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) throw bad(oid);
  const digit = (i: number) => {
    if (i < 0 || i >= ndigits) return 0;
    const v = data.readInt16BE(8 + 2 * i);
    if (v < 0 || v > 9999) throw bad(oid);
    return v;
  };
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
