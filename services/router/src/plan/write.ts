/**
 * Planning writes (DESIGN §7 "a predicate write finds its rows where they live"):
 * - INSERT: every VALUES expression compiled with the target column's assignment cast,
 *   DEFAULT bound to the column's default (serial and identity: nextval), identity columns
 *   GENERATED ALWAYS refused (428C9) unless OVERRIDING SYSTEM VALUE, ON CONFLICT matched to the
 *   primary key or a unique index, RETURNING compiled over the new row; INSERT … SELECT feeds
 *   a read plan's rows through the same casts.
 * - UPDATE / DELETE: rows found by storage key, key list or a valid index when the WHERE clause
 *   pins one; otherwise candidate keys from the analytical tier as of the ingestion watermark
 *   (the TX engine adds its newer rows and rechecks the predicate); statements over several
 *   tables (FROM, USING, subqueries) find rows and per-row inputs with one analytical read and
 *   are checked against the versions it saw (first committer wins).
 */

import type { DeleteStmt, InsertStmt, Node, OnConflictClause, RangeVar, UpdateStmt } from '@pgsql/types';
import {
  type ColumnDef,
  type Expr,
  fieldOf,
  type ResultType,
  SchemaError,
  SqlState,
  StratumError,
  type TableInfo,
  UnsupportedError,
} from '@stratum/shared';
import { expectNode, listItems, locationOf, nodeOf, present } from '../analyze/ast.ts';
import { castTo, compileExpr } from '../analyze/compile.ts';
import { conjunctsOf, fieldFacts, rowLookup } from '../analyze/predicates.ts';
import { aliasOf, relationsOf, resolveRangeVar } from '../analyze/relations.ts';
import { type ParamTypes, RowScope } from '../analyze/scope.ts';
import { someNode, transformNodes } from '../analyze/walk.ts';
import { isCatalogKey } from '../catalog/relations.ts';
import { deparse, rewriteForTier } from './duckdb-sql.ts';
import type { PlanEnv } from './planner.ts';
import { outputColumns, planSelect, planTable, tablesOf } from './select.ts';
import type { Finder, InsertPlan, ModifyPlan, OutputColumn } from './types.ts';

/** The table a write targets. @throws 42P01; 42809 for a view (not updatable here). */
export function writeTarget(rv: RangeVar, env: PlanEnv): { table: TableInfo; alias: string } {
  const rel = resolveRangeVar(env.catalog, rv, new Set(), env.positionOf);
  if (rel.kind === 'table' && !rel.history) return { table: rel.table, alias: rel.alias };
  const name = rv.relname ?? '';
  if (rel.kind === 'view') {
    throw new StratumError('55000', `cannot change view "${name}"`, {
      detail: 'Views are read-only in Stratum.',
      hint: 'Write to the view’s table instead.',
    });
  }
  if (rel.kind === 'system' && isCatalogKey(rel.name)) {
    throw new StratumError(SqlState.featureNotSupported, `cannot change system catalog relation ${rel.name}`, {
      detail: "Stratum's system catalogs describe its catalog; they change only through DDL.",
    });
  }
  throw new StratumError('42809', `cannot change relation "${name}"`);
}

/** The column of a write's target list. @throws 42703 with position. */
function targetColumn(t: TableInfo, name: string, location: number | undefined, env: PlanEnv): ColumnDef {
  const c = t.columns[t.columnIndex.get(name) ?? -1];
  if (!c || c.hidden) {
    const pos = env.positionOf(location);
    throw new SchemaError(
      SqlState.undefinedColumn,
      `column "${name}" of relation "${t.name}" does not exist`,
      pos === undefined ? {} : { position: pos },
    );
  }
  return c;
}

/** A column's default as an expression (NULL when it has none), with its assignment cast. */
export function defaultOf(c: ColumnDef): Expr {
  if (c.default) return c.default.expr;
  if (c.identity && c.sequence)
    return castTo({ k: 'call', fn: 'nextval', args: [{ k: 'const', v: c.sequence, t: 'text' }], t: 'bigint' }, c, 'assignment');
  return { k: 'const', v: null, t: c.type };
}

/** An expression assigned to column `c`, compiled and cast as PostgreSQL's assignment rules do. */
function assigned(node: Node, c: ColumnDef, scope: RowScope): Expr {
  const e = compileExpr(node, scope, c.type);
  return castTo(e, c, 'assignment');
}

/** Identity GENERATED ALWAYS refuses explicit values (PostgreSQL 15 CREATE TABLE, 428C9). */
function identityAlways(c: ColumnDef, update: boolean): StratumError {
  return update
    ? new StratumError('428C9', `column "${c.name}" can only be updated to DEFAULT`, {
        detail: `Column "${c.name}" is an identity column defined as GENERATED ALWAYS.`,
      })
    : new StratumError('428C9', `cannot insert a non-DEFAULT value into column "${c.name}"`, {
        detail: `Column "${c.name}" is an identity column defined as GENERATED ALWAYS.`,
        hint: 'Use OVERRIDING SYSTEM VALUE to override.',
      });
}

/** RETURNING's output columns over the written row. */
function returning(list: Node[] | undefined, t: TableInfo, alias: string, env: PlanEnv, params: ParamTypes): OutputColumn[] | undefined {
  if (!list) return undefined;
  return outputColumns(list, new RowScope({ table: t, alias, params, session: env.session }), t);
}

/**
 * Plan an INSERT.
 * @throws 42703, 428C9, 42601 (VALUES lists of the wrong length), 42P10 (no unique index matches ON CONFLICT).
 */
export function planInsert(s: InsertStmt, env: PlanEnv, params: ParamTypes): InsertPlan {
  const { table: t, alias } = writeTarget(present(s.relation, 'the table of an INSERT'), env);
  let named = s.cols
    ? s.cols.map((c) => {
        const r = expectNode(c, 'ResTarget');
        return targetColumn(t, r.name ?? '', r.location, env);
      })
    : t.columns.filter((c) => !c.hidden);
  const sel = nodeOf(s.selectStmt, 'SelectStmt');
  // Without a column list, VALUES fill the first columns and the rest get their defaults (PostgreSQL).
  const firstRow = listItems(sel?.valuesLists?.[0]) ?? [];
  if (!s.cols && firstRow.length > 0 && firstRow.length < named.length) named = named.slice(0, firstRow.length);
  const seen = new Set<string>();
  for (const c of named) {
    if (seen.has(c.name)) throw new SchemaError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`);
    seen.add(c.name);
  }
  const overriding = s.override;
  const values = new RowScope({ params, session: env.session });
  let source: InsertPlan['source'];
  if (!sel) {
    // INSERT … DEFAULT VALUES
    source = { kind: 'values', rows: [named.map(defaultOf)] };
  } else if (sel.valuesLists && !sel.sortClause && !sel.limitCount && !sel.withClause) {
    const rows = sel.valuesLists.map((l) => {
      const items = listItems(l) ?? [];
      if (items.length !== named.length) {
        const pos = env.positionOf(locationOf(items[Math.min(items.length, named.length)] ?? l));
        throw new SchemaError(
          SqlState.syntaxError,
          `INSERT has ${items.length > named.length ? 'more expressions than target columns' : 'more target columns than expressions'}`,
          pos === undefined ? {} : { position: pos },
        );
      }
      return items.map((item, i) => {
        const c = named[i] as ColumnDef;
        if (nodeOf(item, 'SetToDefault')) return defaultOf(c);
        if (c.identity === 'always' && overriding !== 'OVERRIDING_SYSTEM_VALUE') throw identityAlways(c, false);
        if (c.identity && overriding === 'OVERRIDING_USER_VALUE') return defaultOf(c);
        return assigned(item, c, values);
      });
    });
    source = { kind: 'values', rows };
  } else {
    for (const c of named) if (c.identity === 'always' && overriding !== 'OVERRIDING_SYSTEM_VALUE') throw identityAlways(c, false);
    source = { kind: 'select', plan: planSelect(sel, env, params) };
  }
  const plan: InsertPlan = {
    kind: 'insert',
    tier: 'tx',
    readTs: 'none',
    tables: [planTable(t)],
    reason: `insert into ${t.name} → TX engine (${t.options.consistency.mode === 'strict_serializable' ? "the key's owning engine" : "the session's"})`,
    table: t.name,
    columns: named.map(fieldOf),
    source,
    defaults: t.columns
      .filter((c) => !c.hidden && !seen.has(c.name) && (c.default || c.identity))
      .map((c) => ({ field: fieldOf(c), expr: defaultOf(c) })),
  };
  if (source.kind === 'select') plan.readTs = source.plan.readTs;
  const oc = s.onConflictClause;
  if (oc) plan.onConflict = onConflict(oc, t, alias, env, params);
  const ret = returning(s.returningClause?.exprs, t, alias, env, params);
  if (ret) plan.returning = ret;
  return plan;
}

/** ON CONFLICT: the arbiter (primary key or unique index) and the action. */
function onConflict(
  oc: OnConflictClause,
  t: TableInfo,
  alias: string,
  env: PlanEnv,
  params: ParamTypes,
): NonNullable<InsertPlan['onConflict']> {
  const infer = oc.infer;
  let index: string | undefined;
  if (infer?.conname) {
    const name = infer.conname;
    const con = t.constraints?.find((c) => c.name === name && (c.kind === 'primary' || c.kind === 'unique'));
    if (!con || con.kind === 'check' || con.kind === 'foreign') {
      throw new SchemaError('42704', `constraint "${name}" for table "${t.name}" does not exist`);
    }
    index = con.kind === 'primary' && !t.rowid ? undefined : con.index;
  } else if (infer?.indexElems) {
    const cols = infer.indexElems.map((e) => {
      const elem = nodeOf(e, 'IndexElem');
      const name = elem?.name;
      if (!name) throw new UnsupportedError('ON CONFLICT on an expression index is not supported');
      return fieldOf(targetColumn(t, name, locationOf(e), env));
    });
    const same = (a: string[]) => a.length === cols.length && a.every((x) => cols.includes(x));
    if (!t.rowid && same(t.primaryKey)) index = undefined;
    else {
      const ix = (t.indexes ?? []).find((i) => i.unique && same(i.columns));
      if (!ix) {
        throw new StratumError('42P10', 'there is no unique or exclusion constraint matching the ON CONFLICT specification');
      }
      index = ix.name;
    }
  } else if (oc.action === 'ONCONFLICT_UPDATE') {
    throw new StratumError('42601', 'ON CONFLICT DO UPDATE requires inference specification or constraint name', {
      hint: 'For example, ON CONFLICT (column_name).',
    });
  }
  if (oc.action !== 'ONCONFLICT_UPDATE') return index === undefined ? { action: 'nothing' } : { action: 'nothing', index };
  const scope = new RowScope({ table: t, alias, excluded: true, params, session: env.session });
  const set = setList(oc.targetList ?? [], t, scope, env);
  const out: NonNullable<InsertPlan['onConflict']> = { action: 'update', index: index ?? primaryIndexName(t), set };
  if (oc.whereClause) out.where = compileExpr(oc.whereClause, scope, 'boolean');
  return out;
}

/** Name of a table's primary-key constraint (the storage key's arbiter). */
export function primaryIndexName(t: TableInfo): string {
  return t.constraints?.find((c) => c.kind === 'primary')?.name ?? `${t.name}_pkey`;
}

/** UPDATE's SET list (or ON CONFLICT's): fields and compiled expressions with assignment casts. */
function setList(targets: Node[], t: TableInfo, scope: RowScope, env: PlanEnv): { field: string; expr: Expr }[] {
  const out: { field: string; expr: Expr }[] = [];
  const seen = new Set<string>();
  for (const rt of targets) {
    const r = expectNode(rt, 'ResTarget');
    if (r.indirection) throw new UnsupportedError('assignment to an array element or field is not supported', posOpt(env, r.location));
    const c = targetColumn(t, r.name ?? '', r.location, env);
    if (seen.has(c.name)) {
      throw new StratumError(SqlState.syntaxError, `multiple assignments to same column "${c.name}"`, posOpt(env, r.location));
    }
    seen.add(c.name);
    const val = present(r.val, 'the value of a SET assignment');
    if (nodeOf(val, 'MultiAssignRef')) {
      throw new UnsupportedError('SET (a, b) = (…) is not supported; assign each column', posOpt(env, r.location));
    }
    if (nodeOf(val, 'SetToDefault')) out.push({ field: fieldOf(c), expr: defaultOf(c) });
    else {
      if (c.identity === 'always') throw identityAlways(c, true);
      out.push({ field: fieldOf(c), expr: assigned(val, c, scope) });
    }
  }
  return out;
}

function posOpt(env: PlanEnv, loc: number | undefined): { position?: number } {
  const p = env.positionOf(loc);
  return p === undefined ? {} : { position: p };
}

/** The storage-key column names of a table, quoted for DuckDB. */
function keySelect(t: TableInfo, alias: string): string {
  return t.primaryKey.map((f) => `${ident(alias)}.${ident(t.columns[t.fieldIndex.get(f) ?? -1]?.name ?? f)}`).join(', ');
}

function ident(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/**
 * Plan an UPDATE or DELETE.
 * @throws 42P01 / 42703 with positions; 428C9 for identity ALWAYS columns.
 */
export function planModify(s: UpdateStmt, kind: 'update', env: PlanEnv, params: ParamTypes): ModifyPlan;
/** Plan a DELETE (see above). */
export function planModify(s: DeleteStmt, kind: 'delete', env: PlanEnv, params: ParamTypes): ModifyPlan;
export function planModify(s: UpdateStmt | DeleteStmt, kind: 'update' | 'delete', env: PlanEnv, params: ParamTypes): ModifyPlan {
  const { table: t, alias } = writeTarget(present(s.relation, `the table of an ${kind.toUpperCase()}`), env);
  // UPDATE's FROM and SET list, DELETE's USING (the other statement never has these fields).
  const other = ('fromClause' in s ? s.fromClause : 'usingClause' in s ? s.usingClause : undefined) ?? [];
  const targets = ('targetList' in s ? s.targetList : undefined) ?? [];
  const scope = new RowScope({ table: t, alias, params, session: env.session });
  const multi =
    other.length > 0 || someNode(s.whereClause, (type) => type === 'SubLink') || someNode(targets, (type) => type === 'SubLink');
  const base: Omit<ModifyPlan, 'finder' | 'reason' | 'readTs'> = {
    kind,
    tier: 'tx',
    tables: [planTable(t)],
    table: t.name,
    set: [],
  };
  const ret = returning(s.returningClause?.exprs, t, alias, env, params);
  if (ret) base.returning = ret;
  if (multi) return joinModify(s.whereClause, kind, t, alias, other, targets, base, env, params);
  const where = s.whereClause ? compileExpr(s.whereClause, scope, 'boolean') : undefined;
  if (kind === 'update') base.set = setList(targets, t, scope, env);
  const lookup = rowLookup(t, fieldFacts(conjunctsOf(where)));
  let finder: Finder;
  let reason: string;
  if (lookup?.by === 'key') {
    finder = { by: 'key', keys: lookup.keys };
    reason = lookup.keys.length > 1 ? 'rows by a short key list' : 'one row by its primary key';
  } else if (lookup?.by === 'key_param') {
    finder = { by: 'key', keys: [], list: { param: lookup.param, type: t.columns[t.pkIndexes[0] ?? 0]?.type ?? 'text' } };
    params.type(lookup.param, `${finder.list?.type}[]` as ResultType);
    reason = 'rows by an array of primary keys';
  } else if (lookup?.by === 'index') {
    finder = { by: 'index', index: lookup.index, eq: lookup.eq };
    reason = `rows by index ${lookup.index}`;
  } else {
    // The table's columns are in scope, so its values compare as PostgreSQL's (text numerics, char(n)).
    const dense = denseParams();
    const rewritten = s.whereClause
      ? dense.renumber(rewriteForTier(s.whereClause, env.catalog, env.session, undefined, [{ alias, table: t.name }]))
      : undefined;
    const sql = `SELECT ${keySelect(t, alias)} FROM ${ident(`${t.name}__latest`)} AS ${ident(alias)}${rewritten ? ` WHERE ${deparse(rewritten)}` : ''}`;
    finder = { by: 'candidates', sql, params: dense.order };
    reason = where
      ? 'candidate rows from the analytical tier as of the ingestion watermark, plus the TX engine’s newer rows, each rechecked at the row tier'
      : 'every row: the analytical tier’s as of the ingestion watermark plus the TX engine’s newer rows';
  }
  const plan: ModifyPlan = {
    ...base,
    finder,
    readTs: env.inBlock ? 'snapshot' : finder.by === 'candidates' ? 'watermark' : 'latest',
    reason: `${kind} of ${t.name}: ${reason} → TX engine`,
  };
  if (where) plan.where = where;
  return plan;
}

/**
 * UPDATE … FROM / DELETE … USING / subqueries: one analytical read finds the rows (storage key,
 * `_version`) and computes, per row, the SET expressions that read other tables (as inputs).
 */
function joinModify(
  whereClause: Node | undefined,
  kind: 'update' | 'delete',
  t: TableInfo,
  alias: string,
  other: Node[],
  targets: Node[],
  base: Omit<ModifyPlan, 'finder' | 'reason' | 'readTs'>,
  env: PlanEnv,
  params: ParamTypes,
): ModifyPlan {
  const rels = relationsOf(env.catalog, [other, whereClause, targets], env.positionOf);
  const dense = denseParams();
  const inputs: { name: string; type: ResultType }[] = [];
  const selects: string[] = [];
  const scope = new RowScope({ table: t, alias, params, session: env.session });
  const set: { field: string; expr: Expr }[] = [];
  if (kind === 'update') {
    for (const rt of targets) {
      const r = expectNode(rt, 'ResTarget');
      const c = targetColumn(t, r.name ?? '', r.location, env);
      const val = present(r.val, 'the value of a SET assignment');
      if (c.identity === 'always' && !nodeOf(val, 'SetToDefault')) throw identityAlways(c, true);
      if (nodeOf(val, 'SetToDefault')) {
        set.push({ field: fieldOf(c), expr: defaultOf(c) });
        continue;
      }
      try {
        // Row-local SET expressions are evaluated by the TX engine on the row it writes.
        set.push({ field: fieldOf(c), expr: assigned(val, c, scope) });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code !== '42P01' && code !== '42703' && code !== '0A000') throw e;
        // Reads other tables: computed by the analytical read, one input per row.
        const i = inputs.length;
        inputs.push({ name: c.name, type: c.type });
        const rewritten = dense.renumber(rewriteForTier(val, env.catalog, env.session));
        selects.push(`${deparse(rewritten)} AS ${ident(`_in${i}`)}`);
        set.push({ field: fieldOf(c), expr: { k: 'input', i, t: c.type } });
      }
    }
  }
  const from = [
    `${ident(`${t.name}__latest`)} AS ${ident(alias)}`,
    ...other.map((o) => deparse(dense.renumber(rewriteForTier(o, env.catalog, env.session)))),
  ];
  const where = whereClause ? ` WHERE ${deparse(dense.renumber(rewriteForTier(whereClause, env.catalog, env.session)))}` : '';
  const sql = `SELECT ${keySelect(t, alias)}, ${ident(alias)}."_version"${selects.length ? `, ${selects.join(', ')}` : ''} FROM ${from.join(', ')}${where}`;
  const tables = [...base.tables, ...tablesOf(rels).filter((x) => x.name !== t.name)];
  return {
    ...base,
    tables,
    set,
    finder: { by: 'join', sql, inputs, params: dense.order },
    readTs: env.inBlock ? 'snapshot' : 'watermark',
    reason: `${kind} of ${t.name} over several tables: rows and inputs from one analytical read, each row checked against the version it saw → TX engine`,
  };
}

/**
 * Renumbering of the parameters an analytical read uses: the statement's `$n` that appear, in
 * order of first appearance, become `$1…$k` (`order[i]` is the statement's number of `$i+1`).
 * DuckDB counts only the parameters a statement names, so a read that uses `$2` but not `$1`
 * (`UPDATE t SET a = $1 WHERE b = $2`: SET is the TX engine's) would not bind the statement's list.
 */
function denseParams(): { renumber(n: Node): Node; order: number[] } {
  const order: number[] = [];
  return {
    order,
    renumber: (tree) =>
      transformNodes(tree, (type, n) => {
        if (type !== 'ParamRef' || typeof n.number !== 'number') return undefined;
        let i = order.indexOf(n.number);
        if (i < 0) i = order.push(n.number) - 1;
        return { ParamRef: { ...n, number: i + 1 } };
      }),
  };
}

export { aliasOf };
