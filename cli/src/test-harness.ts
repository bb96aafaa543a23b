/**
 * Test harness for our own processes: starts `stratum up` (embedded) or single services of
 * the distributed form as real child processes, waits until they listen, and stops them
 * gracefully (SIGINT) or kills them (SIGKILL) for fault tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '@stratum/shared/testing';
import pg from 'pg';

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

export { freePort };

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

/**
 * A pg client connected to the server on `pgPort` as user and database `stratum`, added to
 * `opened` so the suite ends it. Connection-level errors after connecting are ignored (a test
 * sees them through its queries).
 */
export async function connectPg(pgPort: number, opened: pg.Client[]): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'stratum', database: 'stratum' });
  c.on('error', () => {});
  await c.connect();
  opened.push(c);
  return c;
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

/** What {@link startCluster} starts: ids of each service (processes of the distributed form). */
export interface ClusterSpec {
  /** NATS URL of a harness-started nats-server. */
  natsUrl: string;
  /** Directory for data and the config file. */
  dir: string;
  tx: string[];
  /** Ingestion engines; `partitions` omitted = all. */
  ingestion: { id: string; partitions?: number[] }[];
  shards: string[];
  /** Stream partitions P (default 16). */
  partitions?: number;
  /** Extra top-level YAML (e.g. `tables:` and `ingestion:` sections). */
  yaml?: string[];
  /** Services not to start yet (by id); start them later with `start`. */
  deferred?: string[];
  /** Extra environment per service id (`router` for the router), e.g. `STRATUM_TEST_CLOCK_FAULTS` to skew one engine's clock. */
  env?: Record<string, NodeJS.ProcessEnv>;
}

/** A running distributed cluster of our processes. */
export interface Cluster {
  file: string;
  pgPort: number;
  httpPort: number;
  /** RPC URL per service id. */
  urls: Record<string, string>;
  procs: Map<string, StratumProcess>;
  /** Start (or restart) the service with this id. */
  start(id: string): Promise<void>;
  /** SIGKILL the service with this id. */
  kill(id: string): Promise<void>;
  /** SIGINT every process (router first); returns exit codes by id. */
  stop(): Promise<Record<string, number | null>>;
}

/**
 * Write a stratum.yaml for `spec` (free ports on 127.0.0.1) and start every service as its own
 * `stratum <service> --config … --id …` process: shards, ingestion, TX engines, then the router.
 */
export async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  const { join } = await import('node:path');
  const { writeFile } = await import('node:fs/promises');
  const urls: Record<string, string> = {};
  const kind = new Map<string, string>();
  for (const id of spec.tx) {
    urls[id] = `http://127.0.0.1:${await freePort()}`;
    kind.set(id, 'tx-engine');
  }
  for (const i of spec.ingestion) {
    urls[i.id] = `http://127.0.0.1:${await freePort()}`;
    kind.set(i.id, 'ingestion');
  }
  for (const id of spec.shards) {
    urls[id] = `http://127.0.0.1:${await freePort()}`;
    kind.set(id, 'olap-shard');
  }
  kind.set('router', 'router');
  const pgPort = await freePort();
  const httpPort = await freePort();
  const cfg = [
    `data_dir: ${join(spec.dir, 'data')}`,
    'cluster:',
    `  bus: ${spec.natsUrl}`,
    `  partitions: ${spec.partitions ?? 16}`,
    '  tx_engines:',
    ...spec.tx.map((id) => `    - { id: ${id}, url: "${urls[id]}" }`),
    '  ingestion:',
    ...spec.ingestion.map(
      (i) => `    - { id: ${i.id}, url: "${urls[i.id]}"${i.partitions ? `, partitions: [${i.partitions.join(', ')}]` : ''} }`,
    ),
    '  olap_shards:',
    ...spec.shards.map((id) => `    - { id: ${id}, url: "${urls[id]}" }`),
    'router:',
    `  pg: { port: ${pgPort} }`,
    `  http: { port: ${httpPort} }`,
    ...(spec.yaml ?? []),
  ].join('\n');
  const file = join(spec.dir, 'stratum.yaml');
  await writeFile(file, cfg);
  const procs = new Map<string, StratumProcess>();
  const start = async (id: string) => {
    const k = kind.get(id);
    if (!k) throw new Error(`no service ${id} in the cluster`);
    const env = spec.env?.[id];
    procs.set(
      id,
      await spawnStratum(k === 'router' ? ['router', '--config', file] : [k, '--config', file, '--id', id], env ? { env } : {}),
    );
  };
  const order = [...spec.shards, ...spec.ingestion.map((i) => i.id), ...spec.tx, 'router'];
  const cluster: Cluster = {
    file,
    pgPort,
    httpPort,
    urls,
    procs,
    start,
    async kill(id) {
      await procs.get(id)?.kill();
    },
    async stop() {
      const codes: Record<string, number | null> = {};
      for (const id of [...order].reverse()) {
        const p = procs.get(id);
        if (p) codes[id] = await p.stop();
      }
      return codes;
    },
  };
  try {
    for (const id of order) if (!spec.deferred?.includes(id)) await start(id);
  } catch (e) {
    for (const p of procs.values()) await p.kill();
    throw e;
  }
  return cluster;
}
