/**
 * The OLAP shard (docs/architecture.md "OLAP shard"): immutable Parquet partitions under a
 * manifest, an in-memory delta of versions newer than the OLAP watermark pulled from ingestion,
 * and DuckDB views over both. Internal; the public surface is `index.ts`. Stages live beside it:
 * push-writer.ts writes a push's part files, snapshot.ts plans and runs a query against the
 * committed view generations, compaction.ts merges runs of small files.
 *
 * Concurrency: `pushMutex` serializes pushes (file writing, manifest replace); `stateMutex`
 * serializes short changes of DuckDB state (delta tables, views, in-memory manifest). Queries
 * take neither: they run on a pool of connections and see DuckDB's committed state, which
 * always pairs a view definition with the delta rows it expects (see `commitPush`).
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  type Catalog,
  canceledError,
  counter,
  gauge,
  type IngestionApi,
  type Literal,
  type OlapShardApi,
  Pool,
  type PushRequest,
  type QueryOptions,
  type QueryResult,
  raceCancel,
  SchemaError,
  SqlState,
  StratumError,
  type TableInfo,
  TierUnavailableError,
  throwIfCanceled,
  type Value,
  type VersionRecord,
} from '@stratum/shared';
import {
  DEFAULT_WORKER_NICE,
  interruptOnCancel,
  mapDuckDbError,
  openWorkerInstance,
  PG_SEMANTICS_SQL,
  zoneComparable,
} from '@stratum/shared/duckdb';
import { type FileBloom, HASH_CHECK_SQL } from './bloom.ts';
import { type CompactionHost, type CompactionReport, type CompactionStats, Compactor } from './compaction.ts';
import { rawColumnsDdl, typedSelect, VersionLoader } from './load.ts';
import {
  emptyManifest,
  fileRef,
  keyRangesOf,
  MANIFEST_NAME,
  type Manifest,
  type ManifestFile,
  type ManifestTable,
  type QuarantinedFile,
  rangesMayOverlap,
  readManifest,
  singleVersion,
  sourceWatermark,
  type ValueRange,
  withoutTables,
  withTable,
  writeManifest,
} from './manifest.ts';
import { tableDirName } from './part-file.ts';
import { analyzeStatement, type StatementReads } from './plan.ts';
import type { TypedPred } from './prune.ts';
import { columnOfField, PushWriter, readerRow } from './push-writer.ts';
import {
  filesBlamed,
  mayBeFileDamage,
  moveToQuarantine,
  parquetMagicProblem,
  QUARANTINE_DIR,
  type UnavailableFile,
  verifyParquet,
} from './quarantine.ts';
import {
  countFromManifest,
  EXPLAIN_RE,
  META_SCHEMA,
  type QueryView,
  SnapshotReader,
  StaleViews,
  type TableState,
  VIEW_KINDS,
  type ViewSnapshot,
} from './snapshot.ts';
import {
  DELTA_LATEST_SCHEMA,
  DELTA_SCHEMA,
  deltaColumnsDdl,
  deltaCoveredSql,
  deltaLatestTable,
  deltaTable,
  fieldColumns,
  ident,
  latestQualify,
  lit,
  STAGE_SCHEMA,
  SYSTEM_COLUMNS,
  type ViewInputs,
  type ViewKind,
  viewName,
  viewSql,
} from './sql.ts';
import { typedPredicates } from './typed-preds.ts';
import { Mutex } from './util.ts';

/** Options of the shard (see `index.ts` for the documented public form). */
export interface ShardOptions {
  id: string;
  dir: string;
  catalog: Catalog;
  deltaSources: { id: string; api: IngestionApi }[];
  owns?: (info: TableInfo, v: VersionRecord) => boolean;
  pruneFiles?: boolean;
  log?: (msg: string, fields?: object) => void;
  queryConnections?: number;
  maxQueuedQueries?: number;
  threads?: number;
  workerNice?: number;
  memoryLimit?: string;
  keyBloomFilters?: boolean;
  rowGroupSize?: number;
  deltaBatch?: number;
  catalogWaitMs?: number;
  deltaPollMs?: number;
  deltaIdleMs?: number;
  compactionIntervalMs?: number;
  compactionMinFiles?: number;
  targetFileRows?: number;
  now?: () => number;
}

/** Per-table statistics reported by `stats()` (by storage name). */
export interface TableStats {
  /** Current table name (undefined: the catalog does not know the storage name). */
  name?: string;
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
  /** Delta versions pulled but not yet loaded into DuckDB (count; at most about one pull batch). */
  stagedVersions: number;
  /** DuckDB worker threads that run queries (0 before open). */
  workerThreads: number;
  /** Their nice value (0: same priority as the rest of the process). */
  workerNice: number;
  /** Queries run since start. */
  queries: number;
  /** Pushes that wrote or advanced something since start. */
  pushes: number;
  /** Compaction counters since start (compaction.ts). */
  compaction: CompactionStats;
  /** By storage name (`TableInfo.storage`). */
  tables: Record<string, TableStats>;
}

/** View generations kept per table for queries that started on an older one. */
const SNAPSHOTS_KEPT = 16;

const mQueries = counter('stratum_olap_queries_total', 'Queries run by the OLAP shard', ['shard']);
const mRunning = gauge('stratum_olap_queries_running', 'Queries running on a DuckDB connection of the OLAP shard now', ['shard']);
const mQuarantined = counter('stratum_olap_quarantined_files_total', 'Parquet files moved to quarantine as unreadable', ['shard', 'table']);
const mUnavailable = gauge('stratum_olap_unavailable_files', 'Files left out of queries (quarantined or missing)', ['shard']);
const mMetadataAnswers = counter('stratum_olap_metadata_answers_total', 'Queries answered from the manifest (count(*)) without DuckDB', [
  'shard',
]);
const mQueueFull = counter('stratum_olap_queries_refused_total', 'Queries refused because the query queue was full', ['shard']);
const mQueued = gauge('stratum_olap_queries_queued', 'Queries waiting for a DuckDB connection of the OLAP shard now', ['shard']);
const NOOP_LOG = () => {};

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
  /** DuckDB worker threads that run queries, and the nice value they got (openWorkerInstance). */
  private workers = { threads: 0, nice: 0 };
  private connections: DuckDBConnection[] = [];
  private pool: Pool<DuckDBConnection> | undefined;
  private stateConn: DuckDBConnection | undefined;
  private pushConn: DuckDBConnection | undefined;

  private manifest: Manifest;
  /** Manifest file paths (relative) that were missing or damaged on start. */
  private readonly unavailable = new Set<string>();
  /** DuckDB state per storage name of a live table. */
  private readonly tables = new Map<string, TableState>();
  /** Advanced whenever a table's state is created, dropped or redefined (queries planned before retry once). */
  private tablesEpoch = 0;
  /** Last LSN pulled, per delta source id. */
  private readonly lastLsn = new Map<string, number>();
  /**
   * Versions pulled from the delta sources but not yet in DuckDB, per storage name, in pull
   * order: a query applies only its own tables' (applyStaged); the background poll applies all.
   * Versions of storage names this shard's catalog does not know yet wait here too.
   */
  private readonly staged = new Map<string, { source: string; versions: VersionRecord[] }[]>();
  /** Generation counter of committed view definitions (stratum_meta.views). */
  private viewGen = 0;
  /** Key bloom filters by relative file path (sidecars, bloom.ts). */
  private readonly blooms = new Map<string, FileBloom>();
  /** `hash(42::BIGINT)` of this DuckDB (bloom.ts). */
  private hashCheck = '';
  private readonly pushMutex = new Mutex();
  private readonly stateMutex = new Mutex();
  private pullRunning: Promise<void> | undefined;
  /** When the last query arrived (ms, `performance.now()`); background delta pulls follow it. */
  private lastQueryAt = Number.NEGATIVE_INFINITY;
  private pollTimer: NodeJS.Timeout | undefined;
  private pullQueued: Promise<void> | undefined;
  private stageSeq = 0;
  private queries = 0;
  private pushes = 0;
  private closing: Promise<void> | undefined;
  private inflight = new Set<Promise<unknown>>();
  private readonly compactor: Compactor;
  private readonly reader: SnapshotReader;
  private readonly writer: PushWriter;

  constructor(private readonly opts: ShardOptions) {
    this.id = opts.id;
    this.dir = resolve(opts.dir);
    this.catalog = opts.catalog;
    this.log = opts.log ?? NOOP_LOG;
    this.keyBloomFilters = opts.keyBloomFilters ?? false;
    this.rowGroupSize = opts.rowGroupSize ?? 122_880;
    this.deltaBatch = opts.deltaBatch ?? 50_000;
    this.catalogWaitMs = opts.catalogWaitMs ?? 10_000;
    this.manifest = emptyManifest(opts.id);
    this.compactor = new Compactor(this.compactionHost(), {
      intervalMs: opts.compactionIntervalMs ?? 30_000,
      minFiles: opts.compactionMinFiles ?? 8,
      targetFileRows: opts.targetFileRows ?? 1_000_000,
      now: opts.now ?? Date.now,
    });
    this.reader = new SnapshotReader({
      id: this.id,
      dir: this.dir,
      pruneFiles: opts.pruneFiles !== false,
      bloomOf: (path) => this.blooms.get(path),
      workers: () => this.workers.threads,
      waitForState: () => this.stateMutex.run(async () => {}),
      track: (p) => this.track(p),
    });
    this.writer = new PushWriter({
      dir: this.dir,
      log: (msg, fields) => this.log(msg, fields),
      partFile: { rowGroupSize: this.rowGroupSize, keyBloomFilters: this.keyBloomFilters },
      blooms: this.blooms,
      isUnavailable: (path) => this.unavailable.has(path),
      manifest: () => this.manifest,
      tableInfo: (storage) => this.catalog.byStorage(storage),
      exclusive: (fn) => this.pushMutex.run(() => fn(this.pushConn)),
      closing: () => this.closing !== undefined,
      track: (p) => this.track(p),
      hashCheck: () => this.hashCheck,
    });
  }

  /** Track a background promise so close() waits for it. */
  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** The compactor's view of this shard (compaction.ts): manifest, catalog, push mutex, commit. */
  private compactionHost(): CompactionHost {
    return {
      id: this.id,
      dir: this.dir,
      log: (msg, fields) => this.log(msg, fields),
      partFile: { rowGroupSize: this.rowGroupSize, keyBloomFilters: this.keyBloomFilters },
      manifest: () => this.manifest,
      tableInfo: (storage) => this.catalog.byStorage(storage),
      isUnavailable: (path) => this.unavailable.has(path),
      connect: async () => {
        if (!this.instance) throw new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is not open`);
        // The configuration is locked by now, and compaction's SQL does not depend on the
        // session settings (no time-zone casts, `//` division, NOT NULL key columns).
        const c = await this.instance.connect();
        this.connections.push(c);
        return c;
      },
      exclusive: (fn) => this.pushMutex.run(fn),
      publish: (table, next) => this.stateMutex.run(() => this.commitPush(table, next)),
    };
  }

  /**
   * Compact every eligible partition now (compaction.ts), then delete the replaced files no
   * running query can read. Refused once closing.
   */
  compactNow(): Promise<CompactionReport> {
    if (this.closing) {
      return Promise.reject(new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is shutting down`));
    }
    const p = this.compactor.runOnce().then(async (r) => {
      await this.compactor.leases.sweep();
      return r;
    });
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Open the directory (recover from a crash), start DuckDB, build views. */
  async start(): Promise<void> {
    await mkdir(join(this.dir, '.spill'), { recursive: true });
    this.manifest = await readManifest(this.dir, this.id);
    await this.removeDeadAtStart();
    await this.removeOrphans();
    await this.checkFiles();
    try {
      await this.openDuckDb();
      await this.syncCatalog();
    } catch (e) {
      this.closeDuckDb();
      throw mapDuckDbError(e);
    }
    // Views follow the catalog at once (RENAME, DROP, TRUNCATE, ALTER), not only at the next query.
    this.catalog.onApply(() => this.scheduleSync());
    // Pull the delta in the background too while queries arrive, so a query only fetches what
    // arrived since the last poll. Without queries the delta is not kept: loading every write
    // into DuckDB cost a write-only load ~40 % of its commit throughput (bench/tx-commit.ts),
    // and versions a push covers meanwhile are skipped at the source (see doRefresh).
    const pollMs = this.opts.deltaPollMs ?? 200;
    const idleMs = this.opts.deltaIdleMs ?? 60_000;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => {
        if (this.closing || this.pullRunning) return;
        if (idleMs > 0 && performance.now() - this.lastQueryAt > idleMs) return;
        this.refresh().catch((e) => this.log('background delta refresh failed', { err: (e as Error).message }));
      }, pollMs);
      this.pollTimer.unref();
    }
    this.compactor.start();
    this.writer.scheduleBloomBackfill();
    this.log('olap shard started', {
      dir: this.dir,
      tables: Object.keys(this.manifest.tables).length,
      files: this.stats().files,
      unavailableFiles: this.unavailable.size,
      workerThreads: this.workers.threads,
      workerNice: this.workers.nice,
    });
  }

  private async openDuckDb(): Promise<void> {
    const config: Record<string, string> = {
      temp_directory: join(this.dir, '.spill'),
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    };
    if (this.opts.memoryLimit !== undefined) config.memory_limit = this.opts.memoryLimit;
    const opened = await openWorkerInstance(config, {
      workers: this.opts.threads ?? availableParallelism(),
      nice: this.opts.workerNice ?? DEFAULT_WORKER_NICE,
      warn: (message) => this.log(`OLAP shard ${this.id}: ${message}`),
    });
    this.instance = opened.instance;
    this.workers = { threads: opened.workers, nice: opened.nice };
    const n = Math.max(1, this.opts.queryConnections ?? 4);
    for (let i = 0; i < n + 2; i++) {
      const c = await this.instance.connect();
      this.connections.push(c);
      await c.run(PG_SEMANTICS_SQL);
    }
    const [stateConn, pushConn, ...queryConns] = this.connections;
    this.stateConn = stateConn;
    this.pushConn = pushConn;
    const maxQueued = this.opts.maxQueuedQueries ?? 1000;
    this.pool = new Pool(queryConns, maxQueued, () => {
      mQueueFull.inc({ shard: this.id });
      return new StratumError(
        SqlState.insufficientResources,
        `OLAP shard ${this.id} is busy: ${maxQueued} queries already wait for one of its ${queryConns.length} DuckDB connections`,
        { hint: 'Retry later, or raise olap.max_queued_queries or olap.query_connections.' },
      );
    });
    const s = this.stateConn as DuckDBConnection;
    await s.run(
      `CREATE SCHEMA ${ident(DELTA_SCHEMA)}; CREATE SCHEMA ${ident(DELTA_LATEST_SCHEMA)}; CREATE SCHEMA ${ident(STAGE_SCHEMA)};
       CREATE SCHEMA ${ident(META_SCHEMA)}; CREATE TABLE ${ident(META_SCHEMA)}.views (storage VARCHAR PRIMARY KEY, gen BIGINT NOT NULL);`,
    );
    this.hashCheck = String((await s.runAndReadAll(`SELECT ${HASH_CHECK_SQL}`)).getRows()[0]?.[0]);
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
      await this.compactor.stop();
      await this.pullRunning?.catch(() => {});
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      await this.pushMutex.run(async () => {});
      await this.stateMutex.run(async () => {});
      await this.compactor.leases.sweep(); // nothing runs any more: replaced files can go
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
    // Pin the file set: files a compaction replaces meanwhile stay until this op is done.
    const unpin = this.compactor.leases.pin();
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      unpin();
      throw e;
    }
    this.inflight.add(p);
    const done = () => {
      this.inflight.delete(p);
      unpin();
    };
    p.then(done, done);
    return p;
  }

  // ---------------------------------------------------------------- crash recovery

  /**
   * Before anything reads the directory: drop the manifest entries of storage names the catalog
   * knows as dead (dropped or truncated tables), and delete their directories (files, sidecars,
   * quarantined copies) — also those a crash left after the manifest no longer listed them.
   */
  private async removeDeadAtStart(): Promise<void> {
    const dead = this.catalog.deadStorages();
    if (dead.length === 0) return;
    const listed = dead.filter((s) => this.manifest.tables[s] !== undefined);
    if (listed.length > 0) {
      const next = withoutTables(this.manifest, listed);
      await writeManifest(this.dir, next);
      this.manifest = next;
    }
    for (const s of dead) {
      for (const d of [tableDirName(s), join(QUARANTINE_DIR, tableDirName(s))]) {
        const abs = join(this.dir, d);
        if (!(await stat(abs).catch(() => undefined))) continue;
        await rm(abs, { recursive: true, force: true });
        this.log('removed directory of a dropped or truncated table', { storage: s, dir: d });
      }
    }
  }

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
          if (abs === this.dir && e.name === QUARANTINE_DIR) continue; // kept for inspection
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
        const sidecarOf =
          e.name.endsWith('.parquet.bloom') || e.name.endsWith('.parquet.bloom.tmp') ? rel.replace(/\.bloom(\.tmp)?$/, '') : undefined;
        if (sidecarOf !== undefined && (!live.has(sidecarOf) || e.name.endsWith('.tmp'))) {
          await rm(p, { force: true });
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

  /**
   * Check every manifest file exists with its recorded size and Parquet magic. Missing files are
   * left out of queries but stay listed (a restored file is used again after a restart); damaged
   * ones are moved to `<dir>/quarantine/` and recorded as quarantined (item 10a).
   */
  private async checkFiles(): Promise<void> {
    const damaged = new Map<string, { file: ManifestFile; reason: string }[]>();
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
        if (problem === 'missing') {
          this.unavailable.add(f.path);
          this.log('manifest file unavailable; excluded from queries', { table, file: f.path, problem, rows: f.rows });
        } else if (problem) {
          damaged.set(table, [...(damaged.get(table) ?? []), { file: f, reason: problem }]);
        }
      }
    }
    for (const [table, list] of damaged) await this.quarantineNow(table, list);
  }

  /**
   * Move unreadable files of `table` to `<dir>/quarantine/` and record them in the manifest as
   * quarantined (atomic manifest replace), logging and counting each. Caller holds pushMutex
   * (or runs before start completes). Files no longer in the manifest are skipped.
   */
  private async quarantineNow(table: string, list: { file: ManifestFile; reason: string }[]): Promise<void> {
    const cur = this.manifest.tables[table];
    if (!cur) return;
    const live = new Set(cur.files.map((f) => f.path));
    const entries: QuarantinedFile[] = [];
    for (const { file, reason } of list) {
      if (!live.has(file.path)) continue;
      let movedTo: string | null = null;
      try {
        movedTo = await moveToQuarantine(this.dir, file.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      await rm(`${join(this.dir, file.path)}.bloom`, { force: true });
      this.blooms.delete(file.path);
      entries.push({ ...file, movedTo, reason, quarantinedAt: Date.now() });
      mQuarantined.inc({ shard: this.id, table });
      this.log('parquet file unreadable; moved to quarantine and left out of queries', {
        table,
        partition: file.partition,
        file: file.path,
        movedTo,
        rows: file.rows,
        reason,
      });
    }
    if (entries.length === 0) return;
    const gone = new Set(entries.map((e) => e.path));
    const next = withTable(this.manifest, table, {
      ...cur,
      files: cur.files.filter((f) => !gone.has(f.path)),
      quarantined: [...(cur.quarantined ?? []), ...entries],
    });
    await writeManifest(this.dir, next);
    if (this.stateConn) await this.stateMutex.run(() => this.commitPush(table, next));
    else this.manifest = next;
  }

  // ---------------------------------------------------------------- catalog and views

  private syncQueued: Promise<void> | undefined;

  /** Sync views with the catalog soon (catalog listener); coalesces, logs failures. */
  private scheduleSync(): void {
    if (this.closing || !this.stateConn || this.syncQueued) return;
    const p = Promise.resolve()
      .then(() => {
        this.syncQueued = undefined;
        return this.closing ? undefined : this.syncCatalog();
      })
      .catch((e) => this.log('catalog sync failed; retried by the next query', { error: (e as Error).message }));
    this.syncQueued = p;
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p));
  }

  /**
   * Follow the catalog: create delta tables and views for new tables; for redefined ones (ALTER,
   * RENAME, options) add delta columns for new fields and rebuild the views (under the new name
   * when renamed); for storage names the catalog now knows as dead (DROP, TRUNCATE) drop views
   * and delta at once and schedule the deletion of their files ({@link purgeDead}).
   */
  private async syncCatalog(): Promise<void> {
    const current = (info: TableInfo) => {
      const st = this.tables.get(info.storage);
      return st?.info === info && st.defs !== undefined && st.viewsName === info.name;
    };
    const deadState = (storage: string) => this.catalog.byStorage(storage) === undefined && this.catalog.isDead(storage);
    const deadListed = () => Object.keys(this.manifest.tables).some((s) => deadState(s));
    if (this.catalog.list().every(current) && ![...this.tables.keys()].some(deadState)) {
      if (deadListed()) this.schedulePurge();
      return;
    }
    await this.stateMutex.run(async () => {
      const live = this.catalog.list();
      const liveNames = new Set(live.map((i) => i.name));
      // Delta tables of dead storage names go last: until the views of a table's new storage
      // (TRUNCATE) replace the old ones, queries may still read them through the old views.
      const deadDeltas: string[] = [];
      for (const [storage, st] of [...this.tables]) {
        if (!deadState(storage)) continue;
        await this.dropViews(st, st.viewsName, liveNames);
        if (st.rawStage) await this.state().run(`DROP TABLE IF EXISTS ${st.rawStage.sql}`);
        deadDeltas.push(storage);
        this.tables.delete(storage);
        this.tablesEpoch++;
        this.log('table dropped or truncated: views and delta removed', { table: st.info.name, storage });
      }
      for (const p of this.staged.keys()) if (this.catalog.isDead(p)) this.staged.delete(p);
      try {
        for (const info of live) {
          if (current(info)) continue;
          let st = this.tables.get(info.storage);
          if (!st) {
            const cols = fieldColumns(info);
            await this.state().run(
              `CREATE TABLE IF NOT EXISTS ${deltaTable(info.storage)} (${deltaColumnsDdl(cols)});
               CREATE TABLE IF NOT EXISTS ${deltaLatestTable(info.storage)} (${deltaColumnsDdl(cols)});`,
            );
            st = {
              info,
              viewsName: undefined,
              deltaFields: new Set(cols.map((c) => c.field)),
              deltaRows: 0,
              deltaDisjoint: false,
              fileKeyRanges: undefined,
              defs: undefined,
              snapshots: new Map(),
            };
            this.tables.set(info.storage, st);
            this.tablesEpoch++;
            this.recomputeFileKeyRanges(st);
            // Versions that arrived before this table did stay staged: the next refresh loads them.
          } else if (st.info !== info) {
            const old = st.info;
            st.info = info;
            this.tablesEpoch++;
            await this.addDeltaFields(st);
            // The latest-version table is kept only for tables that are not append-only.
            if (old.options.appendOnly && !info.options.appendOnly) await this.rebuildDeltaLatest(st);
            this.recomputeFileKeyRanges(st);
          }
          if (st.viewsName !== undefined && st.viewsName !== info.name) {
            await this.dropViews(st, st.viewsName, liveNames);
            st.viewsName = undefined;
          }
          await this.rebuildViews(st);
        }
      } finally {
        for (const storage of deadDeltas) {
          await this.state().run(`DROP TABLE IF EXISTS ${deltaTable(storage)}; DROP TABLE IF EXISTS ${deltaLatestTable(storage)};`);
        }
      }
    });
    if (deadListed()) this.schedulePurge();
  }

  /** Drop the main views named after `name` unless a live table has that name now. Caller holds stateMutex. */
  private async dropViews(st: TableState, name: string | undefined, liveNames: ReadonlySet<string>): Promise<void> {
    if (name === undefined) return;
    const drops = liveNames.has(name) ? '' : VIEW_KINDS.map((k) => `DROP VIEW IF EXISTS main.${ident(viewName(name, k))};`).join(' ');
    await this.state().run(`BEGIN; ${drops} DELETE FROM ${ident(META_SCHEMA)}.views WHERE storage = ${lit(st.info.storage)}; COMMIT;`);
  }

  /**
   * Add delta columns for fields of the current definition the delta tables lack (ADD COLUMN):
   * rows already there were stored before the column existed and get its missing value.
   * Caller holds stateMutex.
   */
  private async addDeltaFields(st: TableState): Promise<void> {
    const added = fieldColumns(st.info).filter((c) => !st.deltaFields.has(c.field));
    if (added.length === 0) return;
    const stmts: string[] = [];
    for (const t of [deltaTable(st.info.storage), deltaLatestTable(st.info.storage)]) {
      for (const c of added) {
        stmts.push(`ALTER TABLE ${t} ADD COLUMN ${ident(c.field)} ${c.codec.fileSql};`);
        if (!c.missing.startsWith('CAST(NULL ')) stmts.push(`UPDATE ${t} SET ${ident(c.field)} = ${c.missing};`);
      }
    }
    await this.state().run(stmts.join('\n'));
    for (const c of added) st.deltaFields.add(c.field);
  }

  private state(): DuckDBConnection {
    if (!this.stateConn) throw new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is not open`);
    return this.stateConn;
  }

  private tableManifest(storage: string): ManifestTable {
    return this.manifest.tables[storage] ?? { watermark: -1, files: [] };
  }

  private recomputeFileKeyRanges(st: TableState): void {
    st.fileKeyRanges = keyRangesOf(st.info, this.tableManifest(st.info.storage).files);
  }

  /** Current definitions of the three views (see sql.ts). */
  private viewDefinitions(st: TableState): { defs: Record<ViewKind, string>; snapshot: ViewSnapshot } {
    const storage = st.info.storage;
    const m = this.tableManifest(storage);
    const available = m.files.filter((f) => !this.unavailable.has(f.path));
    const inputs: ViewInputs = {
      table: st.info,
      files: available.map((f) => fileRef(this.dir, f)),
      deltaCovered: this.deltaCovered(storage),
      singleVersion: singleVersion(available),
      filesHaveDeletes: available.some((f) => (f.ops?.delete ?? 1) > 0),
      deltaRows: st.deltaRows,
      deltaDisjoint: st.deltaDisjoint,
    };
    const unavailable: UnavailableFile[] = [
      ...m.files
        .filter((f) => this.unavailable.has(f.path))
        .map((f) => ({ table: st.info.name, partition: f.partition, path: f.path, rows: f.rows, reason: 'missing' })),
      ...(m.quarantined ?? []).map((f) => ({
        table: st.info.name,
        partition: f.partition,
        path: f.path,
        rows: f.rows,
        reason: `quarantined: ${f.reason}`,
      })),
    ];
    const defs = { table: viewSql('table', inputs), history: viewSql('history', inputs), latest: viewSql('latest', inputs) };
    return { defs, snapshot: { inputs, files: available, unavailable } };
  }

  /** The delta sources' watermarks for storage `storage` (ms by source id; -1 = nothing pushed). */
  private sourceMarks(storage: string): Record<string, number> {
    const m = this.manifest.tables[storage];
    const out: Record<string, number> = {};
    for (const src of this.opts.deltaSources) out[src.id] = sourceWatermark(m, src.id);
    return out;
  }

  /** SQL condition for delta rows of `storage` already in its files (per source, sql.ts). */
  private deltaCovered(storage: string): string {
    return deltaCoveredSql(this.sourceMarks(storage));
  }

  /**
   * Recreate `<t>`, `<t>__history` and `<t>__latest` when their definition or name changed (or
   * when `force`), and drop delta rows at or below the watermark, in one DuckDB transaction:
   * whatever state a query sees pairs a file list with the delta rows above that list's
   * watermark. On failure the views are marked stale and rebuilt by the next query. Caller
   * holds stateMutex.
   */
  private async rebuildViews(st: TableState, force = false): Promise<void> {
    const { defs, snapshot } = this.viewDefinitions(st);
    const name = st.info.name;
    const same = st.defs !== undefined && VIEW_KINDS.every((k) => st.defs?.[k] === defs[k]);
    if (!force && same && st.viewsName === name) return;
    const storage = st.info.storage;
    // A key whose latest delta version is now in the files has no newer delta version (all of
    // a key's versions come from one source), so dropping covered latest rows keeps it exact.
    const covered = snapshot.inputs.deltaCovered;
    const cleanup = covered
      ? `DELETE FROM ${deltaTable(storage)} WHERE ${covered}; DELETE FROM ${deltaLatestTable(storage)} WHERE ${covered};`
      : '';
    // Queries read the generation in their transaction and build per-query views from its snapshot.
    const gen = ++this.viewGen;
    st.snapshots.set(gen, snapshot);
    for (const g of st.snapshots.keys()) if (st.snapshots.size > SNAPSHOTS_KEPT && g !== gen) st.snapshots.delete(g);
    const views = VIEW_KINDS.map((k) => `CREATE OR REPLACE VIEW main.${ident(viewName(name, k))} AS ${defs[k]};`).join('\n');
    st.pendingGen = gen;
    try {
      await this.state().run(
        `BEGIN; ${views} ${cleanup}
         INSERT OR REPLACE INTO ${ident(META_SCHEMA)}.views VALUES (${lit(storage)}, ${gen}); COMMIT;`,
      );
    } catch (e) {
      st.snapshots.delete(gen);
      st.defs = undefined;
      st.pendingGen = undefined;
      // Whether the views moved is unknown: no generation is taken as committed until the next rebuild.
      st.committedGen = undefined;
      await this.state()
        .run('ROLLBACK')
        .catch(() => {});
      throw e;
    }
    st.defs = defs;
    st.viewsName = name;
    st.committedGen = gen;
    st.pendingGen = undefined;
  }

  private purging: Promise<void> | undefined;

  /** Run {@link purgeDead} soon (coalesced; failures are logged and retried by the next sync). */
  private schedulePurge(): void {
    if (this.closing || this.purging) return;
    const p = this.pushMutex
      .run(() => this.purgeDead())
      .catch((e) => this.log('removing files of dropped tables failed; retried later', { error: (e as Error).message }))
      .finally(() => {
        if (this.purging === p) this.purging = undefined;
      });
    this.purging = p;
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p));
  }

  /**
   * Remove dead storage names (dropped or truncated tables, `Catalog.isDead`) from the manifest
   * (atomic replace) and retire their files and directories to the file leases, which delete
   * them once no query that may read them is running (as compaction's replaced files). Their
   * views are gone already (syncCatalog). Caller holds pushMutex.
   */
  private async purgeDead(): Promise<void> {
    const dead = Object.keys(this.manifest.tables).filter((s) => this.catalog.byStorage(s) === undefined && this.catalog.isDead(s));
    if (dead.length === 0) return;
    if (dead.some((s) => this.tables.has(s))) await this.syncCatalog();
    const paths = dead.flatMap((s) => (this.manifest.tables[s]?.files ?? []).map((f) => f.path));
    const next = withoutTables(this.manifest, dead);
    await writeManifest(this.dir, next);
    this.manifest = next;
    for (const p of paths) {
      this.blooms.delete(p);
      this.unavailable.delete(p);
    }
    const dirs = dead.flatMap((s) => [tableDirName(s), `${QUARANTINE_DIR}/${tableDirName(s)}`]);
    this.compactor.leases.retire(paths, dirs);
    this.log('files of dropped or truncated tables retired', { storages: dead, files: paths.length });
  }

  // ---------------------------------------------------------------- delta

  /**
   * Bring the delta tables of `tables` (storage names; every table when undefined) up to what the
   * delta sources hold now: pull every source's new versions (cheap: no DuckDB work), then load
   * the staged versions of those tables into DuckDB. A query waits only for its own tables.
   * @throws TierUnavailableError when a source fails; the mapped DuckDB error when loading does.
   */
  private async refresh(tables?: ReadonlySet<string>): Promise<void> {
    await this.pull();
    await this.stateMutex.run(() => this.applyStaged(tables));
  }

  /** Pull new versions from every delta source into `staged` (coalescing concurrent callers). */
  private pull(): Promise<void> {
    if (!this.pullRunning) {
      this.pullRunning = this.doPull().finally(() => {
        this.pullRunning = undefined;
      });
      return this.pullRunning;
    }
    // A pull is running but may have started before this caller's writes: queue one more.
    this.pullQueued ??= this.pullRunning
      .catch(() => {})
      .then(() => {
        this.pullQueued = undefined;
        return this.pull();
      });
    return this.pullQueued;
  }

  /**
   * Per table storage name, the OLAP watermark of `source` (ms): its versions at or below it are
   * in Parquet, so `appendDelta` would drop them; the source leaves them out unread.
   */
  private coveredBy(source: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [storage, t] of Object.entries(this.manifest.tables)) {
      const w = sourceWatermark(t, source);
      if (w >= 0) out[storage] = w;
    }
    return out;
  }

  private async doPull(): Promise<void> {
    const sources = this.opts.deltaSources; // read live: an embedder may add sources after start
    for (const { id, api } of sources) {
      for (;;) {
        const after = this.lastLsn.get(id) ?? 0;
        let r: Awaited<ReturnType<IngestionApi['delta']>>;
        try {
          r = await api.delta(after, this.deltaBatch, this.coveredBy(id));
        } catch (e) {
          throw new TierUnavailableError(
            `OLAP shard ${this.id}: delta source ${id} (ingestion) failed: ${(e as Error).message ?? String(e)}; the query would miss versions newer than the OLAP watermark`,
            { cause: e },
          );
        }
        if (r.versions.length > 0) {
          // Rows carry the fields of the catalog version they were written under: know them first.
          if (r.catalogVersion !== undefined && r.catalogVersion > this.catalog.version) {
            await this.catalog.waitFor(r.catalogVersion, this.catalogWaitMs);
          }
          await this.syncCatalog();
          for (const v of r.versions) {
            const list = this.staged.get(v.table);
            const last = list?.[list.length - 1];
            if (last?.source === id) last.versions.push(v);
            else if (list) list.push({ source: id, versions: [v] });
            else this.staged.set(v.table, [{ source: id, versions: [v] }]);
          }
        }
        if (r.lastLsn > after) this.lastLsn.set(id, r.lastLsn);
        // A long backlog (the first query after an idle spell) is loaded batch by batch, so what
        // waits in memory stays bounded by one pull batch.
        if (this.stagedVersions() >= this.deltaBatch) await this.stateMutex.run(() => this.applyStaged());
        const consumed = r.lastLsn - after;
        if (r.versions.length < this.deltaBatch && consumed < this.deltaBatch) break;
        if (consumed <= 0) break;
      }
    }
  }

  /** Versions in `staged` (count). */
  private stagedVersions(): number {
    let n = 0;
    for (const batches of this.staged.values()) for (const b of batches) n += b.versions.length;
    return n;
  }

  /**
   * Load the staged versions of `tables` (every table when undefined) into the delta tables;
   * versions of dead storage names are dropped, those of tables the catalog does not know yet stay
   * staged (catalog events precede data, but this shard's catalog may lag). A batch that fails
   * stays staged, with the ones after it, for the next refresh. Caller holds stateMutex.
   */
  private async applyStaged(tables?: ReadonlySet<string>): Promise<void> {
    for (const [table, batches] of [...this.staged]) {
      if (tables && !tables.has(table)) continue;
      if (this.catalog.isDead(table)) {
        this.staged.delete(table);
        continue;
      }
      const st = this.tables.get(table);
      if (!st) continue;
      this.staged.delete(table);
      for (let i = 0; i < batches.length; i++) {
        const b = batches[i] as { source: string; versions: VersionRecord[] };
        try {
          if ((await this.appendDelta(st, b.source, b.versions)) > 0) {
            await this.updateDeltaStats(st);
            await this.rebuildViews(st);
          }
        } catch (e) {
          const rest = batches.slice(i);
          const later = this.staged.get(table) ?? [];
          this.staged.set(table, [...rest, ...later]);
          throw e;
        }
      }
    }
  }

  /**
   * Append versions above the watermark to the table's delta and update its latest-version
   * table for the keys they touch, in one DuckDB transaction; returns how many were added. Bad
   * versions are logged and skipped. Caller holds stateMutex.
   */
  private async appendDelta(st: TableState, source: string, list: VersionRecord[]): Promise<number> {
    const info = st.info;
    const w = sourceWatermark(this.manifest.tables[info.storage], source);
    const owns = this.opts.owns;
    const keep = list.filter((v) => v.commitTs > w && (!owns || owns(info, v)));
    if (keep.length === 0) return 0;
    const conn = this.state();
    const raw = await this.rawStage(st);
    const typed = `${ident(STAGE_SCHEMA)}.${ident(`delta_new_${++this.stageSeq}`)}`;
    try {
      const loader = new VersionLoader(info);
      const n = await loader.load(conn, STAGE_SCHEMA, raw.name, keep, (v, reason) =>
        this.log('delta version refused', { table: info.name, version: v.version, error: reason }),
      );
      if (n === 0) return 0;
      if (loader.nanAsNull > 0) this.writer.warnNaN(info, loader.nanAsNull);
      let latest = '';
      if (!info.options.appendOnly) {
        // Recompute the latest delta version of every key the batch touches.
        const pk = info.primaryKey.map(ident).join(', ');
        const on = (a: string, b: string) => info.primaryKey.map((k) => `${a}.${ident(k)} = ${b}.${ident(k)}`).join(' AND ');
        const keys = `(SELECT DISTINCT ${pk} FROM ${typed})`;
        latest = `DELETE FROM ${deltaLatestTable(info.storage)} l USING ${keys} k WHERE ${on('l', 'k')};
          INSERT INTO ${deltaLatestTable(info.storage)} BY NAME SELECT d.* FROM ${deltaTable(info.storage)} d SEMI JOIN ${keys} k ON ${on('d', 'k')} ${latestQualify(info)};`;
      }
      // One script, so one wait for the event loop however busy it is (a refresh runs while
      // queries wait for it).
      await conn.run(
        `CREATE TABLE ${typed} AS SELECT ${typedSelect(info, 'delta', loader.engines)}, ${lit(source)} AS "_src" FROM ${raw.sql};
         BEGIN; INSERT INTO ${deltaTable(info.storage)} BY NAME SELECT * FROM ${typed}; ${latest} COMMIT;
         DROP TABLE ${typed}; DELETE FROM ${raw.sql};`,
      );
      return n;
    } catch (e) {
      await conn.run('ROLLBACK').catch(() => {});
      await conn.run(`DROP TABLE IF EXISTS ${typed}; DELETE FROM ${raw.sql};`).catch(() => {});
      throw e;
    }
  }

  /**
   * The table's raw staging table for delta appends (empty between appends), created on first
   * use and again when the table's columns change. Caller holds stateMutex.
   */
  private async rawStage(st: TableState): Promise<{ name: string; sql: string }> {
    const ddl = rawColumnsDdl(st.info);
    if (st.rawStage?.ddl === ddl) return st.rawStage;
    const name = `delta_raw_${++this.stageSeq}`;
    const sql = `${ident(STAGE_SCHEMA)}.${ident(name)}`;
    const old = st.rawStage ? `DROP TABLE IF EXISTS ${st.rawStage.sql}; ` : '';
    await this.state().run(`${old}CREATE TABLE ${sql} (${ddl})`);
    st.rawStage = { ddl, name, sql };
    return st.rawStage;
  }

  /** Rebuild a table's delta latest-version table from its delta. Caller holds stateMutex. */
  private async rebuildDeltaLatest(st: TableState): Promise<void> {
    await this.state().run(
      `BEGIN; DELETE FROM ${deltaLatestTable(st.info.storage)};
       INSERT INTO ${deltaLatestTable(st.info.storage)} BY NAME SELECT * FROM ${deltaTable(st.info.storage)} ${latestQualify(st.info)}; COMMIT;`,
    );
  }

  /** Recount the delta above the watermark and decide whether it can skip the anti-join. Caller holds stateMutex. */
  private async updateDeltaStats(st: TableState): Promise<void> {
    const info = st.info;
    const covered = this.deltaCovered(info.storage);
    const from = `${deltaTable(info.storage)}${covered ? ` WHERE NOT (${covered})` : ''}`;
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
    const disjointSomewhere = info.primaryKey.some((k, i) => {
      const col = columnOfField(info, k);
      if (!col) return false;
      const cmp = (v: Value) => zoneComparable(v, col.type, col.typmod) ?? null;
      return !rangesMayOverlap({ min: cmp(get(`min${i}`)), max: cmp(get(`max${i}`)) }, ranges[i] as ValueRange);
    });
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
    if (typeof req?.table !== 'string' || typeof req.source !== 'string' || !Number.isFinite(req.toTs) || !Array.isArray(req.versions)) {
      throw new StratumError(
        SqlState.invalidParameterValue,
        'push request needs { source: string (ingestion id), table: string, toTs: number (ms), versions: [] }',
      );
    }
    const source = req.source;
    // Rows carry the fields of the catalog version they were written under: know them first.
    if (req.catalogVersion !== undefined && req.catalogVersion > this.catalog.version) {
      await this.catalog.waitFor(req.catalogVersion, this.catalogWaitMs);
    }
    // `table` is a storage name (protocol 3). Versions of a dropped or truncated table are garbage.
    if (this.catalog.isDead(req.table)) return { watermark: req.toTs };
    await this.syncCatalog();
    const info = this.catalog.byStorage(req.table);
    if (!info) {
      throw new SchemaError(
        SqlState.undefinedTable,
        `relation "${req.table}" does not exist on OLAP shard ${this.id} (catalog version ${this.catalog.version}); retry once the catalog has it`,
      );
    }
    const cur = this.tableManifest(req.table);
    // The watermark is per (table, source): each ingestion engine pushes its own keys' versions.
    const mark = sourceWatermark(this.manifest.tables[req.table], source);
    if (req.toTs <= mark) return { watermark: mark };
    if (Number.isFinite(req.fromTs) && req.fromTs > mark) {
      // Accepting would leave (watermark, fromTs] missing: OLAP must hold a time prefix (DESIGN §4).
      throw new StratumError(
        SqlState.invalidParameterValue,
        `push of table "${req.table}" from source ${source} starts after ${req.fromTs} ms but OLAP shard ${this.id} holds only up to ${mark} ms of that source; push from the shard's watermark`,
        { hint: `Read watermarks('${source}') and push (watermark, toTs].` },
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
      if (v.commitTs > mark) versions.push(v);
    }
    const t0 = Date.now();
    let written: ManifestFile[] = [];
    const timings: Record<string, number> = {};
    if (versions.length > 0) written = await this.writer.write(this.pushConn as DuckDBConnection, info, versions, cur, timings);
    const sources = { ...(cur.sources ?? {}), [source]: req.toTs };
    const next = withTable(this.manifest, req.table, {
      ...cur,
      watermark: Math.min(...Object.values(sources)),
      sources,
      files: [...cur.files, ...written],
    });
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
        table: info.name,
        storage: req.table,
        watermark: req.toTs,
        versions: versions.length,
        files: written.length,
        bytes: written.reduce((s, f) => s + f.bytes, 0),
        uniqueKeys: written.every((f) => f.uniqueKeys === true),
        overlay: written.every((f) => f.overlay === true),
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
  private async commitPush(storage: string, next: Manifest): Promise<void> {
    this.manifest = next;
    this.writer.scheduleBloomBackfill();
    const st = this.tables.get(storage);
    if (!st) return;
    this.recomputeFileKeyRanges(st);
    await this.updateDeltaStats(st);
    await this.rebuildViews(st, true);
  }

  // ---------------------------------------------------------------- reads

  /**
   * OLAP watermark per storage name (ms; -1 = nothing pushed; the key of `PushRequest.table`),
   * for every live catalog table and every manifest table: of one ingestion `source`, or without
   * it the minimum over the shard's sources (its delta sources and every source that pushed to
   * it) — the time prefix every source has pushed.
   */
  watermarks(source?: string): Promise<Record<string, number>> {
    return this.op(async () => {
      const out: Record<string, number> = {};
      for (const t of this.catalog.list()) out[t.storage] = -1;
      for (const [storage, t] of Object.entries(this.manifest.tables)) {
        if (source !== undefined) {
          out[storage] = sourceWatermark(t, source);
          continue;
        }
        const ids = new Set([...this.opts.deltaSources.map((s) => s.id), ...Object.keys(t.sources ?? {}).filter((k) => k !== '*')]);
        out[storage] = ids.size === 0 ? t.watermark : Math.min(...[...ids].map((id) => sourceWatermark(t, id)));
      }
      return out;
    });
  }

  /**
   * Run one read-only statement over files + delta (brief §6), as of `options.asOf` when given,
   * opening only the files zone maps and key bloom filters cannot rule out (prune.ts). Views are
   * named by table name: `<t>`, `<t>__history`, and `<t>__latest` (every column with `_version`
   * and `_ts`, for the router's predicate writes). Files of a referenced table that are
   * unavailable (quarantined, missing) fail the query with XX001 naming them, or with
   * `options.allowDegraded` are left out and named in `notices`. A file DuckDB fails to read is
   * confirmed by reading it alone, quarantined, and the query retried. When `signal` aborts, the
   * DuckDB connection running the query is interrupted (`DuckDBConnection.interrupt`) and the
   * query's transaction rolled back; the pooled connection stays usable. With
   * `options.resultFormat: 'arrow'` the rows come back as an Arrow IPC stream (`QueryResult.arrow`),
   * encoded after the connection is released.
   * @throws StratumError: XX001 unavailable data, 0A000 AS OF with a schema-qualified view name,
   * 22023 bad asOf or resultFormat, 25006 not read-only, 57014 (the signal's reason) when cancelled, else the
   * mapped DuckDB error.
   */
  query(sql: string, params: Literal[], catalogVersion: number, options: QueryOptions = {}, signal?: AbortSignal): Promise<QueryResult> {
    return this.op(async () => {
      throwIfCanceled(signal);
      if (typeof sql !== 'string') throw new StratumError(SqlState.invalidParameterValue, 'query text must be a string');
      if (options.asOf !== undefined && !Number.isFinite(options.asOf)) {
        throw new StratumError(SqlState.invalidParameterValue, `asOf must be a time in ms since epoch, got ${String(options.asOf)}`);
      }
      const format = options.resultFormat ?? 'rows';
      if (format !== 'rows' && format !== 'arrow') {
        throw new StratumError(SqlState.invalidParameterValue, `resultFormat must be 'rows' or 'arrow', got ${String(format)}`);
      }
      if (catalogVersion > this.catalog.version) await raceCancel(this.catalog.waitFor(catalogVersion, this.catalogWaitMs), signal);
      this.lastQueryAt = performance.now();
      await this.syncCatalog();
      const pool = this.pool;
      if (!pool) throw new StratumError(SqlState.adminShutdown, `OLAP shard ${this.id} is not open`);
      const queued = pool.use(async (conn) => {
        mQueued.set({ shard: this.id }, pool.waiting);
        await this.reader.settled(conn);
        // Only the tables the statement reads need their delta loaded now (all when it cannot be analysed).
        const reads = typeof sql === 'string' ? await this.statementReads(conn, sql) : undefined;
        await this.refresh(reads ? new Set(reads.refs.map((r) => r.table)) : undefined);
        throwIfCanceled(signal);
        this.queries++;
        mQueries.inc({ shard: this.id });
        return this.runCancellable(conn, sql, params ?? [], options, signal);
      });
      mQueued.set({ shard: this.id }, pool.waiting);
      const res = await raceCancel(queued, signal);
      return format === 'arrow' ? asArrowResult(res) : res;
    });
  }

  /** {@link runQuery} that `signal` interrupts; the connection is left outside any transaction. */
  private async runCancellable(
    conn: DuckDBConnection,
    sql: string,
    params: readonly Literal[],
    options: QueryOptions,
    signal: AbortSignal | undefined,
  ): Promise<QueryResult> {
    throwIfCanceled(signal);
    const off = interruptOnCancel(conn, signal);
    mRunning.inc({ shard: this.id });
    try {
      return await this.runQuery(conn, sql, params, options, signal);
    } catch (e) {
      throw signal?.aborted ? canceledError(signal) : e;
    } finally {
      off();
      // An interrupt may have hit the ROLLBACK that ends the query's transaction.
      if (signal?.aborted) {
        await this.reader.settled(conn);
        await conn.run('ROLLBACK').catch(() => {});
      }
      mRunning.dec({ shard: this.id });
    }
  }

  /** Analysed statements by SQL text, for the current set of tables (dashboards repeat their queries). */
  private readonly readsCache = new Map<string, StatementReads | undefined>();
  /** Typed predicates of parameterless statements in {@link readsCache}, by SQL text. */
  private readonly typedCache = new Map<string, TypedPred[][]>();
  private readsCacheKey = '';

  /**
   * Parse `sql` with DuckDB and find the shard views it reads (plan.ts); undefined when it does
   * not parse as one SELECT. Cached per SQL text (LRU, 512) while the tables stay the same.
   */
  private async statementReads(conn: DuckDBConnection, sql: string): Promise<StatementReads | undefined> {
    const key = `${this.tablesEpoch}\u0000${this.catalog.version}`;
    if (key !== this.readsCacheKey) {
      this.readsCache.clear();
      this.typedCache.clear();
      this.readsCacheKey = key;
    }
    if (this.readsCache.has(sql)) {
      const hit = this.readsCache.get(sql);
      this.readsCache.delete(sql);
      this.readsCache.set(sql, hit);
      return hit;
    }
    const reads = await this.analyse(conn, sql);
    this.readsCache.set(sql, reads);
    if (this.readsCache.size > 512) {
      const oldest = this.readsCache.keys().next().value as string;
      this.readsCache.delete(oldest);
      this.typedCache.delete(oldest);
    }
    return reads;
  }

  private async analyse(conn: DuckDBConnection, sql: string): Promise<StatementReads | undefined> {
    const m = EXPLAIN_RE.exec(sql);
    const text = m ? sql.slice(m[0].length) : sql;
    let parsed: { error?: boolean; statements?: unknown[] };
    try {
      const stmt = await conn.prepare('SELECT json_serialize_sql(CAST($1 AS VARCHAR))');
      try {
        stmt.bindVarchar(1, text);
        const r = await stmt.runAndReadAll();
        parsed = JSON.parse(String(r.getRows()[0]?.[0]));
      } finally {
        stmt.destroySync();
      }
    } catch {
      return undefined;
    }
    if (parsed.error !== false || !Array.isArray(parsed.statements) || parsed.statements.length !== 1) return undefined;
    const byLower = new Map<string, TableState>();
    for (const st of this.tables.values()) byLower.set(st.info.name.toLowerCase(), st);
    const reads = analyzeStatement(parsed.statements[0], (name) => {
      const lower = name.toLowerCase();
      const kind: ViewKind = lower.endsWith('__history') ? 'history' : lower.endsWith('__latest') ? 'latest' : 'table';
      const st = byLower.get(kind === 'table' ? lower : lower.slice(0, -`__${kind}`.length));
      if (!st) return undefined;
      // Column names of the view → fields (what zone maps and bloom filters are keyed by).
      const cols = new Map<string, string>();
      for (const c of st.info.columns) if (kind === 'latest' || !c.hidden) cols.set(c.name.toLowerCase(), c.field ?? c.name);
      if (kind === 'history') for (const c of SYSTEM_COLUMNS) cols.set(c, c);
      if (kind === 'latest') for (const c of ['_ts', '_version']) cols.set(c, c);
      return { table: st.info.storage, kind, columns: cols };
    });
    // EXPLAIN of a count is not the count.
    if (m) delete reads.countStar;
    return reads;
  }

  /**
   * One query on a pooled connection: plan, then run in a transaction; quarantine and retry on
   * unreadable files; plan again when a table was dropped, truncated or redefined meanwhile.
   */
  private async runQuery(
    conn: DuckDBConnection,
    sql: string,
    params: readonly Literal[],
    options: QueryOptions,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    for (let replans = 0; ; replans++) {
      const epoch = this.tablesEpoch;
      try {
        // An interrupted query ("INTERRUPT Error") is not taken for file damage there, so it is not retried.
        return await this.planAndRun(conn, sql, params, options);
      } catch (e) {
        throwIfCanceled(signal);
        // A DROP/TRUNCATE/ALTER/RENAME applied meanwhile may have replaced what the plan referred
        // to: let the catalog sync under way finish, then plan again.
        if (replans >= 3 || (epoch === this.tablesEpoch && !(e instanceof StaleViews))) throw e;
        await this.stateMutex.run(async () => {});
        await this.syncCatalog();
      }
    }
  }

  private async planAndRun(conn: DuckDBConnection, sql: string, params: readonly Literal[], options: QueryOptions): Promise<QueryResult> {
    let reads = await this.statementReads(conn, sql);
    if (!reads) {
      // Not analysable (e.g. a syntax error): surface DuckDB's error first, then assume every view is read.
      const stmt = await conn.prepare(sql).catch((e) => {
        throw mapDuckDbError(e);
      });
      stmt.destroySync();
      reads = {
        refs: [...this.tables.values()].flatMap((st) =>
          VIEW_KINDS.map((kind) => ({ table: st.info.storage, kind, qualified: false, preds: [] })),
        ),
        cteNames: new Set(),
      };
    }
    if (options.asOf !== undefined) {
      const q = reads.refs.find((r) => r.qualified);
      if (q) {
        const name = this.tables.get(q.table)?.info.name ?? q.table;
        throw new StratumError(
          SqlState.featureNotSupported,
          `a read as of a time needs unqualified view names; write "${viewName(name, q.kind)}" without a schema`,
        );
      }
    }
    if (reads.countStar && options.asOf === undefined) {
      const counted = countFromManifest(this.tables.get(reads.countStar.table), reads.countStar);
      if (counted) {
        mMetadataAnswers.inc({ shard: this.id });
        // Answered without any I/O: yield once so a client looping on it cannot starve timers and I/O.
        await new Promise((resolve) => setImmediate(resolve));
        return counted;
      }
    }
    const usable = reads.refs.filter((r) => this.tables.has(r.table));
    // Without parameters the typed constants depend only on the text (constants and casts,
    // plan.ts) and the tables: cached beside the analysis (`statementReads`).
    let typedList = params.length === 0 ? this.typedCache.get(sql) : undefined;
    if (!typedList) {
      typedList = await typedPredicates(
        conn,
        usable.map((ref) => ({ ref, info: (this.tables.get(ref.table) as TableState).info })),
        params,
      );
      if (params.length === 0 && this.readsCache.has(sql)) this.typedCache.set(sql, typedList);
    }
    const cte = reads.cteNames;
    const views = new Map<string, QueryView>();
    usable.forEach((ref, i) => {
      const st = this.tables.get(ref.table) as TableState;
      const name = viewName(st.info.name, ref.kind);
      const v = views.get(name) ?? { st, kind: ref.kind, preds: [] };
      // A reference that may be a CTE of that name is not pruned (its predicates may be on the CTE).
      v.preds.push(cte.has(name.toLowerCase()) ? [] : (typedList[i] ?? []));
      views.set(name, v);
    });
    for (let attempt = 0; ; attempt++) {
      const opened = new Map<string, ManifestFile>();
      try {
        return await this.reader.run(conn, sql, params, options, views, opened);
      } catch (e) {
        const err = mapDuckDbError(e);
        if (attempt >= 2 || opened.size === 0 || err.code === SqlState.dataCorrupted) throw err;
        const damaged = await this.findDamaged(conn, err.message, opened);
        if (damaged.length === 0) throw err;
        await this.pushMutex.run(async () => {
          const byTable = new Map<string, { file: ManifestFile; reason: string }[]>();
          for (const d of damaged) byTable.set(d.table, [...(byTable.get(d.table) ?? []), { file: d.file, reason: d.reason }]);
          for (const [table, list] of byTable) await this.quarantineNow(table, list);
        });
        // Retry: the new view generation leaves the files out (XX001, or a degraded answer).
      }
    }
  }

  /**
   * The files a failed query blames (or, when the error names none but looks like file damage,
   * every file it opened), each confirmed unreadable by reading it alone.
   */
  private async findDamaged(
    conn: DuckDBConnection,
    message: string,
    opened: Map<string, ManifestFile>,
  ): Promise<{ table: string; file: ManifestFile; reason: string }[]> {
    let suspects = filesBlamed(message, opened);
    if (suspects.length === 0 && mayBeFileDamage(message)) suspects = [...opened.values()];
    const out: { table: string; file: ManifestFile; reason: string }[] = [];
    for (const f of suspects) {
      const reason = await verifyParquet(conn, join(this.dir, f.path));
      const table = [...Object.entries(this.manifest.tables)].find(([, t]) => t.files.includes(f))?.[0];
      if (reason !== undefined && table !== undefined) out.push({ table, file: f, reason });
    }
    return out;
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
      stagedVersions: this.stagedVersions(),
      workerThreads: this.workers.threads,
      workerNice: this.workers.nice,
      queries: this.queries,
      pushes: this.pushes,
      compaction: this.compactor.stats(),
      tables: {},
    };
    const storages = new Set([...Object.keys(this.manifest.tables), ...this.tables.keys()]);
    for (const storage of storages) {
      const m = this.tableManifest(storage);
      const name = this.catalog.byStorage(storage)?.name;
      const ts: TableStats = {
        ...(name !== undefined ? { name } : {}),
        watermark: m.watermark,
        files: m.files.length,
        unavailableFiles: m.files.filter((f) => this.unavailable.has(f.path)).length + (m.quarantined?.length ?? 0),
        bytes: m.files.reduce((s, f) => s + f.bytes, 0),
        rows: m.files.reduce((s, f) => s + f.rows, 0),
        deltaRows: this.tables.get(storage)?.deltaRows ?? 0,
        singleVersion: singleVersion(m.files),
      };
      out.tables[storage] = ts;
      out.files += ts.files;
      out.unavailableFiles += ts.unavailableFiles;
      out.bytes += ts.bytes;
      out.rows += ts.rows;
      out.deltaRows += ts.deltaRows;
    }
    mUnavailable.set({ shard: this.id }, out.unavailableFiles);
    return out;
  }
}

/** `@stratum/shared/arrow`, loaded by the first query that asks for an Arrow result (apache-arrow takes ~0.2 s to load). */
let arrowModule: Promise<typeof import('@stratum/shared/arrow')> | undefined;

/**
 * `res` with its rows as an Arrow IPC stream (`QueryOptions.resultFormat: 'arrow'`): `arrow` set,
 * `rows` empty, `columns`, `notices` and `scan` kept. A result Arrow cannot carry (an interval
 * whose time part exceeds 2^63 ns: 22015; more than 2 GiB of one column in a record batch: 54000)
 * is returned as rows, which callers read the same way (`resultRows`).
 */
async function asArrowResult(res: QueryResult): Promise<QueryResult> {
  const { encodeArrowStream } = await (arrowModule ??= import('@stratum/shared/arrow'));
  try {
    return { ...res, rows: [], arrow: encodeArrowStream(res) };
  } catch (e) {
    if (e instanceof StratumError && (e.code === SqlState.intervalFieldOverflow || e.code === SqlState.programLimitExceeded)) return res;
    throw e;
  }
}
