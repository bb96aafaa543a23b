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
 * Apply stages a delivery's writes and issues them every {@link FLUSH_VERSIONS} versions, at a
 * part boundary and with the offsets of what they hold; everything that can fail for a part
 * (decoding, validation, reads, encoding) runs before its writes are issued. The writes of one
 * chunk ({@link CHUNK_VERSIONS}) are issued in one event turn, which lmdb-js commits as one
 * transaction on its writer thread (its `eventTurnBatching` rule), so the B-tree work runs
 * beside the event loop instead of on it, and a transaction holds a consistent prefix of the
 * delivery; the next chunk stages while the writer commits. Reads during staging see the
 * committed state (each delivery is awaited until flushed before the next one) plus an
 * in-memory overlay of the rows that the delivery's chunks not yet committed have merged. Stored
 * values reuse the bytes of the delivered parts instead of encoding what was decoded from them
 * (msgpack.ts).
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
  type IndexBuildStatus,
  type IngestionApi,
  type IngestionStatus,
  isValueOfType,
  keyString,
  type Logger,
  type Row,
  type RowSource,
  type RowVersion,
  SchemaError,
  SqlState,
  StratumError,
  type StreamPairStatus,
  type Subscription,
  shardsOfTable,
  type TableInfo,
  type TxnPart,
  throwIfCanceled,
  type Value,
  type VersionRecord,
} from '@stratum/shared';
import type { Database, Key as LmdbKey } from 'lmdb';
import { type FindContext, findRows } from './find.ts';
import { type BuildRecord, duplicateError, type IndexEntry, type IndexPlan, indexEntry, indexPlans } from './indexes.ts';
import { type KeyArena, prefixEnd, rowKey, toBufferKey } from './keys.ts';
import { PartReader, strMax, ValueWriter } from './msgpack.ts';
import { type OlapTarget, pushBelowWatermark } from './push.ts';
import { KeyTable, keyHash } from './rows.ts';
import {
  type BytimeValue,
  type DeadLetter,
  type HistoryValue,
  IngestionStore,
  KEY_MAX,
  type LatestValue,
  type LsnEntry,
  type RetiredPair,
  toRecord,
  toStored,
} from './store.ts';

const mApplied = counter('stratum_ingestion_applied_versions_total', 'Versions merged into LMDB', ['ingestion']);
const mDuplicates = counter('stratum_ingestion_duplicates_total', 'Parts or versions skipped as already applied', ['ingestion', 'kind']);
const mConflicts = counter('stratum_ingestion_conflicts_total', 'Concurrent writes of one row by two engines', ['ingestion', 'table']);
const mDead = counter('stratum_ingestion_dead_letters_total', 'Malformed messages or parts set aside', ['ingestion']);
const mWatermark = gauge('stratum_ingestion_watermark_ms', 'Watermark: all versions with commitTs at or below it are merged', [
  'ingestion',
]);
const mSkippedDead = counter(
  'stratum_ingestion_dead_storage_changes_total',
  'Changes skipped because their table was dropped or truncated (its storage name is dead)',
  ['ingestion'],
);
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

export type { OlapTarget };

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
  /** Most versions per LMDB transaction within a delivery. Default {@link CHUNK_VERSIONS}. */
  chunkVersions?: number;
  /** Versions staged before their writes are issued. Default {@link FLUSH_VERSIONS}. */
  flushVersions?: number;
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

/**
 * A staged row (held by the stage's {@link KeyTable}s, which hold its encoded key): its latest
 * pointer after this delivery's merges, kept as plain fields (many rows are held at once).
 */
interface LatestRow {
  /** {@link keyHash} of the encoded row key. */
  h: number;
  /** While `dirty` (a latest pointer to write): the `store.keys` ref of the encoded row key; -1 otherwise. */
  lk: number;
  /** The last chunk of the delivery that merged a version of the row. */
  chunk: number;
  /** The latest version (null: the row has none), its commit time (ms) and engine. */
  version: string | null;
  ts: number;
  engine: string;
  dirty: boolean;
  /** The version(s) of the row merged in this delivery (dedupe before they are committed). */
  merged: string | string[];
  /** Storage name, and with `plans` the key values (for index entries). */
  table: string;
  key: Value[] | undefined;
  /** The table's indexes when the row was loaded in this delivery (undefined: none). */
  plans: IndexPlan[] | undefined;
  /** With `plans`: the row of the current latest version (null: none or deleted). */
  data: Row | null;
  /** With `plans`: the row whose entries the index holds (as of the last issue). */
  indexed: Row | null;
}

/**
 * A delivery is written in transactions (chunks) of about this many versions (the default of
 * `chunkVersions`). A chunk ends after a part, and so does every issue of writes within it: the
 * writes hold the offsets of the pairs up to the parts they have and the bus positions of the
 * messages they complete, so exactly-once holds for whatever a transaction holds (a redelivered
 * message's parts at or below the stored offset are skipped). Few transactions: each commit
 * rewrites the B-tree pages its writes touched, and the next reads fault the new pages in.
 */
const CHUNK_VERSIONS = 262_144;

/**
 * Versions staged before their writes are issued (the default of `flushVersions`): the writer
 * thread works on them while the next ones stage, and a staging round's garbage dies young.
 */
const FLUSH_VERSIONS = 1024;

/** Per-delivery staging: writes to issue and the overlay that reads consult first. */
interface Stage {
  ops: Op[];
  /** History writes (the hot path), kept flat: keys (`store.keys` refs) and values. */
  hk: number[];
  hv: Buffer[];
  /** Latest pointers to write at the next issue, kept flat: keys (`store.keys` refs) and values. */
  lk: number[];
  lv: Buffer[];
  pairs: Map<string, Pair>;
  engines: Set<string>;
  /**
   * Rows that merged a version in the chunk being staged, by encoded row key: the row's latest
   * after this delivery's merges.
   */
  latest: KeyTable<LatestRow>;
  /**
   * The {@link latest} maps of issued chunks not known to be committed yet, oldest first. Once a
   * chunk is committed, LMDB reads say what its map says of rows no later chunk merged into
   * (those are in a later map): the map goes, so a large delivery does not keep every row alive.
   */
  issued: { chunk: number; rows: KeyTable<LatestRow> }[];
  /** Rows whose latest changed since the last issue of writes. */
  dirty: LatestRow[];
  /** The chunk being staged (0 for the delivery's first). */
  chunk: number;
  /** Versions staged in this chunk. */
  staged: number;
  lsn: number;
  applied: number;
  conflicts: number;
  dead: number;
  /** Changes of dead storage names skipped. */
  skipped: number;
  /** Storage name → its table (undefined: a dead storage name, whose changes are skipped). */
  info: Map<string, TableInfo | undefined>;
  /**
   * Index entries written or removed by this delivery's issued chunks, per value prefix (latin1 of
   * the encoded prefix → entry → live), kept for unique indexes being built: a later chunk's
   * duplicate check may run before the earlier chunk is committed.
   */
  ixOverlay: Map<string, Map<string, boolean>>;
}

const pairKey = (engine: string, partition: number) => `${engine}/${partition}`;

/** True when `version` of the row was merged in this delivery. */
function wasMerged(row: LatestRow, version: string): boolean {
  return typeof row.merged === 'string' ? row.merged === version : row.merged.includes(version);
}

/**
 * The staged state of the row whose encoded key is `keys.buffer[start..end]` (hash `h`), newest
 * chunk first; undefined when not staged.
 */
function stagedRow(st: Stage, keys: KeyArena, lk: number, h: number): LatestRow | undefined {
  const buf = keys.buffer;
  const start = keys.start(lk);
  const end = keys.end(lk);
  const row = st.latest.get(buf, start, end, h);
  if (row || st.issued.length === 0) return row;
  for (let i = st.issued.length - 1; i >= 0; i--) {
    const r = st.issued[i]?.rows.get(buf, start, end, h);
    if (r) return r;
  }
  return undefined;
}

/** Hold `row` (encoded key: the `keys` ref `lk`) in the chunk being staged. */
function holdRow(st: Stage, keys: KeyArena, lk: number, row: LatestRow): void {
  st.latest.set(keys.buffer, keys.start(lk), keys.end(lk), row.h, row);
}

function newStage(lsn: number): Stage {
  return {
    ops: [],
    hk: [],
    hv: [],
    lk: [],
    lv: [],
    pairs: new Map(),
    engines: new Set(),
    latest: new KeyTable(),
    issued: [],
    dirty: [],
    chunk: 0,
    staged: 0,
    lsn,
    applied: 0,
    conflicts: 0,
    dead: 0,
    skipped: 0,
    info: new Map(),
    ixOverlay: new Map(),
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
  private readonly chunkVersions: number;
  private readonly flushVersions: number;
  private readonly retentionMs: number;
  private readonly stallMs: number;
  private readonly validators = new WeakMap<TableInfo, (c: Change) => string | undefined>();
  /** Changes of dead storage names skipped since start. */
  private skippedCount = 0;
  /** Index builds on this engine, by {@link buildKey}. */
  private readonly builds = new Map<string, Build>();
  /** Dead storage names whose data is gone (`['cleaned', storage]` in meta). */
  private readonly cleaned = new Set<string>();
  private maintWanted = false;
  private maintRunning: Promise<void> | undefined;
  private maintTimer: NodeJS.Timeout | undefined;
  private readonly findContext: FindContext;
  /** Where staged values are written (msgpack.ts). */
  private readonly writer = new ValueWriter();
  /** Decodes delivered parts, keeping their bytes (msgpack.ts). */
  private readonly reader = new PartReader();

  constructor(private readonly o: IngestionOptions) {
    this.store = new IngestionStore(o.dir);
    this.now = o.now ?? Date.now;
    this.chunkVersions = o.chunkVersions ?? CHUNK_VERSIONS;
    this.flushVersions = o.flushVersions ?? FLUSH_VERSIONS;
    this.retentionMs = o.retentionMs ?? 7 * DAY_MS;
    this.stallMs = o.stallMs ?? 10_000;
    this.findContext = {
      store: this.store,
      catalog: o.catalog,
      getAsOfRaw: (lk, asOf) => this.getAsOfRaw(lk, asOf),
      indexReady: (storage, oid) => this.builds.get(buildKey(storage, oid))?.state === 'done',
    };
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
    for (const { key, value } of s.meta.getRange({ start: ['ixb'], end: ['ixb', KEY_MAX] })) {
      const [, storage, oid] = key as [string, string, number];
      this.builds.set(buildKey(storage, oid), { ...decode<BuildRecord>(value, 'index build'), storage, oid });
    }
    for (const { key } of s.meta.getRange({ start: ['cleaned'], end: ['cleaned', KEY_MAX] })) {
      this.cleaned.add((key as [string, string])[1]);
    }
    this.loadPairs();
    this.o.catalog.onApply(() => this.kickMaintenance());
    this.kickMaintenance();
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
    s.keys.reset();
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
        this.reader.reset();
        b = decodeBusBatch(m.payload, this.reader.decodePart);
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
      /** The pair's seq as the staged writes last recorded it in `offsets`. */
      let writtenSeq = pair.seq;
      // The parts' bytes as the bus delivered them, and where their changes' keys and rows are.
      const encoded = this.reader.bytes.length === b.parts.length ? this.reader.bytes : undefined;
      const slices = this.reader.slices;
      const parts: (TxnPart | undefined)[] = b.parts;
      for (let pi = 0; pi < parts.length; pi++) {
        const part = parts[pi] as TxnPart;
        // Let the part go once merged: the message's later parts need not keep it alive.
        parts[pi] = undefined;
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
          this.mergePart(st, part, encoded?.[pi], slices[pi]);
        }
        pair.seq = part.seq;
        const r = pair.retired;
        if (r && part.seq > r.seq && (!r.forced || part.commitTs > r.at)) this.unretire(st, pair);
        const endsChunk = st.staged >= this.chunkVersions;
        if ((endsChunk || st.hk.length >= this.flushVersions) && pi < parts.length - 1) {
          // Issued inside the message: the writes hold the pair's offset up to this part but not
          // the message's bus position, so a redelivery skips the parts they have.
          st.ops.push([s.offsets, [b.engine, b.partition], encode(pair.seq)]);
          writtenSeq = pair.seq;
          last = this.issue(st, chunkPositions) ?? last;
          if (endsChunk) {
            this.endChunk(st, last);
            await new Promise((r) => setImmediate(r));
          }
        }
      }
      if (pair.seq !== writtenSeq) st.ops.push([s.offsets, [b.engine, b.partition], encode(pair.seq)]);
      if (gap) break;
      this.applyHeartbeat(st, pair, b);
      positions.set(m.partition, m.position);
      chunkPositions.set(m.partition, m.position);
      const endsChunk = st.staged >= this.chunkVersions;
      if (endsChunk || st.hk.length >= this.flushVersions) {
        last = this.issue(st, chunkPositions) ?? last;
        if (endsChunk) {
          this.endChunk(st, last);
          // lmdb-js closes the transaction at the end of this event turn; the next chunk stages meanwhile.
          await new Promise((r) => setImmediate(r));
        }
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
    this.skippedCount += st.skipped;
    this.unpushed += st.applied;
    mApplied.inc({ ingestion: this.o.id }, st.applied);
    mWatermark.set({ ingestion: this.o.id }, this.wm);
    this.notifyWaiters();
    if (gap) throw new ApplyStopped(gap);
  }

  /**
   * Issue the staged writes (and the chunk's bus positions, changed latest pointers and the lsn)
   * in this event turn, so lmdb-js commits them in the transaction of this turn; clears them
   * from the stage. Every issue ends at a part, with the offsets of what it holds, so whatever a
   * transaction holds is a consistent prefix of the delivery.
   * Returns the promise of the last write (resolves after its commit), or undefined when none.
   */
  private issue(st: Stage, positions: Map<number, number>): Promise<boolean> | undefined {
    const s = this.store;
    for (const [p, pos] of positions) st.ops.push([s.positions, p, encode(pos)]);
    positions.clear();
    let indexed: LatestRow[] | undefined;
    for (let i = 0; i < st.dirty.length; i++) {
      const row = st.dirty[i] as LatestRow;
      if (row.version !== null) {
        st.lk.push(row.lk);
        st.lv.push(this.latestValue(row.ts, row.engine, row.version));
      }
      row.lk = -1;
      row.dirty = false;
      if (row.plans) (indexed ??= []).push(row);
    }
    st.dirty = [];
    if (indexed) this.stageIndexWrites(st, indexed);
    if (st.hk.length > 0) st.ops.push([s.meta, 'lsn', encode(st.lsn)]);
    let last: Promise<boolean> | undefined;
    const history = s.historyByRef;
    for (let i = 0; i < st.hk.length; i++) last = history.put(st.hk[i] as number, st.hv[i] as Buffer);
    const latest = s.latestByRef;
    for (let i = 0; i < st.lk.length; i++) last = latest.put(st.lk[i] as number, st.lv[i] as Buffer);
    for (let i = 0; i < st.ops.length; i++) {
      const [db, k, v] = st.ops[i] as Op;
      last = v === undefined ? db.remove(k) : db.put(k, v);
    }
    st.hk = [];
    st.hv = [];
    st.lk = [];
    st.lv = [];
    st.ops = [];
    // Their bytes are copied: the keys of the next writes start anew.
    s.keys.reset();
    return last;
  }

  /**
   * End the chunk whose writes are all issued (`last`: the promise of the last one); more of the
   * delivery follows. Its overlay map joins `issued` and goes once the chunk is committed.
   */
  private endChunk(st: Stage, last: Promise<boolean> | undefined): void {
    const chunk = st.chunk;
    if (st.latest.size > 0) {
      st.issued.push({ chunk, rows: st.latest });
      void last?.then(() => {
        st.issued = st.issued.filter((x) => x.chunk !== chunk);
      });
    }
    st.latest = new KeyTable();
    st.chunk++;
    st.staged = 0;
  }

  /** The {@link LatestValue} `[ts, engine, version]`, encoded (as `encode` writes it). */
  private latestValue(ts: number, engine: string, version: string): Buffer {
    const w = this.writer;
    w.begin(1 + 9 + strMax(engine) + strMax(version));
    w.array(3);
    w.number(ts);
    w.str(engine);
    w.str(version);
    return w.end();
  }

  /**
   * Index entries of rows whose latest changed: the old version's entries go, the new one's come
   * (removals first, so a value moving between rows in one transaction is no duplicate). For
   * unique indexes still being built, a new entry whose values another live row holds fails the
   * build (indexes.ts).
   */
  private stageIndexWrites(st: Stage, rows: LatestRow[]): void {
    const ix = this.store.index;
    const adds: { row: LatestRow; p: IndexPlan; e: IndexEntry; check: boolean }[] = [];
    for (const row of rows) {
      for (const p of row.plans ?? []) {
        const key = row.key as Value[];
        const before = row.indexed ? indexEntry(row.table, p, row.indexed, key) : undefined;
        const after = row.data ? indexEntry(row.table, p, row.data, key) : undefined;
        if (before && after && before.key.equals(after.key)) continue;
        const check = p.unique && p.building && this.buildState(row.table, p.oid) !== 'failed';
        if (before) {
          st.ops.push([ix, before.key, undefined]);
          if (check) this.overlay(st, before, false);
        }
        if (after) adds.push({ row, p, e: after, check });
      }
      row.indexed = row.data;
    }
    for (const { row, p, e, check } of adds) {
      if (check && !e.hasNull && this.hasDuplicate(st, e)) this.failBuild(row.table, p, duplicateError(p, row.data ?? {}), st);
      st.ops.push([ix, e.key, e.value]);
      if (check) this.overlay(st, e, true);
    }
  }

  private overlay(st: Stage, e: IndexEntry, live: boolean): void {
    const pk = e.prefix.toString('latin1');
    let m = st.ixOverlay.get(pk);
    if (!m) st.ixOverlay.set(pk, (m = new Map()));
    m.set(e.key.toString('latin1'), live);
  }

  /** True when another live row than `e`'s has `e`'s values (committed entries, then this delivery's). */
  private hasDuplicate(st: Stage | undefined, e: IndexEntry): boolean {
    const own = e.key.toString('latin1');
    const ov = st?.ixOverlay.get(e.prefix.toString('latin1'));
    for (const k of this.store.indexRaw.getKeys({ start: e.prefix, end: prefixEnd(e.prefix) })) {
      const ks = k.toString('latin1');
      if (ks !== own && ov?.get(ks) !== false) return true;
    }
    if (ov) for (const [k, live] of ov) if (live && k !== own) return true;
    return false;
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
        info = this.o.catalog.byStorage(c.table);
        if (info || this.o.catalog.isDead(c.table)) st.info.set(c.table, info);
      }
      if (!info) {
        // A dropped or truncated table's changes still in flight: skipped (mergePart counts them).
        if (st.info.has(c.table)) continue;
        return `${changeWhere(part, i)}: unknown table "${c.table}" (catalog version ${this.o.catalog.version})`;
      }
      let check = this.validators.get(info);
      if (!check) this.validators.set(info, (check = compileValidator(info)));
      const why = check(c);
      if (why) return `${changeWhere(part, i)}: ${why}`;
    }
    return undefined;
  }

  /**
   * A row's staging record when a delivery first merges `version` into it (or again once the
   * chunk that last did is committed): its committed latest pointer, and for a table with
   * indexes the row of that version (what the index holds for it).
   */
  private loadLatestRow(st: Stage, lk: number, h: number, info: TableInfo, key: Value[], version: string): LatestRow {
    const s = this.store;
    const b = s.latestByRef.getBinaryFast(lk);
    const v = b === undefined ? null : decode<LatestValue>(b, 'latest');
    const plans = indexPlans(info);
    const row: LatestRow = {
      h,
      lk: -1,
      chunk: st.chunk,
      version: v ? v[2] : null,
      ts: v ? v[0] : 0,
      engine: v ? v[1] : '',
      dirty: false,
      merged: version,
      table: info.storage,
      key: undefined,
      plans: undefined,
      data: null,
      indexed: null,
    };
    if (plans.length > 0) {
      row.plans = plans;
      row.key = key;
      if (v) {
        const hv = IngestionStore.read<HistoryValue>(s.history, [s.keys.bytes(lk), v[0], v[2]]);
        row.data = hv && hv[0] !== 'delete' ? hv[4] : null;
        row.indexed = row.data;
      }
    }
    holdRow(st, s.keys, lk, row);
    return row;
  }

  /**
   * Merge one part's changes into the stage; one lsnlog entry and one bytime entry per table.
   * `bytes` is the part as encoded on the bus: when it is plain MessagePack (msgpack.ts), the
   * stored values reuse its `row` and `key` bytes instead of encoding the decoded values again.
   */
  private mergePart(st: Stage, part: TxnPart, bytes: Uint8Array | undefined, partSlices: Int32Array | undefined): void {
    const s = this.store;
    const keys = s.keys;
    const w = this.writer;
    const ts = part.commitTs;
    const engine = part.engine;
    const firstLsn = st.lsn + 1;
    const changes = part.changes;
    const slices = bytes && partSlices?.length === 4 * changes.length ? partSlices : undefined;
    /** Indexes of the applied changes (in apply order). */
    const applied: number[] = [];
    /** The table of every applied change, while there is just one. */
    let table: string | undefined;
    let tables = 0;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i] as Change;
      const info = st.info.get(c.table);
      if (!info) {
        st.skipped++;
        mSkippedDead.inc({ ingestion: this.o.id });
        continue;
      }
      const key = c.key;
      const lk = keys.rowKey(c.table, key);
      const h = keyHash(keys.buffer, keys.start(lk), keys.end(lk));
      let row = stagedRow(st, keys, lk, h);
      const hk = keys.historyKey(lk, ts, c.version);
      // Stored before (committed), or merged earlier in this delivery (not committed yet).
      if ((row !== undefined && wasMerged(row, c.version)) || s.historyByRef.doesExist(hk)) {
        mDuplicates.inc({ ingestion: this.o.id, kind: 'version' });
        continue;
      }
      if (!row) row = this.loadLatestRow(st, lk, h, info, key, c.version);
      else row.merged = typeof row.merged === 'string' ? [row.merged, c.version] : [...row.merged, c.version];
      if (row.chunk !== st.chunk) {
        // Merged into again: kept in this chunk's map, which outlives the earlier chunk's.
        row.chunk = st.chunk;
        holdRow(st, keys, lk, row);
      }
      const cur = row.version;
      let becomesLatest = true;
      let rejected = false;
      if (cur !== null && cur !== c.prev) {
        // Two engines wrote the row concurrently (DESIGN §4).
        const policy = info.options.conflict;
        if (policy === 'reject') {
          becomesLatest = false;
          rejected = true;
        } else {
          becomesLatest = compareLww(ts, engine, c.version, row.ts, row.engine, cur) > 0;
        }
        const detectedAt = this.now();
        const rec: ConflictInfo = {
          table: c.table,
          key,
          existing: { version: cur, engine: row.engine, commitTs: row.ts },
          incoming: { version: c.version, engine, commitTs: ts },
          winner: becomesLatest ? c.version : cur,
          policy,
          detectedAt,
        };
        st.ops.push([s.conflicts, [detectedAt, c.version], encode(rec)]);
        st.conflicts++;
        mConflicts.inc({ ingestion: this.o.id, table: c.table });
      }
      const lsn = ++st.lsn;
      const state = rejected ? 1 : becomesLatest ? 2 : 0;
      st.hk.push(hk);
      st.staged++;
      const rowStart = slices ? (slices[4 * i + 2] as number) : -1;
      if (rowStart >= 0) {
        // [op, prev, engine, lsn, row, state] (HistoryValue) around the row's bytes from the bus.
        const rowEnd = slices?.[4 * i + 3] as number;
        const prev = c.prev;
        w.begin(1 + strMax(c.op) + (prev === null ? 1 : strMax(prev)) + strMax(engine) + 9 + (rowEnd - rowStart) + 1);
        w.array(6);
        w.str(c.op);
        if (prev === null) w.nil();
        else w.str(prev);
        w.str(engine);
        w.number(lsn);
        w.raw(bytes as Uint8Array, rowStart, rowEnd);
        w.number(state);
        st.hv.push(w.end());
      } else {
        const hv: HistoryValue = [c.op, c.prev, engine, lsn, c.row, state];
        st.hv.push(encode(hv));
      }
      if (becomesLatest) {
        row.version = c.version;
        row.ts = ts;
        row.engine = engine;
        row.lk = lk;
        if (row.plans) row.data = c.op === 'delete' ? null : c.row;
        if (!row.dirty) {
          row.dirty = true;
          st.dirty.push(row);
        }
      }
      applied.push(i);
      if (c.table !== table) {
        table = c.table;
        tables++;
      }
      st.applied++;
    }
    if (applied.length === 0) return;
    // The lsnlog entry { ts, refs: [table, key, version, …] } and one bytime entry [key, version, …] per table.
    st.ops.push([s.lsnlog, firstLsn, this.lsnEntry(changes, applied, ts, bytes, slices)]);
    if (tables === 1) {
      st.ops.push([s.bytime, [table as string, ts, engine, part.partition, part.seq], this.bytimeEntry(changes, applied, bytes, slices)]);
    } else {
      const byTable = new Map<string, number[]>();
      for (const i of applied) {
        const t = (changes[i] as Change).table;
        let l = byTable.get(t);
        if (!l) byTable.set(t, (l = []));
        l.push(i);
      }
      for (const [t, l] of byTable)
        st.ops.push([s.bytime, [t, ts, engine, part.partition, part.seq], this.bytimeEntry(changes, l, bytes, slices)]);
    }
  }

  /** The {@link LsnEntry} of the `applied` changes (indexes into `changes`), with their key bytes from the bus when `slices` has them. */
  private lsnEntry(
    changes: Change[],
    applied: number[],
    ts: number,
    bytes: Uint8Array | undefined,
    slices: Int32Array | undefined,
  ): Buffer {
    if (!bytes || !slices) {
      const refs: LsnEntry['refs'] = [];
      for (const i of applied) {
        const c = changes[i] as Change;
        refs.push(c.table, c.key, c.version);
      }
      return encode({ ts, refs } satisfies LsnEntry);
    }
    const w = this.writer;
    let max = 3 + 3 + 9 + 5 + 5 + 5;
    for (const i of applied) {
      const c = changes[i] as Change;
      max += strMax(c.table) + ((slices[4 * i + 1] as number) - (slices[4 * i] as number)) + strMax(c.version);
    }
    w.begin(max);
    // As msgpackr writes the plain object { ts, refs }.
    w.map16(2);
    w.str('ts');
    w.number(ts);
    w.str('refs');
    w.array(3 * applied.length);
    for (const i of applied) {
      const c = changes[i] as Change;
      w.str(c.table);
      w.raw(bytes, slices[4 * i] as number, slices[4 * i + 1] as number);
      w.str(c.version);
    }
    return w.end();
  }

  /** The {@link BytimeValue} of the `applied` changes of one table (indexes into `changes`). */
  private bytimeEntry(changes: Change[], applied: number[], bytes: Uint8Array | undefined, slices: Int32Array | undefined): Buffer {
    if (!bytes || !slices) {
      const l: BytimeValue = [];
      for (const i of applied) {
        const c = changes[i] as Change;
        l.push(c.key, c.version);
      }
      return encode(l);
    }
    const w = this.writer;
    let max = 5;
    for (const i of applied) max += (slices[4 * i + 1] as number) - (slices[4 * i] as number) + strMax((changes[i] as Change).version);
    w.begin(max);
    w.array(2 * applied.length);
    for (const i of applied) {
      w.raw(bytes, slices[4 * i] as number, slices[4 * i + 1] as number);
      w.str((changes[i] as Change).version);
    }
    return w.end();
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
    if (this.o.catalog.isDead(table)) return null;
    return this.getRaw(toBufferKey(rowKey(table, key)));
  }

  /** {@link get} of the row whose encoded `latest` key is `lk`. */
  private getRaw(lk: Buffer): RowVersion | null {
    const lv = IngestionStore.read<LatestValue>(this.store.latest, lk);
    if (!lv) return null;
    const hv = IngestionStore.read<HistoryValue>(this.store.history, [lk, lv[0], lv[2]]);
    return hv ? { version: lv[2], commitTs: lv[0], row: hv[0] === 'delete' ? null : hv[4] } : null;
  }

  /** {@link get} (or {@link getAsOf} with `asOf`, ms) for each key, in order. */
  async getMany(table: string, keys: Value[][], asOf?: number): Promise<(RowVersion | null)[]> {
    const out: (RowVersion | null)[] = [];
    if (this.o.catalog.isDead(table)) return keys.map(() => null);
    for (const k of keys) {
      const lk = toBufferKey(rowKey(table, k));
      out.push(asOf === undefined ? this.getRaw(lk) : this.getAsOfRaw(lk, asOf));
    }
    return out;
  }

  /**
   * Newest version of a row with commitTs ≤ `asOf` (ms), from `history`; rejected versions are
   * skipped. Exact for `asOf` ≥ the GC horizon (older reads belong to OLAP).
   */
  getAsOf(table: string, key: Value[], asOf: number): RowVersion | null {
    return this.getAsOfRaw(toBufferKey(rowKey(table, key)), asOf);
  }

  /** {@link getAsOf} of the row whose encoded `latest` key is `prefix`. */
  private getAsOfRaw(prefix: Buffer, asOf: number): RowVersion | null {
    const group: Candidate[] = [];
    for (const { key: hk, value } of this.store.history.getRange({ start: [prefix, asOf, KEY_MAX], end: prefix, reverse: true })) {
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

  /**
   * Versions applied after `afterLsn` in apply order; examines at most `limit` LSNs (versions
   * removed by GC or rejected are skipped, and so are versions of a table in `skip` committed at
   * or before its time in ms, without reading them). See `IngestionApi.delta`.
   */
  async delta(
    afterLsn: number,
    limit: number,
    skip?: Readonly<Record<string, number>>,
  ): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
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
        const below = skip?.[table];
        if (below !== undefined && e.ts <= below) continue;
        const key = e.refs[3 * i + 1] as Value[];
        const version = e.refs[3 * i + 2] as string;
        const hv = IngestionStore.read<HistoryValue>(this.store.history, [toBufferKey(rowKey(table, key)), e.ts, version]);
        if (!hv || hv[5] === 1) continue;
        versions.push(toRecord(version, toStored(table, key, e.ts, hv)));
      }
    }
    return { versions, lastLsn: last, watermark: this.wm };
  }

  /** Status; beyond {@link IngestionStatus} it carries `gcHorizonMs` (see {@link Ingestion.gcHorizonMs}). */
  async status(): Promise<
    IngestionStatus & {
      gcHorizonMs: number;
      skippedDead: number;
      deadPending: string[];
      indexBuilds: { table: string; index: string; state: IndexBuildStatus['state'] }[];
    }
  > {
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
      skippedDead: this.skippedCount,
      deadPending: this.o.catalog.deadStorages().filter((d) => !this.cleaned.has(d)),
      indexBuilds: [...this.builds.values()].map((b) => ({ table: b.storage, index: b.name, state: b.state })),
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

  /** One push (push.ts); the unpushed counter loses what it held at the start once every table is complete. */
  private async push(): Promise<void> {
    const targets = this.o.olap() ?? [];
    if (targets.length === 0 || this.wm < 0) return;
    this.lastPushAt = this.now();
    // Versions merged while this push runs are not in it: only what was counted at its start is pushed.
    const counted = this.unpushed;
    const complete = await pushBelowWatermark({
      source: this.o.id,
      targets,
      watermark: this.wm,
      catalog: this.o.catalog,
      store: this.store,
      pushRows: this.o.pushRows,
      log: this.o.log,
    });
    if (complete) this.unpushed = Math.max(0, this.unpushed - counted);
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
      for (const id of shardsOfTable(info, ids)) cut = Math.min(cut, marks.get(id)?.[info.storage] ?? -1);
      if (cut > (this.gcCuts.get(info.storage) ?? -1)) cuts.set(info.storage, cut);
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
    const prefix = toBufferKey(rowKey(table, key));
    const lv = IngestionStore.read<LatestValue>(s.latest, prefix);
    const entries: { k: LmdbKey; c: Candidate }[] = [];
    for (const { key: hk, value } of s.history.getRange({ start: prefix, end: [prefix, cut, KEY_MAX] })) {
      const arr = hk as LmdbKey[];
      const c: Candidate = {
        ts: arr[arr.length - 2] as number,
        version: arr[arr.length - 1] as string,
        hv: decode<HistoryValue>(value, 'history value'),
      };
      // Re-encoded from the row's key, not the decoded one (which loses bigint precision).
      entries.push({ k: [prefix, c.ts, c.version], c });
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
          for (let i = 0; i < e.refs.length && all; i += 3) {
            const t = e.refs[i] as string;
            all = e.ts <= (this.gcCuts.get(t) ?? -1) || this.o.catalog.isDead(t);
          }
          if (!all) break;
          drop.push(key);
        }
        for (const k of drop) void s.lsnlog.remove(k);
      });
      if (!more) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  // ------------------------------------------------------------------ maintenance: dead storage, indexes

  /**
   * Schedule a maintenance round (after every catalog event, and at start): remove the data of
   * dead storage names, drop entries of indexes no longer defined, back-fill new indexes. Work
   * runs in small LMDB transactions, each exclusive with merges (`serial`), so merges go on in
   * between and never interleave with a chunk. A failed round is retried after a second.
   */
  private kickMaintenance(): void {
    if (this.stopped) return;
    this.maintWanted = true;
    if (this.maintRunning) return;
    this.maintRunning = (async () => {
      while (this.maintWanted && !this.stopped) {
        this.maintWanted = false;
        await this.maintain();
      }
    })().then(
      () => {
        this.maintRunning = undefined;
        // Wanted again between the loop's last check and now.
        if (this.maintWanted) this.kickMaintenance();
      },
      (e) => {
        this.maintRunning = undefined;
        this.o.log.warn({ err: (e as Error).message }, 'ingestion maintenance (dead tables, indexes) failed; retrying in 1 s');
        this.maintTimer = setTimeout(() => this.kickMaintenance(), 1000);
      },
    );
  }

  private async maintain(): Promise<void> {
    const cat = this.o.catalog;
    for (const storage of cat.deadStorages()) {
      if (this.stopped) return;
      if (!this.cleaned.has(storage)) await this.cleanStorage(storage);
    }
    // Index entries and build records of indexes (or tables) that are gone.
    const gone = new Set<string>();
    for (const [k, b] of this.builds) if (!this.indexDefined(b.storage, b.oid)) gone.add(k);
    for (const [storage, oid] of this.indexPrefixes()) if (!this.indexDefined(storage, oid)) gone.add(buildKey(storage, oid));
    for (const k of gone) {
      if (this.stopped) return;
      const [storage, oid] = splitBuildKey(k);
      await this.dropIndex(storage, oid);
    }
    for (const info of cat.list()) {
      for (const p of indexPlans(info)) {
        if (this.stopped) return;
        const k = buildKey(info.storage, p.oid);
        if (!this.builds.has(k)) {
          const b: Build = { storage: info.storage, oid: p.oid, name: p.name, state: 'building' };
          await this.store.meta.put(['ixb', info.storage, p.oid], encode(buildRecord(b)));
          this.builds.set(k, b);
        }
        if (this.builds.get(k)?.state === 'building') await this.backfill(info.storage, p);
      }
    }
  }

  private indexDefined(storage: string, oid: number): boolean {
    const info = this.o.catalog.byStorage(storage);
    return info !== undefined && indexPlans(info).some((p) => p.oid === oid);
  }

  /** The distinct (storage, index oid) pairs that have entries in the `index` db (one seek each). */
  private indexPrefixes(): [string, number][] {
    const out: [string, number][] = [];
    let start: Buffer | undefined;
    for (;;) {
      let next: [string, number] | undefined;
      for (const k of this.store.index.getKeys(start ? { start, limit: 1 } : { limit: 1 }))
        next = [(k as LmdbKey[])[0] as string, (k as LmdbKey[])[1] as number];
      if (!next) return out;
      out.push(next);
      start = prefixEnd(toBufferKey(next));
    }
  }

  /** Progress of this engine's build of index `oid` of `storage` (no record yet: building). */
  private buildState(storage: string, oid: number): Build['state'] {
    return this.builds.get(buildKey(storage, oid))?.state ?? 'building';
  }

  /**
   * Mark a build failed (persisted with the stage's writes, or inside the caller's LMDB
   * transaction when there is no stage).
   */
  private failBuild(storage: string, p: IndexPlan, error: NonNullable<BuildRecord['error']>, st?: Stage): void {
    const k = buildKey(storage, p.oid);
    if (this.builds.get(k)?.state === 'failed') return;
    const b: Build = { storage, oid: p.oid, name: p.name, state: 'failed', error };
    this.builds.set(k, b);
    const mk: LmdbKey[] = ['ixb', storage, p.oid];
    if (st) st.ops.push([this.store.meta, mk, encode(buildRecord(b))]);
    else void this.store.meta.put(mk, encode(buildRecord(b)));
    this.o.log.warn({ storage, index: p.name, error: error.message, detail: error.detail }, 'index build failed');
  }

  /**
   * Back-fill index `p` of `storage` from `latest`, {@link BACKFILL_CHUNK} rows per transaction,
   * from the stored cursor. Merges maintain the index meanwhile (they see it in the catalog), and
   * never run inside a chunk, so no row is missed or indexed at a stale version.
   */
  private async backfill(storage: string, p: IndexPlan): Promise<void> {
    const s = this.store;
    const k = buildKey(storage, p.oid);
    const base = toBufferKey([storage]);
    for (;;) {
      if (this.stopped) return;
      const done = await this.serial(async () => {
        const b = this.builds.get(k);
        const info = this.o.catalog.byStorage(storage);
        if (b?.state !== 'building' || !info || !indexPlans(info).some((x) => x.oid === p.oid)) return true;
        const pkFields = info.pkIndexes.map((i) => info.columns[i]?.field ?? info.columns[i]?.name ?? '');
        let next: Build = b;
        await s.root.transaction(() => {
          const start = b.cursor ? Buffer.concat([b.cursor, Buffer.from([0])]) : base;
          let n = 0;
          let last: Buffer | undefined;
          const entries: { e: IndexEntry; row: Row }[] = [];
          for (const { key, value } of s.latestRaw.getRange({ start, end: prefixEnd(base), limit: BACKFILL_CHUNK })) {
            n++;
            last = Buffer.from(key);
            const lv = decode<LatestValue>(value, 'latest');
            const hv = IngestionStore.read<HistoryValue>(s.history, [last, lv[0], lv[2]]);
            const row = hv && hv[0] !== 'delete' ? hv[4] : null;
            if (!row) continue;
            entries.push({
              e: indexEntry(
                storage,
                p,
                row,
                pkFields.map((f) => row[f] ?? null),
              ),
              row,
            });
          }
          for (const { e, row } of entries) {
            if (p.unique && !e.hasNull && this.hasDuplicate(undefined, e)) {
              next = { storage, oid: p.oid, name: p.name, state: 'failed', error: duplicateError(p, row) };
              void s.meta.put(['ixb', storage, p.oid], encode(buildRecord(next)));
              return;
            }
            void s.index.put(e.key, e.value);
          }
          next = n < BACKFILL_CHUNK || !last ? { storage, oid: p.oid, name: p.name, state: 'done' } : { ...b, cursor: last };
          void s.meta.put(['ixb', storage, p.oid], encode(buildRecord(next)));
        });
        if (this.builds.get(k) === b) this.builds.set(k, next);
        if (next.state === 'failed') {
          this.o.log.warn({ storage, index: p.name, error: next.error?.message, detail: next.error?.detail }, 'index build failed');
        }
        return next.state !== 'building';
      });
      if (done) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Remove every entry of index `oid` of `storage` and its build record. */
  private async dropIndex(storage: string, oid: number): Promise<void> {
    const prefix = toBufferKey([storage, oid]);
    await this.removePrefix(this.store.indexRaw, prefix);
    await this.store.meta.remove(['ixb', storage, oid]);
    this.builds.delete(buildKey(storage, oid));
  }

  /**
   * Remove every key starting with the encoded `prefix` from `db`, {@link CLEAN_CHUNK} keys per
   * transaction, each exclusive with merges. `onValue` sees each removed value first.
   */
  private async removePrefix(db: Database<Buffer, Buffer>, prefix: Buffer, onValue?: (v: Buffer) => void): Promise<void> {
    const end = prefixEnd(prefix);
    for (;;) {
      if (this.stopped) return;
      const more = await this.serial(() =>
        this.store.root.transaction(() => {
          const keys: Buffer[] = [];
          for (const { key, value } of db.getRange({ start: prefix, end, limit: CLEAN_CHUNK })) {
            keys.push(Buffer.from(key));
            onValue?.(value);
          }
          for (const k of keys) void db.remove(k);
          return keys.length === CLEAN_CHUNK;
        }),
      );
      if (!more) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Remove the data of a dead storage name (a dropped or truncated table): its history, latest,
   * bytime and index entries, the lsnlog entries that refer to nothing else, its GC cut and build
   * records. Changes of the name still in flight are skipped by the merge (validatePart).
   */
  private async cleanStorage(storage: string): Promise<void> {
    const s = this.store;
    const base = toBufferKey([storage]);
    let minLsn = Number.POSITIVE_INFINITY;
    let maxLsn = 0;
    await this.removePrefix(s.historyRaw, base, (v) => {
      const lsn = decode<HistoryValue>(v, 'history value')[3];
      if (lsn < minLsn) minLsn = lsn;
      if (lsn > maxLsn) maxLsn = lsn;
    });
    await this.removePrefix(s.latestRaw, base);
    await this.removePrefix(s.bytimeRaw, base);
    await this.removePrefix(s.indexRaw, base);
    if (maxLsn > 0) await this.cleanLsnlog(minLsn, maxLsn);
    if (this.stopped) return;
    await s.meta.remove(['gcCut', storage]);
    this.gcCuts.delete(storage);
    for (const [k, b] of this.builds) {
      if (b.storage !== storage) continue;
      await s.meta.remove(['ixb', storage, b.oid]);
      this.builds.delete(k);
    }
    await s.meta.put(['cleaned', storage], encode(true));
    this.cleaned.add(storage);
    this.o.log.info({ storage }, 'data of a dropped or truncated table removed');
  }

  /** Drop lsnlog entries in the LSN range [from, to] whose every version belongs to a dead storage name. */
  private async cleanLsnlog(from: number, to: number): Promise<void> {
    const s = this.store;
    let start = from;
    for (const { key } of s.lsnlog.getRange({ start: from, reverse: true, limit: 1 })) start = key as number;
    for (;;) {
      if (this.stopped) return;
      const next = await this.serial(() =>
        s.root.transaction(() => {
          const drop: LmdbKey[] = [];
          let seen = 0;
          let after: number | undefined;
          for (const { key, value } of s.lsnlog.getRange({ start, end: to + 1 })) {
            if (seen++ >= CLEAN_CHUNK) {
              after = key as number;
              break;
            }
            const e = decode<LsnEntry>(value, 'lsn log entry');
            let all = true;
            for (let i = 0; i < e.refs.length && all; i += 3) all = this.o.catalog.isDead(e.refs[i] as string);
            if (all) drop.push(key);
          }
          for (const k of drop) void s.lsnlog.remove(k);
          return after;
        }),
      );
      if (next === undefined) return;
      start = next;
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Progress of this engine's build of index `index` of table `table` (storage name), once the
   * catalog has reached `catalogVersion`. @throws SchemaError 42P01, 42704.
   */
  async indexStatus(table: string, index: string, catalogVersion = 0): Promise<IndexBuildStatus> {
    if (this.o.catalog.version < catalogVersion) await this.o.catalog.waitFor(catalogVersion, this.o.catalogTimeoutMs ?? 30_000);
    const info = this.o.catalog.byStorage(table);
    if (!info) {
      throw new SchemaError(
        SqlState.undefinedTable,
        `relation with storage name "${table}" does not exist (catalog version ${this.o.catalog.version})`,
      );
    }
    const p = indexPlans(info).find((x) => x.name === index);
    if (!p) throw new SchemaError(SqlState.undefinedObject, `index "${index}" of relation "${info.name}" does not exist`);
    const b = this.builds.get(buildKey(table, p.oid));
    if (!b) return { state: 'building' };
    return b.error ? { state: b.state, error: b.error } : { state: b.state };
  }

  /**
   * Live rows of `table` (storage name) by an index, range or scan source; see find.ts. One call
   * reads LMDB synchronously, so `signal` is looked at before it (callers page long scans).
   * @throws StratumError 57014 when `signal` has aborted.
   */
  async find(
    table: string,
    source: Exclude<RowSource, { by: 'key' } | { by: 'candidates' }>,
    opts: { asOf?: number; limit?: number; afterKey?: Value[] } = {},
    signal?: AbortSignal,
  ): Promise<RowVersion[]> {
    throwIfCanceled(signal);
    return findRows(this.findContext, table, source, opts ?? {});
  }

  /** Stop consuming and close LMDB (after the in-flight apply, push and GC chunk). */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.gcTimer) clearInterval(this.gcTimer);
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    if (this.maintTimer) clearTimeout(this.maintTimer);
    await this.sub?.stop();
    await this.maintRunning;
    await this.exclusive;
    await this.pushing;
    await this.gcRunning?.catch(() => {});
    await this.store.close();
  }
}

/** Rows back-filled into an index per LMDB transaction. */
const BACKFILL_CHUNK = 1000;
/** Keys removed per LMDB transaction when cleaning a dead table or a dropped index. */
const CLEAN_CHUNK = 2000;

/** An index build on this engine: its record plus identity. */
interface Build extends BuildRecord {
  storage: string;
  oid: number;
}

const buildKey = (storage: string, oid: number) => `${oid}\u0000${storage}`;

function splitBuildKey(k: string): [string, number] {
  const i = k.indexOf('\u0000');
  return [k.slice(i + 1), Number(k.slice(0, i))];
}

/** The persisted part of a build. */
function buildRecord(b: Build): BuildRecord {
  const r: BuildRecord = { name: b.name, state: b.state };
  if (b.cursor) r.cursor = b.cursor;
  if (b.error) r.error = b.error;
  return r;
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

/**
 * A checker of changes against one table: the key has one non-null value per storage-key column,
 * of its type; an insert/update row holds values of their columns' types (by field: `isValueOfType`
 * of types.ts) and the key's values in its key fields. Fields the table does not have are those of
 * dropped columns (fields are never reused) and are ignored; a column added later may be absent.
 * NOT NULL of other columns is the TX engine's to enforce: a row committed before ALTER … SET NOT
 * NULL may arrive after the catalog applied it, and must not be set aside. Returns why a change
 * does not fit.
 */
function compileValidator(info: TableInfo): (c: Change) => string | undefined {
  const pkCols = info.pkIndexes.map((i) => info.columns[i] as TableInfo['columns'][number]);
  const pkFields = pkCols.map((c) => c.field ?? c.name);
  const cols = new Map(info.columns.map((c) => [c.field ?? c.name, c]));
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
    for (const field in row) {
      const col = cols.get(field);
      if (!col) continue;
      const v = row[field] as Value;
      if (v !== null && !isValueOfType(v, col.type)) return `column "${col.name}" is ${typeof v} ${String(v)}, not a ${col.type}`;
    }
    for (let i = 0; i < pkCols.length; i++) {
      const f = pkFields[i] as string;
      if (!sameValue(row[f], key[i])) return `row's "${f}" (${String(row[f])}) differs from the key (${String(key[i])})`;
    }
    return undefined;
  };
}

/** Names change `i` of `part` in a dead letter's reason. */
function changeWhere(part: TxnPart, i: number): string {
  return `change ${i} (version ${String(part.changes[i]?.version)}) of ${part.engine}/${part.partition} seq ${part.seq}`;
}

/** Equality of stored values (byte strings and arrays by content). */
function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return false;
}
