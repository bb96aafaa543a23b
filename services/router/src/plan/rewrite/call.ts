/**
 * Function calls: resolved over PostgreSQL's pg_proc for the arguments' types, the arguments
 * cast to the function's argument types, and replaced where DuckDB's function of that name
 * means something else (the function families of fn-*.ts).
 */
import type { FuncCall } from '@pgsql/types';
import { functionKind, type ResultType, resolveFunctionDetail, SqlState, StratumError } from '@stratum/shared';
import { CATALOG_SCHEMA } from '../../catalog/relations.ts';
import { coerceArgument } from './coerce.ts';
import { dateTimeFunction, makeInterval } from './fn-datetime.ts';
import { formatFunction } from './fn-format.ts';
import { jsonArrayFunction } from './fn-json-array.ts';
import { numericFunction } from './fn-numeric.ts';
import { stringFunction } from './fn-string.ts';
import { castTyped, funcName, isNullConst, isUntypedParam } from './nodes.ts';
import { displayName, type FnCall, type Rewriter, type Scope, type Typed } from './types.ts';
import { rewriteWithin } from './untyped.ts';

/** Result types the rewrite casts scalar and window function results to (see {@link call}). */
const RESULT_CAST = new Set<ResultType>([
  'smallint',
  'integer',
  'bigint',
  'real',
  'double',
  'boolean',
  'date',
  'timestamp',
  'timestamptz',
  'interval',
]);

/**
 * A function call (`inFrom`: a FROM-clause function), typed by the function PostgreSQL resolves
 * for its arguments' types (pg_proc), the arguments cast to its argument types.
 * @throws StratumError 42883 when PostgreSQL has no such function for the arguments' types.
 */
export function call(rw: Rewriter, v: FuncCall, scope: Scope, inFrom: boolean): Typed {
  const name = funcName(v);
  if (name === 'make_interval') {
    const made = makeInterval(rw, v, scope);
    if (made) return made;
  }
  const args = (v.args ?? []).map((a) => rw.expr(a, scope));
  const base: FuncCall = { ...v };
  if (v.args) base.args = args.map((a) => a.node);
  if (v.agg_filter) base.agg_filter = rw.expr(v.agg_filter, scope).node;
  if (v.agg_order) base.agg_order = rewriteWithin(rw, v.agg_order, scope);
  if (v.over) base.over = rewriteWithin(rw, v.over, scope);
  const keep: Typed = { node: { FuncCall: base }, t: 'unknown' };
  if (name.startsWith(`${CATALOG_SCHEMA}.`)) return catalogMacro(keep, name.slice(CATALOG_SCHEMA.length + 1), args);
  if (v.func_variadic || v.agg_within_group || name.includes('.')) return keep;
  // Untyped parameters take the type PostgreSQL resolves for them (`abs($1)` is abs(float8), as
  // an unknown argument prefers its category's preferred type; PostgreSQL 15 §10.3); DuckDB would
  // refuse to choose between its overloads.
  if (args.some((a) => a.t === 'unknown' && !a.strLit && !isNullConst(a.node) && !isUntypedParam(a))) return keep;
  const sig = v.agg_star
    ? resolveFunctionDetail(name, [], false, false)
    : resolveFunctionDetail(
        name,
        args.map((a) => a.t),
        false,
        false,
      );
  if (sig === 'none' && functionKind(name) !== undefined && args.every((a) => a.t !== 'unknown')) {
    throw new StratumError(SqlState.undefinedFunction, `function ${name}(${args.map((a) => displayName(a.t)).join(', ')}) does not exist`, {
      hint: 'No function matches the given name and argument types. You might need to add explicit type casts.',
    });
  }
  if (typeof sig === 'string') return keep;
  const nodes = args.map((a, i) => coerceArgument(a, sig.args[i] ?? 'unknown'));
  if (v.args) base.args = nodes;
  const special = func({ name, call: base, nodes, args, sig, inFrom, a0: sig.args[0], t: sig.t });
  if (special) return special;
  // DuckDB's result type may differ (length() is BIGINT, sign() TINYINT, ntile() BIGINT):
  // cast scalar and window results to PostgreSQL's type where that is lossless.
  if (sig.kind !== 'aggregate' && !sig.setReturning && !inFrom && RESULT_CAST.has(sig.t)) {
    return { node: castTyped({ node: { FuncCall: base }, t: sig.t }, sig.t), t: sig.t };
  }
  return { node: { FuncCall: base }, t: sig.t };
}

/**
 * A catalog macro the catalog stage put in place of PostgreSQL's function `name`
 * (catalog/functions.ts), typed as PostgreSQL types that function for the arguments' types (so
 * `generate_series(1, array_upper(i.indkey, 1))` around it is typed too), its result cast to that
 * type as other calls' are.
 * Unknown when PostgreSQL resolves no function (the macro's oid and name arguments are bigint
 * and text here, where PostgreSQL's are oid, regclass and name).
 */
function catalogMacro(keep: Typed, name: string, args: Typed[]): Typed {
  if (args.some((a) => a.t === 'unknown' && !a.strLit && !isNullConst(a.node))) return keep;
  const sig = resolveFunctionDetail(
    name,
    args.map((a) => a.t),
    false,
    false,
  );
  if (typeof sig === 'string' || sig.setReturning) return keep;
  return RESULT_CAST.has(sig.t) ? { node: castTyped({ node: keep.node, t: sig.t }, sig.t), t: sig.t } : { node: keep.node, t: sig.t };
}

/** Functions whose DuckDB meaning differs (arguments already cast to `sig.args`), by family. */
function func(c: FnCall): Typed | undefined {
  return numericFunction(c) ?? stringFunction(c) ?? formatFunction(c) ?? dateTimeFunction(c) ?? jsonArrayFunction(c);
}
