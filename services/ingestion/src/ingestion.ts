/**
 * The ingestion engine (DESIGN §4): consumes its partitions of the change stream, applies
 * every change exactly once into the LMDB MVCC store, tracks closed timestamps and the
 * watermark, serves reads and the delta feed, pushes versions below the watermark to the OLAP
 * shards that hold them, and garbage-collects history that OLAP already has.
 *
 * Exactly-once: the last applied seq per (engine, partition) and the bus position per
 * partition are written in the same LMDB transaction as the merged versions; parts at or
 * below the stored seq are skipped, and a version already in `history` is skipped too.
 *
 * Apply is one batch of asynchronous LMDB writes per delivery: everything that can fail
 * (decoding, validation, reads, encoding) runs first and stages the writes; then all writes
 * are issued in one event turn, which lmdb-js commits as one transaction on its writer thread
 * (its `eventTurnBatching` rule), so the B-tree work runs beside the event loop instead of on
 * it, and a failure before the writes leaves nothing behind. Reads during staging see the
 * committed state of earlier deliveries (each is awaited until flushed before the next one) plus
 * an in-memory overlay of the delivery's own rows.
 */
import {
  type BusBatch,
  type Catalog,
  type Change,
  type ChangeBus,
  type ConflictInfo,
  CorruptionError,
  counter,
  type DeliveredMessage,
  decode,
  decodeBusBatch,
  encode,
  gauge,
  type IngestionApi,
  type IngestionStatus,
  isValueOfType,
  keyString,
  type Logger,
  type OlapShardApi,
  type RowVersion,
  StratumError,
  type StreamPairStatus,
  type Subscription,
  shardOfVersion,
  shardsOfTable,
  type TableInfo,
  type TxnPart,
  type Value,
  type VersionRecord,
} from '@stratum/shared';
import type { Database, Key as LmdbKey } from 'lmdb';
import * as lmdb from 'lmdb';
import {
  type BytimeValue,
  type DeadLetter,
  type HistoryValue,
  IngestionStore,
  KEY_MAX,
  type LatestValue,
  type LsnEntry,
  type RetiredPair,
  type StoredVersion,
  toStored,
} from './store.ts';

const mApplied = counter('stratum_ingestion_applied_versions_total', 'Versions merged into LMDB', ['ingestion']);
const mDuplicates = counter('stratum_ingestion_duplicates_total', 'Parts or versions skipped as already applied', ['ingestion', 'kind']);
const mConflicts = counter('stratum_ingestion_conflicts_total', 'Concurrent writes of one row by two engines', ['ingestion', 'table']);
const mDead = counter('stratum_ingestion_dead_letters_total', 'Malformed messages or parts set aside', ['ingestion']);
const mWatermark = gauge('stratum_ingestion_watermark_ms', 'Watermark: all versions with commitTs at or below it are merged', [
  'ingestion',
]);
const mPushed = counter('stratum_ingestion_pushed_versions_total', 'Versions pushed to OLAP', ['ingestion']);
const mGaps = counter('stratum_ingestion_sequence_gaps_total', 'Messages held back because an earlier seq is missing', ['ingestion']);
const mGcRemoved = counter('stratum_ingestion_gc_removed_versions_total', 'Versions removed by GC (past retention and already in OLAP)', [
  'ingestion',
]);
const mLag = gauge('stratum_ingestion_closed_lag_ms', 'now − closed timestamp of an (engine, partition) pair (ms)', [
  'ingestion',
  'engine',
  'partition',
]);
const mStalled = gauge('stratum_ingestion_stalled_pairs', 'Live (engine, partition) pairs whose closed timestamp is older than stall_ms', [
  'ingestion',
]);

/** An OLAP shard as ingestion pushes to it: its id (as in `cluster.olap_shards`, used by placement) and API. */
export interface OlapTarget {
  id: string;
  api: OlapShardApi;
}

/** Options of the ingestion engine (see `IngestionServiceOptions` in index.ts for the documented form). */
export interface IngestionOptions {
  id: string;
  dir: string;
  partitions: number[];
  catalog: Catalog;
  bus: ChangeBus;
  /** Every OLAP shard of the cluster, in config order (resolved at each push so embedded wiring can be circular); undefined = none. */
  olap: () => OlapTarget[] | undefined;
  pushIntervalMs: number;
  pushRows: number;
  /** ingestion_retention (ms). Default 7 days. */
  retentionMs?: number;
  /** GC interval (ms); 0 = only on `gcNow()`. Default 60 s. */
  gcIntervalMs?: number;
  /** A pair whose closed timestamp is older than this (ms) is stalled. Default 10 s. */
  stallMs?: number;
  /** Wall clock (ms since epoch). Default `Date.now`. */
  now?: () => number;
  log: Logger;
  catalogTimeoutMs?: number;
}

/** In-memory state of one (engine, partition) pair. */
interface Pair {
  engine: string;
  partition: number;
  seq: number;
  /** -1 before the first heartbeat. */
  closedTs: number;
  retired?: RetiredPair;
}

type Op = [Database<Buffer, LmdbKey>, LmdbKey, Buffer | undefined];

interface LatestRow {
  lk: Buffer;
  v: LatestValue | null;
  dirty: boolean;
  /** Versions of the row merged in this delivery (dedupe before they are committed). */
  merged: string[];
}

/**
 * A delivery is written in transactions of about this many versions, each holding whole bus
 * messages with their offsets and positions (so exactly-once holds per transaction) and bounding
 * how much one transaction and the garbage of one staging round hold.
 */
const CHUNK_VERSIONS = 16_384;

/** Per-delivery staging: writes to issue and the overlay that reads consult first. */
interface Stage {
  ops: Op[];
  /** History writes (the hot path), kept flat: keys and values. */
  hk: Buffer[];
  hv: Buffer[];
  pairs: Map<string, Pair>;
  engines: Set<string>;
  /** Row (its encoded key as a latin1 string) → its latest after this delivery's merges, with the encoded row key. */
  latest: Map<string, LatestRow>;
  /** Rows whose latest changed since the last issue of writes. */
  dirty: LatestRow[];
  lsn: number;
  applied: number;
  conflicts: number;
  dead: number;
  info: Map<string, TableInfo | undefined>;
}

/**
 * Encode a key as lmdb-js does for `keyEncoding: 'ordered-binary'` (lmdb re-exports ordered-binary's
 * `toBufferKey` as `keyValueToBuffer`, untyped). A Buffer inside an array key is written as is, so
 * `[rowKey, commitTs, version]` with `rowKey` = the encoded `[table, ...pk]` is byte-identical to the
 * encoding of `[table, ...pk, commitTs, version]`: each row key is encoded once per change.
 */
const toBufferKey = (lmdb as unknown as { keyValueToBuffer: (k: LmdbKey) => Buffer }).keyValueToBuffer;

const pairKey = (engine: string, partition: number) => `${engine}/${partition}`;

function newStage(lsn: number): Stage {
  return {
    ops: [],
    hk: [],
    hv: [],
    pairs: new Map(),
    engines: new Set(),
    latest: new Map(),
    dirty: [],
    lsn,
    applied: 0,
    conflicts: 0,
    dead: 0,
    info: new Map(),
  };
}
const DAY_MS = 86_400_000;
/** Most bytime entries one GC transaction visits (bounds the time the writer is held). */
const GC_CHUNK_ENTRIES = 256;
/** Most history entries one GC transaction deletes. */
const GC_CHUNK_DELETES = 4096;

/** The running ingestion engine. */
export class Ingestion implements IngestionApi {
  readonly store: IngestionStore;
  private lsn = 0;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly pairs = new Map<string, Pair>();
  private readonly engines = new Set<string>();
  private wm = -1;
  private appliedCount = 0;
  private gcRemovedCount = 0;
  private gcHorizon = -1;
  private readonly gcCuts = new Map<string, number>();
  private unpushed = 0;
  private timer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> | undefined;
  private gcRunning: Promise<void> | undefined;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  /** Serializes applies and forced retirements (both stage pair state, then publish it after the commit). */
  private exclusive: Promise<unknown> = Promise.resolve();
  private lastPushAt = 0;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly stallMs: number;
  private readonly validators = new WeakMap<TableInfo, (c: Change) => string | undefined>();

  constructor(private readonly o: IngestionOptions) {
    this.store = new IngestionStore(o.dir);
    this.now = o.now ?? Date.now;
    this.retentionMs = o.retentionMs ?? 7 * DAY_MS;
    this.stallMs = o.stallMs ?? 10_000;
  }

  /** Load state and start consuming. */
  async start(): Promise<void> {
    const s = this.store;
    this.lsn = IngestionStore.read<number>(s.meta, 'lsn') ?? 0;
    this.wm = IngestionStore.read<number>(s.meta, 'watermark') ?? -1;
    this.gcHorizon = IngestionStore.read<number>(s.meta, 'gcHorizon') ?? -1;
    for (const { key, value } of s.meta.getRange({ start: ['gcCut'], end: ['gcCut', KEY_MAX] })) {
      this.gcCuts.set((key as [string, string])[1], decode<number>(value, 'gc cut'));
    }
    this.loadPairs();
    await this.subscribe();
    this.lastPushAt = this.now();
    this.timer = setInterval(
      () => {
        void this.maybePush(false);
        this.updateGauges();
      },
      Math.min(this.o.pushIntervalMs, 1000),
    );
    const gcEvery = this.o.gcIntervalMs ?? 60_000;
    if (gcEvery > 0) this.gcTimer = setInterval(() => void this.gcNow().catch(() => {}), gcEvery);
  }

  /** (Re)load the pairs' offsets, closed timestamps and retirements and the lsn from LMDB. */
  private loadPairs(): void {
    const s = this.store;
    this.pairs.clear();
    this.lsn = IngestionStore.read<number>(s.meta, 'lsn') ?? 0;
    const pair = (engine: string, partition: number): Pair => {
      const k = pairKey(engine, partition);
      let p = this.pairs.get(k);
      if (!p) this.pairs.set(k, (p = { engine, partition, seq: 0, closedTs: -1 }));
      this.engines.add(engine);
      return p;
    };
    for (const { key, value } of s.offsets.getRange({})) {
      const [engine, partition] = key as [string, number];
      pair(engine, partition).seq = decode<number>(value, 'offset');
    }
    for (const { key, value } of s.closed.getRange({})) {
      const [engine, partition] = key as [string, number];
      pair(engine, partition).closedTs = decode<number>(value, 'closed timestamp');
    }
    for (const { key, value } of s.retired.getRange({})) {
      const [engine, partition] = key as [string, number];
      pair(engine, partition).retired = decode<RetiredPair>(value, 'retired pair');
    }
  }

  private async subscribe(): Promise<void> {
    const after = new Map<number, number>();
    for (const p of this.o.partitions) {
      const pos = IngestionStore.read<number>(this.store.positions, p);
      if (pos !== undefined) after.set(p, pos);
    }
    this.sub = await this.o.bus.subscribe(
      { name: `ingestion-${this.o.id}`, partitions: this.o.partitions, after, maxBatch: 512 },
      (msgs) => this.serial(() => this.applyMessages(msgs)),
      (e) => this.onSubscriptionError(e),
    );
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const job = this.exclusive.then(fn);
    this.exclusive = job.catch(() => {});
    return job;
  }

  private onSubscriptionError(e: Error): void {
    if (this.stopped) return;
    this.o.log.error({ err: e.message }, 'change stream consumption stopped; resubscribing from stored positions in 1 s');
    this.resubscribeTimer = setTimeout(() => {
      void (async () => {
        try {
          await this.sub?.stop().catch(() => {});
          if (!this.stopped) await this.subscribe();
        } catch (err) {
          this.onSubscriptionError(err as Error);
        }
      })();
    }, 1000);
  }

  // ------------------------------------------------------------------ apply

  /** Apply delivered messages as one LMDB transaction. Rejects on a seq gap (redelivery resolves it). */
  private async applyMessages(msgs: DeliveredMessage[]): Promise<void> {
    try {
      await this.applyMessagesUnsafe(msgs);
    } catch (e) {
      if (!(e instanceof ApplyStopped)) {
        // Chunks issued before the failure are committed whole (versions with their offsets and
        // positions); what memory says must match them before the redelivery.
        await this.store.root.flushed;
        this.loadPairs();
      }
      throw e instanceof ApplyStopped ? e.cause : e;
    }
  }

  private async applyMessagesUnsafe(msgs: DeliveredMessage[]): Promise<void> {
    const s = this.store;
    const st = newStage(this.lsn);
    const positions = new Map<number, number>();
    const chunkPositions = new Map<number, number>();
    let last: Promise<boolean> | undefined;
    let gap: Error | undefined;
    // Decoded one message at a time (not the whole delivery first), so a large delivery's
    // decoded changes die young instead of filling the old generation.
    for (const m of msgs) {
      let b: BusBatch | null = null;
      let reason: string | undefined;
      try {
        b = decodeBusBatch(m.payload);
      } catch (e) {
        reason = (e as Error).message;
      }
      if (b && this.o.catalog.version < b.catalogVersion) {
        try {
          await this.o.catalog.waitFor(b.catalogVersion, this.o.catalogTimeoutMs ?? 30_000);
        } catch (e) {
          gap = e as Error;
          break;
        }
      }
      if (!b) {
        this.deadLetter(st, [m.partition, m.position], { reason: reason ?? 'malformed', msgId: m.msgId, payload: m.payload });
        positions.set(m.partition, m.position);
        chunkPositions.set(m.partition, m.position);
        continue;
      }
      const pk = pairKey(b.engine, b.partition);
      const pair = this.stagedPair(st, b.engine, b.partition);
      const startSeq = pair.seq;
      for (const part of b.parts) {
        if (part.seq <= pair.seq) {
          mDuplicates.inc({ ingestion: this.o.id, kind: 'part' });
          continue;
        }
        if (part.seq !== pair.seq + 1) {
          mGaps.inc({ ingestion: this.o.id });
          gap = new CorruptionError(`sequence gap on ${pk}: have ${pair.seq}, got ${part.seq}; waiting for redelivery`);
          break;
        }
        const bad = this.validatePart(st, part);
        if (bad) {
          this.deadLetter(st, [m.partition, m.position, part.seq], {
            reason: bad,
            msgId: m.msgId,
            engine: part.engine,
            seq: part.seq,
            payload: encode(part),
          });
        } else {
          this.mergePart(st, part);
        }
        pair.seq = part.seq;
        const r = pair.retired;
        if (r && part.seq > r.seq && (!r.forced || part.commitTs > r.at)) this.unretire(st, pair);
      }
      if (pair.seq !== startSeq) st.ops.push([s.offsets, [b.engine, b.partition], encode(pair.seq)]);
      if (gap) break;
      this.applyHeartbeat(st, pair, b);
      positions.set(m.partition, m.position);
      chunkPositions.set(m.partition, m.position);
      if (st.hk.length >= CHUNK_VERSIONS) {
        last = this.issue(st, chunkPositions) ?? last;
        // lmdb-js closes the transaction at the end of this event turn; the next chunk stages meanwhile.
        await new Promise((r) => setImmediate(r));
      }
    }
    const wm = this.computeWatermark((k) => st.pairs.get(k) ?? this.pairs.get(k), new Set([...this.engines, ...st.engines]));
    if (wm !== this.wm) st.ops.push([s.meta, 'watermark', encode(wm)]);
    last = this.issue(st, chunkPositions) ?? last;
    if (last) {
      await last;
      // Durable before anything is published or acknowledged to the bus (which may then trim).
      await s.root.flushed;
    }
    for (const e of st.engines) this.engines.add(e);
    for (const [k, p] of st.pairs) this.pairs.set(k, p);
    this.lsn = st.lsn;
    this.wm = wm;
    for (const [p, pos] of positions) this.sub?.ack(p, pos);
    this.appliedCount += st.applied;
    this.unpushed += st.applied;
    mApplied.inc({ ingestion: this.o.id }, st.applied);
    mWatermark.set({ ingestion: this.o.id }, this.wm);
    this.notifyWaiters();
    if (gap) throw new ApplyStopped(gap);
  }

  /**
   * Issue the staged writes (and the chunk's bus positions, changed latest pointers and the lsn)
   * in this event turn, so lmdb-js commits them as one transaction; clears them from the stage.
   * Returns the promise of the last write (resolves after its commit), or undefined when none.
   */
  private issue(st: Stage, positions: Map<number, number>): Promise<boolean> | undefined {
    const s = this.store;
    for (const [p, pos] of positions) st.ops.push([s.positions, p, encode(pos)]);
    positions.clear();
    for (const row of st.dirty) {
      if (row.v) st.ops.push([s.latest, row.lk, encode(row.v)]);
      row.dirty = false;
    }
    st.dirty = [];
    if (st.hk.length > 0) st.ops.push([s.meta, 'lsn', encode(st.lsn)]);
    let last: Promise<boolean> | undefined;
    const history = s.history;
    for (let i = 0; i < st.hk.length; i++) last = history.put(st.hk[i] as Buffer, st.hv[i] as Buffer);
    for (const [db, k, v] of st.ops) last = v === undefined ? db.remove(k) : db.put(k, v);
    st.hk = [];
    st.hv = [];
    st.ops = [];
    return last;
  }

  /** The pair as staged in this delivery (copied from the published state on first touch). */
  private stagedPair(st: Stage, engine: string, partition: number): Pair {
    const k = pairKey(engine, partition);
    let p = st.pairs.get(k);
    if (!p) {
      const cur = this.pairs.get(k);
      p = cur ? { ...cur } : { engine, partition, seq: 0, closedTs: -1 };
      st.pairs.set(k, p);
      if (!this.engines.has(engine)) st.engines.add(engine);
    }
    return p;
  }

  /**
   * Merge a batch's heartbeat: the closed timestamp counts once every part up to its seq is
   * applied; a retired heartbeat (protocol 2) retires the pair at that point, or is remembered
   * until then.
   */
  private applyHeartbeat(st: Stage, pair: Pair, b: BusBatch): void {
    const s = this.store;
    const hb = b.heartbeat;
    const pk: LmdbKey[] = [b.engine, b.partition];
    if (hb.seq <= pair.seq && hb.closedTs > pair.closedTs) {
      pair.closedTs = hb.closedTs;
      st.ops.push([s.closed, pk, encode(hb.closedTs)]);
    }
    const r = pair.retired;
    if (hb.retired === true) {
      if (!r || r.forced || r.seq !== hb.seq || !r.done) {
        const rec: RetiredPair = { seq: hb.seq, closedTs: hb.closedTs, at: this.now(), forced: false, done: hb.seq <= pair.seq };
        pair.retired = rec;
        st.ops.push([s.retired, pk, encode(rec)]);
      }
    } else if (r && hb.seq > r.seq && (!r.forced || hb.closedTs > r.at)) {
      this.unretire(st, pair);
    }
    const r2 = pair.retired;
    if (r2 && !r2.done && pair.seq >= r2.seq) {
      const rec = { ...r2, done: true };
      pair.retired = rec;
      st.ops.push([s.retired, pk, encode(rec)]);
    }
  }

  private unretire(st: Stage, pair: Pair): void {
    delete pair.retired;
    st.ops.push([this.store.retired, [pair.engine, pair.partition], undefined]);
    this.o.log.info({ engine: pair.engine, partition: pair.partition }, 'retired engine writes again; counting it in the watermark');
  }

  private deadLetter(st: Stage, key: LmdbKey[], d: DeadLetter): void {
    st.ops.push([this.store.deadletters, key, encode(d)]);
    st.dead++;
    mDead.inc({ ingestion: this.o.id });
    this.o.log.error({ key, msgId: d.msgId, engine: d.engine, seq: d.seq, reason: d.reason }, 'dead-lettered malformed change input');
  }

  /** Why a part cannot be applied (names the change), or undefined when every change fits its table. */
  private validatePart(st: Stage, part: TxnPart): string | undefined {
    for (let i = 0; i < part.changes.length; i++) {
      const c = part.changes[i] as Change;
      let info = st.info.get(c.table);
      if (info === undefined && !st.info.has(c.table)) {
        info = this.o.catalog.find(c.table);
        st.info.set(c.table, info);
      }
      const where = `change ${i} (version ${String(c.version)}) of ${part.engine}/${part.partition} seq ${part.seq}`;
      if (!info) return `${where}: unknown table "${c.table}" (catalog version ${this.o.catalog.version})`;
      let check = this.validators.get(info);
      if (!check) this.validators.set(info, (check = compileValidator(info)));
      const why = check(c);
      if (why) return `${where}: ${why}`;
    }
    return undefined;
  }

  /** Merge one part's changes into the stage; one lsnlog entry and one bytime entry per table. */
  private mergePart(st: Stage, part: TxnPart): void {
    const s = this.store;
    const ts = part.commitTs;
    const engine = part.engine;
    const firstLsn = st.lsn + 1;
    const refs: LsnEntry['refs'] = [];
    const byTable = new Map<string, (Value[] | string)[]>();
    for (const c of part.changes) {
      const key = c.key;
      const lk = toBufferKey((key.length === 1 ? [c.table, key[0]] : [c.table, ...key]) as LmdbKey[]) as Buffer;
      const rk = lk.toString('latin1');
      let row = st.latest.get(rk);
      const hk = toBufferKey([lk, ts, c.version]) as Buffer;
      // Stored before (committed), or merged earlier in this delivery (not committed yet).
      if (row?.merged.includes(c.version) || s.history.doesExist(hk)) {
        mDuplicates.inc({ ingestion: this.o.id, kind: 'version' });
        continue;
      }
      if (!row) {
        const b = s.latest.getBinaryFast(lk);
        row = { lk, v: b === undefined ? null : decode<LatestValue>(b, 'latest'), dirty: false, merged: [] };
        st.latest.set(rk, row);
      }
      row.merged.push(c.version);
      const cur = row.v;
      let becomesLatest = true;
      let rejected = false;
      if (cur && cur[2] !== c.prev) {
        // Two engines wrote the row concurrently (DESIGN §4).
        const policy = st.info.get(c.table)?.options.conflict ?? 'lww';
        if (policy === 'reject') {
          becomesLatest = false;
          rejected = true;
        } else {
          becomesLatest = compareLww(ts, engine, c.version, cur[0], cur[1], cur[2]) > 0;
        }
        const detectedAt = this.now();
        const rec: ConflictInfo = {
          table: c.table,
          key,
          existing: { version: cur[2], engine: cur[1], commitTs: cur[0] },
          incoming: { version: c.version, engine, commitTs: ts },
          winner: becomesLatest ? c.version : cur[2],
          policy,
          detectedAt,
        };
        st.ops.push([s.conflicts, [detectedAt, c.version], encode(rec)]);
        st.conflicts++;
        mConflicts.inc({ ingestion: this.o.id, table: c.table });
      }
      const lsn = ++st.lsn;
      const hv: HistoryValue = [c.op, c.prev, engine, lsn, c.row, rejected ? 1 : becomesLatest ? 2 : 0];
      st.hk.push(hk);
      st.hv.push(encode(hv));
      if (becomesLatest) {
        row.v = [ts, engine, c.version];
        if (!row.dirty) {
          row.dirty = true;
          st.dirty.push(row);
        }
      }
      refs.push(c.table, key, c.version);
      let l = byTable.get(c.table);
      if (!l) byTable.set(c.table, (l = []));
      l.push(key, c.version);
      st.applied++;
    }
    if (refs.length === 0) return;
    st.ops.push([s.lsnlog, firstLsn, encode({ ts, refs } satisfies LsnEntry)]);
    for (const [t, l] of byTable) st.ops.push([s.bytime, [t, ts, engine, part.partition, part.seq], encode(l)]);
  }

  // ------------------------------------------------------------------ watermark

  /**
   * Min closed timestamp over live pairs (every known engine × our partitions, minus retired
   * ones), clamped to never go below the current watermark. A pair without a heartbeat yet holds
   * the watermark where it is (a new engine joining neither resets it to -1 nor moves it back).
   */
  private computeWatermark(pairOf: (k: string) => Pair | undefined, engines: Iterable<string>): number {
    let min = Number.POSITIVE_INFINITY;
    for (const e of engines) {
      for (const p of this.o.partitions) {
        const pair = pairOf(pairKey(e, p));
        if (pair?.retired?.done) continue;
        const c = pair?.closedTs ?? -1;
        if (c < min) min = c;
      }
    }
    if (!Number.isFinite(min)) return this.wm;
    return Math.max(this.wm, min);
  }

  /** Watermark (ms): every version with commitTs ≤ it is merged; -1 before every pair reported. Never decreases. */
  watermark(): number {
    return this.wm;
  }

  private waiters: { ts: number; resolve: () => void }[] = [];

  private notifyWaiters(): void {
    if (this.waiters.length === 0) return;
    const w = this.wm;
    this.waiters = this.waiters.filter((x) => {
      if (x.ts <= w) {
        x.resolve();
        return false;
      }
      return true;
    });
  }

  /** Resolve true once the watermark is ≥ `ts` (ms); false after `timeoutMs`. */
  waitForWatermark(ts: number, timeoutMs: number): Promise<boolean> {
    if (this.wm >= ts) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = { ts, resolve: () => {} };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== entry);
        resolve(false);
      }, timeoutMs);
      entry.resolve = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(entry);
    });
  }

  /** Every pair of every known engine on our partitions, with lag (ms) and flags, as of `now`. */
  private pairStatuses(now: number): StreamPairStatus[] {
    const out: StreamPairStatus[] = [];
    for (const e of [...this.engines].sort()) {
      for (const p of this.o.partitions) {
        const pair = this.pairs.get(pairKey(e, p));
        const closedTs = pair?.closedTs ?? -1;
        const retired = pair?.retired?.done === true;
        const lagMs = now - closedTs;
        out.push({ engine: e, partition: p, seq: pair?.seq ?? 0, closedTs, lagMs, stalled: !retired && lagMs > this.stallMs, retired });
      }
    }
    return out;
  }

  private updateGauges(pairs = this.pairStatuses(this.now())): void {
    let stalled = 0;
    for (const p of pairs) {
      if (p.stalled) stalled++;
      mLag.set({ ingestion: this.o.id, engine: p.engine, partition: String(p.partition) }, p.retired ? 0 : p.lagMs);
    }
    mStalled.set({ ingestion: this.o.id }, stalled);
  }

  /**
   * Retire every pair of `engine` on our partitions now (forced): the watermark stops waiting for
   * it. Its parts committed after this moment count it again. Returns the status after.
   */
  retireEngine(engine: string): Promise<IngestionStatus> {
    if (typeof engine !== 'string' || engine === '') {
      return Promise.reject(new StratumError('22023', 'retireEngine needs an engine id (string)'));
    }
    return this.serial(async () => {
      const st = newStage(this.lsn);
      const at = this.now();
      for (const p of this.o.partitions) {
        const pair = this.stagedPair(st, engine, p);
        const rec: RetiredPair = { seq: pair.seq, closedTs: pair.closedTs, at, forced: true, done: true };
        pair.retired = rec;
        st.ops.push([this.store.retired, [engine, p], encode(rec)]);
      }
      const wm = this.computeWatermark((k) => st.pairs.get(k) ?? this.pairs.get(k), new Set([...this.engines, ...st.engines]));
      if (wm !== this.wm) st.ops.push([this.store.meta, 'watermark', encode(wm)]);
      let last: Promise<boolean> | undefined;
      for (const [db, k, v] of st.ops) last = v === undefined ? db.remove(k) : db.put(k, v);
      await last;
      await this.store.root.flushed;
      for (const e of st.engines) this.engines.add(e);
      for (const [k, p] of st.pairs) this.pairs.set(k, p);
      this.wm = wm;
      mWatermark.set({ ingestion: this.o.id }, this.wm);
      this.notifyWaiters();
      this.o.log.warn({ engine }, 'engine retired by force: the watermark no longer waits for it');
      return this.status();
    });
  }

  // ------------------------------------------------------------------ reads

  /** Latest version of a row (a tombstone reads as `row: null`); null when the row is unknown or removed by GC. */
  async get(table: string, key: Value[]): Promise<RowVersion | null> {
    const lv = IngestionStore.read<LatestValue>(this.store.latest, [table, ...key] as LmdbKey[]);
    if (!lv) return null;
    const hv = IngestionStore.read<HistoryValue>(this.store.history, [table, ...key, lv[0], lv[2]] as LmdbKey[]);
    return hv ? { version: lv[2], commitTs: lv[0], row: hv[0] === 'delete' ? null : hv[4] } : null;
  }

  /** {@link get} (or {@link getAsOf} with `asOf`, ms) for each key, in order. */
  async getMany(table: string, keys: Value[][], asOf?: number): Promise<(RowVersion | null)[]> {
    const out: (RowVersion | null)[] = [];
    for (const k of keys) out.push(asOf === undefined ? await this.get(table, k) : this.getAsOf(table, k, asOf));
    return out;
  }

  /**
   * Newest version of a row with commitTs ≤ `asOf` (ms), from `history`; rejected versions are
   * skipped. Exact for `asOf` ≥ the GC horizon (older reads belong to OLAP).
   */
  getAsOf(table: string, key: Value[], asOf: number): RowVersion | null {
    const prefix = [table, ...key] as LmdbKey[];
    const group: Candidate[] = [];
    for (const { key: hk, value } of this.store.history.getRange({ start: [...prefix, asOf, KEY_MAX], end: prefix, reverse: true })) {
      const arr = hk as LmdbKey[];
      const ts = arr[arr.length - 2] as number;
      if (group.length > 0 && ts !== group[0]?.ts) break;
      const hv = decode<HistoryValue>(value, 'history value');
      if (hv[5] === 1) continue;
      group.push({ ts, version: arr[arr.length - 1] as string, hv });
    }
    const latest = group.length > 1 ? IngestionStore.read<LatestValue>(this.store.latest, prefix)?.[2] : undefined;
    const best = pickVisible(group, latest);
    return best ? { version: best.version, commitTs: best.ts, row: best.hv[0] === 'delete' ? null : best.hv[4] } : null;
  }

  /** Versions applied after `afterLsn` in apply order; examines at most `limit` LSNs (versions removed by GC or rejected are skipped). */
  async delta(afterLsn: number, limit: number): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
    const versions: VersionRecord[] = [];
    let last = afterLsn;
    const lsnlog = this.store.lsnlog;
    let start = afterLsn + 1;
    for (const { key } of lsnlog.getRange({ start: afterLsn + 1, reverse: true, limit: 1 })) start = key as number;
    let examined = 0;
    outer: for (const { key, value } of lsnlog.getRange({ start })) {
      const first = key as number;
      const e = decode<LsnEntry>(value, 'lsn log entry');
      for (let i = 0; i < e.refs.length / 3; i++) {
        const lsn = first + i;
        if (lsn <= afterLsn) continue;
        if (examined >= limit) break outer;
        examined++;
        last = lsn;
        const table = e.refs[3 * i] as string;
        const key = e.refs[3 * i + 1] as Value[];
        const version = e.refs[3 * i + 2] as string;
        const hv = IngestionStore.read<HistoryValue>(this.store.history, [table, ...key, e.ts, version] as LmdbKey[]);
        if (!hv || hv[5] === 1) continue;
        versions.push(toRecord(version, toStored(table, key, e.ts, hv)));
      }
    }
    return { versions, lastLsn: last, watermark: this.wm };
  }

  /** Status; beyond {@link IngestionStatus} it carries `gcHorizonMs` (see {@link Ingestion.gcHorizonMs}). */
  async status(): Promise<IngestionStatus & { gcHorizonMs: number }> {
    const closed: Record<string, number> = {};
    const offsets: Record<string, number> = {};
    for (const [k, p] of this.pairs) {
      offsets[k] = p.seq;
      if (p.closedTs >= 0) closed[k] = p.closedTs;
    }
    const pairs = this.pairStatuses(this.now());
    this.updateGauges(pairs);
    const retiredEngines = [...this.engines]
      .filter((e) => this.o.partitions.every((p) => this.pairs.get(pairKey(e, p))?.retired?.done))
      .sort();
    return {
      id: this.o.id,
      partitions: [...this.o.partitions],
      watermark: this.wm,
      lsn: this.lsn,
      closed,
      offsets,
      pairs,
      retiredEngines,
      applied: this.appliedCount,
      deadLetters: this.store.deadletters.getKeysCount(),
      conflicts: this.store.conflicts.getKeysCount(),
      gcRemoved: this.gcRemovedCount,
      gcHorizonMs: this.gcHorizon,
    };
  }

  /** Recorded conflicts, oldest first, optionally of one table; at most `limit` (clamped to 100,000). @throws StratumError 22023 on a bad limit. */
  async conflicts(q: { table?: string; limit: number }): Promise<ConflictInfo[]> {
    const limit = Math.min(q?.limit, 100_000);
    if (!Number.isInteger(limit) || limit < 0)
      throw new StratumError('22023', `conflicts: limit must be a non-negative integer (got ${String(q?.limit)})`);
    const out: ConflictInfo[] = [];
    if (limit === 0) return out;
    for (const { value } of this.store.conflicts.getRange({})) {
      const c = decode<ConflictInfo>(value, 'conflict record');
      if (q.table !== undefined && c.table !== q.table) continue;
      out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * GC horizon (ms; -1 before the first GC): versions with commitTs at or below it that were
   * superseded at or below it may have been removed, so a read as of a time before it must go
   * to OLAP; reads as of any time ≥ it are exact here.
   */
  gcHorizonMs(): number {
    return this.gcHorizon;
  }

  // ------------------------------------------------------------------ OLAP push

  /** Push versions below the watermark to OLAP when due (interval or row count), or when `force`. */
  async maybePush(force: boolean): Promise<void> {
    if (this.pushing) return this.pushing;
    const due = force || this.unpushed >= this.o.pushRows || this.now() - this.lastPushAt >= this.o.pushIntervalMs;
    if (!due) return;
    this.pushing = this.push()
      .catch((e) => this.o.log.warn({ err: (e as Error).message }, 'OLAP push failed; will retry'))
      .finally(() => {
        this.pushing = undefined;
      });
    return this.pushing;
  }

  /**
   * DESIGN §4 "OLAP push", per table and shard: versions that `shardOfVersion` places on shard s
   * with commitTs in (s's watermark for this source, W], W ≤ the watermark, `pushRows` at a time
   * (cut at a commitTs boundary). A push with no versions still advances s's watermark. A shard
   * that fails is retried next time; the others go on.
   */
  private async push(): Promise<void> {
    const targets = this.o.olap() ?? [];
    if (targets.length === 0) return;
    const w = this.wm;
    if (w < 0) return;
    this.lastPushAt = this.now();
    const ids = targets.map((t) => t.id);
    const marks = new Map<string, Record<string, number> | undefined>();
    await Promise.all(
      targets.map(async (t) => {
        try {
          marks.set(t.id, await t.api.watermarks(this.o.id));
        } catch (e) {
          marks.set(t.id, undefined);
          this.o.log.warn({ shard: t.id, err: (e as Error).message }, 'OLAP shard unreachable; its push waits');
        }
      }),
    );
    let complete = true;
    for (const info of this.o.catalog.list()) {
      const shards = shardsOfTable(info, ids).filter((id) => marks.get(id) !== undefined);
      if (shards.length < shardsOfTable(info, ids).length) complete = false;
      const from = new Map(shards.map((id) => [id, marks.get(id)?.[info.name] ?? -1]));
      const lo = Math.min(...from.values());
      if (!(lo < w)) continue;
      const buckets = new Map<string, VersionRecord[]>(shards.map((id) => [id, []]));
      let upTo = w;
      let n = 0;
      let lastTs = lo;
      for (const { key, value } of this.store.bytime.getRange({ start: [info.name, lo, KEY_MAX], end: [info.name, w, KEY_MAX] })) {
        const ts = (key as [string, number])[1];
        if (ts <= lo) continue;
        if (n >= this.o.pushRows && ts !== lastTs) {
          upTo = lastTs;
          complete = false;
          break;
        }
        lastTs = ts;
        const l = decode<BytimeValue>(value, 'bytime entry');
        for (let i = 0; i < l.length; i += 2) {
          const k = l[i] as Value[];
          const version = l[i + 1] as string;
          const hv = IngestionStore.read<HistoryValue>(this.store.history, [info.name, ...k, ts, version] as LmdbKey[]);
          if (!hv || hv[5] === 1) continue;
          const shard = shards.length === 1 ? (shards[0] as string) : shardOfVersion(info, k, hv[4], ids);
          if (ts <= (from.get(shard) ?? Number.POSITIVE_INFINITY)) continue;
          buckets.get(shard)?.push(toRecord(version, toStored(info.name, k, ts, hv)));
          n++;
        }
      }
      for (const id of shards) {
        const fromTs = from.get(id) ?? -1;
        if (fromTs >= upTo) continue;
        const versions = buckets.get(id) ?? [];
        try {
          const api = targets.find((t) => t.id === id)?.api as OlapShardApi;
          await api.push({ source: this.o.id, table: info.name, fromTs, toTs: upTo, versions });
          mPushed.inc({ ingestion: this.o.id }, versions.length);
        } catch (e) {
          complete = false;
          this.o.log.warn({ shard: id, table: info.name, err: (e as Error).message }, 'OLAP push failed; will retry');
        }
      }
    }
    if (complete) this.unpushed = 0;
  }

  // ------------------------------------------------------------------ GC

  /**
   * One GC pass (DESIGN §4), in chunks of asynchronous LMDB transactions. Per table, the cut is
   * min(now − retention, this source's OLAP watermark of the table on every shard that holds it).
   * For each row with versions at or below the cut, the newest non-rejected one (the version
   * visible at the cut) is kept, older and rejected ones are removed; a visible tombstone goes too,
   * and when it is the row's latest the row disappears (latest included). Reads as of ≥ the cut
   * stay exact, so the cut becomes the GC horizon (persisted before anything is removed).
   * Rows are found through `bytime` entries in (previous cut, cut], which are then dropped.
   * Concurrent calls share one pass.
   */
  gcNow(): Promise<void> {
    this.gcRunning ??= this.gcPass()
      .catch((e) => {
        this.o.log.warn({ err: (e as Error).message }, 'ingestion GC pass failed; retrying next interval');
        throw e;
      })
      .finally(() => {
        this.gcRunning = undefined;
      });
    return this.gcRunning;
  }

  private async gcPass(): Promise<void> {
    const targets = this.o.olap() ?? [];
    if (targets.length === 0) return;
    const ids = targets.map((t) => t.id);
    const marks = new Map<string, Record<string, number>>();
    for (const t of targets) {
      try {
        marks.set(t.id, await t.api.watermarks(this.o.id));
      } catch {
        // A shard we cannot ask: its tables are skipped this time.
      }
    }
    const retentionCut = this.now() - this.retentionMs;
    const cuts = new Map<string, number>();
    for (const info of this.o.catalog.list()) {
      let cut = Math.min(retentionCut, this.wm);
      for (const id of shardsOfTable(info, ids)) cut = Math.min(cut, marks.get(id)?.[info.name] ?? -1);
      if (cut > (this.gcCuts.get(info.name) ?? -1)) cuts.set(info.name, cut);
    }
    if (cuts.size === 0) return;
    const horizon = Math.max(this.gcHorizon, ...cuts.values());
    if (horizon > this.gcHorizon) {
      await this.store.meta.put('gcHorizon', encode(horizon));
      await this.store.root.flushed;
      this.gcHorizon = horizon;
    }
    for (const [table, cut] of cuts) {
      if (this.stopped) return;
      await this.gcTable(table, this.gcCuts.get(table) ?? -1, cut);
      await this.store.meta.put(['gcCut', table], encode(cut));
      this.gcCuts.set(table, cut);
    }
    await this.gcLsnlog();
  }

  /** GC the rows of `table` that have versions with commitTs in (from, cut], chunk by chunk. */
  private async gcTable(table: string, from: number, cut: number): Promise<void> {
    const s = this.store;
    for (;;) {
      if (this.stopped) return;
      let done = true;
      let removed = 0;
      await s.root.transaction(() => {
        const rows = new Map<string, Value[]>();
        const visited: LmdbKey[] = [];
        let versions = 0;
        for (const { key, value } of s.bytime.getRange({ start: [table, from, KEY_MAX], end: [table, cut, KEY_MAX] })) {
          if (visited.length >= GC_CHUNK_ENTRIES || versions >= GC_CHUNK_DELETES) {
            done = false;
            break;
          }
          visited.push(key);
          const l = decode<BytimeValue>(value, 'bytime entry');
          for (let i = 0; i < l.length; i += 2) {
            const k = l[i] as Value[];
            rows.set(keyString(k), k);
            versions++;
          }
        }
        // Deleted after the scan: no writes under an open cursor of the same db.
        for (const k of visited) void s.bytime.remove(k);
        for (const k of rows.values()) removed += this.gcRow(table, k, cut);
      });
      if (removed > 0) {
        this.gcRemovedCount += removed;
        mGcRemoved.inc({ ingestion: this.o.id }, removed);
      }
      if (done) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Inside a GC transaction: remove what the GC rule allows of one row's history ≤ cut. Returns versions removed. */
  private gcRow(table: string, key: Value[], cut: number): number {
    const s = this.store;
    const prefix = [table, ...key] as LmdbKey[];
    const lv = IngestionStore.read<LatestValue>(s.latest, prefix);
    const entries: { k: LmdbKey[]; c: Candidate }[] = [];
    for (const { key: hk, value } of s.history.getRange({ start: prefix, end: [...prefix, cut, KEY_MAX] })) {
      const arr = hk as LmdbKey[];
      const c: Candidate = {
        ts: arr[arr.length - 2] as number,
        version: arr[arr.length - 1] as string,
        hv: decode<HistoryValue>(value, 'history value'),
      };
      entries.push({ k: arr, c });
    }
    // The version a read as of the cut shows (same rule as getAsOf).
    const nonRejected = entries.filter((e) => e.c.hv[5] !== 1);
    const topTs = nonRejected[nonRejected.length - 1]?.c.ts;
    const shown = pickVisible(
      nonRejected.filter((e) => e.c.ts === topTs).map((e) => e.c),
      lv?.[2],
    );
    const visible = entries.findIndex((e) => e.c === shown);
    let removed = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as (typeof entries)[number];
      const isLatest = lv?.[2] === e.c.version;
      if (i === visible) {
        if (e.c.hv[0] !== 'delete') continue;
        // A tombstone visible at the cut reads the same as no version; the row's latest goes with it.
        if (isLatest) void s.latest.remove(prefix);
      } else if (isLatest) {
        continue;
      }
      void s.history.remove(e.k);
      removed++;
    }
    return removed;
  }

  /** Drop lsnlog entries (from the oldest) whose versions are all at or below their tables' GC cut. */
  private async gcLsnlog(): Promise<void> {
    const s = this.store;
    for (;;) {
      if (this.stopped) return;
      let more = false;
      await s.root.transaction(() => {
        const drop: LmdbKey[] = [];
        for (const { key, value } of s.lsnlog.getRange({})) {
          if (drop.length >= GC_CHUNK_ENTRIES) {
            more = true;
            break;
          }
          const e = decode<LsnEntry>(value, 'lsn log entry');
          let all = true;
          for (let i = 0; i < e.refs.length && all; i += 3) all = e.ts <= (this.gcCuts.get(e.refs[i] as string) ?? -1);
          if (!all) break;
          drop.push(key);
        }
        for (const k of drop) void s.lsnlog.remove(k);
      });
      if (!more) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Stop consuming and close LMDB (after the in-flight apply, push and GC chunk). */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.gcTimer) clearInterval(this.gcTimer);
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    await this.sub?.stop();
    await this.exclusive;
    await this.pushing;
    await this.gcRunning?.catch(() => {});
    await this.store.close();
  }
}

/** A delivery stopped early on purpose (gap, catalog wait); memory already matches LMDB. */
class ApplyStopped extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** A non-rejected history entry of one row. */
interface Candidate {
  ts: number;
  version: string;
  hv: HistoryValue;
}

/**
 * The version a read shows among non-rejected versions of one row with the same (newest) commit
 * time: the row's latest when it is among them; else the merge's rule replayed over them in
 * apply (LSN) order, as if no newer version existed — a version that read the current one (`prev`)
 * replaces it, any other is an LWW conflict decided by {@link compareLww}. So the answer is never
 * one another of them read and replaced, nor the loser of an LWW conflict between them, whatever
 * newer versions arrived in between.
 */
function pickVisible(group: Candidate[], latest: string | undefined): Candidate | undefined {
  if (group.length <= 1) return group[0];
  const l = group.find((c) => c.version === latest);
  if (l) return l;
  let cur: Candidate | undefined;
  for (const c of [...group].sort((a, b) => a.hv[3] - b.hv[3])) {
    if (!cur || c.hv[1] === cur.version || compareLww(c.ts, c.hv[2], c.version, cur.ts, cur.hv[2], cur.version) > 0) cur = c;
  }
  return cur;
}

/** LWW order (DESIGN §4): higher (commitTs, engine, version) wins. Returns >0 when a wins. */
export function compareLww(aTs: number, aEngine: string, aVersion: string, bTs: number, bEngine: string, bVersion: string): number {
  if (aTs !== bTs) return aTs - bTs;
  if (aEngine !== bEngine) return aEngine < bEngine ? -1 : 1;
  return aVersion < bVersion ? -1 : aVersion > bVersion ? 1 : 0;
}

function toRecord(version: string, sv: StoredVersion): VersionRecord {
  return {
    table: sv.table,
    key: sv.key,
    version,
    prev: sv.prev,
    op: sv.op,
    commitTs: sv.commitTs,
    engine: sv.engine,
    row: sv.row,
    lsn: sv.lsn,
  };
}

/**
 * A checker of changes against one table: the key has one value per primary-key column, of its
 * type; an insert/update row has only the table's columns, values of their types, no NULL in a
 * NOT NULL column, and the key's values in its primary-key columns. Returns why it does not fit.
 */
function compileValidator(info: TableInfo): (c: Change) => string | undefined {
  const pkCols = info.pkIndexes.map((i) => info.columns[i] as TableInfo['columns'][number]);
  const cols = new Map(info.columns.map((c) => [c.name, c]));
  const notNull = info.columns.filter((c) => c.notNull || info.primaryKey.includes(c.name)).map((c) => c.name);
  return (c) => {
    const key = c.key;
    if (!Array.isArray(key) || key.length !== pkCols.length) {
      return `key of table "${info.name}" must have ${pkCols.length} value(s) (${info.primaryKey.join(', ')}), got ${Array.isArray(key) ? key.length : typeof key}`;
    }
    for (let i = 0; i < pkCols.length; i++) {
      const col = pkCols[i] as (typeof pkCols)[number];
      const v = key[i] as Value;
      if (v === null || v === undefined || !isValueOfType(v, col.type))
        return `key column "${col.name}" is ${String(v)}, not a ${col.type}`;
    }
    if (typeof c.prev !== 'string' && c.prev !== null) return 'prev must be a version or null';
    if (c.op === 'delete') return undefined;
    const row = c.row;
    if (row === null || typeof row !== 'object') return `${c.op} without a row`;
    for (const name in row) {
      const col = cols.get(name);
      if (!col) return `row has column "${name}", which table "${info.name}" does not have`;
      const v = row[name] as Value;
      if (v !== null && !isValueOfType(v, col.type)) return `column "${name}" is ${typeof v} ${String(v)}, not a ${col.type}`;
    }
    for (const name of notNull) {
      const v = row[name];
      if (v === null || v === undefined) return `column "${name}" of table "${info.name}" is NOT NULL but missing`;
    }
    for (let i = 0; i < pkCols.length; i++) {
      const col = pkCols[i] as (typeof pkCols)[number];
      if (row[col.name] !== key[i]) return `row's "${col.name}" (${String(row[col.name])}) differs from the key (${String(key[i])})`;
    }
    return undefined;
  };
}
