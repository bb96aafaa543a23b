/**
 * DuckDB helpers shared by the OLAP shard and the router (which finishes scatter/gather
 * queries in its own DuckDB): result conversion, parameter binding, error mapping, and the
 * session settings that give DuckDB PostgreSQL semantics. A separate entry
 * (`@stratum/shared/duckdb`) so services without DuckDB do not load it.
 */
import type { SqlType } from '../types.ts';
import { duckdbType } from '../types.ts';
import { PG_MACROS_SQL } from './pg-macros.ts';

export * from './convert.ts';
export { PG_MACROS_SQL, pgErrorOf } from './pg-macros.ts';

/**
 * Column type of each SqlType in a raw load table filled through DuckDB's appender with stored
 * values (shared/src/types.ts): timestamps as µs BIGINT, dates as day INTEGER, uuids as text.
 */
export const RAW_SQL_TYPE: Record<SqlType, string> = {
  smallint: 'SMALLINT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  real: 'FLOAT',
  double: 'DOUBLE',
  text: 'VARCHAR',
  boolean: 'BOOLEAN',
  timestamp: 'BIGINT',
  timestamptz: 'BIGINT',
  date: 'INTEGER',
  uuid: 'VARCHAR',
};

/**
 * SELECT-list item turning raw column `q` (a quoted identifier, see {@link RAW_SQL_TYPE}) into
 * the declared DuckDB type (`DUCKDB_TYPE`), same name. Needs the session TimeZone to be UTC.
 */
export function typedFromRaw(q: string, type: SqlType): string {
  switch (type) {
    case 'timestamp':
      return `make_timestamp(${q}) AS ${q}`;
    case 'timestamptz':
      return `CAST(make_timestamp(${q}) AS TIMESTAMPTZ) AS ${q}`;
    case 'date':
      return `CAST(DATE '1970-01-01' + ${q} AS DATE) AS ${q}`;
    case 'uuid':
      return `CAST(${q} AS UUID) AS ${q}`;
    default:
      return `CAST(${q} AS ${duckdbType(type)}) AS ${q}`;
  }
}

/**
 * Settings that give a DuckDB connection PostgreSQL semantics (brief §6): UTC, NULLS LAST on
 * ASC / FIRST on DESC (PostgreSQL 15 §7.5 "Sorting Rows"), integer `/` truncates (§9.3).
 * Run once per connection. Also creates the macros the router's analytical rewrite calls (pg-macros.ts).
 */
export const PG_SEMANTICS_SQL = `SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;\n${PG_MACROS_SQL}`;
