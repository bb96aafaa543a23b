/**
 * Session time zone conversions for timestamptz (PostgreSQL 15 §8.5.1.3): a `timestamp` is a
 * wall-clock time in the session's TimeZone, a `timestamptz` an instant. Zones are IANA names
 * (through Intl) or fixed offsets ('+02', '-05:30', 'UTC'); a POSIX-style offset name such as
 * 'UTC+3' counts west-positive as PostgreSQL does.
 */
import { DataError, SqlState } from '../errors.ts';

const US_PER_MIN = 60_000_000n;
const fixedCache = new Map<string, number | null>();
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Fixed offset (minutes east of UTC) of a zone name, or null for an IANA zone. */
function fixedOffset(zone: string): number | null {
  const cached = fixedCache.get(zone);
  if (cached !== undefined) return cached;
  let r: number | null = null;
  const z = zone.trim();
  if (/^(utc|gmt|z|zulu|etc\/utc|etc\/gmt|universal)$/i.test(z)) r = 0;
  else {
    const iso = /^([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(z);
    const posix = /^(?:utc|gmt)([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(z);
    if (iso) r = (iso[1] === '-' ? -1 : 1) * (Number(iso[2]) * 60 + Number(iso[3] ?? 0));
    else if (posix) r = (posix[1] === '-' ? 1 : -1) * (Number(posix[2]) * 60 + Number(posix[3] ?? 0));
  }
  fixedCache.set(zone, r);
  return r;
}

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        era: 'short',
      });
    } catch {
      throw new DataError(SqlState.invalidParameterValue, `time zone "${zone}" not recognized`);
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at instant `utcUs` (µs since epoch), in minutes east of UTC. */
export function zoneOffsetMinutes(zone: string, utcUs: bigint): number {
  const fixed = fixedOffset(zone);
  if (fixed !== null) return fixed;
  const ms = Number(utcUs / 1000n);
  const clamped = Math.max(Math.min(ms, 8.64e15), -8.64e15);
  const parts = formatter(zone).formatToParts(new Date(clamped));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? 0);
  let year = get('year');
  if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
  const local = Date.UTC(0, get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const d = new Date(local);
  d.setUTCFullYear(year);
  return Math.round((d.getTime() - (clamped - (((clamped % 1000) + 1000) % 1000))) / 60000);
}

/** Local wall-clock time (as a `timestamp`, µs) of instant `us` in `zone`. */
export function timestamptzToLocal(us: bigint, zone: string): bigint {
  return us + BigInt(zoneOffsetMinutes(zone, us)) * US_PER_MIN;
}

/** Instant of wall-clock time `local` (µs) in `zone`; in a DST gap or overlap PostgreSQL's choice (the earlier offset's reading). */
export function timestampToTimestamptz(local: bigint, zone: string): bigint {
  const fixed = fixedOffset(zone);
  if (fixed !== null) return local - BigInt(fixed) * US_PER_MIN;
  // Two passes find the offset in force at the resulting instant.
  let off = zoneOffsetMinutes(zone, local);
  let utc = local - BigInt(off) * US_PER_MIN;
  const off2 = zoneOffsetMinutes(zone, utc);
  if (off2 !== off) {
    off = off2;
    utc = local - BigInt(off) * US_PER_MIN;
  }
  return utc;
}

/** Midnight of date `days` in `zone` as a timestamptz. */
export function dateToTimestamptz(days: number, zone: string): bigint {
  return timestampToTimestamptz(BigInt(days) * 86_400_000_000n, zone);
}
