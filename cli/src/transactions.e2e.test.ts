/**
 * Transaction blocks over pgwire against `stratum up`: BEGIN/COMMIT/ROLLBACK, savepoints,
 * snapshot reads, first-committer-wins (40001), SERIALIZABLE read validation, 25P02 in a
 * failed block, rollback on disconnect, the transaction size limit.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

describe('transactions', { timeout: 120_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const value = async (c: pg.Client, id: number) =>
    (await c.query('SELECT v FROM acct WHERE id = $1', [id])).rows[0]?.v as string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-txn-'));
    srv = await startEmbeddedServer(join(dir, 'data'), [], { STRATUM_TX__MAX_TXN_BYTES: '65536' });
    const c = await connect();
    await c.query('CREATE TABLE acct (id bigint PRIMARY KEY, v bigint NOT NULL, note text)');
    await c.query('INSERT INTO acct VALUES (1, 100, null), (2, 200, null), (3, 300, null)');
  });
  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('COMMIT makes a block visible at once; until then only its session sees it', async () => {
    const a = await connect();
    const b = await connect();
    await a.query('BEGIN');
    assert.equal((await a.query('SHOW transaction_isolation')).rows[0].transaction_isolation, 'repeatable read');
    await a.query('INSERT INTO acct VALUES (10, 1, $1)', ['in block']);
    await a.query('UPDATE acct SET v = v + 1 WHERE id = 1');
    assert.equal(await value(a, 10), '1');
    assert.equal(await value(a, 1), '101');
    assert.equal(await value(b, 10), undefined);
    assert.equal(await value(b, 1), '100');
    const r = await a.query('COMMIT');
    assert.equal(r.command, 'COMMIT');
    assert.equal(await value(b, 10), '1');
    assert.equal(await value(b, 1), '101');
  });

  test('ROLLBACK and ROLLBACK TO SAVEPOINT discard writes', async () => {
    const a = await connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (20, 1, null)');
    await a.query('ROLLBACK');
    assert.equal(await value(a, 20), undefined);
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (21, 1, null)');
    await a.query('SAVEPOINT s1');
    await a.query('INSERT INTO acct VALUES (22, 1, null)');
    await a.query('DELETE FROM acct WHERE id = 21');
    await a.query('ROLLBACK TO SAVEPOINT s1');
    await a.query('SAVEPOINT s2');
    await a.query('UPDATE acct SET v = 5 WHERE id = 21');
    await a.query('RELEASE SAVEPOINT s2');
    await a.query('COMMIT');
    assert.equal(await value(a, 21), '5');
    assert.equal(await value(a, 22), undefined);
    await assert.rejects(a.query('ROLLBACK TO SAVEPOINT nope'), { code: '25P01' });
  });

  test('reads inside a block come from one snapshot', async () => {
    const a = await connect();
    const b = await connect();
    await a.query('BEGIN');
    assert.equal(await value(a, 2), '200');
    await b.query('UPDATE acct SET v = 201 WHERE id = 2');
    await b.query('INSERT INTO acct VALUES (30, 1, null)');
    assert.equal(await value(a, 2), '200', 'a committed update after the snapshot is not seen');
    assert.equal(await value(a, 30), undefined, 'a row inserted after the snapshot is not seen');
    await a.query('COMMIT');
    assert.equal(await value(a, 2), '201');
  });

  test('write-write conflicts: the first committer wins, the other gets 40001 and can retry', async () => {
    const a = await connect();
    const b = await connect();
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE acct SET v = v + 10 WHERE id = 3');
    await b.query('UPDATE acct SET v = v + 20 WHERE id = 3');
    await a.query('COMMIT');
    await assert.rejects(b.query('COMMIT'), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '40001', e.message);
      assert.match(e.message, /acct/);
      return true;
    });
    // Retry on a fresh snapshot.
    await b.query('BEGIN');
    await b.query('UPDATE acct SET v = v + 20 WHERE id = 3');
    await b.query('COMMIT');
    assert.equal(await value(a, 3), '330');
  });

  test('SERIALIZABLE validates the read set at commit (write skew is refused)', async () => {
    const a = await connect();
    const b = await connect();
    await a.query('INSERT INTO acct VALUES (40, 1, null), (41, 1, null)');
    await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await b.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    assert.equal((await a.query('SHOW transaction_isolation')).rows[0].transaction_isolation, 'serializable');
    // Each reads both rows, then writes the other one: a classic write skew.
    const sa = Number(await value(a, 40)) + Number(await value(a, 41));
    const sb = Number(await value(b, 40)) + Number(await value(b, 41));
    await a.query('UPDATE acct SET v = $1 WHERE id = 40', [sa - 2]);
    await b.query('UPDATE acct SET v = $1 WHERE id = 41', [sb - 2]);
    await a.query('COMMIT');
    await assert.rejects(b.query('COMMIT'), { code: '40001' });
    await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await assert.rejects(a.query('SELECT count(*) FROM acct'), { code: '0A000' });
    await a.query('ROLLBACK');
  });

  test('a failed block answers 25P02 until ROLLBACK; COMMIT of it rolls back', async () => {
    const a = await connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (50, 1, null)');
    await assert.rejects(a.query('INSERT INTO acct VALUES (1, 1, null)'), { code: '23505' });
    await assert.rejects(a.query('SELECT v FROM acct WHERE id = 1'), { code: '25P02' });
    await assert.rejects(a.query('INSERT INTO acct VALUES (51, 1, null)'), { code: '25P02' });
    const r = await a.query('COMMIT');
    assert.equal(r.command, 'ROLLBACK');
    assert.equal(await value(a, 50), undefined);
    // ROLLBACK TO SAVEPOINT recovers a failed block.
    await a.query('BEGIN');
    await a.query('SAVEPOINT s');
    await assert.rejects(a.query("INSERT INTO acct VALUES (52, 'x', null)"), { code: '22P02' });
    await a.query('ROLLBACK TO SAVEPOINT s');
    await a.query('INSERT INTO acct VALUES (52, 2, null)');
    await a.query('COMMIT');
    assert.equal(await value(a, 52), '2');
  });

  test('analytical SELECTs in a block are served with a notice, and see the block’s own writes', async () => {
    const a = await connect();
    const notices: string[] = [];
    a.on('notice', (n) => notices.push(n.message ?? ''));
    await a.query('BEGIN');
    const n = await a.query('SELECT count(*) AS n FROM acct');
    assert.ok(Number(n.rows[0].n) > 0);
    assert.ok(notices.some((m) => /committed when each statement starts/.test(m)));
    // Each analytical statement reads what is committed when it starts (a new session may see
    // earlier tests' commits arrive between two statements), so count only this test's rows.
    const before = await a.query('SELECT count(*) AS n FROM acct WHERE id >= 60');
    await a.query('INSERT INTO acct VALUES (60, 1, null)');
    const after = await a.query('SELECT count(*) AS n FROM acct WHERE id >= 60');
    assert.equal(Number(after.rows[0].n), Number(before.rows[0].n) + 1);
    const mine = await a.query('SELECT id FROM acct WHERE id >= 60 ORDER BY id');
    assert.deepEqual(
      mine.rows.map((r) => Number(r.id)),
      [60],
    );
    await a.query('ROLLBACK');
  });

  test('a block left open by a client that disconnects is rolled back', async () => {
    const a = await connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (70, 1, null)');
    await a.end();
    const b = await connect();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
      const open = /stratum_tx_open_transactions\{engine="tx1"\} (\d+)/.exec(m);
      if (open && open[1] === '0') break;
      if (Date.now() > deadline) assert.fail(`transaction still open: ${open?.[0]}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await value(b, 70), undefined);
  });

  test('a transaction over the size limit fails with 54000', async () => {
    const a = await connect();
    await a.query('BEGIN');
    const big = 'x'.repeat(4000);
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 40; i++) await a.query('INSERT INTO acct VALUES ($1, 1, $2)', [1000 + i, big]);
      })(),
      { code: '54000' },
    );
    await a.query('ROLLBACK');
    assert.equal(await value(a, 1000), undefined);
  });
});
