/**
 * FROM items: tables (by the catalog), CTEs, subqueries, joins and functions, rewritten and
 * their columns added to the scope the query level's expressions are typed in.
 */
import type { JoinExpr, Node, RangeFunction, SelectStmt } from '@pgsql/types';
import type { Catalog } from '@stratum/shared';
import { entryOf, expectNode, listItems, nodeOf, present, strOf } from '../../analyze/ast.ts';
import { CATALOG_SCHEMA, loadedRelationColumns } from '../../catalog/relations.ts';
import { call } from './call.ts';
import { isTextNumeric } from './coerce.ts';
import { fn, funcName, jsonArray, str } from './nodes.ts';
import { renameCols } from './output.ts';
import type { Columns, Rewriter, Scope } from './types.ts';
import { rewriteChildren } from './untyped.ts';

/** FROM-clause functions of jsonb, as DuckDB's json_each / unnest (their columns as PostgreSQL names them). */
const FROM_FUNCTIONS = new Map<string, { cols: Columns; node: (args: Node[]) => Node; unnest?: true }>(
  Object.entries({
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
    // The catalog stage's pg_options_to_table (catalog/functions.ts), typed as PostgreSQL's (text, text).
    [`${CATALOG_SCHEMA}.pg_options_to_table`]: {
      cols: [
        { name: 'option_name', t: 'text' },
        { name: 'option_value', t: 'text' },
      ],
      node: (a) => ({
        FuncCall: { funcname: [str(CATALOG_SCHEMA), str('pg_options_to_table')], args: a, funcformat: 'COERCE_EXPLICIT_CALL' },
      }),
    },
    jsonb_array_elements: { cols: [{ name: 'value', t: 'jsonb' }], node: (a) => fn('unnest', a.slice(0, 1).map(jsonArray)), unnest: true },
    json_array_elements: { cols: [{ name: 'value', t: 'json' }], node: (a) => fn('unnest', a.slice(0, 1).map(jsonArray)), unnest: true },
  }),
);

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
  const [type, v] = entryOf(f);
  switch (type) {
    case 'RangeVar': {
      const name = String(v.relname);
      const alias = v.alias?.aliasname ? String(v.alias.aliasname) : name;
      let cols: Columns = [];
      const cte = !v.schemaname ? scope.ctes.get(name) : undefined;
      const system = loadedRelationColumns(v.schemaname, name);
      if (cte) cols = cte;
      else if (system) cols = system;
      else {
        const hist = name.endsWith('__history') ? name.slice(0, -'__history'.length) : undefined;
        cols = tableColumns(rw.catalog, hist ?? name);
        if (hist && cols.length) cols = [...cols, ...HISTORY_COLUMNS];
      }
      scope.entries.push({ alias, cols: renameCols(cols, v.alias?.colnames) });
      return f;
    }
    case 'RangeSubselect': {
      const inner: Scope | undefined = v.lateral ? { ...scope, entries: [...scope.entries] } : scope.outer;
      const r = rw.select(expectNode(v.subquery, 'SelectStmt'), inner, scope.ctes);
      const alias = v.alias?.aliasname ? String(v.alias.aliasname) : '';
      scope.entries.push({ alias, cols: renameCols(r.cols, v.alias?.colnames) });
      return { RangeSubselect: { ...v, subquery: { SelectStmt: r.stmt } } };
    }
    case 'JoinExpr': {
      const before = scope.entries.length;
      const larg = fromItem(rw, present(v.larg, "a join's left side"), scope);
      const rarg = fromItem(rw, present(v.rarg, "a join's right side"), scope);
      const out: JoinExpr = { ...v, larg, rarg };
      if (v.quals) out.quals = rw.expr(v.quals, scope).node;
      if (v.alias?.aliasname) {
        const cols = scope.entries.slice(before).flatMap((e) => e.cols);
        scope.entries.push({ alias: String(v.alias.aliasname), cols });
      }
      return { JoinExpr: out };
    }
    case 'RangeFunction':
      return rangeFunction(rw, v, scope);
    default:
      return rewriteChildren(rw, f, scope);
  }
}

/**
 * A function in FROM: its columns as PostgreSQL names them (one column named after the function
 * or the alias, or the record columns of {@link FROM_FUNCTIONS}), WITH ORDINALITY's counter.
 */
function rangeFunction(rw: Rewriter, rf: RangeFunction, scope: Scope): Node {
  const fns = rf.functions ?? [];
  const only = nodeOf(listItems(fns[0])?.[0], 'FuncCall');
  const record = fns.length === 1 && only && !rf.ordinality ? FROM_FUNCTIONS.get(funcName(only)) : undefined;
  if (record && only) {
    // A record-returning function: a LATERAL subquery of its PostgreSQL columns (DuckDB's json_each has more).
    const args = (only.args ?? []).map((a) => rw.expr(a, scope).node);
    const name = rf.alias?.aliasname ? String(rf.alias.aliasname) : funcName(only);
    const given = rf.alias?.colnames ?? [];
    // `AS e` alone names the relation (the column-alias spelling of a scalar function does not apply).
    const colnames = record.cols.length > 1 && given.length === 1 && strOf(given[0]) === name ? [] : given;
    const cols = renameCols(record.cols, colnames.length ? colnames : undefined);
    const sub: SelectStmt = {
      targetList: record.cols.map((c, i) => ({
        ResTarget: { name: cols[i]?.name ?? c.name, val: { ColumnRef: { fields: [str(c.name)] } } },
      })),
      fromClause: [
        {
          RangeFunction: {
            functions: [{ List: { items: [record.node(args)] } }],
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
  const items = fns.map((item): Node => {
    const list = listItems(item) ?? [];
    const fc = nodeOf(list[0], 'FuncCall');
    if (!fc) return item;
    const fromFn = FROM_FUNCTIONS.get(funcName(fc));
    if (fromFn) {
      const args = (fc.args ?? []).map((a) => rw.expr(a, scope).node);
      cols.push(...fromFn.cols);
      return { List: { items: [fromFn.node(args), ...list.slice(1)] } };
    }
    const x = call(rw, fc, scope, true);
    cols.push({ name: funcName(fc), t: x.t });
    return { List: { items: [x.node, ...list.slice(1)] } };
  });
  const alias = rf.alias?.aliasname ? String(rf.alias.aliasname) : (cols[0]?.name ?? '');
  const [first] = cols;
  if (first && cols.length === 1 && rf.alias?.aliasname && !rf.alias.colnames) cols[0] = { ...first, name: alias };
  if (rf.ordinality) cols.push({ name: 'ordinality', t: 'bigint' });
  scope.entries.push({ alias, cols: renameCols(cols, rf.alias?.colnames) });
  return { RangeFunction: { ...rf, functions: items } };
}
