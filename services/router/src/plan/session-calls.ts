/**
 * Session-changing calls in the select list of a statement that runs on DuckDB (plan stage and
 * its execute step): `SELECT set_config(name, 'v', false) FROM pg_settings WHERE …` (pg_dump's
 * `restrict_nonsystem_relation_kind`). DuckDB cannot change a router session, so the call's
 * arguments travel as one text list column, and the router applies `set_config` to each row the
 * statement returns, in row order, and returns what PostgreSQL's set_config returns (the new
 * value as SHOW prints it). Only top-level select-list calls of a plain SELECT are deferred;
 * elsewhere (WHERE, subqueries) DuckDB reports the unknown function as before.
 */
import type { FuncCall, Node, SelectStmt } from '@pgsql/types';
import { type EvalContext, SqlState, StratumError, type Value } from '@stratum/shared';
import { nodeOf, strOf } from '../analyze/ast.ts';

/** A select-list column the router computes from DuckDB's value (a text list of the call's arguments). */
export interface SessionCall {
  /** 0-based output column. */
  column: number;
  fn: 'set_config';
}

/** The functions deferred to the router, by name. */
const DEFERRED = new Set(['set_config']);

function deferredName(f: FuncCall): 'set_config' | undefined {
  const names = (f.funcname ?? []).map((n) => strOf(n) ?? '');
  const last = names[names.length - 1] ?? '';
  if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return undefined;
  return DEFERRED.has(last) ? (last as 'set_config') : undefined;
}

function textCast(arg: Node): Node {
  return { TypeCast: { arg, typeName: { names: [{ String: { sval: 'pg_catalog' } }, { String: { sval: 'text' } }], typemod: -1 } } };
}

/**
 * `s` with each deferred call of its select list replaced by `ARRAY[arg::text, …]`, and the
 * columns so replaced; `s` itself when it has none (or is a set operation).
 */
export function deferSessionCalls(s: SelectStmt): { stmt: SelectStmt; calls: SessionCall[] } {
  if (s.op && s.op !== 'SETOP_NONE') return { stmt: s, calls: [] };
  const calls: SessionCall[] = [];
  const targetList = (s.targetList ?? []).map((item, column) => {
    const rt = nodeOf(item, 'ResTarget');
    const f = nodeOf(rt?.val, 'FuncCall');
    const fn = f ? deferredName(f) : undefined;
    if (!rt || !f || !fn || f.agg_star || f.over || (f.args ?? []).length !== 3) return item;
    calls.push({ column, fn });
    return {
      ResTarget: {
        ...rt,
        name: rt.name ?? fn,
        val: { A_ArrayExpr: { elements: (f.args ?? []).map(textCast) } },
      },
    } as Node;
  });
  return calls.length === 0 ? { stmt: s, calls } : { stmt: { ...s, targetList }, calls };
}

/**
 * Apply the deferred calls to `rows` (in place, row by row) through the session of `ctx`.
 * @throws StratumError 0A000 when the context has no session; set_config's own errors (42704,
 *   0A000, 55P02, 22023 of settings.ts).
 */
export function applySessionCalls(calls: readonly SessionCall[], rows: Value[][], ctx: EvalContext): void {
  if (calls.length === 0) return;
  const session = ctx.session;
  if (!session) throw new StratumError(SqlState.featureNotSupported, 'set_config() needs a session');
  for (const row of rows) {
    for (const c of calls) {
      const args = row[c.column] as (string | null)[] | null;
      const [name, value, isLocal] = args ?? [];
      // PostgreSQL's set_config is strict in its name and is_local: NULL is an error / NULL result.
      if (name === null || name === undefined) throw new StratumError('22004', 'SET requires parameter name');
      row[c.column] = session.setConfig(name, value ?? '', isLocal === 'true');
    }
  }
}
