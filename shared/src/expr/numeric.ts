/**
 * Exact `numeric` arithmetic with PostgreSQL 15's result scales (src/backend/utils/adt/numeric.c):
 * add/subtract keep the larger display scale, multiply the sum of the scales, divide the scale
 * of `select_div_scale` (at least 16 significant digits), and sqrt/exp/ln/log/power the scales
 * of their `numeric_*` functions. Values are PostgreSQL's numeric text (the stored
 * representation, types.ts), computed with decimal.js; rounding is half away from zero as in
 * `round_var`.
 */
import { Decimal as DecimalBase } from 'decimal.js';
import { DataError, SqlState } from '../errors.ts';

/** decimal.js configured for exact work: 4000 significant digits, half-away rounding, never exponent notation. */
export const Dec = DecimalBase.clone({ precision: 4000, rounding: DecimalBase.ROUND_HALF_UP, toExpNeg: -9e15, toExpPos: 9e15 });
/** A decimal.js value of {@link Dec}. */
export type Dec = InstanceType<typeof Dec>;

const NUMERIC_MIN_SIG_DIGITS = 16;
const NUMERIC_MAX_DISPLAY_SCALE = 1000;
const NUMERIC_MAX_RESULT_SCALE = 2000;
const DEC_DIGITS = 4;
/** log10(e) exactly as numeric.c writes it (scales must match PostgreSQL's at their boundaries). */
// biome-ignore lint/suspicious/noApproximativeNumericConstant: PostgreSQL's own literal, not Math.LOG10E.
const LOG10_E = 0.434294481903252;

/** Display scale (digits after the point) of a numeric text. */
export function scaleOf(s: string): number {
  const i = s.indexOf('.');
  return i < 0 ? 0 : s.length - i - 1;
}

/** True for 'NaN', 'Infinity', '-Infinity'. */
export function isSpecial(s: string): boolean {
  return s === 'NaN' || s === 'Infinity' || s === '-Infinity';
}

/** Text of `d` with exactly `scale` digits after the point, rounded half away from zero; never "-0". */
export function fmt(d: Dec, scale: number): string {
  if (d.isNaN()) return 'NaN';
  if (!d.isFinite()) return d.isNeg() ? '-Infinity' : 'Infinity';
  const s = d.toFixed(Math.max(0, scale), Dec.ROUND_HALF_UP);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** Parse numeric text (stored representation) into a decimal. */
export function dec(s: string): Dec {
  return new Dec(s);
}

const NUMERIC_RE = /^\s*([+-])?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?\s*$/;

/**
 * PostgreSQL's `numeric_in`: decimal text with optional exponent, NaN and ±Infinity (case
 * insensitive, `inf` too); the display scale is the digits after the point less the exponent.
 * @throws DataError 22P02 on bad input.
 */
export function parseNumeric(text: string): string {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return 'NaN';
  if (t === 'infinity' || t === '+infinity' || t === 'inf' || t === '+inf') return 'Infinity';
  if (t === '-infinity' || t === '-inf') return '-Infinity';
  const m = NUMERIC_RE.exec(text);
  if (!m) throw new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${text}"`);
  const frac = m[3] ?? m[4] ?? '';
  const exp = m[5] ? Number(m[5]) : 0;
  if (Math.abs(exp) > 1000) throw new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type numeric: "${text}"`);
  const scale = Math.max(0, frac.length - exp);
  const d = new Dec(`${m[1] ?? ''}${m[2] ?? '0'}.${frac || '0'}e${exp}`);
  return fmt(d, scale);
}

/** PostgreSQL's weight (base-10000 digit position) and first base-10000 digit of a non-zero value; 0/0 for zero. */
function weightAndFirst(d: Dec): { weight: number; first: number } {
  if (d.isZero()) return { weight: 0, first: 0 };
  const a = d.abs();
  const weight = Math.floor(a.e / DEC_DIGITS);
  const first = a.div(new Dec(10000).pow(weight)).floor().toNumber();
  return { weight, first };
}

function clampScale(r: number, ...scales: number[]): number {
  let s = r;
  for (const x of scales) s = Math.max(s, x);
  return Math.min(Math.max(s, 0), NUMERIC_MAX_DISPLAY_SCALE);
}

/** Result scale of a division, PostgreSQL's `select_div_scale`. */
export function divScale(a: Dec, aScale: number, b: Dec, bScale: number): number {
  const x = weightAndFirst(a);
  const y = weightAndFirst(b);
  let qweight = x.weight - y.weight;
  if (x.first <= y.first) qweight--;
  return clampScale(NUMERIC_MIN_SIG_DIGITS - qweight * DEC_DIGITS, aScale, bScale);
}

const divByZero = (): DataError => new DataError('22012', 'division by zero');

/** Divide and round to `scale` places (exact: truncated intermediate, then half away from zero). */
function divRound(a: Dec, b: Dec, scale: number): Dec {
  const digits = Math.max(1, a.e - b.e + scale + 25);
  const q = Dec.clone({ precision: digits, rounding: Dec.ROUND_DOWN }).div(a, b);
  return new Dec(q).toDecimalPlaces(scale, Dec.ROUND_HALF_UP);
}

function special(op: string, a: Dec, b: Dec): string | undefined {
  if (a.isFinite() && b.isFinite()) return undefined;
  if (a.isNaN() || b.isNaN()) return 'NaN';
  let r: Dec;
  switch (op) {
    case '+':
      r = a.plus(b);
      break;
    case '-':
      r = a.minus(b);
      break;
    case '*':
      if ((a.isZero() && !b.isFinite()) || (b.isZero() && !a.isFinite())) return 'NaN';
      r = a.times(b);
      break;
    case '/':
      if (b.isZero()) throw divByZero();
      if (!a.isFinite() && !b.isFinite()) return 'NaN';
      if (!b.isFinite()) return '0';
      r = a.isNeg() !== b.isNeg() ? new Dec(-Infinity) : new Dec(Infinity);
      break;
    case '%':
      if (b.isZero()) throw divByZero();
      if (!a.isFinite()) return 'NaN';
      return fmt(a, scaleOfDec(a));
    default:
      return 'NaN';
  }
  return fmt(r, 0);
}

function scaleOfDec(d: Dec): number {
  return Math.max(0, d.decimalPlaces());
}

/**
 * Binary numeric arithmetic on numeric texts: `+ - * / %` with PostgreSQL's scales.
 * @throws DataError 22012 division by zero.
 */
export function numericArith(op: '+' | '-' | '*' | '/' | '%', x: string, y: string): string {
  const a = new Dec(x);
  const b = new Dec(y);
  const sp = special(op, a, b);
  if (sp !== undefined) return sp;
  const sa = scaleOf(x);
  const sb = scaleOf(y);
  switch (op) {
    case '+':
      return fmt(a.plus(b), Math.max(sa, sb));
    case '-':
      return fmt(a.minus(b), Math.max(sa, sb));
    case '*':
      return fmt(a.times(b), sa + sb);
    case '/': {
      if (b.isZero()) throw divByZero();
      const scale = divScale(a, sa, b, sb);
      return fmt(divRound(a, b, scale), scale);
    }
    case '%': {
      if (b.isZero()) throw divByZero();
      const q = a.div(b).trunc();
      return fmt(a.minus(q.times(b)), Math.max(sa, sb));
    }
  }
}

/** `div(a, b)`: the integral quotient truncated towards zero (numeric_div_trunc), scale 0. */
export function numericDivTrunc(x: string, y: string): string {
  const a = new Dec(x);
  const b = new Dec(y);
  if (b.isZero()) throw divByZero();
  if (a.isNaN() || b.isNaN()) return 'NaN';
  if (!a.isFinite()) {
    if (!b.isFinite()) return 'NaN';
    return a.isNeg() !== b.isNeg() ? '-Infinity' : 'Infinity';
  }
  if (!b.isFinite()) return '0';
  return fmt(
    Dec.clone({ precision: Math.max(1, a.e - b.e + 5), rounding: Dec.ROUND_DOWN })
      .div(a, b)
      .trunc(),
    0,
  );
}

/** Compare two numeric texts (NaN above every other value, as PostgreSQL sorts it). */
export function numericCmp(x: string, y: string): number {
  if (x === 'NaN' || y === 'NaN') return x === y ? 0 : x === 'NaN' ? 1 : -1;
  return new Dec(x).cmp(new Dec(y));
}

/** `round(numeric, s)`: half away from zero; result scale max(s, 0). */
export function numericRound(x: string, s: number): string {
  if (isSpecial(x)) return x;
  const d = new Dec(x);
  if (s >= 0) return fmt(d.toDecimalPlaces(s, Dec.ROUND_HALF_UP), s);
  const f = new Dec(10).pow(-s);
  return fmt(d.div(f).toDecimalPlaces(0, Dec.ROUND_HALF_UP).times(f), 0);
}

/** `trunc(numeric, s)`: towards zero; result scale max(s, 0). */
export function numericTrunc(x: string, s: number): string {
  if (isSpecial(x)) return x;
  const d = new Dec(x);
  if (s >= 0) return fmt(d.toDecimalPlaces(s, Dec.ROUND_DOWN), s);
  const f = new Dec(10).pow(-s);
  return fmt(d.div(f).trunc().times(f), 0);
}

/** ceil / floor of a numeric (scale 0). */
export function numericCeilFloor(x: string, ceil: boolean): string {
  if (isSpecial(x)) return x;
  const d = new Dec(x);
  return fmt(ceil ? d.ceil() : d.floor(), 0);
}

/**
 * Round a numeric text to a column's `numeric(p, s)` (apply_typmod).
 * @throws DataError 22003 "numeric field overflow" when the rounded value needs more than p − s integer digits.
 */
export function applyNumericTypmod(x: string, precision: number, scale: number): string {
  if (x === 'NaN') return x;
  if (isSpecial(x)) {
    throw new DataError(SqlState.numericValueOutOfRange, 'numeric field overflow', {
      detail: `A field with precision ${precision}, scale ${scale} cannot hold an infinite value.`,
    });
  }
  const r = numericRound(x, scale);
  const d = new Dec(r);
  const intDigits = d.isZero() ? 0 : Math.max(0, d.abs().e + 1);
  if (intDigits > precision - scale) {
    throw new DataError(SqlState.numericValueOutOfRange, 'numeric field overflow', {
      detail: `A field with precision ${precision}, scale ${scale} must round to an absolute value less than ${
        precision - scale === 0 ? '1' : `10^${precision - scale}`
      }.`,
    });
  }
  return r;
}

/** `sqrt(numeric)` with numeric_sqrt's result scale. @throws 2201F for a negative argument. */
export function numericSqrt(x: string): string {
  if (x === 'NaN' || x === 'Infinity') return x;
  const d = new Dec(x);
  if (d.isNeg() && !d.isZero()) throw new DataError('2201F', 'cannot take square root of a negative number');
  const { weight } = weightAndFirst(d);
  const sweight = Math.floor(((weight + 1) * DEC_DIGITS) / 2) - 1;
  const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS - sweight, scaleOf(x));
  return fmt(
    Dec.clone({ precision: Math.max(1, d.e + rscale + 20) })
      .sqrt(d)
      .toDecimalPlaces(rscale, Dec.ROUND_HALF_UP),
    rscale,
  );
}

/** PostgreSQL's estimate_ln_dweight: the decimal weight of ln(x). */
function estimateLnDweight(d: Dec): number {
  if (d.isNeg() || d.isZero()) return 0;
  if (d.gte('0.9') && d.lte('1.1')) {
    const x = d.minus(1);
    if (x.isZero()) return 0;
    return x.abs().e;
  }
  const ln = Math.log(d.toNumber());
  if (!Number.isFinite(ln)) {
    // Beyond double range: ln(x) ≈ e · ln(10).
    return Math.trunc(Math.log10(Math.abs(d.e * Math.LN10)));
  }
  return Math.trunc(Math.log10(Math.abs(ln)));
}

/** `ln(numeric)`. @throws 2201E for zero or a negative argument. */
export function numericLn(x: string): string {
  if (x === 'NaN' || x === 'Infinity') return x;
  const d = new Dec(x);
  if (x === '-Infinity' || d.isNeg()) throw new DataError('2201E', 'cannot take logarithm of a negative number');
  if (d.isZero()) throw new DataError('2201E', 'cannot take logarithm of zero');
  const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS - estimateLnDweight(d), scaleOf(x));
  return fmt(
    Dec.clone({ precision: rscale + 40 })
      .ln(d)
      .toDecimalPlaces(rscale, Dec.ROUND_HALF_UP),
    rscale,
  );
}

/** `log(b, x)` (and `log(x)` = log(10, x)) with log_var's scale. */
export function numericLog(bText: string, xText: string): string {
  if (bText === 'NaN' || xText === 'NaN') return 'NaN';
  const b = new Dec(bText);
  const x = new Dec(xText);
  for (const [v] of [[b], [x]] as const) {
    if (v.isZero()) throw new DataError('2201E', 'cannot take logarithm of zero');
    if (v.isNeg()) throw new DataError('2201E', 'cannot take logarithm of a negative number');
  }
  if (!b.isFinite() || !x.isFinite()) return 'NaN';
  if (b.eq(1)) throw divByZero();
  const rdw = estimateLnDweight(x) - estimateLnDweight(b);
  const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS - rdw, scaleOf(bText), scaleOf(xText));
  const C = Dec.clone({ precision: rscale + 60 });
  return fmt(C.ln(x).div(C.ln(b)).toDecimalPlaces(rscale, Dec.ROUND_HALF_UP), rscale);
}

/** `exp(numeric)` with numeric_exp's scale. @throws 22003 on overflow. */
export function numericExp(x: string): string {
  if (x === 'NaN' || x === 'Infinity') return x;
  if (x === '-Infinity') return '0';
  const d = new Dec(x);
  let val = d.toNumber() * LOG10_E;
  val = Math.min(Math.max(val, -NUMERIC_MAX_RESULT_SCALE), NUMERIC_MAX_RESULT_SCALE);
  const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS - Math.trunc(val), scaleOf(x));
  if (val > 131072) throw new DataError(SqlState.numericValueOutOfRange, 'value overflows numeric format');
  return fmt(
    Dec.clone({ precision: Math.max(40, Math.ceil(val) + rscale + 20) })
      .exp(d)
      .toDecimalPlaces(rscale, Dec.ROUND_HALF_UP),
    rscale,
  );
}

/** `power(numeric, numeric)` / `^` with power_var's scale. */
export function numericPower(bText: string, eText: string): string {
  if (bText === 'NaN') return eText === '0' || /^0\.0*$/.test(eText) ? '1' : 'NaN';
  if (eText === 'NaN') return bText === '1' || /^1\.0*$/.test(bText) ? '1' : 'NaN';
  const b = new Dec(bText);
  const e = new Dec(eText);
  if (b.isZero() && e.isNeg()) throw new DataError('2201F', 'zero raised to a negative power is undefined');
  if (b.isNeg() && !e.isInteger()) throw new DataError('2201F', 'a negative number raised to a non-integer power yields a complex result');
  if (!b.isFinite() || !e.isFinite()) {
    const r = Dec.pow(b, e);
    return fmt(r, 0);
  }
  if (e.isInteger() && e.abs().lte(2147483647)) {
    const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS, scaleOf(bText));
    const n = e.toNumber();
    if (b.isZero()) return fmt(new Dec(n === 0 ? 1 : 0), rscale);
    const approx = Math.abs(n) * Math.log10(b.abs().toNumber() || 10 ** b.e);
    if (approx > 131072) throw new DataError(SqlState.numericValueOutOfRange, 'value overflows numeric format');
    const C = Dec.clone({ precision: Math.max(40, Math.ceil(Math.abs(approx)) + rscale + 30) });
    return fmt(C.pow(b, e).toDecimalPlaces(rscale, Dec.ROUND_HALF_UP), rscale);
  }
  // Non-integer exponent: exp(e · ln(b)), scale from a low-precision estimate of the result weight.
  const C = Dec.clone({ precision: 60 });
  const lnNum = C.ln(b).times(e);
  let val = lnNum.toNumber() * LOG10_E;
  if (val > 131072) throw new DataError(SqlState.numericValueOutOfRange, 'value overflows numeric format');
  val = Math.min(Math.max(val, -NUMERIC_MAX_RESULT_SCALE), NUMERIC_MAX_RESULT_SCALE);
  const rscale = clampScale(NUMERIC_MIN_SIG_DIGITS - Math.trunc(val), scaleOf(bText), scaleOf(eText));
  const P = Dec.clone({ precision: Math.max(40, Math.ceil(Math.abs(val)) + rscale + 30) });
  return fmt(P.exp(P.ln(b).times(e)).toDecimalPlaces(rscale, Dec.ROUND_HALF_UP), rscale);
}

/** Numeric text of an integer (smallint/integer/bigint). */
export function numericFromInt(n: number | bigint): string {
  return String(n);
}

/**
 * Numeric of a float the way float8_numeric / float4_numeric do it: through `%.15g` (`%.6g`
 * for real), so 0.1::float8::numeric is 0.1.
 */
export function numericFromFloat(n: number, single: boolean): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  // %g: significant digits without trailing zeros.
  const [mant, exp] = n.toPrecision(single ? 6 : 15).split('e') as [string, string | undefined];
  const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
  return parseNumeric(exp === undefined ? m : `${m}e${exp}`);
}

/**
 * Round a numeric text to an integer of `bits` bits, half away from zero (numeric_int4 etc.).
 * @throws DataError 22003 "integer out of range" (or smallint/bigint), 0A000 for NaN/Infinity.
 */
export function numericToInt(x: string, type: 'smallint' | 'integer' | 'bigint'): number | bigint {
  if (isSpecial(x)) throw new DataError(SqlState.featureNotSupported, `cannot convert ${x} to ${type}`);
  const r = BigInt(new Dec(x).toDecimalPlaces(0, Dec.ROUND_HALF_UP).toFixed(0));
  return checkInt(r, type);
}

const RANGES = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-(2n ** 63n), 2n ** 63n - 1n],
} as const;

/** Range-check an integer for `type`; returns a number (smallint/integer) or bigint. @throws 22003 "<type> out of range". */
export function checkInt(v: bigint, type: 'smallint' | 'integer' | 'bigint'): number | bigint {
  const [lo, hi] = RANGES[type];
  if (v < lo || v > hi) throw new DataError(SqlState.numericValueOutOfRange, `${type} out of range`);
  return type === 'bigint' ? v : Number(v);
}
