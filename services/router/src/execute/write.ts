/**
 * Executing write plans (DESIGN §2): the router computes inserted rows (VALUES expressions,
 * defaults, sequence values, INSERT … SELECT's rows with assignment casts), finds the rows of
 * predicate writes (candidate keys from the analytical tier as of the ingestion watermark, or
 * rows and per-row inputs of a statement over several tables), binds parameters, and sends one
 * write op to the TX engine, which checks constraints and commits (first committer wins).
 *
 * Which engine: strict_serializable tables write each key at its owning engine (hash of the
 * key over the engine list); tables with UNIQUE constraints beyond their storage key or with
 * foreign keys write at the **constraint owner** (one engine, by hash), so uniqueness and
 * referential integrity are checked by one group commit even with several engines; everything
 * else at the session's engine. docs/architecture.md "Constraints across engines".
 */

import type { SelectStmt } from '@pgsql/types';
import {
  counter,
  type Expr,
  evaluate,
  type OnConflict,
  partitionOf,
  type Row,
  type RowSource,
  SqlState,
  StratumError,
  type TableInfo,
  type TxEngineApi,
  type TxResult,
  type Value,
  type WriteOp,
} from '@stratum/shared';
import type { Notice, StatementResult } from '../pgwire/types.ts';
import type { Finder, InsertPlan, ModifyPlan, OutputColumn } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import { parseSelect } from '../sql/parse.ts';
import { assignValue, bindExpr, boundValue, evaluateAsync, type Params, paramValue } from './bind.ts';
import { moveBlock, ownerOf } from './consistency.ts';
import { runRead, type TypedColumn, type TypedResult, toStatementResult } from './read.ts';

const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);

/** A table needs its writes at the constraint owner: UNIQUE beyond the storage key, or a foreign key either way. */
export function needsConstraintOwner(s: RouterSession, t: TableInfo): boolean {
  if ((t.indexes ?? []).some((i) => i.unique)) return true;
  if ((t.constraints ?? []).some((c) => c.kind === 'foreign')) return true;
  return s.catalog.referencing(t.oid).length > 0;
}

/** The engine that checks UNIQUE and FOREIGN KEY constraints when several engines write (DESIGN §7). */
export function constraintOwner(engines: number): number {
  return partitionOf('stratum_constraints', [], engines);
}

/**
 * The TX engine a write goes to (see the module comment), or undefined for the session's.
 * @throws UnsupportedError (0A000) when one statement writes strict keys of different owners.
 */
function targetOf(s: RouterSession, t: TableInfo, keys: Value[][]): number | undefined {
  const n = s.ctx.txEngines.length;
  if (n <= 1) return undefined;
  if (needsConstraintOwner(s, t)) return constraintOwner(n);
  if (t.options.consistency.mode !== 'strict_serializable') return undefined;
  let owner: number | undefined;
  for (const k of keys) {
    const o = ownerOf(s, t, k);
    if (owner === undefined) owner = o;
    else if (owner !== o) {
      throw new StratumError(
        SqlState.featureNotSupported,
        `one statement writes keys of strict_serializable table "${t.name}" owned by different TX engines (${owner + 1} and ${o + 1} of ${n}); each key is written by its owning engine`,
        { hint: 'Write these rows in separate statements.' },
      );
    }
  }
  return owner;
}

/**
 * A write that failed only because the bus did not acknowledge it in time (durability:
 * replicated) has committed: record its commit timestamp (session token, result cache) so the
 * session's later reads include it, then rethrow.
 */
function committedAnyway(s: RouterSession, e: unknown, engine: number, tables: string[]): never {
  const m = /\((\d+) ms\)\.$/.exec((e as StratumError).detail ?? '');
  if ((e as StratumError).code === SqlState.queryCanceled && m) s.noteWrite(engine, Number(m[1]), tables);
  throw e;
}

/**
 * Send write ops of table `t` to its TX engine: in the open block, or as an autocommit
 * transaction (noting the commit in the session token).
 * @throws StratumError 25006 while stratum.as_of is set; the engine's errors.
 */
export async function write(s: RouterSession, t: TableInfo, ops: WriteOp[], keys: Value[][] = []): Promise<TxResult> {
  if (s.asOfMs !== undefined) {
    throw new StratumError(
      '25006',
      `cannot write while stratum.as_of is set (reads return the state as of ${s.settings['stratum.as_of']})`,
      {
        hint: 'RESET stratum.as_of to write.',
      },
    );
  }
  s.ctx.results.invalidate(t.name);
  const owner = targetOf(s, t, keys);
  const txn = s.txn;
  const catalogVersion = s.ctx.catalog.version;
  if (txn) {
    if (txn.catalog && txn.ddl.some((e) => touches(e, t.name))) {
      throw new StratumError(
        SqlState.featureNotSupported,
        `table "${t.name}" was created or changed by DDL earlier in this transaction block; its DDL commits with the block, so write to it after COMMIT`,
        { hint: 'Commit the DDL first (Stratum applies a block’s DDL atomically at COMMIT).' },
      );
    }
    if (owner !== undefined) {
      const what = needsConstraintOwner(s, t)
        ? `table "${t.name}" (UNIQUE / FOREIGN KEY constraints, checked at one engine)`
        : 'a key of a strict_serializable table';
      await moveBlock(s, owner, 'writes', what);
    }
    txn.pinned = true;
    txn.wrote.add(t.storage);
    txn.tables.add(t.name);
    return (s.ctx.txEngines[txn.engine] as TxEngineApi).executeIn(txn.id, { catalogVersion, ops }, s.signal);
  }
  const target = owner ?? s.engineIdx;
  const r = await (s.ctx.txEngines[target] as TxEngineApi)
    .execute({ catalogVersion, ops }, s.signal)
    .catch((e) => committedAnyway(s, e, target, [t.name]));
  s.noteWrite(target, r.commitTs, [t.name]);
  return r;
}

/** Does a DDL event of a block change table `name`? */
function touches(e: import('@stratum/shared').DdlEvent, name: string): boolean {
  switch (e.kind) {
    case 'create_table':
      return e.table.name === name;
    case 'replace_table':
      return e.name === name || e.table.name === name;
    case 'drop_table':
      return e.name === name;
    case 'batch':
      return e.events.some((x) => touches(x, name));
    default:
      return false;
  }
}

/** RETURNING rows of a write, evaluated over the rows the engine returned. */
function returningResult(s: RouterSession, out: OutputColumn[], rows: Row[], params: Params, tag: string): StatementResult {
  const ctx = s.evalContext();
  const bound = out.map((c) => bindExpr(c.expr, params, ctx));
  const typed: TypedResult = {
    columns: out.map((c) => {
      const col: TypedColumn = { name: c.name, type: c.type };
      if (c.typmod !== undefined) col.typmod = c.typmod;
      if (c.tableOid !== undefined) col.tableOid = c.tableOid;
      if (c.attnum !== undefined) col.attnum = c.attnum;
      return col;
    }),
    rows: rows.map((row) => bound.map((e) => evaluate(e, { row }, ctx))),
    notices: [],
    tier: 'tx',
  };
  const r = toStatementResult(s, typed);
  r.commandTag = tag;
  return r;
}

/** A statement result with the TX engine's warnings (e.g. a degraded strict write) as NOTICEs. */
function withTxNotices(out: StatementResult, r: TxResult, extra: Notice[] = []): StatementResult {
  const notices = [...extra, ...(r.notices ?? []).map((m) => ({ severity: 'WARNING' as const, code: '01000', message: m }))];
  if (notices.length) out.notices = [...(out.notices ?? []), ...notices];
  return out;
}

/** Most rows one INSERT op carries (COPY and INSERT … SELECT send several ops). */
const INSERT_CHUNK = 5000;

/**
 * INSERT: rows computed here (expressions, defaults, sequence values; or a SELECT's rows with
 * assignment casts), constraints checked by the TX engine.
 */
export async function runInsert(s: RouterSession, plan: InsertPlan, params: Params): Promise<StatementResult> {
  const t = s.catalog.get(plan.table);
  const ctx = s.evalContext();
  const claim = (seq: string) => s.ctx.sequences.claim(seq);
  const columns = [...plan.columns, ...plan.defaults.map((d) => d.field)];
  const defaults = plan.defaults.map((d) => bindExpr(d.expr, params, ctx));
  const rows: Value[][] = [];
  const notices: Notice[] = [];
  if (plan.source.kind === 'values') {
    for (const exprs of plan.source.rows) {
      const row: Value[] = [];
      for (const e of exprs) {
        row.push(
          e.k === 'param' || e.k === 'const'
            ? boundValue(e, params, ctx)
            : await evaluateAsync(bindExpr(e, params, ctx), { row: {} }, ctx, claim),
        );
      }
      for (const d of defaults) row.push(await evaluateAsync(d, { row: {} }, ctx, claim));
      rows.push(row);
    }
  } else {
    const res = await runRead(s, plan.source.plan, params);
    notices.push(...res.notices);
    if (res.columns.length !== plan.columns.length) {
      throw new StratumError(
        SqlState.syntaxError,
        `INSERT has ${res.columns.length > plan.columns.length ? 'more expressions than target columns' : 'more target columns than expressions'}`,
      );
    }
    const targets = plan.columns.map((f) => t.columns[t.fieldIndex.get(f) ?? -1] as TableInfo['columns'][number]);
    for (const r of res.rows) {
      const row = r.map((v, i) => {
        const c = targets[i] as TableInfo['columns'][number];
        return assignValue(v, res.columns[i]?.type ?? 'text', c.type, c.typmod, ctx);
      });
      for (const d of defaults) row.push(await evaluateAsync(d, { row: {} }, ctx, claim));
      rows.push(row);
    }
  }
  await s.sequences.flush();
  const onConflict = plan.onConflict ? bindOnConflict(plan.onConflict, params, ctx) : undefined;
  const keyIdx = t.rowid ? [] : t.primaryKey.map((k) => columns.indexOf(k));
  const keys = keyIdx.length && keyIdx.every((i) => i >= 0) ? rows.map((r) => keyIdx.map((i) => r[i] ?? null)) : [];
  let count = 0;
  const returned: Row[] = [];
  let last: TxResult = { commitTs: 0, counts: [] };
  const chunks = rows.length <= INSERT_CHUNK ? [rows] : chunk(rows, INSERT_CHUNK);
  const ops: WriteOp[] = chunks.map((c) => {
    const op: WriteOp = { kind: 'insert', table: t.storage, columns, rows: c };
    if (onConflict) op.onConflict = onConflict;
    if (plan.returning) op.returning = true;
    return op;
  });
  last = await write(s, t, ops, keys);
  for (const [i] of ops.entries()) {
    count += last.counts[i] ?? 0;
    for (const r of last.rows?.[i] ?? []) returned.push(r);
  }
  mStatements.inc({ kind: 'InsertStmt', tier: 'tx' });
  const tag = `INSERT 0 ${count}`;
  if (plan.returning) return withTxNotices(returningResult(s, plan.returning, returned, params, tag), last, notices);
  return withTxNotices({ commandTag: tag }, last, notices);
}

function chunk<T>(list: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}

function bindOnConflict(
  oc: NonNullable<InsertPlan['onConflict']>,
  params: Params,
  ctx: ReturnType<RouterSession['evalContext']>,
): OnConflict {
  if (oc.action === 'nothing') return oc.index === undefined ? { action: 'nothing' } : { action: 'nothing', index: oc.index };
  const out: OnConflict = {
    action: 'update',
    index: oc.index,
    set: oc.set.map((x) => ({ column: x.field, expr: bindExpr(x.expr, params, ctx) })),
  };
  if (oc.where) out.where = bindExpr(oc.where, params, ctx);
  return out;
}

/** The parsed SelectStmt of a finder's DuckDB text (cached per text). */
const finderAst = new Map<string, SelectStmt>();
function selectOf(sql: string): SelectStmt {
  let n = finderAst.get(sql);
  if (!n) {
    n = parseSelect(sql);
    if (finderAst.size > 2000) finderAst.clear();
    finderAst.set(sql, n);
  }
  return n;
}

/** The storage-key values of a finder's key list, cast to the key columns. */
function finderKeys(s: RouterSession, t: TableInfo, f: Extract<Finder, { by: 'key' }>, params: Params): Value[][] {
  const ctx = s.evalContext();
  if (f.list) {
    const arr = paramValue(params, f.list.param, `${f.list.type}[]` as never);
    return Array.isArray(arr) ? arr.filter((v) => v !== null).map((v) => [v]) : [];
  }
  return f.keys.map((k) =>
    k.map((e, i) => {
      const col = t.columns[t.pkIndexes[i] ?? 0] as TableInfo['columns'][number];
      return assignValue(evaluate(bindExpr(e, params, ctx), { row: {} }, ctx), exprT(e), col.type, col.typmod, ctx);
    }),
  );
}

function exprT(e: Expr): import('@stratum/shared').ResultType {
  return 't' in e ? (e.t as import('@stratum/shared').ResultType) : 'boolean';
}

/** Run a finder's analytical read (as of the ingestion watermark, or the block's). */
async function analyticalRows(
  s: RouterSession,
  t: TableInfo,
  sql: string,
  params: Params,
): Promise<{ asOf: number; rows: Value[][]; types: string[] }> {
  const asOf = s.txn ? await s.txn.watermark : await s.ctx.watermarks.current();
  if (asOf < 0) return { asOf: -1, rows: [], types: [] };
  const stmt = selectOf(sql);
  const refs = [{ name: `${t.name}__latest`, alias: t.name, topLevel: true }];
  const res = await s.ctx.olap.query(stmt, refs, sql, params, s.catalog.version, { asOf, signal: s.signal });
  return { asOf, rows: res.rows, types: res.columns.map((c) => c.type) };
}

/**
 * UPDATE / DELETE: find the rows (key list, index, candidates as of the watermark plus the TX
 * engine's newer rows, or a join read with inputs), then let the TX engine recheck and write.
 */
export async function runModify(s: RouterSession, plan: ModifyPlan, params: Params): Promise<StatementResult> {
  const t = s.catalog.get(plan.table);
  const ctx = s.evalContext();
  const where = plan.where ? bindExpr(plan.where, params, ctx) : undefined;
  const set = plan.set.map((x) => ({ column: x.field, expr: bindExpr(x.expr, params, ctx) }));
  let source: RowSource;
  let keys: Value[][] = [];
  let inputs: Value[][] | undefined;
  let seen: string[] | undefined;
  const f = plan.finder;
  switch (f.by) {
    case 'key':
      keys = finderKeys(s, t, f, params);
      source = { by: 'key', keys };
      break;
    case 'index':
      source = { by: 'index', index: f.index, eq: f.eq.map((e) => evaluate(bindExpr(e, params, ctx), { row: {} }, ctx)) };
      break;
    case 'candidates': {
      const r = await analyticalRows(s, t, f.sql, f.params ? f.params.map((n) => params[n - 1] ?? null) : params);
      source = { by: 'candidates', keys: r.rows, asOf: Math.max(r.asOf, 0) };
      if (r.asOf < 0) source = { by: 'scan' };
      break;
    }
    case 'join': {
      const r = await analyticalRows(s, t, f.sql, f.params ? f.params.map((n) => params[n - 1] ?? null) : params);
      const nk = t.primaryKey.length;
      keys = r.rows.map((row) => row.slice(0, nk));
      seen = r.rows.map((row) => String(row[nk]));
      inputs = r.rows.map((row) =>
        f.inputs.map((inp, i) => {
          const col = t.columns[t.columnIndex.get(inp.name) ?? -1];
          const v = row[nk + 1 + i] ?? null;
          return col ? assignValue(v, (r.types[nk + 1 + i] ?? 'text') as never, col.type, col.typmod, ctx) : v;
        }),
      );
      // A row joined several times is updated once (PostgreSQL takes one of the joined rows).
      const first = new Map<string, number>();
      keys.forEach((k, i) => {
        const id = JSON.stringify(k, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
        if (!first.has(id)) first.set(id, i);
      });
      const idx = [...first.values()];
      keys = idx.map((i) => keys[i] as Value[]);
      seen = idx.map((i) => (seen as string[])[i] as string);
      inputs = idx.map((i) => (inputs as Value[][])[i] as Value[]);
      source = { by: 'key', keys };
      break;
    }
    case 'range':
    case 'scan':
      source = { by: 'scan' };
      break;
  }
  const op: WriteOp =
    plan.kind === 'update' ? { kind: 'update', table: t.storage, source, set } : { kind: 'delete', table: t.storage, source };
  if (where && f.by !== 'join') op.where = where;
  if (inputs) op.inputs = inputs;
  if (seen) op.seen = seen;
  if (plan.returning) op.returning = true;
  const r = await write(s, t, [op], keys);
  const n = r.counts[0] ?? 0;
  mStatements.inc({ kind: plan.kind === 'update' ? 'UpdateStmt' : 'DeleteStmt', tier: 'tx' });
  const tag = `${plan.kind.toUpperCase()} ${n}`;
  if (plan.returning) return withTxNotices(returningResult(s, plan.returning, r.rows?.[0] ?? [], params, tag), r);
  return withTxNotices({ commandTag: tag }, r);
}
