/**
 * The one walker over libpg-query ASTs (`{ NodeType: { …fields } }`, typed by `@pgsql/types`):
 * a visitor that sees every node with its type name, and a transformer that rebuilds a tree
 * with some nodes replaced (the tree itself is never mutated; parsed statements are shared by
 * the statement cache). STYLE: "trees are typed, immutable, and walked by one visitor".
 *
 * Both take a node as `(type, fields)`, a discriminated pair ({@link NodeEntry}): after
 * `type === 'RangeVar'` the fields are a `RangeVar`.
 */
import type { Node, NodeEntry, NodeType } from './ast.ts';

/** What the walker accepts: a node, a list of nodes, or a node's fields (it walks whatever it is given). */
export type Tree = Node | readonly Node[] | object | undefined;

/** Node type names are capitalised keys (`SelectStmt`, `A_Expr`); field names are not. */
function isNodeKey(k: string): boolean {
  const c = k.charCodeAt(0);
  return c >= 65 && c <= 90;
}

/** The visitor: return `false` to skip a node's children. */
export type Visitor = (...node: NodeEntry) => unknown;

/**
 * A visitor that looks at type names only. TypeScript does not accept a one-parameter callback
 * where a rest parameter of a tuple union is expected, hence the second overload below.
 */
export type TypeVisitor = (type: NodeType) => unknown;

/** The transformer: a replacement node, or undefined to keep the node (its children are transformed in turn). */
export type Transformer = (...node: NodeEntry) => Node | undefined;

/**
 * Call `visit(type, fields)` for every node of `tree` in pre-order. Return `false` from
 * `visit` to skip a node's children.
 */
export function forEachNode(tree: Tree, visit: Visitor): void;
/** Call `visit(type)` for every node of `tree` in pre-order; `false` skips a node's children. */
export function forEachNode(tree: Tree, visit: TypeVisitor): void;
export function forEachNode(tree: Tree, visitor: Visitor | TypeVisitor): void {
  const visit = visitor as Visitor;
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    if (!x || typeof x !== 'object') return;
    const o = x as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (isNodeKey(k) && v && typeof v === 'object' && !Array.isArray(v)) {
        if (visit(...([k, v] as NodeEntry)) === false) continue;
        walk(v);
      } else if (v && typeof v === 'object') walk(v);
    }
  };
  walk(tree);
}

/**
 * A copy of `tree` where `replace(type, fields)` may return a new node (`{ Type: {…} }`) for
 * a node; undefined keeps it (and its children are transformed in turn). The copy has the
 * shape of `tree` (a node, a list, a node's fields): only nodes are replaced, by nodes.
 */
export function transformNodes<T extends Tree>(tree: T, replace: Transformer): T {
  const tx = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(tx);
    if (!x || typeof x !== 'object') return x;
    const o = x as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k in o) {
      const v = o[k];
      if (isNodeKey(k) && v && typeof v === 'object' && !Array.isArray(v)) {
        const r = replace(...([k, v] as NodeEntry));
        if (r !== undefined) return r;
        out[k] = tx(v);
      } else out[k] = tx(v);
    }
    return out;
  };
  return tx(tree) as T;
}

/** Highest `$n` used in a statement (0 when none). */
export function maxParam(tree: Tree): number {
  let max = 0;
  forEachNode(tree, (type, n) => {
    if (type === 'ParamRef' && typeof n.number === 'number' && n.number > max) max = n.number;
  });
  return max;
}

/** True when some node of `tree` satisfies `pred`. */
export function someNode(tree: Tree, pred: (...node: NodeEntry) => boolean): boolean;
/** True when some node of `tree` has a type name satisfying `pred`. */
export function someNode(tree: Tree, pred: (type: NodeType) => boolean): boolean;
export function someNode(tree: Tree, predicate: ((...node: NodeEntry) => boolean) | ((type: NodeType) => boolean)): boolean {
  const pred = predicate as (...node: NodeEntry) => boolean;
  let found = false;
  forEachNode(tree, (...node) => {
    if (found) return false;
    if (pred(...node)) found = true;
    return !found;
  });
  return found;
}
