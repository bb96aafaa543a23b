/**
 * Arithmetic, comparison, string concatenation, LIKE and regular-expression operators
 * (PostgreSQL 15 §9.2 Comparison, §9.3 Mathematical, §9.4 String, §9.7 Pattern Matching).
 * Integer arithmetic fails with 22003 on overflow and truncates on division; float overflow is
 * "value out of range: overflow"; every division by zero is 22012.
 */
import { DataError, SqlState } from '../errors.ts';
import { elementType, isArrayType, type ResultType, type ScalarType, type SqlType, type Value } from '../types.ts';
import { castValue } from './cast.ts';
import { compareMixed, trimPadding } from './compare.ts';
import type { EvalContext } from './context.ts';
import { toText } from './io.ts';
import { numericArith, numericPower } from './numeric.ts';
import { defOp, divisionByZero, FLOAT_TYPES, type Impl, INT_TYPES, impl, implNonStrict } from './registry.ts';

const INT_MIN: Record<string, number> = { smallint: -32768, integer: -2147483648 };
const INT_MAX: Record<string, number> = { smallint: 32767, integer: 2147483647 };
const I8_MIN = -(2n ** 63n);
const I8_MAX = 2n ** 63n - 1n;

function intOverflow(t: string): DataError {
  return new DataError(SqlState.numericValueOutOfRange, `${t} out of range`);
}

/** Range-check an int2/int4 result computed in doubles. */
function checkSmall(r: number, t: string): number {
  if (r < (INT_MIN[t] as number) || r > (INT_MAX[t] as number)) throw intOverflow(t);
  return r;
}

function checkI8(r: bigint): bigint {
  if (r < I8_MIN || r > I8_MAX) throw intOverflow('bigint');
  return r;
}

/** float overflow / underflow checks of float.h (check_float8_val). */
function checkFloat(r: number, a: number, b: number, zeroOk: boolean, single: boolean): number {
  const v = single ? Math.fround(r) : r;
  if (!Number.isFinite(v) && !Number.isNaN(v) && Number.isFinite(a) && Number.isFinite(b)) {
    throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: overflow');
  }
  if (v === 0 && !zeroOk) throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: underflow');
  return v;
}

type ArithOp = '+' | '-' | '*' | '/' | '%';

function intArith(op: ArithOp, t: ResultType): Impl {
  if (t === 'bigint') {
    return impl(([x, y]) => {
      const a = BigInt(x as number | bigint);
      const b = BigInt(y as number | bigint);
      switch (op) {
        case '+':
          return checkI8(a + b);
        case '-':
          return checkI8(a - b);
        case '*':
          return checkI8(a * b);
        case '/':
          if (b === 0n) throw divisionByZero();
          return checkI8(a / b);
        case '%':
          if (b === 0n) throw divisionByZero();
          return b === -1n ? 0n : a % b;
      }
    });
  }
  return impl(([x, y]) => {
    const a = x as number;
    const b = y as number;
    switch (op) {
      case '+':
        return checkSmall(a + b, t);
      case '-':
        return checkSmall(a - b, t);
      case '*':
        return checkSmall(a * b, t);
      case '/':
        if (b === 0) throw divisionByZero();
        return checkSmall(Math.trunc(a / b), t) + 0;
      case '%':
        if (b === 0) throw divisionByZero();
        return (a % b) + 0;
    }
  });
}

function floatArith(op: ArithOp, single: boolean): Impl {
  return impl(([x, y]) => {
    const a = Number(x);
    const b = Number(y);
    switch (op) {
      case '+':
        return checkFloat(a + b, a, b, true, single);
      case '-':
        return checkFloat(a - b, a, b, true, single);
      case '*':
        return checkFloat(a * b, a, b, a === 0 || b === 0, single);
      case '/':
        if (b === 0) throw divisionByZero();
        return checkFloat(a / b, a, b, a === 0 || !Number.isFinite(b), single);
      default:
        throw new DataError(SqlState.undefinedFunction, 'operator does not exist: double precision % double precision');
    }
  });
}

/** Arithmetic on numbers; date/time arithmetic registers under the same symbols through `datetimeArith`. */
export const datetimeArith: { factory?: (op: string, args: ResultType[], t: ResultType) => Impl | undefined } = {};

function arithFactory(op: ArithOp) {
  return (args: ResultType[], t: ResultType): Impl | undefined => {
    const [l, r] = args as [ResultType, ResultType];
    if (INT_TYPES.has(l) && INT_TYPES.has(r) && INT_TYPES.has(t)) return intArith(op, t);
    if (FLOAT_TYPES.has(l) && FLOAT_TYPES.has(r)) return floatArith(op, t === 'real');
    if (l === 'numeric' && r === 'numeric') return impl(([a, b]) => numericArith(op, a as string, b as string));
    return datetimeArith.factory?.(op, args, t);
  };
}

defOp('+', arithFactory('+'));
defOp('-', arithFactory('-'));
defOp('*', arithFactory('*'));
defOp('/', arithFactory('/'));
defOp('%', arithFactory('%'));

defOp(
  '^',
  (args) => {
    if (args[0] === 'numeric') return impl(([a, b]) => numericPower(a as string, b as string));
    if (args[0] === 'double') return impl(([a, b]) => floatPower(a as number, b as number));
    return undefined;
  },
  2,
);

/** `power(float8, float8)` with PostgreSQL's errors (dpow). */
export function floatPower(a: number, b: number): number {
  if (a === 0 && b < 0) throw new DataError('2201F', 'zero raised to a negative power is undefined');
  if (a < 0 && !Number.isInteger(b) && Number.isFinite(b)) {
    throw new DataError('2201F', 'a negative number raised to a non-integer power yields a complex result');
  }
  if (a === 1 || b === 0) return 1;
  const r = a ** b;
  if (!Number.isFinite(r) && Number.isFinite(a) && Number.isFinite(b)) {
    throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: overflow');
  }
  if (r === 0 && a !== 0 && Number.isFinite(a) && Number.isFinite(b)) {
    throw new DataError(SqlState.numericValueOutOfRange, 'value out of range: underflow');
  }
  return r;
}

// Prefix operators: - + @ (abs) |/ (sqrt) ||/ (cbrt) ~ (bitwise not).
defOp(
  '-',
  (args, t) => {
    const a = args[0] as ResultType;
    if (a === 'bigint') return impl(([x]) => checkI8(-(x as bigint)));
    if (INT_TYPES.has(a)) return impl(([x]) => checkSmall(-(x as number), t) + 0);
    if (FLOAT_TYPES.has(a)) return impl(([x]) => -(x as number));
    if (a === 'numeric') return impl(([x]) => negateNumeric(x as string));
    return datetimeArith.factory?.('-', args, t);
  },
  1,
);
defOp(
  '+',
  (args) =>
    INT_TYPES.has(args[0] as string) || FLOAT_TYPES.has(args[0] as string) || args[0] === 'numeric' ? impl(([x]) => x as Value) : undefined,
  1,
);
defOp(
  '@',
  (args, t) => {
    const a = args[0] as ResultType;
    if (a === 'bigint') return impl(([x]) => checkI8((x as bigint) < 0n ? -(x as bigint) : (x as bigint)));
    if (INT_TYPES.has(a)) return impl(([x]) => checkSmall(Math.abs(x as number), t));
    if (FLOAT_TYPES.has(a)) return impl(([x]) => Math.abs(x as number));
    if (a === 'numeric') return impl(([x]) => (x as string).replace(/^-/, ''));
    return undefined;
  },
  1,
);

defOp(
  '|/',
  (args) =>
    args[0] === 'double'
      ? impl(([x]) => {
          if ((x as number) < 0) throw new DataError('2201F', 'cannot take square root of a negative number');
          return Math.sqrt(x as number);
        })
      : undefined,
  1,
);
defOp('||/', (args) => (args[0] === 'double' ? impl(([x]) => cbrt(x as number)) : undefined), 1);

/** Cube root (Math.cbrt, correctly rounded; glibc's cbrt that PostgreSQL calls is not, a listed difference). */
export function cbrt(x: number): number {
  return Math.cbrt(x);
}

/** Negate a numeric text. */
export function negateNumeric(s: string): string {
  if (s === 'NaN') return s;
  if (s.startsWith('-')) return s.slice(1);
  if (/^[0.]+$/.test(s)) return s;
  return `-${s}`;
}

// Bitwise operators on integers.
function bitFactory(op: '&' | '|' | '#' | '<<' | '>>') {
  return (args: ResultType[], t: ResultType): Impl | undefined => {
    if (!INT_TYPES.has(args[0] as string)) return undefined;
    if (t === 'bigint') {
      return impl(([x, y]) => {
        const a = x as bigint;
        switch (op) {
          case '&':
            return a & (y as bigint);
          case '|':
            return a | (y as bigint);
          case '#':
            return a ^ (y as bigint);
          case '<<':
            return BigInt.asIntN(64, a << BigInt((y as number) & 63));
          case '>>':
            return a >> BigInt((y as number) & 63);
        }
      });
    }
    const bits = t === 'smallint' ? 16 : 32;
    return impl(([x, y]) => {
      const a = x as number;
      const b = y as number;
      let r: number;
      switch (op) {
        case '&':
          r = a & b;
          break;
        case '|':
          r = a | b;
          break;
        case '#':
          r = a ^ b;
          break;
        case '<<':
          r = a << (b & 31);
          break;
        case '>>':
          r = a >> (b & 31);
          break;
      }
      return bits === 16 ? (r << 16) >> 16 : r | 0;
    });
  };
}
defOp('&', bitFactory('&'));
defOp('|', bitFactory('|'));
defOp('#', bitFactory('#'));
defOp('<<', bitFactory('<<'));
defOp('>>', bitFactory('>>'));
defOp(
  '~',
  (args) => {
    const a = args[0] as string;
    if (a === 'bigint') return impl(([x]) => ~(x as bigint));
    if (INT_TYPES.has(a)) return impl(([x]) => ~(x as number));
    return undefined;
  },
  1,
);

const DATETIME_RANK: Record<string, number> = { date: 1, timestamp: 2, timestamptz: 3 };

/**
 * Comparison of two values of possibly different types as PostgreSQL's cross-type operators do
 * it (date vs timestamp in the session time zone, int2/int4/int8, float4/float8).
 */
export function compareTyped(a: Value, ta: ResultType, b: Value, tb: ResultType, ctx: EvalContext): number {
  if (ta !== tb && DATETIME_RANK[ta] && DATETIME_RANK[tb]) {
    const to = ((DATETIME_RANK[ta] as number) > (DATETIME_RANK[tb] as number) ? ta : tb) as SqlType;
    return compareMixed(castValue(a, ta, to, undefined, 'implicit', ctx), to, castValue(b, tb, to, undefined, 'implicit', ctx), to);
  }
  return compareMixed(a, ta, b, tb);
}

const COMPARATORS = {
  '=': (c: number) => c === 0,
  '<>': (c: number) => c !== 0,
  '<': (c: number) => c < 0,
  '<=': (c: number) => c <= 0,
  '>': (c: number) => c > 0,
  '>=': (c: number) => c >= 0,
} as const;

/** Comparable types (json has no comparison operators; arrays and everything else do). */
function comparable(t: ResultType): boolean {
  return t !== 'json' && !(isArrayType(t) && elementType(t) === 'json');
}

for (const [op, test] of Object.entries(COMPARATORS)) {
  defOp(op, (args) => {
    const [l, r] = args as [ResultType, ResultType];
    if (!comparable(l) || !comparable(r)) return undefined;
    return impl(([a, b], ctx) => test(compareTyped(a as Value, l, b as Value, r, ctx)));
  });
}

/** Text of a value for concat and format (the type's output function). */
export function textOf(v: Value, t: ResultType, ctx?: EvalContext): string {
  if (t === 'text' || t === 'varchar' || t === 'unknown') return v as string;
  if (t === 'char') return trimPadding(v as string);
  return toText(v, t, ctx);
}

/** Text of a value as `::text` makes it (booleans give 'true'/'false'), for `||` (textanycat is `$1 || $2::text`). */
export function castText(v: Value, t: ResultType, ctx?: EvalContext): string {
  if (t === 'boolean') return v ? 'true' : 'false';
  return textOf(v, t, ctx);
}

/** `||`: text concatenation (textcat, textanycat, anytextcat); arrays, bytea and jsonb register through `concatHooks`. */
export const concatHooks: { factory?: (args: ResultType[], t: ResultType) => Impl | undefined } = {};

defOp('||', (args, t) => {
  const [l, r] = args as [ResultType, ResultType];
  if (t === 'text') return impl(([a, b], ctx) => castText(a as Value, l, ctx) + castText(b as Value, r, ctx));
  return concatHooks.factory?.(args, t);
});

// ---------------------------------------------------------------------------------------------
// LIKE (§9.7.1): % any string, _ one character, backslash escapes (LIKE … ESCAPE is like_escape).

const likeCache = new Map<string, RegExp>();

/** The RegExp of a LIKE pattern (escape `\`); ILIKE matches case-insensitively. @throws 22025 for a trailing escape. */
export function likeRegExp(pattern: string, insensitive: boolean): RegExp {
  const key = `${insensitive ? 'i' : 's'}${pattern}`;
  let re = likeCache.get(key);
  if (re) return re;
  let src = '';
  const cps = [...pattern];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as string;
    if (c === '\\') {
      const next = cps[++i];
      // PostgreSQL reports a trailing escape only when matching reaches it; it never matches.
      src += next === undefined ? '(?!)' : escapeRe(next);
    } else if (c === '%') src += '[\\s\\S]*';
    else if (c === '_') src += '[\\s\\S]';
    else src += escapeRe(c);
  }
  re = new RegExp(`^${src}$`, insensitive ? 'iu' : 'u');
  if (likeCache.size > 1000) likeCache.clear();
  likeCache.set(key, re);
  return re;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** like_escape(pattern, escape): rewrite a pattern with a custom escape character to the default `\`. */
export function likeEscape(pattern: string, esc: string): string {
  const e = [...esc];
  if (e.length > 1) throw new DataError('22019', 'invalid escape string', { hint: 'Escape string must be empty or one character.' });
  const cps = [...pattern];
  let out = '';
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as string;
    if (e.length === 0) {
      out += c === '\\' ? '\\\\' : c;
    } else if (c === e[0]) {
      const next = cps[++i];
      if (next === undefined) throw new DataError('22025', 'LIKE pattern must not end with escape character');
      out += next === '%' || next === '_' || next === '\\' ? `\\${next}` : next;
    } else if (c === '\\') out += '\\\\';
    else out += c;
  }
  return out;
}

function likeFactory(insensitive: boolean, negate: boolean) {
  return (args: ResultType[]): Impl | undefined => {
    const l = args[0] as ResultType;
    if (l !== 'text' && l !== 'char' && l !== 'varchar') return undefined;
    return impl(([s, p]) => likeRegExp(p as string, insensitive).test(s as string) !== negate);
  };
}
defOp('~~', likeFactory(false, false));
defOp('!~~', likeFactory(false, true));
defOp('~~*', likeFactory(true, false));
defOp('!~~*', likeFactory(true, true));

// ---------------------------------------------------------------------------------------------
// POSIX regular expressions (§9.7.3). PostgreSQL's ARE dialect is translated to JavaScript's:
// [[:class:]] brackets, \m \M \y \Y word boundaries, embedded options (?i) at the start.

const regexCache = new Map<string, RegExp>();
const POSIX_CLASSES: Record<string, string> = {
  alpha: '\\p{L}',
  digit: '0-9',
  alnum: '\\p{L}\\p{Nd}',
  upper: '\\p{Lu}',
  lower: '\\p{Ll}',
  space: '\\s',
  blank: ' \\t',
  punct: '\\p{P}',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\p{Cc}',
  print: '\\P{Cc}',
  graph: '\\p{L}\\p{N}\\p{P}\\p{S}',
};

/**
 * Compile a PostgreSQL regular expression with flags (`i` case-insensitive, `g` global, `x`
 * expanded, `n`/`s` newline handling as far as JavaScript allows).
 * @throws DataError 2201B "invalid regular expression: …".
 */
export function pgRegExp(pattern: string, flags: string): RegExp {
  const key = `${flags}/${pattern}`;
  let re = regexCache.get(key);
  if (re) return re;
  let p = pattern;
  let f = 'u';
  const emb = /^\(\?([a-z]+)\)/.exec(p);
  if (emb) {
    flags += emb[1];
    p = p.slice(emb[0].length);
  }
  for (const c of flags) {
    if (c === 'i' && !f.includes('i')) f += 'i';
    else if (c === 'g' && !f.includes('g')) f += 'g';
    else if (c === 'n' || c === 'm') f += f.includes('m') ? '' : 'm';
    else if (c === 'x') p = p.replace(/\\#|\s+|#[^\n]*/g, (m) => (m === '\\#' ? '#' : ''));
    else if (c === 'c' || c === 's' || c === 'p' || c === 'w' || c === 't') continue;
    else if (c !== 'i' && c !== 'g') throw new DataError(SqlState.invalidParameterValue, `invalid regular expression option: "${c}"`);
  }
  if (!f.includes('m')) f += 's';
  const src = p
    .replace(/\[\[:(\w+):\]\]/g, (_m, c: string) => `[${POSIX_CLASSES[c] ?? ''}]`)
    .replace(/\[:(\w+):\]/g, (_m, c: string) => POSIX_CLASSES[c] ?? '')
    .replace(/\\m/g, '\\b(?=\\w)')
    .replace(/\\M/g, '\\b(?<=\\w)')
    .replace(/\\y/g, '\\b')
    .replace(/\\Y/g, '\\B');
  try {
    re = new RegExp(src, f);
  } catch (e) {
    throw new DataError('2201B', `invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
  if (regexCache.size > 1000) regexCache.clear();
  regexCache.set(key, re);
  return re;
}

function regexFactory(insensitive: boolean, negate: boolean) {
  return (args: ResultType[]): Impl | undefined => {
    const l = args[0] as ResultType;
    if (l !== 'text' && l !== 'char' && l !== 'varchar') return undefined;
    return impl(([s, p]) => {
      const re = pgRegExp(p as string, insensitive ? 'i' : '');
      re.lastIndex = 0;
      return re.test(s as string) !== negate;
    });
  };
}
defOp('~', regexFactory(false, false));
defOp('!~', regexFactory(false, true));
defOp('~*', regexFactory(true, false));
defOp('!~*', regexFactory(true, true));

/** Scalar type helper for modules that look at element types. */
export type { ScalarType };
/** Non-strict helper re-exported for modules that build implementations. */
export { implNonStrict };
