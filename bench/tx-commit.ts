/**
 * Bench: synced single-row commit throughput and latency (DESIGN §11, TX tier: "≥ PostgreSQL
 * 15's txn/s on the same box, p99 ≤ 5 ms").
 *
 * For each client count, that many pg connections (one per client, driver `pg`, extended
 * protocol with a named prepared statement) each run `INSERT INTO tx_commit_bench VALUES
 * ($1, $2)` back to back in autocommit — one single-row transaction per statement, every key
 * unique — for `--seconds`, after `--warmup` seconds that are not counted. The same
 * workload runs against an embedded Stratum (every autocommit INSERT is a synced group
 * commit in the TX engine) and a throw-away PostgreSQL 15 (`synchronous_commit = on`,
 * `max_connections = 300` so 128 clients fit) in the same run; each run starts fresh
 * servers, alternating which target goes first. Reported per target and client count, as
 * medians over `--runs`: txn/s, latency p50/p99/p99.9 and mean, Stratum/PG txn/s, Stratum's mean
 * TX-engine commit time (Δsum/Δcount of `stratum_tx_commit_seconds`) and its mean
 * group-commit size over the measured window (Δsum/Δcount of `stratum_tx_group_commit_size`
 * on the embedded server's /metrics), and the CPU the embedded server process used over the
 * window (/proc/<pid>/stat, % of one core).
 *
 * The load generator is one Node process on the same box: with 2 cores it competes with
 * the server under test, and both targets pay the same cost.
 *
 * Usage: npx tsx bench/tx-commit.ts [--seconds 10] [--clients 1,8,32,128] [--runs 1]
 *          [--warmup 1] [--payload 32] [--skip-stratum] [--skip-postgres]
 */
import type pg from 'pg';
import {
  closedLoop,
  connect,
  connectMany,
  endAll,
  fmt,
  loadAverage,
  machineLine,
  median,
  metricExposed,
  metricSum,
  type PgTarget,
  parseArgs,
  percentiles,
  printTable,
  processCpuSeconds,
  scrapeMetrics,
  startPostgresTarget,
  startStratum,
  stratumAvailable,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const seconds = args.num('seconds') ?? 10;
const warmup = args.num('warmup') ?? 1;
const runs = args.num('runs') ?? 1;
const payloadBytes = args.num('payload') ?? 32;
const clientCounts = (args.str('clients') ?? '1,8,32,128').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`--clients expects a comma-separated list of positive integers, got ${s}`);
  return n;
});
const TABLE = 'tx_commit_bench';
const TARGET_CLIENTS = 32;
const TARGET_P99_MS = 5;

interface Point {
  /** Stratum: CPU used by the server process over the window, % of one core (NaN for PostgreSQL). */
  serverCpuPct: number;
  txnPerS: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  /** Mean client-side latency, ms. */
  mean: number;
  /** Mean transactions per group commit (Stratum only; NaN otherwise or when not exposed). */
  groupCommit: number;
  /** Stratum: mean TX-engine commit time (queue → acknowledgement, `stratum_tx_commit_seconds`), ms. */
  engineMs: number;
}

const payload = 'x'.repeat(payloadBytes);
let nextKey = 0;

async function measureTarget(
  target: PgTarget,
  httpPort: number | undefined,
  pid: number | undefined,
  notes: string[],
): Promise<Map<number, Point>> {
  const setup = await connect(target);
  try {
    await setup.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, v text)`);
  } finally {
    await setup.end();
  }
  const out = new Map<number, Point>();
  const metricsUrl = httpPort === undefined ? undefined : `http://127.0.0.1:${httpPort}`;
  for (const n of clientCounts) {
    process.stderr.write(`  ${target.label}: ${n} client(s), ${warmup} s warm-up + ${seconds} s\n`);
    const clients = await connectMany(target, n);
    try {
      const insert = (c: pg.Client): Promise<unknown> =>
        c.query({ name: 'tx_commit_insert', text: `INSERT INTO ${TABLE} VALUES ($1, $2)`, values: [String(nextKey++), payload] });
      if (warmup > 0) await closedLoop(clients, warmup, insert);
      const before = metricsUrl === undefined ? undefined : await scrapeMetrics(metricsUrl);
      const cpu0 = pid === undefined ? undefined : processCpuSeconds(pid);
      const r = await closedLoop(clients, seconds, insert);
      const cpu1 = pid === undefined ? undefined : processCpuSeconds(pid);
      const after = metricsUrl === undefined ? undefined : await scrapeMetrics(metricsUrl);
      const serverCpuPct = cpu0 !== undefined && cpu1 !== undefined ? (100 * (cpu1 - cpu0)) / r.seconds : Number.NaN;
      let groupCommit = Number.NaN;
      let engineMs = Number.NaN;
      if (before !== undefined && after !== undefined) {
        const dSec = metricSum(after, 'stratum_tx_commit_seconds_sum') - metricSum(before, 'stratum_tx_commit_seconds_sum');
        const dN = metricSum(after, 'stratum_tx_commit_seconds_count') - metricSum(before, 'stratum_tx_commit_seconds_count');
        engineMs = dN > 0 ? (1000 * dSec) / dN : Number.NaN;
        if (!metricExposed(after, 'stratum_tx_group_commit_size')) {
          notes.push(`${target.label}: /metrics does not expose stratum_tx_group_commit_size`);
        } else {
          const dSum = metricSum(after, 'stratum_tx_group_commit_size_sum') - metricSum(before, 'stratum_tx_group_commit_size_sum');
          const dCount = metricSum(after, 'stratum_tx_group_commit_size_count') - metricSum(before, 'stratum_tx_group_commit_size_count');
          groupCommit = dCount > 0 ? dSum / dCount : Number.NaN;
        }
      }
      const [p50, p99, p999] = percentiles(r.latenciesMs, [50, 99, 99.9]);
      if (r.errors > 0) notes.push(`${target.label}, ${n} clients: ${r.errors} failed INSERTs, e.g. ${r.errorMessages.join(' | ')}`);
      let sum = 0;
      for (const x of r.latenciesMs) sum += x;
      const mean = r.latenciesMs.length > 0 ? sum / r.latenciesMs.length : Number.NaN;
      out.set(n, {
        serverCpuPct,
        txnPerS: r.ops / r.seconds,
        p50: p50 ?? Number.NaN,
        p99: p99 ?? Number.NaN,
        p999: p999 ?? Number.NaN,
        mean,
        errors: r.errors,
        groupCommit,
        engineMs,
      });
      process.stderr.write(
        `    ${fmt(r.ops / r.seconds)} txn/s, p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms, p99.9 ${fmt(p999, 2)} ms` +
          `${Number.isNaN(groupCommit) ? '' : `, group commit ${fmt(groupCommit, 1)}, engine commit mean ${fmt(engineMs, 2)} ms`}${r.errors > 0 ? `, ${r.errors} errors` : ''}\n`,
      );
    } finally {
      await endAll(clients);
    }
  }
  return out;
}

interface TargetSpec {
  name: string;
  start: () => Promise<{ target: PgTarget; httpPort?: number; pid?: number }>;
}

const targets: TargetSpec[] = [];
const notes: string[] = [];
if (!args.flag('skip-stratum')) {
  if (stratumAvailable()) {
    targets.push({
      name: 'Stratum (embedded)',
      start: async () => {
        const s = await startStratum();
        return { target: s, httpPort: s.httpPort, pid: s.pid };
      },
    });
  } else notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
}
if (!args.flag('skip-postgres')) {
  targets.push({
    name: 'PostgreSQL 15',
    start: async () => ({ target: await startPostgresTarget({ synchronous_commit: 'on', max_connections: '300' }) }),
  });
}

const loadAtStart = loadAverage();
/** results[target][clients] = one Point per run */
const results = new Map<string, Map<number, Point[]>>();
for (let run = 0; run < runs; run++) {
  for (const t of run % 2 === 0 ? targets : [...targets].reverse()) {
    process.stderr.write(`run ${run + 1}/${runs}: ${t.name}\n`);
    let target: PgTarget | undefined;
    try {
      const started = await t.start();
      target = started.target;
      const m = await measureTarget(target, started.httpPort, started.pid, notes);
      const byClients = results.get(t.name) ?? new Map<number, Point[]>();
      for (const [n, p] of m) byClients.set(n, [...(byClients.get(n) ?? []), p]);
      results.set(t.name, byClients);
    } catch (e) {
      notes.push(`${t.name} run ${run + 1} failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await target?.stop();
    }
  }
}

const med = (list: Point[] | undefined, f: (p: Point) => number): number =>
  list === undefined ? Number.NaN : median(list.map(f).filter((x) => !Number.isNaN(x)));

console.log(
  `\n## Single-row synced commits: INSERT INTO ${TABLE} VALUES ($1, $2), autocommit, one connection per client ` +
    `(${seconds} s per point after ${warmup} s warm-up; medians over ${runs} run(s))\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
const rows: string[][] = [];
for (const n of clientCounts) {
  for (const t of targets) {
    const list = results.get(t.name)?.get(n);
    const f = (get: (p: Point) => number, digits: number): string => fmt(med(list, get), digits);
    const stratumOnly = (get: (p: Point) => number, digits: number): string => (t.name.startsWith('Stratum') ? f(get, digits) : '—');
    rows.push([
      t.name,
      String(n),
      f((p) => p.txnPerS, 0),
      f((p) => p.p50, 2),
      f((p) => p.p99, 2),
      f((p) => p.p999, 2),
      f((p) => p.mean, 2),
      stratumOnly((p) => p.engineMs, 2),
      stratumOnly((p) => p.groupCommit, 1),
      stratumOnly((p) => p.serverCpuPct, 0),
      f((p) => p.errors, 0),
    ]);
  }
}
printTable(
  [
    'target',
    'clients',
    'txn/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'mean ms',
    'TX engine commit mean ms',
    'txns per group commit',
    'Stratum process CPU %',
    'errors',
  ],
  rows,
);
console.log(
  '\n(TX engine commit mean: Δsum/Δcount of `stratum_tx_commit_seconds`, queueing for the group commit → acknowledgement ' +
    'inside the engine, commit-wait included; the rest of the client-side mean is router, pgwire and client time. ' +
    'Stratum process CPU %: CPU time of the embedded server process over the window, in % of one core; the box has 2.)',
);

const st = results.get('Stratum (embedded)');
const pgr = results.get('PostgreSQL 15');
if (st !== undefined && pgr !== undefined) {
  console.log('\nStratum / PostgreSQL txn/s:\n');
  printTable(
    ['clients', 'Stratum txn/s', 'PostgreSQL txn/s', 'Stratum / PG'],
    clientCounts.map((n) => {
      const s = med(st.get(n), (p) => p.txnPerS);
      const p = med(pgr.get(n), (q) => q.txnPerS);
      return [String(n), fmt(s), fmt(p), `${fmt(s / p, 2)}×`];
    }),
  );
}

console.log('');
if (st?.has(TARGET_CLIENTS) === true && pgr?.has(TARGET_CLIENTS) === true) {
  const s = med(st.get(TARGET_CLIENTS), (p) => p.txnPerS);
  const p = med(pgr.get(TARGET_CLIENTS), (q) => q.txnPerS);
  const p99 = med(st.get(TARGET_CLIENTS), (q) => q.p99);
  const fast = s >= p;
  const tight = p99 <= TARGET_P99_MS;
  console.log(
    `Target (≥ PostgreSQL's txn/s at ${TARGET_CLIENTS} clients with p99 ≤ ${TARGET_P99_MS} ms): ${fast && tight ? 'MET' : 'NOT MET'} — ` +
      `Stratum ${fmt(s)} txn/s vs PostgreSQL ${fmt(p)} txn/s (${fast ? 'ok' : 'below'}), Stratum p99 ${fmt(p99, 2)} ms (${tight ? 'ok' : 'over'}).`,
  );
} else {
  console.log(
    `Target (≥ PostgreSQL's txn/s at ${TARGET_CLIENTS} clients with p99 ≤ ${TARGET_P99_MS} ms): not evaluated (needs both targets at ${TARGET_CLIENTS} clients).`,
  );
}
for (const n of notes) console.log(`\nNote: ${n}`);
