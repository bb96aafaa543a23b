/**
 * Building and reading the nodes the rewrite inserts (libpg-query's AST, `{ Type: fields }`,
 * typed by `@pgsql/types`): calls, constants, operators and casts to DuckDB types, and the
 * constants a rule depends on.
 */
import type { A_Expr, FuncCall, Node, TypeName } from '@pgsql/types';
import { elementType, isArrayType, type ResultType } from '@stratum/shared';
import { constString, nodeOf, present, strOf } from '../../analyze/ast.ts';
import type { FnCall, Typed } from './types.ts';

/** A `String` node (an identifier or name part). */
export function str(s: string): Node {
  return { String: { sval: s } };
}

/** A call of function `name` (a DuckDB function or a pg-macros.ts macro). */
export function fn(name: string, args: Node[]): Node {
  return { FuncCall: { funcname: [str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

/** An integer constant. */
export function intConst(n: number): Node {
  return { A_Const: { ival: { ival: n } } };
}

/** A string constant. */
export function textConst(s: string): Node {
  return { A_Const: { sval: { sval: s } } };
}

/** The NULL constant. */
export function nullConst(): Node {
  return { A_Const: { isnull: true } };
}

/** `l op r`, a binary operator expression (`op` as DuckDB reads it: `+`, `||`, …). */
export function opExpr(op: string, l: Node, r: Node): Node {
  return { A_Expr: { kind: 'AEXPR_OP', name: [str(op)], lexpr: l, rexpr: r } };
}

/** `CASE WHEN x IS NULL THEN NULL ELSE value END`: NULL when `x` is NULL (as a strict function is). */
export function nullWhenNull(x: Node, value: Node): Node {
  return {
    CaseExpr: {
      args: [{ CaseWhen: { expr: { NullTest: { arg: x, nulltesttype: 'IS_NULL' } }, result: nullConst() } }],
      defresult: value,
    },
  };
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

/**
 * `CAST(node AS duckType)`: `duckType` a DuckDB type name (`decimal`, `varchar`), with type
 * modifiers `mods` (`decimal(38, 10)`); `json[]` is an array of the element type.
 */
export function castNode(node: Node, duckType: string, mods: number[] = []): Node {
  const array = duckType.endsWith('[]');
  const tn: TypeName = { names: [str(array ? duckType.slice(0, -2) : duckType)], typemod: -1 };
  if (array) tn.arrayBounds = [intConst(-1)];
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
export function castTyped(x: Typed, t: ResultType): Node {
  const d = duckTypeOf(t);
  return d ? castNode(x.node, d) : x.node;
}

/** `CAST(x AS JSON[])` (jsonb[] and json[] values, json arrays to unnest). */
export function jsonArray(x: Node): Node {
  return castNode(x, 'json[]');
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
export function constText(n: Node | undefined): string | undefined {
  const cast = nodeOf(n, 'TypeCast');
  return cast ? constText(cast.arg) : constString(n);
}

/** The value of an integer constant node (possibly cast), or undefined. */
export function constInt(n: Node | undefined): number | undefined {
  const cast = nodeOf(n, 'TypeCast');
  if (cast) return constInt(cast.arg);
  const c = nodeOf(n, 'A_Const');
  if (c && !c.fval && !c.sval && !c.isnull && !c.boolval) return Number(c.ival?.ival ?? 0);
  return undefined;
}

/** Whether `n` is the NULL constant. */
export function isNullConst(n: Node | undefined): boolean {
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

/**
 * Argument `i` of call `c`, cast to the signature's type; the signature PostgreSQL chose for the
 * rule that asks has it.
 * @throws StratumError XX000 when it does not: a bug in the router, not bad input.
 */
export function argOf(c: FnCall, i: number): Node {
  return present(c.nodes[i], `argument ${i + 1} of ${c.name}()`);
}

/**
 * Argument `i` of call `c` as typed before the cast (see {@link argOf}).
 * @throws StratumError XX000 when it is absent: a bug in the router, not bad input.
 */
export function typedArgOf(c: FnCall, i: number): Typed {
  return present(c.args[i], `argument ${i + 1} of ${c.name}()`);
}
