/**
 * Write operations v2 (`WriteOp` in shared/src/tiers.ts) planned against a {@link View}: rows
 * found by their `RowSource`, rechecked with `where`, SET computed over the old row, and
 * PostgreSQL 15's constraints enforced on every new row (chapter 5.4 "Constraints"):
 *
 * - types (`isValueOfType`: the router coerced, the engine re-checks), NOT NULL, CHECK (a NULL
 *   result passes), immediately per row;
 * - UNIQUE (the storage key and valid unique indexes; NULLs are distinct), immediately per row,
 *   as PostgreSQL's non-deferrable unique indexes do;
 * - FOREIGN KEY at the end of each operation, as PostgreSQL's RI triggers fire after the
 *   statement's rows: the referencing side checks its parent exists (MATCH SIMPLE: a NULL in the
 *   key passes); the referenced side runs the child's ON DELETE / ON UPDATE action (NO ACTION and
 *   RESTRICT refuse, CASCADE deletes or updates the children, SET NULL / SET DEFAULT rewrite
 *   them, each rewritten child checked like any row).
 *
 * INSERT … ON CONFLICT follows PostgreSQL's speculative insertion: NOT NULL and CHECK apply to
 * the proposed row, then the arbiter indexes decide between inserting and DO NOTHING / DO
 * UPDATE; updating a row this command already inserted or updated is 21000.
 *
 * The same checks run at COMMIT of a transaction block against the committed state
 * ({@link revalidate}), so two concurrent blocks cannot both commit a duplicate or an orphan.
 */
import {
  type Catalog,
  type ConstraintDef,
  ConstraintError,
  DataError,
  type EvalContext,
  type EvalRow,
  type Expr,
  elementType,
  evaluate,
  fieldOf,
  isValueOfType,
  keyString,
  PG_TYPE_NAME,
  ROWID,
  type Row,
  type RowSource,
  readField,
  SchemaError,
  SqlState,
  type SqlType,
  StratumError,
  type TableInfo,
  type Value,
  type WriteOp,
} from '@stratum/shared';
import {
  checkViolation,
  colOf,
  fkMissingParent,
  fkStillReferenced,
  fullRow,
  identical,
  keyOf,
  notNullViolation,
  primaryName,
  sameValue,
  uniqueViolation,
} from './values.ts';
import { type Current, type Found, indexNamed, isKeyIndex, type View } from './view.ts';

/** Where a statement's writes go and how it evaluates expressions. */
export interface WriteEnv {
  catalog: Catalog;
  view: View;
  /**
   * Where unique values are checked; default `view`. Transaction blocks check against the latest
   * committed state with their own writes on top, as PostgreSQL's unique indexes do (a value taken
   * by a transaction that committed after the snapshot is 23505 now; one freed since is free).
   */
  unique?: View;
  ctx: EvalContext;
  /** Record a write: the row's new state (null = deleted) replacing `prev` as this view saw it. */
  emit(t: TableInfo, key: Value[], prev: Current | null, row: Row | null): void;
  /** The committed version a row had before this transaction wrote it (for `seen`). */
  committedVersion(t: TableInfo, key: Value[], cur: Current): string | null;
  /** A new `_rowid` (UUIDv7). */
  rowid(): string;
  /** Rows an op's source found before the group commit (keys, and the engine's last commit ts then). */
  prefound?(op: WriteOp): { keys: Value[][]; asOf: number } | undefined;
}

/** Outcome of a list of ops. */
export interface OpsResult {
  counts: number[];
  /** Per op with `returning`: its rows by field. */
  rows?: (Row[] | undefined)[];
}

type ForeignKey = Extract<ConstraintDef, { kind: 'foreign' }>;

/** A parent-side foreign-key action waiting for the end of the operation. */
interface ParentAction {
  parent: TableInfo;
  child: TableInfo;
  fk: ForeignKey;
  oldVals: Value[];
  /** null = the parent row was deleted. */
  newVals: Value[] | null;
}

/** A child row whose parent must exist at the end of the operation. */
interface ChildCheck {
  child: TableInfo;
  fk: ForeignKey;
  key: Value[];
  vals: Value[];
}

/** Per-operation bookkeeping. */
interface OpState {
  actions: ParentAction[];
  checks: ChildCheck[];
}

/**
 * The live table with storage name `storage`.
 * `verb` names what the caller does, for the message.
 * @throws StratumError 40001 when the storage belonged to a table dropped or truncated since the
 *   statement was planned (retrying re-plans against the new catalog); 42P01 when unknown.
 */
export function tableOf(catalog: Catalog, storage: string, verb: 'read' | 'write' = 'write'): TableInfo {
  const t = catalog.byStorage(storage);
  if (t) return t;
  if (catalog.isDead(storage)) {
    throw new StratumError(
      SqlState.serializationFailure,
      `could not ${verb} relation storage "${storage}": the table was dropped or truncated by a concurrent DDL statement`,
      { hint: 'Retry the statement; it is planned again against the current catalog.' },
    );
  }
  throw new SchemaError(SqlState.undefinedTable, `relation "${storage}" does not exist`);
}

/** Evaluate, with the trivial nodes inline (most SET values are constants or columns). */
export function evalExpr(e: Expr, r: EvalRow, ctx: EvalContext): Value {
  switch (e.k) {
    case 'const':
      return e.v;
    case 'col': {
      const v = (e.rel === 1 ? r.excluded : r.row)?.[e.field];
      return v === undefined ? (e.missing ?? null) : v;
    }
    case 'input':
      return r.inputs?.[e.i] ?? null;
    default:
      return evaluate(e, r, ctx);
  }
}

/** A unique rule the engine enforces: the storage key, or a valid unique index. */
interface UniqueRule {
  name: string;
  fields: string[];
  /** The storage key itself. */
  key: boolean;
  /** Index name (secondary). */
  index?: string;
}

/** Unique rules per table definition (a catalog change makes a new `TableInfo`). */
const rulesOf = new WeakMap<TableInfo, UniqueRule[]>();

/** Unique rules of `t` enforced per row (building indexes are checked by their build instead). */
export function uniqueRules(t: TableInfo): UniqueRule[] {
  let out = rulesOf.get(t);
  if (out) return out;
  out = [];
  rulesOf.set(t, out);
  if (!t.rowid) out.push({ name: primaryName(t), fields: t.primaryKey, key: true });
  for (const ix of t.indexes ?? []) {
    if (!ix.unique || ix.state !== 'valid' || isKeyIndex(t, ix)) continue;
    out.push({ name: ix.constraint ?? ix.name, fields: ix.columns, key: false, index: ix.name });
  }
  return out;
}

function ruleOfIndex(t: TableInfo, name: string): UniqueRule {
  // The primary key is the storage key (no secondary index of that name) unless rows have a hidden row id.
  if (!t.rowid && name === primaryName(t)) return { name, fields: t.primaryKey, key: true };
  const ix = indexNamed(t, name);
  if (!ix.unique) {
    throw new SchemaError('42P10', 'there is no unique or exclusion constraint matching the ON CONFLICT specification');
  }
  if (isKeyIndex(t, ix)) return { name: ix.constraint ?? ix.name, fields: t.primaryKey, key: true };
  return { name: ix.constraint ?? ix.name, fields: ix.columns, key: false, index: ix.name };
}

/** The live row holding `vals` under rule `u`, or undefined. */
async function holder(view: View, t: TableInfo, u: UniqueRule, vals: Value[]): Promise<Found | undefined> {
  if (u.key) {
    const [cur] = await view.getMany(t, [vals]);
    return cur?.row ? { key: vals, cur } : undefined;
  }
  const found = await view.find(t, { by: 'index', index: u.index!, eq: vals });
  return found[0];
}

const valsOf = (row: Row, fields: readonly string[]): Value[] => fields.map((f) => row[f] ?? null);
const sameKey = (a: readonly Value[], b: readonly Value[]) => keyString(a) === keyString(b);

/** PostgreSQL's name of a column type, for messages. */
function typeName(t: SqlType): string {
  const base = PG_TYPE_NAME[elementType(t)];
  return t.endsWith('[]') ? `${base}[]` : base;
}

/** Check a new row's types, NOT NULL and CHECK constraints. */
export function checkRow(t: TableInfo, row: Row, ctx: EvalContext): void {
  for (const c of t.columns) {
    const v = row[fieldOf(c)] ?? null;
    if (v === null) {
      if (c.notNull || t.primaryKey.includes(fieldOf(c))) throw notNullViolation(t, c, row);
      continue;
    }
    if (!isValueOfType(v, c.type)) {
      throw new DataError(
        SqlState.datatypeMismatch,
        `column "${c.name}" of relation "${t.name}" is of type ${typeName(c.type)} but the value given is not`,
        { hint: 'The router coerces values to the column type; this request was built without it.' },
      );
    }
  }
  for (const k of t.constraints ?? []) {
    if (k.kind !== 'check') continue;
    if (evalExpr(k.check.expr, { row }, ctx) === false) throw checkViolation(t, k.name, row);
  }
}

/**
 * Unique rules a new row breaks against the view: each rule whose values changed from `old`
 * (or every rule for an insert, `old` undefined) and are all non-null.
 * @throws ConstraintError 23505 naming the constraint and the key.
 */
async function checkUnique(
  env: WriteEnv,
  t: TableInfo,
  row: Row,
  key: Value[],
  old: { row: Row; key: Value[] } | undefined,
): Promise<void> {
  for (const u of uniqueRules(t)) {
    const vals = valsOf(row, u.fields);
    if (vals.some((v) => v === null)) continue;
    if (old && u.fields.every((f) => identical(old.row[f] ?? null, row[f] ?? null, colOf(t, f).type))) continue;
    const h = await holder(env.unique ?? env.view, t, u, vals);
    if (h && !sameKey(h.key, key)) throw uniqueViolation(t, u.name, u.fields, vals);
    if (h && u.key && !old) throw uniqueViolation(t, u.name, u.fields, vals);
  }
}

/** Foreign keys of the catalog by referenced table oid (children), and tables by oid, cached per catalog version. */
const refCache = new WeakMap<
  Catalog,
  { version: number; byParent: Map<number, { child: TableInfo; fk: ForeignKey }[]>; byOid: Map<number, TableInfo> }
>();

function refsOf(catalog: Catalog) {
  let c = refCache.get(catalog);
  if (!c || c.version !== catalog.version) {
    const byParent = new Map<number, { child: TableInfo; fk: ForeignKey }[]>();
    const byOid = new Map<number, TableInfo>();
    for (const child of catalog.list()) {
      byOid.set(child.oid, child);
      for (const k of child.constraints ?? []) {
        if (k.kind !== 'foreign' || k.refOid === undefined) continue;
        let l = byParent.get(k.refOid);
        if (!l) byParent.set(k.refOid, (l = []));
        l.push({ child, fk: k });
      }
    }
    c = { version: catalog.version, byParent, byOid };
    refCache.set(catalog, c);
  }
  return c;
}

function referencing(catalog: Catalog, parent: TableInfo): { child: TableInfo; fk: ForeignKey }[] {
  return refsOf(catalog).byParent.get(parent.oid) ?? [];
}

function tablesByOid(catalog: Catalog): Map<number, TableInfo> {
  return refsOf(catalog).byOid;
}

function parentOf(catalog: Catalog, fk: ForeignKey): TableInfo {
  const p = fk.refOid === undefined ? catalog.find(fk.refTable) : tablesByOid(catalog).get(fk.refOid);
  if (!p) throw new SchemaError(SqlState.undefinedTable, `relation "${fk.refTable}" referenced by foreign key "${fk.name}" does not exist`);
  return p;
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * Live rows of `t` whose `fields` equal `vals`: through the storage key or an index whose
 * leading columns are exactly `fields`, else a scan (PostgreSQL needs no index on a foreign
 * key's referencing columns either; the scan costs a read of the table at both row tiers).
 */
async function rowsWith(env: WriteEnv, t: TableInfo, fields: readonly string[], vals: readonly Value[]): Promise<Found[]> {
  if (vals.some((v) => v === null)) return [];
  const byField = new Map(fields.map((f, i) => [f, vals[i] ?? null]));
  let found: Found[];
  if (sameSet(t.primaryKey, fields)) {
    const key = t.primaryKey.map((f) => byField.get(f) ?? null);
    const [cur] = await env.view.getMany(t, [key]);
    found = cur?.row ? [{ key, cur }] : [];
  } else {
    const ix = (t.indexes ?? []).find((i) => i.columns.length >= fields.length && sameSet(i.columns.slice(0, fields.length), fields));
    found = ix
      ? await env.view.find(t, { by: 'index', index: ix.name, eq: ix.columns.slice(0, fields.length).map((f) => byField.get(f) ?? null) })
      : await env.view.find(t, { by: 'scan' });
  }
  return found.filter((f) =>
    fields.every((x, i) => {
      const c = colOf(t, x);
      return sameValue(readField(f.cur.row!, c), vals[i] ?? null, c.type);
    }),
  );
}

/** Execute `ops` against `env`. */
export async function applyOps(env: WriteEnv, ops: readonly WriteOp[]): Promise<OpsResult> {
  const counts: number[] = [];
  const rows: (Row[] | undefined)[] = [];
  let anyReturning = false;
  for (const op of ops) {
    const t = tableOf(env.catalog, op.table);
    const st: OpState = { actions: [], checks: [] };
    const out: Row[] | undefined = op.returning ? [] : undefined;
    if (op.returning) anyReturning = true;
    let n: number;
    if (op.kind === 'insert') n = await insertOp(env, t, op, st, out);
    else n = await modifyOp(env, t, op, st, out);
    await finishOp(env, st);
    counts.push(n);
    rows.push(out);
  }
  return anyReturning ? { counts, rows } : { counts };
}

/** Default value of an omitted column (its DEFAULT expression, else NULL). */
function defaultOf(env: WriteEnv, t: TableInfo, field: string): Value {
  const c = colOf(t, field);
  return c.default ? evalExpr(c.default.expr, { row: {} }, env.ctx) : null;
}

async function insertOp(
  env: WriteEnv,
  t: TableInfo,
  op: Extract<WriteOp, { kind: 'insert' }>,
  st: OpState,
  out: Row[] | undefined,
): Promise<number> {
  if (new Set(op.columns).size !== op.columns.length) {
    throw new SchemaError(SqlState.duplicateColumn, `column specified more than once in INSERT into "${t.name}"`);
  }
  for (const f of op.columns) {
    if (!t.fieldIndex.has(f)) throw new SchemaError(SqlState.undefinedColumn, `column "${f}" of relation "${t.name}" does not exist`);
    if (t.rowid && f === ROWID) throw new SchemaError('428C9', `cannot insert a non-DEFAULT value into column "${ROWID}"`);
  }
  const given = new Set(op.columns);
  const position = new Map(op.columns.map((f, i) => [f, i]));
  const omitted = t.columns.map(fieldOf).filter((f) => !given.has(f) && !(t.rowid && f === ROWID));
  const constDefaults = new Map<string, Value>();
  for (const f of omitted) {
    const c = colOf(t, f);
    if (!c.default?.volatile) constDefaults.set(f, defaultOf(env, t, f));
  }
  const built: { row: Row; key: Value[] }[] = op.rows.map((vals) => {
    if (vals.length !== op.columns.length) {
      throw new SchemaError(
        SqlState.syntaxError,
        `INSERT has ${vals.length > op.columns.length ? 'more' : 'fewer'} expressions than target columns`,
      );
    }
    const row: Row = {};
    for (const c of t.columns) {
      const f = fieldOf(c);
      const i = position.get(f);
      if (i !== undefined) row[f] = vals[i] ?? null;
      else if (t.rowid && f === ROWID) row[f] = env.rowid();
      else row[f] = constDefaults.has(f) ? (constDefaults.get(f) ?? null) : defaultOf(env, t, f);
    }
    checkRow(t, row, env.ctx);
    return { row, key: keyOf(t, row) };
  });
  if (op.onConflict) return upsert(env, t, op.onConflict, built, st, out);
  // Plain INSERT: duplicates within the statement, then against the view, in one lookup per rule.
  const rules = uniqueRules(t);
  for (const u of built.length > 1 ? rules : []) {
    const seen = new Set<string>();
    for (const b of built) {
      const vals = valsOf(b.row, u.fields);
      if (vals.some((v) => v === null)) continue;
      const ks = keyString(vals);
      if (seen.has(ks)) throw uniqueViolation(t, u.name, u.fields, vals);
      seen.add(ks);
    }
  }
  let prevs: (Current | null)[] = [];
  if (!t.rowid) {
    prevs = await (env.unique ?? env.view).getMany(
      t,
      built.map((b) => b.key),
    );
    prevs.forEach((cur, i) => {
      if (cur?.row) throw uniqueViolation(t, primaryName(t), t.primaryKey, built[i]!.key);
    });
  }
  for (const u of rules) {
    if (u.key) continue;
    const hits = await inParallel(built, (b) => {
      const vals = valsOf(b.row, u.fields);
      return vals.some((v) => v === null) ? Promise.resolve(undefined) : holder(env.unique ?? env.view, t, u, vals);
    });
    hits.forEach((h, i) => {
      if (h) throw uniqueViolation(t, u.name, u.fields, valsOf(built[i]!.row, u.fields));
    });
  }
  built.forEach((b, i) => {
    env.emit(t, b.key, prevs[i] ?? null, b.row);
    childChecks(env, t, b.key, b.row, undefined, st);
    out?.push(b.row);
  });
  return built.length;
}

/** INSERT … ON CONFLICT, one proposed row after the other (PostgreSQL's speculative insertion). */
async function upsert(
  env: WriteEnv,
  t: TableInfo,
  oc: NonNullable<Extract<WriteOp, { kind: 'insert' }>['onConflict']>,
  built: { row: Row; key: Value[] }[],
  st: OpState,
  out: Row[] | undefined,
): Promise<number> {
  const arbiters = oc.index !== undefined ? [ruleOfIndex(t, oc.index)] : uniqueRules(t);
  const touched = new Set<string>();
  let n = 0;
  for (const { row, key } of built) {
    let conflict: Found | undefined;
    for (const u of arbiters) {
      const vals = valsOf(row, u.fields);
      if (vals.some((v) => v === null)) continue;
      conflict = await holder(env.view, t, u, vals);
      if (conflict) break;
    }
    if (!conflict) {
      await checkUnique(env, t, row, key, undefined);
      const [prev] = t.rowid ? [null] : await env.view.getMany(t, [key]);
      env.emit(t, key, prev ?? null, row);
      touched.add(keyString(key));
      childChecks(env, t, key, row, undefined, st);
      out?.push(row);
      n++;
      continue;
    }
    if (oc.action === 'nothing') continue;
    if (touched.has(keyString(conflict.key))) {
      throw new StratumError(SqlState.cardinalityViolation, 'ON CONFLICT DO UPDATE command cannot affect row a second time', {
        hint: 'Ensure that no rows proposed for insertion within the same command have duplicate constrained values.',
      });
    }
    const old = fullRow(t, conflict.cur.row!);
    const r: EvalRow = { row: old, excluded: row };
    if (oc.where && evalExpr(oc.where, r, env.ctx) !== true) continue;
    const next = applySet(env, t, old, oc.set, r);
    const newKey = await updateRow(env, t, conflict.key, conflict.cur, old, next, st);
    touched.add(keyString(conflict.key));
    touched.add(keyString(newKey));
    out?.push(next);
    n++;
  }
  return n;
}

/** The old row with SET applied (expressions see the old row, EXCLUDED and inputs). */
function applySet(env: WriteEnv, t: TableInfo, old: Row, set: readonly { column: string; expr: Expr }[], r: EvalRow): Row {
  const next: Row = { ...old };
  for (const s of set) {
    if (!t.fieldIndex.has(s.column))
      throw new SchemaError(SqlState.undefinedColumn, `column "${s.column}" of relation "${t.name}" does not exist`);
    next[s.column] = evalExpr(s.expr, r, env.ctx);
  }
  return next;
}

/**
 * Write the new version of a live row: NOT NULL, CHECK, UNIQUE (with a key change: delete at
 * the old key, insert at the new one), and queue its foreign-key work. Returns the new key.
 */
async function updateRow(env: WriteEnv, t: TableInfo, key: Value[], cur: Current, old: Row, next: Row, st: OpState): Promise<Value[]> {
  checkRow(t, next, env.ctx);
  const newKey = keyOf(t, next);
  await checkUnique(env, t, next, newKey, { row: old, key });
  if (sameKey(key, newKey)) env.emit(t, key, cur, next);
  else {
    const [there] = await (env.unique ?? env.view).getMany(t, [newKey]);
    if (there?.row) throw uniqueViolation(t, primaryName(t), t.primaryKey, newKey);
    env.emit(t, key, cur, null);
    env.emit(t, newKey, there ?? null, next);
  }
  childChecks(env, t, newKey, next, old, st);
  parentActions(env, t, old, next, st);
  return newKey;
}

/** Delete a live row and queue the actions of the foreign keys referencing it. */
function deleteRow(env: WriteEnv, t: TableInfo, key: Value[], cur: Current, old: Row, st: OpState): void {
  env.emit(t, key, cur, null);
  parentActions(env, t, old, null, st);
}

/** Queue the parent checks of a new or changed row's foreign keys (MATCH SIMPLE). */
function childChecks(env: WriteEnv, t: TableInfo, key: Value[], row: Row, old: Row | undefined, st: OpState): void {
  void env;
  for (const k of t.constraints ?? []) {
    if (k.kind !== 'foreign') continue;
    const vals = valsOf(row, k.columns);
    if (vals.some((v) => v === null)) continue;
    if (old && k.columns.every((f) => identical(old[f] ?? null, row[f] ?? null, colOf(t, f).type))) continue;
    st.checks.push({ child: t, fk: k, key, vals });
  }
}

/** Queue the actions of foreign keys referencing a parent row that was deleted (`next` null) or whose referenced values changed. */
function parentActions(env: WriteEnv, t: TableInfo, old: Row, next: Row | null, st: OpState): void {
  for (const { child, fk } of referencing(env.catalog, t)) {
    const oldVals = valsOf(old, fk.refColumns);
    if (oldVals.some((v) => v === null)) continue;
    if (next && fk.refColumns.every((f) => identical(old[f] ?? null, next[f] ?? null, colOf(t, f).type))) continue;
    st.actions.push({ parent: t, child, fk, oldVals, newVals: next ? valsOf(next, fk.refColumns) : null });
  }
}

/** Whether a live row of `parent` holds `vals` in `fields`. */
async function parentExists(env: WriteEnv, parent: TableInfo, fields: readonly string[], vals: readonly Value[]): Promise<boolean> {
  return (await rowsWith(env, parent, fields, vals)).length > 0;
}

/** Lookups run at once by the end-of-operation checks (each may be an index read at both row tiers). */
const CHECK_PARALLELISM = 32;

/** Run `fn` over `items`, at most {@link CHECK_PARALLELISM} at a time, keeping the order of results. */
async function inParallel<T, R>(items: readonly T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_PARALLELISM, items.length) }, worker));
  return out;
}

/**
 * End of an operation (PostgreSQL runs its RI triggers after the statement's rows): first the
 * foreign-key actions that write (CASCADE, SET NULL, SET DEFAULT; they may queue more), one after
 * the other on the current state; then the checks — NO ACTION and RESTRICT on the referenced side,
 * and the parents of new or changed children — with lookups batched and run side by side.
 */
async function finishOp(env: WriteEnv, st: OpState): Promise<void> {
  const refusals: ParentAction[] = [];
  for (let i = 0; i < st.actions.length; i++) {
    const a = st.actions[i]!;
    const action = a.newVals === null ? a.fk.onDelete : a.fk.onUpdate;
    if (action === 'no_action' || action === 'restrict') {
      refusals.push(a);
      continue;
    }
    const kids = await rowsWith(env, a.child, a.fk.columns, a.oldVals);
    for (const kid of kids) {
      const old = fullRow(a.child, kid.cur.row!);
      if (action === 'cascade' && a.newVals === null) {
        deleteRow(env, a.child, kid.key, kid.cur, old, st);
        continue;
      }
      const next: Row = { ...old };
      a.fk.columns.forEach((f, j) => {
        next[f] = action === 'cascade' ? (a.newVals![j] ?? null) : action === 'set_null' ? null : defaultOf(env, a.child, f);
      });
      // SET DEFAULT to the very values the parent had leaves the child referencing it (ri_triggers.c re-checks).
      if (
        action === 'set_default' &&
        a.fk.columns.every((f, j) => identical(next[f] ?? null, a.oldVals[j] ?? null, colOf(a.child, f).type))
      ) {
        throw fkStillReferenced(a.parent, a.fk.name, a.child, a.fk.refColumns, a.oldVals);
      }
      await updateRow(env, a.child, kid.key, kid.cur, old, next, st);
    }
  }
  const refused = await inParallel(refusals, async (a) => {
    // NO ACTION is satisfied when another row now holds the referenced values (PostgreSQL ri_triggers.c).
    const action = a.newVals === null ? a.fk.onDelete : a.fk.onUpdate;
    if (action === 'no_action' && (await parentExists(env, a.parent, a.fk.refColumns, a.oldVals))) return false;
    return (await rowsWith(env, a.child, a.fk.columns, a.oldVals)).length > 0;
  });
  const first = refusals.find((_, i) => refused[i]);
  if (first) throw fkStillReferenced(first.parent, first.fk.name, first.child, first.fk.refColumns, first.oldVals);
  await checkParents(env, st.checks);
}

/**
 * Every new or changed child row has a live parent: per foreign key, the children still holding
 * the values checked (one read of them), then one lookup per distinct value — a single `getMany`
 * when the foreign key references the parent's storage key.
 * @throws ConstraintError 23503 for the first child (in write order) without a parent.
 */
async function checkParents(env: WriteEnv, checks: readonly ChildCheck[]): Promise<void> {
  const groups = new Map<string, ChildCheck[]>();
  for (const c of checks) {
    const id = `${c.child.storage}\u0000${c.fk.name}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = []));
    g.push(c);
  }
  for (const g of groups.values()) {
    const { child, fk } = g[0]!;
    const nows = await env.view.getMany(
      child,
      g.map((c) => c.key),
    );
    const live = g.filter((c, i) => {
      const row = nows[i]?.row;
      return !!row && fk.columns.every((f, j) => sameValue(readField(row, colOf(child, f)), c.vals[j] ?? null, colOf(child, f).type));
    });
    const distinct = new Map<string, Value[]>();
    for (const c of live) distinct.set(keyString(c.vals), c.vals);
    const vals = [...distinct.values()];
    const parent = parentOf(env.catalog, fk);
    let present: boolean[];
    if (sameSet(parent.primaryKey, fk.refColumns)) {
      const keys = vals.map((v) => parent.primaryKey.map((f) => v[fk.refColumns.indexOf(f)] ?? null));
      present = (await env.view.getMany(parent, keys)).map((c) => !!c?.row);
    } else present = await inParallel(vals, (v) => parentExists(env, parent, fk.refColumns, v));
    const missing = new Set(vals.filter((_, i) => !present[i]).map((v) => keyString(v)));
    const bad = live.find((c) => missing.has(keyString(c.vals)));
    if (bad) throw fkMissingParent(child, fk.name, fk.columns, bad.vals, parent);
  }
}

/** UPDATE or DELETE: rows by source, rechecked with `where`, `seen` versions compared. */
async function modifyOp(
  env: WriteEnv,
  t: TableInfo,
  op: Extract<WriteOp, { kind: 'update' | 'delete' }>,
  st: OpState,
  out: Row[] | undefined,
): Promise<number> {
  const pre = env.prefound?.(op);
  const targets: (Found & { i?: number })[] =
    pre && op.source.by !== 'key' ? await env.view.find(t, op.source, pre) : await targetsOf(env, t, op.source, op.seen);
  let n = 0;
  const done = new Set<string>();
  for (const { key, cur, i } of targets) {
    const ks = keyString(key);
    if (done.has(ks)) continue;
    done.add(ks);
    const old = fullRow(t, cur.row!);
    const inputs = i === undefined ? undefined : op.inputs?.[i];
    const r: EvalRow = inputs ? { row: old, inputs } : { row: old };
    if (op.where && evalExpr(op.where, r, env.ctx) !== true) continue;
    if (op.kind === 'delete') {
      deleteRow(env, t, key, cur, old, st);
      out?.push(old);
    } else {
      const next = applySet(env, t, old, op.set, r);
      await updateRow(env, t, key, cur, old, next, st);
      out?.push(next);
    }
    n++;
  }
  return n;
}

/**
 * Live rows a source finds, with the index of their key in a `key` source (for `inputs` and
 * `seen`). A `seen` version that is no longer the row's is a concurrent write: 40001.
 */
async function targetsOf(
  env: WriteEnv,
  t: TableInfo,
  source: RowSource,
  seen: readonly string[] | undefined,
): Promise<(Found & { i?: number })[]> {
  if (source.by !== 'key') return env.view.find(t, source);
  for (const k of source.keys) {
    if (k.length !== t.primaryKey.length) {
      throw new SchemaError(SqlState.syntaxError, `key of "${t.name}" has ${t.primaryKey.length} columns, got ${k.length} values`);
    }
  }
  const curs = await env.view.getMany(t, source.keys);
  const out: (Found & { i?: number })[] = [];
  curs.forEach((cur, i) => {
    const want = seen?.[i];
    if (want !== undefined) {
      const have = cur ? env.committedVersion(t, source.keys[i]!, cur) : null;
      if (have !== want) {
        throw new StratumError(
          SqlState.serializationFailure,
          `could not serialize access on table "${t.name}": a concurrent transaction ${cur?.row ? 'updated' : 'deleted'} a row this statement read`,
          { hint: 'The transaction was rolled back; retry it.' },
        );
      }
    }
    if (cur?.row) out.push({ key: source.keys[i]!, cur, i });
  });
  return out;
}

/** A transaction block's write of one row, as {@link revalidate} checks it. */
export interface BlockWrite {
  t: TableInfo;
  key: Value[];
  /** The row in the block's snapshot (null = absent). */
  old: Row | null;
  /** The row the block commits (null = deleted). */
  row: Row | null;
}

/**
 * COMMIT-time re-validation of a transaction block's writes against the committed state (a view
 * of the group commit with the block's writes on top): unique values and foreign keys may have
 * been taken or removed by transactions that committed after the block's snapshot.
 * @throws ConstraintError 23505 / 23503 as at statement time; StratumError 40001 when a
 *   concurrent transaction added children a CASCADE / SET NULL / SET DEFAULT action of the block
 *   did not see.
 */
export async function revalidate(env: WriteEnv, writes: readonly BlockWrite[]): Promise<void> {
  const children: ChildCheck[] = [];
  for (const w of writes) {
    const { t, row, old } = w;
    if (row) {
      for (const u of uniqueRules(t)) {
        if (u.key) continue; // the first-committer check covers the storage key
        const vals = valsOf(row, u.fields);
        if (vals.some((v) => v === null)) continue;
        if (old && u.fields.every((f) => identical(old[f] ?? null, row[f] ?? null, colOf(t, f).type))) continue;
        const hits = await env.view.find(t, { by: 'index', index: u.index!, eq: vals });
        if (hits.some((h) => !sameKey(h.key, w.key))) throw uniqueViolation(t, u.name, u.fields, vals);
      }
      for (const k of t.constraints ?? []) {
        if (k.kind !== 'foreign') continue;
        const vals = valsOf(row, k.columns);
        if (vals.some((v) => v === null)) continue;
        if (old && k.columns.every((f) => identical(old[f] ?? null, row[f] ?? null, colOf(t, f).type))) continue;
        children.push({ child: t, fk: k, key: w.key, vals });
      }
    }
    if (old) {
      for (const { child, fk } of referencing(env.catalog, t)) {
        const oldVals = valsOf(old, fk.refColumns);
        if (oldVals.some((v) => v === null)) continue;
        if (row && fk.refColumns.every((f) => identical(old[f] ?? null, row[f] ?? null, colOf(t, f).type))) continue;
        if (await parentExists(env, t, fk.refColumns, oldVals)) continue;
        if ((await rowsWith(env, child, fk.columns, oldVals)).length === 0) continue;
        const action = row ? fk.onUpdate : fk.onDelete;
        if (action === 'no_action' || action === 'restrict') throw fkStillReferenced(t, fk.name, child, fk.refColumns, oldVals);
        throw new StratumError(
          SqlState.serializationFailure,
          `could not serialize access on table "${child.name}": a concurrent transaction added rows referencing "${t.name}" that foreign key "${fk.name}" would have changed`,
          { hint: 'The transaction was rolled back; retry it.' },
        );
      }
    }
  }
  await checkParents(env, children);
}

export { ConstraintError };
