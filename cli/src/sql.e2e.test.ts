/**
 * End-to-end SQL through real clients (`pg` in both protocols, `psql`) against `stratum up`
 * as a child process: DDL, writes, point reads, analytical reads (checked against DuckDB
 * over the same rows), SQLSTATEs of the common errors, restart durability, clean shutdown.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const run = promisify(execFile);

/** Rows we write, generated deterministically. */
function genRows(n: number) {
  const out: { id: number; i: number; d: number | null; s: string; b: boolean; ts: string; g: string }[] = [];
  for (let k = 1; k <= n; k++) {
    out.push({
      id: k,
      i: (k * 7919) % 1000,
      d: k % 11 === 0 ? null : (k * 1.25) / 3,
      s: ['red', 'green', 'blue', 'ochre'][k % 4]!,
      b: k % 3 === 0,
      ts: `2024-0${1 + (k % 9)}-1${k % 10} 0${k % 10}:1${k % 6}:00`,
      g: ['a', 'b', 'c'][k % 3]!,
    });
  }
  return out;
}

describe('SQL through pgwire (embedded)', { timeout: 240_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let client: pg.Client;
  const rows = genRows(300);

  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    return c;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-sql-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
    client = await connect();
  });

  after(async () => {
    await client?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('CREATE TABLE with every supported type and a PRIMARY KEY', async () => {
    const r = await client.query(
      `CREATE TABLE items (id bigint PRIMARY KEY, i integer NOT NULL, d double precision, s text, b boolean,
        ts timestamp, tz timestamptz, u uuid, g text)`,
    );
    assert.equal(r.command, 'CREATE');
    await client.query('CREATE TABLE groups (g text PRIMARY KEY, label text)');
  });

  test('multi-row INSERT in the simple and the extended protocol', async () => {
    const half = rows.slice(0, 150);
    const values = half
      .map(
        (r) =>
          `(${r.id}, ${r.i}, ${r.d === null ? 'NULL' : r.d}, '${r.s}', ${r.b}, '${r.ts}', '${r.ts}+00', '00000000-0000-7000-8000-${String(r.id).padStart(12, '0')}', '${r.g}')`,
      )
      .join(',');
    const r1 = await client.query(`INSERT INTO items (id, i, d, s, b, ts, tz, u, g) VALUES ${values}`);
    assert.equal(r1.rowCount, 150);
    const rest = rows.slice(150);
    const params: unknown[] = [];
    const tuples = rest.map((r, k) => {
      params.push(r.id, r.i, r.d, r.s, r.b, r.ts, `${r.ts}+00`, `00000000-0000-7000-8000-${String(r.id).padStart(12, '0')}`, r.g);
      const b = k * 9;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9})`;
    });
    const r2 = await client.query({ text: `INSERT INTO items VALUES ${tuples.join(',')}`, values: params });
    assert.equal(r2.rowCount, 150);
    await client.query(`INSERT INTO groups VALUES ('a', 'alpha'), ('b', 'beta'), ('c', 'gamma')`);
  });

  test('SELECT by primary key returns the row with its types (both protocols)', async () => {
    const want = rows[41]!;
    const a = await client.query(`SELECT id, i, d, s, b, ts, u FROM items WHERE id = ${want.id}`);
    const b = await client.query({ text: 'SELECT * FROM items WHERE id = $1', values: [want.id] });
    for (const r of [a.rows[0], b.rows[0]]) {
      assert.equal(r.id, String(want.id));
      assert.equal(r.i, want.i);
      assert.equal(r.d, want.d);
      assert.equal(r.s, want.s);
      assert.equal(r.b, want.b);
      assert.equal(r.u, `00000000-0000-7000-8000-${String(want.id).padStart(12, '0')}`);
    }
    const none = await client.query({ text: 'SELECT * FROM items WHERE id = $1', values: [999_999] });
    assert.equal(none.rowCount, 0);
  });

  test('UPDATE and DELETE by primary key', async () => {
    const u = await client.query({ text: 'UPDATE items SET i = i + 1000, s = $2 WHERE id = $1', values: [7, 'changed'] });
    assert.equal(u.rowCount, 1);
    const r = await client.query('SELECT i, s FROM items WHERE id = 7');
    assert.deepEqual(r.rows[0], { i: rows[6]!.i + 1000, s: 'changed' });
    rows[6]!.i += 1000;
    rows[6]!.s = 'changed';
    const d = await client.query('DELETE FROM items WHERE id = 8');
    assert.equal(d.rowCount, 1);
    rows.splice(7, 1);
    assert.equal((await client.query('SELECT * FROM items WHERE id = 8')).rowCount, 0);
    assert.equal((await client.query('DELETE FROM items WHERE id = 8')).rowCount, 0);
    assert.equal((await client.query('UPDATE items SET i = 1 WHERE id = 424242')).rowCount, 0);
  });

  test('analytical SELECTs match DuckDB over the same rows', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const duck = await db.connect();
    await duck.run(`SET TimeZone='UTC'; SET default_null_order='nulls_last_on_asc_first_on_desc'; SET integer_division=true;`);
    await duck.run('CREATE TABLE items (id BIGINT, i INTEGER, d DOUBLE, s VARCHAR, b BOOLEAN, ts TIMESTAMP, g VARCHAR)');
    await duck.run(`CREATE TABLE groups (g VARCHAR, label VARCHAR)`);
    await duck.run(`INSERT INTO groups VALUES ('a', 'alpha'), ('b', 'beta'), ('c', 'gamma')`);
    const app = await duck.createAppender('items');
    for (const r of rows) {
      app.appendBigInt(BigInt(r.id));
      app.appendInteger(r.i);
      if (r.d === null) app.appendNull();
      else app.appendDouble(r.d);
      app.appendVarchar(r.s);
      app.appendBoolean(r.b);
      app.appendVarchar(r.ts);
      app.appendVarchar(r.g);
      app.endRow();
    }
    app.closeSync();
    const queries = [
      'SELECT s, count(*) AS n, sum(i) AS total, avg(d) AS mean FROM items GROUP BY s ORDER BY s',
      'SELECT id, i FROM items WHERE i > 500 AND b ORDER BY i DESC, id LIMIT 7',
      'SELECT g.label, count(*) AS n, max(it.i) AS top FROM items it JOIN groups g ON g.g = it.g GROUP BY g.label ORDER BY g.label',
      "SELECT date_trunc('month', ts) AS m, count(*) AS n FROM items GROUP BY 1 ORDER BY 1",
      'SELECT id, d FROM items WHERE id < 40 ORDER BY d DESC, id',
      'SELECT count(*) AS n, count(d) AS nd, min(ts) AS first, max(id) AS last FROM items',
      'SELECT s, count(*) FILTER (WHERE b) AS nb FROM items GROUP BY s HAVING count(*) > 10 ORDER BY 2 DESC, 1',
    ];
    for (const q of queries) {
      const got = await client.query({ text: q, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } });
      const want = (await duck.runAndReadAll(q)).getRowsJson();
      // Sums of doubles depend on summation order (DuckDB itself aggregates in parallel), so
      // non-integral numbers compare to 1e-12 relative; everything else compares exactly.
      const norm = (v: unknown) => (v === null ? null : /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(String(v)) ? Number(v) : String(v));
      const a = got.rows.map((r: unknown[]) => r.map(norm));
      const b = want.map((r) => r.map(norm));
      assert.equal(a.length, b.length, q);
      for (const [i, row] of a.entries()) {
        for (const [j, x] of (row as unknown[]).entries()) {
          const y = b[i]?.[j];
          if (typeof x === 'number' && typeof y === 'number' && !Number.isInteger(y)) {
            assert.ok(Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)), `${q}: row ${i} col ${j}: ${x} vs ${y}`);
          } else assert.deepEqual(x, y, `${q}: row ${i} col ${j}`);
        }
      }
    }
    duck.closeSync();
    db.closeSync();
  });

  test('SELECT without a table', async () => {
    const r = await client.query('SELECT 1 + 1 AS two');
    assert.equal(r.rows[0].two, 2);
    const v = await client.query({ text: 'SELECT version()', values: [] });
    assert.match(String(Object.values(v.rows[0])[0]), /^PostgreSQL 15\.\d+ \(Stratum/);
  });

  test('errors carry the right SQLSTATE and the connection stays usable', async () => {
    const cases: [string, string, unknown[]?][] = [
      ['SELECT * FROM nope', '42P01'],
      ['SELECT nope FROM items', '42703'],
      ['INSERT INTO items (id, i, nope) VALUES (1000, 1, 2)', '42703'],
      ["INSERT INTO items (id, i) VALUES (1000, 'abc')", '22P02'],
      ['INSERT INTO items (id, i) VALUES ($1, $2)', '22P02', [1001, 'x1']],
      ['INSERT INTO items (id, i) VALUES (1, 1)', '23505'],
      ['INSERT INTO items (id, i) VALUES (1002, NULL)', '23502'],
      ['INSERT INTO items (id) VALUES (1003)', '23502'],
      ['SELEC 1', '42601'],
      ['CREATE TABLE items (id bigint PRIMARY KEY)', '42P07'],
    ];
    for (const [sql, code, values] of cases) {
      await assert.rejects(client.query(values ? { text: sql, values } : sql), (e: { code?: string; message: string }) => {
        assert.equal(e.code, code, `${sql}: ${e.message}`);
        return true;
      });
      const ok = await client.query('SELECT 1 AS one');
      assert.equal(ok.rows[0].one, 1);
    }
    // Nothing of the failed statements was stored.
    assert.equal((await client.query('SELECT * FROM items WHERE id = 1000')).rowCount, 0);
    assert.equal((await client.query('SELECT * FROM items WHERE id = 1002')).rowCount, 0);
  });

  test('psql (libpq) runs statements and reports errors with SQLSTATE', async () => {
    const conn = `host=127.0.0.1 port=${srv.pgPort} user=stratum dbname=stratum`;
    const ok = await run('psql', [conn, '-X', '-A', '-t', '-c', 'SELECT s, count(*) FROM items GROUP BY s ORDER BY s']);
    const lines = ok.stdout.trim().split('\n');
    const groups = new Map<string, number>();
    for (const r of rows) groups.set(r.s, (groups.get(r.s) ?? 0) + 1);
    assert.deepEqual(
      lines,
      [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}|${n}`),
    );
    const point = await run('psql', [conn, '-X', '-A', '-t', '-c', 'SELECT i FROM items WHERE id = 7']);
    assert.equal(point.stdout.trim(), String(rows[6]!.i));
    const bad = await run('psql', [conn, '-X', '-v', 'VERBOSITY=verbose', '-c', 'SELECT * FROM nope', '-c', 'SELECT 42']).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    assert.match(bad.stderr, /ERROR:\s+42P01: relation "nope" does not exist/);
    assert.match(bad.stdout, /42/);
  });

  test('HTTP /query answers SQL as JSON', async () => {
    const r = await fetch(`http://127.0.0.1:${srv.httpPort}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT i FROM items WHERE id = $1', params: [7] }),
    });
    const body = (await r.json()) as { rows: unknown[][] };
    assert.deepEqual(body.rows, [[rows[6]!.i]]);
    const bad = await fetch(`http://127.0.0.1:${srv.httpPort}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT * FROM nope' }),
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, '42P01');
  });

  test('Ctrl-C drains and exits 0; a restart keeps every acknowledged row', async () => {
    const before = (await client.query('SELECT count(*)::bigint AS n, sum(i)::bigint AS s FROM items')).rows[0];
    await client.end();
    const code = await srv.stop();
    assert.equal(code, 0, srv.output());
    srv = await startEmbeddedServer(join(dir, 'data'));
    client = await connect();
    const afterRestart = (await client.query('SELECT count(*)::bigint AS n, sum(i)::bigint AS s FROM items')).rows[0];
    assert.deepEqual(afterRestart, before);
    assert.equal(Number(before.n), rows.length);
    const r = await client.query('SELECT s FROM items WHERE id = 7');
    assert.equal(r.rows[0].s, 'changed');
    // The restarted server still accepts writes.
    await client.query('INSERT INTO items (id, i) VALUES (5000, 1)');
    assert.equal((await client.query('SELECT i FROM items WHERE id = 5000')).rows[0].i, 1);
  });
});
