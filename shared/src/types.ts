/**
 * SQL column types, their JavaScript representation, conversion of literals and text
 * parameters into them, and PostgreSQL text output. Rules follow PostgreSQL 15
 * (chapter 8 "Data Types"; input syntax of each type; `float8out` shortest-exact output).
 *
 * JavaScript representation of each {@link SqlType} (a {@link Value}, the *stored
 * representation*: what rows hold in every tier, on the bus and in tier calls):
 * | type | JS value |
 * |---|---|
 * | smallint, integer | number (integral, range-checked) |
 * | bigint | bigint |
 * | real, double | number |
 * | numeric | string: PostgreSQL's text of the value, keeping its scale ('1.50', '-0.001', 'NaN', 'Infinity') |
 * | text, varchar | string |
 * | char (bpchar) | string, padded with spaces to its length |
 * | boolean | boolean |
 * | timestamp, timestamptz | bigint, microseconds since 1970-01-01 00:00:00 UTC |
 * | date | number, days since 1970-01-01 |
 * | time | number, microseconds since midnight |
 * | interval | string: ISO 8601 as PostgreSQL's `IntervalStyle iso_8601` prints it ('P1Y2M3DT4H5M6.5S', 'PT0S'); months, days and µs kept apart |
 * | uuid | string, lower-case canonical 8-4-4-4-12 |
 * | json | string: the text as given (validated) |
 * | jsonb | string: PostgreSQL's jsonb text output (keys ordered and deduplicated as jsonb does) |
 * | bytea | Uint8Array (a Buffer once decoded from MessagePack) |
 * | T[] | Value[] of T's representation (one dimension, lower bound 1; null elements allowed) |
 */
import { DataError, SqlState } from './errors.ts';

/** Scalar column types a table may declare. */
export type ScalarType =
  | 'smallint'
  | 'integer'
  | 'bigint'
  | 'real'
  | 'double'
  | 'numeric'
  | 'text'
  | 'varchar'
  | 'char'
  | 'boolean'
  | 'timestamp'
  | 'timestamptz'
  | 'date'
  | 'time'
  | 'interval'
  | 'uuid'
  | 'json'
  | 'jsonb'
  | 'bytea';

/** One-dimensional array of a scalar type (`integer[]`). */
export type ArrayType = `${ScalarType}[]`;

/** Column types a table may declare: scalars and one-dimensional arrays of them. Length/precision modifiers live in `ColumnDef.typmod`. */
export type SqlType = ScalarType | ArrayType;

/** Types that may appear in query results. `unknown` is PostgreSQL's type of an untyped literal (sent as text). */
export type ResultType = SqlType | 'unknown';

/** A stored value (see the table in the module comment); null is SQL NULL. */
export type Value = number | bigint | string | boolean | null | Uint8Array | Value[];

/** A row: storage field → value. */
export type Row = Record<string, Value>;

/** A literal from SQL text or a parameter, before it is converted to a column type. */
export type Literal = number | bigint | string | boolean | null;

/** True for array types (`integer[]`). */
export function isArrayType(t: SqlType | ResultType): t is ArrayType {
  return t.endsWith('[]');
}

/** Element type of an array type, or the type itself. */
export function elementType(t: SqlType): ScalarType {
  return (t.endsWith('[]') ? t.slice(0, -2) : t) as ScalarType;
}

/** PostgreSQL type OIDs (pg_type.oid) of the scalar types, and `unknown` (705). */
export const PG_TYPE_OID: Record<ScalarType | 'unknown', number> = {
  smallint: 21,
  integer: 23,
  bigint: 20,
  real: 700,
  double: 701,
  numeric: 1700,
  text: 25,
  varchar: 1043,
  char: 1042,
  boolean: 16,
  timestamp: 1114,
  timestamptz: 1184,
  date: 1082,
  time: 1083,
  interval: 1186,
  uuid: 2950,
  json: 114,
  jsonb: 3802,
  bytea: 17,
  unknown: 705,
};

/** PostgreSQL array type OIDs (pg_type.typarray) of the scalar types. */
export const PG_ARRAY_TYPE_OID: Record<ScalarType, number> = {
  smallint: 1005,
  integer: 1007,
  bigint: 1016,
  real: 1021,
  double: 1022,
  numeric: 1231,
  text: 1009,
  varchar: 1015,
  char: 1014,
  boolean: 1000,
  timestamp: 1115,
  timestamptz: 1185,
  date: 1182,
  time: 1183,
  interval: 1187,
  uuid: 2951,
  json: 199,
  jsonb: 3807,
  bytea: 1001,
};

/** pg_type.oid of a result type (arrays included). */
export function pgTypeOid(t: ResultType): number {
  if (t === 'unknown') return PG_TYPE_OID.unknown;
  return isArrayType(t) ? PG_ARRAY_TYPE_OID[elementType(t)] : PG_TYPE_OID[t as ScalarType];
}

/** The result type of a pg_type.oid, or undefined for types Stratum does not have. */
export function typeOfOid(oid: number): ResultType | undefined {
  for (const [t, o] of Object.entries(PG_TYPE_OID)) if (o === oid) return t as ResultType;
  for (const [t, o] of Object.entries(PG_ARRAY_TYPE_OID)) if (o === oid) return `${t}[]` as ResultType;
  return undefined;
}

/** Names PostgreSQL accepts for each column type (pg `format_type` names and common aliases). */
const TYPE_ALIASES: Record<string, ScalarType> = {
  int2: 'smallint',
  smallint: 'smallint',
  int4: 'integer',
  int: 'integer',
  integer: 'integer',
  int8: 'bigint',
  bigint: 'bigint',
  float4: 'real',
  real: 'real',
  float8: 'double',
  'double precision': 'double',
  double: 'double',
  text: 'text',
  varchar: 'varchar',
  'character varying': 'varchar',
  bpchar: 'char',
  char: 'char',
  character: 'char',
  numeric: 'numeric',
  decimal: 'numeric',
  time: 'time',
  'time without time zone': 'time',
  interval: 'interval',
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
  bool: 'boolean',
  boolean: 'boolean',
  timestamp: 'timestamp',
  'timestamp without time zone': 'timestamp',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  date: 'date',
  uuid: 'uuid',
};

/**
 * Resolve a type name as written in DDL (`int4`, `double precision`, `varchar`...) to a {@link SqlType}.
 * Returns undefined for types Stratum does not store.
 */
export function resolveTypeName(name: string): SqlType | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('[]')) {
    const e = TYPE_ALIASES[n.slice(0, -2)];
    return e ? `${e}[]` : undefined;
  }
  if (n.startsWith('_')) {
    const e = TYPE_ALIASES[n.slice(1)];
    if (e) return `${e}[]`;
  }
  return TYPE_ALIASES[n];
}

/** DuckDB column type used to hold each SqlType (in Parquet files and query views). */
export const DUCKDB_TYPE: Record<ScalarType, string> = {
  smallint: 'SMALLINT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  real: 'FLOAT',
  double: 'DOUBLE',
  numeric: 'DECIMAL(38,10)',
  text: 'VARCHAR',
  varchar: 'VARCHAR',
  char: 'VARCHAR',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
  date: 'DATE',
  time: 'TIME',
  interval: 'INTERVAL',
  uuid: 'UUID',
  json: 'JSON',
  jsonb: 'JSON',
  bytea: 'BLOB',
};

/** DuckDB type of a column of type `t` (typmod: numeric precision and scale). */
export function duckdbType(t: SqlType, typmod?: number): string {
  if (isArrayType(t)) return `${duckdbType(elementType(t), typmod)}[]`;
  if (t === 'numeric' && typmod !== undefined && typmod >= 4) {
    const p = ((typmod - 4) >> 16) & 0xffff;
    const sc = (typmod - 4) & 0xffff;
    if (p <= 38) return `DECIMAL(${p},${sc})`;
  }
  return DUCKDB_TYPE[t as ScalarType];
}

/** PostgreSQL's own display name of a type, for error messages. */
export const PG_TYPE_NAME: Record<ScalarType, string> = {
  smallint: 'smallint',
  integer: 'integer',
  bigint: 'bigint',
  real: 'real',
  double: 'double precision',
  numeric: 'numeric',
  text: 'text',
  varchar: 'character varying',
  char: 'character',
  boolean: 'boolean',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  date: 'date',
  time: 'time without time zone',
  interval: 'interval',
  uuid: 'uuid',
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
};

/** PostgreSQL's `format_type(oid, typmod)` text of a type: `character varying(20)`, `numeric(10,2)`, `integer[]`. */
export function pgTypeName(t: SqlType, typmod?: number): string {
  if (isArrayType(t)) return `${pgTypeName(elementType(t), typmod)}[]`;
  const base = PG_TYPE_NAME[t as ScalarType];
  if (typmod === undefined || typmod < 4) return base;
  if (t === 'varchar' || t === 'char') return `${base}(${typmod - 4})`;
  if (t === 'numeric') return `numeric(${((typmod - 4) >> 16) & 0xffff},${(typmod - 4) & 0xffff})`;
  return base;
}

const INT_RE = /^\s*[+-]?\d+\s*$/;
const FLOAT_RE = /^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|infinity|inf|nan)\s*$/i;
const UUID_RE = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;
const TS_RE =
  /^\s*(\d{4,})-(\d{1,2})-(\d{1,2})(?:(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{1,2}(?::?\d{2})?)?)?\s*(BC)?\s*$/i;

const INT_RANGE: Record<'smallint' | 'integer', [number, number]> = {
  smallint: [-32768, 32767],
  integer: [-2147483648, 2147483647],
};
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** Where a conversion happens, for error messages (`column "x" of table "t"`). */
export interface ValueContext {
  table?: string;
  column?: string;
}

function where(ctx: ValueContext): string {
  if (ctx.column && ctx.table) return ` (column "${ctx.column}" of table "${ctx.table}")`;
  if (ctx.column) return ` (column "${ctx.column}")`;
  return '';
}

function invalidText(type: SqlType, v: string, ctx: ValueContext): DataError {
  return new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type ${pgTypeName(type)}: "${v}"${where(ctx)}`);
}

function mismatch(type: SqlType, lit: Literal, ctx: ValueContext): DataError {
  const got = typeof lit === 'boolean' ? 'boolean' : typeof lit === 'string' ? 'text' : 'numeric';
  return new DataError(
    SqlState.datatypeMismatch,
    `column${ctx.column ? ` "${ctx.column}"` : ''} is of type ${pgTypeName(type)} but expression is of type ${got}${ctx.table ? ` (table "${ctx.table}")` : ''}`,
    { hint: 'You will need to rewrite or cast the expression.' },
  );
}

function outOfRange(type: SqlType, ctx: ValueContext): DataError {
  return new DataError(SqlState.numericValueOutOfRange, `${pgTypeName(type)} out of range${where(ctx)}`);
}

/** Round half away from zero, as PostgreSQL does when assigning a fractional number to an integer column. */
function roundHalfAway(n: number): number {
  return n < 0 ? -Math.round(-n) : Math.round(n);
}

/**
 * Convert a literal (SQL constant or text-format parameter) to the JS representation of `type`.
 * Strings are parsed with PostgreSQL's input syntax for the type; numbers and booleans are
 * assignment-cast as PostgreSQL would.
 * @throws DataError 22P02 (bad text), 22003 (out of range), 22007/22008 (bad timestamp), 42804 (incompatible literal type).
 */
export function coerceLiteral(lit: Literal, type: SqlType, ctx: ValueContext = {}): Value {
  if (lit === null) return null;
  switch (type) {
    case 'smallint':
    case 'integer': {
      let n: number;
      if (typeof lit === 'number') n = Number.isInteger(lit) ? lit : roundHalfAway(lit);
      else if (typeof lit === 'bigint') n = Number(lit);
      else if (typeof lit === 'string') {
        if (!INT_RE.test(lit)) throw invalidText(type, lit, ctx);
        n = Number(lit.trim());
      } else throw mismatch(type, lit, ctx);
      const [lo, hi] = INT_RANGE[type];
      if (!(n >= lo && n <= hi)) throw outOfRange(type, ctx);
      return n;
    }
    case 'bigint': {
      let b: bigint;
      if (typeof lit === 'bigint') b = lit;
      else if (typeof lit === 'number') {
        if (!Number.isFinite(lit)) throw outOfRange(type, ctx);
        b = BigInt(Number.isInteger(lit) ? lit : roundHalfAway(lit));
      } else if (typeof lit === 'string') {
        if (!INT_RE.test(lit)) throw invalidText(type, lit, ctx);
        b = BigInt(lit.trim());
      } else throw mismatch(type, lit, ctx);
      if (b < INT8_MIN || b > INT8_MAX) throw outOfRange(type, ctx);
      return b;
    }
    case 'real':
    case 'double': {
      let n: number;
      if (typeof lit === 'number') n = lit;
      else if (typeof lit === 'bigint') n = Number(lit);
      else if (typeof lit === 'string') {
        if (!FLOAT_RE.test(lit)) throw invalidText(type, lit, ctx);
        const t = lit.trim().toLowerCase().replace(/^\+/, '');
        n = t.endsWith('inf') || t.endsWith('infinity') ? (t.startsWith('-') ? -Infinity : Infinity) : Number(t);
      } else throw mismatch(type, lit, ctx);
      if (type === 'real') {
        const f = Math.fround(n);
        if (Number.isFinite(n) && !Number.isFinite(f)) throw outOfRange(type, ctx);
        return f;
      }
      return n;
    }
    case 'text':
      if (typeof lit === 'boolean') return lit ? 'true' : 'false';
      return String(lit);
    case 'boolean': {
      if (typeof lit === 'boolean') return lit;
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      const b = parseBool(lit);
      if (b === undefined) throw invalidText(type, lit, ctx);
      return b;
    }
    case 'timestamp':
    case 'timestamptz':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      return parseTimestamp(lit, type, ctx);
    case 'date': {
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      const us = parseTimestamp(lit, 'timestamp', ctx);
      return Number(us / 86_400_000_000n) - (us % 86_400_000_000n < 0n ? 1 : 0);
    }
    case 'uuid': {
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      const m = UUID_RE.exec(lit.trim());
      if (!m) throw invalidText(type, lit, ctx);
      return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
    }
  }
}

/** PostgreSQL boolean input: t/true/yes/on/1 and f/false/no/off/0, case-insensitive, unique prefixes. */
function parseBool(s: string): boolean | undefined {
  const t = s.trim().toLowerCase();
  if (t.length === 0) return undefined;
  if (t === '1') return true;
  if (t === '0') return false;
  if (t === 'o') return undefined; // ambiguous between on/off
  for (const w of ['true', 'yes', 'on']) if (w.startsWith(t)) return true;
  for (const w of ['false', 'no', 'off']) if (w.startsWith(t)) return false;
  return undefined;
}

function daysFromCivil(y: number, m: number, d: number): number {
  // Howard Hinnant's days_from_civil (proleptic Gregorian).
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parse PostgreSQL ISO timestamp input (`YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|±HH[:MM]]`, or a bare date)
 * into microseconds since the Unix epoch (UTC). For `timestamp` a zone suffix is ignored, as PostgreSQL does;
 * for `timestamptz` it is applied (no suffix = the session time zone, UTC).
 * @throws DataError 22007 on bad syntax, 22008 on an impossible field value.
 */
export function parseTimestamp(s: string, type: 'timestamp' | 'timestamptz', ctx: ValueContext = {}): bigint {
  const m = TS_RE.exec(s);
  if (!m) {
    throw new DataError(SqlState.invalidDatetimeFormat, `invalid input syntax for type ${pgTypeName(type)}: "${s}"${where(ctx)}`);
  }
  let year = Number(m[1]);
  if (m[9]) year = 1 - year;
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hh = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const ss = Number(m[6] ?? 0);
  const frac = m[7] ?? '';
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > dim || hh > 24 || mi > 59 || ss > 60) {
    throw new DataError(SqlState.datetimeFieldOverflow, `date/time field value out of range: "${s}"${where(ctx)}`);
  }
  // Round to microseconds as PostgreSQL does.
  let micros = 0;
  if (frac.length > 0) micros = Math.round(Number(`0.${frac}`) * 1e6);
  let us = BigInt(daysFromCivil(year, month, day)) * 86_400_000_000n + BigInt(hh * 3600 + mi * 60 + ss) * 1_000_000n + BigInt(micros);
  const zone = m[8];
  if (type === 'timestamptz' && zone && zone.toUpperCase() !== 'Z') {
    const zm = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(zone);
    if (zm) {
      const off = (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60_000_000;
      us -= BigInt(zm[1] === '-' ? -off : off);
    }
  }
  return us;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Format microseconds since the epoch as PostgreSQL's ISO text (`YYYY-MM-DD HH:MM:SS[.ffffff]`, BC suffix for years ≤ 0). */
export function formatTimestamp(us: bigint, withZone: boolean): string {
  let days = us / 86_400_000_000n;
  let rem = us % 86_400_000_000n;
  if (rem < 0n) {
    rem += 86_400_000_000n;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  const secs = Number(rem / 1_000_000n);
  const micros = Number(rem % 1_000_000n);
  const yearText = y <= 0 ? `${pad(1 - y, 4)}` : pad(y, 4);
  let out = `${yearText}-${pad(mo)}-${pad(d)} ${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  if (micros) out += `.${pad(micros, 6).replace(/0+$/, '')}`;
  if (withZone) out += '+00';
  if (y <= 0) out += ' BC';
  return out;
}

/** Format days since the epoch as PostgreSQL's ISO date text. */
export function formatDate(days: number): string {
  const [y, mo, d] = civilFromDays(days);
  return y <= 0 ? `${pad(1 - y, 4)}-${pad(mo)}-${pad(d)} BC` : `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
}

/**
 * PostgreSQL 12+ float output (`float8out`/`float4out` with extra_float_digits = 1): the shortest
 * text that reads back to the same value, in exponent form when the decimal exponent is < -4 or
 * ≥ 15 (float8) / 6 (float4), with at least two exponent digits.
 */
export function formatFloat(n: number, single = false): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  let digits: string;
  if (single) {
    let p = 1;
    digits = n.toPrecision(1);
    while (p < 9 && Math.fround(Number(digits)) !== n) digits = n.toPrecision(++p);
    digits = Number(digits).toExponential();
  } else digits = n.toExponential();
  const [mant, expText] = digits.split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= (single ? 6 : 15)) {
    return `${mant}e${exp < 0 ? '-' : '+'}${pad(Math.abs(exp))}`;
  }
  const neg = mant.startsWith('-');
  const ds = mant.replace('-', '').replace('.', '');
  let out: string;
  if (exp >= 0) {
    out = ds.length <= exp + 1 ? ds.padEnd(exp + 1, '0') : `${ds.slice(0, exp + 1)}.${ds.slice(exp + 1)}`;
  } else out = `0.${'0'.repeat(-exp - 1)}${ds}`;
  return neg ? `-${out}` : out;
}

/** Format a stored value as PostgreSQL text output for a result column of `type` (strings pass through). */
export function formatValue(v: Value, type: ResultType): string | null {
  if (v === null) return null;
  switch (type) {
    case 'boolean':
      return v === true || v === 't' ? 't' : v === false || v === 'f' ? 'f' : String(v);
    case 'real':
    case 'double':
      return typeof v === 'number' ? formatFloat(v, type === 'real') : String(v);
    case 'timestamp':
    case 'timestamptz':
      return typeof v === 'bigint' ? formatTimestamp(v, type === 'timestamptz') : String(v);
    case 'date':
      return typeof v === 'number' ? formatDate(v) : String(v);
    default:
      return String(v);
  }
}

/** True when `v` is a valid stored representation of `type` (used to re-check rows arriving from other services). */
export function isValueOfType(v: Value, type: SqlType): boolean {
  if (v === null) return true;
  switch (type) {
    case 'smallint':
    case 'integer':
    case 'date':
      return typeof v === 'number' && Number.isInteger(v);
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      return typeof v === 'bigint';
    case 'real':
    case 'double':
      return typeof v === 'number';
    case 'text':
    case 'uuid':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
  }
}
