/**
 * DuckDB helpers shared by the OLAP shard and the router (which finishes scatter/gather
 * queries in its own DuckDB): result conversion, parameter binding, error mapping, and the
 * session settings that give DuckDB PostgreSQL semantics. A separate entry
 * (`@stratum/shared/duckdb`) so services without DuckDB do not load it.
 */
import { PG_TYPE_OID, type ScalarType, type SqlType } from '../types.ts';
import { columnCodec } from './columns.ts';
import { PG_MACROS_SQL } from './pg-macros.ts';

export * from './columns.ts';
export * from './convert.ts';
export * from './interrupt.ts';
export { PG_MACROS_SQL, PG_NUMERIC_FIELD, pgErrorOf } from './pg-macros.ts';
export * from './workers.ts';

/**
 * Column type of each SqlType in a raw load table filled through DuckDB's appender with stored
 * values (shared/src/types.ts): timestamps as µs BIGINT, dates as day INTEGER, uuids as text
 * (see {@link columnCodec} for every type, with typmods).
 */
export const RAW_SQL_TYPE = Object.fromEntries(
  Object.keys(PG_TYPE_OID)
    .filter((t) => t !== 'unknown')
    .flatMap((t) => [t, `${t}[]`])
    .map((t) => [t, columnCodec(t as SqlType).rawSql]),
) as Record<SqlType, string>;

/**
 * SELECT-list item turning raw column `q` (a quoted identifier, see {@link RAW_SQL_TYPE}) into
 * the DuckDB type queries see (`columnCodec(type, typmod).viewSql`), same name. Needs the
 * session TimeZone to be UTC.
 */
export function typedFromRaw(q: string, type: SqlType, typmod?: number): string {
  const c = columnCodec(type, typmod);
  return `${c.toView(c.fromRaw(q))} AS ${q}`;
}

/** Scalar types, for callers iterating over every type. */
export const SCALAR_TYPES = Object.keys(PG_TYPE_OID).filter((t) => t !== 'unknown') as ScalarType[];

/**
 * Settings that give a DuckDB connection PostgreSQL semantics (brief §6): UTC, NULLS LAST on
 * ASC / FIRST on DESC (PostgreSQL 15 §7.5 "Sorting Rows"), integer `/` truncates (§9.3).
 * Run once per connection. Also creates the macros the router's analytical rewrite calls (pg-macros.ts).
 */
export const PG_SEMANTICS_SQL = `SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;\n${PG_MACROS_SQL}`;
