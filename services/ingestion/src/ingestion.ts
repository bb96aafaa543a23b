/**
 * The ingestion engine (DESIGN §4): consumes its partitions of the change stream, applies
 * every change exactly once into the LMDB MVCC store, tracks closed timestamps and the
 * watermark, serves reads and the delta feed, and pushes versions below the watermark to
 * OLAP as Parquet.
 *
 * Exactly-once: the last applied seq per (engine, partition) and the bus position per
 * partition are written in the same LMDB transaction as the merged versions; parts at or
 * below the stored seq are skipped, and a version UUID already stored is skipped too.
 */
import {
  type BusBatch,
  type Catalog,
  type ChangeBus,
  CorruptionError,
  counter,
  type DeliveredMessage,
  decode,
  decodeBusBatch,
  gauge,
  type IngestionApi,
  type IngestionStatus,
  type Logger,
  type OlapShardApi,
  type RowVersion,
  type Subscription,
  type Value,
  type VersionRecord,
} from '@stratum/shared';
import type { Key as LmdbKey } from 'lmdb';
import { type ConflictRecord, IngestionStore, type StoredVersion } from './store.ts';

const EMPTY = Buffer.alloc(0);

const mApplied = counter('stratum_ingestion_applied_versions_total', 'Versions merged into LMDB', ['ingestion']);
const mDuplicates = counter('stratum_ingestion_duplicates_total', 'Parts or versions skipped as already applied', ['ingestion', 'kind']);
const mConflicts = counter('stratum_ingestion_conflicts_total', 'Concurrent writes of one row by two engines', ['ingestion', 'table']);
const mDead = counter('stratum_ingestion_dead_letters_total', 'Malformed messages set aside', ['ingestion']);
const mWatermark = gauge('stratum_ingestion_watermark_ms', 'Watermark: all versions with commitTs at or below it are merged', [
  'ingestion',
]);
const mPushed = counter('stratum_ingestion_pushed_versions_total', 'Versions pushed to OLAP', ['ingestion']);
const mGaps = counter('stratum_ingestion_sequence_gaps_total', 'Messages held back because an earlier seq is missing', ['ingestion']);

/** Options of the ingestion engine. */
export interface IngestionOptions {
  id: string;
  dir: string;
  partitions: number[];
  catalog: Catalog;
  bus: ChangeBus;
  /** OLAP shard to push to (resolved lazily so embedded wiring can be circular). */
  olap: () => OlapShardApi | undefined;
  pushIntervalMs: number;
  pushRows: number;
  log: Logger;
  catalogTimeoutMs?: number;
}

const pairKey = (engine: string, partition: number) => `${engine}/${partition}`;

/** The running ingestion engine. */
export class Ingestion implements IngestionApi {
  readonly store: IngestionStore;
  private lsn = 0;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly offsets = new Map<string, number>();
  private readonly closedTs = new Map<string, number>();
  private readonly engines = new Set<string>();
  private appliedCount = 0;
  private unpushed = 0;
  private pushTimer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> | undefined;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  private olapWatermarks = new Map<string, number>();
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: IngestionOptions) {
    this.store = new IngestionStore(o.dir);
  }

  /** Load state and start consuming. */
  async start(): Promise<void> {
    const s = this.store;
    this.lsn = IngestionStore.read<number>(s.meta, 'lsn') ?? 0;
    for (const { key, value } of s.offsets.getRange({})) {
      const [engine, partition] = key as [string, number];
      this.offsets.set(pairKey(engine, partition), decode<number>(value, 'offset'));
      this.engines.add(engine);
    }
    for (const { key, value } of s.closed.getRange({})) {
      const [engine, partition] = key as [string, number];
      this.closedTs.set(pairKey(engine, partition), decode<number>(value, 'closed timestamp'));
      this.engines.add(engine);
    }
    await this.subscribe();
    this.pushTimer = setInterval(() => void this.maybePush(false), Math.min(this.o.pushIntervalMs, 1000));
    this.lastPushAt = Date.now();
  }

  private lastPushAt = 0;

  private async subscribe(): Promise<void> {
    const after = new Map<number, number>();
    for (const p of this.o.partitions) {
      const pos = IngestionStore.read<number>(this.store.positions, p);
      if (pos !== undefined) after.set(p, pos);
    }
    this.sub = await this.o.bus.subscribe(
      { name: `ingestion-${this.o.id}`, partitions: this.o.partitions, after, maxBatch: 512 },
      (msgs) => {
        const job = this.applyMessages(msgs);
        this.applying = job.catch(() => {});
        return job;
      },
      (e) => this.onSubscriptionError(e),
    );
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

  /** Apply delivered messages in one LMDB transaction. Rejects on a seq gap (redelivery resolves it). */
  private async applyMessages(msgs: DeliveredMessage[]): Promise<void> {
    const decoded: { m: DeliveredMessage; b: BusBatch | null; reason?: string }[] = [];
    let needCatalog = 0;
    for (const m of msgs) {
      try {
        const b = decodeBusBatch(m.payload);
        needCatalog = Math.max(needCatalog, b.catalogVersion);
        decoded.push({ m, b });
      } catch (e) {
        decoded.push({ m, b: null, reason: (e as Error).message });
      }
    }
    if (this.o.catalog.version < needCatalog) await this.o.catalog.waitFor(needCatalog, this.o.catalogTimeoutMs ?? 30_000);
    const s = this.store;
    const positions = new Map<number, number>();
    // State changes are staged here and published to memory only after the LMDB commit,
    // so readers never see offsets or watermarks of data that is not durable yet.
    const offs = new Map<string, number>();
    const closed = new Map<string, number>();
    const engines = new Set<string>();
    let gap: Error | undefined;
    let applied = 0;
    // An asynchronous LMDB transaction: lmdb-js commits (and syncs) on its writer thread, so
    // a commit never blocks the event loop that the TX engine and router share in the embedded
    // form (a synchronous commit measured ~3 ms per bus message of blocking).
    await s.root.transaction(() => {
      for (const { m, b, reason } of decoded) {
        if (gap) break;
        if (!b) {
          IngestionStore.put(s.deadletters, [m.partition, m.position], { reason, msgId: m.msgId, payload: m.payload });
          mDead.inc({ ingestion: this.o.id });
          this.o.log.error(
            { partition: m.partition, position: m.position, msgId: m.msgId, reason },
            'dead-lettered malformed change batch',
          );
          positions.set(m.partition, m.position);
          continue;
        }
        const pk = pairKey(b.engine, b.partition);
        engines.add(b.engine);
        let seq = offs.get(pk) ?? this.offsets.get(pk) ?? 0;
        for (const part of b.parts) {
          if (part.seq <= seq) {
            mDuplicates.inc({ ingestion: this.o.id, kind: 'part' });
            continue;
          }
          if (part.seq !== seq + 1) {
            mGaps.inc({ ingestion: this.o.id });
            gap = new CorruptionError(`sequence gap on ${pk}: have ${seq}, got ${part.seq}; waiting for redelivery`);
            break;
          }
          for (const c of part.changes) applied += this.mergeChange({ ...c, commitTs: part.commitTs, engine: part.engine });
          seq = part.seq;
        }
        if (gap) break;
        offs.set(pk, seq);
        IngestionStore.put(s.offsets, [b.engine, b.partition], seq);
        if (b.heartbeat.seq <= seq) {
          const prev = closed.get(pk) ?? this.closedTs.get(pk) ?? -1;
          if (b.heartbeat.closedTs > prev) {
            closed.set(pk, b.heartbeat.closedTs);
            IngestionStore.put(s.closed, [b.engine, b.partition], b.heartbeat.closedTs);
          }
        }
        positions.set(m.partition, m.position);
      }
      for (const [p, pos] of positions) IngestionStore.put(s.positions, p, pos);
      IngestionStore.put(s.meta, 'lsn', this.lsn);
    });
    // Durable before anything is published or acknowledged to the bus (which may then trim).
    await s.root.flushed;
    for (const e of engines) this.engines.add(e);
    for (const [k, v] of offs) this.offsets.set(k, v);
    for (const [k, v] of closed) this.closedTs.set(k, v);
    for (const [p, pos] of positions) this.sub?.ack(p, pos);
    this.appliedCount += applied;
    this.unpushed += applied;
    mApplied.inc({ ingestion: this.o.id }, applied);
    mWatermark.set({ ingestion: this.o.id }, this.watermark());
    this.notifyWaiters();
    if (gap) throw gap;
  }

  /** Merge one change inside the open transaction. Returns 1 if stored, 0 if a duplicate. */
  private mergeChange(c: {
    table: string;
    key: Value[];
    op: StoredVersion['op'];
    version: string;
    prev: string | null;
    row: StoredVersion['row'];
    commitTs: number;
    engine: string;
  }): number {
    const s = this.store;
    if (s.versions.doesExist(c.version)) {
      mDuplicates.inc({ ingestion: this.o.id, kind: 'version' });
      return 0;
    }
    const lsn = ++this.lsn;
    const latestKey = [c.table, ...c.key] as LmdbKey[];
    const curVersion = IngestionStore.read<string>(s.latest, latestKey);
    let becomesLatest = true;
    let rejected = false;
    if ((curVersion ?? null) !== c.prev) {
      // Two engines wrote the row concurrently (DESIGN §4).
      const policy = this.o.catalog.find(c.table)?.options.conflict ?? 'lww';
      const cur = curVersion ? IngestionStore.read<StoredVersion>(s.versions, curVersion) : undefined;
      if (cur) {
        if (policy === 'reject') {
          becomesLatest = false;
          rejected = true;
        } else {
          becomesLatest = compareLww(c.commitTs, c.engine, c.version, cur.commitTs, cur.engine, curVersion!) > 0;
        }
        const rec: ConflictRecord = {
          table: c.table,
          key: c.key,
          existing: curVersion!,
          incoming: c.version,
          winner: becomesLatest ? c.version : curVersion!,
          policy,
          detectedAt: Date.now(),
        };
        IngestionStore.put(s.conflicts, [rec.detectedAt, c.version], rec);
        mConflicts.inc({ ingestion: this.o.id, table: c.table });
      }
    }
    const sv: StoredVersion = {
      table: c.table,
      key: c.key,
      op: c.op,
      prev: c.prev,
      commitTs: c.commitTs,
      engine: c.engine,
      row: c.row,
      lsn,
    };
    if (rejected) sv.rejected = true;
    IngestionStore.put(s.versions, c.version, sv);
    s.history.put([...latestKey, c.commitTs, c.version], EMPTY);
    if (!rejected) s.bytime.put([c.table, c.commitTs, c.version], EMPTY);
    IngestionStore.put(s.lsnlog, lsn, c.version);
    if (becomesLatest) IngestionStore.put(s.latest, latestKey, c.version);
    return 1;
  }

  /** Watermark: min closed timestamp over every (engine, partition) pair seen; -1 before any. */
  watermark(): number {
    if (this.engines.size === 0) return -1;
    let w = Number.POSITIVE_INFINITY;
    for (const e of this.engines) {
      for (const p of this.o.partitions) {
        const c = this.closedTs.get(pairKey(e, p));
        if (c === undefined) return -1;
        if (c < w) w = c;
      }
    }
    return Number.isFinite(w) ? w : -1;
  }

  private waiters: { ts: number; resolve: () => void }[] = [];

  private notifyWaiters(): void {
    if (this.waiters.length === 0) return;
    const w = this.watermark();
    this.waiters = this.waiters.filter((x) => {
      if (x.ts <= w) {
        x.resolve();
        return false;
      }
      return true;
    });
  }

  /** Resolve once the watermark is ≥ `ts` (ms); false after `timeoutMs`. */
  waitForWatermark(ts: number, timeoutMs: number): Promise<boolean> {
    if (this.watermark() >= ts) return Promise.resolve(true);
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

  async get(table: string, key: Value[]): Promise<RowVersion | null> {
    const v = IngestionStore.read<string>(this.store.latest, [table, ...key] as LmdbKey[]);
    if (!v) return null;
    const sv = IngestionStore.read<StoredVersion>(this.store.versions, v);
    return sv ? { version: v, commitTs: sv.commitTs, row: sv.op === 'delete' ? null : sv.row } : null;
  }

  async getMany(table: string, keys: Value[][], asOf?: number): Promise<(RowVersion | null)[]> {
    const out: (RowVersion | null)[] = [];
    for (const k of keys) out.push(asOf === undefined ? await this.get(table, k) : this.getAsOf(table, k, asOf));
    return out;
  }

  /** Newest version of a row with commitTs ≤ `asOf` (ms), from `history`; rejected versions are skipped. */
  getAsOf(table: string, key: Value[], asOf: number): RowVersion | null {
    const prefix = [table, ...key] as LmdbKey[];
    for (const { key: hk } of this.store.history.getRange({ start: [...prefix, asOf, '\uffff'], end: [...prefix, -1], reverse: true })) {
      const arr = hk as LmdbKey[];
      const version = arr[arr.length - 1] as string;
      const sv = IngestionStore.read<StoredVersion>(this.store.versions, version);
      if (!sv || sv.rejected) continue;
      return { version, commitTs: sv.commitTs, row: sv.op === 'delete' ? null : sv.row };
    }
    return null;
  }

  async delta(afterLsn: number, limit: number): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
    const versions: VersionRecord[] = [];
    let last = afterLsn;
    for (const { key, value } of this.store.lsnlog.getRange({ start: afterLsn + 1, limit })) {
      const version = decode<string>(value, 'lsn log entry');
      const sv = IngestionStore.read<StoredVersion>(this.store.versions, version);
      last = key as number;
      if (!sv || sv.rejected) continue;
      versions.push(toRecord(version, sv));
    }
    return { versions, lastLsn: last, watermark: this.watermark() };
  }

  async status(): Promise<IngestionStatus> {
    const closed: Record<string, number> = {};
    for (const [k, v] of this.closedTs) closed[k] = v;
    const offsets: Record<string, number> = {};
    for (const [k, v] of this.offsets) offsets[k] = v;
    return {
      watermark: this.watermark(),
      lsn: this.lsn,
      closed,
      offsets,
      applied: this.appliedCount,
      deadLetters: this.store.deadletters.getKeysCount(),
      conflicts: this.store.conflicts.getKeysCount(),
    };
  }

  /** Push versions below the watermark to OLAP when due (interval or row count), or when `force`. */
  async maybePush(force: boolean): Promise<void> {
    if (this.pushing) return this.pushing;
    const due = force || this.unpushed >= this.o.pushRows || Date.now() - this.lastPushAt >= this.o.pushIntervalMs;
    if (!due || this.unpushed === 0) return;
    this.pushing = this.push()
      .catch((e) => this.o.log.warn({ err: (e as Error).message }, 'OLAP push failed; will retry'))
      .finally(() => {
        this.pushing = undefined;
      });
    return this.pushing;
  }

  private async push(): Promise<void> {
    const olap = this.o.olap();
    if (!olap) return;
    const w = this.watermark();
    if (w < 0) return;
    const marks = await olap.watermarks();
    this.lastPushAt = Date.now();
    let pushedAll = true;
    for (const t of this.o.catalog.list()) {
      const from = marks[t.name] ?? -1;
      if (from >= w) continue;
      const versions: VersionRecord[] = [];
      let upTo = w;
      const limit = this.o.pushRows;
      for (const { key } of this.store.bytime.getRange({ start: [t.name, from + 1], end: [t.name, w, '\uffff'] })) {
        const [, ts, version] = key as [string, number, string];
        if (versions.length >= limit && ts !== versions[versions.length - 1]?.commitTs) {
          upTo = (versions[versions.length - 1]?.commitTs ?? from) as number;
          pushedAll = false;
          break;
        }
        const sv = IngestionStore.read<StoredVersion>(this.store.versions, version);
        if (sv) versions.push(toRecord(version, sv));
      }
      const r = await olap.push({ table: t.name, fromTs: from, toTs: upTo, versions });
      this.olapWatermarks.set(t.name, r.watermark);
      mPushed.inc({ ingestion: this.o.id }, versions.length);
    }
    if (pushedAll) this.unpushed = 0;
  }

  /** Stop consuming and close LMDB (after the in-flight apply). */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.pushTimer) clearInterval(this.pushTimer);
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    await this.sub?.stop();
    await this.applying;
    await this.pushing;
    await this.store.close();
  }
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
