/**
 * Values as the types PostgreSQL converts them to: implicit coercions of arguments, numerics as
 * DuckDB DECIMALs or as their text (text numerics, shared/src/duckdb/columns.ts) with
 * PostgreSQL's display scales, and the text output functions print.
 */
import type { Node } from '@pgsql/types';
import { intervalParts, numericPrecision, type ResultType } from '@stratum/shared';
import { constString } from '../../analyze/ast.ts';
import { castNode, castTyped, duckTypeOf, fn, intConst, isNullConst, isUntypedParam, opExpr } from './nodes.ts';
import { FLOAT_TYPES, INT_TYPES, TEXT_TYPES, type Typed } from './types.ts';
import { zoneCast } from './zone.ts';

/**
 * Unconstrained numeric, and numeric(p,s) with p > 38, is VARCHAR in DuckDB (the exact text of
 * each value): computed on as DECIMAL(38,10) (exact up to 28 integer and 10 fraction digits),
 * compared and ordered by {@link numKey}, printed as it is.
 */
export const TEXT_NUMERIC_DECIMAL: [number, number] = [38, 10];

/** True when a column of type `t` (numeric or numeric[]) is held as text in DuckDB (see {@link TEXT_NUMERIC_DECIMAL}). */
export function isTextNumeric(t: ResultType, typmod: number | undefined): boolean {
  if (t !== 'numeric' && t !== 'numeric[]') return false;
  const pr = numericPrecision(typmod);
  return !pr || pr.precision > 38;
}

/** The numeric-order key of a numeric's text (pg_nkey). */
export function numKey(text: Node): Node {
  return fn('pg_nkey', [text]);
}

/** PostgreSQL's text of a numeric value: a text numeric as it is, a DECIMAL as DuckDB prints it (with its scale). */
export function numText(x: Typed): Node {
  if (x.textNum) return x.node;
  if (x.scale) return fn('pg_nfmt', [coerce(x, 'numeric'), x.scale]);
  return castNode(coerce(x, 'numeric'), 'varchar');
}

/** The display scale of numeric `x` (coerced to DECIMAL as `node`) as a DuckDB expression. */
export function scaleOf(x: Typed, node: Node): Node {
  if (x.scale) return x.scale;
  if (x.textNum) return fn('pg_nscale', [x.node]);
  return fn('pg__sc', [node]);
}

/**
 * An interval literal as DuckDB reads it: PostgreSQL's input syntax ('-1 day +02:00', '1 mon',
 * '1 year 2 months') parsed by PostgreSQL's rules (shared), rebuilt from its months, days and µs.
 */
export function intervalLiteral(text: string): Node | undefined {
  let p: { months: number; days: number; micros: bigint };
  try {
    p = intervalParts(text);
  } catch {
    return undefined;
  }
  const micros: Node =
    p.micros >= -2147483648n && p.micros <= 2147483647n
      ? intConst(Number(p.micros))
      : castNode({ A_Const: { fval: { fval: String(p.micros) } } }, 'bigint');
  return opExpr(
    '+',
    opExpr('+', fn('to_months', [intConst(p.months)]), fn('to_days', [intConst(p.days)])),
    fn('to_microseconds', [castNode(micros, 'bigint')]),
  );
}

/**
 * `x` as an operand or function argument PostgreSQL resolved as type `want`: an untyped `$n`
 * gets an explicit cast to it (DuckDB cannot type a parameter from an operator, nor choose
 * between a function's overloads for one); anything else is {@link coerce}d. Numeric is left
 * to DuckDB, whose DECIMAL cast would round.
 */
export function coerceArgument(x: Typed, want: ResultType): Node {
  return isUntypedParam(x) && want !== 'unknown' && want !== 'numeric' && duckTypeOf(want) ? castTyped(x, want) : coerce(x, want);
}

/**
 * `x` as an argument of PostgreSQL type `want`: cast when its type differs (an implicit
 * coercion PostgreSQL inserts), or when it is a literal DuckDB would type by value. Numeric
 * targets are left to DuckDB (its DECIMAL arithmetic with integers is PostgreSQL's), and so are
 * text targets of text-like values. Conversions that read the session TimeZone spell it out (zone.ts).
 * @throws StratumError as {@link zoneCast}.
 */
export function coerce(x: Typed, want: ResultType): Node {
  if (want === 'interval' && x.strLit) {
    const iv = intervalLiteral(constString(x.node) ?? '');
    if (iv) return iv;
  }
  const inZone = zoneCast(x, want);
  if (inZone) return inZone;
  // char(n) → text drops the padding (rtrim1).
  if (x.t === 'char' && (want === 'text' || want === 'varchar')) return fn('rtrim', [x.node]);
  if (isNullConst(x.node) && want !== 'unknown' && want !== 'numeric' && duckTypeOf(want)) return castTyped(x, want);
  if (want === 'numeric') return toNumeric(x) ?? x.node;
  if (want === 'unknown') return x.node;
  // A text numeric becomes an integer as numeric does (rounded half away from zero, via DECIMAL).
  if (x.textNum && INT_TYPES.has(want)) return castTyped({ node: castNode(x.node, 'decimal', TEXT_NUMERIC_DECIMAL), t: 'numeric' }, want);
  if (TEXT_TYPES.has(want) && (TEXT_TYPES.has(x.t) || x.strLit)) return x.node;
  if (x.t === want && !x.numLit) return x.node;
  if (x.t === 'unknown' && !x.strLit) return x.node;
  if (want === 'text' && (FLOAT_TYPES.has(x.t) || x.t === 'interval')) return textOf(x, x.node);
  return castTyped(x, want);
}

const INT_DECIMAL: Partial<Record<ResultType, number>> = { smallint: 5, integer: 10, bigint: 19 };

/**
 * `x` as a DuckDB DECIMAL where PostgreSQL converts it to numeric: integers keep scale 0
 * (DuckDB's unqualified DECIMAL would be DECIMAL(18,3)), a string literal the scale it is
 * written with; undefined when `x` is already numeric or its scale depends on the value.
 */
export function toNumeric(x: Typed): Node | undefined {
  if (x.textNum) return castNode(x.node, 'decimal', TEXT_NUMERIC_DECIMAL);
  const p = INT_DECIMAL[x.t];
  if (p !== undefined) return castNode(x.node, 'decimal', [p, 0]);
  if (x.strLit) {
    const text = (constString(x.node) ?? '').trim();
    const m = /^[+-]?(\d*)(?:\.(\d*))?$/.exec(text);
    if (m && (m[1] || m[2]) && (m[1]?.length ?? 0) + (m[2]?.length ?? 0) <= 38) {
      return castNode(x.node, 'decimal', [38, m[2]?.length ?? 0]);
    }
  }
  return undefined;
}

/**
 * `x` as the text its type's output function prints (concat, format): booleans 't'/'f',
 * floats as float8out, intervals as interval_out; text as it is.
 */
export function outText(x: Typed, node: Node): Node {
  if (x.t === 'boolean') return fn('pg_bool_out', [node]);
  return textOf(x, node);
}

/** `x` as text the way a cast to text prints it (`||`, quote_literal): floats and intervals as PostgreSQL prints them. */
export function textOf(x: Typed, node: Node): Node {
  if (FLOAT_TYPES.has(x.t)) return floatText({ ...x, node });
  if (x.t === 'interval') return fn('pg_interval_text', [node]);
  return node;
}

/** float8out / float4out text of a float (shortest digits, PostgreSQL's exponent thresholds). */
function floatText(x: Typed): Node {
  return fn(x.t === 'real' ? 'pg_real_text' : 'pg_float_text', [x.node]);
}
