/**
 * SELECT statements: WITH (recursive CTEs checked as PostgreSQL does), set operations, VALUES,
 * and a query level's FROM, target list, clauses and ORDER BY, with the output columns' types.
 */
import { commonType, type ResultType } from '@stratum/shared';
import { fromItem } from './from.ts';
import { generic, genericValue } from './generic.ts';
import { constInt, str } from './nodes.ts';
import { castLiteralColumn, figureColname, MARKED_OUTPUT, markOutput, plainFrom, renameCols, sortKey } from './output.ts';
import { checkRecursion, hasAggregateCall, refersTo } from './recursion.ts';
import type { Columns, Node, Rewriter, Scope, Selected, Typed } from './types.ts';

/**
 * Rewrite a SelectStmt; returns the new node and its output columns. In the statement's
 * outermost SELECT (`root`), numeric quotients are returned with PostgreSQL's result scale
 * (numeric_div's select_div_scale, which depends on the values): `pg_ndiv_out` gives DuckDB a
 * STRUCT of the value (ordering) and PostgreSQL's text, which result conversion reads as numeric.
 * Inner quotients are DECIMAL(38,16).
 */
export function select(rw: Rewriter, s: Node, outer: Scope | undefined, cteNames?: Map<string, Columns>, root = false): Selected {
  const ctes = new Map(cteNames ?? outer?.ctes ?? []);
  const out: Node = { ...s };
  if (s.withClause) {
    const w = s.withClause as Node;
    const list: Node[] = [];
    for (const c of (w.ctes ?? []) as Node[]) {
      const cte = c.CommonTableExpr as Node;
      const name = String(cte.ctename);
      if (w.recursive) checkRecursion(cte, name);
      const q = cte.ctequery as Node;
      let cols: Columns;
      let node: Node;
      if (w.recursive && q.SelectStmt && q.SelectStmt.op !== 'SETOP_NONE' && refersTo(q.SelectStmt.rarg, name)) {
        // Type the non-recursive term first, then the recursive one with the CTE in scope.
        const sel = q.SelectStmt as Node;
        const l = rw.select(sel.larg as Node, outer, ctes);
        cols = renameCols(l.cols, cte.aliascolnames as Node[] | undefined);
        ctes.set(name, cols);
        const r = rw.select(sel.rarg as Node, outer, ctes);
        node = { SelectStmt: { ...sel, larg: l.node.SelectStmt, rarg: r.node.SelectStmt } };
      } else if (q.SelectStmt) {
        const r = rw.select(q.SelectStmt as Node, outer, ctes);
        cols = renameCols(r.cols, cte.aliascolnames as Node[] | undefined);
        node = r.node;
      } else {
        node = generic(rw, q, { entries: [], outer, ctes });
        cols = [];
      }
      ctes.set(name, cols);
      list.push({ CommonTableExpr: { ...cte, ctequery: node } });
    }
    out.withClause = { ...w, ctes: list };
  }
  if (s.op && s.op !== 'SETOP_NONE') {
    const l = rw.select(s.larg as Node, outer, ctes);
    const r = rw.select(s.rarg as Node, outer, ctes);
    out.larg = l.node.SelectStmt;
    out.rarg = r.node.SelectStmt;
    const cols: Columns = l.cols.map((c, i) => {
      const rt = r.cols[i]?.t ?? 'unknown';
      let t: ResultType = 'unknown';
      if (c.t !== 'unknown' && rt !== 'unknown') {
        try {
          t = commonType([c.t, rt], s.op === 'SETOP_UNION' ? 'UNION' : s.op === 'SETOP_INTERSECT' ? 'INTERSECT' : 'EXCEPT');
        } catch {
          t = 'unknown';
        }
      } else if (c.t !== 'unknown' || rt !== 'unknown') {
        // A string literal in one arm takes the other arm's type (select_common_type).
        t = c.t !== 'unknown' ? c.t : rt;
        castLiteralColumn(c.t === 'unknown' ? (out.larg as Node) : (out.rarg as Node), i, t);
      }
      // DuckDB unites text numerics with DECIMALs as text (a DECIMAL's text has its scale, as numeric's).
      return t === 'numeric' && (c.textNum || r.cols[i]?.textNum) ? { name: c.name, t, textNum: true as const } : { name: c.name, t };
    });
    const scope: Scope = { entries: [{ alias: '', cols }], outer, ctes };
    if (s.sortClause) out.sortClause = (s.sortClause as Node[]).map((x) => genericValue(rw, x, scope));
    return { node: { SelectStmt: out }, cols };
  }
  if (s.valuesLists) {
    const rows = (s.valuesLists as Node[]).map((row) =>
      ((row.List?.items ?? []) as Node[]).map((e) => rw.expr(e, { entries: [], outer, ctes })),
    );
    out.valuesLists = rows.map((r) => ({ List: { items: r.map((x) => x.node) } }));
    const n = rows[0]?.length ?? 0;
    const cols: Columns = [];
    for (let i = 0; i < n; i++) {
      const types = rows.map((r) => r[i]?.t ?? 'unknown');
      let t: ResultType = 'unknown';
      if (types.every((x) => x !== 'unknown')) {
        try {
          t = commonType(types, 'VALUES');
        } catch {
          t = 'unknown';
        }
      }
      cols.push({ name: `column${i + 1}`, t });
    }
    return { node: { SelectStmt: out }, cols };
  }
  const scope: Scope = { entries: [], outer, ctes };
  if (s.fromClause) out.fromClause = (s.fromClause as Node[]).map((f) => fromItem(rw, f, scope));
  const cols: Columns = [];
  /** The typed output expressions (undefined for `*`), as ORDER BY may name them. */
  const outs: (Typed | undefined)[] = [];
  if (s.targetList) {
    const targets: Node[] = [];
    for (const t of s.targetList as Node[]) {
      const rt = t.ResTarget as Node;
      const val = rt.val as Node;
      if (val.ColumnRef && ((val.ColumnRef.fields ?? []) as Node[]).some((f) => f.A_Star)) {
        const fields = val.ColumnRef.fields as Node[];
        const rel = fields.length > 1 ? String(fields[fields.length - 2]?.String?.sval) : undefined;
        const entries = scope.entries.filter((e) => rel === undefined || e.alias === rel);
        for (const e of entries) cols.push(...e.cols);
        for (const e of entries) for (const _ of e.cols) outs.push(undefined);
        // In the outermost SELECT, `*` over plain relations is spelled out when a column needs
        // its PostgreSQL type marked (varchar, char, jsonb), as PostgreSQL expands it.
        const plain = ((s.fromClause ?? []) as Node[]).every(plainFrom);
        if (
          root &&
          plain &&
          entries.every((e) => e.cols.length > 0 && e.alias) &&
          entries.some((e) => e.cols.some((c) => MARKED_OUTPUT[c.t] || c.textNum))
        ) {
          for (const e of entries) {
            for (const c of e.cols) {
              const ref: Node = { ColumnRef: { fields: [str(e.alias), str(c.name)] } };
              const node = markOutput({ node: ref, t: c.t, ...(c.textNum ? { textNum: true as const } : {}) }, false) ?? ref;
              targets.push({ ResTarget: { name: c.name, val: node } });
            }
          }
          continue;
        }
        targets.push(t);
        continue;
      }
      const x = rw.expr(val, scope);
      outs.push(x);
      // A quotient that is also a GROUP BY expression must stay as grouped (DuckDB matches them by shape).
      const groupedExpr = ((s.groupClause ?? []) as Node[]).some((g) => !g.ColumnRef && !g.A_Const);
      const marked = root ? markOutput(x, groupedExpr && !hasAggregateCall(val)) : undefined;
      const name = rt.name ? String(rt.name) : figureColname(val);
      cols.push({
        name,
        t: x.t,
        ...(x.typmod === undefined ? {} : { typmod: x.typmod }),
        ...(x.textNum && !marked ? { textNum: true as const } : {}),
      });
      const nrt: Node = { ...rt, val: marked ?? x.node };
      if (nrt.val !== val && !rt.name && name !== '?column?') nrt.name = name;
      targets.push({ ResTarget: nrt });
    }
    out.targetList = targets;
  }
  const withOutputs: Scope = { entries: [...scope.entries, { alias: '', cols }], outer, ctes };
  for (const k of ['whereClause', 'havingClause'] as const) if (s[k]) out[k] = rw.expr(s[k] as Node, scope).node;
  for (const k of ['groupClause', 'distinctClause', 'windowClause'] as const) {
    if (s[k]) out[k] = (s[k] as Node[]).map((x) => genericValue(rw, x, k === 'groupClause' ? withOutputs : scope));
  }
  if (s.sortClause) out.sortClause = (s.sortClause as Node[]).map((x) => sortBy(rw, x, withOutputs, cols, outs, root));
  for (const k of ['limitCount', 'limitOffset'] as const) if (s[k]) out[k] = rw.expr(s[k] as Node, scope).node;
  return { node: { SelectStmt: out }, cols };
}

/**
 * An ORDER BY item. Text numerics sort by their numeric-order key and char(n) values without
 * their trailing spaces (bpcharcmp). An output column named or numbered is the outermost
 * SELECT's marked output (its STRUCT sorts by its first field, the key), or elsewhere its
 * expression.
 */
function sortBy(rw: Rewriter, x: Node, scope: Scope, cols: Columns, outs: (Typed | undefined)[], root: boolean): Node {
  const sb = x.SortBy as Node | undefined;
  if (!sb) return genericValue(rw, x, scope) as Node;
  const target = sb.node as Node;
  const fields = (target.ColumnRef?.fields ?? []) as Node[];
  const pos = target.A_Const ? constInt(target) : undefined;
  const i =
    fields.length === 1 && fields[0]?.String
      ? cols.findIndex((c) => c.name === String(fields[0]?.String?.sval))
      : pos !== undefined
        ? pos - 1
        : -1;
  if (i >= 0 && i < cols.length) {
    const e = outs[i];
    const k = root || !e ? undefined : sortKey(e);
    return k ? { SortBy: { ...sb, node: k } } : (genericValue(rw, x, scope) as Node);
  }
  const e = rw.expr(target, scope);
  return { SortBy: { ...sb, node: sortKey(e) ?? e.node } };
}
