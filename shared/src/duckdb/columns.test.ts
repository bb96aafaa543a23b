/**
 * The DuckDB forms of every column type (columns.ts) against a real DuckDB: stored values loaded
 * through the appender (raw → file → view form) and written as SQL literals (the missing values
 * of added columns) come back as the same stored values through result conversion (convert.ts),
 * for every scalar type and one-dimensional arrays of each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { numericTypmod } from '../catalog.ts';
import type { SqlType, Value } from '../types.ts';
import { columnCodec, loadValues, type ValueColumn, zoneComparable } from './columns.ts';
import { convertResult } from './convert.ts';
import { PG_SEMANTICS_SQL } from './index.ts';

/** Sample stored values per scalar type (typmod where it matters). */
const SAMPLES: { type: SqlType; typmod?: number; values: Value[] }[] = [
  { type: 'smallint', values: [-32768, 0, 32767] },
  { type: 'integer', values: [-2147483648, 7] },
  { type: 'bigint', values: [-(2n ** 63n), 2n ** 63n - 1n] },
  { type: 'real', values: [Math.fround(3.14), Number.NEGATIVE_INFINITY, Number.NaN] },
  { type: 'double', values: [0.1, Number.NaN, Number.POSITIVE_INFINITY, 1e-300] },
  { type: 'numeric', typmod: numericTypmod(10, 2), values: ['1.50', '-0.01', '99999999.99', '0.00'] },
  { type: 'numeric', typmod: numericTypmod(38, 38), values: ['0.12345678901234567890123456789012345678'] },
  { type: 'numeric', values: ['123456789012345678901234567890.5', '-0.000', 'NaN', '-Infinity'] },
  { type: 'text', values: ['', "a'b", '\u{1f600}x'] },
  { type: 'varchar', typmod: 8, values: ['abcd'] },
  { type: 'char', typmod: 7, values: ['ab '] },
  { type: 'boolean', values: [true, false] },
  // ±infinity: PostgreSQL's sentinels (types.ts TS_INFINITY, TS_NEG_INFINITY, DATE_INFINITY, DATE_NEG_INFINITY).
  { type: 'timestamp', values: [0n, -62_135_596_800_000_000n, 253_402_300_799_999_999n, 2n ** 63n - 1n, -(2n ** 63n)] },
  { type: 'timestamptz', values: [1n, -1n, 2n ** 63n - 1n, -(2n ** 63n)] },
  { type: 'date', values: [0, -719_162, 2_932_896, 2147483647, -2147483648] },
  { type: 'time', values: [0, 1, 86_400_000_000] },
  { type: 'interval', values: ['PT0S', 'P1Y2M3DT4H5M6.5S', 'P-1Y-2M3DT-4H-5M-6.25S', 'PT-0.000001S', 'P-178000000Y'] },
  { type: 'uuid', values: ['0190a6c2-1234-7abc-8def-0123456789ab'] },
  { type: 'json', values: ['{"a" : 1}', '[]', '"x"'] },
  { type: 'jsonb', values: ['{"a": 1, "b": [true, null]}'] },
  { type: 'bytea', values: [new Uint8Array([]), new Uint8Array([0, 255, 39])] },
];

/** Every sample type, and an array of it holding its values, a NULL, and an empty array. */
const CASES: { col: ValueColumn; values: Value[] }[] = SAMPLES.flatMap((s, i) => {
  const scalar: ValueColumn = { name: `c${i}`, type: s.type, ...(s.typmod !== undefined ? { typmod: s.typmod } : {}) };
  const array: ValueColumn = { ...scalar, name: `a${i}`, type: `${s.type}[]` as SqlType };
  return [
    { col: scalar, values: [...s.values, null] },
    { col: array, values: [s.values, [null, ...s.values.slice(0, 1)], [], null] },
  ];
});

function canon(v: Value | undefined): unknown {
  if (v === undefined) return '<undefined>';
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

describe('DuckDB column codecs', () => {
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  before(async () => {
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
    await conn.run(PG_SEMANTICS_SQL);
  });
  after(() => {
    conn.disconnectSync();
    db.closeSync();
  });

  it('loadValues: stored values → raw → file → view form → stored values, every type and its arrays', async () => {
    for (const { col, values } of CASES) {
      await loadValues(
        conn,
        't',
        [col],
        values.map((v) => [v]),
      );
      const r = await convertResult(await conn.run('SELECT * FROM t'));
      assert.deepEqual(
        r.rows.map((x) => canon(x[0])),
        values.map(canon),
        `${col.type} (${col.typmod ?? '-'})`,
      );
      await conn.run('DROP TABLE t');
    }
  });

  it('literal(v) in the file form, shown in the view form, is the stored value (missing values of added columns)', async () => {
    for (const { col, values } of CASES) {
      const codec = columnCodec(col.type, col.typmod);
      const sql = `SELECT ${values.map((v, i) => `${codec.toView(`(${codec.literal(v)})`)} AS "v${i}"`).join(', ')}`;
      const r = await convertResult(await conn.run(sql));
      assert.deepEqual((r.rows[0] ?? []).map(canon), values.map(canon), `${col.type}: ${sql}`);
    }
  });

  it('refuses values not of the column type, naming the column', async () => {
    await assert.rejects(
      loadValues(conn, 'bad', [{ name: 'n', type: 'integer' }], [[1], ['x']]),
      (e: { code?: string; message: string }) => e.code === '22P02' && /row 2 .*column "n"/.test(e.message),
    );
  });

  it('zoneComparable: DECIMAL values compare numerically; unordered types have no zone form', () => {
    const t = numericTypmod(10, 2);
    assert.equal(zoneComparable('15.05', 'numeric', t), 1505n);
    assert.equal(zoneComparable('-0.01', 'numeric', t), -1n);
    assert.equal(zoneComparable('1.5', 'numeric'), undefined);
    assert.equal(zoneComparable('P1D', 'interval'), undefined);
    assert.equal(zoneComparable([1], 'integer[]'), undefined);
    assert.equal(zoneComparable('x', 'text'), 'x');
  });
});
