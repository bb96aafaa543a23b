/**
 * OLAP shard against real DuckDB and real files: every answer is compared with a separate
 * in-memory DuckDB holding the same final rows (test-support `Reference`).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog, Literal, TableDef, TableInfo, VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, rng, show, tempDir, Versions } from './test-support.ts';

const ORDERS: TableDef = {
  name: 'orders',
  columns: [
    { name: 'id', type: 'bigint', notNull: true },
    { name: 'customer', type: 'integer', notNull: true },
    { name: 'amount', type: 'double', notNull: true },
    { name: 'status', type: 'text', notNull: true },
    { name: 'created', type: 'timestamp', notNull: true },
    { name: 'note', type: 'text', notNull: false },
    { name: 'flag', type: 'boolean', notNull: false },
  ],
  primaryKey: ['id'],
};

const EVENTS: TableDef = {
  name: 'events',
  columns: [
    { name: 'id', type: 'uuid', notNull: true },
    { name: 'at', type: 'timestamptz', notNull: true },
    { name: 'kind', type: 'text', notNull: true },
    { name: 'value', type: 'integer', notNull: false },
  ],
  primaryKey: ['id'],
};

const PAIRS: TableDef = {
  name: 'pairs',
  columns: [
    { name: 'region', type: 'text', notNull: true },
    { name: 'n', type: 'integer', notNull: true },
    { name: 'day', type: 'date', notNull: true },
    { name: 'score', type: 'real', notNull: false },
    { name: 'small', type: 'smallint', notNull: false },
  ],
  primaryKey: ['region', 'n'],
};

const T0 = Date.UTC(2024, 0, 1, 22, 0, 0); // ms

/**
 * A seeded workload over `orders`: inserts, updates, deletes, re-inserts of deleted keys, and
 * same-millisecond versions of one key from two engines (LWW ties).
 */
function ordersWorkload(t: TableInfo, seed: number, ops: number, startTs = T0): VersionRecord[] {
  const r = rng(seed);
  const vb = new Versions(t);
  const alive = new Map<bigint, Record<string, unknown>>();
  const dead: bigint[] = [];
  const out: VersionRecord[] = [];
  let ts = startTs;
  let nextId = 1n;
  const mkRow = (id: bigint) => ({
    id,
    customer: Math.floor(r() * 20),
    amount: Math.floor(r() * 400) / 4,
    status: ['new', 'paid', 'shipped', 'void'][Math.floor(r() * 4)] as string,
    created: BigInt(startTs + Math.floor(r() * 3 * 86_400_000)) * 1000n + BigInt(Math.floor(r() * 1000)),
    note: r() < 0.3 ? null : `n${Math.floor(r() * 50)}`,
    flag: r() < 0.2 ? null : r() < 0.5,
  });
  for (let i = 0; i < ops; i++) {
    ts += Math.floor(r() * 3) * 1000;
    const engine = r() < 0.5 ? 'e1' : 'e2';
    const p = r();
    if (alive.size === 0 || p < 0.35) {
      const id = dead.length > 0 && r() < 0.3 ? (dead.pop() as bigint) : nextId++;
      const row = mkRow(id);
      alive.set(id, row);
      out.push(vb.make('insert', [id], row as never, ts, engine));
    } else if (p < 0.8) {
      const ids = [...alive.keys()];
      const id = ids[Math.floor(r() * ids.length)] as bigint;
      const row = { ...mkRow(id), created: alive.get(id)?.created };
      alive.set(id, row);
      out.push(vb.make('update', [id], row as never, ts, engine));
      if (r() < 0.1) {
        // A concurrent writer on the other engine, same millisecond: LWW decides by engine.
        const other = { ...mkRow(id), created: row.created };
        out.push(vb.make('update', [id], other as never, ts, engine === 'e1' ? 'e2' : 'e1'));
        const winner = (engine === 'e1' ? 'e2' : 'e1') > engine ? other : row;
        alive.set(id, winner);
      }
    } else {
      const ids = [...alive.keys()];
      const id = ids[Math.floor(r() * ids.length)] as bigint;
      alive.delete(id);
      dead.push(id);
      out.push(vb.make('delete', [id], null, ts, engine));
    }
  }
  return out;
}

interface Ctx {
  dir: string;
  catalog: Catalog;
  source: ArraySource;
  shard: OlapShard;
  ref: Reference;
  logs: { msg: string; fields?: object }[];
}

async function setup(
  defs: TableDef[],
  options: Record<string, { timeColumn?: string; appendOnly?: boolean; partition?: 'day' | 'month' | 'none' }> = {},
  extra: { keyBloomFilters?: boolean; rowGroupSize?: number; deltaBatch?: number; deltaPollMs?: number; deltaIdleMs?: number } = {},
): Promise<Ctx> {
  const dir = await tempDir();
  const catalog = makeCatalog(defs, options as never);
  const source = new ArraySource();
  const logs: Ctx['logs'] = [];
  const shard = await startOlapShard({
    id: 's1',
    dir,
    catalog,
    deltaSources: [{ id: 'ing1', api: source }],
    log: (msg, fields) => logs.push(fields === undefined ? { msg } : { msg, fields }),
    ...extra,
  });
  return { dir, catalog, source, shard, ref: await Reference.create(), logs };
}

async function teardown(c: Ctx): Promise<void> {
  await c.shard.close();
  c.ref.close();
  await removeDir(c.dir);
}

/** Push the versions of `table` with commitTs in (from, to]. */
function pushRange(c: Ctx, table: string, all: VersionRecord[], from: number, to: number) {
  return c.shard.push({
    source: 'ing1',
    table,
    fromTs: from,
    toTs: to,
    versions: all.filter((v) => v.commitTs > from && v.commitTs <= to),
  });
}

/** Assert the shard and the reference give the same answer. */
async function same(c: Ctx, sql: string, params: Literal[] = []): Promise<void> {
  const got = await c.shard.query(sql, params, c.catalog.version);
  const want = await c.ref.query(sql, params);
  assertSameResult(got, want, sql);
}

const ORDERS_QUERIES: [string, Literal[]][] = [
  ['SELECT * FROM orders ORDER BY id', []],
  [
    'SELECT status, count(*) AS n, sum(amount) AS s, avg(amount) AS a, min(created) AS mn, max(note) AS mx FROM orders GROUP BY status ORDER BY status',
    [],
  ],
  ['SELECT customer, count(*) AS n, sum(amount) AS s FROM orders WHERE amount > $1 GROUP BY customer ORDER BY customer', [50]],
  ['SELECT * FROM orders WHERE id = $1', [7n]],
  ['SELECT id, note, flag FROM orders WHERE created >= $1 ORDER BY note DESC, id', ['2024-01-03']],
  ['SELECT count(*) AS n, count(DISTINCT _version) AS v, sum(CASE WHEN _op = $1 THEN 1 ELSE 0 END) AS d FROM orders__history', ['delete']],
  ['SELECT * FROM orders__history ORDER BY _version', []],
  ['SELECT id / 3 AS third, count(*) AS n FROM orders GROUP BY ALL ORDER BY 1', []],
];

describe('olap shard: latest-version semantics across Parquet and delta', () => {
  let c: Ctx;
  let all: VersionRecord[];
  let info: TableInfo;
  before(async () => {
    c = await setup([ORDERS], { orders: { timeColumn: 'created', partition: 'day' } }, { keyBloomFilters: true, rowGroupSize: 500 });
    info = c.catalog.get('orders');
    all = ordersWorkload(info, 42, 3000);
    c.source.add(all);
    await c.ref.load(info, all);
  });
  after(() => teardown(c));

  it('answers from the delta alone before any push', async () => {
    for (const [sql, p] of ORDERS_QUERIES) await same(c, sql, p);
    assert.equal(c.shard.stats().tables.orders?.files, 0);
    assert.ok((c.shard.stats().tables.orders?.deltaRows ?? 0) > 0);
  });

  it('answers the same with a prefix in Parquet and the rest in the delta, at several split points', async () => {
    const tsList = all.map((v) => v.commitTs);
    const max = tsList[tsList.length - 1] as number;
    let from = -1;
    for (const frac of [0.2, 0.5, 0.85]) {
      const to = tsList[Math.floor(tsList.length * frac)] as number;
      const r = await pushRange(c, 'orders', all, from, to);
      assert.equal(r.watermark, to);
      from = to;
      for (const [sql, p] of ORDERS_QUERIES) await same(c, sql, p);
    }
    await pushRange(c, 'orders', all, from, max);
    const st = c.shard.stats().tables.orders;
    assert.equal(st?.deltaRows, 0, 'delta emptied once everything is in Parquet');
    assert.equal(st?.rows, all.length);
    assert.equal(st?.singleVersion, false);
    for (const [sql, p] of ORDERS_QUERIES) await same(c, sql, p);
    assert.deepEqual(await c.shard.watermarks(), { orders: max });
  });

  it('lays files out as <table>/day=YYYY-MM-DD/part-<uuidv7>.parquet by time column, sorted by time, key, _ts, with key bloom filters', async () => {
    const days = await readdir(join(c.dir, 'orders'));
    assert.ok(days.length >= 3, `several day partitions: ${days.join(',')}`);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      await conn.run("SET TimeZone = 'UTC'");
      for (const d of days) {
        assert.match(d, /^day=\d{4}-\d{2}-\d{2}$/);
        const entries = await readdir(join(c.dir, 'orders', d));
        const files = entries.filter((f) => !f.endsWith('.bloom'));
        for (const f of files) {
          assert.match(f, /^part-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.parquet$/);
          assert.ok(entries.includes(`${f}.bloom`), `the shard's key bloom filter sidecar of ${f}`);
          const p = join(c.dir, 'orders', d, f).replaceAll("'", "''");
          // Every row's partition day is its time column's UTC date.
          const wrong = await conn.runAndReadAll(
            `SELECT count(*) FROM read_parquet('${p}') WHERE strftime(created, 'day=%Y-%m-%d') <> '${d}'`,
          );
          assert.equal(wrong.value(0, 0), 0n);
          // Sorted by (time, id, _ts, _engine, version halves): time = created, or the commit time where created is NULL.
          const unsorted = await conn.runAndReadAll(
            `SELECT count(*) FROM (SELECT file_row_number AS pos,
               row_number() OVER (ORDER BY coalesce(CAST(created AS TIMESTAMP), CAST(_ts AS TIMESTAMP)), id, _ts, _engine, _version_hi, _version_lo) - 1 AS want
             FROM read_parquet('${p}', file_row_number = true)) WHERE pos <> want`,
          );
          assert.equal(unsorted.value(0, 0), 0n);
          const meta = await conn.runAndReadAll(
            `SELECT path_in_schema, count(bloom_filter_offset) AS bf, any_value(compression) AS comp FROM parquet_metadata('${p}') GROUP BY ALL`,
          );
          const m = Object.fromEntries(meta.getRowObjectsJS().map((x) => [x.path_in_schema, x]));
          assert.ok(Number(m.id?.bf) > 0, 'bloom filter on the key column');
          assert.equal(m.id?.comp, 'ZSTD');
          const schema = await conn.runAndReadAll(
            `SELECT name, logical_type::VARCHAR AS lt FROM parquet_schema('${p}') WHERE name = '_ts'`,
          );
          assert.match(String(schema.value(1, 0)), /MILLIS/, '_ts stored with millisecond precision');
        }
      }
    } finally {
      conn.disconnectSync();
      db.closeSync();
    }
  });
});

describe('olap shard: idempotent re-push', () => {
  let c: Ctx;
  let all: VersionRecord[];
  before(async () => {
    c = await setup([ORDERS], { orders: { timeColumn: 'created' } });
    const info = c.catalog.get('orders');
    all = ordersWorkload(info, 7, 800);
    c.source.add(all);
    await c.ref.load(info, all);
  });
  after(() => teardown(c));

  it('writes nothing for toTs ≤ watermark and skips versions already stored', async () => {
    const mid = (all[400] as VersionRecord).commitTs;
    const end = (all[all.length - 1] as VersionRecord).commitTs;
    await pushRange(c, 'orders', all, -1, mid);
    const before1 = c.shard.stats().tables.orders;
    // Same push again (ingestion crashed before recording the watermark).
    assert.deepEqual(await pushRange(c, 'orders', all, -1, mid), { watermark: mid });
    assert.deepEqual(await pushRange(c, 'orders', all, -1, mid - 5000), { watermark: mid });
    assert.deepEqual(c.shard.stats().tables.orders, before1);
    // Overlapping push: (−1, end] holds versions already in files; only the new ones are written.
    await pushRange(c, 'orders', all, -1, end);
    assert.equal(c.shard.stats().tables.orders?.rows, all.length);
    for (const [sql, p] of ORDERS_QUERIES) await same(c, sql, p);
  });

  it('refuses versions of another table or after toTs', async () => {
    const v = all[0] as VersionRecord;
    await assert.rejects(
      c.shard.push({ source: 'ing1', table: 'orders', fromTs: 0, toTs: 1e15, versions: [{ ...v, table: 'x' }] }),
      (e: { code?: string }) => e.code === '22023',
    );
    await assert.rejects(
      c.shard.push({
        source: 'ing1',
        table: 'orders',
        fromTs: 0,
        toTs: v.commitTs + 1e12,
        versions: [{ ...v, commitTs: v.commitTs + 2e12 }],
      }),
      (e: { code?: string }) => e.code === '22023',
    );
    await assert.rejects(
      c.shard.push({ source: 'ing1', table: 'nope', fromTs: 0, toTs: 1, versions: [] }),
      (e: { code?: string }) => e.code === '42P01',
    );
    // A push that starts after the watermark would leave a hole in the time prefix.
    const w = (await c.shard.watermarks()).orders as number;
    await assert.rejects(
      c.shard.push({ source: 'ing1', table: 'orders', fromTs: w + 10, toTs: w + 20, versions: [] }),
      (e: { code?: string; message: string }) => e.code === '22023' && /watermark/.test(e.message),
    );
  });
});

describe('olap shard: single-version shortcut and append-only tables', () => {
  let c: Ctx;
  before(async () => {
    c = await setup([EVENTS, PAIRS], {
      events: { timeColumn: 'at', appendOnly: false, partition: 'day' },
      pairs: { timeColumn: 'day', partition: 'day' },
    });
  });
  after(() => teardown(c));

  it('keeps singleVersion while batches insert new keys, and answers like the reference', async () => {
    const info = c.catalog.get('pairs');
    const vb = new Versions(info);
    const r = rng(3);
    const mk = (region: string, n: number, ts: number) =>
      vb.make(
        'insert',
        [region, n],
        { region, n, day: 19723 + (n % 5), score: Math.floor(r() * 100) / 8, small: n % 7 === 0 ? null : n % 300 },
        ts,
      );
    // Batch 1: regions a..c; batch 2 overlaps key ranges (region) but has new keys → semi-join path.
    const b1 = ['a', 'b', 'c'].flatMap((g, gi) => Array.from({ length: 200 }, (_, i) => mk(g, i, T0 + gi * 1000 + i)));
    const b2 = ['b', 'z'].flatMap((g, gi) => Array.from({ length: 200 }, (_, i) => mk(g, 1000 + i, T0 + 10_000 + gi * 1000 + i)));
    // Delta: fresh keys in a region past every file's range (the anti-join can be skipped).
    const b3 = Array.from({ length: 50 }, (_, i) => mk('zz', i, T0 + 20_000 + i));
    const all = [...b1, ...b2, ...b3];
    c.source.add(all);
    await c.ref.load(info, all);
    await c.shard.push({ source: 'ing1', table: 'pairs', fromTs: -1, toTs: T0 + 5000, versions: b1 });
    assert.equal(c.shard.stats().tables.pairs?.singleVersion, true);
    await c.shard.push({ source: 'ing1', table: 'pairs', fromTs: T0 + 5000, toTs: T0 + 15_000, versions: b2 });
    assert.equal(c.shard.stats().tables.pairs?.singleVersion, true);
    const qs = [
      'SELECT * FROM pairs ORDER BY region, n',
      'SELECT region, count(*), sum(score), min(day), max(small) FROM pairs GROUP BY region ORDER BY region',
      'SELECT * FROM pairs__history ORDER BY region, n, _ts',
    ];
    for (const q of qs) await same(c, q);
    // Now a delta update of a key that is in the files: the anti-join path must hide the old row.
    const upd = vb.make('update', ['b', 5], { region: 'b', n: 5, day: 19723, score: -1, small: 1 }, T0 + 30_000);
    const del = vb.make('delete', ['a', 0], null, T0 + 30_001);
    c.source.add([upd, del]);
    await c.ref.load(info, [...all, upd, del]);
    for (const q of qs) await same(c, q);
    // Pushing them ends the single-version property (dedupe from now on), answers unchanged.
    await c.shard.push({ source: 'ing1', table: 'pairs', fromTs: T0 + 15_000, toTs: T0 + 40_000, versions: [...b3, upd, del] });
    assert.equal(c.shard.stats().tables.pairs?.singleVersion, false);
    assert.equal(c.shard.stats().tables.pairs?.deltaRows, 0);
    for (const q of qs) await same(c, q);
  });

  it('detects a key inserted twice in different pushes (concurrent inserts on two engines)', async () => {
    const info = c.catalog.get('events');
    const vb = new Versions(info);
    const ids = Array.from({ length: 100 }, (_, i) => `0190a6c2-0000-7000-8000-${String(i).padStart(12, '0')}`);
    const mk = (id: string, ts: number, engine: string, value: number) =>
      vb.make('insert', [id], { id, at: BigInt(ts) * 1000n, kind: value % 2 ? 'odd' : 'even', value }, ts, engine);
    const b1 = ids.map((id, i) => mk(id, T0 + i, 'e1', i));
    const b2 = [mk(ids[50] as string, T0 + 1000, 'e2', 999)];
    c.source.add([...b1, ...b2]);
    await c.ref.load(info, [...b1, ...b2]);
    await c.shard.push({ source: 'ing1', table: 'events', fromTs: -1, toTs: T0 + 500, versions: b1 });
    assert.equal(c.shard.stats().tables.events?.singleVersion, true);
    await c.shard.push({ source: 'ing1', table: 'events', fromTs: T0 + 500, toTs: T0 + 2000, versions: b2 });
    assert.equal(c.shard.stats().tables.events?.singleVersion, false);
    await same(c, 'SELECT * FROM events ORDER BY id');
    await same(c, 'SELECT kind, count(*), sum(value) FROM events GROUP BY kind ORDER BY kind');
  });

  it('append-only: every non-delete version is a row, across files and delta', async () => {
    const cat = makeCatalog([{ ...EVENTS, name: 'clicks' }], { clicks: { appendOnly: true, timeColumn: 'at' } });
    const source = new ArraySource();
    const d2 = await tempDir();
    const shard = await startOlapShard({ id: 's2', dir: d2, catalog: cat, deltaSources: [{ id: 'ing1', api: source }] });
    const ref = await Reference.create();
    try {
      const info = cat.get('clicks');
      const vb = new Versions(info);
      // The same key repeats: append-only keeps every version.
      const vs = Array.from({ length: 500 }, (_, i) =>
        vb.make(
          i % 50 === 49 ? 'delete' : 'insert',
          [`0190a6c2-0000-7000-8000-${String(i % 40).padStart(12, '0')}`],
          i % 50 === 49
            ? null
            : {
                id: `0190a6c2-0000-7000-8000-${String(i % 40).padStart(12, '0')}`,
                at: BigInt(T0 + i * 60_000) * 1000n,
                kind: `k${i % 3}`,
                value: i,
              },
          T0 + i * 10,
        ),
      );
      source.add(vs);
      await ref.load(info, vs);
      await shard.push({
        source: 'ing1',
        table: 'clicks',
        fromTs: -1,
        toTs: T0 + 2500,
        versions: vs.filter((v) => v.commitTs <= T0 + 2500),
      });
      for (const q of [
        'SELECT * FROM clicks ORDER BY value',
        'SELECT kind, count(*), sum(value) FROM clicks GROUP BY kind ORDER BY kind',
        'SELECT count(*) FROM clicks__history',
      ]) {
        const got = await shard.query(q, [], cat.version);
        assert.equal(show(got), show(await ref.query(q)), q);
      }
    } finally {
      await shard.close();
      ref.close();
      await removeDir(d2);
    }
  });
});

describe('olap shard: empty and late tables, delta behaviour', () => {
  let c: Ctx;
  const ALL_TYPES: TableDef = {
    name: 'typed',
    columns: [
      { name: 'a', type: 'smallint', notNull: true },
      { name: 'b', type: 'integer', notNull: false },
      { name: 'c', type: 'bigint', notNull: false },
      { name: 'd', type: 'real', notNull: false },
      { name: 'e', type: 'double', notNull: false },
      { name: 'f', type: 'text', notNull: false },
      { name: 'g', type: 'boolean', notNull: false },
      { name: 'h', type: 'timestamp', notNull: false },
      { name: 'i', type: 'timestamptz', notNull: false },
      { name: 'j', type: 'date', notNull: false },
      { name: 'k', type: 'uuid', notNull: false },
    ],
    primaryKey: ['a'],
  };
  before(async () => {
    // No background delta poll: the RPC count of a query is asserted below.
    c = await setup([ALL_TYPES], {}, { deltaBatch: 5000, deltaPollMs: 0 });
  });
  after(() => teardown(c));

  it('an empty table is queryable with its declared column types', async () => {
    const r = await c.shard.query('SELECT * FROM typed', [], c.catalog.version);
    assert.equal(r.rows.length, 0);
    assert.deepEqual(
      r.columns.map((x) => x.type),
      ALL_TYPES.columns.map((x) => x.type),
    );
    const h = await c.shard.query('SELECT _ts, _version, _op, _engine FROM typed__history', [], c.catalog.version);
    assert.deepEqual(
      h.columns.map((x) => x.type),
      ['timestamp', 'uuid', 'text', 'text'],
    );
  });

  it('round-trips every column type through Parquet and the delta', async () => {
    const info = c.catalog.get('typed');
    const vb = new Versions(info);
    const rows = [
      {
        a: 1,
        b: -5,
        c: 9007199254740993n,
        d: 1.5,
        e: -0.1,
        f: 'héllo "x"',
        g: true,
        h: 1_700_000_000_123_456n,
        i: -1n,
        j: -1,
        k: '0190a6c2-1234-7abc-8def-0123456789ab',
      },
      { a: 2, b: null, c: null, d: null, e: null, f: null, g: null, h: null, i: null, j: null, k: null },
      {
        a: -32768,
        b: 2147483647,
        c: -(2n ** 63n),
        d: -3.25,
        e: 1e300,
        f: '',
        g: false,
        h: 0n,
        i: 1_700_000_000_000_000n,
        j: 20000,
        k: 'ffffffff-ffff-7fff-bfff-ffffffffffff',
      },
    ];
    const vs = rows.map((row, n) => vb.make('insert', [row.a], row as never, T0 + n));
    c.source.add(vs);
    await c.ref.load(info, vs);
    await same(c, 'SELECT * FROM typed ORDER BY a');
    await c.shard.push({ source: 'ing1', table: 'typed', fromTs: -1, toTs: T0 + 1, versions: vs.slice(0, 2) });
    await same(c, 'SELECT * FROM typed ORDER BY a');
    await same(c, 'SELECT * FROM typed__history ORDER BY a');
  });

  it('serves a table created after start, with delta versions that arrived before its catalog event', async () => {
    const late: TableDef = {
      name: 'late',
      columns: [
        { name: 'k', type: 'integer', notNull: true },
        { name: 'v', type: 'text', notNull: false },
      ],
      primaryKey: ['k'],
    };
    const lateInfo = makeCatalog([late]).get('late');
    const vb = new Versions(lateInfo);
    const vs = [
      vb.make('insert', [1], { k: 1, v: 'x' }, T0),
      vb.make('insert', [2], { k: 2, v: 'y' }, T0 + 1),
      vb.make('delete', [1], null, T0 + 2),
    ];
    c.source.add(vs);
    // The shard pulls them before it knows the table.
    await c.shard.query('SELECT 1', [], c.catalog.version);
    c.catalog.apply(c.catalog.version + 1, { kind: 'create_table', table: late, at: 0 });
    await c.ref.load(c.catalog.get('late'), vs);
    await same(c, 'SELECT * FROM late ORDER BY k');
  });

  it('refreshes the delta with one RPC when nothing is new, and fails clearly when the source is down', async () => {
    await c.shard.query('SELECT 1', [], c.catalog.version);
    const n = c.source.deltaCalls;
    await c.shard.query('SELECT 1', [], c.catalog.version);
    assert.equal(c.source.deltaCalls, n + 1);
    c.source.failing = new Error('connection refused');
    await assert.rejects(c.shard.query('SELECT 1', [], c.catalog.version), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '08006');
      assert.match(e.message, /delta source ing1.*connection refused/);
      return true;
    });
    c.source.failing = undefined;
  });

  it("pushes a table whose columns have the names of the zone-map query's aliases (grp, n, tsmin, ins)", async () => {
    // The zone-map query groups by an alias; a column of the same name must not capture it (DuckDB's
    // GROUP BY resolves a column before an alias).
    const named: TableDef = {
      name: 'named',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'grp', type: 'integer', notNull: false },
        { name: 'n', type: 'integer', notNull: false },
        { name: 'tsmin', type: 'text', notNull: false },
        { name: 'ins', type: 'integer', notNull: false },
      ],
      primaryKey: ['id'],
    };
    c.catalog.apply(c.catalog.version + 1, { kind: 'create_table', table: named, at: 0 });
    const info = c.catalog.get('named');
    const vb = new Versions(info);
    const vs = Array.from({ length: 50 }, (_, i) =>
      vb.make('insert', [BigInt(i)], { id: BigInt(i), grp: i % 7, n: i, tsmin: `t${i}`, ins: -i }, T0 + i),
    );
    c.source.add(vs);
    await c.ref.load(info, vs);
    await c.shard.push({ source: 'ing1', table: 'named', fromTs: -1, toTs: T0 + 49, versions: vs });
    await same(c, 'SELECT * FROM named ORDER BY id');
    await same(c, 'SELECT grp, count(*) AS k FROM named GROUP BY grp ORDER BY grp');
  });

  it('pulls a large delta in several batches', async () => {
    const big: TableDef = { name: 'big', columns: [{ name: 'k', type: 'integer', notNull: true }], primaryKey: ['k'] };
    c.catalog.apply(c.catalog.version + 1, { kind: 'create_table', table: big, at: 0 });
    const info = c.catalog.get('big');
    const vb = new Versions(info);
    const vs = Array.from({ length: 12_000 }, (_, i) => vb.make('insert', [i], { k: i }, T0 + Math.floor(i / 100)));
    c.source.add(vs);
    const before1 = c.source.deltaCalls;
    const r = await c.shard.query('SELECT count(*) AS n, sum(k) AS s FROM big', [], c.catalog.version);
    await c.ref.load(info, vs);
    assert.equal(show(r), show(await c.ref.query('SELECT count(*) AS n, sum(k) AS s FROM big')));
    assert.ok(c.source.deltaCalls - before1 >= 3, 'at most deltaBatch (5 000) versions per call');
  });
});

describe('olap shard: staged delta', () => {
  let c: Ctx;
  before(async () => {
    // No background pulls: only queries load the delta here.
    c = await setup([], {}, { deltaBatch: 5000, deltaPollMs: 0 });
  });
  after(() => teardown(c));

  it('a query of one table loads a long backlog of another batch by batch: what waits in memory stays under one pull batch', async () => {
    const quiet: TableDef = { name: 'quiet', columns: [{ name: 'k', type: 'integer', notNull: true }], primaryKey: ['k'] };
    const busy: TableDef = { name: 'busy', columns: [{ name: 'k', type: 'integer', notNull: true }], primaryKey: ['k'] };
    c.catalog.apply(c.catalog.version + 1, { kind: 'create_table', table: quiet, at: 0 });
    c.catalog.apply(c.catalog.version + 1, { kind: 'create_table', table: busy, at: 0 });
    const q = new Versions(c.catalog.get('quiet'));
    const b = new Versions(c.catalog.get('busy'));
    const one = [q.make('insert', [1], { k: 1 }, T0)];
    const vs = Array.from({ length: 12_000 }, (_, i) => b.make('insert', [i], { k: i }, T0 + Math.floor(i / 100)));
    c.source.add([...one, ...vs]);
    await c.ref.load(c.catalog.get('quiet'), one);
    await c.ref.load(c.catalog.get('busy'), vs);
    const r = await c.shard.query('SELECT count(*) AS n FROM quiet', [], c.catalog.version);
    assert.equal(show(r), show(await c.ref.query('SELECT count(*) AS n FROM quiet')));
    const st = c.shard.stats();
    assert.ok(st.stagedVersions < 5000, `staged ${st.stagedVersions} versions after the query (pull batch 5 000)`);
    // What stayed staged is loaded by the next query of its table.
    const all = await c.shard.query('SELECT count(*) AS n, sum(k) AS s FROM busy', [], c.catalog.version);
    assert.equal(show(all), show(await c.ref.query('SELECT count(*) AS n, sum(k) AS s FROM busy')));
    assert.equal(c.shard.stats().stagedVersions, 0);
  });
});

describe('olap shard: background delta pulls follow queries', () => {
  let c: Ctx;
  before(async () => {
    c = await setup([ORDERS], {}, { deltaPollMs: 10 });
  });
  after(() => teardown(c));

  it('pulls nothing in the background before the first query, then keeps the delta loaded', async () => {
    const info = c.catalog.get('orders');
    const all = ordersWorkload(info, 7, 400);
    const first = all.slice(0, 200);
    c.source.add(first);
    // Twenty poll intervals without a query: a write-only load costs the shard nothing.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.source.deltaCalls, 0, 'no background delta pull before any query');
    assert.equal(c.shard.stats().tables.orders?.deltaRows ?? 0, 0);
    await c.ref.load(info, first);
    await same(c, 'SELECT count(*) AS n, sum(amount) AS s FROM orders');
    // Queries arrived: later versions are loaded in the background, without another query.
    c.source.add(all.slice(200));
    const deadline = Date.now() + 30_000;
    while ((c.shard.stats().tables.orders?.deltaRows ?? 0) < all.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(c.shard.stats().tables.orders?.deltaRows, all.length, 'the delta holds every version, pulled in the background');
    await c.ref.load(info, all);
    await same(c, 'SELECT status, count(*) AS n, sum(amount) AS s FROM orders GROUP BY status ORDER BY status');
  });

  it('asks the source to skip versions a push already covers', async () => {
    const info = c.catalog.get('orders');
    const more = ordersWorkload(info, 8, 100, T0 + 10 * 86_400_000);
    const cut = more[49]!.commitTs;
    await c.shard.push({ source: 'ing1', table: 'orders', fromTs: -1, toTs: cut, versions: [] });
    c.source.add(more);
    const seen: Record<string, number>[] = [];
    const delta = c.source.delta.bind(c.source);
    c.source.delta = (a, l, skip) => {
      if (skip) seen.push({ ...skip });
      return delta(a, l, skip);
    };
    await c.shard.query('SELECT 1', [], c.catalog.version);
    c.source.delta = delta;
    assert.ok(seen.length > 0 && seen.every((s) => s[info.storage] === cut), `skip carries the watermark ${cut}: ${JSON.stringify(seen)}`);
  });
});

describe('olap shard: two ingestion sources, each with its own delta and watermark', () => {
  it('keeps the latest delta version per key exact as batches arrive, and pushes per source independently', async () => {
    const dir = await tempDir();
    const catalog = makeCatalog([ORDERS], { orders: { timeColumn: 'created' } });
    const a = new ArraySource();
    const b = new ArraySource();
    const shard = await startOlapShard({
      id: 's3',
      dir,
      catalog,
      deltaSources: [
        { id: 'ia', api: a },
        { id: 'ib', api: b },
      ],
      deltaBatch: 37,
    });
    const ref = await Reference.create();
    try {
      const info = catalog.get('orders');
      const all = ordersWorkload(info, 5, 1200);
      // Keys are partitioned between ingestion engines: odd ids go through source ia, even ids
      // through ib. ib lags behind ia, so versions arrive out of commit order across sources.
      const isA = (v: VersionRecord) => Number(v.key[0]) % 2 === 1;
      const byA = all.filter(isA);
      const byB = all.filter((v) => !isA(v));
      const seen: VersionRecord[] = [];
      const step = 150;
      for (let i = 0; i < Math.max(byA.length, byB.length + step); i += step) {
        const na = byA.slice(i, i + step);
        const nb = i === 0 ? [] : byB.slice(i - step, i);
        a.add(na);
        b.add(nb);
        seen.push(...na, ...nb);
        await ref.load(info, seen);
        for (const [sql, p] of ORDERS_QUERIES.slice(0, 3)) {
          assertSameResult(await shard.query(sql, p, catalog.version), await ref.query(sql, p), sql);
        }
      }
      assert.equal(seen.length, all.length);
      await ref.load(info, all);
      const check = async () => {
        for (const [sql, p] of ORDERS_QUERIES) assertSameResult(await shard.query(sql, p, catalog.version), await ref.query(sql, p), sql);
      };
      // Source ia pushes a prefix of its versions; ib has pushed nothing: the delta keeps ib's
      // versions at any time and ia's above ia's watermark.
      const cutA = (byA[Math.floor(byA.length * 0.6)] as VersionRecord).commitTs;
      await shard.push({ source: 'ia', table: 'orders', fromTs: -1, toTs: cutA, versions: byA.filter((v) => v.commitTs <= cutA) });
      await check();
      assert.equal((await shard.watermarks('ia')).orders, cutA);
      assert.equal((await shard.watermarks('ib')).orders, -1);
      assert.equal((await shard.watermarks()).orders, -1, 'without a source: the minimum over the sources');
      assert.equal(shard.stats().tables.orders?.deltaRows, all.length - byA.filter((v) => v.commitTs <= cutA).length);
      // ib pushes further than ia; then ia catches up. Each push drops only its source's delta rows.
      const cutB = (byB[Math.floor(byB.length * 0.8)] as VersionRecord).commitTs;
      await shard.push({ source: 'ib', table: 'orders', fromTs: -1, toTs: cutB, versions: byB.filter((v) => v.commitTs <= cutB) });
      await check();
      assert.equal((await shard.watermarks()).orders, Math.min(cutA, cutB));
      const inFiles = byA.filter((v) => v.commitTs <= cutA).length + byB.filter((v) => v.commitTs <= cutB).length;
      assert.equal(shard.stats().tables.orders?.deltaRows, all.length - inFiles);
      assert.equal(shard.stats().tables.orders?.rows, inFiles);
      // A re-push of ia below its watermark is a no-op; a push of ia leaving a gap is refused.
      assert.deepEqual(await shard.push({ source: 'ia', table: 'orders', fromTs: -1, toTs: cutA, versions: [] }), { watermark: cutA });
      await assert.rejects(
        shard.push({ source: 'ia', table: 'orders', fromTs: cutA + 5, toTs: cutA + 10, versions: [] }),
        (e: { code?: string }) => e.code === '22023',
      );
      const endA = (byA[byA.length - 1] as VersionRecord).commitTs;
      await shard.push({ source: 'ia', table: 'orders', fromTs: cutA, toTs: endA, versions: byA.filter((v) => v.commitTs > cutA) });
      await check();
      assert.equal(shard.stats().tables.orders?.deltaRows, byB.filter((v) => v.commitTs > cutB).length);
    } finally {
      await shard.close();
      ref.close();
      await removeDir(dir);
    }
  });

  it('ignores delta versions another shard owns', async () => {
    const dir = await tempDir();
    const catalog = makeCatalog([ORDERS]);
    const src = new ArraySource();
    const owns = (_: TableInfo, v: VersionRecord) => Number(v.key[0]) % 3 !== 0;
    const shard = await startOlapShard({ id: 's4', dir, catalog, deltaSources: [{ id: 'ing1', api: src }], owns });
    const ref = await Reference.create();
    try {
      const info = catalog.get('orders');
      const all = ordersWorkload(info, 8, 600);
      src.add(all);
      await ref.load(
        info,
        all.filter((v) => owns(info, v)),
      );
      for (const [sql, p] of ORDERS_QUERIES) assertSameResult(await shard.query(sql, p, catalog.version), await ref.query(sql, p), sql);
    } finally {
      await shard.close();
      ref.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: concurrent pushes and queries', () => {
  let c: Ctx;
  before(async () => {
    c = await setup([ORDERS], { orders: { timeColumn: 'created' } });
  });
  after(() => teardown(c));

  it('every query sees all versions (files + delta) while pushes land', async () => {
    const info = c.catalog.get('orders');
    const all = ordersWorkload(info, 99, 4000);
    c.source.add(all);
    await c.ref.load(info, all);
    const q = 'SELECT count(*) AS n, sum(amount) AS s, count(DISTINCT status) AS st FROM orders';
    const hq = 'SELECT count(*) AS n FROM orders__history';
    const want = show(await c.ref.query(q));
    const wantH = show(await c.ref.query(hq));
    const cuts = [0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1].map(
      (f) => (all[Math.min(all.length - 1, Math.floor(all.length * f))] as VersionRecord).commitTs,
    );
    const pushes = (async () => {
      let from = -1;
      for (const to of cuts) {
        await pushRange(c, 'orders', all, from, to);
        from = to;
      }
    })();
    const queries = Array.from({ length: 40 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 5));
      assert.equal(show(await c.shard.query(q, [], c.catalog.version)), want);
      assert.equal(show(await c.shard.query(hq, [], c.catalog.version)), wantH);
    });
    await Promise.all([pushes, ...queries]);
    assert.equal(c.shard.stats().tables.orders?.deltaRows, 0);
    assert.equal(show(await c.shard.query(q, [], c.catalog.version)), want);
  });
});
