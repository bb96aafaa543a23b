/**
 * Clock service (DESIGN §8). This release serves the local clock with a configured ε
 * (`clock.eps_ms`) and, on a node that runs chronyd, exports chrony's tracking data as
 * Prometheus gauges (`chrony.ts`); the heartbeat protocol with primaries and backups comes later
 * behind the same `Clock` interface. `GET /time` answers `{ time: ms, eps: ms }`.
 */
import { type Clock, gauge, type Health, LocalClock, type Logger, type ServiceHandle, startHttpServer } from '@stratum/shared';
import { type ChronyExporter, startChronyExporter } from './chrony.ts';

export { type ChronyExporter, type ChronyTracking, parseTracking, readTracking, startChronyExporter } from './chrony.ts';

const mEps = gauge('stratum_clock_uncertainty_seconds', 'Clock uncertainty ε of this node', ['node']);

/** A running clock service. */
export interface ClockService extends ServiceHandle {
  /** The clock every service of this process uses. */
  clock: Clock;
  /** HTTP port, when serving. */
  port: number | undefined;
}

/**
 * Start the clock: a {@link LocalClock} with ε = `epsMs`, served over HTTP when `http` is given.
 * @throws when the port cannot be bound.
 */
export async function startClockService(o: {
  nodeId: string;
  epsMs: number;
  http?: { host: string; port: number };
  /** Export chronyd's tracking data (`chronyc -c tracking`) every `intervalMs`; `host` = its command socket. */
  chrony?: { host?: string; intervalMs?: number; chronyc?: string };
  log: Logger;
}): Promise<ClockService> {
  const clock = new LocalClock(o.epsMs);
  mEps.set({ node: o.nodeId }, o.epsMs / 1000);
  const server = o.http
    ? await startHttpServer({
        host: o.http.host,
        port: o.http.port,
        health: (): Health => ({ status: 'ok', eps: clock.eps() }),
        setup: (app) => {
          app.get('/time', async () => {
            const n = clock.now();
            return { time: (n.earliest + n.latest) / 2, eps: clock.eps() };
          });
        },
      })
    : undefined;
  let chrony: ChronyExporter | undefined;
  if (o.chrony) {
    let failing = false;
    chrony = startChronyExporter({
      node: o.nodeId,
      ...(o.chrony.host ? { host: o.chrony.host } : {}),
      ...(o.chrony.chronyc ? { chronyc: o.chrony.chronyc } : {}),
      intervalMs: o.chrony.intervalMs ?? 1000,
      onError: (e) => {
        if (!failing) o.log.warn({ err: e.message }, 'chrony tracking unavailable; stratum_chrony_up is 0');
        failing = true;
      },
    });
  }
  return {
    name: 'clock',
    clock,
    port: server?.port,
    close: async () => {
      chrony?.stop();
      await server?.close();
    },
  };
}
