/**
 * Interval text in the stored representation (shared/src/types.ts): ISO 8601 as PostgreSQL's
 * `IntervalStyle = iso_8601` prints it (PostgreSQL 15 `EncodeInterval`, INTSTYLE_ISO_8601),
 * with months, days and microseconds kept apart as PostgreSQL keeps them.
 */

/** PostgreSQL's three interval fields. */
export interface IntervalParts {
  months: number;
  days: number;
  micros: bigint;
}

const ISO_RE = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,9}))?S)?)?$/;
const INT32_MAX = 2147483647;

/**
 * Parse ISO 8601 interval text (`P1Y2M3DT4H5M6.5S`, `PT0S`, negative parts `P-1Y-2M`,
 * `PT-1.5S`) into its parts; fractions only on seconds, rounded to µs. Undefined when the text
 * is not of that form or a part is out of range.
 */
export function parseIsoInterval(s: string): IntervalParts | undefined {
  const m = ISO_RE.exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const n = (i: number) => Number(m[i] ?? 0);
  const months = n(1) * 12 + n(2);
  const days = n(3) * 7 + n(4);
  let secUs = BigInt(m[8] ?? 0) * 1_000_000n;
  const frac = m[9] ?? '';
  if (frac) {
    const scaled = Number(`0.${frac}`) * 1e6;
    secUs += BigInt(Math.round(scaled));
  }
  if (m[7] === '-') secUs = -secUs;
  const micros = BigInt(m[5] ?? 0) * 3_600_000_000n + BigInt(m[6] ?? 0) * 60_000_000n + secUs;
  if (Math.abs(months) > INT32_MAX || Math.abs(days) > INT32_MAX) return undefined;
  return { months, days, micros };
}

/** ISO 8601 text of an interval exactly as PostgreSQL 15 prints it with `IntervalStyle = iso_8601`. */
export function formatIsoInterval(iv: IntervalParts): string {
  const year = Math.trunc(iv.months / 12);
  const mon = iv.months % 12;
  const t = iv.micros;
  const hour = t / 3_600_000_000n;
  const min = (t % 3_600_000_000n) / 60_000_000n;
  const sec = (t % 60_000_000n) / 1_000_000n;
  const fsec = t % 1_000_000n;
  if (year === 0 && mon === 0 && iv.days === 0 && t === 0n) return 'PT0S';
  let out = 'P';
  const part = (v: number | bigint, c: string) => {
    if (v !== 0 && v !== 0n) out += `${v}${c}`;
  };
  part(year, 'Y');
  part(mon, 'M');
  part(iv.days, 'D');
  if (t !== 0n) out += 'T';
  part(hour, 'H');
  part(min, 'M');
  if (sec !== 0n || fsec !== 0n) {
    const neg = sec < 0n || fsec < 0n;
    const abs = (x: bigint) => (x < 0n ? -x : x);
    let text = `${neg ? '-' : ''}${abs(sec)}`;
    if (fsec !== 0n) text += `.${String(abs(fsec)).padStart(6, '0').replace(/0+$/, '')}`;
    out += `${text}S`;
  }
  return out;
}
