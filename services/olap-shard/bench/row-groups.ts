/**
 * Benchmark (issue 13, row-group size): flights-3m sorted by time, written as one Parquet file
 * with 122,880-row groups (DuckDB's default, what the shard writes), 16,384-row groups, and
 * row groups aligned to days (a UNION ALL per day with ROW_GROUP_SIZE 1 and 8,192), then the 10
 * dashboard queries on each in plain DuckDB (median of 5 runs, ms) and the geometric mean
 * against the default. Asserts nothing; prints row groups, bytes and a table.
 *
 *   node --import tsx services/olap-shard/bench/row-groups.ts
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { DASHBOARD_QUERIES } from '../../../bench/flights-dashboard-queries.ts';
import { removeDir, tempDir } from '../src/test-support.ts';
import { FLIGHTS_SQL, geomean, median } from './flights-data.ts';

const dir = await tempDir('olap-row-groups-');
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
await c.run("SET TimeZone='UTC'");
await c.run(`CREATE TABLE f AS ${FLIGHTS_SQL} ORDER BY date, id`);
await c.run(`CREATE TABLE f2 AS SELECT *, CAST(date AS DATE) AS d FROM f ORDER BY date, id`);
const days = (await c.runAndReadAll('SELECT DISTINCT d FROM f2 ORDER BY 1')).getRows().map((r) => String(r[0]));
const variants: [string, string, string][] = [
  ['rg122880', 'SELECT * FROM f ORDER BY date, id', 'ROW_GROUP_SIZE 122880'],
  ['rg16384', 'SELECT * FROM f ORDER BY date, id', 'ROW_GROUP_SIZE 16384'],
  [
    'perday-rg1',
    days.map((d) => `SELECT id, date, delay, distance, origin, destination FROM f2 WHERE d = DATE '${d}'`).join(' UNION ALL '),
    'ROW_GROUP_SIZE 1',
  ],
  [
    'perday-rg2048x4',
    days.map((d) => `SELECT id, date, delay, distance, origin, destination FROM f2 WHERE d = DATE '${d}'`).join(' UNION ALL '),
    'ROW_GROUP_SIZE 8192',
  ],
];
const res: Record<string, number[]> = {};
for (const [name, sql, opt] of variants) {
  await c.run(`COPY (${sql}) TO '${dir}/${name}.parquet' (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2, ${opt})`);
  const m = await c.runAndReadAll(
    `SELECT count(DISTINCT row_group_id), (SELECT size FROM read_blob('${dir}/${name}.parquet')) FROM parquet_metadata('${dir}/${name}.parquet')`,
  );
  console.log(name, 'row groups', String(m.getRows()[0]?.[0]), 'bytes', String(m.getRows()[0]?.[1]));
}
for (const [name] of variants) {
  const db2 = await DuckDBInstance.create(':memory:');
  const c2 = await db2.connect();
  await c2.run("SET TimeZone='UTC'");
  await c2.run(`CREATE VIEW flights AS SELECT * FROM read_parquet('${dir}/${name}.parquet')`);
  const times: number[] = [];
  for (const [, q] of DASHBOARD_QUERIES) {
    await c2.runAndReadAll(q);
    const t: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await c2.runAndReadAll(q);
      t.push(performance.now() - s);
    }
    times.push(median(t));
  }
  res[name] = times;
}
const base = res.rg122880 as number[];
console.log('| query | ' + variants.map((v) => v[0]).join(' | ') + ' |');
for (const [i, [q]] of DASHBOARD_QUERIES.entries()) {
  console.log(`| ${q} | ${variants.map((v) => (res[v[0]] as number[])[i]?.toFixed(1)).join(' | ')} |`);
}
console.log(
  '| geomean vs rg122880 | ' +
    variants.map((v) => geomean((res[v[0]] as number[]).map((x, i) => x / (base[i] as number))).toFixed(2)).join(' | ') +
    ' |',
);
await removeDir(dir);
