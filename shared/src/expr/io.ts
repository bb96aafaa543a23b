/**
 * Text input and output of every type as the evaluator needs it (casts from and to text,
 * `||`, format, concat): PostgreSQL 15's `typinput` / `typoutput` of each type. The value
 * conversions themselves live in types.ts (`coerceLiteral`, `formatValue`); this module adds
 * the session time zone and the rules of the string types.
 */
import { coerceLiteral, formatValue, type ResultType, type SqlType, type Value } from '../types.ts';
import type { EvalContext } from './context.ts';

/**
 * Parse PostgreSQL text input for type `t` (the `typinput` function) under the session's
 * TimeZone and transaction time.
 * @throws DataError 22P02 / 22003 / 22007 / 22008 as PostgreSQL.
 */
export function parseText(s: string, t: SqlType, ctx?: EvalContext): Value {
  if (t === 'text' || t === 'varchar' || t === 'char') return s;
  return coerceLiteral(s, t, ctx ? { timeZone: ctx.timeZone, nowUs: ctx.txnTimeUs } : {});
}

/** PostgreSQL text output of a value of type `t` (the `typoutput` function) in the session's TimeZone; `unknown` values are their text. */
export function toText(v: Value, t: ResultType, ctx?: EvalContext): string {
  if (v === null) return '';
  if (t === 'unknown') return String(v);
  return formatValue(v, t, ctx ? { timeZone: ctx.timeZone } : {}) ?? '';
}
