/**
 * Compaction of an OLAP shard (docs/architecture.md "OLAP shards": compaction merges small files
 * into large ones sorted by time, across time partitions while they are small, and, past
 * `history_retention`, drops superseded versions). Internal; the shard starts a
 * {@link Compactor} and exposes `compactNow()` and the options in `index.ts`.
 *
 * One *run* at a time: consecutive small files of one table in time order (layout.ts
 * `fileTimeStart`), whatever their partitions, so file sizes follow the data, not the calendar:
 * 1. A run is a maximal sequence of *small* available files (rows < `targetFileRows`) with no
 *    large file between them in time order; it is compacted once it holds at least `minFiles`.
 * 2. Without holding the push mutex: read them with DuckDB, drop versions past the history
 *    retention (see {@link retentionDropSql}), number the rows in file order (layout.ts: time,
 *    primary key, `_ts`, `_engine`, the version's halves) and write files of up to `targetFileRows` rows
 *    through the push's writer (`part-file.ts`: same encoding, temp name → fsync → rename →
 *    fsync dir), in the directory of the run's first file.
 * 3. Holding the push mutex (short): check the inputs are still live, build the next manifest
 *    from the *current* one (pushes may have added files meanwhile) with the inputs replaced
 *    by the outputs, replace `manifest.json` atomically, swap it in memory and re-point the
 *    views (the push's `commitPush`).
 * 4. Hand the inputs to {@link FileLeases}: they are deleted only once no query that started
 *    before the swap is still running, so a query running across a compaction reads the old
 *    files to the end and gets the same answer.
 *
 * A crash before step 3 leaves outputs the manifest does not list (removed on start like any
 * orphan); after it, inputs the manifest no longer lists (removed the same way). Either the old
 * or the new file set is live, never a mix.
 */
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { DuckDBConnection, DuckDBResultReader } from '@duckdb/node-api';
import { counter, histogram, type TableInfo, type Value, VersionGenerator } from '@stratum/shared';
import { convertValue, mapDuckDbError } from '@stratum/shared/duckdb';
import { fileOrderSql, fileTimeStart } from './layout.ts';
import {
  fileRef,
  keyRangesOf,
  type Manifest,
  type ManifestFile,
  type ManifestTable,
  rangesMayOverlap,
  readManifest,
  type ValueRange,
  withTable,
  writeManifest,
} from './manifest.ts';
import { keysUniqueAgainst, type PartFileOptions, writePartFile, zoneMapSql } from './part-file.ts';
import { FILE_SYSTEM_COLUMNS, fieldColumns, filesSql, ident, STAGE_SCHEMA } from './sql.ts';
import { Mutex } from './util.ts';

const mCompactions = counter('stratum_olap_compactions_total', 'Partitions compacted', ['shard']);
const mFilesIn = counter('stratum_olap_compaction_files_in_total', 'Files replaced by compaction', ['shard']);
const mFilesOut = counter('stratum_olap_compaction_files_out_total', 'Files written by compaction', ['shard']);
const mBytesIn = counter('stratum_olap_compaction_bytes_in_total', 'Bytes of the files replaced by compaction', ['shard']);
const mBytesOut = counter('stratum_olap_compaction_bytes_out_total', 'Bytes of the files written by compaction', ['shard']);
const mDropped = counter('stratum_olap_compaction_dropped_versions_total', 'Versions dropped past the history retention', ['shard']);
const mErrors = counter('stratum_olap_compaction_errors_total', 'Partition compactions that failed or were abandoned', ['shard']);
const mSeconds = histogram(
  'stratum_olap_compaction_seconds',
  'Duration of one partition compaction (s)',
  ['shard'],
  [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
);

/** Settings of a {@link Compactor} (config `olap.*`, see `OlapShardOptions`). */
export interface CompactionOptions {
  /** Background run interval (ms); 0 = only `compactNow()`. */
  intervalMs: number;
  /** A partition is compacted once it has at least this many small files (≥ 2). */
  minFiles: number;
  /** Files with fewer rows are small; outputs hold up to this many rows (≥ 1). */
  targetFileRows: number;
  /** Wall-clock time (ms since epoch) for the history-retention horizon. */
  now: () => number;
}

/**
 * What the compactor needs from the shard. Implemented by `Shard` over its private state, so
 * the manifest, views and push mutex keep a single owner.
 */
export interface CompactionHost {
  /** Shard id (logs, metric label `shard`, manifest read-back). */
  readonly id: string;
  /** Absolute shard directory. */
  readonly dir: string;
  /** Structured log sink of the shard. */
  log(msg: string, fields?: object): void;
  /** Encoding of part files (the push's). */
  readonly partFile: PartFileOptions;
  /** The in-memory manifest as of now (replaced, never mutated). */
  manifest(): Manifest;
  /** Current catalog entry of a storage name (undefined: unknown here or dead; its files are left alone). */
  tableInfo(storage: string): TableInfo | undefined;
  /** A manifest file missing or damaged on start (never compacted, never deleted). */
  isUnavailable(path: string): boolean;
  /** A new DuckDB connection of the shard's instance (closed with the shard; configuration already locked). */
  connect(): Promise<DuckDBConnection>;
  /** Run `fn` while no push runs (the push mutex). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Make a durable manifest visible: swap it in memory, recompute derived state and re-point the
   * table's views in one DuckDB transaction (the push's commit). Called inside `exclusive`.
   */
  publish(table: string, next: Manifest): Promise<void>;
}

/** Outcome of compacting one run of files. */
export interface PartitionCompaction {
  table: string;
  /** Partition label of the run (manifest `partition`): one partition's, or `<first>..<last>` across several. */
  partition: string;
  filesIn: number;
  filesOut: number;
  rowsIn: number;
  rowsOut: number;
  /** Versions dropped past the history retention. */
  dropped: number;
  bytesIn: number;
  bytesOut: number;
  /** Duration (ms). */
  ms: number;
}

/** Outcome of one compaction run (every eligible partition, one at a time). */
export interface CompactionReport {
  partitions: PartitionCompaction[];
}

/** Cumulative compaction counters since start (also exported as Prometheus metrics). */
export interface CompactionStats {
  /** Runs started (background and `compactNow`). */
  runs: number;
  /** Partitions compacted. */
  compactions: number;
  filesIn: number;
  filesOut: number;
  bytesIn: number;
  bytesOut: number;
  rowsIn: number;
  rowsOut: number;
  /** Versions dropped past the history retention. */
  dropped: number;
  /** Partition compactions that failed or were abandoned (inputs changed). */
  errors: number;
  /** Replaced files waiting for queries that may read them to finish. */
  retiredPending: number;
}

/**
 * Deferred deletion of replaced files, keyed by an epoch that advances when a manifest swap
 * has been published (memory and views). Every public shard operation pins the epoch it starts
 * in; files retired at epoch E are deleted once no operation pinned before E is running, since
 * only those may have planned against (or copied file lists from) the old manifest.
 */
export class FileLeases {
  private epoch = 0;
  /** Running operations by the epoch they pinned. */
  private readonly pins = new Map<number, number>();
  private retired: { epoch: number; paths: string[]; dirs: string[] }[] = [];
  /** Deletions under way (so `sweep()` resolves only when they are done). */
  private readonly removing = new Set<Promise<void>>();

  /**
   * @param remove deletes the given shard-relative files, then the given shard-relative
   * directories with everything in them (errors are its own to log).
   */
  constructor(private readonly remove: (paths: string[], dirs: string[]) => Promise<void>) {}

  /** Pin the current epoch; call the returned function (once) when the operation has finished. */
  pin(): () => void {
    const e = this.epoch;
    this.pins.set(e, (this.pins.get(e) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.pins.get(e) ?? 1) - 1;
      if (n > 0) this.pins.set(e, n);
      else this.pins.delete(e);
      if (this.retired.length > 0) void this.sweep();
    };
  }

  /**
   * Retire `paths` (no longer in the published manifest) and advance the epoch; `dirs` (of
   * dropped or truncated tables) go with everything in them once the files may go.
   */
  retire(paths: string[], dirs: string[] = []): void {
    this.epoch++;
    if (paths.length > 0 || dirs.length > 0) this.retired.push({ epoch: this.epoch, paths, dirs });
    void this.sweep();
  }

  /** Number of retired files not deleted yet. */
  pending(): number {
    return this.retired.reduce((s, r) => s + r.paths.length, 0);
  }

  /** Whether a retired directory is still waiting for its deletion. */
  pendingDir(dir: string): boolean {
    return this.retired.some((r) => r.dirs.includes(dir));
  }

  /**
   * Delete the retired files no running operation can still read; resolves when they and every
   * deletion started earlier are done (failures are the `remove` callback's to log).
   */
  sweep(): Promise<void> {
    let oldest = Number.POSITIVE_INFINITY;
    for (const e of this.pins.keys()) oldest = Math.min(oldest, e);
    const due = this.retired.filter((r) => r.epoch <= oldest);
    if (due.length > 0) {
      this.retired = this.retired.filter((r) => r.epoch > oldest);
      const p = this.remove(
        due.flatMap((r) => r.paths),
        due.flatMap((r) => r.dirs),
      ).catch(() => {});
      this.removing.add(p);
      void p.then(() => this.removing.delete(p));
    }
    return Promise.all([...this.removing]).then(() => undefined);
  }
}

/** Rows of a DuckDB reader by column name, converted like query results. */
function readerRow(r: DuckDBResultReader, row: number): (name: string) => Value {
  const idx = new Map(r.columnNames().map((n, i) => [n, i]));
  return (name) => {
    const i = idx.get(name);
    if (i === undefined) throw new Error(`internal: column ${name} missing`);
    return convertValue(r.value(i, row), r.columnType(i));
  };
}

/** Rows of shard-relative files with the table's current fields (sql.ts `filesSql`: missing fields filled). */
function readFiles(dir: string, info: TableInfo, files: readonly ManifestFile[]): string {
  return filesSql(
    info,
    files.map((f) => fileRef(dir, f)),
  ) as string;
}

/** Key-field ranges of a set of files from their zone maps (unknown bounds stay null). */
function keyRanges(info: TableInfo, files: readonly ManifestFile[]): ValueRange[] {
  return keyRangesOf(info, files) ?? info.primaryKey.map(() => ({ min: null, max: null }));
}

/**
 * SQL selecting the versions (`_version_hi`, `_version_lo`) of the input versions that history retention drops, with
 * `"_stratum_tomb"` true for a dropped tombstone and its `_ts` in ms.
 *
 * The rule (DESIGN §5, config `history_retention_ms`), with horizon H = now − retention:
 * - a version whose successor (the next version of its key in LWW order `_ts, _engine,
 *   _version`, looked up in every file of the table, any partition) committed before H is
 *   dropped: no read at or after H can see it;
 * - the latest version of a key is kept, except a delete committed before
 *   `tombstonesBeforeMs` (H, or less: see below) when no other file holds any version of the
 *   key (its older versions in the inputs are all dropped by the first rule), so dropping it
 *   cannot let an older version reappear;
 * - nothing committed at or after H is dropped (a successor is never older than its predecessor).
 * `tombstonesBeforeMs` is at most the table's OLAP watermark + 1: with several ingestion sources a
 * lagging one may still push a version older than a tombstone above that watermark. null keeps
 * every latest delete (some file of the table is unreadable and might hold an older version).
 */
export function retentionDropSql(
  info: TableInfo,
  inputs: string,
  others: string | undefined,
  horizonMs: number,
  tombstonesBeforeMs: number | null,
): string {
  const pk = info.primaryKey.map(ident).join(', ');
  const narrow = (alias: string) =>
    `${info.primaryKey.map((k) => `${alias}.${ident(k)}`).join(', ')}, CAST(${alias}."_ts" AS TIMESTAMP) AS "_ts", ${alias}."_engine", ${alias}."_version_hi", ${alias}."_version_lo", ${alias}."_op"`;
  let all = `SELECT ${narrow('i')}, true AS "_stratum_in" FROM ${inputs} i`;
  if (others) {
    const on = info.primaryKey.map((k) => `o.${ident(k)} = k.${ident(k)}`).join(' AND ');
    all += `\nUNION ALL\nSELECT ${narrow('o')}, false FROM ${others} o SEMI JOIN (SELECT DISTINCT ${pk} FROM ${inputs}) k ON ${on}`;
  }
  const h = `epoch_ms(${Math.trunc(horizonMs)})`;
  const tombstones = tombstonesBeforeMs !== null;
  const tomb = `"_stratum_succ" IS NULL AND "_op" = 'delete' AND "_ts" < epoch_ms(${Math.trunc(tombstonesBeforeMs ?? 0)}) AND "_stratum_others" = 0`;
  return `SELECT "_version_hi", "_version_lo", ${tombstones ? tomb : 'false'} AS "_stratum_tomb", epoch_ms("_ts") AS "_stratum_ts" FROM (
    SELECT "_stratum_in", "_op", "_ts", "_version_hi", "_version_lo",
      lead("_ts") OVER (PARTITION BY ${pk} ORDER BY "_ts", "_engine", "_version_hi", "_version_lo") AS "_stratum_succ",
      sum(CASE WHEN "_stratum_in" THEN 0 ELSE 1 END) OVER (PARTITION BY ${pk}) AS "_stratum_others"
    FROM (${all})
  ) WHERE "_stratum_in" AND ("_stratum_succ" < ${h}${tombstones ? ` OR (${tomb})` : ''})`;
}

/** Skip-list key of a run: its table and first file. */
function runKey(table: string, run: readonly ManifestFile[]): string {
  return `${table}\u0000${run[0]?.path ?? ''}`;
}

/** Thrown inside a partition compaction when the manifest changed under it; the outputs are discarded. */
class Abandoned extends Error {}

/**
 * Background compaction of one shard: every `intervalMs`, and on `runOnce()`, compacts each
 * eligible run of small files in turn (see the module comment for the steps and rules).
 * Runs never overlap.
 */
export class Compactor {
  /** Replaced files waiting for the queries that may read them. */
  readonly leases: FileLeases;
  private readonly run = new Mutex();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private conn: DuckDBConnection | undefined;
  private seq = 0;
  private readonly fileIds = new VersionGenerator();
  private readonly counts: Omit<CompactionStats, 'retiredPending'> = {
    runs: 0,
    compactions: 0,
    filesIn: 0,
    filesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rowsIn: 0,
    rowsOut: 0,
    dropped: 0,
    errors: 0,
  };

  /** A stopped compactor over `host`; `start()` begins the background runs. */
  constructor(
    private readonly host: CompactionHost,
    private readonly opts: CompactionOptions,
  ) {
    this.leases = new FileLeases(async (paths, dirs) => {
      // The file and its key bloom filter sidecar (bloom.ts), if any.
      const results = await Promise.allSettled(
        paths.flatMap((p) => [rm(join(host.dir, p), { force: true }), rm(`${join(host.dir, p)}.bloom`, { force: true })]),
      );
      const gone = await Promise.allSettled(dirs.map((d) => rm(join(host.dir, d), { recursive: true, force: true })));
      const failed = [...results, ...gone].filter((r) => r.status === 'rejected').length;
      // A file that could not be removed is an orphan: start-up removes it.
      if (paths.length > 0) host.log('removed files no longer in the manifest', { files: paths.length, failed });
      if (dirs.length > 0) host.log('removed directories of dropped or truncated tables', { dirs, failed });
    });
  }

  /** Start the background timer (no-op when `intervalMs` is 0). */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.runOnce()
        .catch((e) => this.host.log('background compaction failed', { error: (e as Error).message }))
        .finally(() => {
          this.running = undefined;
        });
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stop the timer and wait for a running round; later `runOnce` calls do nothing. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.run.run(async () => {});
  }

  /** Counters since start. */
  stats(): CompactionStats {
    return { ...this.counts, retiredPending: this.leases.pending() };
  }

  /**
   * Compact every eligible partition now, one at a time, and return what was done. A partition
   * whose compaction fails is logged, counted and skipped (the old files stay live). Only files
   * live when the run started (and this run's outputs) are considered, so a run ends even while
   * pushes keep adding small files; those wait for the next run.
   */
  runOnce(): Promise<CompactionReport> {
    return this.run.run(async () => {
      const report: CompactionReport = { partitions: [] };
      if (this.stopped) return report;
      this.counts.runs++;
      const skip = new Set<string>();
      const known = new Set(Object.values(this.host.manifest().tables).flatMap((t) => t.files.map((f) => f.path)));
      for (;;) {
        if (this.stopped) break;
        const next = this.pick(skip, known);
        if (!next) break;
        try {
          const done = await this.compactRun(next.table, next.partition, next.inputs);
          for (const p of done.outputs) known.add(p);
          report.partitions.push(done.result);
        } catch (e) {
          skip.add(runKey(next.table, next.inputs));
          this.counts.errors++;
          mErrors.inc({ shard: this.host.id });
          const abandoned = e instanceof Abandoned;
          this.host.log(abandoned ? 'compaction abandoned' : 'compaction failed', {
            table: next.table,
            partition: next.partition,
            error: (e as Error).message,
          });
        }
      }
      return report;
    });
  }

  /**
   * The next run to compact and its inputs (see the module comment): of all tables, the run with
   * the most small files, when at least `minFiles`; inputs from its start in time order, at
   * least two, at most about 2 × `targetFileRows` rows so one step stays bounded (the rest goes
   * in the next step). Files pushed after this compaction run started end a run.
   */
  private pick(skip: Set<string>, known: Set<string>): { table: string; partition: string; inputs: ManifestFile[] } | undefined {
    const minFiles = Math.max(2, this.opts.minFiles);
    const target = Math.max(1, this.opts.targetFileRows);
    let best: { table: string; small: ManifestFile[] } | undefined;
    for (const [table, t] of Object.entries(this.host.manifest().tables)) {
      const info = this.host.tableInfo(table);
      if (!info) continue;
      const start = new Map(t.files.map((f) => [f, fileTimeStart(info, f)]));
      const ordered = t.files
        .filter((f) => !this.host.isUnavailable(f.path))
        .sort((a, b) => (start.get(a) as number) - (start.get(b) as number) || a.tsMin - b.tsMin);
      let run: ManifestFile[] = [];
      const close = () => {
        if (run.length >= minFiles && !skip.has(runKey(table, run)) && (!best || run.length > best.small.length))
          best = { table, small: run };
        run = [];
      };
      for (const f of ordered) {
        if (f.rows >= target || !known.has(f.path)) close();
        else run.push(f);
      }
      close();
    }
    if (!best) return undefined;
    const inputs: ManifestFile[] = [];
    let rows = 0;
    for (const f of best.small) {
      if (inputs.length >= 2 && rows + f.rows > 2 * target) break;
      inputs.push(f);
      rows += f.rows;
    }
    const first = (inputs[0] as ManifestFile).partition;
    const last = (inputs[inputs.length - 1] as ManifestFile).partition;
    return { table: best.table, partition: first === last ? first : `${first}..${last}`, inputs };
  }

  private async connection(): Promise<DuckDBConnection> {
    this.conn ??= await this.host.connect();
    return this.conn;
  }

  /** Merge `inputs`, one run in time order (see the module comment); throws when nothing was committed. */
  private async compactRun(
    table: string,
    partition: string,
    inputs: ManifestFile[],
  ): Promise<{ result: PartitionCompaction; outputs: string[] }> {
    const t0 = Date.now();
    const host = this.host;
    const info = host.tableInfo(table);
    if (!info) throw new Abandoned(`table "${table}" left the catalog`);
    const snapshot = host.manifest().tables[table] as ManifestTable;
    const snapshotPaths = new Set(snapshot.files.map((f) => f.path));
    const inputPaths = new Set(inputs.map((f) => f.path));
    const conn = await this.connection();
    const n = ++this.seq;
    const dropT = `${ident(STAGE_SCHEMA)}.${ident(`compact_drop_${n}`)}`;
    const outT = `${ident(STAGE_SCHEMA)}.${ident(`compact_out_${n}`)}`;
    const written: ManifestFile[] = [];
    let committed = false;
    try {
      const order = fileOrderSql(info);
      // Files written under older definitions come out with the current fields (missing values
      // filled in, dropped fields left behind): the outputs hold exactly the current fields.
      const src = readFiles(host.dir, info, inputs);

      // History retention: which input versions go (decided against every file of the table).
      let dropped = 0;
      let tombstoneMaxTs = Number.NEGATIVE_INFINITY;
      // Append-only tables: every version is a row of `<table>`, none is superseded.
      const retention = info.options.appendOnly ? undefined : info.options.historyRetentionMs;
      if (retention !== undefined) {
        const horizon = this.opts.now() - retention;
        const inRanges = keyRanges(info, inputs);
        const others = snapshot.files.filter(
          (f) =>
            !inputPaths.has(f.path) &&
            !host.isUnavailable(f.path) &&
            keyRanges(info, [f]).every((r, i) => rangesMayOverlap(r, inRanges[i] as ValueRange)),
        );
        // Unreadable or quarantined files might hold older versions of a key: keep its tombstone.
        const unreadable =
          (snapshot.quarantined?.length ?? 0) > 0 || snapshot.files.some((f) => !inputPaths.has(f.path) && host.isUnavailable(f.path));
        const tombstones = unreadable ? null : Math.min(horizon, snapshot.watermark + 1);
        const othersSql = others.length > 0 ? readFiles(host.dir, info, others) : undefined;
        await conn.run(`CREATE TABLE ${dropT} AS ${retentionDropSql(info, src, othersSql, horizon, tombstones)}`);
        const r = await conn.runAndReadAll(`SELECT count(*) AS n, max("_stratum_ts") FILTER (WHERE "_stratum_tomb") AS tomb FROM ${dropT}`);
        const get = readerRow(r, 0);
        dropped = Number(get('n'));
        const tomb = get('tomb');
        if (tomb !== null) tombstoneMaxTs = Number(tomb);
      }

      // Kept versions in file order, numbered into output files of up to targetFileRows rows.
      const target = Math.max(1, this.opts.targetFileRows);
      const userCols = fieldColumns(info).map((c) => ident(c.field));
      const colSel = [...userCols, 'CAST("_ts" AS TIMESTAMP_MS) AS "_ts"', '"_version_hi"', '"_version_lo"', '"_op"', '"_engine"'].join(
        ', ',
      );
      const kept =
        dropped > 0
          ? `(SELECT * FROM ${src} s ANTI JOIN ${dropT} d ON s."_version_hi" = d."_version_hi" AND s."_version_lo" = d."_version_lo")`
          : src;
      await conn.run(
        `CREATE TABLE ${outT} AS SELECT ${colSel}, (row_number() OVER (ORDER BY ${order}) - 1) // ${target} AS "_stratum_chunk"
         FROM ${kept} ORDER BY ${order}`,
      );
      const z = await conn.runAndReadAll(zoneMapSql(info, outT, '"_stratum_chunk"'));
      const relDir = posix.dirname((inputs[0] as ManifestFile).path);
      const cols = [...fieldColumns(info).map((c) => c.field), ...FILE_SYSTEM_COLUMNS].map(ident).join(', ');
      for (let r = 0; r < z.currentRowCount; r++) {
        const get = readerRow(z, r);
        const rel = `${relDir}/part-${this.fileIds.next(Date.now())}.parquet`;
        const select = `SELECT ${cols} FROM ${outT} WHERE "_stratum_chunk" = ${Number(get('grp'))} ORDER BY ${order}`;
        written.push(await writePartFile(conn, host.dir, host.partFile, info, select, rel, partition, get));
      }
      // The outputs skip the read-time dedupe (manifest `uniqueKeys`) when they hold one version
      // per key and no other flagged file holds any of their keys.
      const outRanges = keyRanges(info, written);
      let uniqueKeys =
        written.length > 0 &&
        (await keysUniqueAgainst(
          conn,
          host.dir,
          info,
          outT,
          outRanges,
          snapshot.files.filter((f) => f.uniqueKeys === true && !inputPaths.has(f.path)),
          (p) => host.isUnavailable(p),
        ));
      await conn.run(`DROP TABLE IF EXISTS ${outT}; DROP TABLE IF EXISTS ${dropT};`);

      await host.exclusive(async () => {
        const cur = host.manifest();
        const curT = cur.tables[table];
        if (!curT) throw new Abandoned(`table "${table}" left the manifest`);
        const live = new Set(curT.files.map((f) => f.path));
        if (inputs.some((f) => !live.has(f.path))) throw new Abandoned('an input file is no longer live');
        const added = curT.files.filter((f) => !snapshotPaths.has(f.path));
        // A file pushed meanwhile could hold an older version of a key whose tombstone was dropped.
        if (added.some((f) => f.tsMin <= tombstoneMaxTs))
          throw new Abandoned('a file pushed meanwhile may hold versions of dropped tombstones');
        // A flagged file pushed meanwhile was checked against the inputs, not the outputs.
        if (
          uniqueKeys &&
          added.some((f) => f.uniqueKeys === true && keyRanges(info, [f]).every((r, i) => rangesMayOverlap(r, outRanges[i] as ValueRange)))
        )
          uniqueKeys = false;
        const outputs = uniqueKeys ? written.map((f) => ({ ...f, uniqueKeys: true })) : written;
        const files: ManifestFile[] = [];
        let placed = false;
        for (const f of curT.files) {
          if (!inputPaths.has(f.path)) files.push(f);
          else if (!placed) {
            placed = true;
            files.push(...outputs);
          }
        }
        const next = withTable(cur, table, { ...curT, files });
        try {
          await writeManifest(host.dir, next);
        } catch (e) {
          // If the rename happened (only the directory fsync failed) the new manifest is live.
          const onDisk = await readManifest(host.dir, host.id).catch(() => undefined);
          if (onDisk?.generation !== next.generation) throw e;
          host.log('manifest replaced but its directory fsync failed', { error: (e as Error).message });
        }
        committed = true;
        await host.publish(table, next);
        this.leases.retire(inputs.map((f) => f.path));
      });

      const res: PartitionCompaction = {
        table,
        partition,
        filesIn: inputs.length,
        filesOut: written.length,
        rowsIn: inputs.reduce((s, f) => s + f.rows, 0),
        rowsOut: written.reduce((s, f) => s + f.rows, 0),
        dropped,
        bytesIn: inputs.reduce((s, f) => s + f.bytes, 0),
        bytesOut: written.reduce((s, f) => s + f.bytes, 0),
        ms: Date.now() - t0,
      };
      this.record(res);
      host.log('compacted', { ...res, uniqueKeys });
      return { result: res, outputs: written.map((f) => f.path) };
    } catch (e) {
      if (!committed) {
        await Promise.allSettled(
          written.flatMap((f) => [rm(join(host.dir, f.path), { force: true }), rm(`${join(host.dir, f.path)}.tmp`, { force: true })]),
        );
      }
      throw e instanceof Abandoned ? e : mapDuckDbError(e);
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${outT}; DROP TABLE IF EXISTS ${dropT};`).catch(() => {});
    }
  }

  private record(r: PartitionCompaction): void {
    const c = this.counts;
    c.compactions++;
    c.filesIn += r.filesIn;
    c.filesOut += r.filesOut;
    c.bytesIn += r.bytesIn;
    c.bytesOut += r.bytesOut;
    c.rowsIn += r.rowsIn;
    c.rowsOut += r.rowsOut;
    c.dropped += r.dropped;
    const shard = { shard: this.host.id };
    mCompactions.inc(shard);
    mFilesIn.inc(shard, r.filesIn);
    mFilesOut.inc(shard, r.filesOut);
    mBytesIn.inc(shard, r.bytesIn);
    mBytesOut.inc(shard, r.bytesOut);
    mDropped.inc(shard, r.dropped);
    mSeconds.observe(shard, r.ms / 1000);
  }
}
