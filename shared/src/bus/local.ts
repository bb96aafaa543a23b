/**
 * The embedded change bus (DESIGN §3, "Local (embedded)"): the {@link ChangeBus} interface
 * over a durable in-process log stored in LMDB (`lmdb` v3) in one directory.
 *
 * Layout (one LMDB environment `<dir>/bus.mdb`, named databases):
 * - `log`:        [partition, position] → { engine, msgId, payload }   (positions from 1, per partition)
 * - `dedupe`:     msgId → [partition, position, publishedAtMs, n]       (n = global publish counter)
 * - `dedupe-age`: n → msgId                                             (oldest-first pruning order)
 * - `catalog`:    version → payload                                     (versions from 1)
 * - `meta`:       `next:<partition>` → last assigned position, `n` → publish counter,
 *                 `trim:<partition>` → highest trimmed position
 *
 * Dedupe keeps a message id while it is among the last {@link LOCAL_DEDUPE_MIN_MESSAGES}
 * messages or younger than {@link LOCAL_DEDUPE_WINDOW_MS} (like JetStream's duplicate
 * window); the index is in LMDB, so it survives a restart.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { BusUnavailableError, CorruptionError } from '../errors.ts';
import { asError, checkPartition, checkPublishArgs, checkSubscribePartitions, resolveMaxBatch, Signal } from './common.ts';
import type { ChangeBus, DeliveredMessage, DeliveryHandler, PublishAck, SubscribeOptions, Subscription } from './types.ts';

/** Dedupe keeps at least this many most recent message ids (count). */
export const LOCAL_DEDUPE_MIN_MESSAGES = 100_000;
/** Dedupe keeps every message id published within this window (ms), like JetStream's `duplicate_window` of 2 min. */
export const LOCAL_DEDUPE_WINDOW_MS = 120_000;
/** Prune the dedupe index every this many publishes (count). */
const DEDUPE_PRUNE_EVERY = 1024;
/** Most dedupe entries removed per prune (count), to keep one commit short. */
const DEDUPE_PRUNE_MAX = 4096;
/** Delay between an `ack` and the batched trim of the log (ms). */
const TRIM_DELAY_MS = 250;
/** Most log entries removed per trim transaction (count). */
const TRIM_MAX_PER_TXN = 10_000;
/** Largest position used as an exclusive range end. */
const MAX_POS = Number.MAX_SAFE_INTEGER;

interface LogRecord {
  engine: string;
  msgId: string;
  payload: Uint8Array;
}

/** [partition, position, publishedAtMs, n] */
type DedupeRecord = [number, number, number, number];

/**
 * Open (creating if needed) the embedded bus stored in directory `dir`.
 * Publishes resolve after the LMDB commit is flushed to disk; subscribers are woken
 * in-process (no polling) and read from the log, so late or restarted subscribers get
 * everything after their `after` positions (unless trimmed after an `ack`).
 * @param dir directory for the LMDB files (created recursively).
 * @throws BusUnavailableError when the directory or the LMDB environment cannot be opened.
 */
export async function openLocalBus(dir: string): Promise<ChangeBus> {
  try {
    await mkdir(dir, { recursive: true });
    const root = open({ path: join(dir, 'bus.mdb'), noSubdir: true, maxDbs: 8 });
    return new LocalBus(dir, root);
  } catch (e) {
    throw new BusUnavailableError(`cannot open the local bus in ${dir}: ${asError(e).message}`, { cause: e });
  }
}

class LocalBus implements ChangeBus {
  readonly kind = 'local' as const;
  private readonly log: Database<LogRecord, [number, number]>;
  private readonly dedupe: Database<DedupeRecord, string>;
  private readonly dedupeAge: Database<string, number>;
  private readonly catalog: Database<Uint8Array, number>;
  private readonly meta: Database<number, string>;
  /** Notified after every durable log append, and on subscription stop. */
  readonly appended = new Signal();
  /** Notified after every durable catalog append, and on catalog subscription stop. */
  readonly catalogAppended = new Signal();
  private readonly subs = new Set<LocalSubscription>();
  private readonly catalogSubs = new Set<LocalCatalogSubscription>();
  private readonly inflight = new Set<Promise<unknown>>();
  private trimTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly root: RootDatabase,
  ) {
    this.log = root.openDB<LogRecord, [number, number]>({ name: 'log' });
    this.dedupe = root.openDB<DedupeRecord, string>({ name: 'dedupe' });
    this.dedupeAge = root.openDB<string, number>({ name: 'dedupe-age' });
    this.catalog = root.openDB<Uint8Array, number>({ name: 'catalog' });
    this.meta = root.openDB<number, string>({ name: 'meta' });
  }

  private checkOpen(): void {
    if (this.closed) throw new BusUnavailableError(`the local bus in ${this.dir} is closed`);
  }

  /** Run `fn` as one LMDB write transaction and wait until it is flushed to disk. */
  private async durable<T>(fn: () => T): Promise<T> {
    const p = (async () => {
      const result = await this.root.transaction(fn);
      await this.root.flushed;
      return result;
    })();
    this.inflight.add(p);
    try {
      return await p;
    } finally {
      this.inflight.delete(p);
    }
  }

  async publish(engine: string, partition: number, msgId: string, payload: Uint8Array): Promise<PublishAck> {
    checkPublishArgs(engine, partition, msgId, payload);
    this.checkOpen();
    const now = Date.now();
    let ack: PublishAck;
    try {
      ack = await this.durable((): PublishAck => {
        const seen = this.dedupe.get(msgId);
        if (seen !== undefined) {
          if (!isDedupeRecord(seen)) {
            throw new CorruptionError(`local bus ${this.dir}: dedupe entry for msgId ${JSON.stringify(msgId)} is malformed`);
          }
          return { position: seen[1], duplicate: true };
        }
        const position = this.metaNumber(`next:${partition}`) + 1;
        const n = this.metaNumber('n') + 1;
        this.meta.put(`next:${partition}`, position);
        this.meta.put('n', n);
        this.log.put([partition, position], { engine, msgId, payload });
        this.dedupe.put(msgId, [partition, position, now, n]);
        this.dedupeAge.put(n, msgId);
        if (n % DEDUPE_PRUNE_EVERY === 0) this.pruneDedupe(n, now);
        return { position, duplicate: false };
      });
    } catch (e) {
      if (e instanceof CorruptionError) throw e;
      throw new BusUnavailableError(`local bus ${this.dir}: publish failed: ${asError(e).message}`, { cause: e });
    }
    if (!ack.duplicate) this.appended.notify();
    return ack;
  }

  private metaNumber(key: string): number {
    const v = this.meta.get(key);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new CorruptionError(`local bus ${this.dir}: meta entry ${key} is malformed`);
    }
    return v;
  }

  /** Inside a write transaction: drop dedupe ids outside both the count and the time window. */
  private pruneDedupe(n: number, now: number): void {
    const maxN = n - LOCAL_DEDUPE_MIN_MESSAGES;
    if (maxN <= 0) return;
    const victims: Array<[number, string]> = [];
    for (const { key, value } of this.dedupeAge.getRange({ end: maxN + 1, limit: DEDUPE_PRUNE_MAX })) {
      const rec = this.dedupe.get(value);
      if (rec !== undefined && isDedupeRecord(rec) && rec[3] === key && rec[2] > now - LOCAL_DEDUPE_WINDOW_MS) break; // still inside the time window
      victims.push([key, value]);
    }
    for (const [key, id] of victims) {
      const rec = this.dedupe.get(id);
      if (rec !== undefined && (!isDedupeRecord(rec) || rec[3] === key)) this.dedupe.remove(id);
      this.dedupeAge.remove(key);
    }
  }

  async subscribe(opts: SubscribeOptions, handler: DeliveryHandler, onError?: (e: Error) => void): Promise<Subscription> {
    const partitions = checkSubscribePartitions(opts.partitions, opts.after);
    const maxBatch = resolveMaxBatch(opts.maxBatch);
    this.checkOpen();
    const sub = new LocalSubscription(this, partitions, opts.after, maxBatch, handler, onError);
    this.subs.add(sub);
    sub.start();
    return sub;
  }

  /** Forget a stopped subscription and wake the others' waits (harmless spurious wake). */
  removeSubscription(sub: LocalSubscription): void {
    this.subs.delete(sub);
    this.appended.notify();
  }

  removeCatalogSubscription(sub: LocalCatalogSubscription): void {
    this.catalogSubs.delete(sub);
    this.catalogAppended.notify();
  }

  /**
   * Read up to `maxBatch` messages after `cursors`, visiting partitions round-robin from
   * index `start`. @throws CorruptionError for a malformed log entry.
   */
  readBatch(partitions: number[], cursors: Map<number, number>, maxBatch: number, start: number): DeliveredMessage[] {
    const out: DeliveredMessage[] = [];
    const n = partitions.length;
    for (let i = 0; i < n && out.length < maxBatch; i++) {
      const p = partitions[(start + i) % n] as number;
      const from = cursors.get(p) ?? 0;
      for (const { key, value } of this.log.getRange({ start: [p, from + 1], end: [p, MAX_POS], limit: maxBatch - out.length })) {
        out.push(this.decode(key, value));
      }
    }
    return out;
  }

  private decode(key: unknown, value: unknown): DeliveredMessage {
    if (
      Array.isArray(key) &&
      key.length === 2 &&
      typeof key[0] === 'number' &&
      typeof key[1] === 'number' &&
      typeof value === 'object' &&
      value !== null &&
      typeof (value as LogRecord).engine === 'string' &&
      typeof (value as LogRecord).msgId === 'string' &&
      (value as LogRecord).payload instanceof Uint8Array
    ) {
      const v = value as LogRecord;
      // Copy: never hand out views of LMDB-owned memory.
      return { partition: key[0], position: key[1], engine: v.engine, msgId: v.msgId, payload: new Uint8Array(v.payload) };
    }
    throw new CorruptionError(`local bus ${this.dir}: log entry ${JSON.stringify(key)} is malformed`);
  }

  /** Schedule a batched trim of the log after an `ack`. */
  scheduleTrim(): void {
    if (this.trimTimer !== undefined || this.closed) return;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      void this.trim().catch(() => {
        // Trimming is an optimisation; a failure leaves entries in place and is retried on the next ack.
      });
    }, TRIM_DELAY_MS);
    this.trimTimer.unref();
  }

  /** Remove log entries every live subscription of a partition has acked (≤ the smallest ack). */
  private async trim(): Promise<void> {
    if (this.closed) return;
    const floors = new Map<number, number>();
    const acked = new Set<number>();
    for (const sub of this.subs) {
      for (const p of sub.partitions) {
        const mine = sub.safeAfter(p);
        floors.set(p, Math.min(floors.get(p) ?? MAX_POS, mine));
        if (sub.acked.has(p)) acked.add(p);
      }
    }
    let more = false;
    await this.durable(() => {
      let budget = TRIM_MAX_PER_TXN;
      for (const [p, floor] of floors) {
        if (!acked.has(p) || floor <= 0) continue;
        const done = this.metaNumber(`trim:${p}`);
        if (floor <= done) continue;
        const keys = [...this.log.getKeys({ start: [p, done + 1], end: [p, floor + 1], limit: budget })];
        let last = done;
        for (const key of keys) {
          this.log.remove(key);
          budget--;
          last = key[1];
        }
        if (budget <= 0) {
          more = true;
          if (last > done) this.meta.put(`trim:${p}`, last);
          break;
        }
        this.meta.put(`trim:${p}`, floor);
      }
    });
    if (more) this.scheduleTrim();
  }

  async publishCatalog(payload: Uint8Array): Promise<number> {
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    this.checkOpen();
    let version: number;
    try {
      version = await this.durable(() => {
        let last = 0;
        for (const key of this.catalog.getKeys({ reverse: true, limit: 1 })) last = key;
        this.catalog.put(last + 1, payload);
        return last + 1;
      });
    } catch (e) {
      throw new BusUnavailableError(`local bus ${this.dir}: catalog publish failed: ${asError(e).message}`, { cause: e });
    }
    this.catalogAppended.notify();
    return version;
  }

  /** Catalog records with version > `after`, in order. @throws CorruptionError for a malformed record. */
  readCatalog(after: number): Array<[number, Uint8Array]> {
    const out: Array<[number, Uint8Array]> = [];
    for (const { key, value } of this.catalog.getRange({ start: after + 1 })) {
      if (typeof key !== 'number' || !(value instanceof Uint8Array)) {
        throw new CorruptionError(`local bus ${this.dir}: catalog record ${JSON.stringify(key)} is malformed`);
      }
      out.push([key, new Uint8Array(value)]);
    }
    return out;
  }

  async subscribeCatalog(after: number, handler: (version: number, payload: Uint8Array) => void): Promise<Subscription> {
    if (!Number.isSafeInteger(after) || after < 0) throw new TypeError(`invalid catalog version ${String(after)}`);
    this.checkOpen();
    const sub = new LocalCatalogSubscription(this, after, handler);
    sub.replay(); // synchronous: every record existing now is handled before we return; throws on handler error
    this.catalogSubs.add(sub);
    sub.start();
    return sub;
  }

  maxPayloadBytes(): number {
    return 256 * 1024 * 1024;
  }

  connected(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.trimTimer !== undefined) clearTimeout(this.trimTimer);
    this.trimTimer = undefined;
    await Promise.all([...this.subs].map((s) => s.stop()));
    await Promise.all([...this.catalogSubs].map((s) => s.stop()));
    await Promise.allSettled([...this.inflight]);
    await this.root.close();
  }
}

function isDedupeRecord(v: unknown): v is DedupeRecord {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number');
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A running subscription of the local bus: one read-deliver loop. */
class LocalSubscription implements Subscription {
  readonly cursors: Map<number, number>;
  readonly acked = new Map<number, number>();
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: LocalBus,
    readonly partitions: number[],
    private readonly after: Map<number, number>,
    private readonly maxBatch: number,
    private readonly handler: DeliveryHandler,
    private readonly onError: ((e: Error) => void) | undefined,
  ) {
    this.cursors = new Map();
    for (const p of partitions) {
      const a = after.get(p);
      if (a !== undefined) this.cursors.set(p, a);
    }
  }

  /** Highest position of `p` this subscription will never ask for again. */
  safeAfter(p: number): number {
    return Math.max(this.after.get(p) ?? 0, this.acked.get(p) ?? 0);
  }

  start(): void {
    this.loop = this.run();
  }

  private fail(e: unknown): void {
    this.stopped = true;
    this.bus.removeSubscription(this);
    if (this.onError) this.onError(asError(e));
  }

  private async run(): Promise<void> {
    let rr = 0;
    while (!this.stopped) {
      const seen = this.bus.appended.version;
      let batch: DeliveredMessage[];
      try {
        batch = this.bus.readBatch(this.partitions, this.cursors, this.maxBatch, rr++);
      } catch (e) {
        this.fail(e);
        return;
      }
      if (batch.length === 0) {
        await this.bus.appended.wait(seen);
        continue;
      }
      try {
        await this.handler(batch);
      } catch (e) {
        this.fail(e); // cursors stay put: the failed messages are not skipped
        return;
      }
      for (const m of batch) this.cursors.set(m.partition, m.position);
      await yieldToLoop(); // let I/O run between batches of a fast handler
    }
  }

  ack(partition: number, position: number): void {
    checkPartition(partition);
    if (!this.partitions.includes(partition) || !Number.isSafeInteger(position) || position <= 0) return;
    if (position > (this.acked.get(partition) ?? 0)) {
      this.acked.set(partition, position);
      this.bus.scheduleTrim();
    }
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.bus.removeSubscription(this);
    }
    await this.loop;
  }
}

/** A running catalog subscription of the local bus. */
class LocalCatalogSubscription implements Subscription {
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: LocalBus,
    private cursor: number,
    private readonly handler: (version: number, payload: Uint8Array) => void,
  ) {}

  /** Hand every record after the cursor to the handler (synchronously). */
  replay(): void {
    for (const [version, payload] of this.bus.readCatalog(this.cursor)) {
      this.handler(version, payload);
      this.cursor = version;
    }
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const seen = this.bus.catalogAppended.version;
        try {
          this.replay();
        } catch (e) {
          this.stopped = true;
          this.bus.removeCatalogSubscription(this);
          process.emitWarning(`catalog subscription stopped: ${asError(e).message}`, { code: 'STRATUM_CATALOG_HANDLER' });
          return;
        }
        await this.bus.catalogAppended.wait(seen);
      }
    })();
  }

  ack(_partition: number, _position: number): void {
    // The catalog log is never trimmed.
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.bus.removeCatalogSubscription(this);
    }
    await this.loop;
  }
}
