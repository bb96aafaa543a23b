/**
 * SELECT statements: WITH (recursive CTEs checked as PostgreSQL does), set operations, VALUES,
 * and a query level's FROM, target list, clauses and ORDER BY, with the output columns' types.
 */
import type { CommonTableExpr, Node, SelectStmt, WithClause } from '@pgsql/types';
import type { ResultType } from '@stratum/shared';
import { expectNode, listItems, nodeOf, present } from '../../analyze/ast.ts';
import { figureColname } from '../../analyze/colname.ts';
import { fromItem } from './from.ts';
import { constInt, str } from './nodes.ts';
import { castLiteralColumn, MARKED_OUTPUT, markOutput, plainFrom, renameCols, sortKey } from './output.ts';
import { checkRecursion, hasAggregateCall, refersTo } from './recursion.ts';
import { type Columns, common, type Rewriter, type Scope, type Selected, type Typed } from './types.ts';
import { rewriteChildren, rewriteWithin } from './untyped.ts';

/**
 * Rewrite a SelectStmt; returns its new fields and its output columns. In the statement's
 * outermost SELECT (`root`), numeric quotients are returned with PostgreSQL's result scale
 * (numeric_div's select_div_scale, which depends on the values): `pg_ndiv_out` gives DuckDB a
 * STRUCT of the value (ordering) and PostgreSQL's text, which result conversion reads as numeric.
 * Inner quotients are DECIMAL(38,16). `cteNames`: the CTEs visible here (else `outer`'s).
 * @throws StratumError 42P19 (or 0A000) for a recursive CTE PostgreSQL refuses; the errors of
 *   {@link Rewriter.expr} for its expressions.
 */
export function select(rw: Rewriter, s: SelectStmt, outer: Scope | undefined, cteNames?: Map<string, Columns>, root = false): Selected {
  const ctes = new Map(cteNames ?? outer?.ctes ?? []);
  const stmt: SelectStmt = s.withClause ? { ...s, withClause: withClause(rw, s.withClause, outer, ctes) } : { ...s };
  if (s.op && s.op !== 'SETOP_NONE') return setOperation(rw, stmt, { entries: [], outer, ctes });
  if (s.valuesLists) return values(rw, stmt, { entries: [], outer, ctes });
  return queryLevel(rw, stmt, { entries: [], outer, ctes }, root);
}

/** A WITH clause: each CTE rewritten in turn, its columns added to `ctes` for the CTEs after it and the query. */
function withClause(rw: Rewriter, w: WithClause, outer: Scope | undefined, ctes: Map<string, Columns>): WithClause {
  const list = (w.ctes ?? []).map((c): Node => {
    const cte = expectNode(c, 'CommonTableExpr');
    const name = String(cte.ctename);
    if (w.recursive) checkRecursion(cte, name);
    const { node, cols } = cteQuery(rw, cte, name, w.recursive === true, outer, ctes);
    ctes.set(name, cols);
    return { CommonTableExpr: { ...cte, ctequery: node } };
  });
  return { ...w, ctes: list };
}

/** A CTE's query rewritten, and its columns; a recursive one sees its own columns (its non-recursive term's) in its recursive term. */
function cteQuery(
  rw: Rewriter,
  cte: CommonTableExpr,
  name: string,
  recursive: boolean,
  outer: Scope | undefined,
  ctes: Map<string, Columns>,
): { node: Node; cols: Columns } {
  const q = nodeOf(cte.ctequery, 'SelectStmt');
  if (recursive && q && q.op !== 'SETOP_NONE' && refersTo(q.rarg, name)) {
    // Type the non-recursive term first, then the recursive one with the CTE in scope.
    const l = rw.select(present(q.larg, 'the non-recursive term'), outer, ctes);
    const cols = renameCols(l.cols, cte.aliascolnames);
    ctes.set(name, cols);
    const r = rw.select(present(q.rarg, 'the recursive term'), outer, ctes);
    return { node: { SelectStmt: { ...q, larg: l.stmt, rarg: r.stmt } }, cols };
  }
  if (q) {
    const r = rw.select(q, outer, ctes);
    return { node: { SelectStmt: r.stmt }, cols: renameCols(r.cols, cte.aliascolnames) };
  }
  // A data-modifying statement: its expressions rewritten, its columns not known here.
  return { node: rewriteChildren(rw, present(cte.ctequery, `the query of CTE ${name}`), { entries: [], outer, ctes }), cols: [] };
}

/**
 * UNION, INTERSECT, EXCEPT: each column of the common type of the arms' (select_common_type), a
 * string literal in one arm taking the other arm's type; ORDER BY over the output columns.
 */
function setOperation(rw: Rewriter, s: SelectStmt, scope: Scope): Selected {
  const { outer, ctes } = scope;
  const l = rw.select(present(s.larg, 'the left arm of a set operation'), outer, ctes);
  const r = rw.select(present(s.rarg, 'the right arm of a set operation'), outer, ctes);
  let { stmt: larg } = l;
  let { stmt: rarg } = r;
  const what = s.op === 'SETOP_UNION' ? 'UNION' : s.op === 'SETOP_INTERSECT' ? 'INTERSECT' : 'EXCEPT';
  const cols: Columns = l.cols.map((c, i) => {
    const rt = r.cols[i]?.t ?? 'unknown';
    let t: ResultType = 'unknown';
    if (c.t !== 'unknown' && rt !== 'unknown') t = common([c.t, rt], what);
    else if (c.t !== 'unknown' || rt !== 'unknown') {
      // A string literal in one arm takes the other arm's type (select_common_type).
      t = c.t !== 'unknown' ? c.t : rt;
      if (c.t === 'unknown') larg = castLiteralColumn(larg, i, t);
      else rarg = castLiteralColumn(rarg, i, t);
    }
    // DuckDB unites text numerics with DECIMALs as text (a DECIMAL's text has its scale, as numeric's).
    return t === 'numeric' && (c.textNum || r.cols[i]?.textNum) ? { name: c.name, t, textNum: true as const } : { name: c.name, t };
  });
  const stmt: SelectStmt = { ...s, larg, rarg };
  const outputs: Scope = { entries: [{ alias: '', cols }], outer, ctes };
  if (s.sortClause) stmt.sortClause = rewriteWithin(rw, s.sortClause, outputs);
  return { stmt, cols };
}

/** VALUES: each column of the common type of its rows' values (unknown when one is unknown). */
function values(rw: Rewriter, s: SelectStmt, scope: Scope): Selected {
  const rows = (s.valuesLists ?? []).map((row) => (listItems(row) ?? []).map((e) => rw.expr(e, scope)));
  const stmt: SelectStmt = { ...s, valuesLists: rows.map((r) => ({ List: { items: r.map((x) => x.node) } })) };
  const n = rows[0]?.length ?? 0;
  const cols: Columns = [];
  for (let i = 0; i < n; i++) {
    const types = rows.map((r) => r[i]?.t ?? 'unknown');
    cols.push({ name: `column${i + 1}`, t: types.every((x) => x !== 'unknown') ? common(types, 'VALUES') : 'unknown' });
  }
  return { stmt, cols };
}

/** One query level: FROM (its columns into `scope`), the target list, the clauses, ORDER BY. */
function queryLevel(rw: Rewriter, s: SelectStmt, scope: Scope, root: boolean): Selected {
  const stmt: SelectStmt = { ...s };
  if (s.fromClause) stmt.fromClause = s.fromClause.map((f) => fromItem(rw, f, scope));
  const { targets, cols, outs } = targetList(rw, s, scope, root);
  if (s.targetList) stmt.targetList = targets;
  // GROUP BY and ORDER BY may name output columns.
  const withOutputs: Scope = { entries: [...scope.entries, { alias: '', cols }], outer: scope.outer, ctes: scope.ctes };
  if (s.whereClause) stmt.whereClause = rw.expr(s.whereClause, scope).node;
  if (s.havingClause) stmt.havingClause = rw.expr(s.havingClause, scope).node;
  if (s.groupClause) stmt.groupClause = rewriteWithin(rw, s.groupClause, withOutputs);
  if (s.distinctClause) stmt.distinctClause = rewriteWithin(rw, s.distinctClause, scope);
  if (s.windowClause) stmt.windowClause = rewriteWithin(rw, s.windowClause, scope);
  if (s.sortClause) stmt.sortClause = s.sortClause.map((x) => sortBy(rw, x, withOutputs, cols, outs, root));
  if (s.limitCount) stmt.limitCount = rw.expr(s.limitCount, scope).node;
  if (s.limitOffset) stmt.limitOffset = rw.expr(s.limitOffset, scope).node;
  return { stmt, cols };
}

/**
 * The target list rewritten (`targets`), its output columns, and the typed output expressions
 * (`outs`, undefined for a column of `*`) as ORDER BY may name them. In the outermost SELECT,
 * outputs are marked for result conversion ({@link markOutput}), and `*` over plain relations is
 * spelled out when a column needs its PostgreSQL type marked, as PostgreSQL expands it.
 */
function targetList(
  rw: Rewriter,
  s: SelectStmt,
  scope: Scope,
  root: boolean,
): { targets: Node[]; cols: Columns; outs: (Typed | undefined)[] } {
  const targets: Node[] = [];
  const cols: Columns = [];
  const outs: (Typed | undefined)[] = [];
  // A quotient that is also a GROUP BY expression must stay as grouped (DuckDB matches them by shape).
  const groupedExpr = (s.groupClause ?? []).some((g) => !nodeOf(g, 'ColumnRef') && !nodeOf(g, 'A_Const'));
  for (const t of s.targetList ?? []) {
    const rt = expectNode(t, 'ResTarget');
    const val = present(rt.val, "a target's value");
    const fields = nodeOf(val, 'ColumnRef')?.fields ?? [];
    if (fields.some((f) => nodeOf(f, 'A_Star'))) {
      const rel = fields.length > 1 ? String(nodeOf(fields[fields.length - 2], 'String')?.sval) : undefined;
      const entries = scope.entries.filter((e) => rel === undefined || e.alias === rel);
      for (const e of entries) cols.push(...e.cols);
      for (const e of entries) outs.push(...e.cols.map(() => undefined));
      const spelled =
        root &&
        (s.fromClause ?? []).every(plainFrom) &&
        entries.every((e) => e.cols.length > 0 && e.alias) &&
        entries.some((e) => e.cols.some((c) => MARKED_OUTPUT[c.t] || c.textNum));
      if (!spelled) {
        targets.push(t);
        continue;
      }
      for (const e of entries) {
        for (const c of e.cols) {
          const ref: Node = { ColumnRef: { fields: [str(e.alias), str(c.name)] } };
          const node = markOutput({ node: ref, t: c.t, ...(c.textNum ? { textNum: true as const } : {}) }, false) ?? ref;
          targets.push({ ResTarget: { name: c.name, val: node } });
        }
      }
      continue;
    }
    const x = rw.expr(val, scope);
    outs.push(x);
    const marked = root ? markOutput(x, groupedExpr && !hasAggregateCall(val)) : undefined;
    const name = rt.name ? String(rt.name) : figureColname(val);
    cols.push({
      name,
      t: x.t,
      ...(x.typmod === undefined ? {} : { typmod: x.typmod }),
      ...(x.textNum && !marked ? { textNum: true as const } : {}),
    });
    const out = marked ?? x.node;
    // A rewritten expression keeps the output name PostgreSQL gives the original.
    const named = out !== val && !rt.name && name !== '?column?';
    targets.push({ ResTarget: { ...rt, val: out, ...(named ? { name } : {}) } });
  }
  return { targets, cols, outs };
}

/**
 * An ORDER BY item. Text numerics sort by their numeric-order key and char(n) values without
 * their trailing spaces (bpcharcmp). An output column named or numbered is the outermost
 * SELECT's marked output (its STRUCT sorts by its first field, the key), or elsewhere its
 * expression.
 */
function sortBy(rw: Rewriter, x: Node, scope: Scope, cols: Columns, outs: (Typed | undefined)[], root: boolean): Node {
  const sb = nodeOf(x, 'SortBy');
  if (!sb) return rewriteWithin(rw, x, scope);
  const target = present(sb.node, 'the expression of an ORDER BY item');
  const fields = nodeOf(target, 'ColumnRef')?.fields ?? [];
  const pos = nodeOf(target, 'A_Const') ? constInt(target) : undefined;
  const named = fields.length === 1 ? nodeOf(fields[0], 'String') : undefined;
  const i = named ? cols.findIndex((c) => c.name === String(named.sval)) : pos !== undefined ? pos - 1 : -1;
  if (i >= 0 && i < cols.length) {
    const e = outs[i];
    const k = root || !e ? undefined : sortKey(e);
    return k ? { SortBy: { ...sb, node: k } } : rewriteWithin(rw, x, scope);
  }
  const e = rw.expr(target, scope);
  return { SortBy: { ...sb, node: sortKey(e) ?? e.node } };
}
