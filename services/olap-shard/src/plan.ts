/**
 * What a query reads (internal): the shard's views it references and, per reference, the
 * conjunctive predicates `column op constant` that every row it contributes must satisfy —
 * the input of zone-map and bloom-filter pruning (DESIGN §5 "the shard prunes files before
 * DuckDB opens them").
 *
 * Works on DuckDB's own parse tree (`json_serialize_sql`), so it never disagrees with the
 * parser. It is deliberately conservative: a predicate is attributed to a table only when it is
 * a top-level AND-conjunct of the WHERE clause (or the ON clause of an inner join) of the
 * SELECT whose FROM names the table directly, and its column provably binds to that table.
 * Every such predicate is strict (NULL in → not true), so rows of that table failing it
 * contribute no output row even under outer joins.
 */

import type { ViewKind } from './sql.ts';

/** A constant operand, rendered back to SQL text (DuckDB dialect), or a query parameter. */
export type ValueExpr = { sql: string } | { param: number };

/** Comparison kinds used for pruning. */
export type PredOp = '=' | '<' | '<=' | '>' | '>=' | 'between' | 'in';

/** `column op values` (between: [lo, hi]; in: the list; otherwise one value). */
export interface Pred {
  /** The column's field (or a system column such as `_ts`). */
  column: string;
  op: PredOp;
  values: ValueExpr[];
}

/** One reference to a shard view in the statement. */
export interface ViewRef {
  /** Storage name of the table (`TableInfo.storage`). */
  table: string;
  /** Which view: `<table>`, `<table>__history` (every version) or `<table>__latest` (latest live version per key, every column). */
  kind: ViewKind;
  /** Written with a schema or catalog (`main.t`): a per-query view cannot shadow it. */
  qualified: boolean;
  /** Predicates every contributing row satisfies; empty = none known (read every file). */
  preds: Pred[];
}

/** The statement's view references, and whether pruning may use them. */
export interface StatementReads {
  refs: ViewRef[];
  /**
   * Names bound by a CTE somewhere in the statement: a reference with such a name may be the
   * CTE, so it is not pruned (the predicate could be on the CTE's output). Lower case.
   */
  cteNames: Set<string>;
  /** The statement is `SELECT count(*) FROM <view>` and nothing more: its view and output column name. */
  countStar?: { table: string; kind: ViewKind; name: string };
}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Resolves a relation name to a shard view: the table's storage name, the view kind, and its columns (lower-case name → field). */
export type ViewLookup = (name: string) => { table: string; kind: ViewKind; columns: ReadonlyMap<string, string> } | undefined;

const CMP: Record<string, PredOp> = {
  COMPARE_EQUAL: '=',
  COMPARE_LESSTHAN: '<',
  COMPARE_LESSTHANOREQUALTO: '<=',
  COMPARE_GREATERTHAN: '>',
  COMPARE_GREATERTHANOREQUALTO: '>=',
};
const FLIP: Record<string, PredOp> = { '=': '=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** Type ids whose constant JSON value is a plain number or string we can render exactly. */
const SIMPLE_TYPES = new Set([
  'TINYINT',
  'SMALLINT',
  'INTEGER',
  'BIGINT',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
  'DOUBLE',
  'FLOAT',
]);
/** Cast targets we render (type ids without type info). */
const CAST_TYPES = new Set([
  ...SIMPLE_TYPES,
  'VARCHAR',
  'BOOLEAN',
  'DATE',
  'TIMESTAMP',
  'TIMESTAMP WITH TIME ZONE',
  'TIMESTAMP_MS',
  'TIMESTAMP_S',
  'TIMESTAMP_NS',
  'UUID',
  'HUGEINT',
]);

/** SQL text of a constant/cast/parameter expression node, or undefined when it is anything else. */
function renderValue(e: unknown): ValueExpr | undefined {
  if (!isObj(e)) return undefined;
  if (e.class === 'PARAMETER') {
    const n = Number(e.identifier);
    return Number.isInteger(n) && n >= 1 ? { param: n } : undefined;
  }
  if (e.class === 'CONSTANT' && isObj(e.value)) {
    const v = e.value;
    const t = isObj(v.type) ? v.type : undefined;
    const id = t?.id;
    if (v.is_null !== false || typeof id !== 'string') return undefined;
    if (id === 'VARCHAR' && typeof v.value === 'string') return { sql: `'${v.value.replaceAll("'", "''")}'` };
    if (id === 'BOOLEAN' && typeof v.value === 'boolean') return { sql: v.value ? 'true' : 'false' };
    if (SIMPLE_TYPES.has(id) && typeof v.value === 'number' && Number.isFinite(v.value)) return { sql: `CAST(${v.value} AS ${id})` };
    if (id === 'DECIMAL' && isObj(t?.type_info) && typeof v.value === 'number' && Number.isSafeInteger(v.value)) {
      const { width, scale } = t.type_info as { width: number; scale: number };
      if (!Number.isInteger(width) || !Number.isInteger(scale)) return undefined;
      const neg = v.value < 0;
      const digits = String(Math.abs(v.value)).padStart(scale + 1, '0');
      const text = scale > 0 ? `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}` : digits;
      return { sql: `CAST('${neg ? '-' : ''}${text}' AS DECIMAL(${width},${scale}))` };
    }
    return undefined;
  }
  if (e.class === 'CAST' && e.try_cast === false && isObj(e.cast_type)) {
    const id = e.cast_type.id;
    if (typeof id !== 'string' || e.cast_type.type_info !== null || !CAST_TYPES.has(id)) return undefined;
    const child = renderValue(e.child);
    if (!child || !('sql' in child)) return undefined;
    return { sql: `CAST(${child.sql} AS ${id})` };
  }
  return undefined;
}

/** A FROM item of one SELECT: a shard view (with its visible name) or something we cannot see into. */
interface FromItem {
  node: Json;
  name: string;
  view: ReturnType<ViewLookup>;
}

/**
 * Collect the FROM items of a SELECT and the ON conditions that act like WHERE conjuncts.
 * `plain` stays true while every join is an inner/cross join without USING/NATURAL (then
 * unqualified columns resolve as they look).
 */
function fromItems(t: unknown, lookup: ViewLookup, items: FromItem[], ons: unknown[], state: { plain: boolean; opaque: boolean }): void {
  if (!isObj(t)) return;
  if (t.type === 'BASE_TABLE') {
    const name = String(t.table_name);
    const aliased = Array.isArray(t.column_name_alias) && t.column_name_alias.length > 0;
    const view = aliased ? undefined : lookup(name);
    if (!view) state.opaque = true;
    items.push({ node: t, name: typeof t.alias === 'string' && t.alias !== '' ? t.alias : name, view });
    return;
  }
  if (t.type === 'JOIN') {
    const inner = t.join_type === 'INNER' && (t.ref_type === 'REGULAR' || t.ref_type === 'CROSS');
    const using = Array.isArray(t.using_columns) && t.using_columns.length > 0;
    if (!inner || using) state.plain = false;
    if (inner && !using && t.condition) ons.push(t.condition);
    fromItems(t.left, lookup, items, ons, state);
    fromItems(t.right, lookup, items, ons, state);
    return;
  }
  if (t.type === 'EMPTY') return;
  state.opaque = true; // subquery, table function, pivot, ...: columns unknown here
}

/** Top-level AND conjuncts of an expression. */
function conjuncts(e: unknown, out: unknown[]): void {
  if (!isObj(e)) return;
  if (e.class === 'CONJUNCTION' && e.type === 'CONJUNCTION_AND' && Array.isArray(e.children)) {
    for (const c of e.children) conjuncts(c, out);
    return;
  }
  out.push(e);
}

/** The FROM item a column reference binds to (only when provable), and the column name. */
function bindColumn(
  ref: unknown,
  items: FromItem[],
  state: { plain: boolean; opaque: boolean },
): { item: FromItem; column: string } | undefined {
  if (!isObj(ref) || ref.class !== 'COLUMN_REF' || !Array.isArray(ref.column_names)) return undefined;
  const names = ref.column_names as string[];
  if (names.length === 2) {
    const [qual, col] = names as [string, string];
    // DuckDB matches identifiers case-insensitively.
    const matches = items.filter((i) => i.name.toLowerCase() === qual.toLowerCase());
    const item = matches[0];
    const column = item?.view?.columns.get(col.toLowerCase());
    if (matches.length !== 1 || !item || column === undefined) return undefined;
    return { item, column };
  }
  if (names.length === 1) {
    const col = (names[0] as string).toLowerCase();
    if (!state.plain || state.opaque) return undefined;
    const matches = items.filter((i) => i.view?.columns.has(col));
    const item = matches[0];
    const column = item?.view?.columns.get(col);
    return matches.length === 1 && item && column !== undefined ? { item, column } : undefined;
  }
  return undefined;
}

/** A predicate on one FROM item from one conjunct, if it has a shape we prune on. */
function predicateOf(
  e: unknown,
  items: FromItem[],
  state: { plain: boolean; opaque: boolean },
): { item: FromItem; pred: Pred } | undefined {
  if (!isObj(e)) return undefined;
  if (e.class === 'COMPARISON' && typeof e.type === 'string' && CMP[e.type]) {
    const op = CMP[e.type] as PredOp;
    let col = bindColumn(e.left, items, state);
    let val = renderValue(e.right);
    let o = op;
    if (!col || !val) {
      col = bindColumn(e.right, items, state);
      val = renderValue(e.left);
      o = FLIP[op] as PredOp;
    }
    if (!col || !val) return undefined;
    return { item: col.item, pred: { column: col.column, op: o, values: [val] } };
  }
  if (e.class === 'BETWEEN') {
    const col = bindColumn(e.input, items, state);
    const lo = renderValue(e.lower);
    const hi = renderValue(e.upper);
    if (!col || !lo || !hi) return undefined;
    return { item: col.item, pred: { column: col.column, op: 'between', values: [lo, hi] } };
  }
  if (e.class === 'OPERATOR' && e.type === 'COMPARE_IN' && Array.isArray(e.children) && e.children.length >= 2) {
    const [first, ...rest] = e.children as unknown[];
    const col = bindColumn(first, items, state);
    const values = rest.map(renderValue);
    if (!col || values.some((v) => v === undefined)) return undefined;
    return { item: col.item, pred: { column: col.column, op: 'in', values: values as ValueExpr[] } };
  }
  return undefined;
}

/** Every object in the JSON tree (depth first). */
function walk(x: unknown, visit: (o: Json) => void): void {
  if (Array.isArray(x)) {
    for (const y of x) walk(y, visit);
    return;
  }
  if (!isObj(x)) return;
  visit(x);
  for (const v of Object.values(x)) if (typeof v === 'object' && v !== null) walk(v, visit);
}

/**
 * The shard views a parsed statement (one element of `json_serialize_sql(...).statements`)
 * references, with the predicates each reference is known to satisfy.
 */
export function analyzeStatement(stmt: unknown, lookup: ViewLookup): StatementReads {
  const predsOf = new Map<Json, Pred[]>();
  const cteNames = new Set<string>();
  walk(stmt, (o) => {
    if (isObj(o.cte_map) && Array.isArray(o.cte_map.map)) {
      for (const entry of o.cte_map.map) if (isObj(entry) && typeof entry.key === 'string') cteNames.add(entry.key.toLowerCase());
    }
    if (o.type !== 'SELECT_NODE') return;
    const items: FromItem[] = [];
    const conds: unknown[] = [];
    const state = { plain: true, opaque: false };
    fromItems(o.from_table, lookup, items, conds, state);
    conjuncts(o.where_clause, conds);
    const flat: unknown[] = [];
    for (const c of conds) conjuncts(c, flat);
    for (const c of flat) {
      const p = predicateOf(c, items, state);
      if (!p) continue;
      const list = predsOf.get(p.item.node);
      if (list) list.push(p.pred);
      else predsOf.set(p.item.node, [p.pred]);
    }
  });
  const refs: ViewRef[] = [];
  walk(stmt, (o) => {
    if (o.type !== 'BASE_TABLE' || typeof o.table_name !== 'string') return;
    const v = lookup(o.table_name);
    if (!v) return;
    const schema = typeof o.schema_name === 'string' ? o.schema_name : '';
    const catalog = typeof o.catalog_name === 'string' ? o.catalog_name : '';
    // Only `main` (catalog `memory`) holds the views; `stratum_delta.t` and the like are other relations.
    if ((schema !== '' && schema !== 'main') || (catalog !== '' && catalog !== 'memory')) return;
    const qualified = schema !== '' || catalog !== '';
    refs.push({ table: v.table, kind: v.kind, qualified, preds: predsOf.get(o) ?? [] });
  });
  const countStar = countStarOf(stmt, refs);
  return countStar ? { refs, cteNames, countStar } : { refs, cteNames };
}

/**
 * `SELECT count(*) [AS name] FROM <view>` and nothing else (no WHERE, GROUP BY, HAVING,
 * QUALIFY, DISTINCT, ORDER BY, LIMIT, sample or CTE): the shape the shard may answer from its
 * manifest. DuckDB names the column `count_star()` unless aliased.
 */
function countStarOf(stmt: unknown, refs: readonly ViewRef[]): StatementReads['countStar'] {
  if (!isObj(stmt) || !isObj(stmt.node) || refs.length !== 1) return undefined;
  const n = stmt.node;
  const empty = (x: unknown) => x === null || x === undefined || (Array.isArray(x) && x.length === 0);
  if (n.type !== 'SELECT_NODE' || !empty(n.modifiers) || !empty(n.where_clause) || !empty(n.group_expressions)) return undefined;
  if (!empty(n.group_sets) || !empty(n.having) || !empty(n.qualify) || !empty(n.sample)) return undefined;
  if (isObj(n.cte_map) && !empty(n.cte_map.map)) return undefined;
  if (n.aggregate_handling !== undefined && n.aggregate_handling !== 'STANDARD_HANDLING') return undefined;
  const from = n.from_table;
  if (!isObj(from) || from.type !== 'BASE_TABLE' || !empty(from.sample) || !empty(from.at_clause)) return undefined;
  if (!empty(from.column_name_alias)) return undefined;
  const list = n.select_list;
  if (!Array.isArray(list) || list.length !== 1) return undefined;
  const f = list[0];
  if (!isObj(f) || f.class !== 'FUNCTION' || f.function_name !== 'count_star' || !empty(f.children) || f.distinct === true)
    return undefined;
  if (!empty(f.filter) || (isObj(f.order_bys) && !empty(f.order_bys.orders)) || f.export_state === true) return undefined;
  if ((typeof f.schema === 'string' && f.schema !== '') || (typeof f.catalog === 'string' && f.catalog !== '')) return undefined;
  const ref = refs[0] as ViewRef;
  return { table: ref.table, kind: ref.kind, name: typeof f.alias === 'string' && f.alias !== '' ? f.alias : 'count_star()' };
}
