/**
 * Clock client against clock services started in this process (real HTTP servers): the ε
 * formula of DESIGN §8 with a fault-injecting local oscillator, malformed and failing answers,
 * the served ε and the 503 of a source in an outage. Failover between real processes is in
 * failover.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import {
  type Clock,
  type ClockClient,
  registry,
  rootLogger,
  startClockClient,
  type TimeInterval,
  UNKNOWN_HALF_WIDTH_MS,
} from '@stratum/shared';
import { FaultInjectingClock } from '@stratum/shared/testing';
import { type ChronyTracking, type ClockService, chronyErrorMs, startClockService } from './index.ts';

const log = rootLogger();
const HTTP = { host: '127.0.0.1', port: 0 };

/** Value of a counter/gauge sample whose labels include `labels` (0 when absent). */
async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const v = (await m.get()).values.find((s) => Object.entries(labels).every(([k, x]) => s.labels[k] === x));
  return v?.value ?? 0;
}

/** Poll `cond` every 20 ms until it holds; fail with `what` and the last status after `ms`. */
async function until(cond: () => boolean, what: string, describeState: () => unknown, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms; state ${JSON.stringify(describeState())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('clock client', () => {
  const services: ClockService[] = [];
  const clients: ClockClient[] = [];
  const servers: Server[] = [];
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of services) await s.close();
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  test('ε = eps_primary + rtt/2 + drift × time since the last good heartbeat (fault-injected local oscillator)', async () => {
    // A manual oscillator: it advances only when the test (or the source, below) moves it, so rtt is exact.
    let base = 1_000_000;
    const local = new FaultInjectingClock(0, { offsetMs: 5_000 }, () => base);
    const T = 1_700_000_000_000;
    const source: Clock = {
      now(): TimeInterval {
        base += 10; // the request takes 10 ms of local time
        return { earliest: T - 3, latest: T + 3 };
      },
      eps: () => 3,
      synchronized: () => true,
    };
    const svc = await startClockService({ nodeId: 'f1', epsMs: 1, source, http: HTTP, log });
    services.push(svc);
    const reading = () => {
      const n = local.now();
      return (n.earliest + n.latest) / 2;
    };
    const c = await startClockClient({
      node: 'formula',
      sources: [{ id: 'f1', url: `http://127.0.0.1:${svc.port}` }],
      heartbeatMs: 60_000,
      driftPpm: 200,
      maxUncertaintyMs: 50,
      local: reading,
      log,
    });
    clients.push(c);
    // t0 = base0 + 5000, t1 = t0 + 10: mid = T + 5, half = 3 + 5.
    assert.equal(c.eps(), 8);
    assert.deepEqual(c.now(), { earliest: T + 5 - 8, latest: T + 5 + 8 });
    const st = c.status();
    assert.equal(st.source, 'f1');
    assert.equal(st.offsetMs, T + 5 - (1_000_010 + 5_000));
    assert.equal(st.synchronized, true);
    base += 100_000; // 100 s without a heartbeat: + 200 ppm × 100 s = 20 ms
    assert.equal(c.eps(), 28);
    assert.deepEqual(c.now(), { earliest: T + 5 + 100_000 - 28, latest: T + 5 + 100_000 + 28 });
    assert.equal(c.synchronized(), true);
    base += 200_000; // 300 s: ε = 8 + 60 = 68 > 50
    assert.equal(c.eps(), 68);
    assert.equal(c.synchronized(), false);
    assert.match(c.unsynchronizedReason(), /ε 68\.00 ms exceeds max_uncertainty_ms 50 ms \(last good heartbeat from f1 300000 ms ago\)/);
  });

  test('before any heartbeat: ε is Infinity, now() has a finite midpoint but no usable bound, and the reason says so', async () => {
    const c = await startClockClient({
      node: 'none',
      sources: [{ id: 'gone', url: 'http://127.0.0.1:9' }],
      heartbeatMs: 200,
      driftPpm: 200,
      maxUncertaintyMs: 50,
      log,
    });
    clients.push(c);
    assert.equal(c.eps(), Number.POSITIVE_INFINITY);
    const n = c.now();
    assert.ok(Number.isFinite((n.earliest + n.latest) / 2), 'commit timestamps from the midpoint stay numbers');
    assert.equal(n.latest - n.earliest, 2 * UNKNOWN_HALF_WIDTH_MS);
    assert.equal(c.synchronized(), false);
    assert.match(c.unsynchronizedReason(), /no good heartbeat yet from gone/);
    assert.equal(await metricValue('stratum_clock_synchronized', { node: 'none' }), 0);
  });

  test('malformed answers are rejected and counted; the state stays as it was', async () => {
    const bodies = [{ node: 'm1', time: 5, eps: -1 }, { node: 'm1', time: 5 }, 'not json'];
    let i = 0;
    const server = createServer((_req, res) => {
      const b = bodies[i++ % bodies.length];
      res.setHeader('content-type', 'application/json');
      res.end(typeof b === 'string' ? b : JSON.stringify(b));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const c = await startClockClient({
      node: 'malformed',
      sources: [{ id: 'm1', url: `http://127.0.0.1:${port}` }],
      heartbeatMs: 30,
      driftPpm: 200,
      maxUncertaintyMs: 50,
      log,
    });
    clients.push(c);
    await until(
      () => i >= 4,
      'three kinds of malformed answers',
      () => c.status(),
    );
    assert.ok(
      (await metricValue('stratum_clock_rejected_heartbeats_total', { node: 'malformed', source: 'm1', reason: 'malformed' })) >= 3,
    );
    assert.equal(c.status().source, undefined);
    assert.equal(c.eps(), Number.POSITIVE_INFINITY);
  });

  test('a source in an outage answers 503 and the client takes time from the backup', async () => {
    const broken = new FaultInjectingClock(1, { outage: true });
    const primary = await startClockService({ nodeId: 'o1', epsMs: 1, source: broken, http: HTTP, log });
    const backup = await startClockService({ nodeId: 'o2', epsMs: 2, http: HTTP, log });
    services.push(primary, backup);
    const res = await fetch(`http://127.0.0.1:${primary.port}/time`);
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /clock o1: source unavailable: .*outage/);
    const ok = (await (await fetch(`http://127.0.0.1:${backup.port}/time`)).json()) as { node: string; eps: number; time: number };
    assert.equal(ok.node, 'o2');
    assert.equal(ok.eps, 2);
    assert.ok(Math.abs(ok.time - Date.now()) < 1000);
    const c = await startClockClient({
      node: 'outage',
      sources: [
        { id: 'o1', url: `http://127.0.0.1:${primary.port}` },
        { id: 'o2', url: `http://127.0.0.1:${backup.port}` },
      ],
      heartbeatMs: 30,
      driftPpm: 200,
      maxUncertaintyMs: 100,
      log,
    });
    clients.push(c);
    // Under load a first sample may come back too uncertain (maxUncertaintyMs): the next heartbeat takes it.
    await until(
      () => c.status().source === 'o2' && c.synchronized(),
      'synchronized from the backup while the primary is out',
      () => c.status(),
    );
    broken.set({ outage: false });
    await until(
      () => c.status().source === 'o1',
      'return to the primary after its outage',
      () => c.status(),
    );
    assert.equal(c.synchronized(), true);
    assert.equal(await metricValue('stratum_clock_source_info', { node: 'outage', source: 'o1' }), 1);
    assert.ok((await metricValue('stratum_clock_failovers_total', { node: 'outage' })) >= 1);
  });

  test("chrony's error bound: |offset| + root delay / 2 + root dispersion, in ms", () => {
    const t = { systemTimeOffset: -0.002, rootDelay: 0.004, rootDispersion: 0.0005 } as ChronyTracking;
    assert.ok(Math.abs(chronyErrorMs(t) - 4.5) < 1e-9);
  });
});
