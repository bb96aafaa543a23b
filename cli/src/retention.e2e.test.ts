/**
 * TX-tier retention (DESIGN §2 step 6): rows older than their table's `tx_retention_ms` that
 * ingestion has merged are evicted from LevelDB, and reads, updates, deletes and key checks of
 * evicted rows are answered from ingestion without the client noticing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

describe('tx retention', { timeout: 120_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let c: pg.Client;
  const evicted = async () => {
    const m = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
    return Number(/stratum_tx_evicted_rows_total\{engine="tx1"\} (\d+)/.exec(m)?.[1] ?? 0);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ret-'));
    const cfg = join(dir, 'stratum.yaml');
    await writeFile(cfg, 'tx:\n  retention_check_ms: 100\ntables:\n  hot:\n    tx_retention_ms: 1\n');
    srv = await startEmbeddedServer(join(dir, 'data'), ['--config', cfg]);
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    await c.query('CREATE TABLE hot (id bigint PRIMARY KEY, v text)');
    await c.query('CREATE TABLE cold (id bigint PRIMARY KEY, v text)');
    const values = Array.from({ length: 50 }, (_, i) => `(${i}, 'v${i}')`).join(',');
    await c.query(`INSERT INTO hot VALUES ${values}`);
    await c.query(`INSERT INTO cold VALUES ${values}`);
  });
  after(async () => {
    await c?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('rows past tx_retention are evicted once ingestion has merged them; others stay', async () => {
    const deadline = Date.now() + 30_000;
    while ((await evicted()) < 50) {
      if (Date.now() > deadline) assert.fail(`only ${await evicted()} rows evicted`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Only the 50 rows of "hot" qualify (cold keeps 24 h).
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await evicted(), 50);
  });

  test('reads, updates, deletes and key checks of evicted rows are served through ingestion', async () => {
    for (const id of [0, 17, 49]) assert.equal((await c.query('SELECT v FROM hot WHERE id = $1', [id])).rows[0]?.v, `v${id}`);
    assert.equal((await c.query('UPDATE hot SET v = v || $2 WHERE id = $1', [17, '!'])).rowCount, 1);
    assert.equal((await c.query('SELECT v FROM hot WHERE id = 17')).rows[0]?.v, 'v17!');
    await assert.rejects(c.query("INSERT INTO hot VALUES (3, 'again')"), { code: '23505' });
    assert.equal((await c.query('DELETE FROM hot WHERE id = 4')).rowCount, 1);
    assert.equal((await c.query('SELECT v FROM hot WHERE id = 4')).rowCount, 0);
    const n = await c.query('SELECT count(*) AS n FROM hot');
    assert.equal(Number(n.rows[0].n), 49);
    // In a transaction block too (snapshot reads fall back to ingestion as of the snapshot).
    await c.query('BEGIN');
    assert.equal((await c.query('SELECT v FROM hot WHERE id = 49')).rows[0]?.v, 'v49');
    await c.query("UPDATE hot SET v = 'tx' WHERE id = 49");
    await c.query('COMMIT');
    assert.equal((await c.query('SELECT v FROM hot WHERE id = 49')).rows[0]?.v, 'tx');
  });
});
