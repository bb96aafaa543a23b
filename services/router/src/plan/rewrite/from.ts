/**
 * FROM items: tables (by the catalog), CTEs, subqueries, joins and functions, rewritten and
 * their columns added to the scope the query level's expressions are typed in.
 */
import type { Catalog } from '@stratum/shared';
import { call } from './call.ts';
import { isTextNumeric } from './coerce.ts';
import { generic } from './generic.ts';
import { fn, funcName, jsonArray, str } from './nodes.ts';
import { renameCols } from './output.ts';
import type { Columns, Node, Rewriter, Scope } from './types.ts';

/** FROM-clause functions of jsonb, as DuckDB's json_each / unnest (their columns as PostgreSQL names them). */
const FROM_FUNCTIONS: Record<string, { cols: Columns; node: (args: Node[]) => Node; unnest?: true }> = {
  jsonb_each: {
    cols: [
      { name: 'key', t: 'text' },
      { name: 'value', t: 'jsonb' },
    ],
    node: (a) => fn('json_each', a),
  },
  json_each: {
    cols: [
      { name: 'key', t: 'text' },
      { name: 'value', t: 'json' },
    ],
    node: (a) => fn('json_each', a),
  },
  jsonb_array_elements: { cols: [{ name: 'value', t: 'jsonb' }], node: (a) => fn('unnest', [jsonArray(a[0] as Node)]), unnest: true },
  json_array_elements: { cols: [{ name: 'value', t: 'json' }], node: (a) => fn('unnest', [jsonArray(a[0] as Node)]), unnest: true },
};

/** System columns of `<table>__history` views (DESIGN §5). */
const HISTORY_COLUMNS: Columns = [
  { name: '_ts', t: 'timestamp' },
  { name: '_version', t: 'uuid' },
  { name: '_op', t: 'text' },
  { name: '_engine', t: 'text' },
];

/** The visible columns of table `name` (none when the catalog has no such table). */
export function tableColumns(catalog: Catalog, name: string): Columns {
  const t = catalog.find(name);
  if (!t) return [];
  return t.columns
    .filter((c) => !c.hidden)
    .map((c) => ({
      name: c.name,
      t: c.type,
      ...(c.typmod === undefined ? {} : { typmod: c.typmod }),
      ...(isTextNumeric(c.type, c.typmod) ? { textNum: true as const } : {}),
    }));
}

/** A FROM item: rewritten, and its columns added to `scope`. */
export function fromItem(rw: Rewriter, f: Node, scope: Scope): Node {
  if (f.RangeVar) {
    const rv = f.RangeVar as Node;
    const name = String(rv.relname);
    const alias = rv.alias?.aliasname ? String(rv.alias.aliasname) : name;
    let cols: Columns = [];
    const cte = !rv.schemaname ? scope.ctes.get(name) : undefined;
    if (cte) cols = cte;
    else {
      const hist = name.endsWith('__history') ? name.slice(0, -'__history'.length) : undefined;
      cols = tableColumns(rw.catalog, hist ?? name);
      if (hist && cols.length) cols = [...cols, ...HISTORY_COLUMNS];
    }
    scope.entries.push({ alias, cols: renameCols(cols, rv.alias?.colnames as Node[] | undefined) });
    return f;
  }
  if (f.RangeSubselect) {
    const rs = f.RangeSubselect as Node;
    const inner: Scope | undefined = rs.lateral ? { ...scope, entries: [...scope.entries] } : scope.outer;
    const r = rw.select(rs.subquery.SelectStmt as Node, inner, scope.ctes);
    const alias = rs.alias?.aliasname ? String(rs.alias.aliasname) : '';
    scope.entries.push({ alias, cols: renameCols(r.cols, rs.alias?.colnames as Node[] | undefined) });
    return { RangeSubselect: { ...rs, subquery: r.node } };
  }
  if (f.JoinExpr) {
    const j = f.JoinExpr as Node;
    const before = scope.entries.length;
    const larg = fromItem(rw, j.larg as Node, scope);
    const rarg = fromItem(rw, j.rarg as Node, scope);
    const out: Node = { ...j, larg, rarg };
    if (j.quals) out.quals = rw.expr(j.quals as Node, scope).node;
    if (j.alias?.aliasname) {
      const cols = scope.entries.slice(before).flatMap((e) => e.cols);
      scope.entries.push({ alias: String(j.alias.aliasname), cols });
    }
    return { JoinExpr: out };
  }
  if (f.RangeFunction) {
    const rf = f.RangeFunction as Node;
    const fns = (rf.functions ?? []) as Node[];
    const only = ((fns[0]?.List?.items ?? []) as Node[])[0]?.FuncCall as Node | undefined;
    const record = fns.length === 1 && only && !rf.ordinality ? FROM_FUNCTIONS[funcName(only)] : undefined;
    if (record && only) {
      // A record-returning function: a LATERAL subquery of its PostgreSQL columns (DuckDB's json_each has more).
      const args = ((only.args ?? []) as Node[]).map((a) => rw.expr(a, scope).node);
      const name = rf.alias?.aliasname ? String(rf.alias.aliasname) : funcName(only);
      const given = (rf.alias?.colnames ?? []) as Node[];
      // `AS e` alone names the relation (the column-alias spelling of a scalar function does not apply).
      const colnames = record.cols.length > 1 && given.length === 1 && given[0]?.String?.sval === name ? [] : given;
      const cols = renameCols(record.cols, colnames.length ? colnames : undefined);
      const sub: Node = {
        targetList: record.cols.map((c, i) => ({
          ResTarget: { name: cols[i]?.name ?? c.name, val: { ColumnRef: { fields: [str(c.name)] } } },
        })),
        fromClause: [
          {
            RangeFunction: {
              functions: [{ List: { items: [record.node(args), null] } }],
              alias: record.unnest ? { aliasname: 'f', colnames: [str('value')] } : { aliasname: 'f' },
            },
          },
        ],
        op: 'SETOP_NONE',
        limitOption: 'LIMIT_OPTION_DEFAULT',
      };
      scope.entries.push({ alias: name, cols });
      return { RangeSubselect: { lateral: true, subquery: { SelectStmt: sub }, alias: { aliasname: name } } };
    }
    const cols: Columns = [];
    const items = fns.map((item) => {
      const list = (item.List?.items ?? []) as Node[];
      const item0 = list[0];
      if (!item0?.FuncCall) return item;
      const fromFn = FROM_FUNCTIONS[funcName(item0.FuncCall as Node)];
      if (fromFn) {
        const args = ((item0.FuncCall.args ?? []) as Node[]).map((a) => rw.expr(a, scope).node);
        cols.push(...fromFn.cols);
        return { List: { items: [fromFn.node(args), ...list.slice(1)] } };
      }
      const x = call(rw, item0.FuncCall as Node, scope, true);
      cols.push({ name: funcName(item0.FuncCall as Node), t: x.t });
      return { List: { items: [x.node, ...list.slice(1)] } };
    });
    const alias = rf.alias?.aliasname ? String(rf.alias.aliasname) : (cols[0]?.name ?? '');
    if (cols.length === 1 && rf.alias?.aliasname && !rf.alias.colnames) cols[0] = { ...(cols[0] as Columns[number]), name: alias };
    if (rf.ordinality) cols.push({ name: 'ordinality', t: 'bigint' });
    scope.entries.push({ alias, cols: renameCols(cols, rf.alias?.colnames as Node[] | undefined) });
    return { RangeFunction: { ...rf, functions: items } };
  }
  return generic(rw, f, scope);
}
