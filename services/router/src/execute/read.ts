/**
 * Executing read plans: row-tier reads (keys, key lists, index lookups; as of a time from
 * ingestion), analytical reads (OLAP + delta, after the tables' consistency waits; inside a
 * transaction block with the block's own writes overlaid), and expressions the router
 * evaluates itself. Results are typed (`TypedResult`, stored representation) so writes can
 * consume them (INSERT … SELECT, CREATE TABLE AS, COPY TO); `toStatementResult` formats them as
 * PostgreSQL text with the session's settings.
 */

import type { Node } from '@pgsql/types';
import {
  castValue,
  coerceLiteral,
  counter,
  type Expr,
  evaluate,
  formatTimestampStyle,
  formatValue,
  parseTimestamp,
  type ResultType,
  type Row,
  type RowVersion,
  SqlState,
  type SqlType,
  StratumError,
  type TableInfo,
  type TxEngineApi,
  UnsupportedError,
  type Value,
} from '@stratum/shared';
import { nodeOf, strOf } from '../analyze/ast.ts';
import { valueType } from '../analyze/predicates.ts';
import { forEachNode, transformNodes } from '../analyze/walk.ts';
import { isCatalogKey } from '../catalog/relations.ts';
import { catalogSession } from '../catalog/session-source.ts';
import type { OlapQueryOptions } from '../olap.ts';
import type { FieldDescription, Notice, StatementResult } from '../pgwire/types.ts';
import { deparse } from '../plan/duckdb-sql.ts';
import { applySessionCalls } from '../plan/session-calls.ts';
import type { AnalyticalPlan, LocalPlan, OutputColumn, ReadPlan, RowReadPlan, RowScanPlan } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import { fieldOf } from '../session.ts';
import { parseSelect } from '../sql/parse.ts';
import { bindExpr, boundValue, evaluateAsync, type Params, paramValue } from './bind.ts';
import { meet, moveBlock, ownerOf, readAsOf, requirements, waitForAsOf, withFreshness } from './consistency.ts';
import { finishRows } from './row-finish.ts';

const mReads = counter('stratum_router_reads_total', 'Reads by the tier that served them and the consistency mode of the tables read', [
  'tier',
  'mode',
]);

/** A result column with its PostgreSQL type. */
export interface TypedColumn {
  name: string;
  type: ResultType;
  typmod?: number;
  tableOid?: number;
  attnum?: number;
  /** A PostgreSQL type oid reported instead of `type`'s (OutputColumn.typeOid). */
  typeOid?: number;
}

/** A read's answer in the stored representation. */
export interface TypedResult {
  columns: TypedColumn[];
  rows: Value[][];
  notices: Notice[];
  /** Where it ran (EXPLAIN, metrics). */
  tier: string;
}

/** Text output options of the session (DateStyle, TimeZone, IntervalStyle, extra_float_digits). */
export function formatOptions(s: RouterSession): Parameters<typeof formatValue>[2] {
  return {
    timeZone: s.settings.timezone ?? 'UTC',
    dateStyle: s.settings.datestyle ?? 'ISO, MDY',
    intervalStyle: (s.settings.intervalstyle ?? 'postgres') as 'postgres',
    extraFloatDigits: Number(s.settings.extra_float_digits ?? 1),
  };
}

/** RowDescriptions already built, by their columns (plans reuse one columns array per cached plan). */
const FIELDS = new WeakMap<TypedColumn[], FieldDescription[]>();

/** RowDescription of typed columns (memoized per columns array; callers never mutate either). */
export function fieldsOf(cols: TypedColumn[]): FieldDescription[] {
  let f = FIELDS.get(cols);
  if (!f) {
    f = cols.map((c) => fieldOf({ ...c, expr: { k: 'const', v: null, t: c.type } }));
    FIELDS.set(cols, f);
  }
  return f;
}

/** A typed result as a PostgreSQL statement result (text format, session settings). */
export function toStatementResult(s: RouterSession, r: TypedResult, tag = 'SELECT'): StatementResult {
  const opts = formatOptions(s);
  const types = r.columns.map((c) => c.type);
  const rows = r.rows.map((row) => row.map((v, i) => formatValue(v, types[i] ?? 'text', opts)));
  const out: StatementResult = { commandTag: `${tag} ${rows.length}`, fields: fieldsOf(r.columns), rows };
  if (r.notices.length > 0) out.notices = r.notices;
  return out;
}

/** Run a read plan. */
export async function runRead(s: RouterSession, plan: ReadPlan, params: Params): Promise<TypedResult> {
  switch (plan.kind) {
    case 'row_read':
      return rowRead(s, plan, params);
    case 'row_scan':
      return rowScan(s, plan, params);
    case 'analytical':
      return analyticalRead(s, plan, params);
    case 'local':
      return localRead(s, plan, params);
  }
}

/** Typed columns already built, by the plan's output columns (a cached plan keeps its array). */
const TYPED = new WeakMap<OutputColumn[], TypedColumn[]>();

/** Output columns' descriptions (memoized per output array, so {@link fieldsOf} is too). */
function typedColumns(out: OutputColumn[]): TypedColumn[] {
  let t = TYPED.get(out);
  if (!t) {
    t = buildTypedColumns(out);
    TYPED.set(out, t);
  }
  return t;
}

function buildTypedColumns(out: OutputColumn[]): TypedColumn[] {
  return out.map((c) => {
    const t: TypedColumn = { name: c.name, type: c.type };
    if (c.typmod !== undefined) t.typmod = c.typmod;
    if (c.tableOid !== undefined) t.tableOid = c.tableOid;
    if (c.attnum !== undefined) t.attnum = c.attnum;
    return t;
  });
}

/** Expressions without tables, evaluated by the router. */
async function localRead(s: RouterSession, plan: LocalPlan, params: Params): Promise<TypedResult> {
  const ctx = s.evalContext();
  const claim = (seq: string) => s.ctx.sequences.claim(seq);
  const row: Value[] = [];
  for (const c of plan.output) row.push(await evaluateAsync(bindExpr(c.expr, params, ctx), { row: {} }, ctx, claim));
  await s.sequences.flush();
  mReads.inc({ tier: 'router', mode: 'none' });
  return { columns: typedColumns(plan.output), rows: [row], notices: [], tier: 'router' };
}

/** Storage-key values of a key finder, cast to the key columns' types, distinct. */
function keyValues(
  t: TableInfo,
  plan: RowReadPlan | { finder: RowReadPlan['finder'] },
  params: Params,
  ctx: ReturnType<RouterSession['evalContext']>,
): Value[][] {
  const f = plan.finder;
  if (f.by !== 'key') return [];
  const keyCols = t.pkIndexes.map((i) => t.columns[i] as TableInfo['columns'][number]);
  let keys: Value[][];
  if (f.list) {
    const arr = paramValue(params, f.list.param, `${f.list.type}[]` as SqlType);
    keys = Array.isArray(arr) ? arr.filter((v) => v !== null).map((v) => [v]) : [];
  } else {
    keys = f.keys.map((k) =>
      k.map((e, i) => {
        const col = keyCols[i] as TableInfo['columns'][number];
        const v = boundValue(e, params, ctx);
        const et = valueType(e) ?? col.type;
        return v === null || et === col.type ? v : castValue(v, et, col.type, col.typmod, 'implicit', ctx);
      }),
    );
  }
  if (keys.length === 1) return keys[0]?.some((v) => v === null) ? [] : keys;
  const seen = new Set<string>();
  return keys.filter((k) => {
    if (k.some((v) => v === null)) return false;
    const id = JSON.stringify(k, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Project rows through output columns (after the recheck). */
function project(
  rows: (Row | null)[],
  where: Expr | undefined,
  out: OutputColumn[],
  ctx: ReturnType<RouterSession['evalContext']>,
): Value[][] {
  const result: Value[][] = [];
  for (const row of rows) {
    if (!row) continue;
    if (where && evaluate(where, { row }, ctx) !== true) continue;
    result.push(out.map((c) => evaluate(c.expr, { row }, ctx)));
  }
  return result;
}

/** Reads by key, key list or index at the row tiers (as of a time: from ingestion). */
async function rowRead(s: RouterSession, plan: RowReadPlan, params: Params): Promise<TypedResult> {
  const t = s.catalog.get(plan.table);
  const ctx = s.evalContext();
  const where = plan.where ? bindExpr(plan.where, params, ctx) : undefined;
  const output = plan.output.map((c) => {
    const expr = bindExpr(c.expr, params, ctx);
    return expr === c.expr ? c : { ...c, expr };
  });
  const notices: Notice[] = [];
  const mode = t.options.consistency.mode;
  const version = s.catalog.version;
  let found: (RowVersion | null)[];
  if (plan.finder.by === 'key') {
    const keys = keyValues(t, plan, params, ctx);
    if (s.asOfMs !== undefined) {
      const r = await readAsOf(s, t, keys, s.asOfMs);
      if (r === 'olap') {
        mReads.inc({ tier: 'olap', mode });
        return { ...(await latestByKeys(s, t, keys, where, output, ctx, s.asOfMs)), notices };
      }
      mReads.inc({ tier: 'ingestion', mode });
      return {
        columns: typedColumns(plan.output),
        rows: project(
          r.map((x) => x?.row ?? null),
          where,
          output,
          ctx,
        ),
        notices,
        tier: 'ingestion',
      };
    }
    found = await Promise.all(keys.map((k) => pointGet(s, t, k, notices)));
  } else if (plan.finder.by === 'index') {
    const f = plan.finder;
    const eq = f.eq.map((e) => evaluate(bindExpr(e, params, ctx), { row: {} }, ctx));
    const read = (fresh: import('@stratum/shared').ReadFreshness | undefined, engine: TxEngineApi, txnId?: string) => {
      const req: import('@stratum/shared').ReadRequest = {
        catalogVersion: version,
        table: t.storage,
        source: { by: 'index', index: f.index, eq },
      };
      if (where) req.where = where;
      if (txnId) req.txnId = txnId;
      if (fresh) req.fresh = fresh;
      return engine.read(req, s.signal);
    };
    if (s.txn) {
      s.txn.pinned = true;
      found = await read(undefined, s.engine, s.txn.id);
    } else found = await withFreshness(s, t, s.engineIdx, notices, (fresh) => read(fresh, s.engine));
  } else {
    throw new StratumError(SqlState.internalError, `row read by ${plan.finder.by} is not planned`);
  }
  for (const rv of found) if (rv && rv.commitTs > s.seenTs) s.seenTs = rv.commitTs;
  // Keys spelled differently (`{1,01}`) read the same row once.
  const versions = new Set<string>();
  const rows = found.filter((rv) => {
    if (!rv?.row) return false;
    if (versions.has(rv.version)) return false;
    versions.add(rv.version);
    return true;
  });
  mReads.inc({ tier: 'tx', mode });
  return {
    columns: typedColumns(plan.output),
    rows: project(
      rows.map((r) => r?.row ?? null),
      where,
      output,
      ctx,
    ),
    notices,
    tier: 'tx',
  };
}

/**
 * Point read under the table's mode (DESIGN §6): strict_serializable tables read at the key's
 * owning engine, others at the session's; in a block, the block's snapshot and own writes.
 */
async function pointGet(s: RouterSession, t: TableInfo, key: Value[], notices: Notice[]): Promise<RowVersion | null> {
  const version = s.catalog.version;
  const strict = t.options.consistency.mode === 'strict_serializable' && s.ctx.txEngines.length > 1;
  const idx = strict ? ownerOf(s, t, key) : s.engineIdx;
  if (s.txn) {
    if (strict) await moveBlock(s, idx, 'reads');
    s.txn.pinned = true;
    return s.engine.get(t.storage, key as never, version, s.txn.id);
  }
  const engine = s.ctx.txEngines[idx] as TxEngineApi;
  return withFreshness(s, t, idx, notices, (fresh) => engine.get(t.storage, key as never, version, undefined, fresh));
}

/** Rows by key as of a time from OLAP (ingestion's GC passed that time). */
async function latestByKeys(
  s: RouterSession,
  t: TableInfo,
  keys: Value[][],
  where: Expr | undefined,
  output: OutputColumn[],
  ctx: ReturnType<RouterSession['evalContext']>,
  asOf: number,
): Promise<TypedResult> {
  const cols = t.columns;
  const lit = (v: Value, type: SqlType) =>
    `CAST('${String(formatValue(v, type)).replaceAll("'", "''")}' AS ${type.replace('double', 'double precision')})`;
  const conds = keys.map(
    (k) =>
      `(${t.pkIndexes
        .map((ci, j) => {
          const c = cols[ci] as TableInfo['columns'][number];
          return `"${c.name.replaceAll('"', '""')}" = ${lit(k[j] ?? null, c.type)}`;
        })
        .join(' AND ')})`,
  );
  const sql = `SELECT * FROM "${t.name}__latest" WHERE ${conds.join(' OR ') || 'false'}`;
  const stmt = parseSelect(sql);
  const res = await s.ctx.olap.query(
    stmt,
    [{ name: `${t.name}__latest`, alias: `${t.name}__latest`, topLevel: true }],
    sql,
    [],
    s.catalog.version,
    { asOf, signal: s.signal },
  );
  const rows: Row[] = res.rows.map((r) => {
    const row: Row = {};
    res.columns.forEach((c, i) => {
      const col = t.columns[t.columnIndex.get(c.name) ?? -1];
      if (col) row[col.field ?? col.name] = r[i] ?? null;
    });
    return row;
  });
  return { columns: typedColumns(output), rows: project(rows, where, output, ctx), notices: [], tier: 'olap' };
}

/**
 * A range read at the row tier finished by the router's DuckDB; more rows than the plan's
 * bound (or a strict table with several engines): the analytical fallback.
 */
async function rowScan(s: RouterSession, plan: RowScanPlan, params: Params): Promise<TypedResult> {
  const t = s.catalog.get(plan.table);
  if (t.options.consistency.mode === 'strict_serializable' && s.ctx.txEngines.length > 1) return analyticalRead(s, plan.fallback, params);
  const ctx = s.evalContext();
  const col = t.columns[
    plan.finder.index
      ? (t.fieldIndex.get((t.indexes ?? []).find((i) => i.name === plan.finder.index)?.columns[0] ?? '') ?? 0)
      : (t.pkIndexes[0] ?? 0)
  ] as TableInfo['columns'][number];
  const bound = (b: { expr: Expr; incl: boolean }) => {
    const e = bindExpr(b.expr, params, ctx);
    const v = evaluate(e, { row: {} }, ctx);
    const et = 't' in e ? (e.t as import('@stratum/shared').ResultType) : col.type;
    return { v: v === null || et === col.type ? v : castValue(v, et, col.type, col.typmod, 'implicit', ctx), incl: b.incl };
  };
  const source: import('@stratum/shared').RowSource = {
    by: 'range',
    lo: bound(plan.finder.lo as { expr: Expr; incl: boolean }),
    hi: bound(plan.finder.hi as { expr: Expr; incl: boolean }),
  };
  if (plan.finder.index) source.index = plan.finder.index;
  const req: import('@stratum/shared').ReadRequest = {
    catalogVersion: s.catalog.version,
    table: t.storage,
    source,
    limit: plan.maxRows + 1,
  };
  if (plan.where) req.where = bindExpr(plan.where, params, ctx);
  const notices: Notice[] = [];
  let rows: RowVersion[];
  if (s.txn) {
    s.txn.pinned = true;
    rows = await s.engine.read({ ...req, txnId: s.txn.id }, s.signal);
  } else rows = await withFreshness(s, t, s.engineIdx, notices, (fresh) => s.engine.read(fresh ? { ...req, fresh } : req, s.signal));
  if (rows.length > plan.maxRows) return analyticalRead(s, plan.fallback, params);
  for (const rv of rows) if (rv.commitTs > s.seenTs) s.seenTs = rv.commitTs;
  const live = rows.map((r) => r.row).filter((r): r is Row => r !== null);
  if (plan.finish) {
    const out = finishRows(s, plan.finish, live, params);
    mReads.inc({ tier: 'tx', mode: t.options.consistency.mode });
    return { columns: typedColumns(plan.finish.output), rows: out, notices, tier: 'tx-scan' };
  }
  const f = plan.fallback;
  const provided = new Map([[t.name, live]]);
  const zoned = zonedParams(s, f, params);
  const { sql, params: bound2 } = inlineArrays(f, zoned);
  const res = await s.ctx.olap.query(f.stmt, f.refs, sql, bound2, s.catalog.version, { signal: s.signal }, zoned, undefined, provided);
  mReads.inc({ tier: 'tx', mode: t.options.consistency.mode });
  const names = f.names && f.names.length === res.columns.length ? f.names : undefined;
  return { columns: res.columns.map((c, i) => ({ name: names?.[i] ?? c.name, type: c.type })), rows: res.rows, notices, tier: 'tx-scan' };
}

/** Array parameters of `x = ANY($n)` inlined as typed lists (drivers send arrays as PostgreSQL array text), the rest renumbered. */
function inlineArrays(plan: AnalyticalPlan, params: Params): { sql: string; params: Params } {
  const used = plan.arrays.filter((a) => a.param <= params.length && params[a.param - 1] !== null);
  if (used.length === 0) return { sql: plan.sql, params };
  const inline = new Map<number, Node>();
  for (const a of used) {
    const elem = (a.elementType.endsWith('[]') ? a.elementType.slice(0, -2) : a.elementType) as SqlType;
    const v = coerceLiteral(params[a.param - 1] as string, `${elem}[]` as SqlType);
    const items = (Array.isArray(v) ? v : []).map((x) =>
      x === null ? { A_Const: { isnull: true } } : { A_Const: { sval: { sval: String(formatValue(x, elem)) } } },
    );
    inline.set(a.param, {
      TypeCast: {
        arg: { A_ArrayExpr: { elements: items } },
        typeName: { names: [{ String: { sval: elem === 'double' ? 'float8' : elem } }], arrayBounds: [{ Integer: { ival: -1 } }] },
      },
    });
  }
  const kept: (string | null)[] = [];
  const renum = new Map<number, number>();
  params.forEach((v, i) => {
    if (!inline.has(i + 1)) {
      kept.push(v);
      renum.set(i + 1, kept.length);
    }
  });
  const stmt = transformNodes({ SelectStmt: plan.stmt }, (type, n) => {
    if (type !== 'ParamRef') return undefined;
    const num = n.number ?? 0;
    const rep = inline.get(num);
    if (rep) return rep;
    return { ParamRef: { ...n, number: renum.get(num) ?? num } };
  });
  return { sql: deparse(stmt), params: kept };
}

/**
 * The parameters with each one the statement reads as a timestamptz (`$n::timestamptz` in its
 * DuckDB SQL) read by the router's parser in the session TimeZone and DateStyle (timestamptz_in)
 * and passed as the UTC instant: DuckDB would read a text without an offset in UTC. Under UTC
 * the parameters are passed as they are.
 * @throws DataError 22007/22008 for a parameter PostgreSQL cannot read as a timestamp.
 */
function zonedParams(s: RouterSession, plan: AnalyticalPlan, params: Params): Params {
  const zone = s.setting('TimeZone') ?? 'UTC';
  if (params.length === 0 || zone === 'UTC') return params;
  const read = new Set<number>();
  forEachNode({ SelectStmt: plan.stmt }, (type, n) => {
    if (type !== 'TypeCast') return undefined;
    const cast = n as { arg?: Node; typeName?: { names?: Node[] } };
    const names = cast.typeName?.names ?? [];
    const param = nodeOf(cast.arg, 'ParamRef');
    if (param && names.length === 1 && strOf(names[0]) === 'timestamptz') read.add(param.number ?? 0);
    return undefined;
  });
  if (read.size === 0) return params;
  const settings = { timeZone: zone, dateStyle: s.setting('DateStyle') ?? 'ISO, MDY' };
  return params.map((v, i) =>
    typeof v === 'string' && read.has(i + 1) ? formatTimestampStyle(parseTimestamp(v, 'timestamptz', settings), 'UTC', 'ISO') : v,
  );
}

/**
 * An analytical read: the tables' consistency waits (or the as-of wait), the result cache, then
 * OLAP (one shard whole or scatter/gather), with a transaction block's own writes overlaid.
 */
async function analyticalRead(s: RouterSession, plan: AnalyticalPlan, given: Params): Promise<TypedResult> {
  const params = zonedParams(s, plan, given);
  const notices: Notice[] = [];
  // Catalog relations (`pg_catalog.x`) are the router's own: no tier to wait for, nothing to cache.
  const hasTables = plan.refs.some((r) => !isCatalogKey(r.name));
  const txn = s.txn;
  const overlays = new Map<string, import('@stratum/shared').TxnWrite[]>();
  if (txn && hasTables) {
    if (txn.isolation === 'serializable' && plan.tables.length > 0) {
      throw new UnsupportedError(
        'analytical SELECTs (scans, aggregates, joins) are not supported in SERIALIZABLE transactions: their reads cannot be validated at commit',
        { hint: 'Read single rows by primary key, or use REPEATABLE READ.' },
      );
    }
    for (const pt of plan.tables) {
      if (!txn.wrote.has(pt.storage)) continue;
      overlays.set(pt.name, await s.blockWrites(pt.storage));
    }
    if (!txn.noticed && plan.tables.length > 0) {
      txn.noticed = true;
      notices.push({
        severity: 'NOTICE',
        code: '00000',
        message:
          'analytical reads in a transaction block see the data committed when each statement starts (plus the block’s own writes), not the transaction snapshot',
      });
    }
  }
  const { reqs } =
    s.asOfMs === undefined && hasTables ? requirements(s, plan.tables, { stmt: plan.stmt, refs: plan.refs }, params) : { reqs: [] };
  const need = reqs.reduce((m, r) => Math.max(m, r.ts), 0);
  const cacheable =
    !txn &&
    hasTables &&
    !plan.catalog &&
    s.ctx.results.ttlMs > 0 &&
    s.asOfMs === undefined &&
    !reqs.some((r) => r.mode === 'strict_serializable');
  if (cacheable) {
    const hit = s.ctx.results.get(plan.sql, params, Math.max(need, s.seenTs)) as (TypedResult & { cached?: true }) | undefined;
    if (hit) return hit;
  }
  if (need > 0) notices.push(...(await meet(s, reqs)));
  if (hasTables && s.asOfMs !== undefined) await waitForAsOf(s, s.asOfMs);
  let coveredTs = -1;
  if (hasTables && s.asOfMs === undefined) {
    coveredTs = await s.ctx.watermarks.current();
    if (coveredTs > s.seenTs) s.seenTs = coveredTs;
  }
  const { sql, params: bound } = inlineArrays(plan, params);
  const opts: OlapQueryOptions = s.asOfMs === undefined ? { signal: s.signal } : { asOf: s.asOfMs, signal: s.signal };
  if (plan.catalog) opts.catalog = { relations: plan.catalog, session: catalogSession(s) };
  const res = await s.ctx.olap.query(
    plan.stmt,
    plan.refs,
    sql,
    bound,
    s.catalog.version,
    opts,
    params,
    overlays.size ? overlays : undefined,
  );
  const tier = hasTables ? (res.tier === 'gather' ? 'olap-gather' : 'olap') : 'local';
  for (const m of new Set(plan.tables.map((t) => t.mode))) mReads.inc({ tier, mode: m });
  for (const n of res.notices ?? []) notices.push({ severity: 'NOTICE', code: '01000', message: n });
  const names = plan.names && plan.names.length === res.columns.length ? plan.names : undefined;
  const origins = plan.origins && plan.origins.length === res.columns.length ? plan.origins : undefined;
  const calls = plan.sessionCalls ?? [];
  applySessionCalls(calls, res.rows, s.evalContext());
  const out: TypedResult = {
    columns: res.columns.map((c, i) => {
      const typeOid = plan.typeOids?.length === res.columns.length ? plan.typeOids[i] : undefined;
      const type = calls.some((x) => x.column === i) ? 'text' : c.type;
      return { name: names?.[i] ?? c.name, type, ...origins?.[i], ...(typeOid !== undefined ? { typeOid } : {}) };
    }),
    rows: res.rows,
    notices,
    tier,
  };
  if (cacheable) s.ctx.results.set(plan.sql, params, [...new Set(plan.tables.map((t) => t.name))], coveredTs, out as never);
  return out;
}
