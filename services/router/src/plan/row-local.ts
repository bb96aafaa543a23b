/**
 * Row-local statements for scatter/gather reads (docs/architecture.md "Router", "Partial
 * aggregation"): a SELECT over one table whose every output row comes from one input row — a
 * projection and a WHERE clause, nothing that combines rows (aggregates, GROUP BY, DISTINCT,
 * window functions, ORDER BY, LIMIT, subqueries, set operations). Each shard can run such a
 * statement whole over its rows, and the answer is the concatenation of the shards' answers: the
 * router then neither loads rows into its DuckDB nor runs a final statement.
 */
import type { FuncCall, SelectStmt } from '@pgsql/types';
import { forEachNode } from '../analyze/walk.ts';

/** The last part of a function's name, lower case. */
function funcName(f: FuncCall): string {
  const parts = f.funcname ?? [];
  return String((parts[parts.length - 1] as { String?: { sval?: string } } | undefined)?.String?.sval ?? '').toLowerCase();
}

/**
 * Whether `stmt` (the analytical tier's DuckDB form, after `rewriteForTier`) is row-local over
 * the one table `table` (named as in its FROM clause). `aggregates` are the names of DuckDB's
 * aggregate functions (`duckdb_functions()`), lower case: a call of one of them anywhere, or any
 * call with OVER, DISTINCT, FILTER, ORDER BY or `*` arguments, rules it out.
 */
export function rowLocal(stmt: SelectStmt, table: string, aggregates: ReadonlySet<string>): boolean {
  if (stmt.op && stmt.op !== 'SETOP_NONE') return false;
  if (
    stmt.withClause ||
    stmt.distinctClause ||
    stmt.groupClause ||
    stmt.havingClause ||
    stmt.windowClause ||
    stmt.sortClause ||
    stmt.limitCount ||
    stmt.limitOffset ||
    stmt.valuesLists ||
    stmt.intoClause ||
    stmt.lockingClause
  )
    return false;
  const from = stmt.fromClause ?? [];
  const rv = from.length === 1 ? (from[0] as { RangeVar?: { relname?: string; schemaname?: string } }).RangeVar : undefined;
  if (!rv || rv.relname !== table || rv.schemaname) return false;
  let local = true;
  forEachNode([stmt.targetList, stmt.whereClause] as object, (type, n) => {
    if (!local) return false;
    if (type === 'SubLink' || type === 'RangeSubselect' || type === 'GroupingFunc' || type === 'GroupingSet') local = false;
    else if (type === 'FuncCall') {
      const f = n as FuncCall;
      if (f.over || f.agg_star || f.agg_distinct || f.agg_filter || f.agg_order || f.agg_within_group || aggregates.has(funcName(f)))
        local = false;
    }
    return local ? undefined : false;
  });
  return local;
}
