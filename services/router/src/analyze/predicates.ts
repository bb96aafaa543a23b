/**
 * Predicates over one table's row, as compiled expressions (analyze stage): the conjuncts of a
 * WHERE clause and what each says about a column — equality with a constant or parameter, an
 * IN list, `= ANY($n)` — which the planner matches against the storage key and the indexes.
 */
import { type Expr, type ResultType, resolveFunction, type TableInfo } from '@stratum/shared';

/**
 * A value the statement fixes before it reads a row: a constant, a parameter, a cast of one,
 * or an operator or non-volatile scalar function over such values (`$1 + 99`, `now() - '1
 * day'::interval`, `lower($1)`). What a key, index or range lookup can use at execution, as
 * PostgreSQL uses any expression free of the table's columns and of volatile functions as an
 * index scan key (PostgreSQL 15 §11.2; `random()`, `nextval()` and other volatile calls are
 * evaluated per row, so they never qualify).
 */
export function isValueExpr(e: Expr): boolean {
  switch (e.k) {
    case 'const':
    case 'param':
      return true;
    case 'cast':
      return isValueExpr(e.arg);
    case 'call':
      return e.args.every(isValueExpr) && fixedCall(e);
    default:
      return false;
  }
}

/** Operators (symbols) are never volatile; a named function must resolve to a non-volatile scalar signature. */
function fixedCall(e: Extract<Expr, { k: 'call' }>): boolean {
  if (!/^[a-z_]/.test(e.fn)) return true;
  const types = e.args.map((a) => valueType(a));
  if (types.some((t) => t === undefined)) return false;
  const sig = resolveFunction(e.fn, types as ResultType[]);
  return sig !== undefined && !sig.volatile && (sig.kind ?? 'scalar') === 'scalar' && !sig.setReturning;
}

/** The conjuncts of a predicate (`a AND b AND c` → [a, b, c]). */
export function conjunctsOf(e: Expr | undefined): Expr[] {
  if (!e) return [];
  if (e.k === 'and') return e.args.flatMap(conjunctsOf);
  return [e];
}

/** The field a `col` expression reads (rel 0 only), seen through no-op casts of the same type. */
function fieldOfExpr(e: Expr): string | undefined {
  if (e.k === 'col' && e.rel === undefined) return e.field;
  return undefined;
}

/** What a predicate says about the fields of a table. */
export interface FieldFacts {
  /** field → an expression it equals (a value expression of the field's type). */
  eq: Map<string, Expr>;
  /** field → the values of `field IN (…)` (value expressions). */
  inList: Map<string, Expr[]>;
  /** field → `field = ANY($n)`: the array parameter. */
  anyParam: Map<string, number>;
}

/**
 * Equalities, IN lists and `= ANY($n)` the conjuncts state about single fields. Only
 * comparisons whose operator took the column's own type count (`int_col = 5`, not
 * `int_col::numeric = 5.5`), since only those can be answered by key or index order.
 */
export function fieldFacts(conjuncts: Expr[]): FieldFacts {
  const out: FieldFacts = { eq: new Map(), inList: new Map(), anyParam: new Map() };
  for (const c of conjuncts) {
    if (c.k === 'call' && c.fn === '=' && c.args.length === 2) {
      const [a, b] = c.args as [Expr, Expr];
      const fa = fieldOfExpr(a);
      const fb = fieldOfExpr(b);
      if (fa !== undefined && isValueExpr(b) && !out.eq.has(fa)) out.eq.set(fa, b);
      else if (fb !== undefined && isValueExpr(a) && !out.eq.has(fb)) out.eq.set(fb, a);
    } else if (c.k === 'in' && !c.not) {
      const f = fieldOfExpr(c.arg);
      if (f !== undefined && c.list.length > 0 && c.list.every(isValueExpr)) out.inList.set(f, c.list);
    } else if (c.k === 'any' && !c.all && c.op === '=') {
      const f = fieldOfExpr(c.arg);
      const p = c.array.k === 'param' ? c.array : c.array.k === 'cast' && c.array.arg.k === 'param' ? c.array.arg : undefined;
      if (f !== undefined && p?.k === 'param') out.anyParam.set(f, p.n);
    }
  }
  return out;
}

/**
 * Column types whose storage-key equality is exactly SQL equality (no padding, collation-free
 * byte equality, no scale or negative zero): a key lookup by a value of the column's own type
 * finds exactly the rows the equality is true for.
 */
const EXACT_KEY_TYPES: ReadonlySet<string> = new Set([
  'smallint',
  'integer',
  'bigint',
  'text',
  'uuid',
  'boolean',
  'date',
  'timestamp',
  'timestamptz',
]);

/** The type a value expression ({@link isValueExpr}: const, param, cast, call) yields; undefined for other expressions. */
export function valueType(e: Expr): ResultType | undefined {
  return e.k === 'const' || e.k === 'param' || e.k === 'cast' || e.k === 'call' ? e.t : undefined;
}

/**
 * The conjuncts a lookup by the full primary key of `t` with values `key` (the expressions
 * {@link rowLookup} took, in key order) does not already decide: all but the equalities that
 * supplied `key`, when the value has the column's own type and that type's key equality is SQL
 * equality ({@link EXACT_KEY_TYPES}). Undefined when none remain, so a point read by key with
 * nothing else in its WHERE evaluates no predicate per row.
 */
export function keyResidual(t: TableInfo, conjuncts: Expr[], key: readonly Expr[]): Expr | undefined {
  const exact = (c: Expr): boolean => {
    if (c.k !== 'call' || c.fn !== '=' || c.args.length !== 2) return false;
    const [a, b] = c.args as [Expr, Expr];
    const [col, val] = fieldOfExpr(a) !== undefined ? [a, b] : [b, a];
    if (col.k !== 'col' || col.rel !== undefined) return false;
    const i = t.primaryKey.indexOf(col.field);
    return i >= 0 && key[i] === val && valueType(val) === col.t && EXACT_KEY_TYPES.has(col.t);
  };
  const rest = conjuncts.filter((c) => !exact(c));
  if (rest.length === 0) return undefined;
  return rest.length === 1 ? rest[0] : { k: 'and', args: rest };
}

/** Longest key list (`pk IN (…)`, `pk = ANY($n)`) read key by key at the row tiers (DESIGN §7: short key ranges); longer lists are analytical. */
export const MAX_KEY_LIST = 64;

/** A lookup the row tiers can answer, found from a predicate. */
export type RowLookup =
  | { by: 'key'; keys: Expr[][] }
  | { by: 'key_param'; param: number }
  | { by: 'index'; index: string; eq: Expr[]; unique: boolean };

/**
 * The cheapest row-tier lookup the facts allow on table `t`: its full storage key (one key, or
 * a short IN list / an array parameter on a one-column key), else the valid index whose
 * leading columns have the most equalities (unique first). Undefined when none applies.
 */
export function rowLookup(t: TableInfo, f: FieldFacts): RowLookup | undefined {
  if (!t.rowid) {
    const key = t.primaryKey.map((k) => f.eq.get(k));
    if (key.every((e) => e !== undefined)) return { by: 'key', keys: [key as Expr[]] };
    if (t.primaryKey.length === 1) {
      const k = t.primaryKey[0] as string;
      const list = f.inList.get(k);
      if (list && list.length <= MAX_KEY_LIST) return { by: 'key', keys: list.map((e) => [e]) };
      const p = f.anyParam.get(k);
      if (p !== undefined) return { by: 'key_param', param: p };
    }
  }
  let best: { index: string; eq: Expr[]; unique: boolean } | undefined;
  for (const ix of t.indexes ?? []) {
    if (ix.state !== 'valid') continue;
    const eq: Expr[] = [];
    for (const c of ix.columns) {
      const e = f.eq.get(c);
      if (!e) break;
      eq.push(e);
    }
    if (eq.length === 0) continue;
    const full = ix.unique && eq.length === ix.columns.length;
    const better = !best || (full && !best.unique) || (full === best.unique && eq.length > best.eq.length);
    if (better) best = { index: ix.name, eq, unique: full };
  }
  return best ? { by: 'index', ...best } : undefined;
}

/** A bounded range on one field: `lo ≤/< field ≤/< hi` (both bounds given). */
export interface FieldRange {
  field: string;
  lo: { expr: Expr; incl: boolean };
  hi: { expr: Expr; incl: boolean };
}

const FLIP: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** Bounded ranges the conjuncts state on single fields (`a >= 1 AND a < 9`, `a BETWEEN 1 AND 9`), by field. */
export function fieldRanges(conjuncts: Expr[]): Map<string, FieldRange> {
  const lo = new Map<string, { expr: Expr; incl: boolean }>();
  const hi = new Map<string, { expr: Expr; incl: boolean }>();
  for (const c of conjuncts) {
    if (c.k !== 'call' || c.args.length !== 2 || !(c.fn in FLIP)) continue;
    const [a, b] = c.args as [Expr, Expr];
    let field: string | undefined;
    let op = c.fn;
    let v: Expr | undefined;
    if (a.k === 'col' && a.rel === undefined && isValueExpr(b)) {
      field = a.field;
      v = b;
    } else if (b.k === 'col' && b.rel === undefined && isValueExpr(a)) {
      field = b.field;
      v = a;
      op = FLIP[op] as string;
    }
    if (field === undefined || v === undefined) continue;
    const bound = { expr: v, incl: op === '>=' || op === '<=' };
    if (op === '>' || op === '>=') {
      if (!lo.has(field)) lo.set(field, bound);
    } else if (!hi.has(field)) hi.set(field, bound);
  }
  const out = new Map<string, FieldRange>();
  for (const [field, l] of lo) {
    const h = hi.get(field);
    if (h) out.set(field, { field, lo: l, hi: h });
  }
  return out;
}
