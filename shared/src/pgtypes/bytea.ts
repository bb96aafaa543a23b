/**
 * `bytea` text forms (PostgreSQL 15 §8.4 "Binary Data Types"; `byteain`/`byteaout` in
 * src/backend/utils/adt/varlena.c and `hex_decode` in encode.c): hex input `\x0102` and the
 * traditional escape input (`\\`, `\ooo`), hex output.
 */
import { DataError, SqlState } from '../errors.ts';

const HEX_WS = new Set([' ', '\n', '\t', '\r']);

/**
 * Parse bytea input: `\x` followed by hex digit pairs (whitespace between pairs allowed), or the
 * escape format where `\\` is a backslash and `\ooo` an octal byte; other characters are their
 * UTF-8 bytes.
 * @throws DataError 22023 on a bad hex digit or an odd digit count, 22P02 on a bad escape.
 */
export function parseBytea(s: string, suffix = ''): Uint8Array {
  if (s.startsWith('\\x')) {
    const out: number[] = [];
    let i = 2;
    while (i < s.length) {
      const c = s[i] as string;
      if (HEX_WS.has(c)) {
        i++;
        continue;
      }
      const hi = hexVal(c);
      if (hi < 0) throw new DataError(SqlState.invalidParameterValue, `invalid hexadecimal digit: "${c}"${suffix}`);
      const d = s[i + 1];
      if (d === undefined) {
        throw new DataError(SqlState.invalidParameterValue, `invalid hexadecimal data: odd number of digits${suffix}`);
      }
      const lo = hexVal(d);
      if (lo < 0) throw new DataError(SqlState.invalidParameterValue, `invalid hexadecimal digit: "${d}"${suffix}`);
      out.push(hi * 16 + lo);
      i += 2;
    }
    return Uint8Array.from(out);
  }
  const bytes = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b !== 0x5c) {
      out.push(b);
      i++;
      continue;
    }
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const b3 = bytes[i + 3];
    if (
      b1 !== undefined &&
      b2 !== undefined &&
      b3 !== undefined &&
      b1 >= 0x30 &&
      b1 <= 0x33 &&
      b2 >= 0x30 &&
      b2 <= 0x37 &&
      b3 >= 0x30 &&
      b3 <= 0x37
    ) {
      out.push((b1 - 0x30) * 64 + (b2 - 0x30) * 8 + (b3 - 0x30));
      i += 4;
    } else if (b1 === 0x5c) {
      out.push(0x5c);
      i += 2;
    } else {
      throw new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type bytea${suffix}`);
    }
  }
  return Uint8Array.from(out);
}

function hexVal(c: string): number {
  const x = c.charCodeAt(0);
  if (x >= 0x30 && x <= 0x39) return x - 0x30;
  if (x >= 0x61 && x <= 0x66) return x - 0x57;
  if (x >= 0x41 && x <= 0x46) return x - 0x37;
  return -1;
}

/** bytea hex output (`bytea_output = hex`): `\x` and two lower-case hex digits per byte. */
export function formatBytea(b: Uint8Array): string {
  return `\\x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
}

/** bytea order: bytewise, a prefix first (`byteacmp`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Math.sign(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
}
