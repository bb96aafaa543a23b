/**
 * Reads against committed view generations (docs/architecture.md "OLAP shard", "Round trips per
 * query"): plan a statement's file reads from the generation each table's main views were last
 * committed at (unavailable files, zone-map and bloom pruning, per-query temp views), run it in as
 * few DuckDB round trips as exactness allows, and answer `count(*)` from the manifest when that is
 * exact. The shard (shard.ts) owns the generations; this module only reads them.
 */
import { join } from 'node:path';
import { type DuckDBConnection, StatementType } from '@duckdb/node-api';
import { counter, type Literal, type QueryOptions, type QueryResult, SqlState, StratumError, type TableInfo } from '@stratum/shared';
import { bindParams, convertResult, mapDuckDbError, runOnWorkers } from '@stratum/shared/duckdb';
import type { FileBloom } from './bloom.ts';
import { fileRef, liveRowCount, type ManifestFile, type ValueRange } from './manifest.ts';
import type { StatementReads } from './plan.ts';
import { pruneFiles, type TypedPred } from './prune.ts';
import { describeUnavailable, type UnavailableFile, unavailableError } from './quarantine.ts';
import { ident, lit, type ViewInputs, type ViewKind, viewSql } from './sql.ts';

/** Schema of the shard's own bookkeeping tables (`views`: storage → committed generation). */
export const META_SCHEMA = 'stratum_meta';

const mFilesTotal = counter('stratum_olap_scan_files_total', 'Files of the tables queries read (before pruning)', ['shard']);
const mFilesOpened = counter('stratum_olap_scan_files_opened_total', 'Files queries opened after zone-map and bloom pruning', ['shard']);
const mDegraded = counter('stratum_olap_degraded_queries_total', 'Queries answered without some unavailable files', ['shard']);

/** The three views, in the order they are created. */
export const VIEW_KINDS: readonly ViewKind[] = ['table', 'history', 'latest'];

/** DuckDB state of one storage name: delta tables, views and their generations. */
export interface TableState {
  info: TableInfo;
  /** Table name the main views were last created under (a rename drops the old ones). */
  viewsName: string | undefined;
  /** Fields the delta tables have columns for: every field seen since start (dropped ones stay, unread). */
  deltaFields: Set<string>;
  deltaRows: number;
  deltaDisjoint: boolean;
  /** Union of the files' key-field ranges (in key order, zone-map comparable form). */
  fileKeyRanges: ValueRange[] | undefined;
  /** Current definitions of the views by kind; undefined = stale (rebuilt by the next sync). */
  defs: Record<ViewKind, string> | undefined;
  /** What each committed view generation was built from (the last few), for per-query views. */
  snapshots: Map<number, ViewSnapshot>;
  /** The generation the main views were last committed at (undefined: none yet). */
  committedGen?: number | undefined;
  /** A generation being committed now (between the DuckDB script and `committedGen`). */
  pendingGen?: number | undefined;
  /** The staging table delta appends load into (appendDelta), for the column set `ddl`. */
  rawStage?: { ddl: string; name: string; sql: string };
}

/**
 * The inputs of one committed generation of a table's views. A query reads the generation
 * number in its DuckDB transaction (`stratum_meta.views`), so the per-query views it builds from
 * the snapshot pair the same file list with the same delta as the main views it shadows.
 */
export interface ViewSnapshot {
  inputs: ViewInputs;
  /** Available files (the ones in `inputs.files`, as manifest entries). */
  files: ManifestFile[];
  /** Files of the table that queries cannot read (quarantined or missing). */
  unavailable: UnavailableFile[];
}

/** A view a query references: its table's state, the view kind, and the predicates of each reference. */
export interface QueryView {
  st: TableState;
  kind: ViewKind;
  preds: TypedPred[][];
}

/**
 * `SELECT count(*) FROM <view>` answered from the manifest's row counts, without DuckDB
 * (docs/architecture.md "OLAP shards"), when the committed view generation makes that exact:
 * no delta rows (then and now), no unavailable file, and for `<t>` a file set whose live row
 * count the manifest holds (manifest.ts `liveRowCount`: flagged files with no delete, and
 * overlays that counted the rows they supersede; append-only `<t>`: no delete);
 * `<t>__history` counts every version.
 * Undefined otherwise (the query runs in DuckDB).
 */
export function countFromManifest(st: TableState | undefined, c: NonNullable<StatementReads['countStar']>): QueryResult | undefined {
  const snap = st?.committedGen === undefined ? undefined : st.snapshots.get(st.committedGen);
  if (!st || !snap || snap.unavailable.length > 0 || snap.inputs.deltaRows !== 0 || st.deltaRows !== 0) return undefined;
  const noDeletes = snap.files.every((f) => f.ops.delete === 0);
  const all = () => snap.files.reduce((s, f) => s + f.rows, 0);
  let n: number | undefined;
  if (c.kind === 'history') n = all();
  else if (c.kind === 'table') n = st.info.options.appendOnly ? (noDeletes ? all() : undefined) : liveRowCount(snap.files);
  if (n === undefined) return undefined;
  return { columns: [{ name: c.name, type: 'bigint' }], rows: [[BigInt(n)]], scan: { filesTotal: snap.files.length, filesOpened: 0 } };
}

/** What a {@link SnapshotReader} needs of its shard. */
export interface SnapshotHost {
  /** Shard id (metrics labels, error messages). */
  id: string;
  /** Absolute shard directory (manifest paths are relative to it). */
  dir: string;
  /** Prune files by zone maps and bloom filters (false: every query opens every file). */
  pruneFiles: boolean;
  /** The key bloom filter of a file (relative path), if one is loaded. */
  bloomOf(path: string): FileBloom | undefined;
  /** DuckDB worker threads that run queries. */
  workers(): number;
  /** Resolves once the view commit under way (if any) is done: the shard's state mutex, taken and released. */
  waitForState(): Promise<void>;
  /** Track a background promise so close() waits for it. */
  track(p: Promise<void>): void;
}

/**
 * Runs planned statements against committed view generations on pooled DuckDB connections. One
 * per shard; it keeps the deferred ROLLBACK of each connection's last query transaction.
 */
export class SnapshotReader {
  constructor(private readonly host: SnapshotHost) {}

  /**
   * Run the statement against the committed view generations (`TableState.committedGen`), in
   * as few round trips as exactness allows:
   * - plan from the generations committed now: unavailable files, pruning, per-query views;
   * - no per-query view needed: run the statement as it is (DuckDB reads the main views, which
   *   pair each file list with its delta atomically), and accept the answer only if no view
   *   generation was being committed or was committed meanwhile;
   * - otherwise one script begins a transaction, creates the per-query temp views (pruned file
   *   lists, as-of filters) shadowing the main views, and reads the generations it sees
   *   (`stratum_meta.views`); the statement runs there when they are the planned ones, and the
   *   ROLLBACK (which drops the temp views) is not waited for.
   * A plan overtaken by a new generation is made again. `opened` receives the files the query
   * may read.
   * @throws StaleViews when a table has no committed generation (the caller syncs and retries).
   */
  async run(
    conn: DuckDBConnection,
    sql: string,
    params: readonly Literal[],
    options: QueryOptions,
    views: Map<string, QueryView>,
    opened: Map<string, ManifestFile>,
  ): Promise<QueryResult> {
    await this.settled(conn);
    const states = [...new Set([...views.values()].map((v) => v.st))];
    for (let attempt = 0; ; attempt++) {
      opened.clear();
      const plan = this.plan(states, views, options, opened);
      const current = () => states.every((st) => st.pendingGen === undefined && st.committedGen === plan.gens.get(st));
      const finish = (res: QueryResult): QueryResult => {
        mFilesTotal.inc({ shard: this.host.id }, plan.filesTotal);
        mFilesOpened.inc({ shard: this.host.id }, plan.filesOpened);
        const out: QueryResult = { ...res, scan: { filesTotal: plan.filesTotal, filesOpened: plan.filesOpened } };
        if (plan.unavailable.length > 0) {
          mDegraded.inc({ shard: this.host.id });
          out.notices = [`degraded read: left out ${describeUnavailable(plan.unavailable)}`];
        }
        return out;
      };
      if (plan.ddl.length === 0) {
        if (!current()) {
          if (attempt >= 20) throw new StaleViews(`OLAP shard ${this.host.id}: views kept changing while planning`);
          await this.host.waitForState();
          continue;
        }
        const res = await runReadOnly(conn, sql, params, this.host.id, this.host.workers());
        if (current()) return finish(res);
        continue;
      }
      const where = states.map((st) => lit(st.info.storage)).join(', ');
      let r: Awaited<ReturnType<DuckDBConnection['run']>>;
      try {
        r = await conn.run(
          `BEGIN TRANSACTION; ${plan.ddl.join('\n')}\nSELECT storage, gen FROM ${ident(META_SCHEMA)}.views WHERE storage IN (${where})`,
        );
      } catch (e) {
        await conn.run('ROLLBACK').catch(() => {});
        // A plan overtaken by a commit may name relations that are gone (a TRUNCATE's delta
        // table): plan again. With the planned generations still current the error stands.
        if (current() || attempt >= 20) throw e;
        await this.host.waitForState();
        continue;
      }
      try {
        // Read synchronously (a materialized result): no round trip per chunk.
        const seen = new Map<string, number>();
        for (let i = 0; i < r.chunkCount; i++) for (const [storage, gen] of r.getChunk(i).getRows()) seen.set(String(storage), Number(gen));
        if (states.every((st) => seen.get(st.info.storage) === plan.gens.get(st))) {
          return finish(await runReadOnly(conn, sql, params, this.host.id, this.host.workers()));
        }
      } finally {
        // The answer does not wait for the ROLLBACK; the connection's next user does (`settled`),
        // and so does close().
        const rb = conn.run('ROLLBACK').then(
          () => {},
          () => {},
        );
        this.rollbacks.set(conn, rb);
        this.host.track(rb);
      }
      await this.settled(conn);
      if (attempt >= 20) throw new StaleViews(`OLAP shard ${this.host.id}: views kept changing while planning`);
      await this.host.waitForState();
    }
  }

  /**
   * What a query reads, planned from the committed view generation of each table: unavailable
   * files (XX001 unless degraded reads are allowed), the files each view reference must open
   * (prune.ts) and the temp views shadowing main views whose file list is pruned or read as of
   * a time. Fills `opened`.
   * @throws StaleViews when a table has no committed generation; the unavailable-data error.
   */
  private plan(
    states: readonly TableState[],
    views: Map<string, QueryView>,
    options: QueryOptions,
    opened: Map<string, ManifestFile>,
  ): { gens: Map<TableState, number>; ddl: string[]; unavailable: UnavailableFile[]; filesTotal: number; filesOpened: number } {
    const gens = new Map<TableState, number>();
    const unavailable: UnavailableFile[] = [];
    for (const st of states) {
      const gen = st.committedGen;
      const snap = gen === undefined ? undefined : st.snapshots.get(gen);
      if (gen === undefined || !snap) throw new StaleViews(`OLAP shard ${this.host.id}: views of "${st.info.name}" are not committed`);
      gens.set(st, gen);
      unavailable.push(...snap.unavailable);
    }
    if (unavailable.length > 0 && !options.allowDegraded) throw unavailableError(this.host.id, unavailable);
    let filesTotal = 0;
    let filesOpened = 0;
    const ddl: string[] = [];
    for (const [name, v] of views) {
      const snap = v.st.snapshots.get(gens.get(v.st) as number) as ViewSnapshot;
      const info = snap.inputs.table;
      const survivors = pruneFiles({
        table: info,
        perRow: v.kind === 'history' || (v.kind === 'table' && info.options.appendOnly),
        singleVersion: snap.inputs.singleVersion,
        files: snap.files,
        refs: !this.host.pruneFiles ? [[]] : v.preds,
        ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
        bloomOf: (f) => this.host.bloomOf(f.path),
      });
      filesTotal += snap.files.length + snap.unavailable.length;
      filesOpened += survivors.length;
      for (const f of survivors) opened.set(join(this.host.dir, f.path), f);
      if (survivors.length === snap.files.length && options.asOf === undefined) continue;
      const inputs: ViewInputs = {
        ...snap.inputs,
        files: survivors.map((f) => fileRef(this.host.dir, f)),
      };
      if (options.asOf !== undefined) inputs.asOf = options.asOf;
      ddl.push(`CREATE TEMP VIEW ${ident(name)} AS ${viewSql(v.kind, inputs)};`);
    }
    return { gens, ddl, unavailable, filesTotal, filesOpened };
  }

  /** ROLLBACKs of query transactions not awaited by their query ({@link run}). */
  private readonly rollbacks = new WeakMap<DuckDBConnection, Promise<void>>();

  /** Wait for `conn`'s last query transaction to be rolled back (call before using a pooled connection). */
  async settled(conn: DuckDBConnection): Promise<void> {
    const p = this.rollbacks.get(conn);
    if (p) {
      await p;
      this.rollbacks.delete(conn);
    }
  }
}

/**
 * The views a query was planned against were replaced before it ran (DDL meanwhile), or a table
 * has no committed generation yet: the caller syncs the catalog and plans again (SQLSTATE XX000
 * if it ever escapes).
 */
export class StaleViews extends StratumError {
  constructor(message: string) {
    super(SqlState.internalError, message);
    this.name = 'StaleViews';
  }
}

export const EXPLAIN_RE = /^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?/i;

/**
 * Prepare, check read-only, bind and run `sql` on `conn`.
 * @throws StratumError 25006 for anything but SELECT (or EXPLAIN of a SELECT), else the mapped DuckDB error.
 */
export async function runReadOnly(
  conn: DuckDBConnection,
  sql: string,
  params: readonly Literal[],
  id: string,
  workers: number,
): Promise<QueryResult> {
  let stmt: Awaited<ReturnType<DuckDBConnection['prepare']>>;
  try {
    stmt = await conn.prepare(sql);
  } catch (e) {
    throw mapDuckDbError(e);
  }
  try {
    let type = stmt.statementType;
    if (type === StatementType.EXPLAIN) {
      // EXPLAIN ANALYZE executes its statement: allow it only around a SELECT.
      const m = EXPLAIN_RE.exec(sql);
      if (m) {
        const inner = await conn.prepare(sql.slice(m[0].length));
        type = inner.statementType === StatementType.SELECT ? StatementType.SELECT : inner.statementType;
        inner.destroySync();
      }
    }
    if (type !== StatementType.SELECT) {
      throw new StratumError(
        '25006',
        `OLAP shard ${id} runs read-only queries only (SELECT or EXPLAIN SELECT); got a ${StatementType[type] ?? type} statement`,
      );
    }
    bindParams(stmt, params);
    const res = await runOnWorkers(stmt, workers);
    return await convertResult(res);
  } catch (e) {
    throw mapDuckDbError(e);
  } finally {
    stmt.destroySync();
  }
}
