/**
 * The transaction engine core (DESIGN §2): validates writes against the schema, stamps
 * versions, and commits groups of transactions in one synced LevelDB batch together with
 * their secondary-index entries and outbox entries.
 *
 * Group commit: transactions queue while the previous batch is being synced; the next
 * batch takes all of them (up to `group_commit_max_batch`). Only one batch is in flight,
 * so outbox sequence numbers become durable in order and a crash never leaves a gap.
 * Nothing is acknowledged before its batch is durable and the commit-wait has elapsed.
 *
 * Everything is keyed by storage name (`TableInfo.storage`) and rows by field. Beside this file:
 * `writes.ts` plans write ops and enforces constraints, `view.ts` finds rows (layers over LevelDB
 * over ingestion), `indexes.ts` keeps secondary indexes and collects dead data, `recent.ts` keeps
 * the keys committed after the ingestion watermark; docs/architecture.md "TX engine" has the rules.
 */

import {
  type Catalog,
  type Change,
  type Clock,
  coerceLiteral,
  counter,
  DataError,
  type EncodedPart,
  type EvalContext,
  type EvalSettings,
  encode,
  encodePart,
  gauge,
  histogram,
  type IndexBuildStatus,
  type IngestionApi,
  isValueOfType,
  keyString,
  type Literal,
  type Logger,
  partitionOf,
  type ReadFreshness,
  type ReadRequest,
  type Row,
  type RowVersion,
  SchemaError,
  SqlState,
  StratumError,
  type TableInfo,
  type TxnWrite as TxnWriteView,
  type TxRequest,
  type TxResult,
  throwIfCanceled,
  type Value,
  VersionGenerator,
  WatermarkWatcher,
  type WriteOp,
} from '@stratum/shared';
import { LRUCache } from 'lru-cache';
import { uuidv7 } from './ids.ts';
import { type BackfillChunk, type BuildEntry, SecondaryIndexes } from './indexes.ts';
import { RecentKeys } from './recent.ts';
import { type BatchOp, outboxKey, rowKey, type StoredRow, seqKey, TxStore } from './store.ts';
import { approxRowBytes, colOf, fullRow, primaryName, uniqueViolation } from './values.ts';
import { type Current, cacheKey, indexNamed, type Layer, TableRows, View, type ViewDeps } from './view.ts';
import { applyOps, type BlockWrite, evalExpr, revalidate, tableOf, type WriteEnv } from './writes.ts';

/** Memory of a hot-row cache entry beyond its row and key (bytes, estimated): the StoredRow, its version, the LRU slot. */
const CACHE_ENTRY_BYTES = 200;

/** Settings of one engine. */
export interface EngineOptions {
  id: string;
  partitions: number;
  catalog: Catalog;
  clock: Clock;
  /** Ingestion, for rows this engine does not hold (written by other engines or evicted). */
  ingestion: IngestionApi | undefined;
  maxBatch: number;
  /** Memory of the hot-row cache (bytes, estimated: twice {@link approxRowBytes} plus the entry's overhead). */
  rowCacheBytes: number;
  maxTxnBytes: number;
  /** Largest encoded transaction part the bus accepts (bytes). */
  maxPartBytes: () => number;
  /**
   * Largest ε (ms) a commit-wait uses for tables that are not strict_serializable
   * (`clock.max_uncertainty_ms`): past it the clock is unsynchronized, strict tables refuse
   * writes and the others wait k × this instead of k × ε.
   */
  maxUncertaintyMs: number;
  /** Longest a `durability: replicated` commit waits for the bus's acknowledgement (ms). */
  replicatedAckTimeoutMs: number;
  catalogTimeoutMs: number;
  log: Logger;
}

/** A queued unit of the group commit. */
interface Pending {
  /** An autocommit request, planned at commit time. */
  req?: TxRequest;
  /** An explicit transaction, validated at commit time. */
  txn?: Txn;
  /** Row versions to evict (retention): deleted only if still the current version. */
  evict?: { table: string; key: Value[]; version: string }[];
  /** Rows of an index build: their entries are written if the rows are still live. */
  backfill?: BackfillChunk;
  /** Nothing: resolves once every batch before it is durable. */
  barrier?: true;
  /** Rows the request's predicate ops found before the group commit ({@link Engine.execute}). */
  prefound?: Map<WriteOp, { keys: Value[][]; asOf: number }>;
  resolve: (r: TxResult) => void;
  reject: (e: unknown) => void;
  /** Times this transaction was moved to the next batch by {@link CausalityRetry}. */
  causalRetries?: number;
}

/** Isolation of an explicit transaction (DESIGN §2: snapshot isolation; SERIALIZABLE validates its reads). */
export type Isolation = 'repeatable_read' | 'serializable';

/** A buffered write of an explicit transaction: the row's final state and the version it replaced. */
interface TxnWrite {
  /** Storage name. */
  table: string;
  key: Value[];
  /** Final row; null = deleted. */
  row: Row | null;
  /** Version the transaction's snapshot held (null = absent). */
  prev: string | null;
  /** Whether the row was live in the snapshot (decides insert/update/delete). */
  existed: boolean;
  /** The row in the snapshot (null = absent), for commit-time constraint checks. */
  old: Row | null;
}

/** A point read of a SERIALIZABLE transaction, validated at commit. */
interface TxnRead {
  table: string;
  key: Value[];
  /** Version seen (null = absent). */
  version: string | null;
}

/** Writes of a transaction by storage name, then by {@link keyString}. */
type WriteSet = Map<string, Map<string, TxnWrite>>;

/** An explicit transaction (BEGIN … COMMIT), held by the engine between statements. */
export interface Txn {
  id: string;
  isolation: Isolation;
  /** Commit timestamp of the newest batch in the snapshot (ms). */
  snapshotTs: number;
  snapshot: ReturnType<TxStore['db']['snapshot']>;
  /** Start of the transaction (µs since epoch): now() when the router sends no settings. */
  startUs: bigint;
  writes: WriteSet;
  /** SERIALIZABLE: version seen by each read (null = absent), by cache key. */
  reads: Map<string, TxnRead>;
  savepoints: { name: string; writes: WriteSet; reads: Map<string, TxnRead> }[];
  bytes: number;
  lastUsed: number;
  /** A statement failed: only rollback is possible. */
  failed: boolean;
}

/** Version marking a transaction's own uncommitted write in its views. */
const UNCOMMITTED = 'uncommitted';

/** Metrics of the TX tier. */
const mCommits = counter('stratum_tx_commits_total', 'Committed transactions', ['engine']);
const mAborts = counter('stratum_tx_aborts_total', 'Transactions refused (constraint, type, ...)', ['engine', 'code']);
const mBatches = counter('stratum_tx_group_commits_total', 'Synced LevelDB batches (group commits)', ['engine']);
const mBatchSize = histogram(
  'stratum_tx_group_commit_size',
  'Transactions per group commit',
  ['engine'],
  [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
);
const mCommitLatency = histogram('stratum_tx_commit_seconds', 'Time from request to acknowledgement', ['engine']);
const mCacheHits = counter('stratum_tx_row_cache_hits_total', 'Point reads served by the hot-row cache', ['engine']);
const mCacheMiss = counter('stratum_tx_row_cache_misses_total', 'Point reads that missed the hot-row cache', ['engine']);
const mQueue = gauge('stratum_tx_commit_queue', 'Transactions waiting for the next group commit', ['engine']);
const mEvicted = counter('stratum_tx_evicted_rows_total', 'Row versions evicted after tx_retention (reads go to ingestion)', ['engine']);
const mReplicatedTimeouts = counter(
  'stratum_tx_replicated_ack_timeouts_total',
  'durability: replicated commits not acknowledged by the bus within tx.replicated_ack_timeout_ms (committed locally)',
  ['engine'],
);
const mOpenTxns = gauge('stratum_tx_open_transactions', 'Explicit transactions open (BEGIN without COMMIT/ROLLBACK yet)', ['engine']);

/**
 * Commit-wait multiplier k of a consistency mode (DESIGN §6 table): the acknowledgement waits
 * k·ε after the commit timestamp.
 */
export const COMMIT_WAIT_K: Record<TableInfo['options']['consistency']['mode'], number> = {
  eventual: 0,
  bounded_staleness: 1,
  monotonic_reads: 2,
  strict_serializable: 3,
};

/** Callback told about every durable batch (the outbox relay listens). */
export type CommittedListener = (parts: EncodedPart[]) => void;

/** The engine. Create with {@link Engine.open}. */
/** {@link Engine}'s record of rows ingestion may hold that LevelDB lacks. */
interface RemoteRows {
  all: boolean;
  tables: Set<string>;
}
/** Its stored form (metadata `remote`). */
interface StoredRemoteRows {
  all: boolean;
  tables: string[];
}

export class Engine {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  private readonly versions = new VersionGenerator();
  private lastTs = 0;
  /** Highest closed timestamp handed out; later commits get a larger timestamp. */
  private closedHigh = 0;
  /** Commit timestamp of the batch being synced (closed timestamps must stay below it); 0 when none. */
  private inflightTs = 0;
  private readonly cache: LRUCache<string, StoredRow>;
  private readonly listeners: CommittedListener[] = [];
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;
  private readonly txns = new Map<string, Txn>();
  /**
   * Whether another engine has written to the stream (as ingestion reports its pairs): then a
   * row held here may have a newer version elsewhere, and point reads also ask ingestion and
   * return the newer one. True until ingestion says otherwise.
   */
  foreignWriters = true;
  /**
   * Which rows ingestion may hold that this engine's LevelDB lacks, besides other engines'
   * writes (see {@link mayBeRemote}): `all` (the store predates this record, or was created
   * while ingestion already held data, or ingestion could not say), or the tables whose rows this
   * engine evicted after tx_retention. Kept in the store's metadata (`remote`).
   */
  private remote: RemoteRows = { all: true, tables: new Set() };
  /** Resolves once the bus acknowledged these outbox entries (set by the relay). */
  whenPublished: ((parts: readonly { partition: number; seq: number }[], signal?: AbortSignal) => Promise<void>) | undefined;
  /** Shared polling of the ingestion watermark by waiting point reads. */
  private watermarks: WatermarkWatcher | undefined;
  /** Keys this engine committed after the ingestion watermark (`candidates` sources). */
  private readonly recent: RecentKeys;
  /** Secondary indexes: maintenance, builds, garbage. */
  private readonly indexes: SecondaryIndexes;
  /** Background work (index builds, garbage deletion) to wait for at close. */
  private readonly background = new Set<Promise<void>>();
  private readonly deps: ViewDeps;

  private constructor(
    readonly opts: EngineOptions,
    readonly store: TxStore,
    /** Last assigned sequence per partition (durable once the batch is written). */
    readonly seqs: number[],
  ) {
    // Sized in bytes, not rows: 100,000 rows (the old bound) held a 100k-row table until a write
    // load of 45k new rows evicted almost half of it, and point reads after it went to LevelDB.
    this.cache = new LRUCache<string, StoredRow>({
      maxSize: opts.rowCacheBytes,
      sizeCalculation: (s, key) => CACHE_ENTRY_BYTES + 2 * (approxRowBytes(s.row) + key.length),
    });
    this.recent = new RecentKeys(store, opts.catalog, opts.log, (w) => this.spawn(w));
    this.deps = {
      store,
      cache: this.cache,
      ingestion: opts.ingestion,
      mayBeRemote: (storage) => this.mayBeRemote(storage),
      recentKeys: (t, afterTs) => this.recent.after(t, afterTs),
      raiseFloor: (ts) => this.raiseFloor(ts),
      indexReady: (storage, ix) => this.indexes.ready(storage, ix),
    };
    this.indexes = new SecondaryIndexes({
      engineId: opts.id,
      store,
      catalog: opts.catalog,
      cache: this.cache,
      log: opts.log,
      backfill: (chunk) => this.enqueue({ backfill: chunk }),
      barrier: () => this.barrier(),
      spawn: (w) => this.spawn(w),
      lastTs: () => this.lastTs,
      closed: () => this.closed,
      dropRecent: (storage) => this.recent.drop(storage),
    });
  }

  /** Open the engine's store in `dir`. @throws when the store belongs to another engine id. */
  static async open(dir: string, opts: EngineOptions): Promise<Engine> {
    const store = await TxStore.open(dir, opts.id);
    const seqs = await store.loadSeqs(opts.partitions);
    const e = new Engine(opts, store, seqs);
    const remote = await store.getMeta<StoredRemoteRows>('remote');
    if (remote) e.remote = { all: remote.all, tables: new Set(remote.tables) };
    opts.catalog.onApply((_v, ev) => e.indexes.onCatalog(ev));
    e.indexes.sync();
    e.spawn(e.indexes.collectGarbageAtStart());
    return e;
  }

  /**
   * Whether ingestion may hold a version of a row of `storage` that this engine's LevelDB does
   * not: another engine writes the stream, the store did not hold everything from the start, or
   * this engine evicted rows of the table. When not, a key missing here is missing everywhere
   * and reads and writes need not ask ingestion (a round trip to another thread or process).
   */
  mayBeRemote(storage: string): boolean {
    return this.foreignWriters || this.remote.all || this.remote.tables.has(storage);
  }

  /**
   * Settle {@link mayBeRemote}'s record at start, once ingestion's stream pairs are known:
   * `ingestionEmpty` says whether ingestion held no data (no pairs) when a fresh store was
   * created (undefined: it could not be asked). A store with a record keeps it.
   */
  async settleRemote(ingestionEmpty: boolean | undefined): Promise<void> {
    if ((await this.store.getMeta('remote')) !== undefined) return;
    this.remote = { all: !(this.store.fresh && ingestionEmpty === true), tables: new Set() };
    await this.store.putMeta('remote', { all: this.remote.all, tables: [] } satisfies StoredRemoteRows);
  }

  /** Subscribe to durable batches (called synchronously after each durable write, in order). */
  onCommitted(l: CommittedListener): void {
    this.listeners.push(l);
  }

  /**
   * Closed timestamp (ms): every commit with commitTs ≤ it is durable (in the outbox) now and
   * no later commit will get a timestamp ≤ it.
   */
  closedTs(): number {
    const now = this.opts.clock.now();
    // Whole ms at or below the clock (as commit timestamps are), so a closed timestamp never
    // runs ahead of the commit timestamp a batch starting now would take.
    const mid = Math.floor((now.earliest + now.latest) / 2);
    let c = this.inflightTs > 0 ? Math.min(mid, this.inflightTs) - 1 : mid - 1;
    if (c < this.closedHigh) c = this.closedHigh;
    this.closedHigh = c;
    return c;
  }

  /**
   * Queue an autocommit transaction; resolves when it is durable and its commit-wait has elapsed.
   * Its ops are planned inside the group commit (serialised with every other commit of this
   * engine). Ops whose rows are found by an index, range or scan source first find them outside
   * the group commit, so the group commit only re-reads those keys and the keys committed since
   * instead of scanning while every other commit waits.
   *
   * `signal` stops the find and is looked at once more before the transaction is queued; once
   * queued the commit completes whatever the signal does (a cancel during commit arrives too late,
   * as in PostgreSQL), so a cancelled write is either wholly absent or wholly committed.
   * @throws StratumError 57014 (the signal's reason) when cancelled before it was queued.
   */
  async execute(req: TxRequest, signal?: AbortSignal): Promise<TxResult> {
    const pre = await this.prefind(req, signal);
    throwIfCanceled(signal);
    return this.enqueue(pre ? { req, prefound: pre } : { req });
  }

  private async prefind(req: TxRequest, signal: AbortSignal | undefined): Promise<Pending['prefound']> {
    const slow = req.ops.filter((op) => op.kind !== 'insert' && op.source.by !== 'key' && op.source.by !== 'candidates');
    if (slow.length === 0 || this.closed) return undefined;
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    const out = new Map<WriteOp, { keys: Value[][]; asOf: number }>();
    const view = new View(this.deps, { layers: [], ...(signal ? { signal } : {}) });
    for (const op of slow) {
      if (op.kind === 'insert' || op.source.by === 'key') continue;
      const t = tableOf(catalog, op.table);
      // Everything this engine commits from here on is a candidate too (recentKeys after asOf).
      const asOf = this.lastTs;
      const found = await view.find(t, op.source);
      out.set(op, { keys: found.map((f) => f.key), asOf });
    }
    return out;
  }

  private enqueue(what: Omit<Pending, 'resolve' | 'reject'>): Promise<TxResult> {
    if (this.closed) return Promise.reject(new StratumError(SqlState.adminShutdown, `TX engine ${this.opts.id} is shutting down`));
    if (this.retired && (what.req || what.txn)) return Promise.reject(this.retiredError());
    const t0 = performance.now();
    return new Promise<TxResult>((resolve, reject) => {
      this.queue.push({
        ...what,
        resolve: (r) => {
          mCommitLatency.observe({ engine: this.opts.id }, (performance.now() - t0) / 1000);
          resolve(r);
        },
        reject,
      });
      mQueue.set({ engine: this.opts.id }, this.queue.length);
      if (!this.flushing) void this.flushLoop();
    });
  }

  /** Resolves once every group commit that may have started before this call is durable. */
  private async barrier(): Promise<void> {
    await this.enqueue({ barrier: true });
  }

  /** Run `work` in the background, waited for at close; failures are logged. */
  private spawn(work: Promise<void>): void {
    const p = work.catch((e) => {
      if (!this.closed) this.opts.log.warn({ err: (e as Error).message }, 'tx engine background task failed');
    });
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Evaluation settings of a statement: the router's, else the engine's clock and UTC. */
  private evalContext(s: EvalSettings | undefined, txn?: Txn): EvalContext {
    if (s) return { txnTimeUs: s.txnTimeUs, stmtTimeUs: s.stmtTimeUs, timeZone: s.timeZone };
    const now = this.opts.clock.now();
    const us = BigInt(Math.round((now.earliest + now.latest) / 2)) * 1000n;
    return { txnTimeUs: txn?.startUs ?? us, stmtTimeUs: us, timeZone: 'UTC' };
  }

  /**
   * Point read (DESIGN §6): hot-row cache, then LevelDB, then ingestion for rows this engine
   * never held. When other engines write too, ingestion's latest version is read as well and the
   * newer one (commit ts, then version) returned, so reads converge to the merged state. With
   * `fresh.minTs`, an answer older than it waits until the ingestion watermark passes it and
   * includes ingestion's version.
   * @throws StratumError 57014 when the watermark does not pass `fresh.minTs` within `fresh.timeoutMs`.
   */
  async get(table: TableInfo, key: Value[], fresh?: ReadFreshness): Promise<RowVersion | null> {
    let cur = await this.readCurrent(table, key);
    const ing = this.opts.ingestion;
    const need = fresh?.minTs ?? 0;
    const stale = need > 0 && (cur === null || cur.ts < need);
    if (ing && this.mayBeRemote(table.storage) && (stale || (this.foreignWriters && !cur?.remote))) {
      if (stale) await this.waitForIngestion(need, fresh?.timeoutMs ?? 30_000, table.name);
      const r = await ing.get(table.storage, key);
      if (r && (!cur || r.commitTs > cur.ts || (r.commitTs === cur.ts && r.version > cur.version))) {
        cur = { version: r.version, ts: r.commitTs, row: r.row, remote: true };
      }
    }
    return cur ? { version: cur.version, commitTs: cur.ts, row: cur.row && fullRow(table, cur.row) } : null;
  }

  /**
   * Wait until every ingestion watermark is at least `ts` (ms).
   * @throws StratumError 57014 after `timeoutMs`, naming the watermark reached.
   */
  private async waitForIngestion(ts: number, timeoutMs: number, table: string): Promise<void> {
    const ing = this.opts.ingestion;
    if (!ing) return;
    this.watermarks ??= new WatermarkWatcher(async () => (await ing.status()).watermark);
    const w = await this.watermarks.waitFor(ts, performance.now() + timeoutMs);
    if (w >= ts) return;
    throw new StratumError(
      SqlState.queryCanceled,
      `read of "${table}": ingestion watermark ${w < 0 ? 'none yet (or unreachable)' : new Date(w).toISOString()} did not reach ${new Date(ts).toISOString()} within ${timeoutMs} ms`,
    );
  }

  private async readCurrent(table: TableInfo, key: Value[]): Promise<Current | null> {
    const ck = cacheKey(table.storage, key);
    let s = this.cache.get(ck);
    if (s) mCacheHits.inc({ engine: this.opts.id });
    else {
      mCacheMiss.inc({ engine: this.opts.id });
      s = await this.store.getRow(table.storage, key);
      if (s) this.cache.set(ck, s);
    }
    if (s) return { version: s.v, ts: s.ts, row: s.row };
    if (this.opts.ingestion && this.mayBeRemote(table.storage)) {
      const r = await this.opts.ingestion.get(table.storage, key);
      if (r) return { version: r.version, ts: r.commitTs, row: r.row, remote: true };
    }
    return null;
  }

  /**
   * Rows found by a source (ReadRequest, tiers.ts): inside transaction `txnId` its snapshot plus
   * its own writes; outside, the engine's rows and ingestion's (the newer of both when other
   * engines write), including every commit ≤ `fresh.minTs`. Live rows only, with their keys,
   * filtered by `where`, at most `limit`.
   * `signal` stops the find between scanned rows and ingestion pages.
   * @throws StratumError 57014 when `fresh` cannot be met in time or `signal` aborts; 25P02 in a failed transaction.
   */
  async read(req: ReadRequest, signal?: AbortSignal): Promise<RowVersion[]> {
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    const t = tableOf(catalog, req.table, 'read');
    let view: View;
    let ctx: EvalContext;
    if (req.txnId) {
      const txn = this.txn(req.txnId);
      if (txn.failed) throw aborted();
      view = this.txnView(txn, true, signal);
      ctx = this.evalContext(req.eval, txn);
    } else {
      const need = req.fresh?.minTs ?? 0;
      if (need > 0 && this.foreignWriters) await this.waitForIngestion(need, req.fresh?.timeoutMs ?? 30_000, t.name);
      view = new View(this.deps, { layers: [], newest: this.foreignWriters, ...(signal ? { signal } : {}) });
      ctx = this.evalContext(req.eval);
    }
    let found: { key: Value[]; cur: Current }[];
    if (req.source.by === 'key') {
      const curs = await view.getMany(t, req.source.keys);
      found = [];
      const seen = new Set<string>();
      req.source.keys.forEach((key, i) => {
        const cur = curs[i];
        const ks = keyString(key);
        if (cur?.row && !seen.has(ks)) found.push({ key, cur });
        seen.add(ks);
      });
    } else found = await view.find(t, req.source);
    const out: RowVersion[] = [];
    for (const [i, f] of found.entries()) {
      if (i % 1024 === 1023) throwIfCanceled(signal);
      const row = fullRow(t, f.cur.row!);
      if (req.where && evalExpr(req.where, { row }, ctx) !== true) continue;
      out.push({ version: f.cur.version, commitTs: f.cur.ts === Number.MAX_SAFE_INTEGER ? 0 : f.cur.ts, row, key: f.key });
      if (req.limit !== undefined && out.length >= req.limit) break;
    }
    return out;
  }

  /** The uncommitted writes of transaction `txnId` to storage `table` (rows by field; null = deleted). */
  txnWrites(txnId: string, table: string): TxnWriteView[] {
    const txn = this.txn(txnId);
    const t = this.opts.catalog.byStorage(table);
    return [...(txn.writes.get(table)?.values() ?? [])].map((w) => ({ key: w.key, row: w.row && t ? fullRow(t, w.row) : w.row }));
  }

  /**
   * Progress of building index `index` of storage `table` here: `done` once every row this engine
   * holds has its entry (and for valid indexes), `failed` with 23505 when a unique index found a
   * duplicate value; asked once this engine's catalog has reached `catalogVersion`.
   * @throws SchemaError 42P01 / 42704 for an unknown table or index.
   */
  async indexStatus(table: string, index: string, catalogVersion = 0): Promise<IndexBuildStatus> {
    const { catalog } = this.opts;
    if (catalog.version < catalogVersion) await catalog.waitFor(catalogVersion, this.opts.catalogTimeoutMs);
    const t = tableOf(catalog, table, 'read');
    return this.indexes.status(t, indexNamed(t, index));
  }

  /**
   * The ingestion watermark is `w` (ms): forget recent keys committed well before it; the first
   * call rebuilds them from LevelDB (see recent.ts).
   */
  noteWatermark(w: number): void {
    this.recent.noteWatermark(w, () => this.closed);
  }

  // ------------------------------------------------------------ group commit

  /** Read, in one lookup per table, the current rows every autocommit request of `batch` will touch. */
  private async prefetch(batch: Pending[]): Promise<Map<string, Current | null>> {
    const out = new Map<string, Current | null>();
    if (batch.length < 2) return out;
    const byTable = new Map<string, { t: TableInfo; keys: Value[][] }>();
    for (const p of batch) {
      for (const op of p.req?.ops ?? []) {
        const t = this.opts.catalog.byStorage(op.table);
        if (!t) continue;
        let e = byTable.get(t.storage);
        if (!e) byTable.set(t.storage, (e = { t, keys: [] }));
        if (op.kind === 'insert') {
          if (t.rowid) continue;
          const pos = t.primaryKey.map((k) => op.columns.indexOf(k));
          if (pos.some((i) => i < 0)) continue;
          for (const row of op.rows) e.keys.push(pos.map((i) => row[i] ?? null));
        } else if (op.source.by === 'key') {
          for (const k of op.source.keys) if (k.length === t.primaryKey.length) e.keys.push(k);
        }
      }
    }
    const view = new View(this.deps, { layers: [] });
    for (const { t, keys } of byTable.values()) {
      if (keys.length === 0) continue;
      const cur = await view.getMany(t, keys);
      for (const [i, k] of keys.entries()) out.set(cacheKey(t.storage, k), cur[i] ?? null);
    }
    return out;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    this.idle = new Promise((r) => {
      this.idleResolve = r;
    });
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        mQueue.set({ engine: this.opts.id }, this.queue.length);
        await this.commitBatch(batch);
      }
    } finally {
      this.flushing = false;
      this.idleResolve?.();
    }
  }

  /** Prepare every transaction of the group, write them in one synced batch, acknowledge. */
  private async commitBatch(batch: Pending[]): Promise<void> {
    const ops: BatchOp[] = [];
    const overlay = new TableRows();
    const accepted: { p: Pending; result: TxResult; parts: EncodedPart[]; k?: number; replicated?: boolean }[] = [];
    const seqBefore = [...this.seqs];
    const touchedSeq = new Set<number>();
    const now = this.opts.clock.now();
    // The whole ms at or below the clock: rounding up would make every ack wait for the clock to
    // reach the next ms (ackAt) before commit-wait even starts (~0.5 ms on average with ε = 0).
    const ts = Math.max(Math.floor((now.earliest + now.latest) / 2), this.lastTs, this.closedHigh + 1);
    this.inflightTs = ts;
    /** Entries of building unique indexes written by this batch, checked for duplicates before the write. */
    const uniqueNew: BuildEntry[] = [];
    /** Rows this batch evicts, as `storage\0keyString`. */
    const evicted = new Set<string>();
    // One LevelDB (and ingestion) lookup for the rows the whole group will read, instead of one
    // thread-pool round trip per transaction. Rows written earlier in this group are in `overlay`,
    // which is consulted first, so the prefetched state stays correct.
    const prefetched = await this.prefetch(batch);
    for (const p of batch) {
      if (p.barrier) {
        accepted.push({ p, result: { commitTs: 0, counts: [] }, parts: [] });
        continue;
      }
      if (p.evict) {
        accepted.push({ p, result: { commitTs: 0, counts: [await this.evictOps(p.evict, overlay, ops, evicted)] }, parts: [] });
        continue;
      }
      if (p.backfill) {
        accepted.push({
          p,
          result: { commitTs: 0, counts: [this.indexes.backfillOps(p.backfill, overlay, evicted, ops)] },
          parts: [],
        });
        continue;
      }
      try {
        const changes = p.txn
          ? await this.validateTxn(p.txn, overlay, ts)
          : await this.prepare(p.req!, overlay, ts, prefetched, p.prefound);
        const { counts, rows } = changes;
        const base: TxResult = rows ? { commitTs: 0, counts, rows } : { commitTs: 0, counts };
        if (changes.list.length === 0) {
          accepted.push({ p, result: base, parts: [] });
          continue;
        }
        const { k, notices, replicated } = this.commitWaitOf(changes.list);
        const txn = uuidv7();
        const byPart = new Map<number, Change[]>();
        for (const c of changes.list) {
          const part = partitionOf(c.table, c.key, this.opts.partitions);
          let l = byPart.get(part);
          if (!l) byPart.set(part, (l = []));
          l.push(c);
        }
        // Encode and check every part before anything of this transaction joins the batch. A
        // partition's changes over the bus's message limit go out as several consecutive parts
        // (ingestion applies them in sequence order, as it does the parts of other partitions).
        const parts: EncodedPart[] = [];
        const txnSeqBefore = [...this.seqs];
        const max = this.opts.maxPartBytes();
        try {
          for (const [partition, list] of byPart) this.encodeSplit(partition, list, txn, ts, max, parts);
        } catch (e) {
          // Never leave a gap in a partition's sequence: ingestion waits on gaps forever.
          for (const q of byPart.keys()) this.seqs[q] = txnSeqBefore[q]!;
          throw e;
        }
        for (const part of parts) {
          touchedSeq.add(part.partition);
          ops.push({ type: 'put', key: outboxKey(part.partition, part.seq), value: part.bytes as Buffer });
        }
        for (const c of changes.list) {
          const sr: StoredRow = { v: c.version, ts, row: c.row };
          overlay.set(c.table, c.key, sr);
          ops.push({ type: 'put', key: rowKey(c.table, c.key), value: TxStore.encodeRow(sr) });
        }
        const result: TxResult = { ...base, commitTs: ts };
        if (notices.length > 0) result.notices = notices;
        accepted.push({ p, result, parts, k, replicated });
      } catch (e) {
        if (e instanceof CausalityRetry && (p.causalRetries ?? 0) < 5) {
          p.causalRetries = (p.causalRetries ?? 0) + 1;
          this.raiseFloor(e.readTs);
          this.queue.unshift(p);
          continue;
        }
        mAborts.inc({ engine: this.opts.id, code: (e as StratumError).code ?? 'XX000' });
        p.reject(e);
      }
    }
    try {
      await this.indexes.entryOps(overlay, ops, uniqueNew);
      if (uniqueNew.length > 0) await this.indexes.checkDuplicates(uniqueNew, overlay);
    } catch (e) {
      for (let i = 0; i < this.seqs.length; i++) this.seqs[i] = seqBefore[i]!;
      this.inflightTs = 0;
      this.opts.log.error({ err: e }, 'group commit failed while computing index entries');
      for (const a of accepted) a.p.reject(e);
      return;
    }
    for (const partition of touchedSeq) ops.push({ type: 'put', key: seqKey(partition), value: encode(this.seqs[partition]) });
    if (ops.length > 0) {
      try {
        await this.store.write(ops, true);
      } catch (e) {
        // Nothing of this batch is stored: roll the counters back and fail every transaction in it.
        for (let i = 0; i < this.seqs.length; i++) this.seqs[i] = seqBefore[i]!;
        this.inflightTs = 0;
        const err = diskError(e, this.opts.id);
        this.opts.log.error({ err: e }, 'group commit failed');
        for (const a of accepted) a.p.reject(err);
        return;
      }
    }
    this.lastTs = ts;
    this.inflightTs = 0;
    for (const { storage, ks, key, s } of overlay.all()) {
      this.cache.set(`${storage}\u0000${ks}`, s);
      this.recent.add(storage, ks, key, s.ts);
      this.indexes.noteWritten(storage, ks);
    }
    for (const ck of evicted) {
      const at = ck.indexOf('\u0000');
      this.indexes.noteWritten(ck.slice(0, at), ck.slice(at + 1));
    }
    this.recent.bound();
    mBatches.inc({ engine: this.opts.id });
    mBatchSize.observe({ engine: this.opts.id }, accepted.length);
    const allParts = accepted.flatMap((a) => a.parts);
    if (allParts.length > 0) for (const l of this.listeners) l(allParts);
    // Commit-wait (DESIGN §6): acknowledge each transaction once k·ε has passed since the commit
    // timestamp on this node's clock, k by the strictest mode among the tables it wrote.
    const byWait = new Map<number, typeof accepted>();
    for (const a of accepted) {
      const k = a.k ?? 0;
      let l = byWait.get(k);
      if (!l) byWait.set(k, (l = []));
      l.push(a);
    }
    for (const [k, list] of byWait) {
      this.ackAt(ts + k * this.waitEps(k), () => {
        for (const a of list) {
          if (a.result.commitTs > 0) mCommits.inc({ engine: this.opts.id });
          if (a.replicated && this.whenPublished && a.parts.length > 0) void this.ackReplicated(a.parts, a.result, a.p);
          else a.p.resolve(a.result);
        }
      });
    }
  }

  /**
   * Encode `list` (changes of one transaction to `partition`) as the partition's next part, or
   * as several consecutive parts when one would exceed `max` bytes (the bus's message limit);
   * appends them to `parts` and advances the partition's sequence.
   * @throws StratumError 54000 when a single change is over `max` bytes.
   */
  private encodeSplit(partition: number, list: Change[], txn: string, ts: number, max: number, parts: EncodedPart[]): void {
    const seq = ++this.seqs[partition]!;
    const part = encodePart({ engine: this.opts.id, partition, seq, txn, commitTs: ts, changes: list });
    if (part.bytes.length <= max) {
      parts.push(part);
      return;
    }
    if (list.length === 1) {
      throw new StratumError(
        SqlState.programLimitExceeded,
        `transaction writes a row of ${part.bytes.length} bytes to stream partition ${partition}, over the bus's message limit of ${max} bytes`,
      );
    }
    this.seqs[partition]!--;
    const mid = list.length >> 1;
    this.encodeSplit(partition, list.slice(0, mid), txn, ts, max, parts);
    this.encodeSplit(partition, list.slice(mid), txn, ts, max, parts);
  }

  /**
   * Retention: delete versions (and their index entries) that are still current; returns how many.
   * Adds each evicted row to `evicted` as `storage\0keyString`.
   */
  private async evictOps(evict: NonNullable<Pending['evict']>, overlay: TableRows, ops: BatchOp[], evicted: Set<string>): Promise<number> {
    let n = 0;
    for (const e of evict) {
      const ck = cacheKey(e.table, e.key);
      const cur = overlay.get(e.table, keyString(e.key)) ?? (await this.store.getRow(e.table, e.key));
      if (cur && cur.v === e.version) {
        if (!this.remote.tables.has(e.table)) {
          // From now on ingestion holds rows of this table that LevelDB does not: recorded in the
          // same batch as the first eviction (set before the write: asking ingestion is always safe).
          this.remote.tables.add(e.table);
          ops.push(TxStore.metaOp('remote', { all: this.remote.all, tables: [...this.remote.tables] } satisfies StoredRemoteRows));
        }
        ops.push({ type: 'del', key: rowKey(e.table, e.key) });
        const t = this.opts.catalog.byStorage(e.table);
        if (t) for (const k of this.indexes.entriesOf(t, cur.row, e.key)) ops.push({ type: 'del', key: k });
        this.cache.delete(ck);
        evicted.add(ck);
        n++;
      }
    }
    return n;
  }

  /** Plan an autocommit transaction against the current state and build its changes. */
  private async prepare(
    req: TxRequest,
    overlay: TableRows,
    ts: number,
    prefetched: Map<string, Current | null>,
    prefound: Pending['prefound'],
  ): Promise<{ list: Change[]; counts: number[]; rows?: (Row[] | undefined)[] }> {
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    const list: Change[] = [];
    const local = new TableRows();
    /** Version of each key before this request wrote it (for `seen`). */
    const before = new Map<string, string | null>();
    let bytes = 0;
    const view = new View(this.deps, {
      layers: [local, overlay],
      known: prefetched,
      // This batch's timestamp was chosen before the read: a version at or after it (another
      // engine's clock ahead of ours) must not be superseded at an earlier time. Retry the
      // transaction in the next batch, whose timestamp the read has raised past it.
      onRead: (_t, _k, c) => {
        if (c && c.ts >= ts) throw new CausalityRetry(c.ts);
      },
    });
    const env: WriteEnv = {
      catalog,
      view,
      ctx: this.evalContext(req.eval),
      emit: (t, key, prev, row) => {
        const version = this.versions.next(ts);
        const op: Change['op'] = row === null ? 'delete' : prev?.row ? 'update' : 'insert';
        list.push({ table: t.storage, key, op, version, prev: prev?.version ?? null, row });
        const ck = cacheKey(t.storage, key);
        if (!before.has(ck)) before.set(ck, prev?.version ?? null);
        local.set(t.storage, key, { v: version, ts, row });
        bytes += approxRowBytes(row);
        if (bytes > this.opts.maxTxnBytes) throw tooBig(this.opts.maxTxnBytes);
      },
      committedVersion: (t, key, cur) => {
        const ck = cacheKey(t.storage, key);
        return before.has(ck) ? (before.get(ck) ?? null) : cur.version;
      },
      rowid: () => uuidv7(),
      ...(prefound ? { prefound: (op: WriteOp) => prefound.get(op) } : {}),
    };
    const r = await applyOps(env, req.ops);
    return r.rows ? { list, counts: r.counts, rows: r.rows } : { list, counts: r.counts };
  }

  // ------------------------------------------------------------ explicit transactions

  /**
   * BEGIN: open a transaction on a LevelDB snapshot. Reads see the snapshot plus the
   * transaction's own writes; writes are buffered until COMMIT.
   */
  begin(isolation: Isolation): string {
    if (this.closed) throw new StratumError(SqlState.adminShutdown, `TX engine ${this.opts.id} is shutting down`);
    if (this.retired) throw this.retiredError();
    const id = uuidv7();
    const now = this.opts.clock.now();
    this.txns.set(id, {
      id,
      isolation,
      snapshotTs: this.lastTs,
      snapshot: this.store.db.snapshot(),
      startUs: BigInt(Math.round((now.earliest + now.latest) / 2)) * 1000n,
      writes: new Map(),
      reads: new Map(),
      savepoints: [],
      bytes: 0,
      lastUsed: Date.now(),
      failed: false,
    });
    mOpenTxns.set({ engine: this.opts.id }, this.txns.size);
    return id;
  }

  /** The open transaction `id`. @throws StratumError 25P01 when it does not exist (ended or timed out). */
  txn(id: string): Txn {
    const t = this.txns.get(id);
    if (!t)
      throw new StratumError(
        '25P01',
        `transaction ${id} is not open on TX engine ${this.opts.id} (it ended, timed out or the engine restarted)`,
      );
    t.lastUsed = Date.now();
    return t;
  }

  /** A transaction's view: its own writes over its snapshot; SERIALIZABLE ones record what they read. */
  private txnView(txn: Txn, record: boolean, signal?: AbortSignal): View {
    return new View(this.deps, {
      layers: [writeLayer(txn.writes)],
      ...(signal ? { signal } : {}),
      snapshot: txn.snapshot,
      asOf: txn.snapshotTs,
      ...(record && txn.isolation === 'serializable'
        ? {
            onRead: (t: TableInfo, key: Value[], c: Current | null) => {
              const ck = cacheKey(t.storage, key);
              if (!txn.reads.has(ck)) txn.reads.set(ck, { table: t.storage, key, version: c?.version ?? null });
            },
          }
        : {}),
    });
  }

  /**
   * Run one statement of an explicit transaction: validated now against its snapshot, buffered
   * until COMMIT. `signal` stops finding its rows; a cancelled statement fails the transaction.
   */
  async executeIn(txnId: string, req: TxRequest, signal?: AbortSignal): Promise<TxResult> {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    try {
      const env: WriteEnv = {
        catalog,
        view: this.txnView(txn, true, signal),
        unique: new View(this.deps, { layers: [writeLayer(txn.writes)] }),
        ctx: this.evalContext(req.eval, txn),
        emit: (t, key, prev, row) => {
          let m = txn.writes.get(t.storage);
          if (!m) txn.writes.set(t.storage, (m = new Map()));
          const ks = keyString(key);
          const before = m.get(ks);
          // One change per key and transaction: the final state against the snapshot's version.
          const w: TxnWrite = before
            ? { ...before, row }
            : {
                table: t.storage,
                key,
                row,
                prev: prev?.version ?? null,
                existed: prev?.row != null,
                old: prev?.row ?? null,
              };
          m.set(ks, w);
          txn.bytes += approxRowBytes(row);
          if (txn.bytes > this.opts.maxTxnBytes) throw tooBig(this.opts.maxTxnBytes);
        },
        committedVersion: (t, key, cur) => {
          const w = txn.writes.get(t.storage)?.get(keyString(key));
          return w ? w.prev : cur.version;
        },
        rowid: () => uuidv7(),
      };
      // A failing statement leaves the transaction failed (PostgreSQL semantics): only ROLLBACK [TO SAVEPOINT] helps.
      const r = await applyOps(env, req.ops);
      return r.rows ? { commitTs: 0, counts: r.counts, rows: r.rows } : { commitTs: 0, counts: r.counts };
    } catch (e) {
      txn.failed = true;
      throw e;
    }
  }

  /** Point read inside a transaction (snapshot + own writes). */
  async getIn(txnId: string, table: TableInfo, key: Value[]): Promise<RowVersion | null> {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    const [cur] = await this.txnView(txn, true).getMany(table, [key]);
    return cur
      ? { version: cur.version, commitTs: cur.ts === Number.MAX_SAFE_INTEGER ? 0 : cur.ts, row: cur.row && fullRow(table, cur.row) }
      : null;
  }

  /** COMMIT: first committer wins (DESIGN §2); resolves when durable. A failed transaction is rolled back (tag ROLLBACK). */
  async commit(txnId: string): Promise<TxResult & { rolledBack?: boolean }> {
    const txn = this.txn(txnId);
    this.end(txn);
    if (txn.failed) return { commitTs: 0, counts: [], rolledBack: true };
    if (writeCount(txn.writes) === 0) {
      if (txn.isolation === 'serializable' && txn.reads.size > 0) await this.enqueue({ txn });
      return { commitTs: 0, counts: [] };
    }
    return this.enqueue({ txn });
  }

  /** ROLLBACK: discard the transaction. Idempotent. */
  rollback(txnId: string): void {
    const txn = this.txns.get(txnId);
    if (txn) this.end(txn);
  }

  private end(txn: Txn): void {
    this.txns.delete(txn.id);
    mOpenTxns.set({ engine: this.opts.id }, this.txns.size);
    void txn.snapshot.close().catch(() => {});
  }

  /** SAVEPOINT name. */
  savepoint(txnId: string, name: string): void {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    txn.savepoints.push({ name, writes: copyWrites(txn.writes), reads: new Map(txn.reads) });
  }

  /** ROLLBACK TO SAVEPOINT name: undo later writes, clear the failed state, keep the savepoint. */
  rollbackTo(txnId: string, name: string): void {
    const txn = this.txn(txnId);
    const i = findSavepoint(txn, name);
    const sp = txn.savepoints[i]!;
    txn.savepoints.length = i + 1;
    txn.writes = copyWrites(sp.writes);
    txn.reads = new Map(sp.reads);
    txn.failed = false;
  }

  /** RELEASE SAVEPOINT name: forget it and every later savepoint. */
  release(txnId: string, name: string): void {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    txn.savepoints.length = findSavepoint(txn, name);
  }

  /** Roll back transactions idle longer than `idleMs` (their client went away without a word). */
  expireIdle(idleMs: number): number {
    const now = Date.now();
    let n = 0;
    for (const t of [...this.txns.values()]) {
      if (now - t.lastUsed > idleMs) {
        this.end(t);
        n++;
      }
    }
    return n;
  }

  /**
   * Commit-time validation of an explicit transaction inside the group commit: first committer
   * wins on every written row, SERIALIZABLE re-reads its read set, and unique values and foreign
   * keys are re-checked against the committed state (the group commit serialises transactions
   * and sees the batch's earlier writes, so concurrent blocks cannot both commit a duplicate or
   * an orphan).
   */
  private async validateTxn(
    txn: Txn,
    overlay: TableRows,
    ts: number,
  ): Promise<{ list: Change[]; counts: number[]; rows?: (Row[] | undefined)[] }> {
    const { catalog } = this.opts;
    const committed = new View(this.deps, { layers: [overlay] });
    const blockWrites: BlockWrite[] = [];
    for (const [storage, m] of txn.writes) {
      const t = tableOf(catalog, storage);
      const all = [...m.values()];
      // A row the block inserted with a fresh _rowid cannot have been written by anyone else.
      const ws = t.rowid ? all.filter((w) => w.prev !== null || w.existed) : all;
      const cur = await committed.getMany(
        t,
        ws.map((w) => w.key),
      );
      ws.forEach((w, i) => {
        const c = cur[i] ?? null;
        if ((c?.version ?? null) !== w.prev) {
          if (w.prev === null && c && c.row !== null) throw duplicateKey(t, w.key);
          throw serializationFailure(t.name, 'a concurrent transaction updated the same row first');
        }
      });
      for (const w of all) blockWrites.push({ t, key: w.key, old: w.old && fullRow(t, w.old), row: w.row && fullRow(t, w.row) });
    }
    if (txn.isolation === 'serializable') {
      // Read-set validation: every row read must still be at the version seen (else a
      // concurrent writer could make this transaction's outcome non-serializable).
      for (const r of txn.reads.values()) {
        const t = tableOf(catalog, r.table);
        const [now] = await committed.getMany(t, [r.key]);
        if ((now?.version ?? null) !== r.version) {
          throw serializationFailure(t.name, 'a row this transaction read was changed by a concurrent transaction');
        }
      }
    }
    await revalidate(
      {
        catalog,
        view: new View(this.deps, { layers: [writeLayer(txn.writes), overlay] }),
        ctx: this.evalContext(undefined, txn),
        emit: () => {
          throw new Error('commit-time validation does not write');
        },
        committedVersion: (_t, _k, c) => c.version,
        rowid: () => uuidv7(),
      },
      blockWrites,
    );
    const list: Change[] = [];
    for (const m of txn.writes.values()) {
      for (const w of m.values()) {
        if (w.row === null && !w.existed) continue; // inserted and deleted again: nothing happened
        const op: Change['op'] = w.row === null ? 'delete' : w.existed ? 'update' : 'insert';
        list.push({ table: w.table, key: w.key, op, version: this.versions.next(ts), prev: w.prev, row: w.row });
      }
    }
    return { list, counts: [] };
  }

  /**
   * Evict row versions past their table's `tx_retention` that ingestion has merged (commitTs ≤
   * `watermark`, DESIGN §2 step 6). Reads of them then fall back to ingestion. Returns how many
   * were evicted. Runs through the group-commit queue, so a concurrent write is never lost.
   */
  async evictExpired(watermark: number, now: number, budget = 100_000): Promise<number> {
    const candidates: NonNullable<Pending['evict']> = [];
    let evicted = 0;
    const flush = async () => {
      if (candidates.length === 0) return;
      const r = await this.enqueue({ evict: candidates.splice(0) });
      evicted += r.counts[0] ?? 0;
    };
    for await (const { table, pk, row } of this.store.rows()) {
      const t = this.opts.catalog.byStorage(table);
      const retention = t?.options.txRetentionMs ?? Number.POSITIVE_INFINITY;
      if (row.ts <= Math.min(now - retention, watermark)) candidates.push({ table, key: pk, version: row.v });
      if (candidates.length >= 10_000) await flush();
      if (--budget <= 0) break;
    }
    await flush();
    if (evicted > 0) mEvicted.inc({ engine: this.opts.id }, evicted);
    return evicted;
  }

  // ------------------------------------------------------------ index builds and garbage

  /**
   * Acknowledge a `durability: replicated` commit once the bus has acknowledged its outbox
   * entries (DESIGN §2), or fail it with 57014 after `replicatedAckTimeoutMs` saying it is
   * committed here and will be published when the bus returns (as PostgreSQL does when a
   * synchronous standby does not answer).
   */
  private async ackReplicated(parts: EncodedPart[], result: TxResult, p: Pending): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ms = this.opts.replicatedAckTimeoutMs;
    const abort = new AbortController();
    const timedOut = new Promise<false>((r) => {
      timer = setTimeout(() => {
        abort.abort();
        r(false);
      }, ms);
    });
    const ok = await Promise.race([this.whenPublished!(parts, abort.signal).then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (ok) {
      p.resolve(result);
      return;
    }
    mReplicatedTimeouts.inc({ engine: this.opts.id });
    p.reject(
      new StratumError(
        SqlState.queryCanceled,
        `canceling wait for the bus to acknowledge the transaction (durability: replicated) after ${ms} ms: the transaction has already committed on TX engine ${this.opts.id} (commit ts ${new Date(result.commitTs).toISOString()}) and will be published when the bus returns, but until then it would not survive the loss of this engine's disk`,
        {
          detail: `The transaction committed with commit timestamp ${new Date(result.commitTs).toISOString()} (${result.commitTs} ms).`,
          hint: 'Check the bus (stratum status, stratum_relay_* metrics); tx.replicated_ack_timeout_ms sets this wait.',
        },
      ),
    );
  }

  /** ε (ms) a commit-wait of multiplier k uses: the clock's ε, capped at max_uncertainty_ms below k = 3. */
  private waitEps(k: number): number {
    const eps = this.opts.clock.eps();
    // Strict writes run unsynchronized only under allow_degraded: no longer wait than the bound.
    if (k >= 3) return Number.isFinite(eps) && this.opts.clock.synchronized() ? eps : Math.min(eps, this.opts.maxUncertaintyMs);
    return Math.min(Number.isFinite(eps) ? eps : Number.POSITIVE_INFINITY, this.opts.maxUncertaintyMs);
  }

  /** Run `fn` once the midpoint of this node's clock reaches `target` (ms), to within ~0.1 ms. */
  private ackAt(target: number, fn: () => void): void {
    const step = () => {
      const n = this.opts.clock.now();
      const remaining = target - (n.earliest + n.latest) / 2;
      if (!(remaining > 0)) fn();
      else if (remaining > 2) setTimeout(step, Math.floor(remaining - 1));
      else setImmediate(step);
    };
    step();
  }

  /**
   * Commit-wait multiplier of a transaction's changes (the strictest mode of the tables written)
   * and the notices of a degraded strict write.
   * @throws StratumError 40001 when it writes a strict_serializable table while this node's clock
   *   is unsynchronized (DESIGN §8), unless the table has allow_degraded.
   */
  private commitWaitOf(list: Change[]): { k: number; notices: string[]; replicated: boolean } {
    let k = 0;
    let replicated = false;
    const notices: string[] = [];
    const seen = new Set<string>();
    for (const c of list) {
      if (seen.has(c.table)) continue;
      seen.add(c.table);
      const options = this.opts.catalog.byStorage(c.table)?.options;
      if (!options) continue;
      const cons = options.consistency;
      k = Math.max(k, COMMIT_WAIT_K[cons.mode]);
      const durability = options.durability ?? (cons.mode === 'strict_serializable' ? 'replicated' : 'local');
      if (durability === 'replicated') replicated = true;
      if (cons.mode === 'strict_serializable' && !this.opts.clock.synchronized()) {
        const why =
          this.opts.clock.unsynchronizedReason?.() ||
          `clock uncertainty ε ${this.opts.clock.eps()} ms is over max_uncertainty_ms ${this.opts.maxUncertaintyMs}`;
        const name = this.opts.catalog.byStorage(c.table)?.name ?? c.table;
        if (!cons.allowDegraded) {
          throw new StratumError(
            SqlState.serializationFailure,
            `table "${name}" (strict_serializable): write refused on TX engine ${this.opts.id}: its clock is unsynchronized (${why}); retry once ε recovers`,
            {
              hint: 'The clock service bounds ε; check `stratum status` and the stratum_clock_* metrics. allow_degraded: true accepts such writes without the real-time guarantee.',
            },
          );
        }
        notices.push(
          `table "${name}" (strict_serializable, allow_degraded): written while the clock is unsynchronized (${why}); real-time order is not guaranteed for this write`,
        );
      }
    }
    return { k, notices, replicated };
  }

  /** The engine was decommissioned: it refuses transactions for good (its data dir is kept for the relay). */
  private retired = false;

  private retiredError(): StratumError {
    return new StratumError(SqlState.adminShutdown, `TX engine ${this.opts.id} is decommissioned and accepts no transactions`, {
      hint: 'Connect through another TX engine.',
    });
  }

  /**
   * Decommission (`stratum engine decommission ID`): refuse new transactions from now on and wait
   * until the queued ones are committed. The relay then drains the outbox and announces the final
   * sequence numbers (protocol 2 `Heartbeat.retired`).
   */
  async retire(): Promise<void> {
    this.retired = true;
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** True once {@link retire} ran (or the store says the engine was decommissioned). */
  get isRetired(): boolean {
    return this.retired;
  }

  /**
   * Never commit at or below `ts` (ms). A joining engine raises its floor to the ingestion
   * watermark, so no version of it can land below a watermark already published (which would
   * break "reads at or below the watermark are repeatable", DESIGN §4).
   */
  raiseFloor(ts: number): void {
    if (ts > this.closedHigh) this.closedHigh = ts;
  }

  /** Refuse new transactions and wait until queued ones are committed and background work stopped (the store stays open for the relay). */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.flushing) await this.idle;
    await Promise.all([...this.background]);
  }
}

/** A transaction's write set as a view layer (its own writes win over everything committed). */
function writeLayer(writes: WriteSet): Layer {
  const stored = (w: TxnWrite): StoredRow => ({ v: UNCOMMITTED, ts: Number.MAX_SAFE_INTEGER, row: w.row });
  return {
    get(storage, ks) {
      const w = writes.get(storage)?.get(ks);
      return w ? stored(w) : undefined;
    },
    *rows(storage) {
      for (const w of writes.get(storage)?.values() ?? []) yield { key: w.key, s: stored(w) };
    },
  };
}

function copyWrites(w: WriteSet): WriteSet {
  return new Map([...w].map(([k, m]) => [k, new Map(m)]));
}

function writeCount(w: WriteSet): number {
  let n = 0;
  for (const m of w.values()) n += m.size;
  return n;
}

/** A transaction read a version committed at or after its batch's timestamp; it is retried in the next batch. */
class CausalityRetry extends StratumError {
  constructor(readonly readTs: number) {
    super(SqlState.serializationFailure, `read a version committed at ${readTs}, at or after this commit's timestamp; retry`);
  }
}

function tooBig(limit: number): StratumError {
  return new StratumError(
    SqlState.programLimitExceeded,
    `transaction writes more than ${limit} bytes (tx.max_txn_bytes); split it into smaller transactions`,
  );
}

function aborted(): StratumError {
  return new StratumError('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
}

function serializationFailure(table: string, why: string): StratumError {
  return new StratumError(SqlState.serializationFailure, `could not serialize access on table "${table}": ${why}`, {
    hint: 'The transaction was rolled back; retry it.',
  });
}

function findSavepoint(txn: Txn, name: string): number {
  for (let i = txn.savepoints.length - 1; i >= 0; i--) if (txn.savepoints[i]!.name === name) return i;
  throw new StratumError('3B001', `savepoint "${name}" does not exist`);
}

/**
 * Storage-key values of a point read in the key columns' stored representation: values already in
 * it pass, literals are converted with PostgreSQL's input rules.
 * @throws SchemaError 42601 for a wrong number of values; DataError for bad literals.
 */
export function coerceKey(t: TableInfo, lits: Literal[]): Value[] {
  if (lits.length !== t.primaryKey.length) {
    throw new SchemaError(SqlState.syntaxError, `key of "${t.name}" has ${t.primaryKey.length} columns, got ${lits.length} values`);
  }
  return t.primaryKey.map((f, i) => {
    const c = colOf(t, f);
    const v = (lits[i] ?? null) as Value;
    return isValueOfType(v, c.type) ? v : coerceLiteral(lits[i] ?? null, c.type, { table: t.name, column: c.name });
  });
}

function duplicateKey(t: TableInfo, key: Value[]): StratumError {
  return uniqueViolation(t, primaryName(t), t.primaryKey, key);
}

function diskError(e: unknown, engine: string): StratumError {
  const msg = (e as Error)?.message ?? String(e);
  const full = /no space|ENOSPC|disk full/i.test(msg);
  return new StratumError(
    full ? SqlState.diskFull : SqlState.ioError,
    `TX engine ${engine} could not write its commit batch: ${msg}; nothing of these transactions was stored`,
    { cause: e },
  );
}

export { DataError };
