/**
 * How a column of each {@link SqlType} lives in DuckDB (the OLAP shard's Parquet files, delta
 * tables and views; the router's gather tables). Three forms per type:
 *
 * - **raw**: what DuckDB's appender takes in data chunks, filled from stored values
 *   (shared/src/types.ts) without per-value parsing in SQL: timestamps as µs BIGINT, dates as day
 *   INTEGER, uuids and numerics as text, times as TIME, intervals as a struct of their three
 *   parts, bytea as BLOB, arrays as LISTs of their element's raw form.
 * - **file**: the column in Parquet files and delta tables. As the view form, except `interval`:
 *   Parquet's INTERVAL holds milliseconds and no negative parts, so an interval is kept as
 *   `STRUCT(months INTEGER, days INTEGER, micros BIGINT)`, exactly PostgreSQL's three fields.
 * - **view**: the DuckDB type queries see:
 *
 * | SqlType | view type | notes |
 * |---|---|---|
 * | numeric(p,s), p ≤ 38 | DECIMAL(p,s) | exact; prints with scale s, as PostgreSQL prints numeric(p,s) |
 * | numeric, numeric(p,s) p > 38 | VARCHAR (PostgreSQL's text of the value) | exact at any precision, prints with the value's own scale; see {@link NUMERIC_TEXT_NOTE} |
 * | text, varchar(n), char(n) | VARCHAR | char values are stored padded to n, as PostgreSQL outputs them |
 * | time | TIME | µs; 24:00:00 allowed, as in PostgreSQL |
 * | interval | INTERVAL | months, days and µs kept apart (no normalisation), as PostgreSQL |
 * | json, jsonb | JSON | the stored text as is (jsonb: PostgreSQL's canonical text) |
 * | bytea | BLOB | |
 * | T[] | view type of T, as a LIST | one dimension; NULL elements allowed |
 *
 * {@link NUMERIC_TEXT_NOTE} explains the analytic cost of unconstrained numeric.
 */
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  DOUBLE,
  DuckDBBlobValue,
  type DuckDBConnection,
  DuckDBListValue,
  DuckDBStructValue,
  DuckDBTimeValue,
  type DuckDBType,
  type DuckDBValue,
  FLOAT,
  INTEGER,
  LIST,
  SMALLINT,
  STRUCT,
  TIME,
  VARCHAR,
} from '@duckdb/node-api';
import { numericPrecision } from '../catalog.ts';
import { DataError, SqlState } from '../errors.ts';
import { elementType, type IntervalParts, intervalParts, isArrayType, type ScalarType, type SqlType, type Value } from '../types.ts';

/** The parts of stored interval text (types.ts `intervalParts`), or undefined when it is not interval text. */
function parseInterval(s: string): IntervalParts | undefined {
  try {
    return intervalParts(s);
  } catch {
    return undefined;
  }
}

/**
 * Unconstrained `numeric` (and `numeric(p,s)` with p > 38, beyond DuckDB's DECIMAL) is kept as
 * VARCHAR holding PostgreSQL's text of the value, in Parquet and in the views. That is the only
 * DuckDB type that stays exact at any precision and keeps each value's own scale ('1.50' stays
 * '1.50', as PostgreSQL prints it). The cost: DuckDB sees text, so the router's analytical rewrite
 * (services/router/src/plan/rewrite/) computes on `CAST(x AS DECIMAL(38,10))` (exact up
 * to 28 integer and 10 fraction digits), compares and orders by `pg_nkey(x)` (a text whose order is
 * numeric order, shared/src/duckdb/pg-macros.ts) and marks output columns numeric; such columns get
 * no zone maps (text order is not numeric order), so predicates on them never skip files. Declare
 * `numeric(p,s)` for analytics.
 */
export const NUMERIC_TEXT_NOTE = 'unconstrained numeric is VARCHAR in DuckDB';

/** How one column type is loaded, stored and shown in DuckDB (see the module comment). */
export interface ColumnCodec {
  /** Raw type of a load table column (appender data chunks). */
  readonly raw: DuckDBType;
  /** SQL text of {@link raw}. */
  readonly rawSql: string;
  /** The raw value of a stored value, or undefined when `v` is not a valid value of the type. */
  toRaw(v: Exclude<Value, null>): DuckDBValue | undefined;
  /** DuckDB type in Parquet files and delta tables. */
  readonly fileSql: string;
  /** SQL turning raw expression `q` into the file form. */
  fromRaw(q: string): string;
  /** DuckDB type queries see. */
  readonly viewSql: string;
  /** SQL turning file-form expression `q` into the view form (`q` itself when they are the same). */
  toView(q: string): string;
  /** SQL literal of a stored value in the file form (NULL included), for missing values of added columns. */
  literal(v: Value): string;
  /**
   * DuckDB's order of the view form is the order of {@link zoneComparable} values, so zone maps
   * (min/max) and range predicates may prune on it.
   */
  readonly ordered: boolean;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const US_PER_DAY = 86_400_000_000;

/** Canonical 8-4-4-4-12 hex UUID text (either case); a char loop, ~10× cheaper than a regex per row. */
export function isUuidText(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/** PostgreSQL numeric output text: digits with an optional fraction, or NaN / ±Infinity. */
const NUMERIC_TEXT_RE = /^-?\d+(\.\d+)?$/;
const NUMERIC_SPECIAL = new Set(['NaN', 'Infinity', '-Infinity']);

/** Quote a string literal for DuckDB. */
function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function asBigint(v: Value): bigint | undefined {
  if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    return b >= INT64_MIN && b <= INT64_MAX ? b : undefined;
  }
  return undefined;
}

function floatLiteral(n: number, type: string): string {
  if (Number.isNaN(n)) return `CAST('NaN' AS ${type})`;
  if (!Number.isFinite(n)) return `CAST('${n > 0 ? 'Infinity' : '-Infinity'}' AS ${type})`;
  return `CAST(${lit(String(n))} AS ${type})`;
}

/** `HH:MM:SS.ffffff` of µs since midnight (0 … 24:00:00). */
function timeText(us: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const s = Math.floor(us / 1_000_000);
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}.${p(us % 1_000_000, 6)}`;
}

const INTERVAL_FILE = 'STRUCT(months INTEGER, days INTEGER, micros BIGINT)';
const INTERVAL_RAW = STRUCT({ months: INTEGER, days: INTEGER, micros: BIGINT });

/** A codec whose raw, file and view forms are all `sql`. */
function plain(
  sql: string,
  raw: DuckDBType,
  toRaw: ColumnCodec['toRaw'],
  literal: (v: Exclude<Value, null>) => string,
  ordered: boolean,
): ColumnCodec {
  return {
    raw,
    rawSql: sql,
    toRaw,
    fileSql: sql,
    fromRaw: (q) => q,
    viewSql: sql,
    toView: (q) => q,
    literal: (v) => (v === null ? `CAST(NULL AS ${sql})` : literal(v)),
    ordered,
  };
}

function textCodec(): ColumnCodec {
  return plain(
    'VARCHAR',
    VARCHAR,
    (v) => (typeof v === 'string' ? v : undefined),
    (v) => lit(String(v)),
    true,
  );
}

function scalarCodec(t: ScalarType, typmod: number | undefined): ColumnCodec {
  switch (t) {
    case 'smallint':
    case 'integer': {
      const lim = t === 'smallint' ? 32768 : 2147483648;
      const sql = t === 'smallint' ? 'SMALLINT' : 'INTEGER';
      return plain(
        sql,
        t === 'smallint' ? SMALLINT : INTEGER,
        (v) => {
          const n = typeof v === 'bigint' ? Number(v) : v;
          return typeof n === 'number' && Number.isInteger(n) && n >= -lim && n < lim ? n : undefined;
        },
        (v) => `CAST(${String(v)} AS ${sql})`,
        true,
      );
    }
    case 'bigint':
      return plain('BIGINT', BIGINT, asBigint, (v) => `CAST(${lit(String(v))} AS BIGINT)`, true);
    case 'real':
    case 'double': {
      const sql = t === 'real' ? 'FLOAT' : 'DOUBLE';
      return plain(
        sql,
        t === 'real' ? FLOAT : DOUBLE,
        (v) => (typeof v === 'number' ? v : undefined),
        (v) => floatLiteral(Number(v), sql),
        true,
      );
    }
    case 'text':
    case 'varchar':
    case 'char':
      return textCodec();
    case 'boolean':
      return plain(
        'BOOLEAN',
        BOOLEAN,
        (v) => (typeof v === 'boolean' ? v : undefined),
        (v) => (v ? 'true' : 'false'),
        true,
      );
    case 'timestamp':
    case 'timestamptz': {
      const sql = t === 'timestamp' ? 'TIMESTAMP' : 'TIMESTAMPTZ';
      // make_timestamp(µs) is TIMESTAMP; the cast to TIMESTAMPTZ needs the session TimeZone UTC.
      // PostgreSQL's ±infinity sentinels (int64 max/min, types.ts) become DuckDB's infinities.
      const ts = (q: string) =>
        `CASE WHEN ${q} = ${INT64_MAX} THEN CAST('infinity' AS TIMESTAMP) WHEN ${q} = ${INT64_MIN} THEN CAST('-infinity' AS TIMESTAMP) ELSE make_timestamp(${q}) END`;
      const conv = (q: string) => (t === 'timestamp' ? ts(q) : `CAST(${ts(q)} AS TIMESTAMPTZ)`);
      return {
        raw: BIGINT,
        rawSql: 'BIGINT',
        toRaw: asBigint,
        fileSql: sql,
        fromRaw: conv,
        viewSql: sql,
        toView: (q) => q,
        literal: (v) => (v === null ? `CAST(NULL AS ${sql})` : conv(`CAST(${lit(String(v))} AS BIGINT)`)),
        ordered: true,
      };
    }
    case 'date': {
      // PostgreSQL's ±infinity sentinels (int32 max/min, types.ts) become DuckDB's infinities.
      const conv = (q: string) =>
        `CASE WHEN ${q} = 2147483647 THEN CAST('infinity' AS DATE) WHEN ${q} = -2147483648 THEN CAST('-infinity' AS DATE) ELSE CAST(DATE '1970-01-01' + ${q} AS DATE) END`;
      return {
        raw: INTEGER,
        rawSql: 'INTEGER',
        toRaw: (v) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined),
        fileSql: 'DATE',
        fromRaw: conv,
        viewSql: 'DATE',
        toView: (q) => q,
        literal: (v) => (v === null ? 'CAST(NULL AS DATE)' : conv(`CAST(${String(v)} AS INTEGER)`)),
        ordered: true,
      };
    }
    case 'time':
      return plain(
        'TIME',
        TIME,
        (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= US_PER_DAY ? new DuckDBTimeValue(BigInt(v)) : undefined),
        (v) => `TIME '${timeText(Number(v))}'`,
        true,
      );
    case 'uuid': {
      const conv = (q: string) => `CAST(${q} AS UUID)`;
      return {
        raw: VARCHAR,
        rawSql: 'VARCHAR',
        toRaw: (v) => (typeof v === 'string' && isUuidText(v) ? v : undefined),
        fileSql: 'UUID',
        fromRaw: conv,
        viewSql: 'UUID',
        toView: (q) => q,
        literal: (v) => (v === null ? 'CAST(NULL AS UUID)' : conv(lit(String(v)))),
        ordered: true,
      };
    }
    case 'numeric': {
      const pr = numericPrecision(typmod);
      if (!pr || pr.precision > 38) {
        return plain(
          'VARCHAR',
          VARCHAR,
          (v) => {
            const s =
              typeof v === 'string' ? v : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)) ? String(v) : undefined;
            return s !== undefined && (NUMERIC_TEXT_RE.test(s) || NUMERIC_SPECIAL.has(s)) ? s : undefined;
          },
          (v) => lit(String(v)),
          false,
        );
      }
      const sql = `DECIMAL(${pr.precision},${pr.scale})`;
      const conv = (q: string) => `CAST(${q} AS ${sql})`;
      return {
        raw: VARCHAR,
        rawSql: 'VARCHAR',
        // DECIMAL holds no NaN: such a value becomes NULL (see DECIMAL_NAN_NOTE in the shard's README).
        toRaw: (v) => {
          const s =
            typeof v === 'string' ? v : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)) ? String(v) : undefined;
          if (s === undefined) return undefined;
          if (NUMERIC_SPECIAL.has(s)) return null;
          return NUMERIC_TEXT_RE.test(s) ? s : undefined;
        },
        fileSql: sql,
        fromRaw: conv,
        viewSql: sql,
        toView: (q) => q,
        literal: (v) => (v === null || (typeof v === 'string' && NUMERIC_SPECIAL.has(v)) ? `CAST(NULL AS ${sql})` : conv(lit(String(v)))),
        ordered: true,
      };
    }
    case 'interval': {
      const view = (q: string) => `(to_months(${q}.months) + to_days(${q}.days) + to_microseconds(${q}.micros))`;
      return {
        raw: INTERVAL_RAW,
        rawSql: INTERVAL_FILE,
        toRaw: (v) => {
          if (typeof v !== 'string') return undefined;
          const p = parseInterval(v);
          return p ? new DuckDBStructValue({ months: p.months, days: p.days, micros: p.micros }) : undefined;
        },
        fileSql: INTERVAL_FILE,
        fromRaw: (q) => q,
        viewSql: 'INTERVAL',
        toView: view,
        literal: (v) => {
          const p = typeof v === 'string' ? parseInterval(v) : undefined;
          if (!p) return `CAST(NULL AS ${INTERVAL_FILE})`;
          return `CAST({'months': ${p.months}, 'days': ${p.days}, 'micros': ${p.micros}} AS ${INTERVAL_FILE})`;
        },
        ordered: false,
      };
    }
    case 'json':
    case 'jsonb': {
      const conv = (q: string) => `CAST(${q} AS JSON)`;
      return {
        raw: VARCHAR,
        rawSql: 'VARCHAR',
        toRaw: (v) => (typeof v === 'string' ? v : undefined),
        fileSql: 'JSON',
        fromRaw: conv,
        viewSql: 'JSON',
        toView: (q) => q,
        literal: (v) => (v === null ? 'CAST(NULL AS JSON)' : conv(lit(String(v)))),
        ordered: false,
      };
    }
    case 'bytea':
      return plain(
        'BLOB',
        BLOB,
        (v) => (v instanceof Uint8Array ? new DuckDBBlobValue(v) : undefined),
        (v) => `from_hex('${Buffer.from(v as Uint8Array).toString('hex')}')`,
        false,
      );
  }
}

/** Lambda parameter of element conversions (a name no column has: user names cannot start with `stratum_`... columns may, so it is odd on purpose). */
const LAMBDA_ARG = 'stratum_elem__';

function arrayCodec(t: SqlType, typmod: number | undefined): ColumnCodec {
  const e = scalarCodec(elementType(t), typmod);
  const fileSql = `${e.fileSql}[]`;
  const viewSql = `${e.viewSql}[]`;
  const fromRawIdentity = e.fromRaw(LAMBDA_ARG) === LAMBDA_ARG;
  const toViewIdentity = e.toView(LAMBDA_ARG) === LAMBDA_ARG;
  return {
    raw: LIST(e.raw),
    rawSql: `${e.rawSql}[]`,
    toRaw: (v) => {
      if (!Array.isArray(v)) return undefined;
      const items: DuckDBValue[] = [];
      for (const x of v) {
        if (x === null) {
          items.push(null);
          continue;
        }
        const r = e.toRaw(x);
        if (r === undefined) return undefined;
        items.push(r);
      }
      return new DuckDBListValue(items);
    },
    fileSql,
    fromRaw: (q) => (fromRawIdentity ? q : `list_transform(${q}, lambda ${LAMBDA_ARG}: ${e.fromRaw(LAMBDA_ARG)})`),
    viewSql,
    toView: (q) => (toViewIdentity ? q : `list_transform(${q}, lambda ${LAMBDA_ARG}: ${e.toView(LAMBDA_ARG)})`),
    literal: (v) => {
      if (!Array.isArray(v)) return `CAST(NULL AS ${fileSql})`;
      return `CAST([${v.map((x) => e.literal(x)).join(', ')}] AS ${fileSql})`;
    },
    ordered: false,
  };
}

const cache = new Map<string, ColumnCodec>();

/** The codec of a column of type `t` (typmod: numeric precision and scale; see {@link ColumnCodec}). */
export function columnCodec(t: SqlType, typmod?: number): ColumnCodec {
  const key = `${t}/${typmod ?? ''}`;
  let c = cache.get(key);
  if (!c) {
    c = isArrayType(t) ? arrayCodec(t, typmod) : scalarCodec(t as ScalarType, typmod);
    cache.set(key, c);
  }
  return c;
}

/** DuckDB type queries see for a column of type `t` (see the module comment). */
export function viewType(t: SqlType, typmod?: number): string {
  return columnCodec(t, typmod).viewSql;
}

/**
 * A stored value in the form zone maps compare (`compareValues` of the OLAP shard): DECIMAL
 * numerics (every value of a column has the column's scale) as unscaled bigints; other
 * ordered types as they are; undefined for types without an order that zone maps may use.
 */
export function zoneComparable(v: Value, t: SqlType, typmod?: number): Value | undefined {
  if (v === null) return null;
  if (!columnCodec(t, typmod).ordered) return undefined;
  if (t !== 'numeric') return v;
  const pr = numericPrecision(typmod);
  if (!pr || typeof v !== 'string') return undefined;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(v);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  if (frac.length > pr.scale) return undefined;
  const digits = BigInt(`${m[2]}${frac.padEnd(pr.scale, '0')}`);
  return m[1] === '-' ? -digits : digits;
}

/** A column of {@link loadValues}: name and type (typmod: numeric precision and scale). */
export interface ValueColumn {
  name: string;
  type: SqlType;
  typmod?: number;
}

/**
 * Create table `name` (in `schema`, default the connection's temp schema) holding `rows` of
 * stored values (shared/src/types.ts), each column in its view type (`columnCodec().viewSql`):
 * appended raw through DuckDB's appender, then converted in SQL. For the router's gather step
 * and tests. Needs the session TimeZone to be UTC.
 * @throws DataError 22P02 naming the column and row when a value is not of its column's type.
 */
export async function loadValues(
  conn: DuckDBConnection,
  name: string,
  cols: readonly ValueColumn[],
  rows: readonly (readonly Value[])[],
  schema = 'temp',
): Promise<void> {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  const codecs = cols.map((c) => columnCodec(c.type, c.typmod));
  const raw = `${name}__stratum_raw`;
  const temp = schema === 'temp';
  const qualified = (n: string) => (temp ? q(n) : `${q(schema)}.${q(n)}`);
  await conn.run(
    `CREATE ${temp ? 'TEMP ' : ''}TABLE ${qualified(raw)} (${cols.map((c, i) => `${q(c.name)} ${(codecs[i] as ColumnCodec).rawSql}`).join(', ')})`,
  );
  try {
    const app = await conn.createAppender(raw, temp ? 'main' : schema, temp ? 'temp' : null);
    try {
      rows.forEach((row, r) => {
        codecs.forEach((codec, i) => {
          const v = row[i] ?? null;
          const x = v === null ? null : codec.toRaw(v);
          if (x === undefined) {
            throw new DataError(
              SqlState.invalidTextRepresentation,
              `value of row ${r + 1} is not a valid ${cols[i]?.type} for column "${cols[i]?.name}"`,
            );
          }
          app.appendValue(x, codec.raw);
        });
        app.endRow();
      });
      app.flushSync();
    } finally {
      app.closeSync();
    }
    const select = cols.map((c, i) => {
      const codec = codecs[i] as ColumnCodec;
      return `${codec.toView(codec.fromRaw(q(c.name)))} AS ${q(c.name)}`;
    });
    await conn.run(`CREATE ${temp ? 'TEMP ' : ''}TABLE ${qualified(name)} AS SELECT ${select.join(', ')} FROM ${qualified(raw)}`);
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${qualified(raw)}`);
  }
}
