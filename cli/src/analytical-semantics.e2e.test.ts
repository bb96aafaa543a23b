/**
 * Expression semantics of the analytical tier end to end (issue 10, Must work 10): the fixture
 * tables of shared/src/testing/analytical-fixture.ts are created and filled through Stratum's
 * pgwire (`stratum up`) and in a throw-away PostgreSQL 15, and every case of
 * analytical-cases.ts runs on both. Each answer — the rows as text, the RowDescription names and type OIDs,
 * or the SQLSTATE — must be equal, except the listed known differences, which must still differ
 * (so the list stays true). The same cases run without servers in
 * services/router/src/plan/duckdb-semantics.pg.test.ts; this test adds the write path, Parquet and
 * the ingestion delta, the result conversion and the wire format.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ANALYTICAL_CASES,
  ANALYTICAL_FIXTURE,
  ANALYTICAL_KNOWN_DIFFERENCES,
  type PostgresHandle,
  startPostgres,
} from '@stratum/shared/testing';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer, waitForRows } from './test-harness.ts';

/** Every value as its text (no client-side parsing). */
const RAW = { getTypeParser: () => (v: string) => v };

let dir: string;
let srv: EmbeddedServer;
let server: PostgresHandle;
let stratum: pg.Client;
let reference: pg.Client;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratum-semantics-'));
  [srv, server] = await Promise.all([startEmbeddedServer(join(dir, 'data')), startPostgres()]);
  stratum = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum', types: RAW });
  reference = new pg.Client({
    connectionString: server.url,
    options: '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1',
    types: RAW,
  });
  await Promise.all([stratum.connect(), reference.connect()]);
  for (const t of ANALYTICAL_FIXTURE) {
    // Stratum has one collation (code point order, Unicode case mapping): the reference's C.utf8.
    await stratum.query(`CREATE TABLE ${t.name} (${t.columns.map((c) => `${c.name} ${c.pg.replace(/ COLLATE "[^"]*"/, '')}`).join(', ')})`);
    await stratum.query(`INSERT INTO ${t.name} VALUES ${t.rows.join(', ')}`);
    await waitForRows(stratum, t.rows.length, 60_000, t.name);
    await reference.query(`CREATE TABLE ${t.name} (${t.columns.map((c) => `${c.name} ${c.pg}`).join(', ')})`);
    await reference.query(`INSERT INTO ${t.name} VALUES ${t.rows.join(', ')}`);
  }
});

after(async () => {
  await stratum?.end().catch(() => {});
  await reference?.end().catch(() => {});
  await srv?.kill();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Column names, type OIDs and rows, or the SQLSTATE. */
async function answer(c: pg.Client, sql: string, values?: unknown[]): Promise<string> {
  try {
    const r = await c.query(values ? { text: sql, values, rowMode: 'array' } : { text: sql, rowMode: 'array' });
    return JSON.stringify({ names: r.fields.map((f) => f.name), oids: r.fields.map((f) => f.dataTypeID), rows: r.rows });
  } catch (e) {
    return `ERROR ${(e as { code?: string }).code ?? (e as Error).message}`;
  }
}

test('analytical answers through stratum up equal PostgreSQL 15', { timeout: 600_000 }, async () => {
  const mismatches: string[] = [];
  const nowEqual: string[] = [];
  let total = 0;
  for (const [family, cases] of Object.entries(ANALYTICAL_CASES)) {
    for (const sql of cases) {
      total++;
      const [want, got] = [await answer(reference, sql), await answer(stratum, sql)];
      const equal = want === got;
      if (ANALYTICAL_KNOWN_DIFFERENCES[sql] !== undefined) {
        if (equal) nowEqual.push(`[${family}] ${sql}`);
      } else if (!equal) mismatches.push(`[${family}] ${sql}\n    postgres: ${want}\n    stratum:  ${got}`);
    }
  }
  if (mismatches.length) console.log(`${mismatches.length} of ${total} differ:\n${mismatches.join('\n')}`);
  assert.ok(total >= 300, `at least 300 cases (have ${total})`);
  assert.deepEqual(nowEqual, [], 'known differences that are now equal: remove them from ANALYTICAL_KNOWN_DIFFERENCES and docs/sql.md');
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${total} cases differ from PostgreSQL`);
});

test('parameters in analytical expressions take the types PostgreSQL infers for them', async () => {
  // Extended protocol, parameters sent as text with unspecified types (as drivers do).
  const cases: [string, unknown[]][] = [
    ['SELECT id, a FROM nums WHERE id BETWEEN $1 AND $1 + 2 ORDER BY id', [1]],
    ['SELECT sum(a) FROM nums WHERE id >= $1 - 1', [2]],
    ['SELECT id * $1 AS x, $2 || id AS y FROM nums ORDER BY id', [3, 'n']],
    // A parameter beside an unconstrained numeric is a numeric, beside a char(n) a bpchar.
    ['SELECT id, n FROM unums WHERE n = $1 OR n > $2 ORDER BY n', ['2.5', 50]],
    ['SELECT id FROM unums WHERE n IN ($1, $2) ORDER BY id', ['10.0', '-1.50']],
    ['SELECT id, c FROM chars WHERE c = $1 OR c < $2 ORDER BY id', ['x', ' b']],
  ];
  for (const [sql, values] of cases) {
    const want = await answer(reference, sql, values);
    assert.doesNotMatch(want, /^ERROR/, sql);
    assert.equal(await answer(stratum, sql, values), want, sql);
  }
});

test('range reads the router finishes itself (ORDER BY, DISTINCT, LIMIT/OFFSET) equal PostgreSQL 15', async () => {
  const ddl = 'CREATE TABLE rs (id integer PRIMARY KEY, k integer, t text COLLATE "C", n numeric(8,2), f double precision, b boolean)';
  const rows = [
    "(1, 3, 'b', 1.50, 2.5, true)",
    "(2, NULL, 'a', NULL, -1, NULL)",
    "(3, 3, 'B', 1.5, 'NaN', false)",
    '(4, 1, NULL, -2.25, NULL, true)',
    "(5, 2, 'a', 10, 0, false)",
    "(6, 1, 'éa', 0, '-Infinity', true)",
    "(7, NULL, 'b', 3.33, 1e300, NULL)",
    "(8, 2, 'a ', 1.50, -0.0, false)",
  ];
  await stratum.query(ddl.replace(' COLLATE "C"', ''));
  await reference.query(ddl);
  for (const c of [stratum, reference]) await c.query(`INSERT INTO rs VALUES ${rows.join(', ')}`);
  const cases: [string, unknown[]?][] = [
    ['SELECT t, k FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY t, k DESC'],
    ['SELECT id, k FROM rs WHERE id >= 2 ORDER BY k NULLS FIRST, id DESC'],
    ['SELECT id FROM rs WHERE id < 8 ORDER BY k DESC NULLS LAST, id'],
    ['SELECT DISTINCT k FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY k'],
    ['SELECT DISTINCT n, b FROM rs WHERE id > 0 ORDER BY 1 DESC, 2'],
    ['SELECT id, f FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY f, id'],
    ['SELECT id, n * 2 AS twice FROM rs WHERE id <= 8 ORDER BY twice DESC NULLS LAST, id LIMIT 3 OFFSET 1'],
    ['SELECT id, upper(t) FROM rs WHERE id BETWEEN $1 AND $2 ORDER BY length(t), id LIMIT $3', [2, 7, 4]],
    ['SELECT id FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY id DESC LIMIT ALL OFFSET 6'],
    ['SELECT id FROM rs WHERE id BETWEEN 1 AND 8 LIMIT 0'],
    ['SELECT id FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY id LIMIT -1'],
    ['SELECT id FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY 3'],
    ['SELECT id, 10 / (k - 1) FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY id'],
    ['SELECT count(*), count(k), sum(k), min(t), max(t), min(n), max(n), sum(n) FROM rs WHERE id BETWEEN 1 AND 8'],
    ['SELECT sum(f), min(f), max(f) FROM rs WHERE id BETWEEN 1 AND 2'],
    ['SELECT sum(f), min(f), max(f) AS hi FROM rs WHERE id BETWEEN 1 AND 8'],
    ['SELECT sum(k::bigint) AS s8, sum(k::smallint), sum(f::real), min(t::varchar), max(id * 2) FROM rs WHERE id >= 3'],
    ['SELECT count(*), sum(k), max(t) FROM rs WHERE id BETWEEN 100 AND 200'],
    ['SELECT sum(k) FROM rs WHERE id BETWEEN $1 AND $2', [2, 6]],
    ['SELECT count(*) FROM rs WHERE id BETWEEN 1 AND 8 LIMIT 0'],
    ['SELECT avg(k), sum(k) + 1 FROM rs WHERE id BETWEEN 1 AND 8'],
  ];
  for (const [sql, values] of cases) {
    assert.equal(await answer(stratum, sql, values), await answer(reference, sql, values), sql);
  }
  // The row-local ones are finished by the router, not DuckDB.
  const plan = await stratum.query('EXPLAIN SELECT DISTINCT k FROM rs WHERE id BETWEEN 1 AND 8 ORDER BY k');
  assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /finished by the router: 1 output column; DISTINCT; ORDER BY \$1/);
  const agg = await stratum.query('EXPLAIN SELECT count(*), sum(k) FROM rs WHERE id BETWEEN 1 AND 8');
  assert.match(agg.rows.map((r) => r['QUERY PLAN']).join('\n'), /finished by the router: count\(\*\), sum/);
});
