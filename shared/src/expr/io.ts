/**
 * Text input and output of every type as the evaluator needs it (casts from and to text,
 * `||`, format, concat): PostgreSQL 15's `typinput` / `typoutput` of each type. The value
 * conversions themselves live in types.ts (`coerceLiteral`, `formatValue`); this module adds
 * the session time zone and the rules of the string types.
 */
import { DataError, SqlState } from '../errors.ts';
import { coerceLiteral, elementType, formatValue, isArrayType, type ResultType, type SqlType, type Value } from '../types.ts';
import { parseNumeric } from './numeric.ts';

/**
 * Parse PostgreSQL text input for type `t` (the `typinput` function).
 * @throws DataError 22P02 / 22003 / 22007 / 22008 as PostgreSQL.
 */
export function parseText(s: string, t: SqlType): Value {
  switch (t) {
    case 'numeric':
      return parseNumeric(s);
    case 'text':
    case 'varchar':
    case 'char':
      return s;
    default:
      if (isArrayType(t)) {
        const et = elementType(t);
        return parseArray(s, t).map((e) => (e === null ? null : parseText(e, et)));
      }
      return coerceLiteral(s, t);
  }
}

/** PostgreSQL text output of a value of type `t` (the `typoutput` function); `unknown` values are their text. */
export function toText(v: Value, t: ResultType): string {
  if (v === null) return '';
  if (isArrayType(t)) {
    const et = elementType(t);
    return `{${(v as Value[]).map((e) => (e === null ? 'NULL' : quoteArrayElement(toText(e, et)))).join(',')}}`;
  }
  return formatValue(v, t) ?? '';
}

/** Quote an array element as array_out does (empty, NULL, blanks, braces, quotes, commas, backslashes). */
function quoteArrayElement(s: string): string {
  if (s === '' || /^null$/i.test(s) || /[{}",\\\s]/.test(s)) return `"${s.replace(/["\\]/g, '\\$&')}"`;
  return s;
}

function malformed(s: string, detail: string): DataError {
  return new DataError(SqlState.invalidTextRepresentation, `malformed array literal: "${s}"`, { detail });
}

/**
 * Split one-dimensional PostgreSQL array text (`{a,"b c",NULL}`, optional `[1:n]=` bounds) into
 * element texts (null for NULL). @throws DataError 22P02 "malformed array literal".
 */
export function parseArray(s: string, t: SqlType): (string | null)[] {
  let i = 0;
  const n = s.length;
  const ws = (): void => {
    while (i < n && /\s/.test(s[i] as string)) i++;
  };
  ws();
  if (s[i] === '[') {
    const m = /^\[\s*-?\d+\s*:\s*-?\d+\s*\]\s*=/.exec(s.slice(i));
    if (!m) throw malformed(s, 'Array value must start with "{" or dimension information.');
    i += m[0].length;
    ws();
  }
  if (s[i] !== '{') throw malformed(s, 'Array value must start with "{" or dimension information.');
  i++;
  const out: (string | null)[] = [];
  ws();
  if (s[i] === '}') {
    i++;
    ws();
    if (i < n) throw malformed(s, 'Junk after closing right brace.');
    return out;
  }
  for (;;) {
    ws();
    if (s[i] === '{') throw new DataError(SqlState.featureNotSupported, `multidimensional arrays are not supported (type ${t})`);
    let text = '';
    let quoted = false;
    if (s[i] === '"') {
      quoted = true;
      i++;
      while (i < n && s[i] !== '"') {
        if (s[i] === '\\') i++;
        text += s[i] ?? '';
        i++;
      }
      if (i >= n) throw malformed(s, 'Unexpected end of input.');
      i++;
      ws();
    } else {
      let trailing = '';
      while (i < n && s[i] !== ',' && s[i] !== '}') {
        const c = s[i] as string;
        if (c === '"' || c === '{') throw malformed(s, `Unexpected "${c}" character.`);
        if (c === '\\') {
          i++;
          text += trailing + (s[i] ?? '');
          trailing = '';
        } else if (/\s/.test(c)) trailing += c;
        else {
          text += trailing + c;
          trailing = '';
        }
        i++;
      }
      if (text === '') throw malformed(s, 'Unexpected "," character.');
    }
    out.push(!quoted && /^null$/i.test(text) ? null : text);
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === '}') {
      i++;
      ws();
      if (i < n) throw malformed(s, 'Junk after closing right brace.');
      return out;
    }
    throw malformed(s, 'Unexpected end of input.');
  }
}
