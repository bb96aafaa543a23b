/**
 * The shard manifest (DESIGN §5): `<dir>/manifest.json`, the source of truth for which
 * Parquet files are live and for each table's OLAP watermark. Replaced atomically (write tmp,
 * fsync, rename, fsync dir), so a crash leaves the old or the new manifest, never a mix.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError, type SqlType, type TableInfo, type Value } from '@stratum/shared';
import { zoneComparable } from '@stratum/shared/duckdb';
import type { FileRef } from './sql.ts';
import { writeFileAtomic } from './util.ts';

/** Manifest file name inside the shard directory. */
export const MANIFEST_NAME = 'manifest.json';

/**
 * Current manifest format. Readers refuse newer formats; older ones are upgraded when read.
 * - 5: files written from this format on store `_version` as its two 64-bit halves
 *   (`splitVersion`, sql.ts `FILE_SYSTEM_COLUMNS`); files listed by an older manifest keep their
 *   UUID column and are read as they are until compaction rewrites them.
 * - 4: files name their time partition (`partition`, layout.ts: `day=…`, `month=…`, `all`,
 *   or a `first..last` span for a compaction output across partitions) instead of a `day`, and
 *   say whether reads may skip the latest-version dedupe for them (`uniqueKeys`), which
 *   replaces the table-wide `singleVersion` (true there = every file `uniqueKeys`).
 * - 3: tables keyed by storage name (catalog.ts); files record their `fields`; zone maps by field.
 * - 2: per-source watermarks. Tables were keyed by table name, which is the storage name of
 *   every table created then (the storage name defaults to the name), and Parquet columns were
 *   column names, which are their fields: a format-2 file's fields are its zone-map keys.
 */
export const MANIFEST_FORMAT = 5;

/**
 * A zone-map bound as stored in JSON: the column's stored representation (shared types.ts),
 * except that bigint-valued types (bigint, timestamp µs, timestamptz µs) are decimal strings
 * and non-finite floats are the strings `NaN`, `Infinity`, `-Infinity`. null = no non-null value.
 */
export type ZoneValue = number | string | boolean | null;

/** Per-column zone map of one file. */
export interface ZoneMap {
  min: ZoneValue;
  max: ZoneValue;
  /** Number of NULLs in the column. */
  nulls: number;
}

/** One live Parquet file. */
export interface ManifestFile {
  /**
   * Path relative to the shard directory, `/`-separated: `<storage>/<partition>/part-<uuidv7>.parquet`
   * (for a compaction output across partitions, the directory of its first input).
   */
  path: string;
  /**
   * Time partition (layout.ts `partitionLabel`): `day=YYYY-MM-DD`, `month=YYYY-MM` or `all`; a
   * compaction output spanning several partitions is `<first>..<last>`.
   */
  partition: string;
  rows: number;
  /** File size in bytes (checked on start: a different size marks the file unavailable). */
  bytes: number;
  /** Commit-time range of the versions in the file (ms since epoch, inclusive). */
  tsMin: number;
  tsMax: number;
  /** Versions by operation. */
  ops: { insert: number; update: number; delete: number };
  /**
   * Each key of the file has exactly one version in it, and no other file with `uniqueKeys`
   * holds a version of it: the latest-version views read such a file's rows as they are, except
   * for the keys some file without the flag also holds (sql.ts). Set by a push of new keys and
   * by a compaction whose output has one version per key, each after checking the other flagged
   * files (a semi-join where key ranges overlap). Absent = false.
   */
  uniqueKeys?: boolean;
  /**
   * An *overlay* (only on a file without `uniqueKeys`): each key of the file has exactly one
   * version in it, and no other overlay file holds a version of it. Newer versions laid over the
   * flagged files, such as a push of updates: when every file without `uniqueKeys` is an overlay,
   * reads need no latest-version dedupe among them (no window), only the anti-join that hides the
   * flagged rows they supersede (sql.ts). Set by a push that cannot be flagged, after checking
   * the other overlay files (the same semi-join as `uniqueKeys`); never by compaction. Absent =
   * false. Readers that do not know it only dedupe more: no format change.
   */
  overlay?: boolean;
  /**
   * Of an overlay: how many of its rows supersede a row of the flagged files, counted when it
   * was pushed against the flagged files then live, named by {@link flaggedSetId}. Exact only
   * while that set of flagged files is the live one; lets {@link liveRowCount} answer `count(*)`
   * without reading a file. Absent when the push did not count them (the flagged files it
   * would have read were many times larger than the push).
   */
  supersedes?: { rows: number; flagged: string };
  /**
   * The file stores `_version` as `_version_hi` and `_version_lo` (UBIGINT halves, sql.ts
   * `FILE_SYSTEM_COLUMNS`): every file written under format 5. Absent = one UUID column
   * `_version` (files of formats ≤ 4).
   */
  splitVersion?: boolean;
  /**
   * The file's user columns, by field, in file order (before the system columns): the fields of
   * the table's definition when the file was written. A column added later is missing here and
   * reads as its `missing` value; a dropped column's field stays here and is not read.
   */
  fields: string[];
  /**
   * Zone maps of the user columns, by field. Types without a usable order (unconstrained
   * numeric, interval, json, jsonb, bytea, arrays: `ColumnCodec.ordered`) have min/max null and
   * only count NULLs.
   */
  columns: Record<string, ZoneMap>;
  /** When the file was written (ms since epoch). */
  createdAt: number;
}

/**
 * A file taken out of service because it could not be read (truncated, corrupted, wrong size),
 * moved to `<dir>/quarantine/` (item 10a). Queries touching its table fail with XX001 naming it,
 * or with `allowDegraded` leave it out and say so in a notice.
 */
export interface QuarantinedFile extends ManifestFile {
  /** Where the file was moved, relative to the shard directory (`quarantine/<table>/<partition>/part-….parquet`); null when it was missing. */
  movedTo: string | null;
  /** What was wrong (the reader's error or the start-up check). */
  reason: string;
  /** When it was quarantined (ms since epoch). */
  quarantinedAt: number;
}

/** Per-table manifest state, keyed by storage name in {@link Manifest.tables}. */
export interface ManifestTable {
  /**
   * OLAP watermark (ms) of the table: the minimum of {@link sources} (every version with
   * commitTs ≤ it is in the files, whichever source pushed it). -1 = nothing pushed.
   */
  watermark: number;
  /**
   * OLAP watermark per ingestion source id (ms): every version of that source with commitTs ≤ it
   * is in the files. The key `*` holds the watermark of a format-1 manifest (one unnamed source)
   * and applies to every source without an entry of its own.
   */
  sources?: Record<string, number>;
  /** Files taken out of service (no longer in `files`). */
  quarantined?: QuarantinedFile[];
  files: ManifestFile[];
}

/** The whole manifest. */
export interface Manifest {
  format: number;
  /** Shard id that wrote it. */
  shard: string;
  /** Incremented on every replace. */
  generation: number;
  /** ms since epoch of the last replace. */
  updatedAt: number;
  /** By storage name (`TableInfo.storage`). */
  tables: Record<string, ManifestTable>;
}

/** The manifest that follows `m` with `storage`'s entry replaced: next generation, current format, stamped now. */
export function withTable(m: Manifest, storage: string, entry: ManifestTable): Manifest {
  return { ...m, format: MANIFEST_FORMAT, generation: m.generation + 1, updatedAt: Date.now(), tables: { ...m.tables, [storage]: entry } };
}

/** The manifest that follows `m` without the entries of `storages` (dropped or truncated tables). */
export function withoutTables(m: Manifest, storages: readonly string[]): Manifest {
  const tables = { ...m.tables };
  for (const s of storages) delete tables[s];
  return { ...m, format: MANIFEST_FORMAT, generation: m.generation + 1, updatedAt: Date.now(), tables };
}

/** An empty manifest for shard `id`. */
export function emptyManifest(id: string): Manifest {
  return { format: MANIFEST_FORMAT, shard: id, generation: 0, updatedAt: 0, tables: {} };
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Structural check of a parsed manifest; returns a reason when it is not usable. */
function invalidReason(m: unknown): string | undefined {
  if (!isObj(m)) return 'not a JSON object';
  if (typeof m.format !== 'number') return 'missing "format"';
  if (m.format > MANIFEST_FORMAT) return `format ${m.format} is newer than this shard understands (${MANIFEST_FORMAT})`;
  if (!isObj(m.tables)) return 'missing "tables"';
  for (const [name, t] of Object.entries(m.tables)) {
    if (!isObj(t) || typeof t.watermark !== 'number' || !Array.isArray(t.files)) return `table "${name}" is malformed`;
    for (const f of t.files) {
      if (!isObj(f) || typeof f.path !== 'string' || typeof f.rows !== 'number' || typeof f.bytes !== 'number') {
        return `a file entry of table "${name}" is malformed`;
      }
      if (f.path.startsWith('/') || f.path.split('/').includes('..')) return `file path "${f.path}" escapes the shard directory`;
    }
  }
  return undefined;
}

/**
 * Read `<dir>/manifest.json`; an absent file is an empty manifest.
 * @throws CorruptionError (XX001) when it exists but cannot be parsed or is malformed — the
 * shard refuses to start rather than treat every file as an orphan.
 */
export async function readManifest(dir: string, id: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyManifest(id);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CorruptionError(`OLAP manifest ${path} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
      hint: 'Restore the manifest from a backup or rebuild the shard from ingestion history.',
    });
  }
  const why = invalidReason(parsed);
  if (why) {
    throw new CorruptionError(`OLAP manifest ${path} is malformed: ${why}`, {
      hint: 'Restore the manifest from a backup or rebuild the shard from ingestion history.',
    });
  }
  const m = parsed as Manifest;
  for (const t of Object.values(m.tables)) {
    // Format ≤ 3: one table-wide flag; true = no file shares a key with another, one version each.
    const single = (t as { singleVersion?: unknown }).singleVersion;
    if (m.format < 4) for (const f of t.files) f.uniqueKeys = single === true;
    delete (t as { singleVersion?: unknown }).singleVersion;
    // Format ≤ 2: a file's Parquet columns were the column names = fields, as its zone maps.
    for (const f of [...t.files, ...(t.quarantined ?? [])]) {
      if (!Array.isArray(f.fields)) f.fields = Object.keys(f.columns ?? {});
      // Format ≤ 3: every file was in a day partition, named by its day.
      const day = (f as { day?: unknown }).day;
      if (typeof f.partition !== 'string') f.partition = typeof day === 'string' ? `day=${day}` : 'all';
      delete (f as { day?: unknown }).day;
    }
    // Format 1 had one watermark for the one source there was: it applies to every source.
    if (!isObj(t.sources)) t.sources = t.watermark >= 0 ? { '*': t.watermark } : {};
  }
  return m;
}

/**
 * OLAP watermark of `source` for table `t` (ms; -1 = nothing pushed): its own entry, else the
 * format-1 entry `*`, else -1.
 */
export function sourceWatermark(t: ManifestTable | undefined, source: string): number {
  if (!t) return -1;
  return t.sources?.[source] ?? t.sources?.['*'] ?? -1;
}

/**
 * True when the files hold at most one version per key across all of them and no delete, so
 * the latest-version view is the files' rows as they are (every file `uniqueKeys`).
 */
export function singleVersion(files: readonly ManifestFile[]): boolean {
  return files.every((f) => f.uniqueKeys === true && f.ops.delete === 0);
}

/**
 * A name for the set of `uniqueKeys` files among `files` (a hash of their paths, which are never
 * reused): equal names, same flagged rows. Overlays record it with their `supersedes` count.
 */
export function flaggedSetId(files: readonly ManifestFile[]): string {
  const paths = files
    .filter((f) => f.uniqueKeys === true)
    .map((f) => f.path)
    .sort();
  return createHash('sha256').update(paths.join('\n')).digest('hex').slice(0, 24);
}

/**
 * The number of rows of the latest-version view over `files` (live versions, one per key), from
 * the manifest alone, or undefined when the manifest cannot tell it exactly. It can when
 * - every file is `uniqueKeys` with no delete (then it is the sum of their rows), or
 * - besides such files there are only overlays, each with a `supersedes` count taken against
 *   the flagged files live now, and every overlay version is newer than every flagged one (so
 *   an overlay's version is its key's latest): the flagged rows, less the ones the overlays
 *   supersede (each at most once: no key is in two overlays or two flagged files), plus the
 *   overlays' rows that are not deletes.
 */
export function liveRowCount(files: readonly ManifestFile[]): number | undefined {
  const flagged = files.filter((f) => f.uniqueKeys === true);
  const rest = files.filter((f) => f.uniqueKeys !== true);
  if (flagged.some((f) => f.ops.delete > 0)) return undefined;
  const sum = (fs: ManifestFile[], n: (f: ManifestFile) => number) => fs.reduce((s, f) => s + n(f), 0);
  if (rest.length === 0) return sum(flagged, (f) => f.rows);
  if (rest.some((f) => f.overlay !== true || f.supersedes === undefined)) return undefined;
  const flaggedMax = Math.max(...flagged.map((f) => f.tsMax));
  if (Math.min(...rest.map((f) => f.tsMin)) <= flaggedMax) return undefined;
  const id = flaggedSetId(files);
  if (rest.some((f) => f.supersedes?.flagged !== id)) return undefined;
  return sum(flagged, (f) => f.rows) - sum(rest, (f) => f.supersedes?.rows ?? 0) + sum(rest, (f) => f.rows - f.ops.delete);
}

/** Replace `<dir>/manifest.json` atomically with `m`. */
export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeFileAtomic(join(dir, MANIFEST_NAME), `${JSON.stringify(m, null, 1)}\n`);
}

/**
 * Encode a stored value of an ordered column type for the manifest (see {@link ZoneValue});
 * null for values of other types (no zone map bound).
 */
export function encodeZoneValue(v: Value): ZoneValue {
  if (v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return null;
}

/** The type of a column, as zone maps need it. */
export interface ZoneColumn {
  type: SqlType;
  typmod?: number;
}

/**
 * Decode a manifest zone value to the form zone maps compare (`zoneComparable` of
 * shared/src/duckdb: DECIMAL numerics as unscaled bigints); null (unknown bound) for types
 * without a usable order.
 */
export function decodeZoneValue(z: ZoneValue, col: ZoneColumn): Value {
  if (z === null) return null;
  let v: Value;
  switch (col.type) {
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      v = typeof z === 'string' ? BigInt(z) : BigInt(z as number);
      break;
    case 'real':
    case 'double':
    case 'smallint':
    case 'integer':
    case 'date':
    case 'time':
      v = typeof z === 'string' ? Number(z) : (z as number);
      break;
    default:
      v = z;
  }
  return zoneComparable(v, col.type, col.typmod) ?? null;
}

/**
 * Compare two non-null stored values of the same column type in DuckDB's order: numbers and
 * bigints numerically, strings bytewise in UTF-8 (DuckDB's VARCHAR/UUID order), false < true.
 * Returns undefined when the order is not known (NaN), so callers treat it as "may overlap".
 */
export function compareValues(a: Value, b: Value): number | undefined {
  if (a === null || b === null) return undefined;
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    if (typeof a === 'number' && Number.isNaN(a)) return undefined;
    if (typeof b === 'number' && Number.isNaN(b)) return undefined;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return undefined;
}

/** A closed range [min, max] of one column, stored representation; null bounds = unknown. */
export interface ValueRange {
  min: Value;
  max: Value;
}

/** True unless the two ranges are provably disjoint. */
export function rangesMayOverlap(a: ValueRange, b: ValueRange): boolean {
  const c1 = compareValues(a.max, b.min);
  const c2 = compareValues(b.max, a.min);
  if (c1 === undefined || c2 === undefined) return true;
  return c1 >= 0 && c2 >= 0;
}

/** Union of two ranges (unknown bounds stay unknown). */
export function unionRange(a: ValueRange | undefined, b: ValueRange): ValueRange {
  if (!a) return { ...b };
  const lo = compareValues(a.min, b.min);
  const hi = compareValues(a.max, b.max);
  return {
    min: lo === undefined ? null : lo <= 0 ? a.min : b.min,
    max: hi === undefined ? null : hi >= 0 ? a.max : b.max,
  };
}

/** The column of storage-key field `k` of `info`, for zone maps. */
function keyColumn(info: TableInfo, k: string): ZoneColumn | undefined {
  const i = info.fieldIndex.get(k);
  return i === undefined ? undefined : info.columns[i];
}

/**
 * Ranges of the storage-key fields (in key order, zone-map comparable form) over `files`;
 * unknown bounds are null. Undefined when there are no files.
 */
export function keyRangesOf(info: TableInfo, files: readonly ManifestFile[]): ValueRange[] | undefined {
  if (files.length === 0) return undefined;
  return info.primaryKey.map((k) => {
    const col = keyColumn(info, k);
    let r: ValueRange | undefined;
    for (const f of files) {
      const z = f.columns[k];
      r = unionRange(r, z && col ? { min: decodeZoneValue(z.min, col), max: decodeZoneValue(z.max, col) } : { min: null, max: null });
    }
    return r ?? { min: null, max: null };
  });
}

/** How the views read manifest file `f` of the shard in `dir` (sql.ts `FileRef`). */
export function fileRef(dir: string, f: ManifestFile): FileRef {
  return {
    path: join(dir, f.path),
    fields: f.fields,
    uniqueKeys: f.uniqueKeys === true,
    overlay: f.overlay === true && f.uniqueKeys !== true,
    tsMin: f.tsMin,
    tsMax: f.tsMax,
    splitVersion: f.splitVersion === true,
  };
}
