/**
 * ODBC: Debian's psqlODBC (odbc-postgresql, the "PostgreSQL Unicode" driver of
 * /etc/odbcinst.ini) through unixODBC, against Stratum and against a throw-away PostgreSQL 15
 * given the same schema (issue 11 item 3):
 *
 * - unixODBC's `isql` connects, lists tables (`help`, SQLTables), lists a table's columns
 *   (`help orders`, SQLColumns) and runs a query.
 * - A query with bound parameters, an INSERT and an UPDATE with parameters, and the catalog
 *   calls (SQLTables, SQLColumns, SQLPrimaryKeys, SQLForeignKeys, SQLStatistics) from Python's
 *   pyodbc (Debian's python3-pyodbc), since isql cannot bind parameters (clients/odbc_params.py).
 *
 * Outputs are compared as text. Normalized: the `TABLE OID` column of `help <table>`
 * (psqlODBC's own extra column; OIDs differ between servers).
 * Skipped, with the reason, where isql, the driver or pyodbc cannot be had.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { debVersion, maybeWriteCorpus } from './corpus.ts';
import { type Pair, runTool, startPair, type Target } from './pair.ts';

const PYTHON = '/usr/bin/python3';
const PARAMS = fileURLToPath(new URL('./clients/odbc_params.py', import.meta.url));
const DRIVER = 'PostgreSQL Unicode';

function unavailable(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v isql'], { stdio: 'ignore' }).status !== 0)
    return 'isql is not installed (apt-get install unixodbc)';
  const inst = existsSync('/etc/odbcinst.ini') ? readFileSync('/etc/odbcinst.ini', 'utf8') : '';
  if (!inst.includes(`[${DRIVER}]`)) return `no "${DRIVER}" driver in /etc/odbcinst.ini (apt-get install odbc-postgresql)`;
  if (spawnSync(PYTHON, ['-c', 'import pyodbc'], { stdio: 'ignore' }).status !== 0)
    return 'pyodbc is missing (apt-get install python3-pyodbc)';
  return undefined;
}

/** `help <table>` prints psqlODBC's TABLE OID column: blank it out (OIDs differ between servers). */
function normalizeIsql(out: string): string {
  const lines = out.split('\n');
  let oidAt = -1;
  return lines
    .map((l) => {
      const cells = l.split('|');
      if (cells.includes('TABLE OID')) oidAt = cells.indexOf('TABLE OID');
      else if (oidAt >= 0 && cells.length > oidAt) cells[oidAt] = '<oid>';
      return cells.join('|');
    })
    .join('\n');
}

const why = unavailable();

describe('ODBC (psqlODBC with unixODBC)', { timeout: 300_000, skip: why ?? false }, () => {
  let pair: Pair;
  let dir: string;
  const env = (): NodeJS.ProcessEnv => ({ ODBCINI: join(dir, 'odbc.ini'), ODBCSYSINI: '/etc' });
  const expected: Record<'isql' | 'params', string> = { isql: '', params: '' };

  async function isql(t: Target): Promise<string> {
    const r = await runTool('isql', ['-b', '-v', '-d|', '-c', t.engine, t.user, ''], {
      env: env(),
      input:
        'help\nhelp orders\nSELECT c.id, c.email, count(o.id) AS orders FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.email ORDER BY c.id\n',
    });
    if (r.code !== 0 || /\[ISQL\]ERROR|^\[[0-9A-Z]{5}\]/m.test(r.stdout + r.stderr)) {
      throw new Error(`isql against ${t.engine} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return normalizeIsql(r.stdout);
  }
  async function params(t: Target): Promise<string> {
    const r = await runTool(PYTHON, [PARAMS, t.engine], { env: env() });
    if (r.code !== 0) throw new Error(`odbc_params.py against ${t.engine} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout}`);
    return r.stdout;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-odbc-'));
    pair = await startPair();
    // One DSN per engine, named after it.
    const dsn = (t: Target) =>
      [
        `[${t.engine}]`,
        `Driver = ${DRIVER}`,
        `Servername = ${t.host}`,
        `Port = ${t.port}`,
        `Database = ${t.database}`,
        `Username = ${t.user}`,
        '',
      ].join('\n');
    await writeFile(join(dir, 'odbc.ini'), `${dsn(pair.postgres)}\n${dsn(pair.stratum)}`);
    expected.isql = await isql(pair.postgres);
    expected.params = await params(pair.postgres);
  });
  after(async () => {
    if (pair !== undefined) {
      maybeWriteCorpus(
        'odbc',
        [
          `psqlODBC ${debVersion('odbc-postgresql')} (Debian odbc-postgresql, "${DRIVER}"), unixODBC ${debVersion('unixodbc')} isql,`,
          `pyodbc ${debVersion('python3-pyodbc')}; ran isql help / help orders / a query, and clients/odbc_params.py (odbc.e2e.test.ts).`,
        ],
        await pair.statements(),
      );
      await pair.close();
    }
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('isql and pyodbc work against PostgreSQL 15 (the reference is complete)', () => {
    assert.match(expected.isql, /^stratum\|public\|customers\|TABLE\|/m);
    assert.match(expected.params, /^after rollback: \[\(0,\)\]$/m);
  });

  test('isql connects, lists tables and columns, and runs a query on Stratum as on PostgreSQL 15', async () => {
    assert.equal(await isql(pair.stratum), expected.isql);
  });

  test('statements with parameters and catalog calls give on Stratum what they give on PostgreSQL 15', async () => {
    assert.equal(await params(pair.stratum), expected.params);
  });
});
