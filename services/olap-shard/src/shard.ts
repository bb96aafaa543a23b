/**
 * The OLAP shard (DESIGN §5): immutable Parquet partitions under a manifest, an in-memory
 * delta of versions newer than the OLAP watermark pulled from ingestion, and DuckDB views
 * over both. Internal; the public surface is `index.ts`.
 *
 * Concurrency: `pushMutex` serializes pushes (file writing, manifest replace); `stateMutex`
 * serializes short changes of DuckDB state (delta tables, views, in-memory manifest). Queries
 * take neither: they run on a pool of connections and see DuckDB's committed state, which
 * always pairs a view definition with the delta rows it expects (see `commitPush`).
 */
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBResultReader, StatementType } from '@duckdb/node-api';
import {
  type Catalog,
  formatDate,
  type IngestionApi,
  type Literal,
  type OlapShardApi,
  type PushRequest,
  type QueryResult,
  SchemaError,
  SqlState,
  type SqlType,
  StratumError,
  type TableInfo,
  TierUnavailableError,
  type Value,
  VersionGenerator,
  type VersionRecord,
} from '@stratum/shared';
import { bindParams, convertResult, convertValue, mapDuckDbError, PG_SEMANTICS_SQL } from '@stratum/shared/duckdb';
import { rawColumnsDdl, typedSelect, VersionLoader } from './load.ts';
import {
  decodeZoneValue,
  encodeZoneValue,
  MANIFEST_NAME,
  type Manifest,
  type ManifestFile,
  type ManifestTable,
  rangesMayOverlap,
  readManifest,
  unionRange,
  type ValueRange,
  writeManifest,
  type ZoneMap,
} from './manifest.ts';
import {
  DELTA_SCHEMA,
  deltaColumnsDdl,
  deltaLatestTable,
  deltaTable,
  historyViewSql,
  ident,
  latestQualify,
  latestViewSql,
  lit,
  STAGE_SCHEMA,
  SYSTEM_COLUMNS,
  type ViewInputs,
} from './sql.ts';
import { fsyncPath, Mutex, Pool } from './util.ts';

/** Options of the shard (see `index.ts` for the documented public form). */
export interface ShardOptions {
  id: string;
  dir: string;
  catalog: Catalog;
  deltaSources: IngestionApi[];
  log?: (msg: string, fields?: object) => void;
  queryConnections?: number;
  threads?: number;
  memoryLimit?: string;
  keyBloomFilters?: boolean;
  rowGroupSize?: number;
  deltaBatch?: number;
  catalogWaitMs?: number;
  deltaPollMs?: number;
}

/** Per-table statistics reported by `stats()`. */
export interface TableStats {
  /** OLAP watermark (ms; -1 = nothing pushed). */
  watermark: number;
  /** Live files in the manifest (including unavailable ones). */
  files: number;
  /** Manifest files missing or damaged on start, left out of queries. */
  unavailableFiles: number;
  /** Bytes of the live files. */
  bytes: number;
  /** Versions in the live files. */
  rows: number;
  /** Delta versions above the watermark held in memory. */
  deltaRows: number;
  /** The files hold at most one version (an insert) per key, so no dedupe runs. */
  singleVersion: boolean;
}

/** Shard statistics. */
export interface ShardStats {
  id: string;
  files: number;
  unavailableFiles: number;
  bytes: number;
  rows: number;
  deltaRows: number;
  /** Queries run since start. */
  queries: number;
  /** Pushes that wrote or advanced something since start. */
  pushes: number;
  tables: Record<string, TableStats>;
}

interface TableState {
  info: TableInfo;
  deltaRows: number;
  deltaDisjoint: boolean;
  /** Union of the files' key-column ranges (by key column), from zone maps. */
  fileKeyRanges: ValueRange[] | undefined;
  viewSql: string | undefined;
  historySql: string | undefined;
}

const NOOP_LOG = () => {};
const TIME_TYPES = new Set<SqlType>(['timestamp', 'timestamptz', 'date']);

/** Column-name → index lookup for a reader row. */
function readerRow(r: DuckDBResultReader, row: number): (name: string) => Value {
  const names = r.columnNames();
  const idx = new Map(names.map((n, i) => [n, i]));
  return (name) => {
    const i = idx.get(name);
    if (i === undefined) throw new Error(`internal: column ${name} missing`);
    return convertValue(r.value(i, row), r.columnType(i));
  };
}

/** The OLAP shard implementation behind `startOlapShard`. */
export class Shard implements OlapShardApi {
  readonly id: string;
  private readonly dir: string;
  private readonly catalog: Catalog;
  private readonly log: (msg: string, fields?: object) => void;
  private readonly keyBloomFilters: boolean;
  private readonly rowGroupSize: number;
  private readonly deltaBatch: number;
  private readonly catalogWaitMs: number;

  private instance: DuckDBInstance | undefined;
  private connections: DuckDBConnection[] = [];
  private pool: Pool<DuckDBConnection> | undefined;
  private stateConn: DuckDBConnection | undefined;
  private pushConn: DuckDBConnection | undefined;

  private manifest: Manifest;
  /** Manifest file paths (relative) that were missing or damaged on start. */
  private readonly unavailable = new Set<string>();
  private readonly tables = new Map<string, TableState>();
  /** Delta versions of tables the catalog does not know yet. */
  private readonly pending = new Map<string, VersionRecord[]>();
  /** Last LSN pulled, per delta source index. */
  private readonly lastLsn: number[] = [];
  private readonly pushMutex = new Mutex();
  private readonly stateMutex = new Mutex();
  private refreshRunning: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private refreshQueued: Promise<void> | undefined;
  private stageSeq = 0;
  /** UUIDv7 source for file names (monotonic, so names sort by creation). */
  private readonly fileIds = new VersionGenerator();
  private queries = 0;
  private pushes = 0;
  private closing: Promise<void> | undefined;
  private inflight = new Set<Promise<unknown>>();
  private readonly warnedTimeColumn = new Set<string>();

  constructor(private readonly opts: ShardOptions) {
    this.id = opts.id;
    this.dir = resolve(opts.dir);
    this.catalog = opts.catalog;
    this.log = opts.log ?? NOOP_LOG;
    this.keyBloomFilters = opts.keyBloomFilters ?? false;
    this.rowGroupSize = opts.rowGroupSize ?? 122_880;
    this.deltaBatch = opts.deltaBatch ?? 50_000;
    this.catalogWaitMs = opts.catalogWaitMs ?? 10_000;
    this.manifest = { format: 1, shard: opts.id, generation: 0, updatedAt: 0, tables: {} };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Open the directory (recover from a crash), start DuckDB, build views. */
  async start(): Promise<void> {
    await mkdir(join(this.dir, '.spill'), { recursive: true });
    this.manifest = await readManifest(this.dir, this.id);
    await this.removeOrphans();
    await this.checkFiles();
    try {
      await this.openDuckDb();
      await this.syncCatalog();
    } catch (e) {
      this.closeDuckDb();
      throw mapDuckDbError(e);
    }
    // Pull the delta in the background too, so a query only fetches what arrived since the
    // last poll (after a bulk load, the first query would otherwise pull everything at once).
    const pollMs = this.opts.deltaPollMs ?? 200;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => {
        if (this.closing || this.refreshRunning) return;
        this.refresh().catch((e) => this.log('background delta refresh failed', { err: (e as Error).message }));
      }, pollMs);
      this.pollTimer.unref();
    }
    this.log('olap shard started', {
      dir: this.dir,
      tables: Object.keys(this.manifest.tables).length,
      files: this.stats().files,
      unavailableFiles: this.unavailable.size,
    });
  }

  private async openDuckDb(): Promise<void> {
    const config: Record<string, string> = {
      temp_directory: join(this.dir, '.spill'),
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    };
    if (this.opts.threads !== undefined) config.threads = String(this.opts.threads);
    if (this.opts.memoryLimit !== undefined) config.memory_limit = this.opts.memoryLimit;
    this.instance = await DuckDBInstance.create(':memory:', config);
    const n = Math.max(1, this.opts.queryConnections ?? 4);
    for (let i = 0; i < n + 2; i++) {
      const c = await this.instance.connect();
      this.connections.push(c);
      await c.run(PG_SEMANTICS_SQL);
    }
    const [stateConn, pushConn, ...queryConns] = this.connections;
    this.stateConn = stateConn;
    this.pushConn = pushConn;
    this.pool = new Pool(queryConns);
    const s = this.stateConn as DuckDBConnection;
    await s.run(`CREATE SCHEMA ${ident(DELTA_SCHEMA)}; CREATE SCHEMA ${ident(STAGE_SCHEMA)};`);
    // Files are immutable and uniquely named, so caching their footers is safe.
    await s.run('SET GLOBAL parquet_metadata_cache = true');
    // Queries may read only the shard's own directory, and cannot change settings back.
    await s.run(`SET GLOBAL allowed_directories = [${lit(this.dir + sep)}]`);
    await s.run('SET GLOBAL enable_external_access = false');
    await s.run('SET GLOBAL lock_configuration = true');
  }

  private closeDuckDb(): void {
    for (const c of this.connections) {
      try {
        c.disconnectSync();
      } catch {
        // already closed
      }
    }
    this.connections = [];
    try {
      this.instance?.closeSync();
    } catch {
      // already closed
    }
    this.instance = undefined;
  }

  /** Drain in-flight calls, then close every DuckDB connection and the instance. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.pollTimer) clearInterval(this.pollTimer);
      await this.refreshRunning?.catch(() => {});
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      await this.pushMutex.run(async () => {});
      await this.stateMutex.run(async () => {});
      this.closeDuckDb();
      this.log('olap shard stopped', { id: this.id });
    })();
    return this.closing;
  }

  /** Run a public operation: refused once closing, tracked so close() can drain it. */
  private op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) {
      return Promise.reject(new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is shutting down`));
    }
    const p = fn();
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  // ---------------------------------------------------------------- crash recovery

  /** Delete Parquet files (and temp files) under table folders that the manifest does not list. */
  private async removeOrphans(): Promise<void> {
    const live = new Set<string>();
    for (const t of Object.values(this.manifest.tables)) for (const f of t.files) live.add(f.path);
    const walk = async (abs: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(abs, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(abs, e.name);
        if (e.isDirectory()) {
          if (abs === this.dir && e.name.startsWith('.')) continue; // .spill and other internals
          await walk(p);
          continue;
        }
        const rel = relative(this.dir, p).split(sep).join('/');
        if (abs === this.dir) {
          if (e.name.startsWith(`${MANIFEST_NAME}.tmp`)) {
            await rm(p, { force: true });
            this.log('removed leftover manifest temp file', { file: rel });
          }
          continue;
        }
        if ((e.name.endsWith('.parquet') || e.name.endsWith('.parquet.tmp')) && !live.has(rel)) {
          await rm(p, { force: true });
          this.log('removed orphan file not in the manifest (crash during a push)', { file: rel });
        }
      }
    };
    await walk(this.dir);
  }

  /** Check every manifest file exists with its recorded size and Parquet magic; report and exclude the rest. */
  private async checkFiles(): Promise<void> {
    for (const [table, t] of Object.entries(this.manifest.tables)) {
      for (const f of t.files) {
        const abs = join(this.dir, f.path);
        let problem: string | undefined;
        try {
          const st = await stat(abs);
          if (st.size !== f.bytes) problem = `size ${st.size} bytes, manifest says ${f.bytes}`;
          else problem = await parquetMagicProblem(abs, st.size);
        } catch (e) {
          problem = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
        }
        if (problem) {
          this.unavailable.add(f.path);
          this.log('manifest file unavailable; excluded from queries', { table, file: f.path, problem, rows: f.rows });
        }
      }
    }
  }

  // ---------------------------------------------------------------- catalog and views

  /** Create delta tables and views for catalog tables not yet set up; rebuild views whose options changed or are stale. */
  private async syncCatalog(): Promise<void> {
    const list = this.catalog.list();
    const current = (info: TableInfo) => {
      const st = this.tables.get(info.name);
      return st?.info === info && st.viewSql !== undefined;
    };
    if (list.every(current)) return;
    await this.stateMutex.run(async () => {
      for (const info of this.catalog.list()) {
        if (current(info)) continue;
        const st = this.tables.get(info.name);
        if (!st) {
          await this.state().run(
            `CREATE TABLE IF NOT EXISTS ${deltaTable(info.name)} (${deltaColumnsDdl(info)});
             CREATE TABLE IF NOT EXISTS ${deltaLatestTable(info.name)} (${deltaColumnsDdl(info)});`,
          );
          const fresh: TableState = {
            info,
            deltaRows: 0,
            deltaDisjoint: false,
            fileKeyRanges: undefined,
            viewSql: undefined,
            historySql: undefined,
          };
          this.tables.set(info.name, fresh);
          this.recomputeFileKeyRanges(fresh);
          const waiting = this.pending.get(info.name);
          this.pending.delete(info.name);
          if (waiting?.length) await this.appendDelta(fresh, waiting);
          await this.updateDeltaStats(fresh);
        } else if (st.info !== info) {
          const wasAppendOnly = st.info.options.appendOnly;
          st.info = info;
          // The latest-version table is kept only for tables that are not append-only.
          if (wasAppendOnly && !info.options.appendOnly) await this.rebuildDeltaLatest(st);
        }
        await this.rebuildViews(this.tables.get(info.name) as TableState);
      }
    });
  }

  private state(): DuckDBConnection {
    if (!this.stateConn) throw new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is not open`);
    return this.stateConn;
  }

  private tableManifest(name: string): ManifestTable {
    return this.manifest.tables[name] ?? { watermark: -1, singleVersion: true, files: [] };
  }

  private recomputeFileKeyRanges(st: TableState): void {
    const info = st.info;
    const files = this.tableManifest(info.name).files;
    if (files.length === 0) {
      st.fileKeyRanges = undefined;
      return;
    }
    st.fileKeyRanges = info.primaryKey.map((k) => {
      const type = (info.columns[info.columnIndex.get(k) ?? -1] as { type: SqlType }).type;
      let r: ValueRange | undefined;
      for (const f of files) {
        const z = f.columns[k];
        const fr: ValueRange = z ? { min: decodeZoneValue(z.min, type), max: decodeZoneValue(z.max, type) } : { min: null, max: null };
        r = unionRange(r, fr);
      }
      return r as ValueRange;
    });
  }

  /** Current definitions of `<t>` and `<t>__history` (brief §5; see sql.ts). */
  private viewDefinitions(st: TableState): { viewSql: string; historySql: string } {
    const m = this.tableManifest(st.info.name);
    const available = m.files.filter((f) => !this.unavailable.has(f.path));
    const inputs: ViewInputs = {
      table: st.info,
      files: available.map((f) => join(this.dir, f.path)),
      watermark: m.watermark,
      singleVersion: m.singleVersion,
      filesHaveDeletes: available.some((f) => (f.ops?.delete ?? 1) > 0),
      deltaRows: st.deltaRows,
      deltaDisjoint: st.deltaDisjoint,
    };
    return { viewSql: latestViewSql(inputs), historySql: historyViewSql(inputs) };
  }

  /**
   * Recreate `<t>` and `<t>__history` when their definition changed (or when `force`), and drop
   * delta rows at or below the watermark, in one DuckDB transaction: whatever state a query
   * sees pairs a file list with the delta rows above that list's watermark. On failure the
   * views are marked stale and rebuilt by the next query. Caller holds stateMutex.
   */
  private async rebuildViews(st: TableState, force = false): Promise<void> {
    const { viewSql, historySql } = this.viewDefinitions(st);
    if (!force && viewSql === st.viewSql && historySql === st.historySql) return;
    const name = st.info.name;
    const w = this.tableManifest(name).watermark;
    // A key whose latest delta version is now in the files has no newer delta version, so
    // dropping latest rows at or below the watermark keeps the latest table exact.
    const upTo = `"_ts" <= epoch_ms(${Math.trunc(w)})`;
    const cleanup = w >= 0 ? `DELETE FROM ${deltaTable(name)} WHERE ${upTo}; DELETE FROM ${deltaLatestTable(name)} WHERE ${upTo};` : '';
    try {
      await this.state().run(
        `BEGIN; CREATE OR REPLACE VIEW main.${ident(name)} AS ${viewSql}; CREATE OR REPLACE VIEW main.${ident(`${name}__history`)} AS ${historySql}; ${cleanup} COMMIT;`,
      );
    } catch (e) {
      st.viewSql = undefined;
      await this.state()
        .run('ROLLBACK')
        .catch(() => {});
      throw e;
    }
    st.viewSql = viewSql;
    st.historySql = historySql;
  }

  // ---------------------------------------------------------------- delta

  /** Pull new versions from every delta source (coalescing concurrent callers). */
  private refresh(): Promise<void> {
    if (!this.refreshRunning) {
      this.refreshRunning = this.doRefresh().finally(() => {
        this.refreshRunning = undefined;
      });
      return this.refreshRunning;
    }
    // A refresh is running but may have started before this caller's writes: queue one more.
    this.refreshQueued ??= this.refreshRunning
      .catch(() => {})
      .then(() => {
        this.refreshQueued = undefined;
        return this.refresh();
      });
    return this.refreshQueued;
  }

  private async doRefresh(): Promise<void> {
    const sources = this.opts.deltaSources; // read live: an embedder may add sources after start
    for (let i = 0; i < sources.length; i++) {
      const src = sources[i] as IngestionApi;
      for (;;) {
        const after = this.lastLsn[i] ?? 0;
        let r: Awaited<ReturnType<IngestionApi['delta']>>;
        try {
          r = await src.delta(after, this.deltaBatch);
        } catch (e) {
          throw new TierUnavailableError(
            `OLAP shard ${this.id}: delta source #${i} (ingestion) failed: ${(e as Error).message ?? String(e)}; the query would miss versions newer than the OLAP watermark`,
            { cause: e },
          );
        }
        if (r.versions.length > 0) await this.stateMutex.run(() => this.applyDelta(r.versions));
        if (r.lastLsn > after) this.lastLsn[i] = r.lastLsn;
        const consumed = r.lastLsn - after;
        if (r.versions.length < this.deltaBatch && consumed < this.deltaBatch) break;
        if (consumed <= 0) break;
      }
    }
  }

  /** Add pulled versions to the delta tables (above each table's watermark). Caller holds stateMutex. */
  private async applyDelta(versions: VersionRecord[]): Promise<void> {
    const byTable = new Map<string, VersionRecord[]>();
    for (const v of versions) {
      const list = byTable.get(v.table);
      if (list) list.push(v);
      else byTable.set(v.table, [v]);
    }
    for (const [table, list] of byTable) {
      const st = this.tables.get(table);
      if (!st) {
        // Catalog events precede data, but this shard's catalog may lag: keep them until it catches up.
        const waiting = this.pending.get(table);
        if (waiting) waiting.push(...list);
        else this.pending.set(table, list);
        continue;
      }
      if ((await this.appendDelta(st, list)) > 0) {
        await this.updateDeltaStats(st);
        await this.rebuildViews(st);
      }
    }
  }

  /**
   * Append versions above the watermark to the table's delta and update its latest-version
   * table for the keys they touch, in one DuckDB transaction; returns how many were added. Bad
   * versions are logged and skipped. Caller holds stateMutex.
   */
  private async appendDelta(st: TableState, list: VersionRecord[]): Promise<number> {
    const info = st.info;
    const w = this.tableManifest(info.name).watermark;
    const keep = list.filter((v) => v.commitTs > w);
    if (keep.length === 0) return 0;
    const conn = this.state();
    const seq = ++this.stageSeq;
    const rawName = `delta_raw_${seq}`;
    const raw = `${ident(STAGE_SCHEMA)}.${ident(rawName)}`;
    const typed = `${ident(STAGE_SCHEMA)}.${ident(`delta_new_${seq}`)}`;
    await conn.run(`CREATE TABLE ${raw} (${rawColumnsDdl(info)})`);
    try {
      const loader = new VersionLoader(info);
      const n = await loader.load(conn, STAGE_SCHEMA, rawName, keep, (v, reason) =>
        this.log('delta version refused', { table: info.name, version: v.version, error: reason }),
      );
      if (n === 0) return 0;
      await conn.run(`CREATE TABLE ${typed} AS SELECT ${typedSelect(info, 'TIMESTAMP', loader.engines)} FROM ${raw}`);
      let latest = '';
      if (!info.options.appendOnly) {
        // Recompute the latest delta version of every key the batch touches.
        const pk = info.primaryKey.map(ident).join(', ');
        const on = (a: string, b: string) => info.primaryKey.map((k) => `${a}.${ident(k)} = ${b}.${ident(k)}`).join(' AND ');
        const keys = `(SELECT DISTINCT ${pk} FROM ${typed})`;
        latest = `DELETE FROM ${deltaLatestTable(info.name)} l USING ${keys} k WHERE ${on('l', 'k')};
          INSERT INTO ${deltaLatestTable(info.name)} SELECT d.* FROM ${deltaTable(info.name)} d SEMI JOIN ${keys} k ON ${on('d', 'k')} ${latestQualify(info)};`;
      }
      await conn.run(`BEGIN; INSERT INTO ${deltaTable(info.name)} SELECT * FROM ${typed}; ${latest} COMMIT;`);
      return n;
    } catch (e) {
      await conn.run('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${raw}; DROP TABLE IF EXISTS ${typed};`).catch(() => {});
    }
  }

  /** Rebuild a table's delta latest-version table from its delta. Caller holds stateMutex. */
  private async rebuildDeltaLatest(st: TableState): Promise<void> {
    await this.state().run(
      `BEGIN; DELETE FROM ${deltaLatestTable(st.info.name)};
       INSERT INTO ${deltaLatestTable(st.info.name)} SELECT * FROM ${deltaTable(st.info.name)} ${latestQualify(st.info)}; COMMIT;`,
    );
  }

  /** Recount the delta above the watermark and decide whether it can skip the anti-join. Caller holds stateMutex. */
  private async updateDeltaStats(st: TableState): Promise<void> {
    const info = st.info;
    const w = this.tableManifest(info.name).watermark;
    const from = `${deltaTable(info.name)}${w >= 0 ? ` WHERE "_ts" > epoch_ms(${w})` : ''}`;
    const keyAggs = info.primaryKey.map((k, i) => `min(${ident(k)}) AS "min${i}", max(${ident(k)}) AS "max${i}"`).join(', ');
    const r = await this.state().runAndReadAll(
      `SELECT count(*) AS n, count(*) FILTER (WHERE "_op" <> 'insert') AS nonins, ${keyAggs} FROM ${from}`,
    );
    const get = readerRow(r, 0);
    st.deltaRows = Number(get('n'));
    st.deltaDisjoint = false;
    if (st.deltaRows === 0 || Number(get('nonins')) > 0) return;
    const ranges = st.fileKeyRanges;
    if (!ranges) {
      st.deltaDisjoint = true; // no files: nothing to overlap (the view has no file side anyway)
      return;
    }
    const disjointSomewhere = info.primaryKey.some(
      (_, i) => !rangesMayOverlap({ min: get(`min${i}`), max: get(`max${i}`) }, ranges[i] as ValueRange),
    );
    if (!disjointSomewhere) return;
    const pk = info.primaryKey.map(ident).join(', ');
    const dup = await this.state().runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${from} GROUP BY ${pk} HAVING count(*) > 1) AS dup`);
    st.deltaDisjoint = dup.value(0, 0) === false;
  }

  // ---------------------------------------------------------------- push

  /** DESIGN §4 "OLAP push": write the versions as Parquet and advance the watermark atomically. */
  push(req: PushRequest): Promise<{ watermark: number }> {
    return this.op(() => this.pushMutex.run(() => this.doPush(req)));
  }

  private async doPush(req: PushRequest): Promise<{ watermark: number }> {
    if (typeof req?.table !== 'string' || !Number.isFinite(req.toTs) || !Array.isArray(req.versions)) {
      throw new StratumError(SqlState.invalidParameterValue, 'push request needs { table: string, toTs: number (ms), versions: [] }');
    }
    await this.syncCatalog();
    const info = this.catalog.find(req.table);
    if (!info) {
      throw new SchemaError(
        SqlState.undefinedTable,
        `relation "${req.table}" does not exist on OLAP shard ${this.id} (catalog version ${this.catalog.version}); retry once the catalog has it`,
      );
    }
    const cur = this.tableManifest(req.table);
    if (req.toTs <= cur.watermark) return { watermark: cur.watermark };
    if (Number.isFinite(req.fromTs) && req.fromTs > cur.watermark) {
      // Accepting would leave (watermark, fromTs] missing: OLAP must hold a time prefix (DESIGN §4).
      throw new StratumError(
        SqlState.invalidParameterValue,
        `push of table "${req.table}" starts after ${req.fromTs} ms but OLAP shard ${this.id} holds only up to ${cur.watermark} ms; push from the shard's watermark`,
        { hint: 'Read watermarks() and push (watermark, toTs].' },
      );
    }
    const versions: VersionRecord[] = [];
    for (const v of req.versions) {
      if (v.table !== req.table) {
        throw new StratumError(
          SqlState.invalidParameterValue,
          `push for table "${req.table}" contains a version of table "${v.table}" (${v.version})`,
        );
      }
      if (!(v.commitTs <= req.toTs)) {
        throw new StratumError(
          SqlState.invalidParameterValue,
          `push to ${req.toTs} ms for table "${req.table}" contains version ${v.version} committed at ${v.commitTs} ms, after toTs`,
        );
      }
      // Versions at or below the watermark are already in the files (a re-push after an ingestion crash).
      if (v.commitTs > cur.watermark) versions.push(v);
    }
    const t0 = Date.now();
    let written: ManifestFile[] = [];
    let singleVersion = cur.singleVersion;
    const timings: Record<string, number> = {};
    if (versions.length > 0) ({ files: written, singleVersion } = await this.writeFiles(info, versions, cur, timings));
    const next: Manifest = {
      ...this.manifest,
      generation: this.manifest.generation + 1,
      updatedAt: Date.now(),
      tables: {
        ...this.manifest.tables,
        [req.table]: { watermark: req.toTs, singleVersion, files: [...cur.files, ...written] },
      },
    };
    try {
      await writeManifest(this.dir, next);
    } catch (e) {
      // If the rename happened (only the directory fsync failed) the new manifest is live: keep its files.
      const onDisk = await readManifest(this.dir, this.id).catch(() => undefined);
      if (onDisk?.generation !== next.generation) {
        await Promise.allSettled(written.map((f) => rm(join(this.dir, f.path), { force: true })));
        throw new StratumError(SqlState.ioError, `OLAP shard ${this.id}: cannot write manifest: ${(e as Error).message}`, { cause: e });
      }
      this.log('manifest replaced but its directory fsync failed', { error: (e as Error).message });
    }
    await this.stateMutex.run(() => this.commitPush(req.table, next));
    this.pushes++;
    if (written.length > 0) {
      this.log('pushed', {
        table: req.table,
        watermark: req.toTs,
        versions: versions.length,
        files: written.length,
        bytes: written.reduce((s, f) => s + f.bytes, 0),
        singleVersion,
        ms: Date.now() - t0,
        phasesMs: timings,
      });
    }
    return { watermark: req.toTs };
  }

  /**
   * Make a durable manifest visible: swap it in memory, re-point the views, drop delta rows now
   * in Parquet. Views and delta change in one DuckDB transaction, so a concurrent query sees
   * either (old files, old delta) or (new files, delta above the new watermark).
   */
  private async commitPush(table: string, next: Manifest): Promise<void> {
    this.manifest = next;
    const st = this.tables.get(table);
    if (!st) return;
    this.recomputeFileKeyRanges(st);
    await this.updateDeltaStats(st);
    await this.rebuildViews(st, true);
  }

  /**
   * Stage `versions` with the appender, sort by (day, primary key, _ts), write one Parquet file
   * per day partition (temp name → fsync → rename → fsync dir), and compute zone maps and the
   * single-version flag. On failure every file written so far is removed.
   */
  private async writeFiles(
    info: TableInfo,
    versions: VersionRecord[],
    cur: ManifestTable,
    timings: Record<string, number>,
  ): Promise<{ files: ManifestFile[]; singleVersion: boolean }> {
    const conn = this.pushConn as DuckDBConnection;
    const n = ++this.stageSeq;
    const stageName = `push_${n}`;
    const stage = `${ident(STAGE_SCHEMA)}.${ident(stageName)}`;
    const sorted = `${ident(STAGE_SCHEMA)}.${ident(`sorted_${n}`)}`;
    const written: ManifestFile[] = [];
    try {
      const tLoad = Date.now();
      await conn.run(`CREATE TABLE ${stage} (${rawColumnsDdl(info)})`);
      const loader = new VersionLoader(info);
      await loader.load(conn, STAGE_SCHEMA, stageName, versions);
      timings.load = Date.now() - tLoad;
      const tSort = Date.now();
      const pk = info.primaryKey.map(ident).join(', ');
      await conn.run(
        `CREATE TABLE ${sorted} AS SELECT *, ${this.dayExpr(info)} AS "_day" FROM (SELECT ${typedSelect(info, 'TIMESTAMP_MS', loader.engines)} FROM ${stage}) ORDER BY "_day", ${pk}, "_ts", "_engine", "_version"`,
      );
      await conn.run(`DROP TABLE ${stage}`);
      timings.sort = Date.now() - tSort;
      const tCopy = Date.now();

      // Zone maps per day, in one pass.
      const colAggs = info.columns
        .map(
          (c, i) =>
            `min(${ident(c.name)}) AS "min${i}", max(${ident(c.name)}) AS "max${i}", count(*) - count(${ident(c.name)}) AS "nulls${i}"`,
        )
        .join(', ');
      const z = await conn.runAndReadAll(
        `SELECT CAST("_day" - DATE '1970-01-01' AS BIGINT) AS day, count(*) AS n, epoch_ms(min("_ts")) AS tsmin, epoch_ms(max("_ts")) AS tsmax,
           count(*) FILTER (WHERE "_op" = 'insert') AS ins, count(*) FILTER (WHERE "_op" = 'update') AS upd,
           count(*) FILTER (WHERE "_op" = 'delete') AS del, ${colAggs}
         FROM ${sorted} GROUP BY "_day" ORDER BY "_day"`,
      );
      const tableDir = tableDirName(info.name);
      const cols = [...info.columns.map((c) => c.name), ...SYSTEM_COLUMNS].map(ident).join(', ');
      const batchKeyRanges: (ValueRange | undefined)[] = info.primaryKey.map(() => undefined);
      for (let r = 0; r < z.currentRowCount; r++) {
        const get = readerRow(z, r);
        const dayNum = Number(get('day'));
        const rows = Number(get('n'));
        const day = formatDate(dayNum).replace(' BC', '-BC');
        const relDir = `${tableDir}/day=${day}`;
        const rel = `${relDir}/part-${this.fileIds.next(Date.now())}.parquet`;
        const abs = join(this.dir, rel);
        const tmp = `${abs}.tmp`;
        await mkdirDurable(this.dir, join(this.dir, relDir));
        const dict = this.keyBloomFilters ? `, DICTIONARY_SIZE_LIMIT ${Math.min(rows, this.rowGroupSize) + 1}` : '';
        await conn.run(
          `COPY (SELECT ${cols} FROM ${sorted} WHERE "_day" = DATE '1970-01-01' + ${dayNum}) TO ${lit(tmp)}
           (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${this.rowGroupSize}${dict})`,
        );
        await fsyncPath(tmp);
        await rename(tmp, abs);
        await fsyncPath(dirname(abs));
        const bytes = (await stat(abs)).size;
        const columns: Record<string, ZoneMap> = {};
        info.columns.forEach((c, i) => {
          columns[c.name] = {
            min: encodeZoneValue(get(`min${i}`), c.type),
            max: encodeZoneValue(get(`max${i}`), c.type),
            nulls: Number(get(`nulls${i}`)),
          };
        });
        info.primaryKey.forEach((k, i) => {
          const ci = info.columnIndex.get(k) ?? -1;
          batchKeyRanges[i] = unionRange(batchKeyRanges[i], { min: get(`min${ci}`), max: get(`max${ci}`) });
        });
        written.push({
          path: rel,
          day,
          rows,
          bytes,
          tsMin: Number(get('tsmin')),
          tsMax: Number(get('tsmax')),
          ops: { insert: Number(get('ins')), update: Number(get('upd')), delete: Number(get('del')) },
          columns,
          createdAt: Date.now(),
        });
      }
      timings.copy = Date.now() - tCopy;
      const tCheck = Date.now();
      const singleVersion =
        cur.singleVersion && (await this.stillSingleVersion(conn, info, sorted, written, batchKeyRanges as ValueRange[], cur));
      timings.check = Date.now() - tCheck;
      return { files: written, singleVersion };
    } catch (e) {
      await Promise.allSettled(
        written.flatMap((f) => [rm(join(this.dir, f.path), { force: true }), rm(`${join(this.dir, f.path)}.tmp`, { force: true })]),
      );
      throw mapDuckDbError(e);
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${stage}; DROP TABLE IF EXISTS ${sorted};`).catch(() => {});
    }
  }

  /**
   * Whether the files stay "one insert per key" after adding this batch: the batch has only
   * inserts, no key twice, and no key already in an earlier file (zone maps first; a semi-join
   * against the files whose key ranges overlap only when they do).
   */
  private async stillSingleVersion(
    conn: DuckDBConnection,
    info: TableInfo,
    sorted: string,
    written: ManifestFile[],
    batch: ValueRange[],
    cur: ManifestTable,
  ): Promise<boolean> {
    if (written.some((f) => f.ops.update > 0 || f.ops.delete > 0)) return false;
    const pk = info.primaryKey.map(ident).join(', ');
    const dup = await conn.runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${sorted} GROUP BY ${pk} HAVING count(*) > 1)`);
    if (dup.value(0, 0) !== false) return false;
    const candidates = cur.files.filter((f) =>
      info.primaryKey.every((k, i) => {
        const z = f.columns[k];
        if (!z) return true;
        const type = (info.columns[info.columnIndex.get(k) ?? -1] as { type: SqlType }).type;
        return rangesMayOverlap({ min: decodeZoneValue(z.min, type), max: decodeZoneValue(z.max, type) }, batch[i] as ValueRange);
      }),
    );
    if (candidates.length === 0) return true;
    if (candidates.some((f) => this.unavailable.has(f.path))) return false;
    const files = candidates.map((f) => lit(join(this.dir, f.path))).join(', ');
    const on = info.primaryKey.map((k) => `s.${ident(k)} = p.${ident(k)}`).join(' AND ');
    const hit = await conn.runAndReadAll(
      `SELECT EXISTS (SELECT 1 FROM ${sorted} s SEMI JOIN read_parquet([${files}], hive_partitioning = false) p ON ${on})`,
    );
    return hit.value(0, 0) === false;
  }

  /** SQL for a version's partition day: the time column's UTC date, else the commit date. */
  private dayExpr(info: TableInfo): string {
    const tc = info.options.timeColumn;
    if (tc !== undefined) {
      const i = info.columnIndex.get(tc);
      const col = i === undefined ? undefined : info.columns[i];
      if (col && TIME_TYPES.has(col.type)) return `coalesce(CAST(${ident(tc)} AS DATE), CAST("_ts" AS DATE))`;
      if (!this.warnedTimeColumn.has(info.name)) {
        this.warnedTimeColumn.add(info.name);
        this.log('time_column is not a timestamp/timestamptz/date column; partitioning by commit time', {
          table: info.name,
          timeColumn: tc,
        });
      }
    }
    return 'CAST("_ts" AS DATE)';
  }

  // ---------------------------------------------------------------- reads

  /** OLAP watermark per table (ms; -1 = nothing pushed), for every catalog or manifest table. */
  watermarks(): Promise<Record<string, number>> {
    return this.op(async () => {
      const out: Record<string, number> = {};
      for (const t of this.catalog.list()) out[t.name] = -1;
      for (const [name, t] of Object.entries(this.manifest.tables)) out[name] = t.watermark;
      return out;
    });
  }

  /** Run one read-only statement over files + delta (brief §6). */
  query(sql: string, params: Literal[], catalogVersion: number): Promise<QueryResult> {
    return this.op(async () => {
      if (typeof sql !== 'string') throw new StratumError(SqlState.invalidParameterValue, 'query text must be a string');
      if (catalogVersion > this.catalog.version) await this.catalog.waitFor(catalogVersion, this.catalogWaitMs);
      await this.syncCatalog();
      await this.refresh();
      this.queries++;
      const pool = this.pool;
      if (!pool) throw new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is not open`);
      return pool.use((conn) => runReadOnly(conn, sql, params ?? [], this.id));
    });
  }

  // ---------------------------------------------------------------- stats

  /** Counts from the in-memory manifest and delta (no I/O). */
  stats(): ShardStats {
    const out: ShardStats = {
      id: this.id,
      files: 0,
      unavailableFiles: 0,
      bytes: 0,
      rows: 0,
      deltaRows: 0,
      queries: this.queries,
      pushes: this.pushes,
      tables: {},
    };
    const names = new Set([...Object.keys(this.manifest.tables), ...this.tables.keys()]);
    for (const name of names) {
      const m = this.tableManifest(name);
      const ts: TableStats = {
        watermark: m.watermark,
        files: m.files.length,
        unavailableFiles: m.files.filter((f) => this.unavailable.has(f.path)).length,
        bytes: m.files.reduce((s, f) => s + f.bytes, 0),
        rows: m.files.reduce((s, f) => s + f.rows, 0),
        deltaRows: this.tables.get(name)?.deltaRows ?? 0,
        singleVersion: m.singleVersion,
      };
      out.tables[name] = ts;
      out.files += ts.files;
      out.unavailableFiles += ts.unavailableFiles;
      out.bytes += ts.bytes;
      out.rows += ts.rows;
      out.deltaRows += ts.deltaRows;
    }
    return out;
  }
}

const EXPLAIN_RE = /^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?/i;

/**
 * Prepare, check read-only, bind and run `sql` on `conn`.
 * @throws StratumError 25006 for anything but SELECT (or EXPLAIN of a SELECT), else the mapped DuckDB error.
 */
async function runReadOnly(conn: DuckDBConnection, sql: string, params: readonly Literal[], id: string): Promise<QueryResult> {
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
    const res = await stmt.run();
    return await convertResult(res);
  } catch (e) {
    throw mapDuckDbError(e);
  } finally {
    stmt.destroySync();
  }
}

/** Directory name of a table: the name itself when it is a safe path segment, else URI-encoded. */
function tableDirName(name: string): string {
  if (/^[A-Za-z0-9_][A-Za-z0-9_$-]*$/.test(name)) return name;
  return `%${encodeURIComponent(name).replaceAll('.', '%2E')}`;
}

/** mkdir -p that fsyncs each parent of a newly created directory (so the new entry is durable). */
async function mkdirDurable(root: string, dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  let d = dir;
  while (d.length >= first.length && d !== root) {
    await fsyncPath(dirname(d));
    d = dirname(d);
  }
}

/** A reason when the file lacks the Parquet magic (`PAR1`) at both ends, else undefined. */
async function parquetMagicProblem(path: string, size: number): Promise<string | undefined> {
  if (size < 12) return `too small for Parquet (${size} bytes)`;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    await fh.read(tail, 0, 4, size - 4);
    if (head.toString('latin1') !== 'PAR1' || tail.toString('latin1') !== 'PAR1') return 'no Parquet magic (truncated or corrupted)';
    return undefined;
  } finally {
    await fh.close();
  }
}
