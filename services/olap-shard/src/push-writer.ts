/**
 * The push write path of the OLAP shard (docs/architecture.md "OLAP shard", "File layout"): stage
 * a push's versions in DuckDB, sort them by time partition and file order (layout.ts), write one
 * Parquet part file per partition (part-file.ts), mark a batch of new keys `uniqueKeys`, and keep
 * each file's key bloom filter (bloom.ts). The shard (shard.ts) serializes pushes and publishes
 * the manifest; this module only writes files.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBResultReader } from '@duckdb/node-api';
import { type TableInfo, type Value, VersionGenerator, type VersionRecord } from '@stratum/shared';
import { columnCodec, convertValue, mapDuckDbError, zoneComparable } from '@stratum/shared/duckdb';
import { buildBloom, type FileBloom, readBloom } from './bloom.ts';
import { fileOrderSql, granularityOf, partitionLabel, partitionSql, unusableTimeColumn } from './layout.ts';
import { rawColumnsDdl, typedSelect, VersionLoader } from './load.ts';
import { fileRef, flaggedSetId, type Manifest, type ManifestFile, type ManifestTable, unionRange, type ValueRange } from './manifest.ts';
import { keysMayOverlap, noKeyIn, noKeyTwice, type PartFileOptions, tableDirName, writePartFile, zoneMapSql } from './part-file.ts';
import { FILE_SYSTEM_COLUMNS, fieldColumns, filesSql, ident, STAGE_SCHEMA } from './sql.ts';

/** The column of storage field `field` of `info`. */
export function columnOfField(info: TableInfo, field: string): TableInfo['columns'][number] | undefined {
  const i = info.fieldIndex.get(field);
  return i === undefined ? undefined : info.columns[i];
}

/** Column-name → value lookup for row `row` of a reader (values converted as query results are). */
export function readerRow(r: DuckDBResultReader, row: number): (name: string) => Value {
  const names = r.columnNames();
  const idx = new Map(names.map((n, i) => [n, i]));
  return (name) => {
    const i = idx.get(name);
    if (i === undefined) throw new Error(`internal: column ${name} missing`);
    return convertValue(r.value(i, row), r.columnType(i));
  };
}

/** What a {@link PushWriter} needs of its shard. */
export interface PushWriterHost {
  /** Absolute shard directory (manifest paths are relative to it). */
  dir: string;
  log: (msg: string, fields?: object) => void;
  /** Encoding options of every part file the shard writes (pushes and compaction). */
  partFile: PartFileOptions;
  /** Key bloom filters by relative file path, shared with the read path (the shard drops dead ones). */
  blooms: Map<string, FileBloom>;
  /** The file (relative path) was missing or damaged on start. */
  isUnavailable(path: string): boolean;
  /** The live manifest. */
  manifest(): Manifest;
  /** The catalog's table of a storage name. */
  tableInfo(storage: string): TableInfo | undefined;
  /** Run `fn` under the push mutex with the push connection (undefined once closed). */
  exclusive<T>(fn: (conn: DuckDBConnection | undefined) => Promise<T>): Promise<T>;
  /** The shard is closing: background work stops. */
  closing(): boolean;
  /** Track a background promise so close() waits for it. */
  track(p: Promise<void>): void;
  /** `hash(42::BIGINT)` of this DuckDB (bloom.ts sidecar check). */
  hashCheck(): string;
}

/** Writes a push's part files and keeps their bloom filters. One per shard; calls are serialized by the shard's push mutex. */
export class PushWriter {
  /** Staging table sequence (names in STAGE_SCHEMA). */
  private stageSeq = 0;
  /** UUIDv7 source for file names (monotonic, so names sort by creation). */
  private readonly fileIds = new VersionGenerator();
  private readonly warnedTimeColumn = new Set<string>();
  private bloomBackfill: Promise<void> | undefined;

  constructor(private readonly host: PushWriterHost) {}

  /**
   * Stage `versions` with the appender, sort by partition then file order (layout.ts), write one
   * Parquet file per time partition (temp name → fsync → rename → fsync dir), and compute zone
   * maps and the single-version flag. On failure every file written so far is removed.
   */
  async write(
    conn: DuckDBConnection,
    info: TableInfo,
    versions: VersionRecord[],
    cur: ManifestTable,
    timings: Record<string, number>,
  ): Promise<ManifestFile[]> {
    const n = ++this.stageSeq;
    const stageName = `push_${n}`;
    const stage = `${ident(STAGE_SCHEMA)}.${ident(stageName)}`;
    const sorted = `${ident(STAGE_SCHEMA)}.${ident(`sorted_${n}`)}`;
    const written: ManifestFile[] = [];
    /** The `_part` of each written file. */
    const parts: number[] = [];
    try {
      const tLoad = Date.now();
      await conn.run(`CREATE TABLE ${stage} (${rawColumnsDdl(info)})`);
      const loader = new VersionLoader(info);
      await loader.load(conn, STAGE_SCHEMA, stageName, versions);
      if (loader.nanAsNull > 0) this.warnNaN(info, loader.nanAsNull);
      timings.load = Date.now() - tLoad;
      const tSort = Date.now();
      this.warnTimeColumn(info);
      await conn.run(
        `CREATE TABLE ${sorted} AS SELECT *, ${partitionSql(info)} AS "_part" FROM (SELECT ${typedSelect(info, 'file', loader.engines)} FROM ${stage}) ORDER BY "_part", ${fileOrderSql(info)}`,
      );
      await conn.run(`DROP TABLE ${stage}`);
      timings.sort = Date.now() - tSort;
      const tCopy = Date.now();

      // Zone maps per partition, in one pass.
      const z = await conn.runAndReadAll(zoneMapSql(info, sorted, '"_part"'));
      const granularity = granularityOf(info);
      const tableDir = tableDirName(info.storage);
      const cols = [...fieldColumns(info).map((c) => c.field), ...FILE_SYSTEM_COLUMNS].map(ident).join(', ');
      const batchKeyRanges: (ValueRange | undefined)[] = info.primaryKey.map(() => undefined);
      for (let r = 0; r < z.currentRowCount; r++) {
        const get = readerRow(z, r);
        const part = Number(get('grp'));
        const label = partitionLabel(granularity, part);
        const rel = `${tableDir}/${label}/part-${this.fileIds.next(Date.now())}.parquet`;
        // The same writer as compaction (part-file.ts), so every file has one encoding.
        const select = `SELECT ${cols} FROM ${sorted} WHERE "_part" = ${part}`;
        const file = await writePartFile(conn, this.host.dir, this.host.partFile, info, select, rel, label, get);
        written.push(file);
        parts.push(part);
        await this.buildBloomFor(conn, info, file);
        info.primaryKey.forEach((k, i) => {
          const ci = info.fieldIndex.get(k) ?? -1;
          const col = info.columns[ci];
          const cmp = (v: Value) => (col ? (zoneComparable(v, col.type, col.typmod) ?? null) : null);
          batchKeyRanges[i] = unionRange(batchKeyRanges[i], { min: cmp(get(`min${ci}`)), max: cmp(get(`max${ci}`)) });
        });
      }
      timings.copy = Date.now() - tCopy;
      const tCheck = Date.now();
      // One version per key in the batch (checked once for both flags), and none of its keys in
      // the files that `has` the flag.
      const distinct = await noKeyTwice(conn, info, sorted);
      const noneIn = (has: (f: ManifestFile) => boolean) =>
        noKeyIn(conn, this.host.dir, info, sorted, batchKeyRanges as ValueRange[], cur.files.filter(has), (p) =>
          this.host.isUnavailable(p),
        );
      // A batch of inserts of keys no flagged file holds keeps reads free of dedupe (manifest.ts
      // `uniqueKeys`); a batch with updates or deletes almost always meets older versions, so it
      // is not checked.
      const unique =
        distinct && written.every((f) => f.ops.update === 0 && f.ops.delete === 0) && (await noneIn((f) => f.uniqueKeys === true));
      // Otherwise the batch may still be an overlay (manifest.ts `overlay`): one version per key,
      // none in another overlay file. A push of updates usually is, which spares reads the
      // dedupe among the updated versions.
      const overlay = distinct && !unique && (await noneIn((f) => f.overlay === true));
      const superseded = overlay
        ? await this.countSuperseded(conn, info, sorted, batchKeyRanges as ValueRange[], cur, versions.length)
        : undefined;
      timings.check = Date.now() - tCheck;
      if (unique) return written.map((f) => ({ ...f, uniqueKeys: true }));
      if (!overlay) return written;
      return written.map((f, i) => {
        const o: ManifestFile = { ...f, overlay: true };
        if (superseded) o.supersedes = { rows: superseded.counts.get(parts[i] as number) ?? 0, flagged: superseded.id };
        return o;
      });
    } catch (e) {
      await Promise.allSettled(
        written.flatMap((f) => [
          rm(join(this.host.dir, f.path), { force: true }),
          rm(`${join(this.host.dir, f.path)}.tmp`, { force: true }),
        ]),
      );
      throw mapDuckDbError(e);
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${stage}; DROP TABLE IF EXISTS ${sorted};`).catch(() => {});
    }
  }

  /**
   * For an overlay push: how many of its rows (by `_part` of `sorted`) have a key in a flagged
   * file of `cur` (manifest `supersedes`), with the flagged set's {@link flaggedSetId}. One
   * semi-join against the flagged files whose key ranges overlap the push's; undefined (not
   * counted) when one of them is unreadable, or when they hold more than 20 × the push's rows
   * + 100,000 (a few updates scattered over a large table would read it all on every push).
   */
  private async countSuperseded(
    conn: DuckDBConnection,
    info: TableInfo,
    sorted: string,
    ranges: readonly ValueRange[],
    cur: ManifestTable,
    pushRows: number,
  ): Promise<{ id: string; counts: Map<number, number> } | undefined> {
    const candidates = keysMayOverlap(
      info,
      cur.files.filter((f) => f.uniqueKeys === true),
      ranges,
    );
    if (candidates.some((f) => this.host.isUnavailable(f.path))) return undefined;
    if (candidates.reduce((s, f) => s + f.rows, 0) > 20 * pushRows + 100_000) return undefined;
    const counts = new Map<number, number>();
    const files = filesSql(
      info,
      candidates.map((f) => fileRef(this.host.dir, f)),
    );
    if (files) {
      const on = info.primaryKey.map((k) => `s.${ident(k)} = p.${ident(k)}`).join(' AND ');
      const r = await conn.runAndReadAll(`SELECT s."_part", count(*) FROM ${sorted} s SEMI JOIN ${files} p ON ${on} GROUP BY 1`);
      for (const [part, n] of r.getRows()) counts.set(Number(part), Number(n));
    }
    return { id: flaggedSetId(cur.files), counts };
  }

  /**
   * Build and keep the key bloom filter of a new file (bloom.ts) over its ordered key fields (the
   * ones predicates can probe); a failure only costs pruning.
   */
  async buildBloomFor(conn: DuckDBConnection, info: TableInfo, f: ManifestFile): Promise<void> {
    const keys = info.primaryKey.filter((k) => {
      const col = columnOfField(info, k);
      return col !== undefined && columnCodec(col.type, col.typmod).ordered && f.fields.includes(k);
    });
    if (keys.length === 0) return;
    try {
      this.host.blooms.set(f.path, await buildBloom(conn, join(this.host.dir, f.path), keys));
    } catch (e) {
      this.host.log('key bloom filter not built; point lookups will open the file', { file: f.path, error: (e as Error).message });
    }
  }

  /**
   * Load or build the bloom filters of live files that have none in memory (after start, and
   * for files compaction wrote), in the background under pushMutex on the push connection.
   */
  scheduleBloomBackfill(): void {
    if (this.bloomBackfill || this.host.closing()) return;
    const run = async () => {
      for (const [storage, t] of Object.entries(this.host.manifest().tables)) {
        const info = this.host.tableInfo(storage);
        if (!info) continue;
        for (const f of t.files) {
          if (this.host.closing()) return;
          if (this.host.blooms.has(f.path) || this.host.isUnavailable(f.path)) continue;
          const abs = join(this.host.dir, f.path);
          const loaded = await readBloom(abs, this.host.hashCheck(), f.bytes);
          if (loaded) this.host.blooms.set(f.path, loaded);
          else await this.host.exclusive(async (conn) => (conn ? this.buildBloomFor(conn, info, f) : undefined));
        }
      }
      const live = new Set(Object.values(this.host.manifest().tables).flatMap((t) => t.files.map((f) => f.path)));
      for (const p of this.host.blooms.keys()) if (!live.has(p)) this.host.blooms.delete(p);
    };
    const p = Promise.resolve()
      .then(run)
      .catch((e) => this.host.log('bloom filter backfill failed', { error: (e as Error).message }))
      .finally(() => {
        if (this.bloomBackfill === p) this.bloomBackfill = undefined;
      });
    this.bloomBackfill = p;
    this.host.track(p);
  }

  /**
   * Values of numeric(p,s) columns that were NaN were loaded as NULL: DuckDB's DECIMAL has no NaN
   * (see the README, "Types"). Logged per load.
   */
  warnNaN(info: TableInfo, n: number): void {
    this.host.log('numeric NaN loaded as NULL (DuckDB DECIMAL has no NaN)', { table: info.name, storage: info.storage, values: n });
  }

  /** Log once per table that its `time_column` cannot partition (not a time type): commit time is used (layout.ts). */
  private warnTimeColumn(info: TableInfo): void {
    const tc = unusableTimeColumn(info);
    if (tc === undefined || this.warnedTimeColumn.has(info.name)) return;
    this.warnedTimeColumn.add(info.name);
    this.host.log('time_column is not a timestamp/timestamptz/date column; partitioning by commit time', {
      table: info.name,
      timeColumn: tc,
    });
  }
}
