/**
 * Ingestion service (DESIGN §4): exactly-once merge of the change stream into an LMDB MVCC
 * store, watermarks from TX heartbeats (with stalled and retired pairs), reads (by key, and `find`
 * by secondary index, key range or scan, latest or as of a time), secondary indexes maintained
 * on merge and back-filled while merges go on (`indexStatus`), removal of dropped and truncated
 * tables' data, the delta feed for OLAP freshness, OLAP pushes to every shard that holds a
 * table's rows, GC of history that OLAP already has, conflict records and dead letters.
 */
import { mkdirSync } from 'node:fs';
import type { Catalog, ChangeBus, ConflictInfo, IngestionApi, IngestionStatus, Logger, ServiceHandle } from '@stratum/shared';
import { Ingestion, type OlapTarget } from './ingestion.ts';

export type { OlapTarget } from './ingestion.ts';
export { compareLww } from './ingestion.ts';

export type { ConflictRecord, StoredVersion } from './store.ts';

/** Options of {@link startIngestion}. */
export interface IngestionServiceOptions {
  /** Ingestion engine id (`cluster.ingestion[].id`); also the `source` of its OLAP pushes. */
  id: string;
  /** LMDB directory (created when missing). */
  dir: string;
  /** Partitions this engine consumes. */
  partitions: number[];
  catalog: Catalog;
  bus: ChangeBus;
  /**
   * Every OLAP shard of the cluster, in `cluster.olap_shards` order (placement by `shardsOfTable` /
   * `shardOfVersion` depends on it). A function so embedded wiring may fill it after start; read
   * at every push and GC pass. An empty list (or undefined): nothing is pushed and GC removes nothing.
   */
  olap: () => OlapTarget[] | undefined;
  /** Push interval (ms) (`ingestion.push_interval_ms`). */
  pushIntervalMs: number;
  /** Push early once this many versions wait; also the most versions per table per push round (`ingestion.push_rows`). */
  pushRows: number;
  /** ingestion_retention (ms) (`ingestion.retention_ms`): GC removes versions older than this that OLAP has. Default 7 days. */
  retentionMs?: number;
  /** How often GC runs (ms) (`ingestion.gc_interval_ms`); 0 = never by itself (`gcNow()` only). Default 60,000. */
  gcIntervalMs?: number;
  /** A pair whose closed timestamp is older than this (ms) is reported stalled (`ingestion.stall_ms`). Default 10,000. */
  stallMs?: number;
  /** Wall clock (ms since epoch), injectable for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * Most versions per LMDB transaction within one delivery (count; a transaction may end inside
   * a bus message, at a part boundary). Default 262,144; tests set it small to cross transaction
   * boundaries.
   */
  chunkVersions?: number;
  /**
   * Versions staged before their writes are issued to the LMDB transaction under way (count;
   * at a part boundary, with the offsets of what they hold). Default 1,024; tests set it small.
   */
  flushVersions?: number;
  log: Logger;
}

/** Ingestion status as this engine reports it: {@link IngestionStatus} plus the GC horizon. */
export type IngestionServiceStatus = IngestionStatus & {
  /** Changes skipped since start because their table was dropped or truncated (a dead storage name). */
  skippedDead: number;
  /** Storage names of dropped or truncated tables whose data is still being removed (in the background). */
  deadPending: string[];
  /** Secondary indexes this engine maintains, by storage name and index name, with the state of their build. */
  indexBuilds: { table: string; index: string; state: 'building' | 'done' | 'failed' }[];
  /**
   * GC horizon (ms since epoch; -1 before the first GC): versions at or below it may have been
   * removed (they are in OLAP), so a read as of a time before it must be served by OLAP; reads
   * as of any time at or after it are exact in ingestion.
   */
  gcHorizonMs: number;
};

/** A running ingestion engine. */
export interface IngestionService extends IngestionApi, ServiceHandle {
  readonly id: string;
  status(): Promise<IngestionServiceStatus>;
  /** Resolve true once the watermark is ≥ `ts` (ms), false after `timeoutMs`. */
  waitForWatermark(ts: number, timeoutMs: number): Promise<boolean>;
  /** Push everything below the watermark to OLAP now (failures are logged and retried later). */
  pushNow(): Promise<void>;
  /** Run one GC pass now (shares a running one). @throws when LMDB or every OLAP shard fails. */
  gcNow(): Promise<void>;
}

/**
 * Open the LMDB store and start consuming.
 * @throws CorruptionError when the store holds an older layout; LMDB errors when it cannot be opened.
 */
/**
 * The options of an ingestion engine that serves the row tier only: no OLAP shard to push to, no
 * GC pass (TX-engine and ingestion tests, bench/index-build.ts). Spread into
 * {@link IngestionServiceOptions} beside id, dir, partitions, catalog, bus and log.
 */
export const ROW_TIER_ONLY = {
  olap: () => undefined,
  pushIntervalMs: 3_600_000,
  pushRows: Number.MAX_SAFE_INTEGER,
  gcIntervalMs: 0,
} as const satisfies Partial<IngestionServiceOptions>;

export async function startIngestion(o: IngestionServiceOptions): Promise<IngestionService> {
  mkdirSync(o.dir, { recursive: true });
  const ing = new Ingestion({
    id: o.id,
    dir: o.dir,
    partitions: o.partitions,
    catalog: o.catalog,
    bus: o.bus,
    olap: o.olap,
    pushIntervalMs: o.pushIntervalMs,
    pushRows: o.pushRows,
    ...(o.retentionMs === undefined ? {} : { retentionMs: o.retentionMs }),
    ...(o.gcIntervalMs === undefined ? {} : { gcIntervalMs: o.gcIntervalMs }),
    ...(o.stallMs === undefined ? {} : { stallMs: o.stallMs }),
    ...(o.now === undefined ? {} : { now: o.now }),
    ...(o.chunkVersions === undefined ? {} : { chunkVersions: o.chunkVersions }),
    ...(o.flushVersions === undefined ? {} : { flushVersions: o.flushVersions }),
    log: o.log,
  });
  await ing.start();
  let closing: Promise<void> | undefined;
  o.log.info({ dir: o.dir, partitions: o.partitions.length }, 'ingestion started');
  return {
    id: o.id,
    name: `ingestion ${o.id}`,
    get: (t, k) => ing.get(t, k),
    getMany: (t, ks, asOf) => ing.getMany(t, ks, asOf),
    find: (t, source, opts, signal) => ing.find(t, source, opts, signal),
    indexStatus: (t, index, v) => ing.indexStatus(t, index, v),
    delta: (a, l, skip) => ing.delta(a, l, skip),
    status: () => ing.status(),
    conflicts: (q): Promise<ConflictInfo[]> => ing.conflicts(q),
    retireEngine: (e) => ing.retireEngine(e),
    waitForWatermark: (ts, ms) => ing.waitForWatermark(ts, ms),
    pushNow: () => ing.maybePush(true),
    gcNow: () => ing.gcNow(),
    close() {
      closing ??= ing.close().then(() => o.log.info('ingestion stopped'));
      return closing;
    },
  };
}
