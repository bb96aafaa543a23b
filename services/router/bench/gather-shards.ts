/**
 * Benchmark (issue 13 item 5): the 10 flights dashboard queries on two OLAP shards holding
 * flights split by `shard_key origin`, against the same queries on one shard holding every row.
 * Both go through the router's `OlapRouter` as an analytical read does (parse, `rewriteForTier`,
 * placement): one shard runs each query whole; two shards are scattered to and gathered, with
 * the shards pre-aggregating (two-phase aggregation, plan/partial-agg.ts) and, for comparison,
 * with rows gathered (partial aggregation off). Every shard answer is MessagePack-encoded and
 * decoded as the RPC between services does, and its bytes counted: what crosses the wire.
 * Answers of the three are compared. Prints a markdown table of medians; asserts nothing.
 *
 *   node --import tsx services/router/bench/gather-shards.ts [runs=5]    (env ROWS_GATHER=0 skips the row-gather column)
 */
import type { Catalog, Literal, OlapShardApi, QueryOptions, QueryResult, VersionRecord } from '@stratum/shared';
import { decode, encode, formatValue, shardOfVersion } from '@stratum/shared';
import { DASHBOARD_QUERIES } from '../../../bench/flights-dashboard-queries.ts';
import { FLIGHTS, flightVersions, geomean, median } from '../../olap-shard/bench/flights-data.ts';
import { startOlapShard } from '../../olap-shard/src/index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir } from '../../olap-shard/src/test-support.ts';
import type { SessionValues } from '../src/analyze/scope.ts';
import { OlapRouter } from '../src/olap.ts';
import { deparse, rewriteForTier } from '../src/plan/duckdb-sql.ts';
import { parseFirst } from '../src/sql/parse.ts';

const RUNS = Number(process.argv[2] ?? 5);
const SESSION: SessionValues = { user: 'stratum', database: 'stratum', serverVersion: '15.0', setting: () => undefined };

/** An OLAP shard API whose answers cross MessagePack like the RPC's, counting their bytes. */
class Wire implements OlapShardApi {
  bytes = 0;
  constructor(private readonly inner: OlapShardApi) {}
  async query(sql: string, params: Literal[], v: number, o?: QueryOptions, signal?: AbortSignal): Promise<QueryResult> {
    const body = encode({ ok: await this.inner.query(sql, params, v, o, signal) });
    this.bytes += body.length;
    return decode<{ ok: QueryResult }>(body).ok;
  }
  watermarks(source?: string) {
    return this.inner.watermarks(source);
  }
  push(...a: Parameters<OlapShardApi['push']>) {
    return this.inner.push(...a);
  }
}

async function shardOf(id: string, catalog: Catalog, versions: VersionRecord[]) {
  const dir = await tempDir(`gather-${id}-`);
  const shard = await startOlapShard({
    id,
    dir,
    catalog,
    deltaSources: [{ id: 'ing1', api: new ArraySource() }],
    deltaPollMs: 0,
    compactionIntervalMs: 0,
  });
  let from = -1;
  for (let m = 1; m <= 8; m++) {
    const to = Date.UTC(2001, m, 1) - 1;
    const batch = versions.filter((v) => v.commitTs > from && v.commitTs <= to);
    await shard.push({ source: 'ing1', table: 'flights', fromTs: from, toTs: to, versions: batch });
    from = to;
  }
  return { shard, dir, wire: new Wire(shard) };
}

const catalog = makeCatalog([FLIGHTS], { flights: { timeColumn: 'date', shardKey: 'origin' } });
const info = catalog.get('flights');
const versions = await flightVersions();
const split: Record<string, VersionRecord[]> = { s1: [], s2: [] };
for (const v of versions) split[shardOfVersion(info, v.key, v.row, ['s1', 's2'])]?.push(v);
const one = await shardOf('one', catalog, versions);
const s1 = await shardOf('s1', catalog, split.s1 ?? []);
const s2 = await shardOf('s2', catalog, split.s2 ?? []);
console.log(`flights-3m: one shard ${versions.length} rows; s1 ${split.s1?.length} rows, s2 ${split.s2?.length} rows (shard_key origin)`);

const whole = new OlapRouter(catalog, [{ id: 'one', api: one.wire }], () => []);
const gather = new OlapRouter(
  catalog,
  [
    { id: 's1', api: s1.wire },
    { id: 's2', api: s2.wire },
  ],
  () => [],
);
const rowsGather = new OlapRouter(
  catalog,
  [
    { id: 's1', api: s1.wire },
    { id: 's2', api: s2.wire },
  ],
  () => [],
);
rowsGather.partialAggregation = false;
const withRows = process.env.ROWS_GATHER !== '0';

const text = (r: QueryResult) => r.rows.map((row) => row.map((v, i) => formatValue(v, r.columns[i]?.type ?? 'text')));
const results: {
  name: string;
  one: number;
  two: number;
  rows: number;
  bytesOne: number;
  bytesTwo: number;
  bytesRows: number;
  tier: string;
}[] = [];
for (const [name, sql] of DASHBOARD_QUERIES) {
  const stmt = rewriteForTier(parseFirst(sql) as never, catalog, SESSION);
  const select = (stmt as { SelectStmt: never }).SelectStmt;
  const text0 = deparse(stmt);
  const refs = [{ name: 'flights', alias: 'flights', topLevel: true }];
  const run = async (r: OlapRouter) => {
    const t = performance.now();
    const res = await r.query(select, refs, text0, [], catalog.version, {});
    return { ms: performance.now() - t, res };
  };
  const times = { one: [] as number[], two: [] as number[], rows: [] as number[] };
  const bytes = { one: 0, two: 0, rows: 0 };
  let tier = '';
  for (let i = 0; i <= RUNS; i++) {
    const w0 = one.wire.bytes;
    const a = await run(whole);
    const w1 = s1.wire.bytes + s2.wire.bytes;
    const b = await run(gather);
    const w2 = s1.wire.bytes + s2.wire.bytes;
    const c = withRows ? await run(rowsGather) : undefined;
    const w3 = s1.wire.bytes + s2.wire.bytes;
    if (i === 0) {
      // Warm-up run: check the answers agree, count the bytes once.
      const want = JSON.stringify(text(a.res));
      if (JSON.stringify(text(b.res)) !== want) console.log(`!! ${name}: two-phase answer differs from one shard's`);
      if (c && JSON.stringify(text(c.res)) !== want) console.log(`!! ${name}: row-gather answer differs from one shard's`);
      bytes.one = one.wire.bytes - w0;
      bytes.two = w2 - w1;
      bytes.rows = w3 - w2;
      tier = b.res.tier;
      continue;
    }
    times.one.push(a.ms);
    times.two.push(b.ms);
    if (c) times.rows.push(c.ms);
  }
  results.push({
    name,
    one: median(times.one),
    two: median(times.two),
    rows: withRows ? median(times.rows) : Number.NaN,
    bytesOne: bytes.one,
    bytesTwo: bytes.two,
    bytesRows: bytes.rows,
    tier,
  });
}

const f1 = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(1));
const f2 = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(2));
console.log(`\n### 10 dashboard queries: two shards (shard_key origin) vs one shard holding every row (median of ${RUNS})\n`);
console.log(
  '| query | one shard ms | two shards, two-phase ms | ratio | two shards, rows gathered ms | ratio | wire bytes: one shard | two-phase | rows gathered | tier |',
);
console.log('|---|--:|--:|--:|--:|--:|--:|--:|--:|---|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${f1(r.one)} | ${f1(r.two)} | ${f2(r.two / r.one)} | ${f1(r.rows)} | ${f2(r.rows / r.one)} | ${r.bytesOne} | ${r.bytesTwo} | ${withRows ? r.bytesRows : '—'} | ${r.tier} |`,
  );
}
console.log(
  `| **geometric mean** | | | **${f2(geomean(results.map((r) => r.two / r.one)))}** | | **${f2(geomean(results.map((r) => r.rows / r.one)))}** | | | | |`,
);
for (const x of [one, s1, s2]) {
  await x.shard.close();
  await removeDir(x.dir);
}
