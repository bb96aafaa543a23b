/**
 * SQL text the shard generates (internal): identifier/literal quoting, the system columns,
 * and the `<table>` / `<table>__history` view definitions (DESIGN §5 "Tables are exposed to SQL
 * as views").
 */
import { duckdbType, type TableInfo } from '@stratum/shared';

/** Schema holding the in-memory delta tables (one per catalog table, same name, plus `<table>__latest`). */
export const DELTA_SCHEMA = 'stratum_delta';

/** Qualified name of a table's delta: every pulled version above the watermark. */
export function deltaTable(table: string): string {
  return `${ident(DELTA_SCHEMA)}.${ident(table)}`;
}

/**
 * Qualified name of a table's delta latest-version table: the latest delta version per key
 * (deletes included), maintained when the delta changes so queries do not re-dedupe it.
 * User table names cannot contain `__`, so the name never collides.
 */
export function deltaLatestTable(table: string): string {
  return `${ident(DELTA_SCHEMA)}.${ident(`${table}__latest`)}`;
}
/** Schema for push staging tables. */
export const STAGE_SCHEMA = 'stratum_stage';

/** System columns, in file order, after the user columns. */
export const SYSTEM_COLUMNS = ['_ts', '_version', '_op', '_engine'] as const;

/** Latest-version order (DESIGN §4 LWW, as ingestion's `compareLww`): higher (commit time, engine, version) wins. */
export const LATEST_ORDER = '"_ts" DESC, "_engine" DESC, "_version" DESC';

/** Quote an identifier for DuckDB. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote a string literal for DuckDB. */
export function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Column definitions of a delta table: user columns with their declared DuckDB types, then
 * the system columns, `_ts` as TIMESTAMP (what Parquet's millisecond timestamps read back as).
 */
export function deltaColumnsDdl(t: TableInfo): string {
  const cols = t.columns.map((c) => `${ident(c.name)} ${duckdbType(c.type)}`);
  cols.push('"_ts" TIMESTAMP', '"_version" UUID', '"_op" VARCHAR', '"_engine" VARCHAR', '"_src" VARCHAR');
  return cols.join(', ');
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

/** `QUALIFY` clause keeping the latest version per primary key of `t`. */
export function latestQualify(t: TableInfo): string {
  return `QUALIFY row_number() OVER (PARTITION BY ${t.primaryKey.map(ident).join(', ')} ORDER BY ${LATEST_ORDER}) = 1`;
}

/** What a view definition depends on. */
export interface ViewInputs {
  table: TableInfo;
  /** Absolute paths of the available Parquet files. */
  files: string[];
  /** SQL condition selecting delta rows already in the files ({@link deltaCoveredSql}); '' = none. */
  deltaCovered: string;
  /**
   * Read as of this time (ms, inclusive): only versions with `_ts` at or below it, the latest
   * view deduped over them (so the maintained delta latest table is not used).
   */
  asOf?: number;
  /** Files hold at most one version per key, all inserts (manifest `singleVersion`). */
  singleVersion: boolean;
  /** Files contain delete versions. */
  filesHaveDeletes: boolean;
  /** Delta rows above the watermark. */
  deltaRows: number;
  /** Delta rows are inserts of distinct keys none of which can be in the files. */
  deltaDisjoint: boolean;
}

/**
 * FROM-clause sources of a view: the Parquet files (null when none), the delta above the
 * watermark, and the delta's latest-version table (rows at or below the watermark are removed
 * from both in the same transaction that re-points the views; the filter on the delta only
 * guards the history view against a lagging cleanup).
 */
function sources(inp: ViewInputs): { files: string | null; delta: string; latest: string } {
  const asOf = inp.asOf === undefined ? undefined : `"_ts" <= epoch_ms(${Math.trunc(inp.asOf)})`;
  let files =
    inp.files.length === 0 ? null : `read_parquet([${inp.files.map(lit).join(', ')}], hive_partitioning = false, union_by_name = false)`;
  if (files && asOf) files = `(SELECT * FROM ${files} WHERE ${asOf})`;
  const conds = [inp.deltaCovered ? `NOT (${inp.deltaCovered})` : '', asOf ?? ''].filter((c) => c !== '');
  const where = conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
  const delta = `(SELECT * FROM ${deltaTable(inp.table.name)}${where})`;
  // As of a past time the maintained latest table does not apply: dedupe the filtered delta.
  const latest = asOf ? `(SELECT * FROM ${delta} ${latestQualify(inp.table)})` : deltaLatestTable(inp.table.name);
  return { files, delta, latest };
}

/** `<table>__history`: every version, user columns + `_ts`, `_version`, `_op`, `_engine`. */
export function historyViewSql(inp: ViewInputs): string {
  const all = [...inp.table.columns.map((c) => c.name), ...SYSTEM_COLUMNS].map(ident).join(', ');
  const { files, delta } = sources(inp);
  const d = `SELECT ${all} FROM ${delta}`;
  if (!files) return d;
  const f = `SELECT ${all} FROM ${files}`;
  return inp.deltaRows > 0 ? `${f}\nUNION ALL\n${d}` : f;
}

/**
 * `<table>`: the latest non-deleted version per primary key (or, for append-only tables,
 * every non-delete version), user columns only, declared types.
 *
 * Files and delta are deduped separately: every delta row is newer than every file row (the
 * delta only holds versions above the watermark, the files only at or below it), so a key's
 * latest version is its latest delta version if it has one, else its latest file version.
 * The delta side is the maintained `<table>__latest` table ({@link deltaLatestTable}), so
 * queries never dedupe the delta. Each side skips work it provably does not need (see
 * {@link ViewInputs}):
 * - files with `singleVersion` are read as they are (no window, no delete filter); otherwise
 *   `row_number() OVER (PARTITION BY key ORDER BY _ts DESC, _engine DESC, _version DESC) = 1`;
 * - an empty delta adds nothing; a `deltaDisjoint` delta is appended without the anti-join
 *   that otherwise hides file rows whose key has a delta version.
 */
export function latestViewSql(inp: ViewInputs): string {
  const t = inp.table;
  const cols = t.columns.map((c) => ident(c.name)).join(', ');
  const { files, delta, latest } = sources(inp);
  const live = `"_op" <> 'delete'`;
  if (t.options.appendOnly) {
    const parts: string[] = [];
    if (files) parts.push(`SELECT ${cols} FROM ${files}${inp.filesHaveDeletes ? ` WHERE ${live}` : ''}`);
    if (!files || inp.deltaRows > 0) parts.push(`SELECT ${cols} FROM ${delta} WHERE ${live}`);
    return parts.join('\nUNION ALL\n');
  }
  const pk = t.primaryKey.map(ident).join(', ');
  const latestDelta = `SELECT ${cols} FROM ${latest} WHERE ${live}`;
  if (!files) return latestDelta;
  const fileRows = inp.singleVersion
    ? `SELECT ${cols} FROM ${files}`
    : `SELECT ${cols} FROM (SELECT * FROM ${files} ${latestQualify(t)}) WHERE ${live}`;
  if (inp.deltaRows === 0) return fileRows;
  if (inp.deltaDisjoint) return `${fileRows}\nUNION ALL\nSELECT ${cols} FROM ${latest}`;
  const on = t.primaryKey.map((k) => `f.${ident(k)} = d.${ident(k)}`).join(' AND ');
  const latestFiles = inp.singleVersion ? files : `(SELECT * FROM ${files} ${latestQualify(t)})`;
  const fileSide = `SELECT f.* FROM ${latestFiles} f ANTI JOIN (SELECT ${pk} FROM ${latest}) d ON ${on}`;
  return `SELECT ${cols} FROM (${fileSide}) WHERE ${live}\nUNION ALL\n${latestDelta}`;
}
