/**
 * The evaluator's table of implemented operators and functions. Each entry is a factory that
 * receives the resolved argument types and result type (concrete, or PostgreSQL's declared
 * pseudo-types while type resolution asks "is this signature implemented?") and returns the
 * implementation, or undefined when that signature is not implemented.
 */
import { DataError, SqlState } from '../errors.ts';
import type { ResultType, Value } from '../types.ts';
import type { EvalContext } from './context.ts';

/** An implementation: `run` receives evaluated arguments (non-null ones when `strict`, the default). */
export interface Impl {
  run: (args: Value[], ctx: EvalContext) => Value;
  /** Called with NULL arguments too (concat, array_append, …); default false: NULL in, NULL out. */
  nonStrict?: boolean;
}

/** Build the implementation of one signature, or undefined when it is not implemented. */
export type Factory = (args: ResultType[], t: ResultType) => Impl | undefined;

/** Operators by `${symbol}/${number of arguments}`. */
export const OPERATORS = new Map<string, Factory>();
/** Functions by PostgreSQL name. */
export const FUNCTIONS = new Map<string, Factory>();

/** Register an operator (binary unless `arity` is 1). */
export function defOp(symbols: string | string[], f: Factory, arity: 1 | 2 = 2): void {
  for (const s of Array.isArray(symbols) ? symbols : [symbols]) OPERATORS.set(`${s}/${arity}`, f);
}

/** Register a function under one or more names. */
export function defFn(names: string | string[], f: Factory): void {
  for (const n of Array.isArray(names) ? names : [names]) FUNCTIONS.set(n, f);
}

/** A strict implementation from a plain function. */
export function impl(run: (args: Value[], ctx: EvalContext) => Value): Impl {
  return { run };
}

/** A non-strict implementation (sees NULL arguments). */
export function implNonStrict(run: (args: Value[], ctx: EvalContext) => Value): Impl {
  return { run, nonStrict: true };
}

/** 22012 division by zero. */
export function divisionByZero(): DataError {
  return new DataError('22012', 'division by zero');
}

/** 22023 invalid parameter value with PostgreSQL's message. */
export function invalidParameter(message: string): DataError {
  return new DataError(SqlState.invalidParameterValue, message);
}

/** Integer category types. */
export const INT_TYPES: ReadonlySet<string> = new Set(['smallint', 'integer', 'bigint']);
/** Float types. */
export const FLOAT_TYPES: ReadonlySet<string> = new Set(['real', 'double']);
/** String category types. */
export const STRING_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'char', 'unknown']);
