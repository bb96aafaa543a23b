/**
 * Benchmark: analytical queries through the shard's views vs DuckDB over one Parquet file of
 * the same rows (the target is ≤ 1.3×). Prints a table; asserts nothing.
 *
 *   node --import tsx services/olap-shard/bench/olap-vs-file.ts [rows=3000000] [days=30]
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { VersionGenerator, type VersionRecord } from '@stratum/shared';
import { startOlapShard } from '../src/index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir } from '../src/test-support.ts';

const ROWS = Number(process.argv[2] ?? 3_000_000);
const DAYS = Number(process.argv[3] ?? 30);
const T0 = Date.UTC(2024, 0, 1);

const catalog = makeCatalog(
  [
    {
      name: 'sales',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'customer', type: 'integer', notNull: true },
        { name: 'amount', type: 'double', notNull: true },
        { name: 'status', type: 'text', notNull: true },
        { name: 'sold_at', type: 'timestamp', notNull: true },
      ],
      primaryKey: ['id'],
    },
  ],
  { sales: { timeColumn: 'sold_at' } },
);

const gen = new VersionGenerator();
const statuses = ['new', 'paid', 'shipped', 'void', 'returned'];
let t = performance.now();
const versions: VersionRecord[] = new Array(ROWS);
for (let i = 0; i < ROWS; i++) {
  const ts = T0 + Math.floor((i / ROWS) * DAYS * 86_400_000);
  const id = BigInt(i + 1);
  versions[i] = {
    table: 'sales',
    key: [id],
    version: gen.next(ts),
    prev: null,
    op: 'insert',
    commitTs: ts,
    engine: 'e1',
    row: {
      id,
      customer: (i * 7919) % 100_000,
      amount: ((i * 104729) % 100_000) / 100,
      status: statuses[i % 5] as string,
      sold_at: BigInt(ts) * 1000n,
    },
  };
}
console.log(`generated ${ROWS} versions in ${(performance.now() - t).toFixed(0)} ms`);

const dir = await tempDir('olap-bench-');
const source = new ArraySource();
const shard = await startOlapShard({
  id: 'bench',
  dir,
  catalog,
  deltaSources: [{ id: 'ing1', api: source }],
  log: (m, f) => console.log(m, JSON.stringify(f)),
  keyBloomFilters: process.env.BLOOM === '1',
});
t = performance.now();
await shard.push({ source: 'ing1', table: 'sales', fromTs: -1, toTs: T0 + DAYS * 86_400_000, versions });
const st = shard.stats().tables.sales;
console.log(
  `push: ${(performance.now() - t).toFixed(0)} ms, ${st?.files} files, ${((st?.bytes ?? 0) / 1e6).toFixed(1)} MB, singleVersion=${st?.singleVersion}`,
);

// Baseline: one Parquet file of the same user rows, DuckDB defaults.
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run("SET TimeZone = 'UTC'");
const one = join(dir, 'one.parquet');
const manifestFiles: string[] = JSON.parse(
  await (await import('node:fs/promises')).readFile(join(dir, 'manifest.json'), 'utf8'),
).tables.sales.files.map((f: { path: string }) => `'${join(dir, f.path)}'`);
await conn.run(
  `COPY (SELECT id, customer, amount, status, sold_at FROM read_parquet([${manifestFiles.join(',')}]) ORDER BY id) TO '${one}' (FORMAT parquet, COMPRESSION zstd)`,
);
await conn.run(`CREATE VIEW sales AS SELECT * FROM read_parquet('${one}')`);

console.log('one file MB', ((await (await import('node:fs/promises')).stat(one)).size / 1e6).toFixed(1));
const queries = [
  'SELECT 1',
  'SELECT count(*) FROM sales',
  'SELECT status, count(*), sum(amount), avg(amount) FROM sales GROUP BY status ORDER BY status',
  'SELECT customer, sum(amount) AS s FROM sales GROUP BY customer ORDER BY s DESC LIMIT 10',
  "SELECT date_trunc('day', sold_at) AS d, count(*), sum(amount) FROM sales WHERE sold_at >= TIMESTAMP '2024-01-10' AND sold_at < TIMESTAMP '2024-01-13' GROUP BY 1 ORDER BY 1",
  'SELECT * FROM sales WHERE id = 1234567',
  'SELECT count(DISTINCT customer) FROM sales WHERE amount > 500',
];
const REPS = 7;
const DELTA = Number(process.env.DELTA ?? 0);
if (DELTA > 0) {
  // Updates of existing keys after the push: the views must anti-join them against the files.
  const end = T0 + DAYS * 86_400_000;
  const ups: VersionRecord[] = [];
  for (let i = 0; i < DELTA; i++) {
    const base = versions[(i * 7_919) % ROWS] as VersionRecord;
    ups.push({
      ...base,
      version: gen.next(end + 1 + i),
      prev: base.version,
      op: 'update',
      commitTs: end + 1 + i,
      row: { ...(base.row ?? {}), amount: 1 },
    });
  }
  source.add(ups);
  console.log(`delta: ${DELTA} updates of pushed keys`);
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log('\n| query | one file (ms) | shard (ms) | ratio |\n|---|---|---|---|');
for (const sql of queries) {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < REPS; r++) {
    let s = performance.now();
    await conn.runAndReadAll(sql);
    a.push(performance.now() - s);
    s = performance.now();
    await shard.query(sql, [], catalog.version);
    b.push(performance.now() - s);
  }
  const ma = median(a);
  const mb = median(b);
  console.log(`| ${sql.slice(0, 70)} | ${ma.toFixed(1)} | ${mb.toFixed(1)} | ${(mb / ma).toFixed(2)} |`);
}
conn.disconnectSync();
db.closeSync();
await shard.close();
await removeDir(dir);
