/**
 * Prometheus metrics (prom-client). One registry per process; in the embedded form all five
 * services share it and are told apart by the `service` and `id` labels.
 */
import client from 'prom-client';

/** This thread's registry; `GET /metrics` serves it merged with {@link addMetricsSource}'s. */
export const registry = new client.Registry();

/** A thread's metrics as prom-client JSON (`Registry.getMetricsAsJSON()`). */
export type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

const sources: (() => Promise<MetricsJson>)[] = [];

/**
 * Merge another thread's metrics into `GET /metrics` of this one (docs/architecture.md,
 * "Threads": the pipeline thread's ingestion and OLAP metrics are served by the router).
 * Series with equal names and labels are summed (prom-client's AggregatorRegistry); process
 * metrics exist on the main thread only, so nothing is counted twice.
 */
export function addMetricsSource(fn: () => Promise<MetricsJson>): void {
  sources.push(fn);
}

/**
 * The Prometheus text of this thread's registry and every {@link addMetricsSource} (a source
 * that fails, e.g. its thread has stopped, is left out).
 * @returns `{ contentType, text }` for the HTTP answer.
 */
export async function metricsText(): Promise<{ contentType: string; text: string }> {
  if (sources.length === 0) return { contentType: registry.contentType, text: await registry.metrics() };
  const all = [await registry.getMetricsAsJSON()];
  for (const s of sources) {
    try {
      all.push(await s());
    } catch {
      // a stopped thread has no metrics to add
    }
  }
  const merged = client.AggregatorRegistry.aggregate(all);
  return { contentType: registry.contentType, text: await merged.metrics() };
}

let defaultsOn = false;

/** Enable Node process metrics (CPU, RSS, event-loop lag) once per process. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  client.collectDefaultMetrics({ register: registry, prefix: 'stratum_process_' });
}

const cache = new Map<string, unknown>();

function getOrCreate<T>(name: string, make: () => T): T {
  let m = cache.get(name) as T | undefined;
  if (!m) {
    m = make();
    cache.set(name, m);
  }
  return m;
}

/** A counter (created once per name; later calls return the same). */
export function counter(name: string, help: string, labelNames: string[] = []): client.Counter<string> {
  return getOrCreate(name, () => new client.Counter({ name, help, labelNames, registers: [registry] }));
}

/** A gauge (created once per name). */
export function gauge(name: string, help: string, labelNames: string[] = []): client.Gauge<string> {
  return getOrCreate(name, () => new client.Gauge({ name, help, labelNames, registers: [registry] }));
}

/** A histogram with buckets in seconds (created once per name). */
export function histogram(
  name: string,
  help: string,
  labelNames: string[] = [],
  buckets: number[] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
): client.Histogram<string> {
  return getOrCreate(name, () => new client.Histogram({ name, help, labelNames, buckets, registers: [registry] }));
}
