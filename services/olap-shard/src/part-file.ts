/**
 * Writing one Parquet part file and its manifest entry (internal). Pushes and compaction both
 * go through here, so every file of a shard has the same encoding (DESIGN §5: ZSTD, row-group
 * statistics, `_ts` as TIMESTAMP(MILLIS), optional key bloom filters) and the same durability
 * steps (temp name → fsync → rename → fsync dir).
 */
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { TableInfo, Value } from '@stratum/shared';
import { encodeZoneValue, fileRef, keyRangesOf, type ManifestFile, rangesMayOverlap, type ValueRange, type ZoneMap } from './manifest.ts';
import { fieldColumns, filesSql, ident, lit } from './sql.ts';
import { fsyncPath } from './util.ts';

/** Encoding options shared by every part file of a shard. */
export interface PartFileOptions {
  /** Rows per Parquet row group. */
  rowGroupSize: number;
  /** Dictionary-encode every column so DuckDB writes bloom filters (see `OlapShardOptions.keyBloomFilters`). */
  keyBloomFilters: boolean;
}

/**
 * A query computing one zone-map row per group of `from` (a table or parenthesized subquery
 * holding the fields of `info` and `_ts`, `_op`): columns `grp` (= `groupExpr`), `n` (rows),
 * `tsmin`, `tsmax` (ms since epoch), `ins`, `upd`, `del` (versions by op), then `min<i>`,
 * `max<i>`, `nulls<i>` for the i-th column (min/max NULL for types without a usable order).
 * Ordered by `grp`. Grouped by position, not by the alias: DuckDB binds a name in GROUP BY to a
 * column of `from` before an alias, so a table column named `grp` would capture it.
 */
export function zoneMapSql(info: TableInfo, from: string, groupExpr: string): string {
  const colAggs = fieldColumns(info)
    .map((c, i) => {
      const f = ident(c.field);
      const mm = c.codec.ordered ? `min(${f}) AS "min${i}", max(${f}) AS "max${i}"` : `NULL AS "min${i}", NULL AS "max${i}"`;
      return `${mm}, count(*) - count(${f}) AS "nulls${i}"`;
    })
    .join(', ');
  return `SELECT ${groupExpr} AS grp, count(*) AS n, epoch_ms(min("_ts")) AS tsmin, epoch_ms(max("_ts")) AS tsmax,
           count(*) FILTER (WHERE "_op" = 'insert') AS ins, count(*) FILTER (WHERE "_op" = 'update') AS upd,
           count(*) FILTER (WHERE "_op" = 'delete') AS del, ${colAggs}
         FROM ${from} GROUP BY 1 ORDER BY 1`;
}

/**
 * Write the rows of `select` (the fields of `info` in definition order, file form, then `_ts`
 * TIMESTAMP_MS, `_version_hi`, `_version_lo`, `_op`, `_engine` (sql.ts `FILE_SYSTEM_COLUMNS`),
 * already in file order) to `<dir>/<rel>` durably, and return its manifest entry (fields and
 * zone maps by field, `splitVersion`).
 *
 * Parquet format version 2 data pages: integers and timestamps are DELTA_BINARY_PACKED, so the
 * key-sorted ids, the commit times (`_ts`) and the version halves cost almost nothing
 * (bench/file-size.ts: flights-3m `_ts` 1.21 → 0.2 bytes/row, `id` 1.02 → ~0, `_version` 5.4 as a
 * UUID → 0.2 as halves); DuckDB reads them natively.
 *
 * Steps: parent directories created and fsynced, `COPY … TO <rel>.tmp` (ZSTD, row groups of
 * `opts.rowGroupSize`, dictionary limit raised for bloom filters), fsync the file, rename, fsync
 * the directory. A crash leaves at most a `.tmp` or an unlisted file, which start-up removes.
 *
 * @param zone accessor of this file's row of {@link zoneMapSql} (`n`, `tsmin`, … by name).
 * @throws the DuckDB or file-system error as is (the caller maps it and removes partial files).
 */
export async function writePartFile(
  conn: DuckDBConnection,
  dir: string,
  opts: PartFileOptions,
  info: TableInfo,
  select: string,
  rel: string,
  partition: string,
  zone: (name: string) => Value,
): Promise<ManifestFile> {
  const rows = Number(zone('n'));
  const abs = join(dir, rel);
  const tmp = `${abs}.tmp`;
  await mkdirDurable(dir, dirname(abs));
  const dict = opts.keyBloomFilters ? `, DICTIONARY_SIZE_LIMIT ${Math.min(rows, opts.rowGroupSize) + 1}` : '';
  await conn.run(
    `COPY (${select}) TO ${lit(tmp)}
     (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2, ROW_GROUP_SIZE ${opts.rowGroupSize}${dict})`,
  );
  await fsyncPath(tmp);
  await rename(tmp, abs);
  await fsyncPath(dirname(abs));
  const bytes = (await stat(abs)).size;
  const columns: Record<string, ZoneMap> = {};
  const fields: string[] = [];
  fieldColumns(info).forEach((c, i) => {
    fields.push(c.field);
    columns[c.field] = { min: encodeZoneValue(zone(`min${i}`)), max: encodeZoneValue(zone(`max${i}`)), nulls: Number(zone(`nulls${i}`)) };
  });
  return {
    path: rel,
    partition,
    rows,
    bytes,
    tsMin: Number(zone('tsmin')),
    tsMax: Number(zone('tsmax')),
    ops: { insert: Number(zone('ins')), update: Number(zone('upd')), delete: Number(zone('del')) },
    splitVersion: true,
    fields,
    columns,
    createdAt: Date.now(),
  };
}

/** mkdir -p that fsyncs each parent of a newly created directory (so the new entry is durable). */
export async function mkdirDurable(root: string, dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  let d = dir;
  while (d.length >= first.length && d !== root) {
    await fsyncPath(dirname(d));
    d = dirname(d);
  }
}

/** Directory name of a storage name: the name itself when it is a safe path segment, else URI-encoded. */
export function tableDirName(name: string): string {
  if (/^[A-Za-z0-9_][A-Za-z0-9_$-]*$/.test(name)) return name;
  return `%${encodeURIComponent(name).replaceAll('.', '%2E')}`;
}

/**
 * Whether new files holding the rows of `rows` (a table or parenthesized query with the key
 * fields of `info`) may carry `uniqueKeys` or `overlay` (manifest.ts): no key twice among the
 * rows ({@link noKeyTwice}), and no key in any of `flagged` (the other files with that flag;
 * {@link noKeyIn}).
 */
export async function keysUniqueAgainst(
  conn: DuckDBConnection,
  dir: string,
  info: TableInfo,
  rows: string,
  ranges: readonly ValueRange[],
  flagged: readonly ManifestFile[],
  unavailable: (path: string) => boolean,
): Promise<boolean> {
  return (await noKeyTwice(conn, info, rows)) && (await noKeyIn(conn, dir, info, rows, ranges, flagged, unavailable));
}

/** Whether no key of `info` occurs twice among `rows` (a table or parenthesized query with its key fields). */
export async function noKeyTwice(conn: DuckDBConnection, info: TableInfo, rows: string): Promise<boolean> {
  const pk = info.primaryKey.map(ident).join(', ');
  const dup = await conn.runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${rows} GROUP BY ${pk} HAVING count(*) > 1)`);
  return dup.value(0, 0) === false;
}

/** The files among `files` whose key zone maps overlap `ranges` (a range per key field; unknown = overlaps). */
export function keysMayOverlap(info: TableInfo, files: readonly ManifestFile[], ranges: readonly ValueRange[]): ManifestFile[] {
  return files.filter((f) => (keyRangesOf(info, [f]) ?? []).every((r, i) => rangesMayOverlap(r, ranges[i] as ValueRange)));
}

/**
 * Whether no key of `rows` is in any of `files`: zone maps first, then one semi-join against the
 * files whose key ranges overlap `ranges` (the rows' key ranges). False when an overlapping file
 * is unreadable (`unavailable`).
 */
export async function noKeyIn(
  conn: DuckDBConnection,
  dir: string,
  info: TableInfo,
  rows: string,
  ranges: readonly ValueRange[],
  files: readonly ManifestFile[],
  unavailable: (path: string) => boolean,
): Promise<boolean> {
  const candidates = keysMayOverlap(info, files, ranges);
  if (candidates.length === 0) return true;
  if (candidates.some((f) => unavailable(f.path))) return false;
  const read = filesSql(
    info,
    candidates.map((f) => fileRef(dir, f)),
  ) as string;
  const on = info.primaryKey.map((k) => `s.${ident(k)} = p.${ident(k)}`).join(' AND ');
  const hit = await conn.runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${rows} s SEMI JOIN ${read} p ON ${on})`);
  return hit.value(0, 0) === false;
}
