/**
 * Text form of one-dimensional PostgreSQL arrays (PostgreSQL 15 §8.15.6 "Array Input and
 * Output Syntax"; `array_in`/`array_out` in src/backend/utils/adt/arrayfuncs.c). The one parser
 * of array literals in Stratum: element texts come out unescaped, and each element type's input
 * function converts them.
 */
import { DataError, SqlState, UnsupportedError } from '../errors.ts';

/** PostgreSQL's `array_isspace`: the whitespace array_in skips around elements. */
function isArraySpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}

function malformed(text: string, detail: string, suffix: string): DataError {
  return new DataError(SqlState.invalidTextRepresentation, `malformed array literal: "${text}"${suffix}`, { detail });
}

/**
 * Elements of a one-dimensional array literal (`{1,2}`, `{"a b","c\"d",NULL}`, `[1:2]={x,y}`),
 * unescaped; unquoted `NULL` (any case) is null. Whitespace around elements is ignored, as
 * PostgreSQL does; quoted elements and backslash-escaped characters keep theirs.
 * @param suffix appended to error messages (where the value was going).
 * @throws DataError 22P02 "malformed array literal" with PostgreSQL's DETAIL;
 *   UnsupportedError 0A000 for multidimensional arrays and lower bounds other than 1.
 */
export function parsePgArray(text: string, suffix = ''): (string | null)[] {
  let i = 0;
  const n = text.length;
  while (isArraySpace(text[i])) i++;
  let declared: number | undefined;
  if (text[i] === '[') {
    const m = /^\[\s*([+-]?\d+)\s*(?::\s*([+-]?\d+)\s*)?\]\s*=\s*/.exec(text.slice(i));
    if (!m) {
      if (/^\[[^\]]*\]\s*\[/.test(text.slice(i))) throw new UnsupportedError(`multidimensional arrays are not supported${suffix}`);
      throw malformed(text, 'Array value must start with "{" or dimension information.', suffix);
    }
    const lb = m[2] === undefined ? 1 : Number(m[1]);
    const ub = Number(m[2] ?? m[1]);
    if (ub < lb - 1) throw new DataError(SqlState.invalidTextRepresentation, `upper bound cannot be less than lower bound${suffix}`);
    if (lb !== 1) throw new UnsupportedError(`array lower bounds other than 1 are not supported${suffix}`);
    declared = ub - lb + 1;
    i += m[0].length;
  }
  if (text[i] !== '{') {
    throw malformed(text, 'Array value must start with "{" or dimension information.', suffix);
  }
  i++;
  const out: (string | null)[] = [];
  while (isArraySpace(text[i])) i++;
  if (text[i] === '}') i++;
  else {
    for (;;) {
      while (isArraySpace(text[i])) i++;
      if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
      const c = text[i];
      if (c === '{') {
        if (out.length === 0) throw new UnsupportedError(`multidimensional arrays are not supported${suffix}`);
        throw malformed(text, 'Unexpected "{" character.', suffix);
      }
      if (c === ',' || c === '}') throw malformed(text, `Unexpected "${c}" character.`, suffix);
      let v = '';
      if (c === '"') {
        i++;
        for (;;) {
          if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
          const ch = text[i++] as string;
          if (ch === '"') break;
          if (ch === '\\') {
            if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
            v += text[i++];
          } else v += ch;
        }
        while (isArraySpace(text[i])) i++;
        if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
        if (text[i] !== ',' && text[i] !== '}') throw malformed(text, 'Unexpected array element.', suffix);
        out.push(v);
      } else {
        // Unquoted: up to an unescaped delimiter; unescaped trailing whitespace is dropped.
        let keep = 0;
        let escaped = false;
        for (;;) {
          if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
          const ch = text[i] as string;
          if (ch === ',' || ch === '}') break;
          if (ch === '"') throw malformed(text, 'Unexpected array element.', suffix);
          if (ch === '{') throw malformed(text, 'Unexpected "{" character.', suffix);
          i++;
          if (ch === '\\') {
            if (i >= n) throw malformed(text, 'Unexpected end of input.', suffix);
            v += text[i++];
            keep = v.length;
            escaped = true;
          } else {
            v += ch;
            if (!isArraySpace(ch)) keep = v.length;
          }
        }
        v = v.slice(0, keep);
        out.push(!escaped && v.toUpperCase() === 'NULL' ? null : v);
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      i++; // ','
    }
  }
  while (isArraySpace(text[i])) i++;
  if (i < n) throw malformed(text, 'Junk after closing right brace.', suffix);
  if (declared !== undefined && declared !== out.length) {
    throw malformed(text, 'Specified array dimensions do not match array contents.', suffix);
  }
  return out;
}

/** Whether `array_out` quotes an element's text: empty, `NULL`, or holding `{}",\` or whitespace. */
function needsQuotes(s: string): boolean {
  if (s === '' || s.toUpperCase() === 'NULL') return true;
  for (const c of s) {
    if (c === '{' || c === '}' || c === '"' || c === ',' || c === '\\' || isArraySpace(c)) return true;
  }
  return false;
}

/** PostgreSQL's array text output (`array_out`) of element texts: `{a,"b c",NULL}`. */
export function formatPgArray(items: readonly (string | null)[]): string {
  const parts = items.map((s) => {
    if (s === null) return 'NULL';
    return needsQuotes(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : s;
  });
  return `{${parts.join(',')}}`;
}
