/**
 * Secondary indexes of the TX engine against a real LevelDB: a build (catalog event with an
 * index in state `building`) while writes continue ends with exactly one entry per live row;
 * a unique build meeting a duplicate fails with 23505; dropped indexes, dropped tables and
 * truncated tables leave nothing behind in LevelDB, and writes to dead storage are refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Catalog,
  type ChangeBus,
  decode,
  encode,
  type IndexDef,
  keyString,
  LocalClock,
  openLocalBus,
  rootLogger,
  type TableDef,
  type Value,
  type WriteOp,
} from '@stratum/shared';
import { startTxEngine, type TxEngine, TxStore } from './index.ts';
import { decodeTupleKey, prefixRange, type StoredRow } from './store.ts';

const items = (storage: string, indexes: IndexDef[] = []): TableDef => ({
  name: 'items',
  storage,
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'cat', type: 'text', notNull: false },
    { name: 'v', type: 'integer', notNull: false },
  ],
  primaryKey: ['id'],
  indexes,
});

interface Env {
  dir: string;
  bus: ChangeBus;
  catalog: Catalog;
  tx: TxEngine;
  v: number;
}

async function setup(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-txi-'));
  const bus = await openLocalBus(join(dir, 'bus'));
  const catalog = new Catalog();
  catalog.apply(1, { kind: 'create_table', table: items('items_1'), at: 0 });
  const tx = await startTxEngine({
    id: 'txi',
    dir: join(dir, 'tx'),
    partitions: 4,
    catalog,
    bus,
    clock: new LocalClock(0),
    heartbeatMs: 50,
    log: rootLogger(),
  });
  return { dir, bus, catalog, tx, v: 1 };
}

async function teardown(e: Env): Promise<void> {
  await e.tx.close();
  await e.bus.close();
  await rm(e.dir, { recursive: true, force: true });
}

/** Rows and index entries LevelDB holds for a storage (opened after the engine closed). */
async function stored(dir: string, storage: string): Promise<{ rows: Map<string, StoredRow>; entries: Map<number, Value[][]> }> {
  const s = await TxStore.open(join(dir, 'tx'), 'txi');
  try {
    const rows = new Map<string, StoredRow>();
    for await (const [, v] of s.entries(prefixRange(['r', storage]))) {
      const r = decode<StoredRow>(v, 'row');
      if (r.row) rows.set(keyString([r.row.id ?? null]), r);
    }
    const entries = new Map<number, Value[][]>();
    for await (const [k, v] of s.entries(prefixRange(['i', storage]))) {
      const oid = Number(readOid(k));
      entries.set(oid, [...(entries.get(oid) ?? []), decode<Value[]>(v, 'entry')]);
    }
    return { rows, entries };
  } finally {
    await s.close();
  }
}

/** The index oid of an entry key `['i', storage, oid, ...]`. */
function readOid(k: Buffer): number {
  return Number(decodeTupleKey(k)[2]);
}

const ins = (table: string, rows: Value[][]): WriteOp => ({ kind: 'insert', table, columns: ['id', 'cat', 'v'], rows });

/**
 * Until index `index` of items_1 (rows 0..n-1) is no longer building, and at least `rounds` times:
 * move a row to `set(i)` of `column`, insert `inserted(i)`, delete another row. Returns the build's status.
 */
async function writeDuringBuild(
  e: Env,
  index: string,
  n: number,
  rounds: number,
  change: { column: string; set: (i: number) => Value; type: 'text' | 'integer'; inserted: (i: number) => Value[] },
) {
  let i = 0;
  let status = await e.tx.indexStatus('items_1', index);
  while (status.state === 'building' || i < rounds) {
    const id = (i * 7919) % n;
    await Promise.all([
      e.tx.execute({
        catalogVersion: 2,
        ops: [
          {
            kind: 'update',
            table: 'items_1',
            source: { by: 'key', keys: [[id]] },
            set: [{ column: change.column, expr: { k: 'const', v: change.set(i), t: change.type } }],
          },
        ],
      }),
      e.tx.execute({ catalogVersion: 2, ops: [ins('items_1', [change.inserted(i)])] }),
      e.tx.execute({ catalogVersion: 2, ops: [{ kind: 'delete', table: 'items_1', source: { by: 'key', keys: [[(id + 13) % n]] } }] }),
    ]);
    i++;
    status = await e.tx.indexStatus('items_1', index);
  }
  return status;
}

/** Start the engine again on the same directory (after `e.tx.close()`). */
async function restart(e: Env): Promise<void> {
  e.tx = await startTxEngine({
    id: 'txi',
    dir: join(e.dir, 'tx'),
    partitions: 4,
    catalog: e.catalog,
    bus: e.bus,
    clock: new LocalClock(0),
    log: rootLogger(),
  });
}

describe('secondary indexes', () => {
  test('an index built while writes continue has exactly the live rows, and lookups use it', async () => {
    const e = await setup();
    try {
      const N = 6000;
      for (let i = 0; i < N; i += 1000) {
        await e.tx.execute({
          catalogVersion: 1,
          ops: [
            ins(
              'items_1',
              Array.from({ length: 1000 }, (_, j) => [i + j, `c${(i + j) % 7}`, i + j]),
            ),
          ],
        });
      }
      const ix: IndexDef = { name: 'items_cat_idx', columns: ['cat'], unique: false, state: 'building' };
      e.catalog.apply(2, { kind: 'replace_table', name: 'items', table: items('items_1', [ix]), at: 0 });
      // Writes keep coming while the build runs: updates that move rows between values, inserts, deletes.
      const status = await writeDuringBuild(e, 'items_cat_idx', N, 30, {
        column: 'cat',
        set: (i) => `c${i % 5}x`,
        type: 'text',
        inserted: (i) => [N + i, `c${i % 3}`, i],
      });
      assert.equal(status.state, 'done');
      const all = await e.tx.read({ catalogVersion: 2, table: 'items_1', source: { by: 'scan' } });
      for (const cat of ['c0', 'c3', 'c1x', 'c4x']) {
        const want = all.filter((r) => r.row?.cat === cat).map((r) => r.key?.[0]);
        const got = await e.tx.read({ catalogVersion: 2, table: 'items_1', source: { by: 'index', index: 'items_cat_idx', eq: [cat] } });
        assert.deepEqual(
          got.map((r) => r.key?.[0]),
          want,
          `rows with cat = ${cat}`,
        );
      }
      const oid = e.catalog.byStorage('items_1')?.indexes?.[0]?.oid ?? -1;
      await e.tx.close();
      const s = await stored(e.dir, 'items_1');
      const entries = s.entries.get(oid) ?? [];
      assert.equal(entries.length, s.rows.size, 'one entry per live row');
      assert.deepEqual(new Set(entries.map((k) => keyString(k))), new Set(s.rows.keys()));
      await restart(e);
      assert.equal((await e.tx.indexStatus('items_1', 'items_cat_idx')).state, 'done', 'a finished build stays finished after a restart');
    } finally {
      await teardown(e);
    }
  });

  test('a unique build over several chunks, with writes before and during it, answers exactly as a scan', async () => {
    const e = await setup();
    try {
      // More rows than one back-fill chunk, so chunks and concurrent commits interleave.
      const N = 12_000;
      for (let i = 0; i < N; i += 4000) {
        await e.tx.execute({
          catalogVersion: 1,
          ops: [
            ins(
              'items_1',
              Array.from({ length: 4000 }, (_, j) => [i + j, `c${i + j}`, i + j]),
            ),
          ],
        });
      }
      const ix: IndexDef = { name: 'items_v_key', columns: ['v'], unique: true, state: 'building' };
      e.catalog.apply(2, { kind: 'replace_table', name: 'items', table: items('items_1', [ix]), at: 0 });
      // During the build: values move to fresh ones (v + 1,000,000), rows are inserted and deleted.
      const status = await writeDuringBuild(e, 'items_v_key', N, 20, {
        column: 'v',
        set: (i) => 1_000_000 + i,
        type: 'integer',
        inserted: (i) => [N + i, 'new', 2_000_000 + i],
      });
      assert.deepEqual(status, { state: 'done' });
      const all = await e.tx.read({ catalogVersion: 2, table: 'items_1', source: { by: 'scan' } });
      // Every live row is found by its value, and values no live row holds find nothing.
      for (const r of all) {
        const got = await e.tx.read({
          catalogVersion: 2,
          table: 'items_1',
          source: { by: 'index', index: 'items_v_key', eq: [r.row?.v ?? null] },
        });
        assert.deepEqual(
          got.map((x) => x.key),
          [r.key],
          `row ${String(r.key)}`,
        );
      }
      const byRange = await e.tx.read({
        catalogVersion: 2,
        table: 'items_1',
        source: { by: 'range', index: 'items_v_key', lo: { v: 0, incl: true } },
      });
      assert.equal(byRange.length, all.length, 'a range over the whole index finds every live row once');
      const oid = e.catalog.byStorage('items_1')?.indexes?.[0]?.oid ?? -1;
      await e.tx.close();
      const s = await stored(e.dir, 'items_1');
      const entries = s.entries.get(oid) ?? [];
      assert.equal(entries.length, s.rows.size, 'one entry per live row, none stale');
      assert.deepEqual(new Set(entries.map((k) => keyString(k))), new Set(s.rows.keys()));
      await restart(e);
    } finally {
      await teardown(e);
    }
  });

  test('a unique index build that meets a duplicate fails with 23505 naming the value', async () => {
    const e = await setup();
    try {
      await e.tx.execute({
        catalogVersion: 1,
        ops: [
          ins('items_1', [
            [1, 'a', 7],
            [2, 'b', 8],
            [3, 'c', 7],
          ]),
        ],
      });
      const ix: IndexDef = { name: 'items_v_key', columns: ['v'], unique: true, state: 'building' };
      e.catalog.apply(2, { kind: 'replace_table', name: 'items', table: items('items_1', [ix]), at: 0 });
      let st = await e.tx.indexStatus('items_1', 'items_v_key');
      while (st.state === 'building') {
        await new Promise((r) => setTimeout(r, 10));
        st = await e.tx.indexStatus('items_1', 'items_v_key');
      }
      assert.equal(st.state, 'failed');
      assert.deepEqual(st.error, {
        code: '23505',
        message: 'could not create unique index "items_v_key"',
        detail: 'Key (v)=(7) is duplicated.',
      });
      await assert.rejects(e.tx.indexStatus('items_1', 'nope'), { code: '42704' });
    } finally {
      await teardown(e);
    }
  });

  test('unique builds over many rows: distinct values finish, a pair of equal values far apart fails', async () => {
    const e = await setup();
    try {
      const N = 3000;
      await e.tx.execute({
        catalogVersion: 1,
        ops: [
          ins(
            'items_1',
            Array.from({ length: N }, (_, i) => [i, i === 5 || i === N - 7 ? 'dup' : `c${i}`, i]),
          ),
        ],
      });
      const v: IndexDef = { name: 'items_v_key', columns: ['v'], unique: true, state: 'building' };
      const cat: IndexDef = { name: 'items_cat_key', columns: ['cat'], unique: true, state: 'building' };
      e.catalog.apply(2, { kind: 'replace_table', name: 'items', table: items('items_1', [v, cat]), at: 0 });
      const settled = async (name: string) => {
        let st = await e.tx.indexStatus('items_1', name);
        while (st.state === 'building') {
          await new Promise((r) => setTimeout(r, 10));
          st = await e.tx.indexStatus('items_1', name);
        }
        return st;
      };
      assert.deepEqual(await settled('items_v_key'), { state: 'done' });
      assert.deepEqual(await settled('items_cat_key'), {
        state: 'failed',
        error: { code: '23505', message: 'could not create unique index "items_cat_key"', detail: 'Key (cat)=(dup) is duplicated.' },
      });
    } finally {
      await teardown(e);
    }
  });

  test('dropped indexes, dropped and truncated tables leave nothing in LevelDB; their storage refuses writes', async () => {
    const e = await setup();
    try {
      const ix: IndexDef = { name: 'items_cat_idx', columns: ['cat'], unique: false, state: 'valid' };
      e.catalog.apply(2, { kind: 'replace_table', name: 'items', table: items('items_1', [ix]), at: 0 });
      await e.tx.execute({
        catalogVersion: 2,
        ops: [
          ins('items_1', [
            [1, 'a', 1],
            [2, 'b', 2],
          ]),
        ],
      });
      // DROP INDEX.
      e.catalog.apply(3, { kind: 'replace_table', name: 'items', table: items('items_1'), at: 0 });
      // TRUNCATE: a new storage name; the old one is dead.
      e.catalog.apply(4, { kind: 'replace_table', name: 'items', table: items('items_2', [ix]), at: 0 });
      await assert.rejects(e.tx.execute({ catalogVersion: 4, ops: [ins('items_1', [[3, 'c', 3]])] }), { code: '40001' });
      assert.deepEqual(await e.tx.read({ catalogVersion: 4, table: 'items_2', source: { by: 'scan' } }), []);
      await e.tx.execute({ catalogVersion: 4, ops: [ins('items_2', [[1, 'new', 1]])] });
      // DROP TABLE of another table.
      e.catalog.apply(5, { kind: 'create_table', table: { ...items('other_1'), name: 'other' }, at: 0 });
      await e.tx.execute({ catalogVersion: 5, ops: [ins('other_1', [[9, 'x', 9]])] });
      e.catalog.apply(6, { kind: 'drop_table', name: 'other', at: 0 });
      await assert.rejects(e.tx.execute({ catalogVersion: 6, ops: [ins('other_1', [[10, 'x', 9]])] }), { code: '40001' });
      await e.tx.close();
      const old = await stored(e.dir, 'items_1');
      assert.equal(old.rows.size, 0);
      assert.equal(old.entries.size, 0);
      assert.equal((await stored(e.dir, 'other_1')).rows.size, 0);
      const now = await stored(e.dir, 'items_2');
      assert.equal(now.rows.size, 1);
      assert.equal([...now.entries.values()].flat().length, 1);
      // Garbage the engine missed while it was down goes at the next start.
      const s = await TxStore.open(join(e.dir, 'tx'), 'txi');
      await s.db.put(Buffer.from(prefixRange(['r', 'other_1']).gte), encode({ v: 'x', ts: 1, row: null }));
      await s.close();
      await restart(e);
      await e.tx.close();
      const s2 = await TxStore.open(join(e.dir, 'tx'), 'txi');
      assert.equal(await s2.any(prefixRange(['r', 'other_1'])), false);
      await s2.close();
      await restart(e);
    } finally {
      await teardown(e);
    }
  });
});
