/**
 * String functions, PostgreSQL 15 §9.4 (Tables 9.9–9.10) and the regular-expression
 * functions of §9.7.3: lengths, case, substring forms, position, trimming, padding, left/right,
 * replace, repeat, reverse, split_part, concat/concat_ws, md5, to_hex, ascii/chr, starts_with,
 * translate, overlay, quote_*, format (%s %I %L with positions, widths and `-`),
 * string_to_array/array_to_string, regexp_replace, regexp_match, like_escape.
 * Lengths count characters (code points), as PostgreSQL does in UTF-8.
 */
import { createHash } from 'node:crypto';
import { DataError, SqlState } from '../errors.ts';
import { elementType, type ResultType, type SqlType, type Value } from '../types.ts';
import { trimPadding } from './compare.ts';
import { likeEscape, pgRegExp, textOf } from './ops-core.ts';
import { defFn, type Factory, INT_TYPES, impl, implNonStrict, invalidParameter, STRING_TYPES } from './registry.ts';

const cp = (s: string): string[] => [...s];
const isAscii = (s: string): boolean => /^\p{ASCII}*$/u.test(s);
/** Character length (code points). */
export function charLength(s: string): number {
  return isAscii(s) ? s.length : cp(s).length;
}

/** A function over one string argument (text, varchar, char; char loses trailing spaces first unless `keepPad`). */
function str1(f: (s: string) => Value, keepPad = false): Factory {
  return (args) => {
    const a = args[0] as string;
    if (!STRING_TYPES.has(a)) return undefined;
    if (a === 'char' && !keepPad) return impl(([s]) => f(trimPadding(s as string)));
    return impl(([s]) => f(s as string));
  };
}

defFn(['length', 'char_length', 'character_length'], (args) => {
  if (args[0] === 'bytea') return impl(([b]) => (b as Uint8Array).length);
  return str1(charLength)(args, 'integer');
});
defFn('octet_length', (args) => {
  if (args[0] === 'bytea') return impl(([b]) => (b as Uint8Array).length);
  return str1((s) => Buffer.byteLength(s, 'utf8'), true)(args, 'integer');
});
defFn('bit_length', (args) => {
  if (args[0] === 'bytea') return impl(([b]) => (b as Uint8Array).length * 8);
  return str1((s) => Buffer.byteLength(s, 'utf8') * 8, true)(args, 'integer');
});
defFn(
  'lower',
  str1((s) => s.toLowerCase(), true),
);
defFn(
  'upper',
  str1((s) => s.toUpperCase(), true),
);
defFn(
  'initcap',
  str1((s) => {
    let out = '';
    let inWord = false;
    for (const c of s) {
      const alnum = /[\p{L}\p{N}]/u.test(c);
      out += alnum ? (inWord ? c.toLowerCase() : c.toUpperCase()) : c;
      inWord = alnum;
    }
    return out;
  }),
);
defFn(
  'reverse',
  str1((s) => cp(s).reverse().join('')),
);
defFn(
  'ascii',
  str1((s) => s.codePointAt(0) ?? 0),
);
defFn('chr', (args) =>
  args[0] === 'integer'
    ? impl(([n]) => {
        const c = n as number;
        if (c === 0) throw new DataError(SqlState.programLimitExceeded, 'null character not permitted');
        if (c < 0) throw new DataError(SqlState.programLimitExceeded, 'character number must be positive');
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
          throw new DataError(SqlState.programLimitExceeded, `requested character too large for encoding: ${c}`);
        }
        return String.fromCodePoint(c);
      })
    : undefined,
);
defFn('md5', (args) => {
  if (args[0] === 'bytea')
    return impl(([b]) =>
      createHash('md5')
        .update(b as Uint8Array)
        .digest('hex'),
    );
  return str1((s) => createHash('md5').update(s, 'utf8').digest('hex'), true)(args, 'text');
});
defFn('to_hex', (args) => {
  if (args[0] === 'integer') return impl(([n]) => ((n as number) >>> 0).toString(16));
  if (args[0] === 'bigint') return impl(([n]) => BigInt.asUintN(64, n as bigint).toString(16));
  return undefined;
});

/** substr / substring (string, start [, count]) with PostgreSQL's rules for starts before 1. */
export function substrChars(s: string, start: number, count?: number): string {
  if (count !== undefined && count < 0) throw new DataError('22011', 'negative substring length not allowed');
  const chars = isAscii(s) ? undefined : cp(s);
  const len = chars ? chars.length : s.length;
  const from = Math.max(start, 1);
  const end = count === undefined ? len + 1 : Math.min(start + count, len + 1);
  if (end <= from) return '';
  return chars ? chars.slice(from - 1, end - 1).join('') : s.slice(from - 1, end - 1);
}

function bytesSub(b: Uint8Array, start: number, count?: number): Uint8Array {
  if (count !== undefined && count < 0) throw new DataError('22011', 'negative substring length not allowed');
  const from = Math.max(start, 1);
  const end = count === undefined ? b.length + 1 : Math.min(start + count, b.length + 1);
  return end <= from ? new Uint8Array(0) : b.slice(from - 1, end - 1);
}

defFn(['substr', 'substring'], (args) => {
  const a = args[0] as string;
  if (a === 'bytea') return impl(([b, st, n]) => bytesSub(b as Uint8Array, st as number, n as number | undefined));
  if (!STRING_TYPES.has(a)) return undefined;
  if (args[1] === 'integer') {
    return impl(([s, st, n]) => substrChars(textOf(s as Value, a as ResultType), st as number, n as number | undefined));
  }
  if (args.length === 2 && STRING_TYPES.has(args[1] as string)) {
    // substring(text from pattern): the first parenthesized group, or the whole match (§9.7.3).
    return impl(([s, p]) => {
      const m = pgRegExp(p as string, '').exec(s as string);
      if (!m) return null;
      return m.length > 1 ? (m[1] ?? null) : m[0];
    });
  }
  return undefined;
});

defFn(['position', 'strpos'], (args) => {
  if (args[0] === 'bytea') {
    return impl(([s, sub]) => {
      const i = Buffer.from(s as Uint8Array).indexOf(Buffer.from(sub as Uint8Array));
      return i + 1;
    });
  }
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  return impl(([s, sub]) => {
    const str = s as string;
    const i = str.indexOf(sub as string);
    if (i < 0) return 0;
    return charLength(str.slice(0, i)) + 1;
  });
});
defFn('starts_with', (args) => (STRING_TYPES.has(args[0] as string) ? impl(([s, p]) => (s as string).startsWith(p as string)) : undefined));

function trimmer(left: boolean, right: boolean): Factory {
  return (args) => {
    if (args[0] === 'bytea') {
      return impl(([b, set]) => {
        const s = new Set(set as Uint8Array);
        const bytes = b as Uint8Array;
        let i = 0;
        let j = bytes.length;
        if (left) while (i < j && s.has(bytes[i] as number)) i++;
        if (right) while (j > i && s.has(bytes[j - 1] as number)) j--;
        return bytes.slice(i, j);
      });
    }
    if (!STRING_TYPES.has(args[0] as string)) return undefined;
    return impl(([s, chars]) => {
      const set = new Set(cp(chars === undefined ? ' ' : (chars as string)));
      const c = cp(s as string);
      let i = 0;
      let j = c.length;
      if (left) while (i < j && set.has(c[i] as string)) i++;
      if (right) while (j > i && set.has(c[j - 1] as string)) j--;
      return c.slice(i, j).join('');
    });
  };
}
defFn('btrim', trimmer(true, true));
defFn('ltrim', trimmer(true, false));
defFn('rtrim', trimmer(false, true));

function pad(left: boolean): Factory {
  return () =>
    impl(([s, n, fill]) => {
      const len = n as number;
      const c = cp(s as string);
      const f = cp(fill === undefined ? ' ' : (fill as string));
      if (len <= 0) return '';
      if (c.length >= len || f.length === 0) return c.slice(0, len).join('');
      const need = len - c.length;
      let p = '';
      for (let i = 0; i < need; i++) p += f[i % f.length];
      return left ? p + c.join('') : c.join('') + p;
    });
}
defFn('lpad', pad(true));
defFn('rpad', pad(false));

defFn('left', () =>
  impl(([s, n]) => {
    const c = cp(s as string);
    const k = n as number;
    return (k >= 0 ? c.slice(0, k) : c.slice(0, Math.max(0, c.length + k))).join('');
  }),
);
defFn('right', () =>
  impl(([s, n]) => {
    const c = cp(s as string);
    const k = n as number;
    return (k >= 0 ? c.slice(Math.max(0, c.length - k)) : c.slice(Math.min(c.length, -k))).join('');
  }),
);
defFn('replace', () =>
  impl(([s, from, to]) => ((from as string) === '' ? (s as string) : (s as string).split(from as string).join(to as string))),
);
defFn('repeat', () =>
  impl(([s, n]) => {
    const k = n as number;
    if (k <= 0) return '';
    if ((s as string).length * k > 1 << 28) throw new DataError(SqlState.programLimitExceeded, 'requested length too large');
    return (s as string).repeat(k);
  }),
);
defFn('split_part', () =>
  impl(([s, d, n]) => {
    const k = n as number;
    if (k === 0) throw invalidParameter('field position must not be zero');
    const str = s as string;
    const delim = d as string;
    const parts = delim === '' ? (str === '' ? [] : [str]) : str === '' ? [] : str.split(delim);
    const idx = k > 0 ? k - 1 : parts.length + k;
    return parts[idx] ?? '';
  }),
);
defFn('translate', () =>
  impl(([s, from, to]) => {
    const f = cp(from as string);
    const t = cp(to as string);
    let out = '';
    for (const c of cp(s as string)) {
      const i = f.indexOf(c);
      if (i < 0) out += c;
      else if (i < t.length) out += t[i];
    }
    return out;
  }),
);
defFn('overlay', (args) => {
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  return impl(([s, r, st, n]) => {
    const c = cp(s as string);
    const start = st as number;
    const count = n === undefined ? charLength(r as string) : (n as number);
    if (start <= 0) throw new DataError('22011', 'negative substring length not allowed');
    return c.slice(0, start - 1).join('') + (r as string) + c.slice(Math.max(start - 1 + count, start - 1)).join('');
  });
});

defFn('concat', (args) =>
  implNonStrict((vs, ctx) => {
    let out = '';
    vs.forEach((v, i) => {
      if (v !== null) out += textOf(v, args[i] as ResultType, ctx);
    });
    return out;
  }),
);
defFn('concat_ws', (args) =>
  implNonStrict((vs, ctx) => {
    const sep = vs[0];
    if (sep === null || sep === undefined) return null;
    const parts: string[] = [];
    for (let i = 1; i < vs.length; i++) {
      const v = vs[i] as Value;
      if (v !== null) parts.push(textOf(v, args[i] as ResultType, ctx));
    }
    return parts.join(sep as string);
  }),
);
defFn('like_escape', (args) => (STRING_TYPES.has(args[0] as string) ? impl(([p, e]) => likeEscape(p as string, e as string)) : undefined));

// ---------------------------------------------------------------------------------------------
// Quoting (§9.4, Table 9.10) and format() (§9.4.1).

/** Keywords that quote_ident must quote (every keyword that is not unreserved). */
const QUOTED_KEYWORDS = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast char character ' +
    'check coalesce collate collation column concurrently constraint create cross current_catalog current_date current_role current_schema ' +
    'current_time current_timestamp current_user dec decimal default deferrable desc distinct do else end except exists extract false fetch ' +
    'float for foreign freeze from full grant greatest group grouping having ilike in initially inner inout int integer intersect interval into ' +
    'is isnull join json json_array json_arrayagg json_object json_objectagg lateral leading least left like limit localtime localtimestamp national natural nchar none normalize not notnull null nullif ' +
    'numeric offset on only or order out outer overlaps overlay placing position precision primary real references returning right row select ' +
    'session_user setof similar smallint some substring symmetric system_user table tablesample then time timestamp to trailing treat trim true ' +
    'union unique user using values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest ' +
    'xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

/** quote_ident: double-quote an identifier unless it is a lower-case plain name and not a keyword. */
export function quoteIdent(s: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(s) && !QUOTED_KEYWORDS.has(s)) return s;
  return `"${s.replace(/"/g, '""')}"`;
}

/** quote_literal: single-quote a string (E'' form when it holds backslashes). */
export function quoteLiteral(s: string): string {
  const body = s.replace(/'/g, "''");
  return s.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

defFn('quote_ident', (args) => (STRING_TYPES.has(args[0] as string) ? impl(([s]) => quoteIdent(s as string)) : undefined));
defFn('quote_literal', (args) => impl(([v]) => quoteLiteral(textOf(v as Value, args[0] as ResultType))));
defFn('quote_nullable', (args) =>
  implNonStrict(([v]) => (v === null || v === undefined ? 'NULL' : quoteLiteral(textOf(v, args[0] as ResultType)))),
);

/** format(formatstr, args…): %s, %I, %L, %% with `n$` positions, widths (`*` too) and `-` (PostgreSQL 15 §9.4.1). */
function format(fmtStr: string, vals: Value[], types: ResultType[]): string {
  let out = '';
  let next = 0;
  const arg = (i: number): { v: Value; t: ResultType } => {
    if (i >= vals.length) throw new DataError('22023', 'too few arguments for format()');
    return { v: vals[i] as Value, t: types[i] as ResultType };
  };
  for (let i = 0; i < fmtStr.length; i++) {
    const c = fmtStr[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    i++;
    if (i >= fmtStr.length) throw new DataError('22023', 'unterminated format() type specifier', { hint: 'For a single "%" use "%%".' });
    if (fmtStr[i] === '%') {
      out += '%';
      continue;
    }
    let m = /^(\d+\$)?([-]?)(\*(\d+\$)?|\d+)?([sIL])/.exec(fmtStr.slice(i));
    if (!m) {
      const t = fmtStr[i] ?? '';
      if (/^(\d+\$)?[-]?(\*(\d+\$)?|\d+)?$/.test(fmtStr.slice(i))) {
        throw new DataError('22023', 'unterminated format() type specifier', { hint: 'For a single "%" use "%%".' });
      }
      m = /^(\d+\$)?([-]?)(\*(\d+\$)?|\d+)?(.)/.exec(fmtStr.slice(i));
      throw new DataError('22023', `unrecognized format() type specifier "${m?.[5] ?? t}"`, { hint: 'For a single "%" use "%%".' });
    }
    i += m[0].length - 1;
    let width: number | undefined;
    let left = m[2] === '-';
    if (m[3]) {
      if (m[3].startsWith('*')) {
        const wi = m[4] ? Number(m[4].slice(0, -1)) - 1 : next++;
        const w = arg(wi).v;
        width = w === null ? 0 : Number(w);
        if (width < 0) {
          left = true;
          width = -width;
        }
      } else width = Number(m[3]);
    }
    let idx: number;
    if (m[1]) {
      idx = Number(m[1].slice(0, -1)) - 1;
      if (idx < 0) throw new DataError('22023', 'format specifies argument 0, but arguments are numbered from 1');
      next = idx + 1;
    } else idx = next++;
    const { v, t } = arg(idx);
    let s: string;
    switch (m[5]) {
      case 's':
        s = v === null ? '' : textOf(v, t);
        break;
      case 'I':
        if (v === null) throw new DataError('22004', 'null values cannot be formatted as an SQL identifier');
        s = quoteIdent(textOf(v, t));
        break;
      default:
        s = v === null ? 'NULL' : quoteLiteral(textOf(v, t));
    }
    if (width !== undefined) {
      const len = charLength(s);
      if (len < width) s = left ? s + ' '.repeat(width - len) : ' '.repeat(width - len) + s;
    }
    out += s;
  }
  return out;
}

defFn('format', (args) =>
  implNonStrict((vs) => {
    const f = vs[0];
    if (f === null || f === undefined) return null;
    return format(f as string, vs.slice(1), args.slice(1));
  }),
);

// ---------------------------------------------------------------------------------------------
// Arrays of strings (§9.19) and regular-expression functions (§9.7.3).

defFn('string_to_array', (args) =>
  STRING_TYPES.has(args[0] as string)
    ? implNonStrict(([s, d, nul]) => {
        if (s === null || s === undefined) return null;
        const str = s as string;
        let parts: string[];
        if (str === '') parts = [];
        else if (d === null || d === undefined) parts = cp(str);
        else if (d === '') parts = [str];
        else parts = str.split(d as string);
        return parts.map((p) => (nul !== null && nul !== undefined && p === nul ? null : p));
      })
    : undefined,
);
defFn('array_to_string', (args) => {
  const at = args[0] as string;
  if (!at.endsWith('[]') && at !== 'anyarray') return undefined;
  const et = at === 'anyarray' ? 'text' : elementType(at as SqlType);
  return implNonStrict(([a, d, nul]) => {
    if (a === null || a === undefined || d === null || d === undefined) return null;
    const parts: string[] = [];
    for (const v of a as Value[]) {
      if (v === null) {
        if (nul !== null && nul !== undefined) parts.push(nul as string);
      } else parts.push(textOf(v, et));
    }
    return parts.join(d as string);
  });
});

/** Translate a PostgreSQL replacement string (\1…\9, \&, \\) into a function of the match. */
function replacer(rep: string): (m: RegExpExecArray | string[]) => string {
  return (m) =>
    rep.replace(/\\(\d|&|\\)|\\/g, (x, g: string | undefined) => {
      if (g === undefined) return x;
      if (g === '\\') return '\\';
      if (g === '&') return m[0] ?? '';
      return m[Number(g)] ?? '';
    });
}

defFn('regexp_replace', (args) => {
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  if (args.length > 4 || (args.length === 4 && INT_TYPES.has(args[3] as string))) return undefined;
  return impl(([s, p, r, flags]) => {
    const f = (flags as string | undefined) ?? '';
    const re = pgRegExp(p as string, f);
    const rep = replacer(r as string);
    return (s as string).replace(re, (...m: unknown[]) => {
      const groups = m.slice(0, -2).filter((x) => typeof x !== 'object') as string[];
      return rep(groups);
    });
  });
});
defFn('regexp_match', (args) => {
  if (!STRING_TYPES.has(args[0] as string)) return undefined;
  return impl(([s, p, flags]) => {
    const f = (flags as string | undefined) ?? '';
    if (f.includes('g')) throw invalidParameter('regexp_match() does not support the "global" option');
    const re = pgRegExp(p as string, f);
    re.lastIndex = 0;
    const m = re.exec(s as string);
    if (!m) return null;
    return m.length > 1 ? m.slice(1).map((x) => x ?? null) : [m[0]];
  });
});
defFn('regexp_count', (args) => {
  if (!STRING_TYPES.has(args[0] as string) || args.length > 2) return undefined;
  return impl(([s, p]) => {
    const re = pgRegExp(p as string, 'g');
    return [...(s as string).matchAll(re)].length;
  });
});
