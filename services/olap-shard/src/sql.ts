/**
 * SQL text the shard generates (internal): identifier/literal quoting, the system columns,
 * and the `<table>`, `<table>__history` and `<table>__latest` view definitions (DESIGN §5
 * "Tables are exposed to SQL as views").
 *
 * Storage speaks fields (catalog.ts): Parquet columns, delta-table columns, keys and zone maps
 * are column fields, in their file form (`columnCodec(...).fileSql`, shared/src/duckdb). Only
 * the outermost projection of a view turns a field into the column's current name and view
 * form (`toView("field") AS "name"`), so RENAME TO / RENAME COLUMN only rebuild views. Files
 * written under an older definition are read in groups of equal field lists: a field a group
 * lacks (a column added later) reads as the column's `missing` value (its ADD COLUMN default)
 * or NULL; fields no current column has (dropped columns) are not read.
 */
import type { TableInfo } from '@stratum/shared';
import { type ColumnCodec, columnCodec } from '@stratum/shared/duckdb';

/** Schema holding the in-memory delta tables (one per storage name, named by it). */
export const DELTA_SCHEMA = 'stratum_delta';
/** Schema holding the delta latest-version tables (one per storage name, named by it). */
export const DELTA_LATEST_SCHEMA = 'stratum_delta_latest';

/** Qualified name of a storage's delta: every pulled version above the watermark. */
export function deltaTable(storage: string): string {
  return `${ident(DELTA_SCHEMA)}.${ident(storage)}`;
}

/**
 * Qualified name of a storage's delta latest-version table: the latest delta version per key
 * (deletes included), maintained when the delta changes so queries do not re-dedupe it.
 */
export function deltaLatestTable(storage: string): string {
  return `${ident(DELTA_LATEST_SCHEMA)}.${ident(storage)}`;
}

/** Schema for push staging tables. */
export const STAGE_SCHEMA = 'stratum_stage';

/** System columns of the views and delta tables, after the user fields. */
export const SYSTEM_COLUMNS = ['_ts', '_version', '_op', '_engine'] as const;

/**
 * System columns of a Parquet part file, in file order, after the user fields (manifest format
 * 5, `ManifestFile.splitVersion`). `_version` is stored as its two 64-bit halves, `_version_hi`
 * and `_version_lo` (UBIGINT, big-endian halves of the UUID): consecutive stamps of one engine
 * differ in a few low bits (shared version.ts), which DELTA_BINARY_PACKED stores in about 0.2
 * bytes per row, where the 16-byte UUID column took 5.4 (bench/file-size.ts, flights-3m).
 */
export const FILE_SYSTEM_COLUMNS = ['_ts', '_version_hi', '_version_lo', '_op', '_engine'] as const;

/** Latest-version order (docs/architecture.md "Ingestion", LWW as ingestion's `compareLww`): higher (commit time, engine, version) wins. */
export const LATEST_ORDER = '"_ts" DESC, "_engine" DESC, "_version" DESC';

/**
 * {@link LATEST_ORDER} over file rows ({@link filesSql}): the version compared by its halves,
 * which order exactly as the UUID (unsigned, big-endian), without rebuilding it.
 */
export const FILE_LATEST_ORDER = '"_ts" DESC, "_engine" DESC, "_version_hi" DESC, "_version_lo" DESC';

/** SQL UUID of a version from its halves (UBIGINT expressions). */
export function versionFromHalves(hi: string, lo: string): string {
  return `CAST(printf('%016x%016x', ${hi}, ${lo}) AS UUID)`;
}

/**
 * SQL halves (UBIGINT) of a version given as text (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, a
 * VARCHAR expression; DuckDB casts no UUID to an integer).
 */
export function versionHalves(text: string): { hi: string; lo: string } {
  return {
    hi: `CAST('0x' || substr(${text}, 1, 8) || substr(${text}, 10, 4) || substr(${text}, 15, 4) AS UBIGINT)`,
    lo: `CAST('0x' || substr(${text}, 20, 4) || substr(${text}, 25, 12) AS UBIGINT)`,
  };
}

/** The three views of a table: `<t>`, `<t>__history`, `<t>__latest`. */
export type ViewKind = 'table' | 'history' | 'latest';

/** View name of a table name and kind. */
export function viewName(table: string, kind: ViewKind): string {
  return kind === 'table' ? table : `${table}__${kind}`;
}

/** Quote an identifier for DuckDB. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote a string literal for DuckDB. */
export function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A column of the current definition, as the SQL here needs it. */
export interface FieldColumn {
  field: string;
  name: string;
  hidden: boolean;
  codec: ColumnCodec;
  /** SQL literal (file form) of the value of rows stored before the column existed. */
  missing: string;
}

/** The columns of `t`'s current definition, by field. */
export function fieldColumns(t: TableInfo): FieldColumn[] {
  return t.columns.map((c) => {
    const codec = columnCodec(c.type, c.typmod);
    return { field: c.field ?? c.name, name: c.name, hidden: c.hidden === true, codec, missing: codec.literal(c.missing ?? null) };
  });
}

/** Column definitions of a delta table: the fields (file form), then the system columns and `_src`. */
export function deltaColumnsDdl(cols: readonly FieldColumn[]): string {
  const out = cols.map((c) => `${ident(c.field)} ${c.codec.fileSql}`);
  out.push('"_ts" TIMESTAMP', '"_version" UUID', '"_op" VARCHAR', '"_engine" VARCHAR', '"_src" VARCHAR');
  return out.join(', ');
}

/**
 * SQL condition true for delta rows already in the files: a row of source `s` is covered when
 * its commit time is at or below that source's OLAP watermark (per (table, source), DESIGN §4
 * "OLAP push"). Returns '' when nothing is covered. `marks` = watermark (ms) per source id.
 */
export function deltaCoveredSql(marks: Record<string, number>): string {
  const parts = Object.entries(marks)
    .filter(([, w]) => w >= 0)
    .map(([src, w]) => `("_src" = ${lit(src)} AND "_ts" <= epoch_ms(${Math.trunc(w)}))`);
  return parts.join(' OR ');
}

/**
 * `QUALIFY` clause keeping the latest version per storage key of `t`, over delta rows, or with
 * `files` over file rows ({@link filesSql}, which carry the version's halves).
 */
export function latestQualify(t: TableInfo, files = false): string {
  return `QUALIFY row_number() OVER (PARTITION BY ${t.primaryKey.map(ident).join(', ')} ORDER BY ${files ? FILE_LATEST_ORDER : LATEST_ORDER}) = 1`;
}

/** A Parquet file as the views read it: absolute path and the fields it holds, in file order. */
export interface FileRef {
  path: string;
  fields: readonly string[];
  /** Manifest `uniqueKeys`: its rows need no dedupe unless a file without the flag shares their key. */
  uniqueKeys?: boolean;
  /** Manifest `overlay`: one version per key in it, no key in another overlay file. */
  overlay?: boolean;
  /** Commit-time range of its versions (ms, manifest `tsMin`/`tsMax`); unknown = may overlap anything. */
  tsMin?: number;
  tsMax?: number;
  /** Manifest `splitVersion`: `_version` is stored as `_version_hi`/`_version_lo` ({@link FILE_SYSTEM_COLUMNS}). */
  splitVersion?: boolean;
}

/**
 * Rows of `files` with exactly the current fields (file form), then `_ts`, `_version` (UUID),
 * `_op`, `_engine`, `_version_hi` and `_version_lo` (the version's halves, for
 * {@link FILE_LATEST_ORDER}): one `read_parquet` per group of files with the same field list
 * and version columns. A field a group lacks reads as the column's missing value; the form of
 * the version a file does not store is computed (DuckDB computes it only when a query reads
 * it). `where` filters every group. null when there are no files.
 */
export function filesSql(t: TableInfo, files: readonly FileRef[], where = ''): string | null {
  if (files.length === 0) return null;
  const cols = fieldColumns(t);
  const groups = new Map<string, { fields: Set<string>; split: boolean; paths: string[] }>();
  for (const f of files) {
    const split = f.splitVersion === true;
    const key = `${split ? 's' : 'u'}\u0000${f.fields.join('\u0000')}`;
    const g = groups.get(key);
    if (g) g.paths.push(f.path);
    else groups.set(key, { fields: new Set(f.fields), split, paths: [f.path] });
  }
  const w = where ? ` WHERE ${where}` : '';
  const parts = [...groups.values()].map((g) => {
    const list = cols.map((c) => (g.fields.has(c.field) ? ident(c.field) : `${c.missing} AS ${ident(c.field)}`));
    if (g.split) {
      list.push(
        '"_ts"',
        `${versionFromHalves('"_version_hi"', '"_version_lo"')} AS "_version"`,
        '"_op"',
        '"_engine"',
        '"_version_hi"',
        '"_version_lo"',
      );
    } else {
      const h = versionHalves('CAST("_version" AS VARCHAR)');
      list.push('"_ts"', '"_version"', '"_op"', '"_engine"', `${h.hi} AS "_version_hi"`, `${h.lo} AS "_version_lo"`);
    }
    const src = `read_parquet([${g.paths.map(lit).join(', ')}], hive_partitioning = false, union_by_name = false)`;
    return `SELECT ${list.join(', ')} FROM ${src}${w}`;
  });
  return parts.length === 1 ? `(${parts[0]})` : `(${parts.join('\nUNION ALL\n')})`;
}

/** What a view definition depends on. */
export interface ViewInputs {
  table: TableInfo;
  /** The available Parquet files (absolute paths). */
  files: FileRef[];
  /** SQL condition selecting delta rows already in the files ({@link deltaCoveredSql}); '' = none. */
  deltaCovered: string;
  /**
   * Read as of this time (ms, inclusive): only versions with `_ts` at or below it, the latest
   * views deduped over them (so the maintained delta latest table is not used).
   */
  asOf?: number;
  /** Files hold at most one version per key across all of them, no delete (manifest.ts `singleVersion`). */
  singleVersion: boolean;
  /** Files contain delete versions. */
  filesHaveDeletes: boolean;
  /** Delta rows above the watermark. */
  deltaRows: number;
  /** Delta rows are inserts of distinct keys none of which can be in the files. */
  deltaDisjoint: boolean;
}

/**
 * FROM-clause sources of a view's delta side, with the current fields: the as-of condition
 * the files are read with too (undefined: none), the delta above the watermark, and the delta's
 * latest-version table (rows at or below
 * the watermark are removed from both in the same transaction that re-points the views; the
 * filter on the delta only guards the history view against a lagging cleanup).
 */
function sources(inp: ViewInputs, dedupeDelta: boolean): { asOf: string | undefined; delta: string; latest: string } {
  const asOf = inp.asOf === undefined ? undefined : `"_ts" <= epoch_ms(${Math.trunc(inp.asOf)})`;
  const conds = [inp.deltaCovered ? `NOT (${inp.deltaCovered})` : '', asOf ?? ''].filter((c) => c !== '');
  const where = conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
  const delta = `(SELECT * FROM ${deltaTable(inp.table.storage)}${where})`;
  // As of a past time (or for append-only tables) the maintained latest table does not apply: dedupe the filtered delta.
  const latest = asOf || dedupeDelta ? `(SELECT * FROM ${delta} ${latestQualify(inp.table)})` : deltaLatestTable(inp.table.storage);
  return { asOf, delta, latest };
}

/**
 * The latest version per storage key over the files (every column, deletes included), null
 * when there are none. Only keys that some file without `uniqueKeys` holds are deduped:
 * - every file flagged (or `singleVersion`): the rows as they are;
 * - no file flagged: `row_number() OVER (PARTITION BY key ORDER BY _ts DESC, _engine DESC,
 *   _version DESC) = 1` over all of them, or the rows as they are when every file is an
 *   `overlay` (no key in two of them, one version per key in each);
 * - otherwise, with C = the keys of the unflagged files: flagged rows whose key is not in C as
 *   they are (a flagged file holds a key's only flagged version), plus the dedupe over the
 *   unflagged rows and the flagged rows whose key is in C;
 * - when every unflagged version is newer than every flagged one (updates pushed since the last
 *   compaction: unflagged `tsMin` > flagged `tsMax`), a key in C has its latest version in the
 *   unflagged files, so the flagged side is only the anti-join and the dedupe runs over the
 *   unflagged rows alone (one scan of the flagged files, not two); when every unflagged file is
 *   an `overlay` they hold one version per key and need no dedupe at all.
 * The key lists the joins build from are not made distinct: a semi- or anti-join answers the
 * same with duplicates on its build side, and DISTINCT over the updated keys cost an aggregate.
 */
function filesLatestSql(inp: ViewInputs, asOf: string | undefined): string | null {
  const t = inp.table;
  if (inp.singleVersion) return filesSql(t, inp.files, asOf);
  const flaggedFiles = inp.files.filter((f) => f.uniqueKeys);
  const restFiles = inp.files.filter((f) => !f.uniqueKeys);
  const flagged = filesSql(t, flaggedFiles, asOf);
  const rest = filesSql(t, restFiles, asOf);
  // Only flagged files (all of them, or the ones pruning left): no key is in two of them.
  if (!rest) return flagged;
  // Every unflagged file an overlay: no key has two versions among them.
  const restLatest = restFiles.every((f) => f.overlay === true) ? rest : `(SELECT * FROM ${rest} ${latestQualify(t, true)})`;
  if (!flagged) return restLatest;
  const pk = t.primaryKey.map(ident).join(', ');
  const on = t.primaryKey.map((k) => `u.${ident(k)} = c.${ident(k)}`).join(' AND ');
  const changed = `(SELECT ${pk} FROM ${rest})`;
  const flaggedMax = Math.max(...flaggedFiles.map((f) => f.tsMax ?? Number.POSITIVE_INFINITY));
  const restMin = Math.min(...restFiles.map((f) => f.tsMin ?? Number.NEGATIVE_INFINITY));
  if (restMin > flaggedMax) {
    return `(SELECT u.* FROM ${flagged} u ANTI JOIN ${changed} c ON ${on}
UNION ALL
SELECT * FROM ${restLatest})`;
  }
  return `(SELECT u.* FROM ${flagged} u ANTI JOIN ${changed} c ON ${on}
UNION ALL
SELECT * FROM (SELECT * FROM ${rest} UNION ALL SELECT u.* FROM ${flagged} u SEMI JOIN ${changed} c ON ${on}) ${latestQualify(t, true)})`;
}

/** The projection of fields to current names: visible columns, or every column with `all`. */
function projection(t: TableInfo, all: boolean): string[] {
  return fieldColumns(t)
    .filter((c) => all || !c.hidden)
    .map((c) => `${c.codec.toView(ident(c.field))} AS ${ident(c.name)}`);
}

/** `<table>__history`: every version, visible columns + `_ts`, `_version`, `_op`, `_engine`. */
export function historyViewSql(inp: ViewInputs): string {
  const all = [...projection(inp.table, false), ...SYSTEM_COLUMNS.map(ident)].join(', ');
  const { asOf, delta } = sources(inp, false);
  const files = filesSql(inp.table, inp.files, asOf);
  const d = `SELECT ${all} FROM ${delta}`;
  if (!files) return d;
  const f = `SELECT ${all} FROM ${files}`;
  return inp.deltaRows > 0 ? `${f}\nUNION ALL\n${d}` : f;
}

/**
 * Rows of the latest version per storage key, deletes dropped, projected by `cols`.
 *
 * Files and delta are deduped separately: every delta row is newer than every file row (the
 * delta only holds versions above the watermark, the files only at or below it), so a key's
 * latest version is its latest delta version if it has one, else its latest file version.
 * The delta side is the maintained latest table ({@link deltaLatestTable}) unless `dedupeDelta`,
 * so queries never dedupe the delta. Each side skips work it provably does not need (see
 * {@link ViewInputs}):
 * - the files dedupe only the keys that files without `uniqueKeys` hold ({@link filesLatestSql});
 *   deletes are filtered only when some file holds one;
 * - an empty delta adds nothing; a `deltaDisjoint` delta is appended without the anti-join
 *   that otherwise hides file rows whose key has a delta version.
 */
function latestPerKeySql(inp: ViewInputs, cols: string, dedupeDelta: boolean): string {
  const t = inp.table;
  const { latest, asOf } = sources(inp, dedupeDelta);
  const live = `"_op" <> 'delete'`;
  const pk = t.primaryKey.map(ident).join(', ');
  const latestDelta = `SELECT ${cols} FROM ${latest} WHERE ${live}`;
  const latestFiles = filesLatestSql(inp, asOf);
  if (!latestFiles) return latestDelta;
  const fileRows = `SELECT ${cols} FROM ${latestFiles}${inp.filesHaveDeletes ? ` WHERE ${live}` : ''}`;
  if (inp.deltaRows === 0) return fileRows;
  if (inp.deltaDisjoint) return `${fileRows}\nUNION ALL\n${latestDelta}`;
  const on = t.primaryKey.map((k) => `f.${ident(k)} = d.${ident(k)}`).join(' AND ');
  const fileSide = `SELECT f.* FROM ${latestFiles} f ANTI JOIN (SELECT ${pk} FROM ${latest}) d ON ${on}`;
  return `SELECT ${cols} FROM (${fileSide}) WHERE ${live}\nUNION ALL\n${latestDelta}`;
}

/**
 * `<table>`: the latest non-deleted version per storage key (or, for append-only tables, every
 * non-delete version), visible columns only (never `_rowid`), by their current names.
 */
export function latestViewSql(inp: ViewInputs): string {
  const t = inp.table;
  const cols = projection(t, false).join(', ');
  if (t.options.appendOnly) {
    const { asOf, delta } = sources(inp, false);
    const files = filesSql(t, inp.files, asOf);
    const live = `"_op" <> 'delete'`;
    const parts: string[] = [];
    if (files) parts.push(`SELECT ${cols} FROM ${files}${inp.filesHaveDeletes ? ` WHERE ${live}` : ''}`);
    if (!files || inp.deltaRows > 0) parts.push(`SELECT ${cols} FROM ${delta} WHERE ${live}`);
    return parts.join('\nUNION ALL\n');
  }
  return latestPerKeySql(inp, cols, false);
}

/**
 * `<table>__latest` (internal, for the router): the latest live version per storage key with
 * every column, hidden ones included, plus `_version` and `_ts` — the candidate rows of
 * predicate writes (DESIGN §7). Latest per key for append-only tables too.
 */
export function latestRowsViewSql(inp: ViewInputs): string {
  const cols = [...projection(inp.table, true), '"_version"', '"_ts"'].join(', ');
  return latestPerKeySql(inp, cols, inp.table.options.appendOnly);
}

/** The definition of view `kind` of a table. */
export function viewSql(kind: ViewKind, inp: ViewInputs): string {
  return kind === 'history' ? historyViewSql(inp) : kind === 'latest' ? latestRowsViewSql(inp) : latestViewSql(inp);
}
