/**
 * Operators (A_Expr): resolved over PostgreSQL's pg_operator for the operands' types, the
 * operands cast to the operator's argument types, and replaced where DuckDB's operator means
 * something else (integer division, regular expressions, jsonb, numeric scales, …).
 */
import type { A_Expr, Node } from '@pgsql/types';
import { isArrayType, type ResultType, resolveOperatorDetail, type Signature, SqlState, StratumError } from '@stratum/shared';
import { constString, listItems, nodeOf, present } from '../../analyze/ast.ts';
import { coerce, coerceArgument, numKey, numText, scaleOf } from './coerce.ts';
import { jsonPath } from './fn-json-array.ts';
import { argIsLiteral, castNode, fn, isUntypedParam, nullWhenNull, opExpr, opName, textConst } from './nodes.ts';
import { displayName, FLOAT_TYPES, INT_TYPES, type Rewriter, type Scope, TEXT_TYPES, type Typed } from './types.ts';
import { rewriteWithin } from './untyped.ts';
import { sessionZone, tstzPlusInterval, zoneCast } from './zone.ts';

/** Regular-expression match operators: [negated, DuckDB options]. */
const REGEX_OPS = new Map<string, [negated: boolean, options: string]>([
  ['~', [false, '']],
  ['~*', [false, 'i']],
  ['!~', [true, '']],
  ['!~*', [true, 'i']],
]);

/** Comparison operators. */
const COMPARISON_OPS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/**
 * PostgreSQL's display scale of a numeric operator's result from its operands' scales (numeric.c:
 * add_var and sub_var keep the larger scale, mul_var adds them, mod_var keeps the larger), or
 * undefined for other operators.
 */
function resultScale(op: string, scales: Node[]): Node | undefined {
  const [x, y] = scales;
  if (!y) return op === '-' || op === '+' ? x : undefined;
  if (!x) return undefined;
  if (op === '+' || op === '-' || op === '%') return { MinMaxExpr: { op: 'IS_GREATEST', args: [x, y] } };
  if (op === '*') return opExpr('+', x, y);
  return undefined;
}

/**
 * An operator expression (A_Expr): typed by the operator PostgreSQL resolves for its operands'
 * types (pg_operator), the operands cast to its argument types.
 * @throws StratumError 42883 when PostgreSQL has no such operator for the operands' types.
 */
export function aExpr(rw: Rewriter, v: A_Expr, scope: Scope): Typed {
  const kind = String(v.kind);
  if (kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') {
    // x op ANY (array): NULL for a NULL array (DuckDB answers false / true).
    const out = rewriteWithin(rw, v, scope);
    const arr = present(out.rexpr, `the array of ${opName(v)} ANY/ALL`);
    if (nodeOf(arr, 'SubLink')) return { node: { A_Expr: out }, t: 'boolean' };
    return { node: nullWhenNull(arr, { A_Expr: out }), t: 'boolean' };
  }
  if ((kind === 'AEXPR_IN' || kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN') && nodeOf(v.rexpr, 'List')) {
    const ordered = orderedList(rw, v, scope) ?? zonedList(rw, v, scope);
    if (ordered) return { node: ordered, t: 'boolean' };
  }
  if (kind !== 'AEXPR_OP') {
    const out: Node = { A_Expr: rewriteWithin(rw, v, scope) };
    const t: ResultType = kind === 'AEXPR_NULLIF' ? rw.expr(present(v.lexpr, "NULLIF's first argument"), scope).t : 'boolean';
    return { node: out, t };
  }
  const op = opName(v);
  const l = v.lexpr ? rw.expr(v.lexpr, scope) : undefined;
  const r = rw.expr(present(v.rexpr, `the operand of ${op}`), scope);
  const args = l ? [l, r] : [r];
  const types = args.map((a) => a.t);
  const keep: Typed = { node: { A_Expr: { ...v, ...(l ? { lexpr: l.node } : {}), rexpr: r.node } }, t: 'unknown' };
  // A parameter compared with a text numeric is a numeric (PostgreSQL infers its type so): by key.
  if (l && COMPARISON_OPS.has(op) && args.some((a) => a.textNum && a.t === 'numeric') && args.some((a) => nodeOf(a.node, 'ParamRef')))
    return { node: { A_Expr: { ...v, lexpr: numKey(numText(l)), rexpr: numKey(numText(r)) } }, t: 'boolean' };
  // An untyped parameter resolves like an unknown literal (PostgreSQL types `$1 + 99` as integer).
  if (args.some((a) => a.t === 'unknown' && !argIsLiteral(a) && !isUntypedParam(a))) return keep;
  const sig = resolveOperatorDetail(op, types, false);
  if (typeof sig === 'string') {
    if (sig === 'none' && types.every((t) => t !== 'unknown')) {
      const shown = types.map((t) => displayName(t));
      throw new StratumError(
        SqlState.undefinedFunction,
        `operator does not exist: ${l ? `${shown[0]} ${op} ${shown[1]}` : `${op} ${shown[0]}`}`,
        { hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.' },
      );
    }
    return keep;
  }
  const [a0, a1] = sig.args;
  let ln = l && coerceArgument(l, a0 ?? 'unknown');
  let rn = coerceArgument(r, (l ? a1 : a0) ?? 'unknown');
  // timestamptz compared with timestamp or date (timestamptz_lt_timestamp, …): the other side is
  // read as a local time of the session zone (timestamp2timestamptz).
  if (l && ln && COMPARISON_OPS.has(op) && sessionZone() && (a0 === 'timestamptz') !== (a1 === 'timestamptz')) {
    if (a0 === 'timestamptz') rn = zoneCast({ node: rn, t: a1 ?? 'unknown' }, 'timestamptz') ?? rn;
    else ln = zoneCast({ node: ln, t: a0 ?? 'unknown' }, 'timestamptz') ?? ln;
  }
  if (l && ln && COMPARISON_OPS.has(op)) {
    // numeric_cmp of text numerics: by their numeric-order keys (exact at any precision).
    if (a0 === 'numeric' && a1 === 'numeric' && args.some((a) => a.textNum))
      return { node: { A_Expr: { ...v, lexpr: numKey(numText(l)), rexpr: numKey(numText(r)) } }, t: 'boolean' };
    // bpchareq, bpcharlt, …: trailing spaces do not count (bpcharcmp compares the trimmed strings).
    if (a0 === 'char' && a1 === 'char')
      return { node: { A_Expr: { ...v, lexpr: fn('rtrim', [ln]), rexpr: fn('rtrim', [rn]) } }, t: 'boolean' };
  }
  const special = l && ln ? operator(op, [ln, rn], sig, [l, r]) : undefined;
  const scaled = a0 === 'numeric' && sig.t === 'numeric' && args.some((a) => a.textNum || a.scale);
  const scales = (): Node[] => (l && ln ? [scaleOf(l, ln), scaleOf(r, rn)] : [scaleOf(r, rn)]);
  if (special) {
    if (scaled) {
      const sc = scales();
      const [x, y] = sc;
      if (special.div && x && y) special.divScales = [x, y];
      else {
        const scale = resultScale(op, sc);
        if (scale) special.scale = scale;
      }
    }
    return special;
  }
  const node: Node = { A_Expr: { ...v, ...(ln ? { lexpr: ln } : {}), rexpr: rn } };
  const out: Typed = { node, t: sig.t };
  const scale = scaled ? resultScale(op, scales()) : undefined;
  if (scale) out.scale = scale;
  return out;
}

/**
 * `x [NOT] IN (list)` and `x [NOT] BETWEEN a AND b` over text numerics (by numeric-order keys)
 * or char(n) values (trailing spaces trimmed); undefined for other types (left to DuckDB).
 */
function orderedList(rw: Rewriter, v: A_Expr, scope: Scope): Node | undefined {
  const l = rw.expr(present(v.lexpr, `the left operand of ${String(v.kind)}`), scope);
  const items = (listItems(v.rexpr) ?? []).map((i) => rw.expr(i, scope));
  const all = [l, ...items];
  let f: ((x: Typed) => Node) | undefined;
  if (
    all.some((x) => x.textNum && x.t === 'numeric') &&
    all.every((x) => x.t === 'numeric' || INT_TYPES.has(x.t) || argIsLiteral(x) || nodeOf(x.node, 'ParamRef'))
  )
    f = (x) => numKey(numText(x));
  else if (all.some((x) => x.t === 'char') && all.every((x) => x.t === 'char' || argIsLiteral(x))) f = (x) => fn('rtrim', [x.node]);
  if (!f) return undefined;
  return { A_Expr: { ...v, lexpr: f(l), rexpr: { List: { items: items.map(f) } } } };
}

/** Types a list of timestamp-like values compares in once one is a timestamptz. */
const ZONED_LIST_TYPES = new Set<ResultType>(['timestamptz', 'timestamp', 'date']);

/**
 * `x [NOT] IN (list)` and `x [NOT] BETWEEN a AND b` where a timestamptz meets timestamps, dates or
 * string literals, under a session zone other than UTC: every value as a timestamptz, read in the
 * zone (zone.ts); undefined otherwise (left to DuckDB).
 */
function zonedList(rw: Rewriter, v: A_Expr, scope: Scope): Node | undefined {
  if (!sessionZone()) return undefined;
  const l = rw.expr(present(v.lexpr, `the left operand of ${String(v.kind)}`), scope);
  const items = (listItems(v.rexpr) ?? []).map((i) => rw.expr(i, scope));
  const all = [l, ...items];
  if (!all.some((x) => x.t === 'timestamptz') || !all.every((x) => ZONED_LIST_TYPES.has(x.t) || x.strLit)) return undefined;
  const f = (x: Typed): Node => coerce(x, 'timestamptz');
  return { A_Expr: { ...v, lexpr: f(l), rexpr: { List: { items: items.map(f) } } } };
}

/**
 * Binary operators whose DuckDB meaning differs, over operands `[x, y]` already cast to
 * `sig.args` (`[l, r]` as typed before): undefined where DuckDB's operator is PostgreSQL's.
 */
function operator(op: string, [x, y]: [Node, Node], sig: Signature, [l, r]: [Typed, Typed]): Typed | undefined {
  const [a0 = 'unknown', a1 = 'unknown'] = sig.args;
  const t = sig.t;
  if (op === '/' || op === '%') {
    if (INT_TYPES.has(a0) && INT_TYPES.has(a1)) return { node: fn(op === '/' ? 'pg_idiv' : 'pg_imod', [x, y]), t };
    if (a0 === 'numeric' && a1 === 'numeric') {
      return op === '/' ? { node: fn('pg_ndiv', [x, y]), t, div: [x, y] } : { node: fn('pg_nmod', [x, y]), t };
    }
    if (op === '/' && FLOAT_TYPES.has(a0) && FLOAT_TYPES.has(a1)) return { node: fn('pg_fdiv', [x, y]), t };
    if (op === '/' && a0 === 'interval') return { node: fn('pg_ivdiv', [x, y]), t };
  }
  const regex = REGEX_OPS.get(op);
  if (regex && t === 'boolean' && TEXT_TYPES.has(a0)) {
    // PostgreSQL's ~ finds a match anywhere; DuckDB's ~ must match the whole string.
    const [negate, flags] = regex;
    const call = fn('regexp_matches', flags ? [x, y, textConst(flags)] : [x, y]);
    return { node: negate ? { BoolExpr: { boolop: 'NOT_EXPR', args: [call] } } : call, t: 'boolean' };
  }
  if (op === '||' && (isArrayType(a0) || isArrayType(a1))) {
    // array || element, element || array, array || array (array_append / array_prepend / array_cat).
    const name = isArrayType(a0) && isArrayType(a1) ? 'pg_array_cat' : isArrayType(a0) ? 'list_append' : 'list_prepend';
    return { node: fn(name, [x, y]), t };
  }
  if (a0 === 'jsonb') {
    const json = jsonbOperator(op, x, y, a1);
    if (json) return { node: json, t };
  }
  const z = sessionZone();
  if (z && (op === '+' || op === '-') && t === 'timestamptz') {
    // timestamptz ± interval: months and days in the zone's local time (timestamptz_pl_interval).
    const [ts, iv, ivt] = a0 === 'timestamptz' ? [x, y, r] : [y, x, l];
    const moved = tstzPlusInterval(z, op, ts, iv, ivt.strLit ? constString(ivt.node) : ivt.ivText);
    if (moved) return { node: moved, t };
  }
  if (op === '-' && a0 === 'date' && a1 === 'date') return { node: castNode(opExpr('-', x, y), 'integer'), t };
  // DuckDB multiplies DECIMALs of precision ≤ 18 in 64 bits and overflows where numeric does not.
  if (op === '*' && a0 === 'numeric' && a1 === 'numeric') return { node: fn('pg_nmul', [x, y]), t };
  if (op === '||' && t === 'text') {
    // anytextcat/textanycat cast the non-text side to text (coerce did); DuckDB types `x || NULL` as INTEGER.
    // A numeric's text is its own (a text numeric's, or one with a display scale of its own).
    const side = (a: Typed, n: Node): Node => (a.t === 'numeric' && (a.textNum || a.scale) ? numText(a) : n);
    return { node: castNode(opExpr('||', side(l, x), side(r, y)), 'varchar'), t: 'text' };
  }
  return undefined;
}

/** jsonb operators (PostgreSQL 15 §9.16.1) on `j` and `k` as DuckDB json functions and pg-macros.ts macros. */
function jsonbOperator(op: string, j: Node, k: Node, a1: ResultType): Node | undefined {
  switch (op) {
    case '?':
      return fn('pg_jsonb_exists', [j, k]);
    case '||':
      return fn('pg_jsonb_concat', [j, k]);
    case '-':
      return a1 === 'text' ? fn('pg_jsonb_delete', [j, k]) : undefined;
    case '?|':
      return fn('pg_jsonb_exists_any', [j, k]);
    case '?&':
      return fn('pg_jsonb_exists_all', [j, k]);
    case '@>':
      return fn('json_contains', [j, k]);
    case '<@':
      return fn('json_contains', [k, j]);
    case '#>':
    case '#>>': {
      const path = jsonPath(k);
      return path ? fn(op === '#>' ? 'json_extract' : 'json_extract_string', [j, textConst(path)]) : undefined;
    }
    default:
      return undefined;
  }
}
