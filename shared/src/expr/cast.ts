/**
 * Casts between types with PostgreSQL 15's conversion functions (pg_cast): integer ↔ numeric
 * ↔ float with PostgreSQL's rounding (float → integer rounds half to even, `rint`; numeric →
 * integer half away from zero; float → numeric through 15 significant digits), boolean ↔
 * integer, the date/time conversions in the session time zone, json ↔ jsonb, arrays element by
 * element, and every other pair through text (I/O conversion). Length and precision modifiers
 * are applied as `varchar(n)`/`char(n)`/`numeric(p,s)` do (PostgreSQL 15 §8.3, §8.1.2).
 */
import { DataError, SqlState } from '../errors.ts';
import {
  elementType,
  intervalParts,
  isArrayType,
  pgTypeName,
  type ResultType,
  type ScalarType,
  type SqlType,
  type Value,
} from '../types.ts';
import { trimPadding } from './compare.ts';
import type { EvalContext } from './context.ts';
import { parseText, toText } from './io.ts';
import { applyNumericTypmod, checkInt, isSpecial, numericFromFloat, numericToInt } from './numeric.ts';
import type { CastContext } from './resolve.ts';
import { dateToTimestamptz, timestampToTimestamptz, timestamptzToLocal } from './timezone.ts';

const US_PER_DAY = 86_400_000_000n;

/** Hooks for conversions owned by other modules (json ↔ jsonb, interval, time): set by those modules. */
export const castHooks: {
  special?: (v: Value, from: ResultType, to: SqlType, ctx: EvalContext) => Value | undefined;
  numeric?: (text: string, to: SqlType, ctx: EvalContext) => Value;
} = {
  numeric: (text, to, ctx) => castValue(parseText(text, 'numeric', ctx), 'numeric', to, undefined, 'explicit', ctx),
};

function overflow(t: string): DataError {
  return new DataError(SqlState.numericValueOutOfRange, `${t} out of range`);
}

/** Float to integer the way float8_int4 does it: round half to even (`rint`), range-checked. */
function floatToInt(n: number, t: 'smallint' | 'integer' | 'bigint'): number | bigint {
  if (!Number.isFinite(n)) throw overflow(t);
  let r = Math.round(n);
  if (Math.abs(n % 1) === 0.5) r = 2 * Math.round(n / 2);
  if (Math.abs(r) > 9.3e18) throw overflow(t);
  return checkInt(BigInt(r), t);
}

/** Float8 → float4: overflow and underflow are errors (float8_float4). */
function toReal(n: number): number {
  const f = Math.fround(n);
  if (!Number.isFinite(f) && Number.isFinite(n)) throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: overflow');
  if (f === 0 && n !== 0) throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: underflow');
  return f;
}

/** Apply a `varchar(n)` / `char(n)` length (typmod = n + 4). */
function applyCharTypmod(s: string, t: 'varchar' | 'char', typmod: number | undefined, explicit: boolean): string {
  if (typmod === undefined || typmod < 4) return s;
  const n = typmod - 4;
  const cps = [...s];
  if (cps.length > n) {
    if (!explicit && cps.slice(n).some((c) => c !== ' ')) {
      throw new DataError(SqlState.stringDataRightTruncation, `value too long for type ${pgTypeName(t, typmod)}`);
    }
    return cps.slice(0, n).join('');
  }
  if (t === 'char' && cps.length < n) return s + ' '.repeat(n - cps.length);
  return s;
}

/**
 * Cast a value (stored representation of `from`) to `to` with typmod (assignment casts
 * check lengths and precision: 22001, 22003; explicit casts truncate as PostgreSQL does).
 * @throws DataError with PostgreSQL's SQLSTATE (22P02, 22003, 22001, 22008, …).
 */
export function castValue(
  v: Value,
  from: ResultType,
  to: SqlType,
  typmod: number | undefined,
  context: CastContext,
  ctx: EvalContext,
): Value {
  if (v === null) return null;
  const explicit = context === 'explicit';
  if (isArrayType(to)) {
    if (isArrayType(from)) {
      const fe = elementType(from);
      const te = elementType(to);
      return (v as Value[]).map((x) => castValue(x, fe, te, typmod, context, ctx));
    }
    if (from === 'unknown' || from === 'text' || from === 'varchar' || from === 'char') {
      const arr = parseText(toText(v, from, ctx), to, ctx) as Value[];
      return typmod === undefined ? arr : castValue(arr, to, to, typmod, context, ctx);
    }
    throw new DataError(SqlState.datatypeMismatch, `cannot cast type ${from} to ${to}`);
  }
  const out = convert(v, from, to as ScalarType, ctx);
  switch (to) {
    case 'varchar':
    case 'char':
      return applyCharTypmod(out as string, to, typmod, explicit);
    case 'numeric':
      if (typmod !== undefined && typmod >= 4) {
        const p = ((typmod - 4) >> 16) & 0xffff;
        const s = (typmod - 4) & 0xffff;
        return applyNumericTypmod(out as string, p, s);
      }
      return out;
    default:
      return out;
  }
}

function convert(v: Value, from: ResultType, to: ScalarType, ctx: EvalContext): Value {
  if (from === to) return v;
  if (from === 'unknown' || from === 'text' || from === 'varchar' || (from === 'char' && to !== 'text' && to !== 'varchar')) {
    if (to === 'text' || to === 'varchar' || to === 'char') return v as string;
    return parseText(v as string, to, ctx);
  }
  if (from === 'char' && (to === 'text' || to === 'varchar')) return trimPadding(v as string);
  const hooked = castHooks.special?.(v, from, to, ctx);
  if (hooked !== undefined) return hooked;
  switch (to) {
    case 'text':
    case 'varchar':
    case 'char':
      // booltext: a boolean cast to text reads 'true'/'false' (its output function prints 't'/'f').
      if (from === 'boolean') return v ? 'true' : 'false';
      return toText(v, from, ctx);
    case 'smallint':
    case 'integer':
    case 'bigint':
      if (typeof v === 'number' && (from === 'real' || from === 'double')) return floatToInt(v, to);
      if (typeof v === 'number' || typeof v === 'bigint') return checkInt(BigInt(v), to);
      if (typeof v === 'boolean') {
        if (to === 'integer') return v ? 1 : 0;
        break;
      }
      if (from === 'numeric') {
        if (isSpecial(v as string)) {
          throw new DataError(SqlState.featureNotSupported, `cannot convert ${v === 'NaN' ? 'NaN' : 'infinity'} to ${to}`);
        }
        return numericToInt(v as string, to);
      }
      break;
    case 'real':
    case 'double':
      if (typeof v === 'number') return to === 'real' ? toReal(v) : v;
      if (typeof v === 'bigint') return to === 'real' ? Math.fround(Number(v)) : Number(v);
      if (from === 'numeric') {
        const n = Number(v);
        return to === 'real' ? toReal(n) : n;
      }
      break;
    case 'numeric':
      if (typeof v === 'number' && (from === 'real' || from === 'double')) return numericFromFloat(v, from === 'real');
      if (typeof v === 'number' || typeof v === 'bigint') return String(v);
      break;
    case 'boolean':
      if (from === 'integer') return v !== 0;
      break;
    case 'timestamp':
      if (from === 'date') return BigInt(v as number) * US_PER_DAY;
      if (from === 'timestamptz') return timestamptzToLocal(v as bigint, ctx.timeZone);
      break;
    case 'timestamptz':
      if (from === 'date') return dateToTimestamptz(v as number, ctx.timeZone);
      if (from === 'timestamp') return timestampToTimestamptz(v as bigint, ctx.timeZone);
      break;
    case 'date': {
      let us: bigint | undefined;
      if (from === 'timestamp') us = v as bigint;
      else if (from === 'timestamptz') us = timestamptzToLocal(v as bigint, ctx.timeZone);
      if (us !== undefined) {
        const d = us / US_PER_DAY - (us % US_PER_DAY < 0n ? 1n : 0n);
        return Number(d);
      }
      break;
    }
    case 'time': {
      if (from === 'interval') {
        const m = intervalParts(v as string).micros % US_PER_DAY;
        return Number(m < 0n ? m + US_PER_DAY : m);
      }
      let us: bigint | undefined;
      if (from === 'timestamp') us = v as bigint;
      else if (from === 'timestamptz') us = timestamptzToLocal(v as bigint, ctx.timeZone);
      if (us !== undefined) return Number(((us % US_PER_DAY) + US_PER_DAY) % US_PER_DAY);
      break;
    }
    default:
      break;
  }
  // Everything else goes through text (automatic I/O conversion).
  return parseText(toText(v, from, ctx), to, ctx);
}
