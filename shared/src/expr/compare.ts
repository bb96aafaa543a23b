/**
 * Comparison of values, for the comparison operators, CASE, IN, GREATEST/LEAST and IS
 * DISTINCT FROM: PostgreSQL 15 §9.2 and each type's btree ordering (numbers numerically with
 * NaN above everything, text in the C collation = code point order, `character` ignoring
 * trailing spaces, booleans false < true, intervals by their 30-day-month span, arrays element
 * by element then by length, jsonb by its ordering rules of §8.14.4).
 */
import { DataError, SqlState } from '../errors.ts';
import { elementType, isArrayType, type ResultType, type ScalarType, compareValues as typesCompare, type Value } from '../types.ts';
import { numericCmp } from './numeric.ts';

/**
 * `s` without its trailing spaces: char(n)'s padding, which PostgreSQL ignores in comparisons
 * and drops on conversion to text (bpchar semantics). A scan from the end rather than a regular
 * expression, which tries a match at every space of the string (a sort of char(120) values
 * spent 3 % of its CPU there).
 */
export function trimPadding(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Compare two strings in the C collation (Unicode code point order = UTF-8 byte order). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral code points) sort above every BMP code point in code point order.
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function cmpNum(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpBig(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length < 0 ? -1 : a.length > b.length ? 1 : 0;
}

/** Hook for types whose comparison lives elsewhere (interval, jsonb): set by the modules that own them. */
export const typeComparators: Partial<Record<ScalarType, (a: Value, b: Value) => number>> = {};

/**
 * Compare two non-null values of the same type `t` (-1, 0, 1).
 * @throws DataError 42883 for types without an ordering (json).
 */
export function compareValues(a: Value, b: Value, t: ResultType): number {
  if (isArrayType(t)) return compareArrays(a as Value[], b as Value[], elementType(t));
  switch (t) {
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return cmpBig(a as number | bigint, b as number | bigint);
    case 'real':
    case 'double':
      return cmpNum(a as number, b as number);
    case 'numeric':
      return numericCmp(a as string, b as string);
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    case 'char':
      return compareText(trimPadding(a as string), trimPadding(b as string));
    case 'bytea':
      return cmpBytes(a as Uint8Array, b as Uint8Array);
    case 'text':
    case 'varchar':
    case 'uuid':
    case 'unknown':
      return compareText(a as string, b as string);
    default: {
      const c = typeComparators[t as ScalarType];
      if (c) return c(a, b);
      if (t === 'json') throw new DataError(SqlState.undefinedFunction, 'could not identify a comparison function for type json');
      return typesCompare(a, b, t);
    }
  }
}

/** Arrays: element by element (NULL elements above every value), then the shorter first. */
function compareArrays(a: Value[], b: Value[], t: ScalarType): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as Value;
    const y = b[i] as Value;
    if (x === null || y === null) {
      if (x === null && y === null) continue;
      return x === null ? 1 : -1;
    }
    const c = compareValues(x, y, t);
    if (c !== 0) return c;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/**
 * Compare values of two possibly different types that PostgreSQL compares with a cross-type
 * operator (int2/int4/int8, float4/float8, date/timestamp/timestamptz after conversion by the caller).
 */
export function compareMixed(a: Value, ta: ResultType, b: Value, tb: ResultType): number {
  if (ta === tb) return compareValues(a, b, ta);
  if (typeof a === 'number' && typeof b === 'number') return cmpNum(a, b);
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return cmpBig(a, b);
  if (typeof a === 'string' && typeof b === 'string') {
    if (ta === 'char' || tb === 'char') return compareText(trimPadding(a), trimPadding(b));
    return compareText(a, b);
  }
  return compareValues(a, b, ta);
}
