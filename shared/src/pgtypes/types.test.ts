/**
 * Unit and property tests of the type helpers other tiers use (no server): compareValues on each
 * type, the interval helpers, time zone offsets, the array parser, and round trips of the
 * stored representations. The differential test beside it (types.pg.test.ts) checks the same
 * rules against PostgreSQL 15 itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DataError, UnsupportedError } from '../errors.ts';
import {
  applyTypmod,
  coerceLiteral,
  compareValues,
  formatPgArray,
  formatValue,
  intervalParts,
  isValueOfType,
  makeInterval,
  parsePgArray,
  type SqlType,
  timeZoneOffsetMs,
  type Value,
  valuesEqual,
} from '../types.ts';

/** Values of `type` from text, in ascending btree order. */
function ascending(type: SqlType, texts: string[]): Value[] {
  return texts.map((t) => coerceLiteral(t, type));
}

function assertAscending(type: SqlType, texts: string[]): void {
  const vs = ascending(type, texts);
  for (let i = 0; i < vs.length; i++) {
    for (let j = 0; j < vs.length; j++) {
      assert.equal(compareValues(vs[i] as Value, vs[j] as Value, type), Math.sign(i - j), `${type}: ${texts[i]} vs ${texts[j]}`);
    }
  }
}

test('compareValues: each type in PostgreSQL btree order', () => {
  assertAscending('smallint', ['-32768', '-1', '0', '32767']);
  assertAscending('integer', ['-2147483648', '0', '7']);
  assertAscending('bigint', ['-9223372036854775808', '-1', '9223372036854775807']);
  assertAscending('double', ['-Infinity', '-1e300', '-5e-324', '0', '1.5', 'Infinity', 'NaN']);
  assertAscending('real', ['-Infinity', '1.5', 'Infinity', 'NaN']);
  assertAscending('numeric', ['-Infinity', '-1e20', '-0.001', '0', '0.5', '99.999999999999999999', '100', 'Infinity', 'NaN']);
  assertAscending('text', ['', 'A', 'B', 'a', 'ab', 'é', '\uffff', '😀']);
  assertAscending('varchar', ['', 'ab', 'abc', 'abd']);
  assertAscending('char', ['', 'a', 'ab', 'b']);
  assertAscending('boolean', ['false', 'true']);
  assertAscending('uuid', [
    '00000000-0000-0000-0000-000000000000',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    'ffffffff-0000-0000-0000-000000000000',
  ]);
  assertAscending('date', ['-infinity', '0001-01-01 BC', '1970-01-01', '2026-01-01', 'infinity']);
  assertAscending('time', ['00:00', '09:59:59.999999', '10:00', '24:00']);
  assertAscending('timestamp', ['-infinity', '0044-03-15 BC', '1970-01-01 00:00:00.000001', '2026-01-01', 'infinity']);
  assertAscending('timestamptz', ['2025-12-31 23:00Z', '2026-01-01 01:00+01', '2026-01-01 00:00:01Z']);
  assertAscending('interval', ['-1 day', '0', '1 day', '1 mon 1 microsecond', '1 year']);
  assertAscending('bytea', ['\\x', '\\x00', '\\x0000', '\\x00ff', '\\x01', '\\xff']);
  assertAscending('jsonb', [
    '[]',
    'null',
    '"a"',
    '"b"',
    '1',
    '2.5',
    'false',
    'true',
    '[null]',
    '["a"]',
    '[1]',
    '[[]]',
    '[1,2]',
    '{}',
    '{"a":1}',
    '{"a":2}',
    '{"aa":1}',
    '{"b":1}',
  ]);
  assertAscending('integer[]', ['{}', '{0,5}', '{1}', '{1,2}', '{1,NULL}', '{2}', '{NULL}']);
  assertAscending('text[]', ['{}', '{""}', '{a}', '{a,b}', '{b}', '{NULL}']);
});

test('compareValues: equal values of different text compare equal as PostgreSQL does', () => {
  const eq = (type: SqlType, a: string, b: string): void =>
    assert.ok(valuesEqual(coerceLiteral(a, type), coerceLiteral(b, type), type), `${type}: ${a} = ${b}`);
  eq('numeric', '1.5', '1.50');
  eq('numeric', '0', '-0.000');
  eq('numeric', 'NaN', 'nan');
  eq('double', '0', '-0');
  eq('double', 'NaN', 'NaN');
  eq('char', 'a', 'a   ');
  eq('interval', '1 mon', '30 days');
  eq('interval', '1 day', '24 hours');
  eq('timestamptz', '2026-01-01 01:00+01', '2026-01-01 00:00Z');
  eq('jsonb', '{"b":1,"a":[1.0]}', '{"a":[1.00],"b":1}');
  assert.ok(valuesEqual(null, null, 'integer'));
  assert.equal(compareValues(null, 1, 'integer'), 1, 'NULL sorts last');
  assert.equal(compareValues(1, null, 'integer'), -1);
});

test('compareValues is antisymmetric and transitive on random numerics and texts', () => {
  const numeric = fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 12 })).map(([d, s]) => {
    const t = (d < 0n ? -d : d).toString().padStart(s + 1, '0');
    return `${d < 0n ? '-' : ''}${s ? `${t.slice(0, -s)}.${t.slice(-s)}` : t}`;
  });
  fc.assert(
    fc.property(numeric, numeric, numeric, (a, b, c) => {
      const [x, y, z] = [a, b, c].map((t) => coerceLiteral(t, 'numeric')) as [Value, Value, Value];
      // `|| 0`: equal values give 0 both ways, and -0 is not 0 to a strict assert.
      assert.equal(compareValues(x, y, 'numeric'), -compareValues(y, x, 'numeric') || 0);
      assert.equal(compareValues(x, y, 'numeric'), Math.sign(Number(a) - Number(b)) || compareValues(x, y, 'numeric'));
      if (compareValues(x, y, 'numeric') <= 0 && compareValues(y, z, 'numeric') <= 0) assert.ok(compareValues(x, z, 'numeric') <= 0);
    }),
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      // C collation: the byte order of UTF-8.
      const bytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.equal(compareValues(a, b, 'text'), bytes);
    }),
  );
});

test('intervalParts and makeInterval are inverse, and makeInterval prints PostgreSQL iso_8601', () => {
  assert.deepEqual(intervalParts('P1Y2M3DT4H5M6.5S'), { months: 14, days: 3, micros: 14_706_500_000n });
  assert.deepEqual(intervalParts('PT0S'), { months: 0, days: 0, micros: 0n });
  assert.deepEqual(intervalParts('P-1Y-2MT-1.5S'), { months: -14, days: 0, micros: -1_500_000n });
  assert.equal(makeInterval({ months: -1, days: 1, micros: -1n }), 'P-1M1DT-0.000001S');
  fc.assert(
    fc.property(
      fc.integer({ min: -2147483648, max: 2147483647 }),
      fc.integer({ min: -2147483648, max: 2147483647 }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      (months, days, micros) => {
        const s = makeInterval({ months, days, micros });
        assert.deepEqual(intervalParts(s), { months, days, micros });
        assert.ok(isValueOfType(s, 'interval'), s);
      },
    ),
  );
});

test('timeZoneOffsetMs follows DST, local mean time and POSIX-style offsets', () => {
  const at = (s: string): number => Date.parse(s);
  assert.equal(timeZoneOffsetMs('Europe/Paris', at('2026-01-15T12:00:00Z')), 3_600_000);
  assert.equal(timeZoneOffsetMs('Europe/Paris', at('2026-07-15T12:00:00Z')), 7_200_000);
  assert.equal(timeZoneOffsetMs('America/New_York', at('2026-03-08T06:59:59Z')), -5 * 3_600_000);
  assert.equal(timeZoneOffsetMs('America/New_York', at('2026-03-08T07:00:00Z')), -4 * 3_600_000);
  assert.equal(timeZoneOffsetMs('Asia/Kolkata', at('2026-01-01T00:00:00Z')), 5.5 * 3_600_000);
  assert.equal(timeZoneOffsetMs('Europe/Paris', at('1800-01-01T00:00:00Z')), 561_000, 'Paris local mean time +00:09:21');
  assert.equal(timeZoneOffsetMs('UTC', 0), 0);
  assert.equal(timeZoneOffsetMs('UTC+8', 0), -8 * 3_600_000, 'POSIX: positive is west');
  assert.equal(timeZoneOffsetMs('+05:30', 0), -5.5 * 3_600_000);
  assert.equal(timeZoneOffsetMs('-3', 0), -3 * 3_600_000, 'a bare number of hours has the ISO sign');
  assert.throws(
    () => timeZoneOffsetMs('Mars/Olympus', 0),
    (e: unknown) => e instanceof DataError && e.code === '22023',
  );
});

test('timestamptz output in a session time zone', () => {
  const v = coerceLiteral('2026-07-01 12:00:00Z', 'timestamptz');
  assert.equal(formatValue(v, 'timestamptz'), '2026-07-01 12:00:00+00');
  assert.equal(formatValue(v, 'timestamptz', { timeZone: 'Europe/Paris' }), '2026-07-01 14:00:00+02');
  assert.equal(formatValue(v, 'timestamptz', { timeZone: 'Asia/Kolkata' }), '2026-07-01 17:30:00+05:30');
  assert.equal(formatValue(v, 'timestamptz', { timeZone: 'America/New_York', dateStyle: 'SQL, MDY' }), '07/01/2026 08:00:00 EDT');
  assert.equal(coerceLiteral('2026-07-01 14:00', 'timestamptz', { timeZone: 'Europe/Paris' }), v);
});

test('parsePgArray and formatPgArray round-trip any list of strings and nulls', () => {
  assert.deepEqual(parsePgArray('{1,"a b",NULL,"NULL",""}'), ['1', 'a b', null, 'NULL', '']);
  assert.throws(
    () => parsePgArray('{1,,2}'),
    (e: unknown) => e instanceof DataError && e.code === '22P02' && e.detail === 'Unexpected "," character.',
  );
  assert.throws(
    () => parsePgArray('{{1},{2}}'),
    (e: unknown) => e instanceof UnsupportedError && e.code === '0A000',
  );
  fc.assert(
    fc.property(fc.array(fc.option(fc.string(), { nil: null })), (items) => {
      assert.deepEqual(parsePgArray(formatPgArray(items)), items);
    }),
  );
});

test('stored representations pass isValueOfType; wrong shapes do not', () => {
  const ok: [SqlType, string][] = [
    ['numeric', '-1.50'],
    ['varchar', 'x'],
    ['char', 'x'],
    ['time', '10:00'],
    ['interval', '1 day'],
    ['json', '{"a":1}'],
    ['jsonb', '{"a":1}'],
    ['bytea', '\\x01'],
    ['uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'],
    ['integer[]', '{1,NULL}'],
    ['timestamptz[]', '{"2026-01-01 10:00"}'],
  ];
  for (const [t, s] of ok) assert.ok(isValueOfType(coerceLiteral(s, t), t), `${t} ${s}`);
  assert.ok(!isValueOfType('1.5.', 'numeric'));
  assert.ok(!isValueOfType('-0', 'numeric'));
  assert.ok(!isValueOfType(1.5, 'time'));
  assert.ok(!isValueOfType('1 day', 'interval'));
  assert.ok(!isValueOfType('x', 'bytea'));
  assert.ok(!isValueOfType([1, 'a'], 'integer[]'));
  assert.ok(!isValueOfType([[1]], 'integer[]'));
  assert.ok(!isValueOfType(70000, 'smallint'));
});

test('applyTypmod: explicit casts truncate, assignment refuses (PostgreSQL §8.3)', () => {
  assert.equal(applyTypmod('abcd', 'varchar', 3 + 4, true), 'abc');
  assert.throws(
    () => applyTypmod('abcd', 'varchar', 3 + 4),
    (e: unknown) => e instanceof DataError && e.code === '22001',
  );
  assert.equal(applyTypmod('ab', 'char', 4 + 4), 'ab  ');
  assert.equal(applyTypmod('1.005', 'numeric', ((5 << 16) | 2) + 4), '1.01');
  assert.equal(applyTypmod(1_500_000n, 'timestamp', 0), 2_000_000n);
  assert.equal(applyTypmod(-1_500_000n, 'timestamp', 0), -2_000_000n);
});
