/**
 * Session time zone conversions for timestamptz (PostgreSQL 15 §8.5.1.3): a `timestamp` is a
 * wall-clock time in the session's TimeZone, a `timestamptz` an instant. Zone names and
 * offsets are types.ts's (`timeZoneOffsetMs`: IANA names, POSIX-style and ISO offsets).
 */
import { timeZoneOffsetMs } from '../types.ts';

const US_PER_MS = 1000n;

/** Offset of `zone` from UTC at instant `utcUs` (µs since epoch), in µs east of UTC. */
export function zoneOffsetUs(zone: string, utcUs: bigint): bigint {
  if (zone === 'UTC') return 0n;
  const ms = Number(utcUs / US_PER_MS);
  return BigInt(timeZoneOffsetMs(zone, Math.max(Math.min(ms, 8.64e15), -8.64e15))) * US_PER_MS;
}

/** Local wall-clock time (as a `timestamp`, µs) of instant `us` in `zone`. */
export function timestamptzToLocal(us: bigint, zone: string): bigint {
  return us + zoneOffsetUs(zone, us);
}

/** Instant of wall-clock time `local` (µs) in `zone`; in a DST gap the offset before the transition applies (PostgreSQL's DetermineTimeZoneOffset). */
export function timestampToTimestamptz(local: bigint, zone: string): bigint {
  if (zone === 'UTC') return local;
  let off = zoneOffsetUs(zone, local);
  let utc = local - off;
  const off2 = zoneOffsetUs(zone, utc);
  // Take the second offset only when it is consistent; in a spring-forward gap it is not, and
  // PostgreSQL reads the time with the offset in force before the transition (02:30 EST → 03:30 EDT).
  if (off2 !== off && zoneOffsetUs(zone, local - off2) === off2) {
    off = off2;
    utc = local - off;
  }
  return utc;
}

/** Midnight of date `days` in `zone` as a timestamptz. */
export function dateToTimestamptz(days: number, zone: string): bigint {
  return timestampToTimestamptz(BigInt(days) * 86_400_000_000n, zone);
}
