/**
 * Benchmark (issue 13, concurrency): N concurrent dashboard clients (default 100) against one
 * shard holding flights-3m (committed as a live feed, pushed a month at a time, compacted),
 * each running the 10 dashboard queries `rounds` times, starting at a different query; then the
 * same clients against DuckDB over one Parquet file of the same rows (one connection per
 * client, the same memory limit). Phases alternate (shard, DuckDB, shard, DuckDB) so machine
 * noise hits both. Prints errors, throughput (queries/s), p50/p99 latency (ms) and the peak RSS
 * of the process during each phase; asserts nothing.
 *
 *   node --import tsx services/olap-shard/bench/concurrent-dashboards.ts [clients=100] [rounds=2]
 *   MEMORY_LIMIT=2GB …   DuckDB memory limit of both (default 2GB)
 *   QUERY_CONNECTIONS=n … the shard's DuckDB query connections (default: the shard's, 4)
 */
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { DASHBOARD_QUERIES } from '../../../bench/flights-dashboard-queries.ts';
import { removeDir, tempDir } from '../src/test-support.ts';
import { FLIGHTS_SQL, flightsShard, flightVersions, median } from './flights-data.ts';

const CLIENTS = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 2);
const MEMORY_LIMIT = process.env.MEMORY_LIMIT ?? '2GB';

const versions = await flightVersions();
const dir = await tempDir('olap-conc-');
const { shard, catalog } = await flightsShard(versions, {
  dir: join(dir, 'shard'),
  memoryLimit: MEMORY_LIMIT,
  ...(process.env.QUERY_CONNECTIONS ? { queryConnections: Number(process.env.QUERY_CONNECTIONS) } : {}),
});
versions.length = 0;
await shard.compactNow();
console.log(`shard: ${shard.stats().files} files, ${(shard.stats().bytes / 1e6).toFixed(1)} MB; memory limit ${MEMORY_LIMIT}`);

const db = await DuckDBInstance.create(':memory:', { memory_limit: MEMORY_LIMIT });
const setupConn = await db.connect();
const one = join(dir, 'flights.parquet');
await setupConn.run("SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;");
await setupConn.run(`COPY (${FLIGHTS_SQL}) TO '${one}' (FORMAT parquet, COMPRESSION zstd)`);
await setupConn.run(`CREATE VIEW flights AS SELECT * FROM read_parquet('${one}')`);
const conns: DuckDBConnection[] = [];
for (let i = 0; i < CLIENTS; i++) {
  const c = await db.connect();
  await c.run("SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;");
  conns.push(c);
}

interface Phase {
  target: string;
  queries: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  p50: number;
  p99: number;
  peakRssMiB: number;
}

/** Run `CLIENTS` clients, each `ROUNDS` × the 10 queries from its own starting query. */
async function phase(target: string, run: (client: number, sql: string) => Promise<unknown>): Promise<Phase> {
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; i < ROUNDS * DASHBOARD_QUERIES.length; i++) {
        const sql = (DASHBOARD_QUERIES[(client + i) % DASHBOARD_QUERIES.length] as readonly [string, string])[1];
        const s = performance.now();
        try {
          await run(client, sql);
          lat.push(performance.now() - s);
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  lat.sort((a, b) => a - b);
  return {
    target,
    queries: lat.length,
    errors,
    firstError,
    seconds,
    p50: median(lat),
    p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? Number.NaN,
    peakRssMiB: Math.round(peak / 2 ** 20),
  };
}

const results: Phase[] = [];
for (let rep = 0; rep < 2; rep++) {
  results.push(await phase('shard', (_, sql) => shard.query(sql, [], catalog.version)));
  results.push(await phase('DuckDB, one file', (client, sql) => (conns[client] as DuckDBConnection).runAndReadAll(sql)));
}

console.log(`\n### ${CLIENTS} concurrent dashboard clients × ${ROUNDS} rounds of the 10 flights queries\n`);
console.log('| target | queries | errors | seconds | queries/s | p50 ms | p99 ms | peak RSS MiB |');
console.log('|---|--:|--:|--:|--:|--:|--:|--:|');
for (const r of results) {
  console.log(
    `| ${r.target} | ${r.queries} | ${r.errors} | ${r.seconds.toFixed(1)} | ${(r.queries / r.seconds).toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.peakRssMiB} |`,
  );
}
const rate = (t: string) => median(results.filter((r) => r.target === t).map((r) => r.queries / r.seconds));
console.log(`\nthroughput shard / DuckDB (medians): ${(rate('shard') / rate('DuckDB, one file')).toFixed(2)}`);
for (const r of results) if (r.firstError) console.log(`first error (${r.target}): ${r.firstError}`);

for (const c of conns) c.disconnectSync();
setupConn.disconnectSync();
db.closeSync();
await shard.close();
await removeDir(dir);
