/**
 * Constraints with several TX engines writing at once (issue 10, item 5): 2 TX engines over
 * NATS, sessions spread over both. Concurrent inserts of the same unique value: exactly one
 * commits, every other gets 23505. Concurrent child inserts and parent deletes: no child
 * outlives its parent. Sequences hand out unique values across engines.
 * (Writes to tables with UNIQUE constraints or foreign keys run at the constraint owner
 * engine, see docs/architecture.md "Constraints across engines".)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { type Cluster, startCluster } from './test-harness.ts';

describe('constraints across TX engines', { timeout: 300_000 }, () => {
  let dir: string;
  let nats: NatsServerHandle;
  let cluster: Cluster;
  const clients: pg.Client[] = [];

  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: cluster.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-constraints-'));
    nats = await startNatsServer();
    cluster = await startCluster({ natsUrl: nats.url, dir, tx: ['tx1', 'tx2'], ingestion: [{ id: 'ing1' }], shards: ['olap1'] });
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await cluster?.stop();
    await nats?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test('concurrent inserts of one unique value from sessions on both engines: exactly one wins, the others get 23505', async () => {
    const admin = await connect();
    await admin.query('CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL UNIQUE)');
    const sessions = await Promise.all(Array.from({ length: 8 }, () => connect()));
    // Round-robin engine choice: the sessions are spread over tx1 and tx2.
    const engines = new Set(sessions.map((_, i) => i % 2));
    assert.equal(engines.size, 2);
    for (let round = 0; round < 20; round++) {
      const email = `user${round}@example.com`;
      const results = await Promise.allSettled(sessions.map((c) => c.query('INSERT INTO accounts (email) VALUES ($1)', [email])));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const codes = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code);
      assert.equal(ok, 1, `round ${round}: exactly one insert commits`);
      assert.deepEqual([...new Set(codes)], ['23505'], `round ${round}: the others fail with unique_violation`);
    }
    let r = await admin.query('SELECT count(*)::int AS n, count(DISTINCT email)::int AS d, count(DISTINCT id)::int AS ids FROM accounts');
    for (let i = 0; r.rows[0].n < 20 && i < 600; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await admin.query('SELECT count(*)::int AS n, count(DISTINCT email)::int AS d, count(DISTINCT id)::int AS ids FROM accounts');
    }
    assert.deepEqual(r.rows[0], { n: 20, d: 20, ids: 20 });
  });

  test('concurrent child inserts and parent deletes: no child outlives its parent', async () => {
    const admin = await connect();
    await admin.query('CREATE TABLE parents (id int PRIMARY KEY)');
    await admin.query('CREATE TABLE kids (id int PRIMARY KEY, pid int NOT NULL REFERENCES parents (id))');
    await admin.query(`INSERT INTO parents SELECT g FROM generate_series(1, 40) AS g`);
    const a = await connect();
    const b = await connect();
    const work: Promise<unknown>[] = [];
    for (let i = 1; i <= 40; i++) {
      work.push(a.query('INSERT INTO kids VALUES ($1, $2)', [i, i]).catch((e) => e.code));
      work.push(b.query('DELETE FROM parents WHERE id = $1', [i]).catch((e) => e.code));
    }
    const codes = (await Promise.all(work)).filter((x) => typeof x === 'string');
    for (const c of codes) assert.equal(c, '23503');
    const orphans = await admin.query(
      'SELECT count(*)::int AS n FROM kids k WHERE NOT EXISTS (SELECT 1 FROM parents p WHERE p.id = k.pid)',
    );
    assert.equal(orphans.rows[0].n, 0);
  });

  test('sequence values are unique across engines', async () => {
    const admin = await connect();
    await admin.query('CREATE TABLE tickets (id bigserial PRIMARY KEY, note text)');
    const sessions = await Promise.all(Array.from({ length: 4 }, () => connect()));
    await Promise.all(
      sessions.map(async (c, i) => {
        for (let k = 0; k < 50; k++) await c.query('INSERT INTO tickets (note) VALUES ($1)', [`s${i}`]);
      }),
    );
    // Rows other sessions wrote reach this session's analytical reads once merged.
    let r = await admin.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM tickets');
    for (let i = 0; r.rows[0].n < 200 && i < 600; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await admin.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM tickets');
    }
    assert.deepEqual(r.rows[0], { n: 200, d: 200 });
  });
});
