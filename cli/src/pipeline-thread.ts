/**
 * The embedded form's pipeline thread (docs/architecture.md, "Threads"; started by
 * embedded.ts when `threads` ≥ 2): opens the bus, follows the catalog, runs the ingestion
 * engine and the OLAP shards, and serves them to the main thread over the MessagePorts it was
 * given: the bus by `serveBus`, ingestion and each shard by `servePort` with the distributed
 * form's RPC method lists, and a control port (metrics, reload, close).
 *
 * Protocol with the parent: one message once started, `{ ready: true, maxPayloadBytes }` or
 * `{ failed: ErrorPayload }` (then the thread ends). After `close` has answered, the main
 * thread closes the ports and the thread's event loop ends.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import {
  type ErrorPayload,
  type MetricsJson,
  registry,
  rootLogger,
  type ServiceHandle,
  type StratumConfig,
  serveBus,
  servePort,
  toErrorPayload,
} from '@stratum/shared';
import { logUnhandledRejections, startPipeline } from './embedded.ts';
import { busAndCatalog, closer, INGESTION_METHODS, OLAP_METHODS, reloadConfig } from './wiring.ts';

/** What the main thread gives the pipeline thread (`workerData`). */
export interface PipelineThreadData {
  cfg: StratumConfig;
  /** The config file, for reloads. */
  file?: string;
  ports: { bus: MessagePort; ingestion: MessagePort; control: MessagePort; shards: Record<string, MessagePort> };
}

/** Ports of one more client thread (a router front-end thread), sent by the main thread. */
export interface PipelineAttach {
  attach: { bus: MessagePort; ingestion: MessagePort; shards: Record<string, MessagePort> };
}

/** The pipeline thread's first message to the main thread. */
export type PipelineThreadMessage = { ready: true; maxPayloadBytes: number } | { failed: ErrorPayload };

/** The control port's methods. */
export interface PipelineControl {
  /** This thread's metrics (prom-client JSON), merged into the router's `GET /metrics`. */
  metrics(): Promise<MetricsJson>;
  /** Re-read the config file's per-table options into this thread's catalog. */
  reload(file: string): Promise<boolean>;
  /** Close ingestion, the shards and the bus (in that order); the thread then ends. */
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const data = workerData as PipelineThreadData;
  const log = rootLogger().child({ thread: 'pipeline' });
  const handles: ServiceHandle[] = [];
  const stops: (() => void)[] = [];
  try {
    const { bus, catalog, sub } = await busAndCatalog(data.cfg, log);
    handles.push(
      closer('bus', async () => {
        await sub.stop();
        await bus.close();
      }),
    );
    const pipeline = await startPipeline(data.cfg, bus, catalog, log, handles);
    const serveTo = (ports: PipelineAttach['attach']) => {
      handles.push(closer('bus port', serveBus(ports.bus, bus)));
      stops.push(servePort(ports.ingestion, pipeline.ingestion, INGESTION_METHODS));
      for (const s of pipeline.shards) {
        const port = ports.shards[s.id];
        if (port) stops.push(servePort(port, s.api, OLAP_METHODS));
      }
    };
    serveTo(data.ports);
    parentPort?.on('message', (m: PipelineAttach) => {
      if (m?.attach) serveTo(m.attach);
    });
    parentPort?.unref(); // the served ports, not this one, keep the thread alive
    const control: PipelineControl = {
      metrics: () => registry.getMetricsAsJSON(),
      reload: async (file) => reloadConfig(file, log).ok,
      close: async () => {
        for (const h of handles.reverse()) {
          try {
            await h.close();
          } catch (e) {
            log.error({ err: e, service: h.name }, 'close failed');
          }
        }
        for (const stop of stops) stop();
        // The main thread closes the ports once this answer arrives; the thread's event loop then ends.
      },
    };
    servePort(data.ports.control, control, ['metrics', 'reload', 'close']);
    parentPort?.postMessage({ ready: true, maxPayloadBytes: bus.maxPayloadBytes() } satisfies PipelineThreadMessage);
  } catch (e) {
    for (const h of handles.reverse()) await h.close().catch(() => {});
    parentPort?.postMessage({ failed: toErrorPayload(e) } satisfies PipelineThreadMessage);
    for (const p of [data.ports.bus, data.ports.ingestion, data.ports.control, ...Object.values(data.ports.shards)]) p.close();
  }
}

logUnhandledRejections();
await main();
