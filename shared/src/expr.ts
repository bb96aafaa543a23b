/**
 * Evaluation of the small expression language of UPDATE ... SET (see `Expr` in tiers.ts):
 * literals, column references, arithmetic (+ - * / %), unary minus, string concatenation
 * (||), casts and a few functions (lower, upper, coalesce, abs, length). Semantics follow
 * PostgreSQL: NULL propagates; integer division truncates; division by zero is 22012.
 */
import { DataError, SqlState, UnsupportedError } from './errors.ts';
import type { Expr } from './tiers.ts';
import { coerceLiteral, formatValue, type Literal, resolveTypeName, type SqlType, type Value } from './types.ts';

/** A value with the column type it came from (null type = an untyped literal). */
export interface Typed {
  v: Value;
  t: SqlType | null;
}

const INTEGRAL: ReadonlySet<SqlType | null> = new Set(['smallint', 'integer', 'bigint']);

function num(x: Typed): number | bigint | null {
  if (x.v === null) return null;
  if (typeof x.v === 'number' || typeof x.v === 'bigint') return x.v;
  if (typeof x.v === 'string' && x.t === null) {
    const n = Number(x.v);
    if (!Number.isNaN(n)) return n;
  }
  throw new DataError(SqlState.datatypeMismatch, `operator does not exist for a value of type ${x.t ?? 'text'}`);
}

function arith(op: string, a: Typed, b: Typed): Typed {
  const x = num(a);
  const y = num(b);
  if (x === null || y === null) return { v: null, t: null };
  const integral =
    INTEGRAL.has(a.t ?? (Number.isInteger(x as number) || typeof x === 'bigint' ? 'bigint' : 'double')) &&
    INTEGRAL.has(b.t ?? (Number.isInteger(y as number) || typeof y === 'bigint' ? 'bigint' : 'double'));
  if (integral) {
    const bx = BigInt(x);
    const by = BigInt(y);
    let r: bigint;
    switch (op) {
      case '+':
        r = bx + by;
        break;
      case '-':
        r = bx - by;
        break;
      case '*':
        r = bx * by;
        break;
      case '/':
      case '%':
        if (by === 0n) throw new DataError('22012', 'division by zero');
        r = op === '/' ? bx / by : bx % by;
        break;
      default:
        throw new UnsupportedError(`operator ${op} is not supported in SET expressions`);
    }
    const t = a.t === 'bigint' || b.t === 'bigint' ? 'bigint' : (a.t ?? b.t ?? 'bigint');
    return { v: t === 'bigint' ? r : Number(r), t };
  }
  const fx = Number(x);
  const fy = Number(y);
  switch (op) {
    case '+':
      return { v: fx + fy, t: 'double' };
    case '-':
      return { v: fx - fy, t: 'double' };
    case '*':
      return { v: fx * fy, t: 'double' };
    case '/':
      if (fy === 0) throw new DataError('22012', 'division by zero');
      return { v: fx / fy, t: 'double' };
    case '%':
      return { v: fx % fy, t: 'double' };
    default:
      throw new UnsupportedError(`operator ${op} is not supported in SET expressions`);
  }
}

function text(x: Typed): string | null {
  if (x.v === null) return null;
  return x.t ? formatValue(x.v, x.t) : String(x.v);
}

/**
 * Evaluate `e` against `row` (column name → stored value) with `types` (column name → type).
 * @throws DataError (22012, 42804, ...) / UnsupportedError for unknown operators or functions.
 */
export function evalExpr(e: Expr, row: Record<string, Value>, types: (col: string) => SqlType): Typed {
  switch (e.k) {
    case 'lit':
      return { v: e.v as Value, t: null };
    case 'col':
      return { v: row[e.name] ?? null, t: types(e.name) };
    case 'cast': {
      const t = resolveTypeName(e.type);
      if (!t) throw new UnsupportedError(`cast to type ${e.type} is not supported`);
      const a = evalExpr(e.arg, row, types);
      return { v: assign(a, t, {}), t };
    }
    case 'op': {
      const args = e.args.map((a) => evalExpr(a, row, types));
      const [a, b] = args;
      if (args.length === 1 && a) {
        if (e.op === '-') {
          const x = num(a);
          return { v: x === null ? null : typeof x === 'bigint' ? -x : -x, t: a.t };
        }
        if (e.op === '+') return a;
      }
      if (a && b) {
        if (e.op === '||') {
          const x = text(a);
          const y = text(b);
          return { v: x === null || y === null ? null : x + y, t: 'text' };
        }
        return arith(e.op, a, b);
      }
      throw new UnsupportedError(`operator ${e.op} is not supported in SET expressions`);
    }
    case 'fn': {
      const args = e.args.map((a) => evalExpr(a, row, types));
      const a = args[0];
      switch (e.name) {
        case 'lower':
        case 'upper': {
          const s = a ? text(a) : null;
          return { v: s === null ? null : e.name === 'lower' ? s.toLowerCase() : s.toUpperCase(), t: 'text' };
        }
        case 'length': {
          const s = a ? text(a) : null;
          return { v: s === null ? null : [...s].length, t: 'integer' };
        }
        case 'abs': {
          const x = a ? num(a) : null;
          return { v: x === null ? null : typeof x === 'bigint' ? (x < 0n ? -x : x) : Math.abs(x), t: a?.t ?? null };
        }
        case 'coalesce':
          return args.find((x) => x.v !== null) ?? { v: null, t: null };
        default:
          throw new UnsupportedError(`function ${e.name}() is not supported in SET expressions`);
      }
    }
  }
}

/**
 * Convert an evaluated value to column type `t` (assignment cast): same type passes through,
 * other typed values go through their text form, untyped literals through `coerceLiteral`.
 * @throws DataError as `coerceLiteral`.
 */
export function assign(x: Typed, t: SqlType, ctx: { table?: string; column?: string }): Value {
  if (x.v === null) return null;
  if (x.t === t) return x.v;
  if (x.t === null) return coerceLiteral(x.v as Literal, t, ctx);
  if (INTEGRAL.has(x.t) && (INTEGRAL.has(t) || t === 'real' || t === 'double')) return coerceLiteral(x.v as Literal, t, ctx);
  if ((x.t === 'real' || x.t === 'double') && (INTEGRAL.has(t) || t === 'real' || t === 'double')) {
    return coerceLiteral(x.v as Literal, t, ctx);
  }
  const s = formatValue(x.v, x.t);
  return coerceLiteral(s, t, ctx);
}
