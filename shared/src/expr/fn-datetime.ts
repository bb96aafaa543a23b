/**
 * Date/time operators and functions, PostgreSQL 15 §9.9 (Tables 9.31–9.33): date ± integer,
 * date − date, timestamp ± interval (months first with end-of-month clamping, then days, then
 * time; timestamptz in the session time zone), timestamp − timestamp (justified hours),
 * interval arithmetic (interval_mul / interval_div cascading fractions down), now() and the
 * session clock functions, date_trunc, date_part / extract, age, make_date / make_time /
 * make_timestamp(tz) / make_interval, to_timestamp, justify_days / hours / interval, isfinite.
 */
import { DataError, SqlState } from '../errors.ts';
import {
  civilFromDays,
  DATE_INFINITY,
  DATE_NEG_INFINITY,
  daysFromCivil,
  type IntervalParts,
  intervalParts,
  makeInterval,
  type ResultType,
  TS_INFINITY,
  TS_NEG_INFINITY,
  type Value,
} from '../types.ts';
import type { EvalContext } from './context.ts';
import { Dec, fmt } from './numeric.ts';
import { datetimeArith } from './ops-core.ts';
import { defFn, divisionByZero, type Impl, impl, STRING_TYPES } from './registry.ts';
import { timestampToTimestamptz, timestamptzToLocal } from './timezone.ts';

const US_PER_DAY = 86_400_000_000n;
const US_PER_SEC = 1_000_000n;
const US_PER_DAY_N = 86_400_000_000;

function tsOverflow(): DataError {
  return new DataError(SqlState.datetimeFieldOverflow, 'timestamp out of range');
}

const MIN_TS = BigInt(daysFromCivil(-4713, 11, 24)) * US_PER_DAY;
const MAX_TS = BigInt(daysFromCivil(294277, 1, 1)) * US_PER_DAY;

function checkTs(us: bigint): bigint {
  if (us < MIN_TS || us >= MAX_TS) throw tsOverflow();
  return us;
}

function isInfTs(us: bigint): boolean {
  return us === TS_INFINITY || us === TS_NEG_INFINITY;
}

/** Split µs since epoch into civil fields. */
function fields(us: bigint): {
  y: number;
  m: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  usec: number;
  days: number;
  tod: number;
} {
  let days = us / US_PER_DAY;
  let rem = us % US_PER_DAY;
  if (rem < 0n) {
    rem += US_PER_DAY;
    days -= 1n;
  }
  const [y, m, d] = civilFromDays(Number(days));
  const tod = Number(rem);
  const secs = Math.floor(tod / 1e6);
  return { y, m, d, h: Math.floor(secs / 3600), mi: Math.floor(secs / 60) % 60, s: secs % 60, usec: tod % 1e6, days: Number(days), tod };
}

function daysInMonth(y: number, m: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] as number;
}

/** timestamp + interval (timestamp_pl_interval): months with end-of-month clamping, then days, then µs. */
export function addInterval(ts: bigint, iv: IntervalParts, sign: 1 | -1): bigint {
  if (isInfTs(ts)) return ts;
  let us = ts;
  const months = iv.months * sign;
  const days = iv.days * sign;
  if (months !== 0) {
    const f = fields(us);
    let total = f.y * 12 + (f.m - 1) + months;
    const y = Math.floor(total / 12);
    total -= y * 12;
    const m = total + 1;
    const d = Math.min(f.d, daysInMonth(y, m));
    us = BigInt(daysFromCivil(y, m, d)) * US_PER_DAY + BigInt(f.tod);
  }
  if (days !== 0) us += BigInt(days) * US_PER_DAY;
  us += iv.micros * BigInt(sign);
  return checkTs(us);
}

/** timestamptz + interval: month and day steps in the session's local time, µs on the instant. */
function addIntervalTz(ts: bigint, iv: IntervalParts, sign: 1 | -1, zone: string): bigint {
  if (isInfTs(ts)) return ts;
  let us = ts;
  if (iv.months !== 0 || iv.days !== 0) {
    const local = addInterval(timestamptzToLocal(us, zone), { months: iv.months, days: iv.days, micros: 0n }, sign);
    us = timestampToTimestamptz(local, zone);
  }
  return checkTs(us + iv.micros * BigInt(sign));
}

/** interval_justify_hours. */
function justifyHours(p: IntervalParts): IntervalParts {
  let { days, micros } = p;
  const whole = micros / US_PER_DAY;
  micros -= whole * US_PER_DAY;
  days += Number(whole);
  if (days > 0 && micros < 0n) {
    micros += US_PER_DAY;
    days--;
  } else if (days < 0 && micros > 0n) {
    micros -= US_PER_DAY;
    days++;
  }
  return { months: p.months, days, micros };
}

function justifyDays(p: IntervalParts): IntervalParts {
  let { months, days } = p;
  const whole = Math.trunc(days / 30);
  days -= whole * 30;
  months += whole;
  if (months > 0 && days < 0) {
    days += 30;
    months--;
  } else if (months < 0 && days > 0) {
    days -= 30;
    months++;
  }
  return { months, days, micros: p.micros };
}

function justifyInterval(p: IntervalParts): IntervalParts {
  let { months, days, micros } = p;
  const wd = micros / US_PER_DAY;
  micros -= wd * US_PER_DAY;
  days += Number(wd);
  const wm = Math.trunc(days / 30);
  days -= wm * 30;
  months += wm;
  if (months > 0 && (days < 0 || (days === 0 && micros < 0n))) {
    days += 30;
    months--;
  } else if (months < 0 && (days > 0 || (days === 0 && micros > 0n))) {
    days -= 30;
    months++;
  }
  if (days > 0 && micros < 0n) {
    micros += US_PER_DAY;
    days--;
  } else if (days < 0 && micros > 0n) {
    micros -= US_PER_DAY;
    days++;
  }
  return { months, days, micros };
}

const tsround = (x: number): number => Math.round(x * 1e6) / 1e6;
const rint = (x: number): number => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));

/** interval_mul / interval_div: fractions of months and days cascade into days and time. */
function scaleInterval(p: IntervalParts, factor: number, divide: boolean): IntervalParts {
  if (divide && factor === 0) throw divisionByZero();
  const f = (x: number): number => (divide ? x / factor : x * factor);
  if (!Number.isFinite(f(p.months)) || !Number.isFinite(f(p.days)))
    throw new DataError(SqlState.datetimeFieldOverflow, 'interval out of range');
  let months = Math.trunc(f(p.months));
  let days = Math.trunc(f(p.days));
  let monthRemDays = tsround((f(p.months) - months) * 30);
  let secRem = tsround((f(p.days) - days + monthRemDays - Math.trunc(monthRemDays)) * 86400);
  if (Math.abs(secRem) >= 86400) {
    days += Math.trunc(secRem / 86400);
    secRem -= Math.trunc(secRem / 86400) * 86400;
  }
  days += Math.trunc(monthRemDays);
  monthRemDays = 0;
  const micros = rint(f(Number(p.micros)) + secRem * 1e6);
  if (!Number.isFinite(micros) || Math.abs(micros) > 9.2e18) throw new DataError(SqlState.datetimeFieldOverflow, 'interval out of range');
  months += 0;
  return { months, days, micros: BigInt(micros) };
}

const iv = (v: Value): IntervalParts => intervalParts(v as string);

datetimeArith.factory = (op: string, args: ResultType[], t: ResultType): Impl | undefined => {
  const [l, r] = args as [ResultType, ResultType | undefined];
  const key = `${l}${op}${r ?? ''}`;
  switch (key) {
    case 'date+integer':
      return impl(([d, n]) => checkDate((d as number) + (n as number)));
    case 'integer+date':
      return impl(([n, d]) => checkDate((d as number) + (n as number)));
    case 'date-integer':
      return impl(([d, n]) => checkDate((d as number) - (n as number)));
    case 'date-date':
      return impl(([a, b]) => {
        if (isInfDate(a as number) || isInfDate(b as number))
          throw new DataError(SqlState.datetimeFieldOverflow, 'cannot subtract infinite dates');
        return (a as number) - (b as number);
      });
    case 'date+interval':
    case 'date-interval':
      return impl(([d, i]) => addInterval(BigInt(d as number) * US_PER_DAY, iv(i as Value), op === '+' ? 1 : -1));
    case 'interval+date':
      return impl(([i, d]) => addInterval(BigInt(d as number) * US_PER_DAY, iv(i as Value), 1));
    case 'timestamp+interval':
    case 'timestamp-interval':
      return impl(([ts, i]) => addInterval(ts as bigint, iv(i as Value), op === '+' ? 1 : -1));
    case 'interval+timestamp':
      return impl(([i, ts]) => addInterval(ts as bigint, iv(i as Value), 1));
    case 'timestamptz+interval':
    case 'timestamptz-interval':
      return impl(([ts, i], ctx) => addIntervalTz(ts as bigint, iv(i as Value), op === '+' ? 1 : -1, ctx.timeZone));
    case 'interval+timestamptz':
      return impl(([i, ts], ctx) => addIntervalTz(ts as bigint, iv(i as Value), 1, ctx.timeZone));
    case 'timestamp-timestamp':
    case 'timestamptz-timestamptz':
      return impl(([a, b]) => {
        if (isInfTs(a as bigint) || isInfTs(b as bigint))
          throw new DataError(SqlState.datetimeFieldOverflow, 'cannot subtract infinite timestamps');
        return makeInterval(justifyHours({ months: 0, days: 0, micros: (a as bigint) - (b as bigint) }));
      });
    case 'date+time':
      return impl(([d, tm]) => checkTs(BigInt(d as number) * US_PER_DAY + BigInt(tm as number)));
    case 'time+date':
      return impl(([tm, d]) => checkTs(BigInt(d as number) * US_PER_DAY + BigInt(tm as number)));
    case 'time-time':
      return impl(([a, b]) => makeInterval({ months: 0, days: 0, micros: BigInt((a as number) - (b as number)) }));
    case 'time+interval':
    case 'time-interval':
      return impl(([tm, i]) => {
        const m = Number(iv(i as Value).micros % US_PER_DAY) * (op === '+' ? 1 : -1);
        return ((((tm as number) + m) % US_PER_DAY_N) + US_PER_DAY_N) % US_PER_DAY_N;
      });
    case 'interval+time':
      return impl(
        ([i, tm]) => ((((tm as number) + Number(iv(i as Value).micros % US_PER_DAY)) % US_PER_DAY_N) + US_PER_DAY_N) % US_PER_DAY_N,
      );
    case 'interval+interval':
    case 'interval-interval':
      return impl(([a, b]) => {
        const x = iv(a as Value);
        const y = iv(b as Value);
        const s = op === '+' ? 1 : -1;
        return checkInterval({ months: x.months + s * y.months, days: x.days + s * y.days, micros: x.micros + BigInt(s) * y.micros });
      });
    case 'interval-':
      return impl(([a]) => {
        const x = iv(a as Value);
        return checkInterval({ months: -x.months, days: -x.days, micros: -x.micros });
      });
    case 'interval*double':
      return impl(([a, f]) => makeInterval(scaleInterval(iv(a as Value), f as number, false)));
    case 'double*interval':
      return impl(([f, a]) => makeInterval(scaleInterval(iv(a as Value), f as number, false)));
    case 'interval/double':
      return impl(([a, f]) => makeInterval(scaleInterval(iv(a as Value), f as number, true)));
    default:
      void t;
      return undefined;
  }
};

function isInfDate(d: number): boolean {
  return d === DATE_INFINITY || d === DATE_NEG_INFINITY;
}

function checkDate(d: number): number {
  if (d < daysFromCivil(-4713, 11, 24) || d > daysFromCivil(5874897, 12, 31))
    throw new DataError(SqlState.datetimeFieldOverflow, 'date out of range');
  return d;
}

function checkInterval(p: IntervalParts): string {
  if (Math.abs(p.months) > 2147483647 || Math.abs(p.days) > 2147483647)
    throw new DataError(SqlState.datetimeFieldOverflow, 'interval out of range');
  return makeInterval(p);
}

// ---------------------------------------------------------------------------------------------
// The session clock (§9.9.5): the transaction's start for now()/current_timestamp, the
// statement's for statement_timestamp(), the real clock for clock_timestamp().

defFn(['now', 'transaction_timestamp'], () => impl((_a, ctx) => ctx.txnTimeUs));
defFn('statement_timestamp', () => impl((_a, ctx) => ctx.stmtTimeUs));
defFn('clock_timestamp', () => impl(() => BigInt(Date.now()) * 1000n));
defFn('current_date', () => impl((_a, ctx) => Number(floorDiv(timestamptzToLocal(ctx.txnTimeUs, ctx.timeZone), US_PER_DAY))));
defFn('localtimestamp', () => impl((_a, ctx) => timestamptzToLocal(ctx.txnTimeUs, ctx.timeZone)));
defFn('localtime', () => impl((_a, ctx) => Number(mod(timestamptzToLocal(ctx.txnTimeUs, ctx.timeZone), US_PER_DAY))));

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}
function mod(a: bigint, b: bigint): bigint {
  return ((a % b) + b) % b;
}

// ---------------------------------------------------------------------------------------------
// date_trunc (§9.9.2) and date_part / extract (§9.9.1).

const TRUNC_UNITS = new Set([
  'microseconds',
  'milliseconds',
  'second',
  'minute',
  'hour',
  'day',
  'week',
  'month',
  'quarter',
  'year',
  'decade',
  'century',
  'millennium',
]);
const UNIT_ALIASES: Record<string, string> = {
  microsecond: 'microseconds',
  us: 'microseconds',
  usec: 'microseconds',
  usecs: 'microseconds',
  millisecond: 'milliseconds',
  ms: 'milliseconds',
  msec: 'milliseconds',
  msecs: 'milliseconds',
  seconds: 'second',
  sec: 'second',
  secs: 'second',
  s: 'second',
  minutes: 'minute',
  min: 'minute',
  mins: 'minute',
  m: 'minute',
  hours: 'hour',
  hr: 'hour',
  hrs: 'hour',
  h: 'hour',
  days: 'day',
  d: 'day',
  weeks: 'week',
  w: 'week',
  months: 'month',
  mon: 'month',
  mons: 'month',
  years: 'year',
  yr: 'year',
  yrs: 'year',
  y: 'year',
  decades: 'decade',
  dec: 'decade',
  decs: 'decade',
  centuries: 'century',
  c: 'century',
  cent: 'century',
  millenniums: 'millennium',
  millennia: 'millennium',
  mil: 'millennium',
  mils: 'millennium',
  quarters: 'quarter',
  qtr: 'quarter',
};

const ALL_UNITS = new Set([
  ...TRUNC_UNITS,
  'dow',
  'isodow',
  'doy',
  'isoyear',
  'julian',
  'epoch',
  'timezone',
  'timezone_hour',
  'timezone_minute',
]);

/** Canonical unit name. @throws 22023 `unit "…" not recognized for type …` for names PostgreSQL does not know. */
function unit(text: string, typeName = 'timestamp without time zone'): string {
  const u = text.toLowerCase().trim();
  const r = UNIT_ALIASES[u] ?? u;
  if (!ALL_UNITS.has(r)) throw new DataError(SqlState.invalidParameterValue, `unit "${text}" not recognized for type ${typeName}`);
  return r;
}

function truncTs(us: bigint, u: string, typeName: string): bigint {
  if (isInfTs(us)) return us;
  if (!TRUNC_UNITS.has(u)) throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type ${typeName}`);
  const f = fields(us);
  let { y, m, d } = f;
  let tod = BigInt(f.tod);
  switch (u) {
    case 'microseconds':
      return us;
    case 'milliseconds':
      tod -= tod % 1000n;
      break;
    case 'second':
      tod -= tod % US_PER_SEC;
      break;
    case 'minute':
      tod -= tod % 60_000_000n;
      break;
    case 'hour':
      tod -= tod % 3_600_000_000n;
      break;
    case 'day':
      tod = 0n;
      break;
    case 'week': {
      const dow = (((f.days + 4) % 7) + 7) % 7; // 0 = Sunday
      const back = (dow + 6) % 7;
      return BigInt(f.days - back) * US_PER_DAY;
    }
    case 'month':
      d = 1;
      tod = 0n;
      break;
    case 'quarter':
      m = 3 * Math.floor((m - 1) / 3) + 1;
      d = 1;
      tod = 0n;
      break;
    case 'year':
      m = 1;
      d = 1;
      tod = 0n;
      break;
    case 'decade':
      y = y > 0 ? Math.floor(y / 10) * 10 : -Math.floor((9 - (y - 1)) / 10) * 10 + 1;
      m = 1;
      d = 1;
      tod = 0n;
      break;
    case 'century':
      y = y > 0 ? Math.floor((y - 1) / 100) * 100 + 1 : -Math.floor((99 - (y - 1)) / 100) * 100 + 1;
      m = 1;
      d = 1;
      tod = 0n;
      break;
    case 'millennium':
      y = y > 0 ? Math.floor((y - 1) / 1000) * 1000 + 1 : -Math.floor((999 - (y - 1)) / 1000) * 1000 + 1;
      m = 1;
      d = 1;
      tod = 0n;
      break;
  }
  return BigInt(daysFromCivil(y, m, d)) * US_PER_DAY + tod;
}

function truncInterval(p: IntervalParts, u: string): IntervalParts {
  const t = p.micros;
  switch (u) {
    case 'microseconds':
      return p;
    case 'milliseconds':
      return { ...p, micros: t - (t % 1000n) };
    case 'second':
      return { ...p, micros: t - (t % US_PER_SEC) };
    case 'minute':
      return { ...p, micros: t - (t % 60_000_000n) };
    case 'hour':
      return { ...p, micros: t - (t % 3_600_000_000n) };
    case 'day':
      return { ...p, micros: 0n };
    case 'month':
      return { months: p.months, days: 0, micros: 0n };
    case 'quarter':
      return { months: Math.trunc(p.months / 3) * 3, days: 0, micros: 0n };
    case 'year':
      return { months: Math.trunc(p.months / 12) * 12, days: 0, micros: 0n };
    case 'decade':
      return { months: Math.trunc(p.months / 120) * 120, days: 0, micros: 0n };
    case 'century':
      return { months: Math.trunc(p.months / 1200) * 1200, days: 0, micros: 0n };
    case 'millennium':
      return { months: Math.trunc(p.months / 12000) * 12000, days: 0, micros: 0n };
    default:
      throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type interval`);
  }
}

defFn('date_trunc', (args) => {
  const t = args[1];
  if (t === 'timestamp') return impl(([u, ts]) => truncTs(ts as bigint, unit(u as string), 'timestamp without time zone'));
  if (t === 'timestamptz') {
    return impl(([u, ts, zone], ctx) => {
      const z = (zone as string | undefined) ?? ctx.timeZone;
      const uu = unit(u as string, 'timestamp with time zone');
      if (uu === 'microseconds' || uu === 'milliseconds' || uu === 'second' || uu === 'minute') {
        return truncTs(ts as bigint, uu, 'timestamp with time zone');
      }
      return timestampToTimestamptz(truncTs(timestamptzToLocal(ts as bigint, z), uu, 'timestamp with time zone'), z);
    });
  }
  if (t === 'interval') return impl(([u, i]) => makeInterval(truncInterval(iv(i as Value), unit(u as string, 'interval'))));
  return undefined;
});

/** Fields of extract/date_part as exact decimals (numeric text), per input type. */
function extractTs(u: string, us: bigint, zoneOffsetSec: number | undefined, typeName: string): string {
  const f = fields(us);
  const isoDow = ((((f.days + 3) % 7) + 7) % 7) + 1; // 1 = Monday
  const sec = (): string => fmt(new Dec(f.s * 1e6 + f.usec).div(1e6), 6);
  switch (u) {
    case 'microseconds':
      return String(f.s * 1e6 + f.usec);
    case 'milliseconds':
      return fmt(new Dec(f.s * 1e6 + f.usec).div(1000), 3);
    case 'second':
      return sec();
    case 'minute':
      return String(f.mi);
    case 'hour':
      return String(f.h);
    case 'day':
      return String(f.d);
    case 'month':
      return String(f.m);
    case 'quarter':
      return String(Math.floor((f.m - 1) / 3) + 1);
    case 'year':
      return String(f.y > 0 ? f.y : f.y - 1);
    case 'decade':
      return String(Math.floor(f.y / 10));
    case 'century':
      return String(f.y > 0 ? Math.floor((f.y + 99) / 100) : -Math.floor((99 - (f.y - 1)) / 100));
    case 'millennium':
      return String(f.y > 0 ? Math.floor((f.y + 999) / 1000) : -Math.floor((999 - (f.y - 1)) / 1000));
    case 'dow':
      return String(isoDow % 7);
    case 'isodow':
      return String(isoDow);
    case 'doy':
      return String(f.days - daysFromCivil(f.y, 1, 1) + 1);
    case 'week':
      return String(isoWeek(f.days)[1]);
    case 'isoyear':
      return String(isoWeek(f.days)[0]);
    case 'julian':
      return fmt(new Dec(f.days + 2440588).plus(new Dec(f.tod).div(86_400_000_000)), f.tod === 0 ? 0 : 20)
        .replace(/(\.\d*?)0+$/, '$1')
        .replace(/\.$/, '');
    case 'epoch': {
      const off = BigInt(zoneOffsetSec ?? 0) * US_PER_SEC;
      return fmt(new Dec((us - off).toString()).div(1e6), 6);
    }
    case 'timezone':
      if (zoneOffsetSec === undefined) break;
      return String(zoneOffsetSec);
    case 'timezone_hour':
      if (zoneOffsetSec === undefined) break;
      return String(Math.trunc(zoneOffsetSec / 3600));
    case 'timezone_minute':
      if (zoneOffsetSec === undefined) break;
      return String(Math.trunc((zoneOffsetSec % 3600) / 60));
  }
  throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type ${typeName}`);
}

/** ISO 8601 year and week of a day number. */
function isoWeek(days: number): [number, number] {
  const isoDow = ((((days + 3) % 7) + 7) % 7) + 1;
  const thursday = days - isoDow + 4;
  const [ty] = civilFromDays(thursday);
  const jan1 = daysFromCivil(ty, 1, 1);
  return [ty, Math.floor((thursday - jan1) / 7) + 1];
}

function extractInterval(u: string, p: IntervalParts): string {
  const t = p.micros;
  const secUs = Number(t % 60_000_000n);
  switch (u) {
    case 'microseconds':
      return String(secUs);
    case 'milliseconds':
      return fmt(new Dec(secUs).div(1000), 3);
    case 'second':
      return fmt(new Dec(secUs).div(1e6), 6);
    case 'minute':
      return String(Number((t / 60_000_000n) % 60n));
    case 'hour':
      return String(t / 3_600_000_000n);
    case 'day':
      return String(p.days);
    case 'month':
      return String(p.months % 12);
    case 'quarter':
      return String(Math.trunc((p.months % 12) / 3) + 1);
    case 'year':
      return String(Math.trunc(p.months / 12));
    case 'decade':
      return String(Math.trunc(p.months / 120));
    case 'century':
      return String(Math.trunc(p.months / 1200));
    case 'millennium':
      return String(Math.trunc(p.months / 12000));
    case 'epoch': {
      const secs = new Dec(Math.trunc(p.months / 12) * 365.25 * 86400)
        .plus((p.months % 12) * 30 * 86400)
        .plus(p.days * 86400)
        .plus(new Dec(t.toString()).div(1e6));
      return fmt(secs, 6);
    }
  }
  throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type interval`);
}

function extractDate(u: string, d: number): string {
  switch (u) {
    case 'hour':
    case 'minute':
    case 'second':
    case 'milliseconds':
    case 'microseconds':
    case 'timezone':
    case 'timezone_hour':
    case 'timezone_minute':
      throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type date`);
    case 'epoch':
      return String(BigInt(d) * 86400n);
    default:
      return extractTs(u, BigInt(d) * US_PER_DAY, undefined, 'date');
  }
}

function extractTime(u: string, tm: number): string {
  const us = BigInt(tm);
  switch (u) {
    case 'microseconds':
    case 'milliseconds':
    case 'second':
    case 'minute':
    case 'hour':
      return extractTs(u, us, undefined, 'time without time zone');
    case 'epoch':
      return fmt(new Dec(tm).div(1e6), 6);
  }
  throw new DataError(SqlState.featureNotSupported, `unit "${u}" not supported for type time without time zone`);
}

function extractAny(t: ResultType, u: string, v: Value, ctx: EvalContext): string {
  switch (t) {
    case 'timestamp':
      if (isInfTs(v as bigint)) return infExtract(u, v as bigint);
      return extractTs(u, v as bigint, undefined, 'timestamp without time zone');
    case 'timestamptz': {
      if (isInfTs(v as bigint)) return infExtract(u, v as bigint);
      const local = timestamptzToLocal(v as bigint, ctx.timeZone);
      const off = Number((local - (v as bigint)) / US_PER_SEC);
      if (u === 'epoch') return fmt(new Dec((v as bigint).toString()).div(1e6), 6);
      return extractTs(u, local, off, 'timestamp with time zone');
    }
    case 'date':
      return extractDate(u, v as number);
    case 'time':
      return extractTime(u, v as number);
    case 'interval':
      return extractInterval(u, iv(v));
    default:
      throw new DataError(SqlState.featureNotSupported, `extract from ${t} is not supported`);
  }
}

function infExtract(u: string, v: bigint): string {
  if (['epoch', 'year', 'decade', 'century', 'millennium', 'julian', 'isoyear'].includes(u)) return v > 0n ? 'Infinity' : '-Infinity';
  return 'NULL';
}

const TYPE_NAMES: Record<string, string> = {
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  time: 'time without time zone',
  date: 'date',
  interval: 'interval',
};

defFn('extract', (args) => {
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  const t = args[1] as ResultType;
  return impl(([u, v], ctx) => {
    const r = extractAny(t, unit(u as string, TYPE_NAMES[t as string] ?? (t as string)), v as Value, ctx);
    return r === 'NULL' ? null : r;
  });
});
defFn('date_part', (args) => {
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  const t = args[1] as ResultType;
  return impl(([u, v], ctx) => {
    const r = extractAny(t, unit(u as string, TYPE_NAMES[t as string] ?? (t as string)), v as Value, ctx);
    return r === 'NULL' ? null : Number(r);
  });
});

// ---------------------------------------------------------------------------------------------
// age, make_*, to_timestamp, justify_*, isfinite.

const DAY_TAB = (y: number, m: number): number => daysInMonth(y, m);

/** age(a, b): symbolic difference in years, months and days (timestamp_age). */
function age(a: bigint, b: bigint): string {
  const f1 = fields(a);
  const f2 = fields(b);
  let usec = f1.usec - f2.usec;
  let sec = f1.s - f2.s;
  let min = f1.mi - f2.mi;
  let hour = f1.h - f2.h;
  let mday = f1.d - f2.d;
  let mon = f1.m - f2.m;
  let year = f1.y - f2.y;
  const neg = a < b;
  if (neg) {
    [usec, sec, min, hour, mday, mon, year] = [-usec, -sec, -min, -hour, -mday, -mon, -year];
  }
  while (usec < 0) {
    usec += 1e6;
    sec--;
  }
  while (sec < 0) {
    sec += 60;
    min--;
  }
  while (min < 0) {
    min += 60;
    hour--;
  }
  while (hour < 0) {
    hour += 24;
    mday--;
  }
  while (mday < 0) {
    if (neg) mday += DAY_TAB(f1.y, f1.m);
    else mday += DAY_TAB(f2.y, f2.m);
    mon--;
  }
  while (mon < 0) {
    mon += 12;
    year--;
  }
  if (neg) {
    [usec, sec, min, hour, mday, mon, year] = [-usec, -sec, -min, -hour, -mday, -mon, -year];
  }
  return makeInterval({ months: year * 12 + mon, days: mday, micros: BigInt(((hour * 60 + min) * 60 + sec) * 1e6 + usec) });
}

defFn('age', (args) => {
  const t = args[0];
  if (t === 'timestamp') {
    if (args.length === 2) return impl(([a, b]) => age(a as bigint, b as bigint));
    return impl(([a], ctx) =>
      age(BigInt(Number(floorDiv(timestamptzToLocal(ctx.txnTimeUs, ctx.timeZone), US_PER_DAY))) * US_PER_DAY, a as bigint),
    );
  }
  if (t === 'timestamptz') {
    if (args.length === 2)
      return impl(([a, b], ctx) => age(timestamptzToLocal(a as bigint, ctx.timeZone), timestamptzToLocal(b as bigint, ctx.timeZone)));
    return impl(([a], ctx) =>
      age(
        BigInt(Number(floorDiv(timestamptzToLocal(ctx.txnTimeUs, ctx.timeZone), US_PER_DAY))) * US_PER_DAY,
        timestamptzToLocal(a as bigint, ctx.timeZone),
      ),
    );
  }
  return undefined;
});

function makeDate(y: number, m: number, d: number): number {
  if (y === 0) throw new DataError(SqlState.datetimeFieldOverflow, `date field value out of range: ${y}-${pad2(m)}-${pad2(d)}`);
  const yy = y < 0 ? y + 1 : y;
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(yy, m)) {
    throw new DataError(SqlState.datetimeFieldOverflow, `date field value out of range: ${y}-${pad2(m)}-${pad2(d)}`);
  }
  return daysFromCivil(yy, m, d);
}
const pad2 = (n: number): string => String(n).padStart(2, '0');

function makeTime(h: number, mi: number, s: number): number {
  if (h < 0 || mi < 0 || mi > 59 || s < 0 || s > 60 || h > 24 || (h === 24 && (mi > 0 || s > 0))) {
    throw new DataError(
      SqlState.datetimeFieldOverflow,
      `time field value out of range: ${h}:${pad2(mi)}:${pad2(Math.floor(s))}${s % 1 ? String(s % 1).slice(1) : ''}`,
    );
  }
  return Math.round(((h * 60 + mi) * 60 + s) * 1e6);
}

defFn('make_date', () => impl(([y, m, d]) => makeDate(y as number, m as number, d as number)));
defFn('make_time', () => impl(([h, mi, s]) => makeTime(h as number, mi as number, s as number)));
defFn('make_timestamp', () =>
  impl(([y, m, d, h, mi, s]) =>
    checkTs(
      BigInt(makeDate(y as number, m as number, d as number)) * US_PER_DAY + BigInt(makeTime(h as number, mi as number, s as number)),
    ),
  ),
);
defFn('make_timestamptz', () =>
  impl(([y, m, d, h, mi, s, zone], ctx) =>
    timestampToTimestamptz(
      BigInt(makeDate(y as number, m as number, d as number)) * US_PER_DAY + BigInt(makeTime(h as number, mi as number, s as number)),
      (zone as string | undefined) ?? ctx.timeZone,
    ),
  ),
);
defFn('make_interval', () =>
  impl(([years, months, weeks, days, hours, mins, secs]) => {
    const sec = secs as number;
    if (!Number.isFinite(sec)) throw new DataError(SqlState.datetimeFieldOverflow, 'interval out of range');
    const micros = BigInt(((hours as number) * 60 + (mins as number)) * 60) * US_PER_SEC + BigInt(Math.round(sec * 1e6));
    return checkInterval({ months: (years as number) * 12 + (months as number), days: (weeks as number) * 7 + (days as number), micros });
  }),
);
defFn('to_timestamp', (args) => {
  if (args.length !== 1 || args[0] !== 'double') return undefined;
  return impl(([x]) => {
    const s = x as number;
    if (Number.isNaN(s)) throw new DataError(SqlState.datetimeFieldOverflow, 'timestamp cannot be NaN');
    if (s === Infinity) return TS_INFINITY;
    if (s === -Infinity) return TS_NEG_INFINITY;
    return checkTs(BigInt(Math.round(s * 1e6)));
  });
});
defFn('justify_hours', () => impl(([i]) => makeInterval(justifyHours(iv(i as Value)))));
defFn('justify_days', () => impl(([i]) => makeInterval(justifyDays(iv(i as Value)))));
defFn('justify_interval', () => impl(([i]) => makeInterval(justifyInterval(iv(i as Value)))));
defFn('isfinite', (args) => {
  if (args[0] === 'date') return impl(([d]) => !isInfDate(d as number));
  if (args[0] === 'timestamp' || args[0] === 'timestamptz') return impl(([t]) => !isInfTs(t as bigint));
  if (args[0] === 'interval') return impl(() => true);
  return undefined;
});

/** Civil fields of a timestamp, for to_char. */
export { fields as timestampFields, isoWeek };
