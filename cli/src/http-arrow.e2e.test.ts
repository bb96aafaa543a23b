/**
 * `POST /query` answering Arrow (`Accept: application/vnd.apache.arrow.stream`) against
 * `stratum up` as a child process: a table with a column of each type, rows with NULLs, then
 * several SELECTs (a scan, an aggregate, a join, an expression query) asked once as JSON and once
 * as Arrow. The stream is read with apache-arrow's own `tableFromIPC`, not with our decoder.
 *
 * Comparable form of a value (`Cmp`), chosen by the column's Arrow type so that each side is
 * converted independently of Stratum's code (JavaScript's Date is the reference for calendar
 * arithmetic):
 * | Arrow type | from Arrow | from JSON |
 * |---|---|---|
 * | Bool, Int16, Int32, Float64, Utf8 | the value | the value |
 * | Int64 | bigint | BigInt of the number or string |
 * | Float32 | the number | Math.fround of the number |
 * | Binary | '\x' + hex | the text |
 * | FixedSizeBinary(16) | 8-4-4-4-12 hex | the text |
 * | Date32 | `toISOString()` date of apache-arrow's epoch ms | the text |
 * | Time64 µs | bigint µs | µs of `HH:MM:SS[.f]` |
 * | Timestamp µs | the int64 µs | µs of `YYYY-MM-DD HH:MM:SS[.f][±HH[:MM]]` via Date.UTC |
 * | Interval MonthDayNano | [months, days, ns / 1000] | the same of the ISO 8601 text (the JSON request sets IntervalStyle iso_8601) |
 * | List | elements as above | elements of the `{…}` text (plain values only) |
 * The Arrow request runs under TimeZone Asia/Kolkata and the JSON one under UTC, so timestamptz
 * values must survive the text the router reads them back from in another zone.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Data, type DataType, type Field, makeVector, type Table, Type, tableFromIPC, type Vector } from 'apache-arrow';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const ARROW = 'application/vnd.apache.arrow.stream';

type Cmp = null | boolean | number | bigint | string | Cmp[];

interface JsonAnswer {
  commandTag: string;
  columns: { name: string; typeOid: number }[];
  rows: unknown[][];
}

describe('HTTP /query as an Arrow IPC stream (embedded)', { timeout: 240_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  /** Session token of the inserting request: both reads continue it, so both see every row. */
  let token = '';

  const post = (sql: string, accept?: string) =>
    fetch(`http://127.0.0.1:${srv.httpPort}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}), ...(token ? { 'stratum-session-token': token } : {}) },
      body: JSON.stringify({ sql }),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-http-arrow-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
  });

  after(async () => {
    await srv?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('statements without a result set answer an empty stream and their command tag', async () => {
    for (const sql of [
      `CREATE TABLE t (id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision, n numeric, s text,
        vc varchar(10), c char(4), b boolean, ts timestamp, tz timestamptz, d date, tm time, iv interval, u uuid,
        j json, jb jsonb, by bytea, ia integer[], ta text[])`,
      'CREATE TABLE g (id bigint PRIMARY KEY, label text)',
    ]) {
      const r = await post(sql, ARROW);
      assert.equal(r.status, 200, await r.clone().text());
      assert.equal(r.headers.get('content-type'), ARROW);
      assert.equal(r.headers.get('stratum-command-tag'), 'CREATE TABLE');
      const t = tableFromIPC(new Uint8Array(await r.arrayBuffer()));
      assert.equal(t.schema.fields.length, 0);
      assert.equal(t.numRows, 0);
    }
    const ins = await post(
      `INSERT INTO t VALUES
        (1, -32768, 2147483647, 1.1, 0.1, '1.50', 'red', 'abc', 'ab', true, '2024-02-29 12:34:56.789012',
         '2024-02-29 12:34:56.789012+02', '2024-02-29', '12:34:56.789012', '1 year 2 months 3 days 04:05:06.5',
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": 1, "a": [true, null]}', '\\x00ff',
         '{1,NULL,3}', '{a,NULL,c}'),
        (2, 32767, -2147483648, -2.5, -1e300, '-0.001', 'grün', '', 'abcd', false, '1970-01-01 00:00:00',
         '1969-12-31 23:59:59.999999-05:30', '1970-01-01', '00:00:00', '-1 day', '00000000-0000-0000-0000-000000000000',
         '[]', '{}', '\\x', '{}', '{}'),
        (3, 0, 0, 3.4028235e38, 2.718281828459045, '123456789012345678901234567890.123456789', 'a b', 'x"y', '', true,
         '1969-12-31 23:59:59.999999', '2000-01-01 00:00:00.5Z', '1900-03-01', '24:00:00', '00:00:00.000001',
         'ffffffff-ffff-ffff-ffff-ffffffffffff', '"s"', '3', '\\xdeadbeef', '{-2147483648,2147483647}', '{x}'),
        (4, 7, 7, 1e-10, 5e-324, '0', 'z', 'q', 'z', false, '2038-01-19 03:14:08', '2038-01-19 03:14:08+00',
         '2038-01-19', '23:59:59.999999', '-2 years -3 mons +4 days -05:06:07', '01234567-89ab-cdef-0123-456789abcdef',
         'null', 'null', '\\x01', '{5}', '{"NULL"}'),
        (5, 1, 100, 0, 123.456, '42', 'five', 'five', 'five', NULL, '2000-01-01 00:00:00.5', '1999-12-31 23:00:00-01',
         '2000-01-01', '12:00:00.5', '1000 hours', 'c0ffee00-0000-4000-8000-000000000005', '{}', '[1, "two"]', '\\x05',
         '{NULL}', '{NULL}'),
        (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
      ARROW,
    );
    assert.equal(ins.status, 200, await ins.clone().text());
    assert.equal(ins.headers.get('stratum-command-tag'), 'INSERT 0 6');
    assert.equal(tableFromIPC(new Uint8Array(await ins.arrayBuffer())).schema.fields.length, 0);
    token = ins.headers.get('stratum-session-token') ?? '';
    const g = await post("INSERT INTO g VALUES (0, 'zero'), (1, 'one'), (2, 'two')", ARROW);
    assert.equal(g.status, 200);
    token = g.headers.get('stratum-session-token') ?? token;
    assert.ok(token);
  });

  /** Each query with the Arrow types of its columns (docs/architecture.md "Arrow results"). */
  const QUERIES: { what: string; sql: string; types: string[] }[] = [
    {
      what: 'a scan of every type',
      sql: 'SELECT * FROM t ORDER BY id',
      types: [
        'Int64',
        'Int16',
        'Int32',
        'Float32',
        'Float64',
        'Utf8',
        'Utf8',
        'Utf8',
        'Utf8',
        'Bool',
        'Timestamp<MICROSECOND>',
        'Timestamp<MICROSECOND, UTC>',
        'Date32<DAY>',
        'Time64<MICROSECOND>',
        'Interval<MONTH_DAY_NANO>',
        'FixedSizeBinary[16]',
        'Utf8',
        'Utf8',
        'Binary',
        'List<Int32>',
        'List<Utf8>',
      ],
    },
    {
      what: 'an aggregate',
      sql: `SELECT b, count(*) AS n, sum(i4) AS s4, sum(id) AS sid, avg(f8) AS a8, min(ts) AS mts, max(tz) AS mtz,
              max(n) AS mn, min(d) AS md, max(tm) AS mt, max(iv) AS miv, min(f4) AS mf4
            FROM t GROUP BY b ORDER BY b`,
      types: [
        'Bool',
        'Int64',
        'Int64',
        'Utf8',
        'Float64',
        'Timestamp<MICROSECOND>',
        'Timestamp<MICROSECOND, UTC>',
        'Utf8',
        'Date32<DAY>',
        'Time64<MICROSECOND>',
        'Interval<MONTH_DAY_NANO>',
        'Float32',
      ],
    },
    {
      what: 'a join with expressions',
      sql: `SELECT t.id, g.label, t.d + 1 AS next_day, t.iv * 2 AS iv2, upper(t.s) AS us, t.ia, t.by, t.u, t.tz + interval '1 hour' AS tz1
            FROM t JOIN g ON g.id = t.id % 3 ORDER BY t.id`,
      types: [
        'Int64',
        'Utf8',
        'Date32<DAY>',
        'Interval<MONTH_DAY_NANO>',
        'Utf8',
        'List<Int32>',
        'Binary',
        'FixedSizeBinary[16]',
        'Timestamp<MICROSECOND, UTC>',
      ],
    },
    {
      what: 'an expression query without tables',
      sql: `SELECT 1::int2 AS a, 2.5::float4 AS b, '2024-01-01 10:00+02'::timestamptz AS c, interval '1 day 2 hours' AS d,
              ARRAY[1, NULL, 3] AS e, '\\xdead'::bytea AS f, NULL::int AS g, 9007199254740993::int8 AS h,
              '1.10'::numeric * 3 AS i, date '2024-03-01' - 1 AS j, time '10:00' + interval '90 minutes' AS k`,
      types: [
        'Int16',
        'Float32',
        'Timestamp<MICROSECOND, UTC>',
        'Interval<MONTH_DAY_NANO>',
        'List<Int32>',
        'Binary',
        'Int32',
        'Int64',
        'Utf8',
        'Date32<DAY>',
        'Time64<MICROSECOND>',
      ],
    },
  ];

  for (const q of QUERIES) {
    test(`${q.what}: the Arrow answer has the documented types and the JSON answer's values`, async () => {
      const jr = await post(`SET IntervalStyle = iso_8601; ${q.sql}`);
      assert.equal(jr.status, 200, await jr.clone().text());
      const json = (await jr.json()) as JsonAnswer;

      const ar = await post(`SET TimeZone = 'Asia/Kolkata'; ${q.sql}`, `${ARROW}, application/json;q=0.5`);
      assert.equal(ar.status, 200, await ar.clone().text());
      assert.equal(ar.headers.get('content-type'), ARROW);
      assert.equal(ar.headers.get('stratum-command-tag'), json.commandTag);
      const table = tableFromIPC(new Uint8Array(await ar.arrayBuffer()));

      assert.deepEqual(
        table.schema.fields.map((f) => f.name),
        json.columns.map((c) => c.name),
      );
      assert.deepEqual(
        table.schema.fields.map((f) => String(f.type)),
        q.types,
      );
      for (const [i, f] of table.schema.fields.entries()) {
        assert.equal(f.nullable, true);
        assert.equal(f.metadata.get('stratum.type_oid'), String(json.columns[i]!.typeOid), f.name);
      }
      assert.equal(table.numRows, json.rows.length);
      assert.ok(json.rows.length > 0);
      const fromArrow = arrowRows(table);
      const fromJson = json.rows.map((row) => row.map((v, i) => jsonCmp(v, table.schema.fields[i]!.type)));
      assert.deepStrictEqual(fromArrow, fromJson);
    });
  }

  test('the JSON answer stays the default; errors stay JSON with their SQLSTATE', async () => {
    const plain = await post('SELECT 1 AS one', 'application/json, */*');
    assert.match(plain.headers.get('content-type') ?? '', /application\/json/);
    const lower = await post('SELECT 1 AS one', `${ARROW};q=0.2, application/json`);
    assert.match(lower.headers.get('content-type') ?? '', /application\/json/);
    const bad = await post('SELECT * FROM nope', ARROW);
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, '42P01');
    // A value Arrow cannot hold is refused before any byte of the stream is sent.
    const big = await post("SELECT interval '3000000 hours' AS iv", ARROW);
    assert.equal(big.status, 400);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, '22015');
  });
});

/** Every row of `table` in the comparable form, read with apache-arrow (see the module comment). */
function arrowRows(table: Table): Cmp[][] {
  const cols = table.schema.fields.map((f, i) => arrowColumn(table.getChildAt(i)!, f));
  return Array.from({ length: table.numRows }, (_, r) => cols.map((c) => c[r] as Cmp));
}

function arrowColumn(vec: Vector, field: Field): Cmp[] {
  const out: Cmp[] = [];
  for (const data of vec.data as Data[]) {
    const v = makeVector(data);
    for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? arrowCmp(field.type, v.get(i), data, i) : null);
  }
  return out;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function arrowCmp(type: DataType, value: unknown, data: Data, i: number): Cmp {
  switch (type.typeId) {
    case Type.Timestamp:
      // get() gives inexact epoch ms; the buffer holds the µs.
      return (data.values as BigInt64Array)[i]!;
    case Type.Date:
      return new Date(value as number).toISOString().slice(0, 10);
    case Type.Time:
      return value as bigint;
    case Type.Interval: {
      const [months, days, lo, hi] = value as Int32Array;
      return [months!, days!, ((BigInt(hi!) << 32n) | BigInt(lo! >>> 0)) / 1000n];
    }
    case Type.Binary:
      return `\\x${hex(value as Uint8Array)}`;
    case Type.FixedSizeBinary: {
      const h = hex(value as Uint8Array);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case Type.List:
      return [...(value as Vector)].map((e) => (e === null ? null : (e as Cmp)));
    default:
      // Bool, Int (Int64 as bigint), Float, Utf8
      return value as Cmp;
  }
}

/** µs since 1970-01-01 of PostgreSQL's ISO text of a timestamp (with or without an offset). */
function timestampMicros(text: string): bigint {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?)?$/.exec(text);
  assert.ok(m, `timestamp text ${text}`);
  const [, y, mo, d, h, mi, s, frac, sign, oh, om] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const offsetMin = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om ?? 0)) : 0;
  return BigInt(ms - offsetMin * 60_000) * 1000n + BigInt((frac ?? '').padEnd(6, '0'));
}

/** [months, days, µs] of an ISO 8601 interval as PostgreSQL prints it under IntervalStyle iso_8601. */
function isoInterval(text: string): Cmp {
  const m = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d+))?S)?)?$/.exec(text);
  assert.ok(m, `interval text ${text}`);
  const [, y, mo, d, h, mi, sign, s, frac] = m;
  const sec = BigInt(s ?? 0) * 1_000_000n + BigInt((frac ?? '').padEnd(6, '0'));
  return [
    Number(y ?? 0) * 12 + Number(mo ?? 0),
    Number(d ?? 0),
    BigInt(h ?? 0) * 3_600_000_000n + BigInt(mi ?? 0) * 60_000_000n + (sign === '-' ? -sec : sec),
  ];
}

/** Elements of a one-dimensional PostgreSQL array text of plain values (`{1,NULL,"NULL"}`). */
function arrayItems(text: string): (string | null)[] {
  assert.ok(text.startsWith('{') && text.endsWith('}'), text);
  const inner = text.slice(1, -1);
  if (inner === '') return [];
  return inner.split(',').map((e) => (e === 'NULL' ? null : e.replace(/^"(.*)"$/, '$1')));
}

/** A JSON answer's value in the comparable form for a column of Arrow type `type`. */
function jsonCmp(v: unknown, type: DataType): Cmp {
  if (v === null) return null;
  switch (type.typeId) {
    case Type.Int:
      return (type as DataType & { bitWidth: number }).bitWidth === 64 ? BigInt(v as number | string) : Number(v);
    case Type.Float:
      return (type as DataType & { precision: number }).precision === 1 ? Math.fround(v as number) : (v as number);
    case Type.Timestamp:
      return timestampMicros(v as string);
    case Type.Time: {
      const [h, mi, s] = (v as string).split(':') as [string, string, string];
      const [whole, frac = ''] = s.split('.');
      return BigInt(h) * 3_600_000_000n + BigInt(mi) * 60_000_000n + BigInt(whole!) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
    }
    case Type.Interval:
      return isoInterval(v as string);
    case Type.List: {
      const elem = (type as DataType & { children: Field[] }).children[0]!.type;
      return arrayItems(v as string).map((e) => (e === null ? null : jsonCmp(elem.typeId === Type.Utf8 ? e : Number(e), elem)));
    }
    default:
      // Bool, Utf8 (numeric, text, json), Binary ('\x…'), FixedSizeBinary (uuid text), Date ('YYYY-MM-DD')
      return v as Cmp;
  }
}
