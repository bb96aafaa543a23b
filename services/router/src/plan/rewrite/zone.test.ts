/**
 * The session TimeZone in the analytical rewrite, without servers: the zone is written into the
 * DuckDB SQL where PostgreSQL reads it, UTC leaves the SQL as it was, literals are read by the
 * router's parser, and the refused forms name the function and the zone. The answers themselves
 * are compared with PostgreSQL 15 in cli/src/settings.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Catalog, type TableDef } from '@stratum/shared';
import type { SessionValues } from '../../analyze/scope.ts';
import { initParser, parseFirst } from '../../sql/parse.ts';
import { deparse, rewriteForTier } from '../duckdb-sql.ts';

let cat: Catalog;

function session(zone: string | undefined): SessionValues {
  return { user: 'u', database: 'd', serverVersion: '15.0', setting: (n) => (n.toLowerCase() === 'timezone' ? zone : undefined) };
}

function sql(text: string, zone: string | undefined): string {
  const stmt = parseFirst(text);
  assert.ok(stmt);
  return deparse(rewriteForTier(stmt, cat, session(zone)));
}

describe('analytical rewrite under a session TimeZone', () => {
  before(async () => {
    await initParser();
    cat = new Catalog();
    const t: TableDef = {
      name: 'ev',
      columns: [
        { name: 'id', type: 'integer', notNull: true },
        { name: 'ts', type: 'timestamptz', notNull: false },
        { name: 'lts', type: 'timestamp', notNull: false },
        { name: 'd', type: 'date', notNull: false },
      ],
      primaryKey: ['id'],
    };
    cat.apply(1, { kind: 'create_table', table: t, at: 0 });
  });

  const STATEMENTS = [
    "SELECT date_trunc('day', ts), count(*) FROM ev GROUP BY 1",
    "SELECT count(*) FROM ev WHERE ts >= '2024-03-10' AND lts < ts",
    "SELECT ts + interval '1 day', extract(hour FROM ts), ts::date, to_char(ts, 'HH24:MI') FROM ev",
  ];

  test('UTC (and a zero offset) leaves the SQL as it is', () => {
    for (const s of STATEMENTS) {
      assert.equal(sql(s, 'UTC'), sql(s, undefined), s);
      assert.equal(sql(s, '<+00>-00'), sql(s, undefined), s);
    }
  });

  test('a tz database zone is named in the SQL; a fixed offset is arithmetic', () => {
    const ny = sql(STATEMENTS[0] as string, 'america/new_york');
    assert.match(ny, /timezone\('America\/New_York', \(date_trunc\('day', timezone\('America\/New_York', ts\)\)\)::timestamp\)/);
    const fixed = sql(STATEMENTS[0] as string, '<+05:30>-05:30');
    assert.doesNotMatch(fixed, /timezone\(/);
    assert.match(fixed, /to_seconds\(CAST\(19800 AS bigint\)\)/);
  });

  test('a literal is read in the zone by the router: the SQL holds the UTC instant', () => {
    assert.match(sql(STATEMENTS[1] as string, 'Asia/Kolkata'), /'2024-03-09 18:30:00\+00'::timestamptz/);
    assert.match(sql(STATEMENTS[1] as string, 'UTC+3'), /'2024-03-10 03:00:00\+00'::timestamptz/);
  });

  test('generate_series stepping days is refused naming the function and the zone; by hours it runs', () => {
    assert.throws(
      () => sql("SELECT g FROM ev, generate_series(ts, ts + interval '2 days', interval '1 day') g", 'Europe/Berlin'),
      (e: { code?: string; message?: string }) =>
        e.code === '0A000' && /generate_series/.test(e.message ?? '') && /Europe\/Berlin/.test(e.message ?? ''),
    );
    assert.doesNotThrow(() => sql("SELECT g FROM ev, generate_series(ts, ts + interval '2 hours', interval '1 hour') g", 'Europe/Berlin'));
  });
});
