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
import { freePort } from '../shared/src/testing/nats-server.ts';
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
export async function startStratum(opts: StratumOptions = {}): Promise<PgTarget & { httpPort: number; dataDir: string }> {
  const cli = stratumCliPath();
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
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
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
