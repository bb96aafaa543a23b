/**
 * Bench: router overhead per point read over calling the TX engine directly (DESIGN §7; issue 5:
 * "p50 overhead ≤ 0.3 ms").
 *
 * Distributed form, real processes: a harness-started nats-server and `startCluster` from
 * cli/src/test-harness.ts with one TX engine (tx1), one ingestion engine and one OLAP shard, plus
 * the router. A table `router_overhead (id bigint PRIMARY KEY, v text)` gets `--rows` rows through
 * the router (multi-row INSERTs); before reading, the bench waits until ingestion has merged
 * them (so ingestion catching up does not share the 2 cores with the reads) and until a direct
 * read answers.
 *
 * Then `--rounds` rounds, each reading the same `--reads` uniformly random existing keys through
 * every path, one path after another in an order that rotates per round (peers interleaved):
 * - direct: `rpcClient<TxEngineApi>(tx1, ['get'])` calling `get(table, [key], catalogVersion)`,
 *   the same HTTP/msgpack RPC the router sends for a point read (cli/src/wiring.ts TX_METHODS);
 * - router (pgwire): a `pg` client running the named prepared statement
 *   `SELECT v FROM router_overhead WHERE id = $1` (parsed once, then Bind/Execute);
 * - router (HTTP): `POST /query` with `{ sql, params }` through Node's fetch, for reference.
 * Requests are sequential, one client per path. Per path the table shows the median over rounds
 * of each round's p50 and p99; overhead p50 = median over rounds of (router p50 − direct p50) of
 * the same round. A read that fails or returns no row counts as an error.
 *
 * Usage: npx tsx bench/router-overhead.ts [--rows 1000] [--rounds 5] [--reads 2000] [--warmup 2000]
 *          [--settle-timeout 60]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpcClient, type TxEngineApi } from '@stratum/shared';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { type Cluster, startCluster } from '../cli/src/test-harness.ts';
import { fmt, loadAverage, machineLine, median, metricSum, parseArgs, percentiles, printTable, scrapeMetrics } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const rowCount = args.num('rows') ?? 1000;
const rounds = args.num('rounds') ?? 5;
const reads = args.num('reads') ?? 2000;
const warmup = args.num('warmup') ?? 2000;
const settleTimeoutS = args.num('settle-timeout') ?? 60;
const TABLE = 'router_overhead';
const SQL = `SELECT v FROM ${TABLE} WHERE id = $1`;
/** Issue 5: router p50 − direct p50 per point read. */
const TARGET_OVERHEAD_MS = 0.3;
/**
 * Catalog version passed to the direct `get`: the engine only waits when its catalog is older,
 * and the CREATE TABLE is the cluster's first DDL event, so 1 suffices once a read answers.
 */
const CATALOG_VERSION = 1;

const payloadOf = (id: number): string => `row-${id}-${'v'.repeat(24)}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A way to read one row by key: resolves with its `v`, or null when no row came back. */
type Reader = (id: number) => Promise<string | null>;

/** One path's latencies (ms) in one round, and the reads that failed or found no row. */
interface PathRound {
  ms: Float64Array;
  errors: number;
}

async function timeReads(read: Reader, keys: readonly number[]): Promise<PathRound> {
  const ms = new Float64Array(keys.length);
  let errors = 0;
  for (let i = 0; i < keys.length; i++) {
    const id = keys[i] as number;
    const t = performance.now();
    let v: string | null = null;
    try {
      v = await read(id);
    } catch {
      v = null;
    }
    ms[i] = performance.now() - t;
    if (v !== payloadOf(id)) errors++;
  }
  return { ms, errors };
}

const randomKeys = (n: number): number[] => Array.from({ length: n }, () => Math.floor(Math.random() * rowCount));

console.log(machineLine());
console.log(`load average at start: ${loadAverage()}`);
const dir = await mkdtemp(join(tmpdir(), 'stratum-bench-router-overhead-'));
let nats: NatsServerHandle | undefined;
let cluster: Cluster | undefined;
let client: pg.Client | undefined;
let tx: (TxEngineApi & { closeClient(): Promise<void> }) | undefined;
const PATHS = ['direct (TX engine RPC get)', 'router (pgwire, prepared)', 'router (HTTP POST /query)'] as const;
type Path = (typeof PATHS)[number];
const results = new Map<Path, PathRound[]>(PATHS.map((p) => [p, []]));
try {
  nats = await startNatsServer();
  process.stderr.write('starting the cluster (tx1, ing1, olap1, router)\n');
  cluster = await startCluster({ natsUrl: nats.url, dir, tx: ['tx1'], ingestion: [{ id: 'ing1' }], shards: ['olap1'] });
  const c = new pg.Client({ host: '127.0.0.1', port: cluster.pgPort, user: 'stratum', database: 'stratum' });
  client = c;
  c.on('error', () => undefined);
  await c.connect();
  await c.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, v text)`);
  for (let i = 0; i < rowCount; i += 500) {
    const n = Math.min(500, rowCount - i);
    const values = Array.from({ length: n }, (_, j) => `($${j * 2 + 1}, $${j * 2 + 2})`).join(', ');
    const params = Array.from({ length: n }, (_, j) => [i + j, payloadOf(i + j)]).flat();
    await c.query(`INSERT INTO ${TABLE} VALUES ${values}`, params);
  }
  const ingUrl = cluster.urls.ing1 as string;
  const deadline = Date.now() + settleTimeoutS * 1000;
  for (;;) {
    const applied = metricSum(await scrapeMetrics(ingUrl), 'stratum_ingestion_applied_versions_total');
    if (applied >= rowCount) break;
    if (Date.now() > deadline) throw new Error(`ingestion merged ${applied} of ${rowCount} rows within ${settleTimeoutS} s`);
    await sleep(100);
  }
  const t = rpcClient<TxEngineApi>(cluster.urls.tx1 as string, ['get'], { name: 'tx-engine tx1' });
  tx = t;
  const httpUrl = `http://127.0.0.1:${cluster.httpPort}/query`;
  const readers: Record<Path, Reader> = {
    'direct (TX engine RPC get)': async (id) => {
      const rv = await t.get(TABLE, [id], CATALOG_VERSION);
      const v = rv?.row?.v;
      return typeof v === 'string' ? v : null;
    },
    'router (pgwire, prepared)': async (id) => {
      const r = await c.query<{ v: string }>({ name: 'router_overhead_get', text: SQL, values: [id] });
      return r.rows[0]?.v ?? null;
    },
    'router (HTTP POST /query)': async (id) => {
      const res = await fetch(httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sql: SQL, params: [id] }),
      });
      const body = (await res.json()) as { rows?: unknown[][] };
      const v = body.rows?.[0]?.[0];
      return typeof v === 'string' ? v : null;
    },
  };
  // Warm up every path (JIT, connections, the engine's hot-row cache) and check they answer.
  const warmKeys = randomKeys(warmup);
  for (const p of PATHS) {
    const w = await timeReads(readers[p], warmKeys);
    if (w.errors > 0) process.stderr.write(`warm-up: ${p}: ${w.errors} of ${warmup} reads failed or found no row\n`);
  }
  for (let r = 0; r < rounds; r++) {
    const keys = randomKeys(reads);
    const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length] as Path);
    for (const p of order) (results.get(p) as PathRound[]).push(await timeReads(readers[p], keys));
    process.stderr.write(`round ${r + 1}/${rounds} done\n`);
  }
} finally {
  await client?.end().catch(() => undefined);
  await tx?.closeClient().catch(() => undefined);
  if (cluster) {
    const codes = await cluster.stop();
    const bad = Object.entries(codes).filter(([, code]) => code !== 0 && code !== null);
    if (bad.length > 0) process.stderr.write(`processes exited with: ${JSON.stringify(Object.fromEntries(bad))}\n`);
  }
  await nats?.destroy();
  await rm(dir, { recursive: true, force: true });
}

console.log(
  `\n## Point-read latency: router vs direct TX engine RPC (${rowCount} rows, ${rounds} rounds × ${reads} sequential reads per path, one client each; medians over rounds)\n`,
);
const perRound = (p: Path, q: number): number[] => (results.get(p) ?? []).map((x) => percentiles(x.ms, [q])[0] ?? Number.NaN);
const direct50 = perRound('direct (TX engine RPC get)', 50);
const rows = PATHS.map((p) => {
  const p50s = perRound(p, 50);
  const overhead = p50s.map((v, i) => v - (direct50[i] ?? Number.NaN));
  const all = results.get(p) ?? [];
  return [
    p,
    fmt(all.reduce((n, x) => n + x.ms.length, 0)),
    fmt(median(p50s), 3),
    fmt(median(perRound(p, 99)), 3),
    fmt(median(perRound(p, 99.9)), 3),
    p === 'direct (TX engine RPC get)' ? '—' : fmt(median(overhead), 3),
    p50s.map((v) => fmt(v, 3)).join(' · '),
    fmt(all.reduce((n, x) => n + x.errors, 0)),
  ];
});
printTable(['path', 'reads', 'p50 ms', 'p99 ms', 'p99.9 ms', 'overhead p50 ms', 'p50 per round ms', 'errors'], rows);
const pgOverhead = median(perRound('router (pgwire, prepared)', 50).map((v, i) => v - (direct50[i] ?? Number.NaN)));
console.log(
  `\ntarget (router pgwire p50 − direct p50 ≤ ${TARGET_OVERHEAD_MS} ms): ${pgOverhead <= TARGET_OVERHEAD_MS ? 'met' : 'missed'} (${fmt(pgOverhead, 3)} ms)`,
);
console.log(`load average at end: ${loadAverage()}`);
