/**
 * A view of a table's rows as one statement or commit check sees them (DESIGN §7: "a predicate
 * write finds its rows where they live"): uncommitted layers (the transaction's own writes, the
 * group commit's earlier transactions), then this engine's LevelDB rows and secondary-index
 * entries (latest, or a transaction's snapshot), then ingestion for rows the engine does not
 * hold (evicted, or written by other engines). The first layer that holds a key decides its
 * version, so a tombstone here hides ingestion's older live version.
 *
 * Lookups by index, range and scan gather candidate keys from every layer and re-check the
 * source's predicate on the version that wins: index entries may be lossy (numeric as double)
 * or stale relative to a layer, and ingestion's may be older than this engine's rows.
 */
import {
  compareValues,
  decode,
  type IndexDef,
  type IngestionApi,
  keyString,
  type Row,
  type RowSource,
  type RowVersion,
  readField,
  SchemaError,
  SqlState,
  type SqlType,
  type TableInfo,
  throwIfCanceled,
  type Value,
} from '@stratum/shared';
import type { LRUCache } from 'lru-cache';
import {
  decodeTupleKey,
  indexKey,
  keyPart,
  orderable,
  prefixRange,
  rowKey,
  type StoredRow,
  sortPart,
  type TxStore,
  tupleRange,
} from './store.ts';
import { colOf, keyOf, sameValue } from './values.ts';

/** A field's value in a stored row (the column's missing value for rows stored before it existed). */
function fieldValue(t: TableInfo, row: Row, f: string): Value {
  return readField(row, colOf(t, f));
}

/** A row version as a statement sees it. */
export interface Current {
  version: string;
  /** Commit timestamp (ms); `Number.MAX_SAFE_INTEGER` for the transaction's own uncommitted writes. */
  ts: number;
  /** null = deleted. */
  row: Row | null;
  /** Read from ingestion (this engine does not hold the row). */
  remote?: boolean;
}

/** A live row found by a source. */
export interface Found {
  key: Value[];
  cur: Current;
}

/** Sources a view finds by predicate (a `key` source is a {@link View.getMany}). */
export type FindSource = Exclude<RowSource, { by: 'key' }>;

/** Uncommitted row versions above LevelDB: a transaction's writes, or the group commit's. */
export interface Layer {
  get(storage: string, kstr: string): StoredRow | undefined;
  /** Every row of the table this layer holds. */
  rows(storage: string): Iterable<{ key: Value[]; s: StoredRow }>;
}

/** Row versions by storage name, then by {@link keyString} of the key. */
export class TableRows implements Layer {
  readonly byTable = new Map<string, Map<string, { key: Value[]; s: StoredRow }>>();
  get(storage: string, kstr: string): StoredRow | undefined {
    return this.byTable.get(storage)?.get(kstr)?.s;
  }
  *rows(storage: string): Iterable<{ key: Value[]; s: StoredRow }> {
    const m = this.byTable.get(storage);
    if (m) yield* m.values();
  }
  set(storage: string, key: Value[], s: StoredRow): void {
    let m = this.byTable.get(storage);
    if (!m) this.byTable.set(storage, (m = new Map()));
    m.set(keyString(key), { key, s });
  }
  /** Every entry, with its storage name and key string. */
  *all(): Iterable<{ storage: string; ks: string; key: Value[]; s: StoredRow }> {
    for (const [storage, m] of this.byTable) for (const [ks, e] of m) yield { storage, ks, key: e.key, s: e.s };
  }
  get size(): number {
    let n = 0;
    for (const m of this.byTable.values()) n += m.size;
    return n;
  }
}

/** What a view reads below its layers. */
export interface ViewDeps {
  store: TxStore;
  /** Hot-row cache of the latest committed versions, by `storage\0keyString`. */
  cache: LRUCache<string, StoredRow>;
  ingestion: IngestionApi | undefined;
  /** Whether ingestion may hold a row of `storage` this engine lacks (else it is not asked; Engine.mayBeRemote). */
  mayBeRemote(storage: string): boolean;
  /** Keys of `storage` this engine committed after `afterTs` (ms), tombstones included. */
  recentKeys(t: TableInfo, afterTs: number): Promise<Value[][]>;
  /** A version read from another engine (hybrid-logical-clock receive rule). */
  raiseFloor(ts: number): void;
  /** Whether index `oid` of `storage` has every entry here (valid, or back-filled). */
  indexReady(storage: string, ix: IndexDef): boolean;
}

/** Options of a view. */
export interface ViewOptions {
  layers: Layer[];
  /** Read LevelDB at this snapshot (a transaction's), with `asOf` its commit timestamp. */
  snapshot?: ReturnType<TxStore['db']['snapshot']>;
  /** Ingestion versions as of this time (ms); the hot-row cache only for versions older than it. */
  asOf?: number;
  /**
   * The statement's cancel signal: finds stop between scanned entries and ingestion pages and
   * throw its reason (57014, shared/src/abort.ts).
   */
  signal?: AbortSignal;
  /** Told about every committed version resolved (causality and read-set checks). */
  onRead?: (t: TableInfo, key: Value[], cur: Current | null) => void;
  /** Committed versions already read (a group commit's prefetch), by {@link cacheKey}; null = absent. */
  known?: Map<string, Current | null>;
  /**
   * Other engines write too: read ingestion's version of rows held here as well and take the
   * newer (commit ts, then version), as point reads do (reads outside transactions only).
   */
  newest?: boolean;
}

/** Cache key of a row. */
export function cacheKey(storage: string, key: readonly Value[]): string {
  return `${storage}\u0000${keyString(key)}`;
}

const sortPartOf = (t: TableInfo, field: string, v: Value): Value => sortPart(v, colOf(t, field).type);

/** True when index `ix` is exactly the table's storage key (a primary key's index). */
export function isKeyIndex(t: TableInfo, ix: IndexDef): boolean {
  return ix.columns.length === t.primaryKey.length && ix.columns.every((c, i) => c === t.primaryKey[i]);
}

/** The index named `name` of `t`. @throws SchemaError 42704. */
export function indexNamed(t: TableInfo, name: string): IndexDef {
  const ix = t.indexes?.find((i) => i.name === name);
  if (!ix) throw new SchemaError(SqlState.undefinedObject, `index "${name}" of relation "${t.name}" does not exist`);
  return ix;
}

/** Whether a row matches a find source's own predicate (index equality, range bounds). */
export function matchesSource(t: TableInfo, source: FindSource, row: Row): boolean {
  if (source.by === 'index') {
    const ix = indexNamed(t, source.index);
    return source.eq.every((v, i) => {
      const f = ix.columns[i]!;
      return sameValue(fieldValue(t, row, f), v, colOf(t, f).type);
    });
  }
  if (source.by === 'range') {
    const f = source.index === undefined ? t.primaryKey[0]! : indexNamed(t, source.index).columns[0]!;
    const type = colOf(t, f).type;
    const v = fieldValue(t, row, f);
    if (v === null) return false;
    if (source.lo) {
      if (source.lo.v === null) return false; // a comparison with NULL matches nothing
      const c = compareValues(v, source.lo.v, type);
      if (c < 0 || (c === 0 && !source.lo.incl)) return false;
    }
    if (source.hi) {
      if (source.hi.v === null) return false;
      const c = compareValues(v, source.hi.v, type);
      if (c > 0 || (c === 0 && !source.hi.incl)) return false;
    }
    return true;
  }
  return true;
}

/** A view; see the module comment. */
export class View {
  constructor(
    private readonly deps: ViewDeps,
    readonly o: ViewOptions,
  ) {}

  /** Versions of `keys` (null = never existed anywhere this view looks). */
  getMany(t: TableInfo, keys: Value[][]): Promise<(Current | null)[]> {
    return this.resolve(t, keys, undefined);
  }

  /**
   * Versions of `keys`, where `hints` already holds what LevelDB (`local`) or ingestion
   * (`remote`) said for some of them (from a scan), so they are not read again.
   */
  private async resolve(
    t: TableInfo,
    keys: Value[][],
    hints: Map<string, { local?: StoredRow; remote?: RowVersion }> | undefined,
  ): Promise<(Current | null)[]> {
    const storage = t.storage;
    const { snapshot, asOf, layers } = this.o;
    const out: (Current | null)[] = new Array(keys.length).fill(null);
    const fromLayer = new Array<boolean>(keys.length).fill(false);
    const miss: number[] = [];
    keys.forEach((k, i) => {
      const ks = keyString(k);
      for (const l of layers) {
        const s = l.get(storage, ks);
        if (s) {
          out[i] = { version: s.v, ts: s.ts, row: s.row };
          fromLayer[i] = true;
          return;
        }
      }
      const ck = `${storage}\u0000${ks}`;
      if (this.o.known?.has(ck)) {
        out[i] = this.o.known.get(ck) ?? null;
        return;
      }
      const h = hints?.get(ks);
      if (h?.local) {
        out[i] = { version: h.local.v, ts: h.local.ts, row: h.local.row };
        return;
      }
      const c = this.deps.cache.get(ck);
      if (c && (asOf === undefined || c.ts < asOf)) out[i] = { version: c.v, ts: c.ts, row: c.row };
      else miss.push(i);
    });
    if (miss.length > 0) {
      const stored = await this.deps.store.getRows(
        storage,
        miss.map((i) => keys[i]!),
        snapshot,
      );
      const still: number[] = [];
      const fetch: number[] = [];
      miss.forEach((i, j) => {
        const s = stored[j];
        if (s) out[i] = { version: s.v, ts: s.ts, row: s.row };
        else {
          still.push(i);
          const h = hints?.get(keyString(keys[i]!));
          if (h?.remote) out[i] = { version: h.remote.version, ts: h.remote.commitTs, row: h.remote.row, remote: true };
          else fetch.push(i);
        }
      });
      if (fetch.length > 0 && this.deps.ingestion && this.deps.mayBeRemote(storage)) {
        const ks = fetch.map((i) => keys[i]!);
        const remote =
          asOf === undefined ? await this.deps.ingestion.getMany(storage, ks) : await this.deps.ingestion.getMany(storage, ks, asOf);
        fetch.forEach((i, j) => {
          const r = remote[j];
          if (r) out[i] = { version: r.version, ts: r.commitTs, row: r.row, remote: true };
        });
      }
      let maxTs = 0;
      for (const i of still) {
        const c = out[i];
        if (c && c.ts > maxTs) maxTs = c.ts;
      }
      // Hybrid-logical-clock receive rule: a version written by another engine (whose clock may
      // run ahead of ours) raises our floor, so whatever we write after reading it commits later
      // than it. Commit order then follows causality within a key, and ingestion's AS OF and
      // OLAP's latest-version views (which order versions by commit time) agree with `latest`.
      if (maxTs > 0) this.deps.raiseFloor(maxTs);
    }
    if (this.o.newest && this.deps.ingestion) await this.newer(t, keys, out, fromLayer, hints);
    const onRead = this.o.onRead;
    if (onRead) for (const [i, k] of keys.entries()) if (!fromLayer[i]) onRead(t, k, out[i] ?? null);
    return out;
  }

  /** Replace versions held here by ingestion's where ingestion's is newer (see {@link ViewOptions.newest}). */
  private async newer(
    t: TableInfo,
    keys: Value[][],
    out: (Current | null)[],
    fromLayer: boolean[],
    hints: Map<string, { local?: StoredRow; remote?: RowVersion }> | undefined,
  ): Promise<void> {
    const ask: number[] = [];
    keys.forEach((k, i) => {
      const c = out[i];
      if (fromLayer[i] || !c || c.remote) return;
      const r = hints?.get(keyString(k))?.remote;
      if (r) {
        if (r.commitTs > c.ts || (r.commitTs === c.ts && r.version > c.version))
          out[i] = { version: r.version, ts: r.commitTs, row: r.row, remote: true };
      } else ask.push(i);
    });
    if (ask.length === 0) return;
    const remote = await this.deps.ingestion!.getMany(
      t.storage,
      ask.map((i) => keys[i]!),
    );
    ask.forEach((i, j) => {
      const r = remote[j];
      const c = out[i]!;
      if (r && (r.commitTs > c.ts || (r.commitTs === c.ts && r.version > c.version)))
        out[i] = { version: r.version, ts: r.commitTs, row: r.row, remote: true };
    });
  }

  /**
   * Live rows found by `source`, each once, ordered by the source (index values then key, range
   * column then key, key). Rows are rechecked against the source's predicate; `where` is the
   * caller's. With `among`, the candidates are not looked up again: they are `among.keys` (what
   * an earlier find of the same source returned) plus every key this engine committed after
   * `among.asOf` plus the layers' rows, so a group commit re-resolves a predicate write's rows
   * without scanning (see Engine.execute).
   */
  async find(t: TableInfo, source: FindSource, among?: { keys: Value[][]; asOf: number }): Promise<Found[]> {
    const storage = t.storage;
    const cands = new Map<string, { key: Value[]; local?: StoredRow; remote?: RowVersion }>();
    const add = (key: Value[], local?: StoredRow, remote?: RowVersion) => {
      const ks = keyString(key);
      const e = cands.get(ks);
      if (!e) cands.set(ks, { key, ...(local ? { local } : {}), ...(remote ? { remote } : {}) });
      else {
        if (local && !e.local) e.local = local;
        if (remote && !e.remote) e.remote = remote;
      }
    };
    // Uncommitted layers: rows that match now (rows that matched before are found below).
    for (const l of this.o.layers) {
      for (const { key, s } of l.rows(storage)) {
        if (source.by === 'candidates' || source.by === 'scan' || (s.row && matchesSource(t, source, s.row))) add(key);
      }
    }
    const snap = this.o.snapshot;
    const signal = this.o.signal;
    throwIfCanceled(signal);
    let scanned = 0;
    // One native step per SCAN_CHUNK entries, not a promise per entry.
    const rowsIn = async (range: { gte: Buffer; lt: Buffer }) => {
      for await (const chunk of this.deps.store.entryChunks(range, SCAN_CHUNK, snap)) {
        for (const [k, v] of chunk) {
          if (++scanned % CANCEL_CHECK_ROWS === 0) throwIfCanceled(signal);
          const s = decode<StoredRow>(v, `row of ${t.name}`);
          add(s.row ? keyOf(t, s.row) : decodeRowKey(t, k), s);
        }
      }
    };
    const entriesIn = async (range: { gte: Buffer; lt: Buffer }) => {
      for await (const chunk of this.deps.store.entryChunks(range, SCAN_CHUNK, snap)) {
        for (const [, v] of chunk) {
          if (++scanned % CANCEL_CHECK_ROWS === 0) throwIfCanceled(signal);
          add(decode<Value[]>(v, `index entry of ${t.name}`));
        }
      }
    };
    let remoteSource: Exclude<FindSource, { by: 'candidates' }> | undefined = source.by === 'candidates' || among ? undefined : source;
    if (among) {
      for (const k of among.keys) add(k);
      for (const k of await this.deps.recentKeys(t, among.asOf)) add(k);
    } else
      switch (source.by) {
        case 'candidates': {
          for (const k of source.keys) add(k);
          for (const k of await this.deps.recentKeys(t, source.asOf)) add(k);
          break;
        }
        case 'scan':
          await rowsIn(prefixRange(['r', storage]));
          break;
        case 'index': {
          const ix = indexNamed(t, source.index);
          if (source.eq.some((v) => v === null)) return []; // NULL equals nothing
          if (isKeyIndex(t, ix)) {
            if (source.eq.length === t.primaryKey.length) {
              remoteSource = undefined;
              for (const k of [source.eq]) add(k);
            } else await rowsIn(prefixRange(['r', storage, ...source.eq.map(keyPart)]));
          } else if (this.deps.indexReady(storage, ix)) {
            await entriesIn(prefixRange(['i', storage, ix.oid ?? 0, ...source.eq.map((v, i) => sortPartOf(t, ix.columns[i]!, v))]));
          } else await rowsIn(prefixRange(['r', storage]));
          break;
        }
        case 'range': {
          if (source.lo?.v === null || source.hi?.v === null) return []; // a comparison with NULL matches nothing
          const lo = source.lo?.v ?? undefined;
          const hi = source.hi?.v ?? undefined;
          if (source.index === undefined || isKeyIndex(t, indexNamed(t, source.index))) {
            const type = colOf(t, t.primaryKey[0]!).type;
            if (keyOrderable(type)) {
              await rowsIn(
                tupleRange(['r', storage], lo === undefined ? undefined : keyPart(lo), hi === undefined ? undefined : keyPart(hi)),
              );
            } else await rowsIn(prefixRange(['r', storage]));
          } else {
            const ix = indexNamed(t, source.index);
            const f = ix.columns[0]!;
            const type = colOf(t, f).type;
            if (!this.deps.indexReady(storage, ix)) await rowsIn(prefixRange(['r', storage]));
            else if (orderable(type)) {
              await entriesIn(
                tupleRange(
                  ['i', storage, ix.oid ?? 0],
                  lo === undefined ? undefined : sortPartOf(t, f, lo),
                  hi === undefined ? undefined : sortPartOf(t, f, hi),
                ),
              );
            } else await entriesIn(prefixRange(['i', storage, ix.oid ?? 0]));
          }
          break;
        }
      }
    const ing = this.deps.ingestion;
    if (ing && remoteSource && this.deps.mayBeRemote(storage)) {
      const asOf = this.o.asOf;
      if (remoteSource.by === 'scan') {
        let after: Value[] | undefined;
        for (;;) {
          throwIfCanceled(signal);
          const page = await ing.find(
            storage,
            remoteSource,
            {
              limit: SCAN_PAGE,
              ...(asOf === undefined ? {} : { asOf }),
              ...(after ? { afterKey: after } : {}),
            },
            signal,
          );
          for (const r of page) if (r.key) add(r.key, undefined, r);
          const last = page[page.length - 1];
          if (page.length < SCAN_PAGE || !last?.key) break;
          after = last.key;
        }
      } else {
        for (const r of await ing.find(storage, remoteSource, asOf === undefined ? {} : { asOf }, signal))
          if (r.key) add(r.key, undefined, r);
      }
    }
    throwIfCanceled(signal);
    const list = [...cands.values()];
    const hints = new Map<string, { local?: StoredRow; remote?: RowVersion }>();
    for (const c of list) if (c.local || c.remote) hints.set(keyString(c.key), c);
    const curs = await this.resolve(
      t,
      list.map((c) => c.key),
      hints,
    );
    const out: Found[] = [];
    list.forEach((c, i) => {
      const cur = curs[i];
      if (cur?.row && matchesSource(t, source, cur.row)) out.push({ key: c.key, cur });
    });
    return sortFound(t, source, out);
  }
}

/** LevelDB entries read per native iterator step by a find (count). */
const SCAN_CHUNK = 512;

/** Rows fetched from ingestion per scan page. */
const SCAN_PAGE = 1000;
/** Entries a LevelDB scan reads between two looks at the cancel signal. */
const CANCEL_CHECK_ROWS = 256;

/** Whether storage keys of `type` are in the type's order in LevelDB (numeric keys are texts there). */
function keyOrderable(type: SqlType): boolean {
  return orderable(type) && type !== 'numeric' && type !== 'bytea';
}

/** The storage key of a LevelDB row key, typed by the key columns (for tombstones, which hold no row). */
export function decodeRowKey(t: TableInfo, k: Buffer): Value[] {
  const parts = decodeTupleKey(k).slice(2);
  return t.primaryKey.map((f, i) => {
    const v = (parts[i] ?? null) as Value;
    const type = colOf(t, f).type;
    if ((type === 'bigint' || type === 'timestamp' || type === 'timestamptz') && typeof v === 'number') return BigInt(v);
    if (type === 'bytea' && typeof v === 'string') return new Uint8Array(Buffer.from(v, 'hex'));
    return v;
  });
}

function sortFound(t: TableInfo, source: FindSource, rows: Found[]): Found[] {
  let fields: string[];
  if (source.by === 'index') fields = indexNamed(t, source.index).columns;
  else if (source.by === 'range' && source.index !== undefined) fields = [indexNamed(t, source.index).columns[0]!];
  else fields = [];
  const all = [...fields, ...t.primaryKey];
  const types = all.map((f) => colOf(t, f).type);
  return rows.sort((a, b) => {
    for (let i = 0; i < all.length; i++) {
      const c = compareValues(fieldValue(t, a.cur.row!, all[i]!), fieldValue(t, b.cur.row!, all[i]!), types[i]!);
      if (c !== 0) return c;
    }
    return 0;
  });
}

/** Index entries (keys) of a live row for the indexes of `t` maintained here (not the storage-key one). */
export function indexEntries(t: TableInfo, row: Row | null, key: Value[], indexes: readonly IndexDef[]): Buffer[] {
  if (!row) return [];
  const out: Buffer[] = [];
  for (const ix of indexes) {
    if (isKeyIndex(t, ix)) continue;
    out.push(
      indexKey(
        t.storage,
        ix.oid ?? 0,
        ix.columns.map((f) => sortPartOf(t, f, fieldValue(t, row, f))),
        key,
      ),
    );
  }
  return out;
}

export { rowKey };
