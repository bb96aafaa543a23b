/**
 * Typed access to libpg-query's AST (`@pgsql/types`, PostgreSQL 18's grammar). A `Node` is a
 * union of one-key wrappers (`{ RangeVar: RangeVar }`, `{ SelectStmt: SelectStmt }`, …) and
 * libpg-query omits zero/false fields, so every field is optional. The accessors here are the
 * one place that looks inside a wrapper: `nodeOf(n, 'RangeVar')` instead of `n.RangeVar` on
 * an untyped object (STYLE: "trees are typed, immutable, and walked by one visitor").
 */
import type { Node } from '@pgsql/types';
import { SqlState, StratumError } from '@stratum/shared';

export type { Node };

/** Keys of every member of a union (`keyof` of a union keeps only the common ones). */
type KeysOf<T> = T extends unknown ? keyof T : never;

/** The name of a node type: the key of its wrapper (`'SelectStmt'`, `'A_Expr'`, …). */
export type NodeType = KeysOf<Node>;

/** The fields of node type `K` (`NodeFields<'RangeVar'>` is `RangeVar`). */
export type NodeFields<K extends NodeType> = Extract<Node, Record<K, unknown>>[K];

/**
 * A node as its type name and fields, a discriminated tuple: after `if (type === 'RangeVar')`
 * the fields are a `RangeVar`. The visitor and transformer of walk.ts take it as their arguments.
 */
export type NodeEntry = { [K in NodeType]: [type: K, fields: NodeFields<K>] }[NodeType];

/** The fields of `n` when it is a node of type `type`, else undefined. */
export function nodeOf<K extends NodeType>(n: Node | undefined, type: K): NodeFields<K> | undefined {
  if (!n || !(type in n)) return undefined;
  return (n as unknown as Record<K, NodeFields<K>>)[type];
}

/**
 * The fields of `n`, a node the grammar guarantees to be of type `type` (a target list's
 * ResTarget, the SelectStmt a rewrite of a SelectStmt returns).
 * @throws StratumError XX000 when it is not: a bug in the router, not bad input.
 */
export function expectNode<K extends NodeType>(n: Node | undefined, type: K): NodeFields<K> {
  return present(nodeOf(n, type), `a ${type} node (got ${n ? nodeType(n) : 'nothing'})`);
}

/**
 * `v`, a field the grammar always fills (a ResTarget's value in a target list, a SELECT's
 * source of an INSERT).
 * @throws StratumError XX000 naming `what` when it is absent: a bug in the router, not bad input.
 */
export function present<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new StratumError(SqlState.internalError, `the statement's tree lacks ${what}`);
  return v;
}

/** The type name of `n` (its wrapper's key). */
export function nodeType(n: Node): NodeType {
  return Object.keys(n)[0] as NodeType;
}

/** `n` as its type name and fields, for a `switch` that narrows both. */
export function entryOf(n: Node): NodeEntry {
  const type = nodeType(n);
  return [type, (n as Record<NodeType, unknown>)[type]] as NodeEntry;
}

/**
 * The node a `(type, fields)` pair describes, the inverse of {@link entryOf}: for a pair whose
 * type is a union (a transformer's default case), where {@link makeNode} cannot tie the two.
 */
export function nodeOfEntry(entry: NodeEntry): Node {
  const [type, fields] = entry;
  return { [type]: fields } as unknown as Node;
}

/** A node of type `type` with `fields` (the wrapper libpg-query and the deparser use). */
export function makeNode<K extends NodeType>(type: K, fields: NodeFields<K>): Node {
  return { [type]: fields } as Record<K, NodeFields<K>> as unknown as Node;
}

/** The text of a `String` node (identifiers, name parts), else undefined. */
export function strOf(n: Node | undefined): string | undefined {
  return nodeOf(n, 'String')?.sval;
}

/** The text of a string constant (`'abc'`), else undefined. */
export function constString(n: Node | undefined): string | undefined {
  return nodeOf(n, 'A_Const')?.sval?.sval;
}

/** Byte location of a node (most node types carry `location`), else undefined. */
export function locationOf(n: Node | undefined): number | undefined {
  if (!n) return undefined;
  const inner = Object.values(n)[0] as { location?: unknown } | undefined;
  return typeof inner?.location === 'number' ? inner.location : undefined;
}

/** The items of a `List` node, else undefined. */
export function listItems(n: Node | undefined): Node[] | undefined {
  return nodeOf(n, 'List')?.items;
}
