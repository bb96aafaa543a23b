/**
 * Building and reading the nodes the rewrite inserts (libpg-query's AST, `{ Type: fields }`):
 * calls, constants and casts to DuckDB types, and the constants a rule depends on.
 */
import type { A_Expr, FuncCall, Node as PgNode, TypeName } from '@pgsql/types';
import { elementType, isArrayType, type ResultType } from '@stratum/shared';
import { constString, nodeOf, strOf } from '../../analyze/ast.ts';
import type { FnCall, Node, Typed } from './types.ts';

/** A `String` node (an identifier or name part). */
export function str(s: string): PgNode {
  return { String: { sval: s } };
}

/** A call of function `name` (a DuckDB function or a pg-macros.ts macro). */
export function fn(name: string, args: PgNode[]): PgNode {
  return { FuncCall: { funcname: [str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

/** An integer constant. */
export function intConst(n: number): PgNode {
  return { A_Const: { ival: { ival: n } } };
}

/** A string constant. */
export function textConst(s: string): PgNode {
  return { A_Const: { sval: { sval: s } } };
}

/** DuckDB type name of a PostgreSQL type, for the casts the rewrite inserts. */
const DUCK_TYPE: Partial<Record<string, string>> = {
  smallint: 'smallint',
  integer: 'integer',
  bigint: 'bigint',
  real: 'real',
  double: 'double',
  text: 'varchar',
  varchar: 'varchar',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  interval: 'interval',
  time: 'time',
  uuid: 'uuid',
  bytea: 'blob',
  json: 'json',
  jsonb: 'json',
};

/** `CAST(node AS duckType)` (`duckType` a DuckDB type name, possibly with modifiers). */
export function castNode(node: PgNode, duckType: string, mods: number[] = []): PgNode {
  const tn: TypeName = { names: [str(duckType)], typemod: -1 };
  if (mods.length) tn.typmods = mods.map(intConst);
  return { TypeCast: { arg: node, typeName: tn } };
}

/** The DuckDB type name of PostgreSQL type `t` (arrays as `elem[]`), undefined when the rewrite has none. */
export function duckTypeOf(t: ResultType): string | undefined {
  if (t === 'unknown') return undefined;
  if (isArrayType(t)) {
    const e = DUCK_TYPE[elementType(t)];
    return e ? `${e}[]` : undefined;
  }
  return DUCK_TYPE[t];
}

/** `x` cast to the DuckDB type of PostgreSQL type `t`, or as it is when that has none. */
export function castTyped(x: Typed, t: ResultType): PgNode {
  const d = duckTypeOf(t);
  if (!d) return x.node;
  if (d.endsWith('[]'))
    return { TypeCast: { arg: x.node, typeName: { names: [str(d.slice(0, -2))], typemod: -1, arrayBounds: [intConst(-1)] } } };
  return castNode(x.node, d);
}

/** `CAST(x AS JSON[])`. */
export function jsonArray(x: PgNode): PgNode {
  return { TypeCast: { arg: x, typeName: { names: [str('json')], typemod: -1, arrayBounds: [intConst(-1)] } } };
}

/** Names of a function call, lower case, without `pg_catalog.`. */
export function funcName(f: FuncCall): string {
  const names = (f.funcname ?? []).map((n) => strOf(n) ?? '');
  const last = names[names.length - 1] ?? '';
  return names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog') ? last : names.join('.');
}

/** The operator of an A_Expr, without its schema. */
export function opName(e: A_Expr): string {
  const names = (e.name ?? []).map((n) => strOf(n) ?? '');
  return names[names.length - 1] ?? '';
}

/** The text of a string constant node (possibly cast), or undefined. */
export function constText(n: PgNode | undefined): string | undefined {
  const cast = nodeOf(n, 'TypeCast');
  return cast ? constText(cast.arg) : constString(n);
}

/** The value of an integer constant node (possibly cast), or undefined. */
export function constInt(n: PgNode | undefined): number | undefined {
  const cast = nodeOf(n, 'TypeCast');
  if (cast) return constInt(cast.arg);
  const c = nodeOf(n, 'A_Const');
  if (c && !c.fval && !c.sval && !c.isnull && !c.boolval) return Number(c.ival?.ival ?? 0);
  return undefined;
}

/** Whether `n` is the NULL constant. */
export function isNullConst(n: PgNode | undefined): boolean {
  return nodeOf(n, 'A_Const')?.isnull === true;
}

/** Whether `x` is a bare `$n` whose type nothing has fixed yet (DuckDB binds it from context, if at all). */
export function isUntypedParam(x: Typed): boolean {
  return x.t === 'unknown' && nodeOf(x.node, 'ParamRef') !== undefined;
}

/** Whether `x` is a string literal or NULL (whose type its context decides). */
export function argIsLiteral(x: Typed | undefined): boolean {
  return !!x && (x.strLit === true || isNullConst(x.node));
}

/** The call `c` made of function `name` with `args` (keeping its ORDER BY, FILTER, DISTINCT and window). */
export function callAs(c: FnCall, name: string, args: Node[] = c.nodes): Node {
  return { FuncCall: { ...c.call, funcname: [str(name)], args } };
}
