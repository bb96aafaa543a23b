/**
 * Loading {@link VersionRecord}s into DuckDB (internal). Versions are checked in JS, written
 * column-wise into reused data chunks and handed to the appender (`appendDataChunk`), which
 * measured ~3× faster than per-value appender calls. Chunks carry the "raw" forms of
 * shared/src/duckdb `columnCodec` (timestamps as BIGINT µs, dates as INTEGER days, UUIDs and
 * numerics as VARCHAR, `_ts` as ms); {@link typedSelect} converts them to the file form in SQL,
 * set-based. Columns are the table's fields: a row's value of a field it lacks (stored before
 * the column was added) is the column's `missing` value; fields no column has (dropped columns)
 * are ignored.
 */
import {
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  USMALLINT,
  UTINYINT,
  VARCHAR,
} from '@duckdb/node-api';
import { DataError, SqlState, type TableInfo, type Value, type VersionRecord } from '@stratum/shared';
import { isUuidText } from '@stratum/shared/duckdb';
import { type FieldColumn, fieldColumns, ident, lit, versionHalves } from './sql.ts';

const CHUNK_ROWS = 2048;

/** `_op` codes in a raw load table. */
const OPS = ['insert', 'update', 'delete'] as const;

/**
 * DDL column list of a raw load table for `t`: fields (raw forms), then `_ts` (ms as DOUBLE,
 * exact below 2^53), `_version` (text), `_op` (code into {@link OPS}), `_engine` (code into the
 * load's engine list). Codes keep per-row strings, the costly part of filling a chunk, to the
 * user's text columns and the version.
 */
export function rawColumnsDdl(t: TableInfo): string {
  const cols = fieldColumns(t).map((c) => `${ident(c.field)} ${c.codec.rawSql}`);
  cols.push('"_ts" DOUBLE', '"_version" VARCHAR', '"_op" UTINYINT', '"_engine" USMALLINT');
  return cols.join(', ');
}

/**
 * SELECT list turning a raw load table's columns into the file form of the fields
 * (`columnCodec(...).fileSql`), same names, and the system columns into those of `target`:
 * - `delta` (delta tables): `_ts` TIMESTAMP, `_version` UUID, `_op`, `_engine`;
 * - `file` (part files): `_ts` TIMESTAMP_MS, the version's halves `_version_hi`, `_version_lo`
 *   (sql.ts `FILE_SYSTEM_COLUMNS`), `_op`, `_engine`.
 * Needs the session TimeZone to be UTC (timestamptz values are UTC µs).
 */
export function typedSelect(t: TableInfo, target: 'file' | 'delta', engines: readonly string[]): string {
  const cols = fieldColumns(t).map((c) => {
    const q = ident(c.field);
    const e = c.codec.fromRaw(q);
    return e === q ? q : `${e} AS ${q}`;
  });
  const list = (xs: readonly string[]) => `[${xs.map(lit).join(', ')}]`;
  const halves = versionHalves('"_version"');
  cols.push(
    `CAST(epoch_ms(CAST("_ts" AS BIGINT)) AS ${target === 'file' ? 'TIMESTAMP_MS' : 'TIMESTAMP'}) AS "_ts"`,
    ...(target === 'file'
      ? [`${halves.hi} AS "_version_hi"`, `${halves.lo} AS "_version_lo"`]
      : ['CAST("_version" AS UUID) AS "_version"']),
    `${list(OPS)}["_op" + 1] AS "_op"`,
    `CAST(${engines.length > 0 ? `${list(engines)}["_engine" + 1]` : 'NULL'} AS VARCHAR) AS "_engine"`,
  );
  return cols.join(', ');
}

interface Settable {
  setItem(i: number, v: unknown): void;
  flush(): void;
}

/** Loads versions of one table into a raw load table (see {@link rawColumnsDdl}). */
export class VersionLoader {
  private readonly cols: FieldColumn[];
  /** Per column: its position in the storage key, or -1. */
  private readonly keyPos: number[];
  /** Per column: the raw form of its missing value (undefined: NULL). */
  private readonly missing: (DuckDBValue | undefined)[];
  private readonly types: DuckDBType[];
  private readonly row: DuckDBValue[];
  private readonly engineCodes = new Map<string, number>();
  /** Engine names by code, for {@link typedSelect}; grows as loads see new engines. */
  readonly engines: string[] = [];
  /** Values of numeric(p,s) columns that DuckDB's DECIMAL cannot hold (NaN), loaded as NULL. */
  nanAsNull = 0;

  constructor(private readonly table: TableInfo) {
    this.cols = fieldColumns(table);
    this.keyPos = this.cols.map((c) => table.primaryKey.indexOf(c.field));
    this.missing = table.columns.map((c, i) => {
      const m = c.missing;
      return m === undefined || m === null ? undefined : (this.cols[i] as FieldColumn).codec.toRaw(m);
    });
    this.types = [...this.cols.map((c) => c.codec.raw), DOUBLE, VARCHAR, UTINYINT, USMALLINT];
    this.row = new Array<DuckDBValue>(this.types.length).fill(null);
  }

  /**
   * Append `versions` to `<schema>.<name>` through the appender. Key fields come from `row`,
   * or from `key` when the row lacks them (deletes carry `row: null`); other fields of a
   * delete are NULL. A version that does not fit its table is passed to `onBad` and skipped;
   * without `onBad` the load stops with an error and the caller discards the table.
   * @returns the number of versions appended.
   * @throws DataError 22023 naming table, column and version (without `onBad`).
   */
  async load(
    conn: DuckDBConnection,
    schema: string,
    name: string,
    versions: readonly VersionRecord[],
    onBad?: (v: VersionRecord, reason: string) => void,
  ): Promise<number> {
    const app = await conn.createAppender(name, schema);
    let count = 0;
    try {
      const chunk = DuckDBDataChunk.create(this.types, CHUNK_ROWS);
      const width = this.types.length;
      let vectors: Settable[] = [];
      let j = 0;
      // LIST vectors rebuild their child vector from every row up to the chunk's capacity on
      // flush, reading rows never set in this batch from stale entries: set them NULL first.
      const lists = this.types.flatMap((t, i) => (t.typeId === DuckDBTypeId.LIST ? [i] : []));
      const emit = () => {
        for (const c of lists) for (let r = j; r < CHUNK_ROWS; r++) (vectors[c] as Settable).setItem(r, null);
        for (const vec of vectors) vec.flush();
        chunk.rowCount = j;
        app.appendDataChunk(chunk);
        j = 0;
      };
      for (const v of versions) {
        const problem = this.check(v);
        if (problem) {
          if (!onBad)
            throw new DataError(SqlState.invalidParameterValue, `${problem} (table "${this.table.name}", version ${String(v.version)})`);
          onBad(v, problem);
          continue;
        }
        if (j === 0) {
          chunk.rowCount = CHUNK_ROWS;
          vectors = [];
          for (let c = 0; c < width; c++) vectors.push(chunk.getColumnVector(c) as unknown as Settable);
        }
        const row = this.row;
        for (let c = 0; c < width; c++) (vectors[c] as Settable).setItem(j, row[c]);
        j++;
        count++;
        if (j === CHUNK_ROWS) emit();
      }
      if (j > 0) emit();
      app.flushSync();
    } finally {
      app.closeSync();
    }
    return count;
  }

  /** Fill `this.row` with the raw values of `v`; returns what is wrong, if anything. */
  private check(v: VersionRecord): string | undefined {
    if (!Number.isFinite(v.commitTs)) return `commitTs ${String(v.commitTs)} is not a number of ms`;
    if (typeof v.version !== 'string' || !isUuidText(v.version)) return `version "${String(v.version)}" is not a UUID`;
    if (Math.abs(v.commitTs) > Number.MAX_SAFE_INTEGER) return `commitTs ${v.commitTs} is out of range`;
    if (v.op !== 'insert' && v.op !== 'update' && v.op !== 'delete') return `op "${String(v.op)}" is not insert/update/delete`;
    const src = v.row;
    const cols = this.cols;
    const row = this.row;
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i] as FieldColumn;
      const kp = this.keyPos[i] as number;
      let val: Value | undefined = src ? src[c.field] : undefined;
      if ((val === undefined || val === null) && kp >= 0) val = Array.isArray(v.key) ? v.key[kp] : undefined;
      if (val === undefined && src) {
        // A row stored before the column was added: its missing value (catalog `missing`).
        row[i] = this.missing[i] ?? null;
        continue;
      }
      if (val === undefined || val === null) {
        if (kp >= 0) return `key column "${c.name}" is NULL`;
        row[i] = null;
        continue;
      }
      const raw = c.codec.toRaw(val);
      if (raw === undefined) {
        return `value ${describe(val)} is not a valid ${this.table.columns[i]?.type} for column "${c.name}"`;
      }
      if (raw === null) this.nanAsNull++;
      row[i] = raw;
    }
    const n = cols.length;
    const engine = String(v.engine);
    let code = this.engineCodes.get(engine);
    if (code === undefined) {
      if (this.engines.length >= 65_536) return 'more than 65 536 distinct engines in one load';
      code = this.engines.length;
      this.engines.push(engine);
      this.engineCodes.set(engine, code);
    }
    row[n] = Math.trunc(v.commitTs);
    row[n + 1] = v.version;
    row[n + 2] = v.op === 'insert' ? 0 : v.op === 'update' ? 1 : 2;
    row[n + 3] = code;
    return undefined;
  }
}

/** Short text of a value for error messages. */
function describe(v: Value): string {
  if (typeof v === 'bigint') return `${v}n (bigint)`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  const j = JSON.stringify(v) ?? String(v);
  return `${j.length > 60 ? `${j.slice(0, 60)}…` : j} (${Array.isArray(v) ? 'array' : typeof v})`;
}
