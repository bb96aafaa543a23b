/**
 * Arrow IPC results (arrow.ts): property-based round trips of every result type through
 * encodeArrowStream/decodeArrowStream (NULLs, empty results, several batches), and apache-arrow's
 * own reader (`tableFromIPC`) on what we write: the Arrow types are the documented ones and the
 * values mean what the stored representation means. Refusals of bad input carry their SQLSTATE.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Data,
  type DataType,
  Field,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  type Table,
  tableFromArrays,
  tableFromIPC,
  tableToIPC,
} from 'apache-arrow';
import fc from 'fast-check';
import { type ArrowQueryResult, decodeArrowStream, encodeArrowStream } from './arrow.ts';
import { StratumError } from './errors.ts';
import type { QueryResult } from './tiers.ts';
import {
  canonicalJsonb,
  coerceLiteral,
  formatNumeric,
  intervalParts,
  makeInterval,
  PG_TYPE_OID,
  parseNumeric,
  type ResultType,
  type ScalarType,
  TS_INFINITY,
  TS_NEG_INFINITY,
  type Value,
} from './types.ts';

const SCALARS = Object.keys(PG_TYPE_OID).filter((t) => t !== 'unknown') as ScalarType[];
const ALL_TYPES: ResultType[] = [...SCALARS, 'unknown', ...SCALARS.map((t) => `${t}[]` as ResultType)];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Largest |µs| of an interval's time part that Arrow's MonthDayNano holds (2^63 − 1 ns). */
const MAX_INTERVAL_US = INT64_MAX / 1000n;

/** Stored-representation values of each scalar type (types.ts), edge values included. */
function scalarArb(t: ScalarType | 'unknown'): fc.Arbitrary<Value> {
  switch (t) {
    case 'smallint':
      return fc.integer({ min: -32768, max: 32767 });
    case 'integer':
      return fc.integer();
    case 'bigint':
      return fc.bigInt({ min: INT64_MIN, max: INT64_MAX });
    case 'real':
      return fc.float();
    case 'double':
      return fc.double();
    case 'numeric':
      return fc.oneof(
        fc.constantFrom('NaN', 'Infinity', '-Infinity', '0.00'),
        fc
          .tuple(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), fc.nat({ max: 30 }))
          .map(([d, scale]) => formatNumeric(parseNumeric(`${d}e-${scale}`))),
      );
    case 'text':
    case 'varchar':
    case 'unknown':
      return fc.string({ unit: 'binary' });
    case 'char':
      return fc.tuple(fc.string({ unit: 'grapheme' }), fc.nat({ max: 5 })).map(([s, pad]) => s + ' '.repeat(pad));
    case 'boolean':
      return fc.boolean();
    case 'timestamp':
    case 'timestamptz':
      return fc.oneof(fc.constantFrom(TS_INFINITY, TS_NEG_INFINITY), fc.bigInt({ min: -211813488000000000n, max: 9223371331200000000n }));
    case 'date':
      return fc.integer();
    case 'time':
      return fc.integer({ min: 0, max: 86_400_000_000 });
    case 'interval':
      return fc
        .record({
          months: fc.integer(),
          days: fc.integer(),
          micros: fc.bigInt({ min: -MAX_INTERVAL_US, max: MAX_INTERVAL_US }),
        })
        .map(makeInterval);
    case 'uuid':
      return fc.uuid();
    case 'json':
      return fc.json();
    case 'jsonb':
      return fc.json().map((j) => canonicalJsonb(j));
    case 'bytea':
      return fc.uint8Array({ maxLength: 40 });
  }
}

function valueArb(t: ResultType): fc.Arbitrary<Value> {
  const v =
    t !== 'unknown' && t.endsWith('[]')
      ? fc.array(fc.option(scalarArb(t.slice(0, -2) as ScalarType), { nil: null, freq: 4 }), { maxLength: 6 })
      : scalarArb(t as ScalarType);
  return fc.option(v, { nil: null, freq: 4 });
}

/** A result with the given column types and 0–40 random rows. */
function resultArb(types: ResultType[]): fc.Arbitrary<QueryResult> {
  return fc
    .array(fc.tuple(...types.map(valueArb)), { maxLength: 40 })
    .map((rows) => ({ columns: types.map((type, i) => ({ name: `c${i}_${type}`, type })), rows: rows.map((r) => [...r]) }));
}

test('every result type round-trips exactly, NULLs and edge values included, in one or many batches', () => {
  for (const t of ALL_TYPES) {
    fc.assert(
      fc.property(resultArb([t, 'integer']), fc.integer({ min: 1, max: 8 }), (r, batchRows) => {
        assert.deepStrictEqual(decodeArrowStream(encodeArrowStream(r, { batchRows })), r);
      }),
      { numRuns: 40 },
    );
  }
});

test('a result with every type at once round-trips, and tableFromIPC sees one batch per batchRows rows', () => {
  fc.assert(
    fc.property(resultArb(ALL_TYPES), fc.integer({ min: 1, max: 12 }), (r, batchRows) => {
      const bytes = encodeArrowStream(r, { batchRows });
      assert.deepStrictEqual(decodeArrowStream(bytes), r);
      const t = tableFromIPC(bytes);
      assert.equal(t.numRows, r.rows.length);
      // (a stream without batches reads as one empty placeholder batch)
      assert.equal(t.batches.filter((b) => b.numRows > 0).length, Math.ceil(r.rows.length / batchRows));
      for (const b of t.batches) assert.ok(b.numRows <= batchRows);
    }),
    { numRuns: 30 },
  );
});

test('empty results: no rows (schema only), no columns, and a default batch of 65,536 rows', () => {
  const empty: QueryResult = {
    columns: [
      { name: 'a', type: 'integer' },
      { name: 'b', type: 'text[]' },
    ],
    rows: [],
  };
  const bytes = encodeArrowStream(empty);
  assert.deepStrictEqual(decodeArrowStream(bytes), empty);
  const t = tableFromIPC(bytes);
  assert.equal(t.numRows, 0);
  assert.deepEqual(
    t.schema.fields.map((f) => f.name),
    ['a', 'b'],
  );

  const noColumns: QueryResult = { columns: [], rows: [[], [], []] };
  assert.deepStrictEqual(decodeArrowStream(encodeArrowStream(noColumns)), noColumns);
  assert.equal(tableFromIPC(encodeArrowStream(noColumns)).numRows, 3);
  const nothing: QueryResult = { columns: [], rows: [] };
  assert.deepStrictEqual(decodeArrowStream(encodeArrowStream(nothing)), nothing);

  const many: QueryResult = {
    columns: [{ name: 'n', type: 'smallint' }],
    rows: Array.from({ length: 65_537 }, (_, i) => [i % 3 === 0 ? null : i % 30_000]),
  };
  const mb = encodeArrowStream(many);
  assert.deepEqual(
    tableFromIPC(mb).batches.map((b) => b.numRows),
    [65_536, 1],
  );
  assert.deepStrictEqual(decodeArrowStream(mb), many);
});

test('notices, scan counts, duplicate column names and a reported type OID survive', () => {
  const r: ArrowQueryResult = {
    columns: [
      { name: 'x', type: 'text', typeOid: 19 },
      { name: 'x', type: 'bigint' },
    ],
    rows: [
      ['pg_class', 1n],
      [null, null],
    ],
    notices: ['read below bounded_staleness', 'ünïcode'],
    scan: { filesTotal: 7, filesOpened: 2 },
  };
  const bytes = encodeArrowStream(r);
  assert.deepStrictEqual(decodeArrowStream(bytes), r);
  // The schema message as written (apache-arrow's Table and RecordBatch merge fields of one name).
  const reader = RecordBatchReader.from(bytes);
  reader.open({ autoDestroy: false });
  assert.deepEqual(
    reader.schema.fields.map((f) => [f.name, String(f.type), f.metadata.get('stratum.type_oid')]),
    [
      ['x', 'Utf8', '19'],
      ['x', 'Int64', '20'],
    ],
  );
});

test('a Buffer for bytea comes back as a plain Uint8Array with the same bytes', () => {
  const r = decodeArrowStream(encodeArrowStream({ columns: [{ name: 'b', type: 'bytea' }], rows: [[Buffer.from('hi\u0000')]] }));
  assert.deepStrictEqual(r.rows, [[new Uint8Array([0x68, 0x69, 0])]]);
});

/** The documented Arrow type of each result type (docs/architecture.md "Arrow results"), as apache-arrow prints it. */
const DOCUMENTED: Record<ScalarType | 'unknown', string> = {
  boolean: 'Bool',
  smallint: 'Int16',
  integer: 'Int32',
  bigint: 'Int64',
  real: 'Float32',
  double: 'Float64',
  numeric: 'Utf8',
  text: 'Utf8',
  varchar: 'Utf8',
  char: 'Utf8',
  unknown: 'Utf8',
  json: 'Utf8',
  jsonb: 'Utf8',
  bytea: 'Binary',
  uuid: 'FixedSizeBinary[16]',
  date: 'Date32<DAY>',
  time: 'Time64<MICROSECOND>',
  timestamp: 'Timestamp<MICROSECOND>',
  timestamptz: 'Timestamp<MICROSECOND, UTC>',
  interval: 'Interval<MONTH_DAY_NANO>',
};
const EXTENSION: Partial<Record<ScalarType, string>> = { uuid: 'arrow.uuid', json: 'arrow.json', jsonb: 'arrow.json' };

test('tableFromIPC reads the documented Arrow types, nullable fields and extension names', () => {
  const bytes = encodeArrowStream({ columns: ALL_TYPES.map((type, i) => ({ name: `c${i}`, type })), rows: [] });
  const t = tableFromIPC(bytes);
  assert.equal(t.schema.fields.length, ALL_TYPES.length);
  t.schema.fields.forEach((f, i) => {
    const type = ALL_TYPES[i]!;
    const elem = (type.endsWith('[]') ? type.slice(0, -2) : type) as ScalarType;
    const inner: Field = type.endsWith('[]') ? (f.type as DataType & { children: Field[] }).children[0]! : f;
    assert.equal(String(f.type), type.endsWith('[]') ? `List<${DOCUMENTED[elem]}>` : DOCUMENTED[elem], type);
    assert.equal(f.nullable, true, type);
    assert.equal(inner.nullable, true, type);
    assert.equal(f.metadata.get('stratum.type'), JSON.stringify(type));
    assert.equal(inner.metadata.get('ARROW:extension:name'), EXTENSION[elem], type);
    if (type.endsWith('[]')) assert.equal(inner.name, 'item');
  });
});

/** Column `name` of `t` as apache-arrow reads it: its first batch's buffers, for exact 64-bit values. */
function raw(t: Table, name: string) {
  const v = t.getChild(name)!;
  return { get: (i: number) => v.get(i), values: v.data[0]!.values as unknown as ArrayLike<number | bigint> };
}

test('apache-arrow reads the values we write with their documented meaning', () => {
  const texts: Record<string, (string | null)[]> = {
    ts: ['2024-02-29 12:34:56.789012', '1969-12-31 23:59:59.999999', 'infinity', null],
    tz: ['2024-02-29 12:34:56.789012+02', '0044-03-15 12:00:00+00 BC', '-infinity', null],
    d: ['2024-02-29', '1900-01-01', '0044-03-15 BC', null],
    tm: ['12:34:56.789012', '00:00:00', '24:00:00', null],
    // The second is the longest time part MonthDayNano holds: 2^63 − 1 ns, rounded down to µs.
    iv: ['1 year 2 months -3 days 04:05:06.000007', '-2562047:47:16.854775', '0', null],
    u: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', null],
    b: ['\\x00ff10', '\\x', 'abc', null],
    n: ['3.14159265358979323846264338327950288', 'NaN', '-0.0010', null],
    ia: ['{1,NULL,-3}', '{}', '{2147483647}', null],
    f4: ['3.4028235e38', '-0', 'NaN', null],
  };
  const types: Record<string, ResultType> = {
    ts: 'timestamp',
    tz: 'timestamptz',
    d: 'date',
    tm: 'time',
    iv: 'interval',
    u: 'uuid',
    b: 'bytea',
    n: 'numeric',
    ia: 'integer[]',
    f4: 'real',
  };
  const names = Object.keys(texts);
  const r: QueryResult = {
    columns: names.map((name) => ({ name, type: types[name]! })),
    rows: [0, 1, 2, 3].map((i) => names.map((n) => (texts[n]![i] === null ? null : coerceLiteral(texts[n]![i]!, types[n] as never)))),
  };
  const t = tableFromIPC(encodeArrowStream(r));
  const stored = (name: string, i: number) => r.rows[i]![names.indexOf(name)]!;

  // Timestamps: int64 µs since 1970-01-01 (the zone is UTC); apache-arrow's get() gives epoch ms.
  for (const c of ['ts', 'tz']) {
    const col = raw(t, c);
    for (let i = 0; i < 3; i++) assert.equal(col.values[i], stored(c, i));
    assert.equal(col.get(3), null);
  }
  assert.equal(Math.floor(raw(t, 'ts').get(0)), Date.parse('2024-02-29T12:34:56.789Z'));
  assert.equal(Math.floor(raw(t, 'ts').get(1)), Date.parse('1969-12-31T23:59:59.999Z'));
  assert.equal(Math.floor(raw(t, 'tz').get(0)), Date.parse('2024-02-29T12:34:56.789+02:00'));
  assert.equal(raw(t, 'ts').values[2], TS_INFINITY);
  assert.equal(raw(t, 'tz').values[2], TS_NEG_INFINITY);
  // Dates: days since the epoch; get() gives that day's midnight in epoch ms.
  assert.equal(raw(t, 'd').get(0), Date.parse('2024-02-29T00:00:00Z'));
  assert.equal(raw(t, 'd').get(1), Date.parse('1900-01-01T00:00:00Z'));
  assert.equal(raw(t, 'd').values[2], stored('d', 2));
  // Time: µs since midnight as int64.
  for (let i = 0; i < 3; i++) assert.equal(raw(t, 'tm').get(i), BigInt(stored('tm', i) as number));
  assert.equal(raw(t, 'tm').get(2), BigInt(Date.UTC(1970, 0, 2)) * 1000n);
  // Interval: [months, days, nanos low, nanos high].
  for (let i = 0; i < 3; i++) {
    const p = intervalParts(stored('iv', i) as string);
    const [months, days, lo, hi] = raw(t, 'iv').get(i) as Int32Array;
    assert.deepEqual([months, days], [p.months, p.days]);
    assert.equal((BigInt(hi!) << 32n) | BigInt(lo! >>> 0), p.micros * 1000n);
  }
  // uuid: the 16 bytes in text order.
  for (let i = 0; i < 3; i++) {
    assert.equal(Buffer.from(raw(t, 'u').get(i) as Uint8Array).toString('hex'), (stored('u', i) as string).replaceAll('-', ''));
  }
  for (let i = 0; i < 3; i++) assert.deepEqual(raw(t, 'b').get(i), stored('b', i));
  for (let i = 0; i < 4; i++) assert.equal(raw(t, 'n').get(i), texts.n![i] === null ? null : stored('n', i));
  for (let i = 0; i < 3; i++) assert.deepEqual([...raw(t, 'ia').get(i)], stored('ia', i));
  assert.equal(raw(t, 'ia').get(3), null);
  assert.equal(raw(t, 'f4').get(0), stored('f4', 0));
  assert.ok(Object.is(raw(t, 'f4').get(1), -0));
  assert.ok(Number.isNaN(raw(t, 'f4').get(2)));
});

function assertStratumError(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StratumError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

test('bytes that are not a Stratum Arrow stream are refused with 22P03', () => {
  const good = encodeArrowStream({ columns: [{ name: 'a', type: 'integer' }], rows: [[1], [2]] });
  assertStratumError(() => decodeArrowStream(new Uint8Array(0)), '22P03', /no bytes/);
  assertStratumError(() => decodeArrowStream(new TextEncoder().encode('{"rows": []}')), '22P03', /not Arrow IPC/);
  assertStratumError(() => decodeArrowStream(good.subarray(0, good.length - 20)), '22P03', /not Arrow IPC/);
  // Another writer's stream: no stratum.type.
  const foreign = tableToIPC(tableFromArrays({ a: Int32Array.from([1, 2]) }), 'stream');
  assertStratumError(() => decodeArrowStream(foreign), '22P03', /field 1 \("a"\) has no "stratum.type"/);
  // A field whose Arrow type is not the one its stratum.type maps to, and an unknown type.
  const int32 = makeData({ type: new Int32(), length: 1, data: new Int32Array([1]) });
  const liar = streamOf([new Field('a', new Int32(), true, new Map([['stratum.type', '"bigint"']]))], [int32], 1);
  assertStratumError(() => decodeArrowStream(liar), '22P03', /of type bigint is Arrow Int32, expected Int64/);
  const money = streamOf([new Field('a', new Int32(), true, new Map([['stratum.type', '"money"']]))], [int32], 1);
  assertStratumError(() => decodeArrowStream(money), '22P03', /unknown type "money"/);
});

/** An Arrow IPC stream of one record batch, written by apache-arrow. */
function streamOf(fields: Field[], children: Data[], length: number): Uint8Array {
  const schema = new Schema(fields);
  const w = new RecordBatchStreamWriter();
  w.reset(undefined, schema);
  w.write(new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children })));
  w.finish();
  return w.toUint8Array(true);
}

test('values that cannot be encoded are refused, naming the column and row', () => {
  const enc = (type: ResultType, v: Value) => () => encodeArrowStream({ columns: [{ name: 'c', type }], rows: [[v]] });
  assertStratumError(
    enc('interval', makeInterval({ months: 0, days: 0, micros: MAX_INTERVAL_US + 1n })),
    '22015',
    /does not fit Arrow Interval\(MONTH_DAY_NANO\)/,
  );
  assertStratumError(enc('timestamp', 5), 'XX000', /column "c" \(timestamp\), row 1, .*expected µs/);
  assertStratumError(enc('integer', 2 ** 31), 'XX000', /expected an integer number/);
  assertStratumError(enc('real', 0.1), 'XX000', /exact in float4/);
  assertStratumError(enc('uuid', 'not-a-uuid'), 'XX000', /uuid/);
  assertStratumError(enc('text[]', ['a', 1]), 'XX000', /array element 2/);
  assertStratumError(() => encodeArrowStream({ columns: [], rows: [] }, { batchRows: 0 }), '22023', /batchRows/);
  assertStratumError(
    () => encodeArrowStream({ columns: [{ name: 'c', type: 'text' }], rows: [[]] }),
    'XX000',
    /row 1 has 0 values for 1 columns/,
  );
});
