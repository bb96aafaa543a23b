/**
 * `json` and `jsonb` text (PostgreSQL 15 §8.14 "JSON Types"; the lexer and parser of
 * src/common/jsonapi.c, `jsonb_in`/`JsonbToCString` in src/backend/utils/adt/jsonb.c).
 * `json` is stored as the text given, once validated; `jsonb` as PostgreSQL's canonical text:
 * object keys ordered by length then bytes, duplicate keys dropped (the last wins), numbers as
 * `numeric` prints them, `{"a": 1, "b": [1, 2]}` spacing.
 */
import { DataError, SqlState } from '../errors.ts';
import { compareNumeric, formatNumeric, type NumericValue, parseNumeric } from './numeric.ts';

/** A parsed JSON value. Numbers keep their text; object pairs keep input order and duplicates. */
/** The input text of each value parsed as `json` (PostgreSQL's json keeps it: `'[1, 2]'::json -> 0` keeps spacing). */
export const JSON_SOURCE = new WeakMap<JsonNode, string>();

/** A parsed JSON value. */
export type JsonNode =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; text: string }
  | { t: 'str'; v: string }
  | { t: 'arr'; items: JsonNode[] }
  | { t: 'obj'; pairs: [string, JsonNode][] };

function bad(detail: string, suffix: string): DataError {
  return new DataError(SqlState.invalidTextRepresentation, `invalid input syntax for type json${suffix}`, { detail });
}

const WS = new Set([' ', '\t', '\n', '\r']);
const PUNCT = new Set(['{', '}', '[', ']', ',', ':']);

/** JSON_ALPHANUMERIC_CHAR: letters, digits, `_` and any non-ASCII character. */
function isAlnum(c: string | undefined): boolean {
  if (c === undefined) return false;
  const x = c.charCodeAt(0);
  return (x >= 0x61 && x <= 0x7a) || (x >= 0x41 && x <= 0x5a) || (x >= 0x30 && x <= 0x39) || x === 0x5f || x >= 0x80;
}

const NUMBER_RE = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

type Tok =
  | { k: 'p'; v: string }
  | { k: 'str'; v: string }
  | { k: 'num'; text: string }
  | { k: 'lit'; v: 'true' | 'false' | 'null' }
  | { k: 'end' };

class Lexer {
  i = 0;
  /** Start of the token `next` returned last. */
  start = 0;
  constructor(
    readonly s: string,
    readonly jsonb: boolean,
    readonly suffix: string,
  ) {}

  next(): Tok {
    const s = this.s;
    while (WS.has(s[this.i] as string)) this.i++;
    this.start = this.i;
    if (this.i >= s.length) return { k: 'end' };
    const c = s[this.i] as string;
    if (PUNCT.has(c)) {
      this.i++;
      return { k: 'p', v: c };
    }
    if (c === '"') return this.string();
    const start = this.i;
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER_RE.lastIndex = start;
      const m = NUMBER_RE.exec(s);
      const end = start + (m ? m[0].length : 0);
      if (m && m[0] !== '-' && m[1] !== undefined && !isAlnum(s[end]) && s[end] !== '.') {
        this.i = end;
        return { k: 'num', text: m[0] };
      }
      let j = Math.max(end, start + 1);
      while (isAlnum(s[j]) || s[j] === '.' || s[j] === '+' || s[j] === '-') j++;
      throw bad(`Token "${s.slice(start, j)}" is invalid.`, this.suffix);
    }
    let j = start;
    while (isAlnum(s[j])) j++;
    if (j === start) j++;
    const word = s.slice(start, j);
    this.i = j;
    if (word === 'true' || word === 'false' || word === 'null') return { k: 'lit', v: word };
    throw bad(`Token "${word}" is invalid.`, this.suffix);
  }

  private string(): Tok {
    const s = this.s;
    const start = this.i;
    let i = this.i + 1;
    let out = '';
    let hi = -1;
    for (;;) {
      if (i >= s.length) throw bad(`Token "${s.slice(start)}" is invalid.`, this.suffix);
      // A run of plain characters at once.
      let j = i;
      while (j < s.length) {
        const x = s.charCodeAt(j);
        if (x === 0x22 || x === 0x5c || x < 0x20) break;
        j++;
      }
      if (j > i) {
        if (hi !== -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
        out += s.slice(i, j);
        i = j;
        continue;
      }
      const c = s[i] as string;
      const code = c.charCodeAt(0);
      if (c === '"') break;
      if (code < 0x20) throw bad(`Character with value 0x${code.toString(16).padStart(2, '0')} must be escaped.`, this.suffix);
      if (c === '\\') {
        const e = s[i + 1];
        if (e === undefined) throw bad(`Token "${s.slice(start)}" is invalid.`, this.suffix);
        if (e === 'u') {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw bad('"\\u" must be followed by four hexadecimal digits.', this.suffix);
          const u = Number.parseInt(hex, 16);
          i += 6;
          if (!this.jsonb) {
            // json keeps its text: only the escape's form is checked (PostgreSQL's json_in).
            continue;
          }
          if (u >= 0xd800 && u <= 0xdbff) {
            if (hi !== -1) throw bad('Unicode high surrogate must not follow a high surrogate.', this.suffix);
            hi = u;
            continue;
          }
          if (u >= 0xdc00 && u <= 0xdfff) {
            if (hi === -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
            out += String.fromCharCode(hi, u);
            hi = -1;
            continue;
          }
          if (hi !== -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
          if (u === 0 && this.jsonb) {
            throw new DataError(SqlState.untranslatableCharacter, `unsupported Unicode escape sequence${this.suffix}`, {
              detail: '\\u0000 cannot be converted to text.',
            });
          }
          out += String.fromCharCode(u);
          continue;
        }
        if (hi !== -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        const m = map[e];
        if (m === undefined) throw bad(`Escape sequence "\\${e}" is invalid.`, this.suffix);
        out += m;
        i += 2;
        continue;
      }
      if (hi !== -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
      out += c;
      i++;
    }
    if (hi !== -1) throw bad('Unicode low surrogate must follow a high surrogate.', this.suffix);
    this.i = i + 1;
    return { k: 'str', v: out };
  }
}

function tokText(t: Tok): string {
  switch (t.k) {
    case 'p':
      return t.v;
    case 'str':
      return JSON.stringify(t.v);
    case 'num':
      return t.text;
    case 'lit':
      return t.v;
    case 'end':
      return '';
  }
}

/**
 * Parse JSON text as PostgreSQL does (RFC 7159 values at the top level, whitespace space, tab,
 * CR and LF, escapes checked, surrogate pairs joined).
 * @param jsonb also refuse `\u0000` (22P05), as jsonb cannot hold it.
 * @param suffix appended to error messages (where the value was going).
 * @throws DataError 22P02 "invalid input syntax for type json" with PostgreSQL's DETAIL.
 */
export function parseJson(s: string, jsonb = false, suffix = ''): JsonNode {
  const lx = new Lexer(s, jsonb, suffix);
  const ended = (): DataError => bad('The input string ended unexpectedly.', suffix);
  // json (not jsonb) keeps its input text: remember each value's source span.
  const value = jsonb
    ? (t: Tok, expected: string): JsonNode => parseValue(t, expected)
    : (t: Tok, expected: string): JsonNode => {
        const start = lx.start;
        const n = parseValue(t, expected);
        JSON_SOURCE.set(n, s.slice(start, lx.i));
        return n;
      };
  const parseValue = (t: Tok, expected: string): JsonNode => {
    switch (t.k) {
      case 'end':
        throw ended();
      case 'str':
        return { t: 'str', v: t.v };
      case 'num':
        return { t: 'num', text: t.text };
      case 'lit':
        return t.v === 'null' ? { t: 'null' } : { t: 'bool', v: t.v === 'true' };
      case 'p':
        if (t.v === '[') {
          const items: JsonNode[] = [];
          let u = lx.next();
          if (u.k === 'p' && u.v === ']') return { t: 'arr', items };
          for (;;) {
            items.push(value(u, items.length === 0 ? 'array element or "]"' : 'JSON value'));
            u = lx.next();
            if (u.k === 'end') throw ended();
            if (u.k === 'p' && u.v === ']') return { t: 'arr', items };
            if (!(u.k === 'p' && u.v === ',')) throw bad(`Expected "," or "]", but found "${tokText(u)}".`, suffix);
            u = lx.next();
          }
        }
        if (t.v === '{') {
          const pairs: [string, JsonNode][] = [];
          let u = lx.next();
          if (u.k === 'p' && u.v === '}') return { t: 'obj', pairs };
          for (;;) {
            if (u.k === 'end') throw ended();
            if (u.k !== 'str') {
              throw bad(`Expected string${pairs.length === 0 ? ' or "}"' : ''}, but found "${tokText(u)}".`, suffix);
            }
            const key = u.v;
            u = lx.next();
            if (u.k === 'end') throw ended();
            if (!(u.k === 'p' && u.v === ':')) throw bad(`Expected ":", but found "${tokText(u)}".`, suffix);
            pairs.push([key, value(lx.next(), 'JSON value')]);
            u = lx.next();
            if (u.k === 'end') throw ended();
            if (u.k === 'p' && u.v === '}') return { t: 'obj', pairs };
            if (!(u.k === 'p' && u.v === ',')) throw bad(`Expected "," or "}", but found "${tokText(u)}".`, suffix);
            u = lx.next();
          }
        }
        throw bad(`Expected ${expected}, but found "${t.v}".`, suffix);
    }
  };
  const root = value(lx.next(), 'JSON value');
  const rest = lx.next();
  if (rest.k !== 'end') throw bad(`Expected end of input, but found "${tokText(rest)}".`, suffix);
  return root;
}

const utf8 = new TextEncoder();

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** jsonb's key order: shorter (in UTF-8 bytes) first, then bytewise. */
export function compareJsonbKeys(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) {
    if (a.length !== b.length) return a.length - b.length;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return 0;
}

/** jsonb's normal form of a parsed value: keys sorted and deduplicated (last wins), numbers in numeric text. */
export function normalizeJsonb(n: JsonNode): JsonNode {
  switch (n.t) {
    case 'num':
      // Without an exponent or a negative zero, JSON number text already is numeric_out's text.
      if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(n.text) && !/^-0(\.0+)?$/.test(n.text)) return n;
      return { t: 'num', text: formatNumeric(parseNumeric(n.text)) };
    case 'arr':
      return { t: 'arr', items: n.items.map(normalizeJsonb) };
    case 'obj': {
      const m = new Map<string, JsonNode>();
      for (const [k, v] of n.pairs) m.set(k, normalizeJsonb(v));
      return { t: 'obj', pairs: [...m.entries()].sort((a, b) => compareJsonbKeys(a[0], b[0])) };
    }
    default:
      return n;
  }
}

/** PostgreSQL's `escape_json`: `"`, `\`, \b \f \n \r \t escaped; other control characters as `\u00xx`. */
export function escapeJsonString(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what escape_json escapes
  if (!/["\\\u0000-\u001f]/.test(s)) return `"${s}"`;
  let out = '"';
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\b') out += '\\b';
    else if (c === '\f') out += '\\f';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/**
 * Text of a JSON tree: jsonb's output (`JsonbToCString`: `{"a": 1, "b": [1, 2]}`), or with
 * `compact` no spaces after `,` and `:` (json values the evaluator builds).
 */
export function formatJsonNode(n: JsonNode, compact = false): string {
  const comma = compact ? ',' : ', ';
  const colon = compact ? ':' : ': ';
  const out = (x: JsonNode): string => {
    switch (x.t) {
      case 'null':
        return 'null';
      case 'bool':
        return x.v ? 'true' : 'false';
      case 'num':
        return x.text;
      case 'str':
        return escapeJsonString(x.v);
      case 'arr':
        return `[${x.items.map(out).join(comma)}]`;
      case 'obj':
        return `{${x.pairs.map(([k, v]) => `${escapeJsonString(k)}${colon}${out(v)}`).join(comma)}}`;
    }
  };
  return out(n);
}

/** jsonb text output (`JsonbToCString`): `{"a": 1, "b": [1, 2]}`. */
export function formatJsonb(n: JsonNode): string {
  return formatJsonNode(n);
}

/** Canonical jsonb text of JSON input. @throws DataError as {@link parseJson}. */
export function canonicalJsonb(s: string, suffix = ''): string {
  return formatJsonb(normalizeJsonb(parseJson(s, true, suffix)));
}

/** jsonb btree type rank (`compareJsonbContainers`): Null < String < Number < Boolean < Array < Object. */
function jsonbRank(n: JsonNode): number {
  return { null: 0, str: 1, num: 2, bool: 3, arr: 4, obj: 5 }[n.t];
}

/**
 * PostgreSQL's jsonb btree order (PostgreSQL 15 §8.14.4 "jsonb Indexing"): Object > Array >
 * Boolean > Number > String > Null; objects by pair count, then key, value, … in storage order;
 * arrays by length, then elementwise; a top-level scalar counts as a one-element array that sorts
 * before a real one (so `[] < 1 < [0]`).
 * Strings compare bytewise (C collation). Both values must be normalized (see {@link normalizeJsonb}).
 */
export function compareJsonb(a: JsonNode, b: JsonNode, top = true): number {
  if (top) {
    // Top-level scalars are stored as one-element "raw scalar" arrays.
    const sa = a.t !== 'arr' && a.t !== 'obj';
    const sb = b.t !== 'arr' && b.t !== 'obj';
    // A raw scalar is a one-element array: element counts decide first, then the scalar is smaller.
    if (sa && b.t === 'arr') return b.items.length >= 1 ? -1 : 1;
    if (sb && a.t === 'arr') return a.items.length >= 1 ? 1 : -1;
  }
  const ra = jsonbRank(a);
  const rb = jsonbRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (a.t) {
    case 'null':
      return 0;
    case 'bool':
      return Number(a.v) - Number((b as { v: boolean }).v);
    case 'num':
      return compareNumeric(parseNumeric(a.text) as NumericValue, parseNumeric((b as { text: string }).text));
    case 'str': {
      const x = utf8.encode(a.v);
      const y = utf8.encode((b as { v: string }).v);
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) if (x[i] !== y[i]) return (x[i] as number) < (y[i] as number) ? -1 : 1;
      return Math.sign(x.length - y.length);
    }
    case 'arr': {
      const bi = (b as { items: JsonNode[] }).items;
      if (a.items.length !== bi.length) return a.items.length < bi.length ? -1 : 1;
      for (let i = 0; i < bi.length; i++) {
        const c = compareJsonb(a.items[i] as JsonNode, bi[i] as JsonNode, false);
        if (c !== 0) return c;
      }
      return 0;
    }
    case 'obj': {
      const bp = (b as { pairs: [string, JsonNode][] }).pairs;
      if (a.pairs.length !== bp.length) return a.pairs.length < bp.length ? -1 : 1;
      for (let i = 0; i < bp.length; i++) {
        const [ka, va] = a.pairs[i] as [string, JsonNode];
        const [kb, vb] = bp[i] as [string, JsonNode];
        const ck = compareJsonb({ t: 'str', v: ka }, { t: 'str', v: kb }, false);
        if (ck !== 0) return ck;
        const cv = compareJsonb(va, vb, false);
        if (cv !== 0) return cv;
      }
      return 0;
    }
  }
}
