/**
 * Ingestion's LMDB layout (DESIGN §4), layout version 2: named databases with ordered array
 * keys and MessagePack values (our codec, so bigint and µs timestamps survive).
 *
 * | db | key | value |
 * |---|---|---|
 * | history | [table, ...pk, commitTs, version] | {@link HistoryValue} `[op, prev, engine, lsn, row, state]` (the version itself; dedupe looks up this exact key) |
 * | latest | [table, ...pk] | {@link LatestValue} `[commitTs, engine, version]` |
 * | bytime | [table, commitTs, engine, partition, seq] | {@link BytimeValue} `[pk, version, pk, version, …]`: the versions of one applied part in that table (OLAP push ranges, GC) |
 * | lsnlog | first lsn of an applied part | {@link LsnEntry} `{ ts, refs: [table, pk, version, table, pk, version, …] }` (delta feed in apply order; triple i has lsn key + i) |
 * | offsets | [engine, partition] | last applied seq |
 * | closed | [engine, partition] | closed timestamp (ms) |
 * | retired | [engine, partition] | {@link RetiredPair} |
 * | positions | partition | bus position last applied |
 * | index | [table, index oid, ...values, ...pk] | the exact pk values (see indexes.ts; values encoded by keys.ts `sortable`) |
 * | conflicts | [detectedAt, version] | `ConflictInfo` (both sides, winner, policy) |
 * | deadletters | [partition, position] (whole message) or [partition, position, seq] (one part) | {@link DeadLetter} |
 * | meta | name | `layout` (2), `lsn`, `watermark` (ms), `gcHorizon` (ms), `['gcCut', table]` (ms), `['ixb', table, index oid]` (index build, indexes.ts `BuildRecord`), `['cleaned', table]` (a dead storage name whose data is gone) |
 *
 * `table` is the table's storage name (`TableInfo.storage`, protocol 3) and `pk` its storage-key
 * values as keys.ts `keyPart` writes them (bytea and arrays as strings).
 * A version is found by UUID in one exact `history` lookup given its table and key: the UUIDv7's
 * 48-bit time field is its commit timestamp (DESIGN §2), see {@link IngestionStore.findVersion}.
 * One bytime and one lsnlog entry per applied part (not per version) keep the per-version cost
 * at one `history` and one `latest` write.
 */

import { type ConflictInfo, CorruptionError, decode, encode, type Row, type Value, type VersionRecord } from '@stratum/shared';
import { type Database, type Key as LmdbKey, open, type RootDatabase } from 'lmdb';
import { KeyArena, orderedWriteKey, rowKey, toBufferKey } from './keys.ts';

/** Current layout version, kept in `meta` under `layout`. */
export const LAYOUT_VERSION = 2;

/** Sorts after every version UUID and engine id: the inclusive end of a key range. */
export const KEY_MAX = '\uffff';

/**
 * A `history` value: `[op, prev, engine, lsn, row, state]` (an array: cheaper to encode than a
 * map). `state`: 1 = rejected (lost a `reject` conflict), 2 = became the row's latest when
 * applied, 0 = neither (lost an LWW conflict, or arrived after a newer version).
 */
export type HistoryValue = [op: StoredVersion['op'], prev: string | null, engine: string, lsn: number, row: Row | null, state: 0 | 1 | 2];

/** A `latest` value: the row's current version `[commitTs (ms), engine, version]`. */
export type LatestValue = [commitTs: number, engine: string, version: string];

/**
 * An `lsnlog` value: one applied part, `ts` = its commitTs (ms); `refs` is flat
 * `[table, key, version, table, key, version, …]` and the i-th triple got lsn = entry key + i.
 */
export interface LsnEntry {
  ts: number;
  refs: (string | Value[])[];
}

/** A `bytime` value: flat `[key, version, key, version, …]` (the versions of one part in one table). */
export type BytimeValue = (Value[] | string)[];

/**
 * Retirement of an (engine, partition) pair. `done` once ingestion has applied up to `seq`; until
 * then the retired heartbeat is remembered here (so an ack of its bus message loses nothing).
 * `forced` by `retireEngine` at wall time `at` (ms): only parts committed after `at` count the pair again.
 */
export interface RetiredPair {
  seq: number;
  closedTs: number;
  at: number;
  forced: boolean;
  done: boolean;
}

/** A dead-lettered message or part with the reason it was set aside. */
export interface DeadLetter {
  reason: string;
  msgId: string;
  engine?: string;
  seq?: number;
  /** The bus payload (whole message) or the encoded part. */
  payload: Uint8Array;
}

/** A merged version, decoded. */
export interface StoredVersion {
  table: string;
  key: Value[];
  op: 'insert' | 'update' | 'delete';
  prev: string | null;
  commitTs: number;
  engine: string;
  row: Row | null;
  lsn: number;
  /** True when the version lost a `reject` conflict (kept in history, never latest). */
  rejected?: boolean;
}

/** A recorded conflict (same shape as the API's `ConflictInfo`). */
export type ConflictRecord = ConflictInfo;

type Key = LmdbKey;

const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };

/** Commit time (ms) in the 48-bit time field of a UUIDv7. */
export function uuidTimeMs(version: string): number {
  return Number.parseInt(version.slice(0, 8) + version.slice(9, 13), 16);
}

/**
 * Keys as raw bytes, for a second handle of an ordered-binary db. Not lmdb-js's `keyEncoding:
 * 'binary'`: that gives the dbi another key type, and lmdb-js's native comparator of
 * ordered-binary dbs reads the zero padding that ordered-binary writes after every key (null
 * termination), so short raw keys without it compare wrongly. This encoder writes the padding.
 */
const RAW_KEYS = {
  enableNullTermination(): void {},
  writeKey(key: Uint8Array, target: Uint8Array, pos: number): number {
    target.set(key, pos);
    const end = pos + key.length;
    target.fill(0, end, end + 4);
    return end;
  },
  readKey(buf: Uint8Array, start: number, end: number): Buffer {
    return Buffer.from(buf.subarray(start, end));
  },
};

/** The opened LMDB environment with its databases. */
export class IngestionStore {
  readonly root: RootDatabase;
  readonly history: Database<Buffer, Key>;
  readonly latest: Database<Buffer, Key>;
  readonly bytime: Database<Buffer, Key>;
  readonly lsnlog: Database<Buffer, Key>;
  readonly offsets: Database<Buffer, Key>;
  readonly closed: Database<Buffer, Key>;
  readonly retired: Database<Buffer, Key>;
  readonly positions: Database<Buffer, Key>;
  readonly conflicts: Database<Buffer, Key>;
  readonly index: Database<Buffer, Key>;
  /** `latest` with raw (undecoded) keys: a decoded key loses bigint precision; raw keys are reused as prefixes. */
  readonly latestRaw: Database<Buffer, Buffer>;
  /** `index` with raw keys. */
  readonly indexRaw: Database<Buffer, Buffer>;
  /** `history` with raw keys (removing a dead table's rows). */
  readonly historyRaw: Database<Buffer, Buffer>;
  /** `bytime` with raw keys. */
  readonly bytimeRaw: Database<Buffer, Buffer>;
  readonly deadletters: Database<Buffer, Key>;
  readonly meta: Database<Buffer, Key>;
  /** Row and history keys for {@link historyByRef} and {@link latestByRef} (the merge's keys). */
  readonly keys: KeyArena;
  /** `history` with keys named by {@link keys} refs. */
  readonly historyByRef: Database<Buffer, number>;
  /** `latest` with keys named by {@link keys} refs. */
  readonly latestByRef: Database<Buffer, number>;

  /**
   * Open (or create) the store in `dir`.
   * @throws CorruptionError when the directory holds data of an older layout (version 1 had a
   *   `versions` db and empty `history` values); such a directory must be rebuilt from the bus.
   */
  constructor(readonly dir: string) {
    this.root = open({ path: dir, maxDbs: 16, compression: false, mapSize: 2 ** 36 });
    const db = (name: string) => this.root.openDB<Buffer, Key>(name, binary);
    this.history = db('history');
    this.latest = db('latest');
    this.bytime = db('bytime');
    this.lsnlog = db('lsnlog');
    this.offsets = db('offsets');
    this.closed = db('closed');
    this.retired = db('retired');
    this.positions = db('positions');
    this.conflicts = db('conflicts');
    this.index = db('index');
    const raw = (name: string) => this.root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoder: RAW_KEYS } as never);
    this.latestRaw = raw('latest');
    this.indexRaw = raw('index');
    this.historyRaw = raw('history');
    this.bytimeRaw = raw('bytime');
    this.deadletters = db('deadletters');
    this.meta = db('meta');
    this.keys = new KeyArena(orderedWriteKey(this.latest));
    const byRef = (name: string) => this.root.openDB<Buffer, number>(name, { encoding: 'binary', keyEncoder: this.keys.encoder } as never);
    this.historyByRef = byRef('history');
    this.latestByRef = byRef('latest');
    const layout = IngestionStore.read<number>(this.meta, 'layout');
    if (layout === undefined) {
      for (const { value } of this.history.getRange({ limit: 1 })) {
        if (value.length === 0) {
          throw new CorruptionError(
            `ingestion store ${dir} uses layout 1 (a separate "versions" db); this version reads layout ${LAYOUT_VERSION}. Move the directory away and let ingestion rebuild from the bus.`,
          );
        }
      }
      this.meta.putSync('layout', encode(LAYOUT_VERSION));
    } else if (layout !== LAYOUT_VERSION) {
      throw new CorruptionError(`ingestion store ${dir} has layout ${layout}; this version reads layout ${LAYOUT_VERSION}`);
    }
  }

  /** Read and decode a value. @throws CorruptionError when the bytes are not MessagePack. */
  static read<T>(d: Database<Buffer, Key>, k: Key): T | undefined {
    const b = d.getBinary(k);
    return b === undefined ? undefined : decode<T>(b, 'ingestion record');
  }

  /** Queue a put (batched into the current event turn's transaction, or inside a transaction callback). */
  static put(d: Database<Buffer, Key>, k: Key, v: unknown): void {
    void d.put(k, encode(v));
  }

  /** The stored version `version` of row (`table`, `key`), or undefined (never stored, or removed by GC). */
  findVersion(table: string, key: Value[], version: string): StoredVersion | undefined {
    const ts = uuidTimeMs(version);
    const rk = toBufferKey(rowKey(table, key));
    const hv = IngestionStore.read<HistoryValue>(this.history, [rk, ts, version]);
    if (hv) return toStored(table, key, ts, hv);
    // A version whose UUID time is not its commit time (not written by a Stratum TX engine): scan the row.
    for (const { key: hk, value } of this.history.getRange({ start: rk, end: [rk, KEY_MAX] })) {
      const arr = hk as Key[];
      if (arr[arr.length - 1] === version)
        return toStored(table, key, arr[arr.length - 2] as number, decode<HistoryValue>(value, 'history value'));
    }
    return undefined;
  }

  /** Close the environment (after pending writes are committed). */
  async close(): Promise<void> {
    await this.root.close();
  }
}

/** A stored version as the wire's VersionRecord (delta feed, OLAP push). */
export function toRecord(version: string, sv: StoredVersion): VersionRecord {
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

/** A decoded history value with its identity. */
export function toStored(table: string, key: Value[], commitTs: number, hv: HistoryValue): StoredVersion {
  const sv: StoredVersion = { table, key, op: hv[0], prev: hv[1], commitTs, engine: hv[2], row: hv[4], lsn: hv[3] };
  if (hv[5] === 1) sv.rejected = true;
  return sv;
}
