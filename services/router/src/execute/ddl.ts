/**
 * Executing DDL (DESIGN §7: "DDL updates the catalog and is published on the bus ahead of
 * data"). Each statement becomes catalog events built from the catalog as it is now; outside a
 * transaction block they are published and applied at once (a changed definition is published
 * with `ifVersion`, so concurrent ALTERs cannot overwrite each other: the loser gets 40001);
 * inside a block they apply to the block's private catalog and are published atomically at
 * COMMIT (docs/architecture.md "DDL in transaction blocks").
 *
 * Data-dependent steps run against committed data: SET NOT NULL and ADD CONSTRAINT CHECK /
 * FOREIGN KEY count violating rows on the analytical tier; UNIQUE constraints and CREATE INDEX
 * build the index on every row tier while writes continue and turn it valid once all report it
 * complete (or drop it and fail with 23505 on a duplicate).
 */

import { randomBytes } from 'node:crypto';
import type {
  AlterSeqStmt,
  AlterTableStmt,
  CommentStmt,
  Constraint,
  CreateSeqStmt,
  CreateStmt,
  CreateTableAsStmt,
  IndexStmt,
  Node,
  RenameStmt,
  TypeName,
  ViewStmt,
} from '@pgsql/types';
import {
  type ColumnDef,
  type ConstraintDef,
  castValue,
  counter,
  type DdlEvent,
  evaluate,
  fieldOf,
  pgTypeName,
  type ResultType,
  SchemaError,
  type SequenceDef,
  SqlState,
  type SqlType,
  StratumError,
  type TableDef,
  type TableInfo,
  UnsupportedError,
} from '@stratum/shared';
import { expectNode, listItems, nodeOf, present, strOf } from '../analyze/ast.ts';
import { ParamTypes } from '../analyze/scope.ts';
import { forEachNode } from '../analyze/walk.ts';
import type { Notice, StatementResult } from '../pgwire/types.ts';
import { deparse } from '../plan/duckdb-sql.ts';
import { planSelect } from '../plan/select.ts';
import type { DdlPlan, ModifyPlan, ReadPlan } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import { parseFirst, parseSelect } from '../sql/parse.ts';
import type { Params } from './bind.ts';
import {
  addConstraint,
  addElements,
  type BuildEnv,
  buildCreateTable,
  chooseName,
  compileDefault,
  newSequence,
  sequenceOptions,
  type TableBuild,
} from './ddl-build.ts';
import { runRead, type TypedResult } from './read.ts';
import { runInsert, runModify } from './write.ts';

const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);

/** A fresh storage name for a table (new table, TRUNCATE): never used before. */
export function newStorage(name: string): string {
  return `${name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40)}.${randomBytes(5).toString('hex')}`;
}

function buildEnv(s: RouterSession, positionOf: (loc: number | undefined) => number | undefined = () => undefined): BuildEnv {
  return { catalog: s.catalog, session: s, positionOf };
}

/**
 * Publish catalog events (or, in a block, apply them to the block's catalog) and wait until
 * they apply.
 * @returns false when the events no longer fit the catalog (a concurrent DDL won).
 */
export async function publish(s: RouterSession, events: DdlEvent[]): Promise<boolean> {
  if (events.length === 0) return true;
  const ev: DdlEvent = events.length === 1 ? (events[0] as DdlEvent) : { kind: 'batch', events, at: Date.now() };
  const txn = s.txn;
  if (txn) {
    txn.catalog ??= s.ctx.catalog.clone();
    if (!txn.catalog.applyPrivately(ev)) return false;
    txn.ddl.push(ev);
    return true;
  }
  const version = await s.ctx.publishDdl(ev);
  await s.ctx.catalog.waitFor(version, s.ctx.statementTimeoutMs);
  return s.ctx.catalog.applied(version);
}

/** Publish, or fail with 40001 because another session changed the same objects first. */
async function publishOrConflict(s: RouterSession, events: DdlEvent[], what: string): Promise<void> {
  if (!(await publish(s, events))) {
    throw new StratumError(
      SqlState.serializationFailure,
      `could not apply ${what}: a concurrent DDL statement changed the same objects first`,
      {
        hint: 'Retry the statement.',
      },
    );
  }
}

function notice(message: string, code = '00000'): Notice {
  return { severity: 'NOTICE', code, message };
}

/** Run a DDL plan. */
export async function runDdl(s: RouterSession, plan: DdlPlan, params: Params): Promise<StatementResult> {
  const op = plan.op;
  mStatements.inc({ kind: plan.tag, tier: 'catalog' });
  switch (op.op) {
    case 'noop':
      return op.notice ? { commandTag: plan.tag, notices: [notice(op.notice)] } : { commandTag: plan.tag };
    case 'create_table':
      return op.asSelect ? createTableAs(s, op.stmt, op.asSelect, params) : createTable(s, op.stmt);
    case 'drop':
      return drop(s, plan.tag, op.relkind, op.names, op.ifExists, op.cascade);
    case 'truncate':
      return truncate(s, op.names, op.cascade, op.restartIdentity);
    case 'alter_table':
      return alterTable(s, op.stmt);
    case 'rename':
      return rename(s, plan.tag, op.stmt);
    case 'create_index':
      return createIndex(s, op.stmt);
    case 'create_sequence':
      return createSequence(s, op.stmt);
    case 'alter_sequence':
      return alterSequence(s, op.stmt);
    case 'create_view':
      return createView(s, op.stmt);
    case 'comment':
      return comment(s, op.stmt);
  }
}

/** CREATE TABLE. */
async function createTable(s: RouterSession, stmt: CreateStmt): Promise<StatementResult> {
  const name = stmt.relation?.relname ?? '';
  if (s.catalog.relationExists(name)) {
    if (stmt.if_not_exists)
      return { commandTag: 'CREATE TABLE', notices: [notice(`relation "${name}" already exists, skipping`, '42P07')] };
    throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
  }
  const b = buildCreateTable(stmt, buildEnv(s));
  await createFromBuild(s, b);
  return { commandTag: 'CREATE TABLE' };
}

/** Publish a built table with its sequences. @throws 42P07 when a concurrent CREATE won. */
async function createFromBuild(s: RouterSession, b: TableBuild): Promise<TableInfo> {
  const def: TableDef = { ...b.def, storage: newStorage(b.def.name) };
  const { checkPlacement, validateTableDef } = await import('@stratum/shared');
  validateTableDef(def);
  checkPlacement(s.catalog.infoOf(def), s.ctx.olap.shardIds);
  const at = Date.now();
  const events: DdlEvent[] = [
    ...b.sequences.map((seq): DdlEvent => ({ kind: 'create_sequence', sequence: seq, at })),
    { kind: 'create_table', table: def, at },
  ];
  if (!(await publish(s, events))) throw new SchemaError(SqlState.duplicateTable, `relation "${def.name}" already exists`);
  return s.catalog.get(def.name);
}

/** CREATE TABLE … AS SELECT: the SELECT's columns (types from its result), then its rows. */
async function createTableAs(
  s: RouterSession,
  stmt: CreateTableAsStmt,
  as: NonNullable<Extract<DdlPlan['op'], { op: 'create_table' }>['asSelect']>,
  params: Params,
): Promise<StatementResult> {
  const rel = present(stmt.into?.rel, 'the table of a CREATE TABLE AS');
  const name = rel.relname ?? '';
  if (s.catalog.relationExists(name)) {
    if (stmt.if_not_exists)
      return { commandTag: 'CREATE TABLE AS', notices: [notice(`relation "${name}" already exists, skipping`, '42P07')] };
    throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
  }
  const res = await runRead(s, as.plan, params);
  const names = as.names ?? [];
  const def: TableDef = {
    name,
    columns: res.columns.map((c, i) => {
      const t: SqlType = c.type === 'unknown' ? 'text' : c.type;
      const col: ColumnDef = { name: names[i] ?? c.name, type: t, notNull: false };
      if (c.typmod !== undefined) col.typmod = c.typmod;
      return col;
    }),
    primaryKey: [],
  };
  const b = buildCreateTable(
    { relation: rel, tableElts: def.columns.map((c) => ({ ColumnDef: { colname: c.name, typeName: typeNameNode(c.type, c.typmod) } })) },
    buildEnv(s),
  );
  const t = await createFromBuild(s, b);
  if (!as.withData) return { commandTag: 'SELECT 0' };
  const n = await insertTyped(s, t, res);
  return { commandTag: `SELECT ${n}` };
}

/** A TypeName node for a type (CREATE TABLE AS). */
function typeNameNode(t: SqlType, typmod?: number): TypeName {
  const arr = t.endsWith('[]');
  const base = (arr ? t.slice(0, -2) : t) as string;
  const pgName: Record<string, string> = {
    double: 'float8',
    real: 'float4',
    integer: 'int4',
    bigint: 'int8',
    smallint: 'int2',
    boolean: 'bool',
    char: 'bpchar',
  };
  const node: TypeName = { names: [{ String: { sval: pgName[base] ?? base } }] };
  if (typmod !== undefined && typmod >= 4 && (base === 'varchar' || base === 'char'))
    node.typmods = [{ A_Const: { ival: { ival: typmod - 4 } } }];
  if (typmod !== undefined && typmod >= 4 && base === 'numeric') {
    const p = ((typmod - 4) >> 16) & 0xffff;
    const sc = (typmod - 4) & 0xffff;
    node.typmods = [{ A_Const: { ival: { ival: p } } }, { A_Const: { ival: { ival: sc } } }];
  }
  if (arr) node.arrayBounds = [{ Integer: { ival: -1 } }];
  return node;
}

/** Insert typed rows (stored representation, result types) into `t`'s visible columns. */
export async function insertTyped(s: RouterSession, t: TableInfo, res: TypedResult): Promise<number> {
  if (res.rows.length === 0) return 0;
  const cols = t.columns.filter((c) => !c.hidden);
  const ctx = s.evalContext();
  const rows = res.rows.map((r) =>
    r.map((v, i) => {
      const c = cols[i] as ColumnDef;
      const from = (res.columns[i]?.type ?? 'text') as ResultType;
      return v === null || from === c.type ? v : castValue(v, from, c.type, c.typmod, 'assignment', ctx);
    }),
  );
  const r = await runInsert(
    s,
    {
      kind: 'insert',
      tier: 'tx',
      readTs: 'none',
      tables: [],
      reason: '',
      table: t.name,
      columns: cols.map(fieldOf),
      source: { kind: 'values', rows: rows.map((row) => row.map((v, i) => ({ k: 'const' as const, v, t: (cols[i] as ColumnDef).type }))) },
      defaults: [],
    },
    [],
  );
  return Number(/(\d+)$/.exec(r.commandTag)?.[1] ?? 0);
}

/** Views whose query reads relation `name`. */
function viewsReading(s: RouterSession, name: string): string[] {
  const out: string[] = [];
  for (const v of s.catalog.listViews()) {
    try {
      let hit = false;
      forEachNode(parseFirst(v.sql), (type, n) => {
        if (type === 'RangeVar' && n.relname === name) hit = true;
      });
      if (hit) out.push(v.name);
    } catch {
      // an unparsable view cannot depend on anything
    }
  }
  return out;
}

/** DROP TABLE / VIEW / SEQUENCE / INDEX [IF EXISTS] [CASCADE]. */
async function drop(
  s: RouterSession,
  tag: string,
  relkind: 'table' | 'view' | 'sequence' | 'index',
  names: string[],
  ifExists: boolean,
  cascade: boolean,
): Promise<StatementResult> {
  const events: DdlEvent[] = [];
  const notices: Notice[] = [];
  const at = Date.now();
  const cat = s.catalog;
  const dropping = new Set(names);
  const changedChildren = new Map<string, TableDef>();
  for (const name of names) {
    const missing = () => {
      if (ifExists) {
        notices.push(notice(`${relkind} "${name}" does not exist, skipping`));
        return true;
      }
      // PostgreSQL (RemoveRelations → DropErrorMsgNonExistent): 42704 for an index, 42P01 for other relations.
      throw new SchemaError(
        relkind === 'index' ? SqlState.undefinedObject : SqlState.undefinedTable,
        `${relkind} "${name}" does not exist`,
      );
    };
    if (relkind === 'table') {
      const t = cat.find(name);
      if (!t) {
        if (cat.view(name)) throw new StratumError('42809', `"${name}" is not a table`, { hint: 'Use DROP VIEW to remove a view.' });
        missing();
        continue;
      }
      const deps: string[] = [];
      for (const child of cat.referencing(t.oid)) {
        if (dropping.has(child.name)) continue;
        for (const c of child.constraints ?? []) {
          if (c.kind === 'foreign' && c.refOid === t.oid) {
            deps.push(`constraint ${c.name} on table ${child.name} depends on table ${name}`);
            const cur = changedChildren.get(child.name) ?? { ...stripInfo(child) };
            cur.constraints = (cur.constraints ?? []).filter((x) => x.name !== c.name);
            changedChildren.set(child.name, cur);
          }
        }
      }
      for (const v of viewsReading(s, name)) if (!dropping.has(v)) deps.push(`view ${v} depends on table ${name}`);
      if (deps.length && !cascade) {
        throw new StratumError('2BP01', `cannot drop table ${name} because other objects depend on it`, {
          detail: deps.join('\n'),
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        });
      }
      for (const d of deps) notices.push(notice(`drop cascades to ${d.split(' depends')[0]}`));
      for (const v of viewsReading(s, name)) if (!dropping.has(v)) events.push({ kind: 'drop_view', name: v, at });
      events.push({ kind: 'drop_table', name, at });
    } else if (relkind === 'view') {
      if (!cat.view(name)) {
        if (cat.find(name)) throw new StratumError('42809', `"${name}" is not a view`, { hint: 'Use DROP TABLE to remove a table.' });
        missing();
        continue;
      }
      events.push({ kind: 'drop_view', name, at });
    } else if (relkind === 'sequence') {
      const seq = cat.sequence(name);
      if (!seq) {
        missing();
        continue;
      }
      const owner = seq.ownedBy ? cat.find(seq.ownedBy.table) : undefined;
      const col = owner?.columns.find((c) => c.sequence === name || c.default?.sql.includes(`'${name}'`));
      if (owner && col && !cascade) {
        throw new StratumError('2BP01', `cannot drop sequence ${name} because other objects depend on it`, {
          detail: `default value for column ${col.name} of table ${owner.name} depends on sequence ${name}`,
          hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
        });
      }
      events.push({ kind: 'drop_sequence', name, at });
    } else {
      const t = cat.list().find((x) => x.indexes?.some((i) => i.name === name));
      if (!t) {
        missing();
        continue;
      }
      const ix = t.indexes?.find((i) => i.name === name);
      if (ix?.constraint) {
        throw new StratumError('2BP01', `cannot drop index ${name} because constraint ${ix.constraint} on table ${t.name} requires it`, {
          hint: `You can drop constraint ${ix.constraint} on table ${t.name} instead.`,
        });
      }
      const def = stripInfo(t);
      def.indexes = (def.indexes ?? []).filter((i) => i.name !== name);
      events.push({ kind: 'replace_table', name: t.name, table: def, at, ifVersion: t.defVersion });
    }
  }
  for (const [name, def] of changedChildren)
    events.unshift({ kind: 'replace_table', name, table: def, at, ifVersion: cat.get(name).defVersion });
  await publishOrConflict(s, events, tag);
  return notices.length ? { commandTag: tag, notices } : { commandTag: tag };
}

/** The definition part of a TableInfo (what a replace_table event carries). */
export function stripInfo(t: TableInfo): TableDef {
  const def: TableDef = {
    name: t.name,
    columns: t.columns.map((c) => ({ ...c })),
    primaryKey: [...t.primaryKey],
    oid: t.oid,
    storage: t.storage,
  };
  if (t.constraints) def.constraints = [...t.constraints];
  if (t.indexes) def.indexes = t.indexes.map((i) => ({ ...i }));
  if (t.comment !== undefined) def.comment = t.comment;
  if (t.reloptions) def.reloptions = { ...t.reloptions };
  def.nextAttnum = t.nextAttnum ?? Math.max(0, ...t.columns.map((c) => c.attnum ?? 0)) + 1;
  return def;
}

/**
 * TRUNCATE: outside a block each table gets a new storage name at once (its rows become
 * garbage every tier collects); inside a block its rows are deleted in the block, so the
 * block's later writes and its atomicity stay as PostgreSQL's.
 */
async function truncate(s: RouterSession, names: string[], cascade: boolean, restart: boolean): Promise<StatementResult> {
  const cat = s.catalog;
  const all = new Set(names);
  const notices: Notice[] = [];
  for (const name of [...all]) {
    const t = cat.get(name);
    for (const child of cat.referencing(t.oid)) {
      if (all.has(child.name)) continue;
      if (!cascade) {
        throw new StratumError('0A000', 'cannot truncate a table referenced in a foreign key constraint', {
          detail: `Table "${child.name}" references "${name}".`,
          hint: `Truncate table "${child.name}" at the same time, or use TRUNCATE ... CASCADE.`,
        });
      }
      all.add(child.name);
      notices.push(notice(`truncate cascades to table "${child.name}"`));
    }
  }
  const at = Date.now();
  if (s.txn) {
    for (const name of all) {
      const t = cat.get(name);
      const plan: ModifyPlan = {
        kind: 'delete',
        tier: 'tx',
        readTs: 'snapshot',
        tables: [],
        reason: 'TRUNCATE in a block',
        table: t.name,
        finder: {
          by: 'candidates',
          sql: `SELECT ${t.primaryKey.map((f) => `"${(t.columns[t.fieldIndex.get(f) ?? 0] as ColumnDef).name}"`).join(', ')} FROM "${t.name}__latest"`,
        },
        set: [],
      };
      await runModify(s, plan, []);
    }
  } else {
    const events: DdlEvent[] = [...all].map((name) => {
      const t = cat.get(name);
      return { kind: 'replace_table', name, table: { ...stripInfo(t), storage: newStorage(name) }, at, ifVersion: t.defVersion };
    });
    await publishOrConflict(s, events, 'TRUNCATE');
    for (const name of all) s.ctx.results.invalidate(name);
  }
  if (restart) {
    for (const name of all) {
      for (const c of cat.get(name).columns) {
        const seq = c.sequence ? cat.sequence(c.sequence) : undefined;
        if (seq) await s.ctx.sequences.set(seq.name, seq.start, false);
      }
    }
  }
  return notices.length ? { commandTag: 'TRUNCATE TABLE', notices } : { commandTag: 'TRUNCATE TABLE' };
}

/** Count rows of `t` matching `sqlWhere` on the analytical tier (after the session's own writes are in). */
async function countWhere(s: RouterSession, t: TableInfo, sqlWhere: string): Promise<number> {
  const sel = parseSelect(`SELECT count(*) FROM "${t.name}" WHERE ${sqlWhere}`);
  const plan = planSelect(
    sel,
    { catalog: s.ctx.catalog, session: s, asOf: false, inBlock: false, positionOf: () => undefined },
    new ParamTypes(),
  );
  const res = await runRead(s, plan, []);
  return Number(res.rows[0]?.[0] ?? 0);
}

/** Check existing rows against constraints added by ALTER TABLE (CHECK, FOREIGN KEY, NOT NULL). */
async function validateAdded(s: RouterSession, t: TableInfo, added: ConstraintDef[]): Promise<void> {
  // A table this transaction block created and has not written to has no rows to check (and neither it
  // nor a table it references may be readable outside the block yet: Knex adds foreign keys so).
  if (s.txn && s.ctx.catalog.find(t.name)?.storage !== t.storage && !s.txn.wrote.has(t.storage)) return;
  for (const c of added) {
    if (c.kind === 'check') {
      if ((await countWhere(s, t, `NOT (${c.check.sql})`)) > 0) {
        throw new StratumError('23514', `check constraint "${c.name}" of relation "${t.name}" is violated by some row`);
      }
    } else if (c.kind === 'foreign') {
      const ref = s.ctx.catalog.get(c.refTable);
      const col = (tt: TableInfo, f: string) => `"${(tt.columns[tt.fieldIndex.get(f) ?? 0] as ColumnDef).name}"`;
      const notNull = c.columns.map((f) => `c.${col(t, f)} IS NOT NULL`).join(' AND ');
      const match = c.columns.map((f, i) => `p.${col(ref, c.refColumns[i] as string)} = c.${col(t, f)}`).join(' AND ');
      const sql = `SELECT count(*) FROM "${t.name}" AS c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM "${ref.name}" AS p WHERE ${match})`;
      const sel = parseSelect(sql);
      const plan = planSelect(
        sel,
        { catalog: s.ctx.catalog, session: s, asOf: false, inBlock: false, positionOf: () => undefined },
        new ParamTypes(),
      );
      const res = await runRead(s, plan, []);
      if (Number(res.rows[0]?.[0] ?? 0) > 0) {
        throw new StratumError('23503', `insert or update on table "${t.name}" violates foreign key constraint "${c.name}"`, {
          detail: `Some rows of "${t.name}" reference keys not present in table "${ref.name}".`,
        });
      }
    }
  }
}

/**
 * Build the building indexes of table `name` on every row tier, then mark them valid.
 * @throws the tier's error (23505 for duplicates) after dropping the failed index.
 */
async function buildIndexes(s: RouterSession, name: string): Promise<void> {
  if (s.txn) return; // built at COMMIT, once the block's DDL is published
  const t = s.ctx.catalog.get(name);
  const building = (t.indexes ?? []).filter((i) => i.state === 'building');
  if (building.length === 0) return;
  // The session's statement_timeout when set; otherwise the build runs to completion (as PostgreSQL's CREATE INDEX).
  const deadline = performance.now() + (Number(s.settings.statement_timeout) > 0 ? s.timeoutMs() : Number.POSITIVE_INFINITY);
  for (const ix of building) {
    for (;;) {
      const statuses = await Promise.all([
        ...s.ctx.txEngines.map((e) => e.indexStatus(t.storage, ix.name, s.ctx.catalog.version)),
        ...s.ctx.ingestion.map((i) => i.api.indexStatus(t.storage, ix.name, s.ctx.catalog.version)),
      ]);
      const failed = statuses.find((x) => x.state === 'failed');
      if (failed) {
        const cur = s.ctx.catalog.get(name);
        const def = stripInfo(cur);
        def.indexes = (def.indexes ?? []).filter((i) => i.name !== ix.name);
        if (ix.constraint) def.constraints = (def.constraints ?? []).filter((c) => c.name !== ix.constraint);
        await publish(s, [{ kind: 'replace_table', name, table: def, at: Date.now() }]);
        const e = failed.error;
        throw new StratumError(
          e?.code ?? '23505',
          e?.message ?? `could not create unique index "${ix.name}"`,
          e?.detail ? { detail: e.detail } : {},
        );
      }
      if (statuses.every((x) => x.state === 'done')) break;
      if (performance.now() > deadline)
        throw new StratumError(
          SqlState.queryCanceled,
          `index "${ix.name}" was not built within the statement timeout; it stays invalid until dropped`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const cur = s.ctx.catalog.get(name);
  const def = stripInfo(cur);
  def.indexes = (def.indexes ?? []).map((i) => (building.some((b) => b.name === i.name) ? { ...i, state: 'valid' as const } : i));
  await publishOrConflict(s, [{ kind: 'replace_table', name, table: def, at: Date.now(), ifVersion: cur.defVersion }], 'CREATE INDEX');
}

/** Build the indexes a committed block's DDL created (called after COMMIT published it). */
export async function buildBlockIndexes(s: RouterSession, ddl: DdlEvent[]): Promise<void> {
  const names = new Set<string>();
  const visit = (e: DdlEvent) => {
    if (e.kind === 'batch') e.events.forEach(visit);
    else if (e.kind === 'replace_table' || e.kind === 'create_table') names.add(e.table.name);
  };
  ddl.forEach(visit);
  for (const n of names) if (s.ctx.catalog.find(n)) await buildIndexes(s, n);
}

/** CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON t (cols). */
async function createIndex(s: RouterSession, stmt: IndexStmt): Promise<StatementResult> {
  const t = s.catalog.get(stmt.relation?.relname ?? '');
  if (stmt.whereClause) throw new UnsupportedError('partial indexes (CREATE INDEX … WHERE) are not supported');
  const method = stmt.accessMethod ?? 'btree';
  if (method !== 'btree' && method !== 'hash')
    throw new UnsupportedError(`index access method "${method}" is not supported (btree indexes only)`);
  const cols = (stmt.indexParams ?? []).map((p) => {
    const e = expectNode(p, 'IndexElem');
    if (!e.name) throw new UnsupportedError('indexes on expressions are not supported');
    const c = t.columns[t.columnIndex.get(e.name) ?? -1];
    if (!c || c.hidden) throw new SchemaError(SqlState.undefinedColumn, `column "${e.name}" does not exist`);
    return c;
  });
  const name = stmt.idxname ?? chooseName([t.name, ...cols.map((c) => c.name)], 'idx', (n) => s.catalog.relationExists(n));
  if (s.catalog.relationExists(name)) {
    if (stmt.if_not_exists)
      return { commandTag: 'CREATE INDEX', notices: [notice(`relation "${name}" already exists, skipping`, '42P07')] };
    throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
  }
  const def = stripInfo(t);
  def.indexes = [...(def.indexes ?? []), { name, columns: cols.map(fieldOf), unique: Boolean(stmt.unique), state: 'building' }];
  await publishOrConflict(
    s,
    [{ kind: 'replace_table', name: t.name, table: def, at: Date.now(), ifVersion: t.defVersion }],
    'CREATE INDEX',
  );
  await buildIndexes(s, t.name);
  return { commandTag: 'CREATE INDEX' };
}

/** ALTER TABLE subcommands. */
async function alterTable(s: RouterSession, stmt: AlterTableStmt): Promise<StatementResult> {
  const rel = present(stmt.relation, 'the table of an ALTER TABLE');
  const t = s.catalog.find(rel.relname ?? '');
  // ALTER TABLE v OWNER TO r on a view or sequence (pg_dump prints it so): accepted as for a table (one owner here).
  const ownerOnly = (stmt.cmds ?? []).every((c) => nodeOf(c, 'AlterTableCmd')?.subtype === 'AT_ChangeOwner');
  if (!t && ownerOnly && (s.catalog.view(rel.relname ?? '') || s.catalog.sequence(rel.relname ?? ''))) return { commandTag: 'ALTER TABLE' };
  if (!t) {
    if (stmt.missing_ok) return { commandTag: 'ALTER TABLE', notices: [notice(`relation "${rel.relname}" does not exist, skipping`)] };
    throw new SchemaError(SqlState.undefinedTable, `relation "${rel.relname}" does not exist`);
  }
  const b: TableBuild = { def: stripInfo(t), sequences: [], added: [] };
  const def = b.def;
  const notices: Notice[] = [];
  const notNullChecks: ColumnDef[] = [];
  const env = buildEnv(s);
  const names = new Set<string>();
  for (const c of stmt.cmds ?? []) {
    const cmd = expectNode(c, 'AlterTableCmd');
    const colNamed = (name: string) => {
      const col = def.columns.find((x) => x.name === name && !x.hidden);
      if (!col) throw new SchemaError(SqlState.undefinedColumn, `column "${name}" of relation "${t.name}" does not exist`);
      return col;
    };
    switch (cmd.subtype) {
      case 'AT_AddColumn': {
        const cd = expectNode(cmd.def, 'ColumnDef');
        if (def.columns.some((x) => x.name === cd.colname)) {
          if (cmd.missing_ok) {
            notices.push(notice(`column "${cd.colname}" of relation "${t.name}" already exists, skipping`, '42701'));
            continue;
          }
        }
        const before = def.columns.length;
        addElements(b, [{ ColumnDef: cd }], env, false);
        const col = def.columns[before] as ColumnDef;
        if (col.default) {
          if (col.default.volatile) {
            if (await hasRows(s, t))
              throw new UnsupportedError(`ADD COLUMN "${col.name}" with a volatile DEFAULT on a table with rows is not supported`, {
                hint: 'Add the column without a default, then UPDATE it.',
              });
          } else {
            const ctx = s.evalContext();
            const v = evaluate(col.default.expr, { row: {} }, ctx);
            if (v !== null) col.missing = v;
          }
        }
        if (col.notNull && col.missing === undefined && !col.identity && !col.sequence) notNullChecks.push(col);
        break;
      }
      case 'AT_DropColumn': {
        const col = def.columns.find((x) => x.name === cmd.name && !x.hidden);
        if (!col) {
          if (cmd.missing_ok) {
            notices.push(notice(`column "${cmd.name}" of relation "${t.name}" does not exist, skipping`));
            continue;
          }
          throw new SchemaError(SqlState.undefinedColumn, `column "${cmd.name}" of relation "${t.name}" does not exist`);
        }
        const f = fieldOf(col);
        if (def.primaryKey.includes(f))
          throw new UnsupportedError(`cannot drop column "${col.name}": it is part of the table's storage key (primary key)`);
        const usedBy = (def.constraints ?? []).filter(
          (k) =>
            (k.kind !== 'check' && k.columns.includes(f)) ||
            (k.kind === 'check' && JSON.stringify(k.check.expr).includes(`"field":"${f}"`)),
        );
        const multi = usedBy.filter((k) => k.kind !== 'check' && k.columns.length > 1);
        if (multi.length && cmd.behavior !== 'DROP_CASCADE') {
          throw new StratumError('2BP01', `cannot drop column ${col.name} of table ${t.name} because other objects depend on it`, {
            detail: multi.map((k) => `constraint ${k.name} on table ${t.name} depends on column ${col.name} of table ${t.name}`).join('\n'),
            hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
          });
        }
        const drop = new Set(usedBy.map((k) => k.name));
        def.constraints = (def.constraints ?? []).filter((k) => !drop.has(k.name));
        def.indexes = (def.indexes ?? []).filter((i) => !i.columns.includes(f) && !(i.constraint && drop.has(i.constraint)));
        def.columns = def.columns.filter((x) => x !== col);
        break;
      }
      case 'AT_ColumnDefault': {
        const col = colNamed(cmd.name ?? '');
        if (cmd.def) col.default = compileDefault(cmd.def, col, env);
        else delete col.default;
        // nextval of the sequence this column owns (pg_dump restores a serial so): it is the column's sequence again.
        const seqs = [...s.catalog.listSequences(), ...b.sequences].filter(
          (q) => q.ownedBy?.table === t.name && q.ownedBy.column === col.name,
        );
        const own = seqs.find((q) => col.default?.sql === `nextval('${q.name}'::regclass)`);
        if (own && !col.identity) col.sequence = own.name;
        break;
      }
      case 'AT_SetNotNull': {
        const col = colNamed(cmd.name ?? '');
        if (!col.notNull) notNullChecks.push(col);
        col.notNull = true;
        break;
      }
      case 'AT_DropNotNull': {
        const col = colNamed(cmd.name ?? '');
        if (
          def.primaryKey.includes(fieldOf(col)) ||
          def.constraints?.some((k) => k.kind === 'primary' && k.columns.includes(fieldOf(col)))
        ) {
          throw new StratumError('42P16', `column "${col.name}" is in a primary key`);
        }
        if (col.identity) throw new StratumError('42P16', `column "${col.name}" of relation "${t.name}" is an identity column`);
        col.notNull = false;
        break;
      }
      case 'AT_AddConstraint': {
        const con = expectNode(cmd.def, 'Constraint');
        addConstraint(b, con, undefined, env, (n) => s.catalog.relationExists(n), names);
        if (con.contype === 'CONSTR_PRIMARY') {
          const pk = def.constraints?.find((k) => k.kind === 'primary');
          if (pk && pk.kind === 'primary')
            for (const f of pk.columns) notNullChecks.push(def.columns.find((x) => fieldOf(x) === f) as ColumnDef);
        }
        break;
      }
      case 'AT_DropConstraint': {
        const k = def.constraints?.find((x) => x.name === cmd.name);
        if (!k) {
          if (cmd.missing_ok) {
            notices.push(notice(`constraint "${cmd.name}" of relation "${t.name}" does not exist, skipping`));
            continue;
          }
          throw new SchemaError(SqlState.undefinedObject, `constraint "${cmd.name}" of relation "${t.name}" does not exist`);
        }
        if (k.kind === 'primary' && !t.rowid)
          throw new UnsupportedError('dropping the primary key of a table is not supported: it is the table’s storage key');
        if (
          (k.kind === 'primary' || k.kind === 'unique') &&
          s.catalog.referencing(t.oid).some((ch) => ch.constraints?.some((x) => x.kind === 'foreign' && x.refOid === t.oid))
        ) {
          if (cmd.behavior !== 'DROP_CASCADE') {
            throw new StratumError('2BP01', `cannot drop constraint ${k.name} on table ${t.name} because other objects depend on it`, {
              hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
            });
          }
        }
        def.constraints = (def.constraints ?? []).filter((x) => x !== k);
        if (k.kind === 'primary' || k.kind === 'unique') def.indexes = (def.indexes ?? []).filter((i) => i.name !== k.index);
        break;
      }
      case 'AT_AlterColumnType':
        throw new UnsupportedError('ALTER COLUMN … TYPE is not supported yet');
      case 'AT_SetRelOptions':
      case 'AT_ResetRelOptions':
      case 'AT_ChangeOwner':
      case 'AT_SetStatistics':
      case 'AT_ClusterOn':
      case 'AT_DropCluster':
      case 'AT_ReplicaIdentity':
      case 'AT_EnableTrig':
      case 'AT_DisableTrig':
      case 'AT_EnableTrigAll':
      case 'AT_DisableTrigAll':
      case 'AT_EnableTrigUser':
      case 'AT_DisableTrigUser':
      case 'AT_SetStorage':
      case 'AT_SetLogged':
      case 'AT_SetUnLogged':
      case 'AT_ValidateConstraint':
        break;
      case 'AT_AddIdentity': {
        addIdentity(s, b, colNamed(cmd.name ?? ''), expectNode(cmd.def, 'Constraint'));
        break;
      }
      case 'AT_SetIdentity':
      case 'AT_DropIdentity':
        throw new UnsupportedError('ALTER COLUMN … IDENTITY is not supported');
      default:
        throw new UnsupportedError(`ALTER TABLE ${String(cmd.subtype).replace('AT_', '')} is not supported`);
    }
  }
  for (const col of notNullChecks) {
    if (col.missing !== undefined) continue;
    if ((await countWhere(s, t, `"${col.name}" IS NULL`).catch(() => 0)) > 0) {
      throw new StratumError(SqlState.notNullViolation, `column "${col.name}" of relation "${t.name}" contains null values`);
    }
  }
  await validateAdded(s, t, b.added);
  const at = Date.now();
  const events: DdlEvent[] = [
    ...b.sequences.map((seq): DdlEvent => ({ kind: 'create_sequence', sequence: seq, at })),
    { kind: 'replace_table', name: t.name, table: def, at, ifVersion: t.defVersion },
  ];
  await publishOrConflict(s, events, 'ALTER TABLE');
  await buildIndexes(s, t.name);
  return notices.length ? { commandTag: 'ALTER TABLE', notices } : { commandTag: 'ALTER TABLE' };
}

/** Does the table hold any row (analytical count after the session's writes)? */
async function hasRows(s: RouterSession, t: TableInfo): Promise<boolean> {
  return (await countWhere(s, t, 'true')) > 0;
}

/** ALTER … RENAME (tables, columns, views, sequences, indexes, constraints). */
async function rename(s: RouterSession, tag: string, stmt: RenameStmt): Promise<StatementResult> {
  const cat = s.catalog;
  const at = Date.now();
  const to = stmt.newname ?? '';
  const relName = stmt.relation?.relname;
  const skip = (what: string) => ({ commandTag: tag, notices: [notice(`relation "${what}" does not exist, skipping`)] });
  switch (stmt.renameType) {
    case 'OBJECT_TABLE': {
      const t = relName ? cat.find(relName) : undefined;
      if (!t) {
        if (stmt.missing_ok && relName) return skip(relName);
        throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      }
      if (cat.relationExists(to)) throw new SchemaError(SqlState.duplicateTable, `relation "${to}" already exists`);
      await publishOrConflict(
        s,
        [{ kind: 'replace_table', name: t.name, table: { ...stripInfo(t), name: to }, at, ifVersion: t.defVersion }],
        tag,
      );
      s.ctx.results.invalidate(t.name);
      return { commandTag: tag };
    }
    case 'OBJECT_COLUMN': {
      const t = relName ? cat.find(relName) : undefined;
      if (!t) {
        if (stmt.missing_ok && relName) return skip(relName);
        throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      }
      const def = stripInfo(t);
      const col = def.columns.find((c) => c.name === stmt.subname && !c.hidden);
      if (!col) throw new SchemaError(SqlState.undefinedColumn, `column "${stmt.subname}" does not exist`);
      if (def.columns.some((c) => c.name === to))
        throw new SchemaError(SqlState.duplicateColumn, `column "${to}" of relation "${t.name}" already exists`);
      col.field = fieldOf(col);
      col.name = to;
      await publishOrConflict(s, [{ kind: 'replace_table', name: t.name, table: def, at, ifVersion: t.defVersion }], tag);
      s.ctx.results.invalidate(t.name);
      return { commandTag: tag };
    }
    case 'OBJECT_TABCONSTRAINT': {
      const t = relName ? cat.get(relName) : undefined;
      if (!t) throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      const def = stripInfo(t);
      const k = def.constraints?.find((c) => c.name === stmt.subname);
      if (!k) throw new SchemaError(SqlState.undefinedObject, `constraint "${stmt.subname}" for table "${t.name}" does not exist`);
      def.constraints = (def.constraints ?? []).map((c) =>
        c === k ? { ...c, name: to, ...(c.kind === 'primary' || c.kind === 'unique' ? { index: to } : {}) } : c,
      ) as ConstraintDef[];
      def.indexes = (def.indexes ?? []).map((i) => (i.constraint === k.name ? { ...i, name: to, constraint: to } : i));
      await publishOrConflict(s, [{ kind: 'replace_table', name: t.name, table: def, at, ifVersion: t.defVersion }], tag);
      return { commandTag: tag };
    }
    case 'OBJECT_INDEX': {
      const t = cat.list().find((x) => x.indexes?.some((i) => i.name === relName));
      if (!t) {
        if (stmt.missing_ok && relName) return skip(relName);
        throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      }
      if (cat.relationExists(to)) throw new SchemaError(SqlState.duplicateTable, `relation "${to}" already exists`);
      const def = stripInfo(t);
      const ix = def.indexes?.find((i) => i.name === relName);
      if (ix?.constraint) {
        def.constraints = (def.constraints ?? []).map((c) =>
          c.name === ix.constraint ? ({ ...c, name: to, index: to } as ConstraintDef) : c,
        );
        ix.constraint = to;
      }
      if (ix) ix.name = to;
      await publishOrConflict(s, [{ kind: 'replace_table', name: t.name, table: def, at, ifVersion: t.defVersion }], tag);
      return { commandTag: tag };
    }
    case 'OBJECT_VIEW': {
      const v = relName ? cat.view(relName) : undefined;
      if (!v) {
        if (stmt.missing_ok && relName) return skip(relName);
        throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      }
      if (cat.relationExists(to)) throw new SchemaError(SqlState.duplicateTable, `relation "${to}" already exists`);
      await publishOrConflict(
        s,
        [
          { kind: 'drop_view', name: v.name, at },
          { kind: 'create_view', view: { ...v, name: to }, replace: false, at },
        ],
        tag,
      );
      return { commandTag: tag };
    }
    case 'OBJECT_SEQUENCE': {
      const q = relName ? cat.sequence(relName) : undefined;
      if (!q) {
        if (stmt.missing_ok && relName) return skip(relName);
        throw new SchemaError(SqlState.undefinedTable, `relation "${relName}" does not exist`);
      }
      if (cat.relationExists(to)) throw new SchemaError(SqlState.duplicateTable, `relation "${to}" already exists`);
      await publishOrConflict(s, [{ kind: 'replace_sequence', name: q.name, sequence: { ...seqDef(q), name: to }, at }], tag);
      return { commandTag: tag };
    }
    default:
      throw new UnsupportedError(`ALTER … RENAME of ${String(stmt.renameType).replace('OBJECT_', '').toLowerCase()} is not supported`);
  }
}

/** The definition part of a sequence. */
function seqDef(q: SequenceDef & { next?: bigint }): SequenceDef {
  const { next: _n, oid: _o, resetVersion: _r, ...def } = q as SequenceDef & { next?: bigint; resetVersion?: number };
  return def;
}

/** CREATE SEQUENCE. */
async function createSequence(s: RouterSession, stmt: CreateSeqStmt): Promise<StatementResult> {
  const name = stmt.sequence?.relname ?? '';
  if (s.catalog.relationExists(name)) {
    if (stmt.if_not_exists)
      return { commandTag: 'CREATE SEQUENCE', notices: [notice(`relation "${name}" already exists, skipping`, '42P07')] };
    throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
  }
  if (stmt.sequence?.relpersistence === 't') throw new UnsupportedError('temporary sequences are not supported');
  const seq = newSequence(name, 'bigint');
  const { ownedBy } = sequenceOptions(seq, stmt.options ?? [], true);
  if (ownedBy) setOwnedBy(s, seq, ownedBy);
  await publishOrConflict(s, [{ kind: 'create_sequence', sequence: seq, at: Date.now() }], 'CREATE SEQUENCE');
  return { commandTag: 'CREATE SEQUENCE' };
}

function setOwnedBy(s: RouterSession, seq: SequenceDef, ownedBy: Node[]): void {
  const parts = ownedBy.map((n) => strOf(n) ?? '');
  if (parts.length === 1 && parts[0] === 'none') {
    delete seq.ownedBy;
    return;
  }
  const column = parts[parts.length - 1] as string;
  const table = parts[parts.length - 2] as string;
  const t = s.catalog.find(table);
  if (!t) throw new SchemaError(SqlState.undefinedTable, `relation "${table}" does not exist`);
  if (!t.columnIndex.has(column))
    throw new SchemaError(SqlState.undefinedColumn, `column "${column}" of relation "${table}" does not exist`);
  seq.ownedBy = { table, column };
}

/** ALTER SEQUENCE … (options, RESTART, OWNED BY). */
async function alterSequence(s: RouterSession, stmt: AlterSeqStmt): Promise<StatementResult> {
  const name = stmt.sequence?.relname ?? '';
  const q = s.catalog.sequence(name);
  if (!q) {
    if (stmt.missing_ok) return { commandTag: 'ALTER SEQUENCE', notices: [notice(`relation "${name}" does not exist, skipping`)] };
    throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`);
  }
  const seq = seqDef(q);
  const { restart, ownedBy } = sequenceOptions(seq, stmt.options ?? [], false);
  if (ownedBy) setOwnedBy(s, seq, ownedBy);
  await publishOrConflict(s, [{ kind: 'replace_sequence', name, sequence: seq, at: Date.now() }], 'ALTER SEQUENCE');
  if (restart !== undefined) await s.ctx.sequences.set(name, restart, false);
  return { commandTag: 'ALTER SEQUENCE' };
}

/** CREATE [OR REPLACE] VIEW: its query text and output columns (types from running it with LIMIT 0). */
async function createView(s: RouterSession, stmt: ViewStmt): Promise<StatementResult> {
  const rv = stmt.view;
  const name = rv?.relname ?? '';
  if (rv?.relpersistence === 't') throw new UnsupportedError('temporary views are not supported');
  if (stmt.withCheckOption && stmt.withCheckOption !== 'NO_CHECK_OPTION')
    throw new UnsupportedError('WITH CHECK OPTION is not supported: views are read-only');
  const replace = Boolean(stmt.replace);
  if (s.catalog.relationExists(name) && !(replace && s.catalog.view(name))) {
    throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
  }
  const sql = deparse(present(stmt.query, 'the query of a CREATE VIEW'));
  const probe = parseSelect(`SELECT * FROM (${sql}) AS _v LIMIT 0`);
  const env = { catalog: s.catalog, session: s, asOf: false, inBlock: false, positionOf: () => undefined };
  const res = await viewColumns(s, planSelect(probe, env, new ParamTypes()));
  const aliases = (stmt.aliases ?? []).map((a) => strOf(a) ?? '');
  if (aliases.length > res.columns.length) throw new StratumError('42601', 'CREATE VIEW specifies more column names than columns');
  const columns = res.columns.map((c, i) => ({ name: aliases[i] ?? c.name, type: (c.type === 'unknown' ? 'text' : c.type) as SqlType }));
  const names = new Set<string>();
  for (const c of columns) {
    if (names.has(c.name)) throw new SchemaError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`);
    names.add(c.name);
  }
  const old = s.catalog.view(name);
  if (old && replace) {
    for (const [i, c] of old.columns.entries()) {
      if (columns[i]?.name !== c.name)
        throw new StratumError('42P16', `cannot change name of view column "${c.name}" to "${columns[i]?.name ?? ''}"`);
    }
  }
  const viewSql = aliases.length ? `SELECT * FROM (${sql}) AS ${quote(name)}(${columns.map((c) => quote(c.name)).join(', ')})` : sql;
  await publishOrConflict(s, [{ kind: 'create_view', view: { name, sql: viewSql, columns }, replace, at: Date.now() }], 'CREATE VIEW');
  return { commandTag: 'CREATE VIEW' };
}

/**
 * A view query's output columns: from running it with LIMIT 0, or, for a query over tables this
 * transaction block created (the analytical tier does not have them before COMMIT: Knex creates
 * tables and a view over them in one migration's block), as the PostgreSQL-semantics rewrite types them.
 * @throws the read's error otherwise.
 */
async function viewColumns(s: RouterSession, plan: ReadPlan): Promise<{ columns: { name: string; type: ResultType }[] }> {
  const planned = plan.kind === 'analytical' ? plan.columns : undefined;
  const blockNew = plan.tables.some((t) => s.ctx.catalog.find(t.name)?.storage !== t.storage);
  if (s.txn && blockNew && planned) return { columns: planned };
  return runRead(s, plan, []);
}

function quote(n: string): string {
  return `"${n.replaceAll('"', '""')}"`;
}

/** COMMENT ON TABLE / COLUMN / VIEW / SEQUENCE / INDEX … IS '…' | NULL. */
async function comment(s: RouterSession, stmt: CommentStmt): Promise<StatementResult> {
  const parts = (listItems(stmt.object) ?? []).map((n) => strOf(n) ?? '');
  const text = stmt.comment ?? null;
  const at = Date.now();
  const cat = s.catalog;
  const set = <T extends { comment?: string }>(o: T): T => {
    const c = { ...o };
    if (text === null) delete c.comment;
    else c.comment = text;
    return c;
  };
  switch (stmt.objtype) {
    case 'OBJECT_TABLE': {
      const name = parts[parts.length - 1] as string;
      const t = cat.get(name);
      await publishOrConflict(s, [{ kind: 'replace_table', name, table: set(stripInfo(t)), at, ifVersion: t.defVersion }], 'COMMENT');
      break;
    }
    case 'OBJECT_COLUMN': {
      const col = parts[parts.length - 1] as string;
      const name = parts[parts.length - 2] as string;
      const v = cat.view(name);
      if (v) break;
      const t = cat.get(name);
      const def = stripInfo(t);
      const i = def.columns.findIndex((c) => c.name === col && !c.hidden);
      if (i < 0) throw new SchemaError(SqlState.undefinedColumn, `column "${col}" of relation "${name}" does not exist`);
      def.columns[i] = set(def.columns[i] as ColumnDef);
      await publishOrConflict(s, [{ kind: 'replace_table', name, table: def, at, ifVersion: t.defVersion }], 'COMMENT');
      break;
    }
    case 'OBJECT_VIEW': {
      const name = parts[parts.length - 1] as string;
      const v = cat.view(name);
      if (!v) throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`);
      await publishOrConflict(
        s,
        [
          {
            kind: 'create_view',
            view: set({ name: v.name, sql: v.sql, columns: v.columns, ...(v.comment ? { comment: v.comment } : {}) }),
            replace: true,
            at,
          },
        ],
        'COMMENT',
      );
      break;
    }
    case 'OBJECT_SEQUENCE': {
      const name = parts[parts.length - 1] as string;
      const q = cat.sequence(name);
      if (!q) throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`);
      await publishOrConflict(s, [{ kind: 'replace_sequence', name, sequence: set(seqDef(q)), at }], 'COMMENT');
      break;
    }
    case 'OBJECT_INDEX':
    case 'OBJECT_TABCONSTRAINT':
    case 'OBJECT_SCHEMA':
    case 'OBJECT_DATABASE':
    case 'OBJECT_FUNCTION':
      break;
    default:
      throw new UnsupportedError(`COMMENT ON ${String(stmt.objtype).replace('OBJECT_', '')} is not supported`);
  }
  return { commandTag: 'COMMENT' };
}

export { pgTypeName };

/**
 * `ALTER TABLE t ALTER COLUMN c ADD GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY [(options)]`
 * (pg_dump prints identity columns so): a new sequence owned by the column, named by `SEQUENCE
 * NAME` or chosen as CREATE TABLE chooses it, with PostgreSQL 15's checks (tablecmds.c
 * ATExecAddIdentity).
 * @throws StratumError 55000 when the column is nullable, already an identity column or has a
 *   default; 22023 for a type other than smallint/integer/bigint; 42P07 for a taken name.
 */
function addIdentity(s: RouterSession, b: TableBuild, col: ColumnDef, con: Constraint): void {
  const where = `column "${col.name}" of relation "${b.def.name}"`;
  if (col.type !== 'smallint' && col.type !== 'integer' && col.type !== 'bigint') {
    throw new StratumError('22023', 'identity column type must be smallint, integer, or bigint');
  }
  if (!col.notNull) throw new StratumError('55000', `${where} must be declared NOT NULL before identity can be added`);
  if (col.identity) throw new StratumError('55000', `${where} is already an identity column`);
  if (col.default) throw new StratumError('55000', `${where} already has a default value`);
  const taken = (n: string) =>
    Boolean(s.catalog.find(n) || s.catalog.sequence(n) || s.catalog.view(n)) || b.sequences.some((x) => x.name === n);
  const options = con.options ?? [];
  const named = options.map((o: Node) => nodeOf(o, 'DefElem')).find((d) => d?.defname === 'sequence_name');
  const parts = (listItems(named?.arg) ?? []).map((n) => strOf(n) ?? '');
  if (parts.length > 1 && parts[parts.length - 2] !== 'public')
    throw new StratumError('3F000', `schema "${parts[parts.length - 2]}" does not exist`);
  const name = parts[parts.length - 1] ?? chooseName([b.def.name, col.name], 'seq', taken);
  if (named && taken(name)) throw new StratumError(SqlState.duplicateTable, `relation "${name}" already exists`);
  const seq = newSequence(name, col.type);
  sequenceOptions(seq, options, true);
  seq.ownedBy = { table: b.def.name, column: col.name };
  b.sequences.push(seq);
  col.identity = con.generated_when === 'a' ? 'always' : 'by_default';
  col.sequence = seq.name;
}
