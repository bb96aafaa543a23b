/**
 * Benchmark (issue 4, OLAP b and c): dashboard queries on flights-3m through the shard vs DuckDB
 * over one Parquet file of the same rows (target overhead ≤ 1.3×, median per query and geometric
 * mean) and vs PostgreSQL 15 on the same rows (speed-up), plus the files each query opened out
 * of the shard's files (zone-map and bloom pruning). Runs are interleaved (shard, file, pg) so
 * machine noise hits all peers alike. Prints markdown tables; asserts nothing.
 *
 * A third peer, DuckDB over the shard's own files (same file list, user columns), separates the
 * shard's overhead (parse, pruning, transaction, views, system columns) from the cost of the
 * layout (one file per day partition: flights-3m has ~16 500 rows per day).
 *
 *   node --import tsx services/olap-shard/bench/flights-queries.ts [runs=7]   (NO_PG=1 skips PostgreSQL)
 *   LAYOUT=bulk …   the same rows committed as one bulk load, no time column (one file)
 *   PARTITION=day|month|none …   the table's time partitions (default: the shard's default)
 *   THREADS=n …     the shard's DuckDB worker threads (default: one per core)
 *   UPDATED=0.1 …   after compaction, push updates of that share of the rows (ids with
 *                   id % round(1/share) = 3, delay + 1), so reads dedupe those keys; every peer
 *                   holds the updated rows
 *   COMPACT=0 …     query the files as pushed (default: after `compactNow()`, as background
 *                   compaction leaves them; TARGET_ROWS sets `targetFileRows`, ROW_GROUP `rowGroupSize`)
 *
 * Also prints, for the time-range queries, the bytes a reader must fetch: the compressed column
 * chunks of the columns the query reads, in the row groups whose `date` statistics overlap its
 * range (`parquet_metadata`), over the shard's files and over the one file.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { DASHBOARD_QUERIES } from '../../../bench/flights-dashboard-queries.ts';
import { removeDir, tempDir } from '../src/test-support.ts';
import { asBulkLoad, FLIGHTS_SQL, flightsShard, flightVersions, geomean, median } from './flights-data.ts';

const RUNS = Number(process.argv[2] ?? 7);
const QUERIES = DASHBOARD_QUERIES;

console.log(
  `uptime: ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} (load averages), ${(await import('node:os')).cpus().length} cores`,
);
let t = performance.now();
const layout = process.env.LAYOUT ?? 'day';
const versions = await flightVersions();
if (layout === 'bulk') asBulkLoad(versions);
console.log(`${versions.length} versions in ${((performance.now() - t) / 1000).toFixed(1)} s, layout ${layout}`);
const partition = process.env.PARTITION as 'day' | 'month' | 'none' | undefined;
const { shard, dir, catalog, pushMs } = await flightsShard(versions, {
  layout,
  ...(partition ? { partition } : {}),
  ...(process.env.TARGET_ROWS ? { targetFileRows: Number(process.env.TARGET_ROWS) } : {}),
  ...(process.env.ROW_GROUP ? { rowGroupSize: Number(process.env.ROW_GROUP) } : {}),
  ...(process.env.THREADS ? { threads: Number(process.env.THREADS) } : {}),
});
const updated = Number(process.env.UPDATED ?? 0);
const every = updated > 0 ? Math.round(1 / updated) : 0;
// The rows as the peers hold them: with UPDATED, the updated delays.
const PEER_SQL =
  every > 0
    ? `SELECT id, date, CASE WHEN id % ${every} = 3 THEN delay + 1 ELSE delay END AS delay, distance, origin, destination FROM (${FLIGHTS_SQL})`
    : FLIGHTS_SQL;
const toUpdate = every > 0 ? versions.filter((v) => Number(v.key[0]) % every === 3) : [];
versions.length = 0;
console.log(`pushed in ${(pushMs / 1000).toFixed(1)} s: ${shard.stats().files} files, ${(shard.stats().bytes / 1e6).toFixed(1)} MB`);
if (process.env.COMPACT !== '0') {
  const tc = performance.now();
  const rep = await shard.compactNow();
  console.log(
    `compacted in ${((performance.now() - tc) / 1000).toFixed(1)} s (${rep.partitions.length} runs): ${shard.stats().files} files, ${(shard.stats().bytes / 1e6).toFixed(1)} MB`,
  );
}
if (toUpdate.length > 0) {
  const from = (await shard.watermarks()).flights as number;
  const ups = toUpdate.map((v, i) => {
    const row = v.row as Record<string, unknown>;
    return {
      ...v,
      op: 'update' as const,
      prev: v.version,
      version: `${v.version.slice(0, 24)}${(i + 1).toString(16).padStart(12, '0')}`,
      commitTs: from + 1 + i,
      row: { ...row, delay: row.delay === null ? null : (row.delay as number) + 1 },
    };
  });
  await shard.push({ source: 'ing1', table: 'flights', fromTs: from, toTs: from + ups.length, versions: ups });
  console.log(`updated ${ups.length} rows (${(updated * 100).toFixed(0)} %) in one push: ${shard.stats().files} files`);
}

// Peer 1: DuckDB over one Parquet file of the same user rows, same session settings as the shard.
const base = await tempDir('olap-peer-');
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run("SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;");
const one = join(base, 'flights.parquet');
await conn.run(`COPY (${PEER_SQL}) TO '${one}' (FORMAT parquet, COMPRESSION zstd)`);
await conn.run(`CREATE VIEW flights AS SELECT * FROM read_parquet('${one}')`);
// Peer 3: DuckDB over the shard's own files (its own instance, same settings).
const own: string[] = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')).tables.flights.files.map(
  (f: { path: string }) => `'${join(dir, f.path)}'`,
);
const db3 = await DuckDBInstance.create(':memory:');
const conn3 = await db3.connect();
await conn3.run(
  "SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true; SET parquet_metadata_cache = true;",
);
await conn3.run(
  `CREATE VIEW flights AS SELECT id, date, delay, distance, origin, destination FROM read_parquet([${own.join(', ')}], hive_partitioning = false)`,
);

// Peer 2: PostgreSQL 15, same rows, primary key on id, analyzed.
let pgc: pg.Client | undefined;
let stopPg: (() => Promise<void>) | undefined;
if (!process.env.NO_PG) {
  const server = await startPostgres({
    settings: { shared_buffers: '1GB', work_mem: '256MB', max_parallel_workers_per_gather: '2', jit: 'off' },
  });
  stopPg = () => server.stop();
  pgc = new pg.Client({ connectionString: server.url });
  await pgc.connect();
  const csv = join(base, 'flights.csv');
  await conn.run(`COPY (${PEER_SQL}) TO '${csv}' (FORMAT csv, HEADER false)`);
  // The server process runs as another user: let it read the file.
  await chmod(base, 0o755);
  await chmod(csv, 0o644);
  await pgc.query(
    'CREATE TABLE flights (id bigint PRIMARY KEY, date timestamp, delay bigint, distance bigint, origin text, destination text)',
  );
  t = performance.now();
  await pgc.query(`COPY flights FROM '${csv}' (FORMAT csv)`);
  await pgc.query('VACUUM ANALYZE flights');
  console.log(`postgres loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

// Bytes read by the time-range queries, from row-group statistics (what a reader that prunes
// row groups, as DuckDB does, must fetch).
const RANGES: [string, string, string, string[]][] = [
  ['one week', '2001-03-01', '2001-03-08', ['date', 'origin', 'delay']],
  ['one day, one airport', '2001-05-10', '2001-05-11', ['date', 'origin', 'delay']],
];
const bytesRead = async (files: string[], lo: string, hi: string, cols: string[]) => {
  const list = `[${files.join(', ')}]`;
  const r = await conn.runAndReadAll(
    `WITH m AS (SELECT * FROM parquet_metadata(${list}))
     SELECT coalesce(sum(total_compressed_size), 0) FROM m WHERE path_in_schema IN (${cols.map((c) => `'${c}'`).join(', ')})
       AND (file_name, row_group_id) IN (SELECT file_name, row_group_id FROM m WHERE path_in_schema = 'date'
         AND CAST(stats_max AS TIMESTAMP) >= TIMESTAMP '${lo}' AND CAST(stats_min AS TIMESTAMP) < TIMESTAMP '${hi}')`,
  );
  return Number(r.getRows()[0]?.[0]);
};
const groups = await conn.runAndReadAll(`SELECT count(DISTINCT (file_name, row_group_id)) FROM parquet_metadata([${own.join(', ')}])`);
console.log(`\nrow groups in the shard's files: ${groups.getRows()[0]?.[0]}\n`);
console.log('| query | bytes read, shard files | bytes read, one file |');
console.log('|---|--:|--:|');
for (const [name, lo, hi, cols] of RANGES) {
  console.log(`| ${name} | ${await bytesRead(own, lo, hi, cols)} | ${await bytesRead([`'${one}'`], lo, hi, cols)} |`);
}

const time = async (fn: () => Promise<unknown>) => {
  const s = performance.now();
  await fn();
  return performance.now() - s;
};
const rows: { name: string; file: number; same: number; shard: number; pg: number | undefined; scan: string }[] = [];
for (const [name, sql] of QUERIES) {
  // One warm-up each (footers cached, pages in the OS cache), then interleaved runs.
  const res = await shard.query(sql, [], catalog.version);
  await conn.runAndReadAll(sql);
  await conn3.runAndReadAll(sql);
  if (pgc) await pgc.query(sql);
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const d: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    b.push(await time(() => shard.query(sql, [], catalog.version)));
    a.push(await time(() => conn.runAndReadAll(sql)));
    d.push(await time(() => conn3.runAndReadAll(sql)));
    if (pgc) c.push(await time(() => (pgc as pg.Client).query(sql)));
  }
  rows.push({
    name,
    file: median(a),
    same: median(d),
    shard: median(b),
    pg: pgc ? median(c) : undefined,
    scan: `${res.scan?.filesOpened} / ${res.scan?.filesTotal}`,
  });
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
console.log(
  `\n### flights-3m dashboard queries, layout ${layout}, partition ${partition ?? 'default'}${process.env.COMPACT === '0' ? '' : ', compacted'} (${own.length} files), median of ${RUNS} runs (ms)\n`,
);
console.log(
  "| query | DuckDB, one file | DuckDB, shard's files | shard | shard / one file | shard / its files | PostgreSQL 15 | PG / shard (speed-up) | files opened / total |",
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${f1(r.file)} | ${f1(r.same)} | ${f1(r.shard)} | ${f2(r.shard / r.file)} | ${f2(r.shard / r.same)} | ${r.pg === undefined ? '—' : f1(r.pg)} | ${r.pg === undefined ? '—' : f2(r.pg / r.shard)} | ${r.scan} |`,
  );
}
const gmShard = geomean(rows.map((r) => r.shard / r.file));
const gmSame = geomean(rows.map((r) => r.shard / r.same));
const gmPg = pgc ? geomean(rows.map((r) => (r.pg as number) / r.shard)) : Number.NaN;
console.log(`| **geometric mean** | | | | **${f2(gmShard)}** | **${f2(gmSame)}** | | **${f2(gmPg)}** | |`);
console.log('\nQueries:\n');
for (const [name, sql] of QUERIES) console.log(`- ${name}: \`${sql}\``);
await writeFile(join(base, 'done'), '');
await pgc?.end();
await stopPg?.();
conn.disconnectSync();
db.closeSync();
conn3.disconnectSync();
db3.closeSync();
await shard.close();
await removeDir(base);
await removeDir(dir);
