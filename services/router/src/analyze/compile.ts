/**
 * The statement analyzer's use of the expression compiler (analyze/expr.ts): compiling with a
 * type the context wants (WHERE wants boolean, a target column wants its type), and assignment
 * casts to columns with PostgreSQL's wording of the errors.
 */

import type { Node } from '@pgsql/types';
import { type CastContext, type ColumnDef, type Expr, pgTypeName, type ResultType, SqlState, StratumError, typeOf } from '@stratum/shared';
import { coerceExpr, compileExpr as compileRaw, constantScope, type Scope, type SessionValues } from './expr.ts';

export type { Scope, SessionValues };

/** Names of what wants a boolean, for PostgreSQL's "argument of WHERE must be type boolean" message. */
const BOOL_CONTEXT = 'WHERE';

/**
 * Compile `node` in `scope`. With `wanted`: an untyped literal or parameter takes that type;
 * `boolean` must be boolean (42804 otherwise, as PostgreSQL's coerce_to_boolean).
 */
export function compileExpr(node: Node, scope: Scope, wanted?: ResultType): Expr {
  const e = compileRaw(node, scope);
  if (!wanted) return e;
  const t = typeOf(e);
  if (wanted === 'boolean') {
    if (t === 'boolean') return e;
    if (t === 'unknown') return coerceExpr(e, 'boolean', 'implicit', scope);
    throw new StratumError(
      SqlState.datatypeMismatch,
      `argument of ${scope.exprKind ?? BOOL_CONTEXT} must be type boolean, not type ${pgTypeName(t as never)}`,
    );
  }
  if (t === 'unknown' && wanted !== 'unknown') return coerceExpr(e, wanted as never, 'assignment', scope);
  return e;
}

/**
 * `e` assigned to column `c` (PostgreSQL's assignment cast, with the column's typmod: 22001 /
 * 22003 at evaluation).
 * @throws StratumError 42804 `column "x" is of type … but expression is of type …` when no
 *   assignment cast exists.
 */
export function castTo(
  e: Expr,
  c: Pick<ColumnDef, 'name' | 'type' | 'typmod'>,
  context: CastContext,
  scope: Scope = constantScope(),
): Expr {
  try {
    const opts = c.typmod !== undefined && c.typmod >= 0 ? { typmod: c.typmod } : {};
    return coerceExpr(e, c.type, context, scope, opts);
  } catch (err) {
    const code = (err as StratumError).code;
    if (code !== SqlState.datatypeMismatch && code !== '42846') throw err;
    const from = typeOf(e);
    throw new StratumError(
      SqlState.datatypeMismatch,
      `column "${c.name}" is of type ${pgTypeName(c.type)} but expression is of type ${from === 'unknown' ? 'unknown' : pgTypeName(from)}`,
      { hint: 'You will need to rewrite or cast the expression.' },
    );
  }
}
