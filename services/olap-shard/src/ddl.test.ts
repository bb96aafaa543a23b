/**
 * The shard under DDL (issue 10): storage names and fields, hidden `_rowid`, the internal
 * `<t>__latest` view (also as of a time), RENAME TO / RENAME COLUMN rebuilding only views,
 * TRUNCATE and DROP (new storage names; dead ones' files deleted, their pushes no-ops), and
 * schema evolution (ADD COLUMN with a default, DROP COLUMN; files of several definitions read
 * together, in queries, the delta and compaction). Real DuckDB and real files throughout.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  type Catalog,
  type ColumnDef,
  type DdlEvent,
  type Literal,
  numericTypmod,
  type QueryOptions,
  type QueryResult,
  shardOfKeyValue,
  shardOfVersion,
  type TableDef,
  type TableInfo,
  type VersionRecord,
} from '@stratum/shared';
import type { Compactor } from './compaction.ts';
import { type OlapShard, startOlapShard } from './index.ts';
import { Shard } from './shard.ts';
import { ArraySource, makeCatalog, removeDir, show, tempDir, Versions } from './test-support.ts';

const T0 = Date.UTC(2024, 2, 1, 12, 0, 0);

interface Ctx {
  dir: string;
  catalog: Catalog;
  source: ArraySource;
  shard: OlapShard;
  open(): Promise<OlapShard>;
}

async function setup(defs: TableDef[], extra: { compactionMinFiles?: number } = {}): Promise<Ctx> {
  const dir = await tempDir('olap-ddl-');
  // Day partitions: tests name day directories.
  const catalog = makeCatalog(defs, Object.fromEntries(defs.map((d) => [d.name, { partition: 'day' as const }])));
  const source = new ArraySource();
  const open = () =>
    startOlapShard({
      id: 's1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      compactionIntervalMs: 0,
      deltaPollMs: 0,
      ...extra,
    });
  return { dir, catalog, source, shard: await open(), open };
}

async function teardown(c: Ctx): Promise<void> {
  await c.shard.close();
  await removeDir(c.dir);
}

function ddl(c: Ctx, ev: DdlEvent): void {
  c.catalog.apply(c.catalog.version + 1, ev);
}

async function q(c: Ctx, sql: string, params: Literal[] = [], options: QueryOptions = {}): Promise<QueryResult> {
  return c.shard.query(sql, params, c.catalog.version, options);
}

/** Rows of a result as plain arrays (bigints as `123n` strings), for deepEqual. */
function rows(r: QueryResult): unknown[] {
  return JSON.parse(show(r)).rows;
}

function push(c: Ctx, storage: string, versions: VersionRecord[], from: number, to: number) {
  return c.shard.push({ source: 'ing1', table: storage, fromTs: from, toTs: to, versions });
}

/** Wait (without asserting any timing) until `cond` holds; fails after many tries. */
async function eventually(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

/** Parquet column names of a file (read with a separate DuckDB). */
async function parquetColumns(path: string): Promise<string[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(`SELECT name FROM parquet_schema('${path}') WHERE name <> 'duckdb_schema'`);
    return r.getRows().map((x) => String(x[0]));
  } finally {
    conn.disconnectSync();
    db.closeSync();
  }
}

const USERS: TableDef = {
  name: 'users',
  storage: 'users_s1',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, field: 'f1' },
    { name: 'email', type: 'text', notNull: true, field: 'f2' },
    { name: 'score', type: 'integer', notNull: false, field: 'f3' },
  ],
  primaryKey: ['f1'],
};

/** A table without a primary key: hidden `_rowid` storage key. */
const LOG: TableDef = {
  name: 'log',
  storage: 'log_s1',
  columns: [
    { name: 'msg', type: 'text', notNull: false, field: 'm' },
    { name: 'n', type: 'integer', notNull: false, field: 'n' },
    { name: '_rowid', type: 'uuid', notNull: true, hidden: true },
  ],
  primaryKey: ['_rowid'],
};

describe('olap shard: storage names, fields, hidden columns, __latest', () => {
  let c: Ctx;
  let users: TableInfo;
  let log: TableInfo;
  let uv: Versions;
  const made: VersionRecord[] = [];
  const rowids = ['0190a6c2-0000-7000-8000-000000000001', '0190a6c2-0000-7000-8000-000000000002', '0190a6c2-0000-7000-8000-000000000003'];

  before(async () => {
    c = await setup([USERS, LOG]);
    users = c.catalog.get('users');
    log = c.catalog.get('log');
    uv = new Versions(users);
    const lv = new Versions(log);
    // Files: three users and three log rows at T0 .. T0+2; then an update and a delete at T0+10.
    made.push(
      uv.make('insert', [1n], { f1: 1n, f2: 'a@x', f3: 10 }, T0),
      uv.make('insert', [2n], { f1: 2n, f2: 'b@x', f3: 20 }, T0 + 1),
      uv.make('insert', [3n], { f1: 3n, f2: 'c@x', f3: null }, T0 + 2),
    );
    await push(c, 'users_s1', made, -1, T0 + 5);
    await push(
      c,
      'log_s1',
      rowids.map((r, i) => lv.make('insert', [r], { m: `m${i}`, n: i, _rowid: r }, T0 + i)),
      -1,
      T0 + 5,
    );
    // Delta (above the watermark): an update of 1 and a delete of 2.
    made.push(uv.make('update', [1n], { f1: 1n, f2: 'a2@x', f3: 11 }, T0 + 10), uv.make('delete', [2n], null, T0 + 11));
    c.source.add(made.slice(3));
  });
  after(() => teardown(c));

  it('writes files under the storage name with fields as Parquet columns, and shows columns by name', async () => {
    const m = JSON.parse(await readFile(join(c.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(Object.keys(m.tables).sort(), ['log_s1', 'users_s1']);
    const f = m.tables.users_s1.files[0];
    assert.match(f.path, /^users_s1\/day=2024-03-01\/part-.*\.parquet$/);
    assert.deepEqual(f.fields, ['f1', 'f2', 'f3']);
    assert.deepEqual(await parquetColumns(join(c.dir, f.path)), ['f1', 'f2', 'f3', '_ts', '_version_hi', '_version_lo', '_op', '_engine']);
    const r = await q(c, 'SELECT * FROM users ORDER BY id');
    assert.deepEqual(
      r.columns.map((x) => x.name),
      ['id', 'email', 'score'],
    );
    assert.deepEqual(rows(r), [
      ['1n', 'a2@x', 11],
      ['3n', 'c@x', null],
    ]);
    assert.deepEqual(await c.shard.watermarks('ing1'), { users_s1: T0 + 5, log_s1: T0 + 5 });
    assert.equal(c.shard.stats().tables.users_s1?.name, 'users');
  });

  it('never shows the hidden _rowid in <t> or the user part of <t>__history', async () => {
    const r = await q(c, 'SELECT * FROM log ORDER BY n');
    assert.deepEqual(
      r.columns.map((x) => x.name),
      ['msg', 'n'],
    );
    assert.deepEqual(rows(r), [
      ['m0', 0],
      ['m1', 1],
      ['m2', 2],
    ]);
    const h = await q(c, 'SELECT * FROM log__history ORDER BY n');
    assert.deepEqual(
      h.columns.map((x) => x.name),
      ['msg', 'n', '_ts', '_version', '_op', '_engine'],
    );
    await assert.rejects(q(c, 'SELECT _rowid FROM log'), (e: { code?: string }) => e.code === '42703');
  });

  it('<t>__latest has every column, hidden ones included, with _version and _ts, and only live keys', async () => {
    const r = await q(c, 'SELECT * FROM log__latest ORDER BY n');
    assert.deepEqual(
      r.columns.map((x) => `${x.name}:${x.type}`),
      ['msg:text', 'n:integer', '_rowid:uuid', '_version:uuid', '_ts:timestamp'],
    );
    assert.deepEqual(
      r.rows.map((x) => x[2]),
      rowids,
    );
    const u = await q(c, 'SELECT id, email, _version FROM users__latest ORDER BY id');
    const byKey = new Map(made.map((v) => [String(v.key[0]), v.version]));
    assert.deepEqual(rows(u), [
      ['1n', 'a2@x', byKey.get('1')],
      ['3n', 'c@x', byKey.get('3')],
    ]);
  });

  it('<t>__latest as of a time: the version live then, from files and delta', async () => {
    const at = (t: number) => q(c, 'SELECT id, email, score FROM users__latest ORDER BY id', [], { asOf: t });
    assert.deepEqual(rows(await at(T0 + 1)), [
      ['1n', 'a@x', 10],
      ['2n', 'b@x', 20],
    ]);
    assert.deepEqual(rows(await at(T0 + 10)), [
      ['1n', 'a2@x', 11],
      ['2n', 'b@x', 20],
      ['3n', 'c@x', null],
    ]);
    assert.deepEqual(rows(await at(T0 + 11)), [
      ['1n', 'a2@x', 11],
      ['3n', 'c@x', null],
    ]);
    // Predicates on any column of __latest prune soundly (a key's latest version decides).
    const p = await q(c, 'SELECT id FROM users__latest WHERE score = 10', [], { asOf: T0 + 10 });
    assert.deepEqual(rows(p), []);
  });

  it('RENAME COLUMN and RENAME TO only rebuild views: fields and storage stay', async () => {
    const renamed: TableDef = {
      ...users,
      name: 'members',
      columns: users.columns.map((col) => (col.name === 'email' ? { ...col, name: 'mail' } : col)),
    };
    ddl(c, { kind: 'replace_table', name: 'users', table: renamed, at: 0 });
    await eventually(async () => {
      const r = await q(c, 'SELECT view_name FROM duckdb_views() WHERE view_name IN ($1, $2)', ['users', 'members']);
      return r.rows.length === 1 && r.rows[0]?.[0] === 'members';
    }, 'views under the new name only');
    const r = await q(c, 'SELECT id, mail FROM members WHERE mail = $1', ['c@x']);
    assert.deepEqual(rows(r), [['3n', 'c@x']]);
    assert.deepEqual(rows(await q(c, 'SELECT count(*) FROM members__history')), [['5n']]);
    await assert.rejects(q(c, 'SELECT * FROM users'), (e: { code?: string }) => e.code === '42P01');
    // New versions still arrive by storage name and field.
    await push(c, 'users_s1', c.source.log, T0 + 5, T0 + 20);
    assert.deepEqual(rows(await q(c, 'SELECT id, mail, score FROM members ORDER BY id')), [
      ['1n', 'a2@x', 11],
      ['3n', 'c@x', null],
    ]);
    ddl(c, { kind: 'replace_table', name: 'members', table: { ...renamed, name: 'users', columns: users.columns }, at: 0 });
  });
});

describe('olap shard: TRUNCATE and DROP (dead storage names)', () => {
  let c: Ctx;
  before(async () => {
    c = await setup([USERS]);
    const vb = new Versions(c.catalog.get('users'));
    await push(c, 'users_s1', [vb.make('insert', [1n], { f1: 1n, f2: 'old', f3: 1 }, T0)], -1, T0);
    c.source.add([vb.make('insert', [2n], { f1: 2n, f2: 'old-delta', f3: 2 }, T0 + 1)]);
    assert.equal((await q(c, 'SELECT count(*) FROM users')).rows[0]?.[0], 2n);
  });
  after(() => teardown(c));

  it('TRUNCATE: a new storage name; the view is empty at once, the old files and directory go, pushes for the old name are no-ops', async () => {
    ddl(c, { kind: 'replace_table', name: 'users', table: { ...USERS, storage: 'users_s2' }, at: 0 });
    assert.deepEqual(rows(await q(c, 'SELECT * FROM users')), []);
    assert.deepEqual(rows(await q(c, 'SELECT count(*) FROM users__history')), [['0n']]);
    // AS OF before the TRUNCATE: the table's new storage holds no old rows.
    assert.deepEqual(rows(await q(c, 'SELECT * FROM users', [], { asOf: T0 + 1 })), []);
    await eventually(() => !existsSync(join(c.dir, 'users_s1')), 'the old storage directory is deleted');
    const m = JSON.parse(await readFile(join(c.dir, 'manifest.json'), 'utf8'));
    assert.equal(m.tables.users_s1, undefined);
    const old = new Versions({ ...c.catalog.get('users'), storage: 'users_s1' });
    assert.deepEqual(await push(c, 'users_s1', [old.make('insert', [9n], { f1: 9n, f2: 'late', f3: 9 }, T0 + 2)], T0, T0 + 2), {
      watermark: T0 + 2,
    });
    assert.equal(existsSync(join(c.dir, 'users_s1')), false, 'a push for a dead storage writes nothing');
    // Delta versions of the old storage name are ignored too.
    c.source.add([old.make('insert', [8n], { f1: 8n, f2: 'late-delta', f3: 8 }, T0 + 3)]);
    const vb = new Versions(c.catalog.get('users'));
    await push(c, 'users_s2', [vb.make('insert', [5n], { f1: 5n, f2: 'new', f3: 5 }, T0 + 4)], -1, T0 + 4);
    assert.deepEqual(rows(await q(c, 'SELECT id, email FROM users')), [['5n', 'new']]);
  });

  it('DROP TABLE: views go at once; the data goes from disk; a new table of the same name never sees old rows', async () => {
    ddl(c, { kind: 'drop_table', name: 'users', at: 0 });
    await assert.rejects(q(c, 'SELECT * FROM users'), (e: { code?: string }) => e.code === '42P01');
    await assert.rejects(q(c, 'SELECT * FROM users__latest'), (e: { code?: string }) => e.code === '42P01');
    await eventually(() => !existsSync(join(c.dir, 'users_s2')), 'the dropped storage directory is deleted');
    ddl(c, { kind: 'create_table', table: { ...USERS, storage: 'users_s3' }, at: 0 });
    assert.deepEqual(rows(await q(c, 'SELECT * FROM users')), []);
    const vb = new Versions(c.catalog.get('users'));
    await push(c, 'users_s3', [vb.make('insert', [7n], { f1: 7n, f2: 'third', f3: 7 }, T0 + 10)], -1, T0 + 10);
    assert.deepEqual(rows(await q(c, 'SELECT id, email FROM users')), [['7n', 'third']]);
    assert.deepEqual(Object.keys(await c.shard.watermarks()), ['users_s3']);
  });

  it('on restart, manifest entries and directories of dead storage names are removed', async () => {
    await c.shard.close();
    // A dead storage's directory left behind (as by a crash between manifest replace and delete).
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(c.dir, 'users_s2', 'day=2024-03-01'), { recursive: true });
    await writeFile(join(c.dir, 'users_s2', 'day=2024-03-01', 'part-x.parquet'), 'junk');
    c.shard = await c.open();
    assert.equal(existsSync(join(c.dir, 'users_s2')), false);
    assert.deepEqual(rows(await q(c, 'SELECT id, email FROM users')), [['7n', 'third']]);
  });
});

const ITEMS: TableDef = {
  name: 'items',
  storage: 'items_s',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, field: 'f_id' },
    { name: 'name', type: 'text', notNull: false, field: 'f_name' },
    { name: 'qty', type: 'integer', notNull: false, field: 'f_qty' },
  ],
  primaryKey: ['f_id'],
};

describe('olap shard: schema evolution (files and delta of several definitions together)', () => {
  let c: Ctx;
  let vb: Versions;
  const ADD: ColumnDef[] = [
    { name: 'price', type: 'numeric', typmod: numericTypmod(10, 2), notNull: false, field: 'f_price', missing: '9.99' },
    { name: 'note', type: 'text', notNull: false, field: 'f_note' },
  ];
  const all = () => q(c, 'SELECT * FROM items ORDER BY id');

  before(async () => {
    c = await setup([ITEMS], { compactionMinFiles: 2 });
    vb = new Versions(c.catalog.get('items'));
    // File A: the first definition (id, name, qty).
    await push(
      c,
      'items_s',
      [1n, 2n, 3n].map((id, i) => vb.make('insert', [id], { f_id: id, f_name: `n${id}`, f_qty: i }, T0 + i)),
      -1,
      T0 + 5,
    );
    // Delta row 4 under the first definition, pulled before the ALTER.
    c.source.add([vb.make('insert', [4n], { f_id: 4n, f_name: 'n4', f_qty: 4 }, T0 + 6)]);
    assert.equal((await q(c, 'SELECT count(*) FROM items')).rows[0]?.[0], 4n);
  });
  after(() => teardown(c));

  it('ADD COLUMN [DEFAULT]: older files and delta rows read as the default (or NULL); explicit NULLs stay NULL', async () => {
    ddl(c, { kind: 'replace_table', name: 'items', table: { ...ITEMS, columns: [...ITEMS.columns, ...ADD] }, at: 0 });
    vb = new Versions(c.catalog.get('items'));
    c.source.add([
      vb.make('insert', [5n], { f_id: 5n, f_name: 'n5', f_qty: 5, f_price: '1.00', f_note: 'new' }, T0 + 7),
      vb.make('insert', [6n], { f_id: 6n, f_name: 'n6', f_qty: 6, f_price: null, f_note: null }, T0 + 8),
      // Written before the ALTER, delivered after it: no price field → the default.
      vb.make('insert', [7n], { f_id: 7n, f_name: 'n7', f_qty: 7 }, T0 + 9),
    ]);
    const want = [
      ['1n', 'n1', 0, '9.99', null],
      ['2n', 'n2', 1, '9.99', null],
      ['3n', 'n3', 2, '9.99', null],
      ['4n', 'n4', 4, '9.99', null],
      ['5n', 'n5', 5, '1.00', 'new'],
      ['6n', 'n6', 6, null, null],
      ['7n', 'n7', 7, '9.99', null],
    ];
    const r = await all();
    assert.deepEqual(
      r.columns.map((x) => x.name),
      ['id', 'name', 'qty', 'price', 'note'],
    );
    assert.deepEqual(rows(r), want);
    // AS OF before the ALTER answers with today's columns: the added one as its default.
    const past = await q(c, 'SELECT * FROM items ORDER BY id', [], { asOf: T0 + 1 });
    assert.deepEqual(
      past.columns.map((x) => x.name),
      ['id', 'name', 'qty', 'price', 'note'],
    );
    assert.deepEqual(rows(past), want.slice(0, 2));
    // File B: the new definition; files of both definitions answer together.
    await push(c, 'items_s', c.source.log, T0 + 5, T0 + 20);
    assert.deepEqual(rows(await all()), want);
    const m = JSON.parse(await readFile(join(c.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(
      m.tables.items_s.files.map((f: { fields: string[] }) => f.fields),
      [
        ['f_id', 'f_name', 'f_qty'],
        ['f_id', 'f_name', 'f_qty', 'f_price', 'f_note'],
      ],
    );
    // Zone maps per field: a file without the field holds the default in every row.
    const cheap = await q(c, 'SELECT id FROM items WHERE price = 1.00');
    assert.deepEqual(rows(cheap), [['5n']]);
    assert.deepEqual(cheap.scan, { filesTotal: 2, filesOpened: 1 });
    const dflt = await q(c, 'SELECT id FROM items WHERE price = 9.99 ORDER BY id');
    assert.deepEqual(rows(dflt), [['1n'], ['2n'], ['3n'], ['4n'], ['7n']]);
    assert.deepEqual(dflt.scan, { filesTotal: 2, filesOpened: 2 });
    assert.deepEqual(rows(await q(c, 'SELECT id FROM items WHERE note IS NULL AND price IS NULL')), [['6n']]);
  });

  it('DROP COLUMN: gone from every view; RENAME COLUMN: the field keeps its values; a re-added name is a new column', async () => {
    const dropped = { ...ITEMS, columns: [...ITEMS.columns, ...ADD].filter((x) => x.name !== 'qty') };
    ddl(c, { kind: 'replace_table', name: 'items', table: dropped, at: 0 });
    assert.deepEqual(
      (await all()).columns.map((x) => x.name),
      ['id', 'name', 'price', 'note'],
    );
    await assert.rejects(q(c, 'SELECT qty FROM items'), (e: { code?: string }) => e.code === '42703');
    await assert.rejects(q(c, 'SELECT qty FROM items__history'), (e: { code?: string }) => e.code === '42703');
    const renamed = withColumn(dropped, 'name', (x) => ({ ...x, name: 'title' }));
    const readded: TableDef = {
      ...renamed,
      columns: [...renamed.columns, { name: 'qty', type: 'integer', notNull: false, field: 'f_qty2' }],
    };
    ddl(c, { kind: 'replace_table', name: 'items', table: readded, at: 0 });
    const r = await q(c, 'SELECT id, title, qty FROM items ORDER BY id');
    assert.deepEqual(
      rows(r).map((x) => (x as unknown[]).slice(1)),
      [1, 2, 3, 4, 5, 6, 7].map((i) => [`n${i}`, null]),
    );
    // New rows carry the new field; the old qty values never come back.
    vb = new Versions(c.catalog.get('items'));
    c.source.add([vb.make('update', [1n], { f_id: 1n, f_name: 'n1b', f_price: '2.50', f_qty2: 42, f_qty: 999 }, T0 + 30)]);
    assert.deepEqual(rows(await q(c, 'SELECT id, title, price, qty FROM items WHERE id = 1')), [['1n', 'n1b', '2.50', 42]]);
    assert.deepEqual(rows(await q(c, 'SELECT count(*) FROM items__history WHERE qty IS NOT NULL')), [['1n']]);
  });

  it('a push naming a newer catalog version waits for it, so fields added there are stored', async () => {
    const next = c.catalog.version + 1;
    const def = c.catalog.get('items');
    const extra: TableDef = { ...def, columns: [...def.columns, { name: 'tag', type: 'text', notNull: false, field: 'f_tag' }] };
    const withTag = new Versions(c.catalog.infoOf(extra));
    const pushing = c.shard.push({
      source: 'ing1',
      table: 'items_s',
      fromTs: T0 + 20,
      toTs: T0 + 40,
      catalogVersion: next,
      versions: [withTag.make('insert', [8n], { f_id: 8n, f_name: 'n8', f_tag: 'tagged' }, T0 + 40)],
    });
    // The catalog event arrives after the push (this shard's catalog lags the pusher's).
    setTimeout(() => ddl(c, { kind: 'replace_table', name: 'items', table: extra, at: 0 }), 20);
    await pushing;
    assert.equal(c.catalog.version, next);
    assert.deepEqual(rows(await q(c, 'SELECT id, tag FROM items WHERE id = 8')), [['8n', 'tagged']]);
  });

  it('compaction merges files of different definitions into the current fields; answers stay; a restart reads them back', async () => {
    const before = show(await q(c, 'SELECT * FROM items__history ORDER BY id, _ts'));
    const latest = show(await all());
    const r = await c.shard.compactNow();
    assert.equal(r.partitions.length, 1);
    const m = JSON.parse(await readFile(join(c.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(
      m.tables.items_s.files.map((f: { fields: string[] }) => f.fields),
      [['f_id', 'f_name', 'f_price', 'f_note', 'f_qty2', 'f_tag']],
    );
    assert.equal(show(await q(c, 'SELECT * FROM items__history ORDER BY id, _ts')), before);
    assert.equal(show(await all()), latest);
    await c.shard.close();
    c.shard = await c.open();
    assert.equal(show(await all()), latest);
    assert.deepEqual(rows(await q(c, 'SELECT id FROM items WHERE price = 1.00')), [['5n']]);
  });
});

describe('olap shard: files of a dropped table outlive the queries that may read them', () => {
  it('deletes them only once every operation pinned before the drop has finished (file leases)', async () => {
    const dir = await tempDir('olap-ddl-');
    const catalog = makeCatalog([USERS]);
    const shard = new Shard({ id: 's1', dir, catalog, deltaSources: [], compactionIntervalMs: 0, deltaPollMs: 0 });
    await shard.start();
    try {
      const vb = new Versions(catalog.get('users'));
      await shard.push({
        source: 'ing1',
        table: 'users_s1',
        fromTs: -1,
        toTs: T0,
        versions: [vb.make('insert', [1n], { f1: 1n, f2: 'a', f3: 1 }, T0)],
      });
      // An operation that started before the drop (a query planned against the old views).
      const unpin = (shard as unknown as { compactor: Compactor }).compactor.leases.pin();
      catalog.apply(catalog.version + 1, { kind: 'drop_table', name: 'users', at: 0 });
      await eventually(async () => {
        const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
        return m.tables.users_s1 === undefined;
      }, 'the manifest no longer lists the dropped table');
      assert.equal(existsSync(join(dir, 'users_s1')), true, 'files stay while the earlier operation runs');
      unpin();
      await eventually(() => !existsSync(join(dir, 'users_s1')), 'files deleted once it finished');
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: queries while DDL is applied', () => {
  it('answers every query while columns come and go and the table is truncated', async () => {
    const def: TableDef = {
      name: 't',
      storage: 't_0',
      columns: [
        { name: 'id', type: 'integer', notNull: true, field: 'a' },
        { name: 'v', type: 'text', notNull: false, field: 'b' },
      ],
      primaryKey: ['a'],
    };
    const catalog = makeCatalog([def]);
    const dir = await tempDir('olap-ddl-');
    const source = new ArraySource();
    const shard = await startOlapShard({
      id: 's1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      deltaPollMs: 0,
      compactionIntervalMs: 0,
    });
    try {
      const vb = new Versions(catalog.get('t'));
      const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => vb.make('insert', [i], { a: i, b: `x${i}` }, T0));
      await shard.push({ source: 'ing1', table: 't_0', fromTs: -1, toTs: T0, versions: rowsOf(200) });
      let cols = [...def.columns];
      let storage = 0;
      let done = false;
      const errors: string[] = [];
      const counts = new Set<bigint>();
      const ddlLoop = (async () => {
        for (let n = 0; n < 40; n++) {
          if (n % 3 === 2) cols = cols.filter((x) => x.name !== `c${n - 2}`);
          else cols = [...cols, { name: `c${n}`, type: 'integer', notNull: false, field: `f${n}`, missing: n }];
          if (n % 8 === 7) storage++;
          catalog.apply(catalog.version + 1, {
            kind: 'replace_table',
            name: 't',
            table: { ...def, storage: `t_${storage}`, columns: cols },
            at: 0,
          });
          // Updates of existing keys while the first storage lives: counts stay 200 (then 0 after TRUNCATE).
          if (storage === 0) source.add([vb.make('update', [n % 200], { a: n % 200, b: 'u' }, T0 + 1 + n)]);
          await new Promise((r) => setTimeout(r, 5));
        }
        done = true;
      })();
      const queryLoop = async (sql: string, asOf?: number) => {
        while (!done) {
          try {
            const r = await shard.query(sql, [], catalog.version, asOf === undefined ? {} : { asOf });
            counts.add(r.rows[0]?.[0] as bigint);
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
      };
      await Promise.all([
        ddlLoop,
        queryLoop('SELECT count(*) FROM t'),
        queryLoop('SELECT count(*) FROM t WHERE id = 5'),
        queryLoop('SELECT count(*) FROM t__latest', T0 + 1),
      ]);
      assert.deepEqual(errors, []);
      for (const n of counts) assert.ok(n === 0n || n === 1n || n === 200n, `count ${n}`);
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: <t>__latest of an append-only table', () => {
  it('is the latest version per key, while <t> shows every version', async () => {
    const def: TableDef = {
      name: 'ev',
      storage: 'ev_s',
      columns: [
        { name: 'k', type: 'integer', notNull: true, field: 'k' },
        { name: 'x', type: 'text', notNull: false, field: 'x' },
      ],
      primaryKey: ['k'],
    };
    const catalog = makeCatalog([def], { ev: { appendOnly: true } });
    const dir = await tempDir('olap-ddl-');
    const source = new ArraySource();
    const shard = await startOlapShard({
      id: 's1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      deltaPollMs: 0,
      compactionIntervalMs: 0,
    });
    try {
      const vb = new Versions(catalog.get('ev'));
      await shard.push({ source: 'ing1', table: 'ev_s', fromTs: -1, toTs: T0, versions: [vb.make('insert', [1], { k: 1, x: 'a' }, T0)] });
      source.add([vb.make('update', [1], { k: 1, x: 'b' }, T0 + 1), vb.make('insert', [2], { k: 2, x: 'c' }, T0 + 2)]);
      const all = await shard.query('SELECT k, x FROM ev ORDER BY k, x', [], catalog.version);
      assert.deepEqual(all.rows, [
        [1, 'a'],
        [1, 'b'],
        [2, 'c'],
      ]);
      const latest = await shard.query('SELECT k, x FROM ev__latest ORDER BY k', [], catalog.version);
      assert.deepEqual(latest.rows, [
        [1, 'b'],
        [2, 'c'],
      ]);
      const past = await shard.query('SELECT k, x FROM ev__latest ORDER BY k', [], catalog.version, { asOf: T0 });
      assert.deepEqual(past.rows, [[1, 'a']]);
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: a format-2 manifest (before storage names and fields)', () => {
  it("reads its tables as storage names and its files' zone-map keys as their fields", async () => {
    const dir = await tempDir('olap-ddl-');
    try {
      const rel = 'old/day=2024-03-01/part-0190a6c2-0000-7000-8000-000000000001.parquet';
      const { mkdir, writeFile, stat } = await import('node:fs/promises');
      await mkdir(join(dir, 'old', 'day=2024-03-01'), { recursive: true });
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      await conn.run(
        `COPY (SELECT 1::BIGINT AS id, 'one' AS v, TIMESTAMP_MS '2024-03-01 12:00:00' AS _ts, '0190a6c2-0000-7000-8000-0000000000aa'::UUID AS _version,
           'insert' AS _op, 'e1' AS _engine) TO '${join(dir, rel)}' (FORMAT parquet)`,
      );
      conn.disconnectSync();
      db.closeSync();
      const bytes = (await stat(join(dir, rel))).size;
      const manifest = {
        format: 2,
        shard: 's1',
        generation: 3,
        updatedAt: T0,
        tables: {
          old: {
            watermark: T0,
            sources: { ing1: T0 },
            singleVersion: true,
            files: [
              {
                path: rel,
                day: '2024-03-01',
                rows: 1,
                bytes,
                tsMin: T0,
                tsMax: T0,
                ops: { insert: 1, update: 0, delete: 0 },
                columns: { id: { min: '1', max: '1', nulls: 0 }, v: { min: 'one', max: 'one', nulls: 0 } },
                createdAt: T0,
              },
            ],
          },
        },
      };
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      // A table created before storage names: its storage name is its name, its fields its column names.
      const catalog = makeCatalog([
        {
          name: 'old',
          columns: [
            { name: 'id', type: 'bigint', notNull: true },
            { name: 'v', type: 'text', notNull: false },
          ],
          primaryKey: ['id'],
        },
      ]);
      const shard = await startOlapShard({ id: 's1', dir, catalog, deltaSources: [], deltaPollMs: 0, compactionIntervalMs: 0 });
      try {
        const r = await shard.query('SELECT * FROM old WHERE id = 1', [], catalog.version);
        assert.deepEqual(rows(r), [['1n', 'one']]);
        assert.deepEqual(await shard.watermarks('ing1'), { old: T0 });
      } finally {
        await shard.close();
      }
    } finally {
      await removeDir(dir);
    }
  });
});

describe('olap shard: placement by a shard key whose field is not its name', () => {
  it('owns() reads the shard key by field', async () => {
    const def: TableDef = {
      name: 'sales',
      storage: 'sales_s',
      columns: [
        { name: 'region', type: 'text', notNull: true, field: 'f_r' },
        { name: 'n', type: 'integer', notNull: true, field: 'f_n' },
      ],
      primaryKey: ['f_r', 'f_n'],
    };
    const catalog = makeCatalog([def], { sales: { shardKey: 'region' } });
    const info = catalog.get('sales');
    const shards = ['s1', 's2'];
    const dir = await tempDir('olap-ddl-');
    const source = new ArraySource();
    const shard = await startOlapShard({
      id: 's1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      owns: (i, v) => shardOfVersion(i, v.key, v.row, shards) === 's1',
      deltaPollMs: 0,
      compactionIntervalMs: 0,
    });
    try {
      const vb = new Versions(info);
      const regions = ['eu', 'us', 'apac', 'latam', 'mea', 'nordics'];
      source.add(regions.map((r, i) => vb.make('insert', [r, i], { f_r: r, f_n: i }, T0 + i)));
      const mine = regions.filter((r) => shardOfKeyValue(r, shards) === 's1').sort();
      assert.ok(mine.length > 0 && mine.length < regions.length, 'the sample spreads over both shards');
      const r = await shard.query('SELECT region FROM sales ORDER BY region', [], catalog.version);
      assert.deepEqual(
        r.rows.map((x) => x[0]),
        mine,
      );
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});

/** Columns of a definition with `change` applied to the one named `name`. */
function withColumn(def: TableDef, name: string, change: (c: ColumnDef) => ColumnDef | null): TableDef {
  return {
    ...def,
    columns: def.columns.flatMap((col) => (col.name === name ? [change(col)].filter((x): x is ColumnDef => x !== null) : [col])),
  };
}
