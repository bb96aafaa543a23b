/**
 * Which statements two-phase aggregation splits (plan/partial-agg.ts), on the analytical tier's
 * DuckDB form of each (parse, `rewriteForTier`). Whether the split answers are right is checked
 * end to end against PostgreSQL 15 (cli/src/partial-agg.e2e.test.ts); here the shapes: what the
 * shards run, and what falls back to gathering rows.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initParser } from '../sql/parse.ts';
import { finishCounts, partialAggregation } from './partial-agg.ts';
import { duckdbSelect, F_COLUMNS } from './test-statements.ts';

function split(sql: string, shardKey?: string) {
  return partialAggregation(duckdbSelect(sql), 'f', F_COLUMNS, 1, { shardKey });
}

describe('two-phase aggregation: which statements split', () => {
  before(async () => {
    await initParser();
  });

  test('aggregates over group keys split; the shards group by the keys and keep the WHERE clause', () => {
    for (const sql of [
      'SELECT count(*) FROM f',
      'SELECT origin, count(*) AS n, avg(delay) FROM f GROUP BY origin ORDER BY n DESC LIMIT 10',
      "SELECT date_trunc('day', at) AS d, count(*) FROM f WHERE delay > 60 GROUP BY 1 ORDER BY 1",
      'SELECT delay / 500 * 500 AS b, max(delay) - min(delay) FROM f GROUP BY 1 HAVING count(*) > 2',
      'SELECT origin, bool_and(delay > 0), sum(delay) FROM f GROUP BY origin',
    ]) {
      const p = split(sql);
      assert.ok(p, `${sql}: splits`);
      assert.match(p.finalSql, /__stratum_partial_1/, sql);
      if (sql.includes('WHERE')) assert.match(p.shardSql, /WHERE/, sql);
      if (sql.includes('GROUP BY')) assert.match(p.shardSql, /GROUP BY/, sql);
      assert.doesNotMatch(p.shardSql, /LIMIT|ORDER BY|HAVING/, `${sql}: the shards only group`);
    }
  });

  test('a lone count(*) reaches the shards as the shape they answer from their manifest', () => {
    assert.equal(split('SELECT count(*) FROM f')?.shardSql, 'SELECT count(*) AS _p1 FROM f');
  });

  test("counts only: the router sums the shards' counts without a final statement", () => {
    const p = split('SELECT count(*) AS n, count(delay) FROM f WHERE delay > 3');
    assert.deepEqual(p?.counts, [
      { name: 'n', column: 0 },
      { name: 'count', column: 1 },
    ]);
    const r =
      p &&
      finishCounts(p, [
        [3n, 2n],
        [4n, 0n],
      ]);
    assert.deepEqual(r?.rows, [[7n, 2n]]);
    assert.deepEqual(
      r?.columns.map((c) => c.type),
      ['bigint', 'bigint'],
    );
    for (const sql of [
      'SELECT count(*), sum(delay) FROM f',
      'SELECT origin, count(*) FROM f GROUP BY origin',
      'SELECT count(*) + 1 FROM f',
      'SELECT count(*) FROM f HAVING count(*) > 2',
      'SELECT count(*) FROM f LIMIT 0',
    ]) {
      assert.equal(split(sql)?.counts, undefined, sql);
    }
  });

  test('grouped by the shard key with ORDER BY and a constant LIMIT, each shard keeps its first LIMIT + OFFSET groups', () => {
    const kept = [
      ['SELECT origin, count(*) AS n FROM f GROUP BY origin ORDER BY n DESC LIMIT 10', 10],
      ['SELECT origin, delay, count(*) FROM f GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 5 OFFSET 3', 8],
      ['SELECT f.origin, max(delay) FROM f GROUP BY f.origin HAVING count(*) > 1 ORDER BY avg(delay) LIMIT 1', 1],
    ] as const;
    for (const [sql, k] of kept) {
      const p = split(sql, 'origin');
      assert.ok(p, sql);
      assert.match(p.shardSql, new RegExp(`ORDER BY .* LIMIT ${k} \\) AS __stratum_partial_1_top$`), sql);
      assert.doesNotMatch(p.shardSql, /OFFSET/, `${sql}: the offset is the router's`);
      assert.equal(p.finalSql, split(sql)?.finalSql, `${sql}: the router's final statement is the same`);
    }
    for (const sql of [
      'SELECT origin, count(*) AS n FROM f GROUP BY origin ORDER BY n DESC',
      'SELECT delay, count(*) AS n FROM f GROUP BY delay ORDER BY n DESC LIMIT 3',
      'SELECT origin, count(*) AS n FROM f GROUP BY origin LIMIT 3',
      'SELECT origin, count(*) AS n FROM f GROUP BY origin ORDER BY n DESC FETCH FIRST 3 ROWS WITH TIES',
    ]) {
      const p = split(sql, 'origin');
      assert.ok(p, sql);
      assert.doesNotMatch(p.shardSql, /LIMIT/, `${sql}: every group crosses`);
    }
  });

  test('statements the split cannot answer gather rows instead', () => {
    for (const sql of [
      'SELECT * FROM f',
      'SELECT id, delay FROM f WHERE id = 3',
      'SELECT count(DISTINCT origin) FROM f',
      "SELECT origin, string_agg(origin, ',') FROM f GROUP BY origin",
      'SELECT origin, count(*) OVER () FROM f',
      'SELECT DISTINCT origin FROM f',
      'SELECT origin, delay, count(*) FROM f GROUP BY origin',
      'SELECT count(*) FROM f WHERE delay IN (SELECT delay FROM f WHERE id < 3)',
      'SELECT count(*) FROM f WHERE delay > $1',
      'SELECT count(*) FROM f a JOIN f b ON a.id = b.id',
      'SELECT count(*) FILTER (WHERE delay > 0) FROM f',
      'SELECT origin, count(*) FROM f GROUP BY ROLLUP (origin)',
    ]) {
      assert.equal(split(sql), undefined, sql);
    }
  });
});
