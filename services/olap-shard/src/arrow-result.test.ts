/**
 * Arrow results (`QueryOptions.resultFormat: 'arrow'`, issue 13 item 6): a real shard answers a
 * query with its rows as one Arrow IPC stream, which decodes (`resultRows`) to exactly the rows
 * of the plain answer, for every column type, in process and through the shard's RPC server
 * and client (MessagePack over HTTP), as the router's scatter/gather scans call it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ColumnDef,
  type HttpServer,
  numericTypmod,
  type OlapShardApi,
  type QueryOptions,
  type QueryResult,
  type Row,
  registerRpc,
  rpcClient,
  startHttpServer,
  type TableDef,
  type Value,
} from '@stratum/shared';
import { resultRows } from '@stratum/shared/arrow';
import { type OlapShard, startOlapShard } from './index.ts';
import { ArraySource, makeCatalog, removeDir, tempDir, Versions } from './test-support.ts';

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

/** A column of each Arrow mapping (shared/src/arrow.ts), scalars and arrays. */
const COLUMNS: ColumnDef[] = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'c_smallint', type: 'smallint', notNull: false },
  { name: 'c_bigint', type: 'bigint', notNull: false },
  { name: 'c_real', type: 'real', notNull: false },
  { name: 'c_double', type: 'double', notNull: false },
  { name: 'c_num', type: 'numeric', notNull: false, typmod: numericTypmod(10, 2) },
  { name: 'c_numany', type: 'numeric', notNull: false },
  { name: 'c_text', type: 'text', notNull: false },
  { name: 'c_char', type: 'char', notNull: false, typmod: 5 + 4 },
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
  { name: 'a_integer', type: 'integer[]', notNull: false },
  { name: 'a_double', type: 'double[]', notNull: false },
  { name: 'a_text', type: 'text[]', notNull: false },
  { name: 'a_tstz', type: 'timestamptz[]', notNull: false },
  { name: 'a_interval', type: 'interval[]', notNull: false },
  { name: 'a_uuid', type: 'uuid[]', notNull: false },
  { name: 'a_bytea', type: 'bytea[]', notNull: false },
];

const TYPES: TableDef = { name: 'typed', columns: COLUMNS, primaryKey: ['id'] };

/** Edge values of every type, a row of NULLs, and plainer rows (stored representation, shared/src/types.ts). */
function sampleRows(): Row[] {
  const full: Row = {
    id: 1,
    c_smallint: -32768,
    c_bigint: -(2n ** 63n),
    c_real: Math.fround(1.1),
    c_double: -0,
    c_num: '-12345678.90',
    c_numany: '123456789012345678901234567890123456789012.000000000000000000001',
    c_text: "it's \u00e9 \u{1f600}",
    c_char: 'ab   ',
    c_bool: true,
    c_ts: 1_709_294_400_123_456n,
    c_tstz: -86_400_000_000n,
    c_date: -719_162,
    c_time: 86_400_000_000,
    c_interval: 'P1Y2M3DT4H5M6.5S',
    c_uuid: '0190a6c2-1234-7abc-8def-0123456789ab',
    c_json: '{"b" : 1,  "a": [true, null]}',
    c_jsonb: '{"a": [true, null], "b": 1}',
    c_bytea: new Uint8Array([0, 1, 254, 255]),
    a_integer: [1, null, -2],
    a_double: [Number.NaN, Number.POSITIVE_INFINITY, -0.25],
    a_text: ['a', null, '{x,"y"}', ''],
    a_tstz: [1n, null],
    a_interval: ['PT0S', 'P-1Y-2M3DT-4H-5M-6.25S', null],
    a_uuid: ['00000000-0000-0000-0000-000000000000'],
    a_bytea: [new Uint8Array([7]), null, new Uint8Array([])],
  };
  const nulls: Row = Object.fromEntries(COLUMNS.map((c) => [c.name, c.name === 'id' ? 2 : null]));
  const more: Row[] = Array.from({ length: 300 }, (_, i) => ({
    ...full,
    id: 10 + i,
    c_bigint: BigInt(i) * 1_000_000_007n,
    c_double: i / 7,
    c_text: `row ${i}`,
    c_bool: i % 3 === 0 ? null : i % 2 === 0,
    c_date: 19_000 + i,
    a_integer: i % 5 === 0 ? [] : [i, i + 1],
  }));
  return [full, nulls, ...more];
}

/** `rows` with byte arrays as plain Uint8Arrays (MessagePack decodes bytea as Buffer, Arrow as Uint8Array). */
function plainBytes(rows: Value[][]): Value[][] {
  const plain = (v: Value): Value => (v instanceof Uint8Array ? new Uint8Array(v) : Array.isArray(v) ? v.map(plain) : v);
  return rows.map((r) => r.map(plain));
}

/** `got` (an Arrow answer) holds exactly what `want` (a plain answer) holds, rows as a stream. */
function assertSameAsArrow(got: QueryResult, want: QueryResult, what: string): void {
  assert.ok(got.arrow instanceof Uint8Array, `${what}: an Arrow stream`);
  assert.deepEqual(got.rows, [], `${what}: rows travel in the stream only`);
  assert.deepEqual(got.columns, want.columns, `${what}: columns`);
  assert.deepEqual(got.scan, want.scan, `${what}: scan`);
  assert.deepEqual(got.notices, want.notices, `${what}: notices`);
  // Strict: -0, NaN, bigint vs number and byte contents all count.
  assert.deepEqual(plainBytes(resultRows(got)), plainBytes(want.rows), `${what}: rows`);
}

const QUERIES = [
  'SELECT * FROM typed ORDER BY id',
  'SELECT c_text, c_bytea, a_bytea, id FROM typed WHERE id < 12 ORDER BY id',
  'SELECT * FROM typed WHERE false',
  'SELECT id, _version, _ts, _op FROM typed__history ORDER BY id',
  // Two record batches (65,536 rows each at most), columns of one name.
  "SELECT range AS a, range::TEXT AS a, range % 3 = 0 AS b, DATE '2024-01-01' + range::INTEGER AS d FROM range(70000)",
];

describe('olap shard: Arrow results', () => {
  let dir: string;
  let shard: OlapShard;
  let srv: HttpServer;
  let remote: OlapShardApi & { closeClient(): Promise<void> };
  const catalog = makeCatalog([TYPES]);
  const source = new ArraySource();
  const q = (sql: string, options?: QueryOptions) => shard.query(sql, [], catalog.version, options);

  before(async () => {
    dir = await tempDir('olap-arrow-');
    shard = await startOlapShard({
      id: 'a1',
      dir,
      catalog,
      deltaSources: [{ id: 'ing1', api: source }],
      compactionIntervalMs: 0,
      deltaPollMs: 0,
    });
    const vb = new Versions(catalog.get('typed'));
    const versions = sampleRows().map((r, i) => vb.make('insert', [r.id as number], r, T0 + i));
    source.add(versions);
    // Half in Parquet, half in the delta: both paths produce the answer.
    const half = versions[150]?.commitTs as number;
    await shard.push({ source: 'ing1', table: 'typed', fromTs: -1, toTs: half, versions: versions.filter((v) => v.commitTs <= half) });
    srv = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      health: () => ({ status: 'ok' }),
      setup: (app) => registerRpc(app, shard, ['query']),
    });
    remote = rpcClient<OlapShardApi>(`http://127.0.0.1:${srv.port}`, ['query'], { name: 'olap-shard a1', abortable: ['query'] });
  });
  after(async () => {
    await remote.closeClient();
    await srv.close();
    await shard.close();
    await removeDir(dir);
  });

  it('answers with an Arrow IPC stream that decodes to exactly the plain rows', async () => {
    for (const sql of QUERIES) {
      const plain = await q(sql);
      assert.equal(plain.arrow, undefined, `${sql}: rows by default`);
      assertSameAsArrow(await q(sql, { resultFormat: 'arrow' }), plain, sql);
      assert.equal((await q(sql, { resultFormat: 'rows' })).arrow, undefined);
    }
    const all = await q(QUERIES[0] as string, { resultFormat: 'arrow' });
    assert.equal(resultRows(all).length, 302);
    assert.ok(Object.is(resultRows(all)[0]?.[4], -0), '-0 kept');
  });

  it('passes the option through the RPC server, and the stream crosses MessagePack as bytes', async () => {
    const signal = new AbortController().signal;
    for (const sql of QUERIES) {
      const plain = await q(sql);
      const viaRpc = await remote.query(sql, [], catalog.version, { resultFormat: 'arrow' }, signal);
      assertSameAsArrow(viaRpc, plain, `${sql} over RPC`);
      // Rows over RPC are the plain rows too (MessagePack writes -0 as 0; Arrow keeps it).
      const rows = await remote.query(sql, [], catalog.version, {}, signal);
      assert.equal(rows.arrow, undefined);
      const zero = (rs: Value[][]) => rs.map((r) => r.map((v) => (Object.is(v, -0) ? 0 : v)));
      assert.deepEqual(plainBytes(resultRows(rows)), zero(plainBytes(plain.rows)), `${sql}: rows over RPC`);
    }
  });

  it('answers with rows what Arrow cannot carry, and refuses an unknown format', async () => {
    // 2,600,000 hours is more than Arrow's 2^63 ns time part of Interval(MONTH_DAY_NANO).
    const sql = "SELECT INTERVAL '2600000 hours' AS i, 1 AS n";
    const r = await q(sql, { resultFormat: 'arrow' });
    assert.equal(r.arrow, undefined);
    assert.deepEqual(resultRows(r), (await q(sql)).rows);
    await assert.rejects(q('SELECT 1', { resultFormat: 'csv' as 'rows' }), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '22023');
      assert.match(e.message, /resultFormat/);
      return true;
    });
  });
});
