/**
 * The plan stage's entry: one parsed statement → one {@link PlannedStatement} (parse →
 * analyze → **plan** → execute, docs/architecture.md "Router"). Pure: it reads the catalog
 * and the session's planning-relevant state only, never a server, so it is unit-tested
 * without any (plan/planner.test.ts).
 */

import type { CopyStmt, Node, RenameStmt, SelectStmt, TransactionStmt } from '@pgsql/types';
import {
  type Catalog,
  type ColumnDef,
  type IsolationLevel,
  type ResultType,
  SqlState,
  StratumError,
  UnsupportedError,
} from '@stratum/shared';
import { constString, entryOf, listItems, type NodeEntry, nodeOf, present, strOf } from '../analyze/ast.ts';
import { rangeVarName } from '../analyze/relations.ts';
import { ParamTypes, type SessionValues } from '../analyze/scope.ts';
import { maxParam } from '../analyze/walk.ts';
import { copyOptionInputs, resolveCopyOptions } from '../copy/options.ts';
import type { ParsedStatement } from '../sql/parse.ts';
import { checkLock } from './lock.ts';
import { planSelect } from './select.ts';
import type { CopyPlan, DdlOp, DdlPlan, Plan, PlannedStatement, UtilityOp, UtilityPlan } from './types.ts';
import { planInsert, planModify, writeTarget } from './write.ts';

/** What planning reads besides the statement. */
export interface PlanEnv {
  catalog: Catalog;
  session: SessionValues;
  /** `stratum.as_of` is set: reads are as of a time. */
  asOf: boolean;
  /** Inside a transaction block. */
  inBlock: boolean;
  /** 1-based character position of a byte location in the statement, for errors. */
  positionOf: (byteLocation: number | undefined) => number | undefined;
}

/**
 * The state outside the statement a cached plan depends on, other than settings: the catalog
 * version, AS OF, and whether a transaction block is open. Settings the planner reads (TimeZone
 * and DateStyle spelled out in the analytical SQL by rewrite/zone.ts, restrict_nonsystem_relation_kind
 * for views in select.ts, search_path, a bound current_setting) are recorded per plan through
 * `session.setting` and checked before reuse (router/src/session.ts `planFor`).
 */
export function planKey(env: Pick<PlanEnv, 'asOf' | 'inBlock' | 'catalog'>): string {
  return `${env.catalog.version}:${env.asOf ? 1 : 0}:${env.inBlock ? 1 : 0}`;
}

/** Statement kinds that run as DDL. */
const DDL_TAGS: Record<string, string> = {
  CreateStmt: 'CREATE TABLE',
  CreateTableAsStmt: 'SELECT',
  DropStmt: 'DROP',
  TruncateStmt: 'TRUNCATE TABLE',
  AlterTableStmt: 'ALTER TABLE',
  RenameStmt: 'ALTER',
  IndexStmt: 'CREATE INDEX',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  ViewStmt: 'CREATE VIEW',
  CommentStmt: 'COMMENT',
  VacuumStmt: 'VACUUM',
};

const DROP_KINDS: Record<string, 'table' | 'view' | 'sequence' | 'index'> = {
  OBJECT_TABLE: 'table',
  OBJECT_VIEW: 'view',
  OBJECT_SEQUENCE: 'sequence',
  OBJECT_INDEX: 'index',
};

/**
 * Plan one statement.
 * @param declared parameter types the client declared (Parse), undefined = infer
 * @throws StratumError with SQLSTATE and position for statements that cannot run
 */
export function planStatement(p: ParsedStatement, env: PlanEnv, declared: readonly (ResultType | undefined)[] = []): PlannedStatement {
  const params = new ParamTypes(declared);
  const plan = p.stmt ? planNode(entryOf(p.stmt), env, params) : utility({ op: 'empty' });
  return { plan, paramTypes: params.list(maxParam(p.stmt)), catalogVersion: env.catalog.version };
}

function ddl(tag: string, op: DdlOp, reason: string): DdlPlan {
  return { kind: 'ddl', tier: 'catalog', readTs: 'none', tables: [], reason, tag, op };
}

function utility(u: UtilityOp, reason = 'session state'): UtilityPlan {
  return { kind: 'utility', tier: 'router', readTs: 'none', tables: [], reason, ...u } as UtilityPlan;
}

/** Plan a statement node. */
function planNode(node: NodeEntry, env: PlanEnv, params: ParamTypes): Plan {
  const [kind, s] = node;
  switch (kind) {
    case 'SelectStmt':
      if (s.intoClause) throw new UnsupportedError('SELECT … INTO is not supported; use CREATE TABLE … AS SELECT');
      return planSelect(s, env, params);
    case 'InsertStmt':
      return planInsert(s, env, params);
    case 'UpdateStmt':
      return planModify(s, 'update', env, params);
    case 'DeleteStmt':
      return planModify(s, 'delete', env, params);
    case 'ExplainStmt': {
      const opts = (s.options ?? []).map((o) => nodeOf(o, 'DefElem')?.defname);
      if (!s.query) throw new UnsupportedError('EXPLAIN needs a statement');
      const q = entryOf(s.query);
      if (!['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt'].includes(q[0])) {
        throw new UnsupportedError(`EXPLAIN of ${statementName(q[0])} is not supported`);
      }
      const inner = planNode(q, env, params);
      return {
        kind: 'explain',
        tier: inner.tier,
        readTs: inner.readTs,
        tables: inner.tables,
        reason: inner.reason,
        analyze: opts.includes('analyze'),
        inner,
      };
    }
    case 'VariableSetStmt':
      return utility({ op: 'set', stmt: s });
    case 'VariableShowStmt':
      return utility({ op: 'show', name: String(s.name).toLowerCase() });
    case 'DiscardStmt':
      return utility({ op: 'discard' });
    case 'TransactionStmt':
      return transactionPlan(s);
    case 'CopyStmt':
      return copyPlan(s, env, params);
    case 'CreateStmt':
      return ddl('CREATE TABLE', { op: 'create_table', stmt: s }, 'catalog change, published on the bus ahead of data');
    case 'CreateTableAsStmt': {
      if (s.objtype === 'OBJECT_MATVIEW') throw new UnsupportedError('materialized views are not supported');
      const sel = nodeOf(s.query, 'SelectStmt');
      if (!sel) throw new UnsupportedError('CREATE TABLE … AS supports SELECT only');
      const read = planSelect(sel, env, params);
      const withData = !s.into?.skipData;
      const names = (s.into?.colNames ?? []).map((n) => strOf(n) ?? '');
      const asSelect = names.length ? { plan: read, withData, names } : { plan: read, withData };
      return ddl('SELECT', { op: 'create_table', stmt: s, asSelect }, 'catalog change, then the rows of the SELECT');
    }
    case 'DropStmt': {
      const relkind = DROP_KINDS[s.removeType ?? ''];
      if (!relkind) {
        if (s.removeType === 'OBJECT_SCHEMA' || s.removeType === 'OBJECT_EXTENSION' || s.removeType === 'OBJECT_TYPE') {
          throw new UnsupportedError(`DROP ${String(s.removeType).replace('OBJECT_', '')} is not supported`);
        }
        throw new UnsupportedError(`DROP ${String(s.removeType).replace('OBJECT_', '')} is not supported`);
      }
      const names = (s.objects ?? []).map((o) => {
        const parts = (listItems(o) ?? []).map((i) => strOf(i) ?? '');
        if (parts.length > 1 && parts[0] !== 'public') throw new StratumError('3F000', `schema "${parts[0]}" does not exist`);
        return parts[parts.length - 1] ?? '';
      });
      return ddl(
        `DROP ${relkind.toUpperCase()}`,
        { op: 'drop', relkind, names, ifExists: Boolean(s.missing_ok), cascade: s.behavior === 'DROP_CASCADE' },
        'catalog change',
      );
    }
    case 'TruncateStmt': {
      const relations = (s.relations ?? []).flatMap((r) => nodeOf(r, 'RangeVar') ?? []);
      const names = relations.map((r) => rangeVarName(r).name);
      for (const r of relations) writeTarget(r, env);
      const op: DdlOp = { op: 'truncate', names, cascade: s.behavior === 'DROP_CASCADE', restartIdentity: Boolean(s.restart_seqs) };
      const plan = ddl(
        'TRUNCATE TABLE',
        op,
        env.inBlock
          ? 'deletes every row inside the transaction block'
          : 'a new storage name per table (the old rows are garbage-collected by every tier)',
      );
      plan.tables = names.map((n) => {
        const t = env.catalog.get(n);
        return { name: t.name, storage: t.storage, mode: t.options.consistency.mode };
      });
      return plan;
    }
    case 'AlterTableStmt':
      if (s.objtype === 'OBJECT_SEQUENCE') return ddl('ALTER SEQUENCE', { op: 'noop' }, 'accepted');
      if (s.objtype === 'OBJECT_INDEX') return ddl('ALTER INDEX', { op: 'noop' }, 'accepted');
      if (s.objtype === 'OBJECT_VIEW') return ddl('ALTER VIEW', { op: 'noop' }, 'accepted');
      return ddl('ALTER TABLE', { op: 'alter_table', stmt: s }, 'catalog change');
    case 'RenameStmt':
      return ddl(renameTag(s), { op: 'rename', stmt: s }, 'catalog change (storage names and fields do not change)');
    case 'IndexStmt':
      return ddl('CREATE INDEX', { op: 'create_index', stmt: s }, 'catalog change; every row tier builds the index while writes continue');
    case 'CreateSeqStmt':
      return ddl('CREATE SEQUENCE', { op: 'create_sequence', stmt: s }, 'catalog change');
    case 'AlterSeqStmt':
      return ddl('ALTER SEQUENCE', { op: 'alter_sequence', stmt: s }, 'catalog change');
    case 'ViewStmt': {
      const q = nodeOf(s.query, 'SelectStmt');
      if (!q) throw new UnsupportedError('CREATE VIEW supports SELECT only');
      return ddl('CREATE VIEW', { op: 'create_view', stmt: s, columns: planSelect(q, env, new ParamTypes()) }, 'catalog change');
    }
    case 'CommentStmt':
      return ddl('COMMENT', { op: 'comment', stmt: s }, 'catalog change');
    case 'VacuumStmt':
      return ddl(
        s.is_vacuumcmd ? 'VACUUM' : 'ANALYZE',
        { op: 'noop' },
        'accepted: tiers compact and collect garbage on their own; statistics come from OLAP manifests',
      );
    case 'CreateSchemaStmt':
      if (s.schemaname === 'public' && s.if_not_exists) return ddl('CREATE SCHEMA', { op: 'noop' }, 'the public schema exists');
      throw new UnsupportedError('CREATE SCHEMA is not supported: Stratum has the one schema "public"');
    case 'DeallocateStmt':
      return utility({ op: 'deallocate', name: s.isall || !s.name ? null : s.name });
    case 'CheckPointStmt':
      return ddl('CHECKPOINT', { op: 'noop' }, 'accepted');
    case 'LockStmt':
      checkLock(s, env);
      return ddl('LOCK TABLE', { op: 'noop' }, 'accepted: reads in the block see one snapshot; Stratum holds no table locks');
    default:
      return utility({ op: 'unsupported', message: `${statementName(kind)} is not supported by Stratum yet` });
  }
}

function renameTag(s: RenameStmt): string {
  switch (s.renameType) {
    case 'OBJECT_VIEW':
      return 'ALTER VIEW';
    case 'OBJECT_SEQUENCE':
      return 'ALTER SEQUENCE';
    case 'OBJECT_INDEX':
      return 'ALTER INDEX';
    default:
      return 'ALTER TABLE';
  }
}

/** BEGIN / COMMIT / ROLLBACK / SAVEPOINT … */
function transactionPlan(s: TransactionStmt): UtilityPlan {
  switch (s.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START': {
      const iso = isolationOf(s.options);
      return iso ? utility({ op: 'begin', isolation: iso }) : utility({ op: 'begin' });
    }
    case 'TRANS_STMT_COMMIT':
      return utility({ op: 'commit' });
    case 'TRANS_STMT_ROLLBACK':
      return utility({ op: 'rollback' });
    case 'TRANS_STMT_SAVEPOINT':
      return utility({ op: 'savepoint', name: s.savepoint_name ?? '' });
    case 'TRANS_STMT_RELEASE':
      return utility({ op: 'release', name: s.savepoint_name ?? '' });
    case 'TRANS_STMT_ROLLBACK_TO':
      return utility({ op: 'rollback_to', name: s.savepoint_name ?? '' });
    default:
      return utility({ op: 'unsupported', message: 'two-phase commit (PREPARE TRANSACTION / COMMIT PREPARED) is not supported' });
  }
}

/**
 * Isolation requested by BEGIN's options. READ UNCOMMITTED / READ COMMITTED / REPEATABLE READ
 * all get snapshot isolation (at least as strong); SERIALIZABLE gets commit-time read-set
 * validation, never less.
 */
export function isolationOf(options: Node[] | undefined): IsolationLevel | undefined {
  let level: string | undefined;
  for (const o of options ?? []) {
    const d = nodeOf(o, 'DefElem');
    if (d?.defname === 'transaction_isolation') level = String(constString(d.arg) ?? level);
  }
  if (level === undefined) return undefined;
  return level.toLowerCase() === 'serializable' ? 'serializable' : 'repeatable_read';
}

/** COPY … FROM STDIN / TO STDOUT (files on the server are refused: 42501, as for a non-superuser). */
function copyPlan(s: CopyStmt, env: PlanEnv, params: ParamTypes): CopyPlan {
  if (s.filename || s.is_program) {
    throw new StratumError('42501', 'COPY to or from a file on the server is not allowed', {
      hint: 'Use COPY … FROM STDIN / TO STDOUT (psql: \\copy), which reads and writes on the client.',
    });
  }
  const inputs = copyOptionInputs(s.options);
  if (s.is_from) {
    const { table: t } = writeTarget(present(s.relation, 'the table of a COPY FROM'), env);
    const visible = t.columns.filter((c) => !c.hidden);
    const columns: ColumnDef[] = s.attlist
      ? s.attlist.map((a) => {
          const name = strOf(a);
          const c = visible.find((x) => x.name === name);
          if (!c) throw new StratumError(SqlState.undefinedColumn, `column "${name}" of relation "${t.name}" does not exist`);
          return c;
        })
      : visible;
    const options = resolveCopyOptions(inputs, {
      from: true,
      columns: columns.map((c) => c.name),
      allColumns: visible.map((c) => c.name),
      relation: t.name,
    });
    return {
      kind: 'copy',
      tier: 'tx',
      readTs: 'none',
      tables: [{ name: t.name, storage: t.storage, mode: t.options.consistency.mode }],
      reason: `COPY into ${t.name} → TX engine, in batches`,
      direction: 'from',
      table: t.name,
      columns,
      options,
    };
  }
  let sel: SelectStmt;
  if (s.query) {
    const q = nodeOf(s.query, 'SelectStmt');
    if (!q) throw new UnsupportedError('COPY (…) TO supports SELECT only');
    sel = q;
  } else {
    const rv = present(s.relation, 'the table of a COPY TO');
    const target: Node[] = s.attlist
      ? s.attlist.map((a) => ({ ResTarget: { val: { ColumnRef: { fields: [a] } } } }))
      : [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }];
    sel = { targetList: target, fromClause: [{ RangeVar: rv }], op: 'SETOP_NONE' };
  }
  const read = planSelect(sel, env, params);
  const names =
    read.kind === 'analytical'
      ? (read.names ?? [])
      : read.kind === 'row_scan'
        ? (read.fallback.names ?? [])
        : read.output.map((o) => o.name);
  const options = resolveCopyOptions(inputs, { from: false, columns: names });
  return {
    kind: 'copy',
    tier: read.tier,
    readTs: read.readTs,
    tables: read.tables,
    reason: read.reason,
    direction: 'to',
    read,
    columns: [],
    options,
  };
}

/** `InsertStmt` → `INSERT`. */
export function statementName(kind: string): string {
  return kind
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

export { DDL_TAGS };
