/**
 * Starting services, in both forms (DESIGN §1): embedded (`stratum up`: all five in one
 * process, calling each other through their interfaces) and distributed (one service per
 * process, HTTP RPC between them, NATS JetStream as the bus). Both run the same service
 * code; only the transport differs.
 */
import { resolve } from 'node:path';
import { startClockService, testFaultClock } from '@stratum/clock';
import { startIngestion } from '@stratum/ingestion';
import { startOlapShard } from '@stratum/olap-shard';
import { startRouter } from '@stratum/router';
import {
  Catalog,
  type ChangeBus,
  type Clock,
  ConfigError,
  followCatalog,
  type Health,
  type IngestionApi,
  ingestionSet,
  type Logger,
  listenAddress,
  loadConfigFile,
  lockDirectory,
  type OlapShardApi,
  openBus,
  publishDdl,
  registerRpc,
  rpcClient,
  type ServiceHandle,
  type StratumConfig,
  type Subscription,
  serviceDataDir,
  shardOfVersion,
  startClockClient,
  startHttpServer,
  type TableInfo,
  type TxEngineAdminApi,
  type TxEngineApi,
  tableOptionsFrom,
  type VersionRecord,
} from '@stratum/shared';
import { startTxEngine, TX_ENGINE_METHODS } from '@stratum/tx-engine';

/** Partitions 0…n−1. */
export const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Catalogs of this process (their table options are replaced on a config reload). */
const catalogs: Catalog[] = [];
/** What else a reload must reach (other threads' catalogs). */
const reloadHooks: ((cfg: StratumConfig) => void)[] = [];

/** Also run `hook` with the new config on every accepted reload (e.g. tell another thread). */
export function onConfigReload(hook: (cfg: StratumConfig) => void): void {
  reloadHooks.push(hook);
}

/** Follow the per-table options of reloads in `catalog` too (a catalog not made by {@link busAndCatalog}). */
export function reloadsReach(catalog: Catalog): void {
  catalogs.push(catalog);
}

/**
 * The clock of one node (DESIGN §8): a clock client polling `clock.sources` when any are
 * configured, else the local clock with `clock.eps_ms`. `STRATUM_TEST_CLOCK_FAULTS` (JSON
 * {@link ClockFaults}, tests only) puts a fault-injecting clock under the node.
 * @returns the clock and a handle that stops it.
 */
export async function nodeClock(cfg: StratumConfig, nodeId: string, log: Logger): Promise<{ clock: Clock; handle: ServiceHandle }> {
  const clog = log.child({ svc: 'clock' });
  const faulty = await testFaultClock(cfg.clock.eps_ms, clog);
  if (cfg.clock.sources.length === 0) {
    const svc = await startClockService({ nodeId, epsMs: cfg.clock.eps_ms, ...(faulty ? { source: faulty } : {}), log: clog });
    return { clock: svc.clock, handle: svc };
  }
  const client = await startClockClient({
    node: nodeId,
    sources: cfg.clock.sources,
    heartbeatMs: cfg.clock.heartbeat_ms,
    driftPpm: cfg.clock.drift_ppm,
    maxUncertaintyMs: cfg.clock.max_uncertainty_ms,
    ...(faulty
      ? {
          local: () => {
            const n = faulty.now();
            return (n.earliest + n.latest) / 2;
          },
        }
      : {}),
    log: clog,
  });
  return { clock: client, handle: { name: `clock client ${nodeId}`, close: () => client.close() } };
}

/** Outcome of a config reload. */
export interface ReloadResult {
  ok: boolean;
  message: string;
}

/**
 * Re-read `file` and apply what can change without a restart: per-table options (`tables`,
 * `table_consistency`). An invalid file changes nothing (the old config stays in force) and the
 * result carries the file:line:col error. Changes to other sections need a restart.
 */
export function reloadConfig(file: string | undefined, log: Logger): ReloadResult {
  if (!file) return { ok: false, message: 'this process was started without --config: there is no file to reload' };
  let cfg: StratumConfig;
  try {
    cfg = loadConfigFile(file);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'config reload refused; the old config stays in force');
    return { ok: false, message: (e as Error).message };
  }
  for (const c of catalogs) c.setOptions(tableOptionsFrom(cfg));
  for (const hook of reloadHooks) hook(cfg);
  const n = Object.keys(cfg.table_consistency).length;
  log.info({ file, tableConsistency: n, tables: Object.keys(cfg.tables).length }, 'config reloaded');
  return {
    ok: true,
    message: `reloaded ${file}: per-table options and ${n} table_consistency entr${n === 1 ? 'y' : 'ies'} in force (other sections need a restart)`,
  };
}

/** `POST /admin/reload`: reload the config file of this process (`stratum config reload`); 400 with the error when refused. */
function mountReload(app: import('fastify').FastifyInstance, reload: () => ReloadResult): void {
  app.post('/admin/reload', async (_req, reply) => {
    const r = reload();
    return reply.code(r.ok ? 200 : 400).send(r);
  });
}

/** Open the bus and a catalog that follows it. */
export async function busAndCatalog(cfg: StratumConfig, log: Logger): Promise<{ bus: ChangeBus; catalog: Catalog; sub: Subscription }> {
  const bus = await openBus(cfg.cluster.bus, serviceDataDir(cfg, 'bus'), cfg.cluster.partitions);
  const catalog = new Catalog(tableOptionsFrom(cfg));
  catalogs.push(catalog);
  const sub = await followCatalog(bus, catalog, log);
  return { bus, catalog, sub };
}

/** Lock a service's data directory for the life of the process (released on close). */
export function lockFor(handles: ServiceHandle[], dir: string, what: string): void {
  const release = lockDirectory(dir, what);
  handles.push(closer(`lock ${dir}`, async () => release()));
}

/** A handle whose close runs `fn` once (later calls return the same promise). */
export function closer(name: string, fn: () => Promise<void>): ServiceHandle {
  let p: Promise<void> | undefined;
  return {
    name,
    close: () => {
      p ??= fn();
      return p;
    },
  };
}

function entry<T extends { id: string }>(list: T[], id: string | undefined, what: string, file: string): T {
  const e = id === undefined ? list[0] : list.find((x) => x.id === id);
  if (!e) {
    throw new ConfigError(
      `${file}: cluster.${what}: no entry with id "${id ?? '(first)'}" (have: ${list.map((x) => x.id).join(', ') || 'none'})`,
    );
  }
  return e;
}

function needNats(cfg: StratumConfig, file: string): void {
  if (cfg.cluster.bus === 'local') {
    throw new ConfigError(
      `${file}: cluster.bus: the distributed form needs a shared bus; expected nats://HOST:PORT or kafka://HOST:PORT, got "local"`,
    );
  }
}

function defaultId(cfg: StratumConfig, service: 'tx-engine' | 'ingestion' | 'olap-shard'): string {
  const list = service === 'tx-engine' ? cfg.cluster.tx_engines : service === 'ingestion' ? cfg.cluster.ingestion : cfg.cluster.olap_shards;
  return list[0]?.id ?? service;
}

/** RPC method lists of each tier (what crosses the network). */
export const TX_METHODS = TX_ENGINE_METHODS;
export const INGESTION_METHODS = ['get', 'getMany', 'find', 'indexStatus', 'delta', 'status', 'conflicts', 'retireEngine'] as const;

/** Ingestion settings from the config. */
export function ingestionSettings(cfg: StratumConfig) {
  return {
    pushIntervalMs: cfg.ingestion.push_interval_ms,
    pushRows: cfg.ingestion.push_rows,
    retentionMs: cfg.ingestion.retention_ms,
    gcIntervalMs: cfg.ingestion.gc_interval_ms,
    stallMs: cfg.ingestion.stall_ms,
  };
}

/** TX engine settings from the config (both forms). */
export function txEngineSettings(cfg: StratumConfig) {
  return {
    groupCommitMaxBatch: cfg.tx.group_commit_max_batch,
    rowCacheBytes: cfg.tx.row_cache_mb * 1024 * 1024,
    heartbeatMs: cfg.tx.heartbeat_ms,
    eagerHeartbeatGapMs: cfg.tx.eager_heartbeat_gap_ms,
    relayMaxBatch: cfg.tx.relay_max_batch,
    relayMaxBytes: cfg.tx.relay_max_bytes,
    maxTxnBytes: cfg.tx.max_txn_bytes,
    txnIdleTimeoutMs: cfg.tx.txn_idle_timeout_ms,
    retentionCheckMs: cfg.tx.retention_check_ms,
    maxUncertaintyMs: cfg.clock.max_uncertainty_ms,
    replicatedAckTimeoutMs: cfg.tx.replicated_ack_timeout_ms,
  };
}

/**
 * Router settings from the config (both forms, every front-end thread): listeners, auth and
 * limits. `http: false` for a front end that serves no HTTP (router threads).
 */
export function routerSettings(cfg: StratumConfig, o: { http?: boolean } = {}) {
  return {
    pg: cfg.router.pg,
    ...(o.http === false ? {} : { http: cfg.router.http }),
    auth: cfg.router.auth === 'trust' ? ({ method: 'trust' } as const) : ({ method: 'scram-sha-256', users: cfg.router.users } as const),
    database: cfg.router.database,
    statementTimeoutMs: cfg.router.statement_timeout_ms,
    maxStatementBytes: cfg.router.max_statement_bytes,
    resultCacheTtlMs: cfg.router.result_cache_ttl_ms,
    partialAggregation: cfg.router.partial_aggregation,
    gatherFormat: cfg.router.gather_format,
    gatherLimits: {
      slots: cfg.router.gather_slots,
      maxQueued: cfg.router.gather_max_queued,
      ...(cfg.router.gather_memory_limit !== undefined ? { memoryLimit: cfg.router.gather_memory_limit } : {}),
    },
    copyMaxUnmergedRows: cfg.router.copy_max_unmerged_rows,
    copyMaxUnpushedRows: cfg.router.copy_max_unmerged_rows === 0 ? 0 : cfg.ingestion.push_rows + cfg.router.copy_max_unmerged_rows,
  };
}

/**
 * The OLAP shard's log function over `log`: its messages (pushes, compactions, quarantined
 * files, worker priorities) as info lines, with `svc: olap-shard` and the shard id.
 */
export function shardLog(log: Logger, id: string): (msg: string, fields?: object) => void {
  const l = log.child({ svc: 'olap-shard', id });
  return (msg, fields) => l.info(fields ?? {}, msg);
}

/** OLAP shard settings from the config. */
export function shardSettings(cfg: StratumConfig) {
  return {
    compactionIntervalMs: cfg.olap.compaction_interval_ms,
    compactionMinFiles: cfg.olap.compaction_min_files,
    targetFileRows: cfg.olap.target_file_rows,
    deltaIdleMs: cfg.olap.delta_idle_ms,
    ...(cfg.olap.threads !== undefined ? { threads: cfg.olap.threads } : {}),
    queryConnections: cfg.olap.query_connections,
    maxQueuedQueries: cfg.olap.max_queued_queries,
    ...(cfg.olap.memory_limit !== undefined ? { memoryLimit: cfg.olap.memory_limit } : {}),
    workerNice: cfg.olap.worker_nice,
  };
}

/** Which delta versions belong to shard `id` (placement rules of shared/src/sharding.ts). */
export function owner(id: string, shardIds: string[]): (info: TableInfo, v: VersionRecord) => boolean {
  return (info, v) => shardOfVersion(info, v.key, v.row, shardIds) === id;
}

/** Partitions of an ingestion entry. */
function partitionsOf(cfg: StratumConfig, e: { partitions: number[] | 'all' }): number[] {
  return e.partitions === 'all' ? all(cfg.cluster.partitions) : e.partitions;
}
export const OLAP_METHODS = ['push', 'watermarks', 'query'] as const;

/** Start one service of the distributed form, by name. */
export async function startDistributed(
  service: 'tx-engine' | 'ingestion' | 'olap-shard' | 'router' | 'clock',
  cfg: StratumConfig,
  file: string,
  id: string | undefined,
  log: Logger,
): Promise<ServiceHandle[]> {
  const handles: ServiceHandle[] = [];
  const c = cfg.cluster;
  if (service === 'clock') {
    // Serve the `clock.sources` entry with this id (the first without --id); `clock.url` when none are listed.
    const srcs = cfg.clock.sources;
    const me = id === undefined ? srcs[0] : srcs.find((s) => s.id === id);
    if (srcs.length > 0 && !me)
      throw new ConfigError(`${file}: clock.sources has no entry with id "${id}" (ids: ${srcs.map((s) => s.id).join(', ')})`);
    const { testFaultClock } = await import('@stratum/clock');
    const faulty = await testFaultClock(cfg.clock.eps_ms, log);
    const clk = await startClockService({
      nodeId: me?.id ?? id ?? 'clock',
      epsMs: cfg.clock.eps_ms,
      ...(faulty ? { source: faulty } : {}),
      http: listenAddress(me?.url ?? cfg.clock.url),
      ...(cfg.clock.chrony_socket ? { chrony: { host: cfg.clock.chrony_socket, intervalMs: cfg.clock.chrony_interval_ms } } : {}),
      log,
    });
    return [clk];
  }
  needNats(cfg, file);
  if (service !== 'router') lockFor(handles, serviceDataDir(cfg, id ?? defaultId(cfg, service)), service);
  const { bus, catalog, sub } = await busAndCatalog(cfg, log);
  handles.push(
    closer('bus', async () => {
      await sub.stop();
      await bus.close();
    }),
  );
  const ingestionClients = () =>
    c.ingestion.map((i) => ({
      id: i.id,
      partitions: partitionsOf(cfg, i),
      api: rpcClient<IngestionApi>(i.url, INGESTION_METHODS, { name: `ingestion ${i.id}`, abortable: ['find'] }),
    }));
  if (c.olap_shards.length === 0) throw new ConfigError(`${file}: cluster.olap_shards: at least one shard is needed`);
  const shardIds = c.olap_shards.map((s) => s.id);
  const olapClients = () =>
    c.olap_shards.map((s) => ({
      id: s.id,
      api: rpcClient<OlapShardApi>(s.url, OLAP_METHODS, { name: `olap-shard ${s.id}`, abortable: ['query'] }),
    }));
  const serve = async (url: string, impl: object, methods: readonly string[], health: () => Health) => {
    const a = listenAddress(url);
    const srv = await startHttpServer({
      ...a,
      health,
      setup: (app) => {
        registerRpc(app, impl as Record<string, unknown>, methods);
        mountReload(app, () => reloadConfig(file, log));
      },
    });
    handles.push({ name: `http ${url}`, close: () => srv.close() });
  };
  try {
    if (service === 'tx-engine') {
      const e = entry(c.tx_engines, id, 'tx_engines', file);
      const clock = await nodeClock(cfg, e.id, log);
      handles.push(clock.handle);
      // Reads of rows this engine never had go to the ingestion engine of the key's partition.
      const members = ingestionClients();
      const ing = members.length > 0 ? ingestionSet(members, c.partitions) : undefined;
      const tx = await startTxEngine({
        id: e.id,
        dir: serviceDataDir(cfg, e.id),
        partitions: c.partitions,
        catalog,
        bus,
        clock: clock.clock,
        ...(ing ? { ingestion: ing } : {}),
        ...txEngineSettings(cfg),
        soleWriter: c.tx_engines.length === 1,
        log: log.child({ svc: 'tx-engine', id: e.id }),
      });
      handles.push(tx);
      await serve(e.url, tx, TX_METHODS, () => ({
        status: 'ok',
        service: 'tx-engine',
        id: e.id,
        outbox: tx.outboxPending(),
        bus: bus.connected(),
      }));
    } else if (service === 'ingestion') {
      const e = entry(c.ingestion, id, 'ingestion', file);
      const olap = olapClients();
      const ing = await startIngestion({
        id: e.id,
        dir: serviceDataDir(cfg, e.id),
        partitions: partitionsOf(cfg, e),
        catalog,
        bus,
        olap: () => olap,
        ...ingestionSettings(cfg),
        log: log.child({ svc: 'ingestion', id: e.id }),
      });
      handles.push(ing);
      await serve(e.url, ing, INGESTION_METHODS, () => ({ status: 'ok', service: 'ingestion', id: e.id, bus: bus.connected() }));
    } else if (service === 'olap-shard') {
      const e = entry(c.olap_shards, id, 'olap_shards', file);
      const shard = await startOlapShard({
        id: e.id,
        dir: serviceDataDir(cfg, e.id),
        catalog,
        deltaSources: ingestionClients().map((i) => ({ id: i.id, api: i.api })),
        owns: owner(e.id, shardIds),
        ...shardSettings(cfg),
        log: shardLog(log, e.id),
      });
      handles.push({ name: `olap-shard ${e.id}`, close: () => shard.close() });
      await serve(e.url, shard, OLAP_METHODS, () => ({ status: 'ok', service: 'olap-shard', id: e.id }));
    } else {
      const txs = c.tx_engines.map((t) =>
        rpcClient<TxEngineApi & TxEngineAdminApi>(t.url, TX_METHODS, { name: `tx-engine ${t.id}`, abortable: ['read'] }),
      );
      const clock = await nodeClock(cfg, 'router', log);
      handles.push(clock.handle);
      if (!cfg.router.session_token_secret) {
        log.warn(
          'router.session_token_secret is not set: session tokens this router signs are refused by other routers and after a restart (Stratum-Session-Token, stratum.session_token); give every router the same secret',
        );
      }
      const router = await startRouter({
        catalog,
        publishDdl: (event) => publishDdl(bus, event),
        txEngines: txs,
        ingestion: ingestionClients(),
        partitions: c.partitions,
        olapShards: olapClients(),
        ...routerSettings(cfg),
        clock: clock.clock,
        ...(cfg.router.session_token_secret ? { sessionTokenSecret: cfg.router.session_token_secret } : {}),
        reload: async () => reloadConfig(file, log),
        health: () => ({ form: 'distributed', bus: bus.connected() ? 'connected' : 'disconnected', catalogVersion: catalog.version }),
        log: log.child({ svc: 'router' }),
      });
      handles.push(router);
    }
    return handles;
  } catch (e) {
    for (const h of handles.reverse()) await h.close().catch(() => {});
    throw e;
  }
}

export { resolve };
