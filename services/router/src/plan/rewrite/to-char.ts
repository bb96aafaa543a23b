/**
 * PostgreSQL's formatting functions for the analytical tier (PostgreSQL 15 §9.8 "Data Type
 * Formatting Functions"): `to_char(timestamp, template)`, `to_char(number, template)` and the
 * templates of `to_timestamp` / `to_date`, compiled at plan time from a constant template into
 * DuckDB expression nodes (DuckDB has no to_char, and its strftime/strptime spell patterns
 * differently). Templates that are not constant, or use a pattern not listed here, are left to
 * DuckDB (docs/sql.md "Known differences").
 */
import type { Node } from '@pgsql/types';
import { castNode, fn, intConst, nullWhenNull, opExpr, str, textConst } from './nodes.ts';
import { offsetSeconds, type SessionZone, zoneAbbrevNode } from './zone.ts';

// ---------------------------------------------------------------------------------------------
// AST builders (over nodes.ts).

const call = (name: string, ...args: Node[]): Node => fn(name, args);
const caseWhen = (arms: [Node, Node][], otherwise: Node): Node => ({
  CaseExpr: { args: arms.map(([c, r]) => ({ CaseWhen: { expr: c, result: r } })), defresult: otherwise },
});
const text = (x: Node): Node => castNode(x, 'varchar');
/** An integer as text, zero-padded to `width` (never cut: lpad would truncate), or plain under FM. */
const pad = (x: Node, width: number, fm: boolean): Node => (fm ? text(x) : call('printf', textConst(`%0${width}d`), castNode(x, 'bigint')));
const concat = (parts: Node[]): Node => (parts.length === 0 ? textConst('') : call('concat', ...parts));

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
  const m100 = opExpr('%', v, intConst(100));
  const m10 = opExpr('%', v, intConst(10));
  const s = (x: string): Node => textConst(upper ? x.toUpperCase() : x);
  return caseWhen(
    [
      [
        {
          A_Expr: {
            kind: 'AEXPR_IN',
            name: [str('=')],
            lexpr: m100,
            rexpr: { List: { items: [intConst(11), intConst(12), intConst(13)] } },
          },
        },
        s('th'),
      ],
      [opExpr('=', m10, intConst(1)), s('st')],
      [opExpr('=', m10, intConst(2)), s('nd')],
      [opExpr('=', m10, intConst(3)), s('rd')],
    ],
    s('th'),
  );
}

/**
 * to_char(timestamp[tz], template) as DuckDB nodes; `x` holds the fields to print (a
 * timestamptz's local time in the session zone). Supports the date/time patterns of
 * {@link TS_PATTERNS}, the FM prefix, the TH/th suffix, "quoted text" and backslash escapes;
 * undefined for anything else. `tz`: for a timestamptz, the zone TZ and OF print — `'utc'`, or
 * the session zone and the instant `at`; for a timestamp (undefined) they print nothing.
 */
export function toCharTimestamp(x: Node, template: string, tz?: 'utc' | { zone: SessionZone; at: Node }): Node | undefined {
  const parts: Node[] = [];
  const us = opExpr('%', call('microsecond', x), intConst(1_000_000));
  let i = 0;
  while (i < template.length) {
    const rest = template.slice(i);
    if (rest.startsWith('"')) {
      const end = template.indexOf('"', i + 1);
      if (end < 0) return undefined;
      parts.push(textConst(template.slice(i + 1, end).replace(/\\"/g, '"')));
      i = end + 1;
      continue;
    }
    if (rest.startsWith('\\') && rest.length > 1) {
      parts.push(textConst(rest.charAt(1)));
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
      parts.push(textConst(rest.charAt(0)));
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
        n = numeric(opExpr('+', opExpr('%', opExpr('+', call('hour', x), intConst(11)), intConst(12)), intConst(1)), 2);
        break;
      case 'MI':
        n = numeric(call('minute', x), 2);
        break;
      case 'SS':
        n = numeric(call('second', x), 2);
        break;
      case 'SSSS':
        n = numeric(
          opExpr(
            '+',
            opExpr('*', call('hour', x), intConst(3600)),
            opExpr('+', opExpr('*', call('minute', x), intConst(60)), call('second', x)),
          ),
          1,
        );
        break;
      case 'MS':
        n = numeric(opExpr('//', us, intConst(1000)), 3);
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
        n = caseWhen(
          [[opExpr('<', call('hour', x), intConst(12)), textConst(up ? am.toUpperCase() : am)]],
          textConst(up ? pm.toUpperCase() : pm),
        );
        break;
      }
      case 'YYYY':
        n = numeric(call('year', x), 4);
        break;
      case 'IYYY':
        n = numeric(call('isoyear', x), 4);
        break;
      case 'YYY':
        n = numeric(opExpr('%', call('year', x), intConst(1000)), 3);
        break;
      case 'YY':
        n = numeric(opExpr('%', call('year', x), intConst(100)), 2);
        break;
      case 'Y':
        n = numeric(opExpr('%', call('year', x), intConst(10)), 1);
        break;
      case 'MONTH':
        n = nameCase(written, fm ? call('monthname', x) : call('rpad', call('monthname', x), intConst(9), textConst(' ')));
        break;
      case 'MON':
        n = nameCase(written, call('left', call('monthname', x), intConst(3)));
        break;
      case 'MM':
        n = numeric(call('month', x), 2);
        break;
      case 'DAY':
        n = nameCase(written, fm ? call('dayname', x) : call('rpad', call('dayname', x), intConst(9), textConst(' ')));
        break;
      case 'DY':
        n = nameCase(written, call('left', call('dayname', x), intConst(3)));
        break;
      case 'DDD':
        n = numeric(call('dayofyear', x), 3);
        break;
      case 'DD':
        n = numeric(call('day', x), 2);
        break;
      case 'D':
        n = numeric(opExpr('+', call('dayofweek', x), intConst(1)), 1);
        break;
      case 'ID':
        n = numeric(call('isodow', x), 1);
        break;
      case 'IW':
        n = numeric(call('week', x), 2);
        break;
      case 'WW':
        n = numeric(opExpr('+', opExpr('//', opExpr('-', call('dayofyear', x), intConst(1)), intConst(7)), intConst(1)), 2);
        break;
      case 'W':
        n = numeric(opExpr('+', opExpr('//', opExpr('-', call('day', x), intConst(1)), intConst(7)), intConst(1)), 1);
        break;
      case 'Q':
        n = numeric(call('quarter', x), 1);
        break;
      case 'J':
        n = numeric(castNode(call('julian', castNode(x, 'date')), 'bigint'), 1);
        break;
      case 'CC':
        n = numeric(opExpr('//', opExpr('+', call('year', x), intConst(99)), intConst(100)), 2);
        break;
      case 'TZ':
        // Upper-case 'TZ' prints the abbreviation as it is, 'tz' lower-cased (DCH_TZ / DCH_tz).
        if (written !== 'TZ' && written !== 'tz') return undefined;
        n = tz === undefined ? textConst('') : tz === 'utc' ? textConst('UTC') : zoneAbbrevNode(tz.zone, tz.at);
        if (written === 'tz') n = call('lower', n);
        break;
      case 'OF':
        n = tz === undefined ? textConst('') : tz === 'utc' ? textConst('+00') : fn('pg_tz_offset_text', [offsetSeconds(tz.zone, tz.at)]);
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
  return nullWhenNull(x, concat(parts));
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
  const abs = call('abs', ['smallint', 'integer', 'bigint'].includes(type) ? castNode(x, 'hugeint') : x);
  let neg = opExpr('<', x, intConst(0));
  const sign = (): Node => caseWhen([[neg, textConst('-')]], textConst(signS || mi ? '+' : ' '));
  if (eeee) {
    // d.ddde±XX with the template's decimals (printf %e, PostgreSQL's float8 path).
    const body = call('printf', textConst(`%.${dp}e`), castNode(abs, 'double'));
    const s = signS ? caseWhen([[neg, textConst('-')]], textConst('+')) : caseWhen([[neg, textConst('-')]], textConst(' '));
    return nullWhenNull(x, concat(fm ? [caseWhen([[neg, textConst('-')]], textConst('')), body] : [s, body]));
  }
  // The absolute value rounded to dp decimals, as text: integer digits and fraction digits.
  const isFloat = type === 'double' || type === 'real';
  const rounded = isFloat
    ? call('printf', textConst(`%.${dp}f`), castNode(abs, 'double'))
    : text(castNode(call('round', abs, intConst(dp)), 'decimal', [38, dp]));
  // A value that rounds to zero prints no minus sign.
  neg = { BoolExpr: { boolop: 'AND_EXPR', args: [neg, call('regexp_matches', rounded, textConst('[1-9]'))] } };
  const ipart = call('split_part', rounded, textConst('.'), intConst(1));
  const fpart = call('split_part', rounded, textConst('.'), intConst(2));
  // PostgreSQL prints no integer digit for a value below 1 when the template has decimals and no 0 before the point.
  const zeroFrom = intPat.search(/0/);
  const digits: Node = dp > 0 && zeroFrom < 0 ? caseWhen([[opExpr('=', ipart, textConst('0')), textConst('')]], ipart) : ipart;
  const overflow = opExpr('>', call('length', digits), intConst(ipDigits));
  const len = call('length', digits);
  // Integer positions, left to right; k = number of digit positions to the right of (and including) this one.
  const intParts: Node[] = [];
  let k = ipDigits;
  let zeroZone = false;
  for (const c of intPat) {
    if (c === '9' || c === '0') {
      if (c === '0') zeroZone = true;
      const kk = k;
      const digit = call('substring', digits, opExpr('+', opExpr('-', len, intConst(kk)), intConst(1)), intConst(1));
      intParts.push(caseWhen([[opExpr('>=', len, intConst(kk)), digit]], textConst(zeroZone ? '0' : fm ? '' : ' ')));
      k--;
    } else {
      // A group separator prints when a digit (or a forced zero) is printed to its left.
      const kk = k;
      intParts.push(caseWhen([[opExpr('>', len, intConst(kk)), textConst(',')]], textConst(zeroZone ? ',' : fm ? '' : ' ')));
    }
  }
  const fracParts: Node[] = [];
  if (point >= 0) fracParts.push(textConst('.'));
  for (let j = 0; j < dp; j++) fracParts.push(call('substring', fpart, intConst(j + 1), intConst(1)));
  let body: Node = concat([...intParts, ...fracParts]);
  if (fm && dp > 0) {
    // FM drops trailing zeros of 9 positions (PostgreSQL keeps those of 0 positions) and a bare point.
    const keep = fracPat.lastIndexOf('0') + 1;
    const stripped = call('rtrim', body, textConst('0'));
    const minLen = opExpr('-', call('length', body), intConst(dp - keep));
    body =
      keep === dp
        ? body
        : call('rtrim', caseWhen([[opExpr('<', call('length', stripped), minLen), call('left', body, minLen)]], stripped), textConst('.'));
  }
  const hashes = textConst(
    (intPat.replace(/[90]/g, '#').replace(/[,G]/gi, ',') + (point >= 0 ? `.${'#'.repeat(dp)}` : '')).replace(/,/g, fm ? ',' : ','),
  );
  const shown = caseWhen([[overflow, hashes]], body);
  let out: Node;
  if (signS === 'trail') out = concat([shown, caseWhen([[neg, textConst('-')]], textConst('+'))]);
  else if (mi) out = concat([shown, caseWhen([[neg, textConst('-')]], textConst(' '))]);
  else {
    // The sign goes right before the first printed character (a reserved blank for positives).
    const withSlot = concat([textConst(' '), shown]);
    const signed = call('regexp_replace', withSlot, textConst(' ([^ ])'), concat([sign(), textConst('\\1')]));
    out = fm ? call('ltrim', signed) : signed;
    if (fm && !signS)
      out = call(
        'ltrim',
        call(
          'regexp_replace',
          withSlot,
          textConst(' ([^ ])'),
          concat([caseWhen([[neg, textConst('-')]], textConst('')), textConst('\\1')]),
        ),
      );
  }
  return nullWhenNull(x, out);
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
      i += hit[0].exec(rest)?.[0].length ?? 1;
      continue;
    }
    const c = rest.charAt(0);
    if (/[A-Za-z]/.test(c)) return undefined;
    out += c === '%' ? '%%' : c;
    i++;
  }
  return out;
}
