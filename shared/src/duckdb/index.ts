/**
 * DuckDB helpers shared by the OLAP shard and the router (which finishes scatter/gather
 * queries in its own DuckDB): result conversion, parameter binding, error mapping, and the
 * session settings that give DuckDB PostgreSQL semantics. A separate entry
 * (`@stratum/shared/duckdb`) so services without DuckDB do not load it.
 */
export * from './convert.ts';

/**
 * Settings that give a DuckDB connection PostgreSQL semantics (brief §6): UTC, NULLS LAST on
 * ASC / FIRST on DESC (PostgreSQL 15 §7.5 "Sorting Rows"), integer `/` truncates (§9.3).
 * Run once per connection.
 */
export const PG_SEMANTICS_SQL = `SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;`;
