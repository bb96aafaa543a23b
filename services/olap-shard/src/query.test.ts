/**
 * The query surface: result types and value representations, PostgreSQL session semantics,
 * parameters, read-only enforcement and SQLSTATE mapping of DuckDB errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Catalog, formatInterval, intervalParts, type Literal, makeInterval, type TableDef } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
import { ArraySource, assertSameResult, makeCatalog, Reference, removeDir, tempDir, Versions } from './test-support.ts';

const KV: TableDef = {
  name: 'kv',
  columns: [
    { name: 'k', type: 'integer', notNull: true },
    { name: 'v', type: 'text', notNull: false },
    { name: 'n', type: 'bigint', notNull: false },
    { name: 'seen', type: 'timestamptz', notNull: false },
  ],
  primaryKey: ['k'],
};

describe('olap shard queries', () => {
  let dir: string;
  let catalog: Catalog;
  let shard: OlapShard;
  let ref: Reference;
  const q = (sql: string, params: Literal[] = []) => shard.query(sql, params, catalog.version);

  before(async () => {
    dir = await tempDir();
    catalog = makeCatalog([KV]);
    const source = new ArraySource();
    const info = catalog.get('kv');
    const vb = new Versions(info);
    const vs = [1, 2, 3, 4, 5].map((k) =>
      vb.make(
        'insert',
        [k],
        { k, v: k % 2 ? `odd${k}` : null, n: BigInt(k) * 10n ** 12n, seen: BigInt(Date.UTC(2024, 0, k)) * 1000n },
        Date.UTC(2024, 0, 1) + k,
      ),
    );
    source.add(vs);
    shard = await startOlapShard({ id: 'q1', dir, catalog, deltaSources: [{ id: 'ing1', api: source }] });
    await shard.push({ source: 'ing1', table: 'kv', fromTs: -1, toTs: Date.UTC(2024, 0, 1) + 3, versions: vs.slice(0, 3) });
    ref = await Reference.create();
    await ref.load(info, vs);
  });
  after(async () => {
    await shard.close();
    ref.close();
    await removeDir(dir);
  });

  it('maps DuckDB result types to Stratum result types and stored representations', async () => {
    const r = await q(`SELECT 1::BIGINT AS a, 2::INTEGER AS b, 3::SMALLINT AS c, 4::TINYINT AS d, 1.5::DOUBLE AS e, 2.5::FLOAT AS f,
      'x' AS g, true AS h, TIMESTAMP '2024-01-02 03:04:05.123456' AS i, TIMESTAMPTZ '2024-01-02 03:04:05+02' AS j, DATE '2024-01-02' AS k,
      '0190a6c2-1234-7abc-8def-0123456789ab'::UUID AS l, 12.50::DECIMAL(5,2) AS m, 170141183460469231731687303715884105727::HUGEINT AS n,
      INTERVAL '1 year 2 months 3 days 04:05:06.5' AS o, [1, 2] AS p, {'a': 1, 'b': 'x'} AS q, '{"z": [1]}'::JSON AS r, TIME '12:34:56' AS s,
      '\\x01\\xff'::BLOB AS t, 42::UBIGINT AS u, TIMESTAMP_MS '2024-01-02 00:00:00.5' AS v, TIMESTAMP_NS '1969-12-31 23:59:59.9999995' AS w,
      NULL::INTEGER AS x, MAP {'k': 1} AS y, 7::UINTEGER AS z`);
    assert.deepEqual(
      r.columns.map((c) => `${c.name}:${c.type}`),
      [
        'a:bigint',
        'b:integer',
        'c:smallint',
        'd:smallint',
        'e:double',
        'f:real',
        'g:text',
        'h:boolean',
        'i:timestamp',
        'j:timestamptz',
        'k:date',
        'l:uuid',
        'm:numeric',
        'n:numeric',
        'o:interval',
        'p:integer[]',
        'q:json',
        'r:json',
        's:time',
        't:bytea',
        'u:bigint',
        'v:timestamp',
        'w:timestamp',
        'x:integer',
        'y:json',
        'z:bigint',
      ],
    );
    const row = r.rows[0] as unknown[];
    const us = (iso: string, extra = 0n) => BigInt(Date.parse(iso)) * 1000n + extra;
    assert.deepEqual(row, [
      1n,
      2,
      3,
      4,
      1.5,
      2.5,
      'x',
      true,
      us('2024-01-02T03:04:05.123Z', 456n),
      us('2024-01-02T01:04:05Z'),
      Date.UTC(2024, 0, 2) / 86_400_000,
      '0190a6c2-1234-7abc-8def-0123456789ab',
      '12.50',
      '170141183460469231731687303715884105727',
      'P1Y2M3DT4H5M6.5S', // ISO 8601: the stored representation of interval
      [1, 2],
      '{"a":1,"b":"x"}',
      '{"z": [1]}',
      45_296_000_000, // time: µs since midnight
      Buffer.from([1, 255]), // bytea: bytes (a Buffer, as MessagePack decodes them)
      42n,
      us('2024-01-02T00:00:00.500Z'),
      -1n, // nanoseconds floor to the microsecond below
      null,
      '[{"key":"k","value":1}]',
      7n,
    ]);
  });

  it('formats intervals like PostgreSQL (IntervalStyle postgres)', () => {
    // Expected strings are PostgreSQL 15's output for the same intervals.
    const cases: [number, number, bigint, string][] = [
      [0, 0, 0n, '00:00:00'],
      [14, 3, 14_706_500_000n, '1 year 2 mons 3 days 04:05:06.5'],
      [0, -1, 7_200_000_000n, '-1 days +02:00:00'],
      [-13, 0, 0n, '-1 years -1 mons'],
      [0, 1, -1_000_000n, '1 day -00:00:01'],
      [0, 0, 90_000_000_000n, '25:00:00'],
      [1, 0, 0n, '1 mon'],
    ];
    for (const [months, days, micros, want] of cases) assert.equal(formatInterval({ months, days, micros }), want);
  });

  it('formats and parses intervals as ISO 8601 like PostgreSQL (IntervalStyle iso_8601, the stored representation)', () => {
    // Expected strings follow PostgreSQL 15's EncodeInterval (INTSTYLE_ISO_8601) for the same intervals.
    const cases: [number, number, bigint, string][] = [
      [0, 0, 0n, 'PT0S'],
      [14, 3, 14_706_500_000n, 'P1Y2M3DT4H5M6.5S'],
      [0, -1, 7_200_000_000n, 'P-1DT2H'],
      [-13, 0, 0n, 'P-1Y-1M'],
      [0, 1, -1_000_000n, 'P1DT-1S'],
      [0, 0, 90_000_000_000n, 'PT25H'],
      [1, 0, 0n, 'P1M'],
      [0, 0, -1_500_000n, 'PT-1.5S'],
      [0, 0, -500_000n, 'PT-0.5S'],
      [0, 0, -3_661_000_001n, 'PT-1H-1M-1.000001S'],
    ];
    for (const [months, days, micros, want] of cases) {
      assert.equal(makeInterval({ months, days, micros }), want);
      assert.deepEqual(intervalParts(want), { months, days, micros }, want);
    }
  });

  it('uses PostgreSQL session semantics: NULL ordering, integer division, UTC', async () => {
    const sqls = [
      'SELECT k, v FROM kv ORDER BY v, k',
      'SELECT k, v FROM kv ORDER BY v DESC, k',
      'SELECT k / 2 AS half, 7 / 2 AS seven, -7 / 2 AS neg FROM kv ORDER BY k',
      "SELECT k, strftime(seen, '%Y-%m-%d %H:%M') AS day, seen::DATE AS d FROM kv ORDER BY k",
    ];
    for (const s of sqls) assertSameResult(await q(s), await ref.query(s), s);
    const nulls = await q('SELECT v FROM kv ORDER BY v');
    assert.equal(nulls.rows[nulls.rows.length - 1]?.[0], null, 'NULLS LAST on ASC');
    const desc = await q('SELECT v FROM kv ORDER BY v DESC');
    assert.equal(desc.rows[0]?.[0], null, 'NULLS FIRST on DESC');
    assert.deepEqual((await q('SELECT 7 / 2 AS x, current_setting($1) AS tz', ['TimeZone'])).rows, [[3, 'UTC']]);
  });

  it('binds $1..$n parameters (numbers, bigints, strings cast to the parameter type, booleans, null)', async () => {
    const cases: [string, Literal[]][] = [
      ['SELECT * FROM kv WHERE k = $1', [2]],
      ['SELECT * FROM kv WHERE n > $1 ORDER BY k', [2_000_000_000_000n]],
      ['SELECT * FROM kv WHERE seen >= $1 ORDER BY k', ['2024-01-03 00:00:00+00']],
      ['SELECT * FROM kv WHERE (v = $1) IS NOT DISTINCT FROM $2 ORDER BY k', ['odd3', true]],
      ['SELECT count(*) FROM kv WHERE v IS NOT DISTINCT FROM $1', [null]],
      ['SELECT $1::INTEGER + 1 AS x, $2 AS y, $3 AS z', ['41', 2.5, 9_007_199_254_740_000]],
    ];
    for (const [s, p] of cases) assertSameResult(await q(s, p), await ref.query(s, p), s);
  });

  it('maps DuckDB errors to SQLSTATEs and keeps the DuckDB message', async () => {
    const cases: [string, string, RegExp, Literal[]?][] = [
      ['SELECT * FROM missing_table', '42P01', /missing_table/],
      ['SELECT no_such_fn(1)', '42883', /no_such_fn/],
      ['SELECT nope FROM kv', '42703', /nope/],
      ['SELEC 1', '42601', /syntax error/],
      ["SELECT 'abc'::INTEGER", '22P02', /abc/],
      ['SELECT 2147483647::INTEGER + 1', '22003', /integer out of range/],
      ['SELECT 100000::SMALLINT', '22003', /out of range/],
      ["SELECT 'x' + 1", '42883', /\+/],
      ['SELECT k, count(*) FROM kv', '42803', /GROUP BY/],
      ['SELECT $1, $2', '08P01', /parameters/, [1]],
      ['SELECT 1; SELECT 2', '42601', /multiple statements/],
      ["SELECT * FROM read_csv('/etc/passwd')", '42501', /Permission/],
    ];
    for (const [sql, code, re, params] of cases) {
      await assert.rejects(q(sql, params ?? []), (e: { code?: string; message: string; name: string }) => {
        assert.equal(e.code, code, `${sql}: ${e.message}`);
        assert.match(e.message, re);
        return true;
      });
    }
  });

  it('runs read-only statements only, and nothing a query sends can change the shard', async () => {
    for (const sql of [
      'CREATE TABLE t (a INT)',
      'DROP VIEW kv',
      'DELETE FROM stratum_delta.kv',
      'INSERT INTO stratum_delta.kv (k) VALUES (1)',
      "COPY kv TO '/tmp/x.csv'",
      'SET enable_external_access = true',
      'EXPLAIN ANALYZE DELETE FROM stratum_delta.kv',
      "ATTACH '/tmp/other.db'",
    ]) {
      await assert.rejects(q(sql), (e: { code?: string; message: string }) => {
        assert.ok(e.code === '25006' || e.code?.startsWith('42'), `${sql}: ${e.code} ${e.message}`);
        return true;
      });
    }
    const plan = await q('EXPLAIN SELECT count(*) FROM kv');
    assert.ok(plan.rows.length > 0);
    assertSameResult(await q('SELECT count(*) FROM kv'), await ref.query('SELECT count(*) FROM kv'), 'count after refused writes');
  });

  it('waits for the catalog version the query was planned with', async () => {
    const t: TableDef = { name: 'later', columns: [{ name: 'a', type: 'integer', notNull: true }], primaryKey: ['a'] };
    const p = shard.query('SELECT count(*) AS n FROM later', [], catalog.version + 1);
    setTimeout(() => catalog.apply(catalog.version + 1, { kind: 'create_table', table: t, at: 0 }), 50);
    assert.deepEqual((await p).rows, [[0n]]);
  });
});

describe('olap shard: a bounded query queue', () => {
  it('refuses queries beyond max queued with 53000 and keeps answering the rest', async () => {
    const dir = await tempDir();
    const catalog = makeCatalog([KV]);
    const shard = await startOlapShard({
      id: 'q2',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: new ArraySource() }],
      queryConnections: 1,
      maxQueuedQueries: 2,
    });
    try {
      // A query long enough that the others must wait for the one connection.
      const slow = 'SELECT count(*) FROM range(60000000) a WHERE a.range % 7 = 3';
      const settled = await Promise.allSettled(Array.from({ length: 8 }, () => shard.query(slow, [], catalog.version)));
      const refused = settled.filter((s) => s.status === 'rejected');
      const answered = settled.filter((s) => s.status === 'fulfilled');
      // One runs, two wait; the rest are refused at once.
      assert.equal(answered.length, 3);
      assert.equal(refused.length, 5);
      for (const r of refused) {
        const e = (r as PromiseRejectedResult).reason as { code?: string; message: string };
        assert.equal(e.code, '53000');
        assert.match(e.message, /busy: 2 queries already wait/);
      }
      // Nothing is left behind: the shard answers afterwards.
      const after = await shard.query('SELECT 42 AS x', [], catalog.version);
      assert.equal(after.rows[0]?.[0], 42);
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});
