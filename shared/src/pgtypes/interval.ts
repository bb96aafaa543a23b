/**
 * `interval` (PostgreSQL 15 §8.5.4 "Interval Input" and "Interval Output"; `DecodeInterval`,
 * `DecodeISO8601Interval` and `EncodeInterval` in src/backend/utils/adt/datetime.c).
 * An interval keeps months, days and microseconds apart, as PostgreSQL does. Its stored
 * representation is the text PostgreSQL prints with `IntervalStyle iso_8601` ('P1Y2M3DT4H5M6.5S').
 */
import { DataError, SqlState } from '../errors.ts';

/** An interval's three fields: months and days are int32, micros int64 (PostgreSQL's `Interval`). */
export interface IntervalParts {
  months: number;
  days: number;
  micros: bigint;
}

/** Output styles of the `IntervalStyle` setting. */
export type IntervalStyle = 'postgres' | 'iso_8601' | 'sql_standard' | 'postgres_verbose';

const US_PER_SEC = 1_000_000n;
const US_PER_MIN = 60_000_000n;
const US_PER_HOUR = 3_600_000_000n;
const US_PER_DAY = 86_400_000_000n;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** C's rint(): round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** An interval being decoded (PostgreSQL's `pg_itm_in`). */
class Acc {
  months = 0;
  days = 0;
  micros = 0n;
  constructor(
    readonly text: string,
    readonly suffix: string,
  ) {}
  overflow(): DataError {
    return new DataError(SqlState.intervalFieldOverflow, `interval field value out of range: "${this.text}"${this.suffix}`);
  }
  addMonths(n: number): void {
    this.months += n;
    if (!Number.isSafeInteger(this.months) || this.months < INT32_MIN || this.months > INT32_MAX) throw this.overflow();
  }
  addDays(n: number): void {
    this.days += n;
    if (!Number.isSafeInteger(this.days) || this.days < INT32_MIN || this.days > INT32_MAX) throw this.overflow();
  }
  addMicros(n: bigint): void {
    this.micros += n;
    if (this.micros < INT64_MIN || this.micros > INT64_MAX) throw this.overflow();
  }
  /** AdjustFractMicroseconds: |frac| < 1 of a unit of `scale` µs. */
  fractMicros(frac: number, scale: number): void {
    if (frac === 0) return;
    const f = frac * scale;
    const us = Math.trunc(f);
    this.addMicros(BigInt(us + rint(f - us)));
  }
  /** AdjustFractDays: a fraction of a unit of `scale` days; what is below a day goes to µs. */
  fractDays(frac: number, scale: number): void {
    if (frac === 0) return;
    const f = frac * scale;
    const d = Math.trunc(f);
    this.addDays(d);
    this.fractMicros(f - d, 86_400_000_000);
  }
  /** AdjustFractYears: a fraction of `scale` years, rounded to whole months. */
  fractYears(frac: number, scale: number): void {
    this.addMonths(rint(frac * scale * 12));
  }
  /** Add `val` + `frac` of a unit. */
  add(unit: Unit, val: number, frac: number): void {
    switch (unit) {
      case 'microsecond':
        this.addMicros(BigInt(val));
        this.fractMicros(frac, 1);
        return;
      case 'millisecond':
        this.addMicros(BigInt(val) * 1000n);
        this.fractMicros(frac, 1000);
        return;
      case 'second':
        this.addMicros(BigInt(val) * US_PER_SEC);
        this.fractMicros(frac, 1_000_000);
        return;
      case 'minute':
        this.addMicros(BigInt(val) * US_PER_MIN);
        this.fractMicros(frac, 60_000_000);
        return;
      case 'hour':
        this.addMicros(BigInt(val) * US_PER_HOUR);
        this.fractMicros(frac, 3_600_000_000);
        return;
      case 'day':
        this.addDays(val);
        this.fractMicros(frac, 86_400_000_000);
        return;
      case 'week':
        this.addDays(val * 7);
        this.fractDays(frac, 7);
        return;
      case 'month':
        this.addMonths(val);
        this.fractDays(frac, 30);
        return;
      case 'year':
        this.addMonths(val * 12);
        this.fractYears(frac, 1);
        return;
      case 'decade':
        this.addMonths(val * 120);
        this.fractYears(frac, 10);
        return;
      case 'century':
        this.addMonths(val * 1200);
        this.fractYears(frac, 100);
        return;
      case 'millennium':
        this.addMonths(val * 12000);
        this.fractYears(frac, 1000);
        return;
    }
  }
  parts(): IntervalParts {
    return { months: this.months, days: this.days, micros: this.micros };
  }
}

type Unit =
  | 'microsecond'
  | 'millisecond'
  | 'second'
  | 'minute'
  | 'hour'
  | 'day'
  | 'week'
  | 'month'
  | 'year'
  | 'decade'
  | 'century'
  | 'millennium';

/** PostgreSQL's unit words (`deltatktbl`), matched on their first 10 characters as PostgreSQL does. */
const UNITS: Record<string, Unit> = {
  microsecon: 'microsecond',
  us: 'microsecond',
  usec: 'microsecond',
  usecs: 'microsecond',
  millisecon: 'millisecond',
  ms: 'millisecond',
  msec: 'millisecond',
  msecs: 'millisecond',
  s: 'second',
  sec: 'second',
  secs: 'second',
  second: 'second',
  seconds: 'second',
  m: 'minute',
  min: 'minute',
  mins: 'minute',
  minute: 'minute',
  minutes: 'minute',
  h: 'hour',
  hr: 'hour',
  hrs: 'hour',
  hour: 'hour',
  hours: 'hour',
  d: 'day',
  day: 'day',
  days: 'day',
  w: 'week',
  week: 'week',
  weeks: 'week',
  mon: 'month',
  mons: 'month',
  month: 'month',
  months: 'month',
  y: 'year',
  yr: 'year',
  yrs: 'year',
  year: 'year',
  years: 'year',
  dec: 'decade',
  decs: 'decade',
  decade: 'decade',
  decades: 'decade',
  c: 'century',
  cent: 'century',
  century: 'century',
  centuries: 'century',
  mil: 'millennium',
  mils: 'millennium',
  millennium: 'millennium',
  millennia: 'millennium',
};

/** Integer and fraction of a signed decimal number text; the fraction carries the sign. */
function splitNumber(s: string): { val: number; frac: number } {
  const neg = s.startsWith('-');
  const body = s.replace(/^[+-]/, '');
  const [ip = '', fp = ''] = body.split('.');
  const val = Number(ip || '0');
  const frac = fp ? Number(`0.${fp}`) : 0;
  return { val: neg ? -val : val, frac: neg ? -frac : frac };
}

const NUM_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const TIME_RE = /^([+-])?(\d+):(\d+)(?::(\d+))?(?:\.(\d*))?$/;
const YM_RE = /^([+-])?(\d+)-(\d+)$/;
const GLUED_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)[a-z]+)+$/;

/**
 * Parse PostgreSQL interval input (IntervalStyle postgres): unit phrases ('1 day 2 hours',
 * '1.5 years', '@ 1 minute ago', '1d2h'), SQL-standard year-month ('1-2') and day-time
 * ('1 2:03:04', '01:02:03', '1:2.5' = 1 min 2.5 s) fields, a bare number as seconds, and
 * ISO 8601 ('P1Y2M3DT4H5M6.5S', 'P1.5W', 'P0001-02-03T04:05:06'). Fractions of a unit spill
 * into smaller units as PostgreSQL does (a month is 30 days, a year 12 months).
 * @param suffix appended to error messages (where the value was going).
 * @param range the field range of the target type (`interval minute`: a bare number is minutes),
 *   as {@link intervalTypmod} encodes it.
 * @param style the session's IntervalStyle: under 'sql_standard' a leading '-' negates every field
 *   when no other field has a sign ('-1 2:03' = -1 day -2:03).
 * @throws DataError 22007 on bad syntax, 22015 "interval field value out of range".
 */
export function parseInterval(text: string, suffix = '', style: IntervalStyle = 'postgres', range = INTERVAL_FULL_RANGE): IntervalParts {
  const bad = (): DataError => new DataError(SqlState.invalidDatetimeFormat, `invalid input syntax for type interval: "${text}"${suffix}`);
  const acc = new Acc(text, suffix);
  const t = text.trim();
  if (t.startsWith('P')) {
    if (!parseIso8601(t.slice(1), acc)) throw bad();
    return acc.parts();
  }
  const tokens: string[] = [];
  for (const raw of t.toLowerCase().split(/[\s,]+/)) {
    if (raw === '') continue;
    if (GLUED_RE.test(raw)) tokens.push(...(raw.match(/[+-]?[\d.]+|[a-z]+/g) ?? []));
    else tokens.push(raw);
  }
  if (tokens.length === 0) throw bad();
  const seen = new Set<string>();
  const mark = (f: string): void => {
    if (seen.has(f)) throw bad();
    seen.add(f);
  };
  let ago = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    if (tok === '@') continue;
    if (tok === 'ago') {
      if (i !== tokens.length - 1 || ago) throw bad();
      ago = true;
      continue;
    }
    const ym = YM_RE.exec(tok);
    if (ym) {
      mark('year');
      mark('month');
      const sign = ym[1] === '-' ? -1 : 1;
      const months = Number(ym[3]);
      if (months > 11) throw acc.overflow();
      acc.addMonths(sign * (Number(ym[2]) * 12 + months));
      continue;
    }
    const tm = TIME_RE.exec(tok);
    if (tm) {
      addTime(acc, tm, mark);
      continue;
    }
    if (NUM_RE.test(tok)) {
      const next = tokens[i + 1];
      const unit = next === undefined ? undefined : UNITS[next.slice(0, 10)];
      const { val, frac } = splitNumber(tok);
      if (unit !== undefined) {
        mark(unit);
        acc.add(unit, val, frac);
        i++;
      } else if (next !== undefined && TIME_RE.test(next)) {
        mark('day');
        acc.add('day', val, frac);
      } else if (next === undefined || next === 'ago') {
        const u = bareNumberUnit(range);
        mark(u);
        acc.add(u, val, frac);
      } else throw bad();
      continue;
    }
    throw bad();
  }
  if (seen.size === 0) throw bad();
  if (
    style === 'sql_standard' &&
    (tokens[0] as string).startsWith('-') &&
    !tokens.slice(1).some((x) => x.startsWith('-') || x.startsWith('+'))
  ) {
    // SQL standard: a leading sign applies to every field when no other field has one.
    if (acc.micros > 0n) acc.micros = -acc.micros;
    if (acc.days > 0) acc.days = -acc.days;
    if (acc.months > 0) acc.months = -acc.months;
  }
  if (ago) return { months: -acc.months, days: -acc.days, micros: -acc.micros };
  return acc.parts();
}

/** Field bits of an interval typmod's range (PostgreSQL's INTERVAL_MASK of MONTH, YEAR, DAY, HOUR, MINUTE, SECOND). */
export const INTERVAL_FIELD = { month: 1 << 1, year: 1 << 2, day: 1 << 3, hour: 1 << 10, minute: 1 << 11, second: 1 << 12 } as const;
/** Range of an `interval` without field restriction. */
export const INTERVAL_FULL_RANGE = 0x7fff;
/** Precision of an `interval` without fractional-second limit. */
export const INTERVAL_FULL_PRECISION = 0xffff;

/** PostgreSQL's interval typmod (INTERVAL_TYPMOD): `interval day to second(3)` = typmod(3, DAY|HOUR|MINUTE|SECOND). */
export function intervalTypmod(precision: number = INTERVAL_FULL_PRECISION, range: number = INTERVAL_FULL_RANGE): number {
  return ((range & 0x7fff) << 16) | (precision & 0xffff);
}

/** The unit of a number without one, by the type's range (DecodeInterval's IGNORE_DTF case). */
function bareNumberUnit(range: number): Unit {
  const F = INTERVAL_FIELD;
  switch (range) {
    case F.year:
      return 'year';
    case F.month:
    case F.year | F.month:
      return 'month';
    case F.day:
      return 'day';
    case F.hour:
    case F.day | F.hour:
      return 'hour';
    case F.minute:
    case F.hour | F.minute:
    case F.day | F.hour | F.minute:
      return 'minute';
    default:
      return 'second';
  }
}

/**
 * Apply an interval typmod (PostgreSQL's `AdjustIntervalForTypmod`): drop the fields below the
 * range (`interval year` keeps whole years, `interval hour to minute` truncates to minutes),
 * then round fractional seconds to the precision, half away from zero.
 */
export function applyIntervalTypmod(p: IntervalParts, typmod: number): IntervalParts {
  const F = INTERVAL_FIELD;
  const range = (typmod >> 16) & 0x7fff;
  const precision = typmod & 0xffff;
  let { months, days, micros } = p;
  const trunc = (unit: bigint): bigint => (micros / unit) * unit;
  switch (range) {
    case F.year:
      months = Math.trunc(months / 12) * 12;
      days = 0;
      micros = 0n;
      break;
    case F.month:
    case F.year | F.month:
      days = 0;
      micros = 0n;
      break;
    case F.day:
      micros = 0n;
      break;
    case F.hour:
    case F.day | F.hour:
      micros = trunc(US_PER_HOUR);
      break;
    case F.minute:
    case F.day | F.hour | F.minute:
    case F.hour | F.minute:
      micros = trunc(US_PER_MIN);
      break;
  }
  if (precision !== INTERVAL_FULL_PRECISION && precision < 6) {
    const scale = 10n ** BigInt(6 - precision);
    const half = scale / 2n;
    micros = micros >= 0n ? ((micros + half) / scale) * scale : -(((-micros + half) / scale) * scale);
  }
  return { months: months === 0 ? 0 : months, days: days === 0 ? 0 : days, micros };
}

/** `format_type` suffix of an interval typmod: ` day to second(3)`, `(2)`, or ''. */
export function intervalTypmodText(typmod: number): string {
  const F = INTERVAL_FIELD;
  const range = (typmod >> 16) & 0x7fff;
  const precision = typmod & 0xffff;
  const names: Record<number, string> = {
    [F.year]: ' year',
    [F.month]: ' month',
    [F.day]: ' day',
    [F.hour]: ' hour',
    [F.minute]: ' minute',
    [F.second]: ' second',
    [F.year | F.month]: ' year to month',
    [F.day | F.hour]: ' day to hour',
    [F.day | F.hour | F.minute]: ' day to minute',
    [F.day | F.hour | F.minute | F.second]: ' day to second',
    [F.hour | F.minute]: ' hour to minute',
    [F.hour | F.minute | F.second]: ' hour to second',
    [F.minute | F.second]: ' minute to second',
  };
  const fields = range === INTERVAL_FULL_RANGE ? '' : (names[range] ?? '');
  return precision === INTERVAL_FULL_PRECISION ? fields : `${fields}(${precision})`;
}

/** A `[-]h:m[:s][.frac]` field (DecodeTimeForInterval); `h:m.frac` is minutes and seconds. */
function addTime(acc: Acc, m: RegExpExecArray, mark: (f: string) => void): void {
  mark('hour');
  mark('minute');
  mark('second');
  const neg = m[1] === '-';
  let h = Number(m[2]);
  let mi = Number(m[3]);
  let s = Number(m[4] ?? 0);
  const fracText = m[5];
  if (m[4] === undefined && fracText !== undefined) {
    // mm:ss.fff
    s = mi;
    mi = h;
    h = 0;
  }
  const fsec = fracText ? rint(Number(`0.${fracText}`) * 1e6) : 0;
  if (mi > 59 || s > 60 || fsec > 1_000_000) throw acc.overflow();
  let us = BigInt(h) * US_PER_HOUR + BigInt(mi) * US_PER_MIN + BigInt(s) * US_PER_SEC + BigInt(fsec);
  if (neg) us = -us;
  acc.addMicros(us);
}

/** DecodeISO8601Interval after the 'P': designators, or the alternative format `YYYY-MM-DDThh:mm:ss`. */
function parseIso8601(s: string, acc: Acc): boolean {
  if (s === '') return false;
  const alt = /^(\d+)-(\d+)-(\d+)(?:T(\d+):(\d+):(\d+(?:\.\d*)?))?$/.exec(s);
  if (alt) {
    acc.add('year', Number(alt[1]), 0);
    acc.add('month', Number(alt[2]), 0);
    acc.add('day', Number(alt[3]), 0);
    if (alt[4] !== undefined) {
      acc.add('hour', Number(alt[4]), 0);
      acc.add('minute', Number(alt[5]), 0);
      const { val, frac } = splitNumber(alt[6] as string);
      acc.add('second', val, frac);
    }
    return true;
  }
  let timePart = false;
  let i = 0;
  while (i < s.length) {
    if (s[i] === 'T') {
      if (timePart) return false;
      timePart = true;
      i++;
      continue;
    }
    const m = /^[+-]?(\d+(\.\d*)?|\.\d+)([YMWDHS])/.exec(s.slice(i));
    if (!m) return false;
    const { val, frac } = splitNumber(m[0].slice(0, -1));
    const d = m[3] as string;
    const unit: Unit | undefined = timePart
      ? ({ H: 'hour', M: 'minute', S: 'second' } as Record<string, Unit>)[d]
      : ({ Y: 'year', M: 'month', W: 'week', D: 'day' } as Record<string, Unit>)[d];
    if (unit === undefined) return false;
    acc.add(unit, val, frac);
    i += m[0].length;
  }
  return true;
}

/** Seconds and fraction text (`AppendSeconds`): `6.5`, padded to two digits when `pad`. */
function appendSeconds(sec: bigint, fsec: bigint, pad: boolean): string {
  const s = (sec < 0n ? -sec : sec).toString();
  let out = pad ? s.padStart(2, '0') : s;
  const f = fsec < 0n ? -fsec : fsec;
  if (f !== 0n) out += `.${f.toString().padStart(6, '0').replace(/0+$/, '')}`;
  return out;
}

/** PostgreSQL's field split of an interval for output (`interval2itm`): all fields share their sign with their source. */
function fields(p: IntervalParts): { year: number; mon: number; mday: number; hour: bigint; min: bigint; sec: bigint; fsec: bigint } {
  const year = Math.trunc(p.months / 12);
  const mon = p.months % 12;
  let t = p.micros;
  const hour = t / US_PER_HOUR;
  t -= hour * US_PER_HOUR;
  const min = t / US_PER_MIN;
  t -= min * US_PER_MIN;
  const sec = t / US_PER_SEC;
  const fsec = t - sec * US_PER_SEC;
  return { year, mon: mon === 0 ? 0 : mon, mday: p.days, hour, min, sec, fsec };
}

const abs = (n: bigint): bigint => (n < 0n ? -n : n);
const pad2 = (n: bigint): string => abs(n).toString().padStart(2, '0');

/**
 * PostgreSQL's interval text output (`EncodeInterval`) in an IntervalStyle:
 * postgres '1 year 2 mons 3 days 04:05:06.5', iso_8601 'P1Y2M3DT4H5M6.5S',
 * sql_standard '+1-2 +3 +4:05:06.5', postgres_verbose '@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs'.
 */
export function formatInterval(p: IntervalParts, style: IntervalStyle = 'postgres'): string {
  const { year, mon, mday, hour, min, sec, fsec } = fields(p);
  switch (style) {
    case 'iso_8601': {
      if (year === 0 && mon === 0 && mday === 0 && hour === 0n && min === 0n && sec === 0n && fsec === 0n) return 'PT0S';
      let out = 'P';
      if (year !== 0) out += `${year}Y`;
      if (mon !== 0) out += `${mon}M`;
      if (mday !== 0) out += `${mday}D`;
      if (hour !== 0n || min !== 0n || sec !== 0n || fsec !== 0n) out += 'T';
      if (hour !== 0n) out += `${hour}H`;
      if (min !== 0n) out += `${min}M`;
      if (sec !== 0n || fsec !== 0n) out += `${sec < 0n || fsec < 0n ? '-' : ''}${appendSeconds(sec, fsec, false)}S`;
      return out;
    }
    case 'postgres': {
      let out = '';
      let isZero = true;
      let isBefore = false;
      const part = (v: number, unit: string): void => {
        if (v === 0) return;
        out += `${isZero ? '' : ' '}${isBefore && v > 0 ? '+' : ''}${v} ${unit}${v !== 1 ? 's' : ''}`;
        isBefore = v < 0;
        isZero = false;
      };
      part(year, 'year');
      part(mon, 'mon');
      part(mday, 'day');
      if (isZero || hour !== 0n || min !== 0n || sec !== 0n || fsec !== 0n) {
        const minus = hour < 0n || min < 0n || sec < 0n || fsec < 0n;
        out += `${isZero ? '' : ' '}${minus ? '-' : isBefore ? '+' : ''}${pad2(hour)}:${pad2(min)}:${appendSeconds(sec, fsec, true)}`;
      }
      return out;
    }
    case 'postgres_verbose': {
      let out = '@';
      let isZero = true;
      let isBefore = false;
      const part = (value: number | bigint, unit: string): void => {
        let v = BigInt(value);
        if (v === 0n) return;
        if (isZero) {
          isBefore = v < 0n;
          v = abs(v);
        } else if (isBefore) v = -v;
        out += ` ${v} ${unit}${v === 1n ? '' : 's'}`;
        isZero = false;
      };
      part(year, 'year');
      part(mon, 'mon');
      part(mday, 'day');
      part(hour, 'hour');
      part(min, 'min');
      if (sec !== 0n || fsec !== 0n) {
        out += ' ';
        if (sec < 0n || (sec === 0n && fsec < 0n)) {
          if (isZero) isBefore = true;
          else if (!isBefore) out += '-';
        } else if (isBefore) out += '-';
        out += `${appendSeconds(sec, fsec, false)} sec${abs(sec) !== 1n || fsec !== 0n ? 's' : ''}`;
        isZero = false;
      }
      if (isZero) out += ' 0';
      if (isBefore) out += ' ago';
      return out;
    }
    case 'sql_standard': {
      const neg = year < 0 || mon < 0 || mday < 0 || hour < 0n || min < 0n || sec < 0n || fsec < 0n;
      const pos = year > 0 || mon > 0 || mday > 0 || hour > 0n || min > 0n || sec > 0n || fsec > 0n;
      const hasYm = year !== 0 || mon !== 0;
      const hasDt = mday !== 0 || hour !== 0n || min !== 0n || sec !== 0n || fsec !== 0n;
      const standard = !(neg && pos) && !(hasYm && hasDt);
      if (!neg && !pos) return '0';
      if (!standard) {
        const ys = year < 0 || mon < 0 ? '-' : '+';
        const ds = mday < 0 ? '-' : '+';
        const ss = hour < 0n || min < 0n || sec < 0n || fsec < 0n ? '-' : '+';
        return `${ys}${Math.abs(year)}-${Math.abs(mon)} ${ds}${Math.abs(mday)} ${ss}${abs(hour)}:${pad2(min)}:${appendSeconds(sec, fsec, true)}`;
      }
      const sign = neg ? '-' : '';
      if (hasYm) return `${sign}${Math.abs(year)}-${Math.abs(mon)}`;
      const time = `${abs(hour)}:${pad2(min)}:${appendSeconds(sec, fsec, true)}`;
      if (mday !== 0) return `${sign}${Math.abs(mday)} ${time}`;
      return `${sign}${time}`;
    }
  }
}

const ISO_STORED_RE = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-)?(\d+)(?:\.(\d{1,6}))?S)?)?$/;

/**
 * The months, days and microseconds of a stored interval (the iso_8601 text of
 * {@link makeInterval}).
 * @throws DataError 22007 when `s` is not such text.
 */
export function intervalParts(s: string): IntervalParts {
  const m = ISO_STORED_RE.exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return parseInterval(s);
  const n = (x: string | undefined): number => (x === undefined ? 0 : Number(x));
  const b = (x: string | undefined): bigint => (x === undefined ? 0n : BigInt(x));
  let sec = b(m[7]) * US_PER_SEC + BigInt((m[8] ?? '').padEnd(6, '0') || '0');
  if (m[6] === '-') sec = -sec;
  return {
    months: n(m[1]) * 12 + n(m[2]),
    days: n(m[3]),
    micros: b(m[4]) * US_PER_HOUR + b(m[5]) * US_PER_MIN + sec,
  };
}

/** The stored text of an interval: PostgreSQL's iso_8601 output ('P1Y2M3DT4H5M6.5S', 'PT0S'). */
export function makeInterval(p: IntervalParts): string {
  return formatInterval(p, 'iso_8601');
}

/**
 * PostgreSQL's interval order (`interval_cmp_value`): by total span with a month as 30 days and
 * a day as 24 hours, so '1 mon' = '30 days' and '1 day' = '24 hours'.
 */
export function compareInterval(a: IntervalParts, b: IntervalParts): number {
  const span = (p: IntervalParts): bigint => (BigInt(p.months) * 30n + BigInt(p.days)) * US_PER_DAY + p.micros;
  const x = span(a);
  const y = span(b);
  return x === y ? 0 : x < y ? -1 : 1;
}
