/**
 * PostgreSQL expression semantics for the row tiers (DESIGN §7; PostgreSQL 15 chapters 9
 * "Functions and Operators" and 10 "Type Conversion"): the type rules the router's analyze
 * stage uses to resolve operators, functions and casts, and the evaluator the TX engine,
 * ingestion and the router run on compiled {@link Expr}s. One implementation, so a value
 * computed by any tier is the value PostgreSQL would compute.
 *
 * Errors are PostgreSQL's: 22003 numeric out of range, 22012 division by zero, 22001 string
 * too long, 22P02 bad input, 42883 undefined function/operator, 2200H sequence exhausted, …
 *
 * Layout: resolve.ts (chapter 10 rules over pg-catalog.ts, PostgreSQL's own signatures),
 * cast.ts (castValue), eval.ts (evaluate), numeric.ts (exact numeric), ops-*.ts and fn-*.ts
 * (operators and functions by family), registry.ts (what is implemented).
 */
import type { ResultType } from '../types.ts';
import './ops-core.ts';
import './fn-math.ts';
import './fn-text.ts';
import './fn-datetime.ts';
import './fn-json.ts';
import './fn-array.ts';
import './fn-format.ts';
import './fn-session.ts';

export { searchPath } from './fn-session.ts';

import { FUNCTIONS, OPERATORS } from './registry.ts';
import { setImplemented } from './resolve.ts';

export { castValue } from './cast.ts';
/** PostgreSQL's btree ordering of two non-null values of one type (ORDER BY, DISTINCT): see compare.ts. */
export { compareValues as compareSqlValues, trimPadding } from './compare.ts';
export { type EvalContext, type SequenceAccess, SequenceClaimNeeded, type SessionAccess } from './context.ts';
export { type EvalRow, evaluate, typeOf } from './eval.ts';
export { parseText as inputText, toText as outputText } from './io.ts';
/** Exact numeric arithmetic on PostgreSQL numeric text (see numeric.ts). */
export { numericArith, numericFromInt } from './numeric.ts';
export {
  type CastContext,
  canCast,
  commonType,
  displayType,
  functionKind,
  type ResolveFailure,
  resolveFunction,
  resolveFunctionDetail,
  resolveOperator,
  resolveOperatorDetail,
  type Signature,
} from './resolve.ts';

const safe = (f: () => unknown): boolean => {
  try {
    return f() !== undefined;
  } catch {
    return false;
  }
};

setImplemented(
  (op: string, args: ResultType[], t: ResultType) => safe(() => OPERATORS.get(`${op}/${args.length}`)?.(args, t)),
  (name: string, args: ResultType[], t: ResultType) => safe(() => FUNCTIONS.get(name)?.(args, t)),
);
