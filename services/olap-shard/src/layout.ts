/**
 * Where a version goes in a shard's files (internal; docs/architecture.md "OLAP shards"): the
 * one place that decides a table's time partitions and the order of rows in a file, for the
 * push (shard.ts) and for compaction (compaction.ts) alike.
 *
 * - A version's *time* is its table's `time_column` (timestamp, timestamptz or date; NULL or
 *   ±infinity fall back to the commit time `_ts`), else its commit time.
 * - Its *partition* is that time truncated to the table's granularity (`tables.<t>.partition`:
 *   `day`, `month` or `none`), in UTC. A push writes one file per partition it touches;
 *   compaction merges small files across partitions (compaction.ts).
 * - Rows of a file are sorted by (time, primary key, `_ts`, `_engine`, `_version`), so row-group
 *   statistics of the time column stay as sharp as the partitions and a one-day query reads
 *   that day's row groups of a month's or a whole table's file.
 */
import { formatDate, type SqlType, type TableInfo } from '@stratum/shared';
import { ident } from './sql.ts';

/** Time partition granularity of a table (config `tables.<t>.partition`). */
export type PartitionGranularity = 'day' | 'month' | 'none';

/**
 * Granularity used when a table's config names none. Chosen from `services/olap-shard/bench/
 * flights-queries.ts` (docs/architecture.md "OLAP shards"): a month file sorted by time prunes a
 * one-day query by row group as well as a day file does, and a bulk load spanning months
 * writes one file per month per push instead of one per day.
 */
export const DEFAULT_PARTITION: PartitionGranularity = 'month';

const TIME_TYPES = new Set<SqlType>(['timestamp', 'timestamptz', 'date']);

/** The table's time column when it is usable for partitions (a timestamp, timestamptz or date column). */
function timeColumnOf(info: TableInfo): TableInfo['columns'][number] | undefined {
  const tc = info.options.timeColumn;
  if (tc === undefined) return undefined;
  const i = info.columnIndex.get(tc);
  const col = i === undefined ? undefined : info.columns[i];
  return col && TIME_TYPES.has(col.type) ? col : undefined;
}

/** A `time_column` that is set but is not a timestamp, timestamptz or date column (the shard logs it once and uses commit time). */
export function unusableTimeColumn(info: TableInfo): string | undefined {
  const tc = info.options.timeColumn;
  return tc !== undefined && !timeColumnOf(info) ? tc : undefined;
}

/**
 * SQL (DuckDB, over a relation holding the table's fields and `_ts`) for a version's time as a
 * TIMESTAMP: the time column where it is finite, else the commit time.
 */
export function timeSql(info: TableInfo): string {
  const col = timeColumnOf(info);
  if (!col) return 'CAST("_ts" AS TIMESTAMP)';
  const f = ident(col.field ?? col.name);
  return `coalesce(CASE WHEN isfinite(${f}) THEN CAST(${f} AS TIMESTAMP) END, CAST("_ts" AS TIMESTAMP))`;
}

/** The table's partition granularity (its option, else {@link DEFAULT_PARTITION}). */
export function granularityOf(info: TableInfo): PartitionGranularity {
  return info.options.partition ?? DEFAULT_PARTITION;
}

/**
 * SQL for a version's partition number (BIGINT): the UTC day number (days since 1970-01-01) of
 * the first day of its day or month; 0 for `none`. Read back with {@link partitionLabel}.
 */
export function partitionSql(info: TableInfo): string {
  const g = granularityOf(info);
  if (g === 'none') return 'CAST(0 AS BIGINT)';
  const t = timeSql(info);
  const first = g === 'day' ? `CAST(${t} AS DATE)` : `CAST(date_trunc('month', ${t}) AS DATE)`;
  return `CAST(${first} - DATE '1970-01-01' AS BIGINT)`;
}

/**
 * The label (and directory name, Hive style) of partition number `n` of {@link partitionSql}:
 * `day=YYYY-MM-DD`, `month=YYYY-MM` (a `-BC` suffix for years before 1), or `all`.
 */
export function partitionLabel(g: PartitionGranularity, n: number): string {
  if (g === 'none') return 'all';
  const d = formatDate(n);
  const bc = d.endsWith(' BC');
  const ymd = bc ? d.slice(0, -3) : d;
  return `${g}=${g === 'day' ? ymd : ymd.slice(0, 7)}${bc ? '-BC' : ''}`;
}

/** ORDER BY list of a file's rows: time, then storage key, then LWW order (`_ts`, `_engine`, the version by its halves, sql.ts `FILE_LATEST_ORDER`). Over rows with the halves: part-file stages and `filesSql`. */
export function fileOrderSql(info: TableInfo): string {
  return [timeSql(info), ...info.primaryKey.map(ident), '"_ts"', '"_engine"', '"_version_hi"', '"_version_lo"'].join(', ');
}

/**
 * Where a file starts in time (ms since epoch), for ordering files: the minimum of the time
 * column from its zone map, else (no usable time column, or a file written before the column
 * existed) its first commit time.
 */
export function fileTimeStart(info: TableInfo, f: { tsMin: number; columns: Record<string, { min: unknown }> }): number {
  const col = timeColumnOf(info);
  const z = col ? f.columns[col.field ?? col.name]?.min : undefined;
  if (z === undefined || z === null) return f.tsMin;
  // Zone values (manifest.ts): timestamps as decimal µs strings, dates as day numbers.
  const ms = col?.type === 'date' ? Number(z) * 86_400_000 : Number(BigInt(String(z)) / 1000n);
  return Number.isFinite(ms) ? ms : f.tsMin;
}
