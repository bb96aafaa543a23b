/**
 * SQL-level prepared statements of a session (PostgreSQL 15 "PREPARE", "EXECUTE",
 * "DEALLOCATE"): `PREPARE name [(type, …)] AS statement` plans the statement with its
 * parameters typed from the declared types (a type left out, or one Stratum does not name, is
 * inferred from its use, as for an undeclared parameter of the extended protocol);
 * `EXECUTE name [(arg, …)]` evaluates the arguments, casts each to its parameter's type and runs
 * the statement with them; `DEALLOCATE [PREPARE] name | ALL` forgets them. DISCARD ALL forgets
 * them too. The names live per session, apart from the extended protocol's statement names.
 *
 * Errors are PostgreSQL's: 42P05 for a name already prepared, 26000 for one that is not,
 * 42601 for a wrong number of EXECUTE arguments.
 */
import type { DeallocateStmt, ExecuteStmt, Node, PrepareStmt, TypeName } from '@pgsql/types';
import { pgTypeOid, resolveTypeName, SqlState, StratumError } from '@stratum/shared';
import { entryOf, strOf } from './analyze/ast.ts';
import type { ParsedStatement } from './sql/parse.ts';

/** One statement prepared with PREPARE: what the session needs to run it. */
export interface SqlPrepared<H> {
  /** The session's handle of the statement (its parse and plan). */
  handle: H;
  /** Declared parameter types as written (for the casts of EXECUTE's arguments). */
  types: (TypeName | undefined)[];
  /** Number of parameters the statement has ($n it uses, or declared, whichever is more). */
  params: number;
}

/** The session's PREPAREd statements, by name. `H`: the session's statement handle. */
export class SqlPreparedStatements<H> {
  private readonly byName = new Map<string, SqlPrepared<H>>();

  /** @throws StratumError 42P05 when `name` is taken. */
  add(name: string, p: SqlPrepared<H>): void {
    if (this.byName.has(name)) throw new StratumError('42P05', `prepared statement "${name}" already exists`);
    this.byName.set(name, p);
  }

  /** Whether `name` was prepared with SQL PREPARE. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** @throws StratumError 26000 when `name` is not prepared. */
  get(name: string): SqlPrepared<H> {
    const p = this.byName.get(name);
    if (!p) throw new StratumError('26000', `prepared statement "${name}" does not exist`);
    return p;
  }

  /**
   * DEALLOCATE `name`, or every statement when `name` is undefined (DEALLOCATE ALL, DISCARD ALL).
   * @throws StratumError 26000 when `name` is not prepared.
   */
  remove(name: string | undefined): void {
    if (name === undefined) this.byName.clear();
    else if (!this.byName.delete(name)) throw new StratumError('26000', `prepared statement "${name}" does not exist`);
  }
}

/** The parse of PREPARE's inner statement, located in the PREPARE's text (errors point into it). */
export function innerStatement(outer: ParsedStatement, p: PrepareStmt): ParsedStatement {
  const stmt = p.query as Node;
  return { ...outer, stmt, kind: entryOf(stmt)[0] };
}

/** The type oids PREPARE declares (0, inferred, for a type Stratum does not name). */
export function declaredTypeOids(p: PrepareStmt): number[] {
  return declaredTypes(p).map((tn) => {
    const names = (tn?.names ?? []).map((x) => strOf(x) ?? '');
    const base = resolveTypeName(`${names[names.length - 1] ?? ''}${tn?.arrayBounds ? '[]' : ''}`);
    return base ? pgTypeOid(base) : 0;
  });
}

/** PREPARE's declared type names. */
export function declaredTypes(p: PrepareStmt): (TypeName | undefined)[] {
  return (p.argtypes ?? []).map((a) => (a as { TypeName?: TypeName }).TypeName);
}

/**
 * The SELECT that evaluates EXECUTE's arguments as one row, each cast to its declared type
 * (PostgreSQL coerces them to the parameter types).
 * @throws StratumError 42601 for a wrong number of arguments.
 */
export function argumentsSelect(name: string, e: ExecuteStmt, prepared: SqlPrepared<unknown>): Node | undefined {
  const args = e.params ?? [];
  if (args.length !== prepared.params) {
    throw new StratumError(SqlState.syntaxError, `wrong number of parameters for prepared statement "${name}"`, {
      detail: `Expected ${prepared.params} parameters but got ${args.length}.`,
    });
  }
  if (args.length === 0) return undefined;
  const targetList = args.map((arg, i) => {
    const tn = prepared.types[i];
    return { ResTarget: { val: tn ? { TypeCast: { arg, typeName: tn } } : arg } };
  });
  return { SelectStmt: { targetList, op: 'SETOP_NONE', limitOption: 'LIMIT_OPTION_DEFAULT' } } as Node;
}

/** DEALLOCATE's name, undefined for ALL. */
export function deallocateName(d: DeallocateStmt): string | undefined {
  return d.name ?? undefined;
}
