/**
 * Finishing a range read in the router (plan stage): a single-table SELECT whose rows the row
 * tiers supply (a `row_scan` plan) and whose remaining work is row-local — projection, DISTINCT,
 * ORDER BY, LIMIT/OFFSET, no aggregates, grouping or windows — is finished by the router's own
 * evaluator (PostgreSQL's semantics, shared/src/expr) instead of loading the rows into DuckDB.
 * Anything else returns undefined and DuckDB finishes the statement as before (see
 * docs/architecture.md "Router pipeline").
 */
import type { Node, SelectStmt } from '@pgsql/types';
import type { Expr, ResultType, TableInfo } from '@stratum/shared';
import { nodeOf, strOf } from '../analyze/ast.ts';
import { compileExpr } from '../analyze/compile.ts';
import type { RowScope } from '../analyze/scope.ts';
import { exprType, outputColumns } from './select.ts';
import type { RowAggregate, RowScanFinish, SortKey } from './types.ts';

/** Sort-key types the router orders by; json has no ordering in PostgreSQL (42883, reported by the analytical path). */
function orderable(t: ResultType): boolean {
  return t !== 'json' && t !== 'unknown' && !t.startsWith('json[');
}

/**
 * How the router finishes `s` itself, or undefined when DuckDB must (or when PostgreSQL would
 * reject the statement: the analytical path reports that error).
 * @param s the SELECT, single table, already known to have a key or index range.
 * @param scope the table's row scope with the statement's parameter types.
 */
export function planRowFinish(s: SelectStmt, scope: RowScope, t: TableInfo): RowScanFinish | undefined {
  if (s.groupClause || s.havingClause || s.windowClause || s.intoClause || s.lockingClause) return undefined;
  if (s.limitOption && s.limitOption !== 'LIMIT_OPTION_COUNT' && s.limitOption !== 'LIMIT_OPTION_DEFAULT') return undefined;
  const distinctItems = s.distinctClause ?? [];
  const distinct = distinctItems.length > 0;
  // DISTINCT ON (…) lists expressions; plain DISTINCT is one empty item.
  if (distinct && (distinctItems.length !== 1 || Object.keys(distinctItems[0] ?? {}).length > 0)) return undefined;
  let finish: RowScanFinish;
  try {
    const aggregates = planAggregates(s.targetList ?? [], scope);
    if (aggregates === null) return undefined;
    if (aggregates) {
      if (distinct || s.sortClause) return undefined;
      finish = { output: aggregates.output, distinct: false, order: [], aggregates: aggregates.aggs };
      return limits(s, scope, finish) ? finish : undefined;
    }
    const output = outputColumns(s.targetList ?? [], scope, t);
    if (distinct && !output.every((c) => orderable(c.type))) return undefined;
    const order: SortKey[] = [];
    for (const item of s.sortClause ?? []) {
      const by = nodeOf(item, 'SortBy');
      if (!by?.node || by.sortby_dir === 'SORTBY_USING') return undefined;
      const desc = by.sortby_dir === 'SORTBY_DESC';
      const nullsFirst = by.sortby_nulls === 'SORTBY_NULLS_FIRST' || (by.sortby_nulls !== 'SORTBY_NULLS_LAST' && desc);
      const key = sortKey(by.node, output, scope);
      if (!key) return undefined;
      const type = 'output' in key ? (output[key.output]?.type ?? 'unknown') : key.type;
      if (!orderable(type)) return undefined;
      // With DISTINCT, PostgreSQL orders by output columns only (42P10 otherwise).
      if (distinct && !('output' in key)) return undefined;
      order.push({ key, desc, nullsFirst });
    }
    finish = { output, distinct, order };
    if (!limits(s, scope, finish)) return undefined;
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
  const c = nodeOf(n, 'A_Const');
  if (c) {
    if (!c.ival) return undefined;
    const pos = Number(c.ival.ival ?? 0);
    return pos >= 1 && pos <= output.length ? { output: pos - 1 } : undefined;
  }
  const fields = nodeOf(n, 'ColumnRef')?.fields;
  const only = fields?.length === 1 ? nodeOf(fields[0], 'String') : undefined;
  if (only) {
    const name = String(only.sval);
    const hits = output.flatMap((o, i) => (o.name === name ? [i] : []));
    if (hits.length === 1) return { output: hits[0] as number };
    if (hits.length > 1) return undefined;
  }
  const expr = compileExpr(n, scope);
  return { expr, type: exprType(expr) };
}

/** Set LIMIT and OFFSET on `finish`; false when they are not simple. */
function limits(s: SelectStmt, scope: RowScope, finish: RowScanFinish): boolean {
  if (s.limitCount) {
    const limit = countExpr(s.limitCount, scope);
    if (limit === null) return false;
    if (limit !== 'all') finish.limit = limit;
  }
  if (s.limitOffset) {
    const offset = countExpr(s.limitOffset, scope);
    if (offset === null || offset === 'all') return false;
    finish.offset = offset;
  }
  return true;
}

/** Argument types whose sum the router computes, and the sum's type (PostgreSQL's sum(int4) is int8, sum(int8) numeric…). */
const SUM_TYPE: Partial<Record<ResultType, ResultType>> = {
  smallint: 'bigint',
  integer: 'bigint',
  bigint: 'numeric',
  numeric: 'numeric',
  real: 'real',
  double: 'double',
};

/** Argument types whose min/max the router computes (btree-ordered scalars). */
const MINMAX_TYPES = new Set<ResultType>([
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'real',
  'double',
  'text',
  'varchar',
  'date',
  'timestamp',
  'timestamptz',
  'time',
  'uuid',
]);

/**
 * A target list of plain aggregates (count/sum/min/max, no FILTER, DISTINCT, ORDER BY or OVER):
 * their output columns and definitions; undefined when no target is an aggregate; null when some
 * are but the router does not compute them (DuckDB does, or reports PostgreSQL's error).
 */
function planAggregates(targets: Node[], scope: RowScope): { output: RowScanFinish['output']; aggs: RowAggregate[] } | undefined | null {
  const calls = targets.map((t) => nodeOf(nodeOf(t, 'ResTarget')?.val, 'FuncCall'));
  const names = calls.map((c) => {
    const parts = (c?.funcname ?? []).map((x) => strOf(x) ?? '');
    if (parts.length === 2 && parts[0] !== 'pg_catalog') return undefined;
    const name = parts[parts.length - 1];
    return name === 'count' || name === 'sum' || name === 'min' || name === 'max' ? name : undefined;
  });
  if (names.every((n) => n === undefined)) return undefined;
  const output: RowScanFinish['output'] = [];
  const aggs: RowAggregate[] = [];
  for (let i = 0; i < targets.length; i++) {
    const c = calls[i];
    const fn = names[i];
    if (!c || !fn || c.agg_filter || c.agg_order || c.agg_distinct || c.over || c.agg_within_group || c.func_variadic) return null;
    const args = c.args ?? [];
    const name = String(nodeOf(targets[i], 'ResTarget')?.name ?? fn);
    if (c.agg_star) {
      if (fn !== 'count' || args.length > 0) return null;
      aggs.push({ fn });
      output.push({ name, expr: { k: 'const', v: null, t: 'bigint' }, type: 'bigint' });
      continue;
    }
    const [only] = args;
    if (args.length !== 1 || !only) return null;
    const arg = compileExpr(only, scope);
    const argType = exprType(arg);
    const type: ResultType | undefined =
      fn === 'count'
        ? 'bigint'
        : fn === 'sum'
          ? SUM_TYPE[argType]
          : MINMAX_TYPES.has(argType)
            ? argType === 'varchar'
              ? 'text' // min(varchar) resolves to min(text)
              : argType
            : undefined;
    if (!type) return null;
    aggs.push({ fn, arg, argType });
    output.push({ name, expr: { k: 'const', v: null, t: type }, type });
  }
  return { output, aggs };
}

/** LIMIT / OFFSET: a constant or a parameter (bigint, as PostgreSQL types it); 'all' for LIMIT ALL / NULL; null when not simple. */
function countExpr(n: Node, scope: RowScope): Expr | 'all' | null {
  const c = nodeOf(n, 'A_Const');
  if (c?.isnull) return 'all';
  if (!(c?.ival || nodeOf(n, 'ParamRef'))) return null;
  return compileExpr(n, scope, 'bigint');
}
