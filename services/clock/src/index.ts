/**
 * Clock service (DESIGN §8). This release serves the local clock with a configured ε
 * (`clock.eps_ms`); the heartbeat protocol with primaries, backups and chrony comes later
 * behind the same `Clock` interface. `GET /time` answers `{ time: ms, eps: ms }`.
 */
import { type Clock, gauge, type Health, LocalClock, type Logger, type ServiceHandle, startHttpServer } from '@stratum/shared';

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
  return {
    name: 'clock',
    clock,
    port: server?.port,
    close: async () => {
      await server?.close();
    },
  };
}
