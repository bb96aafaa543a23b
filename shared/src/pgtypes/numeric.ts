/**
 * `numeric`: PostgreSQL's arbitrary-precision decimal (PostgreSQL 15 §8.1.2 "Arbitrary
 * Precision Numbers"; `numeric_in`, `numeric_out` and `apply_typmod` in
 * src/backend/utils/adt/numeric.c). The stored representation is PostgreSQL's text of the
 * value, keeping its display scale ('1.50', '-0.001', 'NaN', 'Infinity'); this module parses
 * that text into a {@link Decimal} (an unscaled BigInt and a scale) for rounding and comparison.
 */
import { DataError, SqlState } from '../errors.ts';

/** A finite numeric: value = (neg ? -1 : 1) × digits × 10^-scale; `scale` ≥ 0 is the display scale (dscale). */
export interface Decimal {
  neg: boolean;
  /** Absolute unscaled value. */
  digits: bigint;
  /** Digits after the decimal point (PostgreSQL's dscale), 0…16383. */
  scale: number;
}

/** A numeric value: finite, or one of PostgreSQL's special values. */
export type NumericValue = Decimal | 'NaN' | 'Infinity' | '-Infinity';

/** Largest display scale PostgreSQL stores (NUMERIC_DSCALE_MAX). */
const DSCALE_MAX = 0x3fff;
/** Most digits before the decimal point (NUMERIC_WEIGHT_MAX + 1 groups of 4 digits). */
const INT_DIGITS_MAX = 131072;

const NUMERIC_RE = /^[ \t\n\r\v\f]*([+-])?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?[ \t\n\r\v\f]*$/;
const SPECIAL_RE = /^[ \t\n\r\v\f]*(?:(nan)|([+-])?(inf|infinity))[ \t\n\r\v\f]*$/i;

function badNumeric(s: string, suffix: string): DataError {
  return new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${s}"${suffix}`);
}

function overflowsFormat(suffix: string): DataError {
  return new DataError(SqlState.numericValueOutOfRange, `value overflows numeric format${suffix}`);
}

/**
 * Parse PostgreSQL numeric input: optional sign, digits with an optional point, an optional
 * exponent (`1.5e3` = 1500, display scale max(0, fraction digits − exponent)), `NaN`,
 * `Infinity`/`inf` with an optional sign, surrounding whitespace.
 * @param suffix appended to error messages (where the value was going).
 * @throws DataError 22P02 on bad syntax, 22003 "value overflows numeric format" past PostgreSQL's limits.
 */
export function parseNumeric(s: string, suffix = ''): NumericValue {
  const m = NUMERIC_RE.exec(s);
  if (!m) {
    const sp = SPECIAL_RE.exec(s);
    if (!sp) throw badNumeric(s, suffix);
    if (sp[1]) return 'NaN';
    return sp[2] === '-' ? '-Infinity' : 'Infinity';
  }
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? m[4] ?? '';
  let exp = 0;
  if (m[5] !== undefined) {
    exp = Number(m[5]);
    // numeric_in refuses exponents beyond ±(INT_MAX/2) as bad syntax.
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > 1073741823) throw badNumeric(s, suffix);
  }
  const scale = Math.max(0, fracPart.length - exp);
  if (scale > DSCALE_MAX) throw overflowsFormat(suffix);
  let unscaled = BigInt(`${intPart}${fracPart}` || '0');
  // unscaled × 10^-(fracPart.length) × 10^exp = digits × 10^-scale
  const shift = scale - (fracPart.length - exp);
  if (unscaled !== 0n && shift > 0) {
    if (shift > INT_DIGITS_MAX + DSCALE_MAX) throw overflowsFormat(suffix);
    unscaled *= 10n ** BigInt(shift);
  }
  const d: Decimal = { neg: m[1] === '-' && unscaled !== 0n, digits: unscaled, scale };
  if (intDigits(d) > INT_DIGITS_MAX) throw overflowsFormat(suffix);
  return d;
}

/** Digits before the decimal point of |d| (0 for |d| < 1). */
function intDigits(d: Decimal): number {
  const whole = d.digits / 10n ** BigInt(d.scale);
  return whole === 0n ? 0 : whole.toString().length;
}

/** PostgreSQL's text of a numeric (`numeric_out`): all `scale` fraction digits, no exponent, '-' only for non-zero. */
export function formatNumeric(v: NumericValue): string {
  if (typeof v === 'string') return v;
  let t = v.digits.toString();
  if (v.scale > 0) {
    t = t.padStart(v.scale + 1, '0');
    t = `${t.slice(0, -v.scale)}.${t.slice(-v.scale)}`;
  }
  return v.neg && v.digits !== 0n ? `-${t}` : t;
}

/**
 * Round to `scale` fraction digits, half away from zero (`round_var`); a negative scale
 * rounds to tens, hundreds, … Display scale becomes max(scale, 0).
 */
export function roundDecimal(d: Decimal, scale: number): Decimal {
  if (scale >= d.scale) return { neg: d.neg, digits: d.digits * 10n ** BigInt(scale - d.scale), scale };
  const drop = 10n ** BigInt(d.scale - scale);
  let q = d.digits / drop;
  if ((d.digits % drop) * 2n >= drop) q += 1n;
  if (scale < 0) return { neg: d.neg && q !== 0n, digits: q * 10n ** BigInt(-scale), scale: 0 };
  return { neg: d.neg && q !== 0n, digits: q, scale };
}

/**
 * Apply a `numeric(p, s)` typmod (PostgreSQL's `apply_typmod`): round to scale s, then refuse
 * values whose absolute value is ≥ 10^(p − s). NaN passes; infinities are refused. PostgreSQL 15
 * allows s < 0 and s > p.
 * @throws DataError 22003 "numeric field overflow" with PostgreSQL's DETAIL.
 */
export function applyNumericTypmod(v: NumericValue, precision: number, scale: number, suffix = ''): NumericValue {
  if (v === 'NaN') return v;
  if (typeof v === 'string') {
    throw new DataError(SqlState.numericValueOutOfRange, `numeric field overflow${suffix}`, {
      detail: `A field with precision ${precision}, scale ${scale} cannot hold an infinite value.`,
    });
  }
  const r = roundDecimal(v, scale);
  const maxDigits = precision - scale;
  // |r| ≥ 10^maxDigits ⇔ r.digits ≥ 10^(maxDigits + r.scale)
  const e = maxDigits + r.scale;
  if (r.digits !== 0n && (e <= 0 || r.digits >= 10n ** BigInt(e))) {
    throw new DataError(SqlState.numericValueOutOfRange, `numeric field overflow${suffix}`, {
      detail: `A field with precision ${precision}, scale ${scale} must round to an absolute value less than ${maxDigits ? `10^${maxDigits}` : '1'}.`,
    });
  }
  return r;
}

/** Rank of the special values in PostgreSQL's btree order: -Infinity < numbers < Infinity < NaN. */
function rank(v: NumericValue): number {
  return v === '-Infinity' ? 0 : v === 'Infinity' ? 2 : v === 'NaN' ? 3 : 1;
}

/** PostgreSQL btree order of two numerics (`cmp_numerics`): by value, NaN = NaN and above everything. */
export function compareNumeric(a: NumericValue, b: NumericValue): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb || typeof a === 'string' || typeof b === 'string') return Math.sign(ra - rb);
  const sa = a.digits === 0n ? 0 : a.neg ? -1 : 1;
  const sb = b.digits === 0n ? 0 : b.neg ? -1 : 1;
  if (sa !== sb) return Math.sign(sa - sb);
  const scale = Math.max(a.scale, b.scale);
  const x = a.digits * 10n ** BigInt(scale - a.scale);
  const y = b.digits * 10n ** BigInt(scale - b.scale);
  const c = x === y ? 0 : x < y ? -1 : 1;
  return sa < 0 && c !== 0 ? -c : c;
}

/** True when `s` is the text numeric_out prints for some value (a valid stored numeric). */
export function isNumericText(s: string): boolean {
  return /^(-?(0|[1-9]\d*)(\.\d+)?|NaN|Infinity|-Infinity)$/.test(s) && s !== '-0' && !/^-0(\.0+)?$/.test(s);
}
