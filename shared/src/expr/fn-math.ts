/**
 * Mathematical functions, PostgreSQL 15 §9.3 (Tables 9.5–9.8): abs, ceil/ceiling, floor,
 * round (float8 half to even like `rint`, numeric half away from zero), trunc, sqrt, cbrt,
 * power, exp, ln, log, log10, mod, div, sign, pi, random, gcd, lcm, width_bucket, degrees,
 * radians, the trigonometric functions, scale, min_scale and trim_scale.
 */
import { DataError, SqlState } from '../errors.ts';
import type { ResultType, Value } from '../types.ts';
import {
  checkInt,
  Dec,
  fmt,
  isSpecial,
  numericArith,
  numericCeilFloor,
  numericCmp,
  numericDivTrunc,
  numericExp,
  numericLn,
  numericLog,
  numericPower,
  numericRound,
  numericSqrt,
  numericTrunc,
  scaleOf,
} from './numeric.ts';
import { cbrt, floatPower } from './ops-core.ts';
import { defFn, divisionByZero, type Factory, INT_TYPES, impl } from './registry.ts';

/** rint(): round half to even. */
function rint(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return r === 0 && x < 0 ? -0 : r;
}

function floatResult(r: number, a: number): number {
  if (!Number.isFinite(r) && Number.isFinite(a)) throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: overflow');
  return r;
}

/** A one-argument function over double / numeric with separate implementations. */
function unary(
  dbl: ((x: number) => Value) | undefined,
  num: ((x: string) => Value) | undefined,
  int?: (x: number | bigint, t: ResultType) => Value,
): Factory {
  return (args) => {
    const a = args[0] as string;
    if (a === 'double' && dbl) return impl(([x]) => dbl(x as number));
    if (a === 'real' && dbl) return impl(([x]) => dbl(x as number));
    if (a === 'numeric' && num) return impl(([x]) => num(x as string));
    if (INT_TYPES.has(a) && int) return impl(([x]) => int(x as number | bigint, a as ResultType));
    return undefined;
  };
}

defFn(
  'abs',
  unary(
    (x) => Math.abs(x),
    (x) => x.replace(/^-/, ''),
    (x, t) => (typeof x === 'bigint' ? checkInt(x < 0n ? -x : x, 'bigint') : checkInt(BigInt(Math.abs(x)), t as 'integer')),
  ),
);
defFn(
  ['ceil', 'ceiling'],
  unary(Math.ceil, (x) => numericCeilFloor(x, true)),
);
defFn(
  'floor',
  unary(Math.floor, (x) => numericCeilFloor(x, false)),
);
defFn(
  'sign',
  unary(Math.sign, (x) => (x === 'NaN' ? x : String(new Dec(x).cmp(0)))),
);

defFn('round', (args) => {
  if (args[0] === 'double') return args.length === 1 ? impl(([x]) => rint(x as number)) : undefined;
  if (args[0] === 'numeric') {
    if (args.length === 1) return impl(([x]) => numericRound(x as string, 0));
    return impl(([x, s]) => numericRound(x as string, s as number));
  }
  return undefined;
});
defFn('trunc', (args) => {
  if (args[0] === 'double') return args.length === 1 ? impl(([x]) => Math.trunc(x as number)) : undefined;
  if (args[0] === 'numeric') {
    if (args.length === 1) return impl(([x]) => numericTrunc(x as string, 0));
    return impl(([x, s]) => numericTrunc(x as string, s as number));
  }
  return undefined;
});

defFn(
  'sqrt',
  unary((x) => {
    if (x < 0) throw new DataError('2201F', 'cannot take square root of a negative number');
    return Math.sqrt(x);
  }, numericSqrt),
);
defFn('cbrt', unary(cbrt, undefined));
defFn(
  'exp',
  unary((x) => {
    const r = Math.exp(x);
    if (r === 0 && Number.isFinite(x)) throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: underflow');
    return floatResult(r, x);
  }, numericExp),
);

function floatLog(f: (x: number) => number) {
  return (x: number): number => {
    if (x === 0) throw new DataError('2201E', 'cannot take logarithm of zero');
    if (x < 0) throw new DataError('2201E', 'cannot take logarithm of a negative number');
    return f(x);
  };
}
defFn('ln', unary(floatLog(Math.log), numericLn));
defFn(
  'log10',
  unary(floatLog(Math.log10), (x) => numericLog('10', x)),
);
defFn('log', (args) => {
  if (args.length === 1) {
    if (args[0] === 'double') return impl(([x]) => floatLog(Math.log10)(x as number));
    if (args[0] === 'numeric') return impl(([x]) => numericLog('10', x as string));
    return undefined;
  }
  if (args[0] === 'numeric') return impl(([b, x]) => numericLog(b as string, x as string));
  return undefined;
});
defFn(['power', 'pow'], (args) => {
  if (args[0] === 'double') return impl(([a, b]) => floatPower(a as number, b as number));
  if (args[0] === 'numeric') return impl(([a, b]) => numericPower(a as string, b as string));
  return undefined;
});

defFn('mod', (args, t) => {
  const a = args[0] as string;
  if (a === 'numeric') return impl(([x, y]) => numericArith('%', x as string, y as string));
  if (a === 'bigint') {
    return impl(([x, y]) => {
      if (y === 0n) throw divisionByZero();
      return y === -1n ? 0n : (x as bigint) % (y as bigint);
    });
  }
  if (INT_TYPES.has(a) && INT_TYPES.has(t)) {
    return impl(([x, y]) => {
      if (y === 0) throw divisionByZero();
      return ((x as number) % (y as number)) + 0;
    });
  }
  return undefined;
});
defFn('div', (args) => (args[0] === 'numeric' ? impl(([x, y]) => numericDivTrunc(x as string, y as string)) : undefined));

defFn('pi', () => impl(() => Math.PI));
defFn('random', () => ({ run: () => Math.random(), nonStrict: true }));
defFn(
  'degrees',
  unary((x) => (x * 180) / Math.PI, undefined),
);
defFn(
  'radians',
  unary((x) => (x * Math.PI) / 180, undefined),
);

function trig(f: (x: number) => number, domain?: (x: number) => boolean): Factory {
  return unary((x) => {
    if (domain && !domain(x)) throw new DataError(SqlState.numericValueOutOfRange, 'input is out of range');
    return f(x);
  }, undefined);
}
defFn('sin', trig(Math.sin, Number.isFinite));
defFn('cos', trig(Math.cos, Number.isFinite));
defFn('tan', trig(Math.tan, Number.isFinite));
defFn(
  'cot',
  trig((x) => 1 / Math.tan(x), Number.isFinite),
);
defFn(
  'asin',
  trig(Math.asin, (x) => x >= -1 && x <= 1),
);
defFn(
  'acos',
  trig(Math.acos, (x) => x >= -1 && x <= 1),
);
defFn('atan', trig(Math.atan));
defFn('atan2', (args) => (args[0] === 'double' ? impl(([y, x]) => Math.atan2(y as number, x as number)) : undefined));
defFn('sinh', trig(Math.sinh));
defFn('cosh', trig(Math.cosh));
defFn('tanh', trig(Math.tanh));

function gcdBig(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

defFn('gcd', (args, t) => {
  const a = args[0] as string;
  if (INT_TYPES.has(a)) return impl(([x, y]) => checkInt(gcdBig(BigInt(x as number), BigInt(y as number)), t as 'integer'));
  if (a === 'numeric') {
    return impl(([x, y]) => {
      if (isSpecial(x as string) || isSpecial(y as string)) return 'NaN';
      const s = Math.max(scaleOf(x as string), scaleOf(y as string));
      const f = new Dec(10).pow(s);
      const g = gcdBig(BigInt(new Dec(x as string).times(f).toFixed(0)), BigInt(new Dec(y as string).times(f).toFixed(0)));
      return fmt(new Dec(g.toString()).div(f), s);
    });
  }
  return undefined;
});
defFn('lcm', (args, t) => {
  const a = args[0] as string;
  if (!INT_TYPES.has(a)) return undefined;
  return impl(([x, y]) => {
    const p = BigInt(x as number);
    const q = BigInt(y as number);
    if (p === 0n || q === 0n) return checkInt(0n, t as 'integer');
    const r = (p / gcdBig(p, q)) * q;
    return checkInt(r < 0n ? -r : r, t as 'integer');
  });
});

defFn('width_bucket', (args) => {
  const a = args[0] as string;
  if (args.length !== 4) return undefined;
  const toNum = a === 'numeric' ? (v: Value) => Number(v) : a === 'double' ? (v: Value) => v as number : undefined;
  if (!toNum) return undefined;
  return impl(([op, lo, hi, n]) => {
    const count = n as number;
    if (count <= 0) throw new DataError('2201G', 'count must be greater than zero');
    if (a === 'numeric' && (isSpecial(op as string) || isSpecial(lo as string) || isSpecial(hi as string))) {
      throw new DataError('2201G', 'operand, lower bound, and upper bound cannot be NaN');
    }
    const x = toNum(op as Value);
    const l = toNum(lo as Value);
    const h = toNum(hi as Value);
    if (l === h) throw new DataError('2201G', 'lower bound cannot equal upper bound');
    if (a === 'numeric') {
      const c = (p: Value, q: Value): number => numericCmp(p as string, q as string);
      if (l < h) {
        if (c(op as Value, lo as Value) < 0) return 0;
        if (c(op as Value, hi as Value) >= 0) return checkInt(BigInt(count) + 1n, 'integer');
        const r = new Dec(op as string)
          .minus(lo as string)
          .times(count)
          .div(new Dec(hi as string).minus(lo as string))
          .floor();
        return r.toNumber() + 1;
      }
      if (c(op as Value, lo as Value) > 0) return 0;
      if (c(op as Value, hi as Value) <= 0) return checkInt(BigInt(count) + 1n, 'integer');
      const r = new Dec(lo as string)
        .minus(op as string)
        .times(count)
        .div(new Dec(lo as string).minus(hi as string))
        .floor();
      return r.toNumber() + 1;
    }
    if (l < h) {
      if (x < l) return 0;
      if (x >= h) return checkInt(BigInt(count) + 1n, 'integer');
      return Math.floor((count * (x - l)) / (h - l)) + 1;
    }
    if (x > l) return 0;
    if (x <= h) return checkInt(BigInt(count) + 1n, 'integer');
    return Math.floor((count * (l - x)) / (l - h)) + 1;
  });
});

defFn('scale', (args) => (args[0] === 'numeric' ? impl(([x]) => (isSpecial(x as string) ? null : scaleOf(x as string))) : undefined));
/** Drop trailing fractional zeros of a numeric text. */
function trimScale(x: string): string {
  return isSpecial(x) || !x.includes('.') ? x : x.replace(/\.?0+$/, '');
}
defFn('min_scale', (args) =>
  args[0] === 'numeric' ? impl(([x]) => (isSpecial(x as string) ? null : scaleOf(trimScale(x as string)))) : undefined,
);
defFn('trim_scale', (args) => (args[0] === 'numeric' ? impl(([x]) => trimScale(x as string)) : undefined));
defFn('factorial', (args) =>
  args[0] === 'bigint'
    ? impl(([x]) => {
        const n = x as bigint;
        if (n < 0n) throw new DataError(SqlState.numericValueOutOfRange, 'factorial of a negative number is undefined');
        let r = 1n;
        for (let i = 2n; i <= n; i++) r *= i;
        return r.toString();
      })
    : undefined,
);

/** Round-half-even for callers outside this module. */
export { rint };
