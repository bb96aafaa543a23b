/**
 * Clock fault scenarios (issue 5 item 6) with real processes: clock nodes run as
 * `node cli/bin/stratum.mjs clock --config <yaml> --id cX`; the clock client runs in this
 * process. Every test waits for a state (polling, generous deadline) and asserts states, never
 * timings: (a) primary loss → failover to the backup, (b) the returning primary is preferred
 * again, (c) a primary skewed beyond its bound and a local oscillator drifting beyond drift_ppm
 * are detected, (d) a heartbeat partition (TCP proxy) makes ε grow past max_uncertainty_ms,
 * (e) a heartbeat from an unknown node is rejected.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ClockClient, type ClockClientOptions, registry, rootLogger, startClockClient } from '@stratum/shared';
import { FaultInjectingClock, freePort, type PartitionProxy, startPartitionProxy, tempDir } from '@stratum/shared/testing';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const BIN = join(ROOT, 'cli/bin/stratum.mjs');
const log = rootLogger();

/** A clock node process. */
interface ClockProc {
  proc: ChildProcess;
  output(): string;
  kill(): Promise<void>;
}

const live = new Set<ClockProc>();

/** Start `stratum clock --config file --id id` and wait for "listening" (copied from cli/src/test-harness.ts spawnStratum). */
function spawnClock(file: string, id: string, env: NodeJS.ProcessEnv = {}): Promise<ClockProc> {
  const proc = spawn(process.execPath, [BIN, 'clock', '--config', file, '--id', id], {
    cwd: ROOT,
    env: { ...process.env, STRATUM_LOG_LEVEL: process.env.STRATUM_TEST_LOG ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const handle: ClockProc = {
    proc,
    output: () => out,
    async kill() {
      live.delete(handle);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
  live.add(handle);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`stratum clock --id ${id} was not ready within 120 s:\n${out}`));
    }, 120_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening/.test(out)) {
        clearTimeout(timer);
        res(handle);
      }
    });
    proc.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`stratum clock --id ${id} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const v = (await m.get()).values.find((s) => Object.entries(labels).every(([k, x]) => s.labels[k] === x));
  return v?.value ?? 0;
}

/** Poll `cond` every 20 ms until it holds; fail naming `what` and the client's last status. */
async function until(c: ClockClient, cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms; status ${JSON.stringify(c.status())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('clock failover and faults with real clock processes', () => {
  let dir: string;
  let file: string;
  const urls: Record<string, string> = {};
  const procs: Record<string, ClockProc> = {};
  const clients: ClockClient[] = [];
  let proxy: PartitionProxy | undefined;

  const client = async (node: string, o: Partial<ClockClientOptions> = {}): Promise<ClockClient> => {
    const c = await startClockClient({
      node,
      sources: [
        { id: 'c1', url: urls.c1 as string },
        { id: 'c2', url: urls.c2 as string },
      ],
      heartbeatMs: 100,
      driftPpm: 200,
      maxUncertaintyMs: 200,
      log,
      ...o,
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = await tempDir('stratum-clock-');
    for (const id of ['c1', 'c2', 'c9']) urls[id] = `http://127.0.0.1:${await freePort()}`;
    file = join(dir, 'stratum.yaml');
    await writeFile(
      file,
      [
        'clock:',
        '  eps_ms: 1',
        '  sources:',
        ...['c1', 'c2', 'c9'].flatMap((id) => [`    - id: ${id}`, `      url: ${urls[id]}`]),
        '',
      ].join('\n'),
    );
    const [p1, p2] = await Promise.all([spawnClock(file, 'c1'), spawnClock(file, 'c2')]);
    procs.c1 = p1;
    procs.c2 = p2;
  });

  after(async () => {
    for (const c of clients) await c.close();
    await proxy?.close();
    for (const p of [...live]) await p.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('(a) primary loss: SIGKILL the primary → the client fails over to the backup, synchronized, ε bounded', async () => {
    const c = await client('a');
    await until(c, () => c.status().source === 'c1' && c.synchronized(), 'synchronized on the primary c1');
    const before = await metricValue('stratum_clock_failovers_total', { node: 'a' });
    await procs.c1?.kill();
    await until(c, () => c.status().source === 'c2', 'failover to c2');
    const st = c.status();
    assert.equal(st.synchronized, true, st.reason);
    assert.ok(st.eps <= 200, `ε ${st.eps} ms within max_uncertainty_ms`);
    assert.ok((await metricValue('stratum_clock_failovers_total', { node: 'a' })) >= before + 1);
    assert.equal(await metricValue('stratum_clock_source_info', { node: 'a', source: 'c2' }), 1);
  });

  test('(b) the backup serves while the primary is away; the returning primary is preferred again', async () => {
    const c = await client('b');
    await until(c, () => c.synchronized() && c.status().source === 'c2', 'c1 is still down: synchronized on the backup');
    procs.c1 = await spawnClock(file, 'c1');
    await until(c, () => c.status().source === 'c1', 'return to the primary c1');
    assert.equal(c.synchronized(), true, c.unsynchronizedReason());
    assert.ok((await metricValue('stratum_clock_failovers_total', { node: 'b' })) >= 1);
  });

  test('(c) a primary skewed beyond its bound disagrees with the honest backup → unsynchronized; without the skew it recovers', async () => {
    const c = await client('c');
    await until(c, () => c.synchronized() && c.status().source === 'c1', 'synchronized on c1');
    await procs.c1?.kill();
    procs.c1 = await spawnClock(file, 'c1', { STRATUM_TEST_CLOCK_FAULTS: JSON.stringify({ offsetMs: 5_000 }) });
    assert.match(procs.c1.output(), /fault-injected/);
    await until(c, () => /disagree/.test(c.unsynchronizedReason()), 'the disagreement is reported');
    assert.equal(c.synchronized(), false);
    assert.match(c.unsynchronizedReason(), /clock sources disagree beyond their bounds: c1 and c2 are \d+ ms apart/);
    await procs.c1?.kill();
    procs.c1 = await spawnClock(file, 'c1');
    await until(c, () => c.synchronized() && c.status().source === 'c1', 'synchronized on the honest c1 again');
  });

  test('(c) a local oscillator drifting far beyond drift_ppm is caught when heartbeats disagree with the prediction', async () => {
    const osc = new FaultInjectingClock(0, { driftPpm: 200_000 });
    const local = () => {
      const n = osc.now();
      return (n.earliest + n.latest) / 2;
    };
    const c = await client('drift', { sources: [{ id: 'c1', url: urls.c1 as string }], driftPpm: 100, local });
    await until(c, () => /drifts beyond drift_ppm 100/.test(c.unsynchronizedReason()), 'the drift is detected');
    assert.equal(c.synchronized(), false);
    assert.ok((await metricValue('stratum_clock_rejected_heartbeats_total', { node: 'drift', source: 'c1', reason: 'prediction' })) >= 1);
    osc.set({ driftPpm: 0 });
    await until(c, () => c.synchronized(), 'synchronized once the oscillator behaves');
  });

  test('(d) heartbeat partition: ε grows past max_uncertainty_ms → unsynchronized; healed → synchronized', async () => {
    proxy = await startPartitionProxy(Number(new URL(urls.c1 as string).port));
    const c = await client('d', { sources: [{ id: 'c1', url: proxy.url }], driftPpm: 200_000, maxUncertaintyMs: 100 });
    await until(c, () => c.synchronized(), 'synchronized through the proxy');
    proxy.block();
    await until(c, () => !c.synchronized(), 'unsynchronized during the partition');
    assert.match(c.unsynchronizedReason(), /exceeds max_uncertainty_ms 100 ms \(last good heartbeat from c1 \d+ ms ago\)/);
    assert.ok(c.eps() > 100);
    await until(c, async () => (await metricValue('stratum_clock_synchronized', { node: 'd' })) === 0, 'the gauge shows it (next round)');
    proxy.unblock();
    await until(c, () => c.synchronized(), 'synchronized after the partition heals');
    assert.ok(c.eps() <= 100);
  });

  test('(e) a heartbeat from an unknown node is rejected with a clear reason and has no effect', async () => {
    const c9 = await spawnClock(file, 'c9');
    const warnings: string[] = [];
    const capture = {
      ...log,
      warn: (_o: unknown, msg: string) => warnings.push(msg),
      info: () => {},
      child: () => capture,
    } as unknown as typeof log;
    const c = await client('e', {
      sources: [
        { id: 'c1', url: urls.c9 as string }, // config says c1 lives here; the process answers as c9
        { id: 'c2', url: urls.c2 as string },
      ],
      log: capture,
    });
    await until(
      c,
      async () => (await metricValue('stratum_clock_rejected_heartbeats_total', { node: 'e', source: 'c1', reason: 'unknown_node' })) >= 2,
      'answers from c9 are rejected',
    );
    assert.equal(c.synchronized(), true, c.unsynchronizedReason());
    assert.equal(c.status().source, 'c2', 'the answer from c9 never becomes the source');
    assert.equal(warnings.filter((w) => /heartbeat from unknown node "c9"/.test(w)).length, 1, `logged once: ${warnings.join(' | ')}`);
    assert.match(warnings.join('\n'), /rejected: heartbeat from unknown node "c9" at http:\/\/127\.0\.0\.1:\d+ \(configured as c1\)/);
    await c9.kill();
  });
});
