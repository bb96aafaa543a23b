/**
 * Clock service (DESIGN §8). A clock node serves its clock over HTTP: `GET /time` answers
 * `{ node, time, eps }` (ms since the epoch, ms), which every node's clock client
 * (`@stratum/shared` `ClockClient`) polls each heartbeat. The served ε is the node's own error:
 * with chrony configured, |system time offset| + root delay / 2 + root dispersion from the last
 * `chronyc -c tracking` reading (never below `epsMs`); otherwise the source clock's ε. On a
 * node that runs chronyd, chrony's tracking data is also exported as Prometheus gauges
 * (`chrony.ts`). When the source clock fails (an outage), `/time` answers 503 with a JSON error
 * so clients fail over instead of trusting it.
 */
import {
  type Clock,
  clockUncertaintyGauge,
  type Health,
  LocalClock,
  type Logger,
  type ServiceHandle,
  startHttpServer,
  type TimeInterval,
} from '@stratum/shared';
import { type ChronyExporter, type ChronyTracking, startChronyExporter } from './chrony.ts';

export { type ChronyExporter, type ChronyTracking, parseTracking, readTracking, startChronyExporter } from './chrony.ts';

/** A running clock service. */
export interface ClockService extends ServiceHandle {
  /** The clock every service of this process uses: the source, with the served ε. */
  clock: Clock;
  /** HTTP port, when serving. */
  port: number | undefined;
}

/**
 * Error bound (ms) of a clock disciplined by chrony, from one tracking reading (seconds):
 * |system time offset| + root delay / 2 + root dispersion — chrony's own "maximum error"
 * (chronyc(1), "Root dispersion"), plus the offset not yet slewed away.
 */
export function chronyErrorMs(t: ChronyTracking): number {
  return (Math.abs(t.systemTimeOffset) + t.rootDelay / 2 + t.rootDispersion) * 1000;
}

/**
 * Start the clock of a node: `source` (default a {@link LocalClock} with ε = `epsMs`), served over
 * HTTP as `GET /time` → `{ node: nodeId, time: ms, eps: ms }` when `http` is given (503 with
 * `{ error }` while the source throws).
 * @throws when the port cannot be bound.
 */
export async function startClockService(o: {
  /** Id this node answers heartbeats under (clients reject answers from an unexpected id). */
  nodeId: string;
  /** ε (ms) of the default source, and the floor of a chrony-derived ε. */
  epsMs: number;
  /** The clock to serve (tests put a FaultInjectingClock here). Default `new LocalClock(epsMs)`. */
  source?: Clock;
  http?: { host: string; port: number };
  /** Export chronyd's tracking data (`chronyc -c tracking`) every `intervalMs`; `host` = its command socket. */
  chrony?: { host?: string; intervalMs?: number; chronyc?: string };
  log: Logger;
}): Promise<ClockService> {
  const source: Clock = o.source ?? new LocalClock(o.epsMs);
  let chrony: ChronyExporter | undefined;
  const servedEps = (): number => {
    const t = chrony?.last();
    return t ? Math.max(o.epsMs, chronyErrorMs(t)) : source.eps();
  };
  const clock: Clock = {
    now(): TimeInterval {
      const n = source.now();
      const mid = (n.earliest + n.latest) / 2;
      const e = servedEps();
      return { earliest: mid - e, latest: mid + e };
    },
    eps: servedEps,
    synchronized: () => source.synchronized(),
    unsynchronizedReason: () =>
      source.unsynchronizedReason?.() ?? (source.synchronized() ? '' : `clock source of ${o.nodeId} is unsynchronized`),
  };
  const publishEps = () => clockUncertaintyGauge.set({ node: o.nodeId }, servedEps() / 1000);
  publishEps();
  let outage = false;
  const server = o.http
    ? await startHttpServer({
        host: o.http.host,
        port: o.http.port,
        health: (): Health => ({ status: source.synchronized() ? 'ok' : 'degraded', eps: servedEps() }),
        setup: (app) => {
          app.get('/time', async (_req, reply) => {
            let n: TimeInterval;
            try {
              n = source.now();
            } catch (e) {
              if (!outage) o.log.warn({ err: (e as Error).message }, 'clock source failed; /time answers 503');
              outage = true;
              return reply.code(503).send({ error: `clock ${o.nodeId}: source unavailable: ${(e as Error).message}` });
            }
            if (outage) o.log.info('clock source is back');
            outage = false;
            const eps = servedEps();
            clockUncertaintyGauge.set({ node: o.nodeId }, eps / 1000);
            return { node: o.nodeId, time: (n.earliest + n.latest) / 2, eps };
          });
        },
      })
    : undefined;
  let epsTimer: NodeJS.Timeout | undefined;
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
    epsTimer = setInterval(publishEps, o.chrony.intervalMs ?? 1000);
    epsTimer.unref();
  }
  return {
    name: 'clock',
    clock,
    port: server?.port,
    close: async () => {
      if (epsTimer) clearInterval(epsTimer);
      chrony?.stop();
      await server?.close();
    },
  };
}

/**
 * Tests only: when env `STRATUM_TEST_CLOCK_FAULTS` is set (JSON `ClockFaults`: `offsetMs`,
 * `driftPpm`, `jitterMs`, `outage`), a FaultInjectingClock over `Date.now` with ε = `epsMs` and
 * those faults, after a warning on `log`; else undefined. The fault-injecting clock is loaded
 * only then, so production processes never load test code.
 * @throws Error naming the variable when it is not a JSON object of those fields.
 */
export async function testFaultClock(epsMs: number, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Clock | undefined> {
  const raw = env.STRATUM_TEST_CLOCK_FAULTS;
  if (raw === undefined || raw === '') return undefined;
  let faults: unknown;
  try {
    faults = JSON.parse(raw);
  } catch (e) {
    throw new Error(`STRATUM_TEST_CLOCK_FAULTS is not JSON: ${(e as Error).message}`);
  }
  const ok =
    typeof faults === 'object' &&
    faults !== null &&
    !Array.isArray(faults) &&
    Object.entries(faults).every(([k, v]) =>
      k === 'outage'
        ? typeof v === 'boolean'
        : ['offsetMs', 'driftPpm', 'jitterMs'].includes(k) && typeof v === 'number' && Number.isFinite(v),
    );
  if (!ok) throw new Error(`STRATUM_TEST_CLOCK_FAULTS: expected {offsetMs?, driftPpm?, jitterMs?: number, outage?: boolean}, got ${raw}`);
  const { FaultInjectingClock } = await import('@stratum/shared/testing');
  log.warn({ faults }, 'STRATUM_TEST_CLOCK_FAULTS is set: this clock is fault-injected (tests only)');
  return new FaultInjectingClock(epsMs, faults as Record<string, never>);
}
