/**
 * Write ops v2 on a real engine (LevelDB in a temp dir, the local bus): storage names and
 * fields, `_rowid` tables, row sources, RETURNING, ON CONFLICT, NOT NULL / CHECK / UNIQUE /
 * FOREIGN KEY with PostgreSQL's SQLSTATEs and messages, and the same constraints holding
 * between concurrent transactions of one engine (re-validated at COMMIT inside the group commit).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Catalog,
  type ChangeBus,
  type DdlEvent,
  decodeBusBatch,
  type Expr,
  LocalClock,
  openLocalBus,
  type Row,
  registerRpc,
  rootLogger,
  rpcClient,
  startHttpServer,
  type TableDef,
  type TxEngineAdminApi,
  type TxEngineApi,
  type TxRequest,
  type Value,
  type WriteOp,
} from '@stratum/shared';
import { startTxEngine, TX_ENGINE_METHODS, type TxEngine } from './index.ts';

const col = (field: string, t: 'integer' | 'bigint' | 'text' = 'integer', rel?: 1): Expr =>
  rel ? { k: 'col', field, t, rel } : { k: 'col', field, t };
const int = (v: number): Expr => ({ k: 'const', v, t: 'integer' });
const call = (fn: string, ...args: Expr[]): Expr => ({ k: 'call', fn, args, t: fn === '+' ? 'integer' : 'boolean' });

const users: TableDef = {
  name: 'users',
  storage: 'users_1',
  columns: [
    { name: 'id', type: 'bigint', notNull: true },
    // A renamed column: its field stays what it was.
    { name: 'email', field: 'mail', type: 'text', notNull: true },
    { name: 'score', type: 'integer', notNull: false },
    { name: 'nick', type: 'text', notNull: false },
  ],
  primaryKey: ['id'],
  constraints: [
    { kind: 'primary', name: 'users_pkey', columns: ['id'], index: 'users_pkey' },
    { kind: 'unique', name: 'users_email_key', columns: ['mail'], index: 'users_email_key' },
    { kind: 'unique', name: 'users_nick_key', columns: ['nick'], index: 'users_nick_key' },
    { kind: 'check', name: 'users_score_check', check: { sql: '(score >= 0)', expr: call('>=', col('score'), int(0)) } },
  ],
  indexes: [
    { name: 'users_pkey', columns: ['id'], unique: true, state: 'valid', constraint: 'users_pkey' },
    { name: 'users_email_key', columns: ['mail'], unique: true, state: 'valid', constraint: 'users_email_key' },
    { name: 'users_nick_key', columns: ['nick'], unique: true, state: 'valid', constraint: 'users_nick_key' },
    { name: 'users_score_idx', columns: ['score'], unique: false, state: 'valid' },
  ],
};

const events: TableDef = {
  name: 'events',
  storage: 'events_1',
  columns: [
    { name: '_rowid', type: 'uuid', notNull: true, hidden: true },
    { name: 'kind', type: 'text', notNull: false },
    { name: 'n', type: 'integer', notNull: false },
  ],
  primaryKey: ['_rowid'],
  indexes: [{ name: 'events_kind_idx', columns: ['kind'], unique: false, state: 'valid' }],
};

const parent: TableDef = {
  name: 'parent',
  storage: 'parent_1',
  columns: [
    { name: 'id', type: 'integer', notNull: true },
    { name: 'code', type: 'text', notNull: false },
  ],
  primaryKey: ['id'],
  indexes: [{ name: 'parent_code_key', columns: ['code'], unique: true, state: 'valid', constraint: 'parent_code_key' }],
  constraints: [{ kind: 'unique', name: 'parent_code_key', columns: ['code'], index: 'parent_code_key' }],
};

/** A child table of `parent` with the given action on delete and update. */
function child(name: string, action: 'no_action' | 'restrict' | 'cascade' | 'set_null' | 'set_default', indexed: boolean): TableDef {
  return {
    name,
    storage: `${name}_1`,
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'pid', type: 'integer', notNull: false, ...(action === 'set_default' ? { default: { sql: '0', expr: int(0) } } : {}) },
    ],
    primaryKey: ['id'],
    constraints: [
      {
        kind: 'foreign',
        name: `${name}_pid_fkey`,
        columns: ['pid'],
        refTable: 'parent',
        refColumns: ['id'],
        onDelete: action,
        onUpdate: action,
      },
    ],
    ...(indexed ? { indexes: [{ name: `${name}_pid_idx`, columns: ['pid'], unique: false, state: 'valid' as const }] } : {}),
  };
}

function catalog(): Catalog {
  const c = new Catalog();
  const evs: DdlEvent[] = [
    { kind: 'create_table', table: users, at: 0 },
    { kind: 'create_table', table: events, at: 0 },
    { kind: 'create_table', table: parent, at: 0 },
    { kind: 'create_table', table: child('c_restrict', 'restrict', true), at: 0 },
    { kind: 'create_table', table: child('c_noaction', 'no_action', false), at: 0 },
    { kind: 'create_table', table: child('c_cascade', 'cascade', true), at: 0 },
    { kind: 'create_table', table: child('c_setnull', 'set_null', false), at: 0 },
    { kind: 'create_table', table: child('c_setdefault', 'set_default', true), at: 0 },
  ];
  for (const [i, e] of evs.entries()) c.apply(i + 1, e);
  return c;
}

const V = 8;
const ins = (table: string, columns: string[], rows: Value[][], extra: Partial<Extract<WriteOp, { kind: 'insert' }>> = {}): WriteOp => ({
  kind: 'insert',
  table,
  columns,
  rows,
  ...extra,
});
const req = (...ops: WriteOp[]): TxRequest => ({ catalogVersion: V, ops });

async function rejects(p: Promise<unknown>, code: string, message?: RegExp, detail?: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string; message: string; detail?: string }) => {
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    if (detail !== undefined) assert.equal(e.detail, detail);
    return true;
  });
}

describe('write ops v2', () => {
  let dir: string;
  let bus: ChangeBus;
  let tx: TxEngine;
  const cat = catalog();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-txw-'));
    bus = await openLocalBus(join(dir, 'bus'));
    tx = await startTxEngine({
      id: 'txw',
      dir: join(dir, 'tx'),
      partitions: 4,
      catalog: cat,
      bus,
      clock: new LocalClock(0),
      heartbeatMs: 50,
      log: rootLogger(),
    });
  });
  after(async () => {
    await tx.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('rows are stored and published by storage name and field', async () => {
    const r = await tx.execute(req(ins('users_1', ['id', 'mail', 'score'], [[1n, 'a@x', 10]], { returning: true })));
    assert.deepEqual(r.counts, [1]);
    assert.deepEqual(r.rows, [[{ id: 1n, mail: 'a@x', score: 10, nick: null }]]);
    assert.deepEqual((await tx.get('users_1', [1n], V))?.row, { id: 1n, mail: 'a@x', score: 10, nick: null });
    const changes: { table: string; row: Row | null }[] = [];
    const sub = await bus.subscribe({ name: 'w', partitions: [0, 1, 2, 3], after: new Map() }, async (msgs) => {
      for (const m of msgs) for (const p of decodeBusBatch(m.payload).parts) for (const c of p.changes) changes.push(c);
    });
    for (let i = 0; i < 200 && changes.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await sub.stop();
    assert.equal(changes[0]?.table, 'users_1');
    assert.deepEqual(changes[0]?.row, { id: 1n, mail: 'a@x', score: 10, nick: null });
  });

  test('tables without a primary key get a UUIDv7 _rowid per row', async () => {
    const r = await tx.execute(
      req(
        ins(
          'events_1',
          ['kind', 'n'],
          [
            ['a', 1],
            ['a', 1],
            ['b', 2],
          ],
          { returning: true },
        ),
      ),
    );
    assert.equal(r.counts[0], 3);
    const ids = (r.rows?.[0] ?? []).map((x) => x._rowid as string);
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const byKind = await tx.read({ catalogVersion: V, table: 'events_1', source: { by: 'index', index: 'events_kind_idx', eq: ['a'] } });
    assert.equal(byKind.length, 2);
    const u = await tx.execute(
      req({
        kind: 'update',
        table: 'events_1',
        source: { by: 'index', index: 'events_kind_idx', eq: ['a'] },
        set: [{ column: 'n', expr: int(5) }],
        returning: true,
      }),
    );
    assert.deepEqual(u.counts, [2]);
    assert.deepEqual(
      u.rows?.[0]?.map((x) => x.n),
      [5, 5],
    );
    const d = await tx.execute(req({ kind: 'delete', table: 'events_1', source: { by: 'scan' }, returning: true }));
    assert.equal(d.counts[0], 3);
    assert.equal((await tx.read({ catalogVersion: V, table: 'events_1', source: { by: 'scan' } })).length, 0);
    await rejects(tx.execute(req(ins('events_1', ['_rowid', 'kind'], [['0190a0a0-0000-7000-8000-000000000000', 'x']]))), '428C9');
  });

  test('NOT NULL and UNIQUE with PostgreSQL messages; NULLs are distinct', async () => {
    await rejects(
      tx.execute(req(ins('users_1', ['id', 'mail'], [[2n, null]]))),
      '23502',
      /null value in column "email" of relation "users" violates not-null constraint/,
    );
    await rejects(
      tx.execute(req(ins('users_1', ['id', 'mail'], [[2n, 'a@x']]))),
      '23505',
      /duplicate key value violates unique constraint "users_email_key"/,
      'Key (email)=(a@x) already exists.',
    );
    await rejects(
      tx.execute(req(ins('users_1', ['id', 'mail'], [[1n, 'other@x']]))),
      '23505',
      /"users_pkey"/,
      'Key (id)=(1) already exists.',
    );
    await rejects(
      tx.execute(
        req(
          ins(
            'users_1',
            ['id', 'mail'],
            [
              [2n, 'b@x'],
              [3n, 'b@x'],
            ],
          ),
        ),
      ),
      '23505',
      /users_email_key/,
    );
    // NULL nicks never collide.
    const ok = await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail', 'nick'],
          [
            [2n, 'b@x', null],
            [3n, 'c@x', null],
            [4n, 'd@x', 'dee'],
          ],
        ),
      ),
    );
    assert.deepEqual(ok.counts, [3]);
    await rejects(
      tx.execute(
        req({
          kind: 'update',
          table: 'users_1',
          source: { by: 'key', keys: [[2n]] },
          set: [{ column: 'mail', expr: { k: 'const', v: 'c@x', t: 'text' } }],
        }),
      ),
      '23505',
      /users_email_key/,
    );
    // Setting a row's value to itself, and moving a value from a deleted row, are fine.
    await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'key', keys: [[2n]] },
        set: [{ column: 'mail', expr: { k: 'const', v: 'b@x', t: 'text' } }],
      }),
    );
    await tx.execute(
      req(
        { kind: 'delete', table: 'users_1', source: { by: 'key', keys: [[4n]] } },
        {
          kind: 'update',
          table: 'users_1',
          source: { by: 'key', keys: [[3n]] },
          set: [{ column: 'nick', expr: { k: 'const', v: 'dee', t: 'text' } }],
        },
      ),
    );
    const byNick = await tx.read({ catalogVersion: V, table: 'users_1', source: { by: 'index', index: 'users_nick_key', eq: ['dee'] } });
    assert.deepEqual(
      byNick.map((r) => r.key),
      [[3n]],
    );
  });

  test('a key change moves the row and keeps the storage key unique', async () => {
    await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail'],
          [
            [10n, 'k10@x'],
            [11n, 'k11@x'],
          ],
        ),
      ),
    );
    await rejects(
      tx.execute(
        req({
          kind: 'update',
          table: 'users_1',
          source: { by: 'key', keys: [[10n]] },
          set: [{ column: 'id', expr: { k: 'const', v: 11n, t: 'bigint' } }],
        }),
      ),
      '23505',
      /users_pkey/,
    );
    const r = await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'key', keys: [[10n]] },
        set: [{ column: 'id', expr: { k: 'const', v: 12n, t: 'bigint' } }],
        returning: true,
      }),
    );
    assert.deepEqual(r.rows?.[0], [{ id: 12n, mail: 'k10@x', score: null, nick: null }]);
    assert.equal((await tx.get('users_1', [10n], V))?.row, null);
    assert.equal((await tx.get('users_1', [12n], V))?.row?.mail, 'k10@x');
    const byMail = await tx.read({ catalogVersion: V, table: 'users_1', source: { by: 'index', index: 'users_email_key', eq: ['k10@x'] } });
    assert.deepEqual(
      byMail.map((x) => x.key),
      [[12n]],
    );
  });

  test('ON CONFLICT DO NOTHING / DO UPDATE with EXCLUDED, RETURNING, and 21000', async () => {
    await tx.execute(req(ins('users_1', ['id', 'mail', 'score'], [[20n, 'u20@x', 1]])));
    const nothing = await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail'],
          [
            [20n, 'other@x'],
            [21n, 'u21@x'],
          ],
          { onConflict: { action: 'nothing' }, returning: true },
        ),
      ),
    );
    assert.deepEqual(nothing.counts, [1]);
    assert.deepEqual(
      nothing.rows?.[0]?.map((r) => r.id),
      [21n],
    );
    // By the email's unique index: the existing row gets EXCLUDED.score.
    const up = await tx.execute(
      req(
        ins('users_1', ['id', 'mail', 'score'], [[99n, 'u20@x', 7]], {
          onConflict: { action: 'update', index: 'users_email_key', set: [{ column: 'score', expr: col('score', 'integer', 1) }] },
          returning: true,
        }),
      ),
    );
    assert.deepEqual(up.counts, [1]);
    assert.deepEqual(up.rows?.[0], [{ id: 20n, mail: 'u20@x', score: 7, nick: null }]);
    assert.equal(await tx.get('users_1', [99n], V), null);
    // A conflict on a unique index that is not the arbiter is still 23505.
    await rejects(
      tx.execute(
        req(
          ins('users_1', ['id', 'mail'], [[22n, 'u20@x']], {
            onConflict: { action: 'update', index: 'users_pkey', set: [{ column: 'score', expr: int(0) }] },
          }),
        ),
      ),
      '23505',
      /users_email_key/,
    );
    await rejects(
      tx.execute(
        req(
          ins(
            'users_1',
            ['id', 'mail', 'score'],
            [
              [20n, 'u20@x', 1],
              [20n, 'u20@x', 2],
            ],
            {
              onConflict: { action: 'update', index: 'users_pkey', set: [{ column: 'score', expr: col('score', 'integer', 1) }] },
            },
          ),
        ),
      ),
      '21000',
      /ON CONFLICT DO UPDATE command cannot affect row a second time/,
    );
    // Inserted then updated by the same statement through the storage key is also "a second time"; DO NOTHING skips.
    const twice = await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail'],
          [
            [30n, 'u30@x'],
            [30n, 'u30@x'],
          ],
          { onConflict: { action: 'nothing' } },
        ),
      ),
    );
    assert.deepEqual(twice.counts, [1]);
    await rejects(
      tx.execute(
        req(ins('users_1', ['id', 'mail'], [[31n, 'u31@x']], { onConflict: { action: 'update', index: 'users_score_idx', set: [] } })),
      ),
      '42P10',
    );
  });

  test('sources: key, index, range on the key and on an index, candidates, scan; seen versions', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => [BigInt(100 + i), `s${i}@x`, i]);
    await tx.execute(req(ins('users_1', ['id', 'mail', 'score'], rows)));
    const ids = (rs: { key?: Value[] }[]) => rs.map((r) => r.key?.[0]);
    const range = await tx.read({
      catalogVersion: V,
      table: 'users_1',
      source: { by: 'range', lo: { v: 105n, incl: true }, hi: { v: 108n, incl: false } },
    });
    assert.deepEqual(ids(range), [105n, 106n, 107n]);
    const byScore = await tx.read({
      catalogVersion: V,
      table: 'users_1',
      source: { by: 'range', index: 'users_score_idx', lo: { v: 17, incl: false }, hi: { v: 100, incl: true } },
    });
    assert.deepEqual(ids(byScore), [118n, 119n]);
    const cands = await tx.read({
      catalogVersion: V,
      table: 'users_1',
      source: { by: 'candidates', keys: [[100n], [999n]], asOf: Date.now() - 60_000 },
    });
    assert.ok(cands.length > 20, 'rows committed after asOf are candidates too');
    const upd = await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'range', index: 'users_score_idx', lo: { v: 18, incl: true } },
        set: [{ column: 'nick', expr: { k: 'const', v: null, t: 'text' } }],
      }),
    );
    assert.deepEqual(upd.counts, [2]);
    const cur = await tx.get('users_1', [100n], V);
    assert.ok(cur);
    await rejects(
      tx.execute(
        req({ kind: 'delete', table: 'users_1', source: { by: 'key', keys: [[100n]] }, seen: ['0190a0a0-0000-7000-8000-000000000000'] }),
      ),
      '40001',
    );
    const ok = await tx.execute(
      req({ kind: 'delete', table: 'users_1', source: { by: 'key', keys: [[100n]] }, seen: [cur.version], returning: true }),
    );
    assert.deepEqual(ok.counts, [1]);
    assert.equal(ok.rows?.[0]?.[0]?.mail, 's0@x');
  });

  test('WHERE is rechecked and SET sees the old row and inputs', async () => {
    await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail', 'score'],
          [
            [200n, 'w200@x', 1],
            [201n, 'w201@x', 2],
            [202n, 'w202@x', 3],
          ],
        ),
      ),
    );
    const r = await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'range', lo: { v: 200n, incl: true }, hi: { v: 202n, incl: true } },
        where: call('>=', col('score'), int(2)),
        set: [{ column: 'score', expr: call('+', col('score'), int(1)) }],
        returning: true,
      }),
    );
    assert.deepEqual(r.counts, [2]);
    const keyed = await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'key', keys: [[200n], [201n]] },
        inputs: [[10], [20]],
        set: [{ column: 'score', expr: call('+', col('score'), { k: 'input', i: 0, t: 'integer' }) }],
        returning: true,
      }),
    );
    assert.deepEqual(
      keyed.rows?.[0]?.map((x) => x.score),
      [11, 23],
    );
    await rejects(
      tx.execute(req(ins('users_1', ['id', 'mail', 'score'], [[203n, 'w203@x', -1]]))),
      '23514',
      /violates check constraint "users_score_check"/,
    );
  });

  test('FOREIGN KEY: missing parent, RESTRICT / NO ACTION, CASCADE, SET NULL, SET DEFAULT', async () => {
    await tx.execute(
      req(
        ins(
          'parent_1',
          ['id', 'code'],
          [
            [0, 'zero'],
            [1, 'one'],
            [2, 'two'],
            [3, 'three'],
            [4, 'four'],
          ],
        ),
      ),
    );
    await rejects(
      tx.execute(req(ins('c_restrict_1', ['id', 'pid'], [[1, 9]]))),
      '23503',
      /insert or update on table "c_restrict" violates foreign key constraint "c_restrict_pid_fkey"/,
      'Key (pid)=(9) is not present in table "parent".',
    );
    // A parent inserted by the same statement's op list before the child is found.
    await tx.execute(
      req(
        ins('parent_1', ['id'], [[5]]),
        ins(
          'c_restrict_1',
          ['id', 'pid'],
          [
            [1, 5],
            [2, null],
          ],
        ),
      ),
    );
    await tx.execute(
      req(
        ins('c_noaction_1', ['id', 'pid'], [[1, 1]]),
        ins(
          'c_cascade_1',
          ['id', 'pid'],
          [
            [1, 2],
            [2, 2],
            [3, 3],
          ],
        ),
        ins('c_setnull_1', ['id', 'pid'], [[1, 3]]),
        ins('c_setdefault_1', ['id', 'pid'], [[1, 4]]),
      ),
    );
    await rejects(
      tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[5]] } })),
      '23503',
      /update or delete on table "parent" violates foreign key constraint "c_restrict_pid_fkey" on table "c_restrict"/,
      'Key (id)=(5) is still referenced from table "c_restrict".',
    );
    await rejects(
      tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[1]] } })),
      '23503',
      /c_noaction_pid_fkey/,
    );
    const casc = await tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[2]] } }));
    assert.deepEqual(casc.counts, [1]);
    assert.equal((await tx.read({ catalogVersion: V, table: 'c_cascade_1', source: { by: 'scan' } })).length, 1);
    // Key change with ON UPDATE CASCADE / SET NULL.
    await tx.execute(
      req({ kind: 'update', table: 'parent_1', source: { by: 'key', keys: [[3]] }, set: [{ column: 'id', expr: int(33) }] }),
    );
    assert.equal((await tx.get('c_cascade_1', [3], V))?.row?.pid, 33);
    assert.equal((await tx.get('c_setnull_1', [1], V))?.row?.pid, null);
    await tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[4]] } }));
    assert.equal((await tx.get('c_setdefault_1', [1], V))?.row?.pid, 0);
    // SET DEFAULT to a value with no parent fails like any child write.
    await tx.execute(req(ins('c_setdefault_1', ['id', 'pid'], [[2, 33]])));
    await rejects(
      tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[0]] } })),
      '23503',
      /c_setdefault_pid_fkey/,
    );
    await tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[33]] } }));
    assert.equal((await tx.get('c_setdefault_1', [2], V))?.row?.pid, 0);
    assert.equal((await tx.get('c_cascade_1', [3], V))?.row, null);
  });

  test('UNIQUE holds between concurrent transactions: the second COMMIT fails with 23505', async () => {
    const a = await tx.begin('repeatable_read');
    const b = await tx.begin('repeatable_read');
    await tx.executeIn(a, req(ins('users_1', ['id', 'mail'], [[300n, 'race@x']])));
    await tx.executeIn(b, req(ins('users_1', ['id', 'mail'], [[301n, 'race@x']])));
    const results = await Promise.allSettled([tx.commit(a), tx.commit(b)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok.length, 1);
    assert.equal(bad.length, 1);
    assert.equal(bad[0]?.reason.code, '23505');
    assert.match(bad[0]?.reason.message, /users_email_key/);
    // Autocommit inserts racing for one value: exactly one wins.
    const all = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => tx.execute(req(ins('users_1', ['id', 'mail'], [[BigInt(400 + i), 'hot@x']])))),
    );
    assert.equal(all.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of all) if (r.status === 'rejected') assert.equal(r.reason.code, '23505');
  });

  test('a block checks unique values against the latest committed state, as PostgreSQL does', async () => {
    await tx.execute(req(ins('users_1', ['id', 'mail'], [[600n, 'freed@x']])));
    const a = await tx.begin('repeatable_read');
    // Committed after the block's snapshot: one value freed, one taken.
    await tx.execute(
      req({ kind: 'delete', table: 'users_1', source: { by: 'key', keys: [[600n]] } }, ins('users_1', ['id', 'mail'], [[601n, 'taken@x']])),
    );
    await tx.executeIn(a, req(ins('users_1', ['id', 'mail'], [[602n, 'freed@x']])));
    await rejects(tx.executeIn(a, req(ins('users_1', ['id', 'mail'], [[603n, 'taken@x']]))), '23505', /users_email_key/);
    await tx.rollback(a);
    const b = await tx.begin('repeatable_read');
    await tx.executeIn(b, req(ins('users_1', ['id', 'mail'], [[602n, 'freed@x']])));
    await tx.commit(b);
    assert.equal((await tx.get('users_1', [602n], V))?.row?.mail, 'freed@x');
  });

  test('FOREIGN KEY holds between concurrent transactions: no orphan commits', async () => {
    await tx.execute(req(ins('parent_1', ['id'], [[50], [51]])));
    // The block sees parent 50 and inserts a child; meanwhile the parent is deleted.
    const a = await tx.begin('repeatable_read');
    await tx.executeIn(a, req(ins('c_restrict_1', ['id', 'pid'], [[50, 50]])));
    await tx.execute(req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[50]] } }));
    await rejects(tx.commit(a), '23503', /c_restrict_pid_fkey/);
    // The other way round: a block deletes the parent while a child is added.
    const b = await tx.begin('repeatable_read');
    await tx.executeIn(b, req({ kind: 'delete', table: 'parent_1', source: { by: 'key', keys: [[51]] } }));
    await tx.execute(req(ins('c_restrict_1', ['id', 'pid'], [[51, 51]])));
    await rejects(tx.commit(b), '23503', /still referenced|c_restrict_pid_fkey/);
    assert.ok((await tx.get('parent_1', [51], V))?.row);
  });

  test('candidates: the analytical keys plus what the engine committed after asOf plus own writes, rechecked with WHERE', async () => {
    const asOf = Date.now() - 1;
    await tx.execute(
      req(
        ins(
          'users_1',
          ['id', 'mail', 'score'],
          [
            [500n, 'c500@x', 5],
            [501n, 'c501@x', 6],
            [502n, 'c502@x', 50],
          ],
        ),
      ),
    );
    // The analytical tier (as of asOf) knew none of them; the engine adds what it committed since.
    const u = await tx.execute(
      req({
        kind: 'update',
        table: 'users_1',
        source: { by: 'candidates', keys: [], asOf },
        where: call('<', col('score'), int(10)),
        set: [{ column: 'score', expr: call('+', col('score'), int(100)) }],
        returning: true,
      }),
    );
    assert.deepEqual(u.rows?.[0]?.map((r) => [r.id, r.score]).sort(), [
      [500n, 105],
      [501n, 106],
    ]);
    const b = await tx.begin('repeatable_read');
    await tx.executeIn(b, req(ins('users_1', ['id', 'mail', 'score'], [[503n, 'c503@x', 1]])));
    const d = await tx.executeIn(
      b,
      req({ kind: 'delete', table: 'users_1', source: { by: 'candidates', keys: [[502n]], asOf: Date.now() }, returning: true }),
    );
    assert.deepEqual(d.rows?.[0]?.map((r) => r.id).sort(), [502n, 503n]);
    await tx.rollback(b);
    const limited = await tx.read({ catalogVersion: V, table: 'users_1', source: { by: 'range', lo: { v: 500n, incl: true } }, limit: 2 });
    assert.deepEqual(
      limited.map((r) => r.key),
      [[500n], [501n]],
    );
    const filtered = await tx.read({
      catalogVersion: V,
      table: 'users_1',
      source: { by: 'range', lo: { v: 500n, incl: true } },
      where: call('>', col('score'), int(105)),
    });
    assert.deepEqual(
      filtered.map((r) => r.key),
      [[501n]],
    );
  });

  test('inside a block: ON CONFLICT, a cascade, and a SERIALIZABLE predicate read validated at COMMIT', async () => {
    await tx.execute(
      req(
        ins('parent_1', ['id'], [[70], [71]]),
        ins(
          'c_cascade_1',
          ['id', 'pid'],
          [
            [70, 70],
            [71, 71],
          ],
        ),
      ),
    );
    const a = await tx.begin('repeatable_read');
    const up = await tx
      .executeIn(
        a,
        req(
          ins('parent_1', ['id', 'code'], [[70, 'seventy']], {
            onConflict: { action: 'update', index: 'parent_code_key', set: [] },
          }),
        ),
      )
      .catch((e: { code: string }) => e);
    // No row has code 'seventy': the insert conflicts on the key, which is not the arbiter: 23505.
    assert.equal((up as { code: string }).code, '23505');
    await tx.rollback(a);
    const b = await tx.begin('repeatable_read');
    const r = await tx.executeIn(
      b,
      req(
        ins(
          'parent_1',
          ['id', 'code'],
          [
            [71, 'x71'],
            [72, 'x72'],
          ],
          { onConflict: { action: 'nothing' }, returning: true },
        ),
        {
          kind: 'delete',
          table: 'parent_1',
          source: { by: 'key', keys: [[70]] },
        },
      ),
    );
    assert.deepEqual(r.counts, [1, 1]);
    assert.deepEqual(
      await tx
        .read({ catalogVersion: V, table: 'c_cascade_1', txnId: b, source: { by: 'key', keys: [[70], [71]] } })
        .then((x) => x.map((y) => y.key)),
      [[71]],
    );
    await tx.commit(b);
    assert.equal((await tx.get('c_cascade_1', [70], V))?.row, null);
    // SERIALIZABLE: a row it read by index changed before COMMIT: 40001.
    const s1 = await tx.begin('serializable');
    const seen = await tx.read({
      catalogVersion: V,
      table: 'parent_1',
      txnId: s1,
      source: { by: 'index', index: 'parent_code_key', eq: ['x72'] },
    });
    assert.equal(seen.length, 1);
    await tx.executeIn(s1, req(ins('parent_1', ['id'], [[73]])));
    await tx.execute(
      req({
        kind: 'update',
        table: 'parent_1',
        source: { by: 'key', keys: [[72]] },
        set: [{ column: 'code', expr: { k: 'const', v: 'y72', t: 'text' } }],
      }),
    );
    await rejects(tx.commit(s1), '40001');
  });

  test('inside a block: reads see own writes, txnWrites lists them, RETURNING works', async () => {
    const a = await tx.begin('repeatable_read');
    const r = await tx.executeIn(a, req(ins('events_1', ['kind', 'n'], [['blk', 1]], { returning: true })));
    const id = r.rows?.[0]?.[0]?._rowid;
    assert.equal(typeof id, 'string');
    const seen = await tx.read({
      catalogVersion: V,
      table: 'events_1',
      txnId: a,
      source: { by: 'index', index: 'events_kind_idx', eq: ['blk'] },
    });
    assert.equal(seen.length, 1);
    const outside = await tx.read({ catalogVersion: V, table: 'events_1', source: { by: 'index', index: 'events_kind_idx', eq: ['blk'] } });
    assert.equal(outside.length, 0);
    await tx.executeIn(
      a,
      req({
        kind: 'update',
        table: 'events_1',
        source: { by: 'index', index: 'events_kind_idx', eq: ['blk'] },
        set: [{ column: 'kind', expr: { k: 'const', v: 'blk2', t: 'text' } }],
      }),
    );
    const w = await tx.txnWrites(a, 'events_1');
    assert.deepEqual(w, [{ key: [id as string], row: { _rowid: id as string, kind: 'blk2', n: 1 } }]);
    await tx.commit(a);
    const after1 = await tx.read({ catalogVersion: V, table: 'events_1', source: { by: 'index', index: 'events_kind_idx', eq: ['blk2'] } });
    assert.equal(after1.length, 1);
  });
});

describe('TX engine over RPC', () => {
  test('read, txnWrites and indexStatus round-trip with their types and SQLSTATEs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-txrpc-'));
    const bus = await openLocalBus(join(dir, 'bus'));
    const local = await startTxEngine({
      id: 'txr',
      dir: join(dir, 'tx'),
      partitions: 4,
      catalog: catalog(),
      bus,
      clock: new LocalClock(0),
      log: rootLogger(),
    });
    const srv = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      health: () => ({ status: 'ok' }),
      setup: (app) => registerRpc(app, local, TX_ENGINE_METHODS),
    });
    const tx = rpcClient<TxEngineApi & TxEngineAdminApi>(`http://127.0.0.1:${srv.port}`, TX_ENGINE_METHODS);
    try {
      const r = await tx.execute(req(ins('users_1', ['id', 'mail', 'score'], [[1n, 'a@x', 1]], { returning: true })));
      assert.deepEqual(r.rows, [[{ id: 1n, mail: 'a@x', score: 1, nick: null }]]);
      const found = await tx.read({ catalogVersion: V, table: 'users_1', source: { by: 'index', index: 'users_email_key', eq: ['a@x'] } });
      assert.deepEqual(
        found.map((f) => [f.key, f.row]),
        [[[1n], { id: 1n, mail: 'a@x', score: 1, nick: null }]],
      );
      const t = await tx.begin('repeatable_read');
      await tx.executeIn(t, req(ins('users_1', ['id', 'mail'], [[2n, 'b@x']])));
      assert.deepEqual(await tx.txnWrites(t, 'users_1'), [{ key: [2n], row: { id: 2n, mail: 'b@x', score: null, nick: null } }]);
      await tx.rollback(t);
      assert.deepEqual(await tx.indexStatus('users_1', 'users_email_key'), { state: 'done' });
      await rejects(tx.indexStatus('users_1', 'nope'), '42704');
      await rejects(
        tx.execute(req(ins('users_1', ['id', 'mail'], [[3n, 'a@x']]))),
        '23505',
        /users_email_key/,
        'Key (email)=(a@x) already exists.',
      );
    } finally {
      await tx.closeClient();
      await srv.close();
      await local.close();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
