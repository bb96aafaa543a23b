/**
 * The caches of the TX tier and the router, through pgwire against `stratum up`: hot-row
 * cache for point reads, statement cache for repeated statements, query-result cache for
 * repeated analytical statements (invalidated by writes to the table), all exported as metrics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

describe('caches', { timeout: 120_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let c: pg.Client;
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-cache-'));
    srv = await startEmbeddedServer(join(dir, 'data'), [], { STRATUM_ROUTER__RESULT_CACHE_TTL_MS: '60000' });
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    await c.query('CREATE TABLE kv (k bigint PRIMARY KEY, v text)');
    await c.query("INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  });
  after(async () => {
    await c?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('repeated point reads hit the hot-row cache', async () => {
    const before = await metric('stratum_tx_row_cache_hits_total');
    for (let i = 0; i < 5; i++) assert.equal((await c.query('SELECT v FROM kv WHERE k = $1', [2])).rows[0].v, 'b');
    assert.ok((await metric('stratum_tx_row_cache_hits_total')) >= before + 5);
  });

  test('repeated statements skip parsing', async () => {
    const before = await metric('stratum_router_statement_cache_hits_total');
    for (let i = 0; i < 5; i++) await c.query('SELECT k FROM kv WHERE k = 1');
    assert.ok((await metric('stratum_router_statement_cache_hits_total')) >= before + 4);
  });

  test('repeated analytical statements are answered from the result cache until a write', async () => {
    const q = 'SELECT count(*) AS n, max(v) AS top FROM kv';
    const first = (await c.query(q)).rows[0];
    const hits0 = await metric('stratum_router_result_cache_hits_total');
    const again = (await c.query(q)).rows[0];
    assert.deepEqual(again, first);
    assert.equal(await metric('stratum_router_result_cache_hits_total'), hits0 + 1);
    await c.query("INSERT INTO kv VALUES (4, 'z')");
    const fresh = (await c.query(q)).rows[0];
    assert.deepEqual(fresh, { n: '4', top: 'z' });
    assert.equal(await metric('stratum_router_result_cache_hits_total'), hits0 + 1, 'the write dropped the cached answer');
  });
});
