/**
 * Binding a plan's expressions for one execution: parameters ($n, text format from the wire)
 * become typed constants; the statement's stable time functions (now(), current_timestamp,
 * current_date, …) become constants of the transaction's start, so every tier that evaluates
 * the expression sees the same value (PostgreSQL: now() is the transaction's start time).
 */
import {
  castValue,
  coerceLiteral,
  type EvalContext,
  type EvalRow,
  type Expr,
  evaluate,
  type ResultType,
  SequenceClaimNeeded,
  SqlState,
  type SqlType,
  StratumError,
  type Value,
} from '@stratum/shared';

/** Parameter values of one execution (text format; null = NULL). */
export type Params = readonly (string | null)[];

/** Calls whose value is fixed for a transaction (or statement): folded into constants at bind. */
const STABLE_TIME = new Set([
  'now',
  'current_timestamp',
  'transaction_timestamp',
  'statement_timestamp',
  'localtimestamp',
  'current_date',
  'current_time',
  'localtime',
]);

/**
 * The typed value of parameter `$n` (1-based) for type `t` (`unknown` → text).
 * @throws StratumError 08P01 when the parameter is missing; the type's input errors (22P02 …).
 */
export function paramValue(params: Params, n: number, t: ResultType): Value {
  if (n < 1 || n > params.length) throw new StratumError(SqlState.undefinedParameter, `there is no parameter $${n}`);
  const v = params[n - 1] ?? null;
  if (v === null) return null;
  return coerceLiteral(v, t === 'unknown' ? 'text' : (t as SqlType));
}

/**
 * The value of a value expression with `params` bound: a parameter or constant directly, else
 * `evaluate` of the bound expression. Point reads and inserts take this path per execution, so
 * the common `$n` costs no bound tree (which the evaluator would compile anew each time).
 * @throws what {@link paramValue} and `evaluate` throw (22P02 for a bad parameter, …).
 */
export function boundValue(e: Expr, params: Params, ctx: EvalContext): Value {
  if (e.k === 'param') return paramValue(params, e.n, e.t);
  if (e.k === 'const') return e.v;
  return evaluate(bindExpr(e, params, ctx), { row: {} }, ctx);
}

/**
 * `e` with parameters replaced by constants and stable time calls folded (see the module
 * comment). Untouched subtrees are returned as they are (no copy).
 */
export function bindExpr(e: Expr, params: Params, ctx: EvalContext): Expr {
  switch (e.k) {
    case 'param':
      return { k: 'const', v: paramValue(params, e.n, e.t), t: e.t === 'unknown' ? 'text' : e.t };
    case 'const':
    case 'col':
    case 'input':
      return e;
    case 'call': {
      if (e.args.length === 0 && STABLE_TIME.has(e.fn)) return { k: 'const', v: evaluate(e, { row: {} }, ctx), t: e.t };
      const args = bindList(e.args, params, ctx);
      return args === e.args ? e : { ...e, args };
    }
    case 'cast': {
      const arg = bindExpr(e.arg, params, ctx);
      return arg === e.arg ? e : { ...e, arg };
    }
    case 'and':
    case 'or': {
      const args = bindList(e.args, params, ctx);
      return args === e.args ? e : { ...e, args };
    }
    case 'not':
    case 'test': {
      const arg = bindExpr(e.arg, params, ctx);
      return arg === e.arg ? e : { ...e, arg };
    }
    case 'case': {
      const out: Expr = {
        ...e,
        // biome-ignore lint/suspicious/noThenProperty: the Expr IR names the CASE result `then`.
        when: e.when.map((w) => ({ cond: bindExpr(w.cond, params, ctx), then: bindExpr(w.then, params, ctx) })),
      };
      if (e.arg) out.arg = bindExpr(e.arg, params, ctx);
      if (e.else) out.else = bindExpr(e.else, params, ctx);
      return out;
    }
    case 'in':
      return { ...e, arg: bindExpr(e.arg, params, ctx), list: bindList(e.list, params, ctx) };
    case 'any':
      return { ...e, arg: bindExpr(e.arg, params, ctx), array: bindExpr(e.array, params, ctx) };
    case 'array':
      return { ...e, items: bindList(e.items, params, ctx) };
    case 'coalesce':
    case 'greatest':
    case 'least':
      return { ...e, args: bindList(e.args, params, ctx) };
    case 'nullif':
    case 'distinct':
      return { ...e, args: [bindExpr(e.args[0], params, ctx), bindExpr(e.args[1], params, ctx)] } as Expr;
  }
}

function bindList(list: Expr[], params: Params, ctx: EvalContext): Expr[] {
  let changed = false;
  const out = list.map((x) => {
    const y = bindExpr(x, params, ctx);
    if (y !== x) changed = true;
    return y;
  });
  return changed ? out : list;
}

/**
 * Evaluate with sequence claims: when a nextval needs values this router has not claimed yet,
 * claim them (a catalog round trip) and evaluate again.
 * @throws the evaluation's StratumError.
 */
export async function evaluateAsync(e: Expr, r: EvalRow, ctx: EvalContext, claim: (seq: string) => Promise<void>): Promise<Value> {
  for (let attempt = 0; ; attempt++) {
    try {
      return evaluate(e, r, ctx);
    } catch (err) {
      if (!(err instanceof SequenceClaimNeeded) || attempt > 8) throw err;
      await claim(err.sequence);
    }
  }
}

/** A value of result type `from` assigned to a column of type `to` (PostgreSQL assignment cast). */
export function assignValue(v: Value, from: ResultType, to: SqlType, typmod: number | undefined, ctx: EvalContext): Value {
  if (v === null) return null;
  if (from === to && typmod === undefined) return v;
  return castValue(v, from, to, typmod, 'assignment', ctx);
}
