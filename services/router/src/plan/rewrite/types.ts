/**
 * The data the rewrite's stages share: a typed expression ({@link Typed}), the columns and
 * scopes names are looked up in, and the {@link Rewriter} the modules recurse through.
 */
import type { FuncCall, Node, SelectStmt } from '@pgsql/types';
import type { ArrayType, Catalog, ResultType, ScalarType, Signature } from '@stratum/shared';
import { commonType } from '@stratum/shared';

/** A typed expression after rewriting: its new node and PostgreSQL's type of it. */
export interface Typed {
  /** The expression rewritten for DuckDB. */
  node: Node;
  /** PostgreSQL's type of it (unknown: a string literal, NULL, or what the rewrite cannot type). */
  t: ResultType;
  /** numeric typmod (precision/scale) when known. */
  typmod?: number;
  /** The node is a numeric literal (DuckDB types those by value: they need an explicit cast). */
  numLit?: boolean;
  /** The node is a string literal (PostgreSQL's type unknown). */
  strLit?: boolean;
  /** The node is an interval literal (`interval '1 day'`) of this text. */
  ivText?: string;
  /** A numeric quotient (`/`, avg): its dividend and divisor, for the output text (see select.ts). */
  div?: [Node, Node];
  /** The quotient is a variance (numeric_var: 0 when the numerator is not positive, NULL without rows). */
  variance?: true;
  /**
   * A numeric (or numeric[]) DuckDB holds as PostgreSQL's text of each value: an unconstrained
   * numeric column (shared/src/duckdb/columns.ts), or a value passed through from one.
   */
  textNum?: true;
  /** PostgreSQL's display scale of each value (a DuckDB expression), where it is not the DECIMAL's scale. */
  scale?: Node;
  /** The display scales of {@link div}'s operands, when not their DECIMAL scales. */
  divScales?: [Node, Node];
}

// ---------------------------------------------------------------------------------------------
// Scopes: what column names mean in an expression.

/** Output columns of a relation: name and type (`textNum`: see {@link Typed.textNum}). */
export type Columns = { name: string; t: ResultType; typmod?: number; textNum?: true }[];

/** One FROM item visible to expressions: its alias and columns. */
export interface RangeEntry {
  alias: string;
  cols: Columns;
}

/** A query level's FROM items, and the levels around it (correlated subqueries). */
export interface Scope {
  entries: RangeEntry[];
  outer: Scope | undefined;
  /** CTEs visible here, by name. */
  ctes: Map<string, Columns>;
}

/** A rewritten SELECT: its fields and its output columns. */
export interface Selected {
  stmt: SelectStmt;
  cols: Columns;
}

/**
 * The rewrite of one statement: the catalog its tables' columns come from, and the two entries
 * the modules recurse through (expressions hold subqueries, subqueries hold expressions), wired
 * in index.ts so that no module imports the other's.
 */
export interface Rewriter {
  /** The tables whose columns FROM items have (views are inlined before the rewrite). */
  readonly catalog: Catalog;
  /** Rewrite an expression node and type it (expr.ts). */
  expr(n: Node, scope: Scope): Typed;
  /** Rewrite a SelectStmt's fields (select.ts); `root`: the statement's outermost SELECT. */
  select(s: SelectStmt, outer: Scope | undefined, cteNames?: Map<string, Columns>, root?: boolean): Selected;
}

/** The column `names` (`[col]` or `[…, rel, col]`) refers to in `scope` or a scope around it. */
export function lookupColumn(scope: Scope | undefined, names: string[]): Columns[number] | undefined {
  for (let s = scope; s; s = s.outer) {
    if (names.length === 1) {
      for (const e of s.entries) {
        const c = e.cols.find((x) => x.name === names[0]);
        if (c) return c;
      }
    } else {
      const rel = names[names.length - 2];
      const col = names[names.length - 1];
      const e = s.entries.find((x) => x.alias === rel);
      if (e) {
        const c = e.cols.find((x) => x.name === col);
        return c ?? undefined;
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL types.

/** smallint, integer, bigint. */
export const INT_TYPES = new Set<ResultType>(['smallint', 'integer', 'bigint']);
/** real, double precision. */
export const FLOAT_TYPES = new Set<ResultType>(['real', 'double']);
/** text, varchar, char(n). */
export const TEXT_TYPES = new Set<ResultType>(['text', 'varchar', 'char']);

/** The common type of `types` (`what`: the construct, for select_common_type), unknown when none can be told. */
export function common(types: ResultType[], what: string): ResultType {
  const known = types.filter((t) => t !== 'unknown');
  if (known.length === 0) return 'unknown';
  try {
    return commonType(known, what);
  } catch {
    return 'unknown';
  }
}

/** The array type of scalar type `t` (`integer[]`). */
export function arrayOf(t: ScalarType): ArrayType {
  return `${t}[]`;
}

/** A type's name as PostgreSQL's messages spell it (`double precision`, `timestamp with time zone`). */
export function displayName(t: ResultType): string {
  return t === 'double'
    ? 'double precision'
    : t === 'timestamptz'
      ? 'timestamp with time zone'
      : t === 'timestamp'
        ? 'timestamp without time zone'
        : t;
}

/** A call of a function PostgreSQL resolved, for the rules that replace it (fn-*.ts). */
export interface FnCall {
  /** The function's name, lower case, without `pg_catalog.`. */
  name: string;
  /** The call, its arguments cast to the signature's types. */
  call: FuncCall;
  /** The arguments cast to the signature's types. */
  nodes: Node[];
  /** The arguments as typed before the casts. */
  args: Typed[];
  /** The function PostgreSQL chose. */
  sig: Signature;
  /** Its first argument's type and its result type (`sig.args[0]`, `sig.t`), which most rules test. */
  a0: ResultType | undefined;
  t: ResultType;
  /** The call is a FROM-clause function. */
  inFrom: boolean;
}
