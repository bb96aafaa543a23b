/**
 * The router's bounded gather queue (issue 13 item 4: "queue in the router and the shard, not in
 * memory without bound"): scatter/gather statements finish in the router's DuckDB in at most
 * `limits.slots` at once, at most `limits.maxQueued` wait, and the next is refused with 53000; a
 * statement cancelled while it waits gives its place back. Two real OLAP shards; the first one's
 * answers are held back by a gate (a proxy in front of the real shard) so the slot stays taken
 * for as long as the test needs, without timing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SelectStmt } from '@pgsql/types';
import type { Literal, OlapShardApi, QueryOptions, QueryResult, VersionRecord } from '@stratum/shared';
import { shardOfVersion } from '@stratum/shared';
import { type OlapShard, startOlapShard } from '../../olap-shard/src/index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir, Versions } from '../../olap-shard/src/test-support.ts';
import type { SessionValues } from './analyze/scope.ts';
import { OlapRouter } from './olap.ts';
import { deparse, rewriteForTier } from './plan/duckdb-sql.ts';
import { initParser, parseFirst } from './sql/parse.ts';

const SESSION: SessionValues = { user: 'stratum', database: 'stratum', serverVersion: '15.0', setting: () => undefined };
const catalog = makeCatalog(
  [
    {
      name: 't',
      columns: [
        { name: 'k', type: 'text', notNull: true },
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'v', type: 'integer', notNull: false },
      ],
      primaryKey: ['k', 'id'],
    },
  ],
  { t: { shardKey: 'k' } },
);

/** A real shard whose answers wait until `open()` (while `closed`). */
class Gate implements OlapShardApi {
  private release: () => void = () => {};
  private opened: Promise<void> = Promise.resolve();
  constructor(private readonly inner: OlapShard) {}
  close(): void {
    this.opened = new Promise((r) => {
      this.release = r;
    });
  }
  open(): void {
    this.release();
  }
  async query(sql: string, params: Literal[], v: number, o?: QueryOptions, signal?: AbortSignal): Promise<QueryResult> {
    await this.opened;
    return this.inner.query(sql, params, v, o, signal);
  }
  watermarks(source?: string) {
    return this.inner.watermarks(source);
  }
  push(...a: Parameters<OlapShardApi['push']>) {
    return this.inner.push(...a);
  }
}

describe('router: bounded gather queue', () => {
  const shards: { shard: OlapShard; dir: string }[] = [];
  let gate: Gate;
  let router: OlapRouter;
  const versions: VersionRecord[] = [];

  before(async () => {
    await initParser();
    const vb = new Versions(catalog.get('t'));
    for (let i = 0; i < 200; i++)
      versions.push({ ...vb.make('insert', [`k${i % 7}`, BigInt(i)], { k: `k${i % 7}`, id: BigInt(i), v: i }, 1000 + i), table: 't' });
    for (const id of ['s1', 's2']) {
      const dir = await tempDir(`gather-q-${id}-`);
      const shard = await startOlapShard({
        id,
        dir,
        catalog,
        deltaSources: [{ id: 'ing1', api: new ArraySource() }],
        deltaPollMs: 0,
        compactionIntervalMs: 0,
      });
      const mine = versions.filter((v) => shardOfVersion(catalog.get('t'), v.key, v.row, ['s1', 's2']) === id);
      await shard.push({ source: 'ing1', table: 't', fromTs: -1, toTs: 5000, versions: mine });
      shards.push({ shard, dir });
    }
    gate = new Gate(shards[0]?.shard as OlapShard);
    router = new OlapRouter(
      catalog,
      [
        { id: 's1', api: gate },
        { id: 's2', api: shards[1]?.shard as OlapShard },
      ],
      () => [],
    );
    router.limits = { slots: 1, maxQueued: 1 };
  });

  after(async () => {
    gate?.open();
    router?.close();
    for (const s of shards) {
      await s.shard.close();
      await removeDir(s.dir);
    }
  });

  const run = (sql: string, signal?: AbortSignal) => {
    const stmt = rewriteForTier(parseFirst(sql) as never, catalog, SESSION) as { SelectStmt: SelectStmt };
    return router.query(
      stmt.SelectStmt,
      [{ name: 't', alias: 't', topLevel: true }],
      deparse(stmt),
      [],
      catalog.version,
      signal ? { signal } : {},
    );
  };

  test('one statement finishes at a time, one waits, the next is refused with 53000; all answers are whole', async () => {
    gate.close();
    const first = run('SELECT count(*) FROM t');
    const second = run('SELECT k, sum(v) FROM t GROUP BY k ORDER BY k');
    await assert.rejects(run('SELECT max(v) FROM t'), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '53000');
      assert.match(e.message, /gather slots/);
      return true;
    });
    gate.open();
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.tier, 'gather');
    assert.equal(Number(a.rows[0]?.[0]), versions.length);
    const sums = new Map<string, number>();
    for (const v of versions) sums.set(String(v.row?.k), (sums.get(String(v.row?.k)) ?? 0) + Number(v.row?.v));
    assert.deepEqual(
      b.rows.map((r) => [r[0], Number(r[1])]),
      [...sums.entries()].sort(([x], [y]) => (x < y ? -1 : 1)),
    );
  });

  test('a statement cancelled while it waits gives its place back', async () => {
    gate.close();
    const first = run('SELECT count(*) FROM t');
    const ac = new AbortController();
    const waiting = run('SELECT count(*) FROM t', ac.signal);
    ac.abort();
    await assert.rejects(waiting, (e: { code?: string }) => e.code === '57014');
    gate.open();
    assert.equal(Number((await first).rows[0]?.[0]), versions.length);
    // Both places are free again: two more statements run.
    const again = await Promise.all([run('SELECT count(*) FROM t'), run('SELECT min(v) FROM t')]);
    assert.equal(Number(again[0].rows[0]?.[0]), versions.length);
    assert.equal(Number(again[1].rows[0]?.[0]), Math.min(...versions.map((v) => Number(v.row?.v))));
  });
});
