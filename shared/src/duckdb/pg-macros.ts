/**
 * DuckDB macros that compute what PostgreSQL 15 computes where DuckDB's own operators and
 * functions differ, and the mapping of DuckDB's errors to PostgreSQL's (SQLSTATE and message).
 * The router's analytical rewrite (services/router/src/plan/duckdb-rewrite.ts) calls these
 * macros by name, once it has typed the expression the way PostgreSQL does; they are created
 * per connection (temporary macros) with {@link PG_MACROS_SQL}, part of `PG_SEMANTICS_SQL`.
 *
 * A macro raises a PostgreSQL error as `error('pg:<SQLSTATE>:<message>')`; {@link pgErrorOf}
 * turns DuckDB's "Invalid Input Error: pg:22012:division by zero" back into 22012 and
 * PostgreSQL's message.
 */

/**
 * Name of the text field of the STRUCT `pg_ndiv_out` returns: result conversion (convert.ts)
 * reads a STRUCT with this field as a numeric whose text is the field.
 */
export const PG_NUMERIC_FIELD = 'pg_numeric';

/** `error()` call raising SQLSTATE `code` with PostgreSQL's `message`. */
function raise(code: string, message: string): string {
  return `error('pg:${code}:${message.replaceAll("'", "''")}')`;
}

const DIV0 = raise('22012', 'division by zero');

/** [name, parameters, body] of each macro. */
const MACROS: [string, string, string][] = [
  // int2/int4/int8 `/` and `%` (int4div, int4mod, …): division by zero raises 22012 (DuckDB
  // returns NULL); DuckDB's `//` truncates toward zero as PostgreSQL's `/` does (a macro body is
  // parsed before `SET integer_division` applies, so it spells `//`). PostgreSQL's operators are
  // strict: a NULL dividend gives NULL even when the divisor is 0.
  ['pg_idiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a // b END`],
  ['pg_imod', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a % b END`],
  // float8div/float4div: x / 0 raises 22012 unless x is NaN.
  ['pg_fdiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL AND NOT isnan(a) THEN ${DIV0} ELSE a / b END`],
  // interval_div.
  ['pg_ivdiv', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a / b END`],
  // numeric_mod: 22012 on zero; DuckDB's DECIMAL % keeps the dividend's sign like PostgreSQL.
  ['pg_nmod', 'a, b', `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} ELSE a % b END`],
  // Exact numeric division (numeric_div): |a| and |b| scaled to integers (× 10^10, HUGEINT),
  // long division to 16 fractional digits, rounded half away from zero (div_var, round = true).
  // DuckDB's DECIMAL / DECIMAL is a DOUBLE. The result is DECIMAL(38,16); see docs/sql.md
  // "Known differences" for the display scale.
  [
    'pg__h',
    'x',
    'CAST(trunc(CAST(x AS DECIMAL(38,10))) AS HUGEINT) * 10000000000 + CAST((CAST(x AS DECIMAL(38,10)) - trunc(CAST(x AS DECIMAL(38,10)))) * 10000000000 AS HUGEINT)',
  ],
  [
    'pg__d3',
    'q, f1, f2, r2, b',
    'CAST(q AS DECIMAL(38,16)) + CAST(f1 * 100000000 + f2 + CASE WHEN 2 * r2 >= b THEN 1 ELSE 0 END AS DECIMAL(38,0)) * 0.0000000000000001',
  ],
  ['pg__d2', 'q, f1, r1, b', 'pg__d3(q, f1, (r1 * 100000000) // b, (r1 * 100000000) % b, b)'],
  ['pg__d1', 'q, r, b', 'pg__d2(q, (r * 100000000) // b, (r * 100000000) % b, b)'],
  ['pg__du', 'a, b', 'pg__d1(a // b, a % b, b)'],
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
  [
    'pg__ndtext',
    'a, b',
    "list_transform([{'a': pg__h(abs(a)), 'b': pg__h(abs(b)), 'sa': pg__sc(a), 'sb': pg__sc(b), 'neg': (a < 0) <> (b < 0)}], " +
      'lambda p: pg__ndt(p.a, p.b, pg__rs(p.a, p.b, p.sa, p.sb), p.neg))[1]',
  ],
  // The outermost SELECT's numeric quotients (division, avg): the value for ordering and the
  // text PostgreSQL prints; result conversion reads it as numeric (convert.ts).
  [
    'pg_ndiv_out',
    'a, b',
    `CASE WHEN b = 0 AND a IS NOT NULL THEN ${DIV0} WHEN a IS NULL OR b IS NULL THEN NULL ELSE ` +
      `struct_pack(v := CAST(a AS DOUBLE) / CAST(b AS DOUBLE), ${PG_NUMERIC_FIELD} := pg__ndtext(a, b)) END`,
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
  ['pg_real_text', 'x', 'pg__ftext(x, CAST(x AS VARCHAR), 1e6)'],
  // boolout: 't' / 'f' (concat, format and array output use the output function).
  ['pg_bool_out', 'b', "CASE WHEN b THEN 't' WHEN NOT b THEN 'f' END"],
];

/** SQL creating every macro on a connection (temporary, so each connection has its own). */
export const PG_MACROS_SQL = MACROS.map(([name, params, body]) => `CREATE OR REPLACE TEMP MACRO ${name}(${params}) AS ${body};`).join('\n');

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
