/**
 * Reads beyond the plain views, against real DuckDB and real files: AS OF, zone-map and bloom
 * pruning (answers compared with a reference DuckDB and with the same shard not pruning), and
 * unreadable files found at query time (quarantine, XX001, degraded answers).
 */
import assert from 'node:assert/strict';
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog, Literal, QueryOptions, TableDef, TableInfo, VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
import type { Manifest } from './manifest.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, rng, show, tempDir, Versions } from './test-support.ts';

const TRIPS: TableDef = {
  name: 'trips',
  columns: [
    { name: 'id', type: 'bigint', notNull: true },
    { name: 'city', type: 'text', notNull: true },
    { name: 'fare', type: 'double', notNull: true },
    { name: 'started', type: 'timestamp', notNull: true },
    { name: 'note', type: 'text', notNull: false },
  ],
  primaryKey: ['id'],
};
const EVENTS: TableDef = {
  name: 'events',
  columns: [
    { name: 'id', type: 'bigint', notNull: true },
    { name: 'started', type: 'timestamp', notNull: true },
    { name: 'kind', type: 'text', notNull: true },
    { name: 'v', type: 'integer', notNull: false },
  ],
  primaryKey: ['id'],
};
const SESSIONS: TableDef = {
  name: 'sessions',
  columns: [
    { name: 'id', type: 'uuid', notNull: true },
    { name: 'user_id', type: 'integer', notNull: true },
  ],
  primaryKey: ['id'],
};

const T0 = Date.UTC(2024, 2, 1); // ms
const DAY = 86_400_000;
const HOUR = 3_600_000;
const us = (ms: number) => BigInt(ms) * 1000n;

/**
 * Trips over 6 days of commit time: inserts, updates that move `at` to another day (so a key's
 * versions sit in several day partitions), fare changes, deletes and re-inserts.
 */
function tripsWorkload(t: TableInfo, seed: number, n: number): VersionRecord[] {
  const r = rng(seed);
  const vb = new Versions(t);
  const alive = new Map<bigint, Record<string, unknown>>();
  const dead: bigint[] = [];
  const out: VersionRecord[] = [];
  let next = 1n;
  for (let i = 0; i < n; i++) {
    const ts = T0 + Math.floor((i / n) * 6 * DAY) + (i % 7);
    const day = Math.floor((ts - T0) / DAY);
    const mk = (id: bigint) => ({
      id,
      city: `c${Math.floor(r() * 5)}`,
      fare: Math.floor(r() * 1000) / 10,
      started: us(T0 + Math.max(0, day - Math.floor(r() * 3)) * DAY + Math.floor(r() * DAY)),
      note: r() < 0.3 ? null : `n${Math.floor(r() * 9)}`,
    });
    const p = r();
    if (alive.size < 20 || p < 0.45) {
      const id = dead.length > 0 && r() < 0.2 ? (dead.pop() as bigint) : next++;
      const row = mk(id);
      alive.set(id, row);
      out.push(vb.make('insert', [id], row as never, ts));
    } else if (p < 0.88) {
      const ids = [...alive.keys()];
      const id = ids[Math.floor(r() * ids.length)] as bigint;
      const row = mk(id);
      alive.set(id, row);
      out.push(vb.make('update', [id], row as never, ts));
    } else {
      const ids = [...alive.keys()];
      const id = ids[Math.floor(r() * ids.length)] as bigint;
      alive.delete(id);
      dead.push(id);
      out.push(vb.make('delete', [id], null, ts));
    }
  }
  return out;
}

/** Append-only events, one per version, `at` near the commit time. */
function eventsWorkload(t: TableInfo, seed: number, n: number): VersionRecord[] {
  const r = rng(seed);
  const vb = new Versions(t);
  return Array.from({ length: n }, (_, i) => {
    const ts = T0 + Math.floor((i / n) * 6 * DAY);
    const row = { id: BigInt(i + 1), started: us(ts - Math.floor(r() * HOUR)), kind: `k${Math.floor(r() * 4)}`, v: Math.floor(r() * 100) };
    return vb.make('insert', [row.id], row as never, ts);
  });
}

interface Ctx {
  dir: string;
  catalog: Catalog;
  source: ArraySource;
  shard: OlapShard;
  ref: Reference;
  trips: VersionRecord[];
  events: VersionRecord[];
  /** Pushed up to (ms); later versions are only in the delta. */
  pushedTo: number;
  logs: { msg: string; fields?: object }[];
}

/** A shard with trips and events pushed every 8 hours of commit time up to day 5, the rest in the delta. */
async function setup(): Promise<Ctx> {
  const dir = await tempDir();
  // Day partitions: the pruning tests count day files.
  const catalog = makeCatalog([TRIPS, EVENTS], {
    trips: { timeColumn: 'started', partition: 'day' },
    events: { timeColumn: 'started', appendOnly: true, partition: 'day' },
  });
  const source = new ArraySource();
  const logs: Ctx['logs'] = [];
  const shard = await startOlapShard({
    id: 'r1',
    dir,
    catalog,
    deltaSources: [{ id: 'ing1', api: source }],
    deltaPollMs: 0,
    log: (msg, fields) => logs.push(fields === undefined ? { msg } : { msg, fields }),
  });
  const trips = tripsWorkload(catalog.get('trips'), 3, 3000);
  const events = eventsWorkload(catalog.get('events'), 4, 2000);
  const pushedTo = T0 + 5 * DAY;
  for (let to = T0 + 8 * HOUR, from = -1; to <= pushedTo; from = to, to += 8 * HOUR) {
    for (const [table, all] of [
      ['trips', trips],
      ['events', events],
    ] as const) {
      await shard.push({
        source: 'ing1',
        table,
        fromTs: from,
        toTs: to,
        versions: all.filter((v) => v.commitTs > from && v.commitTs <= to),
      });
    }
  }
  source.add([...trips, ...events].sort((a, b) => a.commitTs - b.commitTs));
  return { dir, catalog, source, shard, ref: await Reference.create(), trips, events, pushedTo, logs };
}

async function teardown(c: Ctx): Promise<void> {
  await c.shard.close();
  c.ref.close();
  await removeDir(c.dir);
}

describe('olap shard: AS OF reads', () => {
  let c: Ctx;
  before(async () => {
    c = await setup();
  });
  after(() => teardown(c));

  const QUERIES: [string, Literal[]][] = [
    ['SELECT * FROM trips ORDER BY id', []],
    ['SELECT count(*) AS n, round(sum(fare), 4) AS f, count(note) AS notes FROM trips', []],
    ['SELECT * FROM trips WHERE id BETWEEN 10 AND 40 ORDER BY id', []],
    ['SELECT city, count(*) FROM trips WHERE started >= $1 GROUP BY city ORDER BY city', ['2024-03-03 00:00:00']],
    ['SELECT _op, count(*) AS n, max(_ts) AS last FROM trips__history GROUP BY _op ORDER BY _op', []],
    ['SELECT kind, count(*), sum(v) FROM events GROUP BY kind ORDER BY kind', []],
    ['SELECT t.id, count(*) AS versions FROM trips t JOIN trips__history h USING (id) GROUP BY t.id ORDER BY t.id LIMIT 50', []],
  ];

  it('answers like DuckDB over the versions committed at or before asOf (files, delta, both)', async () => {
    const points = [T0 - 1, T0 + 3 * HOUR, T0 + 2 * DAY + 5, T0 + 4 * DAY + 7 * HOUR, c.pushedTo, c.pushedTo + 12 * HOUR, T0 + 7 * DAY];
    for (const asOf of points) {
      await c.ref.load(
        c.catalog.get('trips'),
        c.trips.filter((v) => v.commitTs <= asOf),
      );
      await c.ref.load(
        c.catalog.get('events'),
        c.events.filter((v) => v.commitTs <= asOf),
      );
      for (const [sql, p] of QUERIES) {
        assertSameResult(await c.shard.query(sql, p, c.catalog.version, { asOf }), await c.ref.query(sql, p), `${sql} AS OF ${asOf}`);
      }
    }
    // Without asOf: the latest state (the temp views of AS OF reads are gone).
    await c.ref.load(c.catalog.get('trips'), c.trips);
    await c.ref.load(c.catalog.get('events'), c.events);
    for (const [sql, p] of QUERIES) assertSameResult(await c.shard.query(sql, p, c.catalog.version), await c.ref.query(sql, p), sql);
  });

  it('opens no file written after asOf, and refuses schema-qualified names with asOf', async () => {
    const early = await c.shard.query('SELECT count(*) FROM trips', [], c.catalog.version, { asOf: T0 + 8 * HOUR });
    const all = await c.shard.query('SELECT count(*) FROM trips', [], c.catalog.version);
    assert.ok((early.scan?.filesOpened ?? 0) < (all.scan?.filesOpened ?? 0), JSON.stringify([early.scan, all.scan]));
    await assert.rejects(c.shard.query('SELECT count(*) FROM main.trips', [], c.catalog.version, { asOf: T0 }), { code: '0A000' });
    await assert.rejects(c.shard.query('SELECT 1', [], c.catalog.version, { asOf: Number.NaN }), { code: '22023' });
  });
});

describe('olap shard: zone-map pruning', () => {
  let c: Ctx;
  let plain: OlapShard;
  let plainDir: string;
  before(async () => {
    c = await setup();
    await c.ref.load(c.catalog.get('trips'), c.trips);
    await c.ref.load(c.catalog.get('events'), c.events);
    // The same directory copied, opened without pruning: answers must be identical.
    plainDir = await tempDir();
    await import('node:fs/promises').then((fs) => fs.cp(c.dir, plainDir, { recursive: true }));
    plain = await startOlapShard({
      id: 'r2',
      dir: plainDir,
      catalog: c.catalog,
      deltaSources: [{ id: 'ing1', api: c.source }],
      deltaPollMs: 0,
      pruneFiles: false,
    });
  });
  after(async () => {
    await plain.close();
    await removeDir(plainDir);
    await teardown(c);
  });

  const day = (d: number) => `2024-03-0${d + 1} 00:00:00`;
  /** [sql, params, expect fewer files opened than total] */
  const QUERIES: [string, Literal[], boolean][] = [
    // Key predicates prune on the latest view (all versions of a key share it).
    ['SELECT * FROM trips WHERE id = 17', [], true],
    ['SELECT * FROM trips WHERE id IN (3, 99, 250) ORDER BY id', [], true],
    ['SELECT * FROM trips WHERE id BETWEEN 100 AND 120 ORDER BY id', [], true],
    ['SELECT * FROM trips WHERE id >= $1 ORDER BY id', [1100], true],
    ['SELECT * FROM trips WHERE 40 > id ORDER BY id', [], true],
    // Time column on the latest view: rows move between days, so only the fixpoint decides.
    [
      `SELECT count(*), round(sum(fare), 4) FROM trips WHERE started >= TIMESTAMP '${day(2)}' AND started < TIMESTAMP '${day(3)}'`,
      [],
      false,
    ],
    ['SELECT city, count(*) FROM trips WHERE fare > 90 GROUP BY city ORDER BY city', [], false],
    ['SELECT count(*) FROM trips WHERE city = $1 AND started > $2', ['c1', day(4)], false],
    // History and append-only: every version is a row, any column prunes.
    [`SELECT count(*), max(_ts) FROM trips__history WHERE _ts <= TIMESTAMP '${day(1)}'`, [], true],
    ['SELECT count(*), round(sum(fare), 4) FROM trips__history WHERE started BETWEEN $1 AND $2', [day(0), day(1)], true],
    [`SELECT kind, count(*), sum(v) FROM events WHERE started >= '${day(4)}' GROUP BY kind ORDER BY kind`, [], true],
    ['SELECT count(*) FROM events WHERE started < $1 AND kind = $2', [day(1), 'k2'], true],
    ['SELECT count(*) FROM events WHERE id = 1500', [], true],
    // Shapes pruning must leave alone or treat with care.
    ['SELECT count(*) FROM trips WHERE id = 5 OR fare > 99', [], false],
    ['WITH trips AS (SELECT id + 1 AS id FROM trips) SELECT count(*) FROM trips WHERE id = 5', [], false],
    ['SELECT count(*) FROM (SELECT id * 2 AS id FROM trips) t WHERE id = 10', [], false],
    ['SELECT t.id, e.kind FROM trips t LEFT JOIN events e ON e.id = t.id AND e.kind = $1 WHERE t.id < 30 ORDER BY 1, 2', ['k1'], true],
    ['SELECT count(*) FROM trips t JOIN events e ON t.id = e.id WHERE e.started < $1', [day(1)], true],
    ['SELECT count(*) FROM trips WHERE fare = 3.5 AND id = 3.5', [], false],
    ['SELECT count(*) FROM trips WHERE ID = 17 AND City = $1', ['c1'], true],
    ['EXPLAIN SELECT * FROM trips WHERE id = 17', [], true],
  ];

  it('answers like DuckDB and like the unpruned shard, opening fewer files for selective predicates', async () => {
    let opened = 0;
    let total = 0;
    for (const [sql, p, selective] of QUERIES) {
      const got = await c.shard.query(sql, p, c.catalog.version);
      if (!sql.startsWith('EXPLAIN')) {
        assertSameResult(got, await c.ref.query(sql, p), sql);
        assert.equal(show(got), show(await plain.query(sql, p, c.catalog.version)), sql);
      }
      const scan = got.scan as { filesTotal: number; filesOpened: number };
      assert.ok(scan.filesTotal > 10, `${sql}: ${JSON.stringify(scan)}`);
      if (selective) assert.ok(scan.filesOpened < scan.filesTotal, `${sql} should prune: ${JSON.stringify(scan)}`);
      if (selective) {
        opened += scan.filesOpened;
        total += scan.filesTotal;
      }
      if (process.env.SHOW_SCAN) console.log(JSON.stringify(scan), sql);
    }
    assert.ok(opened < total / 2, `selective queries opened ${opened} of ${total} files`);
  });

  it('never drops the file holding a newer version of a key whose older version matches (updates moving days)', async () => {
    // For every day: the latest view restricted to that day equals DuckDB's, with and without pruning.
    for (let d = 0; d < 6; d++) {
      const sql = 'SELECT id, started, fare FROM trips WHERE started >= $1 AND started < $2 ORDER BY id';
      const p = [day(d), d === 5 ? '2024-03-07 00:00:00' : day(d + 1)];
      assertSameResult(await c.shard.query(sql, p, c.catalog.version), await c.ref.query(sql, p), `${sql} ${p}`);
      const sql2 = 'SELECT count(*) FROM trips WHERE fare < $1 AND note = $2';
      assertSameResult(await c.shard.query(sql2, [d * 15, 'n3'], c.catalog.version), await c.ref.query(sql2, [d * 15, 'n3']), sql2);
    }
  });
});

describe('olap shard: key bloom filters', () => {
  it('point lookups of absent keys open (almost) no file; present keys are always found', async () => {
    const dir = await tempDir();
    const catalog = makeCatalog([SESSIONS]);
    const source = new ArraySource();
    const shard = await startOlapShard({ id: 'b1', dir, catalog, deltaSources: [{ id: 'ing1', api: source }], deltaPollMs: 0 });
    const ref = await Reference.create();
    try {
      const info = catalog.get('sessions');
      const r = rng(21);
      const hex = (n: number) =>
        Array.from({ length: n }, () =>
          Math.floor(r() * 16)
            .toString(16)
            .toString(),
        ).join('');
      const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
      const vb = new Versions(info);
      const all: VersionRecord[] = [];
      // Random keys: every file's key range spans nearly the whole key space, so zone maps
      // cannot prune point lookups; only the bloom filters can.
      for (let p = 0; p < 8; p++) {
        const batch = Array.from({ length: 500 }, (_, i) => {
          const id = uuid();
          return vb.make('insert', [id], { id, user_id: p * 1000 + i }, T0 + p * 1000 + i);
        });
        all.push(...batch);
        await shard.push({ source: 'ing1', table: 'sessions', fromTs: -1, toTs: T0 + p * 1000 + 999, versions: all });
      }
      await ref.load(info, all);
      const sql = 'SELECT * FROM sessions WHERE id = $1';
      let absentOpened = 0;
      let absentZero = 0;
      const absent = 100;
      for (let i = 0; i < absent; i++) {
        const res = await shard.query(sql, [uuid()], catalog.version);
        assert.equal(res.rows.length, 0);
        assert.equal(res.scan?.filesTotal, 8);
        absentOpened += res.scan?.filesOpened ?? 0;
        if (res.scan?.filesOpened === 0) absentZero++;
      }
      // 1 % false positives per file: about 8 of 800 file probes.
      assert.ok(absentOpened <= 30, `absent keys opened ${absentOpened} files over ${absent} lookups`);
      assert.ok(absentZero >= 85, `${absentZero} of ${absent} absent lookups opened no file`);
      for (const v of all.filter((_, i) => i % 50 === 0)) {
        const res = await shard.query(sql, [v.key[0] as string], catalog.version);
        assertSameResult(res, await ref.query(sql, [v.key[0] as string]), `${sql} ${v.key[0]}`);
        assert.equal(res.rows.length, 1);
        assert.ok((res.scan?.filesOpened ?? 0) >= 1 && (res.scan?.filesOpened ?? 0) <= 3, JSON.stringify(res.scan));
      }
      const inList = 'SELECT user_id FROM sessions WHERE id IN ($1, $2, $3) ORDER BY 1';
      const ps = [all[3]?.key[0], uuid(), all[3999]?.key[0]] as string[];
      assertSameResult(await shard.query(inList, ps, catalog.version), await ref.query(inList, ps), inList);
      // After a restart the sidecars are read back, not rebuilt.
      await shard.close();
      const again = await startOlapShard({ id: 'b1', dir, catalog, deltaSources: [{ id: 'ing1', api: source }], deltaPollMs: 0 });
      try {
        await new Promise((res) => setTimeout(res, 200));
        const res = await again.query(sql, [all[10]?.key[0] as string], catalog.version);
        assert.equal(res.rows.length, 1);
        assert.ok((res.scan?.filesOpened ?? 0) <= 3, JSON.stringify(res.scan));
      } finally {
        await again.close();
      }
    } finally {
      await shard.close();
      ref.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: files damaged while running', () => {
  let c: Ctx;
  before(async () => {
    c = await setup();
    await c.ref.load(c.catalog.get('trips'), c.trips);
  });
  after(() => teardown(c));

  const manifest = async () => JSON.parse(await readFile(join(c.dir, 'manifest.json'), 'utf8')) as Manifest;

  /** Overwrite the middle half of a file with garbage (same size, so only reading finds it). */
  async function corruptMiddle(path: string): Promise<void> {
    const size = (await stat(path)).size;
    const fh = await open(path, 'r+');
    try {
      const junk = Buffer.alloc(Math.floor(size / 2), 0xa5);
      await fh.write(junk, 0, junk.length, Math.floor(size / 4));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  it('a corrupted file: XX001 naming table, day and file; moved to quarantine; degraded reads leave it out; other tables unaffected', async () => {
    const m = await manifest();
    const victim = m.tables.events?.files.find((f) => f.rows > 50) as Manifest['tables'][string]['files'][number];
    // Which versions does it hold? Read them (with a separate DuckDB) before damaging it.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const held = await conn.runAndReadAll(
      `SELECT CAST(printf('%016x%016x', _version_hi, _version_lo) AS UUID)::VARCHAR FROM read_parquet('${join(c.dir, victim.path)}')`,
    );
    const lost = new Set(held.getRows().map((r) => String(r[0])));
    conn.disconnectSync();
    db.closeSync();
    await corruptMiddle(join(c.dir, victim.path));
    const q = 'SELECT kind, count(*) AS n, sum(v) AS s FROM events GROUP BY kind ORDER BY kind';
    // DuckDB reads only the columns a query needs: a query reading every column meets the damage.
    const all = 'SELECT * FROM events__history ORDER BY id';
    await assert.rejects(c.shard.query(all, [], c.catalog.version), (e: { code?: string; message: string }) => {
      assert.equal(e.code, 'XX001', e.message);
      assert.match(e.message, /table "events"/);
      assert.ok(e.message.includes(victim.partition) && e.message.includes(victim.path), e.message);
      return true;
    });
    await stat(join(c.dir, 'quarantine', victim.path));
    const after1 = await manifest();
    assert.ok(!after1.tables.events?.files.some((f) => f.path === victim.path));
    assert.equal(after1.tables.events?.quarantined?.[0]?.path, victim.path);
    assert.ok(c.logs.some((l) => l.msg.includes('quarantine') && JSON.stringify(l.fields).includes(victim.path)));
    // Degraded: the rest, and a notice naming what was left out.
    assert.equal(lost.size, victim.rows);
    await c.ref.load(
      c.catalog.get('events'),
      c.events.filter((v) => !lost.has(v.version)),
    );
    const opts: QueryOptions = { allowDegraded: true };
    const got = await c.shard.query(q, [], c.catalog.version, opts);
    assertSameResult(got, await c.ref.query(q), q);
    assert.match(got.notices?.[0] ?? '', new RegExp(`table "events", partition ${victim.partition}.*${victim.path}`));
    // Other tables: unaffected, no notice.
    const tq = 'SELECT city, count(*), round(sum(fare), 4) FROM trips GROUP BY city ORDER BY city';
    const t = await c.shard.query(tq, [], c.catalog.version);
    assertSameResult(t, await c.ref.query(tq), tq);
    assert.equal(t.notices, undefined);
    assert.equal(c.shard.stats().tables.events?.unavailableFiles, 1);
  });

  it('a file truncated in the middle: the same, and the shard keeps serving', async () => {
    const m = await manifest();
    const victim = m.tables.trips?.files.find((f) => f.rows > 50) as Manifest['tables'][string]['files'][number];
    await truncate(join(c.dir, victim.path), Math.floor(victim.bytes / 2));
    await assert.rejects(
      c.shard.query('SELECT count(*) FROM trips__history', [], c.catalog.version),
      (e: { code?: string; message: string }) => {
        assert.equal(e.code, 'XX001', e.message);
        assert.ok(e.message.includes(`table "trips", partition ${victim.partition}`) && e.message.includes(victim.path), e.message);
        return true;
      },
    );
    const res = await c.shard.query('SELECT count(*) FROM trips__history', [], c.catalog.version, { allowDegraded: true });
    assert.equal(res.rows[0]?.[0], BigInt(c.trips.length - victim.rows));
    assert.equal(res.notices?.length, 1);
    // Pushes still work.
    const vb = new Versions(c.catalog.get('trips'));
    const extra = vb.make('insert', [99_999n], { id: 99_999n, city: 'x', fare: 1, started: us(T0 + 6 * DAY), note: null }, T0 + 8 * DAY);
    await c.shard.push({
      source: 'ing1',
      table: 'trips',
      fromTs: c.pushedTo,
      toTs: T0 + 8 * DAY,
      versions: [...c.trips.filter((v) => v.commitTs > c.pushedTo), extra],
    });
    const one = await c.shard.query('SELECT fare FROM trips WHERE id = 99999', [], c.catalog.version, { allowDegraded: true });
    assert.deepEqual(one.rows, [[1]]);
  });
});
