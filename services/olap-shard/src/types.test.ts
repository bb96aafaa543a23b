/**
 * Every column type (shared/src/types.ts) round-trips through the shard: push → Parquet →
 * query, delta → query, and compaction → query give back exactly the stored representation
 * (shared/src/duckdb convert.ts); zone maps and key bloom filters prune on DECIMAL and TIME
 * keys; one-dimensional arrays of every scalar type. Real DuckDB and real files.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ColumnDef, numericTypmod, type QueryResult, type Row, type TableDef, type Value, type VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from './index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir, Versions } from './test-support.ts';

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);
const N10_2 = numericTypmod(10, 2);
const CHAR5 = 5 + 4;

/** One column per type (scalars and arrays) beside the key. */
const COLUMNS: ColumnDef[] = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'c_smallint', type: 'smallint', notNull: false },
  { name: 'c_integer', type: 'integer', notNull: false },
  { name: 'c_bigint', type: 'bigint', notNull: false },
  { name: 'c_real', type: 'real', notNull: false },
  { name: 'c_double', type: 'double', notNull: false },
  { name: 'c_num', type: 'numeric', notNull: false, typmod: N10_2 },
  { name: 'c_numany', type: 'numeric', notNull: false },
  { name: 'c_numwide', type: 'numeric', notNull: false, typmod: numericTypmod(60, 5) },
  { name: 'c_text', type: 'text', notNull: false },
  { name: 'c_varchar', type: 'varchar', notNull: false, typmod: 10 + 4 },
  { name: 'c_char', type: 'char', notNull: false, typmod: CHAR5 },
  { name: 'c_bool', type: 'boolean', notNull: false },
  { name: 'c_ts', type: 'timestamp', notNull: false },
  { name: 'c_tstz', type: 'timestamptz', notNull: false },
  { name: 'c_date', type: 'date', notNull: false },
  { name: 'c_time', type: 'time', notNull: false },
  { name: 'c_interval', type: 'interval', notNull: false },
  { name: 'c_uuid', type: 'uuid', notNull: false },
  { name: 'c_json', type: 'json', notNull: false },
  { name: 'c_jsonb', type: 'jsonb', notNull: false },
  { name: 'c_bytea', type: 'bytea', notNull: false },
  { name: 'a_smallint', type: 'smallint[]', notNull: false },
  { name: 'a_integer', type: 'integer[]', notNull: false },
  { name: 'a_bigint', type: 'bigint[]', notNull: false },
  { name: 'a_real', type: 'real[]', notNull: false },
  { name: 'a_double', type: 'double[]', notNull: false },
  { name: 'a_num', type: 'numeric[]', notNull: false, typmod: N10_2 },
  { name: 'a_numany', type: 'numeric[]', notNull: false },
  { name: 'a_text', type: 'text[]', notNull: false },
  { name: 'a_varchar', type: 'varchar[]', notNull: false, typmod: 10 + 4 },
  { name: 'a_char', type: 'char[]', notNull: false, typmod: CHAR5 },
  { name: 'a_bool', type: 'boolean[]', notNull: false },
  { name: 'a_ts', type: 'timestamp[]', notNull: false },
  { name: 'a_tstz', type: 'timestamptz[]', notNull: false },
  { name: 'a_date', type: 'date[]', notNull: false },
  { name: 'a_time', type: 'time[]', notNull: false },
  { name: 'a_interval', type: 'interval[]', notNull: false },
  { name: 'a_uuid', type: 'uuid[]', notNull: false },
  { name: 'a_json', type: 'json[]', notNull: false },
  { name: 'a_jsonb', type: 'jsonb[]', notNull: false },
  { name: 'a_bytea', type: 'bytea[]', notNull: false },
];

const ALL: TableDef = { name: 'alltypes', storage: 'alltypes_s', columns: COLUMNS, primaryKey: ['id'] };

/** Result type each column is reported as (DuckDB's view type mapped back, convert.ts). */
const RESULT_TYPES: Record<string, string> = {
  id: 'integer',
  c_smallint: 'smallint',
  c_integer: 'integer',
  c_bigint: 'bigint',
  c_real: 'real',
  c_double: 'double',
  c_num: 'numeric',
  c_numany: 'text', // VARCHAR holding numeric text (columns.ts NUMERIC_TEXT_NOTE); the router types it
  c_numwide: 'text',
  c_text: 'text',
  c_varchar: 'text',
  c_char: 'text',
  c_bool: 'boolean',
  c_ts: 'timestamp',
  c_tstz: 'timestamptz',
  c_date: 'date',
  c_time: 'time',
  c_interval: 'interval',
  c_uuid: 'uuid',
  c_json: 'json',
  c_jsonb: 'json',
  c_bytea: 'bytea',
  a_smallint: 'smallint[]',
  a_integer: 'integer[]',
  a_bigint: 'bigint[]',
  a_real: 'real[]',
  a_double: 'double[]',
  a_num: 'numeric[]',
  a_numany: 'text[]',
  a_text: 'text[]',
  a_varchar: 'text[]',
  a_char: 'text[]',
  a_bool: 'boolean[]',
  a_ts: 'timestamp[]',
  a_tstz: 'timestamptz[]',
  a_date: 'date[]',
  a_time: 'time[]',
  a_interval: 'interval[]',
  a_uuid: 'uuid[]',
  a_json: 'json[]',
  a_jsonb: 'json[]',
  a_bytea: 'bytea[]',
};

const US_DAY = 86_400_000_000;

/** Rows exercising edge values of every type (stored representation, shared/src/types.ts). */
function sampleRows(): Row[] {
  const full: Row = {
    id: 1,
    c_smallint: -32768,
    c_integer: 2147483647,
    c_bigint: -(2n ** 63n),
    c_real: Math.fround(1.1),
    c_double: -0.1,
    c_num: '-12345678.90',
    c_numany: '123456789012345678901234567890123456789012.000000000000000000001',
    c_numwide: '1234567890123456789012345678901234567890123456789.00500',
    c_text: "it's \u00e9 \u{1f600}",
    c_varchar: 'ten chars!',
    c_char: 'ab   ',
    c_bool: true,
    c_ts: 1_709_294_400_123_456n,
    c_tstz: -86_400_000_000n,
    c_date: -719_162,
    c_time: US_DAY,
    c_interval: 'P1Y2M3DT4H5M6.5S',
    c_uuid: '0190a6c2-1234-7abc-8def-0123456789ab',
    c_json: '{"b" : 1,  "a": [true, null]}',
    c_jsonb: '{"a": [true, null], "b": 1}',
    c_bytea: new Uint8Array([0, 1, 254, 255]),
    a_smallint: [1, null, -2],
    a_integer: [],
    a_bigint: [9_007_199_254_740_993n],
    a_real: [Math.fround(0.5), null],
    a_double: [Number.NaN, Number.POSITIVE_INFINITY, -0.25],
    a_num: ['1.50', null, '-0.01'],
    a_numany: ['1.500', '1'],
    a_text: ['a', null, '{x,"y"}', ''],
    a_varchar: ['v'],
    a_char: ['x    ', null],
    a_bool: [true, false, null],
    a_ts: [0n, null],
    a_tstz: [1n],
    a_date: [0, 19_000],
    a_time: [0, 1],
    a_interval: ['PT0S', 'P-1Y-2M3DT-4H-5M-6.25S', null],
    a_uuid: ['00000000-0000-0000-0000-000000000000'],
    a_json: ['[1, 2]', 'null'],
    a_jsonb: ['{"k": "v"}'],
    a_bytea: [new Uint8Array([7]), null, new Uint8Array([])],
  };
  const nulls: Row = Object.fromEntries(COLUMNS.map((c) => [c.name, c.name === 'id' ? 2 : null]));
  const other: Row = {
    ...full,
    id: 3,
    c_num: '0.00',
    c_numany: '-0.001',
    c_time: 0,
    c_interval: 'PT0S',
    c_real: Number.NEGATIVE_INFINITY,
    c_double: Number.NaN,
    c_bytea: new Uint8Array([]),
    c_date: 2_932_896, // 9999-12-31
    a_integer: [null],
  };
  return [full, nulls, other];
}

/** Comparable text of a value: bytes as hex, bigints tagged, NaN/±Infinity by name. */
function canon(v: Value | undefined): unknown {
  if (v === undefined) return '<undefined>';
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Object.is(v, -0)) return '-0';
  return v;
}

function assertRows(r: QueryResult, want: Row[], what: string): void {
  assert.deepEqual(
    r.columns.map((c) => `${c.name}:${c.type}`),
    COLUMNS.map((c) => `${c.name}:${RESULT_TYPES[c.name]}`),
    `${what}: result types`,
  );
  assert.equal(r.rows.length, want.length, `${what}: row count`);
  r.rows.forEach((row, i) => {
    COLUMNS.forEach((c, j) => {
      assert.deepEqual(canon(row[j]), canon((want[i] as Row)[c.name] ?? null), `${what}: row ${i} column ${c.name}`);
    });
  });
}

describe('olap shard: every type round-trips', () => {
  let dir: string;
  let shard: OlapShard;
  const source = new ArraySource();
  const catalog = makeCatalog([ALL]);
  const vb = new Versions(catalog.get('alltypes'));
  const logs: { msg: string; fields?: object }[] = [];
  const rowsIn = sampleRows();
  const q = (sql: string) => shard.query(sql, [], catalog.version);

  before(async () => {
    dir = await tempDir('olap-types-');
    shard = await startOlapShard({
      id: 's1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      compactionIntervalMs: 0,
      compactionMinFiles: 2,
      deltaPollMs: 0,
      log: (msg, fields) => logs.push(fields === undefined ? { msg } : { msg, fields }),
    });
  });
  after(async () => {
    await shard.close();
    await removeDir(dir);
  });

  it('delta → query', async () => {
    source.add(rowsIn.map((r, i) => vb.make('insert', [r.id as number], r, T0 + i)));
    assertRows(await q('SELECT * FROM alltypes ORDER BY id'), rowsIn, 'delta');
  });

  it('push → Parquet → query (latest and history views)', async () => {
    const versions: VersionRecord[] = source.log.filter((v) => v.commitTs <= T0 + 1);
    await shard.push({ source: 'ing1', table: 'alltypes_s', fromTs: -1, toTs: T0 + 1, versions });
    assertRows(await q('SELECT * FROM alltypes ORDER BY id'), rowsIn, 'files + delta');
    const cols = COLUMNS.map((c) => `"${c.name}"`).join(', ');
    assertRows(await q(`SELECT ${cols} FROM alltypes__history ORDER BY id`), rowsIn, 'history');
    assertRows(await q(`SELECT ${cols} FROM alltypes__latest ORDER BY id`), rowsIn, '__latest');
    await shard.push({ source: 'ing1', table: 'alltypes_s', fromTs: T0 + 1, toTs: T0 + 10, versions: source.log.slice(2) });
    assertRows(await q('SELECT * FROM alltypes ORDER BY id'), rowsIn, 'files only');
  });

  it('compaction → query', async () => {
    const r = await shard.compactNow();
    assert.equal(r.partitions.length, 1, 'the two push files of one day are compacted');
    assert.equal(shard.stats().tables.alltypes_s?.files, 1);
    assertRows(await q('SELECT * FROM alltypes ORDER BY id'), rowsIn, 'after compaction');
  });

  it('typed values work in DuckDB: numeric(p,s) arithmetic, interval parts, json operators, list functions', async () => {
    const r = await q(
      `SELECT c_num + 1 AS n, c_interval + INTERVAL 1 DAY AS iv, c_json->>'b' AS jb, len(a_text) AS lt, a_num[1] AS a1, c_time
       FROM alltypes WHERE id = 1`,
    );
    assert.deepEqual(r.rows, [['-12345677.90', 'P1Y2M4DT4H5M6.5S', '1', 4n, '1.50', US_DAY]]);
    // Unconstrained numeric is text in DuckDB: exact, and computed on through an explicit cast.
    const t = await q(`SELECT c_numany, CAST(c_numany AS DOUBLE) > 1e40 AS big FROM alltypes WHERE id = 1`);
    assert.deepEqual(t.rows, [[rowsIn[0]?.c_numany, true]]);
  });

  it('numeric(p,s) NaN has no DECIMAL form: it reads as NULL and is logged', async () => {
    source.add([vb.make('insert', [9], { id: 9, c_num: 'NaN' }, T0 + 20)]);
    assert.deepEqual((await q('SELECT c_num FROM alltypes WHERE id = 9')).rows, [[null]]);
    assert.ok(logs.some((l) => l.msg.startsWith('numeric NaN loaded as NULL')));
  });
});

describe('olap shard: ±infinity timestamps and dates', () => {
  it('round-trip, also in the time column that picks the day partition', async () => {
    const catalog = makeCatalog(
      [
        {
          name: 'spans',
          columns: [
            { name: 'id', type: 'integer', notNull: true },
            { name: 'at', type: 'timestamptz', notNull: false },
            { name: 'd', type: 'date', notNull: false },
          ],
          primaryKey: ['id'],
        },
      ],
      { spans: { timeColumn: 'at' } },
    );
    const dir = await tempDir('olap-types-');
    const shard = await startOlapShard({ id: 's1', dir, catalog, deltaSources: [], compactionIntervalMs: 0, deltaPollMs: 0 });
    try {
      const vb = new Versions(catalog.get('spans'));
      const rows: Row[] = [
        { id: 1, at: 2n ** 63n - 1n, d: 2147483647 },
        { id: 2, at: -(2n ** 63n), d: -2147483648 },
        { id: 3, at: 1_709_294_400_000_000n, d: 19_783 },
      ];
      await shard.push({
        source: 'ing1',
        table: 'spans',
        fromTs: -1,
        toTs: T0,
        versions: rows.map((r) => vb.make('insert', [r.id as number], r, T0)),
      });
      const r = await shard.query('SELECT id, "at", d FROM spans ORDER BY id', [], catalog.version);
      assert.deepEqual(
        r.rows,
        rows.map((x) => [x.id, x.at, x.d]),
      );
      const later = await shard.query(`SELECT id FROM spans WHERE "at" > TIMESTAMPTZ '2030-01-01 00:00:00+00'`, [], catalog.version);
      assert.deepEqual(later.rows, [[1]]);
    } finally {
      await shard.close();
      await removeDir(dir);
    }
  });
});

describe('olap shard: zone maps and bloom filters on DECIMAL, TIME and char keys', () => {
  let dir: string;
  let shard: OlapShard;
  const catalog = makeCatalog([
    {
      name: 'prices',
      columns: [
        { name: 'amount', type: 'numeric', notNull: true, typmod: N10_2 },
        { name: 'at', type: 'time', notNull: true },
        { name: 'code', type: 'char', notNull: true, typmod: 3 + 4 },
        { name: 'n', type: 'integer', notNull: false },
      ],
      primaryKey: ['amount', 'at', 'code'],
    },
  ]);
  const vb = new Versions(catalog.get('prices'));
  const q = (sql: string, params: (string | number)[] = []) => shard.query(sql, params, catalog.version);

  before(async () => {
    dir = await tempDir('olap-types-');
    shard = await startOlapShard({ id: 's1', dir, catalog, deltaSources: [], compactionIntervalMs: 0, deltaPollMs: 0 });
    // Four files with disjoint amount ranges: [1.00, 9.99], [10.00, 99.99], … (text order would interleave them).
    for (let f = 0; f < 4; f++) {
      const versions: VersionRecord[] = [];
      for (let i = 0; i < 50; i++) {
        const cents = 10 ** (f + 2) + i * 10 ** (f + 1) + 5;
        const amount = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
        versions.push(vb.make('insert', [amount, i * 1000, 'ab '], { amount, at: i * 1000, code: 'ab ', n: f }, T0 + f));
      }
      await shard.push({ source: 'ing1', table: 'prices', fromTs: f === 0 ? -1 : T0 + f - 1, toTs: T0 + f, versions });
    }
  });
  after(async () => {
    await shard.close();
    await removeDir(dir);
  });

  it('prunes by numeric value, not text order, and answers exactly', async () => {
    const one = await q('SELECT amount, n FROM prices WHERE amount = 15.05');
    assert.deepEqual(one.rows, [['15.05', 1]]);
    assert.deepEqual(one.scan, { filesTotal: 4, filesOpened: 1 });
    const range = await q('SELECT count(*) AS c, min(amount) AS lo FROM prices WHERE amount >= $1 AND amount < 1000', ['100']);
    assert.deepEqual(range.rows, [[50n, '100.05']]);
    assert.deepEqual(range.scan, { filesTotal: 4, filesOpened: 1 });
    const absent = await q('SELECT * FROM prices WHERE amount = 15.06');
    assert.deepEqual(absent.rows, []);
    assert.ok((absent.scan?.filesOpened ?? 4) <= 1);
    const t = await q(`SELECT count(*) FROM prices WHERE "at" > TIME '00:00:00.048'`);
    assert.deepEqual(t.rows, [[4n]]);
    const c = await q(`SELECT count(*) FROM prices WHERE code = 'ab '`);
    assert.deepEqual(c.rows, [[200n]]);
  });
});
