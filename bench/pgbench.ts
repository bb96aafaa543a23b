/**
 * Bench: Debian's `pgbench` (PostgreSQL 15 client, a C load generator that costs little CPU)
 * with custom scripts against an embedded Stratum and a throw-away PostgreSQL 15 in the same
 * run: transactions/s, p50 and p99 latency, Stratum / PostgreSQL and the Stratum process's
 * peak RSS, per workload and client count. Optionally sysbench's OLTP scripts too.
 *
 * Workloads (`--workloads`, each statement its own autocommit transaction):
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
 * --stratum-args is passed to `stratum up` as extra arguments; since it starts with `--`,
 * write it with `=`: --stratum-args="--threads 2".
 *
 * Usage: npx tsx bench/pgbench.ts [--seconds 10] [--runs 3] [--workloads insert,select]
 *          [--clients N,…] [--insert-clients 32,1] [--select-clients 32] [--jobs 2] [--rows 100000]
 *          [--warmup 0] [--settle-timeout 120] [--stratum-args="…"] [--skip-stratum] [--skip-postgres]
 *          [--sysbench oltp_point_select,oltp_read_write] [--sysbench-threads 8] [--sysbench-tables 2]
 *          [--sysbench-table-size 20000]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import {
  connect,
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
  waitForIngestion,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const seconds = args.num('seconds') ?? 10;
const runs = args.num('runs') ?? 3;
const jobs = args.num('jobs') ?? 2;
const rowCount = args.num('rows') ?? 100_000;
const warmup = args.num('warmup') ?? 0;
const settleTimeoutS = args.num('settle-timeout') ?? 120;
const sbThreads = args.num('sysbench-threads') ?? 8;
const sbTables = args.num('sysbench-tables') ?? 2;
const sbTableSize = args.num('sysbench-table-size') ?? 20_000;

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
type WorkloadName = keyof typeof WORKLOADS;

const workloads = list('workloads', args.str('workloads') ?? 'insert,select').map((w) => {
  if (!(w in WORKLOADS)) throw new Error(`--workloads: unknown workload ${w} (known: ${Object.keys(WORKLOADS).join(', ')})`);
  return w as WorkloadName;
});
const clientsFor: Record<WorkloadName, number[]> = {
  insert: clientList('insert-clients', args.str('insert-clients') ?? args.str('clients') ?? '32,1'),
  select: clientList('select-clients', args.str('select-clients') ?? args.str('clients') ?? '32'),
};
if (args.flag('stratum-args')) throw new Error('--stratum-args needs a value; write it with =, e.g. --stratum-args="--threads 2"');
const stratumArgs = (args.str('stratum-args') ?? '').split(/\s+/).filter((s) => s !== '');
const sysbenchTests = args.str('sysbench') === undefined ? [] : list('sysbench', args.str('sysbench') ?? '');
for (const t of sysbenchTests) if (!/^[a-z_]+$/.test(t)) throw new Error(`--sysbench: not a sysbench test name: ${t}`);
const maxClients = Math.max(sbThreads, ...workloads.flatMap((w) => clientsFor[w]));

const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
if (!onPath('pgbench')) throw new Error('pgbench not found on PATH (Debian: apt-get install postgresql-client-15)');

const notes: string[] = [];
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

/** Stratum: wait (bounded, not counted) until ingestion merged every row written so far. */
async function settle(s: Server, what: string): Promise<void> {
  if (s.metricsUrl === undefined) return;
  const w = await waitForIngestion(s.metricsUrl, s.written, { timeoutS: settleTimeoutS });
  if (!w.reached)
    notes.push(
      `${s.target.label} ${what}: ingestion had merged ${fmt(w.applied)} of ${fmt(s.written)} rows after ${settleTimeoutS} s; went on anyway`,
    );
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

async function setup(s: Server): Promise<void> {
  const c = await connect(s.target);
  try {
    if (workloads.includes('insert')) await c.query('CREATE TABLE pgb_insert (id bigint PRIMARY KEY, a int, b text)');
    if (!workloads.includes('select')) return;
    await c.query('CREATE TABLE pgb_accounts (id bigint PRIMARY KEY, balance bigint, filler text)');
    process.stderr.write(`  ${s.target.label}: loading ${fmt(rowCount)} rows into pgb_accounts (COPY)\n`);
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

interface TargetSpec {
  name: string;
  start: () => Promise<Server>;
}

const STRATUM = 'Stratum (embedded)';
const POSTGRES = 'PostgreSQL 15';
const targets: TargetSpec[] = [];
if (!args.flag('skip-stratum')) {
  if (stratumAvailable()) {
    targets.push({
      name: STRATUM,
      start: async () => {
        const st = await startStratum({ extraArgs: stratumArgs });
        return { target: st, pid: st.pid, metricsUrl: `http://127.0.0.1:${st.httpPort}`, written: 0 };
      },
    });
  } else notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
}
if (!args.flag('skip-postgres')) {
  targets.push({
    name: POSTGRES,
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

const loadAtStart = loadAverage();
const dir = await makeTempDir('stratum-pgbench-');
try {
  const scripts = new Map<WorkloadName, string>();
  for (const w of workloads) {
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
        await setup(s);
        for (const w of workloads) {
          for (const clients of clientsFor[w]) {
            const script = scripts.get(w) ?? '';
            if (warmup > 0) {
              const wu = await pgbench(s.target, clients, warmup, script, dir, undefined);
              s.written += WORKLOADS[w].writes * wu.transactions;
            }
            process.stderr.write(`  ${spec.name}: ${w}, ${clients} client(s), ${seconds} s\n`);
            const p = await pgbench(s.target, clients, seconds, script, dir, s.pid);
            process.stderr.write(
              `    ${fmt(p.tps)} tps, p50 ${fmt(p.p50, 2)} ms, p99 ${fmt(p.p99, 2)} ms` +
                `${Number.isNaN(p.peakRss) ? '' : `, peak RSS ${mib(p.peakRss)} MiB`}${p.error ? `, ${p.error}` : ''}\n`,
            );
            record(`${w}|${clients}`, spec.name, p);
            if (p.error !== '') notes.push(`${spec.name}, ${w}, ${clients} client(s), run ${run + 1}: ${p.error}`);
            if (WORKLOADS[w].writes > 0) {
              s.written += WORKLOADS[w].writes * p.transactions;
              await settle(s, `after ${w} at ${clients} client(s)`);
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
const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '—' : `${fmt(a / b, 2)}×`);
/** Errors cell: `—` when none; else failed counts and the first error text (shortened) per target. */
function errorsCell(byTarget: Map<string, Point[]> | undefined, countNoun: string): string {
  const parts: string[] = [];
  for (const [name, short] of [
    [STRATUM, 'Stratum'],
    [POSTGRES, 'PG'],
  ] as const) {
    const points = byTarget?.get(name) ?? [];
    const failed = points.reduce((a, p) => a + p.failed, 0);
    const text = points.find((p) => p.error !== '')?.error ?? '';
    if (failed === 0 && text === '') continue;
    const shortText = text.length > 160 ? `${text.slice(0, 157)}…` : text;
    parts.push(
      `${short}: ${failed > 0 ? `${fmt(failed)} ${countNoun}` : ''}${failed > 0 && text ? '; ' : ''}${shortText}`.replace(/\|/g, '/'),
    );
  }
  return parts.length === 0 ? '—' : parts.join(' · ');
}

/**
 * One comparison table: a row per (name, clients) point, the latency columns named by `lat`
 * (p50/p99 for pgbench, p95/p99 for sysbench), medians over the runs.
 */
function comparisonTable(
  firstColumn: string,
  clientsColumn: string,
  points: readonly { name: string; clients: number; key: string }[],
  lat: readonly [string, (p: Point) => number][],
  countNoun: string,
): void {
  const rows = points.map(({ name, clients, key }) => {
    const byTarget = results.get(key);
    const s = byTarget?.get(STRATUM);
    const p = byTarget?.get(POSTGRES);
    const side = (list: Point[] | undefined): string[] => [fmt(med(list, (x) => x.tps)), ...lat.map(([, get]) => fmt(med(list, get), 2))];
    return [
      name,
      String(clients),
      ...side(s),
      ...side(p),
      ratio(
        med(s, (x) => x.tps),
        med(p, (x) => x.tps),
      ),
      mib(s === undefined ? undefined : med(s, (x) => x.peakRss)),
      errorsCell(byTarget, countNoun),
    ];
  });
  const heads = (target: string): string[] => [`${target} tps`, ...lat.map(([label]) => `${target} ${label} ms`)];
  printTable(
    [firstColumn, clientsColumn, ...heads('Stratum'), ...heads('PostgreSQL'), 'Stratum / PG tps', 'Stratum peak RSS MiB', 'errors'],
    rows,
  );
}

console.log(
  `\n## pgbench custom scripts: pgbench -n -M prepared -T ${seconds} -j ≤ ${jobs}, autocommit ` +
    `(medians over ${runs} run(s); pgb_accounts ${fmt(rowCount)} rows)\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end`);
if (stratumArgs.length > 0) console.log(`stratum up extra arguments: ${stratumArgs.join(' ')}`);
console.log('');
comparisonTable(
  'workload',
  'clients',
  workloads.flatMap((w) => clientsFor[w].map((clients) => ({ name: w, clients, key: `${w}|${clients}` }))),
  [
    ['p50', (x) => x.p50],
    ['p99', (x) => x.p99],
  ],
  'failed',
);

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
