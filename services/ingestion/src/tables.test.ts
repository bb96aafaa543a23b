/**
 * Tables as the catalog of issue 10 describes them, against a real LMDB store and the real local
 * bus: changes name a table by storage name and rows are keyed by column field (protocol 3);
 * a column added later may be absent from a row and a dropped column's field is ignored; changes
 * of a dropped or truncated table (a dead storage name) are skipped and its data is removed from
 * LMDB; `find` by scan (paged) and by key range, latest and as of a time; every value type
 * round-trips through LMDB and a restart.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Catalog, type ChangeBus, decode, openLocalBus, type Row, rootLogger, type TableDef, type Value } from '@stratum/shared';
import { type IngestionService, ROW_TIER_ONLY, startIngestion } from './index.ts';
import { IngestionStore, type LsnEntry } from './store.ts';
import { countPrefix, del, ins, until, upd, Writer } from './test-support.ts';

const items: TableDef = {
  name: 'items',
  storage: 'items_1',
  columns: [
    { name: 'id', type: 'bigint', notNull: true, field: 'id' },
    { name: 'label', type: 'text', notNull: false, field: 'f2' },
    { name: 'price', type: 'numeric', notNull: false, field: 'f3' },
  ],
  primaryKey: ['id'],
};

describe('ingestion: storage names, fields, dead tables, find', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  let w: Writer;
  const catalog = new Catalog();
  let cv = 0;
  const ddl = (ev: Parameters<Catalog['apply']>[1]) => catalog.apply(++cv, ev);
  const start = () =>
    startIngestion({
      id: 'i1',
      dir: join(dir, 'ing'),
      partitions: [0],
      catalog,
      bus,
      ...ROW_TIER_ONLY,
      log: rootLogger(),
    });
  const wm = (ts: number) => until(async () => (await ing.status()).watermark >= ts, `watermark ${ts}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-tables-'));
    bus = await openLocalBus(join(dir, 'bus'));
    w = new Writer(bus, catalog);
    ddl({ kind: 'create_table', table: items, at: 0 });
    ing = await start();
  });
  after(async () => {
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  const versions = new Map<bigint, string>();

  test('changes name the storage name; rows are keyed by field; later-added columns may be absent, dropped ones are ignored', async () => {
    const cs = [1n, 2n, 3n, 4n, 5n].map((id) => ins('items_1', [id], { id, f2: `item ${id}`, f3: `${id}.50` }, 1000));
    for (const c of cs) versions.set(c.key[0] as bigint, c.version);
    await w.commit(1000, cs);
    await wm(1000);
    const got = await ing.get('items_1', [3n]);
    assert.deepEqual(got?.row, { id: 3n, f2: 'item 3', f3: '3.50' });
    assert.equal(await ing.get('items', [3n]), null, 'the SQL name is not a storage name');

    // ALTER TABLE items ADD COLUMN qty integer, DROP COLUMN label, RENAME price TO cost.
    ddl({
      kind: 'replace_table',
      name: 'items',
      at: 0,
      table: {
        ...items,
        columns: [
          { name: 'id', type: 'bigint', notNull: true, field: 'id' },
          { name: 'cost', type: 'numeric', notNull: false, field: 'f3' },
          { name: 'qty', type: 'integer', notNull: true, field: 'f4', missing: 0 },
        ],
      },
    });
    // A row written before the ALTER (no f4, still f2) and one after (f4, no f2).
    const a = upd('items_1', [1n], { id: 1n, f2: 'old label', f3: '9' }, 1100, versions.get(1n) as string);
    const b = ins('items_1', [6n], { id: 6n, f3: '6', f4: 7 }, 1100);
    versions.set(1n, a.version);
    versions.set(6n, b.version);
    await w.commit(1100, [a, b]);
    await wm(1100);
    const s = await ing.status();
    assert.equal(s.deadLetters, 0);
    assert.deepEqual((await ing.get('items_1', [1n]))?.row, { id: 1n, f2: 'old label', f3: '9' });
    assert.deepEqual((await ing.get('items_1', [6n]))?.row, { id: 6n, f3: '6', f4: 7 });
    // A value of the wrong type for a field is still refused.
    await w.commit(1150, [ins('items_1', [7n], { id: 7n, f4: 'seven' }, 1150)]);
    await wm(1150);
    assert.equal((await ing.status()).deadLetters, 1);
  });

  test('find scans live rows in key order, paged by afterKey and limit, latest or as of a time', async () => {
    const del3 = del('items_1', [3n], 1200, versions.get(3n) as string);
    await w.commit(1200, [del3]);
    await wm(1200);
    const all = await ing.find('items_1', { by: 'scan' }, {});
    assert.deepEqual(
      all.map((r) => r.key),
      [[1n], [2n], [4n], [5n], [6n]],
    );
    assert.deepEqual(all[0]?.row, { id: 1n, f2: 'old label', f3: '9' });
    assert.equal(all[0]?.version, versions.get(1n));
    assert.equal(all[0]?.commitTs, 1100);
    const page1 = await ing.find('items_1', { by: 'scan' }, { limit: 2 });
    const page2 = await ing.find('items_1', { by: 'scan' }, { limit: 2, afterKey: page1[1]?.key as Value[] });
    const page3 = await ing.find('items_1', { by: 'scan' }, { limit: 2, afterKey: page2[1]?.key as Value[] });
    assert.deepEqual(
      [...page1, ...page2, ...page3].map((r) => r.key?.[0]),
      [1n, 2n, 4n, 5n, 6n],
    );
    assert.equal(page3.length, 1);
    // As of 1000: row 3 is alive, row 6 does not exist yet, row 1 has its first version.
    const then = await ing.find('items_1', { by: 'scan' }, { asOf: 1000 });
    assert.deepEqual(
      then.map((r) => r.key?.[0]),
      [1n, 2n, 3n, 4n, 5n],
    );
    assert.deepEqual(then[0]?.row, { id: 1n, f2: 'item 1', f3: '1.50' });
    assert.deepEqual(
      (await ing.find('items_1', { by: 'scan' }, { asOf: 1000, limit: 2, afterKey: [2n] })).map((r) => r.key?.[0]),
      [3n, 4n],
    );
    assert.deepEqual(await ing.find('items_1', { by: 'scan' }, { asOf: 999 }), []);
    await assert.rejects(ing.find('nope', { by: 'scan' }, {}), { code: '42P01' });
    await assert.rejects(ing.find('items_1', { by: 'scan' }, { limit: -1 }), { code: '22023' });
    await assert.rejects(ing.find('items_1', { by: 'scan' }, { afterKey: [1n, 2n] }), { code: '22023' });
  });

  test('find by a range on the first key column: inclusive and exclusive bounds, open ends, as of a time', async () => {
    const keys = async (lo?: [bigint, boolean], hi?: [bigint, boolean], asOf?: number) =>
      (
        await ing.find(
          'items_1',
          {
            by: 'range',
            ...(lo ? { lo: { v: lo[0], incl: lo[1] } } : {}),
            ...(hi ? { hi: { v: hi[0], incl: hi[1] } } : {}),
          },
          asOf === undefined ? {} : { asOf },
        )
      ).map((r) => r.key?.[0]);
    assert.deepEqual(await keys([2n, true], [5n, true]), [2n, 4n, 5n]);
    assert.deepEqual(await keys([2n, false], [5n, false]), [4n]);
    assert.deepEqual(await keys(undefined, [4n, true]), [1n, 2n, 4n]);
    assert.deepEqual(await keys([5n, true]), [5n, 6n]);
    assert.deepEqual(await keys([2n, true], [4n, true], 1000), [2n, 3n, 4n]);
    assert.deepEqual(await keys([7n, true]), []);
    assert.deepEqual(await ing.find('items_1', { by: 'range', lo: { v: null, incl: true } }, {}), [], 'a NULL bound matches nothing');
  });

  test('a range on a numeric key compares values, not text', async () => {
    ddl({
      kind: 'create_table',
      at: 0,
      table: { name: 'prices', storage: 'prices_1', columns: [{ name: 'p', type: 'numeric', notNull: true }], primaryKey: ['p'] },
    });
    const ps = ['-10.5', '-2', '0', '0.25', '1.50', '9', '10', '100.000'];
    await w.commit(
      1300,
      ps.map((p) => ins('prices_1', [p], { p }, 1300)),
    );
    await wm(1300);
    const got = await ing.find('prices_1', { by: 'range', lo: { v: '-2.0', incl: false }, hi: { v: '10', incl: true } }, {});
    assert.deepEqual(got.map((r) => r.key?.[0]).sort(), ['0', '0.25', '1.50', '10', '9'].sort());
    const page = await ing.find('prices_1', { by: 'range', lo: { v: '1.5', incl: true } }, { limit: 100 });
    assert.deepEqual(page.map((r) => r.row?.p).sort(), ['1.50', '10', '100.000', '9'].sort());
  });

  test('changes of a dropped or truncated table are skipped, and its data is removed from LMDB', async () => {
    ddl({
      kind: 'create_table',
      at: 0,
      table: { name: 'gone', storage: 'gone_1', columns: [{ name: 'k', type: 'integer', notNull: true }], primaryKey: ['k'] },
    });
    const rows = Array.from({ length: 50 }, (_, i) => ins('gone_1', [i], { k: i }, 1400));
    await w.commit(1400, rows);
    await w.commit(1401, [upd('gone_1', [0], { k: 0 }, 1401, rows[0]?.version as string)]);
    await wm(1401);
    assert.equal((await ing.find('gone_1', { by: 'scan' }, {})).length, 50);
    const deltaBefore = (await ing.delta(0, 10_000)).versions.filter((v) => v.table === 'gone_1').length;
    assert.equal(deltaBefore, 51);

    // TRUNCATE items (a new storage name) and DROP TABLE gone.
    const cur = catalog.get('items');
    ddl({ kind: 'replace_table', name: 'items', at: 0, table: { ...cur, storage: 'items_2' } });
    ddl({ kind: 'drop_table', name: 'gone', at: 0 });
    const before = await ing.status();
    // Changes of both old storage names still in flight, then a row of the new one.
    await w.commit(1500, [ins('gone_1', [99], { k: 99 }, 1500), ins('items_1', [50n], { id: 50n, f3: '1', f4: 1 }, 1500)]);
    await w.commit(1501, [ins('items_2', [1n], { id: 1n, f3: '2', f4: 2 }, 1501)]);
    await wm(1501);
    const s = await ing.status();
    assert.equal(s.deadLetters, before.deadLetters, 'not dead-lettered');
    assert.equal(s.skippedDead - before.skippedDead, 2, 'counted as skipped');
    assert.equal(s.applied - before.applied, 1);
    assert.deepEqual(
      (await ing.find('items_2', { by: 'scan' }, {})).map((r) => r.key),
      [[1n]],
      'the truncated table starts empty',
    );
    assert.equal(await ing.get('items_1', [1n]), null);
    await assert.rejects(ing.find('gone_1', { by: 'scan' }, {}), { code: '42P01' });
    await until(async () => (await ing.status()).deadPending.length === 0, 'cleanup');
    assert.ok(
      (await ing.delta(0, 10_000)).versions.every((v) => v.table !== 'gone_1' && v.table !== 'items_1'),
      'not in the delta',
    );

    // Everything of the dead names is gone from disk (checked on the store itself).
    await ing.close();
    const store = new IngestionStore(join(dir, 'ing'));
    try {
      for (const storage of ['gone_1', 'items_1']) {
        for (const db of ['historyRaw', 'latestRaw', 'bytimeRaw', 'indexRaw'] as const) {
          assert.equal(countPrefix(store, db, [storage]), 0, `${db} of ${storage}`);
        }
      }
      for (const { value } of store.lsnlog.getRange({})) {
        const e = decode<LsnEntry>(value, 'lsn log entry');
        assert.ok(
          e.refs.some((r, i) => i % 3 === 0 && r !== 'gone_1' && r !== 'items_1'),
          'lsnlog entries of dead tables only are removed',
        );
      }
      assert.equal(countPrefix(store, 'latestRaw', ['items_2']), 1);
      assert.equal(countPrefix(store, 'latestRaw', ['prices_1']), 8);
    } finally {
      await store.close();
    }
    ing = await start();
    assert.equal((await ing.get('items_2', [1n]))?.row?.f4, 2, 'restarts on the same data');
    // A new table of a dropped table's name never sees old rows.
    ddl({
      kind: 'create_table',
      at: 0,
      table: { name: 'gone', storage: 'gone_2', columns: [{ name: 'k', type: 'integer', notNull: true }], primaryKey: ['k'] },
    });
    await w.commit(1600, [ins('gone_2', [1], { k: 1 }, 1600)]);
    await wm(1600);
    assert.deepEqual(
      (await ing.find('gone_2', { by: 'scan' }, {})).map((r) => r.key),
      [[1]],
    );
  });

  test('every value type round-trips through LMDB and a restart, in rows and keys', async () => {
    const cols: [string, TableDef['columns'][number]['type'], Value][] = [
      ['n', 'numeric', '-12345678901234567890.000123'],
      ['iv', 'interval', 'P1Y2M3DT4H5M6.5S'],
      ['j', 'json', '{"b": 1, "a": [true, null]}'],
      ['jb', 'jsonb', '{"a": [true, null], "b": 1}'],
      ['by', 'bytea', Buffer.from([0, 1, 2, 255, 0])],
      ['ai', 'integer[]', [1, null, -3]],
      ['at', 'text[]', ['a', 'b,c', null, '']],
      ['an', 'numeric[]', ['1.5', null]],
      ['ab', 'bytea[]', [Buffer.from([1]), null]],
      ['ts', 'timestamptz', 1_700_000_000_123_456n],
      ['tm', 'time', 3_600_000_001],
      ['d', 'date', 19_000],
      ['vc', 'varchar', 'héllo 🌍'],
      ['ch', 'char', 'ab   '],
      ['u', 'uuid', '0190a6f2-7c8b-7a00-8000-000000000001'],
      ['f', 'double', -0.125],
      ['b', 'bigint', 2n ** 62n + 1n],
    ];
    ddl({
      kind: 'create_table',
      at: 0,
      table: {
        name: 'typed',
        storage: 'typed_1',
        columns: [{ name: 'k', type: 'bytea', notNull: true }, ...cols.map(([name, type]) => ({ name, type, notNull: false }))],
        primaryKey: ['k'],
      },
    });
    ddl({
      kind: 'create_table',
      at: 0,
      table: {
        name: 'bigkeys',
        storage: 'bigkeys_1',
        columns: [
          { name: 'a', type: 'bigint', notNull: true },
          { name: 'b', type: 'interval', notNull: true },
        ],
        primaryKey: ['a', 'b'],
      },
    });
    const row: Row = { k: Buffer.from([9, 0, 9]) };
    for (const [name, , v] of cols) row[name] = v;
    const big = 2n ** 62n + 7n;
    await w.commit(1700, [
      ins('typed_1', [Buffer.from([9, 0, 9])], row, 1700),
      ins('typed_1', [Buffer.from([9])], { k: Buffer.from([9]) }, 1700),
      ins('bigkeys_1', [big, 'PT1S'], { a: big, b: 'PT1S' }, 1700),
      ins('bigkeys_1', [big + 1n, 'P1D'], { a: big + 1n, b: 'P1D' }, 1700),
    ]);
    await wm(1700);
    assert.equal((await ing.status()).deadLetters, 1, 'nothing new dead-lettered');
    const check = async () => {
      const got = await ing.get('typed_1', [Buffer.from([9, 0, 9])]);
      assert.ok(got?.row, 'the row by its bytea key');
      for (const [name, , v] of cols) {
        const g = got.row[name] as Value;
        assert.deepEqual(
          g instanceof Uint8Array ? Buffer.from(g) : Array.isArray(g) ? g.map((e) => (e instanceof Uint8Array ? Buffer.from(e) : e)) : g,
          v,
          name,
        );
      }
      const scan = await ing.find('typed_1', { by: 'scan' }, {});
      assert.deepEqual(
        scan.map((r) => Buffer.from(r.key?.[0] as Uint8Array).toString('hex')),
        ['09', '090009'],
        'bytea keys in byte order',
      );
      const bk = await ing.find('bigkeys_1', { by: 'scan' }, {});
      assert.deepEqual(
        bk.map((r) => r.key),
        [
          [big, 'PT1S'],
          [big + 1n, 'P1D'],
        ],
        'bigint keys beyond 2^53 keep their precision',
      );
      assert.deepEqual((await ing.getMany('bigkeys_1', [[big + 1n, 'P1D']]))[0]?.row, { a: big + 1n, b: 'P1D' });
      assert.deepEqual(
        (await ing.find('bigkeys_1', { by: 'range', lo: { v: big + 1n, incl: true } }, {})).map((r) => r.key?.[0]),
        [big + 1n],
      );
    };
    await check();
    await ing.close();
    ing = await start();
    await check();
  });
});
