/**
 * Test and bench harness: a throw-away PostgreSQL 15 cluster (DESIGN §10 "differential:
 * row-tier answers equal PostgreSQL's"; the benches compare Stratum with PostgreSQL on the
 * same box).
 *
 * `initdb` creates a cluster in a temp directory (trust authentication, superuser
 * `postgres`, UTF8, C locale so text sorts bytewise like DuckDB), `pg_ctl` starts it on
 * 127.0.0.1 on a free port with its unix socket inside the temp directory, and the
 * handle's `stop()` shuts it down (`pg_ctl stop -m fast`) and removes the directory.
 * A process-exit hook does the same (`-m immediate`) for clusters still running when the
 * process exits or is interrupted (SIGINT/SIGTERM).
 *
 * PostgreSQL refuses to run as root, so when this process is root the cluster is created
 * and run as the `postgres` system user (or `nobody` when there is none) and the temp
 * directory is handed to that user.
 */
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { freePort } from './ports.ts';

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  /** TCP port on 127.0.0.1; default: a free port (retried on a lost bind race). */
  port?: number;
  /**
   * Extra `postgresql.conf` settings, e.g. `{ synchronous_commit: 'off', shared_buffers: '256MB' }`.
   * Values are written quoted, so any string PostgreSQL accepts for the setting works.
   */
  settings?: Record<string, string>;
  /** Bounded wait for the server to accept connections, in ms (default 60000). */
  startTimeoutMs?: number;
}

/** A running PostgreSQL cluster started by {@link startPostgres}. */
export interface PostgresHandle {
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Always `127.0.0.1` (the server listens on loopback only). */
  readonly host: '127.0.0.1';
  /** Superuser name, `postgres` (trust authentication: no password). */
  readonly user: string;
  /** Database to connect to, `postgres`. */
  readonly database: string;
  /** Connection URL, `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** The cluster's data directory (inside the temp directory that `stop()` removes). */
  readonly dataDir: string;
  /** Stop the server (`pg_ctl stop -m fast`) and remove the temp directory. Idempotent. */
  stop(): Promise<void>;
}

/** Major version the harness looks for first. */
const PREFERRED_MAJOR = 15;
const SUPERUSER = 'postgres';
const DATABASE = 'postgres';
const LOG_TAIL_BYTES = 8 * 1024;
const PORT_ATTEMPTS = 3;

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** Clusters still running, stopped synchronously when the process exits. */
interface LiveCluster {
  pgCtl: string;
  dataDir: string;
  rootDir: string;
  runAs: OsUser | undefined;
}
const liveClusters = new Set<LiveCluster>();
let exitHookInstalled = false;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Directory holding `initdb`, `pg_ctl` and `postgres`: `$STRATUM_PG_BIN` when set, else
 * `/usr/lib/postgresql/15/bin`, else the newest `/usr/lib/postgresql/<major>/bin`, else PATH.
 * @throws Error suggesting `apt-get install postgresql-15` when no installation is found.
 */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  const env = process.env.STRATUM_PG_BIN;
  if (env !== undefined && env !== '') candidates.push(env);
  candidates.push(`/usr/lib/postgresql/${PREFERRED_MAJOR}/bin`);
  try {
    const majors = readdirNumeric('/usr/lib/postgresql').sort((a, b) => b - a);
    for (const m of majors) candidates.push(`/usr/lib/postgresql/${m}/bin`);
  } catch {
    // no Debian layout
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''));
  for (const dir of candidates) {
    if (isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl) not found in ${candidates.slice(0, 3).join(', ')} or on PATH. ` +
      `Install them with 'apt-get install postgresql-15' (Debian/Ubuntu), or set STRATUM_PG_BIN to the directory holding initdb and pg_ctl.`,
  );
}

function readdirNumeric(dir: string): number[] {
  return readdirSync(dir)
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Look a user up in /etc/passwd (no native getpwnam in Node). */
function lookupUser(name: string): OsUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && f[3] !== undefined) {
      return { name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  return undefined;
}

/** The unprivileged user to run PostgreSQL as when this process is root; undefined otherwise. */
function unprivilegedUser(): OsUser | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const user = lookupUser('postgres') ?? lookupUser('nobody');
  if (user === undefined) {
    throw new Error(
      'running as root, and PostgreSQL refuses to run as root, but neither a "postgres" nor a "nobody" user exists; ' +
        "create one (e.g. 'useradd --system postgres') or run as a non-root user",
    );
  }
  return user;
}

/** True when every ancestor of `dir` is searchable by others (so the unprivileged user can reach it). */
function reachableByOthers(dir: string): boolean {
  let d = dir;
  for (;;) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const parent = dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

interface RunResult {
  code: number | null;
  output: string;
}

/** Run a PostgreSQL binary (as `runAs` when set) and collect stdout+stderr. */
function runBinary(cmd: string, args: string[], runAs: OsUser | undefined, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', ...(runAs !== undefined ? { HOME: '/tmp', USER: runAs.name } : {}) },
      cwd: '/',
      ...(runAs !== undefined ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-LOG_TAIL_BYTES);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}\nspawn error: ${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function runBinarySync(cmd: string, args: string[], runAs: OsUser | undefined): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 15_000,
    cwd: '/',
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    ...(runAs !== undefined ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
}

function stopAllSync(): void {
  for (const c of liveClusters) {
    try {
      runBinarySync(c.pgCtl, ['stop', '-D', c.dataDir, '-m', 'immediate', '-w', '-t', '10'], c.runAs);
    } catch {
      // best effort
    }
    try {
      rmSync(c.rootDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveClusters.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', stopAllSync);
  // Without a handler a signal kills the process without 'exit', leaking the postmaster
  // (pg_ctl daemonizes it). Only take over a signal nobody else handles, and exit with
  // the conventional 128 + signal number, which also runs every other 'exit' hook.
  const signals = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
  for (const [signal, num] of Object.entries(signals) as [keyof typeof signals, number][]) {
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      stopAllSync();
      process.exit(128 + num);
    });
  }
}

function quoteSetting(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

async function logTail(logFile: string): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).slice(-LOG_TAIL_BYTES);
  } catch {
    return '(no server log)';
  }
}

/**
 * Start a throw-away PostgreSQL cluster (15 preferred) listening on 127.0.0.1.
 *
 * Steps: `initdb -U postgres --auth=trust -E UTF8 --locale=C -N` into a new temp
 * directory; settings (port, `listen_addresses='127.0.0.1'`, `unix_socket_directories`
 * = the temp directory, then `opts.settings`) appended to `postgresql.conf`;
 * `pg_ctl start -w`; then `pg_isready` until ready or `startTimeoutMs` passes.
 * When this process is root, everything runs as the `postgres` (or `nobody`) user.
 * Registers a process-exit hook that stops the cluster and removes the directory.
 *
 * @throws Error when the binaries are missing (suggesting `apt-get install postgresql-15`),
 *   when initdb fails (with its output), or when the server does not come up in time
 *   (with the tail of the server log).
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresHandle> {
  const binDir = postgresBinDir();
  const initdb = join(binDir, 'initdb');
  const pgCtl = join(binDir, 'pg_ctl');
  const pgIsReady = join(binDir, 'pg_isready');
  const runAs = unprivilegedUser();
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  installExitHook();

  const base = runAs === undefined || reachableByOthers(tmpdir()) ? tmpdir() : '/tmp';
  const rootDir = await mkdtemp(join(base, 'stratum-pg-'));
  const dataDir = join(rootDir, 'data');
  const logFile = join(rootDir, 'server.log');
  const cluster: LiveCluster = { pgCtl, dataDir, rootDir, runAs };
  liveClusters.add(cluster);
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const r = await runBinary(pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], runAs, 90_000);
    if (r.code !== 0 && !/No such file|not running|does not exist|Is server running/i.test(r.output)) {
      // Fall back to an immediate shutdown so no postmaster outlives the handle.
      await runBinary(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], runAs, 40_000);
    }
    liveClusters.delete(cluster);
    await rm(rootDir, { recursive: true, force: true });
  };

  try {
    if (runAs !== undefined) await chown(rootDir, runAs.uid, runAs.gid);
    const init = await runBinary(
      initdb,
      ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '-N'],
      runAs,
      120_000,
    );
    if (init.code !== 0) {
      throw new Error(`initdb failed (exit ${init.code}, ${initdb} -D ${dataDir}${runAs ? ` as ${runAs.name}` : ''}):\n${init.output}`);
    }
    const userSettings = Object.entries(opts.settings ?? {})
      .map(([k, v]) => `${k} = ${quoteSetting(v)}`)
      .join('\n');

    let lastError: Error | undefined;
    for (let attempt = 0; attempt < (opts.port === undefined ? PORT_ATTEMPTS : 1); attempt++) {
      const port = opts.port ?? (await freePort());
      // Later lines win in postgresql.conf, so re-appending on a retry is fine.
      await appendFile(
        join(dataDir, 'postgresql.conf'),
        [
          '',
          '# added by stratum startPostgres',
          `port = ${port}`,
          `listen_addresses = '127.0.0.1'`,
          `unix_socket_directories = ${quoteSetting(rootDir)}`,
          userSettings,
          '',
        ].join('\n'),
      );
      const start = await runBinary(
        pgCtl,
        ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(startTimeoutMs / 1000))],
        runAs,
        startTimeoutMs + 10_000,
      );
      if (start.code !== 0) {
        const log = await logTail(logFile);
        lastError = new Error(
          `PostgreSQL did not start on 127.0.0.1:${port} (pg_ctl exit ${start.code}):\n${start.output}\n--- server log (${logFile}) ---\n${log}`,
        );
        if (/could not bind|Address already in use/i.test(log)) continue;
        throw lastError;
      }
      const deadline = Date.now() + startTimeoutMs;
      for (;;) {
        const ready = await runBinary(pgIsReady, ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER, '-d', DATABASE], runAs, 10_000);
        if (ready.code === 0) break;
        if (Date.now() > deadline) {
          throw new Error(
            `PostgreSQL on 127.0.0.1:${port} was not ready within ${startTimeoutMs} ms (pg_isready: ${ready.output.trim()}):\n` +
              `--- server log (${logFile}) ---\n${await logTail(logFile)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        port,
        host: '127.0.0.1',
        user: SUPERUSER,
        database: DATABASE,
        url: `postgres://${SUPERUSER}@127.0.0.1:${port}/${DATABASE}`,
        dataDir,
        stop,
      };
    }
    throw lastError ?? new Error('PostgreSQL did not start');
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
