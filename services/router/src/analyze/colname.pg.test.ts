/**
 * Output column names against a throw-away PostgreSQL 15: each select list below runs there
 * (`LIMIT 0`, only the RowDescription is read), and analyze/colname.ts must name every unnamed
 * item as PostgreSQL does. The cases cover each rule of FigureColname (parse_target.c): columns
 * and fields, functions, keywords acting as functions, casts (argument name first, else the type
 * name as spelled after the grammar's rewriting), CASE (its ELSE name, else `case`), subqueries,
 * and `?column?`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SelectStmt } from '@pgsql/types';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import { loadModule, parseSync } from 'libpg-query';
import pg from 'pg';
import { nodeOf } from './ast.ts';
import { figureColname } from './colname.ts';

const SETUP = [
  'CREATE TABLE t (a integer, b text, c numeric, d timestamptz, j jsonb, arr integer[])',
  'CREATE TYPE pair AS (x integer, y text)',
  'CREATE TABLE u (p pair)',
];

/** Select lists, each run as `SELECT <list> FROM t, u LIMIT 0`. */
const LISTS = [
  'a, t.b, public.t.c',
  'count(*), sum(a), max(pg_catalog.lower(b)), now()',
  'pg_catalog.lower(b), upper(b), length(b), b || a',
  "1, 'x', NULL, true, 1.5, a + 1, -a, NOT true, a IS NULL, a = 1, a BETWEEN 1 AND 2",
  "a::text, 1::int, '1'::integer, '1'::int4, b::varchar(3), 1::bigint, 1.5::float, '1'::numeric(5,2), d::date, '1'::double precision",
  "'x'::text::varchar, (a + 1)::text, CAST(a AS smallint), CAST(NULL AS timestamp with time zone), ('1' || b)::char(3)",
  "CASE WHEN a > 0 THEN 1 END, CASE WHEN a > 0 THEN 1 ELSE a END, CASE a WHEN 1 THEN 'x' ELSE b END, CASE WHEN true THEN b ELSE 'z' END",
  'CASE WHEN true THEN 1 ELSE 2 END::text, CASE WHEN true THEN a ELSE a END::text',
  'coalesce(a, 0), greatest(a, 1), least(a, 1), nullif(a, 1), ARRAY[1, 2], ROW(1, 2), arr[1], (p).x, (u.p).y',
  'current_date, current_timestamp, current_timestamp(2), localtime, localtimestamp, current_user, session_user, user, current_catalog, current_schema, current_role',
  'EXISTS (SELECT 1), ARRAY(SELECT a FROM t), (SELECT max(a) FROM t), (SELECT a + 1 FROM t LIMIT 1), (SELECT 1 AS one), (SELECT b FROM t UNION SELECT b FROM t LIMIT 1)',
  "a IN (1, 2), a = ANY(ARRAY[1]), j ->> 'k', j -> 'k', b LIKE 'x%', b COLLATE \"C\", GROUPING(a)",
  'x.y, (t.a)',
];

let server: PostgresHandle;
let client: pg.Client;

before(async () => {
  await loadModule();
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
  for (const s of SETUP) await client.query(s);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

test('unnamed select-list items are named as PostgreSQL 15 names them', async () => {
  const mismatches: string[] = [];
  let checked = 0;
  for (const list of LISTS) {
    const from = list.includes('x.y') ? '(SELECT 1 AS y) x, t' : 't, u';
    const group = list.includes('GROUPING') ? ' GROUP BY a, b, j, d' : '';
    const sql = `SELECT ${list} FROM ${from}${group} LIMIT 0`;
    const r = await client.query(sql);
    const want = r.fields.map((f) => f.name);
    const stmt = nodeOf(parseSync(sql).stmts?.[0]?.stmt, 'SelectStmt') as SelectStmt;
    const got = (stmt.targetList ?? []).map((rt) => {
      const t = nodeOf(rt, 'ResTarget');
      return t?.name ?? figureColname(t?.val);
    });
    assert.equal(got.length, want.length, sql);
    for (const [i, w] of want.entries()) {
      checked++;
      if (got[i] !== w) mismatches.push(`item ${i + 1} of ${list}: PostgreSQL "${w}", Stratum "${got[i]}"`);
    }
  }
  assert.ok(checked > 70, `checked ${checked} names`);
  assert.deepEqual(mismatches, []);
});
