/**
 * Queries on DuckDB's worker threads (workers.ts) against a real DuckDB: the worker threads are
 * found and reniced, results equal DuckDB's own `run()`, errors and interrupts come through, and
 * the libuv thread pool stays free while queries run (the point of the module).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { DuckDBConnection } from '@duckdb/node-api';
import { openWorkerInstance, runOnWorkers, type WorkerInstance } from './workers.ts';

/** Prepare `sql` on `conn`, run it with {@link runOnWorkers}, destroy the statement. */
async function queryOnWorkers(conn: DuckDBConnection, sql: string, workers: number) {
  const stmt = await conn.prepare(sql);
  try {
    return await runOnWorkers(stmt, workers);
  } finally {
    stmt.destroySync();
  }
}

/** A thread's nice value from /proc (field 19 of stat(5), counted after the command name). */
function niceOf(tid: number): number {
  const text = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

/** A query that keeps DuckDB's threads busy for a while (seconds on this machine). */
const HEAVY = 'SELECT count(DISTINCT (a.i * 7919 + b.i) % 1000003) FROM range(4000) a(i), range(3000) b(i)';

describe('DuckDB worker threads', () => {
  let w: WorkerInstance;
  const conns: DuckDBConnection[] = [];

  before(async () => {
    w = await openWorkerInstance({}, { workers: 2, nice: 7 });
    for (let i = 0; i < 5; i++) conns.push(await w.instance.connect());
  });
  after(() => {
    for (const c of conns) c.closeSync();
    w.instance.closeSync();
  });

  it('creates the asked number of worker threads and gives each the nice value', () => {
    assert.equal(w.workers, 2);
    assert.equal(w.workerTids.length, 2);
    assert.equal(w.nice, 7);
    for (const tid of w.workerTids) assert.equal(niceOf(tid), 7, `thread ${tid}`);
    assert.equal(niceOf(process.pid), 0, 'the main thread keeps its priority');
  });

  it('returns what DuckDB returns when it runs the statement itself', async () => {
    const sql =
      'SELECT i % 7 AS k, count(*) AS n, sum(i) AS s, list_sort(list(DISTINCT i % 3)) AS t FROM range(200000) r(i) GROUP BY 1 ORDER BY 1';
    const reference = (await (conns[0] as DuckDBConnection).runAndReadAll(sql)).getRows();
    const res = await queryOnWorkers(conns[1] as DuckDBConnection, sql, w.workers);
    const got = (await res.getRows()) as unknown[][];
    assert.equal(got.length, 7);
    assert.deepEqual(got, reference);
  });

  it("rejects with DuckDB's error for a failing statement", async () => {
    const sql = "SELECT CAST('x' || i AS INTEGER) FROM range(100000) r(i)";
    const expected = await (conns[0] as DuckDBConnection).run(sql).then(
      () => 'no error',
      (e: Error) => e.message,
    );
    assert.match(expected, /Conversion Error/);
    await assert.rejects(queryOnWorkers(conns[1] as DuckDBConnection, sql, w.workers), (e: Error) => e.message === expected);
  });

  it('keeps the libuv thread pool free while queries run, and an interrupt ends them', async () => {
    // Four queries at once: run() would hold the pool's four threads until one of them ended.
    let started = 0;
    let finished = 0;
    const running = conns.slice(1, 5).map(async (c) => {
      const stmt = await c.prepare(HEAVY);
      started++;
      try {
        return await runOnWorkers(stmt, w.workers);
      } finally {
        finished++;
        stmt.destroySync();
      }
    });
    // Once all four have started, a file-system call (a pool task) must not wait for any of them.
    while (started < 4) await new Promise((r) => setTimeout(r, 5));
    await stat('.');
    assert.equal(finished, 0, 'a pool task completed while every query was still running');
    for (const c of conns.slice(1, 5)) c.interrupt();
    const results = await Promise.allSettled(running);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.match(String((r as PromiseRejectedResult).reason), /INTERRUPT/i);
    }
  });

  it('with no worker threads runs the statement on the caller (DuckDB run())', async () => {
    const res = await queryOnWorkers(conns[0] as DuckDBConnection, 'SELECT 40 + 2 AS x', 0);
    assert.deepEqual(await res.getRows(), [[42]]);
  });
});
