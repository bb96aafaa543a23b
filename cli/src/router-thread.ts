/**
 * A router front-end thread of the embedded form (docs/architecture.md, "Threads"; started by
 * embedded.ts for each thread beyond 2): a router of its own (parse, plan, execute, its own
 * DuckDB for analytical reads) that accepts pgwire connections on the main thread's listening
 * socket, and reaches the TX engine (main thread), the bus, ingestion and the OLAP shards
 * (pipeline thread) over MessagePorts. It serves no HTTP: the main thread's router does.
 *
 * Protocol with the parent: one message once started, `{ ready: true }` or
 * `{ failed: ErrorPayload }`. The control port serves metrics, reload and close; after close the
 * thread keeps the (borrowed) listening socket open and idle until the process exits.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { startRouter } from '@stratum/router';
import {
  Catalog,
  type ErrorPayload,
  followCatalog,
  type IngestionApi,
  type MetricsJson,
  type OlapShardApi,
  OneClock,
  portBus,
  portClient,
  publishDdl,
  registry,
  rootLogger,
  type StratumConfig,
  servePort,
  type TxEngineAdminApi,
  type TxEngineApi,
  tableOptionsFrom,
  toErrorPayload,
} from '@stratum/shared';
import { logUnhandledRejections, pipelineIds } from './embedded.ts';
import { all, INGESTION_METHODS, OLAP_METHODS, reloadConfig, reloadsReach, routerSettings, TX_METHODS } from './wiring.ts';

/** What the main thread gives a router thread (`workerData`). */
export interface RouterThreadData {
  cfg: StratumConfig;
  file?: string;
  /** 1, 2, …: this front end's number (the main thread's router is 0). */
  index: number;
  /** The main thread's pgwire listening socket. */
  listenFd: number;
  /** Session tokens are signed with the same key on every front end. */
  sessionTokenSecret: string;
  frontEnd: { channel: string; peers: number };
  /** The process's {@link OneClock} cell. */
  clockCell: BigInt64Array;
  /** The bus's largest payload (bytes). */
  maxPayloadBytes: number;
  ports: { tx: MessagePort; bus: MessagePort; ingestion: MessagePort; shards: Record<string, MessagePort>; control: MessagePort };
}

/** A router thread's first message to the main thread. */
export type RouterThreadMessage = { ready: true } | { failed: ErrorPayload };

/** The control port's methods. */
export interface RouterThreadControl {
  metrics(): Promise<MetricsJson>;
  reload(file: string): Promise<boolean>;
  /** Stop accepting, end this thread's sessions and stop following the catalog. */
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const d = workerData as RouterThreadData;
  const log = rootLogger().child({ thread: `router-${d.index}` });
  try {
    const { cfg } = d;
    const { ingId, shardIds } = pipelineIds(cfg);
    const bus = portBus(d.ports.bus, 'pipeline thread bus', d.maxPayloadBytes);
    const catalog = new Catalog(tableOptionsFrom(cfg));
    reloadsReach(catalog);
    const sub = await followCatalog(bus, catalog, log);
    const shards = shardIds.flatMap((id) => {
      const port = d.ports.shards[id];
      return port ? [{ id, api: portClient<OlapShardApi>(port, OLAP_METHODS, { name: `olap-shard ${id}`, abortable: ['query'] }) }] : [];
    });
    const tx = portClient<TxEngineApi & TxEngineAdminApi>(d.ports.tx, TX_METHODS, { name: 'tx-engine', abortable: ['read'] });
    const router = await startRouter({
      catalog,
      publishDdl: (event) => publishDdl(bus, event),
      txEngines: [tx],
      ingestion: [
        {
          id: ingId,
          api: portClient<IngestionApi>(d.ports.ingestion, INGESTION_METHODS, { name: `ingestion ${ingId}`, abortable: ['find'] }),
          partitions: all(cfg.cluster.partitions),
        },
      ],
      partitions: cfg.cluster.partitions,
      olapShards: shards,
      ...routerSettings(cfg, { http: false }),
      clock: new OneClock(undefined, d.clockCell),
      sessionTokenSecret: d.sessionTokenSecret,
      frontEnd: { listenFd: d.listenFd, ...d.frontEnd },
      log: log.child({ svc: 'router' }),
    });
    const control: RouterThreadControl = {
      metrics: () => registry.getMetricsAsJSON(),
      reload: async (file) => reloadConfig(file, log).ok,
      close: async () => {
        await router.close();
        await sub.stop();
        await bus.close();
      },
    };
    servePort(d.ports.control, control, ['metrics', 'reload', 'close']);
    parentPort?.postMessage({ ready: true } satisfies RouterThreadMessage);
  } catch (e) {
    parentPort?.postMessage({ failed: toErrorPayload(e) } satisfies RouterThreadMessage);
  }
}

logUnhandledRejections();
await main();
