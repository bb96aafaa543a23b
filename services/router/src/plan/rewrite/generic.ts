/**
 * The rewrite of nodes the rewrite does not type (clauses, window definitions, unknown
 * expressions): the expressions and subqueries inside them are rewritten, the node is kept.
 */
import type { Node, Rewriter, Scope } from './types.ts';

/** Rewrite any node generically: expressions inside get rewritten, the node's type is unknown. */
export function generic(rw: Rewriter, node: Node, scope: Scope): Node {
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = genericValue(rw, v, scope);
  }
  return out;
}

/** {@link generic} of a field value: a node, a list, a node's fields or a scalar. */
export function genericValue(rw: Rewriter, v: unknown, scope: Scope): unknown {
  if (Array.isArray(v)) return v.map((x) => genericValue(rw, x, scope));
  if (!v || typeof v !== 'object') return v;
  const o = v as Node;
  const keys = Object.keys(o);
  if (keys.length === 1 && /^[A-Z]/.test(keys[0] as string)) {
    const k = keys[0] as string;
    if (k === 'SelectStmt') return rw.select(o.SelectStmt as Node, scope).node;
    if (k === 'String' || k === 'Integer' || k === 'Float' || k === 'Boolean' || k === 'A_Star' || k === 'TypeName') return o;
    return rw.expr(o, scope).node;
  }
  const out: Node = {};
  for (const [k, x] of Object.entries(o)) out[k] = genericValue(rw, x, scope);
  return out;
}
