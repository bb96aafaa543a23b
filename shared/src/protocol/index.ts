/**
 * The change-event protocol (DESIGN §3): what TX engines publish and ingestion consumes.
 * Encoded with MessagePack (`msgpackr`). Readers ignore unknown fields; every change of
 * the format bumps {@link PROTOCOL_VERSION} and gets an entry in `CHANGELOG.md` here.
 */
import { Packr } from 'msgpackr';
import type { DdlEvent } from '../catalog.ts';
import { CorruptionError } from '../errors.ts';
import type { Row, Value } from '../types.ts';

/** Current protocol version. Readers accept versions ≤ this one. */
export const PROTOCOL_VERSION = 3;

/**
 * A row change inside a transaction. `table` is the table's storage name (`TableInfo.storage`,
 * protocol 3; a table name before); `key` = storage-key values in key order; `row` is keyed by
 * column fields.
 */
export interface Change {
  table: string;
  key: Value[];
  op: 'insert' | 'update' | 'delete';
  /** UUIDv7 of this version; its 48-bit time field is the commit timestamp (ms). */
  version: string;
  /** Version the writer read (null for a fresh insert); ingestion detects concurrent writers with it. */
  prev: string | null;
  /** Full row after the change; null for deletes. */
  row: Row | null;
}

/** The part of one transaction that touches one stream partition. */
export interface TxnPart {
  engine: string;
  partition: number;
  /** Per-(engine, partition) sequence number, from 1, without gaps. */
  seq: number;
  /** Transaction id (UUIDv7), the same in every part of a transaction. */
  txn: string;
  /** Commit timestamp, ms since the epoch. */
  commitTs: number;
  changes: Change[];
}

/** Closed timestamp: all commits of `engine` on `partition` with commitTs ≤ closedTs have seq ≤ `seq`. */
export interface Heartbeat {
  engine: string;
  partition: number;
  seq: number;
  closedTs: number;
  /**
   * Protocol 2: the engine is decommissioned and its outbox is drained: `seq` is its last
   * sequence number on this partition, and it will never write here again. Ingestion stops
   * counting the (engine, partition) pair in the watermark once it has applied up to `seq`.
   */
  retired?: boolean;
}

/**
 * One bus message: consecutive {@link TxnPart}s of one (engine, partition) and the closed
 * timestamp that holds after them. `parts` may be empty (a heartbeat only).
 */
export interface BusBatch {
  protocolVersion: number;
  engine: string;
  partition: number;
  /** Catalog version the engine had when it committed these parts; consumers wait for it. */
  catalogVersion: number;
  /** Decoded parts (on the wire: an array of encoded parts, see {@link encodeBusBatch}). */
  parts: TxnPart[];
  heartbeat: Heartbeat;
}

/**
 * A transaction part already encoded (as stored in the TX engine's outbox). The relay ships
 * these bytes as they are, so no change is encoded twice on its way to the bus.
 */
export interface EncodedPart {
  partition: number;
  seq: number;
  commitTs: number;
  /** MessagePack of the {@link TxnPart}. */
  bytes: Uint8Array;
}

/** A catalog log record: the DDL event and the protocol version it was written with. */
export interface CatalogRecord {
  protocolVersion: number;
  event: DdlEvent;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** Encode any protocol object (MessagePack; bigint kept as int64). */
export function encode(v: unknown): Buffer {
  return packr.pack(v);
}

/** Decode MessagePack. @throws CorruptionError when the bytes are not valid MessagePack. */
export function decode<T>(b: Uint8Array, what = 'message'): T {
  try {
    return packr.unpack(b) as T;
  } catch (e) {
    throw new CorruptionError(`malformed ${what}: ${(e as Error).message}`, { cause: e });
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Encode a {@link TxnPart} for the outbox (and, later, the bus). */
export function encodePart(part: TxnPart): EncodedPart {
  return { partition: part.partition, seq: part.seq, commitTs: part.commitTs, bytes: encode(part) };
}

/**
 * Encode a bus message. On the wire `parts` is an array of MessagePack byte strings, each an
 * encoded {@link TxnPart} (protocol version 1).
 */
export function encodeBusBatch(head: Omit<BusBatch, 'parts'>, parts: readonly EncodedPart[]): Buffer {
  return encode({ ...head, parts: parts.map((p) => p.bytes) });
}

/** Encode a bus message from decoded parts (tests and tools). */
export function encodeBusBatchFromParts(b: BusBatch): Buffer {
  return encodeBusBatch(b, b.parts.map(encodePart));
}

/**
 * Decodes one encoded {@link TxnPart} of a bus message (`what` names it for errors) into the value
 * {@link decode} gives for those bytes. @throws CorruptionError when the bytes are not valid MessagePack.
 */
export type PartDecoder = (bytes: Uint8Array, what: string) => unknown;

/**
 * Decode and validate a bus message. `decodePart` decodes each encoded part, in order (default
 * {@link decode}; a consumer may pass a faster decoder that gives the same values, and may keep
 * the bytes it is handed).
 * @throws CorruptionError naming the first malformed field (the message is then dead-lettered by the consumer).
 */
export function decodeBusBatch(b: Uint8Array, decodePart: PartDecoder = decode): BusBatch {
  const m = decode<unknown>(b, 'change batch');
  const bad = (why: string) => new CorruptionError(`malformed change batch: ${why}`);
  if (!isObj(m)) throw bad('not a map');
  if (typeof m.protocolVersion !== 'number' || m.protocolVersion > PROTOCOL_VERSION || m.protocolVersion < 1) {
    throw bad(`unsupported protocolVersion ${String(m.protocolVersion)} (this reader knows 1..${PROTOCOL_VERSION})`);
  }
  if (typeof m.engine !== 'string' || !Number.isInteger(m.partition)) throw bad('engine/partition missing');
  if (!Number.isInteger(m.catalogVersion)) throw bad('catalogVersion missing');
  if (!Array.isArray(m.parts)) throw bad('parts is not an array');
  const parts: unknown[] = (m.parts as unknown[]).map((raw, i) => {
    if (!(raw instanceof Uint8Array)) throw bad(`part ${i} is not an encoded TxnPart`);
    return decodePart(raw, `part ${i} of a change batch`);
  });
  m.parts = parts;
  const hb = m.heartbeat;
  if (!isObj(hb) || !Number.isInteger(hb.seq) || typeof hb.closedTs !== 'number') throw bad('heartbeat missing');
  let expect = -1;
  for (const p of parts) {
    if (!isObj(p) || !Number.isInteger(p.seq) || typeof p.commitTs !== 'number' || !Array.isArray(p.changes)) {
      throw bad('part without seq/commitTs/changes');
    }
    if (p.engine !== m.engine || p.partition !== m.partition) throw bad(`part seq ${p.seq} belongs to another stream`);
    if (expect >= 0 && p.seq !== expect) throw bad(`parts not consecutive at seq ${p.seq}`);
    expect = (p.seq as number) + 1;
    for (const c of p.changes) {
      if (!isObj(c) || typeof c.table !== 'string' || !Array.isArray(c.key) || typeof c.version !== 'string') {
        throw bad(`change in seq ${p.seq} lacks table/key/version`);
      }
      if (c.op !== 'insert' && c.op !== 'update' && c.op !== 'delete') throw bad(`unknown op ${String(c.op)}`);
      if (c.op !== 'delete' && !isObj(c.row)) throw bad(`${c.op} in seq ${p.seq} without row`);
    }
  }
  return m as unknown as BusBatch;
}

/** Dedupe id of a bus message: `<engine>:<partition>:<first seq>-<last seq>` (heartbeat-only: `…:hb-<seq>-<closedTs>`). */
export function batchMessageId(b: { engine: string; partition: number; parts: readonly { seq: number }[]; heartbeat: Heartbeat }): string {
  const first = b.parts[0];
  const last = b.parts[b.parts.length - 1];
  if (!first || !last) return `${b.engine}:${b.partition}:hb-${b.heartbeat.seq}-${b.heartbeat.closedTs}`;
  return `${b.engine}:${b.partition}:${first.seq}-${last.seq}`;
}
