/**
 * Column scopes for compiling expressions (analyze stage): which names an expression may use
 * and what they become in the compiled `Expr` — a column of the row the row tier evaluates
 * over (`col` by field), the proposed row of ON CONFLICT (`excluded.x`, `rel: 1`), or nothing
 * (VALUES, DEFAULT). Parameter types are inferred from their context and collected here, so
 * ParameterDescription carries PostgreSQL's types (PostgreSQL infers `$1` in `id = $1` as the
 * column's type the same way).
 */
import { type ColumnDef, type Expr, fieldOf, type ResultType, SchemaError, SqlState, type TableInfo } from '@stratum/shared';
import type { SessionValues as ExprSession, Scope } from './compile.ts';

/** Parameter types of a statement, filled while compiling it. */
export class ParamTypes {
  readonly types: ResultType[] = [];

  /** @param declared types the client declared in Parse (0/undefined = infer). */
  constructor(declared: readonly (ResultType | undefined)[] = []) {
    declared.forEach((t, i) => {
      if (t !== undefined && t !== 'unknown') this.types[i] = t;
    });
  }

  /** The type of `$n`: declared or inferred before, else `wanted` (recorded), else unknown. */
  type(n: number, wanted?: ResultType): ResultType {
    const have = this.types[n - 1];
    if (have !== undefined && have !== 'unknown') return have;
    if (wanted !== undefined && wanted !== 'unknown') {
      this.types[n - 1] = wanted;
      return wanted;
    }
    this.types[n - 1] ??= 'unknown';
    return 'unknown';
  }

  /** Types of $1..$n (`unknown` for those no context typed). */
  list(n: number): ResultType[] {
    const out: ResultType[] = [];
    for (let i = 0; i < Math.max(n, this.types.length); i++) out.push(this.types[i] ?? 'unknown');
    return out;
  }
}

/** Session values expressions may read (current_user, current_database(), …): constants per session. */
export interface SessionValues {
  user: string;
  database: string;
  serverVersion: string;
  /** A setting's value for current_setting(), or undefined when unknown (42704). */
  setting(name: string): string | undefined;
  /** pg_backend_pid() (and pg_stat_activity.pid) of the session; default the process id. */
  backendPid?: number;
}

/** The `col` expression of column `c` of `t`. */
export function columnExpr(c: ColumnDef, rel?: 1): Expr {
  const e: Expr = { k: 'col', field: fieldOf(c), t: c.type };
  if (rel !== undefined) e.rel = rel;
  if (c.missing !== undefined) e.missing = c.missing;
  return e;
}

/** Options of a {@link RowScope}. */
export interface RowScopeOptions {
  /** The table whose row the expression reads; undefined = no columns (VALUES, DEFAULT). */
  table?: TableInfo;
  /** The alias the statement gives it (qualified references `alias.col`). */
  alias?: string;
  /** ON CONFLICT DO UPDATE: `excluded.col` is the proposed row. */
  excluded?: boolean;
  params: ParamTypes;
  session: SessionValues;
  /** Hidden columns (`_rowid`) may be named. */
  hidden?: boolean;
  /** 1-based character position of a byte location (error positions). */
  positionOf?: (byteLocation: number | undefined) => number | undefined;
  /** What the expression is, for messages ("WHERE", "DEFAULT expressions"). */
  exprKind?: string;
}

/**
 * A scope over one table's row. Names resolve to its columns; anything else is 42703 (an
 * unknown column) or 42P01 (a qualified name of another table: the caller plans such
 * statements on the analytical tier instead).
 */
export class RowScope implements Scope {
  readonly session: ExprSession;
  readonly exprKind?: string;

  constructor(readonly o: RowScopeOptions) {
    this.session = {
      user: o.session.user,
      database: o.session.database,
      schema: 'public',
      timeZone: o.session.setting('timezone') ?? 'UTC',
    };
    if (o.exprKind) this.exprKind = o.exprKind;
  }

  column(names: string[], location?: number): { expr: Expr } | undefined {
    const t = this.o.table;
    const p = location === undefined ? undefined : this.position(location);
    const pos = p === undefined ? {} : { position: p };
    let name: string | undefined;
    let rel: 1 | undefined;
    if (names.length === 1) name = names[0];
    else if (names.length === 2 && t && (names[0] === this.o.alias || names[0] === t.name)) name = names[1];
    else if (names.length === 2 && this.o.excluded && names[0] === 'excluded') {
      name = names[1];
      rel = 1;
    } else if (names.length >= 2) {
      throw new SchemaError(SqlState.undefinedTable, `missing FROM-clause entry for table "${names[names.length - 2]}"`, pos);
    }
    if (!t || name === undefined) return undefined;
    const i = t.columnIndex.get(name);
    const c = i === undefined ? undefined : t.columns[i];
    if (!c || (c.hidden && !this.o.hidden)) return undefined;
    return { expr: columnExpr(c, rel) };
  }

  param(n: number, wanted?: ResultType): ResultType {
    if (n < 1 || n > 65535) throw new SchemaError(SqlState.undefinedParameter, `there is no parameter $${n}`);
    return this.o.params.type(n, wanted);
  }

  position(location: number): number {
    return this.o.positionOf?.(location) ?? location + 1;
  }
}
