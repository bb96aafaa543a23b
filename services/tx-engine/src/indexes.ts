/**
 * Secondary indexes of a TX engine in LevelDB (DESIGN §7: lookups by them are point reads):
 * `['i', storage, index oid, ...values, ...key]` → the key, one entry per live row the engine
 * holds, written in the same group commit as the row versions ({@link SecondaryIndexes.entryOps}).
 *
 * Builds while writes continue (PostgreSQL's CREATE INDEX CONCURRENTLY in spirit): from the
 * moment the engine applies the catalog event adding an index in state `building`, every group
 * commit maintains its entries; once the batches that may have started before are durable, the
 * rows LevelDB holds are back-filled through the group commit in chunks, each row re-read there,
 * so no write is missed and none is overwritten by an older entry. A unique index meeting a
 * live value twice fails with 23505 (`could not create unique index`). Dropped indexes and the
 * data of dead storage names (dropped or truncated tables) are deleted in the background; what
 * a restart finds is deleted at start.
 */
import {
  type Catalog,
  counter,
  type DdlEvent,
  encode,
  type IndexBuildStatus,
  type IndexDef,
  keyString,
  type Logger,
  type Row,
  SqlState,
  type TableInfo,
  type Value,
} from '@stratum/shared';
import type { LRUCache } from 'lru-cache';
import { type BatchOp, decodeTupleKey, indexDoneKey, prefixRange, type StoredRow, sortPart, TxStore } from './store.ts';
import { colOf, fullRow, keyOf, sameValue, valueText } from './values.ts';
import { indexEntries, isKeyIndex, type TableRows } from './view.ts';

const mGarbage = counter('stratum_tx_garbage_deleted_total', 'LevelDB entries of dropped tables and indexes deleted', ['engine']);

/**
 * Entries of an index build handed to the group commit at once: large enough that the build
 * costs a few dozen synced batches per 100k rows, small enough (~1 MB, a few tens of ms to
 * write) that the commits sharing its batch barely notice.
 */
const BACKFILL_CHUNK = 10_000;
/** Entries read per LevelDB step by the bulk passes of a build. */
const SCAN_STEP = 1000;

/** Secondary indexes of `t` that have entries in LevelDB (all but the storage key's). */
export function maintained(t: TableInfo): IndexDef[] {
  return (t.indexes ?? []).filter((ix) => !isKeyIndex(t, ix));
}

/** An index entry computed by a build from its snapshot. */
export interface BackfillEntry {
  /** {@link keyString} of the row's storage key. */
  ks: string;
  key: Buffer;
  /** The storage key, encoded (the entry's value). */
  value: Buffer;
}

/** Entries of an index build to write inside a group commit (see {@link SecondaryIndexes.backfillOps}). */
export interface BackfillChunk {
  storage: string;
  oid: number;
  entries: BackfillEntry[];
}

/** A new entry of a building unique index, checked for duplicates before its batch is written. */
export interface BuildEntry {
  t: TableInfo;
  ix: IndexDef;
  key: Value[];
  row: Row;
}

/** What the indexes need of their engine. */
export interface IndexHost {
  engineId: string;
  store: TxStore;
  catalog: Catalog;
  /** The engine's hot-row cache (latest committed versions by `storage\0keyString`). */
  cache: LRUCache<string, StoredRow>;
  log: Logger;
  /** Hand a back-fill chunk to the group commit; resolves once it is durable. */
  backfill(chunk: BackfillChunk): Promise<unknown>;
  /** Resolves once every group commit that may have started before the call is durable. */
  barrier(): Promise<void>;
  /** Background work the engine waits for at close. */
  spawn(work: Promise<void>): void;
  /** Commit timestamp of the last durable batch (ms). */
  lastTs(): number;
  closed(): boolean;
  /** Forget the recent keys of a dead storage name. */
  dropRecent(storage: string): void;
}

/** See the module comment. */
export class SecondaryIndexes {
  /** Builds by `storage\0oid`. */
  private readonly builds = new Map<string, IndexBuildStatus>();
  /**
   * Back-fills past their snapshot, by storage then index oid: the keys durable batches rewrote or
   * evicted since (see {@link noteWritten}).
   */
  private readonly running = new Map<string, Map<number, Set<string>>>();
  /** Maintained indexes per storage name as last seen (to notice new, dropped and dead ones). */
  private readonly tracked = new Map<string, Map<number, IndexDef>>();

  constructor(private readonly h: IndexHost) {}

  /** Whether lookups may use `ix` here: valid, or back-filled by this engine. */
  ready(storage: string, ix: IndexDef): boolean {
    return ix.state === 'valid' || this.builds.get(`${storage}\u0000${ix.oid}`)?.state === 'done';
  }

  /** Progress of index `ix` of `t` on this engine. */
  status(t: TableInfo, ix: IndexDef): IndexBuildStatus {
    if (isKeyIndex(t, ix)) return { state: 'done' };
    return this.builds.get(`${t.storage}\u0000${ix.oid}`) ?? (ix.state === 'valid' ? { state: 'done' } : { state: 'building' });
  }

  /** Entries (keys) of a row version being evicted. */
  entriesOf(t: TableInfo, row: Row | null, key: Value[]): Buffer[] {
    return indexEntries(t, row, key, maintained(t));
  }

  /**
   * Index entries of the batch's rows: for every key the batch writes, the entries of the row
   * LevelDB holds now are replaced by those of its new version (one diff per key, whatever
   * number of transactions of the batch wrote it). Runs after the batch's transactions, so it
   * uses the indexes the catalog has when the batch is written (see {@link startBuild}).
   */
  async entryOps(overlay: TableRows, ops: BatchOp[], uniqueNew: BuildEntry[]): Promise<void> {
    const olds = new Map<string, Map<string, StoredRow | undefined>>();
    // Read the rows being replaced, for every table with indexes (again if the catalog added one meanwhile).
    for (;;) {
      let read = false;
      for (const [storage, m] of overlay.byTable) {
        if (olds.has(storage)) continue;
        const t = this.h.catalog.byStorage(storage);
        if (!t || maintained(t).length === 0) continue;
        read = true;
        const byKey = new Map<string, StoredRow | undefined>();
        const miss: { ks: string; key: Value[] }[] = [];
        for (const [ks, e] of m) {
          const c = this.h.cache.get(`${storage}\u0000${ks}`);
          if (c) byKey.set(ks, c);
          else miss.push({ ks, key: e.key });
        }
        const got = await this.h.store.getRows(
          storage,
          miss.map((x) => x.key),
        );
        for (const [i, x] of miss.entries()) byKey.set(x.ks, got[i]);
        olds.set(storage, byKey);
      }
      if (!read) break;
    }
    for (const [storage, m] of overlay.byTable) {
      const t = this.h.catalog.byStorage(storage);
      const byKey = olds.get(storage);
      if (!t || !byKey) continue;
      const ixs = maintained(t);
      for (const [ks, e] of m) {
        const before = indexEntries(t, byKey.get(ks)?.row ?? null, e.key, ixs);
        const after = indexEntries(t, e.s.row, e.key, ixs);
        const keep = new Set(after.map((b) => b.toString('latin1')));
        const had = new Set(before.map((b) => b.toString('latin1')));
        for (const b of before) if (!keep.has(b.toString('latin1'))) ops.push({ type: 'del', key: b });
        const value = encode(e.key);
        after.forEach((b, i) => {
          if (had.has(b.toString('latin1'))) return;
          ops.push({ type: 'put', key: b, value });
          const ix = ixs[i]!;
          if (ix.unique && ix.state === 'building' && e.s.row) uniqueNew.push({ t, ix, key: e.key, row: e.s.row });
        });
      }
    }
  }

  onCatalog(ev: DdlEvent): void {
    // The catalog outlives a closed engine (a restart in the same process opens a new one).
    if (this.h.closed()) return;
    if (ev.kind === 'create_table' || ev.kind === 'replace_table' || ev.kind === 'drop_table' || ev.kind === 'batch') this.sync();
  }

  /**
   * Compare the catalog's tables with what the engine last saw: start building new indexes
   * (state `building`), delete the entries of dropped indexes and the rows of dead storages.
   */
  sync(): void {
    const { catalog } = this.h;
    for (const storage of [...this.tracked.keys()]) {
      if (catalog.byStorage(storage)) continue;
      this.tracked.delete(storage);
      if (catalog.isDead(storage)) this.h.spawn(this.dropStorage(storage));
    }
    for (const t of catalog.list()) {
      const before = this.tracked.get(t.storage);
      const now = new Map(maintained(t).map((ix) => [ix.oid ?? 0, ix]));
      for (const oid of before?.keys() ?? []) if (!now.has(oid)) this.h.spawn(this.dropIndex(t.storage, oid));
      for (const [oid, ix] of now) if (!before?.has(oid) && ix.state === 'building') this.startBuild(t, ix);
      this.tracked.set(t.storage, now);
    }
  }

  /**
   * Build index `ix` of `t` here while writes continue: from the moment the catalog event applied,
   * every group commit maintains its entries ({@link entryOps}). Once the batches that may have
   * started before are durable, the build takes a LevelDB snapshot and computes the entries of
   * the rows in it outside the group commit; the group commit writes them
   * {@link BACKFILL_CHUNK} at a time, leaving out the keys a batch rewrote or evicted since the
   * snapshot ({@link noteWritten}: those batches wrote their own entries, and a row's snapshot
   * entry would be stale), so no row is read again and no write is overwritten by an older entry.
   * A unique index that meets a duplicate value fails (23505, as CREATE UNIQUE INDEX). A restart
   * before the build is recorded done builds again from the start.
   */
  private startBuild(t: TableInfo, ix: IndexDef): void {
    const id = `${t.storage}\u0000${ix.oid}`;
    if (this.builds.has(id)) return;
    this.builds.set(id, { state: 'building' });
    const storage = t.storage;
    const oid = ix.oid ?? 0;
    this.h.spawn(
      (async () => {
        if ((await this.h.store.db.get(indexDoneKey(storage, oid))) !== undefined) {
          this.builds.set(id, { state: 'done' });
          return;
        }
        await this.h.barrier();
        if (this.builds.get(id)?.state !== 'building') return;
        // From here on every durable batch maintains the index: record what they rewrite, then
        // take the snapshot (synchronously, so no batch lands in between).
        const rewritten = new Set<string>();
        let byOid = this.running.get(storage);
        if (!byOid) this.running.set(storage, (byOid = new Map()));
        byOid.set(oid, rewritten);
        const snapshot = this.h.store.db.snapshot();
        try {
          await this.backfill(id, storage, oid, snapshot);
        } finally {
          byOid.delete(oid);
          if (byOid.size === 0 && this.running.get(storage) === byOid) this.running.delete(storage);
          await snapshot.close();
        }
        if (ix.unique && this.builds.get(id)?.state === 'building') await this.scanDuplicates(storage, oid);
        if (this.builds.get(id)?.state !== 'building') return;
        await this.h.store.db.put(indexDoneKey(storage, oid), encode(this.h.lastTs()), { sync: true });
        this.builds.set(id, { state: 'done' });
        this.h.log.info({ table: t.name, index: ix.name }, 'index built');
      })(),
    );
  }

  /**
   * Compute the entries of index `oid` for the rows of `snapshot` and hand them to the group
   * commit in chunks; the next chunk is computed while the previous one is being written.
   */
  private async backfill(id: string, storage: string, oid: number, snapshot: ReturnType<TxStore['db']['snapshot']>): Promise<void> {
    let entries: BackfillEntry[] = [];
    let inFlight: Promise<unknown> | undefined;
    const flush = async () => {
      await inFlight;
      inFlight = undefined;
      if (entries.length > 0) {
        const p = this.h.backfill({ storage, oid, entries });
        // Awaited at the next flush; until then a rejection (engine closing) must not count as unhandled.
        p.catch(() => {});
        inFlight = p;
      }
      entries = [];
    };
    for await (const got of this.h.store.entryChunks(prefixRange(['r', storage]), SCAN_STEP, snapshot)) {
      if (this.builds.get(id)?.state !== 'building') break;
      const t = this.h.catalog.byStorage(storage);
      const ix = t?.indexes?.find((i) => i.oid === oid);
      if (!t || !ix) break;
      for (const [, v] of got) {
        const s = TxStore.decodeRow(v);
        if (!s.row) continue;
        const key = keyOf(t, s.row);
        const [entry] = indexEntries(t, s.row, key, [ix]);
        if (entry) entries.push({ ks: keyString(key), key: entry, value: encode(key) });
      }
      if (entries.length >= BACKFILL_CHUNK) await flush();
    }
    await flush();
    await inFlight;
  }

  /**
   * Puts of a back-fill chunk, inside a group commit: every entry but those of rows rewritten or
   * evicted since the build's snapshot, by an earlier batch ({@link noteWritten}) or by this one
   * (`overlay`, `evicted`: its own entry ops come later in the batch and win). Returns how many.
   */
  backfillOps(b: BackfillChunk, overlay: TableRows, evicted: ReadonlySet<string>, ops: BatchOp[]): number {
    const t = this.h.catalog.byStorage(b.storage);
    const rewritten = this.running.get(b.storage)?.get(b.oid);
    if (!t?.indexes?.some((i) => i.oid === b.oid) || !rewritten) return 0;
    let n = 0;
    for (const e of b.entries) {
      if (rewritten.has(e.ks) || overlay.get(b.storage, e.ks) || evicted.has(`${b.storage}\u0000${e.ks}`)) continue;
      ops.push({ type: 'put', key: e.key, value: e.value });
      n++;
    }
    return n;
  }

  /**
   * A durable batch rewrote or evicted key `ks` of `storage`: running back-fills of its indexes
   * leave it out from now on (the batch maintained its entries).
   */
  noteWritten(storage: string, ks: string): void {
    const byOid = this.running.get(storage);
    if (byOid) for (const s of byOid.values()) s.add(ks);
  }

  /**
   * After the back-fill of a unique index: one pass over its entries in index order, where equal
   * values are neighbours (rows written during the pass are checked by {@link checkDuplicates}
   * as they commit). A duplicate fails the build.
   */
  private async scanDuplicates(storage: string, oid: number): Promise<void> {
    const t = this.h.catalog.byStorage(storage);
    const ix = t?.indexes?.find((i) => i.oid === oid);
    if (!t || !ix) return;
    const n = ix.columns.length;
    const types = ix.columns.map((f) => colOf(t, f).type);
    let prev: { sorts: string; entry: Buffer } | undefined;
    for await (const got of this.h.store.entryChunks(prefixRange(['i', storage, oid]), SCAN_STEP)) {
      for (const [k, v] of got) {
        const parts = decodeTupleKey(k).slice(3, 3 + n) as Value[];
        if (parts.some((x) => x === null)) {
          prev = undefined;
          continue;
        }
        const sorts = keyString(parts);
        if (prev && prev.sorts === sorts) {
          // Equal sort values; the stored values decide (numeric sorts as a double).
          const [a, b] = await this.h.store.getRows(storage, [TxStore.decodeKey(prev.entry), TxStore.decodeKey(v)]);
          if (a?.row && b?.row) {
            const va = ix.columns.map((f) => fullRow(t, a.row!)[f] ?? null);
            const vb = ix.columns.map((f) => fullRow(t, b.row!)[f] ?? null);
            if (va.every((x, i) => sameValue(x, vb[i] ?? null, types[i]!))) {
              this.fail(t, ix, va);
              return;
            }
          }
        }
        prev = { sorts, entry: v };
      }
    }
  }

  /** Mark the build of unique index `ix` failed on a duplicate of `vals` (PostgreSQL's CREATE UNIQUE INDEX error). */
  private fail(t: TableInfo, ix: IndexDef, vals: Value[]): void {
    const detail = `Key (${ix.columns.map((f) => colOf(t, f).name).join(', ')})=(${vals.map((v, i) => valueTextOf(t, ix.columns[i]!, v)).join(', ')}) is duplicated.`;
    this.builds.set(`${t.storage}\u0000${ix.oid}`, {
      state: 'failed',
      error: { code: SqlState.uniqueViolation, message: `could not create unique index "${ix.name}"`, detail },
    });
    this.h.log.warn({ table: t.name, index: ix.name, detail }, 'unique index build failed: duplicate value');
  }

  /**
   * Duplicate values among the entries of building unique indexes a group commit writes (and
   * against the entries already stored): the build fails with 23505, as PostgreSQL's CREATE
   * UNIQUE INDEX does.
   */
  async checkDuplicates(entries: BuildEntry[], overlay: TableRows): Promise<void> {
    const inBatch = new Map<string, Value[]>();
    for (const e of entries) {
      const id = `${e.t.storage}\u0000${e.ix.oid}`;
      if (this.builds.get(id)?.state === 'failed') continue;
      const vals = e.ix.columns.map((f) => fullRow(e.t, e.row)[f] ?? null);
      if (vals.some((v) => v === null)) continue;
      const types = e.ix.columns.map((f) => colOf(e.t, f).type);
      const same = (row: Row | null) =>
        !!row && e.ix.columns.every((f, i) => sameValue(fullRow(e.t, row)[f] ?? null, vals[i] ?? null, types[i]!));
      const vk = `${id}\u0000${keyString(vals)}`;
      const other = inBatch.get(vk);
      let dup = other !== undefined && keyString(other) !== keyString(e.key);
      if (!dup) {
        inBatch.set(vk, e.key);
        const sorts = vals.map((v, i) => sortPart(v, types[i]!));
        for await (const [, v] of this.h.store.entries(prefixRange(['i', e.t.storage, e.ix.oid ?? 0, ...sorts]))) {
          const k = TxStore.decodeKey(v);
          if (keyString(k) === keyString(e.key)) continue;
          // The entry may be stale for this batch (the row changed) or lossy (numeric): check the row.
          const s = overlay.get(e.t.storage, keyString(k)) ?? (await this.h.store.getRow(e.t.storage, k));
          if (s && same(s.row)) {
            dup = true;
            break;
          }
        }
      }
      if (dup) this.fail(e.t, e.ix, vals);
    }
  }

  /** Delete the entries of a dropped index (after the batches that may still maintain it). */
  private async dropIndex(storage: string, oid: number): Promise<void> {
    this.builds.delete(`${storage}\u0000${oid}`);
    await this.h.barrier();
    const n = await this.h.store.deleteRange(prefixRange(['i', storage, oid]));
    await this.h.store.db.del(indexDoneKey(storage, oid));
    if (n > 0) mGarbage.inc({ engine: this.h.engineId }, n);
  }

  /**
   * Delete the rows and index entries of a dropped or truncated table's storage. Writes to it are
   * refused from the catalog event on; outbox entries already written still go out (ingestion
   * ignores them).
   */
  private async dropStorage(storage: string): Promise<void> {
    for (const id of [...this.builds.keys()]) if (id.startsWith(`${storage}\u0000`)) this.builds.delete(id);
    await this.h.barrier();
    this.h.dropRecent(storage);
    let n = await this.h.store.deleteRange(prefixRange(['r', storage]));
    n += await this.h.store.deleteRange(prefixRange(['i', storage]));
    await this.h.store.deleteRange(prefixRange(['m', 'ixdone', storage]));
    for (const k of [...this.h.cache.keys()]) if (k.startsWith(`${storage}\u0000`)) this.h.cache.delete(k);
    if (n > 0) mGarbage.inc({ engine: this.h.engineId }, n);
    this.h.log.info({ storage, deleted: n }, 'deleted the data of a dropped or truncated table');
  }

  /**
   * After a restart: delete what the engine missed while it was down — the data of storages the
   * catalog now says are dead, and entries of indexes no table has any more.
   */
  async collectGarbageAtStart(): Promise<void> {
    const { catalog } = this.h;
    for (const storage of catalog.deadStorages()) {
      const r = prefixRange(['r', storage]);
      const i = prefixRange(['i', storage]);
      if ((await this.h.store.any(r)) || (await this.h.store.any(i))) await this.dropStorage(storage);
    }
    // Index entries: one seek per (storage, oid) present.
    let maxOid = 0;
    for (const t of catalog.list()) for (const x of [t.oid, ...(t.indexes ?? []).map((ix) => ix.oid ?? 0)]) maxOid = Math.max(maxOid, x);
    let from = prefixRange(['i']).gte;
    const end = prefixRange(['i']).lt;
    for (;;) {
      let next: Buffer | undefined;
      for await (const k of this.h.store.db.keys({ gte: from, lt: end, limit: 1 })) next = k;
      if (!next) break;
      const parts = decodeTupleKey(next);
      const storage = String(parts[1]);
      const oid = Number(parts[2]);
      from = prefixRange(['i', storage, oid]).lt;
      const t = catalog.byStorage(storage);
      if (t ? !this.tracked.get(storage)?.has(oid) && oid <= maxOid : catalog.isDead(storage)) await this.dropIndex(storage, oid);
    }
  }
}

function valueTextOf(t: TableInfo, field: string, v: Value): string {
  return valueText(v, colOf(t, field));
}
