/**
 * The output of a SELECT: the forms result conversion reads as PostgreSQL's types (pg-macros.ts
 * MARKED) and the sort keys where DuckDB's order differs (column names: analyze/colname.ts).
 */
import type { Node, SelectStmt } from '@pgsql/types';
import type { ResultType } from '@stratum/shared';
import { PG_NUMERIC_FIELD } from '@stratum/shared/duckdb';
import { nodeOf, strOf } from '../../analyze/ast.ts';
import { numKey } from './coerce.ts';
import { castNode, castTyped, duckTypeOf, fn, nullWhenNull } from './nodes.ts';
import type { Columns, Typed } from './types.ts';

/** Output types DuckDB lacks, marked for result conversion (shared/src/duckdb/pg-macros.ts MARKED). */
export const MARKED_OUTPUT: Partial<Record<ResultType, string>> = { varchar: 'pg_varchar', char: 'pg_bpchar', jsonb: 'pg_jsonb' };

/**
 * The outermost SELECT's output of `x` in a form result conversion reads as PostgreSQL's type
 * (pg-macros.ts MARKED), or undefined when DuckDB's own type is PostgreSQL's:
 * numeric quotients with their value-dependent scale (`pg_ndiv_out`); text numerics as their text
 * (numeric, or numeric[] element by element), sorting by their numeric-order key; numerics with a
 * display scale of their own; varchar, char (sorting without trailing spaces) and jsonb.
 * `grouped`: `x` is a GROUP BY expression, which must stay as it is grouped.
 */
export function markOutput(x: Typed, grouped: boolean): Node | undefined {
  // NULL stays NULL (a STRUCT of NULL fields would sort as a value); `of`: the value before formatting.
  const pack = (field: string, value: Node, order?: Node, of = value): Node =>
    nullWhenNull(
      of,
      fn('struct_pack', [
        ...(order ? [{ NamedArgExpr: { name: 'v', arg: order, argnumber: -1 } }] : []),
        { NamedArgExpr: { name: field, arg: value, argnumber: -1 } },
      ]),
    );
  if (x.t === 'numeric' && x.div) {
    if (grouped) return undefined;
    if (x.divScales && !x.variance) return fn('pg_ndiv_outs', [...x.div, ...x.divScales]);
    return fn(x.variance ? 'pg_var_out' : 'pg_ndiv_out', x.div);
  }
  if (x.textNum && x.t === 'numeric') return pack(PG_NUMERIC_FIELD, x.node, numKey(x.node));
  if (x.textNum && x.t === 'numeric[]') return fn('pg_nlist_out', [x.node]);
  if (x.scale && x.t === 'numeric' && !grouped) return pack(PG_NUMERIC_FIELD, fn('pg_nfmt', [x.node, x.scale]), x.node, x.node);
  const field = MARKED_OUTPUT[x.t];
  if (!field) return undefined;
  if (x.t === 'jsonb') return pack(field, castNode(x.node, 'varchar'));
  return pack(field, x.node, x.t === 'char' ? fn('rtrim', [x.node]) : undefined);
}

/** What `e` sorts by where DuckDB's order of it differs: a text numeric's key, a char(n) value trimmed. */
export function sortKey(e: Typed): Node | undefined {
  if (e.textNum && e.t === 'numeric') return numKey(e.node);
  return e.t === 'char' ? fn('rtrim', [e.node]) : undefined;
}

/** A FROM item whose relations' columns `*` lists in order (no USING, NATURAL or join alias merging them). */
export function plainFrom(f: Node | undefined): boolean {
  if (nodeOf(f, 'RangeVar') || nodeOf(f, 'RangeSubselect')) return true;
  const j = nodeOf(f, 'JoinExpr');
  return !!j && !j.usingClause && !j.isNatural && !j.alias && plainFrom(j.larg) && plainFrom(j.rarg);
}

/**
 * `sel`, an arm of a set operation, with the string literal at output position `i` of each of its
 * leaf SELECTs cast to `t` (select_common_type gives it the other arm's type; DuckDB would keep it text).
 */
export function castLiteralColumn(sel: SelectStmt, i: number, t: ResultType): SelectStmt {
  if (sel.op && sel.op !== 'SETOP_NONE') {
    const { larg, rarg } = sel;
    return {
      ...sel,
      ...(larg ? { larg: castLiteralColumn(larg, i, t) } : {}),
      ...(rarg ? { rarg: castLiteralColumn(rarg, i, t) } : {}),
    };
  }
  const rt = nodeOf(sel.targetList?.[i], 'ResTarget');
  const val = rt?.val;
  if (!rt || !val || nodeOf(val, 'A_Const')?.sval === undefined || !duckTypeOf(t)) return sel;
  const targetList = [...(sel.targetList ?? [])];
  targetList[i] = { ResTarget: { ...rt, val: castTyped({ node: val, t: 'unknown', strLit: true }, t) } };
  return { ...sel, targetList };
}

/** `cols` renamed by an alias's column names (`AS t(a, b)`), the rest keeping theirs. */
export function renameCols(cols: Columns, colnames: Node[] | undefined): Columns {
  if (!colnames?.length) return cols;
  return cols.map((c, i) => (colnames[i] ? { ...c, name: strOf(colnames[i]) ?? c.name } : c));
}
