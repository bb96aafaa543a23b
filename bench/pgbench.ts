/**
 * Bench: Debian's `pgbench` (PostgreSQL 15 client, a C load generator that costs little CPU)
 * with custom scripts against an embedded Stratum and a throw-away PostgreSQL 15 in the same
 * run: transactions/s, p50 and p99 latency, Stratum / PostgreSQL and the Stratum process's
 * peak RSS, per workload and client count. Optionally sysbench's OLTP scripts too.
 *
 * Workloads (`--workloads`, default insert,select; each statement its own autocommit transaction):
 *
 *   insert:  \set seq :seq + 1
 *            \set id :base + :client_id * 1000000000000 + :seq
 *            \set a random(1, 1000000)
 *            INSERT INTO pgb_insert (id, a, b) VALUES (:id, :a, 'pgbench insert row');
 *            -- pgb_insert (id bigint PRIMARY KEY, a int, b text). pgbench keeps a client's
 *            -- variables from one transaction to the next, so `:seq` (started by -D seq=0)
 *            -- counts per client, and `:base` (-D, new for every pgbench invocation on a
 *            -- server) keeps invocations apart: ids never collide.
 *
 *   select:  \set id random(1, :rows)
 *            SELECT balance FROM pgb_accounts WHERE id = :id \gset
 *            -- \gset: a read that returns no row is an error (pgbench aborts that client)
 *            -- pgb_accounts (id bigint PRIMARY KEY, balance bigint, filler text), preloaded
 *            -- with ids 1 … --rows by one COPY … FROM STDIN (FORMAT csv)
 *
 * Each point runs `pgbench -n -M prepared -f <script> -c <clients> -j min(--jobs, clients)
 * -T <seconds> --log --log-prefix <temp dir>`: named prepared statements, no vacuum. tps
 * is pgbench's (without initial connection time); p50/p99 are computed from the
 * per-transaction log (`client_id transaction_no time_us script_no time_epoch time_us`),
 * nearest rank. No `-r`: with per-statement timing pgbench reuses the statement's start
 * timestamp as the transaction's end when the answer is already there on the first read
 * (it often is on 2 busy cores, where the server preempts pgbench), logging 0 µs. Errors
 * pgbench prints (failed transactions, aborted clients) go to the errors column and the notes.
 *
 * Every run starts fresh servers, one target after the other (the order alternating between
 * runs): create the tables, preload pgb_accounts, then every workload at every client count.
 * On Stratum the bench waits (bounded by --settle-timeout, not counted) after the preload and
 * after every insert point until ingestion has merged every row written
 * (`stratum_ingestion_applied_versions_total`), so background merging does not land in the
 * next point; PostgreSQL gets `VACUUM ANALYZE pgb_accounts` after the preload. The Stratum
 * process's RSS (/proc/<pid>/status VmRSS) is sampled every 100 ms during each measured
 * point; the column is the peak. Every figure is the median over --runs.
 *
 * --sysbench oltp_point_select,oltp_read_write (off by default; skipped with a note when
 * `sysbench` is not on PATH): after the pgbench workloads, on the same server, per test
 * `sysbench <test> --db-driver=pgsql … --tables --table-size --threads prepare`, then
 * `… --time=<seconds> --histogram=on run`, then `… cleanup`. tps = transactions per second,
 * p95 as sysbench reports it, p50/p99 from its latency histogram. SQL the server refuses is
 * shown as the error text in the table.
 *
 *   htap:    performance isolation. Loads the flights dataset (cli/src/load-flights.ts's
 *            loadFlights: COPY over pgwire, the first --flights-rows rows of vega-datasets'
 *            flights-3m.parquet, no airports), waits until ingestion merged them (Stratum) and
 *            `SELECT count(*) FROM flights` returns them all, runs the 10 dashboard queries
 *            (bench/flights-dashboard-queries.ts) once (not counted: warm-up, refused SQL, answers
 *            compared with PostgreSQL's), then the insert script at --htap-clients (32) alone,
 *            then the same again while --dashboard-clients (4) node `pg` connections of this
 *            process loop back to back over the dashboard queries. Per target: INSERT tps alone
 *            and with dashboards, with / alone, p99 of both, dashboard queries completed per
 *            second of the window and their p50, peak RSS; Stratum / PostgreSQL ratios. Stratum
 *            runs with its router result cache off (STRATUM_ROUTER__RESULT_CACHE_TTL_MS=0: flights
 *            does not change in the window, so repeats would be answers from memory, while
 *            PostgreSQL computes each); --dashboard-cache keeps the default 1 s cache.
 *            Each INSERT point follows a warm-up of the insert script (--warmup, else 5 s).
 *
 * --baseline DIR adds a Stratum target run from another checkout (DIR holds its cli/bin/stratum.mjs
 * and node_modules, e.g. `git worktree add DIR <commit> && (cd DIR && npm install)`), columns
 * `Baseline`, with the same arguments, alternating with the others: an A/B of two commits in one run.
 *
 * --stratum-args is passed to `stratum up` as extra arguments; since it starts with `--`,
 * write it with `=`: --stratum-args="--threads 2". --stratum-variants 1,2 makes one Stratum
 * target per thread count (`stratum up … --threads N`), each its own columns/rows, all in
 * the same run (alternating with PostgreSQL like the single default target).
 *
 * Usage: npx tsx bench/pgbench.ts [--seconds 10] [--runs 3] [--workloads insert,select,htap]
 *          [--clients N,…] [--insert-clients 32,1] [--select-clients 32] [--jobs 2] [--rows 100000]
 *          [--warmup 0] [--settle-timeout 120] [--stratum-args="…"] [--stratum-variants 1,2] [--baseline DIR]
 *          [--skip-stratum] [--skip-postgres]
 *          [--flights-rows 500000] [--htap-clients 32] [--dashboard-clients 4] [--dashboard-cache]
 *          [--sysbench oltp_point_select,oltp_read_write] [--sysbench-threads 8] [--sysbench-tables 2]
 *          [--sysbench-table-size 20000]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type Cell, compareAnswers, normalizePgResult, RAW_TEXT_TYPES } from '../cli/src/flights-queries.ts';
import { loadFlights } from '../cli/src/load-flights.ts';
import { DASHBOARD_QUERIES } from './flights-dashboard-queries.ts';
import {
  connect,
  endAll,
  fmt,
  loadAverage,
  machineLine,
  makeTempDir,
  median,
  metricSum,
  mib,
  type PgTarget,
  parseArgs,
  percentiles,
  printTable,
  processMemory,
  removeTempDir,
  scrapeMetrics,
  startPostgresTarget,
  startStratum,
  stratumAvailable,
  timeUntilCount,
  waitForIngestion,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const seconds = args.num('seconds') ?? 10;
const runs = args.num('runs') ?? 3;
const jobs = args.num('jobs') ?? 2;
const rowCount = args.num('rows') ?? 100_000;
const warmup = args.num('warmup') ?? 0;
/**
 * Warm-up before each htap INSERT point: --warmup when given, else 5 s. Without one, the first
 * window (INSERT alone, right after the flights load) ranged 2,900–5,200 tps from run to run on
 * the 2-core box, which made with / alone noise.
 */
const htapWarmupS = args.num('warmup') ?? 5;
const settleTimeoutS = args.num('settle-timeout') ?? 120;
const sbThreads = args.num('sysbench-threads') ?? 8;
const sbTables = args.num('sysbench-tables') ?? 2;
const sbTableSize = args.num('sysbench-table-size') ?? 20_000;
const flightsRows = args.num('flights-rows') ?? 500_000;
const htapClients = args.num('htap-clients') ?? 32;
const dashboardClients = args.num('dashboard-clients') ?? 4;
/**
 * Keep Stratum's router result cache (router.result_cache_ttl_ms, default 1 s) on. Off by default
 * in runs with htap: flights does not change during the window, so every dashboard query repeated
 * within 1 s would be an answer from memory, while PostgreSQL computes each one.
 */
const dashboardCache = args.flag('dashboard-cache');
const CACHE_ENV = 'STRATUM_ROUTER__RESULT_CACHE_TTL_MS';
for (const [name, v, min] of [
  ['flights-rows', flightsRows, 1],
  ['htap-clients', htapClients, 1],
  ['dashboard-clients', dashboardClients, 0],
] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} expects an integer ≥ ${min}, got ${v}`);
}

function list(name: string, value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new Error(`--${name} expects a comma-separated list, got '${value}'`);
  return items;
}
function clientList(name: string, value: string): number[] {
  return list(name, value).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} expects a comma-separated list of positive integers, got ${s}`);
    return n;
  });
}

const WORKLOADS = {
  insert: {
    script:
      '\\set seq :seq + 1\n' +
      '\\set id :base + :client_id * 1000000000000 + :seq\n' +
      '\\set a random(1, 1000000)\n' +
      "INSERT INTO pgb_insert (id, a, b) VALUES (:id, :a, 'pgbench insert row');\n",
    /** Rows written per transaction (for the ingestion wait). */
    writes: 1,
  },
  select: {
    // \gset stores the balance in :balance and fails the transaction when no row comes back.
    script: '\\set id random(1, :rows)\nSELECT balance FROM pgb_accounts WHERE id = :id \\gset\n',
    writes: 0,
  },
} as const;
type ScriptName = keyof typeof WORKLOADS;
/** The pgbench workloads plus `htap` (the insert script alone, then with dashboard clients). */
type WorkloadName = ScriptName | 'htap';
const WORKLOAD_NAMES: readonly WorkloadName[] = ['insert', 'select', 'htap'];

const workloads = list('workloads', args.str('workloads') ?? 'insert,select').map((w) => {
  if (!(WORKLOAD_NAMES as readonly string[]).includes(w))
    throw new Error(`--workloads: unknown workload ${w} (known: ${WORKLOAD_NAMES.join(', ')})`);
  return w as WorkloadName;
});
const clientsFor: Record<ScriptName, number[]> = {
  insert: clientList('insert-clients', args.str('insert-clients') ?? args.str('clients') ?? '32,1'),
  select: clientList('select-clients', args.str('select-clients') ?? args.str('clients') ?? '32'),
};
if (args.flag('stratum-args')) throw new Error('--stratum-args needs a value; write it with =, e.g. --stratum-args="--threads 2"');
const stratumArgs = (args.str('stratum-args') ?? '').split(/\s+/).filter((s) => s !== '');
if (args.flag('stratum-variants')) throw new Error('--stratum-variants needs a comma-separated list of thread counts, e.g. 1,2');
const stratumVariants =
  args.str('stratum-variants') === undefined ? [] : clientList('stratum-variants', args.str('stratum-variants') ?? '');
if (stratumVariants.length > 0 && stratumArgs.some((a) => a === '--threads' || a.startsWith('--threads=')))
  throw new Error('--stratum-variants sets --threads per variant; leave --threads out of --stratum-args');
if (new Set(stratumVariants).size !== stratumVariants.length) throw new Error('--stratum-variants: a thread count is named twice');
if (args.flag('baseline')) throw new Error('--baseline needs the directory of another Stratum checkout');
const baselineDir = args.str('baseline');
if (baselineDir !== undefined && stratumVariants.length > 0) throw new Error('--baseline and --stratum-variants do not combine');
if (baselineDir !== undefined && !existsSync(join(baselineDir, 'cli', 'bin', 'stratum.mjs')))
  throw new Error(`--baseline ${baselineDir}: no cli/bin/stratum.mjs there (a Stratum checkout with its node_modules installed)`);
const sysbenchTests = args.str('sysbench') === undefined ? [] : list('sysbench', args.str('sysbench') ?? '');
for (const t of sysbenchTests) if (!/^[a-z_]+$/.test(t)) throw new Error(`--sysbench: not a sysbench test name: ${t}`);
const maxClients = Math.max(sbThreads, ...workloads.flatMap((w) => (w === 'htap' ? [htapClients + dashboardClients + 1] : clientsFor[w])));

const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
if (!onPath('pgbench')) throw new Error('pgbench not found on PATH (Debian: apt-get install postgresql-client-15)');

const notes: string[] = [];
// The Stratum child inherits this process's environment (startStratum), and STRATUM_<PATH> overrides its configuration.
if (workloads.includes('htap') && !dashboardCache) {
  if (process.env[CACHE_ENV] === undefined) process.env[CACHE_ENV] = '0';
  else notes.push(`${CACHE_ENV}=${process.env[CACHE_ENV]} was set in the environment; kept.`);
}

const sysbenchOn = sysbenchTests.length > 0 && onPath('sysbench');
if (sysbenchTests.length > 0 && !sysbenchOn)
  notes.push('sysbench is not installed (command -v sysbench found nothing): the sysbench tests were skipped.');

// ---------------------------------------------------------------------------------------
// Child processes (pgbench, sysbench): killed when this process exits or is interrupted.
// lib.ts's exit hook kills the Stratum child and PostgreSQL's stops its cluster; a signal
// without a handler would skip both, so SIGINT/SIGTERM/SIGHUP exit through them.
// ---------------------------------------------------------------------------------------
const liveTools = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveTools) c.kill('SIGKILL');
});
for (const [signal, num] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers and clients started by this bench\n`);
    process.exit(128 + num);
  });
}

const OUTPUT_KEEP = 64 * 1024;

/** Run a client program; resolves with its exit code (null when killed) and output (stdout + stderr, last 64 KiB). */
function runTool(
  cmd: string,
  argv: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveTools.add(child);
    let out = '';
    let timedOut = false;
    const collect = (b: Buffer): void => {
      out = (out + b.toString('utf8')).slice(-OUTPUT_KEEP);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const done = (code: number | null, extra = ''): void => {
      clearTimeout(timer);
      liveTools.delete(child);
      resolve({ code, out: out + extra, timedOut });
    };
    child.once('error', (e) => done(null, `\n${cmd}: ${e.message}`));
    child.once('close', (code) => done(code));
  });
}

/** Distinct error lines of a tool's output (client numbers folded), at most `max`. */
function errorLines(out: string, re: RegExp, max = 3): string[] {
  const seen: string[] = [];
  for (const line of out.split('\n')) {
    if (!re.test(line)) continue;
    const l = line
      .trim()
      .replace(/client \d+/g, 'client N')
      .replace(/\s+/g, ' ');
    if (!seen.includes(l)) seen.push(l);
    if (seen.length >= max) break;
  }
  return seen;
}

/** Peak VmRSS of `pid` sampled every 100 ms from now until the returned function is called (NaN without a pid). */
function rssSampler(pid: number | undefined): () => number {
  if (pid === undefined) return () => Number.NaN;
  let peak = Number.NaN;
  const sample = (): void => {
    const rss = processMemory(pid)?.rss;
    if (rss !== undefined && !Number.isNaN(rss) && !(rss <= peak)) peak = rss;
  };
  sample();
  const timer = setInterval(sample, 100);
  return () => {
    clearInterval(timer);
    sample();
    return peak;
  };
}

// ---------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------

interface Point {
  tps: number;
  p50: number;
  p99: number;
  /** pgbench: transactions processed; sysbench: transactions. */
  transactions: number;
  /** Peak RSS of the Stratum process during the point, bytes (NaN for PostgreSQL). */
  peakRss: number;
  /** sysbench only: its own p95. */
  p95: number;
  /** Failed transactions (pgbench) or ignored errors (sysbench). */
  failed: number;
  /** Error text ('' when none). */
  error: string;
  /**
   * Stratum, write workloads: seconds from the end of the point until ingestion had merged every
   * row written (near 0 when the relay and ingestion keep pace with the write rate); NaN otherwise.
   */
  catchUpS?: number;
}

let invocation = 0;

async function pgbench(
  t: PgTarget,
  clients: number,
  secs: number,
  scriptFile: string,
  dir: string,
  pid: number | undefined,
): Promise<Point> {
  invocation++;
  const logDir = join(dir, `log-${invocation}`);
  await mkdir(logDir);
  const threads = Math.max(1, Math.min(jobs, clients));
  const mode = ['-n', '-M', 'prepared', '-f', scriptFile, '-c', String(clients), '-j', String(threads), '-T', String(secs)];
  const log = ['--log', `--log-prefix=${join(logDir, 'pgb')}`];
  const defines = ['-D', 'seq=0', '-D', `base=${BigInt(invocation) * 10n ** 15n}`, '-D', `rows=${rowCount}`];
  const argv = [...mode, ...log, ...defines, '-h', t.host, '-p', String(t.port), '-U', t.user, t.database];
  const stopSampler = rssSampler(pid);
  const r = await runTool('pgbench', argv, (secs + 180) * 1000);
  const peakRss = stopSampler();
  const lat: number[] = [];
  for (const f of await readdir(logDir)) {
    const text = await readFile(join(logDir, f), 'utf8');
    for (const line of text.split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line !== '' && Number.isFinite(us)) lat.push(us / 1000);
    }
  }
  await rm(logDir, { recursive: true, force: true });
  const num = (re: RegExp): number => Number(re.exec(r.out)?.[1] ?? Number.NaN);
  const tps = num(/^tps = ([\d.]+)/m);
  const failed = num(/^number of failed transactions: (\d+)/m);
  const errs = errorLines(r.out, /error|fatal|aborted/i);
  let error = errs.join(' | ');
  if (r.timedOut) error = `pgbench killed after ${secs + 180} s${error ? `: ${error}` : ''}`;
  else if (r.code !== 0 || Number.isNaN(tps)) error = `pgbench exit ${r.code}: ${error || r.out.trim().slice(-300)}`;
  const [p50, p99] = percentiles(lat, [50, 99]);
  return {
    tps,
    p50: p50 ?? Number.NaN,
    p99: p99 ?? Number.NaN,
    p95: Number.NaN,
    transactions: num(/^number of transactions actually processed: (\d+)/m) || lat.length,
    peakRss,
    failed: Number.isNaN(failed) ? 0 : failed,
    error,
  };
}

// ---------------------------------------------------------------------------------------
// sysbench
// ---------------------------------------------------------------------------------------

/** p-th percentile (nearest rank) of sysbench's `--histogram` (`value |*** count` lines), ms. */
function histogramPercentile(out: string, p: number): number {
  const buckets: [number, number][] = [];
  for (const m of out.matchAll(/^\s*([\d.]+)\s+\|\**\s+(\d+)\s*$/gm)) buckets.push([Number(m[1]), Number(m[2])]);
  const total = buckets.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [v, n] of buckets) {
    seen += n;
    if (seen >= rank) return v;
  }
  return Number.NaN;
}

async function sysbench(t: PgTarget, test: string, pid: number | undefined, s: Server): Promise<Point> {
  const common = [
    test,
    '--db-driver=pgsql',
    `--pgsql-host=${t.host}`,
    `--pgsql-port=${t.port}`,
    `--pgsql-user=${t.user}`,
    `--pgsql-db=${t.database}`,
    `--tables=${sbTables}`,
    `--table-size=${sbTableSize}`,
    `--threads=${sbThreads}`,
  ];
  const SB_ERROR = /FATAL|ERROR|error(?!s:)/;
  const point: Point = {
    tps: Number.NaN,
    p50: Number.NaN,
    p95: Number.NaN,
    p99: Number.NaN,
    transactions: 0,
    peakRss: Number.NaN,
    failed: 0,
    error: '',
  };
  process.stderr.write(`    sysbench ${test} prepare (${sbTables} × ${fmt(sbTableSize)} rows)\n`);
  const prep = await runTool('sysbench', [...common, 'prepare'], 1_800_000);
  if (prep.code !== 0) {
    point.error = `prepare: ${errorLines(prep.out, SB_ERROR).join(' | ') || `exit ${prep.code}: ${prep.out.trim().slice(-300)}`}`;
  } else {
    s.written += sbTables * sbTableSize;
    await settle(s, 'after sysbench prepare');
    process.stderr.write(`    sysbench ${test} run, ${sbThreads} threads, ${seconds} s\n`);
    const stopSampler = rssSampler(pid);
    const r = await runTool(
      'sysbench',
      [...common, `--time=${seconds}`, '--histogram=on', '--percentile=95', 'run'],
      (seconds + 180) * 1000,
    );
    point.peakRss = stopSampler();
    const m = /transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)/.exec(r.out);
    point.transactions = Number(m?.[1] ?? 0);
    point.tps = Number(m?.[2] ?? Number.NaN);
    point.p95 = Number(/95th percentile:\s+([\d.]+)/.exec(r.out)?.[1] ?? Number.NaN);
    point.p50 = histogramPercentile(r.out, 50);
    point.p99 = histogramPercentile(r.out, 99);
    point.failed = Number(/ignored errors:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
    if (r.code !== 0 || m === null) {
      point.error = `run${r.timedOut ? ' (killed after timeout)' : ''}: ${errorLines(r.out, SB_ERROR).join(' | ') || `exit ${r.code}: ${r.out.trim().slice(-300)}`}`;
    }
  }
  const clean = await runTool('sysbench', [...common, 'cleanup'], 600_000);
  if (clean.code !== 0)
    notes.push(`${t.label}, sysbench ${test} cleanup: ${errorLines(clean.out, SB_ERROR).join(' | ') || `exit ${clean.code}`}`);
  await settleQuiet(s);
  return point;
}

// ---------------------------------------------------------------------------------------
// Servers, setup, ingestion waits
// ---------------------------------------------------------------------------------------

interface Server {
  target: PgTarget;
  pid: number | undefined;
  /** Stratum: its /metrics base URL. */
  metricsUrl: string | undefined;
  /** Stratum: rows written so far (versions ingestion must merge). */
  written: number;
}

/**
 * Stratum: wait (bounded, not counted) until ingestion merged every row written so far; returns
 * the seconds waited (NaN for PostgreSQL).
 */
async function settle(s: Server, what: string): Promise<number> {
  if (s.metricsUrl === undefined) return Number.NaN;
  const w = await waitForIngestion(s.metricsUrl, s.written, { timeoutS: settleTimeoutS });
  if (!w.reached)
    notes.push(
      `${s.target.label} ${what}: ingestion had merged ${fmt(w.applied)} of ${fmt(s.written)} rows after ${settleTimeoutS} s; went on anyway`,
    );
  return w.seconds;
}

/** Stratum: wait (bounded) until ingestion's applied count stops moving for 1 s, then take it as the rows written so far. */
async function settleQuiet(s: Server): Promise<void> {
  if (s.metricsUrl === undefined) return;
  const deadline = Date.now() + settleTimeoutS * 1000;
  let last = -1;
  let still = 0;
  while (Date.now() < deadline && still < 2) {
    const applied = metricSum(await scrapeMetrics(s.metricsUrl, 30_000).catch(() => []), 'stratum_ingestion_applied_versions_total');
    still = applied === last ? still + 1 : 0;
    last = applied;
    await new Promise((r) => setTimeout(r, 500));
  }
  s.written = Math.max(s.written, last);
}

const FILLER = 'x'.repeat(84);

async function setup(name: string, s: Server): Promise<void> {
  const c = await connect(s.target);
  try {
    if (workloads.includes('insert') || workloads.includes('htap'))
      await c.query('CREATE TABLE pgb_insert (id bigint PRIMARY KEY, a int, b text)');
    if (!workloads.includes('select')) return;
    await c.query('CREATE TABLE pgb_accounts (id bigint PRIMARY KEY, balance bigint, filler text)');
    process.stderr.write(`  ${name}: loading ${fmt(rowCount)} rows into pgb_accounts (COPY)\n`);
    const t0 = performance.now();
    function* csv(): Generator<string> {
      for (let i = 1; i <= rowCount; i += 1000) {
        let text = '';
        for (let id = i; id < Math.min(i + 1000, rowCount + 1); id++) text += `${id},${(id * 7919) % 100_000},${FILLER}\n`;
        yield text;
      }
    }
    await pipeline(Readable.from(csv()), c.query(copyFrom('COPY pgb_accounts (id, balance, filler) FROM STDIN WITH (FORMAT csv)')));
    s.written += rowCount;
    process.stderr.write(`    loaded in ${fmt((performance.now() - t0) / 1000, 1)} s\n`);
    if (s.metricsUrl === undefined) await c.query('VACUUM ANALYZE pgb_accounts');
  } finally {
    await c.end();
  }
  await settle(s, 'after the preload');
}

// ---------------------------------------------------------------------------------------
// htap: the insert script alone, then with dashboard clients over flights
// ---------------------------------------------------------------------------------------

/** One dashboard query of the warm-up pass. */
interface PassQuery {
  ms: number;
  /** Rows returned (NaN when it failed). */
  rows: number;
  /** Canonical answer (cli/src/flights-queries.ts), undefined when it failed. */
  answer: Cell[][] | undefined;
  /** Error text ('' when none). */
  error: string;
}

/** Dashboard queries completed inside one measured window. */
interface DashboardWindow {
  /** Queries that completed inside the window. */
  completed: number;
  /** Queries that failed inside the window. */
  errors: number;
  /** First distinct error texts. */
  messages: string[];
  /** Window length (dashboards' start to pgbench's exit), s. */
  seconds: number;
  /** Latency of every completed query, ms. */
  latencies: number[];
  /** Latencies by query name, ms. */
  perQuery: Map<string, number[]>;
  /** Stratum: `stratum_router_result_cache_hits_total` gained during the window (NaN for PostgreSQL). */
  cacheHits: number;
}

interface HtapRun {
  /** loadFlights' wall time, s. */
  loadSeconds: number;
  /** Flights rows loaded. */
  flights: number;
  /** From the end of the load (and, on Stratum, the ingestion wait) to count(*) showing every row, ms (NaN when never). */
  visibleMs: number;
  pass: Map<string, PassQuery>;
  alone: Point;
  withDash: Point;
  dash: DashboardWindow;
}

/** Client-side bound of one dashboard query (a hung query must not hang the bench). */
const DASHBOARD_QUERY_TIMEOUT_MS = 600_000;

const errorText = (e: unknown): string => {
  const err = e as { message?: string; code?: string };
  return `${err.code !== undefined ? `${err.code} ` : ''}${err.message ?? String(e)}`.split('\n')[0] ?? '';
};

async function dashboardClient(t: PgTarget): Promise<pg.Client> {
  const c = new pg.Client({
    host: t.host,
    port: t.port,
    user: t.user,
    database: t.database,
    application_name: 'pgbench.ts dashboards',
    query_timeout: DASHBOARD_QUERY_TIMEOUT_MS,
  });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** One query as the dashboards send it: simple protocol, rows as arrays of the server's text. */
const dashboardQuery = (c: pg.Client, sql: string): Promise<pg.QueryResult<unknown[]>> =>
  c.query<unknown[]>({ text: sql, rowMode: 'array', types: RAW_TEXT_TYPES });

/** Every dashboard query once, in order, on one connection (not counted): latency, rows, canonical answer, error. */
async function dashboardPass(t: PgTarget): Promise<Map<string, PassQuery>> {
  const out = new Map<string, PassQuery>();
  const c = await dashboardClient(t);
  try {
    for (const [name, sql] of DASHBOARD_QUERIES) {
      const t0 = performance.now();
      try {
        const r = await dashboardQuery(c, sql);
        out.set(name, { ms: performance.now() - t0, rows: r.rows.length, answer: normalizePgResult(r), error: '' });
      } catch (e) {
        out.set(name, { ms: performance.now() - t0, rows: Number.NaN, answer: undefined, error: errorText(e) });
      }
    }
  } finally {
    await c.end().catch(() => undefined);
  }
  return out;
}

/**
 * Start `clients` connections looping back to back over `queries` (client i starting at query
 * ⌊i·len/clients⌋, so they do not run the same query in step). Resolves once they are connected
 * and running; the returned function closes the window: queries that complete after it are
 * not counted, the ones in flight are waited for, and the connections are closed.
 */
async function startDashboards(
  t: PgTarget,
  queries: readonly (readonly [string, string])[],
  clients: number,
): Promise<() => Promise<DashboardWindow>> {
  const conns: pg.Client[] = [];
  try {
    for (let i = 0; i < clients; i++) conns.push(await dashboardClient(t));
  } catch (e) {
    await endAll(conns);
    throw e;
  }
  const w: DashboardWindow = {
    completed: 0,
    errors: 0,
    messages: [],
    seconds: 0,
    latencies: [],
    perQuery: new Map(),
    cacheHits: Number.NaN,
  };
  let stopAt = Number.POSITIVE_INFINITY;
  const start = performance.now();
  const loops = conns.map(async (c, i) => {
    if (queries.length === 0) return;
    let next = Math.floor((i * queries.length) / clients);
    let consecutiveErrors = 0;
    // A connection that fails 20 times in a row (e.g. the server closed it) stops instead of spinning.
    while (performance.now() < stopAt && consecutiveErrors < 20) {
      const [name, sql] = queries[next % queries.length] ?? ['', ''];
      next++;
      const q0 = performance.now();
      try {
        await dashboardQuery(c, sql);
        consecutiveErrors = 0;
        const done = performance.now();
        if (done > stopAt) break;
        w.completed++;
        w.latencies.push(done - q0);
        const list = w.perQuery.get(name) ?? [];
        list.push(done - q0);
        w.perQuery.set(name, list);
      } catch (e) {
        consecutiveErrors++;
        if (performance.now() > stopAt) break;
        w.errors++;
        const msg = `${name}: ${errorText(e)}`;
        if (w.messages.length < 3 && !w.messages.includes(msg)) w.messages.push(msg);
      }
    }
  });
  return async () => {
    stopAt = performance.now();
    w.seconds = (stopAt - start) / 1000;
    await Promise.all(loops);
    await endAll(conns);
    return w;
  };
}

/** Stratum: answers its routers' result cache served so far (NaN for PostgreSQL or when /metrics does not answer). */
async function cacheHits(s: Server): Promise<number> {
  if (s.metricsUrl === undefined) return Number.NaN;
  const m = await scrapeMetrics(s.metricsUrl, 30_000).catch(() => undefined);
  return m === undefined ? Number.NaN : metricSum(m, 'stratum_router_result_cache_hits_total');
}

/** {@link htapWarmupS} seconds of the insert script at --htap-clients (not counted; nothing else running). */
async function htapWarmup(s: Server, script: string, dir: string): Promise<void> {
  if (htapWarmupS <= 0) return;
  const wu = await pgbench(s.target, htapClients, htapWarmupS, script, dir, undefined);
  s.written += WORKLOADS.insert.writes * wu.transactions;
}

const pointLine = (p: Point): string =>
  `    ${fmt(p.tps)} tps, p50 ${fmt(p.p50, 2)} ms, p99 ${fmt(p.p99, 2)} ms` +
  `${Number.isNaN(p.peakRss) ? '' : `, peak RSS ${mib(p.peakRss)} MiB`}${p.error ? `, ${p.error}` : ''}\n`;

/** The htap workload on a fresh server whose pgb_insert exists (see the file comment). */
async function htap(spec: TargetDecl, s: Server, script: string, dir: string, run: number): Promise<HtapRun> {
  const t = s.target;
  process.stderr.write(`  ${spec.name}: htap, loading ${fmt(flightsRows)} flights (loadFlights, COPY)\n`);
  const loaded = await loadFlights({
    host: t.host,
    port: t.port,
    user: t.user,
    database: t.database,
    rows: flightsRows,
    airports: false,
    progress: true,
  });
  s.written += loaded.flights;
  await settle(s, 'after the flights load');
  if (s.metricsUrl === undefined) {
    const c = await connect(t);
    try {
      await c.query('VACUUM ANALYZE flights');
    } finally {
      await c.end();
    }
  }
  const visible = await timeUntilCount(t, 'flights', loaded.flights, settleTimeoutS * 1000);
  if (Number.isNaN(visible.visibleMs))
    notes.push(
      `${spec.name} run ${run + 1}: count(*) FROM flights did not show ${fmt(loaded.flights)} rows within ${settleTimeoutS} s; went on`,
    );
  process.stderr.write(
    `    loaded ${fmt(loaded.flights)} rows in ${fmt(loaded.seconds, 1)} s; all visible to count(*) after ${fmt(visible.visibleMs)} ms\n`,
  );

  const pass = await dashboardPass(t);
  const running = DASHBOARD_QUERIES.filter(([name]) => (pass.get(name)?.error ?? '') === '');
  for (const [name, q] of pass) {
    if (q.error !== '') notes.push(`${spec.name} run ${run + 1}: dashboard query '${name}' refused, left out of the loop: ${q.error}`);
  }
  process.stderr.write(
    `    dashboard pass: ${[...pass].map(([name, q]) => `${name} ${q.error === '' ? `${fmt(q.ms)} ms` : 'ERROR'}`).join(', ')}\n`,
  );

  const insertPoint = (label: string): Promise<Point> => {
    process.stderr.write(`  ${spec.name}: htap, insert at ${htapClients} client(s) ${label}, ${seconds} s\n`);
    return pgbench(t, htapClients, seconds, script, dir, s.pid);
  };
  await htapWarmup(s, script, dir);
  const alone = await insertPoint('alone');
  process.stderr.write(pointLine(alone));
  s.written += WORKLOADS.insert.writes * alone.transactions;
  await settle(s, 'after htap insert alone');

  await htapWarmup(s, script, dir);
  const hitsBefore = await cacheHits(s);
  const stop = await startDashboards(t, running, dashboardClients);
  let withDash: Point;
  let dash: DashboardWindow;
  try {
    withDash = await insertPoint(`with ${dashboardClients} dashboard client(s)`);
  } finally {
    dash = await stop();
  }
  dash.cacheHits = (await cacheHits(s)) - hitsBefore;
  const [dashP50] = percentiles(dash.latencies, [50]);
  process.stderr.write(
    `${pointLine(withDash).trimEnd()}; dashboards ${fmt(dash.completed)} queries in ${fmt(dash.seconds, 1)} s ` +
      `(${fmt(dash.completed / dash.seconds, 2)}/s), p50 ${fmt(dashP50, 1)} ms` +
      `${Number.isNaN(dash.cacheHits) ? '' : `, ${fmt(dash.cacheHits)} from the result cache`}${dash.errors > 0 ? `, ${dash.errors} errors` : ''}\n`,
  );
  s.written += WORKLOADS.insert.writes * withDash.transactions;
  await settle(s, 'after htap insert with dashboards');
  for (const [label, p] of [
    ['alone', alone],
    ['with dashboards', withDash],
  ] as const) {
    if (p.error !== '') notes.push(`${spec.name}, htap insert ${label}, run ${run + 1}: ${p.error}`);
  }
  if (dash.errors > 0) notes.push(`${spec.name}, htap dashboards, run ${run + 1}: ${dash.errors} failed: ${dash.messages.join(' | ')}`);
  return { loadSeconds: loaded.seconds, flights: loaded.flights, visibleMs: visible.visibleMs, pass, alone, withDash, dash };
}

/** A column set of the tables: a Stratum configuration or PostgreSQL. */
interface TargetDecl {
  /** Full name (progress, notes, result keys). */
  name: string;
  /** Name in column headers: `Stratum`, `Stratum t2`, `PostgreSQL`. */
  short: string;
  /** Name in the errors cell: `Stratum`, `Stratum t2`, `PG`. */
  tag: string;
  stratum: boolean;
}
interface TargetSpec extends TargetDecl {
  start: () => Promise<Server>;
}

const STRATUM = 'Stratum (embedded)';
const POSTGRES = 'PostgreSQL 15';
const stratumDecls: (TargetDecl & { extraArgs: string[]; repoRoot?: string })[] =
  stratumVariants.length === 0
    ? [
        { name: STRATUM, short: 'Stratum', tag: 'Stratum', stratum: true, extraArgs: stratumArgs },
        ...(baselineDir === undefined
          ? []
          : [
              {
                name: `Stratum baseline (${baselineDir})`,
                short: 'Baseline',
                tag: 'Baseline',
                stratum: true,
                extraArgs: stratumArgs,
                repoRoot: baselineDir,
              },
            ]),
      ]
    : stratumVariants.map((n) => ({
        name: `Stratum (--threads ${n})`,
        short: `Stratum t${n}`,
        tag: `Stratum t${n}`,
        stratum: true,
        extraArgs: [...stratumArgs, '--threads', String(n)],
      }));
const postgresDecl: TargetDecl = { name: POSTGRES, short: 'PostgreSQL', tag: 'PG', stratum: false };
/** Every column set of the tables, skipped targets included (their cells show `—`). */
const declared: TargetDecl[] = [...stratumDecls, postgresDecl];
const targets: TargetSpec[] = [];
if (!args.flag('skip-stratum')) {
  if (stratumAvailable()) {
    for (const d of stratumDecls) {
      targets.push({
        ...d,
        start: async () => {
          const st = await startStratum({ extraArgs: d.extraArgs, ...(d.repoRoot === undefined ? {} : { repoRoot: d.repoRoot }) });
          return { target: st, pid: st.pid, metricsUrl: `http://127.0.0.1:${st.httpPort}`, written: 0 };
        },
      });
    }
  } else notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
}
if (!args.flag('skip-postgres')) {
  targets.push({
    ...postgresDecl,
    start: async () => ({
      target: await startPostgresTarget({ max_connections: String(Math.max(100, maxClients + 20)) }),
      pid: undefined,
      metricsUrl: undefined,
      written: 0,
    }),
  });
}

/** results[point key][target name] = one Point per run; point key `workload|clients`. */
const results = new Map<string, Map<string, Point[]>>();
const record = (key: string, target: string, p: Point): void => {
  const byTarget = results.get(key) ?? new Map<string, Point[]>();
  byTarget.set(target, [...(byTarget.get(target) ?? []), p]);
  results.set(key, byTarget);
};

/** htapResults[target name] = one HtapRun per run. */
const htapResults = new Map<string, HtapRun[]>();

const loadAtStart = loadAverage();
const dir = await makeTempDir('stratum-pgbench-');
try {
  const scripts = new Map<ScriptName, string>();
  for (const w of Object.keys(WORKLOADS) as ScriptName[]) {
    const file = join(dir, `${w}.sql`);
    await writeFile(file, WORKLOADS[w].script);
    scripts.set(w, file);
  }
  for (let run = 0; run < runs; run++) {
    for (const spec of run % 2 === 0 ? targets : [...targets].reverse()) {
      process.stderr.write(`run ${run + 1}/${runs}: ${spec.name} (load ${loadAverage()})\n`);
      let server: Server | undefined;
      try {
        server = await spec.start();
        const s = server;
        await setup(spec.name, s);
        for (const w of workloads) {
          if (w === 'htap') {
            const h = await htap(spec, s, scripts.get('insert') ?? '', dir, run);
            htapResults.set(spec.name, [...(htapResults.get(spec.name) ?? []), h]);
            continue;
          }
          for (const clients of clientsFor[w]) {
            const script = scripts.get(w) ?? '';
            if (warmup > 0) {
              const wu = await pgbench(s.target, clients, warmup, script, dir, undefined);
              s.written += WORKLOADS[w].writes * wu.transactions;
            }
            process.stderr.write(`  ${spec.name}: ${w}, ${clients} client(s), ${seconds} s\n`);
            const p = await pgbench(s.target, clients, seconds, script, dir, s.pid);
            process.stderr.write(pointLine(p));
            record(`${w}|${clients}`, spec.name, p);
            if (p.error !== '') notes.push(`${spec.name}, ${w}, ${clients} client(s), run ${run + 1}: ${p.error}`);
            if (WORKLOADS[w].writes > 0) {
              s.written += WORKLOADS[w].writes * p.transactions;
              p.catchUpS = await settle(s, `after ${w} at ${clients} client(s)`);
            }
          }
        }
        if (sysbenchOn) {
          for (const test of sysbenchTests) {
            const p = await sysbench(s.target, test, s.pid, s);
            process.stderr.write(
              `    ${fmt(p.tps)} tps, p95 ${fmt(p.p95, 2)} ms, p99 ${fmt(p.p99, 2)} ms${p.error ? `, ${p.error}` : ''}\n`,
            );
            record(`sysbench ${test}|${sbThreads}`, spec.name, p);
            if (p.error !== '') notes.push(`${spec.name}, sysbench ${test}, run ${run + 1}: ${p.error}`);
          }
        }
      } catch (e) {
        notes.push(`${spec.name} run ${run + 1} failed: ${e instanceof Error ? e.message.split('\n').slice(0, 3).join(' ') : String(e)}`);
      } finally {
        await server?.target.stop();
      }
    }
  }
} finally {
  await removeTempDir(dir);
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

const med = (points: Point[] | undefined, f: (p: Point) => number): number =>
  points === undefined ? Number.NaN : median(points.map(f).filter((x) => !Number.isNaN(x)));
const medOf = (xs: readonly number[]): number => median(xs.filter((x) => !Number.isNaN(x)));
const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '—' : `${fmt(a / b, 2)}×`);
const stratumCols = declared.filter((d) => d.stratum);

/** Errors cell: `—` when none; else, per target, the failure count and the first error text (shortened). */
function errorsCellOf(parts: readonly { tag: string; failed: number; noun: string; text: string }[]): string {
  const out: string[] = [];
  for (const { tag, failed, noun, text } of parts) {
    if (failed === 0 && text === '') continue;
    const shortText = text.length > 160 ? `${text.slice(0, 157)}…` : text;
    out.push(`${tag}: ${failed > 0 ? `${fmt(failed)} ${noun}` : ''}${failed > 0 && text ? '; ' : ''}${shortText}`.replace(/\|/g, '/'));
  }
  return out.length === 0 ? '—' : out.join(' · ');
}

/** Errors cell of a pgbench/sysbench point: failed counts and the first error text per target. */
function errorsCell(byTarget: Map<string, Point[]> | undefined, countNoun: string): string {
  return errorsCellOf(
    declared.map((d) => {
      const points = byTarget?.get(d.name) ?? [];
      return {
        tag: d.tag,
        failed: points.reduce((a, p) => a + p.failed, 0),
        noun: countNoun,
        text: points.find((p) => p.error !== '')?.error ?? '',
      };
    }),
  );
}

/**
 * One comparison table: a row per (name, clients) point, the latency columns named by `lat`
 * (p50/p99 for pgbench, p95/p99 for sysbench), medians over the runs; per Stratum target its
 * tps / PostgreSQL's and its peak RSS.
 */
function comparisonTable(
  firstColumn: string,
  clientsColumn: string,
  points: readonly { name: string; clients: number; key: string }[],
  lat: readonly [string, (p: Point) => number][],
  countNoun: string,
  catchUp = false,
): void {
  const rows = points.map(({ name, clients, key }) => {
    const byTarget = results.get(key);
    const p = byTarget?.get(POSTGRES);
    const side = (list: Point[] | undefined): string[] => [fmt(med(list, (x) => x.tps)), ...lat.map(([, get]) => fmt(med(list, get), 2))];
    return [
      name,
      String(clients),
      ...declared.flatMap((d) => side(byTarget?.get(d.name))),
      ...stratumCols.map((d) =>
        ratio(
          med(byTarget?.get(d.name), (x) => x.tps),
          med(p, (x) => x.tps),
        ),
      ),
      ...stratumCols.map((d) => {
        const s = byTarget?.get(d.name);
        return mib(s === undefined ? undefined : med(s, (x) => x.peakRss));
      }),
      ...(catchUp
        ? stratumCols.map((d) =>
            fmt(
              med(byTarget?.get(d.name), (x) => x.catchUpS ?? Number.NaN),
              2,
            ),
          )
        : []),
      errorsCell(byTarget, countNoun),
    ];
  });
  const heads = (target: string): string[] => [`${target} tps`, ...lat.map(([label]) => `${target} ${label} ms`)];
  printTable(
    [
      firstColumn,
      clientsColumn,
      ...declared.flatMap((d) => heads(d.short)),
      ...stratumCols.map((d) => `${d.short} / PG tps`),
      ...stratumCols.map((d) => `${d.short} peak RSS MiB`),
      ...(catchUp ? stratumCols.map((d) => `${d.short} ingestion caught up after s`) : []),
      'errors',
    ],
    rows,
  );
}

console.log(`\n${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end`);
if (stratumArgs.length > 0) console.log(`stratum up extra arguments: ${stratumArgs.join(' ')}`);
if (stratumVariants.length > 0)
  console.log(`Stratum variants: ${stratumDecls.map((d) => `${d.short} = stratum up … ${d.extraArgs.join(' ')}`).join('; ')}`);

const pgbenchWorkloads = workloads.filter((w): w is ScriptName => w !== 'htap');
if (pgbenchWorkloads.length > 0) {
  console.log(
    `\n## pgbench custom scripts: pgbench -n -M prepared -T ${seconds} -j ≤ ${jobs}, autocommit ` +
      `(medians over ${runs} run(s); pgb_accounts ${fmt(rowCount)} rows)\n`,
  );
  comparisonTable(
    'workload',
    'clients',
    pgbenchWorkloads.flatMap((w) => clientsFor[w].map((clients) => ({ name: w, clients, key: `${w}|${clients}` }))),
    [
      ['p50', (x) => x.p50],
      ['p99', (x) => x.p99],
    ],
    'failed',
    true,
  );
  console.log(
    '\n"ingestion caught up after s": from the end of a write point until ingestion had merged every row written (scraped every 200 ms): the backlog the relay and ingestion left behind the write rate.',
  );
}

if (workloads.includes('htap')) htapReport();

if (sysbenchOn) {
  console.log(
    `\n## sysbench (pgsql driver): --tables=${sbTables} --table-size=${fmt(sbTableSize)} --threads=${sbThreads} --time=${seconds} ` +
      `(medians over ${runs} run(s))\n`,
  );
  comparisonTable(
    'test',
    'threads',
    sysbenchTests.map((test) => ({ name: test, clients: sbThreads, key: `sysbench ${test}|${sbThreads}` })),
    [
      ['p95', (x) => x.p95],
      ['p99', (x) => x.p99],
    ],
    'ignored errors',
  );
}
for (const n of notes) console.log(`\nNote: ${n}`);

/** The htap tables: per target, per Stratum target against PostgreSQL, per dashboard query; the issue's target. */
function htapReport(): void {
  const runsOf = (name: string): HtapRun[] => htapResults.get(name) ?? [];
  const dashQps = (h: HtapRun): number => (h.dash.seconds > 0 ? h.dash.completed / h.dash.seconds : Number.NaN);
  const dashP50 = (h: HtapRun): number => percentiles(h.dash.latencies, [50])[0] ?? Number.NaN;
  /** Medians over the runs of a target; with / alone is the median of the per-run ratios. */
  const summary = (name: string) => {
    const hs = runsOf(name);
    return {
      runs: hs.length,
      alone: medOf(hs.map((h) => h.alone.tps)),
      withDash: medOf(hs.map((h) => h.withDash.tps)),
      withOverAlone: medOf(hs.map((h) => h.withDash.tps / h.alone.tps)),
      p99Alone: medOf(hs.map((h) => h.alone.p99)),
      p99With: medOf(hs.map((h) => h.withDash.p99)),
      qps: medOf(hs.map(dashQps)),
      p50: medOf(hs.map(dashP50)),
      rssAlone: medOf(hs.map((h) => h.alone.peakRss)),
      rssWith: medOf(hs.map((h) => h.withDash.peakRss)),
      cacheHits: medOf(hs.map((h) => h.dash.cacheHits)),
    };
  };

  console.log(
    `\n## htap: pgbench INSERT (the insert script) at ${htapClients} clients, -T ${seconds}, alone, then with ${dashboardClients} ` +
      `dashboard connections looping over the ${DASHBOARD_QUERIES.length} flights queries ` +
      `(Stratum's router result cache ${dashboardCache ? 'on, as by default' : `off: ${CACHE_ENV}=${process.env[CACHE_ENV]}`}; ` +
      `flights: ${fmt(flightsRows)} rows; ` +
      `medians over ${runs} run(s))\n`,
  );
  printTable(
    [
      'target',
      'INSERT tps alone',
      'INSERT tps with dashboards',
      'with / alone',
      'p99 alone ms',
      'p99 with ms',
      'dashboard queries/s',
      'dashboard p50 ms',
      'result-cache hits',
      'peak RSS alone MiB',
      'peak RSS with MiB',
      'errors',
    ],
    declared.map((d) => {
      const m = summary(d.name);
      const hs = runsOf(d.name);
      const refused = new Set(hs.flatMap((h) => [...h.pass].filter(([, q]) => q.error !== '').map(([n]) => n)));
      const failedTx = hs.reduce((a, h) => a + h.alone.failed + h.withDash.failed, 0);
      const dashErrors = hs.reduce((a, h) => a + h.dash.errors, 0);
      const texts = [
        hs.find((h) => h.alone.error !== '')?.alone.error,
        hs.find((h) => h.withDash.error !== '')?.withDash.error,
        refused.size > 0 ? `refused: ${[...refused].join(', ')}` : undefined,
        dashErrors > 0
          ? `${fmt(dashErrors)} dashboard errors: ${hs.find((h) => h.dash.messages.length > 0)?.dash.messages[0] ?? ''}`
          : undefined,
      ].filter((x): x is string => x !== undefined && x !== '');
      return [
        d.name,
        fmt(m.alone),
        fmt(m.withDash),
        Number.isNaN(m.withOverAlone) ? '—' : fmt(m.withOverAlone, 2),
        fmt(m.p99Alone, 2),
        fmt(m.p99With, 2),
        fmt(m.qps, 2),
        fmt(m.p50, 1),
        fmt(m.cacheHits),
        d.stratum && m.runs > 0 ? mib(m.rssAlone) : '—',
        d.stratum && m.runs > 0 ? mib(m.rssWith) : '—',
        errorsCellOf([{ tag: d.tag, failed: failedTx, noun: 'failed', text: texts.join('; ') }]),
      ];
    }),
  );

  const pgSummary = summary(POSTGRES);
  if (pgSummary.runs > 0 && stratumCols.some((d) => runsOf(d.name).length > 0)) {
    console.log('\nStratum / PostgreSQL (ratios of the medians above):\n');
    printTable(
      [
        'target',
        'INSERT tps alone / PG',
        'INSERT tps with dashboards / PG',
        'with/alone ÷ PG’s with/alone',
        'dashboard queries/s / PG',
        'dashboard p50 / PG',
      ],
      stratumCols.map((d) => {
        const m = summary(d.name);
        return [
          d.name,
          ratio(m.alone, pgSummary.alone),
          ratio(m.withDash, pgSummary.withDash),
          ratio(m.withOverAlone, pgSummary.withOverAlone),
          ratio(m.qps, pgSummary.qps),
          ratio(m.p50, pgSummary.p50),
        ];
      }),
    );
  }

  // Per dashboard query: rows of the warm-up pass and, during the window, p50 and count.
  const withRuns = declared.filter((d) => runsOf(d.name).length > 0);
  console.log(
    `\nDashboard queries during the window with inserts (p50 ms and queries completed, medians over the runs; rows from the warm-up pass):\n`,
  );
  printTable(
    ['query', 'rows', ...withRuns.flatMap((d) => [`${d.short} p50 ms`, `${d.short} done`])],
    DASHBOARD_QUERIES.map(([name]) => {
      const rowsBy = withRuns.map((d) => ({ d, rows: runsOf(d.name)[0]?.pass.get(name)?.rows ?? Number.NaN }));
      const same = rowsBy.every((r) => r.rows === rowsBy[0]?.rows);
      return [
        name,
        same ? fmt(rowsBy[0]?.rows) : rowsBy.map((r) => `${r.d.tag} ${fmt(r.rows)}`).join(' / '),
        ...withRuns.flatMap((d) => {
          const hs = runsOf(d.name);
          const lat = hs.map((h) => h.dash.perQuery.get(name) ?? []);
          return [fmt(medOf(lat.map((l) => percentiles(l, [50])[0] ?? Number.NaN)), 1), fmt(medOf(lat.map((l) => l.length)))];
        }),
      ];
    }),
  );

  // Load and visibility, per target.
  console.log('');
  for (const d of withRuns) {
    const hs = runsOf(d.name);
    console.log(
      `${d.name}: flights load ${fmt(medOf(hs.map((h) => h.loadSeconds)), 1)} s (${fmt(hs[0]?.flights)} rows, COPY on 4 connections), ` +
        `all rows visible to count(*) ${fmt(medOf(hs.map((h) => h.visibleMs)))} ms later (medians)`,
    );
  }

  // Answers of the warm-up pass: each Stratum target against PostgreSQL's (avg is numeric in PG: relative tolerance 1e-12).
  const pgPass = runsOf(POSTGRES)[0]?.pass;
  if (pgPass !== undefined) {
    for (const d of stratumCols) {
      const sPass = runsOf(d.name)[0]?.pass;
      if (sPass === undefined) continue;
      const diffs: string[] = [];
      for (const [name] of DASHBOARD_QUERIES) {
        const a = sPass.get(name)?.answer;
        const e = pgPass.get(name)?.answer;
        if (a === undefined || e === undefined) continue;
        const m = compareAnswers(e, a, { relTol: 1e-12, maxReports: 2 });
        if (m.length > 0) diffs.push(`${name}: ${m.join('; ')}`);
      }
      notes.push(
        diffs.length === 0
          ? `${d.name}: every dashboard query both answered returned PostgreSQL's answer (warm-up pass of run 1).`
          : `${d.name}: answers differ from PostgreSQL's (warm-up pass of run 1): ${diffs.join(' | ')}`,
      );
    }
  }

  // The issue's target.
  console.log('');
  for (const d of stratumCols) {
    const m = summary(d.name);
    if (m.runs === 0) continue;
    console.log(
      `Target (PolarDB-IMCI reports < 5 % OLTP loss): ${d.name} INSERT tps with dashboards / alone ≥ 0.9: ` +
        `${Number.isNaN(m.withOverAlone) ? 'no figure' : `${m.withOverAlone >= 0.9 ? 'met' : 'not met'} (${fmt(m.withOverAlone, 2)})`}`,
    );
  }
}
