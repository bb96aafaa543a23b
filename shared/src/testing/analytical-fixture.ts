/**
 * The tables of the analytical differential tests (analytical-cases.ts): the same rows are loaded
 * into PostgreSQL 15 and into Stratum (or a DuckDB with the analytical tier's settings, under the
 * column types the OLAP tier gives them). Each row is a tuple of SQL literals PostgreSQL, Stratum
 * and DuckDB read the same way.
 */
import type { SqlType } from '../types.ts';

/** A fixture table: columns (name, PostgreSQL type as declared, Stratum type, typmod) and rows. */
export interface FixtureTable {
  name: string;
  columns: { name: string; pg: string; type: SqlType; typmod?: number }[];
  rows: string[];
}

const numeric = (p: number, s: number): number => ((p << 16) | s) + 4;

/** Every fixture table. */
export const ANALYTICAL_FIXTURE: readonly FixtureTable[] = [
  {
    // Integers with zeros, NULLs and the type limits; halves for rounding; numerics and floats.
    name: 'nums',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 'a', pg: 'integer', type: 'integer' },
      { name: 'b', pg: 'integer', type: 'integer' },
      { name: 's', pg: 'smallint', type: 'smallint' },
      { name: 'g', pg: 'bigint', type: 'bigint' },
      { name: 'n', pg: 'numeric(12,4)', type: 'numeric', typmod: numeric(12, 4) },
      { name: 'f', pg: 'double precision', type: 'double' },
      { name: 'r', pg: 'real', type: 'real' },
    ],
    rows: [
      '(1, 7, 2, 3, 10, 2.5, 2.5, 1.5)',
      '(2, -7, 2, -3, -10, -2.5, -2.5, -0.5)',
      '(3, 7, -2, 0, 0, 0.125, 0.5, 2.5)',
      '(4, 0, 0, 32767, 9223372036854775807, 12345678.1234, 1e15, 1e6)',
      '(5, NULL, 3, -32768, -9223372036854775808, -0.0001, -1.5, 0.1)',
      '(6, 2147483647, 1, 1, 4611686018427387904, 3.5, 3.5, 3.5)',
      '(7, -2147483648, -1, NULL, NULL, NULL, NULL, NULL)',
      '(8, 5, NULL, 2, 3, 1, 0.1, 1234567)',
      '(9, 1, 3, 7, 1000000, 99999999.9999, 1e-7, 0)',
      '(10, 100, 7, 10, 7, 0, 0, -2.5)',
    ],
  },
  {
    // Text with unicode, empty strings, spaces, NULLs. The PostgreSQL columns use the C.utf8
    // collation: code point order (as DuckDB sorts) with Unicode case mapping (as DuckDB and the
    // row tiers' evaluator map case), where the harness's default C locale maps ASCII only.
    name: 'strs',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 't', pg: 'text COLLATE "C.utf8"', type: 'text' },
      { name: 'v', pg: 'varchar(20) COLLATE "C.utf8"', type: 'varchar', typmod: 24 },
      { name: 'k', pg: 'integer', type: 'integer' },
    ],
    rows: [
      "(1, 'hello world', 'abc', 1)",
      "(2, 'Zoë über straße', 'ÄÖÜ', 2)",
      "(3, '', '', 0)",
      '(4, NULL, NULL, NULL)',
      "(5, '  padded  ', 'x y z', -1)",
      "(6, 'a,b,,c', 'a-b-c', 3)",
      "(7, '🙂 smile 🙂', 'ab🙂cd', 5)",
      "(8, 'MiXeD CaSe wOrDs', 'o''brien', 10)",
      "(9, 'tab\there', 'line', -3)",
      "(10, 'abcabcabc', 'aaa', 2)",
    ],
  },
  {
    // Timestamps, dates and intervals (before and after the epoch, leap days, month ends).
    name: 'times',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 'ts', pg: 'timestamp', type: 'timestamp' },
      { name: 'tz', pg: 'timestamptz', type: 'timestamptz' },
      { name: 'd', pg: 'date', type: 'date' },
      { name: 'iv', pg: 'interval', type: 'interval' },
    ],
    rows: [
      "(1, '2024-02-29 13:45:30.123456', '2024-02-29 13:45:30.123456+00', '2024-02-29', '1 day 02:03:04')",
      "(2, '1969-12-31 23:59:59', '1969-12-31 23:59:59-05', '1969-12-31', '-3 days')",
      "(3, '2000-01-01 00:00:00', '2000-01-01 00:00:00+05:30', '2000-01-01', '1 year 2 months 3 days')",
      "(4, '2023-12-31 23:59:59.999999', '2023-12-31 23:59:59.999999+00', '2023-12-31', '00:00:00.5')",
      '(5, NULL, NULL, NULL, NULL)',
      "(6, '2021-01-31 08:00:00', '2021-01-31 08:00:00+00', '2021-01-31', '36 hours')",
      "(7, '1900-03-01 12:00:00', '1900-03-01 12:00:00+00', '1900-03-01', '-1 months 2 days -1 seconds')",
      "(8, '2024-07-04 00:00:00', '2024-07-04 00:00:00-07', '2024-07-04', '45 minutes')",
    ],
  },
  {
    // Booleans, arrays, json.
    name: 'misc',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 'flag', pg: 'boolean', type: 'boolean' },
      { name: 'ia', pg: 'integer[]', type: 'integer[]' },
      { name: 'ta', pg: 'text[]', type: 'text[]' },
      { name: 'j', pg: 'jsonb', type: 'jsonb' },
    ],
    rows: [
      `(1, true, ARRAY[1, 2, 3], ARRAY['a', 'b'], '{"a": 1, "b": [1, 2], "c": {"d": "x"}}')`,
      `(2, false, ARRAY[10, NULL, 30], ARRAY['x y', 'z'], '{"a": 2, "b": [], "c": {"d": "y"}}')`,
      `(3, NULL, ARRAY[]::integer[], ARRAY[]::text[], '[1, "two", null]')`,
      `(4, true, NULL, NULL, NULL)`,
      `(5, false, ARRAY[5], ARRAY['comma,here', 'quote"d', ''], '{"a": null, "e": true}')`,
      `(6, true, ARRAY[-1, 0, 1], ARRAY['NULL', 'ü'], '"just text"')`,
    ],
  },
  {
    // Unconstrained numerics (DuckDB holds their text): own scales, a value beyond DECIMAL(18),
    // NaN and infinities (column x), arrays. char(n) values compare without trailing spaces.
    name: 'unums',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 'n', pg: 'numeric', type: 'numeric' },
      { name: 'm', pg: 'numeric', type: 'numeric' },
      { name: 'x', pg: 'numeric', type: 'numeric' },
      { name: 'na', pg: 'numeric[]', type: 'numeric[]' },
      { name: 'w', pg: 'numeric(50,4)', type: 'numeric', typmod: numeric(50, 4) },
    ],
    rows: [
      "(1, 3.14159, 2, 'NaN', ARRAY[1.10, -2], 1.5)",
      "(2, -0.000012300, 0.5, 'Infinity', ARRAY[]::numeric[], -2)",
      "(3, 10, 3, '-Infinity', NULL, 12345678901234567890123456789012345678901234.5)",
      '(4, 9, 9.000, 0, ARRAY[NULL, 0.001], 0)',
      '(5, 2.50, -1.5, -1.5, ARRAY[100], 10)',
      '(6, 100.0, 100, 100.00, ARRAY[3.0, 3], NULL)',
      '(7, NULL, 1, NULL, ARRAY[NULL]::numeric[], 9.9999)',
      '(8, 0, -0.25, 2, ARRAY[-0.5], -0.0001)',
      '(9, -1.5, 4, 10, ARRAY[2.50], 100)',
      '(10, 12345678901234567890.123, 7, 9.5, ARRAY[1e-3], 3)',
    ],
  },
  {
    name: 'chars',
    columns: [
      { name: 'id', pg: 'integer', type: 'integer' },
      { name: 'c', pg: 'char(4) COLLATE "C.utf8"', type: 'char', typmod: 8 },
      { name: 'd', pg: 'char(6) COLLATE "C.utf8"', type: 'char', typmod: 10 },
      { name: 't', pg: 'text COLLATE "C.utf8"', type: 'text' },
    ],
    rows: [
      "(1, 'x', 'x', 'x')",
      "(2, 'ab', 'ab ', 'ab')",
      "(3, '', '', '')",
      '(4, NULL, NULL, NULL)',
      "(5, 'x y', 'b', 'x y ')",
      "(6, 'abcd', 'abcd', 'abc')",
      "(7, ' a', ' a', ' a')",
      "(8, 'ab', 'x', 'ab  ')",
    ],
  },
];
