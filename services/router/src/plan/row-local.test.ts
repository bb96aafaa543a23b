/**
 * Which statements are row-local (plan/row-local.ts), on the analytical tier's DuckDB form of
 * each (parse, `rewriteForTier`), with the aggregate names of a real DuckDB. That a row-local
 * answer equals PostgreSQL's is checked end to end (cli/src/partial-agg.e2e.test.ts).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { initParser } from '../sql/parse.ts';
import { rowLocal } from './row-local.ts';
import { duckdbSelect } from './test-statements.ts';

let aggregates: Set<string>;

function local(sql: string): boolean {
  return rowLocal(duckdbSelect(sql), 'f', aggregates);
}

describe('row-local statements', () => {
  before(async () => {
    await initParser();
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const r = await conn.runAndReadAll("SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type = 'aggregate'");
    aggregates = new Set(r.getRows().map((x) => String(x[0])));
    conn.closeSync();
    db.closeSync();
  });

  test('projections and filters of one table are row-local', () => {
    for (const sql of [
      'SELECT * FROM f WHERE id = 3',
      'SELECT id, upper(origin), delay / 2 FROM f WHERE delay > 60 OR origin IS NULL',
      'SELECT id, coalesce(delay, 0) + 1 AS d FROM f',
    ]) {
      assert.equal(local(sql), true, sql);
    }
  });

  test('anything that combines rows is not', () => {
    for (const sql of [
      'SELECT count(*) FROM f',
      'SELECT max(delay) FROM f WHERE id < 3',
      'SELECT array_length(array_agg(delay), 1) FROM f',
      'SELECT stddev_samp(delay) + 1 FROM f',
      'SELECT origin FROM f GROUP BY origin',
      'SELECT DISTINCT origin FROM f',
      'SELECT id FROM f ORDER BY id',
      'SELECT id FROM f LIMIT 3',
      'SELECT id, count(*) OVER () FROM f',
      'SELECT id FROM f WHERE delay > (SELECT avg(delay) FROM f)',
      'SELECT id FROM f UNION ALL SELECT id FROM f',
      'WITH g AS (SELECT * FROM f) SELECT * FROM g',
      'SELECT a.id FROM f a JOIN f b ON a.id = b.id',
    ]) {
      assert.equal(local(sql), false, sql);
    }
  });
});
