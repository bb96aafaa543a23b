/**
 * TX engine service (DESIGN §1–2): accepts writes and fresh point reads, stamps versions,
 * commits groups of transactions to LevelDB with their outbox entries, and relays the
 * outbox to the change bus.
 */
import { mkdirSync } from 'node:fs';
import type {
  Catalog,
  ChangeBus,
  Clock,
  DecommissionResult,
  IndexBuildStatus,
  IngestionApi,
  IsolationLevel,
  Literal,
  Logger,
  ReadFreshness,
  ReadRequest,
  RowVersion,
  SavepointAction,
  ServiceHandle,
  TxEngineAdminApi,
  TxEngineApi,
  TxnWrite,
  TxRequest,
  TxResult,
} from '@stratum/shared';
import { coerceKey, Engine } from './engine.ts';
import { Relay } from './relay.ts';
import { tableOf } from './writes.ts';

export { TxStore } from './store.ts';

/** Methods of a TX engine that cross the network in the distributed form (`POST /rpc/<method>`). */
export const TX_ENGINE_METHODS = [
  'execute',
  'get',
  'read',
  'txnWrites',
  'indexStatus',
  'begin',
  'executeIn',
  'commit',
  'rollback',
  'savepoint',
  'decommission',
] as const satisfies readonly (keyof (TxEngineApi & TxEngineAdminApi))[];

/** Options of {@link startTxEngine}. */
export interface TxEngineOptions {
  /** Engine id (stable across restarts; checked against the store). */
  id: string;
  /** LevelDB directory. */
  dir: string;
  partitions: number;
  catalog: Catalog;
  bus: ChangeBus;
  clock: Clock;
  /** Ingestion for reads of rows this engine does not hold. */
  ingestion?: IngestionApi;
  groupCommitMaxBatch?: number;
  /** Memory of the hot-row cache (bytes, estimated; `tx.row_cache_mb`). Default 128 MiB. */
  rowCacheBytes?: number;
  heartbeatMs?: number;
  /** Shortest gap between eager heartbeats of an idle partition (ms; relay.ts). Default 10; 0 = off. */
  eagerHeartbeatGapMs?: number;
  relayMaxBatch?: number;
  /** Most bytes of changes per bus message (default 512 KiB, below NATS's 1 MiB max_payload). */
  relayMaxBytes?: number;
  maxTxnBytes?: number;
  /** How often rows past their table's tx_retention are evicted (ms). Default 60 000. */
  retentionCheckMs?: number;
  /** Roll back transaction blocks idle this long (ms). Default 600 000. */
  txnIdleTimeoutMs?: number;
  /**
   * `clock.max_uncertainty_ms` (default 250): commit-waits of tables that are not
   * strict_serializable use at most this ε (strict tables refuse writes past it).
   */
  maxUncertaintyMs?: number;
  /** `tx.replicated_ack_timeout_ms` (default 10,000): longest a replicated commit waits for the bus. */
  replicatedAckTimeoutMs?: number;
  /** How often the engine asks ingestion which engines write to the stream (ms; default 1000). */
  writerCheckMs?: number;
  /**
   * The cluster has no other TX engine (one engine in `cluster.tx_engines`, local bus): rows held
   * here are the newest unless ingestion reports other writers. Without it, another engine may
   * start writing at any moment, so reads always consider ingestion's versions (a check every
   * `writerCheckMs` would leave a window in which a session that wrote through another engine
   * reads without its write).
   */
  soleWriter?: boolean;
  /** How long a request waits for a catalog version it needs (ms). */
  catalogTimeoutMs?: number;
  log: Logger;
}

/** A running TX engine. */
export interface TxEngine extends TxEngineApi, TxEngineAdminApi, ServiceHandle {
  readonly id: string;
  /** Outbox entries not yet acknowledged by the bus. */
  outboxPending(): number;
}

/**
 * Open the LevelDB store, recover the outbox and start the relay.
 * @throws when the store cannot be opened or belongs to another engine id.
 */
export async function startTxEngine(o: TxEngineOptions): Promise<TxEngine> {
  mkdirSync(o.dir, { recursive: true });
  const engine = await Engine.open(o.dir, {
    id: o.id,
    partitions: o.partitions,
    catalog: o.catalog,
    clock: o.clock,
    ingestion: o.ingestion,
    maxBatch: o.groupCommitMaxBatch ?? 1024,
    rowCacheBytes: o.rowCacheBytes ?? 128 * 1024 * 1024,
    maxTxnBytes: o.maxTxnBytes ?? 8 * 1024 * 1024,
    maxUncertaintyMs: o.maxUncertaintyMs ?? 250,
    replicatedAckTimeoutMs: o.replicatedAckTimeoutMs ?? 10_000,
    maxPartBytes: () => o.bus.maxPayloadBytes() - 1024,
    catalogTimeoutMs: o.catalogTimeoutMs ?? 10_000,
    log: o.log,
  });
  const relay = await Relay.start({
    engine,
    bus: o.bus,
    catalog: o.catalog,
    partitions: o.partitions,
    heartbeatMs: o.heartbeatMs ?? 100,
    eagerGapMs: o.eagerHeartbeatGapMs ?? 10,
    maxBatch: o.relayMaxBatch ?? 2000,
    maxBytes: o.relayMaxBytes ?? 512 * 1024,
    log: o.log,
  });
  engine.whenPublished = (parts) => relay.whenPublished(parts);
  let closing: Promise<void> | undefined;
  const idleMs = o.txnIdleTimeoutMs ?? 600_000;
  const sweeper = setInterval(
    () => {
      const n = engine.expireIdle(idleMs);
      if (n > 0) o.log.warn({ rolledBack: n, idleMs }, 'rolled back idle transaction blocks');
    },
    Math.min(10_000, idleMs),
  );
  sweeper.unref();
  let evicting = false;
  const evictor = setInterval(() => {
    if (evicting || !o.ingestion) return;
    evicting = true;
    void (async () => {
      try {
        const w = (await o.ingestion!.status()).watermark;
        if (w > 0) {
          const n = await engine.evictExpired(w, Date.now());
          if (n > 0) o.log.debug({ evicted: n, watermark: w }, 'evicted rows past tx_retention');
        }
      } catch (e) {
        o.log.warn({ err: (e as Error).message }, 'retention pass failed; will retry');
      } finally {
        evicting = false;
      }
    })();
  }, o.retentionCheckMs ?? 60_000);
  evictor.unref();
  // Which engines write the stream: with none but this one, rows held here are the newest (point
  // reads need not ask ingestion). A retired engine's writes count too.
  const checkWriters = async () => {
    try {
      const st = await o.ingestion!.status();
      engine.foreignWriters = !o.soleWriter || st.pairs.some((p) => p.engine !== o.id);
      engine.noteWatermark(st.watermark);
      return st;
    } catch {
      engine.foreignWriters = true;
      return undefined;
    }
  };
  const writerCheck = setInterval(() => void checkWriters(), o.writerCheckMs ?? 1000);
  writerCheck.unref();
  if (!o.ingestion) engine.noteWatermark(0);
  // Join above the published watermark (see Engine.raiseFloor); best effort when ingestion is down,
  // since then nothing newer than our own closed timestamps can have been published by it.
  if (o.ingestion) {
    let ingestionEmpty: boolean | undefined;
    try {
      const st = await checkWriters();
      if (!st) throw new Error('ingestion status unavailable');
      engine.raiseFloor(st.watermark);
      ingestionEmpty = st.pairs.length === 0;
    } catch (e) {
      o.log.warn({ err: (e as Error).message }, 'ingestion unreachable at start; commit timestamps start from the clock');
    }
    await engine.settleRemote(ingestionEmpty);
  } else await engine.settleRemote(true);
  let decommissioning: Promise<DecommissionResult> | undefined;
  const decommission = (): Promise<DecommissionResult> => {
    decommissioning ??= (async () => {
      const queued = engine.retire(); // refuses transactions from here on, synchronously
      await engine.store.putMeta('decommissioned', Date.now());
      await queued;
      o.log.warn('decommissioning: refusing transactions, draining the outbox');
      await relay.retire();
      o.log.warn({ seqs: engine.seqs }, 'decommissioned: outbox drained, final sequence numbers published');
      return { engine: o.id, finalSeqs: [...engine.seqs] };
    })();
    return decommissioning;
  };
  if ((await engine.store.getMeta<number>('decommissioned')) !== undefined) void decommission();
  o.log.info({ dir: o.dir, outbox: relay.pendingCount() }, 'tx engine started');
  return {
    id: o.id,
    name: `tx-engine ${o.id}`,
    execute: (req: TxRequest, signal?: AbortSignal): Promise<TxResult> => engine.execute(req, signal),
    async get(table: string, key: Literal[], catalogVersion: number, txnId?: string, fresh?: ReadFreshness): Promise<RowVersion | null> {
      if (o.catalog.version < catalogVersion) await o.catalog.waitFor(catalogVersion, 10_000);
      const t = tableOf(o.catalog, table, 'read');
      return txnId ? engine.getIn(txnId, t, coerceKey(t, key)) : engine.get(t, coerceKey(t, key), fresh);
    },
    read: (req: ReadRequest, signal?: AbortSignal): Promise<RowVersion[]> => engine.read(req, signal),
    txnWrites: async (txnId: string, table: string): Promise<TxnWrite[]> => engine.txnWrites(txnId, table),
    indexStatus: (table: string, index: string, catalogVersion?: number): Promise<IndexBuildStatus> =>
      engine.indexStatus(table, index, catalogVersion),
    begin: async (isolation: IsolationLevel) => engine.begin(isolation),
    executeIn: (txnId: string, req: TxRequest, signal?: AbortSignal) => engine.executeIn(txnId, req, signal),
    commit: (txnId: string) => engine.commit(txnId),
    rollback: async (txnId: string) => engine.rollback(txnId),
    async savepoint(txnId: string, name: string, action: SavepointAction) {
      if (action === 'set') engine.savepoint(txnId, name);
      else if (action === 'rollback') engine.rollbackTo(txnId, name);
      else engine.release(txnId, name);
    },
    outboxPending: () => relay.pendingCount(),
    decommission,
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        clearInterval(writerCheck);
        clearInterval(evictor);
        await engine.drain();
        await relay.stop(3000);
        await engine.store.close();
        o.log.info({ outbox: relay.pendingCount() }, 'tx engine stopped');
      })();
      return closing;
    },
  };
}
