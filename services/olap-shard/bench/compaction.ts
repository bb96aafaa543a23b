/**
 * Benchmark: compaction of one day partition made of many push files (updates of random keys),
 * the latency of single-row pushes while it runs in the background, and query times before and
 * after. Prints a table; asserts nothing.
 *
 *   node --import tsx services/olap-shard/bench/compaction.ts [rows=1000000] [files=100] [targetFileRows=1000000]
 */
import { VersionGenerator, type VersionRecord } from '@stratum/shared';
import { startOlapShard } from '../src/index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir } from '../src/test-support.ts';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const FILES = Number(process.argv[3] ?? 100);
const TARGET = Number(process.argv[4] ?? 1_000_000);
const T0 = Date.UTC(2024, 0, 1);
const KEYS = Math.max(1, Math.floor(ROWS / 2)); // about two versions per key

const catalog = makeCatalog([
  {
    name: 'sales',
    columns: [
      { name: 'id', type: 'bigint', notNull: true },
      { name: 'customer', type: 'integer', notNull: true },
      { name: 'amount', type: 'double', notNull: true },
      { name: 'status', type: 'text', notNull: true },
    ],
    primaryKey: ['id'],
  },
]);
const gen = new VersionGenerator();
const statuses = ['new', 'paid', 'shipped', 'void', 'returned'];
const seen = new Set<number>();
const version = (i: number, ts: number): VersionRecord => {
  const k = (i * 2_654_435_761) % KEYS;
  const op = seen.has(k) ? 'update' : 'insert';
  seen.add(k);
  const id = BigInt(k);
  return {
    table: 'sales',
    key: [id],
    version: gen.next(ts),
    prev: null,
    op,
    commitTs: ts,
    engine: 'e1',
    row: { id, customer: (i * 7919) % 100_000, amount: ((i * 104729) % 100_000) / 100, status: statuses[i % 5] as string },
  };
};

const dir = await tempDir('olap-compaction-bench-');
const shard = await startOlapShard({
  id: 'bench',
  dir,
  catalog,
  deltaSources: [{ id: 'i1', api: new ArraySource() }],
  deltaPollMs: 0,
  compactionIntervalMs: 0,
  compactionMinFiles: 2,
  targetFileRows: TARGET,
});
const per = Math.ceil(ROWS / FILES);
let w = -1;
let i = 0;
let t = performance.now();
for (let f = 0; f < FILES; f++) {
  const batch: VersionRecord[] = [];
  for (let j = 0; j < per && i < ROWS; j++, i++) batch.push(version(i, T0 + i)); // all on one day
  const to = T0 + i - 1;
  await shard.push({ source: 'i1', table: 'sales', fromTs: w, toTs: to, versions: batch });
  w = to;
}
const pushMs = performance.now() - t;
const q = async (sql: string) => {
  const t0 = performance.now();
  await shard.query(sql, [], catalog.version);
  return performance.now() - t0;
};
const QUERIES = [
  'SELECT count(*), sum(amount) FROM sales',
  'SELECT status, count(*) FROM sales GROUP BY status',
  `SELECT * FROM sales WHERE id = ${Math.floor(KEYS / 3)}`,
];
const before = [];
for (const s of QUERIES) {
  await q(s);
  before.push(await q(s));
}
const s0 = shard.stats();

// Single-row pushes every 20 ms: alone (baseline), then while compaction runs.
let done = false;
const pushLat: number[] = [];
const idleLat: number[] = [];
const pushes = async (lat: number[], until: () => boolean) => {
  while (!until()) {
    const ts = w + 1;
    const t0 = performance.now();
    await shard.push({ source: 'i1', table: 'sales', fromTs: w, toTs: ts, versions: [version(i++, ts)] });
    lat.push(performance.now() - t0);
    w = ts;
    await new Promise((r) => setTimeout(r, 20));
  }
};
await pushes(idleLat, () => idleLat.length >= 10);
const pusher = pushes(pushLat, () => done);
t = performance.now();
const report = await shard.compactNow();
const compactMs = performance.now() - t;
done = true;
await pusher;
const after = [];
for (const s of QUERIES) {
  await q(s);
  after.push(await q(s));
}
const s1 = shard.stats();
const pct = (lat: number[], p: number) =>
  ([...lat].sort((a, b) => a - b)[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0).toFixed(1);

console.log(`rows ${ROWS}, ${FILES} push files (${pushMs.toFixed(0)} ms to push), targetFileRows ${TARGET}`);
console.table({
  compaction: {
    ms: compactMs.toFixed(0),
    partitions: report.partitions.length,
    filesIn: s1.compaction.filesIn,
    filesOut: s1.compaction.filesOut,
    rowsPerS: ((s1.compaction.rowsIn / compactMs) * 1000).toFixed(0),
    mbIn: (s1.compaction.bytesIn / 1e6).toFixed(1),
    mbOut: (s1.compaction.bytesOut / 1e6).toFixed(1),
  },
});
console.table({
  'single-row push, idle (ms)': { n: idleLat.length, p50: pct(idleLat, 0.5), p99: pct(idleLat, 0.99), max: pct(idleLat, 1) },
  'single-row push during compaction (ms)': { n: pushLat.length, p50: pct(pushLat, 0.5), p99: pct(pushLat, 0.99), max: pct(pushLat, 1) },
});
console.table(
  QUERIES.map((s, k) => ({
    query: s,
    filesBefore: s0.files,
    msBefore: before[k]?.toFixed(1),
    filesAfter: s1.files,
    msAfter: after[k]?.toFixed(1),
  })),
);
await shard.close();
await removeDir(dir);
