/**
 * Crash safety of the shard directory: orphans from a crash mid-push are removed on start,
 * manifest files that went missing or were truncated are reported and left out (the shard
 * still answers on the rest), and an unreadable manifest stops the start without deleting.
 */
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog, QueryOptions, TableDef, VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
import type { Manifest } from './manifest.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, rng, tempDir, Versions } from './test-support.ts';

const ITEMS: TableDef = {
  name: 'items',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'qty', type: 'integer', notNull: true },
    { name: 'label', type: 'text', notNull: false },
  ],
  primaryKey: ['id'],
};
const T0 = Date.UTC(2024, 4, 1);
const DAY = 86_400_000;

/** Versions over 4 days of commit time: inserts, updates and deletes. */
function workload(cat: Catalog): VersionRecord[] {
  const info = cat.get('items');
  const vb = new Versions(info);
  const r = rng(11);
  const out: VersionRecord[] = [];
  for (let i = 0; i < 400; i++) {
    const ts = T0 + Math.floor(i / 100) * DAY + i;
    const id = Math.floor(r() * 150);
    const op = i < 150 ? 'insert' : r() < 0.15 ? 'delete' : 'update';
    out.push(vb.make(op, [id], op === 'delete' ? null : { id, qty: Math.floor(r() * 100), label: r() < 0.2 ? null : `l${id}` }, ts));
  }
  // Inserts of keys that were deleted or never existed keep the "insert of a live key" rare.
  return out;
}

const QUERIES = [
  'SELECT * FROM items ORDER BY id',
  'SELECT count(*) AS n, sum(qty) AS q, count(label) AS l FROM items',
  'SELECT _op, count(*) FROM items__history GROUP BY _op ORDER BY _op',
];

describe('olap shard crash safety', () => {
  let dir: string;
  let catalog: Catalog;
  let all: VersionRecord[];
  let ref: Reference;
  const logs: { msg: string; fields?: object }[] = [];
  const open = (source = new ArraySource()) =>
    startOlapShard({
      id: 'c1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      log: (msg, fields) => logs.push(fields ? { msg, fields } : { msg }),
    });

  before(async () => {
    dir = await tempDir();
    // Day partitions: the test names day directories.
    catalog = makeCatalog([ITEMS], { items: { partition: 'day' } });
    all = workload(catalog);
    ref = await Reference.create();
    // Push everything, one day per push (several files), then close.
    const shard = await open();
    for (let d = 0; d < 4; d++) {
      const to = T0 + d * DAY + DAY - 1;
      await shard.push({ source: 'ing1', table: 'items', fromTs: -1, toTs: to, versions: all.filter((v) => v.commitTs <= to) });
    }
    assert.equal(shard.stats().tables.items?.files, 4);
    await shard.close();
  });
  after(async () => {
    ref.close();
    await removeDir(dir);
  });

  async function check(shard: OlapShard, versions: VersionRecord[], options: QueryOptions = {}) {
    await ref.load(catalog.get('items'), versions);
    for (const q of QUERIES) assertSameResult(await shard.query(q, [], catalog.version, options), await ref.query(q), q);
  }

  it('removes Parquet files the manifest does not list (crash between file rename and manifest swap)', async () => {
    const dayDir = join(dir, 'items', 'day=2024-05-01');
    const [real] = await readdir(dayDir);
    const orphan = join(dayDir, 'part-0190a6c2-0000-7000-8000-000000000001.parquet');
    const tmp = join(dir, 'items', 'day=2024-05-09', 'part-x.parquet.tmp');
    await copyFile(join(dayDir, real as string), orphan);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'items', 'day=2024-05-09'), { recursive: true }));
    await writeFile(tmp, 'half a file');
    await writeFile(join(dir, 'manifest.json.tmp-999'), '{"half');
    const shard = await open();
    try {
      await assert.rejects(stat(orphan), { code: 'ENOENT' });
      await assert.rejects(stat(tmp), { code: 'ENOENT' });
      await assert.rejects(stat(join(dir, 'manifest.json.tmp-999')), { code: 'ENOENT' });
      assert.ok(logs.some((l) => l.msg.includes('orphan') && JSON.stringify(l.fields).includes('000000000001')));
      // The orphan's rows are not double counted.
      await check(shard, all);
    } finally {
      await shard.close();
    }
  });

  it('reports missing and truncated manifest files, quarantines the damaged one, fails reads with XX001 or answers degraded', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const files = manifest.tables.items?.files ?? [];
    assert.equal(files.length, 4);
    const gone = files[1] as Manifest['tables'][string]['files'][number];
    const cut = files[2] as Manifest['tables'][string]['files'][number];
    // Which versions do those files hold? Read them before damaging them.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const lost = new Set<string>();
    for (const f of [gone, cut]) {
      const r = await conn.runAndReadAll(
        `SELECT CAST(printf('%016x%016x', _version_hi, _version_lo) AS UUID)::VARCHAR FROM read_parquet('${join(dir, f.path)}')`,
      );
      for (const row of r.getRows()) lost.add(String(row[0]));
    }
    conn.disconnectSync();
    db.closeSync();
    await unlink(join(dir, gone.path));
    await truncate(join(dir, cut.path), Math.floor(cut.bytes / 2));
    logs.length = 0;
    const shard = await open();
    try {
      const reported = logs.filter((l) => l.msg.includes('unavailable') || l.msg.includes('quarantine'));
      assert.equal(reported.length, 2, JSON.stringify(logs));
      assert.ok(reported.some((l) => JSON.stringify(l.fields).includes(gone.path) && JSON.stringify(l.fields).includes('missing')));
      assert.ok(reported.some((l) => JSON.stringify(l.fields).includes(cut.path) && JSON.stringify(l.fields).includes('size')));
      assert.equal(shard.stats().unavailableFiles, 2);
      // The truncated file is moved to quarantine/ and recorded in the manifest; the missing one stays listed.
      await stat(join(dir, 'quarantine', cut.path));
      const after1 = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      assert.deepEqual(
        after1.tables.items?.quarantined?.map((q) => [q.path, q.movedTo]),
        [[cut.path, `quarantine/${cut.path}`]],
      );
      assert.ok(after1.tables.items?.files.some((f) => f.path === gone.path));
      // Without degraded reads: XX001 naming table, partition and files.
      await assert.rejects(shard.query(QUERIES[0] as string, [], catalog.version), (e: { code?: string; message: string }) => {
        assert.equal(e.code, 'XX001');
        assert.match(e.message, /table "items"/);
        assert.ok(e.message.includes(gone.path) && e.message.includes(cut.path), e.message);
        assert.ok(e.message.includes(gone.partition) && e.message.includes(cut.partition), e.message);
        return true;
      });
      const degraded = await shard.query(QUERIES[1] as string, [], catalog.version, { allowDegraded: true });
      assert.equal(degraded.notices?.length, 1);
      assert.ok(degraded.notices?.[0]?.includes(cut.path) && degraded.notices[0].includes(gone.path), degraded.notices?.[0]);
      await check(
        shard,
        all.filter((v) => !lost.has(v.version)),
        { allowDegraded: true },
      );
      // Pushing more still works; the missing entry stays listed (a restore brings it back).
      const extra = new Versions(catalog.get('items')).make('insert', [999], { id: 999, qty: 1, label: 'new' }, T0 + 10 * DAY);
      await shard.push({ source: 'ing1', table: 'items', fromTs: T0 + 4 * DAY - 1, toTs: T0 + 10 * DAY, versions: [extra] });
      await check(shard, [...all.filter((v) => !lost.has(v.version)), extra], { allowDegraded: true });
      assert.equal(shard.stats().tables.items?.files, 4);
    } finally {
      await shard.close();
    }
  });

  it('refuses to start on an unreadable manifest and deletes nothing', async () => {
    const before1 = await readdir(join(dir, 'items'), { recursive: true });
    const good = await readFile(join(dir, 'manifest.json'), 'utf8');
    await writeFile(join(dir, 'manifest.json'), good.slice(0, good.length / 2));
    await assert.rejects(open(), (e: { code?: string; message: string }) => {
      assert.equal(e.code, 'XX001');
      assert.match(e.message, /manifest/);
      return true;
    });
    assert.deepEqual(await readdir(join(dir, 'items'), { recursive: true }), before1);
    await writeFile(join(dir, 'manifest.json'), good);
  });
});
