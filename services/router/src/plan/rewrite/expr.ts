/**
 * Expressions: each node rewritten and typed the way PostgreSQL 15 types it (chapter 10 "Type
 * Conversion"), its operands coerced to the types PostgreSQL chose.
 */
import type { A_Const, CaseExpr, CoalesceExpr, MinMaxExpr, Node, SQLValueFunctionOp, SubLink, TypeCast } from '@pgsql/types';
import { elementType, isArrayType, parsePgArray, type ResultType, resolveTypeName, SqlState, StratumError } from '@stratum/shared';
import { constString, entryOf, expectNode, nodeOf, present, strOf } from '../../analyze/ast.ts';
import { call } from './call.ts';
import { coerce, intervalLiteral, numText, textOf, toNumeric } from './coerce.ts';
import { castNode, castTyped, fn, intConst, jsonArray, textConst } from './nodes.ts';
import { aExpr } from './operators.ts';
import { sortKey } from './output.ts';
import { arrayOf, common, FLOAT_TYPES, INT_TYPES, lookupColumn, type Rewriter, type Scope, TEXT_TYPES, type Typed } from './types.ts';
import { rewriteChildren, rewriteWithin } from './untyped.ts';
import { sessionZone, toLocal, zoneCast, zoneRefused } from './zone.ts';

/**
 * Rewrite expression `n` and type it (unknown where PostgreSQL's type cannot be told: an unknown
 * column, a node type the rewrite does not type, whose children are still rewritten).
 * @throws StratumError 42883 for an operator or function PostgreSQL does not have for the
 *   operands' types; 22007 for an interval literal PostgreSQL cannot read; 22023 for a unit
 *   date_trunc or extract does not know.
 */
export function expr(rw: Rewriter, n: Node, scope: Scope): Typed {
  const [type, v] = entryOf(n);
  const sub = (x: Node | undefined, what: string): Typed => rw.expr(present(x, what), scope);
  switch (type) {
    case 'A_Const':
      return constType(n, v);
    case 'ColumnRef': {
      const names = (v.fields ?? []).map((f) => {
        const s = nodeOf(f, 'String');
        return s ? String(s.sval) : '*';
      });
      const c = lookupColumn(scope, names);
      if (!c) return { node: n, t: 'unknown' };
      const x: Typed = c.typmod === undefined ? { node: n, t: c.t } : { node: n, t: c.t, typmod: c.typmod };
      if (c.textNum) x.textNum = true;
      return x;
    }
    case 'TypeCast':
      return typeCast(rw, v, scope);
    case 'A_Expr':
      return aExpr(rw, v, scope);
    case 'FuncCall':
      return call(rw, v, scope, false);
    case 'BoolExpr':
      return { node: { BoolExpr: { ...v, args: (v.args ?? []).map((a) => rw.expr(a, scope).node) } }, t: 'boolean' };
    case 'NullTest':
      return { node: { NullTest: { ...v, arg: sub(v.arg, 'the argument of IS NULL').node } }, t: 'boolean' };
    case 'BooleanTest':
      return { node: { BooleanTest: { ...v, arg: sub(v.arg, 'the argument of IS TRUE').node } }, t: 'boolean' };
    case 'SubLink':
      return subLink(rw, v, scope);
    case 'CaseExpr':
      return caseExpr(rw, v, scope);
    case 'CoalesceExpr':
      return coalesce(rw, v, scope);
    case 'MinMaxExpr':
      return coalesce(rw, v, scope, v.op === 'IS_GREATEST' ? 'GREATEST' : 'LEAST');
    case 'A_ArrayExpr': {
      const els = (v.elements ?? []).map((a) => rw.expr(a, scope));
      const et =
        els.length > 0 && els.every((a) => a.strLit)
          ? 'text'
          : common(
              els.map((a) => a.t),
              'ARRAY',
            );
      const t: ResultType = et === 'unknown' ? 'unknown' : isArrayType(et) ? et : arrayOf(et);
      const nodes = els.map((a) => (et !== 'unknown' && et !== 'numeric' && (a.t !== et || a.numLit) ? coerce(a, et) : a.node));
      return { node: { A_ArrayExpr: { ...v, elements: nodes } }, t };
    }
    case 'A_Indirection': {
      const arg = sub(v.arg, 'the value of a subscript or field selection');
      const ind = rewriteWithin(rw, v.indirection ?? [], scope);
      const subscript = ind.every((x) => nodeOf(x, 'A_Indices'));
      const slice = ind.some((x) => nodeOf(x, 'A_Indices')?.is_slice);
      const t: ResultType = subscript && isArrayType(arg.t) ? (slice ? arg.t : elementType(arg.t)) : 'unknown';
      const node: Node = { A_Indirection: { ...v, arg: arg.node, indirection: ind } };
      return arg.textNum && t !== 'unknown' ? { node, t, textNum: true } : { node, t };
    }
    case 'SQLValueFunction':
      return localValue(v.op) ?? { node: n, t: (v.op && SVF_TYPES[v.op]) || 'unknown' };
    case 'ParamRef':
      return { node: n, t: 'unknown' };
    case 'SortBy': {
      // Window and aggregate ORDER BY: text numerics by their numeric-order key, char(n) without trailing spaces.
      const e = sub(v.node, 'the expression of an ORDER BY item');
      return { node: { SortBy: { ...v, node: sortKey(e) ?? e.node } }, t: 'unknown' };
    }
    case 'CollateClause': {
      const arg = sub(v.arg, 'the argument of COLLATE');
      return { ...arg, node: { CollateClause: { ...v, arg: arg.node } } };
    }
    default:
      return { node: rewriteChildren(rw, n, scope), t: 'unknown' };
  }
}

/**
 * COALESCE (`what` undefined), GREATEST or LEAST: the common type of the arguments, each coerced
 * to it; of text numerics, one of the values as its own text.
 */
function coalesce(rw: Rewriter, v: CoalesceExpr | MinMaxExpr, scope: Scope, what?: 'GREATEST' | 'LEAST'): Typed {
  const args = (v.args ?? []).map((a) => rw.expr(a, scope));
  const t = common(
    args.map((a) => a.t),
    what ?? 'COALESCE',
  );
  if (t === 'numeric' && args.some((a) => a.textNum)) {
    const nodes = args.map((a) => numText(a));
    if (!what) return { node: { CoalesceExpr: { ...v, args: nodes } }, t, textNum: true };
    return { node: fn(what === 'GREATEST' ? 'pg_ngreatest' : 'pg_nleast', [{ A_ArrayExpr: { elements: nodes } }]), t, textNum: true };
  }
  const nodes = args.map((a) => (t !== 'unknown' && t !== 'numeric' && (a.t !== t || a.numLit) ? coerce(a, t) : a.node));
  return { node: what ? { MinMaxExpr: { ...v, args: nodes } } : { CoalesceExpr: { ...v, args: nodes } }, t };
}

/**
 * A cast: to PostgreSQL's type, with the conversions DuckDB makes differently.
 * @throws StratumError 22007 for an interval literal PostgreSQL cannot read (at parse analysis,
 *   whatever the rows).
 */
export function typeCast(rw: Rewriter, v: TypeCast, scope: Scope): Typed {
  const arg = rw.expr(present(v.arg, "a cast's argument"), scope);
  const tn = v.typeName ?? {};
  const names = (tn.names ?? []).map((x) => strOf(x) ?? '');
  const base = resolveTypeName(names[names.length - 1] ?? '');
  const t: ResultType = base ? ((tn.arrayBounds?.length ?? 0) > 0 && !isArrayType(base) ? arrayOf(base) : base) : 'unknown';
  const node: Node = { TypeCast: { ...v, arg: arg.node } };
  if (t === 'unknown') return { node, t };
  const typed: Typed = { node, t };
  const mods = tn.typmods ?? [];
  const mod = (i: number): number => Number(nodeOf(mods[i], 'A_Const')?.ival?.ival ?? 0);
  if (t === 'numeric' && mods.length > 0) {
    typed.typmod = ((mod(0) << 16) | mod(1)) + 4;
  } else if (t === 'numeric' && !tn.arrayBounds) {
    // Unconstrained numeric keeps the value's own scale: integers 0, a literal as written,
    // a numeric as it is (DuckDB's DECIMAL would be DECIMAL(18,3)).
    if (arg.t === 'numeric') return { ...arg, node: arg.node };
    // float → numeric keeps 15 significant digits (6 for real), the scale they print with
    // (float8_numeric): a text numeric, where DuckDB's DECIMAL would be DECIMAL(18,3).
    if (FLOAT_TYPES.has(arg.t)) return { node: fn('pg_float_numeric', [arg.node, intConst(arg.t === 'real' ? 6 : 15)]), t, textNum: true };
    const n = toNumeric(arg);
    if (n) typed.node = n;
  }
  if (arg.textNum && INT_TYPES.has(t)) typed.node = coerce(arg, t);
  if (arg.textNum && t === 'numeric[]' && !mods.length) return { ...arg, t };
  if (t === 'bytea' && (TEXT_TYPES.has(arg.t) || arg.strLit)) typed.node = fn('pg_text_bytea', [arg.node]);
  if (arg.strLit && isArrayType(t) && !t.startsWith('json')) typed.node = arrayLiteral(v, arg.node) ?? typed.node;
  if (t === 'jsonb') typed.node = castNode(arg.node, 'json');
  if (t === 'jsonb[]' || t === 'json[]') typed.node = jsonArray(arg.node);
  if (t === 'interval' && arg.strLit && !mods.length) {
    const text = constString(arg.node) ?? '';
    typed.node = intervalLiteral(text) ?? typed.node;
    typed.ivText = text;
    // PostgreSQL reads a literal at parse analysis: bad input fails whatever the rows.
    if (typed.node === node) throw new StratumError(SqlState.invalidDatetimeFormat, `invalid input syntax for type interval: "${text}"`);
  }
  // varchar(n) truncates on an explicit cast, char(n) truncates and pads (the length is not enforced by DuckDB).
  const len = mod(0);
  if (t === 'varchar' && len > 0) typed.node = fn('left', [castNode(arg.node, 'varchar'), intConst(len)]);
  if (t === 'char' && len > 0)
    typed.node = fn('rpad', [fn('left', [castNode(arg.node, 'varchar'), intConst(len)]), intConst(len), textConst(' ')]);
  // float → integer casts round half to even in PostgreSQL (rint); DuckDB's round half away.
  if (INT_TYPES.has(t) && FLOAT_TYPES.has(arg.t))
    typed.node = castTyped({ node: fn('round_even', [arg.node, intConst(0)]), t: 'double' }, t);
  // boolean → text is 'true'/'false' in both; float → text is float8out's shortest form.
  if (TEXT_TYPES.has(t) && (FLOAT_TYPES.has(arg.t) || arg.t === 'interval')) typed.node = textOf(arg, arg.node);
  // timestamptz ↔ timestamp, date, time, text and literals read as timestamptz: in the session zone.
  const inZone = mods.length === 0 ? zoneCast(arg, t) : undefined;
  if (inZone) typed.node = inZone;
  return typed;
}

/**
 * `'{a,b}'::T[]`: PostgreSQL's array literal as `CAST(['a', 'b'] AS T[])` (DuckDB reads list text
 * as `[a, b]`, not `{a,b}`); elements are cast from text as PostgreSQL casts them. Undefined when
 * the literal is not a one-dimensional array (DuckDB's cast then reports it).
 */
function arrayLiteral(v: TypeCast, lit: Node): Node | undefined {
  const text = constString(lit);
  if (text === undefined) return undefined;
  let elements: (string | null)[];
  try {
    elements = parsePgArray(text);
  } catch {
    return undefined;
  }
  const items: Node[] = elements.map((e) => (e === null ? { A_Const: { isnull: true } } : textConst(e)));
  return { TypeCast: { ...v, arg: { A_ArrayExpr: { elements: items } } } };
}

/** CASE: its results coerced to their common type. */
export function caseExpr(rw: Rewriter, v: CaseExpr, scope: Scope): Typed {
  const arg = v.arg ? rw.expr(v.arg, scope) : undefined;
  const whens = (v.args ?? []).map((w) => {
    const cw = expectNode(w, 'CaseWhen');
    const expr = rw.expr(present(cw.expr, "a WHEN's condition"), scope);
    return { cw, expr, result: rw.expr(present(cw.result, "a WHEN's result"), scope) };
  });
  const def = v.defresult ? rw.expr(v.defresult, scope) : undefined;
  const results = [...whens.map((w) => w.result), ...(def ? [def] : [])];
  const t = common(
    results.map((r) => r.t),
    'CASE',
  );
  // A CASE with a text numeric result gives every result as numeric text (each value's own text).
  const textual = t === 'numeric' && results.some((r) => r.textNum);
  const fix = (x: Typed): Node =>
    textual ? numText(x) : t !== 'unknown' && t !== 'numeric' && (x.t !== t || x.numLit) ? coerce(x, t) : x.node;
  const node: Node = {
    CaseExpr: {
      ...v,
      ...(arg ? { arg: arg.node } : {}),
      args: whens.map((w) => ({ CaseWhen: { ...w.cw, expr: w.expr.node, result: fix(w.result) } })),
      ...(def ? { defresult: fix(def) } : {}),
    },
  };
  return textual ? { node, t, textNum: true } : { node, t };
}

/** A subquery in an expression, typed by its first output column. */
export function subLink(rw: Rewriter, v: SubLink, scope: Scope): Typed {
  const kind = String(v.subLinkType);
  const sub = rw.select(expectNode(v.subselect, 'SelectStmt'), scope, scope.ctes);
  const out: SubLink = { ...v, subselect: { SelectStmt: sub.stmt } };
  if (v.testexpr) out.testexpr = rw.expr(v.testexpr, scope).node;
  const first = sub.cols[0]?.t ?? 'unknown';
  const t: ResultType =
    kind === 'EXPR_SUBLINK'
      ? first
      : kind === 'ARRAY_SUBLINK'
        ? first === 'unknown' || isArrayType(first)
          ? 'unknown'
          : arrayOf(first)
        : 'boolean';
  return kind === 'EXPR_SUBLINK' && sub.cols[0]?.textNum ? { node: { SubLink: out }, t, textNum: true } : { node: { SubLink: out }, t };
}

/** CURRENT_DATE, LOCALTIMESTAMP and LOCALTIME: the current instant's local date and time in the session zone. */
function localValue(op: SQLValueFunctionOp | undefined): Typed | undefined {
  const z = sessionZone();
  if (!z) return undefined;
  const local = (): Node => toLocal(z, fn('now', []));
  switch (op) {
    case 'SVFOP_CURRENT_DATE':
      return { node: castNode(local(), 'date'), t: 'date' };
    case 'SVFOP_LOCALTIMESTAMP':
      return { node: local(), t: 'timestamp' };
    case 'SVFOP_LOCALTIME':
      return { node: castNode(local(), 'time'), t: 'time' };
    case 'SVFOP_LOCALTIMESTAMP_N':
    case 'SVFOP_LOCALTIME_N':
      throw zoneRefused(z, `${op === 'SVFOP_LOCALTIME_N' ? 'LOCALTIME' : 'LOCALTIMESTAMP'} with a precision`);
    default:
      return undefined;
  }
}

/** The result types of SQL value functions (CURRENT_DATE, CURRENT_USER, …). */
const SVF_TYPES: Partial<Record<SQLValueFunctionOp, ResultType>> = {
  SVFOP_CURRENT_DATE: 'date',
  SVFOP_CURRENT_TIMESTAMP: 'timestamptz',
  SVFOP_CURRENT_TIMESTAMP_N: 'timestamptz',
  SVFOP_LOCALTIMESTAMP: 'timestamp',
  SVFOP_LOCALTIMESTAMP_N: 'timestamp',
  SVFOP_LOCALTIME: 'time',
  SVFOP_LOCALTIME_N: 'time',
  SVFOP_CURRENT_ROLE: 'text',
  SVFOP_CURRENT_USER: 'text',
  SVFOP_USER: 'text',
  SVFOP_SESSION_USER: 'text',
  SVFOP_CURRENT_CATALOG: 'text',
  SVFOP_CURRENT_SCHEMA: 'text',
};

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;

/** A constant typed as PostgreSQL types it (an integer literal is int4 when it fits, a string literal unknown). */
function constType(n: Node, v: A_Const): Typed {
  if (v.isnull) return { node: n, t: 'unknown' };
  if (v.sval !== undefined) return { node: n, t: 'unknown', strLit: true };
  if (v.boolval !== undefined) return { node: n, t: 'boolean' };
  if (v.fval !== undefined) {
    const text = String(v.fval.fval ?? '');
    if (/^-?\d+$/.test(text)) {
      const b = BigInt(text);
      if (b >= -(2n ** 63n) && b < 2n ** 63n) return { node: n, t: 'bigint', numLit: true };
    }
    // A numeric literal with an exponent (1e3) is numeric in PostgreSQL, DOUBLE in DuckDB.
    if (/e/i.test(text)) {
      const plain = plainDecimal(text);
      const scale = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
      return { node: castNode({ A_Const: { ...v, fval: { fval: plain } } }, 'decimal', [38, scale]), t: 'numeric', numLit: true };
    }
    return { node: n, t: 'numeric', numLit: true };
  }
  if (v.bsval !== undefined) return { node: n, t: 'unknown' };
  const i = Number(v.ival?.ival ?? 0);
  return { node: n, t: i >= INT4_MIN && i <= INT4_MAX ? 'integer' : 'bigint', numLit: true };
}

/** `1.5e3` as `1500`, `1e-3` as `0.001` (numeric_in keeps the digits, scale max(0, digits − exponent)). */
function plainDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?e([+-]?\d+)$/i.exec(text);
  if (!m) return text;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  const exp = Number(m[4]);
  const digits = int + frac;
  let point = int.length + exp;
  let ds = digits;
  if (point < 0) {
    ds = '0'.repeat(-point) + ds;
    point = 0;
  }
  if (point > ds.length) ds += '0'.repeat(point - ds.length);
  const ip = ds.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const fp = ds.slice(point);
  return `${m[1] === '-' ? '-' : ''}${ip}${fp ? `.${fp}` : ''}`;
}
