/**
 * Test harness for our own processes: starts `stratum up` (embedded) or single services of
 * the distributed form as real child processes, waits until they listen, and stops them
 * gracefully (SIGINT) or kills them (SIGKILL) for fault tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

const BIN = fileURLToPath(new URL('../bin/stratum.mjs', import.meta.url));

/** A running stratum child process. */
export interface StratumProcess {
  proc: ChildProcess;
  /** All output so far (stdout + stderr), for failure messages. */
  output(): string;
  /** SIGINT; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL; resolves when it is gone. */
  kill(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound once and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Spawn `stratum <args>` and wait until its stdout matches `ready` (default: "listening" or "is up").
 * @throws when the process exits first or `timeoutMs` passes, with its output.
 */
export function spawnStratum(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; ready?: RegExp; timeoutMs?: number; cwd?: string } = {},
): Promise<StratumProcess & { match: RegExpMatchArray }> {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, STRATUM_LOG_LEVEL: process.env.STRATUM_TEST_LOG ?? 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = opts.ready ?? /listening|Stratum is up[\s\S]*Press Ctrl-C/;
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const handle: StratumProcess = {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGINT');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`stratum ${args.join(' ')} did not get ready within ${opts.timeoutMs ?? 60_000} ms:\n${out}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ ...handle, match: m });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stratum ${args.join(' ')} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/** A running embedded server. */
export interface EmbeddedServer extends StratumProcess {
  pgPort: number;
  httpPort: number;
  dataDir: string;
}

/** Start `stratum up --data-dir DIR --pg-port 0 --http-port 0 [extra]` and read the ports it prints. */
export async function startEmbeddedServer(dataDir: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<EmbeddedServer> {
  const p = await spawnStratum(['up', '--data-dir', dataDir, '--pg-port', '0', '--http-port', '0', ...extra], {
    ready: /port=(\d+)[\s\S]*http:\/\/[^:]+:(\d+)\/query[\s\S]*Press Ctrl-C/,
    ...(env ? { env } : {}),
  });
  return { ...p, pgPort: Number(p.match[1]), httpPort: Number(p.match[2]), dataDir };
}

/** Poll `SELECT count(*) FROM <table>` until it reaches `rows` (for rows written by other sessions). */
export async function waitForRows(client: pg.Client, rows: number, timeoutMs = 60_000, table = 'flights'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    if (n === rows) return;
    if (Date.now() > deadline) throw new Error(`${table} has ${n} rows, expected ${rows}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
