/**
 * pg_dump, psql -f and pg_restore (PostgreSQL 15's own client programs, unchanged) against
 * Stratum, compared with a throw-away PostgreSQL 15 given the same schema (issue 11 item 3):
 *
 * - `pg_dump --schema-only` of Stratum prints what it prints for PostgreSQL.
 * - That dump, and a full `pg_dump`, load with `psql -f` into a fresh Stratum and into a fresh
 *   PostgreSQL database, and the restored tables and view hold the rows the source holds.
 * - `pg_dump -Fc` plus `pg_restore` does the same.
 *
 * Each case first runs with PostgreSQL as the source (dump PostgreSQL, load into a fresh
 * PostgreSQL database), which shows the procedure itself is right, then with Stratum.
 * Rows are compared as the server's text of every value (pair.ts readRows).
 *
 * Normalized in dump text: the `-- Dumped from database version …` line (Stratum's version
 * banner differs from the reference server's) and the key of `\restrict KEY` / `\unrestrict KEY`
 * (random per pg_dump run), and the query of each `CREATE VIEW` (Stratum prints the view's
 * query as written, names schema-qualified, not reprinted by PostgreSQL's ruleutils; docs/sql.md
 * "Tools: pg_dump"). Nothing else: both are reached as user and database `stratum`, so owners
 * and names are the same.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresBinDir } from '../../../shared/src/testing/postgres.ts';
import { maybeWriteCorpus } from './corpus.ts';
import { libpqEnv, type Pair, readRows, runSql, runTool, startPair, type Target } from './pair.ts';
import { ROWS } from './schema.ts';

function bin(name: string): string {
  try {
    const p = join(postgresBinDir(), name);
    if (existsSync(p)) return p;
  } catch {
    // fall back to PATH
  }
  return name;
}
const PG_DUMP = bin('pg_dump');
const PG_RESTORE = bin('pg_restore');
const PSQL = bin('psql');

/** `pg_dump ARGS` of `t`; throws with stderr on failure. */
async function pgDump(t: Target, args: string[]): Promise<string> {
  const r = await runTool(PG_DUMP, ['--no-password', ...args], { env: libpqEnv(t) });
  if (r.code !== 0) throw new Error(`pg_dump ${args.join(' ')} of ${t.engine} failed (exit ${r.code}):\n${r.stderr}`);
  return r.stdout;
}

/** `psql -f FILE` into `t`, stopping at the first error; throws with stderr on failure. */
async function psqlFile(t: Target, file: string): Promise<void> {
  const r = await runTool(PSQL, ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-f', file], { env: libpqEnv(t) });
  if (r.code !== 0) throw new Error(`psql -f of a dump into ${t.engine} failed (exit ${r.code}):\n${r.stderr}`);
}

/**
 * The dump without the line that names the server's version, the random key of psql's
 * `\restrict` / `\unrestrict` lines (pg_dump 15.14+ draws a new one per run), and view queries.
 */
function normalizeDump(text: string): string {
  return text
    .replace(/^-- Dumped from database version .*$/m, '-- Dumped from database version (normalized)')
    .replace(/^\\(restrict|unrestrict) \S+$/gm, '\\$1 (key)')
    .replace(/^(CREATE VIEW \S+ AS\n)[\s\S]*?;$/gm, '$1(view query);');
}

describe('pg_dump and restore', { timeout: 600_000 }, () => {
  let pair: Pair;
  let dir: string;
  let expectedRows: string;
  let fresh = 0;
  const freshPostgres = () => pair.freshPostgres(`restore_${++fresh}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-pg-dump-'));
    pair = await startPair();
    expectedRows = await readRows(pair.postgres);
  });
  after(async () => {
    if (pair !== undefined) {
      const version = (await runTool(PG_DUMP, ['--version'])).stdout.trim();
      maybeWriteCorpus(
        'pg-dump',
        [
          `${version}; psql and pg_restore of the same build. Ran: pg_dump --schema-only, pg_dump, pg_dump -Fc,`,
          'psql -X -q -v ON_ERROR_STOP=1 -f <dump>, pg_restore --exit-on-error -d (pg-dump.e2e.test.ts).',
        ],
        (await pair.statements()).filter((s) => ['pg_dump', 'pg_restore', 'psql'].includes(s.app)),
      );
      await pair.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('pg_dump --schema-only of Stratum prints what it prints for PostgreSQL 15', async () => {
    const expected = normalizeDump(await pgDump(pair.postgres, ['--schema-only']));
    assert.match(expected, /CREATE TABLE public\.orders/);
    assert.equal(normalizeDump(await pgDump(pair.stratum, ['--schema-only'])), expected);
  });

  test('a schema-only dump loads with psql -f into a fresh database and takes the same rows', async () => {
    const fromPostgres = join(dir, 'pg-schema.sql');
    await writeFile(fromPostgres, await pgDump(pair.postgres, ['--schema-only']));
    const pgCopy = await freshPostgres();
    await psqlFile(pgCopy, fromPostgres);
    await runSql(pgCopy, ROWS);
    assert.equal(await readRows(pgCopy), expectedRows, 'PostgreSQL → PostgreSQL');

    const fromStratum = join(dir, 'stratum-schema.sql');
    await writeFile(fromStratum, await pgDump(pair.stratum, ['--schema-only']));
    for (const into of [await pair.freshStratum(), await freshPostgres()]) {
      await psqlFile(into, fromStratum);
      await runSql(into, ROWS);
      assert.equal(await readRows(into), expectedRows, `Stratum → ${into.engine}`);
    }
  });

  test('a full pg_dump loads with psql -f into a fresh database with the same rows', async () => {
    const fromPostgres = join(dir, 'pg-full.sql');
    await writeFile(fromPostgres, await pgDump(pair.postgres, []));
    const pgCopy = await freshPostgres();
    await psqlFile(pgCopy, fromPostgres);
    assert.equal(await readRows(pgCopy), expectedRows, 'PostgreSQL → PostgreSQL');

    const fromStratum = join(dir, 'stratum-full.sql');
    await writeFile(fromStratum, await pgDump(pair.stratum, []));
    for (const into of [await pair.freshStratum(), await freshPostgres()]) {
      await psqlFile(into, fromStratum);
      assert.equal(await readRows(into), expectedRows, `Stratum → ${into.engine}`);
    }
  });

  test('pg_dump -Fc and pg_restore into a fresh database give the same rows', async () => {
    const restore = async (file: string, into: Target): Promise<void> => {
      const r = await runTool(PG_RESTORE, ['--no-password', '--exit-on-error', '-d', into.database, file], { env: libpqEnv(into) });
      if (r.code !== 0) throw new Error(`pg_restore into ${into.engine} failed (exit ${r.code}):\n${r.stderr}`);
    };
    const fromPostgres = join(dir, 'pg.dump');
    await pgDump(pair.postgres, ['-Fc', '-f', fromPostgres]);
    const pgCopy = await freshPostgres();
    await restore(fromPostgres, pgCopy);
    assert.equal(await readRows(pgCopy), expectedRows, 'PostgreSQL → PostgreSQL');

    const fromStratum = join(dir, 'stratum.dump');
    await pgDump(pair.stratum, ['-Fc', '-f', fromStratum]);
    for (const into of [await pair.freshStratum(), await freshPostgres()]) {
      await restore(fromStratum, into);
      assert.equal(await readRows(into), expectedRows, `Stratum → ${into.engine}`);
    }
  });
});
