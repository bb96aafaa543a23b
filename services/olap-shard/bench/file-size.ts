/**
 * Benchmark (issue 4, OLAP a): Parquet bytes per row of the shard's files vs DuckDB's own
 * `COPY … (FORMAT parquet, COMPRESSION zstd)` of the same user rows (flights-3m), and the share of
 * each column, system columns (`_ts`, `_version`, `_op`, `_engine`) included. Target ≤ 1.2×.
 * Prints markdown tables; asserts nothing.
 *
 *   node --import tsx services/olap-shard/bench/file-size.ts            # TX engine's version stamps
 *   VERSIONS=counter node --import tsx services/olap-shard/bench/file-size.ts
 *   COMMIT=load node --import tsx services/olap-shard/bench/file-size.ts  # committed as a bulk load
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { removeDir, tempDir } from '../src/test-support.ts';
import { FLIGHTS_SQL, flightsShard, flightVersions } from './flights-data.ts';

const mode = process.env.VERSIONS ?? 'random';
let t = performance.now();
const versions = await flightVersions(mode);
const stamps = mode === 'counter' ? 'simulated counter' : "the TX engine's";
console.log(`${versions.length} versions (${stamps} stamps) in ${(performance.now() - t).toFixed(0)} ms`);
const { shard, dir, pushMs } = await flightsShard(versions);
const files: { path: string; bytes: number; rows: number }[] = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')).tables.flights
  .files;
await shard.close();
const rows = files.reduce((s, f) => s + f.rows, 0);
const shardBytes = files.reduce((s, f) => s + f.bytes, 0);
console.log(`pushed in ${(pushMs / 1000).toFixed(1)} s: ${files.length} files`);

const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run("SET TimeZone = 'UTC'");
const base = await tempDir('olap-size-');
// Peer 1: one file of the user rows, DuckDB defaults + ZSTD (the brief's reference).
const one = join(base, 'one.parquet');
t = performance.now();
await conn.run(`COPY (${FLIGHTS_SQL}) TO '${one}' (FORMAT parquet, COMPRESSION zstd)`);
// Peer 2: the same user rows partitioned by day like the shard (isolates the cost of partitioning).
await conn.run(
  `COPY (SELECT *, strftime(date, '%Y-%m-%d') AS day FROM (${FLIGHTS_SQL})) TO '${join(base, 'byday')}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))`,
);
const size = async (glob: string) =>
  Number((await conn.runAndReadAll(`SELECT sum(size) FROM read_blob('${glob}')`)).getRows()[0]?.[0] ?? 0);
const oneBytes = await size(one);
const byDayBytes = await size(join(base, 'byday', '**', '*.parquet'));
const list = files.map((f) => `'${join(dir, f.path)}'`).join(', ');
const cols = await conn.runAndReadAll(
  `SELECT path_in_schema AS col, sum(total_compressed_size) AS bytes, string_agg(DISTINCT encodings, ' | ') AS enc FROM parquet_metadata([${list}]) GROUP BY 1 ORDER BY 2 DESC`,
);
const oneCols = await conn.runAndReadAll(
  `SELECT path_in_schema AS col, sum(total_compressed_size) AS bytes FROM parquet_metadata('${one}') GROUP BY 1`,
);
const peerCol = new Map(oneCols.getRows().map(([c, b]) => [String(c), Number(b)]));

const f2 = (x: number) => x.toFixed(2);
console.log(
  `\n### Bytes per row, flights-3m (${rows} rows, ${stamps} version stamps, ${process.env.COMMIT === 'load' ? 'committed as a bulk load' : 'each committed at its flight time'})\n`,
);
console.log('| files | bytes | bytes/row | vs one DuckDB file |\n|---|---|---|---|');
console.log(`| DuckDB COPY, one file (peer) | ${oneBytes} | ${f2(oneBytes / rows)} | 1.00 |`);
console.log(`| DuckDB COPY, PARTITION_BY day (${'181'} files) | ${byDayBytes} | ${f2(byDayBytes / rows)} | ${f2(byDayBytes / oneBytes)} |`);
console.log(`| shard (${files.length} files) | ${shardBytes} | ${f2(shardBytes / rows)} | ${f2(shardBytes / oneBytes)} |`);
console.log('\n| column | shard bytes/row | share of shard file bytes | one-file peer bytes/row | encodings |\n|---|---|---|---|---|');
for (const [c, b, enc] of cols.getRows()) {
  const peer = peerCol.get(String(c));
  console.log(
    `| ${c} | ${f2(Number(b) / rows)} | ${((Number(b) / shardBytes) * 100).toFixed(1)} % | ${peer === undefined ? '—' : f2(peer / rows)} | ${enc} |`,
  );
}
conn.disconnectSync();
db.closeSync();
await removeDir(base);
await removeDir(dir);
