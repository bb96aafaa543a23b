/**
 * DDL across the tiers (issue 10, items 7 and 8), against `stratum up` with Parquet pushes
 * after every few rows, so old rows live in Parquet files, newer ones in the ingestion delta
 * and the TX engine:
 * - DROP TABLE and CREATE of the same name: the new table never sees old rows, and the old
 *   table's files leave the disk;
 * - ALTER TABLE ADD COLUMN [DEFAULT] / DROP COLUMN / RENAME over files written under the older
 *   shape; AS OF a time before the DDL answers in today's shape (docs/sql.md "Time travel");
 * - CREATE INDEX while writes continue: lookups by the index find every row.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

/** Every path under `dir` (recursive). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('DDL across the tiers', { timeout: 300_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let c: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ddl-'));
    srv = await startEmbeddedServer(join(dir, 'data'), [], {
      ...process.env,
      STRATUM_INGESTION__PUSH_ROWS: '50',
      STRATUM_INGESTION__PUSH_INTERVAL_MS: '200',
    });
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
  });

  after(async () => {
    await c?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  /** Parquet files under the data directory whose path contains `part`. */
  const parquet = async (part: string) => (await walk(srv.dataDir)).filter((p) => p.endsWith('.parquet') && p.includes(part));

  test('DROP TABLE and CREATE of the same name: no old rows, old files removed', async () => {
    await c.query('CREATE TABLE reborn (id int PRIMARY KEY, v text)');
    await c.query(`INSERT INTO reborn SELECT g, 'old' FROM generate_series(1, 200) AS g`);
    const files = await until('Parquet files of reborn', async () => {
      const f = await parquet('reborn');
      return f.length > 0 ? f : undefined;
    });
    await c.query('DROP TABLE reborn');
    await assert.rejects(c.query('SELECT count(*) FROM reborn'), (e: { code?: string }) => e.code === '42P01');
    await c.query('CREATE TABLE reborn (id int PRIMARY KEY, v text)');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM reborn')).rows[0].n, 0);
    assert.equal((await c.query('SELECT count(*)::int AS n FROM reborn WHERE id = 5')).rows[0].n, 0);
    await c.query(`INSERT INTO reborn VALUES (5, 'new')`);
    assert.deepEqual((await c.query('SELECT v FROM reborn WHERE id = 5')).rows, [{ v: 'new' }]);
    assert.deepEqual((await c.query('SELECT count(*)::int AS n FROM reborn')).rows, [{ n: 1 }]);
    await until('old files removed', async () => {
      const left = (await walk(srv.dataDir)).filter((p) => files.includes(p));
      return left.length === 0 ? true : undefined;
    });
  });

  test('ALTER TABLE over files of the older shape; AS OF before the DDL answers in the current shape', async () => {
    await c.query('CREATE TABLE shapes (id int PRIMARY KEY, a text, b int)');
    await c.query(`INSERT INTO shapes SELECT g, 'a' || g, g FROM generate_series(1, 120) AS g`);
    await until('files of shapes', async () => ((await parquet('shapes')).length > 0 ? true : undefined));
    const before = (await c.query(`SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS.US') AS t`)).rows[0].t as string;
    await new Promise((r) => setTimeout(r, 50));
    await c.query('ALTER TABLE shapes ADD COLUMN c int DEFAULT 7');
    await c.query('ALTER TABLE shapes DROP COLUMN b');
    await c.query('ALTER TABLE shapes RENAME COLUMN a TO title');
    await c.query(`INSERT INTO shapes (id, title, c) VALUES (500, 'late', 1)`);
    const all = await c.query('SELECT count(*)::int AS n, sum(c)::int AS s, count(title)::int AS t FROM shapes');
    assert.deepEqual(all.rows[0], { n: 121, s: 120 * 7 + 1, t: 121 });
    const star = await c.query('SELECT * FROM shapes WHERE id = 3');
    assert.deepEqual(star.rows, [{ id: 3, title: 'a3', c: 7 }]);
    const analytical = await c.query('SELECT * FROM shapes WHERE id BETWEEN 3 AND 4 ORDER BY id');
    assert.deepEqual(analytical.rows, [
      { id: 3, title: 'a3', c: 7 },
      { id: 4, title: 'a4', c: 7 },
    ]);
    // Time travel to before the DDL: rows as they were then, in today's shape.
    await c.query(`SET stratum.as_of = '${before}+00'`);
    const then = await c.query('SELECT count(*)::int AS n, min(c)::int AS c FROM shapes');
    assert.deepEqual(then.rows[0], { n: 120, c: 7 });
    const point = await c.query('SELECT * FROM shapes WHERE id = 3');
    assert.deepEqual(point.rows, [{ id: 3, title: 'a3', c: 7 }]);
    await c.query('RESET stratum.as_of');
  });

  test('CREATE INDEX while writes continue: the index finds every row', async () => {
    await c.query('CREATE TABLE busy (id int PRIMARY KEY, k int)');
    await c.query('INSERT INTO busy SELECT g, g % 50 FROM generate_series(1, 2000) AS g');
    const w = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await w.connect();
    let stop = false;
    let next = 10_000;
    // Every concurrent row has k = 7, so the index lookup below must find the rows written while it
    // was built (on a loaded box the build may finish before a writer cycling k reached 7).
    const writer = (async () => {
      while (!stop) await w.query('INSERT INTO busy VALUES ($1, 7)', [next++]);
    })();
    await until('the writer committed a row', async () => (next > 10_001 ? true : undefined));
    await c.query('CREATE INDEX busy_k ON busy (k)');
    const atBuilt = next;
    await until('a write after the build', async () => (next > atBuilt + 1 ? true : undefined));
    stop = true;
    await writer;
    await w.end();
    const plan = await c.query('EXPLAIN SELECT id FROM busy WHERE k = 7');
    assert.ok(
      plan.rows.some((r) => String(r['QUERY PLAN']).includes('busy_k')),
      JSON.stringify(plan.rows),
    );
    // Rows the other session wrote reach the analytical tier once merged: wait for all of them.
    const total = 2000 + (next - 10_000);
    await until('every row merged', async () =>
      (await c.query('SELECT count(*)::int AS n FROM busy')).rows[0].n === total ? true : undefined,
    );
    const viaIndex = await c.query('SELECT id FROM busy WHERE k = 7');
    const viaScan = await c.query('SELECT id FROM busy WHERE k + 0 = 7 ORDER BY id');
    assert.deepEqual(
      viaIndex.rows.map((r) => r.id).sort((a, b) => a - b),
      viaScan.rows.map((r) => r.id),
    );
    assert.ok(viaScan.rows.length >= 40 + 2, `${viaScan.rows.length} rows with k = 7`);
  });

  test('DDL in a transaction block commits atomically: all of it, or none when a concurrent DDL wins', async () => {
    const other = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await other.connect();
    try {
      await c.query('BEGIN');
      await c.query('CREATE TABLE blk_a (id serial PRIMARY KEY, v text UNIQUE)');
      await c.query('CREATE TABLE blk_b (id int PRIMARY KEY, a int REFERENCES blk_a (id))');
      await c.query('CREATE INDEX blk_b_a ON blk_b (a)');
      // Not visible to another session before COMMIT.
      await assert.rejects(other.query('SELECT count(*) FROM blk_a'), (e: { code?: string }) => e.code === '42P01');
      await c.query('COMMIT');
      await other.query(`INSERT INTO blk_a (v) VALUES ('x')`);
      await other.query('INSERT INTO blk_b VALUES (1, 1)');
      await assert.rejects(other.query('INSERT INTO blk_b VALUES (2, 99)'), (e: { code?: string }) => e.code === '23503');
      // A block whose DDL conflicts at COMMIT with a DDL committed meanwhile applies none of it.
      await c.query('BEGIN');
      await c.query('CREATE TABLE blk_c (id int PRIMARY KEY)');
      await c.query('CREATE TABLE blk_d (id int PRIMARY KEY)');
      await other.query('CREATE TABLE blk_d (x text)');
      await assert.rejects(c.query('COMMIT'), (e: { code?: string }) => e.code === '40001');
      await assert.rejects(c.query('SELECT count(*) FROM blk_c'), (e: { code?: string }) => e.code === '42P01');
      const cols = await other.query('SELECT * FROM blk_d');
      assert.deepEqual(
        cols.fields.map((f) => f.name),
        ['x'],
      );
      // ROLLBACK drops a block's DDL.
      await c.query('BEGIN');
      await c.query('CREATE TABLE blk_e (id int PRIMARY KEY)');
      await c.query('ROLLBACK');
      await assert.rejects(c.query('SELECT count(*) FROM blk_e'), (e: { code?: string }) => e.code === '42P01');
    } finally {
      await other.end();
    }
  });
});
