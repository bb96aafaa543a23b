/**
 * Ingestion service (DESIGN §4): exactly-once merge of the change stream into an LMDB MVCC
 * store, watermarks from TX heartbeats, reads, the delta feed for OLAP freshness, and OLAP
 * pushes.
 */
import { mkdirSync } from 'node:fs';
import type { Catalog, ChangeBus, IngestionApi, Logger, OlapShardApi, ServiceHandle } from '@stratum/shared';
import { Ingestion } from './ingestion.ts';

export { compareLww } from './ingestion.ts';
export type { ConflictRecord, StoredVersion } from './store.ts';

/** Options of {@link startIngestion}. */
export interface IngestionServiceOptions {
  id: string;
  /** LMDB directory. */
  dir: string;
  /** Partitions this engine consumes. */
  partitions: number[];
  catalog: Catalog;
  bus: ChangeBus;
  /** OLAP shard to push to; a function so embedded wiring may set it after start. */
  olap: () => OlapShardApi | undefined;
  /** Push interval (ms). */
  pushIntervalMs: number;
  /** Push early once this many versions wait. */
  pushRows: number;
  log: Logger;
}

/** A running ingestion engine. */
export interface IngestionService extends IngestionApi, ServiceHandle {
  readonly id: string;
  /** Resolve true once the watermark is ≥ `ts` (ms), false after `timeoutMs`. */
  waitForWatermark(ts: number, timeoutMs: number): Promise<boolean>;
  /** Push everything below the watermark to OLAP now. */
  pushNow(): Promise<void>;
}

/** Open the LMDB store and start consuming. @throws when the store cannot be opened. */
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
    delta: (a, l) => ing.delta(a, l),
    status: () => ing.status(),
    waitForWatermark: (ts, ms) => ing.waitForWatermark(ts, ms),
    pushNow: () => ing.maybePush(true),
    close() {
      closing ??= ing.close().then(() => o.log.info('ingestion stopped'));
      return closing;
    },
  };
}
