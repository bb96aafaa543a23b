/**
 * Helpers of ingestion's tests: TX engines that publish parts on the real bus, change builders,
 * waiting, and counting a table's keys in the store.
 */
import {
  type BusBatch,
  batchMessageId,
  type Catalog,
  type Change,
  type ChangeBus,
  encodeBusBatchFromParts,
  PROTOCOL_VERSION,
  type Row,
  type TxnPart,
  type Value,
  VersionGenerator,
} from '@stratum/shared';
import type { Key as LmdbKey } from 'lmdb';
import { prefixEnd, toBufferKey } from './keys.ts';
import type { IngestionStore } from './store.ts';

const gen = new VersionGenerator();

/** A TX engine writing one stream partition (default 0, which the ingestion engine under test consumes). */
export class Writer {
  private seq = 0;
  constructor(
    private readonly bus: ChangeBus,
    private readonly catalog: Catalog,
    readonly engine = 'e1',
    readonly partition = 0,
  ) {}

  /** Publish one part with `changes` committed at `ts` (ms), closing the partition at `ts`. */
  async commit(ts: number, changes: Change[]): Promise<void> {
    this.seq++;
    const part: TxnPart = { engine: this.engine, partition: this.partition, seq: this.seq, txn: gen.next(ts), commitTs: ts, changes };
    await this.publish([part], ts);
  }

  /** A heartbeat only: every commit of this engine up to `ts` is published. */
  heartbeat(ts: number): Promise<void> {
    return this.publish([], ts);
  }

  private async publish(parts: TxnPart[], ts: number): Promise<void> {
    const b: BusBatch = {
      protocolVersion: PROTOCOL_VERSION,
      engine: this.engine,
      partition: this.partition,
      catalogVersion: this.catalog.version,
      parts,
      heartbeat: { engine: this.engine, partition: this.partition, seq: this.seq, closedTs: ts },
    };
    await this.bus.publish(this.engine, this.partition, `${batchMessageId(b)}:${ts}`, encodeBusBatchFromParts(b));
  }
}

/** An insert of `row` (storage name `table`, key values `key`) committed at `ts`. */
export function ins(table: string, key: Value[], row: Row, ts: number): Change {
  return { table, key, op: 'insert', version: gen.next(ts), prev: null, row };
}
/** An update that read version `prev`. */
export function upd(table: string, key: Value[], row: Row, ts: number, prev: string): Change {
  return { table, key, op: 'update', version: gen.next(ts), prev, row };
}
/** A delete that read version `prev`. */
export function del(table: string, key: Value[], ts: number, prev: string): Change {
  return { table, key, op: 'delete', version: gen.next(ts), prev, row: null };
}

/** Poll `cond` every 10 ms until it holds. @throws after 20 s naming `what`. */
export async function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Keys of `db` that start with the ordered-binary `prefix` (e.g. `[storage]`, `[storage, index oid]`). */
export function countPrefix(store: IngestionStore, db: 'historyRaw' | 'latestRaw' | 'bytimeRaw' | 'indexRaw', prefix: LmdbKey[]): number {
  const p = toBufferKey(prefix);
  return store[db].getKeysCount({ start: p, end: prefixEnd(p) });
}
