/**
 * The reference analytical queries over the flights dataset (see load-flights.ts), their
 * reference answers computed by DuckDB directly over the original files, and helpers to
 * compare a PostgreSQL-protocol server's answers (Stratum's, or PostgreSQL's) with them.
 * Used by the end-to-end test ("after the load, analytical queries return exactly what
 * DuckDB returns on the original files", DESIGN §10 differential tests) and the benches.
 *
 * Answers are compared as canonical text cells ({@link Cell}):
 * - NULL → `null`;
 * - integers (int2/4/8, numeric without fraction, DuckDB BIGINT/HUGEINT) → exact decimal
 *   digits, so 64/128-bit values never pass through a JS double;
 * - other numbers (float4/8, numeric with a fraction, DuckDB DOUBLE/DECIMAL) → parsed to a
 *   JS number and printed by `String(number)` (shortest round-trip form), so DuckDB's
 *   DOUBLE and the server's float8 text are equal exactly when they are the same double;
 * - booleans → 'true' / 'false';
 * - timestamps → 'YYYY-MM-DD HH:MM:SS[.ffffff]' (PostgreSQL's ISO output and DuckDB's
 *   `toString()` agree), dates 'YYYY-MM-DD'; text as is.
 *
 * Semantic differences between PostgreSQL 15 and DuckDB in these queries (Stratum answers as
 * PostgreSQL does, the reference is plain DuckDB):
 * - `avg(bigint)` is `numeric` in PostgreSQL (rounded to ≥ 16 significant digits) and
 *   `DOUBLE` in DuckDB, so the two can differ in the last digit of a double
 *   (queries avg_delay_per_origin, per_day, per_hour, per_state carry `relTol` 1e-12).
 * - `extract(hour FROM …)` is `numeric` in PostgreSQL and BIGINT in DuckDB; `sum(bigint)`
 *   is `numeric` vs HUGEINT: both canonicalize to the same integer text.
 */
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import type pg from 'pg';
import { flightsDataPaths, sqlString } from './load-flights.ts';

/** One reference query: a stable name and its SQL (PostgreSQL- and DuckDB-compatible). */
export interface FlightsQuery {
  /** Stable identifier, snake_case (used as the key of answer maps). */
  name: string;
  /** The SQL text; every query has a total ORDER BY, so its answer is deterministic. */
  sql: string;
  /** Relative tolerance for numbers when comparing with the DuckDB reference (see the module comment). */
  relTol?: number;
}

/** A canonical answer cell (see the module comment); `null` is SQL NULL. */
export type Cell = string | null;

/**
 * Analytical queries over `flights` and `airports`, in PostgreSQL/DuckDB-compatible SQL,
 * each with a total ORDER BY.
 */
export const FLIGHTS_QUERIES: readonly FlightsQuery[] = [
  {
    name: 'flights_per_origin',
    sql: 'SELECT origin, count(*) AS flights FROM flights GROUP BY origin ORDER BY origin',
  },
  {
    // PostgreSQL: avg(bigint) is numeric (may differ from DuckDB's DOUBLE in the last digit).
    name: 'avg_delay_per_origin',
    sql: 'SELECT origin, avg(delay) AS avg_delay FROM flights GROUP BY origin ORDER BY origin',
    relTol: 1e-12,
  },
  {
    // PostgreSQL: avg(bigint) is numeric.
    name: 'per_day',
    sql:
      "SELECT date_trunc('day', date) AS day, count(*) AS flights, avg(delay) AS avg_delay " +
      "FROM flights GROUP BY date_trunc('day', date) ORDER BY day",
    relTol: 1e-12,
  },
  {
    // PostgreSQL: extract() is numeric, avg(bigint) is numeric.
    name: 'per_hour',
    sql:
      'SELECT extract(hour FROM date) AS hour, count(*) AS flights, avg(delay) AS avg_delay ' +
      'FROM flights GROUP BY extract(hour FROM date) ORDER BY hour',
    relTol: 1e-12,
  },
  {
    // PostgreSQL: avg(bigint) is numeric.
    name: 'per_state',
    sql:
      'SELECT a.state, count(*) AS flights, avg(f.delay) AS avg_delay ' +
      'FROM flights f JOIN airports a ON f.origin = a.iata GROUP BY a.state ORDER BY a.state',
    relTol: 1e-12,
  },
  {
    name: 'top_routes',
    sql:
      'SELECT origin, destination, count(*) AS flights FROM flights GROUP BY origin, destination ' +
      'ORDER BY flights DESC, origin, destination LIMIT 10',
  },
  {
    // float8 / bigint is a plain double division in both systems, so the share is exact.
    name: 'delayed_share_per_origin',
    sql:
      'SELECT origin, count(*) FILTER (WHERE delay > 15) AS delayed, count(*) AS flights, ' +
      'CAST(count(*) FILTER (WHERE delay > 15) AS double precision) / count(*) AS delayed_share ' +
      'FROM flights GROUP BY origin ORDER BY origin',
  },
  {
    name: 'distance_per_destination',
    sql:
      'SELECT destination, min(distance) AS min_distance, max(distance) AS max_distance, count(*) AS flights ' +
      'FROM flights GROUP BY destination ORDER BY destination',
  },
  {
    // bigint / integer truncates toward zero in PostgreSQL; DuckDB matches with integer_division=true.
    name: 'delay_hours_histogram',
    sql: 'SELECT delay / 60 AS delay_hours, count(*) AS flights FROM flights GROUP BY delay / 60 ORDER BY delay_hours',
  },
  {
    // A time-range predicate on the table's time column (the router prunes tiers/files by it).
    name: 'second_day_per_origin',
    sql:
      'SELECT origin, count(*) AS flights, max(delay) AS max_delay FROM flights ' +
      "WHERE date >= TIMESTAMP '2001-01-02 00:00:00' AND date < TIMESTAMP '2001-01-03 00:00:00' " +
      'GROUP BY origin ORDER BY origin',
  },
  {
    // PostgreSQL: sum(bigint) is numeric; DuckDB: HUGEINT. Same integer text.
    name: 'totals',
    sql:
      'SELECT count(*) AS flights, sum(delay) AS total_delay, sum(distance) AS total_distance, ' +
      'min(date) AS first_departure, max(date) AS last_departure, count(DISTINCT origin) AS origins, ' +
      'min(id) AS min_id, max(id) AS max_id FROM flights',
  },
];

/** PostgreSQL type OIDs whose text is an integer or a decimal/floating number. */
const PG_NUMERIC_OIDS = new Set([20, 21, 23, 26, 700, 701, 1700]);
const PG_BOOL_OID = 16;

/**
 * pg per-query type configuration that returns every column as the server's raw text
 * (no Date, number or bigint parsing). Pass as `types` with `rowMode: 'array'`, e.g.
 * `client.query({ text, rowMode: 'array', types: RAW_TEXT_TYPES })`, then
 * {@link normalizePgResult}.
 */
export const RAW_TEXT_TYPES: pg.CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Canonical text of a number given as text: exact digits for integers (any size),
 * else `String(Number(text))`. 'NaN', 'Infinity', '-Infinity' stay as they are.
 */
export function canonicalNumber(text: string): string {
  const t = text.trim();
  if (/^[-+]?\d+$/.test(t)) return BigInt(t).toString();
  if (t === 'NaN' || t === 'Infinity' || t === '-Infinity') return t;
  const n = Number(t);
  if (Number.isNaN(n)) return t; // not a number after all; compare as text
  // String(n) of an integral double below 1e21 is its exact digits, matching the integer branch.
  return String(n);
}

/** Canonical cell of a JS value of unknown origin (pg with default parsers, or DuckDB JS values). */
function canonicalJs(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return canonicalNumber(String(v));
  if (typeof v === 'string') return v;
  if (v instanceof Date)
    return v
      .toISOString()
      .replace('T', ' ')
      .replace(/\.000Z$|Z$/, '');
  return String(v);
}

/**
 * Canonical rows of a pg result obtained with `rowMode: 'array'` and {@link RAW_TEXT_TYPES}:
 * numeric/integer/float columns (by field type OID) → {@link canonicalNumber}, bool → 'true'/'false',
 * everything else (timestamps, text) as the server's text.
 */
export function normalizePgResult(result: pg.QueryResult<unknown[]>): Cell[][] {
  const oids = result.fields.map((f) => f.dataTypeID);
  return result.rows.map((row) =>
    row.map((v, i) => {
      if (v === null || v === undefined) return null;
      const oid = oids[i];
      if (typeof v === 'string') {
        if (oid !== undefined && PG_NUMERIC_OIDS.has(oid)) return canonicalNumber(v);
        if (oid === PG_BOOL_OID) return v === 't' ? 'true' : v === 'f' ? 'false' : v;
        return v;
      }
      return canonicalJs(v);
    }),
  );
}

/** Canonical cell of a DuckDB value (`@duckdb/node-api` `getRows()` output). */
export function normalizeDuckValue(v: DuckDBValue): Cell {
  if (v === null) return null;
  if (typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') {
    return canonicalJs(v);
  }
  const text = v.toString();
  // DECIMAL values print as decimal text; timestamps, dates, intervals and the rest as their SQL text.
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  if (ctor === 'DuckDBDecimalValue') return canonicalNumber(text);
  return text;
}

/** Canonical rows of DuckDB values (see {@link normalizeDuckValue}). */
export function normalizeDuckRows(rows: readonly (readonly DuckDBValue[])[]): Cell[][] {
  return rows.map((row) => row.map(normalizeDuckValue));
}

/**
 * Compare two canonical answers. Returns human-readable mismatch descriptions (at most
 * `maxReports`, default 10), empty when equal. With `relTol` > 0, two cells that both parse
 * as finite numbers are equal when |a − b| ≤ relTol × max(|a|, |b|) (for checking against
 * PostgreSQL's numeric avg; the Stratum test uses the default exact comparison).
 */
export function compareAnswers(
  expected: readonly (readonly Cell[])[],
  actual: readonly (readonly Cell[])[],
  opts: { relTol?: number; maxReports?: number } = {},
): string[] {
  const relTol = opts.relTol ?? 0;
  const maxReports = opts.maxReports ?? 10;
  const out: string[] = [];
  if (expected.length !== actual.length) out.push(`row count: expected ${expected.length}, got ${actual.length}`);
  const n = Math.min(expected.length, actual.length);
  for (let r = 0; r < n && out.length < maxReports; r++) {
    const e = expected[r] ?? [];
    const a = actual[r] ?? [];
    if (e.length !== a.length) {
      out.push(`row ${r}: expected ${e.length} columns, got ${a.length}`);
      continue;
    }
    for (let c = 0; c < e.length; c++) {
      const ev = e[c] ?? null;
      const av = a[c] ?? null;
      if (ev === av) continue;
      if (relTol > 0 && ev !== null && av !== null) {
        const x = Number(ev);
        const y = Number(av);
        if (Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) <= relTol * Math.max(Math.abs(x), Math.abs(y))) continue;
      }
      out.push(`row ${r} column ${c}: expected ${JSON.stringify(ev)}, got ${JSON.stringify(av)} (row ${JSON.stringify(a)})`);
      if (out.length >= maxReports) break;
    }
  }
  return out;
}

/**
 * Run every query on a pg connection (Stratum or PostgreSQL) with `rowMode: 'array'` and
 * {@link RAW_TEXT_TYPES}, returning canonical answers by query name.
 * @throws the pg error of the first failing query, with the query name prepended to the message.
 */
export async function pgAnswers(client: pg.ClientBase, queries: readonly FlightsQuery[] = FLIGHTS_QUERIES): Promise<Map<string, Cell[][]>> {
  const out = new Map<string, Cell[][]>();
  for (const q of queries) {
    try {
      const r = await client.query<unknown[]>({ text: q.sql, rowMode: 'array', types: RAW_TEXT_TYPES });
      out.set(q.name, normalizePgResult(r));
    } catch (e) {
      if (e instanceof Error) e.message = `query ${q.name} failed: ${e.message}\n  SQL: ${q.sql}`;
      throw e;
    }
  }
  return out;
}

/**
 * Session settings of the DuckDB reference connection, the same Stratum's OLAP tier uses:
 * UTC, PostgreSQL's NULL ordering, and `/` on integers truncating like PostgreSQL's.
 */
export const DUCKDB_REFERENCE_SETTINGS: readonly string[] = [
  "SET TimeZone='UTC'",
  "SET default_null_order='nulls_last_on_asc_first_on_desc'",
  'SET integer_division=true',
];

/**
 * Create `flights` (the first `rows` rows of flights-3m.parquet in file order, with
 * `id` = 0-based file row number; all rows when `rows` is undefined) and `airports`
 * (airports.csv read as text, latitude/longitude cast to DOUBLE: the Stratum table's
 * types) as tables in a DuckDB connection.
 */
export async function createReferenceTables(duck: DuckDBConnection, rows: number | undefined): Promise<void> {
  const paths = flightsDataPaths();
  const where = rows === undefined ? '' : ` WHERE file_row_number < ${Math.max(0, Math.floor(rows))}`;
  await duck.run(
    'CREATE TABLE flights AS SELECT CAST(file_row_number AS BIGINT) AS id, date, delay, distance, origin, destination ' +
      `FROM read_parquet(${sqlString(paths.flights)}, file_row_number=true)${where}`,
  );
  await duck.run(
    'CREATE TABLE airports AS SELECT iata, name, city, state, country, ' +
      'CAST(latitude AS DOUBLE) AS latitude, CAST(longitude AS DOUBLE) AS longitude ' +
      `FROM read_csv(${sqlString(paths.airports)}, header=true, all_varchar=true)`,
  );
}

/**
 * Reference answers: every query of `queries` (default {@link FLIGHTS_QUERIES}) computed by
 * DuckDB (in memory, {@link DUCKDB_REFERENCE_SETTINGS}) directly over the original files,
 * restricted to the first `rows` flights (all when undefined). Returns canonical rows by
 * query name; compare with {@link pgAnswers} output using {@link compareAnswers}.
 * @throws Error naming the query when DuckDB rejects one.
 */
export async function referenceAnswers(
  rows: number | undefined,
  queries: readonly FlightsQuery[] = FLIGHTS_QUERIES,
): Promise<Map<string, Cell[][]>> {
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  try {
    for (const s of DUCKDB_REFERENCE_SETTINGS) await duck.run(s);
    await createReferenceTables(duck, rows);
    const out = new Map<string, Cell[][]>();
    for (const q of queries) {
      try {
        const reader = await duck.runAndReadAll(q.sql);
        out.set(q.name, normalizeDuckRows(reader.getRows()));
      } catch (e) {
        throw new Error(`DuckDB reference query ${q.name} failed: ${e instanceof Error ? e.message : String(e)}\n  SQL: ${q.sql}`, {
          cause: e,
        });
      }
    }
    return out;
  } finally {
    duck.closeSync();
    instance.closeSync();
  }
}
