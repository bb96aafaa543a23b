/**
 * SQLAlchemy 1.4 (Debian's python3-sqlalchemy over python3-psycopg2, run with /usr/bin/python3)
 * used as an application uses it (clients/sqlalchemy_app.py): `create_all` with serial keys,
 * unique and foreign keys and server defaults; ORM inserts that fetch generated keys; queries
 * and joins; bulk `update()` and `delete()` by predicate; `inspect()` reflection of tables,
 * columns, keys, indexes and checks, of its own tables and of the tool-test schema (schema.ts);
 * `drop_all`. Its transcript against Stratum must equal its transcript against a throw-away
 * PostgreSQL 15 given the same schema (issue 11 item 3).
 *
 * Normalized: nothing (server-default timestamps are printed only as "is set", and both
 * engines are reached as user and database `stratum`).
 * Skipped, with the reason, where /usr/bin/python3 cannot import sqlalchemy and psycopg2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { debVersion, maybeWriteCorpus } from './corpus.ts';
import { type Pair, runTool, startPair, type Target } from './pair.ts';

const PYTHON = '/usr/bin/python3';
const APP = fileURLToPath(new URL('./clients/sqlalchemy_app.py', import.meta.url));

function unavailable(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import sqlalchemy, psycopg2'], { encoding: 'utf8' });
  return r.status === 0
    ? undefined
    : `${PYTHON} cannot import sqlalchemy and psycopg2 (apt-get install python3-sqlalchemy python3-psycopg2)`;
}

async function transcript(t: Target): Promise<string> {
  const r = await runTool(PYTHON, [APP, String(t.port)], { env: { PYTHONDONTWRITEBYTECODE: '1', SQLALCHEMY_SILENCE_UBER_WARNING: '1' } });
  if (r.code !== 0)
    throw new Error(`sqlalchemy_app.py against ${t.engine} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout}`);
  return r.stdout;
}

const why = unavailable();

describe('SQLAlchemy', { timeout: 300_000, skip: why ?? false }, () => {
  let pair: Pair;
  let expected: string;
  before(async () => {
    pair = await startPair();
    expected = await transcript(pair.postgres);
  });
  after(async () => {
    if (pair === undefined) return;
    maybeWriteCorpus(
      'sqlalchemy',
      [
        `SQLAlchemy ${debVersion('python3-sqlalchemy')} over psycopg2 ${debVersion('python3-psycopg2')} (Debian packages), /usr/bin/python3;`,
        'ran clients/sqlalchemy_app.py (sqlalchemy.e2e.test.ts).',
      ],
      await pair.statements(),
    );
    await pair.close();
  });

  test('the application runs to the end on PostgreSQL 15 (the reference is complete)', () => {
    assert.match(expected, /^drop_all: ok; tables: \['customers', 'orders'\]$/m);
  });

  test('the application prints on Stratum what it prints on PostgreSQL 15', async () => {
    const got = await transcript(pair.stratum);
    assert.deepEqual(got.split('\n'), expected.split('\n'));
  });
});
