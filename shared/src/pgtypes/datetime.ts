/**
 * Dates, times, timestamps and time zones (PostgreSQL 15 §8.5 "Date/Time Types", appendix B
 * "Date/Time Support"; `DecodeDateTime`, `EncodeDateTime` and `DetermineTimeZoneOffset` in
 * src/backend/utils/adt/datetime.c). Stored forms (types.ts): timestamps as µs since
 * 1970-01-01 00:00:00 UTC (bigint; ±infinity as int64 min/max, as PostgreSQL), dates as days
 * since 1970-01-01 (±infinity as int32 min/max), times as µs since midnight.
 *
 * Time zones are IANA names resolved through `Intl` (Node's ICU tz data; DST and local mean time
 * as PostgreSQL's tzdata has them), POSIX-style offsets (`UTC+8`, `+05:30`: positive = west of
 * Greenwich, as PostgreSQL reads a TimeZone setting), plain numbers of hours (ISO sign), and in
 * timestamp input the common abbreviations of PostgreSQL's `Default` abbreviation set.
 */
import { DataError, SqlState } from '../errors.ts';

/** Microseconds per day. */
export const US_PER_DAY = 86_400_000_000n;
/** Stored timestamp of 'infinity' (PostgreSQL's DT_NOEND, int64 max). */
export const TS_INFINITY = 2n ** 63n - 1n;
/** Stored timestamp of '-infinity' (PostgreSQL's DT_NOBEGIN, int64 min). */
export const TS_NEG_INFINITY = -(2n ** 63n);
/** Stored date of 'infinity' (PostgreSQL's DATEVAL_NOEND, int32 max). */
export const DATE_INFINITY = 2147483647;
/** Stored date of '-infinity' (PostgreSQL's DATEVAL_NOBEGIN, int32 min). */
export const DATE_NEG_INFINITY = -2147483648;

/** First day PostgreSQL accepts: 4714-11-24 BC (Julian day 0), in days since 1970-01-01. */
const MIN_DAY = -2440588;
/** The last day of timestamps, 294276-12-31. */
const MAX_TS_DAY = daysFromCivil(294276, 12, 31);
/** The last date, 5874897-12-31. */
const MAX_DATE_DAY = daysFromCivil(5874897, 12, 31);

/** Session settings the date/time text forms depend on. */
export interface DateTimeSettings {
  /** Session TimeZone (IANA name, POSIX-style offset, 'UTC'); default UTC. */
  timeZone?: string;
  /** DateStyle, e.g. 'ISO, MDY' (default), 'SQL, DMY', 'Postgres', 'German'. */
  dateStyle?: string;
  /** The current transaction time (µs since epoch) for 'now', 'today', …; default the real clock. */
  nowUs?: bigint;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC); Hinnant's days_from_civil. */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** [year, month, day] of days since 1970-01-01 (year 0 = 1 BC). */
export function civilFromDays(z: number): [number, number, number] {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : ([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Time zones

type Zone = { fixed: number } | { intl: Intl.DateTimeFormat; name: string };
const zoneCache = new Map<string, Zone | null>();

function fixedZone(seconds: number): Zone {
  return { fixed: seconds };
}

/** A POSIX-style `STD offset` spec: optional name (letters or <…>), offset west-positive. */
const POSIX_RE = /^(?:[A-Za-z]{3,}|<[^>]+>)?([+-])?(\d{1,2})(?::(\d{2})(?::(\d{2}))?)?$/;

function resolveZone(name: string): Zone | null {
  const cached = zoneCache.get(name);
  if (cached !== undefined) return cached;
  let z: Zone | null = null;
  const t = name.trim();
  const upper = t.toUpperCase();
  if (upper === 'UTC' || upper === 'GMT' || upper === 'Z' || upper === 'ZULU' || upper === 'UCT' || upper === 'UNIVERSAL') z = fixedZone(0);
  else if (/^[+-]?\d+(\.\d+)?$/.test(t)) z = fixedZone(Math.round(Number(t) * 3600));
  else {
    const p = POSIX_RE.exec(t);
    if (p && !/^[A-Za-z]+$/.test(t)) {
      const secs = Number(p[2]) * 3600 + Number(p[3] ?? 0) * 60 + Number(p[4] ?? 0);
      z = fixedZone(p[1] === '-' ? secs : -secs);
    } else {
      try {
        const intl = new Intl.DateTimeFormat('en-US', {
          timeZone: t,
          hourCycle: 'h23',
          era: 'short',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        });
        z = { intl, name: t };
      } catch {
        z = null;
      }
    }
  }
  zoneCache.set(name, z);
  return z;
}

/**
 * How `zone` (a TimeZone value as SET stores it) reads to an engine outside the router: a fixed
 * offset in seconds east of UTC (UTC, numeric offsets, POSIX `UTC+3` = 3 h west,
 * `<+05:30>-05:30`), or the tz database's canonical name of a zone with rules
 * (`america/new_york` → `America/New_York`); null when the zone is not recognized.
 */
export function zoneForEngine(zone: string): { fixed: number } | { name: string } | null {
  const z = resolveZone(zone);
  if (z === null) return null;
  return 'fixed' in z ? { fixed: z.fixed } : { name: z.intl.resolvedOptions().timeZone };
}

/**
 * The abbreviation to_char's `TZ` prints for `zone` at the UTC instant `us` (µs since the epoch):
 * the tz database's (EST, CEST, IST), else the numeric form (`+1030`-style zones print `+1030`).
 * @throws DataError 22023 for an unknown zone.
 */
export function zoneAbbreviation(zone: string, us: bigint): string {
  return zoneAbbrev(zone, us, offsetSecondsAt(zone, us));
}

/** True when `zone` names a time zone {@link timeZoneOffsetMs} understands. */
export function isValidTimeZone(zone: string): boolean {
  return resolveZone(zone) !== null;
}

function unknownZone(zone: string, suffix = ''): DataError {
  return new DataError(SqlState.invalidParameterValue, `time zone "${zone}" not recognized${suffix}`);
}

/**
 * Offset of `zone` from UTC at the instant `utcMs` (ms since epoch), in ms, positive east of
 * Greenwich (local = UTC + offset). DST and historical offsets (local mean time, seconds
 * included) follow the IANA database.
 * @throws DataError 22023 `time zone "…" not recognized`.
 */
export function timeZoneOffsetMs(zone: string, utcMs: number): number {
  const z = resolveZone(zone);
  if (z === null) throw unknownZone(zone);
  return zoneOffsetMs(z, utcMs);
}

/** Width of the offset cache's buckets: no zone changes its offset twice within 15 minutes. */
const BUCKET_MS = 900_000;
const offsetCache = new Map<Zone, Map<number, number>>();

/**
 * Offset (ms east) of zone `z` at `utcMs`. Intl lookups cost microseconds, so offsets are cached
 * per 15-minute bucket whose two ends agree (a bucket holding a transition is never cached).
 */
function zoneOffsetMs(z: Zone, utcMs: number): number {
  if ('fixed' in z) return z.fixed * 1000;
  const bucket = Math.floor(utcMs / BUCKET_MS);
  let cache = offsetCache.get(z);
  if (cache === undefined) {
    cache = new Map();
    offsetCache.set(z, cache);
  }
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  const start = intlOffsetMs(z, bucket * BUCKET_MS);
  const end = intlOffsetMs(z, (bucket + 1) * BUCKET_MS - 1000);
  if (start !== end) return intlOffsetMs(z, utcMs);
  if (cache.size >= 100_000) cache.clear();
  cache.set(bucket, start);
  return start;
}

function intlOffsetMs(z: { intl: Intl.DateTimeFormat }, utcMs: number): number {
  const ms = Math.floor(utcMs / 1000) * 1000;
  const parts = z.intl.formatToParts(new Date(ms));
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  let bc = false;
  for (const p of parts) {
    switch (p.type) {
      case 'year':
        y = Number(p.value);
        break;
      case 'month':
        mo = Number(p.value);
        break;
      case 'day':
        d = Number(p.value);
        break;
      case 'hour':
        h = Number(p.value);
        break;
      case 'minute':
        mi = Number(p.value);
        break;
      case 'second':
        s = Number(p.value);
        break;
      case 'era':
        bc = p.value.startsWith('B');
        break;
    }
  }
  if (bc) y = 1 - y;
  const local = daysFromCivil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000;
  return local - ms;
}

/**
 * UTC instant (µs) of a local wall-clock time (µs since epoch as if UTC) in `zone`, resolving DST
 * gaps and overlaps as PostgreSQL's `DetermineTimeZoneOffset`: in a spring-forward gap the offset
 * before the transition applies, in a fall-back overlap the offset after it.
 */
function localToUtc(localUs: bigint, z: Zone): bigint {
  if ('fixed' in z) return localUs - BigInt(z.fixed) * 1_000_000n;
  const t = Number(localUs / 1000n);
  const before = zoneOffsetMs(z, t - 86_400_000);
  const after = zoneOffsetMs(z, t + 86_400_000);
  let off: number;
  if (before === after) {
    off = before;
    const o2 = zoneOffsetMs(z, t - before);
    if (o2 !== before) off = o2;
  } else {
    const bt = t - before;
    const at = t - after;
    // A candidate lies before the boundary when the offset in force there is still `before`.
    const bBefore = zoneOffsetMs(z, bt) === before;
    const aBefore = zoneOffsetMs(z, at) === before;
    if (bBefore && aBefore) off = before;
    else if (!bBefore && !aBefore) off = after;
    else off = bt > at ? before : after;
  }
  return localUs - BigInt(off) * 1000n;
}

/** Offset in seconds (east positive) of `zone` at the UTC instant `us`. */
function offsetSecondsAt(zone: string, us: bigint): number {
  const z = resolveZone(zone);
  if (z === null) throw unknownZone(zone);
  return Math.round(zoneOffsetMs(z, Number(us / 1000n)) / 1000);
}

/**
 * Locales whose ICU short zone names are the tz database's abbreviations for their region
 * (en-US: EST/PST, en-GB: CET/BST, en-IN: IST, en-AU: AEST/NZDT, ja-JP: JST).
 */
const ABBREV_LOCALES = ['en-US', 'en-GB', 'en-IN', 'en-AU', 'ja-JP'];
const abbrevFormats = new Map<string, Intl.DateTimeFormat[]>();

/**
 * Abbreviation of `zone` at `us` for the SQL, Postgres and German DateStyles: the first letters-only
 * ICU short name among {@link ABBREV_LOCALES}, else the numeric form the tz database uses for zones
 * without one ('-03'). ICU does not know every tz abbreviation (MSK, SAST, China's CST print numerically).
 */
function zoneAbbrev(zone: string, us: bigint, offsetSec: number): string {
  const z = resolveZone(zone);
  if (z && 'intl' in z) {
    let formats = abbrevFormats.get(z.name);
    if (formats === undefined) {
      formats = ABBREV_LOCALES.map((l) => new Intl.DateTimeFormat(l, { timeZone: z.name, timeZoneName: 'short' }));
      abbrevFormats.set(z.name, formats);
    }
    const at = new Date(Number(us / 1000n));
    for (const f of formats) {
      const name = f.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value;
      if (name && /^[A-Z]{2,5}$/.test(name)) return name;
    }
  }
  if (z && 'fixed' in z && offsetSec === 0) return 'UTC';
  // A POSIX spec names its zone: 'UTC+3' is called UTC, 'EST5' EST (pg_tzset of a POSIX string).
  const posixName = z && 'fixed' in z ? /^([A-Za-z]{3,})[+-]?\d/.exec(zone.trim())?.[1] : undefined;
  if (posixName) return posixName;
  return formatOffset(offsetSec);
}

/** PostgreSQL's numeric zone suffix: `+01`, `-05:30`, `+00:09:21`. */
export function formatOffset(sec: number): string {
  const sign = sec < 0 ? '-' : '+';
  const a = Math.abs(sec);
  const h = Math.floor(a / 3600);
  const m = Math.floor(a / 60) % 60;
  const s = a % 60;
  let out = `${sign}${pad(h)}`;
  if (m || s) out += `:${pad(m)}`;
  if (s) out += `:${pad(s)}`;
  return out;
}

/** Offsets (seconds east) of the abbreviations in PostgreSQL's `Default` set that applications commonly write. */
const ABBREVIATIONS: Record<string, number> = {
  utc: 0,
  gmt: 0,
  ut: 0,
  z: 0,
  zulu: 0,
  est: -5 * 3600,
  edt: -4 * 3600,
  cst: -6 * 3600,
  cdt: -5 * 3600,
  mst: -7 * 3600,
  mdt: -6 * 3600,
  pst: -8 * 3600,
  pdt: -7 * 3600,
  akst: -9 * 3600,
  akdt: -8 * 3600,
  hst: -10 * 3600,
  ast: -4 * 3600,
  adt: -3 * 3600,
  nst: -(3 * 3600 + 1800),
  ndt: -(2 * 3600 + 1800),
  wet: 0,
  west: 3600,
  bst: 3600,
  cet: 3600,
  cest: 2 * 3600,
  met: 3600,
  mest: 2 * 3600,
  eet: 2 * 3600,
  eest: 3 * 3600,
  msk: 3 * 3600,
  ist: 2 * 3600,
  jst: 9 * 3600,
  kst: 9 * 3600,
  hkt: 8 * 3600,
  sgt: 8 * 3600,
  awst: 8 * 3600,
  acst: 9 * 3600 + 1800,
  acdt: 10 * 3600 + 1800,
  aest: 10 * 3600,
  aedt: 11 * 3600,
  nzst: 12 * 3600,
  nzdt: 13 * 3600,
};

// ---------------------------------------------------------------------------------------------
// Input

const MONTHS: Record<string, number> = {
  jan: 1,
  january: 1,
  feb: 2,
  february: 2,
  mar: 3,
  march: 3,
  apr: 4,
  april: 4,
  may: 5,
  jun: 6,
  june: 6,
  jul: 7,
  july: 7,
  aug: 8,
  august: 8,
  sep: 9,
  sept: 9,
  september: 9,
  oct: 10,
  october: 10,
  nov: 11,
  november: 11,
  dec: 12,
  december: 12,
};
const DOWS = new Set([
  'sun',
  'sunday',
  'mon',
  'monday',
  'tue',
  'tues',
  'tuesday',
  'wed',
  'wednesday',
  'thu',
  'thur',
  'thurs',
  'thursday',
  'fri',
  'friday',
  'sat',
  'saturday',
]);

type Field = { k: 'date' | 'time' | 'num' | 'word' | 'tz'; s: string };

/** Split date/time input into fields (PostgreSQL's `ParseDateTime`, simplified). */
function tokenize(text: string): Field[] | undefined {
  const s = text.replace(/(\d)[Tt](\d)/, '$1 $2');
  const out: Field[] = [];
  let i = 0;
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  const isAlpha = (c: string | undefined): boolean => c !== undefined && /[A-Za-z]/.test(c);
  while (i < s.length) {
    const c = s[i] as string;
    if (/[\s,]/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c)) {
      while (isDigit(s[i])) i++;
      const n = s[i];
      if (n === ':') {
        while (isDigit(s[i]) || s[i] === ':' || s[i] === '.') i++;
        out.push({ k: 'time', s: s.slice(start, i) });
      } else if (n === '-' || n === '/' || (n === '.' && /^\.\d+\./.test(s.slice(i)))) {
        while (isDigit(s[i]) || isAlpha(s[i]) || s[i] === n) i++;
        out.push({ k: 'date', s: s.slice(start, i) });
      } else {
        if (n === '.') {
          i++;
          while (isDigit(s[i])) i++;
        }
        out.push({ k: 'num', s: s.slice(start, i) });
      }
    } else if (isAlpha(c)) {
      while (isAlpha(s[i])) i++;
      const word = s.slice(start, i).toLowerCase();
      if (MONTHS[word] !== undefined && (s[i] === '-' || s[i] === '/') && isDigit(s[i + 1])) {
        const d = s[i];
        while (isDigit(s[i]) || isAlpha(s[i]) || s[i] === d) i++;
        out.push({ k: 'date', s: s.slice(start, i) });
      } else {
        if (s[i] === '/' || s[i] === '_' || ((s[i] === '+' || s[i] === '-') && /^[A-Za-z]+\/|^etc/i.test(s.slice(start)))) {
          while (i < s.length && /[A-Za-z0-9/_+-]/.test(s[i] as string)) i++;
        }
        out.push({ k: 'word', s: s.slice(start, i) });
      }
    } else if (c === '+' || c === '-') {
      i++;
      if (isDigit(s[i])) {
        while (isDigit(s[i]) || s[i] === ':') i++;
        out.push({ k: 'tz', s: s.slice(start, i) });
      } else if (isAlpha(s[i])) {
        while (isAlpha(s[i])) i++;
        out.push({ k: 'word', s: s.slice(start, i) });
      } else return undefined;
    } else return undefined;
  }
  return out;
}

/** What a date/time text decoded to. */
interface Decoded {
  special?: 'epoch' | 'infinity' | '-infinity' | 'now' | 'today' | 'tomorrow' | 'yesterday';
  year?: number;
  month?: number;
  day?: number;
  /** Time of day in µs (may be 24:00:00). */
  time?: number;
  /** Zone offset in seconds east, or a zone to resolve local time in. */
  offset?: number;
  zone?: string;
}

type Order = 'MDY' | 'DMY' | 'YMD';

/** DateStyle's field order for ambiguous input ('ISO, MDY' → MDY; 'European' → DMY). */
export function dateOrder(dateStyle: string | undefined): Order {
  return parsedDateStyle(dateStyle).order;
}

const dateStyles = new Map<string, { style: Style; order: Order }>();

/** DateStyle's output style and field order, parsed once per distinct setting text. */
function parsedDateStyle(dateStyle: string | undefined): { style: Style; order: Order } {
  const key = dateStyle ?? '';
  let p = dateStyles.get(key);
  if (p === undefined) {
    p = { style: styleOf(dateStyle), order: parseOrder(dateStyle) };
    if (dateStyles.size < 64) dateStyles.set(key, p);
  }
  return p;
}

function parseOrder(dateStyle: string | undefined): Order {
  const s = (dateStyle ?? '').toUpperCase();
  if (/\bDMY\b|EURO/.test(s)) return 'DMY';
  if (/\bYMD\b/.test(s)) return 'YMD';
  if (/GERMAN/.test(s) && !/\bMDY\b/.test(s)) return 'DMY';
  return 'MDY';
}

class DtError {
  constructor(
    readonly kind: 'syntax' | 'range' | 'zone',
    readonly zone?: string,
  ) {}
}

const syntax = (): DtError => new DtError('syntax');
const range = (): DtError => new DtError('range');

function twoDigitYear(text: string, y: number): number {
  if (text.length === 2) return y < 70 ? 2000 + y : 1900 + y;
  return y;
}

/** Decode fields into a {@link Decoded} (PostgreSQL's `DecodeDateTime`, common forms). */
function decode(fields: Field[], order: Order): Decoded {
  const r: Decoded = {};
  let bc = false;
  let ampm: 'am' | 'pm' | undefined;
  let textMonth = false;
  let yearText: string | undefined;
  const setTime = (t: string): void => {
    if (r.time !== undefined) throw syntax();
    const m = /^(\d+):(\d+)(?::(\d+))?(?:\.(\d*))?$/.exec(t);
    if (!m) throw syntax();
    const h = Number(m[1]);
    const mi = Number(m[2]);
    const s = Number(m[3] ?? 0);
    const fs = m[4] ? rint(Number(`0.${m[4]}`) * 1e6) : 0;
    if (h > 24 || mi > 59 || s > 60 || (h === 24 && (mi > 0 || s > 0 || fs > 0))) throw range();
    r.time = ((h * 60 + mi) * 60 + s) * 1e6 + fs;
  };
  const setYmd = (y: number, m: number, d: number, yText: string): void => {
    if (r.year !== undefined || r.month !== undefined || r.day !== undefined) throw syntax();
    r.year = y;
    r.month = m;
    r.day = d;
    yearText = yText;
  };
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as Field;
    switch (f.k) {
      case 'time':
        setTime(f.s);
        break;
      case 'date': {
        const parts = f.s.split(/[-/.]/);
        if (parts.length !== 3 || parts.some((p) => p === '')) throw syntax();
        const [a, b, c] = parts as [string, string, string];
        const mon = (p: string): number | undefined => MONTHS[p.toLowerCase()];
        if (mon(a) !== undefined) {
          textMonth = true;
          setYmd(Number(c), mon(a) as number, Number(b), c);
        } else if (mon(b) !== undefined) {
          textMonth = true;
          if (a.length >= 3) setYmd(Number(a), mon(b) as number, Number(c), a);
          else setYmd(Number(c), mon(b) as number, Number(a), c);
        } else if (![a, b, c].every((p) => /^\d+$/.test(p))) throw syntax();
        else if (a.length >= 3 || order === 'YMD') setYmd(Number(a), Number(b), Number(c), a);
        else if (order === 'DMY') setYmd(Number(c), Number(b), Number(a), c);
        else setYmd(Number(c), Number(a), Number(b), c);
        break;
      }
      case 'num': {
        const t = f.s;
        if (t.includes('.')) {
          // hhmmss.fff after a date, or a fractional field we do not take.
          if (r.year !== undefined && r.time === undefined && /^\d{6}\.\d*$/.test(t)) {
            setTime(`${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4)}`);
            break;
          }
          throw syntax();
        }
        if (r.year === undefined && r.month === undefined && r.day === undefined && (t.length === 8 || t.length === 6) && !textMonth) {
          const y = t.length === 8 ? t.slice(0, 4) : t.slice(0, 2);
          const rest = t.slice(y.length);
          setYmd(twoDigitYear(y, Number(y)), Number(rest.slice(0, 2)), Number(rest.slice(2, 4)), y);
          break;
        }
        if (
          r.year !== undefined &&
          r.month !== undefined &&
          r.day !== undefined &&
          r.time === undefined &&
          (t.length === 6 || t.length === 4)
        ) {
          setTime(`${t.slice(0, 2)}:${t.slice(2, 4)}${t.length === 6 ? `:${t.slice(4, 6)}` : ''}`);
          break;
        }
        const monthAhead = fields.slice(i + 1).some((g) => g.k === 'word' && MONTHS[g.s.toLowerCase()] !== undefined);
        if (textMonth || r.month !== undefined || monthAhead) {
          if (r.day === undefined && t.length <= 2) r.day = Number(t);
          else if (r.year === undefined) {
            r.year = Number(t);
            yearText = t;
          } else throw syntax();
          break;
        }
        throw syntax();
      }
      case 'tz': {
        const m = /^([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$/.exec(f.s);
        if (!m || r.offset !== undefined || r.zone !== undefined) throw syntax();
        const secs = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
        if (Number(m[2]) > 15 || Number(m[3] ?? 0) > 59 || Number(m[4] ?? 0) > 59) throw range();
        r.offset = m[1] === '-' ? -secs : secs;
        break;
      }
      case 'word': {
        const w = f.s.toLowerCase();
        if (
          w === 'epoch' ||
          w === 'infinity' ||
          w === '-infinity' ||
          w === 'now' ||
          w === 'today' ||
          w === 'tomorrow' ||
          w === 'yesterday'
        ) {
          if (r.special !== undefined) throw syntax();
          r.special = w;
          break;
        }
        if (w === '+infinity') {
          r.special = 'infinity';
          break;
        }
        if (w === 'allballs') {
          setTime('00:00:00');
          r.offset = 0;
          break;
        }
        if (w === 't' || w === 'at' || w === 'on') break;
        if (w === 'bc') {
          bc = true;
          break;
        }
        if (w === 'ad') break;
        if (w === 'am' || w === 'a.m' || w === 'pm') {
          ampm = w === 'pm' ? 'pm' : 'am';
          break;
        }
        const mon = MONTHS[w];
        if (mon !== undefined && r.month === undefined) {
          r.month = mon;
          textMonth = true;
          break;
        }
        if (DOWS.has(w)) break;
        if (r.offset !== undefined || r.zone !== undefined) throw syntax();
        const ab = ABBREVIATIONS[w];
        if (ab !== undefined) {
          r.offset = ab;
          break;
        }
        if (resolveZone(f.s) !== null) {
          r.zone = f.s;
          // A POSIX-style offset glued to the name ('UTC+5') is part of it.
          break;
        }
        if (f.s.includes('/')) throw new DtError('zone', f.s.toLowerCase());
        throw syntax();
      }
    }
  }
  if (r.special !== undefined) {
    if (r.year !== undefined || r.month !== undefined || r.day !== undefined) throw syntax();
    return r;
  }
  if (ampm !== undefined) {
    if (r.time === undefined) throw syntax();
    const h = Math.floor(r.time / 3_600_000_000);
    if (h > 12 || h === 0) throw range();
    if (ampm === 'pm' && h < 12) r.time += 12 * 3_600_000_000;
    if (ampm === 'am' && h === 12) r.time -= 12 * 3_600_000_000;
  }
  if (r.year !== undefined) {
    if (yearText !== undefined && !bc) r.year = twoDigitYear(yearText, r.year);
    if (bc) {
      if (r.year <= 0) throw range();
      r.year = 1 - r.year;
    } else if (r.year === 0) throw range();
  } else if (bc) throw syntax();
  if (r.month !== undefined && (r.month < 1 || r.month > 12)) {
    // In MDY order a first field over 12 may be a day: PostgreSQL says so in a hint.
    throw range();
  }
  if (r.day !== undefined && r.month !== undefined && r.year !== undefined) {
    if (r.day < 1 || r.day > daysInMonth(r.year, r.month)) throw range();
  }
  return r;
}

function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function nowUs(s: DateTimeSettings): bigint {
  return s.nowUs ?? BigInt(Date.now()) * 1000n;
}

/** Local midnight (as UTC µs) of `us` in `zone`, shifted by `days`. */
function localDayStart(us: bigint, zone: Zone, days: number): bigint {
  const off = BigInt(zoneOffsetMs(zone, Number(us / 1000n))) * 1000n;
  const local = us + off;
  let day = local / US_PER_DAY;
  if (local % US_PER_DAY < 0n) day -= 1n;
  return localToUtc((day + BigInt(days)) * US_PER_DAY, zone);
}

/** Names of the date/time types in PostgreSQL's messages. */
type DtType = 'timestamp' | 'timestamptz' | 'date' | 'time';
const DT_NAME: Record<DtType, string> = {
  timestamp: 'timestamp',
  timestamptz: 'timestamp with time zone',
  date: 'date',
  time: 'time',
};

function raise(e: unknown, type: DtType, text: string, suffix: string): never {
  if (e instanceof DtError) {
    if (e.kind === 'zone') throw unknownZone(e.zone ?? text, suffix);
    if (e.kind === 'range') throw new DataError(SqlState.datetimeFieldOverflow, `date/time field value out of range: "${text}"${suffix}`);
    throw new DataError(SqlState.invalidDatetimeFormat, `invalid input syntax for type ${DT_NAME[type]}: "${text}"${suffix}`);
  }
  throw e;
}

/** Machine-written ISO 8601 (`2026-01-01 10:00:00.123456+01:00`, `…T…Z`): decoded without the general tokenizer. */
const ISO_FAST_RE = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?)? ?(?:(Z)|([+-])(\d\d)(?::?(\d\d))?)?$/;

function decodeIso(text: string): Decoded | undefined {
  const m = ISO_FAST_RE.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const h = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const sec = Number(m[6] ?? 0);
  const frac = m[7] === undefined ? 0 : Number(m[7].padEnd(6, '0'));
  const oh = Number(m[10] ?? 0);
  const om = Number(m[11] ?? 0);
  // Anything unusual (year 0, leap seconds, 24:00, odd offsets) takes the general path.
  if (
    year === 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    h > 23 ||
    mi > 59 ||
    sec > 59 ||
    oh > 15 ||
    om > 59
  ) {
    return undefined;
  }
  const r: Decoded = { year, month, day };
  if (m[4] !== undefined) r.time = ((h * 60 + mi) * 60 + sec) * 1e6 + frac;
  if (m[8] !== undefined) r.offset = 0;
  else if (m[9] !== undefined) r.offset = (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  return r;
}

function decodeText(text: string, type: DtType, settings: DateTimeSettings, suffix: string): Decoded {
  const fast = decodeIso(text);
  if (fast !== undefined) return fast;
  try {
    const fields = tokenize(text);
    if (fields === undefined || fields.length === 0) throw syntax();
    return decode(fields, dateOrder(settings.dateStyle));
  } catch (e) {
    return raise(e, type, text, suffix);
  }
}

/**
 * Parse timestamp input (ISO `2026-01-01 10:00:00.5+05:30`, `2026-01-01T10:00Z`, `January 8 1999
 * 10:00 PM`, `01/02/2026` by DateStyle order, `20260101`, zone names and abbreviations, BC,
 * `epoch`, `±infinity`, `now`, `today`, …) into µs since the epoch, UTC. For `timestamp` a zone in
 * the text is ignored, as PostgreSQL does; for `timestamptz` a text without one is in the session
 * TimeZone (`settings.timeZone`, default UTC), DST gaps and overlaps resolved as PostgreSQL does.
 * @throws DataError 22007 bad syntax, 22008 field or value out of range, 22023 unknown time zone.
 */
export function parseTimestamp(text: string, type: 'timestamp' | 'timestamptz', settings: DateTimeSettings = {}, suffix = ''): bigint {
  const r = decodeText(text, type, settings, suffix);
  const sessionZone = resolveZone(settings.timeZone ?? 'UTC');
  if (sessionZone === null) throw unknownZone(settings.timeZone ?? '');
  // Local times of a timestamp without time zone are "UTC" for the special words, as PostgreSQL.
  const localZone = type === 'timestamptz' ? sessionZone : fixedZone(0);
  if (r.special !== undefined) {
    switch (r.special) {
      case 'infinity':
        return TS_INFINITY;
      case '-infinity':
        return TS_NEG_INFINITY;
      case 'epoch':
        return 0n;
      case 'now':
        return type === 'timestamptz'
          ? nowUs(settings)
          : nowUs(settings) + BigInt(zoneOffsetMs(sessionZone, Number(nowUs(settings) / 1000n))) * 1000n;
      default: {
        const shift = r.special === 'today' ? 0 : r.special === 'tomorrow' ? 1 : -1;
        if (type === 'timestamptz') return localDayStart(nowUs(settings), sessionZone, shift);
        const local = nowUs(settings) + BigInt(zoneOffsetMs(sessionZone, Number(nowUs(settings) / 1000n))) * 1000n;
        let day = local / US_PER_DAY;
        if (local % US_PER_DAY < 0n) day -= 1n;
        return (day + BigInt(shift)) * US_PER_DAY;
      }
    }
  }
  if (r.year === undefined || r.month === undefined || r.day === undefined) raise(syntax(), type, text, suffix);
  const days = daysFromCivil(r.year, r.month, r.day);
  if (days < MIN_DAY || days > MAX_TS_DAY) {
    throw new DataError(SqlState.datetimeFieldOverflow, `timestamp out of range: "${text}"${suffix}`);
  }
  const local = BigInt(days) * US_PER_DAY + BigInt(r.time ?? 0);
  let us: bigint;
  if (type === 'timestamp') us = local;
  else if (r.offset !== undefined) us = local - BigInt(r.offset) * 1_000_000n;
  else if (r.zone !== undefined) us = localToUtc(local, resolveZone(r.zone) ?? localZone);
  else us = localToUtc(local, localZone);
  if (us < BigInt(MIN_DAY) * US_PER_DAY || us >= BigInt(MAX_TS_DAY + 1) * US_PER_DAY) {
    throw new DataError(SqlState.datetimeFieldOverflow, `timestamp out of range: "${text}"${suffix}`);
  }
  return us;
}

/**
 * Parse date input (the forms of {@link parseTimestamp}; a time part is ignored) into days since
 * 1970-01-01. `epoch`, `±infinity`, `today`, `tomorrow`, `yesterday` (in the session TimeZone).
 * @throws DataError 22007, 22008 as PostgreSQL's `date_in`.
 */
export function parseDate(text: string, settings: DateTimeSettings = {}, suffix = ''): number {
  const r = decodeText(text, 'date', settings, suffix);
  if (r.special !== undefined) {
    switch (r.special) {
      case 'infinity':
        return DATE_INFINITY;
      case '-infinity':
        return DATE_NEG_INFINITY;
      case 'epoch':
        return 0;
      case 'now':
      case 'today':
      case 'tomorrow':
      case 'yesterday': {
        const zone = resolveZone(settings.timeZone ?? 'UTC');
        if (zone === null) throw unknownZone(settings.timeZone ?? '');
        const now = nowUs(settings);
        const local = now + BigInt(zoneOffsetMs(zone, Number(now / 1000n))) * 1000n;
        let day = local / US_PER_DAY;
        if (local % US_PER_DAY < 0n) day -= 1n;
        return Number(day) + (r.special === 'tomorrow' ? 1 : r.special === 'yesterday' ? -1 : 0);
      }
    }
  }
  if (r.year === undefined || r.month === undefined || r.day === undefined) raise(syntax(), 'date', text, suffix);
  const days = daysFromCivil(r.year, r.month, r.day);
  if (days < MIN_DAY || days > MAX_DATE_DAY) throw new DataError(SqlState.datetimeFieldOverflow, `date out of range: "${text}"${suffix}`);
  return days;
}

/**
 * Parse time input (`10:00`, `10:00:00.5`, `10:00 PM`, `allballs`; a date or zone in the text is
 * ignored) into µs since midnight, 0 … 86 400 000 000 (24:00:00).
 * @throws DataError 22007, 22008 as PostgreSQL's `time_in`.
 */
export function parseTime(text: string, settings: DateTimeSettings = {}, suffix = ''): number {
  const r = decodeText(text, 'time', settings, suffix);
  if (r.special === 'now') {
    const zone = resolveZone(settings.timeZone ?? 'UTC');
    if (zone === null) throw unknownZone(settings.timeZone ?? '');
    const now = nowUs(settings);
    const local = now + BigInt(zoneOffsetMs(zone, Number(now / 1000n))) * 1000n;
    return Number(((local % US_PER_DAY) + US_PER_DAY) % US_PER_DAY);
  }
  if (r.special !== undefined || r.time === undefined) raise(syntax(), 'time', text, suffix);
  return r.time;
}

// ---------------------------------------------------------------------------------------------
// Output

function pad(n: number, w = 2): string {
  if (w === 2 && n >= 0 && n < 10) return `0${n}`;
  return String(n).padStart(w, '0');
}

const MONTH_ABBR = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DOW_ABBR = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** `HH:MM:SS[.ffffff]` of µs within a day (trailing fraction zeros dropped). */
export function formatTime(us: number): string {
  const secs = Math.floor(us / 1e6);
  const micros = us - secs * 1e6;
  let out = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  if (micros) out += `.${pad(micros, 6).replace(/0+$/, '')}`;
  return out;
}

type Style = 'ISO' | 'SQL' | 'POSTGRES' | 'GERMAN';
function styleOf(dateStyle: string | undefined): Style {
  const s = (dateStyle ?? 'ISO').toUpperCase();
  if (s.includes('SQL')) return 'SQL';
  if (s.includes('POSTGRES')) return 'POSTGRES';
  if (s.includes('GERMAN')) return 'GERMAN';
  return 'ISO';
}

function yearText(y: number): string {
  return pad(y > 0 ? y : 1 - y, 4);
}

/** A date in a DateStyle (`EncodeDateOnly`): ISO `2026-07-01`, SQL `07/01/2026`, German `01.07.2026`, Postgres `07-01-2026`. */
export function formatDateStyle(days: number, dateStyle?: string): string {
  if (days === DATE_INFINITY) return 'infinity';
  if (days === DATE_NEG_INFINITY) return '-infinity';
  const [y, m, d] = civilFromDays(days);
  const ds = parsedDateStyle(dateStyle);
  const dmy = ds.order === 'DMY';
  let out: string;
  switch (ds.style) {
    case 'ISO':
      out = `${yearText(y)}-${pad(m)}-${pad(d)}`;
      break;
    case 'SQL':
      out = dmy ? `${pad(d)}/${pad(m)}/${yearText(y)}` : `${pad(m)}/${pad(d)}/${yearText(y)}`;
      break;
    case 'GERMAN':
      out = `${pad(d)}.${pad(m)}.${yearText(y)}`;
      break;
    case 'POSTGRES':
      out = dmy ? `${pad(d)}-${pad(m)}-${yearText(y)}` : `${pad(m)}-${pad(d)}-${yearText(y)}`;
      break;
  }
  return y <= 0 ? `${out} BC` : out;
}

/**
 * A timestamp in a DateStyle (`EncodeDateTime`). For timestamptz (`zone` given) the local time
 * in that zone with its offset (ISO: `2026-01-01 10:00:00+01`, `+05:30`) or abbreviation.
 */
export function formatTimestampStyle(us: bigint, zone: string | undefined, dateStyle?: string): string {
  if (us === TS_INFINITY) return 'infinity';
  if (us === TS_NEG_INFINITY) return '-infinity';
  const off = zone === undefined ? 0 : offsetSecondsAt(zone, us);
  const local = us + BigInt(off) * 1_000_000n;
  let days = local / US_PER_DAY;
  let rem = local % US_PER_DAY;
  if (rem < 0n) {
    rem += US_PER_DAY;
    days -= 1n;
  }
  const day = Number(days);
  const [y, m, d] = civilFromDays(day);
  const time = formatTime(Number(rem));
  const { style, order } = parsedDateStyle(dateStyle);
  const dmy = order === 'DMY';
  let out: string;
  const abbrev = (): string => (zone === undefined ? '' : ` ${zoneAbbrev(zone, us, off)}`);
  switch (style) {
    case 'ISO':
      out = `${yearText(y)}-${pad(m)}-${pad(d)} ${time}${zone === undefined ? '' : formatOffset(off)}`;
      break;
    case 'SQL':
      out = `${dmy ? `${pad(d)}/${pad(m)}` : `${pad(m)}/${pad(d)}`}/${yearText(y)} ${time}${abbrev()}`;
      break;
    case 'GERMAN':
      out = `${pad(d)}.${pad(m)}.${yearText(y)} ${time}${abbrev()}`;
      break;
    case 'POSTGRES': {
      const dow = DOW_ABBR[(((day + 4) % 7) + 7) % 7] as string;
      const mon = MONTH_ABBR[m - 1] as string;
      out = `${dow} ${dmy ? `${pad(d)} ${mon}` : `${mon} ${pad(d)}`} ${time} ${yearText(y)}${abbrev()}`;
      break;
    }
  }
  return y <= 0 ? `${out} BC` : out;
}
