/**
 * SQL parsing with the real PostgreSQL grammar (`libpg-query`, PostgreSQL 17/18 parser).
 * Positions in the AST are byte offsets into the UTF-8 text; errors are reported with
 * 1-based character positions, as PostgreSQL does.
 */

import type { Node, ParseResult, SelectStmt } from '@pgsql/types';
import { SqlState, StratumError } from '@stratum/shared';
import { loadModule, parseSync } from 'libpg-query';
import { expectNode, type NodeType, nodeType, strOf } from '../analyze/ast.ts';

/** One parsed statement and its text. */
export interface ParsedStatement {
  /** The statement node (`{ SelectStmt: … }`, `{ InsertStmt: … }`, …); undefined for the empty query. */
  stmt: Node | undefined;
  /** Statement kind: the node's type name (`Empty` for the empty query). */
  kind: NodeType | 'Empty';
  /** Text of this statement alone (trimmed, without the trailing semicolon). */
  sql: string;
  /** UTF-8 bytes of `sql` (AST locations index into these, after subtracting `offset`). */
  bytes: Buffer;
  /** Byte offset of `sql` in the original query string. */
  offset: number;
}

let ready: Promise<void> | undefined;

/** Load the parser's WebAssembly module once per process. */
export function initParser(): Promise<void> {
  ready ??= loadModule();
  return ready;
}

/**
 * Parse a query string into statements.
 * @throws StratumError 42601 with the PostgreSQL message and position on a syntax error.
 */
export function parseSql(text: string): ParsedStatement[] {
  let tree: ParseResult;
  try {
    tree = parseSync(text) as ParseResult;
  } catch (e) {
    const d = (e as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const msg = d?.message ?? (e as Error).message;
    const opts: { position?: number } = {};
    if (typeof d?.cursorPosition === 'number') opts.position = d.cursorPosition + 1;
    throw new StratumError(SqlState.syntaxError, msg, opts);
  }
  const all = Buffer.from(text, 'utf8');
  const out: ParsedStatement[] = [];
  for (const s of tree.stmts ?? []) {
    if (!s.stmt) continue;
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : all.length;
    const bytes = all.subarray(start, end);
    const kind = nodeType(s.stmt);
    out.push({ stmt: s.stmt, kind, sql: bytes.toString('utf8'), bytes, offset: start });
  }
  return out;
}

/**
 * The first statement of text the router wrote or stored itself (a view's query, a finder's
 * DuckDB text, a probe); undefined when it holds none.
 * @throws libpg-query's error on a syntax error (a bug: user text goes through {@link parseSql}).
 */
export function parseFirst(sql: string): Node | undefined {
  return (parseSync(sql) as ParseResult).stmts?.[0]?.stmt;
}

/**
 * The SELECT of text the router wrote itself ({@link parseFirst}).
 * @throws StratumError XX000 when the text is not a SELECT.
 */
export function parseSelect(sql: string): SelectStmt {
  return expectNode(parseFirst(sql), 'SelectStmt');
}

/** The names of a `names` list (`[{String:{sval}}]`) joined with dots, lower-cased as PostgreSQL folds them already. */
export function qualifiedName(names: Node[] | undefined): string {
  return (names ?? []).map((n) => strOf(n) ?? '').join('.');
}
