/**
 * Rows the engine does not hold come from the real ingestion (LMDB, local bus): rows written by
 * another TX engine and rows evicted after tx_retention are found by key, index, range, scan and
 * candidates sources, updated and deleted, and count for UNIQUE and FOREIGN KEY checks; a block
 * finds them by index as of its snapshot, whoever changed them since.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type IngestionService, ROW_TIER_ONLY, startIngestion } from '@stratum/ingestion';
import {
  Catalog,
  type ChangeBus,
  DEFAULT_TABLE_OPTIONS,
  LocalClock,
  openLocalBus,
  registry,
  rootLogger,
  type TableDef,
  type Value,
  type WriteOp,
} from '@stratum/shared';
import { startTxEngine, type TxEngine, type TxEngineOptions } from './index.ts';

const users: TableDef = {
  name: 'users',
  storage: 'users_7',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'email', type: 'text', notNull: true },
    { name: 'score', type: 'integer', notNull: false },
  ],
  primaryKey: ['id'],
  constraints: [{ kind: 'unique', name: 'users_email_key', columns: ['email'], index: 'users_email_key' }],
  indexes: [{ name: 'users_email_key', columns: ['email'], unique: true, state: 'valid', constraint: 'users_email_key' }],
};

const orders: TableDef = {
  name: 'orders',
  storage: 'orders_7',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'uid', type: 'integer', notNull: false },
  ],
  primaryKey: ['id'],
  constraints: [
    {
      kind: 'foreign',
      name: 'orders_uid_fkey',
      columns: ['uid'],
      refTable: 'users',
      refColumns: ['id'],
      onDelete: 'restrict',
      onUpdate: 'restrict',
    },
  ],
};

/** Rows of this table are evicted from the TX engine as soon as ingestion has them. */
const hot: TableDef = {
  name: 'hot',
  storage: 'hot_7',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'tag', type: 'text', notNull: false },
  ],
  primaryKey: ['id'],
  indexes: [{ name: 'hot_tag_idx', columns: ['tag'], unique: false, state: 'valid' }],
};

/** Like `hot`: rows evicted as soon as ingestion has them, so a block finds them through ingestion. */
const tagged: TableDef = {
  ...hot,
  name: 'tagged',
  storage: 'tagged_7',
  indexes: [{ name: 'tagged_tag_idx', columns: ['tag'], unique: false, state: 'valid' }],
};

const V = 4;
const ins = (table: string, columns: string[], rows: Value[][]): WriteOp => ({ kind: 'insert', table, columns, rows });

/** Rows engine `txa` has evicted so far. */
async function evicted(): Promise<number> {
  return (
    (await registry.getSingleMetric('stratum_tx_evicted_rows_total')?.get())?.values.find((v) => v.labels.engine === 'txa')?.value ?? 0
  );
}

/** UPDATE `table` SET tag = `to` WHERE tag = `from`, through the index `index`. */
const retag = (table: string, index: string, from: string, to: string): WriteOp => ({
  kind: 'update',
  table,
  source: { by: 'index', index, eq: [from] },
  set: [{ column: 'tag', expr: { k: 'const', v: to, t: 'text' } }],
});

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Ingestion `i1` over partitions 0–3 in `dir`/ing, pushing nowhere, no GC. */
function startTestIngestion(dir: string, bus: ChangeBus, catalog: Catalog): Promise<IngestionService> {
  return startIngestion({
    id: 'i1',
    dir: join(dir, 'ing'),
    partitions: [0, 1, 2, 3],
    catalog,
    bus,
    ...ROW_TIER_ONLY,
    log: rootLogger(),
  });
}

/** TX engine `id` in `dir`/`id` reading through `ing`, with fast heartbeats, eviction and writer checks. */
function startTestEngine(
  id: string,
  dir: string,
  bus: ChangeBus,
  catalog: Catalog,
  ing: IngestionService,
  o: Partial<TxEngineOptions> = {},
): Promise<TxEngine> {
  return startTxEngine({
    id,
    dir: join(dir, id),
    partitions: 4,
    catalog,
    bus,
    clock: new LocalClock(0),
    ingestion: ing,
    heartbeatMs: 20,
    retentionCheckMs: 50,
    writerCheckMs: 50,
    log: rootLogger(),
    ...o,
  });
}

describe('rows held by ingestion', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  let a: TxEngine;
  let b: TxEngine;
  const catalog = new Catalog((name) =>
    name === 'hot' || name === 'tagged' ? { ...DEFAULT_TABLE_OPTIONS, txRetentionMs: 0 } : DEFAULT_TABLE_OPTIONS,
  );
  catalog.apply(1, { kind: 'create_table', table: users, at: 0 });
  catalog.apply(2, { kind: 'create_table', table: orders, at: 0 });
  catalog.apply(3, { kind: 'create_table', table: hot, at: 0 });
  catalog.apply(4, { kind: 'create_table', table: tagged, at: 0 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-txing-'));
    bus = await openLocalBus(join(dir, 'bus'));
    ing = await startTestIngestion(dir, bus, catalog);
    const start = (id: string) => startTestEngine(id, dir, bus, catalog, ing);
    a = await start('txa');
    b = await start('txb');
    // Engine B writes users; A never holds them.
    const r = await b.execute({
      catalogVersion: V,
      ops: [
        ins(
          'users_7',
          ['id', 'email', 'score'],
          Array.from({ length: 10 }, (_, i) => [i + 1, `e${i + 1}@x`, i]),
        ),
      ],
    });
    await until('ingestion to merge B', async () => (await ing.status()).watermark >= r.commitTs);
  });
  after(async () => {
    await a.close();
    await b.close();
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("another engine's rows: found by every source, and they count for UNIQUE and FOREIGN KEY", async () => {
    const byEmail = await a.read({ catalogVersion: V, table: 'users_7', source: { by: 'index', index: 'users_email_key', eq: ['e3@x'] } });
    assert.deepEqual(
      byEmail.map((r) => r.key),
      [[3]],
    );
    await assert.rejects(
      a.execute({ catalogVersion: V, ops: [ins('users_7', ['id', 'email'], [[11, 'e3@x']])] }),
      (e: { code: string; detail?: string }) => {
        assert.equal(e.code, '23505');
        assert.equal(e.detail, 'Key (email)=(e3@x) already exists.');
        return true;
      },
    );
    await assert.rejects(a.execute({ catalogVersion: V, ops: [ins('users_7', ['id', 'email'], [[4, 'new@x']])] }), { code: '23505' });
    await a.execute({ catalogVersion: V, ops: [ins('orders_7', ['id', 'uid'], [[1, 5]])] });
    await assert.rejects(a.execute({ catalogVersion: V, ops: [ins('orders_7', ['id', 'uid'], [[2, 55]])] }), { code: '23503' });
    await assert.rejects(
      a.execute({ catalogVersion: V, ops: [{ kind: 'delete', table: 'users_7', source: { by: 'key', keys: [[5]] } }] }),
      {
        code: '23503',
      },
    );
    const upd = await a.execute({
      catalogVersion: V,
      ops: [
        {
          kind: 'update',
          table: 'users_7',
          source: { by: 'range', lo: { v: 2, incl: true }, hi: { v: 4, incl: true } },
          set: [{ column: 'score', expr: { k: 'const', v: 100, t: 'integer' } }],
          returning: true,
        },
      ],
    });
    assert.deepEqual(upd.counts, [3]);
    const scan = await a.read({ catalogVersion: V, table: 'users_7', source: { by: 'scan' } });
    assert.equal(scan.length, 10);
    assert.deepEqual(
      scan.filter((r) => r.row?.score === 100).map((r) => r.key),
      [[2], [3], [4]],
    );
    // Candidates: the analytical tier's keys as of the watermark, plus what A committed since.
    const w = (await ing.status()).watermark;
    const cands = await a.read({ catalogVersion: V, table: 'users_7', source: { by: 'candidates', keys: [[9]], asOf: w - 1 } });
    assert.ok(cands.some((r) => r.key?.[0] === 9));
    const del = await a.execute({
      catalogVersion: V,
      ops: [
        {
          kind: 'delete',
          table: 'users_7',
          source: { by: 'scan' },
          where: { k: 'test', op: 'null', arg: { k: 'col', field: 'score', t: 'integer' } },
        },
      ],
    });
    assert.deepEqual(del.counts, [0]);
  });

  test('evicted rows are read from ingestion by index, range and scan, and can be updated', async () => {
    const before0 = await evicted();
    await a.execute({
      catalogVersion: V,
      ops: [
        ins(
          'hot_7',
          ['id', 'tag'],
          [
            [1, 'x'],
            [2, 'y'],
            [3, 'x'],
          ],
        ),
      ],
    });
    await until('eviction of the hot rows', async () => (await evicted()) >= before0 + 3);
    const byTag = await a.read({ catalogVersion: V, table: 'hot_7', source: { by: 'index', index: 'hot_tag_idx', eq: ['x'] } });
    assert.deepEqual(
      byTag.map((r) => r.key),
      [[1], [3]],
    );
    const range = await a.read({ catalogVersion: V, table: 'hot_7', source: { by: 'range', lo: { v: 2, incl: true } } });
    assert.deepEqual(
      range.map((r) => r.key),
      [[2], [3]],
    );
    const u = await a.execute({ catalogVersion: V, ops: [retag('hot_7', 'hot_tag_idx', 'x', 'z')] });
    assert.deepEqual(u.counts, [2]);
    const z = await a.read({ catalogVersion: V, table: 'hot_7', source: { by: 'index', index: 'hot_tag_idx', eq: ['x'] } });
    assert.deepEqual(z, []);
    // A block sees the evicted rows at its snapshot too.
    const t = await a.begin('repeatable_read');
    const d = await a.executeIn(t, {
      catalogVersion: V,
      ops: [{ kind: 'delete', table: 'hot_7', source: { by: 'scan' }, returning: true }],
    });
    assert.deepEqual(d.counts, [3]);
    await a.commit(t);
    assert.deepEqual(await a.read({ catalogVersion: V, table: 'hot_7', source: { by: 'scan' } }), []);
  });

  test('an index lookup in a block returns exactly the rows that matched at its snapshot, whichever engine changed them since', async () => {
    const before0 = await evicted();
    await a.execute({
      catalogVersion: V,
      ops: [
        ins(
          'tagged_7',
          ['id', 'tag'],
          [
            [1, 'x'],
            [2, 'y'],
            [3, 'x'],
            [5, 'x'],
          ],
        ),
      ],
    });
    await until('eviction of the tagged rows', async () => (await evicted()) >= before0 + 4);
    const t = await a.begin('repeatable_read');
    await new Promise((r) => setTimeout(r, 5)); // later commits get later timestamps than the snapshot
    const set = (id: number, tag: string | null): WriteOp => ({
      kind: 'update',
      table: 'tagged_7',
      source: { by: 'key', keys: [[id]] },
      set: [{ column: 'tag', expr: { k: 'const', v: tag, t: 'text' } }],
    });
    // After the snapshot, another engine moves row 1 out of 'x' and row 2 into it, adds row 4 with
    // 'x' and deletes row 5; this engine moves row 3 out of 'x'.
    const rb = await b.execute({
      catalogVersion: V,
      ops: [
        set(1, 'y'),
        set(2, 'x'),
        ins('tagged_7', ['id', 'tag'], [[4, 'x']]),
        { kind: 'delete', table: 'tagged_7', source: { by: 'key', keys: [[5]] } },
      ],
    });
    const ra = await a.execute({ catalogVersion: V, ops: [set(3, null)] });
    await until('ingestion to merge both engines', async () => (await ing.status()).watermark >= Math.max(ra.commitTs, rb.commitTs));
    const latest = await a.read({ catalogVersion: V, table: 'tagged_7', source: { by: 'index', index: 'tagged_tag_idx', eq: ['x'] } });
    assert.deepEqual(
      latest.map((r) => r.key),
      [[2], [4]],
    );
    const x = await a.read({ catalogVersion: V, table: 'tagged_7', txnId: t, source: { by: 'index', index: 'tagged_tag_idx', eq: ['x'] } });
    assert.deepEqual(
      x.map((r) => [r.key, r.row?.tag]),
      [
        [[1], 'x'],
        [[3], 'x'],
        [[5], 'x'],
      ],
    );
    const y = await a.read({ catalogVersion: V, table: 'tagged_7', txnId: t, source: { by: 'index', index: 'tagged_tag_idx', eq: ['y'] } });
    assert.deepEqual(
      y.map((r) => [r.key, r.row?.tag]),
      [[[2], 'y']],
    );
    const range = await a.read({
      catalogVersion: V,
      table: 'tagged_7',
      txnId: t,
      source: { by: 'range', index: 'tagged_tag_idx', lo: { v: 'x', incl: true } },
    });
    assert.deepEqual(
      range.map((r) => r.key),
      [[1], [3], [5], [2]],
    );
    // Updating the rows it found: they were changed since the snapshot, so the first committer won.
    const u = await a.executeIn(t, { catalogVersion: V, ops: [retag('tagged_7', 'tagged_tag_idx', 'x', 'w')] });
    assert.deepEqual(u.counts, [3]);
    await assert.rejects(a.commit(t), { code: '40001' });
  });
});

describe('one engine alone: ingestion is asked only for tables whose rows it evicted', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  let e: TxEngine | undefined;
  const catalog = new Catalog((name) => (name === 'hot' ? { ...DEFAULT_TABLE_OPTIONS, txRetentionMs: 0 } : DEFAULT_TABLE_OPTIONS));
  catalog.apply(1, { kind: 'create_table', table: users, at: 0 });
  catalog.apply(2, { kind: 'create_table', table: orders, at: 0 });
  catalog.apply(3, { kind: 'create_table', table: hot, at: 0 });
  catalog.apply(4, { kind: 'create_table', table: tagged, at: 0 });
  const start = () => startTestEngine('txa', dir, bus, catalog, ing, { soleWriter: true });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-txalone-'));
    bus = await openLocalBus(join(dir, 'bus'));
    ing = await startTestIngestion(dir, bus, catalog);
    e = await start();
  });
  after(async () => {
    await e?.close();
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('evicted rows are still found, and still collide with inserts, before and after a restart and a lost store', async () => {
    const before0 = await evicted();
    await e!.execute({
      catalogVersion: V,
      ops: [
        ins(
          'hot_7',
          ['id', 'tag'],
          [
            [1, 'x'],
            [2, 'y'],
          ],
        ),
      ],
    });
    await e!.execute({ catalogVersion: V, ops: [ins('users_7', ['id', 'email', 'score'], [[1, 'a@x', 1]])] });
    await until('eviction of the hot rows', async () => (await evicted()) >= before0 + 2);
    const check = async (free: number) => {
      assert.deepEqual((await e!.get('hot_7', [1], V))?.row, { id: 1, tag: 'x' });
      const range = await e!.read({ catalogVersion: V, table: 'hot_7', source: { by: 'range', lo: { v: 1, incl: true } } });
      assert.deepEqual(
        range.map((r) => r.key),
        [[1], [2]],
      );
      await assert.rejects(e!.execute({ catalogVersion: V, ops: [ins('hot_7', ['id', 'tag'], [[2, 'z']])] }), { code: '23505' });
      await assert.rejects(e!.execute({ catalogVersion: V, ops: [ins('users_7', ['id', 'email', 'score'], [[1, 'b@x', 2]])] }), {
        code: '23505',
      });
      // A key nobody wrote is free.
      const ok = await e!.execute({
        catalogVersion: V,
        ops: [ins('users_7', ['id', 'email', 'score'], [[free, `n${free}@x`, 3]])],
      });
      assert.deepEqual(ok.counts, [1]);
    };
    await check(101);
    // The record of evicted tables is stored: a restarted engine asks ingestion for them too.
    await e!.close();
    e = await start();
    await check(102);
    // A store created while ingestion already holds data (here: the engine's own directory lost)
    // takes every table for possibly remote.
    await e!.close();
    await rm(join(dir, 'txa'), { recursive: true, force: true });
    e = await start();
    await check(103);
  });
});
