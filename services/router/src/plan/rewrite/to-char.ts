/**
 * PostgreSQL's formatting functions for the analytical tier (PostgreSQL 15 §9.8 "Data Type
 * Formatting Functions"): `to_char(timestamp, template)`, `to_char(number, template)` and the
 * templates of `to_timestamp` / `to_date`, compiled at plan time from a constant template into
 * DuckDB expression nodes (DuckDB has no to_char, and its strftime/strptime spell patterns
 * differently). Templates that are not constant, or use a pattern not listed here, are left to
 * DuckDB (docs/sql.md "Known differences").
 */
import type { Node } from '@pgsql/types';

// ---------------------------------------------------------------------------------------------
// AST builders.

const str = (s: string): Node => ({ String: { sval: s } });
const lit = (s: string): Node => ({ A_Const: { sval: { sval: s } } });
const int = (n: number): Node => ({ A_Const: { ival: { ival: n } } });
const call = (name: string, ...args: Node[]): Node => ({ FuncCall: { funcname: [str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } });
const op = (o: string, l: Node, r: Node): Node => ({ A_Expr: { kind: 'AEXPR_OP', name: [str(o)], lexpr: l, rexpr: r } });
const cast = (x: Node, type: string): Node => ({ TypeCast: { arg: x, typeName: { names: [str(type)], typemod: -1 } } });
const caseWhen = (arms: [Node, Node][], otherwise: Node): Node => ({
  CaseExpr: { args: arms.map(([c, r]) => ({ CaseWhen: { expr: c, result: r } })), defresult: otherwise },
});
const text = (x: Node): Node => cast(x, 'varchar');
/** An integer as text, zero-padded to `width` (never cut: lpad would truncate), or plain under FM. */
const pad = (x: Node, width: number, fm: boolean): Node => (fm ? text(x) : call('printf', lit(`%0${width}d`), cast(x, 'bigint')));
const castDec = (x: Node, p: number, s: number): Node => ({
  TypeCast: { arg: x, typeName: { names: [str('decimal')], typmods: [int(p), int(s)], typemod: -1 } },
});
const concat = (parts: Node[]): Node => (parts.length === 0 ? lit('') : call('concat', ...parts));
/** NULL when `x` is NULL (concat would skip it), else `body`. */
const strict = (x: Node, body: Node): Node =>
  caseWhen([[{ NullTest: { arg: x, nulltesttype: 'IS_NULL' } }, { A_Const: { isnull: true } }]], body);

// ---------------------------------------------------------------------------------------------
// to_char(timestamp, template)

/** Template patterns of timestamps, longest first (matching is case-insensitive except where the case selects the output's case). */
const TS_PATTERNS = [
  'HH24',
  'HH12',
  'HH',
  'MI',
  'SSSS',
  'SS',
  'MS',
  'US',
  'A.M.',
  'P.M.',
  'AM',
  'PM',
  'IYYY',
  'YYYY',
  'YYY',
  'YY',
  'Y',
  'MONTH',
  'MON',
  'MM',
  'DAY',
  'DDD',
  'DD',
  'DY',
  'D',
  'IDDD',
  'ID',
  'IW',
  'WW',
  'W',
  'Q',
  'J',
  'CC',
  'TZ',
  'OF',
] as const;

/** Output case of a name pattern as written: 'Month' → capitalized, 'MONTH' → upper, 'month' → lower. */
function nameCase(written: string, x: Node): Node {
  if (written === written.toUpperCase()) return call('upper', x);
  if (written === written.toLowerCase()) return call('lower', x);
  return x;
}

/** An ordinal suffix (TH / th) of an integer expression. */
function ordinal(v: Node, upper: boolean): Node {
  const m100 = op('%', v, int(100));
  const m10 = op('%', v, int(10));
  const s = (x: string): Node => lit(upper ? x.toUpperCase() : x);
  return caseWhen(
    [
      [{ A_Expr: { kind: 'AEXPR_IN', name: [str('=')], lexpr: m100, rexpr: { List: { items: [int(11), int(12), int(13)] } } } }, s('th')],
      [op('=', m10, int(1)), s('st')],
      [op('=', m10, int(2)), s('nd')],
      [op('=', m10, int(3)), s('rd')],
    ],
    s('th'),
  );
}

/**
 * to_char(timestamp[tz], template) as DuckDB nodes (the session time zone is UTC, so a
 * timestamptz's fields are its UTC fields, as PostgreSQL prints them under TimeZone UTC).
 * Supports the date/time patterns of {@link TS_PATTERNS}, the FM prefix, the TH/th suffix,
 * "quoted text" and backslash escapes; undefined for anything else.
 */
export function toCharTimestamp(x: Node, template: string): Node | undefined {
  const parts: Node[] = [];
  const us = op('%', call('microsecond', x), int(1_000_000));
  let i = 0;
  while (i < template.length) {
    const rest = template.slice(i);
    if (rest.startsWith('"')) {
      const end = template.indexOf('"', i + 1);
      if (end < 0) return undefined;
      parts.push(lit(template.slice(i + 1, end).replace(/\\"/g, '"')));
      i = end + 1;
      continue;
    }
    if (rest.startsWith('\\') && rest.length > 1) {
      parts.push(lit(rest[1] as string));
      i += 2;
      continue;
    }
    let fm = false;
    let r = rest;
    if (/^FM/i.test(r)) {
      fm = true;
      r = r.slice(2);
    }
    const p = TS_PATTERNS.find((q) => r.toUpperCase().startsWith(q));
    if (!p) {
      if (fm) return undefined;
      parts.push(lit(rest[0] as string));
      i++;
      continue;
    }
    const written = r.slice(0, p.length);
    let n: Node | undefined;
    let num: Node | undefined;
    const numeric = (v: Node, width: number): Node => {
      num = v;
      return pad(v, width, fm);
    };
    switch (p) {
      case 'HH24':
        n = numeric(call('hour', x), 2);
        break;
      case 'HH12':
      case 'HH':
        n = numeric(op('+', op('%', op('+', call('hour', x), int(11)), int(12)), int(1)), 2);
        break;
      case 'MI':
        n = numeric(call('minute', x), 2);
        break;
      case 'SS':
        n = numeric(call('second', x), 2);
        break;
      case 'SSSS':
        n = numeric(op('+', op('*', call('hour', x), int(3600)), op('+', op('*', call('minute', x), int(60)), call('second', x))), 1);
        break;
      case 'MS':
        n = numeric(op('//', us, int(1000)), 3);
        break;
      case 'US':
        n = numeric(us, 6);
        break;
      case 'AM':
      case 'PM':
      case 'A.M.':
      case 'P.M.': {
        const dots = p.includes('.');
        const am = dots ? 'a.m.' : 'am';
        const pm = dots ? 'p.m.' : 'pm';
        const up = written === written.toUpperCase();
        n = caseWhen([[op('<', call('hour', x), int(12)), lit(up ? am.toUpperCase() : am)]], lit(up ? pm.toUpperCase() : pm));
        break;
      }
      case 'YYYY':
        n = numeric(call('year', x), 4);
        break;
      case 'IYYY':
        n = numeric(call('isoyear', x), 4);
        break;
      case 'YYY':
        n = numeric(op('%', call('year', x), int(1000)), 3);
        break;
      case 'YY':
        n = numeric(op('%', call('year', x), int(100)), 2);
        break;
      case 'Y':
        n = numeric(op('%', call('year', x), int(10)), 1);
        break;
      case 'MONTH':
        n = nameCase(written, fm ? call('monthname', x) : call('rpad', call('monthname', x), int(9), lit(' ')));
        break;
      case 'MON':
        n = nameCase(written, call('left', call('monthname', x), int(3)));
        break;
      case 'MM':
        n = numeric(call('month', x), 2);
        break;
      case 'DAY':
        n = nameCase(written, fm ? call('dayname', x) : call('rpad', call('dayname', x), int(9), lit(' ')));
        break;
      case 'DY':
        n = nameCase(written, call('left', call('dayname', x), int(3)));
        break;
      case 'DDD':
        n = numeric(call('dayofyear', x), 3);
        break;
      case 'DD':
        n = numeric(call('day', x), 2);
        break;
      case 'D':
        n = numeric(op('+', call('dayofweek', x), int(1)), 1);
        break;
      case 'ID':
        n = numeric(call('isodow', x), 1);
        break;
      case 'IW':
        n = numeric(call('week', x), 2);
        break;
      case 'WW':
        n = numeric(op('+', op('//', op('-', call('dayofyear', x), int(1)), int(7)), int(1)), 2);
        break;
      case 'W':
        n = numeric(op('+', op('//', op('-', call('day', x), int(1)), int(7)), int(1)), 1);
        break;
      case 'Q':
        n = numeric(call('quarter', x), 1);
        break;
      case 'J':
        n = numeric(cast(call('julian', cast(x, 'date')), 'bigint'), 1);
        break;
      case 'CC':
        n = numeric(op('//', op('+', call('year', x), int(99)), int(100)), 2);
        break;
      default:
        return undefined;
    }
    parts.push(n);
    i += (fm ? 2 : 0) + p.length;
    const th = /^th/i.exec(template.slice(i));
    if (th && num) {
      parts.push(ordinal(num, th[0] === 'TH'));
      i += 2;
    }
  }
  return strict(x, concat(parts));
}

// ---------------------------------------------------------------------------------------------
// to_char(number, template)

/**
 * to_char(numeric | integer | float, template) as DuckDB nodes: digit positions 9 and 0, the
 * decimal point (. or D), group separators (, or G), the sign (S at either end, MI at the end,
 * else a leading position), FM, and EEEE; overflow prints '#' in every digit position. Rounds
 * half away from zero (numeric_round) at the template's decimals. Undefined for other patterns.
 */
export function toCharNumber(x: Node, template: string, type: string): Node | undefined {
  let t = template;
  let fm = false;
  if (/^FM/i.test(t)) {
    fm = true;
    t = t.slice(2);
  }
  let signS: 'lead' | 'trail' | undefined;
  if (/^S/i.test(t)) {
    signS = 'lead';
    t = t.slice(1);
  } else if (/S$/i.test(t)) {
    signS = 'trail';
    t = t.slice(0, -1);
  }
  let mi = false;
  if (/MI$/i.test(t)) {
    mi = true;
    t = t.slice(0, -2);
  }
  const eeee = /EEEE$/i.test(t);
  if (eeee) t = t.slice(0, -4);
  if (!/^[90.,DG]*$/i.test(t)) return undefined;
  const point = t.search(/[.D]/i);
  const intPat = point < 0 ? t : t.slice(0, point);
  const fracPat = point < 0 ? '' : t.slice(point + 1);
  if (/[.D,G]/i.test(fracPat)) return undefined;
  const dp = fracPat.length;
  const ipDigits = (intPat.match(/[90]/g) ?? []).length;
  // |x| (integers widened first: abs(-2147483648) overflows an int4).
  const abs = call('abs', ['smallint', 'integer', 'bigint'].includes(type) ? cast(x, 'hugeint') : x);
  let neg = op('<', x, int(0));
  const sign = (): Node => caseWhen([[neg, lit('-')]], lit(signS || mi ? '+' : ' '));
  if (eeee) {
    // d.ddde±XX with the template's decimals (printf %e, PostgreSQL's float8 path).
    const body = call('printf', lit(`%.${dp}e`), cast(abs, 'double'));
    const s = signS ? caseWhen([[neg, lit('-')]], lit('+')) : caseWhen([[neg, lit('-')]], lit(' '));
    return strict(x, concat(fm ? [caseWhen([[neg, lit('-')]], lit('')), body] : [s, body]));
  }
  // The absolute value rounded to dp decimals, as text: integer digits and fraction digits.
  const isFloat = type === 'double' || type === 'real';
  const rounded = isFloat ? call('printf', lit(`%.${dp}f`), cast(abs, 'double')) : text(castDec(call('round', abs, int(dp)), 38, dp));
  // A value that rounds to zero prints no minus sign.
  neg = { BoolExpr: { boolop: 'AND_EXPR', args: [neg, call('regexp_matches', rounded, lit('[1-9]'))] } };
  const ipart = call('split_part', rounded, lit('.'), int(1));
  const fpart = call('split_part', rounded, lit('.'), int(2));
  // PostgreSQL prints no integer digit for a value below 1 when the template has decimals and no 0 before the point.
  const zeroFrom = intPat.search(/0/);
  const digits: Node = dp > 0 && zeroFrom < 0 ? caseWhen([[op('=', ipart, lit('0')), lit('')]], ipart) : ipart;
  const overflow = op('>', call('length', digits), int(ipDigits));
  const len = call('length', digits);
  // Integer positions, left to right; k = number of digit positions to the right of (and including) this one.
  const intParts: Node[] = [];
  let k = ipDigits;
  let zeroZone = false;
  for (const c of intPat) {
    if (c === '9' || c === '0') {
      if (c === '0') zeroZone = true;
      const kk = k;
      const digit = call('substring', digits, op('+', op('-', len, int(kk)), int(1)), int(1));
      intParts.push(caseWhen([[op('>=', len, int(kk)), digit]], lit(zeroZone ? '0' : fm ? '' : ' ')));
      k--;
    } else {
      // A group separator prints when a digit (or a forced zero) is printed to its left.
      const kk = k;
      intParts.push(caseWhen([[op('>', len, int(kk)), lit(',')]], lit(zeroZone ? ',' : fm ? '' : ' ')));
    }
  }
  const fracParts: Node[] = [];
  if (point >= 0) fracParts.push(lit('.'));
  for (let j = 0; j < dp; j++) fracParts.push(call('substring', fpart, int(j + 1), int(1)));
  let body: Node = concat([...intParts, ...fracParts]);
  if (fm && dp > 0) {
    // FM drops trailing zeros of 9 positions (PostgreSQL keeps those of 0 positions) and a bare point.
    const keep = fracPat.lastIndexOf('0') + 1;
    const stripped = call('rtrim', body, lit('0'));
    const minLen = op('-', call('length', body), int(dp - keep));
    body =
      keep === dp
        ? body
        : call('rtrim', caseWhen([[op('<', call('length', stripped), minLen), call('left', body, minLen)]], stripped), lit('.'));
  }
  const hashes = lit(
    (intPat.replace(/[90]/g, '#').replace(/[,G]/gi, ',') + (point >= 0 ? `.${'#'.repeat(dp)}` : '')).replace(/,/g, fm ? ',' : ','),
  );
  const shown = caseWhen([[overflow, hashes]], body);
  let out: Node;
  if (signS === 'trail') out = concat([shown, caseWhen([[neg, lit('-')]], lit('+'))]);
  else if (mi) out = concat([shown, caseWhen([[neg, lit('-')]], lit(' '))]);
  else {
    // The sign goes right before the first printed character (a reserved blank for positives).
    const withSlot = concat([lit(' '), shown]);
    const signed = call('regexp_replace', withSlot, lit(' ([^ ])'), concat([sign(), lit('\\1')]));
    out = fm ? call('ltrim', signed) : signed;
    if (fm && !signS)
      out = call('ltrim', call('regexp_replace', withSlot, lit(' ([^ ])'), concat([caseWhen([[neg, lit('-')]], lit('')), lit('\\1')])));
  }
  return strict(x, out);
}

// ---------------------------------------------------------------------------------------------
// to_timestamp(text, template) / to_date(text, template)

const STRPTIME: [RegExp, string][] = [
  [/^HH24/i, '%H'],
  [/^HH12/i, '%I'],
  [/^HH/i, '%I'],
  [/^MI/i, '%M'],
  [/^SS/i, '%S'],
  [/^US/i, '%f'],
  [/^(AM|PM|A\.M\.|P\.M\.)/i, '%p'],
  [/^YYYY/i, '%Y'],
  [/^YY/i, '%y'],
  [/^MONTH/i, '%B'],
  [/^MON/i, '%b'],
  [/^MM/i, '%m'],
  [/^DDD/i, '%j'],
  [/^DD/i, '%d'],
];

/** A DuckDB strptime format for a to_timestamp/to_date template, or undefined when a pattern has no strptime equivalent. */
export function strptimeFormat(template: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < template.length) {
    let rest = template.slice(i);
    if (/^FM/i.test(rest)) {
      i += 2;
      rest = rest.slice(2);
    }
    const hit = STRPTIME.find(([re]) => re.test(rest));
    if (hit) {
      out += hit[1];
      i += (hit[0].exec(rest) as RegExpExecArray)[0].length;
      continue;
    }
    const c = rest[0] as string;
    if (/[A-Za-z]/.test(c)) return undefined;
    out += c === '%' ? '%%' : c;
    i++;
  }
  return out;
}
