/**
 * to_char, PostgreSQL 15 §9.8 (Tables 9.26–9.29): for timestamps and intervals the common
 * template patterns (YYYY YY MM DD DDD D HH HH12 HH24 MI SS MS US AM PM Mon Month MON MONTH Dy
 * Day DY DAY Q IW WW TZ, the FM prefix, "quoted" text); for numbers 9 0 . , D G S MI PL FM
 * with PostgreSQL's rounding and '#' on overflow.
 */
import { intervalParts, type ResultType, type Value } from '../types.ts';
import { isoWeek, timestampFields } from './fn-datetime.ts';
import { Dec } from './numeric.ts';
import { defFn, impl } from './registry.ts';
import { timestamptzToLocal } from './timezone.ts';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const PATTERNS = [
  'HH24',
  'HH12',
  'HH',
  'MI',
  'SS',
  'MS',
  'US',
  'AM',
  'PM',
  'am',
  'pm',
  'YYYY',
  'YYY',
  'YY',
  'Y',
  'MONTH',
  'Month',
  'month',
  'MON',
  'Mon',
  'mon',
  'MM',
  'DAY',
  'Day',
  'day',
  'DY',
  'Dy',
  'dy',
  'DDD',
  'DD',
  'D',
  'IW',
  'WW',
  'Q',
  'TZ',
  'tz',
];

function formatTs(us: bigint, fmtStr: string, tz: string | undefined): string {
  const f = timestampFields(us);
  const dow = (((f.days + 4) % 7) + 7) % 7;
  let out = '';
  let i = 0;
  while (i < fmtStr.length) {
    if (fmtStr[i] === '"') {
      const j = fmtStr.indexOf('"', i + 1);
      out += fmtStr.slice(i + 1, j < 0 ? undefined : j);
      i = j < 0 ? fmtStr.length : j + 1;
      continue;
    }
    if (fmtStr[i] === '\\' && i + 1 < fmtStr.length) {
      out += fmtStr[i + 1];
      i += 2;
      continue;
    }
    let fm = false;
    if (fmtStr.startsWith('FM', i)) {
      fm = true;
      i += 2;
    }
    const p = PATTERNS.find((x) => fmtStr.startsWith(x, i));
    if (!p) {
      out += fmtStr[i];
      i++;
      continue;
    }
    i += p.length;
    const num = (n: number, w: number): string => (fm ? String(n) : String(Math.abs(n)).padStart(w, '0'));
    const name = (s: string, style: string, w: number): string => {
      const t = style === style.toUpperCase() ? s.toUpperCase() : style === style.toLowerCase() ? s.toLowerCase() : s;
      return fm ? t : t.padEnd(w, ' ');
    };
    switch (p) {
      case 'HH24':
        out += num(f.h, 2);
        break;
      case 'HH12':
      case 'HH':
        out += num(f.h % 12 === 0 ? 12 : f.h % 12, 2);
        break;
      case 'MI':
        out += num(f.mi, 2);
        break;
      case 'SS':
        out += num(f.s, 2);
        break;
      case 'MS':
        out += num(Math.floor(f.usec / 1000), 3);
        break;
      case 'US':
        out += num(f.usec, 6);
        break;
      case 'AM':
      case 'PM':
        out += f.h < 12 ? 'AM' : 'PM';
        break;
      case 'am':
      case 'pm':
        out += f.h < 12 ? 'am' : 'pm';
        break;
      case 'YYYY':
        out += num(f.y > 0 ? f.y : 1 - f.y, 4);
        break;
      case 'YYY':
        out += num(f.y % 1000, 3);
        break;
      case 'YY':
        out += num(f.y % 100, 2);
        break;
      case 'Y':
        out += String(f.y % 10);
        break;
      case 'MONTH':
      case 'Month':
      case 'month':
        out += name(MONTHS[f.m - 1] as string, p, 9);
        break;
      case 'MON':
      case 'Mon':
      case 'mon':
        out += name((MONTHS[f.m - 1] as string).slice(0, 3), p, 3);
        break;
      case 'MM':
        out += num(f.m, 2);
        break;
      case 'DAY':
      case 'Day':
      case 'day':
        out += name(DAYS[dow] as string, p, 9);
        break;
      case 'DY':
      case 'Dy':
      case 'dy':
        out += name((DAYS[dow] as string).slice(0, 3), p, 3);
        break;
      case 'DDD':
        out += num(f.days - timestampFields(BigInt(f.days) * 86_400_000_000n).days + dayOfYear(f.y, f.m, f.d), 3);
        break;
      case 'DD':
        out += num(f.d, 2);
        break;
      case 'D':
        out += String(dow + 1);
        break;
      case 'IW':
        out += num(isoWeek(f.days)[1], 2);
        break;
      case 'WW':
        out += num(Math.floor((dayOfYear(f.y, f.m, f.d) - 1) / 7) + 1, 2);
        break;
      case 'Q':
        out += String(Math.floor((f.m - 1) / 3) + 1);
        break;
      case 'TZ':
      case 'tz': {
        const z = tz === undefined ? '' : tz === 'UTC' ? 'UTC' : tz;
        out += p === 'tz' ? z.toLowerCase() : z;
        break;
      }
    }
  }
  return out;
}

function dayOfYear(y: number, m: number, d: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
  return (cum[m - 1] as number) + d + (leap && m > 2 ? 1 : 0);
}

/** Numeric to_char: digit positions 9/0, decimal point . or D, group separator , or G, sign S/MI/PL, FM. */
function formatNumber(text: string, pattern: string): string {
  let fm = false;
  let p = pattern;
  if (p.startsWith('FM')) {
    fm = true;
    p = p.slice(2);
  }
  const dot = p.search(/[.D]/);
  const intPat = dot < 0 ? p : p.slice(0, dot);
  const fracPat = dot < 0 ? '' : p.slice(dot + 1);
  const fracDigits = (fracPat.match(/[90]/g) ?? []).length;
  const intDigits = (intPat.match(/[90]/g) ?? []).length;
  const d = new Dec(text);
  const neg = d.isNeg() && !d.isZero();
  const rounded = d.abs().toFixed(fracDigits, Dec.ROUND_HALF_UP);
  const [ip, fp = ''] = rounded.split('.') as [string, string | undefined];
  const overflow = ip.replace(/^0+/, '').length > intDigits;
  let intOut = '';
  let di = ip.length - 1;
  const firstZero = intPat.indexOf('0');
  for (let k = intPat.length - 1; k >= 0; k--) {
    const c = intPat[k] as string;
    const pos = intPat.slice(0, k + 1).replace(/[^90]/g, '').length;
    if (c === '9' || c === '0') {
      const digit = di >= 0 ? (ip[di] as string) : undefined;
      di--;
      if (overflow) intOut = `#${intOut}`;
      else if (digit !== undefined && !(digit === '0' && di < 0 && ip === '0' && (firstZero < 0 || k < firstZero) && fracDigits > 0))
        intOut = digit + intOut;
      else if (firstZero >= 0 && k >= firstZero) intOut = `0${intOut}`;
      else intOut = (fm ? '' : ' ') + intOut;
      void pos;
    } else if (c === ',' || c === 'G') {
      const more = di >= 0 || (firstZero >= 0 && k > firstZero);
      intOut = (more && !overflow ? ',' : overflow ? ',' : fm ? '' : ' ') + intOut;
    } else if (c === 'S' || c === 'M' || c === 'I' || c === 'P' || c === 'L') {
      // handled below
    } else intOut = c + intOut;
  }
  let fracOut = '';
  if (dot >= 0) {
    let fi = 0;
    for (const c of fracPat) {
      if (c === '9' || c === '0') fracOut += overflow ? '#' : (fp[fi++] ?? '0');
      else fracOut += c;
    }
    if (fm) fracOut = fracOut.replace(/0+$/, '');
    fracOut = `.${fracOut}`;
  }
  let body = intOut + fracOut;
  if (p.includes('S')) {
    const lead = body.length - body.trimStart().length;
    body = p.startsWith('S') ? `${body.slice(0, lead)}${neg ? '-' : '+'}${body.slice(lead)}` : `${body}${neg ? '-' : '+'}`;
  } else if (p.includes('MI')) body = p.startsWith('MI') ? `${neg ? '-' : ' '}${body}` : `${body}${neg ? '-' : ' '}`;
  else {
    // The minus sign sits right before the first digit; a blank is kept for it otherwise.
    const lead = body.length - body.trimStart().length;
    const sign = neg ? '-' : fm ? '' : ' ';
    body = `${body.slice(0, lead)}${sign}${body.slice(lead)}`;
  }
  return fm ? body.trim() : body;
}

defFn('to_char', (args) => {
  const t = args[0] as ResultType;
  switch (t) {
    case 'timestamp':
      return impl(([v, f]) => formatTs(v as bigint, f as string, undefined));
    case 'timestamptz':
      return impl(([v, f], ctx) => formatTs(timestamptzToLocal(v as bigint, ctx.timeZone), f as string, ctx.timeZone));
    case 'interval':
      return impl(([v, f]) => {
        const p = intervalParts(v as string);
        return formatTs(BigInt(p.days) * 86_400_000_000n + p.micros, f as string, undefined);
      });
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'double':
    case 'real':
      return impl(([v, f]) =>
        formatNumber(String(typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(15) : (v as Value)), f as string),
      );
    default:
      return undefined;
  }
});
