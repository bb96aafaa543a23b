/**
 * Ingestion's LMDB layout (DESIGN §4), named databases with ordered array keys and
 * MessagePack values (our codec, so bigint and µs timestamps survive):
 *
 * | db | key | value |
 * |---|---|---|
 * | versions | version | {@link StoredVersion} |
 * | history | [table, ...pk, commitTs, version] | ∅ (AS OF lookups) |
 * | latest | [table, ...pk] | version |
 * | bytime | [table, commitTs, version] | ∅ (OLAP push ranges) |
 * | lsnlog | lsn | version (delta feed in apply order) |
 * | offsets | [engine, partition] | last applied seq |
 * | closed | [engine, partition] | closed timestamp (ms) |
 * | positions | partition | bus position last applied |
 * | conflicts | [detectedAt, version] | {@link ConflictRecord} |
 * | deadletters | [partition, position] | { reason, msgId, payload } |
 * | meta | name | value (`lsn`) |
 */

import { decode, encode, type Row, type Value } from '@stratum/shared';
import { type Database, type Key as LmdbKey, open, type RootDatabase } from 'lmdb';

/** A merged version. */
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

/** A recorded conflict between two engines' writes of one row. */
export interface ConflictRecord {
  table: string;
  key: Value[];
  /** Version that was latest when the incoming change arrived. */
  existing: string;
  /** Incoming version whose `prev` did not match. */
  incoming: string;
  winner: string;
  policy: 'lww' | 'reject';
  detectedAt: number;
}

type Key = LmdbKey;

const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };

/** The opened LMDB environment with its databases. */
export class IngestionStore {
  readonly root: RootDatabase;
  readonly versions: Database<Buffer, Key>;
  readonly history: Database<Buffer, Key>;
  readonly latest: Database<Buffer, Key>;
  readonly bytime: Database<Buffer, Key>;
  readonly lsnlog: Database<Buffer, Key>;
  readonly offsets: Database<Buffer, Key>;
  readonly closed: Database<Buffer, Key>;
  readonly positions: Database<Buffer, Key>;
  readonly conflicts: Database<Buffer, Key>;
  readonly deadletters: Database<Buffer, Key>;
  readonly meta: Database<Buffer, Key>;

  constructor(dir: string) {
    this.root = open({ path: dir, maxDbs: 16, compression: false, mapSize: 2 ** 36 });
    const db = (name: string) => this.root.openDB<Buffer, Key>(name, binary);
    this.versions = db('versions');
    this.history = db('history');
    this.latest = db('latest');
    this.bytime = db('bytime');
    this.lsnlog = db('lsnlog');
    this.offsets = db('offsets');
    this.closed = db('closed');
    this.positions = db('positions');
    this.conflicts = db('conflicts');
    this.deadletters = db('deadletters');
    this.meta = db('meta');
  }

  /** Read and decode a value. */
  static read<T>(d: Database<Buffer, Key>, k: Key): T | undefined {
    const b = d.getBinary(k);
    return b === undefined ? undefined : decode<T>(b, 'ingestion record');
  }

  /** Queue a put (inside a transaction callback). */
  static put(d: Database<Buffer, Key>, k: Key, v: unknown): void {
    d.put(k, encode(v));
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
