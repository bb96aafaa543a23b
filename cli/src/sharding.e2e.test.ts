/**
 * OLAP placement in the embedded form with two in-process shards (issue 4 items 6 and 8):
 * an append-only table sharded by time (cold: before 2001-02-01 on olap2, hot: the rest on
 * olap1). Queries whose time range stays on one side run on that shard whole; others are
 * gathered by the router; every answer equals DuckDB's over the rows written. Placement options
 * that could move a row between shards are refused at CREATE TABLE (42P16).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

describe('time sharding (hot/cold) across two shards', { timeout: 180_000 }, () => {
  let dir: string;
  let server: EmbeddedServer;
  let c: pg.Client;
  const rows: { id: number; happened: string; kind: string; v: number }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-tshard-'));
    const file = join(dir, 'stratum.yaml');
    await writeFile(
      file,
      [
        'cluster:',
        '  olap_shards:',
        '    - { id: olap1, url: "http://127.0.0.1:1" }',
        '    - { id: olap2, url: "http://127.0.0.1:2" }',
        'ingestion:',
        '  push_interval_ms: 300',
        '  push_rows: 200',
        'tables:',
        "  events: { append_only: true, time_column: happened, time_shards: [{ shard: olap2, until: '2001-02-01' }, { shard: olap1 }] }",
        '  bad_key: { shard_key: region }',
        "  bad_time: { time_column: happened, time_shards: [{ shard: olap2, until: '2001-02-01' }, { shard: olap1 }] }",
      ].join('\n'),
    );
    server = await startEmbeddedServer(join(dir, 'data'), ['--config', file]);
    c = new pg.Client({ host: '127.0.0.1', port: server.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
  });

  after(async () => {
    await c?.end().catch(() => {});
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  const gathered = async () => {
    const m = /stratum_router_olap_queries_total\{shard="gather"\} (\d+)/.exec(
      await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text(),
    );
    return m ? Number(m[1]) : 0;
  };

  test('placement options that could move a row between shards are refused (42P16)', async () => {
    await assert.rejects(c.query('CREATE TABLE bad_key (id bigint PRIMARY KEY, region text)'), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '42P16');
      assert.match(e.message, /shard_key "region" must be a primary-key column/);
      return true;
    });
    await assert.rejects(
      c.query('CREATE TABLE bad_time (id bigint PRIMARY KEY, happened timestamp)'),
      (e: { code?: string }) => e.code === '42P16',
    );
  });

  test('time-range queries on one side run on one shard; others are gathered; answers equal DuckDB', async () => {
    await c.query('CREATE TABLE events (id bigint PRIMARY KEY, happened timestamp, kind text, v double precision)');
    const base = Date.parse('2001-01-10T00:00:00Z');
    for (let i = 0; i < 600; i += 50) {
      const batch: string[] = [];
      const params: unknown[] = [];
      for (let j = i; j < i + 50; j++) {
        const at = new Date(base + j * 3_600_000 * 1.7).toISOString().replace('T', ' ').replace('Z', '');
        const r = { id: j, happened: at, kind: ['click', 'view', 'buy'][j % 3] as string, v: (j % 17) / 4 };
        rows.push(r);
        batch.push(`($${params.length + 1}, $${params.length + 2}, $${params.length + 3}, $${params.length + 4})`);
        params.push(r.id, r.happened, r.kind, r.v);
      }
      await c.query(`INSERT INTO events VALUES ${batch.join(', ')}`, params);
    }
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    await duck.run(`SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;`);
    await duck.run('CREATE TABLE events (id BIGINT, happened TIMESTAMP, kind VARCHAR, v DOUBLE)');
    for (const r of rows) await duck.run(`INSERT INTO events VALUES (${r.id}, TIMESTAMP '${r.happened}', '${r.kind}', ${r.v})`);
    const queries = [
      {
        sql: "SELECT kind, count(*), min(happened)::text, max(happened)::text FROM events WHERE happened < '2001-01-25' GROUP BY kind ORDER BY kind",
        whole: true,
      },
      { sql: "SELECT count(*), sum(v) FROM events WHERE happened >= '2001-02-03 00:00:00' AND happened < '2001-02-10'", whole: true },
      {
        sql: "SELECT date_trunc('day', happened)::text AS d, count(*) FROM events WHERE happened BETWEEN '2001-01-28' AND '2001-02-04' GROUP BY d ORDER BY d",
        whole: false,
      },
      { sql: 'SELECT kind, count(*), max(id) FROM events GROUP BY kind ORDER BY kind', whole: false },
      { sql: 'SELECT id, happened::text FROM events ORDER BY happened DESC, id LIMIT 5', whole: false },
    ];
    for (const q of queries) {
      const g0 = await gathered();
      const got = (await c.query({ text: q.sql, rowMode: 'array' })).rows.map((r) => r.map(String));
      const g1 = await gathered();
      const want = (await duck.runAndReadAll(q.sql)).getRows().map((r) => r.map((x) => String(x)));
      assert.deepEqual(got, want, q.sql);
      assert.equal(g1 - g0, q.whole ? 0 : 1, `${q.sql}: expected ${q.whole ? 'one shard' : 'scatter/gather'}`);
    }
    duck.closeSync();
  });
});
