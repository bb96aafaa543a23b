/**
 * Bench: the history checker at large scale (issue 5 item 7; DESIGN §6, §10).
 *
 * Starts a distributed cluster (2 TX engines with clocks skewed +skew and −skew ms under
 * `clock.eps_ms` = ε, 1 ingestion engine, 1 OLAP shard, the router, a harness-started
 * nats-server), runs the recorded workload of cli/src/history/workload.ts (`--sessions`
 * concurrent pgwire sessions, `--ops` operations each, over four 16-key tables, one per
 * consistency mode), waits until every key converges, and checks the history. Reports:
 * operations recorded, workload ops/s, time to converge after writes stopped, checker ops/s
 * (median of `--checker-reps` runs of the pure checker over the same history), and
 * violations per check (must be 0).
 *
 * With `--runs` > 1 every run uses a fresh cluster and each figure is the median.
 *
 * `--synthetic-ops N` (default 200000; 0 = off) also times the checker alone on a clean
 * history of N operations from a linearizable model (cli/src/history/synthetic.ts), which
 * must also have 0 violations; `--skip-cluster` runs only that.
 *
 * Usage: npx tsx bench/history-checker.ts [--sessions 16] [--ops 1300] [--keys 16] [--eps-ms 5]
 *          [--skew-ms 2] [--runs 1] [--checker-reps 5] [--converge-deadline-ms 60000] [--synthetic-ops 200000] [--skip-cluster] [--verbose]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKS, type CheckName, type CheckReport, checkHistory, formatReport } from '../cli/src/history/checker.ts';
import { syntheticHistory } from '../cli/src/history/synthetic.ts';
import { DEFAULT_TABLES, historyClusterSpec, runWorkload, type WorkloadResult } from '../cli/src/history/workload.ts';
import { type Cluster, startCluster } from '../cli/src/test-harness.ts';
import { startNatsServer } from '../shared/src/testing/nats-server.ts';
import { fmt, loadAverage, machineLine, median, parseArgs, percentiles, printTable } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const sessions = args.num('sessions') ?? 16;
const ops = args.num('ops') ?? 1300;
const keys = args.num('keys') ?? 16;
const epsMs = args.num('eps-ms') ?? 5;
const skewMs = args.num('skew-ms') ?? 2;
const runs = args.num('runs') ?? 1;
const checkerReps = args.num('checker-reps') ?? 5;
const convergeDeadlineMs = args.num('converge-deadline-ms') ?? 60_000;
const verbose = args.flag('verbose');
const syntheticOps = args.num('synthetic-ops') ?? 200_000;
const skipCluster = args.flag('skip-cluster');
if (Math.abs(skewMs) > epsMs) console.error(`note: --skew-ms ${skewMs} is outside ε = ${epsMs} ms; violations are then expected`);

interface RunResult {
  res: WorkloadResult;
  report: CheckReport;
  checkerOpsPerSec: number;
  checkerMs: number;
}

async function once(run: number): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-bench-history-'));
  const nats = await startNatsServer();
  let cluster: Cluster | undefined;
  try {
    console.error(`run ${run}: starting the cluster`);
    cluster = await startCluster(historyClusterSpec({ natsUrl: nats.url, dir, epsMs, skewMs, pushRows: 2000 }));
    console.error(`run ${run}: ${sessions} sessions × ${ops} operations`);
    const res = await runWorkload({
      host: '127.0.0.1',
      port: cluster.pgPort,
      sessions,
      opsPerSession: ops,
      keys,
      epsMs,
      settleTimeoutMs: convergeDeadlineMs,
      seed: run,
      log: (l) => console.error(`run ${run}: ${l}`),
    });
    const times: number[] = [];
    let report: CheckReport | undefined;
    for (let i = 0; i < checkerReps; i++) {
      const t = performance.now();
      report = checkHistory(res.history, res.order, { convergeDeadlineMs });
      times.push(performance.now() - t);
    }
    const checkerMs = median(times);
    if (verbose || report!.totalViolations > 0) console.error(formatReport(report!, 40));
    return { res, report: report!, checkerMs, checkerOpsPerSec: (report!.operations / checkerMs) * 1000 };
  } finally {
    if (cluster) for (const p of cluster.procs.values()) await p.kill();
    await nats.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(machineLine());
console.log(`load average at start: ${loadAverage()}`);
let anyViolations = false;

if (!skipCluster) {
  const results: RunResult[] = [];
  for (let r = 1; r <= runs; r++) results.push(await once(r));
  const med = (f: (r: RunResult) => number) => median(results.map(f));
  const failed = (r: RunResult) => Object.values(r.report.failedBySqlstate).reduce((a, b) => a + b, 0);
  console.log(
    `\nCluster: ${sessions} sessions × ${ops} ops, ${keys} keys per table, 2 TX engines skewed ±${skewMs} ms, ε = ${epsMs} ms; ${runs} run(s), medians; checker: median of ${checkerReps}\n`,
  );
  printTable(
    ['operations recorded', 'key observations', 'failed (SQLSTATE)', 'workload ops/s', 'converged after ms', 'checker ms', 'checker ops/s'],
    [
      [
        fmt(med((r) => r.report.operations)),
        fmt(med((r) => r.report.observations)),
        `${fmt(med(failed))} ${JSON.stringify(results[0]?.report.failedBySqlstate ?? {})}`,
        fmt(med((r) => (r.res.loadOps / r.res.loadMs) * 1000)),
        fmt(med((r) => r.res.convergeMs)),
        fmt(
          med((r) => r.checkerMs),
          1,
        ),
        fmt(med((r) => r.checkerOpsPerSec)),
      ],
    ],
  );
  console.log('');
  printTable(
    ['check', 'checked', 'violations'],
    CHECKS.map((c: CheckName) => [c, fmt(med((r) => r.report.checked[c])), fmt(med((r) => r.report.violationCounts[c]))]),
  );
  console.log(`\nweak-mode backward reads (eventual / bounded, allowed): ${fmt(med((r) => r.report.weakNonMonotonic))}`);
  // Where the workload's time goes: latency per mode and statement kind (load phase, first run).
  const lat = new Map<string, number[]>();
  for (const o of results[0]?.res.history.operations ?? []) {
    if (o.phase !== 'load' || !o.ok) continue;
    const k = `${o.mode} ${o.kind === 'write' ? 'update' : `${o.path} read`}`;
    let l = lat.get(k);
    if (!l) lat.set(k, (l = []));
    l.push(o.completeMs - o.invokeMs);
  }
  console.log('\nLoad-phase latency by mode and statement (run 1, successful statements)\n');
  printTable(
    ['mode / statement', 'count', 'p50 ms', 'p99 ms'],
    [...lat.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, l]) => {
        const [p50, p99] = percentiles(l, [50, 99]);
        return [k, fmt(l.length), fmt(p50, 1), fmt(p99, 1)];
      }),
  );
  console.log(`total violations per run: ${results.map((r) => r.report.totalViolations).join(' · ')}`);
  anyViolations ||= results.some((r) => r.report.totalViolations > 0);
}

if (syntheticOps > 0) {
  const perSession = Math.max(1, Math.round(syntheticOps / sessions));
  const { history, order } = syntheticHistory({ tables: DEFAULT_TABLES, sessions, opsPerSession: perSession, keys, seed: 1 });
  const times: number[] = [];
  let report: CheckReport | undefined;
  for (let i = 0; i < checkerReps; i++) {
    const t = performance.now();
    report = checkHistory(history, order);
    times.push(performance.now() - t);
  }
  const ms = median(times);
  console.log(
    `\nChecker alone on a synthetic linearizable history (${sessions} sessions, ${keys} keys per table); median of ${checkerReps}\n`,
  );
  printTable(
    ['operations', 'key observations', 'checker ms', 'checker ops/s', 'violations'],
    [[fmt(report!.operations), fmt(report!.observations), fmt(ms, 1), fmt((report!.operations / ms) * 1000), fmt(report!.totalViolations)]],
  );
  if (report!.totalViolations > 0) console.error(formatReport(report!, 20));
  anyViolations ||= report!.totalViolations > 0;
}
process.exitCode = anyViolations ? 1 : 0;
