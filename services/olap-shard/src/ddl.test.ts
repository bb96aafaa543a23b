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
import type { Catalog, ColumnDef, DdlEvent, Literal, QueryOptions, QueryResult, TableDef, TableInfo, VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
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
  const catalog = makeCatalog(defs);
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
    assert.deepEqual(await parquetColumns(join(c.dir, f.path)), ['f1', 'f2', 'f3', '_ts', '_version', '_op', '_engine']);
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

/** Columns of a definition with `change` applied to the one named `name`. */
export function withColumn(def: TableDef, name: string, change: (c: ColumnDef) => ColumnDef | null): TableDef {
  return {
    ...def,
    columns: def.columns.flatMap((col) => (col.name === name ? [change(col)].filter((x): x is ColumnDef => x !== null) : [col])),
  };
}
