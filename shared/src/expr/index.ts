/**
 * PostgreSQL expression semantics for the row tiers (DESIGN §7; PostgreSQL 15 chapters 9
 * "Functions and Operators" and 10 "Type Conversion"): the type rules the router's analyze
 * stage uses to resolve operators, functions and casts, and the evaluator the TX engine,
 * ingestion and the router run on compiled {@link Expr}s. One implementation, so a value
 * computed by any tier is the value PostgreSQL would compute.
 *
 * Errors are PostgreSQL's: 22003 numeric out of range, 22012 division by zero, 22001 string
 * too long, 22P02 bad input, 42883 undefined function/operator, 2200H sequence exhausted, …
 */
import type { Expr } from '../tiers.ts';
import type { ResultType, Row, SqlType, Value } from '../types.ts';

/** Session state an evaluation reads. */
export interface EvalContext {
  /** Transaction start (µs since epoch, UTC): now(), current_timestamp, transaction_timestamp(). */
  txnTimeUs: bigint;
  /** Statement start (µs since epoch): statement_timestamp(). */
  stmtTimeUs: bigint;
  /** Session TimeZone: an IANA name or a POSIX/ISO offset; default 'UTC'. */
  timeZone: string;
  /** Sequence functions; absent where sequences cannot be reached (0A000 names the call). */
  sequences?: SequenceAccess;
}

/** Sequence functions for nextval/currval/setval/lastval. */
export interface SequenceAccess {
  /**
   * The next value of `name`. Synchronous: an implementation without a value at hand throws
   * {@link SequenceClaimNeeded}; the caller awaits the claim and evaluates again.
   */
  nextval(name: string): bigint;
  /** @throws 55000 when nextval was not called in this session. */
  currval(name: string): bigint;
  setval(name: string, value: bigint, isCalled: boolean): bigint;
  lastval(): bigint;
}

/** Thrown by {@link SequenceAccess.nextval} when values of `sequence` must be claimed first (async). */
export class SequenceClaimNeeded extends Error {
  constructor(readonly sequence: string) {
    super(`values of sequence "${sequence}" must be claimed`);
    this.name = 'SequenceClaimNeeded';
  }
}

/** The rows an expression reads: `col` nodes read `row` (or `excluded` with rel 1), `input` nodes read `inputs`. */
export interface EvalRow {
  row: Readonly<Row>;
  excluded?: Readonly<Row>;
  inputs?: readonly Value[];
}

/** A resolved function or operator signature: the types its arguments are cast to and its result type. */
export interface Signature {
  /** Types each argument must have (analyze casts them; variadic calls list every argument). */
  args: ResultType[];
  /** Result type. */
  t: ResultType;
  /** Volatile (nextval, random, gen_random_uuid, clock_timestamp): evaluated per row, never folded. */
  volatile?: boolean;
  /** Aggregate or window function: the analytical tier only. */
  kind?: 'scalar' | 'aggregate' | 'window';
}

/** Where a cast is applied (PostgreSQL 15 §10.1: implicit in expressions, assignment to columns, explicit CAST). */
export type CastContext = 'implicit' | 'assignment' | 'explicit';

const todo = (what: string): never => {
  throw new Error(`${what}: not implemented yet`);
};

/**
 * Evaluate `e` over `r`.
 * @throws StratumError with PostgreSQL's SQLSTATE (22012, 22003, 22P02, …).
 */
export function evaluate(e: Expr, r: EvalRow, ctx: EvalContext): Value {
  void e;
  void r;
  void ctx;
  return todo('evaluate');
}

/**
 * Resolve operator `op` for argument types (`unknown` = an untyped literal; one argument = a
 * prefix operator), PostgreSQL 15 §10.2. Undefined when no operator fits (42883).
 */
export function resolveOperator(op: string, args: ResultType[]): Signature | undefined {
  void op;
  void args;
  return todo('resolveOperator');
}

/** Resolve function `name` (lower case, no schema) for argument types, PostgreSQL 15 §10.3. Undefined when none fits (42883). */
export function resolveFunction(name: string, args: ResultType[]): Signature | undefined {
  void name;
  void args;
  return todo('resolveFunction');
}

/** Whether a value of `from` casts to `to` in `context` (pg_cast). */
export function canCast(from: ResultType, to: SqlType, context: CastContext): boolean {
  void from;
  void to;
  void context;
  return todo('canCast');
}

/**
 * Cast a value (stored representation of `from`) to `to` with typmod (assignment casts
 * check lengths and precision: 22001, 22003; explicit casts truncate as PostgreSQL does).
 */
export function castValue(v: Value, from: ResultType, to: SqlType, typmod: number | undefined, context: CastContext, ctx: EvalContext): Value {
  void v;
  void from;
  void to;
  void typmod;
  void context;
  void ctx;
  return todo('castValue');
}

/** The common type of CASE / COALESCE / UNION / VALUES branches (PostgreSQL 15 §10.5). @throws 42804 when they do not match. */
export function commonType(types: ResultType[], what: string): ResultType {
  void types;
  void what;
  return todo('commonType');
}
