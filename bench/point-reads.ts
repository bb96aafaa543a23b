/**
 * Bench: point reads by primary key (DESIGN §11, TX tier "p50 < 2 ms, p99 < 5 ms on simple
 * reads"; the issue's target: p99 ≤ 1 ms embedded).
 *
 * A fresh table `point_reads_bench (id bigint PRIMARY KEY, v text)` is preloaded with
 * `--rows` rows by 4 connections sending multi-row INSERTs (`--batch` rows each, one
 * autocommit transaction per statement). Then, for each client count, that many pg
 * connections run `SELECT id, v FROM point_reads_bench WHERE id = $1` (named prepared
 * statement) back to back with uniformly random keys for `--seconds`, after `--warmup`
 * seconds not counted. Same workload against an embedded Stratum (through the router,
 * which sends key lookups to the TX engine: hot-row LRU cache, then LevelDB) and a throw-away
 * PostgreSQL 15 for reference, medians over `--runs` (each run on fresh servers, alternating
 * which target goes first).
 *
 * For Stratum the table also shows which tier answered (Δ of the router's
 * `stratum_router_statements_total{kind="SelectStmt"}` by `tier`) and the TX engine's hot-row
 * cache hit ratio and the server process's CPU (% of one core) over the measured window. Before reading, the bench waits (bounded by
 * `--settle-timeout`) until ingestion has merged every loaded row, so the reads do not share
 * the process with the ingestion catching up. For PostgreSQL it runs `VACUUM ANALYZE` after
 * the load. A read that returns no row counts as an error (`missing`).
 *
 * Usage: npx tsx bench/point-reads.ts [--rows 100000] [--seconds 10] [--clients 1,8] [--runs 1]
 *          [--warmup 1] [--batch 1000] [--settle-timeout 120] [--skip-stratum] [--skip-postgres]
 */
import type pg from 'pg';
import {
  closedLoop,
  connect,
  connectMany,
  endAll,
  fmt,
  loadAverage,
  type MetricSample,
  machineLine,
  median,
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
const rowCount = args.num('rows') ?? 100_000;
const seconds = args.num('seconds') ?? 10;
const warmup = args.num('warmup') ?? 1;
const runs = args.num('runs') ?? 1;
const batch = args.num('batch') ?? 1000;
const settleTimeoutS = args.num('settle-timeout') ?? 120;
const clientCounts = (args.str('clients') ?? '1,8').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`--clients expects a comma-separated list of positive integers, got ${s}`);
  return n;
});
const TABLE = 'point_reads_bench';
const LOAD_CONNECTIONS = 4;
const TARGET_P99_MS = 1;

interface Point {
  /** Stratum: CPU used by the server process over the window, % of one core (NaN for PostgreSQL). */
  serverCpuPct: number;
  readsPerS: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  missing: number;
  /** Stratum: share of SELECTs per router tier, e.g. `tx 100%`. */
  tiers: string;
  /** Stratum: hot-row cache hits / (hits + misses) in the window. */
  cacheHit: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const payloadOf = (id: number): string => `row-${id}-${'v'.repeat(24)}`;

async function preload(target: PgTarget): Promise<number> {
  const setup = await connect(target);
  try {
    await setup.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, v text)`);
  } finally {
    await setup.end();
  }
  const clients = await connectMany(target, LOAD_CONNECTIONS);
  const t0 = performance.now();
  let next = 0;
  try {
    await Promise.all(
      clients.map(async (c) => {
        for (;;) {
          const from = next;
          if (from >= rowCount) return;
          const n = Math.min(batch, rowCount - from);
          next += n;
          const values: string[] = [];
          const tuples: string[] = [];
          for (let i = 0; i < n; i++) {
            tuples.push(`($${2 * i + 1}, $${2 * i + 2})`);
            values.push(String(from + i), payloadOf(from + i));
          }
          await c.query({ name: `point_reads_load_${n}`, text: `INSERT INTO ${TABLE} VALUES ${tuples.join(', ')}`, values });
        }
      }),
    );
  } finally {
    await endAll(clients);
  }
  return (performance.now() - t0) / 1000;
}

/** Stratum: wait until the ingestion tier merged every loaded row (bounded). */
async function settle(metricsUrl: string, notes: string[], label: string): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + settleTimeoutS * 1000;
  let applied = 0;
  for (;;) {
    applied = metricSum(await scrapeMetrics(metricsUrl), 'stratum_ingestion_applied_versions_total');
    if (applied >= rowCount) return (performance.now() - t0) / 1000;
    if (Date.now() > deadline) {
      notes.push(`${label}: ingestion had merged ${applied} of ${rowCount} rows after ${settleTimeoutS} s; reads started anyway`);
      return Number.NaN;
    }
    await sleep(200);
  }
}

function tierShares(before: readonly MetricSample[], after: readonly MetricSample[]): string {
  const delta = new Map<string, number>();
  for (const s of after) {
    if (s.name !== 'stratum_router_statements_total' || s.labels.kind !== 'SelectStmt') continue;
    const tier = s.labels.tier ?? '?';
    const d = s.value - metricSum(before, 'stratum_router_statements_total', { kind: 'SelectStmt', tier });
    if (d > 0) delta.set(tier, (delta.get(tier) ?? 0) + d);
  }
  const total = [...delta.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return '—';
  return [...delta.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ${fmt((100 * n) / total)}%`)
    .join(', ');
}

async function measureTarget(
  target: PgTarget,
  httpPort: number | undefined,
  pid: number | undefined,
  notes: string[],
): Promise<Map<number, Point>> {
  process.stderr.write(`  ${target.label}: loading ${fmt(rowCount)} rows (${batch}-row INSERTs, ${LOAD_CONNECTIONS} connections)\n`);
  const loadS = await preload(target);
  process.stderr.write(`    loaded in ${fmt(loadS, 1)} s (${fmt(rowCount / loadS)} rows/s)\n`);
  const metricsUrl = httpPort === undefined ? undefined : `http://127.0.0.1:${httpPort}`;
  if (metricsUrl !== undefined) {
    const s = await settle(metricsUrl, notes, target.label);
    process.stderr.write(`    ingestion merged every row ${fmt(s, 1)} s after the load\n`);
  } else {
    const c = await connect(target);
    try {
      await c.query(`VACUUM ANALYZE ${TABLE}`);
    } finally {
      await c.end();
    }
  }
  const out = new Map<number, Point>();
  for (const n of clientCounts) {
    process.stderr.write(`  ${target.label}: ${n} client(s), ${warmup} s warm-up + ${seconds} s\n`);
    const clients = await connectMany(target, n);
    try {
      let missing = 0;
      const read = async (c: pg.Client): Promise<void> => {
        const id = Math.floor(Math.random() * rowCount);
        const r = await c.query({
          name: 'point_read',
          text: `SELECT id, v FROM ${TABLE} WHERE id = $1`,
          values: [String(id)],
          rowMode: 'array',
        });
        if (r.rows.length !== 1) missing++;
      };
      if (warmup > 0) await closedLoop(clients, warmup, read);
      missing = 0;
      const before = metricsUrl === undefined ? undefined : await scrapeMetrics(metricsUrl);
      const cpu0 = pid === undefined ? undefined : processCpuSeconds(pid);
      const r = await closedLoop(clients, seconds, read);
      const cpu1 = pid === undefined ? undefined : processCpuSeconds(pid);
      const after = metricsUrl === undefined ? undefined : await scrapeMetrics(metricsUrl);
      const serverCpuPct = cpu0 !== undefined && cpu1 !== undefined ? (100 * (cpu1 - cpu0)) / r.seconds : Number.NaN;
      let tiers = '—';
      let cacheHit = Number.NaN;
      if (before !== undefined && after !== undefined) {
        tiers = tierShares(before, after);
        const hits = metricSum(after, 'stratum_tx_row_cache_hits_total') - metricSum(before, 'stratum_tx_row_cache_hits_total');
        const misses = metricSum(after, 'stratum_tx_row_cache_misses_total') - metricSum(before, 'stratum_tx_row_cache_misses_total');
        cacheHit = hits + misses > 0 ? hits / (hits + misses) : Number.NaN;
      }
      const [p50, p99, p999] = percentiles(r.latenciesMs, [50, 99, 99.9]);
      if (r.errors > 0) notes.push(`${target.label}, ${n} clients: ${r.errors} failed reads, e.g. ${r.errorMessages.join(' | ')}`);
      if (missing > 0) notes.push(`${target.label}, ${n} clients: ${missing} reads of loaded keys returned no row`);
      out.set(n, {
        serverCpuPct,
        readsPerS: r.ops / r.seconds,
        p50: p50 ?? Number.NaN,
        p99: p99 ?? Number.NaN,
        p999: p999 ?? Number.NaN,
        errors: r.errors,
        missing,
        tiers,
        cacheHit,
      });
      process.stderr.write(
        `    ${fmt(r.ops / r.seconds)} reads/s, p50 ${fmt(p50, 3)} ms, p99 ${fmt(p99, 3)} ms` +
          `${tiers === '—' ? '' : `, tiers ${tiers}`}${Number.isNaN(cacheHit) ? '' : `, cache hits ${fmt(100 * cacheHit, 1)}%`}\n`,
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
if (!args.flag('skip-postgres')) targets.push({ name: 'PostgreSQL 15', start: async () => ({ target: await startPostgresTarget() }) });

const loadAtStart = loadAverage();
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
  `\n## Point reads: SELECT id, v FROM ${TABLE} WHERE id = $1, uniformly random keys over ${fmt(rowCount)} preloaded rows ` +
    `(${seconds} s per point after ${warmup} s warm-up; medians over ${runs} run(s))\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
const rows: string[][] = [];
for (const n of clientCounts) {
  for (const t of targets) {
    const list = results.get(t.name)?.get(n);
    const isStratum = t.name.startsWith('Stratum');
    const f = (get: (p: Point) => number, digits: number): string => fmt(med(list, get), digits);
    rows.push([
      t.name,
      String(n),
      f((p) => p.readsPerS, 0),
      f((p) => p.p50, 3),
      f((p) => p.p99, 3),
      f((p) => p.p999, 3),
      isStratum ? (list?.[list.length - 1]?.tiers ?? '—') : '—',
      isStratum ? `${f((p) => 100 * p.cacheHit, 1)}%` : '—',
      isStratum ? f((p) => p.serverCpuPct, 0) : '—',
      f((p) => p.errors + p.missing, 0),
    ]);
  }
}
printTable(
  [
    'target',
    'clients',
    'reads/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'answered by (router tier)',
    'TX row-cache hits',
    'Stratum process CPU %',
    'errors + missing',
  ],
  rows,
);

console.log('');
const st = results.get('Stratum (embedded)');
if (st !== undefined) {
  for (const n of clientCounts) {
    const p99 = med(st.get(n), (p) => p.p99);
    console.log(
      `Target (embedded p99 ≤ ${TARGET_P99_MS} ms) at ${n} client(s): ${Number.isNaN(p99) ? 'not measured' : p99 <= TARGET_P99_MS ? 'MET' : 'NOT MET'} — p99 ${fmt(p99, 3)} ms.`,
    );
  }
} else console.log(`Target (embedded p99 ≤ ${TARGET_P99_MS} ms): not evaluated (no Stratum result).`);
for (const n of notes) console.log(`\nNote: ${n}`);
