/**
 * Operators (A_Expr): resolved over PostgreSQL's pg_operator for the operands' types, the
 * operands cast to the operator's argument types, and replaced where DuckDB's operator means
 * something else (integer division, regular expressions, jsonb, numeric scales, …).
 */
import { isArrayType, type ResultType, resolveOperatorDetail, type Signature, SqlState, StratumError } from '@stratum/shared';
import { coerce, numKey, numText, scaleOf } from './coerce.ts';
import { jsonPath } from './fn-json-array.ts';
import { generic } from './generic.ts';
import { argIsLiteral, castNode, castTyped, duckTypeOf, fn, isUntypedParam, opName, str, textConst } from './nodes.ts';
import { displayName, FLOAT_TYPES, INT_TYPES, type Node, type Rewriter, type Scope, TEXT_TYPES, type Typed } from './types.ts';

/** Regular-expression match operators: [negated, DuckDB options]. */
const REGEX_OPS: Record<string, [boolean, string]> = { '~': [false, ''], '~*': [false, 'i'], '!~': [true, ''], '!~*': [true, 'i'] };

/** Comparison operators. */
const COMPARISON_OPS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/**
 * PostgreSQL's display scale of a numeric operator's result (numeric.c: add_var and sub_var keep
 * the larger scale, mul_var adds them, mod_var keeps the larger), or undefined for other operators.
 */
function resultScale(op: string, args: Typed[], nodes: Node[]): Node | undefined {
  const sc = args.map((a, i) => scaleOf(a, nodes[i] as Node));
  if (sc.length === 1) return op === '-' || op === '+' ? sc[0] : undefined;
  const [x, y] = sc as [Node, Node];
  if (op === '+' || op === '-' || op === '%') return { MinMaxExpr: { op: 'IS_GREATEST', args: [x, y] } };
  if (op === '*') return { A_Expr: { kind: 'AEXPR_OP', name: [str('+')], lexpr: x, rexpr: y } };
  return undefined;
}

/**
 * An operator expression (A_Expr): typed by the operator PostgreSQL resolves for its operands'
 * types (pg_operator), the operands cast to its argument types.
 * @throws StratumError 42883 when PostgreSQL has no such operator for the operands' types.
 */
export function aExpr(rw: Rewriter, v: Node, scope: Scope): Typed {
  const kind = String(v.kind);
  if (kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') {
    // x op ANY (array): NULL for a NULL array (DuckDB answers false / true).
    const out = generic(rw, { A_Expr: v }, scope);
    const arr = out.A_Expr.rexpr as Node;
    if (arr.SubLink) return { node: out, t: 'boolean' };
    return {
      node: {
        CaseExpr: {
          args: [{ CaseWhen: { expr: { NullTest: { arg: arr, nulltesttype: 'IS_NULL' } }, result: { A_Const: { isnull: true } } } }],
          defresult: out,
        },
      },
      t: 'boolean',
    };
  }
  if ((kind === 'AEXPR_IN' || kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN') && v.rexpr?.List) {
    const ordered = orderedList(rw, v, scope);
    if (ordered) return { node: ordered, t: 'boolean' };
  }
  if (kind !== 'AEXPR_OP') {
    const out = generic(rw, { A_Expr: v }, scope);
    const t: ResultType = kind === 'AEXPR_NULLIF' ? rw.expr(v.lexpr as Node, scope).t : 'boolean';
    return { node: out, t };
  }
  const op = opName(v);
  const l = v.lexpr ? rw.expr(v.lexpr as Node, scope) : undefined;
  const r = rw.expr(v.rexpr as Node, scope);
  const args = l ? [l, r] : [r];
  const types = args.map((a) => a.t);
  const keep: Typed = { node: { A_Expr: { ...v, ...(l ? { lexpr: l.node } : {}), rexpr: r.node } }, t: 'unknown' };
  // A parameter compared with a text numeric is a numeric (PostgreSQL infers its type so): by key.
  if (l && COMPARISON_OPS.has(op) && args.some((a) => a.textNum && a.t === 'numeric') && args.some((a) => a.node.ParamRef))
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
  const nodes = args.map((a, i) => {
    const want = sig.args[i] ?? 'unknown';
    // DuckDB cannot type a parameter from an arithmetic operator: cast it to the operand type PostgreSQL chose.
    if (isUntypedParam(a) && want !== 'unknown' && want !== 'numeric' && duckTypeOf(want)) return castTyped(a, want);
    return coerce(a, want);
  });
  const [a0, a1] = sig.args;
  if (l && COMPARISON_OPS.has(op)) {
    // numeric_cmp of text numerics: by their numeric-order keys (exact at any precision).
    if (a0 === 'numeric' && a1 === 'numeric' && args.some((a) => a.textNum))
      return { node: { A_Expr: { ...v, lexpr: numKey(numText(l)), rexpr: numKey(numText(r)) } }, t: 'boolean' };
    // bpchareq, bpcharlt, …: trailing spaces do not count (bpcharcmp compares the trimmed strings).
    if (a0 === 'char' && a1 === 'char')
      return { node: { A_Expr: { ...v, lexpr: fn('rtrim', [nodes[0] as Node]), rexpr: fn('rtrim', [nodes[1] as Node]) } }, t: 'boolean' };
  }
  const special = operator(op, nodes, sig, args);
  const scaled = a0 === 'numeric' && sig.t === 'numeric' && args.some((a) => a.textNum || a.scale);
  if (special) {
    if (scaled && special.div)
      special.divScales = [scaleOf(args[0] as Typed, nodes[0] as Node), scaleOf(args[1] as Typed, nodes[1] as Node)];
    else if (scaled) {
      const scale = resultScale(op, args, nodes);
      if (scale) special.scale = scale;
    }
    return special;
  }
  const node: Node = { A_Expr: { ...v, ...(l ? { lexpr: nodes[0] } : {}), rexpr: nodes[nodes.length - 1] } };
  const out: Typed = { node, t: sig.t };
  const scale = scaled ? resultScale(op, args, nodes) : undefined;
  if (scale) out.scale = scale;
  return out;
}

/**
 * `x [NOT] IN (list)` and `x [NOT] BETWEEN a AND b` over text numerics (by numeric-order keys)
 * or char(n) values (trailing spaces trimmed); undefined for other types (left to DuckDB).
 */
function orderedList(rw: Rewriter, v: Node, scope: Scope): Node | undefined {
  const l = rw.expr(v.lexpr as Node, scope);
  const items = ((v.rexpr.List.items ?? []) as Node[]).map((i) => rw.expr(i, scope));
  const all = [l, ...items];
  let f: ((x: Typed) => Node) | undefined;
  if (
    all.some((x) => x.textNum && x.t === 'numeric') &&
    all.every((x) => x.t === 'numeric' || INT_TYPES.has(x.t) || argIsLiteral(x) || x.node.ParamRef)
  )
    f = (x) => numKey(numText(x));
  else if (all.some((x) => x.t === 'char') && all.every((x) => x.t === 'char' || argIsLiteral(x))) f = (x) => fn('rtrim', [x.node]);
  if (!f) return undefined;
  return { A_Expr: { ...v, lexpr: f(l), rexpr: { List: { items: items.map(f) } } } };
}

/** Operators whose DuckDB meaning differs (after the operands were cast to `sig.args`). */
function operator(op: string, nodes: Node[], sig: Signature, args: Typed[]): Typed | undefined {
  const [a0, a1] = sig.args;
  if (nodes.length === 2 && (op === '/' || op === '%')) {
    const [x, y] = nodes as [Node, Node];
    if (INT_TYPES.has(a0 as ResultType) && INT_TYPES.has(a1 as ResultType))
      return { node: fn(op === '/' ? 'pg_idiv' : 'pg_imod', [x, y]), t: sig.t };
    if (a0 === 'numeric' && a1 === 'numeric') {
      return op === '/' ? { node: fn('pg_ndiv', [x, y]), t: sig.t, div: [x, y] } : { node: fn('pg_nmod', [x, y]), t: sig.t };
    }
    if (op === '/' && FLOAT_TYPES.has(a0 as ResultType) && FLOAT_TYPES.has(a1 as ResultType))
      return { node: fn('pg_fdiv', [x, y]), t: sig.t };
    if (op === '/' && a0 === 'interval') return { node: fn('pg_ivdiv', [x, y]), t: sig.t };
  }
  if (REGEX_OPS[op] && sig.t === 'boolean' && nodes.length === 2 && TEXT_TYPES.has(a0 as ResultType)) {
    // PostgreSQL's ~ finds a match anywhere; DuckDB's ~ must match the whole string.
    const [negate, flags] = REGEX_OPS[op] as [boolean, string];
    const call = fn('regexp_matches', flags ? [...nodes, textConst(flags)] : nodes);
    return { node: negate ? { BoolExpr: { boolop: 'NOT_EXPR', args: [call] } } : call, t: 'boolean' };
  }
  if (op === '||' && nodes.length === 2 && (isArrayType(a0 as ResultType) || isArrayType(a1 as ResultType))) {
    // array || element, element || array, array || array (array_append / array_prepend / array_cat).
    const name =
      isArrayType(a0 as ResultType) && isArrayType(a1 as ResultType)
        ? 'pg_array_cat'
        : isArrayType(a0 as ResultType)
          ? 'list_append'
          : 'list_prepend';
    return { node: fn(name, nodes), t: sig.t };
  }
  if (a0 === 'jsonb' && nodes.length === 2) {
    const [j, k] = nodes as [Node, Node];
    switch (op) {
      case '?':
        return { node: fn('pg_jsonb_exists', [j, k]), t: sig.t };
      case '||':
        return { node: fn('pg_jsonb_concat', [j, k]), t: sig.t };
      case '-':
        return a1 === 'text' ? { node: fn('pg_jsonb_delete', [j, k]), t: sig.t } : undefined;
      case '?|':
        return { node: fn('pg_jsonb_exists_any', [j, k]), t: sig.t };
      case '?&':
        return { node: fn('pg_jsonb_exists_all', [j, k]), t: sig.t };
      case '@>':
        return { node: fn('json_contains', [j, k]), t: sig.t };
      case '<@':
        return { node: fn('json_contains', [k, j]), t: sig.t };
      case '#>':
      case '#>>': {
        const path = jsonPath(k);
        if (!path) return undefined;
        return { node: fn(op === '#>' ? 'json_extract' : 'json_extract_string', [j, textConst(path)]), t: sig.t };
      }
    }
  }
  if (op === '-' && a0 === 'date' && a1 === 'date') {
    return { node: castNode({ A_Expr: { kind: 'AEXPR_OP', name: [str('-')], lexpr: nodes[0], rexpr: nodes[1] } }, 'integer'), t: sig.t };
  }
  if (op === '*' && a0 === 'numeric' && a1 === 'numeric' && nodes.length === 2) {
    // DuckDB multiplies DECIMALs of precision ≤ 18 in 64 bits and overflows where numeric does not.
    return { node: fn('pg_nmul', nodes), t: sig.t };
  }
  if (op === '||' && sig.t === 'text' && nodes.length === 2) {
    // anytextcat/textanycat cast the non-text side to text (coerce did); DuckDB types `x || NULL` as INTEGER.
    // A numeric's text is its own (a text numeric's, or one with a display scale of its own).
    const side = (i: number): Node => {
      const a = args[i] as Typed;
      return a.t === 'numeric' && (a.textNum || a.scale) ? numText(a) : (nodes[i] as Node);
    };
    return {
      node: castNode({ A_Expr: { kind: 'AEXPR_OP', name: [str('||')], lexpr: side(0), rexpr: side(1) } }, 'varchar'),
      t: 'text',
    };
  }
  return undefined;
}
