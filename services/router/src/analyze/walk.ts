/**
 * The one walker over libpg-query ASTs (`{ NodeType: { …fields } }`, typed by `@pgsql/types`):
 * a visitor that sees every node with its type name, and a transformer that rebuilds a tree
 * with some nodes replaced (the tree itself is never mutated; parsed statements are shared by
 * the statement cache). STYLE: "trees are typed, immutable, and walked by one visitor".
 */
import type { Node } from '../sql/parse.ts';

/** Node type names are capitalised keys (`SelectStmt`, `A_Expr`); field names are not. */
function isNodeKey(k: string): boolean {
  const c = k.charCodeAt(0);
  return c >= 65 && c <= 90;
}

/**
 * Call `visit(type, fields)` for every node of `tree` in pre-order. Return `false` from
 * `visit` to skip a node's children.
 */
export function forEachNode(tree: unknown, visit: (type: string, fields: Node) => unknown): void {
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    if (!x || typeof x !== 'object') return;
    const o = x as Node;
    for (const k in o) {
      const v = o[k];
      if (isNodeKey(k) && v && typeof v === 'object' && !Array.isArray(v)) {
        if (visit(k, v as Node) === false) continue;
        walk(v);
      } else if (v && typeof v === 'object') walk(v);
    }
  };
  walk(tree);
}

/**
 * A copy of `tree` where `replace(type, fields)` may return a new node (`{ Type: {…} }`) for
 * a node; undefined keeps it (and its children are transformed in turn).
 */
export function transformNodes(tree: Node, replace: (type: string, fields: Node) => Node | undefined): Node {
  const tx = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(tx);
    if (!x || typeof x !== 'object') return x;
    const o = x as Node;
    const out: Node = {};
    for (const k in o) {
      const v = o[k];
      if (isNodeKey(k) && v && typeof v === 'object' && !Array.isArray(v)) {
        const r = replace(k, v as Node);
        if (r !== undefined) return r;
        out[k] = tx(v);
      } else out[k] = tx(v);
    }
    return out;
  };
  return tx(tree) as Node;
}

/** Highest `$n` used in a statement (0 when none). */
export function maxParam(tree: unknown): number {
  let max = 0;
  forEachNode(tree, (type, n) => {
    if (type === 'ParamRef' && typeof n.number === 'number' && n.number > max) max = n.number;
  });
  return max;
}

/** True when some node of `tree` satisfies `pred`. */
export function someNode(tree: unknown, pred: (type: string, fields: Node) => boolean): boolean {
  let found = false;
  forEachNode(tree, (type, n) => {
    if (found) return false;
    if (pred(type, n)) found = true;
    return !found;
  });
  return found;
}
