/**
 * The TX engine's LevelDB layout (`classic-level`, binary keys in ordered-binary tuple
 * encoding, MessagePack values):
 *
 * | key | value |
 * |---|---|
 * | `['r', storage, ...pk]` | `StoredRow { v: version, ts: commitTs ms, row: Row | null }` (row by field; null = tombstone) |
 * | `['i', storage, index oid, ...sort values, ...pk]` | the storage key (MessagePack), one entry per live row held here |
 * | `['o', partition, seq]` | outbox entry: encoded `TxnPart` |
 * | `['m', 'seq', partition]` | last sequence number assigned on the partition |
 * | `['m', 'engine']` | engine id the store belongs to |
 *
 * | `['m', 'ixdone', storage, index oid]` | commit ts when this engine finished back-filling the index |
 *
 * Rows, their secondary-index entries, outbox entries and sequence counters of a group of
 * transactions are written in one synced batch (DESIGN §2 step 3). Key values go through
 * {@link keyPart} (lossless; bytea as hex text), indexed values through {@link sortPart}
 * (order-preserving, possibly lossy: every index hit is rechecked against the row).
 */

import { decode, type EncodedPart, encode, type Row, type SqlType, type TxnPart, type Value } from '@stratum/shared';
import { ClassicLevel } from 'classic-level';
import { readKey, writeKey } from 'ordered-binary';

/** Most keys {@link TxStore.getRows} reads with synchronous LevelDB gets (more: one async getMany). */
const SYNC_GET_MAX = 16;

/** A row version as stored in the TX engine. */
export interface StoredRow {
  v: string;
  ts: number;
  row: Row | null;
}

const scratch = Buffer.alloc(64 * 1024);

/** Encode a tuple key (ordered-binary). @throws RangeError when the key exceeds 64 KiB. */
export function tupleKey(parts: Value[]): Buffer {
  const n = writeKey(parts as never, scratch, 0);
  return Buffer.from(scratch.subarray(0, n));
}

/** Decode a tuple key. */
export function decodeTupleKey(b: Buffer): Value[] {
  return readKey(b, 0, b.length) as unknown as Value[];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

function serialized(v: Value): string {
  if (v === null) return 'n';
  if (Array.isArray(v)) return `[${v.map(serialized).join(',')}]`;
  if (v instanceof Uint8Array) return `x${hex(v)}`;
  if (typeof v === 'string') return JSON.stringify(v);
  return `${typeof v === 'bigint' ? 'i' : typeof v === 'number' ? 'f' : 'b'}${String(v)}`;
}

/** A storage-key value as it goes into an ordered-binary tuple (lossless; equal values, equal bytes). */
export function keyPart(v: Value): Value {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint') return v;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (v instanceof Uint8Array) return hex(v);
  return serialized(v);
}

/**
 * An indexed value as it goes into an index entry: order-preserving where {@link orderable}
 * (numeric as a double, bytea as hex), a lossless text otherwise (equality only).
 */
export function sortPart(v: Value, type: SqlType): Value {
  if (v === null) return null;
  if (type === 'numeric' && typeof v === 'string') return Number(v);
  return keyPart(v);
}

/** Whether index entries of `type` are in the type's order (else a range lookup reads the whole index). */
export function orderable(type: SqlType): boolean {
  return !(type.endsWith('[]') || type === 'interval' || type === 'json' || type === 'jsonb');
}

/** Key of a row. */
export function rowKey(table: string, pk: readonly Value[]): Buffer {
  return tupleKey(['r', table, ...pk.map(keyPart)]);
}

/** Key of a secondary-index entry: `sorts` are the indexed values through {@link sortPart}. */
export function indexKey(table: string, oid: number, sorts: readonly Value[], pk: readonly Value[]): Buffer {
  return tupleKey(['i', table, oid, ...sorts, ...pk.map(keyPart)]);
}

/** Key of the "index back-filled" mark. */
export function indexDoneKey(table: string, oid: number): Buffer {
  return tupleKey(['m', 'ixdone', table, oid]);
}

/** Bounds of every key that starts with the tuple `prefix` (followed by more elements). */
export function prefixRange(prefix: Value[]): { gte: Buffer; lt: Buffer } {
  const p = tupleKey(prefix);
  return { gte: Buffer.concat([p, Buffer.from([0])]), lt: Buffer.concat([p, Buffer.from([1])]) };
}

/**
 * Bounds of the keys `[...base, x, ...]` with lo ≤ x ≤ hi (sort values; both inclusive: callers
 * recheck exclusive bounds against the rows).
 */
export function tupleRange(base: Value[], lo: Value | undefined, hi: Value | undefined): { gte: Buffer; lt: Buffer } {
  const all = prefixRange(base);
  return {
    gte: lo === undefined ? all.gte : tupleKey([...base, lo]),
    lt: hi === undefined ? all.lt : Buffer.concat([tupleKey([...base, hi]), Buffer.from([1])]),
  };
}

/** Key of an outbox entry. */
export function outboxKey(partition: number, seq: number): Buffer {
  return tupleKey(['o', partition, seq]);
}

/** Key of a partition's sequence counter. */
export function seqKey(partition: number): Buffer {
  return tupleKey(['m', 'seq', partition]);
}

/** One write of a batch. */
export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** The opened LevelDB store. */
export class TxStore {
  readonly db: ClassicLevel<Buffer, Buffer>;
  /** The store was created by this open (it held nothing, not even its engine id). */
  fresh = false;
  private constructor(db: ClassicLevel<Buffer, Buffer>) {
    this.db = db;
  }

  /**
   * Open (or create) the store in `dir` for engine `engine`.
   * @throws Error when the directory holds another engine's store (ids must stay stable).
   */
  static async open(dir: string, engine: string): Promise<TxStore> {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const s = new TxStore(db);
    const k = tupleKey(['m', 'engine']);
    const owner = await db.get(k);
    if (owner === undefined) {
      await db.put(k, Buffer.from(engine), { sync: true });
      s.fresh = true;
    } else if (owner.toString() !== engine) {
      await db.close();
      throw new Error(`${dir} belongs to TX engine "${owner.toString()}", not "${engine}"`);
    }
    return s;
  }

  /**
   * Read a stored row version, or undefined. Synchronous LevelDB reads (`getSync`) for a few
   * keys: a hot key is a block-cache or page-cache hit of a few µs, while the thread-pool round
   * trip of an async get costs ~0.1 ms of latency per read (1-client INSERT +17 %, its primary-key
   * check; measured with pgbench). Many keys go through one async `getMany`.
   */
  async getRow(table: string, pk: readonly Value[]): Promise<StoredRow | undefined> {
    const b = this.db.getSync(rowKey(table, pk));
    return b === undefined ? undefined : decode<StoredRow>(b, `row of ${table}`);
  }

  /**
   * Read many stored row versions of one table (undefined where absent): up to
   * {@link SYNC_GET_MAX} keys synchronously (see {@link getRow}), more in one async LevelDB call.
   */
  async getRows(
    table: string,
    pks: readonly (readonly Value[])[],
    snapshot?: ReturnType<ClassicLevel<Buffer, Buffer>['snapshot']>,
  ): Promise<(StoredRow | undefined)[]> {
    if (pks.length === 0) return [];
    const keys = pks.map((pk) => rowKey(table, pk));
    if (keys.length <= SYNC_GET_MAX) {
      return keys.map((k) => {
        const b = snapshot ? this.db.getSync(k, { snapshot }) : this.db.getSync(k);
        return b === undefined ? undefined : decode<StoredRow>(b, `row of ${table}`);
      });
    }
    const bufs = snapshot ? await this.db.getMany(keys, { snapshot }) : await this.db.getMany(keys);
    return bufs.map((b) => (b === undefined ? undefined : decode<StoredRow>(b, `row of ${table}`)));
  }

  /**
   * Entries with keys in [gte, lt), in key order, from `snapshot` (else an implicit snapshot
   * taken now: concurrent writes are not seen).
   */
  async *entries(
    range: { gte: Buffer; lt: Buffer },
    snapshot?: ReturnType<ClassicLevel<Buffer, Buffer>['snapshot']>,
  ): AsyncGenerator<[Buffer, Buffer]> {
    const it = this.db.iterator(snapshot ? { ...range, snapshot } : range);
    try {
      for await (const e of it) yield e as [Buffer, Buffer];
    } finally {
      await it.close();
    }
  }

  /**
   * Entries with keys in [gte, lt), in key order, `size` per step: one native call per step
   * instead of a promise per entry (bulk passes: index back-fills, duplicate checks). Reads
   * `snapshot`, else an implicit snapshot taken now.
   */
  async *entryChunks(
    range: { gte: Buffer; lt: Buffer },
    size: number,
    snapshot?: ReturnType<ClassicLevel<Buffer, Buffer>['snapshot']>,
  ): AsyncGenerator<[Buffer, Buffer][]> {
    // classic-level stops a step at 16 KiB by default (~60 rows): allow `size` entries of up to 1 KiB.
    const highWaterMarkBytes = size * 1024;
    const it = this.db.iterator(snapshot ? { ...range, snapshot, highWaterMarkBytes } : { ...range, highWaterMarkBytes });
    try {
      for (;;) {
        const got = (await it.nextv(size)) as [Buffer, Buffer][];
        if (got.length === 0) return;
        yield got;
      }
    } finally {
      await it.close();
    }
  }

  /** Whether any key lies in [gte, lt). */
  async any(range: { gte: Buffer; lt: Buffer }): Promise<boolean> {
    for await (const _ of this.db.keys({ ...range, limit: 1 })) return true;
    return false;
  }

  /** Delete every key in [gte, lt), `chunk` keys per (unsynced) batch; returns how many. */
  async deleteRange(range: { gte: Buffer; lt: Buffer }, chunk = 10_000): Promise<number> {
    let n = 0;
    for (;;) {
      const keys: Buffer[] = [];
      for await (const k of this.db.keys({ ...range, limit: chunk })) keys.push(k);
      if (keys.length === 0) return n;
      const b = this.db.batch();
      for (const k of keys) b.del(k);
      await b.write();
      n += keys.length;
    }
  }

  /**
   * Every stored row version in key order (for eviction), as `[table, pk, row]`; reads from a
   * consistent iterator, so concurrent writes are not seen.
   */
  async *rows(): AsyncGenerator<{ table: string; pk: Value[]; row: StoredRow }> {
    for await (const [k, v] of this.db.iterator({ gt: tupleKey(['r']), lt: tupleKey(['r\u0001']) })) {
      const parts = decodeTupleKey(k);
      yield { table: String(parts[1]), pk: parts.slice(2), row: decode<StoredRow>(v, 'row') };
    }
  }

  /** Last sequence number per partition (0 when none). */
  async loadSeqs(partitions: number): Promise<number[]> {
    const out = new Array<number>(partitions).fill(0);
    for (let p = 0; p < partitions; p++) {
      const b = await this.db.get(seqKey(p));
      if (b !== undefined) out[p] = decode<number>(b, 'sequence counter');
    }
    return out;
  }

  /** Outbox entries of a partition in seq order, starting after `afterSeq`, at most `limit`. */
  async readOutbox(partition: number, afterSeq: number, limit: number): Promise<EncodedPart[]> {
    const out: EncodedPart[] = [];
    for await (const v of this.db.values({ gt: outboxKey(partition, afterSeq), lt: tupleKey(['o', partition + 1]), limit })) {
      const p = decode<TxnPart>(v, 'outbox entry');
      out.push({ partition: p.partition, seq: p.seq, commitTs: p.commitTs, bytes: v });
    }
    return out;
  }

  /** Number of outbox entries of a partition (for metrics and drain). */
  async outboxCount(partition: number): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys({ gte: outboxKey(partition, 0), lt: tupleKey(['o', partition + 1]) })) n++;
    return n;
  }

  /**
   * Write a batch atomically; `sync` = fsync before resolving. Uses a chained batch: abstract-level's
   * array form validates every operation in JS and measured ~6× slower here.
   */
  async write(ops: BatchOp[], sync: boolean): Promise<void> {
    const b = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') b.put(op.key, op.value);
      else b.del(op.key);
    }
    await b.write({ sync });
  }

  /** A value of the store's metadata (`['m', name]`), or undefined. */
  async getMeta<T>(name: string): Promise<T | undefined> {
    const b = await this.db.get(tupleKey(['m', name]));
    return b === undefined ? undefined : decode<T>(b, `metadata ${name}`);
  }

  /** The batch op that writes a metadata value (to join a group commit's batch). */
  static metaOp(name: string, value: unknown): BatchOp {
    return { type: 'put', key: tupleKey(['m', name]), value: encode(value) };
  }

  /** Write a metadata value, synced. */
  async putMeta(name: string, value: unknown): Promise<void> {
    await this.db.put(tupleKey(['m', name]), encode(value), { sync: true });
  }

  /** Decode a stored row. */
  static decodeRow(b: Buffer): StoredRow {
    return decode<StoredRow>(b, 'row');
  }

  /** Decode the storage key an index entry holds. */
  static decodeKey(b: Buffer): Value[] {
    return decode<Value[]>(b, 'index entry');
  }

  /** Encode a stored row. */
  static encodeRow(r: StoredRow): Buffer {
    return encode(r);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
