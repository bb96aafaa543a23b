/**
 * Differential test of the analytical tier against a throw-away PostgreSQL 15 (issue 10, Must
 * work 10): the fixture tables (shared/src/testing/analytical-fixture.ts) are loaded into
 * PostgreSQL and into DuckDB under the OLAP tier's column types, and every case of
 * analytical-cases.ts runs in PostgreSQL and
 * through the OLAP path without servers (duckdb-harness.ts: rewriteForTier, deparse, DuckDB with
 * `PG_SEMANTICS_SQL`, convertResult, text output). Rows (PostgreSQL's text of each value), the
 * result type OIDs and, on error, the SQLSTATE must be equal. A known difference is an expected
 * difference: the test fails when such a case becomes equal, so the list stays true.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Catalog } from '@stratum/shared';
import { PG_SEMANTICS_SQL } from '@stratum/shared/duckdb';
import {
  ANALYTICAL_CASES as CASES,
  ANALYTICAL_FIXTURE as FIXTURE,
  ANALYTICAL_KNOWN_DIFFERENCES as KNOWN_DIFFERENCES,
  type PostgresHandle,
  startPostgres,
} from '@stratum/shared/testing';
import { loadModule } from 'libpg-query';
import pg from 'pg';
import { type Answer, fixtureCatalog, loadFixture, pgAnswer, stratumAnswer } from './duckdb-harness.ts';

let server: PostgresHandle;
let client: pg.Client;
let instance: DuckDBInstance;
let duck: DuckDBConnection;
let catalog: Catalog;

before(async () => {
  await loadModule();
  server = await startPostgres();
  client = new pg.Client({
    connectionString: server.url,
    options: '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1',
  });
  await client.connect();
  instance = await DuckDBInstance.create(':memory:');
  duck = await instance.connect();
  await duck.run(PG_SEMANTICS_SQL);
  await loadFixture(client, duck, FIXTURE);
  catalog = fixtureCatalog(FIXTURE);
});

after(async () => {
  duck?.closeSync();
  instance?.closeSync();
  await client?.end();
  await server?.stop();
});

/** Equal answers: the same SQLSTATE, or the same rows (text) and type OIDs. */
function same(want: Answer, got: Answer): boolean {
  if (want.code !== undefined || got.code !== undefined) return want.code === got.code;
  return JSON.stringify(want.rows) === JSON.stringify(got.rows) && JSON.stringify(want.oids) === JSON.stringify(got.oids);
}

function show(a: Answer): string {
  return a.code !== undefined ? `ERROR ${a.code} ${a.message}` : `oids ${JSON.stringify(a.oids)} rows ${JSON.stringify(a.rows)}`;
}

test('analytical answers equal PostgreSQL 15', async () => {
  const mismatches: string[] = [];
  const nowEqual: string[] = [];
  let total = 0;
  for (const [family, cases] of Object.entries(CASES)) {
    for (const sql of cases) {
      total++;
      const want = await pgAnswer(client, sql);
      const got = await stratumAnswer(duck, catalog, sql);
      const equal = same(want, got);
      const known = KNOWN_DIFFERENCES[sql];
      if (known !== undefined) {
        if (equal) nowEqual.push(`[${family}] ${sql}`);
        continue;
      }
      if (!equal)
        mismatches.push(`[${family}] ${sql}\n    postgres: ${show(want)}\n    stratum:  ${show(got)}\n    duckdb:   ${got.sql ?? ''}`);
    }
  }
  const unknown = Object.keys(KNOWN_DIFFERENCES).filter((k) => !Object.values(CASES).some((cs) => cs.includes(k)));
  if (mismatches.length) console.log(`${mismatches.length} of ${total} differ:\n${mismatches.join('\n')}`);
  console.log(`${total} cases, ${Object.keys(KNOWN_DIFFERENCES).length} known differences`);
  assert.ok(total >= 300, `at least 300 cases (have ${total})`);
  assert.deepEqual(unknown, [], 'known differences that are not cases');
  assert.deepEqual(nowEqual, [], 'known differences that are now equal: remove them from KNOWN_DIFFERENCES and docs/sql.md');
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${total} cases differ from PostgreSQL`);
});
