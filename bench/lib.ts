/**
 * Helpers shared by the bench programs (bench/*.ts): free ports, an embedded Stratum
 * started as a child process (`node cli/bin/stratum.mjs up …`), a throw-away PostgreSQL
 * (re-exported from the test harness), percentiles and markdown tables.
 *
 * Benches print tables; nothing here asserts a timing (STYLE: "a test never asserts a timing").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../shared/src/testing/ports.ts';
import { type PostgresHandle, startPostgres } from '../shared/src/testing/postgres.ts';

export type { PostgresHandle };
export { freePort, startPostgres };

/** Root of the Stratum checkout (the parent of bench/). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Connection parameters of a PostgreSQL-protocol server under test. */
export interface PgTarget {
  /** Label printed in tables, e.g. `Stratum (embedded)` or `PostgreSQL 15`. */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** Stop the server and remove its data directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startStratum}. */
export interface StratumOptions {
  /** Bounded wait for the pgwire port to answer `SELECT 1`, in ms (default 120000). */
  startTimeoutMs?: number;
  /** Extra command-line arguments for `stratum up`. */
  extraArgs?: string[];
  /** Forward the server's stdout/stderr to this process's stderr (default false: kept for errors). */
  echo?: boolean;
  /** Another checkout of Stratum to run (its `cli/bin/stratum.mjs`, with its own node_modules); default this one. */
  repoRoot?: string;
}

const OUTPUT_KEEP_CHARS = 16 * 1024;
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

/** Path of the Stratum CLI entry point, `cli/bin/stratum.mjs`. */
export function stratumCliPath(): string {
  return join(REPO_ROOT, 'cli', 'bin', 'stratum.mjs');
}

/** True when `cli/bin/stratum.mjs` exists (benches skip the Stratum side otherwise, with a note). */
export function stratumAvailable(): boolean {
  return existsSync(stratumCliPath());
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One `SELECT 1` round trip; true when the server answered. */
async function pgAnswers(host: string, port: number, user: string, database: string): Promise<boolean> {
  const c = new pg.Client({ host, port, user, database, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Start an embedded Stratum (all services in one process) as a child process:
 * `node cli/bin/stratum.mjs up --data-dir <new temp dir> --pg-port <free> --http-port <free>`,
 * then wait until the pgwire port answers `SELECT 1` as user `stratum`, database `stratum`
 * (the configuration defaults, trust auth on loopback).
 * `stop()` sends SIGTERM (drain), SIGKILL after 30 s, and removes the data directory.
 * @throws Error when the CLI is missing, exits during startup, or does not answer within
 *   `startTimeoutMs` (with the tail of its output).
 */
export async function startStratum(opts: StratumOptions = {}): Promise<PgTarget & { httpPort: number; dataDir: string; pid: number }> {
  const root = opts.repoRoot ?? REPO_ROOT;
  const cli = join(root, 'cli', 'bin', 'stratum.mjs');
  if (!existsSync(cli)) {
    throw new Error(`Stratum CLI not found at ${cli}; build/install the cli workspace first (the 'stratum up' command)`);
  }
  installExitHook();
  const dataDir = await mkdtemp(join(tmpdir(), 'stratum-bench-'));
  liveDirs.add(dataDir);
  const pgPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === pgPort) httpPort = await freePort();
  const args = [cli, 'up', '--data-dir', dataDir, '--pg-port', String(pgPort), '--http-port', String(httpPort), ...(opts.extraArgs ?? [])];
  // BENCH_SERVER_NODE_ARGS (space-separated, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node
  // options for the server process only, for profiling a bench's load.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  liveChildren.add(child);
  let output = '';
  let exitInfo: string | undefined;
  const exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exitInfo = `exit code ${code}, signal ${signal}`;
      liveChildren.delete(child);
      res();
    });
    child.once('error', (err) => {
      exitInfo = `spawn error: ${err.message}`;
      liveChildren.delete(child);
      res();
    });
  });
  const collect = (chunk: Buffer): void => {
    const s = chunk.toString('utf8');
    output = (output + s).slice(-OUTPUT_KEEP_CHARS);
    if (opts.echo === true) process.stderr.write(s);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exitInfo === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
    liveDirs.delete(dataDir);
  };

  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const cmd = `node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`;
  for (;;) {
    if (exitInfo !== undefined) {
      await stop();
      throw new Error(`Stratum exited during startup (${exitInfo}): ${cmd}\n--- output ---\n${output}`);
    }
    if (await pgAnswers('127.0.0.1', pgPort, 'stratum', 'stratum')) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Stratum did not answer on 127.0.0.1:${pgPort} within ${timeoutMs} ms: ${cmd}\n--- output ---\n${output}`);
    }
    await sleep(100);
  }
  return {
    label: 'Stratum (embedded)',
    host: '127.0.0.1',
    port: pgPort,
    httpPort,
    user: 'stratum',
    database: 'stratum',
    dataDir,
    pid: child.pid ?? -1,
    stop,
  };
}

/** Start a throw-away PostgreSQL 15 (default settings: synchronous_commit on) as a {@link PgTarget}. */
export async function startPostgresTarget(settings?: Record<string, string>): Promise<PgTarget> {
  const h = await startPostgres(settings === undefined ? {} : { settings });
  return { label: 'PostgreSQL 15', host: h.host, port: h.port, user: h.user, database: h.database, stop: h.stop };
}

/** A connected pg client for a target (caller ends it). */
export async function connect(t: PgTarget): Promise<pg.Client> {
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, database: t.database });
  await c.connect();
  return c;
}

/**
 * Percentile by nearest rank (p in 0..100) of unsorted samples; NaN when empty.
 * p = 50 is the median (for an even count, the lower middle sample).
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

/** Median (p50 by nearest rank) of samples; NaN when empty. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Format a number with `digits` decimals and thousands separators (`—` for NaN/undefined). */
export function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Print a markdown table (header row, alignment row, rows) to stdout; numeric-looking columns right-aligned. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length), 3));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-—0-9.,x×%]*$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  console.log(line(headers));
  console.log(`| ${widths.map((w, i) => (numeric[i] === true ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
}

/** One line describing the machine (cores, memory, Node, PostgreSQL binaries), for bench output. */
export function machineLine(): string {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  const cpu = cpus();
  return `machine: ${cpu.length} cores (${cpu[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}${kernel ? `, Linux ${kernel}` : ''}`;
}

/**
 * Minimal `--name value` / `--flag` argument parser for bench programs.
 * @throws Error naming the option when a numeric option is not a number.
 */
export function parseArgs(argv: readonly string[]): {
  num(name: string): number | undefined;
  flag(name: string): boolean;
  str(name: string): string | undefined;
} {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) values.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        values.set(a.slice(2), next);
        i++;
      } else flags.add(a.slice(2));
    }
  }
  return {
    num(name) {
      const v = values.get(name);
      if (v === undefined) return undefined;
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got ${v}`);
      return n;
    },
    flag: (name) => flags.has(name),
    str: (name) => values.get(name),
  };
}

// ---------------------------------------------------------------------------------------
// Helpers added for tx-commit.ts, point-reads.ts and relay.ts.
// ---------------------------------------------------------------------------------------

/** Several percentiles (nearest rank, p in 0..100) of unsorted samples, sorting once; NaN when empty. */
export function percentiles(samples: ArrayLike<number>, ps: readonly number[]): number[] {
  if (samples.length === 0) return ps.map(() => Number.NaN);
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => {
    const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
    return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
  });
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parse the Prometheus text format (`name{l="v",…} value [ts]`); comments and blank lines skipped. */
export function parsePrometheus(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    const body = m[3];
    if (body !== undefined) {
      for (const lm of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[lm[1] ?? ''] = (lm[2] ?? '').replace(/\\(.)/g, '$1');
    }
    const v = m[4] ?? 'NaN';
    out.push({
      name: m[1] ?? '',
      labels,
      value: v === '+Inf' ? Number.POSITIVE_INFINITY : v === '-Inf' ? Number.NEGATIVE_INFINITY : Number(v),
    });
  }
  return out;
}

/** Fetch and parse `GET <baseUrl>/metrics` (bounded by `timeoutMs`, default 5000). @throws on HTTP errors. */
export async function scrapeMetrics(baseUrl: string, timeoutMs = 5000): Promise<MetricSample[]> {
  const res = await fetch(`${baseUrl.replace(/\/$/, '')}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${baseUrl}/metrics: HTTP ${res.status}`);
  return parsePrometheus(await res.text());
}

/**
 * Sum of the samples named `name` whose labels include every pair of `labels`
 * (0 when none match — a labelled prom-client metric has no sample before its first use).
 */
export function metricSum(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** True when any sample of `name` (e.g. a `_count` of a histogram) is exposed at all. */
export function metricExposed(samples: readonly MetricSample[], prefix: string): boolean {
  return samples.some((s) => s.name.startsWith(prefix));
}

/** Result of {@link closedLoop}. */
export interface ClosedLoopResult {
  /** Operations completed without error. */
  readonly ops: number;
  /** Operations that threw. */
  readonly errors: number;
  /** The first few distinct error messages (with SQLSTATE when present). */
  readonly errorMessages: string[];
  /** Wall time from start until the last client finished its last operation, in s. */
  readonly seconds: number;
  /** Latency of each successful operation, in ms. */
  readonly latenciesMs: Float64Array;
}

/**
 * Closed-loop load: every client runs `op(client, clientIndex)` back to back, starting a new
 * operation only while `seconds` have not passed; one in-flight operation per client.
 * A client stops after 20 consecutive errors (a dead connection would otherwise spin).
 */
export async function closedLoop<C>(
  clients: readonly C[],
  seconds: number,
  op: (client: C, index: number) => Promise<unknown>,
): Promise<ClosedLoopResult> {
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  const messages: string[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let lastDone = start;
  await Promise.all(
    clients.map(async (c, i) => {
      let consecutive = 0;
      while (performance.now() < end && consecutive < 20) {
        const t = performance.now();
        try {
          await op(c, i);
          const done = performance.now();
          if (n === lat.length) {
            const bigger = new Float64Array(lat.length * 2);
            bigger.set(lat);
            lat = bigger;
          }
          lat[n++] = done - t;
          consecutive = 0;
          if (done > lastDone) lastDone = done;
        } catch (e) {
          errors++;
          consecutive++;
          const err = e as { message?: string; code?: string };
          const msg = `${err.code !== undefined ? `${err.code} ` : ''}${err.message ?? String(e)}`;
          if (messages.length < 5 && !messages.includes(msg)) messages.push(msg);
        }
      }
    }),
  );
  return { ops: n, errors, errorMessages: messages, seconds: (lastDone - start) / 1000, latenciesMs: lat.subarray(0, n) };
}

/** Open `count` pg clients to a target, `parallel` connects at a time. Errors on a client are swallowed (queries still reject). */
export async function connectMany(t: PgTarget, count: number, parallel = 16): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < count; i += parallel) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(parallel, count - i) }, async () => {
          const c = new pg.Client({ host: t.host, port: t.port, user: t.user, database: t.database });
          c.on('error', () => undefined);
          await c.connect();
          return c;
        }),
      );
      clients.push(...batch);
    }
  } catch (e) {
    await endAll(clients);
    throw e;
  }
  return clients;
}

/** End every client, ignoring errors. */
export async function endAll(clients: readonly pg.Client[]): Promise<void> {
  await Promise.allSettled(clients.map((c) => c.end()));
}

/** A temp directory removed by the process-exit hook unless `removeTempDir` removed it first. */
export async function makeTempDir(prefix: string): Promise<string> {
  installExitHook();
  const d = await mkdtemp(join(tmpdir(), prefix));
  liveDirs.add(d);
  return d;
}

/** Remove a directory made by {@link makeTempDir}. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** A `stratum <service> …` child process of the distributed form, started by {@link spawnStratumService}. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** Output so far (stdout + stderr, last 16 KiB). */
  output(): string;
  /** `exit code …, signal …` once it exited, else undefined. */
  exitInfo(): string | undefined;
  /** SIGINT (drain), SIGKILL after `graceMs` (default 30000); resolves with the exit description. */
  stop(graceMs?: number): Promise<string>;
}

/**
 * Spawn `node cli/bin/stratum.mjs <args>` (a service of the distributed form, e.g.
 * `tx-engine --config f --id tx1`) and wait until its stdout says `listening`.
 * Killed by the process-exit hook if still running.
 * @throws Error with the output when it exits first or is not ready within `timeoutMs` (default 60000).
 */
export async function spawnStratumService(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; ready?: RegExp } = {},
): Promise<ServiceProcess> {
  installExitHook();
  const child = spawn(process.execPath, [stratumCliPath(), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, STRATUM_LOG_LEVEL: process.env.STRATUM_LOG_LEVEL ?? 'warn', ...opts.env },
  });
  liveChildren.add(child);
  let output = '';
  let exit: string | undefined;
  const exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exit = `exit code ${code}, signal ${signal}`;
      liveChildren.delete(child);
      res();
    });
    child.once('error', (err) => {
      exit = `spawn error: ${err.message}`;
      liveChildren.delete(child);
      res();
    });
  });
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP_CHARS);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const name = `stratum ${args.join(' ')}`;
  const stop = async (graceMs = 30_000): Promise<string> => {
    if (exit === undefined) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    return exit ?? 'exited';
  };
  const ready = opts.ready ?? /listening/;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (ready.test(output)) break;
    if (exit !== undefined) throw new Error(`${name} exited before it was ready (${exit}):\n${output}`);
    if (Date.now() > deadline) {
      await stop(1000);
      throw new Error(`${name} was not ready within ${opts.timeoutMs ?? 60_000} ms:\n${output}`);
    }
    await sleep(50);
  }
  return { name, pid: child.pid ?? -1, output: () => output, exitInfo: () => exit, stop };
}

/** `VmRSS` and `VmHWM` (peak RSS) of a process from /proc/<pid>/status, in bytes; undefined when unreadable. */
export function processMemory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN);
    return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '—' : fmt(bytes / 2 ** 20, 1);
}

/** The 1-minute load average from /proc/loadavg (other work on the box skews every figure), or `?`. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
  } catch {
    return '?';
  }
}

/** CPU time (user + system) a process has used so far, in s, from /proc/<pid>/stat; undefined when unreadable. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Result of {@link waitForIngestion}. */
export interface IngestionWait {
  /** Seconds waited. */
  readonly seconds: number;
  /** `stratum_ingestion_applied_versions_total` at the last scrape. */
  readonly applied: number;
  /** `stratum_ingestion_pushed_versions_total` at the last scrape. */
  readonly pushed: number;
  /** False when `timeoutS` passed first. */
  readonly reached: boolean;
}

/**
 * Poll an embedded Stratum's `/metrics` every 200 ms until ingestion has merged `versions`
 * versions (`stratum_ingestion_applied_versions_total`) and, with `pushed`, pushed as many to
 * the OLAP tier (`…_pushed_versions_total`), or `timeoutS` has passed. A scrape that fails or
 * times out (a busy box) counts as no progress; the next one counts.
 */
export async function waitForIngestion(
  metricsUrl: string,
  versions: number,
  opts: { pushed?: boolean; timeoutS: number },
): Promise<IngestionWait> {
  const t0 = performance.now();
  for (;;) {
    const m = await scrapeMetrics(metricsUrl, 30_000).catch(() => []);
    const applied = metricSum(m, 'stratum_ingestion_applied_versions_total');
    const pushed = metricSum(m, 'stratum_ingestion_pushed_versions_total');
    const seconds = (performance.now() - t0) / 1000;
    if (applied >= versions && (opts.pushed !== true || pushed >= versions)) return { seconds, applied, pushed, reached: true };
    if (seconds > opts.timeoutS) return { seconds, applied, pushed, reached: false };
    await sleep(200);
  }
}

/**
 * Poll `SELECT count(*) FROM <table>` on a new connection until it returns `expected`: ms from
 * the call to the complete answer (NaN when `timeoutMs` passed first) and the last query's ms
 * (the part of the wait that is query time).
 */
export async function timeUntilCount(
  target: PgTarget,
  table: string,
  expected: number,
  timeoutMs: number,
): Promise<{ visibleMs: number; countMs: number }> {
  const t0 = performance.now();
  const c = await connect(target);
  try {
    for (;;) {
      const q0 = performance.now();
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      const now = performance.now();
      if (Number(r.rows[0]?.n ?? -1) === expected) return { visibleMs: now - t0, countMs: now - q0 };
      if (now - t0 > timeoutMs) return { visibleMs: Number.NaN, countMs: now - q0 };
      await sleep(10);
    }
  } finally {
    await c.end();
  }
}

/**
 * The two targets of a fresh-server-per-run bench, minus those skipped by `--skip-stratum` /
 * `--skip-postgres`; a missing CLI is a note, not an error.
 */
export function freshTargets(args: { flag(name: string): boolean }, notes: string[]): { name: string; start: () => Promise<PgTarget> }[] {
  const targets: { name: string; start: () => Promise<PgTarget> }[] = [];
  if (!args.flag('skip-stratum')) {
    if (stratumAvailable()) targets.push({ name: 'Stratum (embedded)', start: () => startStratum() });
    else notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
  }
  if (!args.flag('skip-postgres')) targets.push({ name: 'PostgreSQL 15', start: () => startPostgresTarget() });
  return targets;
}
