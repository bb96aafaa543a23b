/**
 * Constant values of AST expressions (literals, parameters, casts of them, negation), for the
 * shard-placement and time-range predicates of analytical reads (olap.ts). Everything else is
 * compiled by the analyze stage (analyze/).
 */

import type { A_Const, Node, TypeName } from '@pgsql/types';
import { coerceLiteral, type Literal, resolveTypeName, SqlState, StratumError, UnsupportedError } from '@stratum/shared';
import { locationOf, nodeOf, strOf } from '../analyze/ast.ts';
import { qualifiedName } from './parse.ts';

/** Parameter values of the statement being executed (text format; null = NULL). */
export type Params = readonly (string | null)[];

/** Value of an A_Const node (zero/false fields are omitted by libpg-query). */
export function constValue(c: A_Const): Literal {
  if (c.isnull) return null;
  if (c.ival !== undefined) return c.ival.ival ?? 0;
  if (c.fval !== undefined) {
    const s = c.fval.fval ?? '0';
    if (/^[+-]?\d+$/.test(s)) {
      const b = BigInt(s);
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
    }
    return Number(s);
  }
  if (c.sval !== undefined) return c.sval.sval ?? '';
  if (c.boolval !== undefined) return c.boolval.boolval ?? false;
  if (c.bsval !== undefined) return c.bsval.bsval ?? '';
  return null;
}

function param(n: number, params: Params, location?: number): Literal {
  if (n < 1 || n > params.length) {
    const opts: { position?: number } = {};
    if (location !== undefined) opts.position = location + 1;
    throw new StratumError(SqlState.undefinedParameter, `there is no parameter $${n}`, opts);
  }
  return params[n - 1] ?? null;
}

/**
 * Value of a constant expression: literal, $n, -literal, or literal::type. A cast is checked
 * against the type's input syntax at once (so `'x'::int` fails with 22P02 as in PostgreSQL).
 * @throws UnsupportedError 0A000 for any other expression.
 */
export function literalOf(e: Node | undefined, params: Params): Literal {
  const a = nodeOf(e, 'A_Const');
  if (a) return constValue(a);
  const p = nodeOf(e, 'ParamRef');
  if (p) return param(p.number ?? 0, params, p.location);
  const cast = nodeOf(e, 'TypeCast');
  if (cast) {
    const v = literalOf(cast.arg, params);
    const tn = typeNameOf(cast.typeName);
    const t = resolveTypeName(tn);
    if (!t) throw new UnsupportedError(`type ${tn} is not supported`);
    const c = coerceLiteral(v, t) as Literal;
    // Timestamps and dates keep their text so the column's own coercion reads them.
    return t === 'timestamp' || t === 'timestamptz' || t === 'date' ? (v === null ? null : String(v)) : c;
  }
  const op = nodeOf(e, 'A_Expr');
  if (op && op.kind === 'AEXPR_OP' && !op.lexpr && qualifiedName(op.name) === '-') {
    const v = literalOf(op.rexpr, params);
    if (typeof v === 'number') return -v;
    if (typeof v === 'bigint') return -v;
    if (typeof v === 'string' && /^\s*[+-]?[\d.]/.test(v)) return v.trim().startsWith('-') ? v.trim().slice(1) : `-${v.trim()}`;
  }
  const loc = locationOf(e);
  const opts: { position?: number } = {};
  if (loc !== undefined) opts.position = loc + 1;
  throw new UnsupportedError('only constants and parameters are supported here (INSERT VALUES and key predicates)', opts);
}

/** Type name of a TypeName node (`pg_catalog.int4` → `int4`). */
export function typeNameOf(t: TypeName | undefined): string {
  const names = (t?.names ?? []).map((n) => strOf(n) ?? '');
  const last = names[names.length - 1] ?? '';
  return names.length > 1 && names[0] === 'pg_catalog' ? last : names.join('.');
}
