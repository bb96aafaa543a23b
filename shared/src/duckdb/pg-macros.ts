/**
 * DuckDB macros that compute what PostgreSQL 15 computes where DuckDB's own operators and
 * functions differ, and the mapping of DuckDB's errors to PostgreSQL's (SQLSTATE and message).
 * The router's analytical rewrite (services/router/src/plan/rewrite/) calls these
 * macros by name, once it has typed the expression the way PostgreSQL does; they are created
 * per connection (temporary macros) with {@link PG_MACROS_SQL}, part of `PG_SEMANTICS_SQL`.
 *
 * A macro raises a PostgreSQL error as `error('pg:<SQLSTATE>:<message>')`; {@link pgErrorOf}
 * turns DuckDB's "Invalid Input Error: pg:22012:division by zero" back into 22012 and
 * PostgreSQL's message.
 */

import type { DuckDBStructValue, DuckDBType } from '@duckdb/node-api';
import { canonicalJsonb, type ResultType, type Value } from '../types.ts';

/**
 * Name of the text field of the STRUCT `pg_ndiv_out` returns: result conversion (convert.ts)
 * reads a STRUCT with this field as a numeric whose text is the field.
 */
export const PG_NUMERIC_FIELD = 'pg_numeric';

/**
 * Output columns the analytical rewrite marks with PostgreSQL's type where DuckDB has none of
 * its own: a STRUCT whose field `pg_<type>` holds the value (and an optional `v` before it for
 * ordering). numeric: PostgreSQL's text (a quotient's scale); varchar and bpchar: the string;
 * jsonb: JSON text, printed as jsonb prints it.
 */
const MARKED: Record<string, { type: ResultType; conv: (v: Value) => Value }> = {
  [PG_NUMERIC_FIELD]: { type: 'numeric', conv: (v) => v },
  pg_varchar: { type: 'varchar', conv: (v) => v },
  pg_bpchar: { type: 'char', conv: (v) => v },
  pg_jsonb: { type: 'jsonb', conv: (v) => (typeof v === 'string' ? canonicalJsonb(v) : v) },
};

/** The result type and converter of a column the rewrite marked (see {@link MARKED}), or undefined. */
export function markedColumn(t: DuckDBType): { type: ResultType; conv: (v: unknown) => Value } | undefined {
  if (!('entryNames' in t)) return undefined;
  const names = (t as { entryNames: readonly string[] }).entryNames;
  const field = names[names.length - 1];
  const m = field === undefined ? undefined : MARKED[field];
  if (!m) return undefined;
  return {
    type: m.type,
    conv: (v) => {
      const x = (v as DuckDBStructValue).entries[field as string] as Value;
      return x === null || x === undefined ? null : m.conv(x);
    },
  };
}

/** `error()` call raising SQLSTATE `code` with PostgreSQL's `message`. */
function raise(code: string, message: string): string {
  return `error('pg:${code}:${message.replaceAll("'", "''")}')`;
}

const DIV0 = raise('22012', 'division by zero');

/** Long division of HUGEINTs a / b to 16 fractional digits (two 8-digit steps), rounded half up, as DECIMAL(38,16). */
const PG_DU = (() => {
  const r = '(a % b)';
  const r1 = `((${r} * 100000000) % b)`;
  const f1 = `((${r} * 100000000) // b)`;
  const f2 = `((${r1} * 100000000) // b)`;
  const r2 = `((${r1} * 100000000) % b)`;
  return `CAST(a // b AS DECIMAL(38,16)) + CAST(${f1} * 100000000 + ${f2} + CASE WHEN 2 * ${r2} >= b THEN 1 ELSE 0 END AS DECIMAL(38,0)) * 0.0000000000000001`;
})();

/** [name, parameters, body] of each macro. */
const MACROS: [string, string, string][] = [
  // int2/int4/int8 `/` and `%` (int4div, int4mod, …): division by zero raises 22012 (DuckDB
  // returns NULL); DuckDB's `//` truncates toward zero as PostgreSQL's `/` does (a macro body is
  // parsed before `SET integer_division` applies, so it spells `//`). PostgreSQL's operators are
  // strict: a NULL dividend gives NULL even when the divisor is 0.
  ['pg_idiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a // b END`],
  // int4mod: x % -1 is 0 (DuckDB overflows on the minimum value % -1).
  ['pg_imod', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} WHEN b = -1 AND a IS NOT NULL THEN 0 ELSE a % b END`],
  // float8div/float4div: x / 0 raises 22012 unless x is NaN.
  ['pg_fdiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL AND NOT isnan(a) THEN ${DIV0} ELSE a / b END`],
  // interval_div (DuckDB cascades fractional months and days as PostgreSQL does).
  ['pg_ivdiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a / b END`],
  // numeric_mod: 22012 on zero; DuckDB's DECIMAL % keeps the dividend's sign like PostgreSQL.
  ['pg_nmod', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a % b END`],
  // Exact numeric division (numeric_div): |a| and |b| scaled to integers (× 10^10, HUGEINT),
  // long division to 16 fractional digits, rounded half away from zero (div_var, round = true).
  // DuckDB's DECIMAL / DECIMAL is a DOUBLE. The result is DECIMAL(38,16); see docs/sql.md
  // "Known differences" for the display scale.
  // (x × 10^10 exactly: the digits of x as DECIMAL(38,10), which always prints 10 decimals; x once.)
  ['pg__h', 'x', "CAST(replace(CAST(CAST(x AS DECIMAL(38,10)) AS VARCHAR), '.', '') AS HUGEINT)"],
  // A, B: |a|, |b| × 10^10 as HUGEINT. Written out flat: a macro's arguments are copied where its
  // body uses them, and chained macros would copy them exponentially (nested quotients).
  ['pg__du', 'a, b', PG_DU],
  [
    'pg_ndiv',
    'a, b',
    `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE CASE WHEN (a < 0) <> (b < 0) THEN -1 ELSE 1 END * pg__du(pg__h(abs(a)), pg__h(abs(b))) END`,
  ],
  // The text of a numeric quotient with PostgreSQL's result scale (select_div_scale: at least 16
  // significant digits, at least either operand's display scale; rounded half away from zero).
  // A, B: |a|, |b| × 10^10 as HUGEINT; sa, sb: the operands' scales (their DuckDB DECIMAL scale).
  ['pg__sc', 'x', "COALESCE(TRY_CAST(regexp_extract(typeof(x), ',(\\d+)\\)$', 1) AS INTEGER), 0)"],
  ['pg__e10', 'a', 'length(CAST(a AS VARCHAR)) - 11'],
  ['pg__w', 'a', 'CASE WHEN a = 0 THEN 0 ELSE CAST(floor(pg__e10(a) / 4.0) AS INTEGER) END'],
  ['pg__fd', 'a', 'CASE WHEN a = 0 THEN 0 ELSE CAST(left(CAST(a AS VARCHAR), pg__e10(a) - 4 * pg__w(a) + 1) AS INTEGER) END'],
  [
    'pg__rs',
    'a, b, sa, sb',
    'least(1000, greatest(0, sa, sb, 16 - 4 * (pg__w(a) - pg__w(b) - CASE WHEN pg__fd(a) <= pg__fd(b) THEN 1 ELSE 0 END)))',
  ],
  [
    'pg__digits',
    'a, b, n',
    "list_reduce(list_transform(range(n + 1), lambda i: {'r': CASE WHEN i = 0 THEN a % b ELSE CAST(0 AS HUGEINT) END, 's': ''}), " +
      "lambda acc, x: {'r': (acc.r * 100000000) % b, 's': acc.s || lpad(CAST((acc.r * 100000000) // b AS VARCHAR), 8, '0')}).s",
  ],
  ['pg__zpad', 's, n', "repeat('0', greatest(0, n - length(s))) || s"],
  [
    'pg__ndfmt',
    't, rs, neg',
    "CASE WHEN neg AND t <> 0 THEN '-' ELSE '' END || CASE WHEN rs = 0 THEN CAST(t AS VARCHAR) ELSE " +
      "list_transform([pg__zpad(CAST(t AS VARCHAR), rs + 1)], lambda s: left(s, length(s) - rs) || '.' || right(s, rs))[1] END",
  ],
  [
    'pg__ndt',
    'a, b, rs, neg',
    "list_transform([pg__digits(a, b, (rs + 8) // 8)], lambda d: pg__ndfmt((a // b) * CAST('1' || repeat('0', rs) AS HUGEINT) + " +
      "CASE WHEN rs = 0 THEN 0 ELSE CAST(left(d, rs) AS HUGEINT) END + CASE WHEN substr(d, rs + 1, 1) >= '5' THEN 1 ELSE 0 END, rs, neg))[1]",
  ],
  // sa, sb: the operands' display scales (their DuckDB DECIMAL scale, or a text numeric's own).
  [
    'pg__ndtext',
    'a, b, sa, sb',
    "list_transform([{'a': pg__h(abs(a)), 'b': pg__h(abs(b)), 'sa': sa, 'sb': sb, 'neg': (a < 0) <> (b < 0)}], " +
      'lambda p: list_transform([pg__rs(p.a, p.b, p.sa, p.sb)], lambda r: pg__ndt(p.a, p.b, r, p.neg))[1])[1]',
  ],
  // The outermost SELECT's numeric quotients (division, avg): the value for ordering and the
  // text PostgreSQL prints; result conversion reads it as numeric (convert.ts).
  [
    'pg_ndiv_outs',
    'a, b, sa, sb',
    `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} WHEN a IS NULL OR b IS NULL THEN NULL ELSE ` +
      `struct_pack(v := CAST(a AS DOUBLE) / CAST(b AS DOUBLE), ${PG_NUMERIC_FIELD} := pg__ndtext(a, b, sa, sb)) END`,
  ],
  ['pg_ndiv_out', 'a, b', 'pg_ndiv_outs(a, b, pg__sc(a), pg__sc(b))'],
  // Unconstrained numeric columns hold PostgreSQL's text of each value (shared/src/duckdb/columns.ts).
  // pg_nkey: a string whose byte order is numeric order (numeric_cmp: -Infinity < negatives < 0 <
  // positives < Infinity < NaN; equal values, '1.0' and '1', have one key): a class digit, then the
  // decimal exponent (offset, six digits) and the significant digits; a negative value's exponent
  // and digits are complemented and end in '~', so a longer digit string sorts first.
  // (No lambdas: the argument may be a scalar subquery, which DuckDB refuses inside one.)
  [
    'pg__nk2',
    'neg, e, d',
    "CASE WHEN neg THEN '1' || lpad(CAST(800000 - e AS VARCHAR), 6, '0') || translate(d, '0123456789', '9876543210') || '~' " +
      "ELSE '3' || lpad(CAST(200000 + e AS VARCHAR), 6, '0') || d END",
  ],
  [
    'pg__nk',
    'neg, ip, fp',
    "CASE WHEN ip = '' AND fp = '' THEN '2' ELSE pg__nk2(neg, CASE WHEN ip <> '' THEN length(ip) ELSE length(ltrim(fp, '0')) - length(fp) END, " +
      "rtrim(ltrim(ip || fp, '0'), '0')) END",
  ],
  [
    'pg_nkey',
    's',
    "CASE s WHEN 'NaN' THEN '5' WHEN 'Infinity' THEN '4' WHEN '-Infinity' THEN '0' ELSE " +
      "pg__nk(starts_with(s, '-'), ltrim(split_part(ltrim(s, '-'), '.', 1), '0'), rtrim(split_part(ltrim(s, '-'), '.', 2), '0')) END",
  ],
  // A numeric[] of text numerics as an output column: each element marked numeric (convert.ts).
  ['pg_nlist_out', 'a', `list_transform(a, lambda e: struct_pack(${PG_NUMERIC_FIELD} := e))`],
  // The display scale of a numeric's text (digits after the point).
  ['pg_nscale', 's', "length(split_part(s, '.', 2))"],
  // A DECIMAL's text with `s` decimals (PostgreSQL's display scale of a sum or product of text numerics).
  ['pg__nfmt', 't, s', "split_part(t, '.', 1) || CASE WHEN s > 0 THEN '.' || rpad(left(split_part(t, '.', 2), s), s, '0') ELSE '' END"],
  ['pg_nfmt', 'x, s', 'pg__nfmt(CAST(x AS VARCHAR), CAST(s AS INTEGER))'],
  // greatest / least of text numerics (a list of them): the value itself, NULLs ignored.
  ...(
    [
      ['pg_ngreatest', '>'],
      ['pg_nleast', '<'],
    ] as const
  ).map(([name, op]): [string, string, string] => [
    name,
    'l',
    'CASE WHEN len(list_filter(l, lambda e: e IS NOT NULL)) = 0 THEN NULL ELSE ' +
      `list_reduce(list_filter(l, lambda e: e IS NOT NULL), lambda x, y: CASE WHEN pg_nkey(y) ${op} pg_nkey(x) THEN y ELSE x END) END`,
  ]),
  // numeric_var's end: NULL without enough rows, 0 when the numerator is not positive, else the quotient.
  [
    'pg_var',
    'num, den',
    'CASE WHEN den IS NULL OR den = 0 THEN NULL WHEN num <= 0 THEN CAST(0 AS DECIMAL(38,16)) ELSE pg_ndiv(num, den) END',
  ],
  [
    'pg_var_out',
    'num, den',
    `CASE WHEN den IS NULL OR den = 0 THEN NULL WHEN num <= 0 THEN struct_pack(v := CAST(0 AS DOUBLE), ${PG_NUMERIC_FIELD} := '0') ELSE pg_ndiv_out(num, den) END`,
  ],
  // numeric_mul: exact (DuckDB multiplies DECIMALs of precision ≤ 18 in 64 bits and overflows).
  ['pg_nmul', 'a, b', '(CAST(1 AS DECIMAL(38,0)) * a) * b'],
  // div(numeric, numeric): the quotient truncated toward zero.
  [
    'pg_ndivt',
    'a, b',
    `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE CAST(CASE WHEN (a < 0) <> (b < 0) THEN -1 ELSE 1 END * (pg__h(abs(a)) // pg__h(abs(b))) AS DECIMAL(38,0)) END`,
  ],
  // width_bucket(float8, float8, float8, int4) (PostgreSQL 15 §9.3): 0 below, count + 1 at or above the upper bound.
  [
    'pg_width_bucket',
    'x, lo, hi, n',
    `CASE WHEN n <= 0 THEN ${raise('2201G', 'count must be greater than zero')} WHEN lo = hi THEN ${raise('2201G', 'lower bound cannot equal upper bound')} ` +
      'WHEN lo < hi THEN CASE WHEN x < lo THEN 0 WHEN x >= hi THEN n + 1 ELSE CAST(floor((x - lo) / (hi - lo) * n) AS INTEGER) + 1 END ' +
      'ELSE CASE WHEN x > lo THEN 0 WHEN x <= hi THEN n + 1 ELSE CAST(floor((lo - x) / (lo - hi) * n) AS INTEGER) + 1 END END',
  ],
  // float8out / float4out (shortest exact digits, PostgreSQL 12+): exponent form when the
  // decimal exponent is < -4 or ≥ 15 (float8) / 6 (float4); 'NaN', 'Infinity'; no '.0'.
  [
    'pg__fexp',
    's',
    "left(rtrim(split_part(s, '.', 1) || split_part(s, '.', 2), '0'), 1) || CASE WHEN length(rtrim(split_part(s, '.', 1) || split_part(s, '.', 2), '0')) > 1 THEN '.' || substr(rtrim(split_part(s, '.', 1) || split_part(s, '.', 2), '0'), 2) ELSE '' END || 'e+' || lpad(CAST(length(split_part(s, '.', 1)) - 1 AS VARCHAR), 2, '0')",
  ],
  [
    'pg__ftext',
    'x, s, lim',
    "CASE WHEN isnan(x) THEN 'NaN' WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END " +
      "WHEN abs(x) >= lim AND NOT contains(s, 'e') THEN CASE WHEN x < 0 THEN '-' ELSE '' END || pg__fexp(ltrim(s, '-')) " +
      "WHEN suffix(s, '.0') THEN left(s, length(s) - 2) ELSE s END",
  ],
  ['pg_float_text', 'x', 'pg__ftext(x, CAST(x AS VARCHAR), 1e15)'],
  // float8 → numeric (float8_numeric): the value printed with 15 significant digits (6 for
  // float4) as %g does, read back by numeric_in: plain digits, scale as written, no '-0'.
  [
    'pg__gplain',
    'neg, d, p',
    "CASE WHEN neg THEN '-' ELSE '' END || CASE WHEN p >= length(d) THEN d || repeat('0', p - length(d)) " +
      "WHEN p <= 0 THEN '0.' || repeat('0', -p) || d ELSE left(d, p) || '.' || substr(d, p + 1) END",
  ],
  [
    'pg__gnum',
    's',
    "CASE WHEN s = '-0' THEN '0' WHEN NOT contains(s, 'e') THEN s ELSE pg__gplain(starts_with(s, '-'), " +
      "replace(split_part(ltrim(s, '-'), 'e', 1), '.', ''), " +
      "length(split_part(split_part(ltrim(s, '-'), 'e', 1), '.', 1)) + CAST(split_part(s, 'e', 2) AS INTEGER)) END",
  ],
  [
    'pg_float_numeric',
    'x, digits',
    "CASE WHEN isnan(x) THEN 'NaN' WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END " +
      "ELSE pg__gnum(printf('%.' || CAST(digits AS VARCHAR) || 'g', x)) END",
  ],
  ['pg_real_text', 'x', 'pg__ftext(x, CAST(x AS VARCHAR), 1e6)'],
  // Strings (PostgreSQL 15 §9.4), by character (code point) like DuckDB's.
  // substr(text, start[, count]): the characters in [start, start + count) that exist; a negative count is 22011.
  [
    'pg_substr',
    's, st, n',
    `CASE WHEN n < 0 AND s IS NOT NULL AND st IS NOT NULL THEN ${raise('22011', 'negative substring length not allowed')} ` +
      'ELSE substring(s, greatest(st, 1), greatest(0, st + n - greatest(st, 1))) END',
  ],
  ['pg_substr2', 's, st', 'substring(s, greatest(st, 1))'],
  // split_part: field 0 is 22023; an empty delimiter makes the whole string field 1 (and -1).
  [
    'pg_split_part',
    's, d, n',
    `CASE WHEN n = 0 AND s IS NOT NULL AND d IS NOT NULL THEN ${raise('22023', 'field position must not be zero')} ` +
      "WHEN d = '' THEN CASE WHEN n = 1 OR n = -1 THEN s ELSE '' END ELSE split_part(s, d, n) END",
  ],
  // lpad/rpad: a length ≤ 0 is ''; an empty fill only truncates.
  [
    'pg_lpad',
    's, n, f',
    "CASE WHEN s IS NULL OR n IS NULL OR f IS NULL THEN NULL WHEN n <= 0 THEN '' WHEN f = '' THEN left(s, n) ELSE lpad(s, n, f) END",
  ],
  [
    'pg_rpad',
    's, n, f',
    "CASE WHEN s IS NULL OR n IS NULL OR f IS NULL THEN NULL WHEN n <= 0 THEN '' WHEN f = '' THEN left(s, n) ELSE rpad(s, n, f) END",
  ],
  // text → bytea: the UTF-8 bytes (DuckDB's cast refuses non-ASCII); text with backslashes is bytea input syntax.
  ['pg_text_bytea', 's', "CASE WHEN contains(s, '\\') THEN CAST(s AS BLOB) ELSE encode(s) END"],
  // regexp_matches(text, text[, flags]) as a list of text[] rows (the rewrite unnests it): every
  // match with 'g', else the first; each row holds the capture groups, or the whole match when
  // the pattern has none; one macro per number of groups (0–9); flag 'i' is the pattern's '(?i)'.
  ...Array.from({ length: 10 }, (_, g): [string, string, string][] => [
    [
      `pg__rxall${g}`,
      's, p',
      g === 0
        ? 'list_transform(regexp_extract_all(s, p, 0), lambda m: [m])'
        : `list_transform(range(length(regexp_extract_all(s, p, 0))), lambda i: [${Array.from({ length: g }, (_, k) => `regexp_extract_all(s, p, ${k + 1})[i + 1]`).join(', ')}])`,
    ],
    [`pg__rxfirst${g}`, 's, p', `CASE WHEN regexp_matches(s, p) THEN [pg__rxall${g}(s, p)[1]] ELSE [] END`],
  ]).flat(),
  // upper: glibc keeps ß (DuckDB maps it to ẞ).
  ['pg_upper', 's', "replace(upper(s), 'ẞ', 'ß')"],
  // initcap: the first letter or digit of each run of letters and digits upper-cased, the rest lower-cased.
  [
    'pg_initcap',
    's',
    "array_to_string(list_transform(range(length(s)), lambda i: CASE WHEN i > 0 AND regexp_matches(substring(s, i, 1), '^[\\p{L}\\p{N}]$') " +
      "THEN lower(substring(s, i + 1, 1)) ELSE pg_upper(substring(s, i + 1, 1)) END), '')",
  ],
  // substring(text FROM pattern): group 1 when the pattern has groups, else the whole match; NULL when none.
  ['pg_substring_re', 's, p, g', 'CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, g) END'],
  // overlay(s placing r from a [for n]).
  ['pg_overlay', 's, r, a, n', 'substring(s, 1, a - 1) || r || substring(s, a + n)'],
  // quote_literal / quote_nullable (E'' when the text holds a backslash), quote_ident (without the keyword list).
  [
    'pg_quote_literal',
    's',
    "CASE WHEN contains(s, '\\') THEN 'E''' || replace(replace(s, '\\', '\\\\'), '''', '''''') || '''' ELSE '''' || replace(s, '''', '''''') || '''' END",
  ],
  ['pg_quote_nullable', 's', "coalesce(pg_quote_literal(s), 'NULL')"],
  ['pg_quote_ident', 's', `CASE WHEN regexp_full_match(s, '[a-z_][a-z0-9_$]*') THEN s ELSE '"' || replace(s, '"', '""') || '"' END`],
  // The text of an interval as PostgreSQL prints it (IntervalStyle postgres, EncodeInterval).
  [
    'pg__ivtext',
    'y, m, d, t',
    "concat_ws(' ', CASE WHEN y <> 0 THEN y || ' year' || CASE WHEN y = 1 THEN '' ELSE 's' END END, " +
      "CASE WHEN m <> 0 THEN CASE WHEN y < 0 AND m > 0 THEN '+' ELSE '' END || m || ' mon' || CASE WHEN m = 1 THEN '' ELSE 's' END END, " +
      "CASE WHEN d <> 0 THEN CASE WHEN (CASE WHEN m <> 0 THEN m < 0 ELSE y < 0 END) AND d > 0 THEN '+' ELSE '' END || d || ' day' || CASE WHEN d = 1 THEN '' ELSE 's' END END, " +
      "CASE WHEN t <> 0 OR (y = 0 AND m = 0 AND d = 0) THEN CASE WHEN t < 0 THEN '-' WHEN (CASE WHEN d <> 0 THEN d < 0 WHEN m <> 0 THEN m < 0 ELSE y < 0 END) THEN '+' ELSE '' END || " +
      "lpad(CAST(abs(t) // 3600000000 AS VARCHAR), 2, '0') || ':' || lpad(CAST(abs(t) // 60000000 % 60 AS VARCHAR), 2, '0') || ':' || " +
      "lpad(CAST(abs(t) // 1000000 % 60 AS VARCHAR), 2, '0') || CASE WHEN abs(t) % 1000000 = 0 THEN '' ELSE '.' || rtrim(lpad(CAST(abs(t) % 1000000 AS VARCHAR), 6, '0'), '0') END END)",
  ],
  [
    'pg_interval_text',
    'iv',
    "CASE WHEN iv IS NULL THEN NULL ELSE pg__ivtext(datepart('year', iv), datepart('month', iv), datepart('day', iv), datepart('hour', iv) * 3600000000 + datepart('minute', iv) * 60000000 + datepart('microsecond', iv)) END",
  ],
  // An interval from months, days and µs; its parts as PostgreSQL keeps them.
  ['pg__iv', 'm, d, us', 'to_months(CAST(m AS INTEGER)) + to_days(CAST(d AS INTEGER)) + to_microseconds(CAST(us AS BIGINT))'],
  ['pg__ivm', 'iv', "datepart('year', iv) * 12 + datepart('month', iv)"],
  ['pg__ivd', 'iv', "datepart('day', iv)"],
  ['pg__ivus', 'iv', "CAST(datepart('hour', iv) AS BIGINT) * 3600000000 + datepart('minute', iv) * 60000000 + datepart('microsecond', iv)"],
  // justify_hours / justify_days / justify_interval (timestamp.c): whole days out of the time,
  // whole months out of the days, signs made consistent.
  [
    'pg__jh',
    'm, d, us',
    'CASE WHEN d + us // 86400000000 > 0 AND us % 86400000000 < 0 THEN pg__iv(m, d + us // 86400000000 - 1, us % 86400000000 + 86400000000) ' +
      'WHEN d + us // 86400000000 < 0 AND us % 86400000000 > 0 THEN pg__iv(m, d + us // 86400000000 + 1, us % 86400000000 - 86400000000) ' +
      'ELSE pg__iv(m, d + us // 86400000000, us % 86400000000) END',
  ],
  ['justify_hours', 'iv', 'pg__jh(pg__ivm(iv), pg__ivd(iv), pg__ivus(iv))'],
  [
    'pg__jd',
    'm, d, us',
    'CASE WHEN m + d // 30 > 0 AND d % 30 < 0 THEN pg__iv(m + d // 30 - 1, d % 30 + 30, us) ' +
      'WHEN m + d // 30 < 0 AND d % 30 > 0 THEN pg__iv(m + d // 30 + 1, d % 30 - 30, us) ELSE pg__iv(m + d // 30, d % 30, us) END',
  ],
  ['justify_days', 'iv', 'pg__jd(pg__ivm(iv), pg__ivd(iv), pg__ivus(iv))'],
  // Each step binds its (months, days, µs) once through a lambda (macro arguments are copied).
  [
    'pg__ji5',
    'm, d, us',
    'CASE WHEN d > 0 AND us < 0 THEN pg__iv(m, d - 1, us + 86400000000) WHEN d < 0 AND us > 0 THEN pg__iv(m, d + 1, us - 86400000000) ELSE pg__iv(m, d, us) END',
  ],
  [
    'pg__ji4',
    'm, d, us',
    "list_transform([{'m': m, 'd': d + us // 86400000000, 'us': us % 86400000000}], lambda p: pg__ji5(p.m, p.d, p.us))[1]",
  ],
  [
    'pg__ji3',
    'm, d, us',
    'CASE WHEN m > 0 AND (d < 0 OR (d = 0 AND us < 0)) THEN pg__ji4(m - 1, d + 30, us) ' +
      'WHEN m < 0 AND (d > 0 OR (d = 0 AND us > 0)) THEN pg__ji4(m + 1, d - 30, us) ELSE pg__ji4(m, d, us) END',
  ],
  ['pg__ji2', 'm, d, us', "list_transform([{'m': m + d // 30, 'd': d % 30, 'us': us}], lambda p: pg__ji3(p.m, p.d, p.us))[1]"],
  [
    'pg__ji1',
    'm, d, us',
    "list_transform([CASE WHEN (d > 0 AND us > 0) OR (d < 0 AND us < 0) THEN {'m': m, 'd': d + us // 86400000000, 'us': us % 86400000000} ELSE {'m': m, 'd': d, 'us': us} END], lambda p: pg__ji2(p.m, p.d, p.us))[1]",
  ],
  [
    'justify_interval',
    'iv',
    "list_transform([{'m': pg__ivm(iv), 'd': pg__ivd(iv), 'us': pg__ivus(iv)}], lambda p: pg__ji1(p.m, p.d, p.us))[1]",
  ],
  // Dates and times (PostgreSQL 15 §9.9).
  // An integer count of 10^-scale units as DECIMAL(38, scale), exactly (extract's seconds, epoch).
  ['pg__scaled', 'v, scale', 'CAST(v AS DECIMAL(38,0)) * CAST(pow(10, -scale) AS DECIMAL(38,12))'],
  // The µs of an interval as PostgreSQL's epoch counts them: a year is 365.25 days, a month 30 days.
  [
    'pg__interval_us',
    'iv',
    "CAST(datepart('year', iv) AS BIGINT) * 31557600000000 + CAST(datepart('month', iv) AS BIGINT) * 2592000000000 + " +
      "CAST(datepart('day', iv) AS BIGINT) * 86400000000 + CAST(datepart('hour', iv) AS BIGINT) * 3600000000 + " +
      "CAST(datepart('minute', iv) AS BIGINT) * 60000000 + CAST(datepart('microsecond', iv) AS BIGINT)",
  ],
  // date_trunc('century' | 'millennium'): centuries start at years 1, 101, …, 2001.
  ['pg_trunc_century', 'x', "date_trunc('year', x) - to_years(CAST(year(x) - ((year(x) - 1) // 100 * 100 + 1) AS INTEGER))"],
  ['pg_trunc_millennium', 'x', "date_trunc('year', x) - to_years(CAST(year(x) - ((year(x) - 1) // 1000 * 1000 + 1) AS INTEGER))"],
  // Under a session TimeZone other than UTC (services/router/src/plan/rewrite/zone.ts): an offset
  // in seconds east as PostgreSQL prints it (+01, -05:30, +00:09:21), and a timestamptz's text
  // (timestamptz_out, DateStyle ISO) from its local time and offset.
  [
    'pg_tz_offset_text',
    's',
    "CASE WHEN s < 0 THEN '-' ELSE '+' END || lpad(CAST(abs(s) // 3600 AS VARCHAR), 2, '0') || " +
      "CASE WHEN abs(s) % 3600 <> 0 THEN ':' || lpad(CAST(abs(s) // 60 % 60 AS VARCHAR), 2, '0') ELSE '' END || " +
      "CASE WHEN abs(s) % 60 <> 0 THEN ':' || lpad(CAST(abs(s) % 60 AS VARCHAR), 2, '0') ELSE '' END",
  ],
  ['pg_tstz_text', 'l, s', 'CAST(l AS VARCHAR) || pg_tz_offset_text(s)'],
  // array_to_string skips NULL elements (an array of only NULLs is ''), or prints them as the third argument.
  [
    'pg_array_to_string',
    'a, d',
    "CASE WHEN a IS NULL OR d IS NULL THEN NULL ELSE coalesce(array_to_string(list_filter(a, lambda x: x IS NOT NULL), d), '') END",
  ],
  [
    'pg_array_to_string3',
    'a, d, n',
    'CASE WHEN a IS NULL OR d IS NULL THEN NULL WHEN n IS NULL THEN pg_array_to_string(a, d) ELSE array_to_string(list_transform(a, lambda x: coalesce(CAST(x AS VARCHAR), n)), d) END',
  ],
  // chr: 0 and negative codes are 54000.
  [
    'pg_chr',
    'n',
    `CASE WHEN n = 0 THEN ${raise('54000', 'null character not permitted')} WHEN n < 0 THEN ${raise('54000', 'character number must be positive')} ELSE chr(n) END`,
  ],
  // Arrays (PostgreSQL 15 §9.19): an empty array has no dimensions (array_length, array_upper,
  // array_lower and array_ndims are NULL); NULL elements compare with IS NOT DISTINCT FROM.
  ['pg_array_length', 'a', 'CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE CAST(len(a) AS INTEGER) END'],
  ['pg_array_lower', 'a', 'CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE 1 END'],
  ['pg_array_cat', 'a, b', 'CASE WHEN a IS NULL AND b IS NULL THEN NULL ELSE list_concat(a, b) END'],
  [
    'pg_array_positions',
    'a, x',
    'CASE WHEN a IS NULL THEN NULL ELSE CAST(list_filter(range(1, len(a) + 1), lambda i: a[i] IS NOT DISTINCT FROM x) AS INTEGER[]) END',
  ],
  ['pg_array_remove', 'a, x', 'CASE WHEN a IS NULL THEN NULL ELSE list_filter(a, lambda e: e IS DISTINCT FROM x) END'],
  [
    'pg_array_replace',
    'a, x, y',
    'CASE WHEN a IS NULL THEN NULL ELSE list_transform(a, lambda e: CASE WHEN e IS NOT DISTINCT FROM x THEN y ELSE e END) END',
  ],
  // string_to_array: '' is an empty array, a NULL delimiter splits into characters, '' as delimiter keeps the string whole.
  [
    'pg_string_to_array',
    's, d',
    "CASE WHEN s IS NULL THEN NULL WHEN s = '' THEN CAST([] AS VARCHAR[]) WHEN d IS NULL THEN string_split(s, '') WHEN d = '' THEN [s] ELSE string_split(s, d) END",
  ],
  ['pg_string_to_array3', 's, d, n', 'list_transform(pg_string_to_array(s, d), lambda e: CASE WHEN e = n THEN NULL ELSE e END)'],
  // jsonb (PostgreSQL 15 §9.16) over DuckDB's JSON.
  [
    'pg_jsonb_typeof',
    'j',
    "CASE WHEN j IS NULL THEN NULL ELSE CASE json_type(j) WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' WHEN 'VARCHAR' THEN 'string' " +
      "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'NULL' THEN 'null' ELSE 'number' END END",
  ],
  // jsonb ? text: a key of an object, a string element of an array, or the string itself.
  [
    'pg_jsonb_exists',
    'j, k',
    "CASE json_type(j) WHEN 'OBJECT' THEN list_contains(json_keys(j), k) " +
      "WHEN 'ARRAY' THEN list_contains(list_transform(CAST(j AS JSON[]), lambda e: CASE WHEN json_type(e) = 'VARCHAR' THEN json_extract_string(e, '$') END), k) " +
      "WHEN 'VARCHAR' THEN json_extract_string(j, '$') = k ELSE CASE WHEN j IS NULL OR k IS NULL THEN NULL ELSE false END END",
  ],
  [
    'pg_jsonb_exists_any',
    'j, ks',
    'CASE WHEN j IS NULL OR ks IS NULL THEN NULL ELSE list_bool_or(list_transform(ks, lambda k: pg_jsonb_exists(j, k))) END',
  ],
  [
    'pg_jsonb_exists_all',
    'j, ks',
    'CASE WHEN j IS NULL OR ks IS NULL THEN NULL ELSE coalesce(list_bool_and(list_transform(ks, lambda k: pg_jsonb_exists(j, k))), true) END',
  ],
  // jsonb || jsonb: arrays concatenate, objects merge (the right side wins), anything else becomes an array of both.
  [
    'pg_jsonb_concat',
    'a, b',
    'CASE WHEN a IS NULL OR b IS NULL THEN NULL ' +
      "WHEN json_type(a) = 'OBJECT' AND json_type(b) = 'OBJECT' THEN json_merge_patch(a, b) " +
      "ELSE to_json(list_concat(CASE WHEN json_type(a) = 'ARRAY' THEN CAST(a AS JSON[]) ELSE [a] END, CASE WHEN json_type(b) = 'ARRAY' THEN CAST(b AS JSON[]) ELSE [b] END)) END",
  ],
  // jsonb - text: the object without that key; an array without those string elements.
  [
    'pg_jsonb_delete',
    'j, k',
    "CASE WHEN j IS NULL OR k IS NULL THEN NULL WHEN json_type(j) = 'OBJECT' THEN json_merge_patch(j, json_object(k, NULL)) " +
      "WHEN json_type(j) = 'ARRAY' THEN to_json(list_filter(CAST(j AS JSON[]), lambda e: json_type(e) <> 'VARCHAR' OR json_extract_string(e, '$') <> k)) " +
      `ELSE ${raise('22023', 'cannot delete from scalar')} END`,
  ],
  // boolout: 't' / 'f' (concat, format and array output use the output function).
  ['pg_bool_out', 'b', "CASE WHEN b THEN 't' WHEN NOT b THEN 'f' END"],
];

/** SQL creating every macro on a connection (temporary, so each connection has its own). */
export const PG_MACROS_SQL = MACROS.map(([name, params, body]) => `CREATE OR REPLACE TEMP MACRO ${name}(${params}) AS ${body};`).join('\n');

/** DuckDB messages with a PostgreSQL SQLSTATE and wording ($1… are the pattern's groups). */
const MESSAGE_RULES: [RegExp, string, string][] = [
  [
    /More than one row returned by a subquery used as an expression/,
    '21000',
    'more than one row returned by a subquery used as an expression',
  ],
  [/^Conversion Error: date field value out of range: "(.*)"/, '22008', 'date/time field value out of range: "$1"'],
  [/^Conversion Error: Could not convert string '(.*)' to INTERVAL/, '22007', 'invalid input syntax for type interval: "$1"'],
  [/^Binder Error: ORDER term out of range/, '42P10', 'ORDER BY position is not in select list'],
  [/cannot take square root of a negative number/, '2201F', 'cannot take square root of a negative number'],
  [/cannot take logarithm of zero/, '2201E', 'cannot take logarithm of zero'],
  [/cannot take logarithm of a negative number/, '2201E', 'cannot take logarithm of a negative number'],
];

const INT_NAMES: Record<string, string> = { INT16: 'smallint', INT32: 'integer', INT64: 'bigint', INT128: 'numeric' };

/**
 * PostgreSQL's SQLSTATE and message for a DuckDB error message, when it is one of the errors
 * the macros raise or one whose PostgreSQL wording is known (integer overflow is 22003
 * "integer out of range"); undefined otherwise.
 */
export function pgErrorOf(message: string): { code: string; message: string } | undefined {
  const m = /^Invalid Input Error: pg:([0-9A-Z]{5}):(.*)$/s.exec(message);
  if (m) return { code: m[1] as string, message: m[2] as string };
  const o = /^Out of Range Error: Overflow in \w+ of (INT16|INT32|INT64)/.exec(message);
  if (o) return { code: '22003', message: `${INT_NAMES[o[1] as string]} out of range` };
  if (/^Out of Range Error: Overflow (in negation of numeric value|on abs\()/.test(message)) {
    return { code: '22003', message: 'integer out of range' };
  }
  for (const [re, code, text] of MESSAGE_RULES) {
    const m2 = re.exec(message);
    if (m2) return { code, message: text.replace(/\$(\d)/g, (_, i: string) => m2[Number(i)] ?? '') };
  }
  const amb = /^Binder Error: Ambiguous reference to column name "([^"]*)"/.exec(message);
  if (amb) return { code: '42702', message: `column reference "${amb[1]}" is ambiguous` };
  const c =
    /^Conversion Error: Type \w+ with value .* can't be cast because the value is out of range for the destination type (INT16|INT32|INT64)/.exec(
      message,
    );
  if (c) return { code: '22003', message: `${INT_NAMES[c[1] as string]} out of range` };
  if (/^Conversion Error: Could not cast value .* to DECIMAL\(/.test(message)) return { code: '22003', message: 'numeric field overflow' };
  return undefined;
}
