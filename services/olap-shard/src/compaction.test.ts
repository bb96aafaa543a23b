/**
 * Compaction against real DuckDB and real files: small files of a partition merge into sorted
 * large ones, history retention drops only versions no read at or after the horizon can see,
 * queries running across compactions keep their answers, a trickle load keeps file counts
 * bounded, and a crash at any step leaves the old or the new file set. Every answer is compared
 * with a separate DuckDB holding the same versions loaded directly (test-support `Reference`).
 */
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catalog, Literal, TableDef, TableInfo, TableOptions, VersionRecord } from '@stratum/shared';
import { FileLeases } from './compaction.ts';
import { type OlapShard, type OlapShardOptions, startOlapShard } from './index.ts';
import type { Manifest } from './manifest.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, rng, tempDir, Versions } from './test-support.ts';

const COLUMNS: TableDef['columns'] = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'qty', type: 'integer', notNull: true },
  { name: 'label', type: 'text', notNull: false },
  { name: 'seen', type: 'timestamp', notNull: true },
];
/** Partitioned by commit time. */
const ITEMS: TableDef = { name: 'items', columns: COLUMNS, primaryKey: ['id'] };
/** Partitioned by `seen` (time_column): versions of one key may sit in several day partitions. */
const READINGS: TableDef = { name: 'readings', columns: COLUMNS, primaryKey: ['id'] };
/** Append-only: every version is a row, so history retention drops nothing. */
const LOGS: TableDef = { name: 'logs', columns: COLUMNS, primaryKey: ['id'] };

const T0 = Date.UTC(2024, 4, 1);
const DAY = 86_400_000;
const SOURCE = 'i1';

/**
 * A seeded workload: `n` versions, one every `stepMs` of commit time from `start`, over `keys`
 * keys (inserts, updates, deletes, re-inserts, same-millisecond writes from two engines); `seen`
 * falls on one of `days` days from T0.
 */
function workload(info: TableInfo, seed: number, n: number, start: number, stepMs: number, keys: number, days: number): VersionRecord[] {
  const r = rng(seed);
  const vb = new Versions(info);
  const alive = new Set<number>();
  const out: VersionRecord[] = [];
  for (let i = 0; i < n; i++) {
    const ts = start + i * stepMs;
    const id = Math.floor(r() * keys);
    const engine = r() < 0.5 ? 'e1' : 'e2';
    const row = () => ({
      id,
      qty: Math.floor(r() * 100),
      label: r() < 0.2 ? null : `l${Math.floor(r() * 9)}`,
      seen: BigInt(T0 + Math.floor(r() * days) * DAY + Math.floor(r() * DAY)) * 1000n,
    });
    if (!alive.has(id)) {
      alive.add(id);
      out.push(vb.make('insert', [id], row(), ts, engine));
    } else if (r() < 0.15) {
      alive.delete(id);
      out.push(vb.make('delete', [id], null, ts, engine));
    } else {
      out.push(vb.make('update', [id], row(), ts, engine));
      if (r() < 0.05) out.push(vb.make('update', [id], row(), ts, engine === 'e1' ? 'e2' : 'e1'));
    }
  }
  return out;
}

const QUERIES = (t: string): string[] => [
  `SELECT * FROM ${t} ORDER BY ALL`,
  `SELECT label, count(*) AS n, sum(qty) AS s, min(seen) AS a FROM ${t} GROUP BY label ORDER BY label`,
  `SELECT * FROM ${t}__history ORDER BY _version`,
  `SELECT _op, count(*) AS n FROM ${t}__history GROUP BY _op ORDER BY _op`,
];

interface Ctx {
  dir: string;
  catalog: Catalog;
  shard: OlapShard;
  ref: Reference;
  logs: { msg: string; fields?: object }[];
  open(extra?: Partial<OlapShardOptions>): Promise<OlapShard>;
}

async function setup(options: Record<string, Partial<TableOptions>>, extra: Partial<OlapShardOptions>): Promise<Ctx> {
  const dir = await tempDir('olap-compaction-');
  const catalog = makeCatalog([ITEMS, READINGS, LOGS], { readings: { timeColumn: 'seen' }, logs: { appendOnly: true }, ...options });
  const logs: Ctx['logs'] = [];
  const open = (more: Partial<OlapShardOptions> = {}) =>
    startOlapShard({
      id: 'k1',
      dir,
      catalog,
      deltaSources: [{ id: SOURCE, api: new ArraySource() }],
      deltaPollMs: 0,
      compactionIntervalMs: 0,
      log: (msg, fields) => logs.push(fields === undefined ? { msg } : { msg, fields }),
      ...extra,
      ...more,
    });
  return { dir, catalog, shard: await open(), ref: await Reference.create(), logs, open };
}

async function teardown(c: Ctx): Promise<void> {
  await c.shard.close();
  c.ref.close();
  await removeDir(c.dir);
}

/** Push the versions with commitTs in (from, to] as one push. */
function push(shard: OlapShard, table: string, all: VersionRecord[], from: number, to: number) {
  return shard.push({ source: SOURCE, table, fromTs: from, toTs: to, versions: all.filter((v) => v.commitTs > from && v.commitTs <= to) });
}

/** Push `all` (sorted by commitTs) in pushes of `per` versions each; returns the last toTs. */
async function pushInSmallBatches(shard: OlapShard, table: string, all: VersionRecord[], per: number, from = -1): Promise<number> {
  let w = from;
  for (let i = 0; i < all.length; i += per) {
    const to = (all[Math.min(i + per, all.length) - 1] as VersionRecord).commitTs;
    if (to <= w) continue;
    await push(shard, table, all, w, to);
    w = to;
  }
  return w;
}

async function same(c: Ctx, shard: OlapShard, sql: string, params: Literal[] = []): Promise<void> {
  assertSameResult(await shard.query(sql, params, c.catalog.version), await c.ref.query(sql, params), sql);
}

async function readManifestFile(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Every `.parquet` file under the shard's table folders (relative, `/`-separated). */
async function parquetOnDisk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!e.name.startsWith('.')) await walk(p);
      } else if (e.name.endsWith('.parquet') || e.name.endsWith('.parquet.tmp')) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Live files per partition of `table`. */
function filesPerDay(m: Manifest, table: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of m.tables[table]?.files ?? []) out.set(f.partition, (out.get(f.partition) ?? 0) + 1);
  return out;
}

describe('compaction: small files merge into sorted large files', () => {
  let c: Ctx;
  let all: VersionRecord[];
  before(async () => {
    c = await setup({}, { compactionMinFiles: 4, targetFileRows: 120 });
    // 600 versions over 3 days of commit time, pushed 10 at a time: ~20 files per day.
    all = workload(c.catalog.get('items'), 7, 600, T0, (3 * DAY) / 600, 80, 3);
    await pushInSmallBatches(c.shard, 'items', all, 10);
    await c.ref.load(c.catalog.get('items'), all);
  });
  after(() => teardown(c));

  it('answers the same before and after, with fewer, time-sorted files of up to targetFileRows rows', async () => {
    const before = await readManifestFile(c.dir);
    assert.ok((before.tables.items?.files.length ?? 0) >= 50);
    for (const q of QUERIES('items')) await same(c, c.shard, q);

    const report = await c.shard.compactNow();
    // One run of small files in time order (3 days, one month partition), merged in steps of at
    // most 2 × targetFileRows rows.
    assert.ok(report.partitions.length >= 2, `${report.partitions.length} compactions`);
    const m = await readManifestFile(c.dir);
    const files = m.tables.items?.files ?? [];
    assert.equal(
      files.reduce((s, f) => s + f.rows, 0),
      all.length,
      'no retention: every version is kept',
    );
    assert.ok(files.length <= Math.ceil(all.length / 120) + report.partitions.length, `${files.length} files`);
    for (const f of files) assert.ok(f.rows <= 120, `${f.path} has ${f.rows} rows`);
    for (const q of QUERIES('items')) await same(c, c.shard, q);

    // Replaced files are gone from disk (no query was running); the disk holds exactly the manifest.
    assert.deepEqual(await parquetOnDisk(c.dir), files.map((f) => f.path).sort());
    const stats = c.shard.stats();
    assert.equal(stats.compaction.compactions, report.partitions.length);
    // Every file went into a compaction but for a last run shorter than minFiles.
    assert.ok(stats.compaction.filesIn >= (before.tables.items?.files.length ?? 0) - 4, `${stats.compaction.filesIn} files in`);
    // Outputs of a step may go into a later step of the same run; a short last run stays as pushed.
    assert.ok(stats.compaction.filesOut > 0 && files.length < (before.tables.items?.files.length ?? 0));
    assert.equal(stats.compaction.retiredPending, 0);
    assert.ok(c.logs.some((l) => l.msg === 'compacted'));

    // Each output: sorted by (time = commit time here, id, _ts, _engine, version halves), zone maps equal DuckDB's aggregates,
    // and the same Parquet encoding as a push file (column types, ZSTD).
    for (const f of files) {
      const abs = join(c.dir, f.path);
      const r = await c.ref.query(
        `SELECT count(*) FILTER (WHERE pos <> sorted) AS unsorted, count(*) AS n, min(id) AS mn, max(id) AS mx,
                epoch_ms(min(_ts)) AS tsmin, epoch_ms(max(_ts)) AS tsmax, count(*) FILTER (WHERE _op = 'delete') AS del
         FROM (SELECT file_row_number AS pos, row_number() OVER (ORDER BY _ts, id, _engine, _version_hi, _version_lo) - 1 AS sorted, *
               FROM read_parquet('${abs}', file_row_number = true))`,
      );
      const row = r.rows[0] as unknown[];
      assert.equal(Number(row[0]), 0, `${f.path} is not sorted by time, then key`);
      assert.deepEqual(
        [Number(row[1]), Number(row[2]), Number(row[3]), Number(row[4]), Number(row[5]), Number(row[6])],
        [f.rows, f.columns.id?.min, f.columns.id?.max, f.tsMin, f.tsMax, f.ops.delete],
        `${f.path} zone map`,
      );
    }
    const schemaOf = async (abs: string) =>
      (await c.ref.query(`SELECT name, type, converted_type, logical_type FROM parquet_schema('${abs}') ORDER BY name`)).rows;
    const codecs = async (abs: string) =>
      (await c.ref.query(`SELECT DISTINCT compression FROM parquet_metadata('${abs}')`)).rows.map((x) => (x as unknown[])[0]);
    // The first push file is gone now; compare with a fresh push file.
    const extra = workload(c.catalog.get('items'), 8, 5, T0 + 4 * DAY, 1000, 80, 1).map((v) => ({ ...v, table: 'items' }));
    await push(c.shard, 'items', extra, (all.at(-1) as VersionRecord).commitTs, T0 + 5 * DAY);
    const m2 = await readManifestFile(c.dir);
    const fresh = m2.tables.items?.files.at(-1)?.path as string;
    assert.deepEqual(await schemaOf(join(c.dir, (files[0] as { path: string }).path)), await schemaOf(join(c.dir, fresh)));
    assert.deepEqual(await codecs(join(c.dir, (files[0] as { path: string }).path)), ['ZSTD']);
    assert.deepEqual(await codecs(join(c.dir, fresh)), ['ZSTD']);
  });

  it('does nothing when no run has minFiles small files', async () => {
    await c.shard.compactNow(); // the file pushed by the last test may complete a run
    const before = await readManifestFile(c.dir);
    const report = await c.shard.compactNow();
    assert.deepEqual(report.partitions, []);
    assert.deepEqual((await readManifestFile(c.dir)).tables.items?.files, before.tables.items?.files);
  });
});

describe('compaction: history retention', () => {
  let c: Ctx;
  let all: VersionRecord[] = []; // versions of the table the last test pushed (readings, after the first)
  const NOW = T0 + 10 * DAY;
  const now = NOW; // the shard's clock (moved by a later test)
  const RETENTION = 6 * DAY; // horizon: T0 + 4 days
  const HORIZON = NOW - RETENTION;
  before(async () => {
    c = await setup(
      {
        items: { historyRetentionMs: RETENTION },
        readings: { timeColumn: 'seen', historyRetentionMs: RETENTION },
        logs: { appendOnly: true, historyRetentionMs: RETENTION },
      },
      { compactionMinFiles: 3, targetFileRows: 10_000, now: () => now },
    );
  });
  after(() => teardown(c));

  /** Kept history versions as a reference table, so the reference can name what was dropped. */
  async function droppedNotAllowed(table: string): Promise<number> {
    const kept = await c.shard.query(`SELECT CAST(_version AS VARCHAR) AS v FROM ${table}__history`, [], c.catalog.version);
    await c.ref.conn.run(`CREATE OR REPLACE TABLE kept (v UUID)`);
    const values = kept.rows.map((r) => `('${(r as unknown[])[0]}')`);
    if (values.length > 0) await c.ref.conn.run(`INSERT INTO kept VALUES ${values.join(', ')}`);
    // A version may be gone only if superseded before the horizon, or a latest delete before it.
    const r = await c.ref.query(
      `SELECT count(*) FILTER (WHERE NOT (coalesce(succ < epoch_ms(${HORIZON}), false) OR (succ IS NULL AND _op = 'delete' AND _ts < epoch_ms(${HORIZON})))) AS bad,
              count(*) AS dropped
       FROM (SELECT *, lead(_ts) OVER (PARTITION BY id ORDER BY _ts, _engine, _version) AS succ FROM ${table}__history)
       WHERE _version NOT IN (SELECT v FROM kept)`,
    );
    const row = r.rows[0] as unknown[];
    assert.equal(Number(row[0]), 0, `${table}: a version was dropped that a read at or after the horizon can see`);
    return Number(row[1]);
  }

  /** Latest rows as of `asOf` (ms) from the history view, on both sides. */
  async function sameAsOf(table: string, asOf: number): Promise<void> {
    const sql = `SELECT id, qty, label, seen FROM ${table}__history WHERE _ts <= epoch_ms($1::BIGINT)
      QUALIFY row_number() OVER (PARTITION BY id ORDER BY _ts DESC, _engine DESC, _version DESC) = 1 AND _op <> 'delete' ORDER BY id`;
    await same(c, c.shard, sql, [BigInt(asOf)]);
  }

  it('drops versions superseded before the horizon and nothing a read at or after it can see', async () => {
    for (const table of ['items', 'readings']) {
      // 8 days of commit time, 4 before and 4 after the horizon, 40 keys updated over and over.
      all = workload(c.catalog.get(table), table === 'items' ? 21 : 22, 800, T0, (8 * DAY) / 800, 40, 8).map((v) => ({ ...v, table }));
      await pushInSmallBatches(c.shard, table, all, 20);
      await c.ref.load(c.catalog.get(table), all);
      const report = await c.shard.compactNow();
      assert.ok(
        report.partitions.some((p) => p.table === table && p.dropped > 0),
        `${table}: something was dropped`,
      );
      const dropped = await droppedNotAllowed(table);
      assert.ok(dropped > 0);
      assert.equal(
        dropped,
        report.partitions.filter((p) => p.table === table).reduce((s, p) => s + p.dropped, 0),
      );
      // The latest view is unchanged; time travel to any point at or after the horizon too.
      await same(c, c.shard, `SELECT * FROM ${table} ORDER BY id`);
      for (const asOf of [HORIZON, HORIZON + DAY / 3, T0 + 5 * DAY, T0 + 7 * DAY + 5, NOW]) await sameAsOf(table, asOf);
      // Every version committed at or after the horizon is still there.
      await same(c, c.shard, `SELECT * FROM ${table}__history WHERE _ts >= epoch_ms(${HORIZON}) ORDER BY _version`);
    }
  });

  it('drops nothing from an append-only table (every version is a row)', async () => {
    const info = c.catalog.get('logs');
    const logs = workload(info, 24, 300, T0, (8 * DAY) / 300, 20, 8).map((v) => ({ ...v, table: 'logs' }));
    await pushInSmallBatches(c.shard, 'logs', logs, 10);
    await c.ref.load(info, logs);
    const report = await c.shard.compactNow();
    const mine = report.partitions.filter((p) => p.table === 'logs');
    assert.ok(mine.length > 0);
    assert.equal(
      mine.reduce((s, p) => s + p.dropped, 0),
      0,
    );
    for (const q of QUERIES('logs')) await same(c, c.shard, q);
  });

  it('drops a tombstone only once no older version of its key remains in any file', async () => {
    // A shard of its own, day partitions, small target: key 1000 of readings is inserted with
    // `seen` on day 0 and deleted on day 8 (a tombstone carries no row: it goes to its commit
    // day), both before the horizon. A large file on day 4 splits the small files into two runs
    // (day 0 and day 8), so each run is compacted without the other's files.
    const now2 = T0 + 20 * DAY;
    const d = await setup(
      { readings: { timeColumn: 'seen', historyRetentionMs: RETENTION, partition: 'day' } },
      { compactionMinFiles: 3, targetFileRows: 20, now: () => now2 },
    );
    try {
      const horizon = now2 - RETENTION;
      const info = d.catalog.get('readings');
      const vb = new Versions(info);
      const base = T0 + 8 * DAY + 1000;
      const day0 = 'day=2024-05-01';
      const day8 = 'day=2024-05-09';
      let mine: VersionRecord[] = [];
      let w = -1;
      const pushEach = async (vs: VersionRecord[]) => {
        for (const v of vs) {
          if (v.commitTs > w) await push(d.shard, 'readings', vs, w, v.commitTs);
          w = Math.max(w, v.commitTs);
        }
        mine = [...mine, ...vs];
        await d.ref.load(info, mine);
      };
      let fillerId = 2000;
      let ts = base + 2000;
      const filler = (n: number, day: number) =>
        Array.from({ length: n }, () => {
          const id = fillerId++;
          return vb.make('insert', [id], { id, qty: id, label: null, seen: BigInt(T0 + day * DAY + 7200_000) * 1000n }, (ts += 1000));
        });
      const key1000 = 'SELECT _op, _ts FROM readings__history WHERE id = 1000 ORDER BY _ts';

      // 0. The insert (day 0), then 25 rows of day 4 in one push: a large file.
      await pushEach([vb.make('insert', [1000], { id: 1000, qty: 1, label: 'old', seen: BigInt(T0 + 3600_000) * 1000n }, base)]);
      const large = filler(25, 4);
      await push(d.shard, 'readings', large, w, (large.at(-1) as VersionRecord).commitTs);
      w = (large.at(-1) as VersionRecord).commitTs;
      mine = [...mine, ...large];

      // 1. Day 8 has enough small files, day 0 does not: the tombstone must stay, or the insert
      //    in day 0 would come back.
      await pushEach([vb.make('delete', [1000], null, (ts += 1000)), ...filler(4, 8)]);
      assert.ok(ts < horizon);
      let r = await d.shard.compactNow();
      assert.ok(r.partitions.some((p) => p.table === 'readings' && p.partition === day8));
      assert.ok(!r.partitions.some((p) => p.table === 'readings' && p.partition === day0));
      await same(d, d.shard, 'SELECT * FROM readings ORDER BY id');
      await same(d, d.shard, key1000);

      // 2. Day 0 gets compacted: the insert (superseded before the horizon) goes, the tombstone stays.
      await pushEach(filler(3, 0));
      r = await d.shard.compactNow();
      assert.ok(r.partitions.some((p) => p.table === 'readings' && p.partition === day0));
      await same(d, d.shard, 'SELECT * FROM readings ORDER BY id');
      const left = await d.shard.query(key1000, [], d.catalog.version);
      assert.deepEqual(
        left.rows.map((x) => (x as unknown[])[0]),
        ['delete'],
      );

      // 3. Day 8 again: nothing older remains anywhere, so the tombstone goes too.
      await pushEach(filler(3, 8));
      r = await d.shard.compactNow();
      assert.ok(r.partitions.some((p) => p.table === 'readings' && p.partition === day8));
      await same(d, d.shard, 'SELECT * FROM readings ORDER BY id');
      assert.equal((await d.shard.query(key1000, [], d.catalog.version)).rows.length, 0);
      await d.ref.load(info, mine);
      for (const asOf of [horizon, now2]) {
        const sql = `SELECT id, qty, label, seen FROM readings__history WHERE _ts <= epoch_ms($1::BIGINT)
          QUALIFY row_number() OVER (PARTITION BY id ORDER BY _ts DESC, _engine DESC, _version DESC) = 1 AND _op <> 'delete' ORDER BY id`;
        await same(d, d.shard, sql, [BigInt(asOf)]);
      }
    } finally {
      await teardown(d);
    }
  });
});

describe('compaction: queries running across compactions', () => {
  let c: Ctx;
  before(async () => {
    c = await setup({}, { compactionMinFiles: 3, targetFileRows: 150, queryConnections: 4 });
  });
  after(() => teardown(c));

  it('every concurrent query equals the reference while partitions are compacted again and again', async (t) => {
    const info = c.catalog.get('readings');
    const all = workload(info, 31, 1200, T0, 60_000, 150, 4).map((v) => ({ ...v, table: 'readings' }));
    let w = -1;
    let queries = 0;
    let crossed = 0; // queries during which a compaction was published (reported, not asserted)
    let sawSwap = 0;
    for (let round = 0; round < 8; round++) {
      // New small files, then compaction while queries run.
      const part = all.slice(round * 150, round * 150 + 150);
      w = await pushInSmallBatches(c.shard, 'readings', part, 15, w);
      const upto = all.filter((v) => v.commitTs <= w);
      await c.ref.load(info, upto);
      const qs = QUERIES('readings');
      const wants = await Promise.all(qs.map((q) => c.ref.query(q)));
      let done = false;
      const gen0 = (await readManifestFile(c.dir)).generation;
      const loops = Array.from({ length: 4 }, async (_, k) => {
        let i = k;
        // Keep querying until compaction has finished (and at least a few queries each).
        while (!done || i < k + 4) {
          const q = qs[i % qs.length] as string;
          const before = c.shard.stats().compaction.compactions;
          assertSameResult(await c.shard.query(q, [], c.catalog.version), wants[i % qs.length] as never, q);
          if (c.shard.stats().compaction.compactions !== before) crossed++;
          queries++;
          i++;
        }
      });
      const report = await c.shard.compactNow().finally(() => {
        done = true;
      });
      await Promise.all(loops);
      if ((await readManifestFile(c.dir)).generation > gen0) sawSwap++;
      assert.ok(report.partitions.length > 0, `round ${round} compacted something`);
    }
    assert.ok(sawSwap >= 8 && queries > 100, `${queries} queries across ${sawSwap} compaction rounds`);
    t.diagnostic(`${queries} queries, ${crossed} of them running while a compaction was published`);
    const st = c.shard.stats();
    assert.equal(st.compaction.errors, 0);
    await c.shard.compactNow(); // nothing running: every replaced file is deleted
    const m = await readManifestFile(c.dir);
    assert.deepEqual(await parquetOnDisk(c.dir), (m.tables.readings?.files ?? []).map((f) => f.path).sort());
  });
});

describe('compaction: deferred deletion of replaced files', () => {
  it('keeps a retired file until every operation pinned before its retirement has finished', async () => {
    const dir = await tempDir('olap-leases-');
    try {
      for (const n of ['a', 'b', 'c']) await writeFile(join(dir, n), n);
      const leases = new FileLeases(async (paths) => {
        await Promise.all(paths.map((p) => import('node:fs/promises').then((fs) => fs.rm(join(dir, p)))));
      });
      const q1 = leases.pin(); // a query planned against the old manifest
      leases.retire(['a']);
      const q2 = leases.pin(); // started after the swap: cannot see 'a'
      await leases.sweep();
      assert.deepEqual((await readdir(dir)).sort(), ['a', 'b', 'c']);
      assert.equal(leases.pending(), 1);
      q2();
      await leases.sweep();
      assert.deepEqual((await readdir(dir)).sort(), ['a', 'b', 'c'], 'q1 still runs');
      leases.retire(['b']);
      q1();
      q1(); // idempotent
      await leases.sweep();
      assert.deepEqual((await readdir(dir)).sort(), ['c']);
      assert.equal(leases.pending(), 0);
    } finally {
      await removeDir(dir);
    }
  });
});

describe('compaction: trickle load of one row per push', () => {
  const MIN_FILES = 4;
  const EVERY = 5; // compactNow every 5 pushes: a 5 s interval at one row per second

  it('keeps the live files of every partition at most minFiles + one interval of pushes, with equal answers', async (t) => {
    const c = await setup({}, { compactionMinFiles: MIN_FILES, targetFileRows: 1000 });
    try {
      const info = c.catalog.get('readings');
      // 450 single-row pushes one second apart, `seen` spread over 3 days, 120 keys (updates too).
      const all = workload(info, 41, 450, T0, 1000, 120, 3).map((v) => ({ ...v, table: 'readings' }));
      let w = -1;
      let maxPerDay = 0;
      let pushes = 0;
      for (const v of all) {
        if (v.commitTs <= w) continue; // a same-millisecond pair goes in the previous push
        await push(c.shard, 'readings', all, w, v.commitTs);
        w = v.commitTs;
        pushes++;
        if (pushes % EVERY === 0) await c.shard.compactNow();
        const per = filesPerDay(await readManifestFile(c.dir), 'readings');
        for (const n of per.values()) maxPerDay = Math.max(maxPerDay, n);
        if (pushes % 75 === 0) {
          await c.ref.load(
            info,
            all.filter((x) => x.commitTs <= w),
          );
          for (const q of QUERIES('readings')) await same(c, c.shard, q);
        }
      }
      assert.ok(pushes >= 400);
      assert.ok(maxPerDay <= MIN_FILES + EVERY, `a partition reached ${maxPerDay} files`);
      t.diagnostic(`${pushes} single-row pushes: at most ${maxPerDay} live files in a partition`);
      await c.ref.load(info, all);
      for (const q of QUERIES('readings')) await same(c, c.shard, q);
      const st = c.shard.stats();
      assert.ok(st.compaction.compactions > 50, `${st.compaction.compactions} compactions`);
      assert.ok((st.tables.readings?.files ?? 0) <= 3 * (MIN_FILES + EVERY));
    } finally {
      await teardown(c);
    }
  });

  it('the background compactor brings a partition below minFiles on its own', async () => {
    const c = await setup({}, { compactionMinFiles: MIN_FILES, targetFileRows: 1000, compactionIntervalMs: 20 });
    try {
      const info = c.catalog.get('items');
      const all = workload(info, 43, 60, T0, 1000, 30, 1);
      let w = -1;
      for (const v of all) {
        if (v.commitTs <= w) continue;
        await push(c.shard, 'items', all, w, v.commitTs);
        w = v.commitTs;
      }
      // Wait (bounded) until the background runs have caught up; no timing is asserted.
      for (let i = 0; i < 500 && (c.shard.stats().tables.items?.files ?? 0) >= MIN_FILES; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok((c.shard.stats().tables.items?.files ?? 0) < MIN_FILES, `${c.shard.stats().tables.items?.files} files left`);
      await c.ref.load(info, all);
      for (const q of QUERIES('items')) await same(c, c.shard, q);
    } finally {
      await teardown(c);
    }
  });
});

describe('compaction: crash at any point leaves the old or the new file set', () => {
  let c: Ctx;
  let all: VersionRecord[];
  before(async () => {
    c = await setup({}, { compactionMinFiles: 3, targetFileRows: 1000 });
    all = workload(c.catalog.get('items'), 51, 200, T0, (2 * DAY) / 200, 50, 2);
    await pushInSmallBatches(c.shard, 'items', all, 20);
    await c.ref.load(c.catalog.get('items'), all);
  });
  after(() => teardown(c));

  it('restarts on the old set (outputs removed) or the new set (inputs removed), answering the same', async () => {
    await c.shard.close();
    const oldManifest = await readFile(join(c.dir, 'manifest.json'));
    const oldFiles = await parquetOnDisk(c.dir);
    const saved = join(c.dir, '.spill');
    for (const f of oldFiles) await copyFile(join(c.dir, f), join(saved, f.replaceAll('/', '_')));
    c.shard = await c.open();
    await c.shard.compactNow();
    await c.shard.close();
    const newFiles = await parquetOnDisk(c.dir);
    assert.ok(newFiles.length < oldFiles.length);

    // Crash after the manifest swap, before the inputs were deleted: the inputs are orphans.
    for (const f of oldFiles) await copyFile(join(saved, f.replaceAll('/', '_')), join(c.dir, f));
    c.shard = await c.open();
    assert.deepEqual(await parquetOnDisk(c.dir), newFiles);
    for (const q of QUERIES('items')) await same(c, c.shard, q);
    await c.shard.close();

    // Crash after writing the outputs, before the manifest swap: the old manifest names the
    // inputs, the outputs are orphans (a leftover .tmp too).
    for (const f of oldFiles) await copyFile(join(saved, f.replaceAll('/', '_')), join(c.dir, f));
    await writeFile(join(c.dir, 'manifest.json'), oldManifest);
    await writeFile(join(c.dir, `${newFiles[0]}.tmp`), 'partial');
    c.shard = await c.open();
    assert.deepEqual(await parquetOnDisk(c.dir), oldFiles);
    for (const q of QUERIES('items')) await same(c, c.shard, q);
  });
});
