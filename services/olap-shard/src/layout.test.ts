/**
 * File layout and dedupe-free reads against real DuckDB and real files (layout.ts, manifest
 * `uniqueKeys`, sql.ts `filesLatestSql`): time partitions of each granularity, compaction
 * across partitions, files that skip the latest-version dedupe, `count(*)` from the manifest,
 * and the upgrade of a format-3 manifest. Every answer is compared with a separate DuckDB
 * holding the same versions loaded directly (test-support `Reference`).
 */
import assert from 'node:assert/strict';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog, TableDef, TableOptions, VersionRecord } from '@stratum/shared';
import { type OlapShard, type OlapShardOptions, startOlapShard } from './index.ts';
import { MANIFEST_FORMAT, type Manifest } from './manifest.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, rng, tempDir, Versions } from './test-support.ts';

const COLUMNS: TableDef['columns'] = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'qty', type: 'integer', notNull: true },
  { name: 'seen', type: 'timestamp', notNull: true },
];
const T0 = Date.UTC(2024, 4, 1);
const DAY = 86_400_000;
const SOURCE = 'i1';

interface Ctx {
  dir: string;
  catalog: Catalog;
  shard: OlapShard;
  ref: Reference;
  open(): Promise<OlapShard>;
}

/** A shard over tables `names` (the columns above, key `id`, time column `seen`) with their options. */
async function setup(tables: Record<string, Partial<TableOptions>>, extra: Partial<OlapShardOptions> = {}): Promise<Ctx> {
  const dir = await tempDir('olap-layout-');
  const defs = Object.keys(tables).map((name) => ({ name, columns: COLUMNS, primaryKey: ['id'] }));
  const catalog = makeCatalog(defs, Object.fromEntries(Object.entries(tables).map(([n, o]) => [n, { timeColumn: 'seen', ...o }])));
  const open = () =>
    startOlapShard({
      id: 'l1',
      dir,
      catalog,
      deltaSources: [{ id: SOURCE, api: new ArraySource() }],
      deltaPollMs: 0,
      compactionIntervalMs: 0,
      ...extra,
    });
  return { dir, catalog, shard: await open(), ref: await Reference.create(), open };
}

async function teardown(c: Ctx): Promise<void> {
  await c.shard.close();
  c.ref.close();
  await removeDir(c.dir);
}

async function manifestOf(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Inserts of keys `from` … `from + n - 1`, `seen` spread over `days` days, committed one per ms from `ts`. */
function inserts(vb: Versions, seed: number, from: number, n: number, days: number, ts: number): VersionRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) =>
    vb.make(
      'insert',
      [from + i],
      { id: from + i, qty: Math.floor(r() * 100), seen: BigInt(T0 + Math.floor(r() * days) * DAY + Math.floor(r() * DAY)) * 1000n },
      ts + i,
    ),
  );
}

/** How many `id`s occur more than once over the Parquet files `paths` (quoted SQL literals), by an independent DuckDB. */
async function keysHeldTwice(paths: string[]): Promise<unknown> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const dup = await conn.runAndReadAll(
      `SELECT count(*) FROM (SELECT id FROM read_parquet([${paths.join(', ')}]) GROUP BY id HAVING count(*) > 1)`,
    );
    return dup.getRows()[0]?.[0];
  } finally {
    conn.disconnectSync();
    db.closeSync();
  }
}

async function same(c: Ctx, sql: string): Promise<void> {
  assertSameResult(await c.shard.query(sql, [], c.catalog.version), await c.ref.query(sql), sql);
}

const QUERIES = (t: string): string[] => [
  `SELECT * FROM ${t} ORDER BY id`,
  `SELECT count(*) FROM ${t}`,
  `SELECT qty % 7 AS k, count(*) AS n, sum(qty) AS s, min(seen) AS a FROM ${t} GROUP BY 1 ORDER BY 1`,
  `SELECT count(*), sum(qty) FROM ${t} WHERE seen >= TIMESTAMP '2024-05-10' AND seen < TIMESTAMP '2024-05-11'`,
  `SELECT * FROM ${t} WHERE id BETWEEN 100 AND 140 ORDER BY id`,
  `SELECT * FROM ${t}__history ORDER BY _version`,
];

describe('olap shard: time partitions', () => {
  it('day, month and none: one file per partition a push touches, rows sorted by time then key', async () => {
    const c = await setup({ d: { partition: 'day' }, m: { partition: 'month' }, n: { partition: 'none' }, dflt: {} });
    try {
      for (const t of ['d', 'm', 'n', 'dflt']) {
        const info = c.catalog.get(t);
        // 70 days of `seen`: May, June and the start of July.
        const vs = inserts(new Versions(info), 1, 0, 2000, 70, T0).map((v) => ({ ...v, table: t }));
        await c.shard.push({ source: SOURCE, table: t, fromTs: -1, toTs: T0 + 5000, versions: vs });
        await c.ref.load(info, vs);
        for (const q of QUERIES(t)) await same(c, q);
      }
      const m = await manifestOf(c.dir);
      const labels = (t: string) => [...new Set(m.tables[t]?.files.map((f) => f.partition))].sort();
      assert.equal(labels('d').length, 70);
      assert.ok(labels('d').every((l) => /^day=2024-0[5-7]-\d\d$/.test(l)));
      assert.deepEqual(labels('m'), ['month=2024-05', 'month=2024-06', 'month=2024-07']);
      assert.deepEqual(labels('n'), ['all']);
      // The default granularity is month.
      assert.deepEqual(labels('dflt'), labels('m'));
      for (const t of ['d', 'm', 'n']) {
        for (const f of m.tables[t]?.files ?? []) {
          assert.ok(f.path.startsWith(`${t}/${f.partition}/part-`), f.path);
          const r = await c.ref.conn.runAndReadAll(
            `SELECT count(*) FROM (SELECT file_row_number AS pos, row_number() OVER (ORDER BY seen, id, _ts, _engine, _version_hi, _version_lo) - 1 AS want
             FROM read_parquet('${join(c.dir, f.path)}', file_row_number = true)) WHERE pos <> want`,
          );
          assert.equal(r.getRows()[0]?.[0], 0n, `${f.path} is sorted by time, then key`);
        }
      }
    } finally {
      await teardown(c);
    }
  });

  it('compaction merges small files across day partitions into time-sorted files of up to targetFileRows rows', async () => {
    const c = await setup({ d: { partition: 'day' } }, { compactionMinFiles: 4, targetFileRows: 500 });
    try {
      const info = c.catalog.get('d');
      const vb = new Versions(info);
      // 40 pushes of 30 inserts each, `seen` over 40 days: ~30 small files per push.
      let all: VersionRecord[] = [];
      let w = -1;
      for (let p = 0; p < 40; p++) {
        const vs = inserts(vb, 10 + p, p * 30, 30, 40, T0 + p * 1000);
        await c.shard.push({ source: SOURCE, table: 'd', fromTs: w, toTs: T0 + p * 1000 + 999, versions: vs });
        w = T0 + p * 1000 + 999;
        all = [...all, ...vs];
      }
      await c.ref.load(info, all);
      const before = (await manifestOf(c.dir)).tables.d?.files.length ?? 0;
      assert.ok(before > 200, `${before} files before`);
      const report = await c.shard.compactNow();
      const files = (await manifestOf(c.dir)).tables.d?.files ?? [];
      assert.ok(files.length <= Math.ceil(all.length / 500) + report.partitions.length, `${files.length} files after`);
      assert.ok(
        report.partitions.some((p) => p.partition.includes('..')),
        'a compaction spans several partitions',
      );
      for (const f of files) assert.ok(f.rows <= 500, `${f.path}: ${f.rows} rows`);
      for (const q of QUERIES('d')) await same(c, q);
      // Time pruning stays: a one-day query opens the files whose time range holds that day.
      const oneDay = await c.shard.query(QUERIES('d')[3] as string, [], c.catalog.version);
      assert.ok((oneDay.scan?.filesOpened ?? 0) <= 2, `${oneDay.scan?.filesOpened} files opened`);
    } finally {
      await teardown(c);
    }
  });
});

describe('olap shard: files that skip the latest-version dedupe (uniqueKeys)', () => {
  it('inserts of new keys are flagged; updates dedupe only their keys; compaction flags the result; count(*) comes from the manifest', async () => {
    const c = await setup({ u: {} }, { compactionMinFiles: 2, targetFileRows: 100_000 });
    try {
      const info = c.catalog.get('u');
      const vb = new Versions(info);
      let all = inserts(vb, 3, 0, 3000, 20, T0);
      let w = T0 + 2999;
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: -1, toTs: T0 + 1499, versions: all.slice(0, 1500) });
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: T0 + 1499, toTs: w, versions: all.slice(1500) });
      await c.ref.load(info, all);
      let m = await manifestOf(c.dir);
      assert.ok(m.tables.u?.files.every((f) => f.uniqueKeys === true));
      for (const q of QUERIES('u')) await same(c, q);
      const counted = await c.shard.query('SELECT count(*) AS n FROM u', [], c.catalog.version);
      assert.equal(counted.scan?.filesOpened, 0, 'count(*) answered from the manifest');
      assert.equal(counted.columns[0]?.name, 'n');
      const explained = await c.shard.query('EXPLAIN SELECT count(*) FROM u', [], c.catalog.version);
      assert.notEqual(explained.columns[0]?.name, 'count_star()', 'EXPLAIN is not answered as a count');

      // 1 %, then 10 % of the keys updated (and a few deleted): those files are not flagged.
      const r = rng(9);
      for (const share of [0.01, 0.1]) {
        const keys = [...new Set(Array.from({ length: Math.round(3000 * share) }, () => Math.floor(r() * 3000)))];
        const vs = keys.map((k, i) =>
          i % 10 === 9
            ? vb.make('delete', [k], null, w + 1 + i)
            : vb.make('update', [k], { id: k, qty: 1000 + i, seen: BigInt(T0 + (i % 20) * DAY) * 1000n }, w + 1 + i),
        );
        await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: w + keys.length, versions: vs });
        w += keys.length;
        all = [...all, ...vs];
        await c.ref.load(info, all);
        m = await manifestOf(c.dir);
        assert.equal(m.tables.u?.files.at(-1)?.uniqueKeys, undefined);
        // count(*) is among QUERIES: from the manifest or from DuckDB, it matches the reference.
        for (const q of QUERIES('u')) await same(c, q);
      }

      // Compaction keeps every version (no history retention): the output holds several versions
      // of the updated keys, so it is not flagged, and answers stay.
      await c.shard.compactNow();
      assert.ok(((await manifestOf(c.dir)).tables.u?.files ?? []).some((f) => f.uniqueKeys !== true));
      for (const q of QUERIES('u')) await same(c, q);
    } finally {
      await teardown(c);
    }
  });

  it('compaction of insert-only files keeps them flagged; a re-inserted key is never flagged twice', async () => {
    const c = await setup({ u: { historyRetentionMs: 1 } }, { compactionMinFiles: 2, targetFileRows: 100_000, now: () => T0 + 100 * DAY });
    try {
      const info = c.catalog.get('u');
      const vb = new Versions(info);
      let all: VersionRecord[] = [];
      let w = -1;
      const pushAll = async (vs: VersionRecord[]) => {
        const to = Math.max(...vs.map((v) => v.commitTs));
        await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: to, versions: vs });
        w = to;
        all = [...all, ...vs];
        await c.ref.load(info, all);
      };
      await pushAll(inserts(vb, 4, 0, 500, 5, T0));
      await pushAll(inserts(vb, 5, 500, 500, 5, T0 + 1000));
      // Key 7: updated, then deleted, then inserted again in an insert-only push.
      await pushAll([vb.make('update', [7], { id: 7, qty: 1, seen: BigInt(T0) * 1000n }, T0 + 2000)]);
      await pushAll([vb.make('delete', [7], null, T0 + 2001)]);
      await pushAll([vb.make('insert', [7], { id: 7, qty: 2, seen: BigInt(T0) * 1000n }, T0 + 2002)]);
      const m = await manifestOf(c.dir);
      assert.equal(m.tables.u?.files.at(-1)?.uniqueKeys, undefined, 'key 7 is in a flagged file already');
      for (const q of QUERIES('u')) await same(c, q);
      // Retention (1 ms, clock far ahead) leaves one version per key: the compacted output is flagged.
      await c.shard.compactNow();
      const after = await manifestOf(c.dir);
      assert.ok(after.tables.u?.files.every((f) => f.uniqueKeys === true));
      for (const q of QUERIES('u').filter((q) => !q.includes('__history'))) await same(c, q);
      const counted = await c.shard.query('SELECT count(*) FROM u', [], c.catalog.version);
      assert.equal(counted.scan?.filesOpened, 0);
    } finally {
      await teardown(c);
    }
  });

  it('a format-3 manifest (day, singleVersion) is upgraded on start', async () => {
    const c = await setup({ u: { partition: 'day' } });
    try {
      const info = c.catalog.get('u');
      const vs = inserts(new Versions(info), 6, 0, 300, 3, T0);
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: -1, toTs: T0 + 299, versions: vs });
      await c.ref.load(info, vs);
      await c.shard.close();
      // Rewrite it as format 3 wrote it: `day` instead of `partition`, one table-wide flag.
      const m = await manifestOf(c.dir);
      const old = {
        ...m,
        format: 3,
        tables: Object.fromEntries(
          Object.entries(m.tables).map(([k, t]) => [
            k,
            {
              ...t,
              singleVersion: true,
              files: t.files.map(({ partition, uniqueKeys: _, ...f }) => ({ ...f, day: partition.slice('day='.length) })),
            },
          ]),
        ),
      };
      await writeFile(join(c.dir, 'manifest.json'), JSON.stringify(old));
      c.shard = await c.open();
      for (const q of QUERIES('u')) await same(c, q);
      const counted = await c.shard.query('SELECT count(*) FROM u', [], c.catalog.version);
      assert.equal(counted.scan?.filesOpened, 0, 'the table-wide flag became per-file flags');
      // The next manifest written is the current format, with partitions.
      const more = inserts(new Versions(info), 7, 300, 10, 3, T0 + 1000);
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: T0 + 299, toTs: T0 + 1009, versions: more });
      const now = await manifestOf(c.dir);
      assert.equal(now.format, MANIFEST_FORMAT);
      assert.ok(now.tables.u?.files.every((f) => /^day=2024-05-0[1-3]$/.test(f.partition) && !('day' in f)));
      assert.ok(!('singleVersion' in (now.tables.u ?? {})));
    } finally {
      await teardown(c);
    }
  });

  it('files of a format-4 manifest (one UUID _version column) are read beside split files and rewritten by compaction', async () => {
    const c = await setup({ u: { partition: 'day' } }, { compactionMinFiles: 2, targetFileRows: 100_000 });
    try {
      const info = c.catalog.get('u');
      const vb = new Versions(info);
      const first = inserts(vb, 8, 0, 400, 3, T0);
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: -1, toTs: T0 + 399, versions: first });
      await c.shard.close();
      // Rewrite every file as format 4 wrote it: the version as one UUID column, no splitVersion.
      const m = await manifestOf(c.dir);
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      for (const f of m.tables.u?.files ?? []) {
        const abs = join(c.dir, f.path);
        await conn.run(
          `COPY (SELECT * EXCLUDE (_version_hi, _version_lo, _op, _engine), CAST(printf('%016x%016x', _version_hi, _version_lo) AS UUID) AS _version, _op, _engine
                 FROM read_parquet('${abs}')) TO '${abs}.old' (FORMAT parquet, COMPRESSION zstd)`,
        );
        await rename(`${abs}.old`, abs);
        f.bytes = (await stat(abs)).size;
        delete f.splitVersion;
      }
      const cols = await conn.runAndReadAll(`SELECT name FROM parquet_schema('${join(c.dir, m.tables.u?.files[0]?.path ?? '')}')`);
      assert.ok(cols.getRows().some(([n]) => n === '_version'));
      conn.disconnectSync();
      db.closeSync();
      await writeFile(join(c.dir, 'manifest.json'), JSON.stringify({ ...m, format: 4 }));
      c.shard = await c.open();
      // `<t>__latest` carries each key's latest `_version`, rebuilt from either form.
      const sameLatest = async () =>
        assertSameResult(
          await c.shard.query('SELECT id, qty, seen, _version, _ts FROM u__latest ORDER BY id', [], c.catalog.version),
          await c.ref.query(
            `SELECT id, qty, seen, _version, _ts FROM u__history
             QUALIFY row_number() OVER (PARTITION BY id ORDER BY _ts DESC, _engine DESC, _version DESC) = 1 AND _op <> 'delete' ORDER BY id`,
          ),
          'u__latest',
        );
      // Updates of old keys and new inserts land in split files; the latest version of a key may
      // be in either form.
      const r = rng(9);
      const later = [
        ...Array.from({ length: 60 }, (_, i) =>
          vb.make(
            'update',
            [i * 5],
            { id: i * 5, qty: 500 + Math.floor(r() * 100), seen: BigInt(T0 + (i % 3) * DAY) * 1000n },
            T0 + 1000 + i,
          ),
        ),
        ...Array.from({ length: 20 }, (_, i) => vb.make('delete', [i * 7 + 1], null, T0 + 1100 + i)),
        ...inserts(vb, 10, 400, 100, 3, T0 + 1200),
      ];
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: T0 + 399, toTs: T0 + 1299, versions: later });
      await c.ref.load(info, [...first, ...later]);
      const mixed = await manifestOf(c.dir);
      assert.equal(mixed.format, MANIFEST_FORMAT);
      const files = mixed.tables.u?.files ?? [];
      assert.ok(files.some((f) => f.splitVersion === true) && files.some((f) => f.splitVersion === undefined), 'both forms are live');
      for (const q of QUERIES('u')) await same(c, q);
      await sameLatest();
      // Compaction rewrites the old files with the version's halves.
      const report = await c.shard.compactNow();
      assert.ok(report.partitions.length > 0, 'compacted something');
      const after = await manifestOf(c.dir);
      assert.ok(after.tables.u?.files.every((f) => f.splitVersion === true));
      for (const q of QUERIES('u')) await same(c, q);
      await sameLatest();
    } finally {
      await teardown(c);
    }
  });

  it('updates of distinct keys are overlays: reads skip the dedupe among them; a push sharing a key with an overlay is not one', async () => {
    const c = await setup({ u: {}, v: {} }, { compactionMinFiles: 2, targetFileRows: 100_000 });
    try {
      const info = c.catalog.get('u');
      const vb = new Versions(info);
      let all = inserts(vb, 31, 0, 3000, 20, T0);
      let w = T0 + 2999;
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: -1, toTs: w, versions: all });
      /** Push updates (every tenth a delete) of `keys`, one per ms after the watermark; the last file's flags. */
      const update = async (keys: number[], tag: number) => {
        const vs = keys.map((k, i) =>
          i % 10 === 9
            ? vb.make('delete', [k], null, w + 1 + i)
            : vb.make('update', [k], { id: k, qty: tag + i, seen: BigInt(T0 + (i % 20) * DAY) * 1000n }, w + 1 + i),
        );
        await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: w + vs.length, versions: vs });
        w += vs.length;
        all = [...all, ...vs];
        await c.ref.load(info, all);
        for (const q of QUERIES('u')) await same(c, q);
        const f = (await manifestOf(c.dir)).tables.u?.files.at(-1);
        const n = await c.shard.query('SELECT count(*) FROM u', [], c.catalog.version);
        return { uniqueKeys: f?.uniqueKeys, overlay: f?.overlay, counted: n.scan?.filesOpened === 0 };
      };
      const range = (from: number, n: number, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);
      // Overlays count the flagged rows they supersede, so count(*) (compared with the reference
      // in QUERIES) comes from the manifest; key 5000 is new (an update of a key no file holds).
      const counted = { uniqueKeys: undefined, overlay: true, counted: true };
      assert.deepEqual(await update(range(0, 300, 10), 1000), counted);
      assert.deepEqual(await update([...range(5, 300, 10), 5000], 2000), counted, 'keys in no other overlay');
      // New keys, flagged: the flagged set the overlays counted against is not the live one any more.
      const fresh = inserts(vb, 32, 6000, 50, 20, w + 1);
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: w + 50, versions: fresh });
      w += 50;
      all = [...all, ...fresh];
      await c.ref.load(info, all);
      assert.equal((await manifestOf(c.dir)).tables.u?.files.at(-1)?.uniqueKeys, true);
      for (const q of QUERIES('u')) await same(c, q);
      assert.ok(((await c.shard.query('SELECT count(*) FROM u', [], c.catalog.version)).scan?.filesOpened ?? 0) > 0);
      // Key 20 has a version in the first overlay already; key 21 twice in one push.
      assert.deepEqual(await update([20, 1, 2], 3000), { uniqueKeys: undefined, overlay: undefined, counted: false });
      const twice = [vb.make('update', [21], { id: 21, qty: 1, seen: BigInt(T0) * 1000n }, w + 1)];
      twice.push(vb.make('update', [21], { id: 21, qty: 2, seen: BigInt(T0) * 1000n }, w + 2));
      await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: w + 2, versions: twice });
      w += 2;
      all = [...all, ...twice];
      await c.ref.load(info, all);
      assert.equal((await manifestOf(c.dir)).tables.u?.files.at(-1)?.overlay, undefined, 'two versions of a key in one push');
      for (const q of QUERIES('u')) await same(c, q);

      // DuckDB agrees: no key in two overlay files, none twice in one.
      const overlays = ((await manifestOf(c.dir)).tables.u?.files ?? []).filter((f) => f.overlay).map((f) => `'${join(c.dir, f.path)}'`);
      assert.ok(overlays.length >= 2);
      assert.equal(await keysHeldTwice(overlays), 0n);

      // Compaction never writes overlays.
      await c.shard.compactNow();
      assert.ok(((await manifestOf(c.dir)).tables.u?.files ?? []).every((f) => f.overlay !== true));
      for (const q of QUERIES('u')) await same(c, q);

      // A table with no flagged file at all: every file an overlay of updates, read as it is.
      const infoV = c.catalog.get('v');
      const vv = new Versions(infoV);
      const up = (k: number, ts: number) => vv.make('update', [k], { id: k, qty: k, seen: BigInt(T0 + (k % 5) * DAY) * 1000n }, ts);
      const a = range(0, 200).map((k) => up(k, T0 + k));
      const b = range(200, 200).map((k) => up(k, T0 + k));
      await c.shard.push({ source: SOURCE, table: 'v', fromTs: -1, toTs: T0 + 199, versions: a });
      await c.shard.push({ source: SOURCE, table: 'v', fromTs: T0 + 199, toTs: T0 + 399, versions: b });
      const fv = (await manifestOf(c.dir)).tables.v?.files ?? [];
      assert.ok(fv.length > 0 && fv.every((f) => f.overlay === true && f.uniqueKeys !== true));
      await c.ref.load(infoV, [...a, ...b]);
      for (const q of QUERIES('v')) await same(c, q);
      assert.equal((await c.shard.query('SELECT count(*) FROM v', [], c.catalog.version)).scan?.filesOpened, 0);
    } finally {
      await teardown(c);
    }
  });

  it('DuckDB agrees that a flagged file needs no dedupe: no key of a flagged file is in another flagged file', async () => {
    const c = await setup({ u: {} }, { compactionMinFiles: 2, targetFileRows: 1000 });
    try {
      const info = c.catalog.get('u');
      const vb = new Versions(info);
      let w = -1;
      const r = rng(12);
      let all: VersionRecord[] = [];
      for (let p = 0; p < 12; p++) {
        // Inserts of new keys, sometimes with updates or re-inserts of old ones.
        const vs = inserts(vb, 20 + p, p * 100, 100, 10, T0 + p * 1000);
        if (p % 3 === 2) {
          const k = Math.floor(r() * p * 100);
          vs.push(vb.make('update', [k], { id: k, qty: -1, seen: BigInt(T0) * 1000n }, T0 + p * 1000 + 500));
        }
        await c.shard.push({ source: SOURCE, table: 'u', fromTs: w, toTs: T0 + p * 1000 + 999, versions: vs });
        w = T0 + p * 1000 + 999;
        all = [...all, ...vs];
        if (p === 3 || p === 7) await c.shard.compactNow();
      }
      await c.ref.load(info, all);
      for (const q of QUERIES('u')) await same(c, q);
      const flagged = ((await manifestOf(c.dir)).tables.u?.files ?? []).filter((f) => f.uniqueKeys).map((f) => `'${join(c.dir, f.path)}'`);
      assert.ok(flagged.length > 0);
      assert.equal(await keysHeldTwice(flagged), 0n);
    } finally {
      await teardown(c);
    }
  });
});
