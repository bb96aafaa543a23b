/**
 * Query cancel against `stratum up` (docs/architecture.md "Query cancel"): psql's Ctrl-C (a real
 * psql process sent SIGINT) and the pg driver's CancelRequest stop a long analytical query with
 * 57014, statement_timeout stops it in DuckDB and in a row-tier scan, JDBC's setQueryTimeout
 * gets SQLState 57014, a cancelled statement fails its transaction block (25P02 after), and the
 * connection answers the next query. "The work stopped" is checked on the shard's
 * `stratum_olap_queries_running` gauge, never by a time; latencies are only printed.
 * psql's message is compared with PostgreSQL 15's when its binaries are installed.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { connectPg, type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const run = promisify(execFile);
const JAR = '/usr/share/java/postgresql.jar';
const JAVA_SOURCE = fileURLToPath(new URL('./clients/JdbcCancel.java', import.meta.url));
/**
 * Runs for hours in DuckDB (a filtered three-way cross join of a 20,000-row table): only a cancel
 * ends it. Not a cross join of generate_series: the router turns that into a constant list that
 * DuckDB builds while planning, where an interrupt is not looked at.
 */
const LONG = 'SELECT count(*) FROM big a, big b, big c WHERE a.id + b.id + c.id = 7';
const ROWS = 20_000;

function javaUnavailable(): string | undefined {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    return 'java is not installed';
  }
  return existsSync(JAR) ? undefined : `${JAR} is missing (apt-get install libpostgresql-jdbc-java)`;
}

/** A psql process run with `-c sql`, sent SIGINT once `ready()` resolves; its stderr and the ms from SIGINT to exit. */
async function psqlInterrupted(
  args: string[],
  sql: string,
  ready: () => Promise<void>,
): Promise<{ stderr: string; code: number | null; ms: number }> {
  const child = spawn('psql', [...args, '-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await ready();
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const t0 = performance.now();
  child.kill('SIGINT');
  const code = await exited;
  return { stderr, code, ms: performance.now() - t0 };
}

/** Poll `check` every 50 ms until it returns true; fails naming `what` after 30 s (a liveness bound, not a timing). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('query cancel', { timeout: 600_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let postgres: PostgresHandle | undefined;
  const clients: pg.Client[] = [];
  const connect = () => connectPg(srv.pgPort, clients);
  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').pop());
    return sum;
  };
  const running = () => metric('stratum_olap_queries_running');
  const shardBusy = () => until(async () => (await running()) > 0, 'the shard runs the query');
  const shardIdle = () => until(async () => (await running()) === 0, 'no query runs on the shard');
  /** A client that only sends a CancelRequest (pg's `Client#cancel(target, query)` uses the target's BackendKeyData). */
  const cancelClient = () => new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
  const psqlArgs = () => ['-h', '127.0.0.1', '-p', String(srv.pgPort), '-U', 'stratum', '-d', 'stratum'];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-cancel-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
    const c = await connect();
    await c.query('CREATE TABLE big (id bigint PRIMARY KEY, v bigint NOT NULL, pad text)');
    await c.query('CREATE TABLE side (id bigint PRIMARY KEY)');
    await c.query(`INSERT INTO big SELECT g, g % 1000, repeat('x', 50) FROM generate_series(1, ${ROWS}) g`);
    try {
      postgres = await startPostgres();
    } catch (e) {
      console.log(`# PostgreSQL 15 comparison skipped: ${(e as Error).message.split('\n')[0]}`);
    }
  });
  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await postgres?.stop();
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test("psql's Ctrl-C stops a long analytical query with PostgreSQL's message; the server is free after", async () => {
    const r = await psqlInterrupted(psqlArgs(), LONG, shardBusy);
    console.log(`# psql SIGINT → exit (Stratum): ${r.ms.toFixed(0)} ms`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ERROR: {2}canceling statement due to user request$/m);
    await shardIdle();
    const c = await connect();
    assert.equal((await c.query('SELECT 41 + 1 AS n')).rows[0].n, 42);
    if (postgres) {
      const pgArgs = ['-h', postgres.host, '-p', String(postgres.port), '-U', postgres.user, '-d', postgres.database];
      const watcher = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, database: postgres.database });
      await watcher.connect();
      try {
        const sleeping = async () =>
          (await watcher.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'"))
            .rows[0].n > 0;
        const ref = await psqlInterrupted(pgArgs, 'SELECT pg_sleep(60)', () => until(sleeping, 'PostgreSQL runs pg_sleep'));
        console.log(`# psql SIGINT → exit (PostgreSQL 15): ${ref.ms.toFixed(0)} ms`);
        const errorLine = (s: string) => s.split('\n').find((l) => l.startsWith('ERROR:'));
        assert.equal(errorLine(r.stderr), errorLine(ref.stderr));
        assert.equal(r.code, ref.code);
      } finally {
        await watcher.end();
      }
    }
  });

  test('the pg driver cancels; in a block the cancelled statement fails it (25P02) until ROLLBACK', async () => {
    const c = await connect();
    // Autocommit: the statement stops, the connection answers.
    let q = c.query(LONG);
    await shardBusy();
    const t0 = performance.now();
    // pg's Client#cancel(client, query) opens a connection and sends CancelRequest with the key from BackendKeyData.
    (cancelClient() as pg.Client & { cancel(c: pg.Client, q: unknown): void }).cancel(
      c,
      (c as unknown as { activeQuery: unknown }).activeQuery,
    );
    await assert.rejects(q, { code: '57014', message: 'canceling statement due to user request' });
    console.log(`# pg driver cancel → error: ${(performance.now() - t0).toFixed(0)} ms`);
    await shardIdle();
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    // In a block.
    await c.query('BEGIN');
    await c.query('INSERT INTO side VALUES (1)');
    q = c.query(LONG);
    await shardBusy();
    (cancelClient() as pg.Client & { cancel(c: pg.Client, q: unknown): void }).cancel(
      c,
      (c as unknown as { activeQuery: unknown }).activeQuery,
    );
    await assert.rejects(q, { code: '57014', message: 'canceling statement due to user request' });
    await assert.rejects(c.query('SELECT 1'), { code: '25P02' });
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM side')).rows[0].n, 0);
    await shardIdle();
  });

  test('a CancelRequest with a wrong secret is ignored', async () => {
    const c = await connect();
    const key = c as unknown as { processID: number; secretKey: number; activeQuery: unknown };
    const q = c.query('SELECT count(*) AS n FROM generate_series(1, 3000000) a(x) WHERE x % 7 = 0');
    const running = key.activeQuery;
    const wrong = { processID: key.processID, secretKey: key.secretKey ^ 1, activeQuery: running };
    (cancelClient() as pg.Client & { cancel(c: unknown, q: unknown): void }).cancel(wrong, running);
    assert.equal((await q).rows[0].n, '428571');
  });

  test('statement_timeout stops the query in DuckDB and a row-tier scan (57014), the session goes on', async () => {
    const c = await connect();
    await c.query('SET statement_timeout = 200');
    await assert.rejects(c.query(LONG), { code: '57014', message: 'canceling statement due to statement timeout' });
    await shardIdle();
    const scan = `SELECT count(*) FROM big WHERE id BETWEEN 1 AND ${ROWS}`;
    const plan = (await c.query(`EXPLAIN ${scan}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(plan, /range read of big on its primary key → TX engine/);
    // The row tier scans these rows in tens of ms (LevelDB alone since the TX engine knows
    // ingestion holds none it lacks), so the timeout here is a few ms: the scan is stopped midway.
    await c.query('SET statement_timeout = 3');
    const t0 = performance.now();
    await assert.rejects(c.query(scan), { code: '57014', message: 'canceling statement due to statement timeout' });
    console.log(`# statement_timeout 3 ms on a ${ROWS}-row row-tier scan → error: ${(performance.now() - t0).toFixed(0)} ms`);
    await c.query('RESET statement_timeout');
    assert.equal((await c.query('SELECT v FROM big WHERE id = 2')).rows[0].v, '2');
  });

  test('JDBC Statement.setQueryTimeout(1) gets SQLState 57014 and the connection goes on', {
    skip: javaUnavailable() ?? false,
  }, async () => {
    const r = await run('java', ['-cp', JAR, JAVA_SOURCE, String(srv.pgPort), 'stratum', 'stratum', LONG], { timeout: 120_000 });
    const out = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    console.log(`# JDBC setQueryTimeout(1) → SQLException: ${out.ms} ms`);
    assert.equal(out.state, '57014');
    assert.match(out.message ?? '', /canceling statement due to user request/);
    assert.equal(out.next, '42');
    await shardIdle();
  });

  test('cancelled statements are counted by reason', async () => {
    assert.ok((await metric('stratum_router_statements_canceled_total', 'reason="user"')) >= 3);
    assert.ok((await metric('stratum_router_statements_canceled_total', 'reason="timeout"')) >= 2);
  });
});
