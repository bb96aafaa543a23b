/**
 * The TX engine's LevelDB layout (`classic-level`, binary keys in ordered-binary tuple
 * encoding, MessagePack values):
 *
 * | key | value |
 * |---|---|
 * | `['r', table, ...pk]` | `StoredRow { v: version, ts: commitTs ms, row: Row | null }` (null = tombstone) |
 * | `['o', partition, seq]` | outbox entry: encoded `TxnPart` |
 * | `['m', 'seq', partition]` | last sequence number assigned on the partition |
 * | `['m', 'engine']` | engine id the store belongs to |
 *
 * Rows, outbox entries and sequence counters of a group of transactions are written in
 * one synced batch (DESIGN §2 step 3).
 */

import { decode, type EncodedPart, encode, type Row, type TxnPart, type Value } from '@stratum/shared';
import { ClassicLevel } from 'classic-level';
import { readKey, writeKey } from 'ordered-binary';

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

/** Key of a row. */
export function rowKey(table: string, pk: readonly Value[]): Buffer {
  return tupleKey(['r', table, ...pk]);
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
    if (owner === undefined) await db.put(k, Buffer.from(engine), { sync: true });
    else if (owner.toString() !== engine) {
      await db.close();
      throw new Error(`${dir} belongs to TX engine "${owner.toString()}", not "${engine}"`);
    }
    return s;
  }

  /** Read a stored row version, or undefined. */
  async getRow(table: string, pk: readonly Value[]): Promise<StoredRow | undefined> {
    const b = await this.db.get(rowKey(table, pk));
    return b === undefined ? undefined : decode<StoredRow>(b, `row of ${table}`);
  }

  /** Read many stored row versions of one table in one LevelDB call (undefined where absent). */
  async getRows(
    table: string,
    pks: readonly (readonly Value[])[],
    snapshot?: ReturnType<ClassicLevel<Buffer, Buffer>['snapshot']>,
  ): Promise<(StoredRow | undefined)[]> {
    if (pks.length === 0) return [];
    const keys = pks.map((pk) => rowKey(table, pk));
    const bufs = snapshot ? await this.db.getMany(keys, { snapshot }) : await this.db.getMany(keys);
    return bufs.map((b) => (b === undefined ? undefined : decode<StoredRow>(b, `row of ${table}`)));
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

  /** Write a metadata value, synced. */
  async putMeta(name: string, value: unknown): Promise<void> {
    await this.db.put(tupleKey(['m', name]), encode(value), { sync: true });
  }

  /** Encode a stored row. */
  static encodeRow(r: StoredRow): Buffer {
    return encode(r);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
