/**
 * Two-phase aggregation across OLAP shards (issue 13 item 5; services/router/src/plan/partial-agg.ts):
 * the embedded form with two in-process shards and a table sharded by `shard_key region`. An
 * aggregate the WHERE clause does not pin to one shard is pre-aggregated on each shard and
 * merged by the router; one it cannot split falls back to gathering rows. Every answer is
 * compared, as PostgreSQL's text of each value, with a throw-away PostgreSQL 15 given the same
 * statements, and the metrics say which path ran. The same statements run again with partial
 * aggregation off and the shards returning gathered rows as Arrow IPC streams.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const DDL =
  'CREATE TABLE sales (region text, id bigint, qty integer, big bigint, price double precision, amount numeric(12,2), at timestamp, note text, ok boolean, PRIMARY KEY (region, id))';

/**
 * Statements and whether the shards pre-aggregate them (false: the router gathers rows); `local`:
 * each shard runs it whole and the router concatenates the answers (row-local), whose order is
 * then the shards' (compared sorted, as PostgreSQL's order without ORDER BY is its own too).
 */
const QUERIES: { sql: string; split: boolean; local?: boolean }[] = [
  { sql: 'SELECT count(*) FROM sales', split: true },
  // Counts only: summed by the router without a final statement.
  { sql: 'SELECT count(*) AS n, count(note) FROM sales WHERE qty > 10', split: true },
  { sql: 'SELECT region, count(*), sum(qty), avg(qty), min(price), max(at) FROM sales GROUP BY region ORDER BY region', split: true },
  { sql: 'SELECT count(note), count(*), sum(big), avg(price), avg(amount), sum(amount) FROM sales WHERE qty > 10', split: true },
  { sql: "SELECT date_trunc('day', at) AS d, count(*) AS n, avg(qty) FROM sales GROUP BY 1 ORDER BY 1", split: true },
  { sql: 'SELECT qty % 5 AS k, qty % 5 * 2 AS k2, sum(price) AS s FROM sales GROUP BY qty % 5 ORDER BY s DESC, k LIMIT 3', split: true },
  { sql: 'SELECT region, bool_and(ok), bool_or(ok) FROM sales GROUP BY region HAVING count(*) > 50 ORDER BY 1', split: true },
  { sql: 'SELECT note, count(*) AS n FROM sales GROUP BY note ORDER BY n DESC, note NULLS FIRST', split: true },
  { sql: "SELECT count(*), sum(qty) FROM sales WHERE at >= '2001-01-03' AND at < '2001-01-05' AND region <> 'north'", split: true },
  { sql: 'SELECT max(qty) - min(qty) AS spread, sum(qty) / count(*) AS mean FROM sales WHERE id BETWEEN 100 AND 400', split: true },
  // Grouped by the shard key with ORDER BY and LIMIT: each shard keeps only its first groups.
  { sql: 'SELECT region, count(*) AS n, avg(qty) AS a FROM sales GROUP BY region ORDER BY n DESC, region LIMIT 2', split: true },
  {
    sql: 'SELECT region, note, count(*) AS n, sum(qty) FROM sales GROUP BY region, note ORDER BY 3 DESC, 1, 2 NULLS FIRST LIMIT 4 OFFSET 1',
    split: true,
  },
  { sql: 'SELECT region, avg(price) AS m FROM sales GROUP BY region HAVING count(*) > 100 ORDER BY m DESC, region LIMIT 3', split: true },
  { sql: 'SELECT region, max(qty) FROM sales WHERE ok GROUP BY region ORDER BY avg(qty) DESC, 1 LIMIT 2', split: true },
  // Row-local: each shard runs the statement whole.
  { sql: 'SELECT * FROM sales WHERE id = 123', split: false, local: true },
  { sql: 'SELECT region, id, qty * 2, amount, upper(note), at FROM sales WHERE qty > 95 OR note IS NULL', split: false, local: true },
  // An aggregate two-phase aggregation does not split: not row-local either (one row, not one per shard).
  { sql: 'SELECT array_length(array_agg(qty), 1), count(*) FROM sales', split: false },
  { sql: 'SELECT sum(qty) FILTER (WHERE ok), count(*) FROM sales', split: false },
  // No group on any shard: no partial rows to type, so the router gathers the (empty) rows.
  { sql: 'SELECT region, count(*) FROM sales WHERE qty > 1000 GROUP BY region ORDER BY 1', split: false },
  { sql: 'SELECT count(DISTINCT region), count(*) FROM sales', split: false },
  { sql: "SELECT region, string_agg(note, ',' ORDER BY id) IS NOT NULL AS any FROM sales GROUP BY region ORDER BY 1", split: false },
];

for (const mode of [
  { name: 'two-phase aggregation across two shards (shard_key)', yaml: [], partial: true },
  {
    name: 'rows gathered across two shards as Arrow IPC (partial_aggregation off, gather_format arrow)',
    yaml: ['router:', '  partial_aggregation: false', '  gather_format: arrow'],
    partial: false,
  },
])
  describe(mode.name, { timeout: 240_000 }, () => {
    let dir: string;
    let server: EmbeddedServer;
    let ref: PostgresHandle;
    let c: pg.Client;
    let p: pg.Client;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stratum-partial-'));
      const file = join(dir, 'stratum.yaml');
      await writeFile(
        file,
        [
          'cluster:',
          '  olap_shards:',
          '    - { id: olap1, url: "http://127.0.0.1:1" }',
          '    - { id: olap2, url: "http://127.0.0.1:2" }',
          'tables:',
          '  sales: { shard_key: region }',
          ...mode.yaml,
        ].join('\n'),
      );
      [server, ref] = await Promise.all([startEmbeddedServer(join(dir, 'data'), ['--config', file]), startPostgres()]);
      c = new pg.Client({ host: '127.0.0.1', port: server.pgPort, user: 'stratum', database: 'stratum' });
      p = new pg.Client({ host: ref.host, port: ref.port, user: ref.user, database: ref.database });
      await Promise.all([c.connect(), p.connect()]);
      await p.query("SET TimeZone = 'UTC'");
      const regions = ['north', 'south', 'east', 'west', 'centre'];
      const rows: string[] = [];
      for (let i = 0; i < 700; i++) {
        const at = new Date(Date.UTC(2001, 0, 1) + i * 487_000).toISOString().replace('T', ' ').replace('Z', '');
        const note = i % 7 === 0 ? 'NULL' : `'n${i % 4}'`;
        rows.push(
          `('${regions[i % 5]}', ${i}, ${(i * 37) % 101}, ${i * 1_000_000_007}, ${((i * 13) % 40) / 4}, ${(i * 7919) % 100000}.${i % 100}, '${at}', ${note}, ${i % 3 !== 0})`,
        );
      }
      for (const client of [c, p]) {
        await client.query(DDL);
        for (let i = 0; i < rows.length; i += 100) await client.query(`INSERT INTO sales VALUES ${rows.slice(i, i + 100).join(', ')}`);
      }
    });

    after(async () => {
      await c?.end().catch(() => {});
      await p?.end().catch(() => {});
      await server?.kill();
      await ref?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    const asText = { getTypeParser: () => (v: string) => v };

    test('answers equal PostgreSQL 15; splittable aggregates are pre-aggregated on the shards', async () => {
      for (const q of QUERIES) {
        const before = await metric('stratum_router_olap_partial_aggregations_total');
        const local0 = await metric('stratum_router_olap_row_local_total');
        const gathered0 = /shard="gather"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
        const got = await c.query({ text: q.sql, rowMode: 'array', types: asText });
        const after = await metric('stratum_router_olap_partial_aggregations_total');
        const local1 = await metric('stratum_router_olap_row_local_total');
        const gathered1 = /shard="gather"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
        const want = await p.query({ text: q.sql, rowMode: 'array', types: asText });
        const order = (rows: unknown[][]) => (q.local ? [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : rows);
        assert.deepEqual(order(got.rows), order(want.rows), q.sql);
        assert.equal(local1 - local0, q.local ? 1 : 0, `${q.sql}: ${q.local ? 'row-local' : 'not row-local'}`);
        assert.deepEqual(
          got.fields.map((f) => f.dataTypeID),
          want.fields.map((f) => f.dataTypeID),
          `${q.sql}: result types`,
        );
        assert.equal(Number(gathered1?.[1] ?? 0) - Number(gathered0?.[1] ?? 0), 1, `${q.sql}: spans both shards`);
        const split = mode.partial && q.split;
        assert.equal(after - before, split ? 1 : 0, `${q.sql}: ${split ? 'pre-aggregated on the shards' : 'rows gathered'}`);
      }
    });

    test('EXPLAIN names the scatter/gather placement and the statement the shards run', async () => {
      const r = await c.query('EXPLAIN SELECT region, count(*) FROM sales GROUP BY region');
      const text = r.rows.map((x) => Object.values(x).join(' ')).join('\n');
      assert.match(text, /scatter\/gather/);
      if (mode.partial) assert.match(text, /two-phase aggregation: each shard runs SELECT .*GROUP BY region/);
      else assert.doesNotMatch(text, /two-phase/);
      // Grouped by the shard key: each shard keeps its first LIMIT + OFFSET groups.
      const top = await c.query(
        'EXPLAIN SELECT region, note, count(*) AS n FROM sales GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 4 OFFSET 1',
      );
      const topText = top.rows.map((x) => Object.values(x).join(' ')).join('\n');
      if (mode.partial) assert.match(topText, /two-phase aggregation: each shard runs SELECT .*ORDER BY 3 DESC, 1, 2 LIMIT 5/);
      // Row-local: each shard runs the statement whole.
      const local = await c.query('EXPLAIN SELECT * FROM sales WHERE id = 5');
      assert.match(local.rows.map((x) => Object.values(x).join(' ')).join('\n'), /row-local: each shard runs the statement whole/);
      // Not by the shard key: every group crosses.
      const all = await c.query('EXPLAIN SELECT note, count(*) AS n FROM sales GROUP BY 1 ORDER BY 2 DESC LIMIT 2');
      const allText = all.rows.map((x) => Object.values(x).join(' ')).join('\n');
      if (mode.partial) assert.doesNotMatch(allText, /each shard runs [^\n]*LIMIT/);
    });
  });
