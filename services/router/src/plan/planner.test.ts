/**
 * The planner without servers (issue 10): a catalog of tables in every consistency mode, with
 * and without primary keys and indexes; every plan kind, inside and outside transaction
 * blocks, with and without `stratum.as_of`; EXPLAIN renders the plan object itself.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Catalog, DEFAULT_TABLE_OPTIONS, type TableDef, type TableOptions } from '@stratum/shared';
import type { SessionValues } from '../analyze/scope.ts';
import { initParser, parseSql } from '../sql/parse.ts';
import { explainLines } from './explain.ts';
import { type PlanEnv, planStatement } from './planner.ts';
import type { Plan } from './types.ts';

const MODES: TableOptions['consistency']['mode'][] = ['eventual', 'bounded_staleness', 'monotonic_reads', 'strict_serializable'];

function catalog(): Catalog {
  const c = new Catalog((name) => {
    const mode = MODES.find((m) => name.startsWith(m.split('_')[0] as string)) ?? 'monotonic_reads';
    return {
      ...DEFAULT_TABLE_OPTIONS,
      consistency: { mode, allowDegraded: false, ...(mode === 'bounded_staleness' ? { maxStalenessMs: 100 } : {}) },
    };
  });
  const tables: TableDef[] = MODES.map((m) => ({
    name: `${m.split('_')[0]}_t`,
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'email', type: 'text', notNull: false },
      { name: 'score', type: 'numeric', notNull: false },
    ],
    primaryKey: ['id'],
    constraints: [
      { kind: 'primary', name: `${m}_pkey`, columns: ['id'], index: `${m}_pkey` },
      { kind: 'unique', name: `${m}_email_key`, columns: ['email'], index: `${m}_email_key` },
    ],
    indexes: [{ name: `${m.split('_')[0]}_email_key`, columns: ['email'], unique: true, state: 'valid' }],
  }));
  tables.push({
    name: 'logs',
    columns: [
      { name: 'kind', type: 'text', notNull: false },
      { name: 'n', type: 'integer', notNull: false },
      { name: '_rowid', type: 'uuid', notNull: true, hidden: true },
    ],
    primaryKey: ['_rowid'],
  });
  let v = 0;
  for (const t of tables) c.apply(++v, { kind: 'create_table', table: t, at: 0 });
  c.apply(++v, {
    kind: 'create_view',
    view: { name: 'recent', sql: 'SELECT kind, n FROM logs WHERE n > 1', columns: [] },
    replace: false,
    at: 0,
  });
  return c;
}

const session: SessionValues = {
  user: 'u',
  database: 'stratum',
  serverVersion: '15.0',
  setting: (n) => (n === 'application_name' ? 'test' : undefined),
};

let cat: Catalog;
function plan(sql: string, opts: Partial<PlanEnv> = {}): Plan {
  const [p] = parseSql(sql);
  if (!p) throw new Error('no statement');
  return planStatement(p, {
    catalog: cat,
    session,
    asOf: false,
    inBlock: false,
    positionOf: (l) => (l === undefined ? undefined : l + 1),
    ...opts,
  }).plan;
}

describe('planner', () => {
  before(async () => {
    await initParser();
    cat = catalog();
  });

  test('point reads by full primary key go to the TX engine, in every mode, with the table mode on the plan', () => {
    for (const m of MODES) {
      const t = `${m.split('_')[0]}_t`;
      const p = plan(`SELECT email, score + 1 AS s FROM ${t} WHERE id = $1`);
      assert.equal(p.kind, 'row_read');
      assert.equal(p.tier, 'tx');
      assert.equal(p.readTs, 'latest');
      assert.deepEqual(
        p.tables.map((x) => x.mode),
        [m],
      );
      if (p.kind === 'row_read') {
        assert.equal(p.finder.by, 'key');
        assert.deepEqual(
          p.output.map((o) => o.name),
          ['email', 's'],
        );
      }
    }
  });

  test('a point read rechecks only what its key lookup does not decide', () => {
    const recheck = (sql: string) => {
      const p = plan(sql);
      assert.equal(p.kind, 'row_read', sql);
      return p.kind === 'row_read' ? p.where : undefined;
    };
    assert.equal(recheck('SELECT * FROM eventual_t WHERE id = $1'), undefined, 'the key equality is the lookup itself');
    assert.equal(recheck('SELECT * FROM eventual_t WHERE 7 = id'), undefined);
    assert.ok(recheck("SELECT * FROM eventual_t WHERE id = $1 AND email = 'a'"), 'other conjuncts are rechecked');
    // Only the equality that supplied the key is decided: the other one must still filter the row out.
    assert.ok(recheck('SELECT * FROM eventual_t WHERE id = 1 AND id = 2'));
    assert.ok(recheck('SELECT * FROM eventual_t WHERE id IN (1)'), 'a one-value IN list is rechecked');
    assert.ok(explainLines(plan("SELECT * FROM eventual_t WHERE id = 1 AND email = 'a'")).some((l) => l.startsWith('  recheck: ')));
  });

  test('inside a block a point read uses the snapshot; as of a time it goes to ingestion', () => {
    assert.equal(plan('SELECT * FROM monotonic_t WHERE id = 1', { inBlock: true }).readTs, 'snapshot');
    const asOf = plan('SELECT * FROM monotonic_t WHERE id = 1', { asOf: true });
    assert.equal(asOf.tier, 'ingestion');
    assert.equal(asOf.readTs, 'as_of');
  });

  test('key lists and array parameters are row reads; ORDER BY or LIMIT makes them analytical', () => {
    const list = plan('SELECT * FROM eventual_t WHERE id IN (1, 2, 3)');
    assert.equal(list.kind === 'row_read' && list.finder.by === 'key' && list.finder.keys.length, 3);
    const arr = plan('SELECT * FROM eventual_t WHERE id = ANY($1)');
    assert.equal(arr.kind === 'row_read' && arr.finder.by === 'key' && arr.finder.list?.param, 1);
    assert.equal(plan('SELECT * FROM eventual_t WHERE id IN (1, 2) ORDER BY id').kind, 'analytical');
    assert.equal(plan('SELECT * FROM eventual_t WHERE id = 1 LIMIT 1').kind, 'analytical');
  });

  test('equality on a valid index is an index lookup at the row tiers (not as of a time)', () => {
    const p = plan("SELECT id FROM strict_t WHERE email = 'a@x'");
    assert.equal(p.kind, 'row_read');
    if (p.kind === 'row_read') assert.deepEqual(p.finder.by === 'index' && p.finder.index, 'strict_email_key');
    assert.ok(explainLines(p).some((l) => l.includes('strict_email_key')));
    assert.equal(plan("SELECT id FROM strict_t WHERE email = 'a@x'", { asOf: true }).kind, 'analytical');
  });

  test('scans, aggregates, joins and views are analytical; views are inlined', () => {
    const agg = plan('SELECT count(*) FROM bounded_t');
    assert.equal(agg.kind, 'analytical');
    assert.equal(agg.tier, 'olap');
    const join = plan('SELECT * FROM eventual_t e JOIN monotonic_t m ON e.id = m.id');
    assert.deepEqual(join.tables.map((t) => t.mode).sort(), ['eventual', 'monotonic_reads']);
    const view = plan('SELECT * FROM recent');
    assert.equal(view.kind, 'analytical');
    if (view.kind === 'analytical') {
      assert.match(view.sql, /logs/);
      assert.deepEqual(
        view.tables.map((t) => t.name),
        ['logs'],
      );
    }
  });

  test('SELECT without tables is evaluated by the router', () => {
    const p = plan('SELECT 1/0 AS x, $1::int + 1');
    assert.equal(p.kind, 'local');
    assert.equal(p.tier, 'router');
  });

  test('INSERT: values with defaults, ON CONFLICT on the unique index, RETURNING', () => {
    const p = plan(
      "INSERT INTO monotonic_t (id, email) VALUES (1, 'a') ON CONFLICT (email) DO UPDATE SET score = excluded.score RETURNING id",
    );
    assert.equal(p.kind, 'insert');
    if (p.kind === 'insert') {
      assert.deepEqual(p.columns, ['id', 'email']);
      assert.equal(p.onConflict?.action, 'update');
      assert.equal(p.onConflict?.index, 'monotonic_email_key');
      assert.equal(p.returning?.length, 1);
    }
    const sel = plan('INSERT INTO logs SELECT email, id FROM eventual_t');
    assert.equal(sel.kind === 'insert' && sel.source.kind, 'select');
  });

  test('UPDATE/DELETE: key, index, candidates as of the watermark, join; snapshot inside a block', () => {
    const byKey = plan('UPDATE eventual_t SET score = score + 1 WHERE id = 5');
    assert.equal(byKey.kind === 'update' && byKey.finder.by, 'key');
    const byIndex = plan("DELETE FROM eventual_t WHERE email = 'x'");
    assert.equal(byIndex.kind === 'delete' && byIndex.finder.by, 'index');
    const scan = plan('UPDATE logs SET n = n + 1 WHERE kind = $1');
    assert.equal(scan.kind === 'update' && scan.finder.by, 'candidates');
    assert.equal(scan.readTs, 'watermark');
    assert.equal(plan('UPDATE logs SET n = 1 WHERE kind = $1', { inBlock: true }).readTs, 'snapshot');
    const join = plan('UPDATE logs SET n = e.id FROM eventual_t e WHERE e.email = logs.kind');
    assert.equal(join.kind === 'update' && join.finder.by, 'join');
    const sub = plan('DELETE FROM logs WHERE n IN (SELECT id FROM eventual_t)');
    assert.equal(sub.kind === 'delete' && sub.finder.by, 'join');
  });

  test('DDL and utility statements', () => {
    assert.equal(plan('CREATE TABLE x (id serial PRIMARY KEY)').kind, 'ddl');
    assert.equal(plan('DROP TABLE IF EXISTS x CASCADE').kind, 'ddl');
    assert.equal(plan('CREATE INDEX i ON logs (n)').kind, 'ddl');
    assert.equal(plan('BEGIN ISOLATION LEVEL SERIALIZABLE').kind, 'utility');
    const e = plan('EXPLAIN ANALYZE UPDATE eventual_t SET score = 1 WHERE id = 1');
    assert.equal(e.kind === 'explain' && e.analyze && e.inner.kind, 'update');
  });

  test('errors carry SQLSTATE and position', () => {
    assert.throws(
      () => plan('SELECT * FROM nope'),
      (e: { code?: string; position?: number }) => e.code === '42P01' && e.position === 15,
    );
    assert.throws(
      () => plan('INSERT INTO logs (nope) VALUES (1)'),
      (e: { code?: string }) => e.code === '42703',
    );
  });
});

describe('planner: row-tier range scans', () => {
  before(async () => {
    await initParser();
    cat = catalog();
  });

  test('a bounded range on the primary key is read at the row tiers and finished by the router; analytical as the fallback', () => {
    for (const sql of [
      'SELECT email FROM monotonic_t WHERE id BETWEEN $1 AND $2',
      'SELECT sum(score) FROM monotonic_t WHERE id >= 10 AND id < 20',
      'SELECT DISTINCT email FROM monotonic_t WHERE id BETWEEN 1 AND 100 ORDER BY email',
    ]) {
      const p = plan(sql);
      assert.equal(p.kind, 'row_scan', sql);
      if (p.kind === 'row_scan') {
        assert.equal(p.finder.by, 'range');
        assert.equal(p.fallback.kind, 'analytical');
        assert.ok(explainLines(p).some((l) => l.includes('range on the primary key')));
      }
    }
    assert.equal(plan('SELECT sum(score) FROM monotonic_t WHERE id > 10').kind, 'analytical', 'unbounded ranges scan OLAP');
    assert.equal(plan('SELECT sum(score) FROM monotonic_t WHERE id BETWEEN 1 AND 9', { asOf: true }).kind, 'analytical');
  });

  test('bounds and keys may be expressions of parameters and non-volatile functions (as PostgreSQL index scan keys), never volatile ones', () => {
    // sysbench and pgbench scripts write `BETWEEN $1 AND $1 + 99`: without this the range went to OLAP and waited for the watermark.
    for (const sql of [
      'SELECT email FROM monotonic_t WHERE id BETWEEN $1 AND $1 + 99',
      'SELECT email FROM monotonic_t WHERE id >= abs($1::int) AND id < abs($1::int) * 2',
    ]) {
      const p = plan(sql);
      assert.equal(p.kind === 'row_scan' && p.finder.by, 'range', sql);
    }
    const byKey = plan('SELECT email FROM monotonic_t WHERE id = $1 + 1');
    assert.equal(byKey.kind === 'row_read' && byKey.finder.by, 'key');
    for (const sql of [
      'SELECT email FROM monotonic_t WHERE id = (random() * 10)::int',
      'SELECT email FROM monotonic_t WHERE id BETWEEN 1 AND (random() * 10)::int',
      'SELECT email FROM monotonic_t WHERE id BETWEEN score AND score + 1',
    ]) {
      assert.equal(plan(sql).kind, 'analytical', sql);
    }
  });
});
