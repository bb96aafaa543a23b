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

/** Label values of one series (prom-client's shape). */
type Labels = Partial<Record<string, string | number>>;

/**
 * A counter whose `inc` adds to a per-label-set sum in memory, handed to prom-client whenever
 * the registry reads the counter (`get`, so every scrape and `Registry` call sees every
 * increment). prom-client's own `inc` validates and hashes the labels on every call, ~3 % of a
 * point read's CPU. Bad input still throws at the `inc` that gives it, as prom-client's does.
 */
class SummingCounter extends client.Counter<string> {
  private readonly sums = new Map<string, { labels: Labels; n: number }>();
  private readonly direct: (labels?: unknown, value?: number) => void;

  constructor(name: string, help: string, labelNames: string[]) {
    super({ name, help, labelNames, registers: [registry] });
    // prom-client sets `inc` per instance in its constructor; this one replaces it.
    const direct = this.inc as (labels?: unknown, value?: number) => void;
    this.direct = (labels, value) => direct.call(this, labels, value);
    const known = new Set(labelNames);
    this.inc = ((labels?: Labels | number, value?: number): void => {
      if (typeof labels !== 'object' || labels === null || (value !== undefined && !(Number.isFinite(value) && value >= 0))) {
        this.direct(labels, value);
        return;
      }
      let key = '';
      for (const n of labelNames) {
        const v = labels[n];
        key += v === undefined ? '\u0002\u0001' : `${v}\u0001`;
      }
      const e = this.sums.get(key);
      if (e) {
        e.n += value ?? 1;
        return;
      }
      for (const k in labels) if (!known.has(k)) this.direct(labels, value); // throws: not a label of this counter
      this.sums.set(key, { labels: { ...labels }, n: value ?? 1 });
    }) as client.Counter<string>['inc'];
  }

  /** Hand the sums gathered since the last read to prom-client. */
  private flush(): void {
    for (const e of this.sums.values()) {
      if (e.n === 0) continue;
      this.direct(e.labels, e.n);
      e.n = 0;
    }
  }

  override async get(): Promise<client.MetricObjectWithValues<client.MetricValue<string>>> {
    this.flush();
    return super.get();
  }

  override reset(): void {
    // prom-client's constructor calls reset before this class's fields exist.
    this.sums?.clear();
    super.reset();
  }

  override remove(...values: string[]): void;
  override remove(labels: Labels): void;
  override remove(...args: unknown[]): void {
    this.flush();
    (super.remove as (...a: unknown[]) => void)(...args);
  }
}

/** A counter (created once per name; later calls return the same). See {@link SummingCounter}. */
export function counter(name: string, help: string, labelNames: string[] = []): client.Counter<string> {
  return getOrCreate(name, () => new SummingCounter(name, help, labelNames));
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
