/**
 * The keys a TX engine committed after the ingestion watermark: what a `candidates` row source
 * adds to the keys the analytical tier found as of `asOf` (tiers.ts `RowSource`). Kept in memory
 * per storage name, pruned as the watermark moves (less {@link RECENT_LAG_MS}, since a
 * statement's `asOf` may be a little older than the newest watermark), rebuilt from LevelDB at
 * start, and bounded while the watermark stalls. Asked about a time older than what it keeps, it
 * reads the engine's rows of the table instead, so the answer is always complete.
 */
import { type Catalog, keyString, type Logger, type TableInfo, type Value } from '@stratum/shared';
import { prefixRange, rowKey, TxStore } from './store.ts';
import { keyOf } from './values.ts';
import { decodeRowKey } from './view.ts';

/** How much longer than the watermark alone needs (ms) keys are kept. */
export const RECENT_LAG_MS = 10_000;
/** Most keys kept; past it the older half goes (the watermark may stall while writes go on). */
const RECENT_MAX = 1_000_000;

/** See the module comment. */
export class RecentKeys {
  private readonly byTable = new Map<string, Map<string, { key: Value[]; ts: number }>>();
  /** Keys committed at or before this (ms) may be missing. */
  private horizon = Number.POSITIVE_INFINITY;
  private ready: Promise<void> = Promise.resolve();
  private size = 0;
  /** A rebuild from LevelDB has started: from then on commits are recorded here. */
  private started = false;

  constructor(
    private readonly store: TxStore,
    private readonly catalog: Catalog,
    private readonly log: Logger,
    /** Runs background work the engine waits for at close. */
    private readonly spawn: (work: Promise<void>) => void,
  ) {}

  /** Keys of `t` this engine committed after `afterTs` (ms), tombstones included. */
  async after(t: TableInfo, afterTs: number): Promise<Value[][]> {
    await this.ready;
    if (afterTs >= this.horizon) {
      const out: Value[][] = [];
      for (const e of this.byTable.get(t.storage)?.values() ?? []) if (e.ts > afterTs) out.push(e.key);
      return out;
    }
    // Older than what is kept in memory: read the engine's rows of the table.
    const out: Value[][] = [];
    for await (const [k, v] of this.store.entries(prefixRange(['r', t.storage]))) {
      const s = TxStore.decodeRow(v);
      if (s.ts > afterTs) out.push(s.row ? keyOf(t, s.row) : decodeRowKey(t, k));
    }
    return out;
  }

  /** A durable commit of `key` (key string `ks`) of `storage` at `ts` (ms). */
  add(storage: string, ks: string, key: Value[], ts: number): void {
    // Before the first rebuild starts, LevelDB is the record (the rebuild reads it).
    if (!this.started) return;
    let m = this.byTable.get(storage);
    if (!m) this.byTable.set(storage, (m = new Map()));
    if (!m.has(ks)) this.size++;
    m.set(ks, { key, ts });
  }

  /** After a group commit's {@link add}s: keep the set bounded. */
  bound(): void {
    if (this.size <= RECENT_MAX) return;
    const ts: number[] = [];
    for (const m of this.byTable.values()) for (const e of m.values()) ts.push(e.ts);
    ts.sort((a, b) => a - b);
    this.prune(ts[Math.floor(ts.length / 2)] ?? this.horizon);
  }

  /** Forget a dead storage name. */
  drop(storage: string): void {
    this.size -= this.byTable.get(storage)?.size ?? 0;
    this.byTable.delete(storage);
  }

  /**
   * The ingestion watermark is `w` (ms): forget keys committed at or before `w` − {@link RECENT_LAG_MS};
   * the first call rebuilds the set from LevelDB (after a restart).
   */
  noteWatermark(w: number, closed: () => boolean): void {
    if (!this.started) {
      this.started = true;
      const horizon = Math.max(0, w - RECENT_LAG_MS);
      this.ready = this.rebuild(horizon).catch((e) => {
        // Until a rebuild succeeds, `candidates` read the engine's rows from LevelDB instead.
        this.started = false;
        if (!closed()) this.log.warn({ err: (e as Error).message }, 'could not rebuild the recent-keys set; will retry');
      });
      this.spawn(this.ready);
      return;
    }
    if (this.horizon === Number.POSITIVE_INFINITY) return;
    this.prune(w - RECENT_LAG_MS);
  }

  /** Forget keys committed at or before `cut` (ms). */
  private prune(cut: number): void {
    if (cut <= this.horizon) return;
    for (const [storage, m] of this.byTable) {
      for (const [ks, e] of m) {
        if (e.ts > cut) continue;
        m.delete(ks);
        this.size--;
      }
      if (m.size === 0) this.byTable.delete(storage);
    }
    this.horizon = cut;
  }

  /** Read the rows in LevelDB committed after `horizon`. */
  private async rebuild(horizon: number): Promise<void> {
    const found = new Map<string, Map<string, { key: Value[]; ts: number }>>();
    for await (const { table, pk, row } of this.store.rows()) {
      if (row.ts <= horizon) continue;
      const t = this.catalog.byStorage(table);
      const key = t ? (row.row ? keyOf(t, row.row) : decodeRowKey(t, rowKey(table, pk))) : pk;
      let m = found.get(table);
      if (!m) found.set(table, (m = new Map()));
      m.set(keyString(key), { key, ts: row.ts });
    }
    // Commits made while rebuilding are already here: keep them.
    for (const [storage, m] of found) {
      let into = this.byTable.get(storage);
      if (!into) this.byTable.set(storage, (into = new Map()));
      for (const [ks, e] of m) {
        if (into.has(ks)) continue;
        into.set(ks, e);
        this.size++;
      }
    }
    this.horizon = horizon;
  }
}
