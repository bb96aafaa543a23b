/**
 * Which statements two-phase aggregation splits (plan/partial-agg.ts), on the analytical tier's
 * DuckDB form of each (parse, `rewriteForTier`). Whether the split answers are right is checked
 * end to end against PostgreSQL 15 (cli/src/partial-agg.e2e.test.ts); here the shapes: what the
 * shards run, and what falls back to gathering rows.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { SelectStmt } from '@pgsql/types';
import { Catalog, DEFAULT_TABLE_OPTIONS } from '@stratum/shared';
import type { SessionValues } from '../analyze/scope.ts';
import { initParser, parseFirst } from '../sql/parse.ts';
import { rewriteForTier } from './duckdb-sql.ts';
import { partialAggregation } from './partial-agg.ts';

const SESSION: SessionValues = { user: 'stratum', database: 'stratum', serverVersion: '15.0', setting: () => undefined };

const catalog = new Catalog(() => ({ ...DEFAULT_TABLE_OPTIONS }));
catalog.apply(1, {
  kind: 'create_table',
  table: {
    name: 'f',
    columns: [
      { name: 'id', type: 'bigint', notNull: true },
      { name: 'origin', type: 'text', notNull: false },
      { name: 'delay', type: 'integer', notNull: false },
      { name: 'at', type: 'timestamp', notNull: false },
    ],
    primaryKey: ['id'],
  },
  at: 0,
});
const COLUMNS = new Set(['id', 'origin', 'delay', 'at']);

function split(sql: string) {
  const stmt = rewriteForTier(parseFirst(sql) as never, catalog, SESSION) as { SelectStmt: SelectStmt };
  return partialAggregation(stmt.SelectStmt, 'f', COLUMNS, 1);
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
