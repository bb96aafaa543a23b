/**
 * Prometheus metrics (prom-client). One registry per process; in the embedded form all five
 * services share it and are told apart by the `service` and `id` labels.
 */
import client from 'prom-client';

/** The process-wide registry, served on `GET /metrics`. */
export const registry = new client.Registry();

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
