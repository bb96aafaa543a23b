/**
 * Bench: clock failover detection time (DESIGN §8, issue 5 item 6).
 *
 * Starts two clock nodes as processes (`stratum clock --config <yaml> --id c1|c2`, c1 the
 * primary) and a clock client in this process polling both every `--heartbeat-ms`. Once the
 * client takes time from c1, c1 is SIGKILLed; detection time = from the kill until the client's
 * source is c2 (polled every ms, so it includes up to ~1 ms of polling). ε is read at that
 * moment. Each run starts a fresh primary and a fresh client; the backup stays up. "spurious
 * switches" counts rounds in which the live primary answered later than the request timeout
 * (= heartbeat) and the client took the backup's time for a while.
 *
 * Expect a median near half a heartbeat (the kill lands anywhere in the period; a killed
 * node refuses the next request at once) and a max near one heartbeat plus scheduling noise.
 *
 * Usage: npx tsx bench/clock-failover.ts [--runs 5] [--heartbeat-ms 100,50] [--drift-ppm 200]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ClockClient, registry, rootLogger, startClockClient } from '@stratum/shared';
import {
  fmt,
  freePort,
  machineLine,
  makeTempDir,
  median,
  parseArgs,
  printTable,
  removeTempDir,
  type ServiceProcess,
  spawnStratumService,
  stratumAvailable,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const runs = args.num('runs') ?? 5;
const driftPpm = args.num('drift-ppm') ?? 200;
const heartbeats = (args.str('heartbeat-ms') ?? '100,50').split(',').map((x) => {
  const n = Number(x);
  if (!Number.isFinite(n) || n < 10) throw new Error(`--heartbeat-ms expects numbers ≥ 10 separated by commas, got ${x}`);
  return n;
});
const log = rootLogger();
log.level = process.env.STRATUM_LOG_LEVEL ?? 'error';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** One failover: detection time and ε right after it (ms); switches away from a live primary before the kill. */
interface Run {
  detectMs: number;
  epsMs: number;
  spurious: number;
}

async function failovers(): Promise<number> {
  const m = registry.getSingleMetric('stratum_clock_failovers_total');
  return ((await m?.get())?.values ?? []).filter((v) => v.labels.node === 'bench').reduce((s, v) => s + v.value, 0);
}

if (!stratumAvailable()) {
  console.error('cli/bin/stratum.mjs is missing: nothing to measure');
  process.exit(1);
}
console.log(machineLine());
const dir = await makeTempDir('stratum-bench-clock-');
const urls = { c1: `http://127.0.0.1:${await freePort()}`, c2: `http://127.0.0.1:${await freePort()}` };
const file = join(dir, 'stratum.yaml');
await writeFile(
  file,
  ['clock:', '  eps_ms: 1', '  sources:', `    - { id: c1, url: "${urls.c1}" }`, `    - { id: c2, url: "${urls.c2}" }`, ''].join('\n'),
);
const backup = await spawnStratumService(['clock', '--config', file, '--id', 'c2']);
const rows: string[][] = [];
try {
  for (const heartbeatMs of heartbeats) {
    const results: Run[] = [];
    for (let i = 0; i < runs; i++) {
      const primary: ServiceProcess = await spawnStratumService(['clock', '--config', file, '--id', 'c1']);
      let client: ClockClient | undefined;
      try {
        client = await startClockClient({
          node: 'bench',
          sources: [
            { id: 'c1', url: urls.c1 },
            { id: 'c2', url: urls.c2 },
          ],
          heartbeatMs,
          driftPpm,
          maxUncertaintyMs: 250,
          log,
        });
        const c = client;
        await waitFor(() => c.status().source === 'c1' && c.synchronized(), 'client synchronized on c1');
        const f0 = await failovers();
        // Let a few rounds pass so the kill lands at a random phase of the heartbeat.
        await sleep(heartbeatMs * 3 + Math.random() * heartbeatMs);
        // A primary answering slower than the timeout loses a round to the backup (a spurious
        // switch); wait until it serves again so the kill is what the client detects.
        await waitFor(() => c.status().source === 'c1', 'client back on c1');
        const spurious = (await failovers()) - f0;
        const t0 = performance.now();
        process.kill(primary.pid, 'SIGKILL');
        // Detected = the client takes time from c2 in a sample taken after the kill.
        await waitFor(() => {
          const st = c.status();
          return st.source === 'c2' && st.lastGoodAgeMs <= performance.now() - t0;
        }, 'failover to c2');
        const detectMs = performance.now() - t0;
        results.push({ detectMs, epsMs: c.eps(), spurious });
        console.error(
          `heartbeat ${heartbeatMs} ms, run ${i + 1}/${runs}: failover after ${detectMs.toFixed(1)} ms, ε ${c.eps().toFixed(2)} ms`,
        );
      } finally {
        await client?.close();
        await primary.stop(1000);
      }
    }
    const d = results.map((r) => r.detectMs);
    const e = results.map((r) => r.epsMs);
    rows.push([
      fmt(heartbeatMs),
      fmt(results.length),
      fmt(median(d), 1),
      fmt(Math.max(...d), 1),
      fmt(median(e), 2),
      fmt(Math.max(...e), 2),
      fmt(results.reduce((n, r) => n + r.spurious, 0)),
    ]);
  }
} finally {
  await backup.stop(5000);
  await removeTempDir(dir);
}
printTable(
  [
    'heartbeat ms',
    'runs',
    'detection median ms',
    'detection max ms',
    'ε after failover median ms',
    'ε after failover max ms',
    'spurious switches',
  ],
  rows,
);
console.log(
  '\nspurious switches: times the live primary missed a round (answer slower than heartbeat_ms) and the backup served, before the kill.',
);
