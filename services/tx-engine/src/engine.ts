/**
 * The transaction engine core (DESIGN §2): validates writes against the schema, stamps
 * versions, and commits groups of transactions in one synced LevelDB batch together with
 * their outbox entries.
 *
 * Group commit: transactions queue while the previous batch is being synced; the next
 * batch takes all of them (up to `group_commit_max_batch`). Only one batch is in flight,
 * so outbox sequence numbers become durable in order and a crash never leaves a gap.
 * Nothing is acknowledged before its batch is durable and the commit-wait has elapsed.
 */

import {
  assign,
  type Catalog,
  type Change,
  type Clock,
  ConstraintError,
  coerceLiteral,
  columnOf,
  counter,
  DataError,
  type EncodedPart,
  encode,
  encodePart,
  evalExpr,
  formatValue,
  gauge,
  histogram,
  type IngestionApi,
  keyString,
  type Literal,
  type Logger,
  partitionOf,
  type ReadFreshness,
  type Row,
  type RowVersion,
  SchemaError,
  SqlState,
  StratumError,
  type TableInfo,
  type TxRequest,
  type TxResult,
  type Value,
  VersionGenerator,
  WatermarkWatcher,
} from '@stratum/shared';
import { LRUCache } from 'lru-cache';
import { uuidv7 } from 'uuidv7';
import { type BatchOp, outboxKey, rowKey, type StoredRow, seqKey, TxStore } from './store.ts';

/** Settings of one engine. */
export interface EngineOptions {
  id: string;
  partitions: number;
  catalog: Catalog;
  clock: Clock;
  /** Ingestion, for rows this engine does not hold (written by other engines or evicted). */
  ingestion: IngestionApi | undefined;
  maxBatch: number;
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

/** A queued commit: an autocommit request (planned at commit time) or an explicit transaction. */
interface Pending {
  req?: TxRequest;
  txn?: Txn;
  /** Row versions to evict (retention): deleted only if still the current version. */
  evict?: { table: string; key: Value[]; version: string }[];
  resolve: (r: TxResult) => void;
  reject: (e: unknown) => void;
  /** Times this transaction was moved to the next batch by {@link CausalityRetry}. */
  causalRetries?: number;
}

/** Isolation of an explicit transaction (DESIGN §2: snapshot isolation; SERIALIZABLE validates its reads). */
export type Isolation = 'repeatable_read' | 'serializable';

/** A buffered write of an explicit transaction: the row's final state and the version it replaced. */
interface TxnWrite {
  table: string;
  key: Value[];
  /** Final row; null = deleted. */
  row: Row | null;
  /** Version the transaction's snapshot held (null = absent). */
  prev: string | null;
  /** Whether the row was live in the snapshot (decides insert/update/delete). */
  existed: boolean;
}

/** A point read of a SERIALIZABLE transaction, validated at commit. */
interface TxnRead {
  table: string;
  key: Value[];
  /** Version seen (null = absent). */
  version: string | null;
}

/** An explicit transaction (BEGIN … COMMIT), held by the engine between statements. */
export interface Txn {
  id: string;
  isolation: Isolation;
  /** Commit timestamp of the newest batch in the snapshot (ms). */
  snapshotTs: number;
  snapshot: ReturnType<TxStore['db']['snapshot']>;
  writes: Map<string, TxnWrite>;
  /** SERIALIZABLE: version seen by each point read (null = absent). */
  reads: Map<string, TxnRead>;
  savepoints: { name: string; writes: Map<string, TxnWrite>; reads: Map<string, TxnRead> }[];
  bytes: number;
  lastUsed: number;
  /** A statement failed: only rollback is possible. */
  failed: boolean;
}

/** Where a statement reads current rows from and where its writes go. */
interface StatementEnv {
  currentMany(t: TableInfo, keys: Value[][]): Promise<(Current | null)[]>;
  emit(t: TableInfo, key: Value[], op: Change['op'], prev: string | null, row: Row | null): void;
}

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

/** A row as seen by a transaction while it is being prepared. */
interface Current {
  version: string;
  ts: number;
  row: Row | null;
  /** Read from ingestion (this engine does not hold the row). */
  remote?: boolean;
}

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
  /** Resolves once the bus acknowledged these outbox entries (set by the relay). */
  whenPublished: ((parts: readonly { partition: number; seq: number }[], signal?: AbortSignal) => Promise<void>) | undefined;
  /** Shared polling of the ingestion watermark by waiting point reads. */
  private watermarks: WatermarkWatcher | undefined;

  private constructor(
    readonly opts: EngineOptions,
    readonly store: TxStore,
    /** Last assigned sequence per partition (durable once the batch is written). */
    readonly seqs: number[],
  ) {
    this.cache = new LRUCache<string, StoredRow>({ max: 100_000 });
  }

  /** Open the engine's store in `dir`. @throws when the store belongs to another engine id. */
  static async open(dir: string, opts: EngineOptions): Promise<Engine> {
    const store = await TxStore.open(dir, opts.id);
    const seqs = await store.loadSeqs(opts.partitions);
    return new Engine(opts, store, seqs);
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
    const mid = Math.round((now.earliest + now.latest) / 2);
    let c = this.inflightTs > 0 ? Math.min(mid, this.inflightTs) - 1 : mid - 1;
    if (c < this.closedHigh) c = this.closedHigh;
    this.closedHigh = c;
    return c;
  }

  /** Queue an autocommit transaction; resolves when it is durable and its commit-wait has elapsed. */
  execute(req: TxRequest): Promise<TxResult> {
    return this.enqueue({ req });
  }

  private enqueue(what: { req?: TxRequest; txn?: Txn; evict?: NonNullable<Pending['evict']> }): Promise<TxResult> {
    if (this.closed) return Promise.reject(new StratumError(SqlState.adminShutdown, `TX engine ${this.opts.id} is shutting down`));
    if (this.retired && !what.evict) return Promise.reject(this.retiredError());
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

  /**
   * Point read (DESIGN §6): hot-row cache, then LevelDB, then ingestion for rows this engine
   * never held. When other engines write too, ingestion's latest version is read as well and the
   * newer one (commit ts, then version) returned, so reads converge to the merged state. With
   * `fresh.minTs`, an answer older than it waits until the ingestion watermark passes it and
   * includes ingestion's version.
   * @throws StratumError 57014 when the watermark does not pass `fresh.minTs` within `fresh.timeoutMs`.
   */
  async get(table: TableInfo, key: Value[], fresh?: ReadFreshness): Promise<RowVersion | null> {
    let cur = await this.readCurrent(table, key, true);
    const ing = this.opts.ingestion;
    const need = fresh?.minTs ?? 0;
    const stale = need > 0 && (cur === null || cur.ts < need);
    if (ing && (stale || (this.foreignWriters && !cur?.remote))) {
      if (stale) await this.waitForIngestion(need, fresh?.timeoutMs ?? 30_000, table.name);
      const r = await ing.get(table.name, key);
      if (r && (!cur || r.commitTs > cur.ts || (r.commitTs === cur.ts && r.version > cur.version))) {
        cur = { version: r.version, ts: r.commitTs, row: r.row, remote: true };
      }
    }
    return cur ? { version: cur.version, commitTs: cur.ts, row: cur.row } : null;
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
      `point read of "${table}": ingestion watermark ${w < 0 ? 'none yet (or unreachable)' : new Date(w).toISOString()} did not reach ${new Date(ts).toISOString()} within ${timeoutMs} ms`,
    );
  }

  private cacheKey(table: string, key: readonly Value[]): string {
    return `${table}\u0000${keyString(key)}`;
  }

  private async readCurrent(table: TableInfo, key: Value[], countCache: boolean): Promise<Current | null> {
    const ck = this.cacheKey(table.name, key);
    let s = this.cache.get(ck);
    if (s) {
      if (countCache) mCacheHits.inc({ engine: this.opts.id });
    } else {
      if (countCache) mCacheMiss.inc({ engine: this.opts.id });
      s = await this.store.getRow(table.name, key);
      if (s) this.cache.set(ck, s);
    }
    if (s) return { version: s.v, ts: s.ts, row: s.row };
    if (this.opts.ingestion) {
      const r = await this.opts.ingestion.get(table.name, key);
      if (r) return { version: r.version, ts: r.commitTs, row: r.row, remote: true };
    }
    return null;
  }

  /** Read, in one lookup per table, the current rows every autocommit request of `batch` will touch. */
  private async prefetch(batch: Pending[]): Promise<Map<string, Current | null>> {
    const out = new Map<string, Current | null>();
    if (batch.length < 2) return out;
    const byTable = new Map<string, { t: TableInfo; keys: Value[][] }>();
    for (const p of batch) {
      for (const op of p.req?.ops ?? []) {
        const t = this.opts.catalog.find(op.table);
        if (!t) continue;
        let e = byTable.get(t.name);
        if (!e) byTable.set(t.name, (e = { t, keys: [] }));
        try {
          if (op.kind === 'insert') {
            const pos = t.primaryKey.map((k) => op.columns.indexOf(k));
            if (pos.some((i) => i < 0)) continue;
            for (const row of op.rows) e.keys.push(pos.map((i, j) => coerceLiteral(row[i] ?? null, columnOf(t, t.primaryKey[j]!).type)));
          } else e.keys.push(coerceKey(t, op.key));
        } catch {
          // Bad values are reported by the transaction itself.
        }
      }
    }
    for (const { t, keys } of byTable.values()) {
      if (keys.length === 0) continue;
      const cur = await this.readMany(t, keys, () => undefined);
      for (const [i, k] of keys.entries()) out.set(this.cacheKey(t.name, k), cur[i] ?? null);
    }
    return out;
  }

  /**
   * Versions of many keys of one table: `pending` (this transaction and batch), the hot-row
   * cache, one LevelDB `getMany`, then one ingestion `getMany` for keys never held here. With
   * `at` the read is as of a transaction snapshot: the LevelDB snapshot, the cache only for
   * versions strictly older than the snapshot (it holds the newest), ingestion as of `at.ts`.
   */
  private async readMany(
    t: TableInfo,
    keys: Value[][],
    pending: (ck: string) => StoredRow | undefined,
    at?: { snapshot: Txn['snapshot']; ts: number },
  ): Promise<(Current | null)[]> {
    const out: (Current | null)[] = new Array(keys.length).fill(null);
    const miss: number[] = [];
    keys.forEach((k, i) => {
      const ck = this.cacheKey(t.name, k);
      let s = pending(ck);
      if (!s) {
        const c = this.cache.get(ck);
        if (c && (!at || c.ts < at.ts)) s = c;
      }
      if (s) out[i] = { version: s.v, ts: s.ts, row: s.row };
      else miss.push(i);
    });
    if (miss.length === 0) return out;
    const stored = await this.store.getRows(
      t.name,
      miss.map((i) => keys[i]!),
      at?.snapshot,
    );
    const still: number[] = [];
    miss.forEach((i, j) => {
      const s = stored[j];
      if (s) out[i] = { version: s.v, ts: s.ts, row: s.row };
      else still.push(i);
    });
    if (still.length > 0 && this.opts.ingestion) {
      const stillKeys = still.map((i) => keys[i]!);
      const remote = at
        ? await this.opts.ingestion.getMany(t.name, stillKeys, at.ts)
        : await this.opts.ingestion.getMany(t.name, stillKeys);
      let maxTs = 0;
      still.forEach((i, j) => {
        const r = remote[j];
        if (r) {
          out[i] = { version: r.version, ts: r.commitTs, row: r.row };
          if (r.commitTs > maxTs) maxTs = r.commitTs;
        }
      });
      // Hybrid-logical-clock receive rule: a version written by another engine (whose clock may
      // run ahead of ours) raises our floor, so whatever we write after reading it commits later
      // than it. Commit order then follows causality within a key, and ingestion's AS OF and
      // OLAP's latest-version views (which order versions by commit time) agree with `latest`.
      this.raiseFloor(maxTs);
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
    const overlay = new Map<string, StoredRow>();
    const accepted: { p: Pending; result: TxResult; parts: EncodedPart[]; k?: number; replicated?: boolean }[] = [];
    const seqBefore = [...this.seqs];
    const touchedSeq = new Set<number>();
    const now = this.opts.clock.now();
    const ts = Math.max(Math.round((now.earliest + now.latest) / 2), this.lastTs, this.closedHigh + 1);
    this.inflightTs = ts;
    // One LevelDB (and ingestion) lookup for the rows the whole group will read, instead of one
    // thread-pool round trip per transaction. Rows written earlier in this group are in `overlay`,
    // which is consulted first, so the prefetched state stays correct.
    const prefetched = await this.prefetch(batch);
    for (const p of batch) {
      if (p.evict) {
        // Retention: delete versions that are still current (a newer commit keeps its row).
        let n = 0;
        for (const e of p.evict) {
          const ck = this.cacheKey(e.table, e.key);
          const cur = overlay.get(ck) ?? (await this.store.getRow(e.table, e.key));
          if (cur && cur.v === e.version) {
            ops.push({ type: 'del', key: rowKey(e.table, e.key) });
            this.cache.delete(ck);
            n++;
          }
        }
        accepted.push({ p, result: { commitTs: 0, counts: [n] }, parts: [] });
        continue;
      }
      try {
        const changes = p.txn ? await this.validateTxn(p.txn, overlay, ts) : await this.prepare(p.req!, overlay, ts, prefetched);
        const counts = changes.counts;
        if (changes.list.length === 0) {
          accepted.push({ p, result: { commitTs: 0, counts }, parts: [] });
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
        // Encode and check every part before anything of this transaction joins the batch.
        const parts: EncodedPart[] = [];
        const txnSeqBefore = [...this.seqs];
        for (const [partition, list] of byPart) {
          const seq = ++this.seqs[partition]!;
          let part: EncodedPart;
          try {
            part = encodePart({ engine: this.opts.id, partition, seq, txn, commitTs: ts, changes: list });
          } catch (e) {
            // Never leave a gap in a partition's sequence: ingestion waits on gaps forever.
            for (const q of byPart.keys()) this.seqs[q] = txnSeqBefore[q]!;
            throw e;
          }
          if (part.bytes.length > this.opts.maxPartBytes()) {
            for (const q of byPart.keys()) this.seqs[q] = txnSeqBefore[q]!;
            throw new StratumError(
              SqlState.programLimitExceeded,
              `transaction writes ${part.bytes.length} bytes to stream partition ${partition}, over the bus's message limit of ${this.opts.maxPartBytes()} bytes; split it into smaller transactions`,
            );
          }
          parts.push(part);
        }
        for (const part of parts) {
          touchedSeq.add(part.partition);
          ops.push({ type: 'put', key: outboxKey(part.partition, part.seq), value: part.bytes as Buffer });
        }
        for (const c of changes.list) {
          const sr: StoredRow = { v: c.version, ts, row: c.row };
          overlay.set(this.cacheKey(c.table, c.key), sr);
          ops.push({ type: 'put', key: rowKey(c.table, c.key), value: TxStore.encodeRow(sr) });
        }
        accepted.push({
          p,
          result: notices.length > 0 ? { commitTs: ts, counts, notices } : { commitTs: ts, counts },
          parts,
          k,
          replicated,
        });
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
    for (const [k, v] of overlay) this.cache.set(k, v);
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
      const options = this.opts.catalog.find(c.table)?.options;
      if (!options) continue;
      const cons = options.consistency;
      k = Math.max(k, COMMIT_WAIT_K[cons.mode]);
      const durability = options.durability ?? (cons.mode === 'strict_serializable' ? 'replicated' : 'local');
      if (durability === 'replicated') replicated = true;
      if (cons.mode === 'strict_serializable' && !this.opts.clock.synchronized()) {
        const why =
          this.opts.clock.unsynchronizedReason?.() ||
          `clock uncertainty ε ${this.opts.clock.eps()} ms is over max_uncertainty_ms ${this.opts.maxUncertaintyMs}`;
        if (!cons.allowDegraded) {
          throw new StratumError(
            SqlState.serializationFailure,
            `table "${c.table}" (strict_serializable): write refused on TX engine ${this.opts.id}: its clock is unsynchronized (${why}); retry once ε recovers`,
            {
              hint: 'The clock service bounds ε; check `stratum status` and the stratum_clock_* metrics. allow_degraded: true accepts such writes without the real-time guarantee.',
            },
          );
        }
        notices.push(
          `table "${c.table}" (strict_serializable, allow_degraded): written while the clock is unsynchronized (${why}); real-time order is not guaranteed for this write`,
        );
      }
    }
    return { k, notices, replicated };
  }

  /** Plan an autocommit transaction against the current state and build its changes. */
  private async prepare(
    req: TxRequest,
    overlay: Map<string, StoredRow>,
    ts: number,
    prefetched: Map<string, Current | null>,
  ): Promise<{ list: Change[]; counts: number[] }> {
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    const list: Change[] = [];
    const local = new Map<string, StoredRow>();
    let bytes = 0;
    const env: StatementEnv = {
      currentMany: async (t, keys) => {
        const out: (Current | null)[] = new Array(keys.length).fill(null);
        const rest: number[] = [];
        keys.forEach((k, i) => {
          const ck = this.cacheKey(t.name, k);
          const s = local.get(ck) ?? overlay.get(ck);
          if (s) out[i] = { version: s.v, ts: s.ts, row: s.row };
          else if (prefetched.has(ck)) out[i] = prefetched.get(ck) ?? null;
          else rest.push(i);
        });
        if (rest.length > 0) {
          const got = await this.readMany(
            t,
            rest.map((i) => keys[i]!),
            () => undefined,
          );
          rest.forEach((i, j) => {
            out[i] = got[j] ?? null;
          });
        }
        // This batch's timestamp was chosen before the read: a version at or after it (another
        // engine's clock ahead of ours) must not be superseded at an earlier time. Retry the
        // transaction in the next batch, whose timestamp readMany has raised past it.
        for (const c of out) if (c && c.ts >= ts) throw new CausalityRetry(c.ts);
        return out;
      },
      emit: (t, key, op, prev, row) => {
        const version = this.versions.next(ts);
        list.push({ table: t.name, key, op, version, prev, row });
        local.set(this.cacheKey(t.name, key), { v: version, ts, row });
        bytes += row ? approxRowBytes(row) : 16;
        if (bytes > this.opts.maxTxnBytes) throw tooBig(this.opts.maxTxnBytes);
      },
    };
    const counts = await applyOps(catalog, req.ops, env);
    return { list, counts };
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
    this.txns.set(id, {
      id,
      isolation,
      snapshotTs: this.lastTs,
      snapshot: this.store.db.snapshot(),
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

  /** Snapshot reads of one table: the transaction's own writes, then its snapshot (see {@link readMany}). */
  private async snapshotMany(txn: Txn, t: TableInfo, keys: Value[][], record: boolean): Promise<(Current | null)[]> {
    const own = (ck: string): StoredRow | undefined => {
      const w = txn.writes.get(ck);
      return w ? { v: 'uncommitted', ts: Number.MAX_SAFE_INTEGER, row: w.row } : undefined;
    };
    const out = await this.readMany(t, keys, own, { snapshot: txn.snapshot, ts: txn.snapshotTs });
    if (record && txn.isolation === 'serializable') {
      keys.forEach((k, i) => {
        const ck = this.cacheKey(t.name, k);
        if (!txn.writes.has(ck) && !txn.reads.has(ck)) txn.reads.set(ck, { table: t.name, key: k, version: out[i]?.version ?? null });
      });
    }
    return out;
  }

  /** Run one statement of an explicit transaction: validated now against its snapshot, buffered until COMMIT. */
  async executeIn(txnId: string, req: TxRequest): Promise<TxResult> {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    const { catalog } = this.opts;
    if (catalog.version < req.catalogVersion) await catalog.waitFor(req.catalogVersion, this.opts.catalogTimeoutMs);
    try {
      const env: StatementEnv = {
        currentMany: (t, keys) => this.snapshotMany(txn, t, keys, true),
        emit: (t, key, _op, prev, row) => {
          const ck = this.cacheKey(t.name, key);
          const before = txn.writes.get(ck);
          // One change per key and transaction: the final state against the snapshot's version.
          const w: TxnWrite = before
            ? { ...before, row }
            : { table: t.name, key, row, prev: prev === 'uncommitted' ? null : prev, existed: prev !== null && prev !== 'uncommitted' };
          txn.writes.set(ck, w);
          txn.bytes += row ? approxRowBytes(row) : 16;
          if (txn.bytes > this.opts.maxTxnBytes) throw tooBig(this.opts.maxTxnBytes);
        },
      };
      // A failing statement leaves the transaction failed (PostgreSQL semantics): only ROLLBACK [TO SAVEPOINT] helps.
      const counts = await applyOps(catalog, req.ops, env);
      return { commitTs: 0, counts };
    } catch (e) {
      txn.failed = true;
      throw e;
    }
  }

  /** Point read inside a transaction (snapshot + own writes). */
  async getIn(txnId: string, table: TableInfo, key: Value[]): Promise<RowVersion | null> {
    const txn = this.txn(txnId);
    if (txn.failed) throw aborted();
    const [cur] = await this.snapshotMany(txn, table, [key], true);
    return cur ? { version: cur.version, commitTs: cur.ts === Number.MAX_SAFE_INTEGER ? 0 : cur.ts, row: cur.row } : null;
  }

  /** COMMIT: first committer wins (DESIGN §2); resolves when durable. A failed transaction is rolled back (tag ROLLBACK). */
  async commit(txnId: string): Promise<TxResult & { rolledBack?: boolean }> {
    const txn = this.txn(txnId);
    this.end(txn);
    if (txn.failed) return { commitTs: 0, counts: [], rolledBack: true };
    if (txn.writes.size === 0) {
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
    txn.savepoints.push({ name, writes: new Map(txn.writes), reads: new Map(txn.reads) });
  }

  /** ROLLBACK TO SAVEPOINT name: undo later writes, clear the failed state, keep the savepoint. */
  rollbackTo(txnId: string, name: string): void {
    const txn = this.txn(txnId);
    const i = findSavepoint(txn, name);
    const sp = txn.savepoints[i]!;
    txn.savepoints.length = i + 1;
    txn.writes = new Map(sp.writes);
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

  /** Commit-time validation of an explicit transaction inside the group commit. */
  private async validateTxn(txn: Txn, overlay: Map<string, StoredRow>, ts: number): Promise<{ list: Change[]; counts: number[] }> {
    const { catalog } = this.opts;
    const byTable = new Map<string, { keys: Value[][]; cks: string[] }>();
    const add = (table: string, key: Value[], ck: string) => {
      let e = byTable.get(table);
      if (!e) byTable.set(table, (e = { keys: [], cks: [] }));
      e.keys.push(key);
      e.cks.push(ck);
    };
    for (const [ck, w] of txn.writes) add(w.table, w.key, ck);
    const current = new Map<string, Current | null>();
    for (const [table, { keys, cks }] of byTable) {
      const t = catalog.get(table);
      const cur = await this.readMany(t, keys, (ck) => overlay.get(ck));
      for (const [i, ck] of cks.entries()) current.set(ck, cur[i] ?? null);
    }
    for (const [ck, w] of txn.writes) {
      const cur = current.get(ck) ?? null;
      if ((cur?.version ?? null) !== w.prev) {
        if (w.prev === null && cur && cur.row !== null) throw duplicateKey(catalog.get(w.table), w.key);
        throw serializationFailure(w.table, 'a concurrent transaction updated the same row first');
      }
    }
    if (txn.isolation === 'serializable') {
      // Read-set validation: every row read must still be at the version seen (else a
      // concurrent writer could make this transaction's outcome non-serializable).
      for (const [ck, r] of txn.reads) {
        const t = catalog.get(r.table);
        const [now] = await this.readMany(t, [r.key], (k) => overlay.get(k));
        if ((now?.version ?? null) !== r.version) {
          void ck;
          throw serializationFailure(r.table, 'a row this transaction read was changed by a concurrent transaction');
        }
      }
    }
    const list: Change[] = [];
    for (const w of txn.writes.values()) {
      if (w.row === null && !w.existed) continue; // inserted and deleted again: nothing happened
      const op: Change['op'] = w.row === null ? 'delete' : w.existed ? 'update' : 'insert';
      list.push({ table: w.table, key: w.key, op, version: this.versions.next(ts), prev: w.prev, row: w.row });
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
      const t = this.opts.catalog.find(table);
      const retention = t?.options.txRetentionMs ?? Number.POSITIVE_INFINITY;
      if (row.ts <= Math.min(now - retention, watermark)) candidates.push({ table, key: pk, version: row.v });
      if (candidates.length >= 10_000) await flush();
      if (--budget <= 0) break;
    }
    await flush();
    if (evicted > 0) mEvicted.inc({ engine: this.opts.id }, evicted);
    return evicted;
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

  /** Refuse new transactions and wait until queued ones are committed (the store stays open for the relay). */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.flushing) await this.idle;
  }
}

/** A transaction read a version committed at or after its batch's timestamp; it is retried in the next batch. */
class CausalityRetry extends StratumError {
  constructor(readonly readTs: number) {
    super(SqlState.serializationFailure, `read a version committed at ${readTs}, at or after this commit's timestamp; retry`);
  }
}

/**
 * Apply write operations through a statement environment: schema checks (types, NOT NULL,
 * primary key) against the environment's view of current rows. Returns rows affected per op.
 */
async function applyOps(catalog: Catalog, ops: TxRequest['ops'], env: StatementEnv): Promise<number[]> {
  const counts: number[] = [];
  for (const op of ops) {
    const t = catalog.get(op.table);
    if (op.kind === 'insert') {
      const idx = op.columns.map((c) => {
        columnOf(t, c);
        return t.columnIndex.get(c)!;
      });
      if (new Set(op.columns).size !== op.columns.length) {
        throw new SchemaError(SqlState.duplicateColumn, `column specified more than once in INSERT into "${t.name}"`);
      }
      const built = op.rows.map((lits) => {
        if (lits.length !== idx.length) {
          throw new SchemaError(
            SqlState.syntaxError,
            `INSERT has ${lits.length > idx.length ? 'more' : 'fewer'} expressions than target columns`,
          );
        }
        const row = buildRow(t, idx, lits);
        return { row, key: t.primaryKey.map((k) => row[k] as Value) };
      });
      const seen = new Set<string>();
      for (const b of built) {
        const ks = keyString(b.key);
        if (seen.has(ks)) throw duplicateKey(t, b.key);
        seen.add(ks);
      }
      const curs = await env.currentMany(
        t,
        built.map((b) => b.key),
      );
      built.forEach(({ row, key }, i) => {
        const cur = curs[i];
        if (cur && cur.row !== null) throw duplicateKey(t, key);
        env.emit(t, key, 'insert', cur ? cur.version : null, row);
      });
      counts.push(op.rows.length);
      continue;
    }
    const key = coerceKey(t, op.key);
    const [cur] = await env.currentMany(t, [key]);
    if (!cur || cur.row === null) {
      counts.push(0);
      continue;
    }
    if (op.kind === 'delete') {
      env.emit(t, key, 'delete', cur.version, null);
    } else {
      const row: Row = { ...cur.row };
      const types = (c: string) => columnOf(t, c).type;
      for (const s of op.set) {
        const col = columnOf(t, s.column);
        row[col.name] = assign(evalExpr(s.expr, cur.row, types), col.type, { table: t.name, column: col.name });
      }
      checkNotNull(t, row);
      const newKey = t.primaryKey.map((k) => row[k] as Value);
      if (keyString(newKey) !== keyString(key)) {
        const [other] = await env.currentMany(t, [newKey]);
        if (other && other.row !== null) throw duplicateKey(t, newKey);
        env.emit(t, key, 'delete', cur.version, null);
        env.emit(t, newKey, 'insert', other ? other.version : null, row);
      } else env.emit(t, key, 'update', cur.version, row);
    }
    counts.push(1);
  }
  return counts;
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

/** Coerce literal key values to the primary-key column types. @throws DataError. */
export function coerceKey(t: TableInfo, lits: Literal[]): Value[] {
  if (lits.length !== t.primaryKey.length) {
    throw new SchemaError(SqlState.syntaxError, `key of "${t.name}" has ${t.primaryKey.length} columns, got ${lits.length} values`);
  }
  return t.primaryKey.map((k, i) => coerceLiteral(lits[i] ?? null, columnOf(t, k).type, { table: t.name, column: k }));
}

function buildRow(t: TableInfo, idx: number[], lits: Literal[]): Row {
  const row: Row = {};
  for (const c of t.columns) row[c.name] = null;
  for (let i = 0; i < idx.length; i++) {
    const c = t.columns[idx[i]!]!;
    row[c.name] = coerceLiteral(lits[i] ?? null, c.type, { table: t.name, column: c.name });
  }
  checkNotNull(t, row);
  return row;
}

/** Rough encoded size of a row (bytes), for the transaction size limit without encoding twice. */
function approxRowBytes(row: Row): number {
  let n = 8;
  for (const k in row) {
    const v = row[k];
    n += k.length + 2 + (typeof v === 'string' ? v.length * 3 : 9);
  }
  return n;
}

function checkNotNull(t: TableInfo, row: Row): void {
  for (const c of t.columns) {
    if (row[c.name] === null && (c.notNull || t.primaryKey.includes(c.name))) {
      throw new ConstraintError(
        SqlState.notNullViolation,
        `null value in column "${c.name}" of relation "${t.name}" violates not-null constraint`,
      );
    }
  }
}

function duplicateKey(t: TableInfo, key: Value[]): ConstraintError {
  const vals = key.map((v, i) => formatValue(v, columnOf(t, t.primaryKey[i]!).type)).join(', ');
  return new ConstraintError(SqlState.uniqueViolation, `duplicate key value violates unique constraint "${t.name}_pkey"`, {
    detail: `Key (${t.primaryKey.join(', ')})=(${vals}) already exists.`,
  });
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
