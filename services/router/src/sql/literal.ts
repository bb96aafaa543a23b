/**
 * Constant values of AST expressions (literals, parameters, casts of them, negation), for the
 * shard-placement and time-range predicates of analytical reads (olap.ts). Everything else is
 * compiled by the analyze stage (analyze/).
 */
import { coerceLiteral, type Literal, resolveTypeName, SqlState, StratumError, UnsupportedError } from '@stratum/shared';
import { type Node, qualifiedName } from './parse.ts';

/** Parameter values of the statement being executed (text format; null = NULL). */
export type Params = readonly (string | null)[];

/** Value of an A_Const node (zero/false fields are omitted by libpg-query). */
export function constValue(c: Node): Literal {
  if (c.isnull) return null;
  if (c.ival !== undefined) return c.ival.ival ?? 0;
  if (c.fval !== undefined) {
    const s: string = c.fval.fval ?? '0';
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
export function literalOf(e: Node, params: Params): Literal {
  if (e.A_Const) return constValue(e.A_Const);
  if (e.ParamRef) return param(e.ParamRef.number ?? 0, params, e.ParamRef.location);
  if (e.TypeCast) {
    const v = literalOf(e.TypeCast.arg, params);
    const tn = typeNameOf(e.TypeCast.typeName);
    const t = resolveTypeName(tn);
    if (!t) throw new UnsupportedError(`type ${tn} is not supported`);
    const c = coerceLiteral(v, t) as Literal;
    // Timestamps and dates keep their text so the column's own coercion reads them.
    return t === 'timestamp' || t === 'timestamptz' || t === 'date' ? (v === null ? null : String(v)) : c;
  }
  if (e.A_Expr && e.A_Expr.kind === 'AEXPR_OP' && !e.A_Expr.lexpr && qualifiedName(e.A_Expr.name) === '-') {
    const v = literalOf(e.A_Expr.rexpr, params);
    if (typeof v === 'number') return -v;
    if (typeof v === 'bigint') return -v;
    if (typeof v === 'string' && /^\s*[+-]?[\d.]/.test(v)) return v.trim().startsWith('-') ? v.trim().slice(1) : `-${v.trim()}`;
  }
  const loc = nodeLocation(e);
  const opts: { position?: number } = {};
  if (loc !== undefined) opts.position = loc + 1;
  throw new UnsupportedError('only constants and parameters are supported here (INSERT VALUES and key predicates)', opts);
}

/** Type name of a TypeName node (`pg_catalog.int4` → `int4`). */
export function typeNameOf(t: Node | undefined): string {
  const names: string[] = (t?.names ?? []).map((n: Node) => n.String?.sval ?? '');
  const last = names[names.length - 1] ?? '';
  return names.length > 1 && names[0] === 'pg_catalog' ? last : names.join('.');
}

/** First `location` found in a node (for error positions). */
export function nodeLocation(e: Node): number | undefined {
  for (const v of Object.values(e)) {
    if (v && typeof v === 'object' && typeof v.location === 'number') return v.location;
  }
  return undefined;
}
