/**
 * The binary formats against the SQL layer's text I/O (no servers): a stored value printed by
 * `formatValue`, encoded to binary, decoded back to text and read by `coerceLiteral` is the same
 * value, for every Stratum type, under default and non-default session settings.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coerceLiteral, formatValue, pgTypeOid, type SqlType, type Value } from '@stratum/shared';
import { decodeBinaryParam, encodeBinaryValue, type TextSettings } from './binary-format.ts';

const VALUES: [SqlType, Value[]][] = [
  ['smallint', [-32768, 0, 32767]],
  ['integer', [-2147483648, 7]],
  ['bigint', [-(2n ** 63n), 2n ** 63n - 1n]],
  ['real', [Math.fround(0.1), -0, 3.4028234663852886e38, Number.NaN, -Infinity]],
  ['double', [0.1, 1e100, 5e-324, Infinity]],
  ['numeric', ['0', '12.50', '-0.0001230', 'NaN', 'Infinity', '123456789012345678901234567890.000000001']],
  ['text', ['', 'grüße 😀', 'a\tb\nc']],
  ['varchar', ['v']],
  ['char', ['ab   ']],
  ['boolean', [true, false]],
  ['timestamp', [0n, 1_704_164_645_123_456n, -62_135_596_800_000_000n, 2n ** 63n - 1n]],
  ['timestamptz', [1_704_164_645_500_000n, -(2n ** 63n)]],
  ['date', [0, 19_782, -719_528, 2147483647]],
  ['time', [0, 45_296_500_000, 86_400_000_000]],
  ['interval', ['P1Y2M3DT4H5M6.5S', 'PT0S', 'P-1DT2H', 'PT-1S', 'P1M-1D']],
  ['uuid', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']],
  ['json', ['{"b": 1, "a": [1, 2]}']],
  ['jsonb', ['{"a": [1, 2], "b": 1}']],
  ['bytea', [new Uint8Array([0, 255, 16]), new Uint8Array(0)]],
  ['integer[]', [[1, null, 3], []]],
  ['text[]', [['a b', '', null, 'NULL', 'x"y', 'back\\slash']]],
  ['numeric[]', [['1.5', 'NaN']]],
  ['timestamptz[]', [[1_704_164_645_500_000n, null]]],
  ['interval[]', [['P1D', 'PT-1S']]],
  ['bytea[]', [[new Uint8Array([0, 255])]]],
  ['jsonb[]', [['{"a": 1}']]],
  ['boolean[]', [[true, null]]],
];

const SETTINGS: TextSettings[] = [
  {},
  { dateStyle: 'German, DMY', timeZone: 'Europe/Paris', intervalStyle: 'sql_standard' },
  { dateStyle: 'SQL, MDY', intervalStyle: 'iso_8601' },
  { dateStyle: 'Postgres, DMY', timeZone: 'America/New_York', intervalStyle: 'postgres_verbose' },
];

const same = (a: Value, b: Value) =>
  typeof a === 'number' && Number.isNaN(a) ? typeof b === 'number' && Number.isNaN(b) : assert.deepEqual(b, a) === undefined;

describe('binary formats and the SQL layer’s text', () => {
  for (const [type, values] of VALUES) {
    test(type, () => {
      const oid = pgTypeOid(type);
      for (const settings of SETTINGS) {
        for (const v of values) {
          const text = formatValue(v, type, settings) as string;
          const binary = encodeBinaryValue(oid, text, settings);
          const decoded = decodeBinaryParam(oid, binary);
          // Decoded text is ISO / postgres style, which the SQL layer reads under any setting.
          const back = coerceLiteral(decoded, type, settings);
          assert.ok(
            same(v, back),
            `${type} ${String(v)} via ${JSON.stringify(text)} → ${JSON.stringify(decoded)} under ${JSON.stringify(settings)}`,
          );
        }
      }
    });
  }
});
