/**
 * The embedded form (`stratum up`, docs/architecture.md "Services and folders", "Threads"): all
 * five services in one process, calling each other through the same interfaces as the
 * distributed form's RPC.
 *
 * Thread layout (`threads` in stratum.yaml, `--threads`):
 * - 1: every tier on the main thread.
 * - ≥ 2: the *pipeline* thread (pipeline-thread.ts) owns the bus, the ingestion engine and the
 *   OLAP shards; the main thread runs the TX engine (and its outbox relay) and the router, and
 *   reaches the pipeline thread through MessagePorts: the bus (publish, catalog) by
 *   shared/src/threads/port-bus.ts, ingestion and shards by port-rpc.ts with the RPC method lists
 *   of the distributed form. Merges, delta scans and Parquet pushes no longer take turns with
 *   commits and pgwire on one event loop.
 * - ≥ 3: each thread beyond 2 is one more router front end (router-thread.ts) accepting on the
 *   main thread's pgwire socket, with its own parse/plan/execute and DuckDB, reaching the TX
 *   engine on the main thread and the pipeline thread's tiers over MessagePorts. Session tokens
 *   share one signing key; CancelRequests and pg_stat_activity reach every front end.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { startIngestion } from '@stratum/ingestion';
import { startOlapShard } from '@stratum/olap-shard';
import { type Router, startRouter } from '@stratum/router';
import {
  addMetricsSource,
  Catalog,
  type ChangeBus,
  type Clock,
  followCatalog,
  fromErrorPayload,
  type IngestionApi,
  type Logger,
  type MetricsJson,
  type OlapShardApi,
  OneClock,
  portBus,
  portClient,
  publishDdl,
  rootLogger,
  type ServiceHandle,
  type StratumConfig,
  servePort,
  serviceDataDir,
  tableOptionsFrom,
} from '@stratum/shared';
import { startTxEngine, type TxEngine } from '@stratum/tx-engine';
import type { PipelineAttach, PipelineControl, PipelineThreadData, PipelineThreadMessage } from './pipeline-thread.ts';
import type { RouterThreadControl, RouterThreadData, RouterThreadMessage } from './router-thread.ts';
import {
  all,
  busAndCatalog,
  closer,
  INGESTION_METHODS,
  ingestionSettings,
  lockFor,
  nodeClock,
  OLAP_METHODS,
  onConfigReload,
  owner,
  reloadConfig,
  reloadsReach,
  routerSettings,
  shardLog,
  shardSettings,
  TX_METHODS,
  txEngineSettings,
} from './wiring.ts';

/**
 * Log, do not die of, a promise rejected with no handler (e.g. a storage library's per-write
 * promise after a failed commit, whose error the awaited commit already reported): one failed
 * write must not take every tier of the process down with it. Every thread calls it (a worker
 * thread's unhandled rejection would otherwise end the thread, and with it the process).
 */
export function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    rootLogger().error(
      { err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) },
      'unhandled promise rejection',
    );
  });
}

/** What `stratum up` started. */
export interface Embedded {
  handles: ServiceHandle[];
  pgPort: number;
  httpPort: number | undefined;
}

/** The ingestion engine and OLAP shards of the embedded form (on whichever thread runs them). */
export interface Pipeline {
  ingId: string;
  ingestion: IngestionApi;
  shards: { id: string; api: OlapShardApi }[];
}

/** The ingestion engine's id and the OLAP shard ids of an embedded config. */
export function pipelineIds(cfg: StratumConfig): { ingId: string; shardIds: string[] } {
  return {
    ingId: cfg.cluster.ingestion[0]?.id ?? 'ing1',
    // Every configured OLAP shard runs in this process (placement rules may spread tables over them).
    shardIds: cfg.cluster.olap_shards.length > 0 ? cfg.cluster.olap_shards.map((s) => s.id) : ['olap1'],
  };
}

/**
 * Start the ingestion engine and every OLAP shard over `bus` and `catalog`; their handles are
 * pushed onto `handles` (close in reverse order).
 * @throws when a store cannot be opened.
 */
export async function startPipeline(
  cfg: StratumConfig,
  bus: ChangeBus,
  catalog: Catalog,
  log: Logger,
  handles: ServiceHandle[],
): Promise<Pipeline> {
  const { ingId, shardIds } = pipelineIds(cfg);
  const shards: { id: string; api: OlapShardApi }[] = [];
  const ingestion = await startIngestion({
    id: ingId,
    dir: serviceDataDir(cfg, ingId),
    partitions: all(cfg.cluster.partitions),
    catalog,
    bus,
    olap: () => shards,
    ...ingestionSettings(cfg),
    log: log.child({ svc: 'ingestion', id: ingId }),
  });
  handles.push(ingestion);
  for (const id of shardIds) {
    const shard = await startOlapShard({
      id,
      dir: serviceDataDir(cfg, id),
      catalog,
      deltaSources: [{ id: ingId, api: ingestion }],
      owns: owner(id, shardIds),
      ...shardSettings(cfg),
      log: shardLog(log, id),
    });
    shards.push({ id, api: shard });
    handles.push({ name: `olap-shard ${id}`, close: () => shard.close() });
  }
  return { ingId, ingestion, shards };
}

/**
 * Start all five services in this process. Data lives under `cfg.data_dir`
 * (`tx1/` LevelDB, `ing1/` LMDB, `olap1/` Parquet + manifest, `bus/` the local bus log).
 * `cfg.threads` ≥ 2 runs the bus, ingestion and the OLAP shards on a pipeline thread.
 * @throws when a store cannot be opened or a port cannot be bound (what started is closed again).
 */
export async function startEmbedded(cfg: StratumConfig, log: Logger, file?: string): Promise<Embedded> {
  const handles: ServiceHandle[] = [];
  try {
    lockFor(handles, resolve(serviceDataDir(cfg, 'x'), '..'), 'stratum');
    const node = await nodeClock(cfg, 'embedded', log);
    handles.push(node.handle);
    // One clock stamps every commit and chooses every read timestamp here: ε = 0, no commit-wait.
    const clockCell = OneClock.sharedCell();
    const clock = new OneClock(node.clock, clockCell);
    let bus: ChangeBus;
    let catalog: Catalog;
    let pipeline: Pipeline;
    let attach: (() => AttachedPorts) | undefined;
    let maxPayloadBytes = 0;
    if (cfg.threads >= 2) {
      const t = await startPipelineThread(cfg, log, file);
      attach = t.attach;
      maxPayloadBytes = t.maxPayloadBytes;
      handles.push(t.handle);
      bus = t.bus;
      catalog = new Catalog(tableOptionsFrom(cfg));
      reloadsReach(catalog);
      const sub = await followCatalog(bus, catalog, log);
      handles.push(closer('catalog', () => sub.stop()));
      pipeline = t.pipeline;
    } else {
      const opened = await busAndCatalog(cfg, log);
      bus = opened.bus;
      catalog = opened.catalog;
      handles.push(
        closer('bus', async () => {
          await opened.sub.stop();
          await bus.close();
        }),
      );
      pipeline = await startPipeline(cfg, bus, catalog, log, handles);
    }
    const routerThreads = attach ? cfg.threads - 2 : 0;
    // Every front end signs session tokens with one key, so a token works on any of them.
    const secret = cfg.router.session_token_secret ?? (routerThreads > 0 ? randomBytes(32).toString('base64url') : undefined);
    const frontEnd = routerThreads > 0 ? { channel: `stratum-front-end-${process.pid}`, peers: routerThreads } : undefined;
    const front = await startFront(cfg, log, file, { bus, catalog, clock, pipeline, secret, frontEnd }, handles);
    for (let index = 1; attach && frontEnd && secret && index <= routerThreads; index++) {
      const ports = attach();
      handles.push(
        await startRouterThread(cfg, log, file, {
          index,
          listenFd: front.router.pgListenFd(),
          secret,
          frontEnd,
          clockCell,
          maxPayloadBytes,
          tx: front.tx,
          ports,
        }),
      );
    }
    return { handles, pgPort: front.router.pgPort, httpPort: front.router.httpPort };
  } catch (e) {
    for (const h of handles.reverse()) await h.close().catch(() => {});
    throw e;
  }
}

/** The TX engine and the router on this thread, over the given bus, catalog and pipeline tiers. */
async function startFront(
  cfg: StratumConfig,
  log: Logger,
  file: string | undefined,
  d: {
    bus: ChangeBus;
    catalog: Catalog;
    clock: Clock;
    pipeline: Pipeline;
    secret: string | undefined;
    frontEnd: { channel: string; peers: number } | undefined;
  },
  handles: ServiceHandle[],
): Promise<{ router: Router; tx: TxEngine }> {
  const { bus, catalog, clock, pipeline } = d;
  const txId = cfg.cluster.tx_engines[0]?.id ?? 'tx1';
  const tx = await startTxEngine({
    id: txId,
    dir: serviceDataDir(cfg, txId),
    partitions: cfg.cluster.partitions,
    catalog,
    bus,
    clock,
    ingestion: pipeline.ingestion,
    ...txEngineSettings(cfg),
    // Another node's engines can write a shared bus; the local bus is this process's alone.
    soleWriter: cfg.cluster.bus === 'local',
    log: log.child({ svc: 'tx-engine', id: txId }),
  });
  handles.push(tx);
  const router = await startRouter({
    catalog,
    publishDdl: (event) => publishDdl(bus, event),
    txEngines: [tx],
    ingestion: [{ id: pipeline.ingId, api: pipeline.ingestion, partitions: all(cfg.cluster.partitions) }],
    partitions: cfg.cluster.partitions,
    olapShards: pipeline.shards,
    ...routerSettings(cfg),
    clock,
    ...(d.secret ? { sessionTokenSecret: d.secret } : {}),
    ...(d.frontEnd ? { frontEnd: d.frontEnd } : {}),
    reload: async () => reloadConfig(file, log),
    health: () => ({
      form: 'embedded',
      threads: cfg.threads,
      bus: bus.connected() ? 'connected' : 'disconnected',
      outbox: tx.outboxPending(),
      catalogVersion: catalog.version,
    }),
    log: log.child({ svc: 'router' }),
  });
  handles.push(router);
  return { router, tx };
}

/** Longest wait (ms) for the pipeline thread to close its stores before it is terminated. */
const PIPELINE_CLOSE_TIMEOUT_MS = 30_000;

/**
 * Start the pipeline thread (pipeline-thread.ts) and wait until its tiers are open.
 * @returns proxies of its bus, ingestion engine and shards, and a handle that closes it.
 * @throws the thread's own start-up error (e.g. a store that cannot be opened).
 */
async function startPipelineThread(
  cfg: StratumConfig,
  log: Logger,
  file: string | undefined,
): Promise<{ bus: ChangeBus; pipeline: Pipeline; handle: ServiceHandle; maxPayloadBytes: number; attach: () => AttachedPorts }> {
  const { ingId, shardIds } = pipelineIds(cfg);
  const channel = () => new MessageChannel();
  const busCh = channel();
  const ingCh = channel();
  const controlCh = channel();
  const shardChs = shardIds.map((id) => ({ id, ch: channel() }));
  const data: PipelineThreadData = {
    cfg,
    ...(file ? { file } : {}),
    ports: {
      bus: busCh.port2,
      ingestion: ingCh.port2,
      control: controlCh.port2,
      shards: Object.fromEntries(shardChs.map((s) => [s.id, s.ch.port2])),
    },
  };
  const worker = new Worker(new URL('../bin/pipeline-thread.mjs', import.meta.url), {
    workerData: data,
    transferList: [busCh.port2, ingCh.port2, controlCh.port2, ...shardChs.map((s) => s.ch.port2)],
    // The worker's own stdout/stderr go to the process's (pino writes JSON lines there).
    stdout: false,
    stderr: false,
  });
  let closing = false;
  const exited = new Promise<number>((r) => worker.once('exit', r));
  const ready = await new Promise<PipelineThreadMessage>((resolveReady, reject) => {
    worker.once('message', (m: PipelineThreadMessage) => resolveReady(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the pipeline thread exited with ${code} while starting`)));
  });
  if ('failed' in ready) {
    await exited;
    throw fromErrorPayload(ready.failed);
  }
  // A pipeline thread that dies takes the bus, ingestion and the shards with it: like an
  // uncaught error on the single thread, the process stops (nothing acknowledged is lost: the
  // TX engine's outbox keeps what the bus has not stored).
  worker.on('error', (e) => {
    log.fatal({ err: e }, 'the pipeline thread (bus, ingestion, OLAP shards) failed; stopping');
    process.exit(1);
  });
  worker.on('exit', (code) => {
    if (closing) return;
    log.fatal({ code }, 'the pipeline thread (bus, ingestion, OLAP shards) exited; stopping');
    process.exit(1);
  });
  const control = portClient<PipelineControl>(controlCh.port1, ['metrics', 'reload', 'close'], { name: 'pipeline thread' });
  addMetricsSource(() => control.metrics() as Promise<MetricsJson>);
  if (file) onConfigReload(() => void control.reload(file).catch(() => {}));
  const bus = portBus(busCh.port1, 'pipeline thread bus', ready.maxPayloadBytes);
  const pipeline: Pipeline = {
    ingId,
    ingestion: portClient<IngestionApi>(ingCh.port1, INGESTION_METHODS, { name: `ingestion ${ingId}`, abortable: ['find'] }),
    shards: shardChs.map((s) => ({
      id: s.id,
      api: portClient<OlapShardApi>(s.ch.port1, OLAP_METHODS, { name: `olap-shard ${s.id}`, abortable: ['query'] }),
    })),
  };
  const handle = closer('pipeline thread', async () => {
    closing = true;
    const timer = setTimeout(() => {
      log.error({ timeoutMs: PIPELINE_CLOSE_TIMEOUT_MS }, 'the pipeline thread did not close in time; terminating it');
      void worker.terminate();
    }, PIPELINE_CLOSE_TIMEOUT_MS);
    try {
      await control.close();
    } finally {
      await bus.close();
      for (const p of [busCh.port1, ingCh.port1, controlCh.port1, ...shardChs.map((s) => s.ch.port1)]) p.close();
      await exited;
      clearTimeout(timer);
    }
  });
  // Ports for one more client thread: the pipeline thread serves one end, the caller gets the other.
  const attach = (): AttachedPorts => {
    const b = channel();
    const i = channel();
    const sh = shardIds.map((id) => ({ id, ch: channel() }));
    const theirs: PipelineAttach['attach'] = {
      bus: b.port2,
      ingestion: i.port2,
      shards: Object.fromEntries(sh.map((x) => [x.id, x.ch.port2])),
    };
    worker.postMessage({ attach: theirs } satisfies PipelineAttach, [b.port2, i.port2, ...sh.map((x) => x.ch.port2)]);
    return { bus: b.port1, ingestion: i.port1, shards: Object.fromEntries(sh.map((x) => [x.id, x.ch.port1])) };
  };
  return { bus, pipeline, handle, maxPayloadBytes: ready.maxPayloadBytes, attach };
}

/** A client thread's ends of the pipeline thread's bus, ingestion and shard ports. */
interface AttachedPorts {
  bus: MessagePort;
  ingestion: MessagePort;
  shards: Record<string, MessagePort>;
}

/**
 * Start router front-end thread `o.index` (router-thread.ts) and wait until it accepts on the
 * shared socket. The main thread serves it the TX engine over a port of its own.
 * @returns a handle that closes the thread's router (the thread itself lives until the process
 *   exits: it holds the shared listening socket, see PgWireOptions.listenFd).
 * @throws the thread's own start-up error.
 */
async function startRouterThread(
  cfg: StratumConfig,
  log: Logger,
  file: string | undefined,
  o: {
    index: number;
    listenFd: number;
    secret: string;
    frontEnd: { channel: string; peers: number };
    clockCell: BigInt64Array;
    maxPayloadBytes: number;
    tx: TxEngine;
    ports: AttachedPorts;
  },
): Promise<ServiceHandle> {
  const txCh = new MessageChannel();
  const controlCh = new MessageChannel();
  const stopTx = servePort(txCh.port1, o.tx, TX_METHODS);
  const data: RouterThreadData = {
    cfg,
    ...(file ? { file } : {}),
    index: o.index,
    listenFd: o.listenFd,
    sessionTokenSecret: o.secret,
    frontEnd: o.frontEnd,
    clockCell: o.clockCell,
    maxPayloadBytes: o.maxPayloadBytes,
    ports: { tx: txCh.port2, control: controlCh.port2, ...o.ports },
  };
  const worker = new Worker(new URL('../bin/router-thread.mjs', import.meta.url), {
    workerData: data,
    transferList: [txCh.port2, controlCh.port2, o.ports.bus, o.ports.ingestion, ...Object.values(o.ports.shards)],
    stdout: false,
    stderr: false,
  });
  const ready = await new Promise<RouterThreadMessage>((resolveReady, reject) => {
    worker.once('message', (m: RouterThreadMessage) => resolveReady(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`router thread ${o.index} exited with ${code} while starting`)));
  });
  if ('failed' in ready) throw fromErrorPayload(ready.failed);
  // It shares the pgwire socket: a front end that dies cannot be replaced safely, the process stops.
  let closing = false;
  for (const ev of ['error', 'exit'] as const) {
    worker.on(ev, (x: unknown) => {
      if (closing) return;
      log.fatal({ thread: `router-${o.index}`, [ev === 'error' ? 'err' : 'code']: x }, 'a router front-end thread failed; stopping');
      process.exit(1);
    });
  }
  worker.unref();
  const control = portClient<RouterThreadControl>(controlCh.port1, ['metrics', 'reload', 'close'], { name: `router thread ${o.index}` });
  addMetricsSource(() => control.metrics() as Promise<MetricsJson>);
  if (file) onConfigReload(() => void control.reload(file).catch(() => {}));
  return closer(`router thread ${o.index}`, async () => {
    closing = true;
    await control.close();
    stopTx();
  });
}
