/**
 * The rewrite of what the rewrite does not type (clauses, window definitions, expressions of
 * node types it does not know): the expressions and subqueries inside are rewritten by the
 * one transformer over nodes (analyze/walk.ts), the rest is kept.
 */
import type { Node } from '@pgsql/types';
import { entryOf, type NodeEntry, nodeOfEntry } from '../../analyze/ast.ts';
import { type Tree, transformNodes } from '../../analyze/walk.ts';
import type { Rewriter, Scope } from './types.ts';

/**
 * `tree` (a node, a list, a node's fields) with every expression and subquery in it rewritten
 * in `scope`, their types not needed; names and type names are kept as they are.
 */
export function rewriteWithin<T extends Tree>(rw: Rewriter, tree: T, scope: Scope): T {
  return transformNodes(tree, (...entry) => rewriteEntry(rw, entry, scope));
}

/** Node `n` with its children rewritten by {@link rewriteWithin} (`n` itself is not an expression the rewrite types). */
export function rewriteChildren(rw: Rewriter, n: Node, scope: Scope): Node {
  // The transformer meets `n` first, as its own fields: keep it, and go on to its children.
  const [, top] = entryOf(n);
  return transformNodes(n, (...entry) => (entry[1] === top ? undefined : rewriteEntry(rw, entry, scope)));
}

/** A node met by {@link rewriteWithin}: a subquery, a name kept as it is, or an expression. */
function rewriteEntry(rw: Rewriter, entry: NodeEntry, scope: Scope): Node {
  const [type, fields] = entry;
  switch (type) {
    case 'SelectStmt':
      return { SelectStmt: rw.select(fields, scope).stmt };
    case 'String':
    case 'Integer':
    case 'Float':
    case 'Boolean':
    case 'A_Star':
    case 'TypeName':
      return nodeOfEntry(entry);
    default:
      return rw.expr(nodeOfEntry(entry), scope).node;
  }
}
