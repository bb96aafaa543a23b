/**
 * Secondary indexes in ingestion, against a real LMDB store and the real local bus: an index
 * created on a table with rows is back-filled while merges go on and ends up equal to the rows
 * (checked against a model, by every value); it is maintained across inserts, updates, deletes
 * and conflicts between engines (LWW and reject); a unique index over duplicate live values fails
 * its build with PostgreSQL's 23505; `find` by index equality and range, latest and as of a
 * time; a dropped index's entries are removed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Catalog,
  type ChangeBus,
  compareValues,
  DEFAULT_TABLE_OPTIONS,
  type IndexDef,
  openLocalBus,
  type Row,
  type RowVersion,
  rootLogger,
  type TableDef,
  type Value,
} from '@stratum/shared';
import { type IngestionService, ROW_TIER_ONLY, startIngestion } from './index.ts';
import { IngestionStore } from './store.ts';
import { countPrefix, del, ins, until, upd, Writer } from './test-support.ts';

const people: TableDef = {
  name: 'people',
  storage: 'people_1',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'email', type: 'text', notNull: false },
    { name: 'age', type: 'integer', notNull: false },
    { name: 'score', type: 'numeric', notNull: false },
  ],
  primaryKey: ['id'],
};

const ids = (rows: RowVersion[]) => rows.map((r) => r.key?.[0] as number).sort((a, b) => a - b);

describe('ingestion secondary indexes', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  let e1: Writer;
  let e2: Writer;
  const catalog = new Catalog((name) => (name === 'rej' ? { ...DEFAULT_TABLE_OPTIONS, conflict: 'reject' } : DEFAULT_TABLE_OPTIONS));
  let cv = 0;
  const ddl = (ev: Parameters<Catalog['apply']>[1]) => catalog.apply(++cv, ev);
  /** Add (or replace) indexes of table `name`. */
  const setIndexes = (name: string, indexes: IndexDef[]) => {
    const t = catalog.get(name);
    const def: TableDef = { name: t.name, storage: t.storage, columns: t.columns, primaryKey: t.primaryKey, indexes };
    ddl({ kind: 'replace_table', name, table: def, at: 0 });
  };
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
  /** Both engines closed at `ts`, and ingestion's watermark there. */
  const settle = async (ts: number) => {
    await e1.heartbeat(ts);
    await e2.heartbeat(ts);
    await until(async () => (await ing.status()).watermark >= ts, `watermark ${ts}`);
  };
  const built = (table: string, index: string) =>
    until(async () => (await ing.indexStatus(table, index)).state !== 'building', `build of ${index}`);

  /** The model: id → latest live row and its version. */
  const model = new Map<number, { row: Row; version: string }>();
  const byAge = (age: number) =>
    [...model.entries()]
      .filter(([, r]) => r.row.age === age)
      .map(([id]) => id)
      .sort((a, b) => a - b);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-idx-'));
    bus = await openLocalBus(join(dir, 'bus'));
    e1 = new Writer(bus, catalog, 'e1');
    e2 = new Writer(bus, catalog, 'e2');
    ddl({ kind: 'create_table', table: people, at: 0 });
    ing = await start();
  });
  after(async () => {
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an index created on a table with rows is back-filled while merges go on, then maintained on insert, update and delete', async () => {
    const N = 3500;
    let ts = 1000;
    for (let from = 0; from < N; from += 500) {
      const cs = [];
      for (let id = from; id < from + 500; id++) {
        const row = { id, email: `p${id}@x`, age: id % 50, score: `${id % 7}.${id % 2}0` };
        const c = ins('people_1', [id], row, ts);
        model.set(id, { row, version: c.version });
        cs.push(c);
      }
      await e1.commit(ts++, cs);
    }
    await settle(ts);
    setIndexes('people', [
      { name: 'people_age', columns: ['age'], unique: false, state: 'building' },
      { name: 'people_age_score', columns: ['age', 'score'], unique: false, state: 'building' },
    ]);
    // Merges while the back-fill runs: moves between ages, deletes, inserts.
    for (let round = 0; round < 30; round++) {
      const cs = [];
      for (let j = 0; j < 40; j++) {
        const id = (round * 97 + j * 31) % (N + 200);
        const cur = model.get(id);
        ts++;
        if (cur && j % 5 === 0) {
          cs.push(del('people_1', [id], ts, cur.version));
          model.delete(id);
        } else if (cur) {
          const row = { ...cur.row, age: (round + j) % 60 };
          const c = upd('people_1', [id], row, ts, cur.version);
          model.set(id, { row, version: c.version });
          cs.push(c);
        } else {
          const row = { id, email: `n${id}@x`, age: 55, score: '1' };
          const c = ins('people_1', [id], row, ts);
          model.set(id, { row, version: c.version });
          cs.push(c);
        }
      }
      await e1.commit(ts, cs);
    }
    await settle(++ts);
    await built('people_1', 'people_age');
    await built('people_1', 'people_age_score');
    assert.equal((await ing.indexStatus('people_1', 'people_age')).state, 'done');
    for (let age = 0; age < 61; age++) {
      assert.deepEqual(ids(await ing.find('people_1', { by: 'index', index: 'people_age', eq: [age] }, {})), byAge(age), `age ${age}`);
    }
    // Maintained after the build: update, delete, insert, and an update that keeps the value.
    const a = model.get(10) as { row: Row; version: string };
    const b = model.get(11) as { row: Row; version: string };
    const moved = upd('people_1', [10], { ...a.row, age: 99 }, ++ts, a.version);
    const gone = del('people_1', [11], ts, b.version);
    const fresh = ins('people_1', [9000], { id: 9000, email: 'z@x', age: 99, score: '2.5' }, ts);
    await e1.commit(ts, [moved, gone, fresh]);
    const same = upd('people_1', [10], { ...a.row, age: 99, email: 'moved@x' }, ++ts, moved.version);
    await e1.commit(ts, [same]);
    await settle(++ts);
    model.set(10, { row: { ...a.row, age: 99, email: 'moved@x' }, version: same.version });
    model.delete(11);
    model.set(9000, { row: { id: 9000, email: 'z@x', age: 99, score: '2.5' }, version: fresh.version });
    for (const age of [a.row.age as number, b.row.age as number, 99]) {
      assert.deepEqual(ids(await ing.find('people_1', { by: 'index', index: 'people_age', eq: [age] }, {})), byAge(age), `age ${age}`);
    }
    const r10 = (await ing.find('people_1', { by: 'index', index: 'people_age', eq: [99] }, {})).find((r) => r.key?.[0] === 10);
    assert.equal(r10?.row?.email, 'moved@x');
    assert.equal(r10?.version, same.version);
    // The index holds exactly one entry per live row.
    await ing.close();
    const store = new IngestionStore(join(dir, 'ing'));
    try {
      const oid = catalog.get('people').indexes?.find((i) => i.name === 'people_age')?.oid as number;
      assert.equal(countPrefix(store, 'indexRaw', ['people_1', oid]), model.size);
    } finally {
      await store.close();
    }
    ing = await start();
  });

  test('find by index: equality on leading columns (numeric by value), ranges on the first column, limits, as of a time', async () => {
    const eq = async (vals: Value[], asOf?: number) =>
      ids(await ing.find('people_1', { by: 'index', index: 'people_age_score', eq: vals }, asOf === undefined ? {} : { asOf }));
    const want = (age: number, score?: string) =>
      [...model.entries()]
        .filter(([, r]) => r.row.age === age && (score === undefined || compareValues(r.row.score ?? null, score, 'numeric') === 0))
        .map(([id]) => id)
        .sort((a, b) => a - b);
    assert.deepEqual(await eq([7]), want(7));
    assert.deepEqual(await eq([7, '3.1']), want(7, '3.1'), 'numeric 3.1 finds 3.10');
    assert.ok(want(7, '3.1').length > 0);
    assert.deepEqual(await eq([7, null]), [], 'NULL equals nothing');
    // Ranges on the first column, in index order (age, then score, then key).
    const range = async (lo: number | undefined, loIncl: boolean, hi: number | undefined, hiIncl: boolean, opts = {}) =>
      ing.find(
        'people_1',
        {
          by: 'range',
          index: 'people_age',
          ...(lo === undefined ? {} : { lo: { v: lo, incl: loIncl } }),
          ...(hi === undefined ? {} : { hi: { v: hi, incl: hiIncl } }),
        },
        opts,
      );
    const inAges = (f: (age: number) => boolean) =>
      [...model.entries()]
        .filter(([, r]) => r.row.age !== null && f(r.row.age as number))
        .map(([id]) => id)
        .sort((a, b) => a - b);
    assert.deepEqual(
      ids(await range(10, true, 12, true)),
      inAges((x) => x >= 10 && x <= 12),
    );
    assert.deepEqual(
      ids(await range(10, false, 12, false)),
      inAges((x) => x === 11),
    );
    assert.deepEqual(
      ids(await range(57, false, undefined, false)),
      inAges((x) => x > 57),
    );
    assert.deepEqual(
      ids(await range(undefined, false, 2, false)),
      inAges((x) => x < 2),
    );
    const ordered = await range(20, true, 30, true);
    for (let i = 1; i < ordered.length; i++) {
      assert.ok((ordered[i - 1]?.row?.age as number) <= (ordered[i]?.row?.age as number), 'index order');
    }
    assert.equal((await range(20, true, 30, true, { limit: 7 })).length, 7);
    // As of a time before the updates: the keys the index finds now and those changed since, read at that time.
    const asOf = 1006;
    const then = (age: number) =>
      Array.from({ length: 3500 }, (_, id) => id)
        .filter((id) => id % 50 === age)
        .sort((a, b) => a - b);
    assert.deepEqual(ids(await ing.find('people_1', { by: 'index', index: 'people_age', eq: [3] }, { asOf })), then(3));
    assert.deepEqual(
      ids(await ing.find('people_1', { by: 'range', index: 'people_age', lo: { v: 48, incl: true } }, { asOf })),
      [...then(48), ...then(49)].sort((a, b) => a - b),
    );
    await assert.rejects(ing.find('people_1', { by: 'index', index: 'nope', eq: [1] }, {}), { code: '42704' });
    await assert.rejects(ing.find('people_1', { by: 'index', index: 'people_age', eq: [1] }, { afterKey: [1] }), { code: '22023' });
    await assert.rejects(ing.indexStatus('people_1', 'nope'), { code: '42704' });
  });

  test('conflicts between engines: the index follows the row the merge keeps (LWW and reject)', async () => {
    const base = (await ing.get('people_1', [20])) as RowVersion;
    const row = base.row as Row;
    const conflicts = (await ing.status()).conflicts;
    // e2's later write arrives first; e1's earlier concurrent one loses LWW when it arrives.
    await e2.commit(5001, [upd('people_1', [20], { ...row, age: 92 }, 5001, base.version)]);
    await settle(5001);
    await e1.commit(5000, [upd('people_1', [20], { ...row, age: 91 }, 5000, base.version)]);
    await settle(5002);
    const at = async (age: number) => ids(await ing.find('people_1', { by: 'index', index: 'people_age', eq: [age] }, {}));
    assert.ok((await at(92)).includes(20));
    assert.ok(!(await at(91)).includes(20), 'the LWW loser is not indexed');
    assert.equal((await ing.status()).conflicts - conflicts, 1);
    // Now e1 wins by commit time over the current latest.
    const cur = (await ing.get('people_1', [20])) as RowVersion;
    await e1.commit(5003, [upd('people_1', [20], { ...row, age: 93 }, 5003, base.version)]);
    await settle(5003);
    assert.ok((await at(93)).includes(20));
    assert.ok(!(await at(92)).includes(20), 'the old latest left the index');
    assert.notEqual(cur.version, (await ing.get('people_1', [20]))?.version);

    // conflict: reject keeps the first applied version.
    ddl({
      kind: 'create_table',
      at: 0,
      table: {
        name: 'rej',
        storage: 'rej_1',
        columns: [
          { name: 'id', type: 'integer', notNull: true },
          { name: 'v', type: 'text', notNull: false },
        ],
        primaryKey: ['id'],
        indexes: [{ name: 'rej_v', columns: ['v'], unique: false, state: 'building' }],
      },
    });
    const first = ins('rej_1', [1], { id: 1, v: 'a' }, 5100);
    await e1.commit(5100, [first]);
    await settle(5100);
    await e1.commit(5101, [upd('rej_1', [1], { id: 1, v: 'b' }, 5101, first.version)]);
    await e2.commit(5102, [upd('rej_1', [1], { id: 1, v: 'c' }, 5102, first.version)]);
    await settle(5102);
    await built('rej_1', 'rej_v');
    const v = async (x: string) => ids(await ing.find('rej_1', { by: 'index', index: 'rej_v', eq: [x] }, {}));
    assert.deepEqual(await v('b'), [1]);
    assert.deepEqual(await v('c'), [], 'the rejected version is not indexed');
    assert.deepEqual(await v('a'), []);
  });

  test('a unique index over duplicate live values fails its build with 23505; NULLs are no duplicates', async () => {
    ddl({
      kind: 'create_table',
      at: 0,
      table: {
        name: 'acct',
        storage: 'acct_1',
        columns: [
          { name: 'id', type: 'integer', notNull: true },
          { name: 'email', type: 'text', notNull: false },
          { name: 'code', type: 'integer', notNull: false },
        ],
        primaryKey: ['id'],
      },
    });
    const rows = [
      { id: 1, email: 'a@x', code: 1 },
      { id: 2, email: 'dup@x', code: 2 },
      { id: 3, email: null, code: null },
      { id: 4, email: null, code: null },
      { id: 5, email: 'dup@x', code: 5 },
    ];
    const cs = rows.map((r) => ins('acct_1', [r.id], r, 6000));
    await e1.commit(6000, cs);
    // A deleted row's value is no duplicate.
    await e1.commit(6001, [ins('acct_1', [6], { id: 6, email: 'x', code: 1 }, 6001)]);
    await settle(6001);
    const six = (await ing.get('acct_1', [6])) as RowVersion;
    await e1.commit(6002, [del('acct_1', [6], 6002, six.version)]);
    await settle(6002);
    setIndexes('acct', [
      { name: 'acct_email', columns: ['email'], unique: true, state: 'building' },
      { name: 'acct_code', columns: ['code'], unique: true, state: 'building' },
    ]);
    await built('acct_1', 'acct_email');
    await built('acct_1', 'acct_code');
    assert.deepEqual(await ing.indexStatus('acct_1', 'acct_email'), {
      state: 'failed',
      error: { code: '23505', message: 'could not create unique index "acct_email"', detail: 'Key (email)=(dup@x) is duplicated.' },
    });
    assert.deepEqual(await ing.indexStatus('acct_1', 'acct_code'), { state: 'done' });
    // A failed index is not used for lookups: they are answered by a scan.
    assert.deepEqual(ids(await ing.find('acct_1', { by: 'index', index: 'acct_email', eq: ['dup@x'] }, {})), [2, 5]);

    // A duplicate a merge brings while the catalog still has the index building fails it too.
    await e1.commit(6100, [ins('acct_1', [7], { id: 7, email: 'q', code: 2 }, 6100)]);
    await settle(6100);
    await until(async () => (await ing.indexStatus('acct_1', 'acct_code')).state === 'failed', 'acct_code failed');
    assert.equal((await ing.indexStatus('acct_1', 'acct_code')).error?.detail, 'Key (code)=(2) is duplicated.');
    // Survives a restart.
    await ing.close();
    ing = await start();
    assert.equal((await ing.indexStatus('acct_1', 'acct_email')).state, 'failed');
  });

  test('a dropped index loses its entries; a valid index is no longer checked for duplicates', async () => {
    const oid = catalog.get('people').indexes?.find((i) => i.name === 'people_age')?.oid as number;
    const keep = catalog.get('people').indexes?.find((i) => i.name === 'people_age_score') as IndexDef;
    setIndexes('people', [{ ...keep, state: 'valid' }]);
    await until(async () => !(await ing.status()).indexBuilds.some((b) => b.table === 'people_1' && b.index === 'people_age'), 'drop');
    await assert.rejects(ing.indexStatus('people_1', 'people_age'), { code: '42704' });
    assert.equal((await ing.indexStatus('people_1', 'people_age_score')).state, 'done', 'a renamed-to-valid index keeps its build');
    await ing.close();
    const store = new IngestionStore(join(dir, 'ing'));
    try {
      assert.equal(countPrefix(store, 'indexRaw', ['people_1', oid]), 0);
      assert.equal(countPrefix(store, 'indexRaw', ['people_1', keep.oid as number]), model.size);
    } finally {
      await store.close();
    }
    ing = await start();
  });
});
