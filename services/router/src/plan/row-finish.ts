/**
 * Finishing a range read in the router (plan stage): a single-table SELECT whose rows the row
 * tiers supply (a `row_scan` plan) and whose remaining work is row-local — projection, DISTINCT,
 * ORDER BY, LIMIT/OFFSET, no aggregates, grouping or windows — is finished by the router's own
 * evaluator (PostgreSQL's semantics, shared/src/expr) instead of loading the rows into DuckDB.
 * Anything else returns undefined and DuckDB finishes the statement as before (see
 * docs/architecture.md "Router pipeline").
 */
import type { Expr, ResultType, TableInfo } from '@stratum/shared';
import { compileExpr } from '../analyze/compile.ts';
import type { RowScope } from '../analyze/scope.ts';
import type { Node } from '../sql/parse.ts';
import { exprType, outputColumns } from './select.ts';
import type { RowScanFinish, SortKey } from './types.ts';

/** Sort-key types the router orders by; json has no ordering in PostgreSQL (42883, reported by the analytical path). */
function orderable(t: ResultType): boolean {
  return t !== 'json' && t !== 'unknown' && !t.startsWith('json[');
}

/**
 * How the router finishes `s` itself, or undefined when DuckDB must (or when PostgreSQL would
 * reject the statement: the analytical path reports that error).
 * @param s the SELECT (untyped AST), single table, already known to have a key or index range.
 * @param scope the table's row scope with the statement's parameter types.
 */
export function planRowFinish(s: Node, scope: RowScope, t: TableInfo): RowScanFinish | undefined {
  if (s.groupClause || s.havingClause || s.windowClause || s.intoClause || s.lockingClause) return undefined;
  if (s.limitOption && s.limitOption !== 'LIMIT_OPTION_COUNT' && s.limitOption !== 'LIMIT_OPTION_DEFAULT') return undefined;
  const distinctItems = (s.distinctClause ?? []) as Node[];
  const distinct = distinctItems.length > 0;
  // DISTINCT ON (…) lists expressions; plain DISTINCT is one empty item.
  if (distinct && (distinctItems.length !== 1 || Object.keys(distinctItems[0] ?? {}).length > 0)) return undefined;
  let finish: RowScanFinish;
  try {
    const output = outputColumns((s.targetList ?? []) as Node[], scope, t);
    if (distinct && !output.every((c) => orderable(c.type))) return undefined;
    const order: SortKey[] = [];
    for (const item of (s.sortClause ?? []) as Node[]) {
      const by = item.SortBy as Node | undefined;
      if (!by || by.sortby_dir === 'SORTBY_USING') return undefined;
      const desc = by.sortby_dir === 'SORTBY_DESC';
      const nullsFirst = by.sortby_nulls === 'SORTBY_NULLS_FIRST' || (by.sortby_nulls !== 'SORTBY_NULLS_LAST' && desc);
      const key = sortKey(by.node as Node, output, scope);
      if (!key) return undefined;
      const type = 'output' in key ? (output[key.output]?.type ?? 'unknown') : key.type;
      if (!orderable(type)) return undefined;
      // With DISTINCT, PostgreSQL orders by output columns only (42P10 otherwise).
      if (distinct && !('output' in key)) return undefined;
      order.push({ key, desc, nullsFirst });
    }
    finish = { output, distinct, order };
    if (s.limitCount) {
      const limit = countExpr(s.limitCount as Node, scope);
      if (limit === null) return undefined;
      if (limit !== 'all') finish.limit = limit;
    }
    if (s.limitOffset) {
      const offset = countExpr(s.limitOffset as Node, scope);
      if (offset === null || offset === 'all') return undefined;
      finish.offset = offset;
    }
  } catch {
    // Not row-local (aggregates, set-returning or unknown functions…): DuckDB finishes it, or reports the error.
    return undefined;
  }
  return finish;
}

/**
 * An ORDER BY item: an output column by position (`ORDER BY 2`) or by its name (a bare name
 * matching exactly one output column, which PostgreSQL prefers to an input column), else an
 * expression over the row. Undefined when PostgreSQL would reject it or DuckDB must resolve it.
 */
function sortKey(n: Node, output: RowScanFinish['output'], scope: RowScope): SortKey['key'] | undefined {
  const c = n.A_Const as Node | undefined;
  if (c) {
    if (!c.ival) return undefined;
    const pos = Number(c.ival.ival ?? 0);
    return pos >= 1 && pos <= output.length ? { output: pos - 1 } : undefined;
  }
  const fields = n.ColumnRef?.fields as Node[] | undefined;
  if (fields?.length === 1 && fields[0]?.String) {
    const name = String(fields[0].String.sval);
    const hits = output.flatMap((o, i) => (o.name === name ? [i] : []));
    if (hits.length === 1) return { output: hits[0] as number };
    if (hits.length > 1) return undefined;
  }
  const expr = compileExpr(n, scope);
  return { expr, type: exprType(expr) };
}

/** LIMIT / OFFSET: a constant or a parameter (bigint, as PostgreSQL types it); 'all' for LIMIT ALL / NULL; null when not simple. */
function countExpr(n: Node, scope: RowScope): Expr | 'all' | null {
  const c = n.A_Const as Node | undefined;
  if (c?.isnull) return 'all';
  if (!(c?.ival || n.ParamRef)) return null;
  return compileExpr(n, scope, 'bigint');
}
