/**
 * SQL column types, their JavaScript representation, conversion of literals and text
 * parameters into them (`coerceLiteral`, with typmods), PostgreSQL text output under the
 * session's settings (`formatValue`), validation (`isValueOfType`) and btree order
 * (`compareValues`). Rules follow PostgreSQL 15 (chapter 8 "Data Types": the input and output
 * functions of each type; §8.15 arrays; `float8out` shortest-exact output). The text forms of
 * the larger types live in `pgtypes/` (numeric, array, json, bytea, interval, datetime) and are
 * re-exported here; `pgtypes/types.pg.test.ts` checks them against PostgreSQL itself.
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
 * | timestamp, timestamptz | bigint, microseconds since 1970-01-01 00:00:00 UTC ('infinity'/'-infinity': int64 max/min) |
 * | date | number, days since 1970-01-01 ('infinity'/'-infinity': int32 max/min) |
 * | time | number, microseconds since midnight |
 * | interval | string: ISO 8601 as PostgreSQL's `IntervalStyle iso_8601` prints it ('P1Y2M3DT4H5M6.5S', 'PT0S'); months, days and µs kept apart |
 * | uuid | string, lower-case canonical 8-4-4-4-12 |
 * | json | string: the text as given (validated) |
 * | jsonb | string: PostgreSQL's jsonb text output (keys ordered and deduplicated as jsonb does) |
 * | bytea | Uint8Array (a Buffer once decoded from MessagePack) |
 * | T[] | Value[] of T's representation (one dimension, lower bound 1; null elements allowed) |
 */
import { DataError, SqlState } from './errors.ts';
import { formatPgArray, parsePgArray } from './pgtypes/array.ts';
import { compareBytes, formatBytea, parseBytea } from './pgtypes/bytea.ts';
import {
  type DateTimeSettings,
  formatDateStyle,
  formatTime,
  formatTimestampStyle,
  parseDate,
  parseTime,
  parseTimestamp,
  TS_INFINITY,
  TS_NEG_INFINITY,
} from './pgtypes/datetime.ts';
import {
  applyIntervalTypmod,
  compareInterval,
  formatInterval,
  type IntervalStyle,
  intervalParts,
  intervalTypmodText,
  makeInterval,
  parseInterval,
} from './pgtypes/interval.ts';
import { canonicalJsonb, compareJsonb, parseJson } from './pgtypes/json.ts';
import { applyNumericTypmod, compareNumeric, formatNumeric, isNumericText, parseNumeric } from './pgtypes/numeric.ts';

export { formatPgArray, parsePgArray } from './pgtypes/array.ts';
export { formatBytea, parseBytea } from './pgtypes/bytea.ts';
export {
  civilFromDays,
  DATE_INFINITY,
  DATE_NEG_INFINITY,
  type DateTimeSettings,
  daysFromCivil,
  formatDateStyle,
  formatOffset,
  formatTime,
  formatTimestampStyle,
  isValidTimeZone,
  parseDate,
  parseTime,
  parseTimestamp,
  TS_INFINITY,
  TS_NEG_INFINITY,
  timeZoneOffsetMs,
  zoneAbbreviation,
  zoneForEngine,
} from './pgtypes/datetime.ts';
export {
  applyIntervalTypmod,
  compareInterval,
  formatInterval,
  INTERVAL_FIELD,
  INTERVAL_FULL_PRECISION,
  INTERVAL_FULL_RANGE,
  type IntervalParts,
  type IntervalStyle,
  intervalParts,
  intervalTypmod,
  makeInterval,
  parseInterval,
} from './pgtypes/interval.ts';
export {
  canonicalJsonb,
  escapeJsonString,
  formatJsonb,
  formatJsonNode,
  JSON_SOURCE,
  type JsonNode,
  normalizeJsonb,
  parseJson,
} from './pgtypes/json.ts';
export {
  applyNumericTypmod,
  compareNumeric,
  type Decimal,
  formatNumeric,
  type NumericValue,
  parseNumeric,
  roundDecimal,
} from './pgtypes/numeric.ts';

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
    if (p <= 38 && sc <= p) return `DECIMAL(${p},${sc})`;
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

/**
 * PostgreSQL's `format_type(oid, typmod)` text of a type: `character varying(20)`, `numeric(10,2)`,
 * `timestamp(3) with time zone`, `integer[]`. Typmods as PostgreSQL's atttypmod (catalog.ts).
 */
export function pgTypeName(t: SqlType | ResultType, typmod?: number): string {
  if (t === 'unknown') return 'unknown';
  if (isArrayType(t)) return `${pgTypeName(elementType(t), typmod)}[]`;
  const base = PG_TYPE_NAME[t as ScalarType];
  // format_type: a bpchar without length is `bpchar` (`character` alone means character(1)).
  if (typmod === undefined || typmod < 0) return t === 'char' ? 'bpchar' : base;
  switch (t) {
    case 'varchar':
    case 'char':
      return typmod >= 4 ? `${base}(${typmod - 4})` : base;
    case 'numeric': {
      const np = numericTypmodParts(typmod);
      return np ? `numeric(${np.precision},${np.scale})` : base;
    }
    case 'timestamp':
      return `timestamp(${typmod}) without time zone`;
    case 'timestamptz':
      return `timestamp(${typmod}) with time zone`;
    case 'time':
      return `time(${typmod}) without time zone`;
    case 'interval':
      return `interval${intervalTypmodText(typmod)}`;
    default:
      return base;
  }
}

/** Precision and scale of a `numeric(p, s)` typmod (PostgreSQL 15: s may be negative or exceed p), or undefined for none. */
function numericTypmodParts(typmod: number | undefined): { precision: number; scale: number } | undefined {
  if (typmod === undefined || typmod < 4) return undefined;
  const t = typmod - 4;
  return { precision: (t >> 16) & 0xffff, scale: ((t & 0x7ff) ^ 1024) - 1024 };
}

const INT_RE = /^[ \t\n\r\v\f]*[+-]?\d+[ \t\n\r\v\f]*$/;
const FLOAT_RE = /^[ \t\n\r\v\f]*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|infinity|inf|nan)[ \t\n\r\v\f]*$/i;
/** PostgreSQL's `string_to_uuid`: 32 hex digits, a hyphen allowed after any group of four, optionally in braces. */
const UUID_RE = /^(\{)?((?:[0-9a-f]{4}-?){7}[0-9a-f]{4})(\})?$/i;
const UUID_STORED_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const INT_RANGE: Record<'smallint' | 'integer', [number, number]> = {
  smallint: [-32768, 32767],
  integer: [-2147483648, 2147483647],
};
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/**
 * Where and under which session settings a conversion happens: the column for error messages
 * (`column "x" of table "t"`), and TimeZone / DateStyle / the transaction time for date/time input.
 */
export interface ValueContext extends DateTimeSettings {
  table?: string;
  column?: string;
  /** IntervalStyle: under 'sql_standard' a leading '-' negates every field of interval input. */
  intervalStyle?: IntervalStyle;
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

/** Text input out of range: PostgreSQL's `value "…" is out of range for type …` (int2in/int4in/int8in, float4in/float8in). */
function textOutOfRange(type: SqlType, s: string, ctx: ValueContext): DataError {
  const msg =
    type === 'real' || type === 'double'
      ? `"${s}" is out of range for type ${pgTypeName(type)}`
      : `value "${s}" is out of range for type ${pgTypeName(type)}`;
  return new DataError(SqlState.numericValueOutOfRange, `${msg}${where(ctx)}`);
}

/** Round half away from zero, as PostgreSQL does when assigning a fractional number to an integer column. */
function roundHalfAway(n: number): number {
  return n < 0 ? -Math.round(-n) : Math.round(n);
}

/** Text of a non-string literal for the text-like types. */
function literalText(lit: Exclude<Literal, null>): string {
  if (typeof lit === 'boolean') return lit ? 'true' : 'false';
  return String(lit);
}

/** Number of characters as PostgreSQL counts them in UTF-8: code points. */
function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The first `n` code points of `s`. */
function firstChars(s: string, n: number): string {
  let out = '';
  let i = 0;
  for (const c of s) {
    if (i++ >= n) break;
    out += c;
  }
  return out;
}

/**
 * Apply a `varchar(n)` / `char(n)` length (PostgreSQL's `varchar_input` / `bpchar_input`):
 * too long is 22001 unless only spaces are cut; explicit casts truncate silently (PostgreSQL
 * §8.3). char(n) pads with spaces to n.
 * @throws DataError 22001 "value too long for type character varying(n)".
 */
export function applyCharLength(
  s: string,
  type: 'varchar' | 'char',
  typmod: number | undefined,
  explicit = false,
  ctx: ValueContext = {},
): string {
  if (typmod === undefined || typmod < 4) return s;
  const n = typmod - 4;
  const len = charCount(s);
  if (len > n) {
    const head = firstChars(s, n);
    if (!explicit && !/^ *$/.test(s.slice(head.length))) {
      throw new DataError(SqlState.stringDataRightTruncation, `value too long for type ${pgTypeName(type, typmod)}${where(ctx)}`);
    }
    return head;
  }
  return type === 'char' ? s + ' '.repeat(n - len) : s;
}

/** Round µs to `p` fractional-second digits, half away from zero (`AdjustTimestampForTypmod`). */
function roundMicros(us: bigint, p: number): bigint {
  if (p >= 6 || p < 0) return us;
  const scale = 10n ** BigInt(6 - p);
  const half = scale / 2n;
  return us >= 0n ? ((us + half) / scale) * scale : -(((-us + half) / scale) * scale);
}

/**
 * Apply a column's typmod to a value already of `type` (assignment semantics unless `explicit`):
 * varchar/char length, numeric precision and scale, fractional-second precision of
 * timestamp(p), time(p) and interval(p). Arrays apply it to each element.
 * @throws DataError 22001, 22003 as PostgreSQL.
 */
export function applyTypmod(v: Value, type: SqlType, typmod: number | undefined, explicit = false, ctx: ValueContext = {}): Value {
  if (v === null || typmod === undefined || typmod < 0) return v;
  if (isArrayType(type)) {
    if (!Array.isArray(v)) return v;
    return v.map((e) => applyTypmod(e, elementType(type), typmod, explicit, ctx));
  }
  switch (type) {
    case 'varchar':
    case 'char':
      return typeof v === 'string' ? applyCharLength(v, type, typmod, explicit, ctx) : v;
    case 'numeric': {
      const np = numericTypmodParts(typmod);
      if (!np || typeof v !== 'string') return v;
      return formatNumeric(applyNumericTypmod(parseNumeric(v, where(ctx)), np.precision, np.scale, where(ctx)));
    }
    case 'timestamp':
    case 'timestamptz':
      if (typeof v !== 'bigint' || v === TS_INFINITY || v === TS_NEG_INFINITY) return v;
      return roundMicros(v, typmod);
    case 'time':
      return typeof v === 'number' ? Number(roundMicros(BigInt(v), typmod)) : v;
    case 'interval':
      return typeof v === 'string' ? makeInterval(applyIntervalTypmod(intervalParts(v), typmod)) : v;
    default:
      return v;
  }
}

/**
 * Convert a literal (SQL constant or text-format parameter) to the stored representation of
 * `type` (see the module comment), with assignment semantics: strings are parsed with
 * PostgreSQL's input function of the type (arrays with `array_in`, element by element), numbers
 * and booleans are assignment-cast as PostgreSQL would, and `typmod` (PostgreSQL's atttypmod of
 * the target column) is applied. Date/time input reads `ctx.timeZone`, `ctx.dateStyle` and
 * `ctx.nowUs`. Error texts are PostgreSQL 15's, with the column appended when `ctx` names one.
 * @throws DataError 22P02 (bad text, malformed array), 22003 (out of range, numeric field
 *   overflow), 22001 (too long for varchar(n)/char(n)), 22007/22008 (bad date/time), 22015
 *   (interval field out of range), 22023 (bad hex, unknown time zone), 22P05 (\u0000 in jsonb),
 *   42804 (incompatible literal type); UnsupportedError 0A000 (multidimensional arrays).
 */
export function coerceLiteral(lit: Literal, type: SqlType, ctx: ValueContext = {}, typmod?: number): Value {
  if (lit === null) return null;
  if (isArrayType(type)) {
    if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
    const elem = elementType(type);
    return parsePgArray(lit, where(ctx)).map((e) => coerceLiteral(e, elem, ctx, typmod));
  }
  const v = coerceScalar(lit, type as ScalarType, ctx, typmod);
  return typmod === undefined ? v : applyTypmod(v, type, typmod, false, ctx);
}

function coerceScalar(lit: Exclude<Literal, null>, type: ScalarType, ctx: ValueContext, typmod: number | undefined): Value {
  switch (type) {
    case 'smallint':
    case 'integer': {
      let n: number;
      if (typeof lit === 'number') n = Number.isInteger(lit) ? lit : roundHalfAway(lit);
      else if (typeof lit === 'bigint') n = Number(lit);
      else if (typeof lit === 'string') {
        if (!INT_RE.test(lit)) throw invalidText(type, lit, ctx);
        n = Number(lit.trim());
        const [lo, hi] = INT_RANGE[type];
        if (!(n >= lo && n <= hi)) throw textOutOfRange(type, lit, ctx);
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
        if (b < INT8_MIN || b > INT8_MAX) throw textOutOfRange(type, lit, ctx);
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
        if (Number.isFinite(n) || t.includes('inf') || t === 'nan') {
          // float8in/float4in refuse overflow and underflow of the text (a non-zero value that became 0).
          const f = type === 'real' ? Math.fround(n) : n;
          const underflow = f === 0 && /[1-9]/.test(t.split('e')[0] ?? '');
          if ((!Number.isFinite(f) && Number.isFinite(n)) || underflow) throw textOutOfRange(type, lit, ctx);
        } else if (!Number.isNaN(n)) throw textOutOfRange(type, lit, ctx);
      } else throw mismatch(type, lit, ctx);
      if (type === 'real') {
        const f = Math.fround(n);
        if (Number.isFinite(n) && !Number.isFinite(f)) throw outOfRange(type, ctx);
        return f;
      }
      return n;
    }
    case 'numeric': {
      if (typeof lit === 'boolean') throw mismatch(type, lit, ctx);
      if (typeof lit === 'bigint') return lit.toString();
      if (typeof lit === 'number') {
        if (Number.isNaN(lit)) return 'NaN';
        if (!Number.isFinite(lit)) return lit > 0 ? 'Infinity' : '-Infinity';
        return formatNumeric(parseNumeric(String(lit)));
      }
      return formatNumeric(parseNumeric(lit, where(ctx)));
    }
    case 'text':
    case 'varchar':
    case 'char':
      return literalText(lit);
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
      return parseTimestamp(lit, type, ctx, where(ctx));
    case 'date':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      return parseDate(lit, ctx, where(ctx));
    case 'time':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      return parseTime(lit, ctx, where(ctx));
    case 'interval':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      // The field range decides what a bare number means ('5' into `interval minute` is 5 minutes).
      return makeInterval(
        parseInterval(lit, where(ctx), ctx.intervalStyle, typmod === undefined || typmod < 0 ? undefined : (typmod >> 16) & 0x7fff),
      );
    case 'uuid': {
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      const m = UUID_RE.exec(lit);
      if (!m || (m[1] === undefined) !== (m[3] === undefined)) throw invalidText(type, lit, ctx);
      const h = (m[2] as string).replaceAll('-', '').toLowerCase();
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case 'json':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      parseJson(lit, false, where(ctx));
      return lit;
    case 'jsonb':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      return canonicalJsonb(lit, where(ctx));
    case 'bytea':
      if (typeof lit !== 'string') throw mismatch(type, lit, ctx);
      return parseBytea(lit, where(ctx));
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

/** Format µs since the epoch as PostgreSQL's ISO text (`YYYY-MM-DD HH:MM:SS[.ffffff]`, `+00` for timestamptz in UTC, BC suffix). */
export function formatTimestamp(us: bigint, withZone: boolean): string {
  return formatTimestampStyle(us, withZone ? 'UTC' : undefined, 'ISO');
}

/** Format days since the epoch as PostgreSQL's ISO date text. */
export function formatDate(days: number): string {
  return formatDateStyle(days, 'ISO');
}

/** C's `%.*g`: `p` significant digits, trailing zeros dropped, exponent form when exp < -4 or ≥ p. */
function formatG(n: number, p: number): string {
  const [mant, expText] = n.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= p) {
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    return `${m}e${exp < 0 ? '-' : '+'}${pad(Math.abs(exp))}`;
  }
  const fixed = n.toFixed(Math.max(0, p - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/**
 * PostgreSQL 12+ float output (`float8out`/`float4out`). With `extra_float_digits` > 0 (the
 * default 1): the shortest text that reads back to the same value, in exponent form when the
 * decimal exponent is < -4 or ≥ 15 (float8) / 6 (float4), with at least two exponent digits.
 * With ≤ 0: `%.{15|6 + extra_float_digits}g`.
 */
export function formatFloat(n: number, single = false, extraFloatDigits = 1): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (extraFloatDigits <= 0) {
    if (n === 0) return Object.is(n, -0) ? '-0' : '0';
    return formatG(n, Math.max(1, (single ? 6 : 15) + extraFloatDigits));
  }
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

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Session settings PostgreSQL's text output depends on (PostgreSQL 15 §20.11.2 "Locale and Formatting"). */
export interface FormatOptions {
  /** TimeZone for timestamptz output: IANA name or POSIX-style offset; default 'UTC'. */
  timeZone?: string;
  /** DateStyle, default 'ISO, MDY'. */
  dateStyle?: string;
  /** IntervalStyle, default 'postgres'. */
  intervalStyle?: IntervalStyle;
  /** extra_float_digits, default 1 (shortest exact output). */
  extraFloatDigits?: number;
}

/**
 * PostgreSQL's text output of a stored value for a result column of `type` (the type's output
 * function under the session settings in `opts`): timestamptz in the session time zone with its
 * offset, intervals in IntervalStyle, bytea as hex, arrays as `{a,"b c",NULL}`. A string where
 * another representation was expected (an already formatted value) passes through.
 */
export function formatValue(v: Value, type: ResultType, opts: FormatOptions = {}): string | null {
  if (v === null) return null;
  if (type !== 'unknown' && isArrayType(type)) {
    if (!Array.isArray(v)) return typeof v === 'string' ? v : String(v);
    const elem = elementType(type);
    return formatPgArray(v.map((e) => formatValue(e, elem, opts)));
  }
  if (Array.isArray(v)) return formatPgArray(v.map((e) => formatValue(e, type, opts)));
  if (v instanceof Uint8Array) return formatBytea(v);
  switch (type) {
    case 'boolean':
      return v === true || v === 't' ? 't' : v === false || v === 'f' ? 'f' : String(v);
    case 'real':
    case 'double':
      return typeof v === 'number' ? formatFloat(v, type === 'real', opts.extraFloatDigits ?? 1) : String(v);
    case 'timestamp':
      return typeof v === 'bigint' ? formatTimestampStyle(v, undefined, opts.dateStyle) : String(v);
    case 'timestamptz':
      return typeof v === 'bigint' ? formatTimestampStyle(v, opts.timeZone ?? 'UTC', opts.dateStyle) : String(v);
    case 'date':
      return typeof v === 'number' ? formatDateStyle(v, opts.dateStyle) : String(v);
    case 'time':
      return typeof v === 'number' ? formatTime(v) : String(v);
    case 'interval':
      if (typeof v !== 'string') return String(v);
      if ((opts.intervalStyle ?? 'postgres') === 'iso_8601') return v;
      return formatInterval(intervalParts(v), opts.intervalStyle ?? 'postgres');
    default:
      return String(v);
  }
}

/** True when `v` is a valid stored representation of `type` (used to re-check rows arriving from other services). */
export function isValueOfType(v: Value, type: SqlType): boolean {
  if (v === null) return true;
  if (isArrayType(type)) {
    if (!Array.isArray(v)) return false;
    const elem = elementType(type);
    return v.every((e) => e === null || (!Array.isArray(e) && isValueOfType(e, elem)));
  }
  switch (type as ScalarType) {
    case 'smallint':
      return typeof v === 'number' && Number.isInteger(v) && v >= -32768 && v <= 32767;
    case 'integer':
    case 'date':
      return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      return typeof v === 'bigint' && v >= INT8_MIN && v <= INT8_MAX;
    case 'real':
    case 'double':
      return typeof v === 'number';
    case 'time':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 86_400_000_000;
    case 'numeric':
      return typeof v === 'string' && isNumericText(v);
    case 'text':
    case 'varchar':
    case 'char':
    case 'json':
      return typeof v === 'string';
    case 'jsonb':
      return typeof v === 'string' && v.length > 0;
    case 'interval':
      return typeof v === 'string' && ISO_INTERVAL_RE.test(v);
    case 'uuid':
      return typeof v === 'string' && UUID_STORED_RE.test(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'bytea':
      return v instanceof Uint8Array;
  }
}

const ISO_INTERVAL_RE = /^P(?=.)(-?\d+Y)?(-?\d+M)?(-?\d+D)?(T(?=.)(-?\d+H)?(-?\d+M)?(-?\d+(\.\d{1,6})?S)?)?$/;

/**
 * Compare strings by Unicode code point, which is the byte order of their UTF-8 encodings:
 * PostgreSQL's C collation (the collation Stratum's clusters use).
 */
export function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) encode code points above U+FFFF: move them above U+E000–FFFF.
    if (x >= 0xd800) x += x < 0xe000 ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y < 0xe000 ? 0x2000 : -0x800;
    return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** `bpchar` comparison: trailing spaces do not count (PostgreSQL §8.3). */
function stripTrailingSpaces(s: string): string {
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === 0x20) e--;
  return s.slice(0, e);
}

function cmp<T extends number | bigint>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** float btree order (`float8_cmp_internal`): NaN equals NaN and sorts above every number; -0 = 0. */
function compareFloat(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return cmp(a, b);
}

/**
 * PostgreSQL's btree order of two stored values of `type` (the default operator class's
 * comparison; PostgreSQL 15 §9.2, §8.15.5 for arrays): numeric by value (NaN last), floats with
 * NaN above every number, text/varchar/uuid/json bytewise as the C collation, char ignoring
 * trailing spaces, bytea bytewise, interval by total span (a month as 30 days), jsonb by its btree
 * rules, arrays element by element (a NULL element above any value) then by length.
 * `json` has no btree order in PostgreSQL; here it compares bytewise so callers get a total order.
 * SQL NULL handling is the caller's; a null here sorts after every value (NULLS LAST), so the
 * order is total. Returns -1, 0 or 1.
 */
export function compareValues(a: Value, b: Value, type: SqlType | ResultType): number {
  if (a === null || b === null) return a === null ? (b === null ? 0 : 1) : -1;
  if (type !== 'unknown' && isArrayType(type)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return compareText(String(a), String(b));
    const elem = elementType(type);
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareValues(a[i] ?? null, b[i] ?? null, elem);
      if (c !== 0) return c;
    }
    return Math.sign(a.length - b.length);
  }
  switch (type as ScalarType | 'unknown') {
    case 'real':
    case 'double':
      return compareFloat(Number(a), Number(b));
    case 'smallint':
    case 'integer':
    case 'date':
    case 'time':
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      if (typeof a === 'bigint' && typeof b === 'bigint') return cmp(a, b);
      if (typeof a === 'number' && typeof b === 'number') return cmp(a, b);
      return cmp(BigInt(a as number | bigint), BigInt(b as number | bigint));
    case 'numeric':
      return compareNumeric(parseNumeric(String(a)), parseNumeric(String(b)));
    case 'boolean':
      return cmp(Number(a), Number(b));
    case 'char':
      return compareText(stripTrailingSpaces(String(a)), stripTrailingSpaces(String(b)));
    case 'interval':
      return compareInterval(intervalParts(String(a)), intervalParts(String(b)));
    case 'jsonb':
      return compareJsonb(parseJson(String(a), true), parseJson(String(b), true));
    case 'bytea':
      if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
      return compareText(String(a), String(b));
    default:
      return compareText(String(a), String(b));
  }
}

/** Equality under {@link compareValues} (`=` of the type's btree class; two nulls are equal, as IS NOT DISTINCT FROM). */
export function valuesEqual(a: Value, b: Value, type: SqlType | ResultType): boolean {
  return compareValues(a, b, type) === 0;
}
