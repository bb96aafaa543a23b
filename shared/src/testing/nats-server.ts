/**
 * Test harness: runs a throw-away `nats-server` (JetStream enabled) for integration tests
 * of the NATS change-bus adapter (DESIGN §3). The server listens on 127.0.0.1 on a free
 * port and keeps its JetStream store in a temp directory, so it can be stopped, killed
 * and started again on the same port with the same data (outage tests).
 *
 * The binary comes from PATH, /usr/sbin or /usr/bin; when it is missing the harness
 * installs Debian's `nats-server` package with apt-get (needs root).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** TCP port on 127.0.0.1; default: a free port chosen by binding port 0 first. */
  port?: number;
  /** JetStream store directory; default: a new temp directory (removed by `destroy()`). */
  storeDir?: string;
  /** Bounded wait for the port to accept connections, in ms (default 15000). */
  startTimeoutMs?: number;
}

/** A running (or stopped) nats-server started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** TCP port the server listens on (the same across restarts). */
  readonly port: number;
  /** JetStream store directory (the same across restarts). */
  readonly storeDir: string;
  /** SIGTERM the server and wait for it to exit (SIGKILL after 10 s). No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL the server and wait for it to exit. No-op when not running. */
  kill(): Promise<void>;
  /**
   * Start the server again on the same port and store directory; resolves once the port
   * accepts connections. @throws Error with the server's stderr when it does not come up.
   */
  start(): Promise<void>;
  /** Stop the server and remove the temp directories the harness created. */
  destroy(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 50;
const STDERR_KEEP_BYTES = 16 * 1024;

let binaryPromise: Promise<string> | undefined;

/** Find an executable `name` on PATH, /usr/sbin or /usr/bin; undefined when absent. */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${String(stderr).slice(-4000)}`));
        else resolve();
      },
    );
  });
}

/**
 * Path of the `nats-server` binary; installs Debian's `nats-server` package
 * (`apt-get update`, `apt-get install -y nats-server`) when it is not installed.
 * @throws Error explaining how to install it when the install fails.
 */
export function natsServerBinary(): Promise<string> {
  binaryPromise ??= (async () => {
    const found = findExecutable('nats-server');
    if (found !== undefined) return found;
    try {
      await run('apt-get', ['update'], 300_000);
      await run('apt-get', ['install', '-y', 'nats-server'], 300_000);
    } catch (e) {
      throw new Error(
        `nats-server is not installed and installing Debian's nats-server package failed ` +
          `(run 'apt-get update && apt-get install -y nats-server' as root, or put nats-server on PATH): ` +
          (e instanceof Error ? e.message : String(e)),
      );
    }
    const installed = findExecutable('nats-server');
    if (installed === undefined) {
      throw new Error('apt-get installed nats-server but no nats-server binary was found on PATH, /usr/sbin or /usr/bin');
    }
    return installed;
  })();
  binaryPromise.catch(() => {
    binaryPromise = undefined; // allow a later retry
  });
  return binaryPromise;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Children still running, killed synchronously when the test process exits. */
const liveChildren = new Set<ChildProcess>();
/** Temp dirs to remove when the process exits. */
const liveTempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Also on SIGINT/SIGTERM (e.g. a cancelled test run): clean up, then re-raise the signal
  // so the default behaviour (exit) still happens when nobody else handles it.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killChildrenSync();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
  process.on('exit', () => {
    killChildrenSync();
    for (const dir of liveTempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

function killChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Start a JetStream-enabled nats-server on 127.0.0.1 for tests.
 * Writes a config file (listen address, `jetstream { store_dir }`) into a temp directory,
 * spawns the server and waits (bounded by `startTimeoutMs`) until the port accepts TCP
 * connections. Registers a process-exit hook that SIGKILLs the server and removes the temp
 * directories it created.
 * @throws Error including the server's stderr when it exits early or does not listen in time.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = await natsServerBinary();
  installExitHook();
  const port = opts.port ?? (await freePort());
  const confDir = await mkdtemp(join(tmpdir(), 'stratum-nats-conf-'));
  liveTempDirs.add(confDir);
  let storeDir = opts.storeDir;
  const ownStore = storeDir === undefined;
  if (storeDir === undefined) {
    storeDir = await mkdtemp(join(tmpdir(), 'stratum-nats-store-'));
    liveTempDirs.add(storeDir);
  }
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const confPath = join(confDir, 'nats-server.conf');
  await writeFile(
    confPath,
    [
      `listen: "127.0.0.1:${port}"`,
      `server_name: "stratum_test_${port}"`,
      'jetstream {',
      `  store_dir: ${JSON.stringify(storeDir)}`,
      '}',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  const spawnServer = async (): Promise<void> => {
    if (child !== undefined) return;
    stderr = '';
    const c = spawn(binary, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    liveChildren.add(c);
    let exitInfo: string | undefined;
    exited = new Promise<void>((resolve) => {
      c.once('exit', (code, signal) => {
        exitInfo = `exit code ${code}, signal ${signal}`;
        liveChildren.delete(c);
        if (child === c) child = undefined;
        resolve();
      });
      c.once('error', (err) => {
        exitInfo = `spawn error: ${err.message}`;
        liveChildren.delete(c);
        if (child === c) child = undefined;
        resolve();
      });
    });
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_BYTES);
    });
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (exitInfo !== undefined) {
        throw new Error(`nats-server (${binary} -c ${confPath}) exited during startup (${exitInfo}); stderr:\n${stderr}`);
      }
      if (await canConnect(port)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        await exited;
        throw new Error(`nats-server did not accept connections on 127.0.0.1:${port} within ${startTimeoutMs} ms; stderr:\n${stderr}`);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (c === undefined) return;
    const done = exited;
    c.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), STOP_GRACE_MS);
      }),
    ]);
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut) {
      c.kill('SIGKILL');
      await done;
    }
  };

  await spawnServer();
  const dir = storeDir;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: dir,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    start: spawnServer,
    destroy: async () => {
      await signalAndWait('SIGTERM');
      await rm(confDir, { recursive: true, force: true });
      liveTempDirs.delete(confDir);
      if (ownStore) {
        await rm(dir, { recursive: true, force: true });
        liveTempDirs.delete(dir);
      }
    },
  };
}
