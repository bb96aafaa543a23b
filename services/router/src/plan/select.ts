/**
 * Planning reads (DESIGN §7 tier routing): a SELECT of one table whose WHERE clause pins the
 * storage key (or a short key list, or the leading columns of a valid index) and whose output
 * is row-local goes to the row tiers; a SELECT without tables is evaluated by the router with
 * PostgreSQL semantics; everything else — scans, aggregates, joins, sorts — runs on the
 * analytical tier (OLAP files + ingestion delta).
 */

import type { Node, SelectStmt } from '@pgsql/types';
import { type Expr, type ResultType, StratumError, type TableInfo } from '@stratum/shared';
import { expectNode, listItems, nodeOf, present, strOf } from '../analyze/ast.ts';
import { figureColname } from '../analyze/colname.ts';
import { compileExpr } from '../analyze/compile.ts';
import { conjunctsOf, fieldFacts, fieldRanges, keyResidual, rowLookup } from '../analyze/predicates.ts';
import { aliasOf, type RelationRef, relationsOf } from '../analyze/relations.ts';
import { ParamTypes, RowScope } from '../analyze/scope.ts';
import { forEachNode, someNode, type Tree } from '../analyze/walk.ts';
import { isCatalogKey } from '../catalog/relations.ts';
import { callsCatalog } from '../catalog/rewrite.ts';
import { viewsRestricted } from '../settings.ts';
import { deparse, rewriteForTier } from './duckdb-sql.ts';
import { resultOrigins } from './origins.ts';
import type { PlanEnv } from './planner.ts';
import type { Columns } from './rewrite/types.ts';
import { planRowFinish } from './row-finish.ts';
import { inlineSequences } from './sequence-relation.ts';
import { deferSessionCalls } from './session-calls.ts';
import type { AnalyticalPlan, Finder, LocalPlan, OutputColumn, PlanTable, ReadPlan, RowReadPlan, RowScanPlan } from './types.ts';

/** The table entry of a plan. */
export function planTable(t: TableInfo): PlanTable {
  return { name: t.name, storage: t.storage, mode: t.options.consistency.mode };
}

/** Tables of resolved relations (history reads count as their table), distinct. */
export function tablesOf(rels: RelationRef[]): PlanTable[] {
  const out = new Map<string, PlanTable>();
  for (const r of rels) if (r.kind === 'table') out.set(r.table.name, planTable(r.table));
  return [...out.values()];
}

/** True for statements the row tiers cannot answer whatever their WHERE clause. */
function needsAnalytical(s: SelectStmt): boolean {
  return Boolean(
    (s.op && s.op !== 'SETOP_NONE') ||
      s.withClause ||
      s.groupClause ||
      s.havingClause ||
      s.distinctClause ||
      s.windowClause ||
      s.intoClause ||
      s.limitOffset ||
      s.limitCount ||
      s.valuesLists ||
      s.sortClause,
  );
}

/** Has a subquery, aggregate or set-returning construct anywhere (not row-local). */
function hasSubquery(n: Tree): boolean {
  return someNode(n, (type) => type === 'SubLink' || type === 'RangeSubselect' || type === 'RangeFunction');
}

/**
 * Output columns of a target list over one row scope. `*` expands to the visible columns.
 * @throws what compileExpr throws (aggregates outside the analytical tier included).
 */
export function outputColumns(targets: Node[], scope: RowScope, table?: TableInfo): OutputColumn[] {
  const out: OutputColumn[] = [];
  for (const rt of targets) {
    const r = expectNode(rt, 'ResTarget');
    const fields = nodeOf(r.val, 'ColumnRef')?.fields;
    if (nodeOf(fields?.[fields.length - 1], 'A_Star')) {
      if (!table) throw new Error('SELECT * with no tables specified is not valid');
      for (const c of table.columns) {
        if (c.hidden) continue;
        const e = scope.column([c.name])?.expr as Expr;
        const col: OutputColumn = { name: c.name, expr: e, type: c.type, tableOid: table.oid, attnum: c.attnum ?? 0 };
        if (c.typmod !== undefined) col.typmod = c.typmod;
        out.push(col);
      }
      continue;
    }
    const expr = compileExpr(present(r.val, 'the value of a result column'), scope);
    const name = r.name ?? figureColname(r.val);
    const col: OutputColumn = { name, expr, type: exprType(expr) };
    if (expr.k === 'col' && table) {
      const c = table.columns[table.fieldIndex.get(expr.field) ?? -1];
      if (c) {
        col.tableOid = table.oid;
        col.attnum = c.attnum ?? 0;
        if (c.typmod !== undefined) col.typmod = c.typmod;
      }
    } else if (expr.k === 'cast' && expr.typmod !== undefined) col.typmod = expr.typmod;
    out.push(col);
  }
  return out;
}

/** The result type of a compiled expression. */
export function exprType(e: Expr): ResultType {
  switch (e.k) {
    case 'and':
    case 'or':
    case 'not':
    case 'test':
    case 'in':
    case 'any':
    case 'distinct':
      return 'boolean';
    default:
      return e.t;
  }
}

/** Result column names of a SELECT's target list (a set operation: its leftmost SELECT's), or undefined when it has `*`. */
export function pgColumnNames(s: SelectStmt): string[] | undefined {
  // A set operation's columns are named by its leftmost SELECT.
  if (s.op && s.op !== 'SETOP_NONE') return s.larg ? pgColumnNames(s.larg) : undefined;
  if (!s.targetList) return undefined;
  const out: string[] = [];
  for (const rt of s.targetList) {
    const r = nodeOf(rt, 'ResTarget');
    if (!r) return undefined;
    if (nodeOf(r.val, 'ColumnRef')?.fields?.some((f) => nodeOf(f, 'A_Star'))) return undefined;
    out.push(r.name ?? figureColname(r.val));
  }
  return out;
}

/** Table references for shard placement (CTEs excluded), with whether each is in the top-level FROM. */
function placementRefs(s: SelectStmt, rels: RelationRef[]): AnalyticalPlan['refs'] {
  // By name and alias: `s` may be a rewritten copy of the tree the relations were resolved in.
  const top = new Set<string>();
  for (const f of s.fromClause ?? []) {
    const rv = nodeOf(f, 'RangeVar');
    if (rv) top.add(`${rv.relname}\u0000${aliasOf(rv)}`);
  }
  return rels
    .filter((r) => r.kind === 'table' || r.kind === 'system')
    .map((r) => ({
      name: r.kind === 'table' ? `${r.table.name}${r.history ? '__history' : ''}` : r.name,
      alias: r.alias,
      topLevel: top.has(`${r.node.relname}\u0000${r.alias}`),
    }));
}

/**
 * Infer parameter types of an analytical statement from `column op $n` and `column op ANY($n)`
 * comparisons against the columns of its tables (PostgreSQL would infer them the same way).
 * @returns array parameters used as `= ANY($n)` / `<> ALL($n)`, with their element types.
 */
function inferParams(s: SelectStmt, rels: RelationRef[], params: ParamTypes): AnalyticalPlan['arrays'] {
  const arrays: AnalyticalPlan['arrays'] = [];
  const typeOf = (ref: Node | undefined): { t: ResultType; duck: string } | undefined => {
    const f = nodeOf(ref, 'ColumnRef')?.fields;
    if (!f) return undefined;
    const name = strOf(f[f.length - 1]);
    const qual = f.length === 2 ? strOf(f[0]) : undefined;
    if (!name) return undefined;
    const hits = new Set<string>();
    let out: { t: ResultType; duck: string } | undefined;
    for (const r of rels) {
      if (r.kind !== 'table' || (qual !== undefined && r.alias !== qual)) continue;
      const c = r.table.columns[r.table.columnIndex.get(name) ?? -1];
      if (c) {
        hits.add(c.type);
        out = { t: c.type, duck: c.type };
      }
    }
    return hits.size === 1 ? out : undefined;
  };
  const paramOf = (n: Node | undefined): number | undefined =>
    nodeOf(n, 'ParamRef')?.number ?? nodeOf(nodeOf(n, 'TypeCast')?.arg, 'ParamRef')?.number;
  forEachNode(s, (type, e) => {
    if (type !== 'A_Expr') return;
    const kind = e.kind;
    if (kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') {
      const n = paramOf(e.rexpr);
      const c = typeOf(e.lexpr);
      if (n !== undefined) {
        const elem = nodeOf(e.rexpr, 'TypeCast') ? undefined : c?.t;
        if (elem && !elem.endsWith('[]')) params.type(n, `${elem}[]` as ResultType);
        arrays.push({ param: n, elementType: elem ?? 'text' });
      }
      return;
    }
    if (kind === undefined || kind === 'AEXPR_OP' || kind === 'AEXPR_IN' || kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') {
      const l = paramOf(e.lexpr);
      const r = paramOf(e.rexpr);
      // A parameter an array column's operator types (`tags @> $1`) is an array too: sent as PostgreSQL
      // array text, it is inlined as a typed list, as for ANY.
      if (r !== undefined) {
        const c = typeOf(e.lexpr);
        if (c && !nodeOf(e.rexpr, 'TypeCast')) params.type(r, c.t);
        if (c?.t.endsWith('[]') && kind === 'AEXPR_OP') {
          params.type(r, c.t);
          arrays.push({ param: r, elementType: c.t });
        }
      }
      if (l !== undefined) {
        const c = typeOf(e.rexpr);
        if (c && !nodeOf(e.lexpr, 'TypeCast')) params.type(l, c.t);
        if (c?.t.endsWith('[]') && kind === 'AEXPR_OP') {
          params.type(l, c.t);
          arrays.push({ param: l, elementType: c.t });
        }
      }
      if (kind === 'AEXPR_IN') {
        const c = typeOf(e.lexpr);
        for (const item of listItems(e.rexpr) ?? []) {
          const n = nodeOf(item, 'ParamRef')?.number;
          if (n !== undefined && c) params.type(n, c.t);
        }
      }
    }
  });
  return arrays;
}

/**
 * Plan a SELECT.
 * @throws SchemaError 42P01 for unknown relations; compile errors of row-local expressions.
 */
export function planSelect(stmt: SelectStmt, env: PlanEnv, params: ParamTypes): ReadPlan {
  const s = inlineSequences(stmt, env.catalog);
  const rels = relationsOf(env.catalog, { SelectStmt: s }, env.positionOf);
  refuseRestrictedViews(rels, env);
  const tables = tablesOf(rels);
  // The system catalogs live in the router's DuckDB: statements over them are analytical.
  if (rels.some((r) => r.kind === 'system' && isCatalogKey(r.name)) || callsCatalog({ SelectStmt: s })) {
    return analytical(s, rels, tables, env, params);
  }
  const from = s.fromClause ?? [];
  // No tables at all: the router evaluates it (PostgreSQL semantics: 1/0 is 22012, not NULL).
  if (from.length === 0 && !needsAnalytical(s) && !hasSubquery(s.targetList) && !s.whereClause) {
    const local = tryLocal(s, env, params);
    if (local) return local;
  }
  const row = tryRowRead(s, rels, env, params);
  if (row) return row;
  const plan = analytical(s, rels, tables, env, params);
  return tryRowScan(s, rels, env, params, plan) ?? plan;
}

/**
 * restrict_nonsystem_relation_kind = 'view' (pg_dump sets it while it dumps): a statement that
 * reads a view fails as in PostgreSQL 15.8+.
 * @throws StratumError 42501 naming the first view.
 */
function refuseRestrictedViews(rels: RelationRef[], env: PlanEnv): void {
  const view = rels.find((r) => r.kind === 'view');
  if (view && viewsRestricted(env.session.setting('restrict_nonsystem_relation_kind'))) {
    throw new StratumError('42501', `access to non-system view "${view.view.name}" is restricted`);
  }
}

/** Most rows a `row_scan` reads from the row tiers before it answers analytically instead. */
export const ROW_SCAN_MAX_ROWS = 10_000;

/**
 * A single-table read bounded by a range on the storage key's first column (or a valid index's
 * first column): the row tiers supply its rows, the router's DuckDB finishes it (aggregates,
 * ORDER BY, DISTINCT). Undefined when the read has no such range or is not row-local.
 */
function tryRowScan(
  s: SelectStmt,
  rels: RelationRef[],
  env: PlanEnv,
  params: ParamTypes,
  fallback: AnalyticalPlan,
): RowScanPlan | undefined {
  if (env.asOf || (s.op && s.op !== 'SETOP_NONE') || s.withClause || s.valuesLists) return undefined;
  const from = s.fromClause ?? [];
  const rel = rels.length === 1 ? rels[0] : undefined;
  if (from.length !== 1 || !nodeOf(from[0], 'RangeVar') || rel?.kind !== 'table' || rel.history) return undefined;
  if (hasSubquery(s.whereClause) || hasSubquery(s.targetList) || hasSubquery(s.havingClause)) return undefined;
  const t = rel.table;
  let where: Expr | undefined;
  try {
    where = s.whereClause
      ? compileExpr(s.whereClause, new RowScope({ table: t, alias: rel.alias, params: new ParamTypes(), session: env.session }), 'boolean')
      : undefined;
  } catch {
    return undefined;
  }
  const ranges = fieldRanges(conjunctsOf(where));
  let finder: RowScanPlan['finder'] | undefined;
  const first = t.primaryKey[0] as string;
  const r = !t.rowid ? ranges.get(first) : undefined;
  if (r) finder = { by: 'range', lo: r.lo, hi: r.hi };
  else {
    for (const ix of t.indexes ?? []) {
      const ir = ix.state === 'valid' ? ranges.get(ix.columns[0] as string) : undefined;
      if (ir) {
        finder = { by: 'range', index: ix.name, lo: ir.lo, hi: ir.hi };
        break;
      }
    }
  }
  if (!finder || !where || !s.whereClause) return undefined;
  // The same parameters as the analytical text, typed from the compiled WHERE as well.
  const scope = new RowScope({ table: t, alias: rel.alias, params, session: env.session });
  compileExpr(s.whereClause, scope, 'boolean');
  const finish = planRowFinish(s, scope, t);
  const plan: RowScanPlan = {
    kind: 'row_scan',
    tier: 'tx',
    readTs: env.inBlock ? 'snapshot' : 'latest',
    tables: fallback.tables,
    reason: `range read of ${t.name} on ${finder.index ? `index ${finder.index}` : 'its primary key'} → TX engine (≤ ${ROW_SCAN_MAX_ROWS} rows; ${finish ? 'the router finishes the statement' : "the router's DuckDB finishes the statement"}; more rows: analytical)`,
    table: t.name,
    finder,
    where,
    maxRows: ROW_SCAN_MAX_ROWS,
    fallback,
  };
  if (finish) plan.finish = finish;
  return plan;
}

/** A SELECT without FROM evaluated in the router, or undefined when it needs the analytical tier (aggregates, set-returning functions). */
function tryLocal(s: SelectStmt, env: PlanEnv, params: ParamTypes): LocalPlan | undefined {
  const scope = new RowScope({ params, session: env.session });
  try {
    const output = outputColumns(s.targetList ?? [], scope);
    return { kind: 'local', tier: 'router', readTs: 'none', tables: [], reason: 'no tables: evaluated by the router', output };
  } catch (e) {
    if ((e as { code?: string }).code === '0A000' || (e as { code?: string }).code === '42803') return undefined;
    throw e;
  }
}

/** A single-table read the row tiers answer by key, key list or index; undefined otherwise. */
function tryRowRead(s: SelectStmt, rels: RelationRef[], env: PlanEnv, params: ParamTypes): RowReadPlan | undefined {
  if (needsAnalytical(s) || s.lockingClause) return undefined;
  const from = s.fromClause ?? [];
  const rv = from.length === 1 ? nodeOf(from[0], 'RangeVar') : undefined;
  const rel = rels.length === 1 ? rels[0] : undefined;
  if (!rv || rel?.kind !== 'table' || rel.history) return undefined;
  if (hasSubquery(s.whereClause) || hasSubquery(s.targetList)) return undefined;
  const t = rel.table;
  const scope = new RowScope({ table: t, alias: rel.alias, params, session: env.session });
  let where: Expr | undefined;
  let output: OutputColumn[];
  try {
    where = s.whereClause ? compileExpr(s.whereClause, scope) : undefined;
    output = outputColumns(s.targetList ?? [], scope, t);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '0A000' || code === '42803' || code === '42883') return undefined; // the analytical tier answers (or reports) it
    throw e;
  }
  const conjuncts = conjunctsOf(where);
  const lookup = rowLookup(t, fieldFacts(conjuncts));
  if (!lookup) return undefined;
  // Time travel reads rows by key from ingestion as of then; index lookups as of a time are analytical.
  if (env.asOf && lookup.by === 'index') return undefined;
  // One full key: the lookup decides its equalities, only the rest is rechecked per row.
  if (lookup.by === 'key' && lookup.keys.length === 1) where = keyResidual(t, conjuncts, lookup.keys[0] ?? []);
  const finder: Finder =
    lookup.by === 'key'
      ? { by: 'key', keys: lookup.keys }
      : lookup.by === 'key_param'
        ? { by: 'key', keys: [], list: { param: lookup.param, type: t.columns[t.pkIndexes[0] ?? 0]?.type ?? 'text' } }
        : { by: 'index', index: lookup.index, eq: lookup.eq };
  if (finder.by === 'key' && finder.list) params.type(finder.list.param, `${finder.list.type}[]` as ResultType);
  const what =
    finder.by === 'index'
      ? `an index lookup on ${lookup.by === 'index' ? lookup.index : ''}`
      : finder.list
        ? 'an array of keys (each key read by its primary key)'
        : finder.keys.length > 1
          ? `a short key list (${finder.keys.length} keys, each read by its primary key)`
          : 'its full primary key';
  const plan: RowReadPlan = {
    kind: 'row_read',
    tier: env.asOf ? 'ingestion' : 'tx',
    readTs: env.asOf ? 'as_of' : env.inBlock ? 'snapshot' : 'latest',
    tables: [planTable(t)],
    reason: env.asOf
      ? `point read of ${t.name} by ${what} as of stratum.as_of → the ingestion engine of the key's partition (OLAP when that time is before its GC horizon)`
      : `point read of ${t.name} by ${what} → TX engine (${t.options.consistency.mode === 'strict_serializable' ? "the key's owning engine" : "the session's"}; falls back to ingestion for rows it never held or evicted)`,
    table: t.name,
    finder,
    output,
  };
  if (where) plan.where = where;
  return plan;
}

/** The analytical plan of a SELECT. */
function analytical(s: SelectStmt, rels: RelationRef[], tables: PlanTable[], env: PlanEnv, params: ParamTypes): AnalyticalPlan {
  const ctes = new Set(rels.filter((r) => r.kind === 'cte').map((r) => (r.kind === 'cte' ? r.name : '')));
  let catalog: string[] | undefined;
  let columns: Columns | undefined;
  let typeOids: (number | undefined)[] | undefined;
  const deferred = deferSessionCalls(s);
  const rewritten = rewriteForTier(
    { SelectStmt: deferred.stmt },
    env.catalog,
    env.session,
    ctes,
    [],
    (use) => {
      if (use.catalog) catalog = [...use.relations];
      typeOids = use.typeOids;
    },
    (cols) => {
      columns = cols;
    },
  );
  const stmt = expectNode(rewritten, 'SelectStmt');
  // Views were inlined: their tables count for consistency too.
  const inner = rels.some((r) => r.kind === 'view') ? relationsOf(env.catalog, rewritten, env.positionOf) : rels;
  const all = inner.some((r) => r.kind === 'table') ? tablesOf(inner) : tables;
  const arrays = inferParams(stmt, inner, params);
  const plan: AnalyticalPlan = {
    kind: 'analytical',
    tier: all.length > 0 || inner.some((r) => r.kind === 'system') ? 'olap' : 'router',
    readTs: env.asOf ? 'as_of' : 'latest',
    tables: all,
    reason: all.length > 0 ? 'scan, aggregate, join or sort → OLAP files + ingestion delta' : 'no tables: evaluated by DuckDB',
    stmt,
    sql: deparse(rewritten),
    refs: placementRefs(stmt, inner),
    arrays,
  };
  const names = pgColumnNames(s);
  if (names) plan.names = names;
  if (columns) plan.columns = columns.map((c, i) => ({ name: names?.[i] ?? c.name, type: c.t }));
  const origins = resultOrigins(s, rels, env.catalog);
  if (origins?.some((o) => o !== undefined)) plan.origins = origins;
  if (typeOids) plan.typeOids = typeOids;
  if (deferred.calls.length > 0) plan.sessionCalls = deferred.calls;
  if (catalog) {
    plan.catalog = catalog;
    plan.tier = 'router';
    plan.reason =
      all.length > 0 ? `${plan.reason}, with the system catalogs in the router's DuckDB` : "system catalogs → the router's DuckDB";
  }
  return plan;
}
