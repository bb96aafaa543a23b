/**
 * PostgreSQL semantics on the analytical tier: a rewrite of the statement's AST, after views are
 * inlined, before it is deparsed for DuckDB, wherever DuckDB's answer would differ from
 * PostgreSQL's. The rewrite types every expression the way PostgreSQL 15 does (chapter 10
 * "Type Conversion", over PostgreSQL's own pg_operator/pg_proc in shared/src/expr), then:
 *
 * - casts operands to the types of the operator or function PostgreSQL chose, so DuckDB computes
 *   in PostgreSQL's types (`smallint * 2` is integer arithmetic; `date_trunc('year', date)` is
 *   `date_trunc(text, timestamptz)`; an integer literal is an int4, not DuckDB's narrowest type);
 * - replaces operators and functions whose DuckDB meaning differs by the macros of
 *   shared/src/duckdb/pg-macros.ts (division by zero raises 22012, `round(float8)` rounds half to
 *   even, `sum(int4)` is bigint and `sum(int8)` numeric, `avg` of integers is an exact numeric,
 *   string, date and formatting functions, `regexp_matches` returns text[] rows, …);
 * - refuses recursive CTEs PostgreSQL refuses at parse analysis (42P19), which DuckDB would run.
 *
 * Expressions whose type cannot be told (unknown relations, DuckDB-only functions) are left as
 * they are. See docs/sql.md "Known differences" for what is not rewritten, and why.
 *
 * The stages, one module each: select.ts (WITH, set operations, the query level) with from.ts
 * (FROM items and their columns) and recursion.ts (42P19); expr.ts (typing expressions), with
 * operators.ts and call.ts (operators and functions resolved over pg_operator/pg_proc) and the
 * function families fn-*.ts (to-char.ts compiles to_char templates); coerce.ts (implicit
 * coercions, numerics as DECIMAL or text), output.ts (output names, marked outputs, sort keys),
 * untyped.ts (the clauses it does not type, through analyze/walk.ts's transformer), nodes.ts
 * (building nodes). Nodes are `@pgsql/types` nodes read through analyze/ast.ts; a rewrite
 * builds new nodes and never edits the statement it is given (parsed statements are cached).
 */

import type { Node } from '@pgsql/types';
import type { Catalog } from '@stratum/shared';
import { nodeOf } from '../../analyze/ast.ts';
import { expr } from './expr.ts';
import { tableColumns } from './from.ts';
import { select } from './select.ts';
import type { Columns, Rewriter } from './types.ts';
import { withZone } from './zone.ts';

/**
 * The statement `stmt` (views already inlined) rewritten so DuckDB answers as PostgreSQL 15
 * would: a SELECT, or an expression a write runs in DuckDB over the tables `relations` (by alias;
 * only what can be typed — their columns, constants, subqueries — is rewritten).
 * `onColumns`, when given, receives a SELECT's output columns as PostgreSQL types them (what
 * Describe reports before the statement runs). `session`: the session's TimeZone and DateStyle
 * as SHOW prints them; where PostgreSQL reads a timestamptz in the zone, the zone is spelled out
 * in the SQL (zone.ts), since DuckDB runs in UTC.
 * @throws StratumError 42P19 for a recursive CTE PostgreSQL refuses; 42883 for an operator
 *   PostgreSQL does not have for the operands' types (e.g. `double precision % integer`); 0A000
 *   for a construct whose answer depends on a non-UTC zone and is not rewritten (zone.ts).
 */
export function pgSemantics(
  stmt: Node,
  catalog: Catalog,
  relations: readonly { alias: string; table: string }[] = [],
  onColumns?: (cols: Columns) => void,
  session: { timeZone?: string | undefined; dateStyle?: string | undefined } = {},
): Node {
  return withZone(session.timeZone, session.dateStyle, () => rewriteStatement(stmt, catalog, relations, onColumns));
}

/** {@link pgSemantics} within the session zone's context. */
function rewriteStatement(
  stmt: Node,
  catalog: Catalog,
  relations: readonly { alias: string; table: string }[],
  onColumns?: (cols: Columns) => void,
): Node {
  const r: Rewriter = {
    catalog,
    expr: (n, scope) => expr(r, n, scope),
    select: (s, outer, cteNames, root) => select(r, s, outer, cteNames, root),
  };
  const sel = nodeOf(stmt, 'SelectStmt');
  if (!sel) {
    const entries = relations.map((x) => ({ alias: x.alias, cols: tableColumns(catalog, x.table) }));
    return r.expr(stmt, { entries, outer: undefined, ctes: new Map() }).node;
  }
  const out = r.select(sel, undefined, undefined, true);
  onColumns?.(out.cols);
  return { SelectStmt: out.stmt };
}
