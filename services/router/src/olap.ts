/**
 * Analytical reads across OLAP shards (DESIGN §5, §7):
 *
 * - A query whose tables (after the placement predicates of its WHERE clause, see
 *   `shared/src/sharding.ts`) all live on one shard runs there whole.
 * - Otherwise the router scatters one scan per (table, shard) — the query's projection and
 *   its single-table conjuncts pushed down — gathers the rows into temporary tables of its own
 *   DuckDB, and runs the original statement there (PostgreSQL semantics set as on the shards).
 * - System tables (`stratum_conflicts`) are filled from the ingestion engines the same way.
 * - A shard that does not answer fails the query with SQLSTATE 58000 naming the shard and
 *   the tables it holds, unless every such table has `degraded_reads`, in which case its rows
 *   are left out and a NOTICE says so.
 */

import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { SelectStmt } from '@pgsql/types';
import {
  type Catalog,
  type ConflictInfo,
  canceledError,
  counter,
  formatValue,
  gauge,
  type IngestionApi,
  type Literal,
  type OlapShardApi,
  Pool,
  type QueryOptions,
  type QueryResult,
  type Row,
  raceCancel,
  readField,
  SqlState,
  type SqlType,
  StratumError,
  shardsFor,
  type TableInfo,
  TierUnavailableError,
  type TxnWrite,
  throwIfCanceled,
  type Value,
} from '@stratum/shared';
import {
  bindParams,
  convertResult,
  interruptOnCancel,
  loadValues,
  mapDuckDbError,
  PG_SEMANTICS_SQL,
  viewType,
} from '@stratum/shared/duckdb';
import { nodeOf, strOf } from './analyze/ast.ts';
import { forEachNode } from './analyze/walk.ts';
import { isCatalogKey } from './catalog/relations.ts';
import type { SessionSource } from './catalog/rows.ts';
import type { PgCatalogStore } from './catalog/store.ts';
import { exactShardKey, placementPredicate, pushableFilter } from './placement.ts';
import { finishCounts, type PartialAggregation, partialAggregation } from './plan/partial-agg.ts';
import { rowLocal } from './plan/row-local.ts';
import type { Params } from './sql/literal.ts';

/** An OLAP shard as the router addresses it. */
export interface ShardRef {
  id: string;
  api: OlapShardApi;
}

/** A table reference of a statement (a RangeVar that is not a CTE). */
export interface TableRef {
  /** Name as written (`flights`, `flights__history`, `stratum_conflicts`). */
  name: string;
  /** Alias or name. */
  alias: string;
  /** In the statement's top-level FROM list (its WHERE conjuncts apply to it). */
  topLevel: boolean;
}

/**
 * Options of {@link OlapRouter.query}: the shards' plus the statement's cancel signal, which
 * goes to every shard query and interrupts the router's own DuckDB (docs/architecture.md
 * "Query cancel"); the query then throws its reason (57014).
 */
export interface OlapQueryOptions extends QueryOptions {
  signal?: AbortSignal;
  /** The catalog relations (`schema.name`) to load, and the asking session; set: the statement runs on the router's DuckDB. */
  catalog?: { relations: readonly string[]; session: SessionSource };
}

/** Answer of {@link OlapRouter.query}: the result plus where it ran. */
export interface OlapAnswer extends QueryResult {
  /** `olap:<shard>` when one shard ran it whole, `gather` when the router finished it. */
  tier: string;
}

const SYSTEM_TABLES: Record<string, { name: string; type: SqlType | 'text' }[]> = {
  stratum_conflicts: [
    { name: 'detected_at', type: 'timestamptz' },
    { name: 'table_name', type: 'text' },
    { name: 'key', type: 'text' },
    { name: 'existing_version', type: 'uuid' },
    { name: 'existing_engine', type: 'text' },
    { name: 'existing_commit_ts', type: 'timestamptz' },
    { name: 'incoming_version', type: 'uuid' },
    { name: 'incoming_engine', type: 'text' },
    { name: 'incoming_commit_ts', type: 'timestamptz' },
    { name: 'winner', type: 'uuid' },
    { name: 'policy', type: 'text' },
    { name: 'ingestion', type: 'text' },
  ],
};

/** Names of the system tables the router serves. */
export const SYSTEM_TABLE_NAMES = new Set(Object.keys(SYSTEM_TABLES));

/** A relation the router answers itself: a system table, or a catalog relation (`pg_catalog.pg_class`: a name with a dot). */
function routerRelation(name: string): boolean {
  return SYSTEM_TABLE_NAMES.has(name) || isCatalogKey(name);
}

const SYSTEM_COLUMNS: { name: string; type: SqlType }[] = [
  { name: '_ts', type: 'timestamp' },
  { name: '_version', type: 'uuid' },
  { name: '_op', type: 'text' },
  { name: '_engine', type: 'text' },
];

const mScatter = counter('stratum_router_olap_scans_total', 'Scans sent to OLAP shards by scatter/gather queries', ['shard']);
const mWhole = counter('stratum_router_olap_queries_total', 'Analytical statements, by the shard that ran them whole or "gather"', [
  'shard',
]);
/** Partial rows of a two-phase aggregation up to which they are inlined into the final statement as VALUES (else loaded into a table). */
const INLINE_PARTIAL_ROWS = 2000;

const mPartial = counter(
  'stratum_router_olap_partial_aggregations_total',
  'Scatter/gather aggregates the shards pre-aggregated (two-phase aggregation, plan/partial-agg.ts)',
);
const mRowLocal = counter(
  'stratum_router_olap_row_local_total',
  'Scatter/gather statements each shard ran whole, their answers concatenated (row-local, plan/row-local.ts)',
);
const mGatherQueued = gauge('stratum_router_gather_queued', 'Scatter/gather statements waiting for a gather slot of the router now');
const mGatherRefused = counter(
  'stratum_router_gather_refused_total',
  'Scatter/gather statements refused because the gather queue was full',
);
const mDegraded = counter('stratum_router_degraded_reads_total', 'Analytical reads answered without an unavailable shard', ['shard']);

/** Limits of the router's own DuckDB, where scatter/gather statements finish (config `router.gather_*`). */
export interface GatherLimits {
  /** Statements finishing at once, each on its own DuckDB connection (`router.gather_slots`). */
  slots: number;
  /** Statements waiting for a slot before more are refused with 53000 (`router.gather_max_queued`). */
  maxQueued: number;
  /** DuckDB `memory_limit` of the router's DuckDB, e.g. `2GB` (`router.gather_memory_limit`); undefined = DuckDB's default (80 % of RAM). */
  memoryLimit?: string;
}

/** Plans analytical statements onto shards and finishes scatter/gather queries. */
export class OlapRouter {
  private instance: Promise<DuckDBInstance> | undefined;
  /** DuckDB's aggregate function names, read once (plan/row-local.ts). */
  private aggregates: Promise<ReadonlySet<string>> | undefined;
  /** DuckDB connections of the gather slots, created when a slot is first used. */
  private readonly slotConns: (DuckDBConnection | undefined)[] = [];
  /** Gather slots: at most {@link GatherLimits.slots} statements finish in this router's DuckDB at once. */
  private slots: Pool<number> | undefined;
  /** Limits of the router's own DuckDB (`router.gather_*`); set before the first query. */
  limits: GatherLimits = { slots: 8, maxQueued: 1000 };
  private tempSeq = 0;
  /** The system catalogs, loaded into this router's DuckDB (catalog/store.ts). */
  pgCatalog: PgCatalogStore | undefined;
  /**
   * Pre-aggregate scatter/gather aggregates on the shards (plan/partial-agg.ts). On by default;
   * benchmarks turn it off to measure gathering rows instead.
   */
  partialAggregation = true;
  /**
   * How shards return the rows of a gathered scan (`QueryOptions.resultFormat`): MessagePack rows
   * (default; measured no larger and faster than Arrow here, docs/architecture.md "Gathered scans
   * on the wire") or an Arrow IPC stream.
   */
  gatherFormat: 'rows' | 'arrow' = 'rows';

  constructor(
    private readonly catalog: Catalog,
    readonly shards: ShardRef[],
    private readonly ingestion: () => { id: string; api: IngestionApi }[],
  ) {
    if (shards.length === 0) throw new StratumError(SqlState.connectionFailure, 'no OLAP shard is configured');
  }

  /** Shard ids in cluster order. */
  get shardIds(): string[] {
    return this.shards.map((s) => s.id);
  }

  /**
   * Run an analytical SELECT.
   * @param stmt the SelectStmt node; `refs` its table references (CTE names excluded)
   * @param sql the statement text to run (session functions already spliced)
   * @param params the parameters `sql` uses
   * @param astParams the parameters as numbered in `stmt` (differ from `params` when array
   *   parameters were inlined into `sql`); default `params`
   * @throws StratumError: the shard's or DuckDB's SQLSTATE; 58000 when a shard is down (not
   *   degraded); 57014 when `opts.signal` aborts
   */
  async query(
    stmt: SelectStmt,
    refs: TableRef[],
    sql: string,
    params: Params,
    catalogVersion: number,
    opts: OlapQueryOptions,
    astParams: Params = params,
    overlays?: ReadonlyMap<string, TxnWrite[]>,
    provided?: ReadonlyMap<string, Row[]>,
  ): Promise<OlapAnswer> {
    const lits: Literal[] = params.map((v) => v);
    const plan = this.plan(stmt, refs, astParams);
    if (plan.whole && !overlays?.size && !provided?.size && !opts.catalog) {
      const id = plan.whole;
      const shard = this.shards.find((s) => s.id === id) as ShardRef;
      const tables = [...plan.placement.keys()];
      const degraded = tables.length > 0 && tables.every((t) => this.tableOf(t).options.degradedReads);
      if (tables.length > 0) mWhole.inc({ shard: id });
      const { signal, ...shardOpts } = opts;
      try {
        return {
          ...(await shard.api.query(sql, lits, catalogVersion, { ...shardOpts, allowDegraded: degraded }, signal)),
          tier: `olap:${id}`,
        };
      } catch (e) {
        throw this.unavailable(e, id, tables);
      }
    }
    return this.gather(stmt, refs, plan.placement, sql, params, catalogVersion, opts, astParams, overlays, provided);
  }

  /**
   * Where an analytical statement runs: `whole` = the shard that runs it whole (undefined =
   * scatter/gather), the shards each table reference needs, and the reason in words (EXPLAIN).
   */
  plan(
    stmt: SelectStmt,
    refs: TableRef[],
    params: Params,
  ): { whole: string | undefined; placement: Map<string, string[]>; reason: string } {
    const placement = new Map<string, string[]>();
    if (refs.length === 0) return { whole: this.shardIds[0], placement, reason: 'no table: any shard answers' };
    const system = refs.filter((r) => routerRelation(r.name)).map((r) => r.name);
    const single = refs.length === 1 || refs.every((r) => r.topLevel);
    const why: string[] = [];
    for (const r of refs) {
      if (routerRelation(r.name)) continue;
      const info = this.tableOf(r.name);
      const pred = r.topLevel && single ? placementPredicate(info, stmt.whereClause, params, r.alias, refs.length === 1) : {};
      const ids = shardsFor(info, pred, this.shardIds);
      placement.set(r.name, [...new Set([...(placement.get(r.name) ?? []), ...ids])]);
      const o = info.options;
      const how = o.shardKey
        ? pred.shardKeyIn
          ? `shard_key ${o.shardKey} IN (${pred.shardKeyIn.map(String).join(', ')})`
          : `shard_key ${o.shardKey} not pinned by the WHERE clause`
        : o.timeShards
          ? pred.timeRange
            ? `time range on ${o.timeColumn}`
            : `no usable range on time column ${o.timeColumn}`
          : 'held by one shard';
      why.push(`${r.name} → ${ids.join(', ')} (${how})`);
    }
    const all = new Set([...placement.values()].flat());
    if (system.length === 0 && all.size === 1) {
      return { whole: [...all][0], placement, reason: `every table is on one shard: ${why.join('; ')}` };
    }
    const because = system.length > 0 ? `system relation ${system.join(', ')} is filled by the router` : 'the tables span several shards';
    return { whole: undefined, placement, reason: `scatter/gather, ${because}${why.length ? `: ${why.join('; ')}` : ''}` };
  }

  private tableOf(name: string): TableInfo {
    const base = name.replace(/__(history|latest)$/, '');
    const info = this.catalog.find(base);
    if (!info) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    return info;
  }

  private unavailable(e: unknown, shard: string, tables: string[]): unknown {
    if (!(e instanceof TierUnavailableError)) return e;
    return new StratumError('58000', `OLAP shard ${shard} is unavailable, and it holds rows of ${tables.join(', ')}: ${e.message}`, {
      hint: 'Bring the shard back, or set degraded_reads: true on the tables to answer without it.',
    });
  }

  private async gather(
    stmt: SelectStmt,
    refs: TableRef[],
    placement: Map<string, string[]>,
    sql: string,
    params: Params,
    catalogVersion: number,
    routerOpts: OlapQueryOptions,
    astParams: Params,
    overlays?: ReadonlyMap<string, TxnWrite[]>,
    provided?: ReadonlyMap<string, Row[]>,
  ): Promise<OlapAnswer> {
    const { catalog, ...opts } = routerOpts;
    mWhole.inc({ shard: 'gather' });
    const { signal, ...shardOpts } = opts;
    throwIfCanceled(signal);
    const notices: string[] = [];
    // A row-local statement runs whole on each shard: no gather slot, no router DuckDB.
    const local = overlays?.size || provided?.size || catalog ? undefined : await this.rowLocalPlan(stmt, refs, placement);
    if (local) {
      const answers = await this.askShards(local.name, local.info, local.ids, sql, [...params], catalogVersion, shardOpts, signal, notices);
      const got = answers.filter((a): a is QueryResult => a !== undefined);
      if (got[0]) {
        mRowLocal.inc();
        const out: OlapAnswer = {
          columns: got[0].columns,
          rows: got.flatMap((a) => a.rows),
          tier: 'gather',
          scan: {
            filesTotal: got.reduce((n, a) => n + (a.scan?.filesTotal ?? 0), 0),
            filesOpened: got.reduce((n, a) => n + (a.scan?.filesOpened ?? 0), 0),
          },
        };
        if (notices.length) out.notices = notices;
        return out;
      }
    }
    const slot = await this.acquireSlot(signal);
    let conn: DuckDBConnection;
    try {
      conn = await this.connection(slot);
    } catch (e) {
      this.slots?.release(slot);
      throw e;
    }
    const created: string[] = [];
    let filesTotal = 0;
    let filesOpened = 0;
    const off = interruptOnCancel(conn, signal);
    /** Run `sql` on each of `ids` (the shards holding `name`): their rows, [] for a shard left out (degraded_reads). */
    const scatter = async (
      name: string,
      info: TableInfo,
      ids: readonly string[],
      sql: string,
      format: 'rows' | 'arrow' = 'rows',
    ): Promise<Value[][][]> => {
      const answers = await this.askShards(
        name,
        info,
        ids,
        sql,
        [],
        catalogVersion,
        { ...shardOpts, ...(format === 'arrow' ? { resultFormat: 'arrow' } : {}) },
        signal,
        notices,
      );
      return Promise.all(
        answers.map(async (r) => {
          if (!r) return [];
          filesTotal += r.scan?.filesTotal ?? 0;
          filesOpened += r.scan?.filesOpened ?? 0;
          // apache-arrow is loaded only once a shard answers in Arrow.
          return r.arrow ? (await import('@stratum/shared/arrow')).resultRows(r) : r.rows;
        }),
      );
    };
    const finish = (res: QueryResult): OlapAnswer => {
      const out: OlapAnswer = { ...res, tier: 'gather', scan: { filesTotal, filesOpened } };
      if (notices.length) out.notices = notices;
      return out;
    };
    try {
      const split =
        !this.partialAggregation || overlays?.size || provided?.size || catalog ? undefined : this.partialPlan(stmt, refs, placement);
      if (split) {
        const parts = await scatter(split.name, split.info, placement.get(split.name) ?? [], split.plan.shardSql);
        // Counts only: their sums, without the final statement (a DuckDB prepare and run).
        const res = finishCounts(split.plan, parts.flat()) ?? (await this.finishPartial(conn, split.plan, parts.flat(), created));
        if (res) {
          mPartial.inc();
          return finish(res);
        }
      }
      const byName = new Map<string, TableRef[]>();
      for (const r of refs) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
      const loads: Promise<void>[] = [];
      if (catalog) {
        if (!this.pgCatalog) throw new StratumError(SqlState.internalError, 'the system catalogs are not set up on this router');
        await this.pgCatalog.prepare(conn, new Set(catalog.relations), catalog.session, created);
      }
      for (const [name, rs] of byName) {
        if (isCatalogKey(name)) continue;
        if (SYSTEM_TABLE_NAMES.has(name)) {
          loads.push(this.loadSystemTable(conn, name, created));
          continue;
        }
        const info = this.tableOf(name);
        const history = name.endsWith('__history');
        const latest = name.endsWith('__latest');
        const visible = info.columns.filter((c) => latest || !c.hidden);
        const cols = [
          ...visible.map((c) =>
            c.typmod === undefined
              ? { name: c.name, type: c.type as SqlType }
              : { name: c.name, type: c.type as SqlType, typmod: c.typmod },
          ),
          ...(history ? SYSTEM_COLUMNS : latest ? SYSTEM_COLUMNS.filter((c) => c.name === '_version' || c.name === '_ts') : []),
        ];
        const used = referencedColumns(stmt);
        const proj = used === 'all' ? cols : cols.filter((c) => used.has(c.name));
        if (proj.length === 0) proj.push(cols[info.pkIndexes[0] ?? 0] as (typeof cols)[number]);
        const only = rs.length === 1 && rs[0]?.topLevel ? rs[0] : undefined;
        const filter =
          only && (refs.length === 1 || only.alias !== '')
            ? pushableFilter(info, stmt.whereClause, astParams, only.alias, refs.length === 1)
            : [];
        // A transaction block's own writes replace the rows they wrote (DESIGN §7: reads in a block see its writes).
        const overlay = !history && !latest ? overlays?.get(name) : undefined;
        let source = ident(name);
        if (overlay?.length) {
          source = ident(`${name}__latest`);
          filter.push(
            `(${info.pkIndexes.map((i) => ident((info.columns[i] as { name: string }).name)).join(', ')}) NOT IN (${overlay
              .map(
                (w) =>
                  `(${w.key
                    .map((v, j) => {
                      const kc = info.columns[info.pkIndexes[j] ?? 0] as { type: SqlType; typmod?: number };
                      return sqlLiteral(v, kc.type, kc.typmod);
                    })
                    .join(', ')})`,
              )
              .join(', ')})`,
          );
        }
        const scanSql = `SELECT ${proj.map((c) => ident(c.name)).join(', ')} FROM ${source}${filter.length ? ` WHERE ${filter.join(' AND ')}` : ''}`;
        const given = provided?.get(name);
        if (given) {
          // The row tiers supplied this table's rows (a row_scan plan): no shard is asked.
          const fields = proj.map((c) => info.columns.find((x) => x.name === c.name));
          loads.push(
            loadTable(
              conn,
              name,
              proj,
              given.map((row) => fields.map((c) => (c ? readField(row, c) : null))),
              created,
              ++this.tempSeq,
            ),
          );
          continue;
        }
        const rows = (await scatter(name, info, placement.get(name) ?? [], scanSql, this.gatherFormat)).flat();
        if (overlay) {
          const fields = proj.map((c) => info.columns.find((x) => x.name === c.name));
          for (const w of overlay) if (w.row) rows.push(fields.map((c) => (c ? (readField(w.row as Row, c) ?? null) : null)));
        }
        loads.push(loadTable(conn, name, proj, rows, created, ++this.tempSeq));
      }
      await Promise.all(loads);
      throwIfCanceled(signal);
      let res: QueryResult;
      const prepared = await conn.prepare(sql).catch((e) => {
        throw mapDuckDbError(e);
      });
      try {
        bindParams(
          prepared,
          params.map((v) => v),
        );
        res = await convertResult(await prepared.run());
      } catch (e) {
        throw signal?.aborted ? canceledError(signal) : mapDuckDbError(e);
      } finally {
        prepared.destroySync();
      }
      return finish(res);
    } catch (e) {
      throw signal?.aborted ? canceledError(signal) : e;
    } finally {
      off();
      // One round trip for every temporary table of the statement.
      if (created.length > 0) await conn.run(created.map((t) => `DROP TABLE IF EXISTS ${ident(t)};`).join(' ')).catch(() => {});
      this.slots?.release(slot);
    }
  }

  /**
   * EXPLAIN's line for a scatter/gather statement each shard runs whole (row-local) or
   * pre-aggregates (the statement each shard runs), or undefined when rows are gathered.
   */
  async explainPartial(stmt: SelectStmt, refs: TableRef[], placement: Map<string, string[]>): Promise<string | undefined> {
    if (await this.rowLocalPlan(stmt, refs, placement))
      return 'row-local: each shard runs the statement whole; the router concatenates their answers';
    const split = this.partialAggregation ? this.partialPlan(stmt, refs, placement) : undefined;
    return split && `two-phase aggregation: each shard runs ${split.plan.shardSql}; the router merges the partial states`;
  }

  /**
   * The two-phase aggregation of a statement over one table spread over several shards
   * (plan/partial-agg.ts), or undefined when it does not apply.
   */
  private partialPlan(
    stmt: SelectStmt,
    refs: TableRef[],
    placement: Map<string, string[]>,
  ): { name: string; info: TableInfo; plan: PartialAggregation } | undefined {
    if (refs.length !== 1) return undefined;
    const ref = refs[0] as TableRef;
    if (routerRelation(ref.name) || ref.name.endsWith('__latest') || (placement.get(ref.name)?.length ?? 0) < 2) return undefined;
    const info = this.tableOf(ref.name);
    const names = new Set(info.columns.map((c) => c.name.toLowerCase()));
    if (ref.name.endsWith('__history')) for (const c of SYSTEM_COLUMNS) names.add(c.name);
    const plan = partialAggregation(stmt, ref.name, names, ++this.tempSeq, { shardKey: exactShardKey(info) });
    return plan ? { name: ref.name, info, plan } : undefined;
  }

  /**
   * Run the final statement of a two-phase aggregation over the shards' partial rows
   * (plan/partial-agg.ts): a CTE casts each partial column to its DuckDB type (known, or the
   * shards' `typeof`) from the rows inlined as VALUES (up to {@link INLINE_PARTIAL_ROWS}), or
   * from a text table they are loaded into. Undefined when no shard returned a row (no types to
   * cast to: the caller gathers rows instead, an empty scan) or a type name is not one.
   */
  private async finishPartial(
    conn: DuckDBConnection,
    plan: PartialAggregation,
    rows: Value[][],
    created: string[],
  ): Promise<QueryResult | undefined> {
    const first = rows[0];
    if (!first) return undefined;
    // Where each partial column sits in a shard row, and its type.
    const slots: { at: number; type: string }[] = [];
    let at = 0;
    for (const c of plan.columns) {
      slots.push({ at, type: c.type ?? String(first[at + 1]) });
      at += c.type ? 1 : 2;
    }
    // Type names from the shards' typeof(): only type syntax is accepted into the SQL.
    if (slots.some((s) => s.type === 'NULL' || !/^[A-Za-z0-9_ (),[\]]+$/.test(s.type))) return undefined;
    const names = plan.columns.map((c) => ident(c.name));
    const values = rows.map((r) => slots.map((s) => (r[s.at] === null || r[s.at] === undefined ? null : String(r[s.at]))));
    let source: string;
    if (rows.length <= INLINE_PARTIAL_ROWS) {
      const lit = (v: string | null) => (v === null ? 'NULL' : `'${v.replaceAll("'", "''")}'`);
      source = `(VALUES ${values.map((r) => `(${r.map(lit).join(', ')})`).join(', ')}) AS v(${names.join(', ')})`;
    } else {
      const text = `${plan.table}__text`;
      await loadValues(
        conn,
        text,
        plan.columns.map((c) => ({ name: c.name, type: 'text' as SqlType })),
        values,
      );
      created.push(text, `${text}__stratum_raw`);
      source = ident(text);
    }
    const typed = names.map((n, i) => `CAST(${n} AS ${slots[i]?.type}) AS ${n}`).join(', ');
    const sql = `WITH ${ident(plan.table)} AS (SELECT ${typed} FROM ${source}) ${plan.finalSql}`;
    const prepared = await conn.prepare(sql).catch((e) => {
      throw mapDuckDbError(e);
    });
    try {
      return await convertResult(await prepared.run());
    } catch (e) {
      throw mapDuckDbError(e);
    } finally {
      prepared.destroySync();
    }
  }

  private async loadSystemTable(conn: DuckDBConnection, name: string, created: string[]): Promise<void> {
    const cols = SYSTEM_TABLES[name] as { name: string; type: SqlType }[];
    const rows: Value[][] = [];
    const sources = this.ingestion();
    const lists = await Promise.all(sources.map((s) => s.api.conflicts({ limit: 100_000 })));
    lists.forEach((list, i) => {
      // Conflicts name the storage name; readers see the table's name (dropped tables keep the storage name).
      for (const c of list) rows.push(conflictRow({ ...c, table: this.catalog.byStorage(c.table)?.name ?? c.table }, sources[i]?.id ?? ''));
    });
    await loadTable(conn, name, cols, rows, created, ++this.tempSeq);
  }

  /**
   * Rows of `table` visible to analytical reads now (pg_stat_user_tables.n_live_tup): its
   * `count(*)` on the shards that hold it.
   * @throws StratumError 58000 when a shard holding it does not answer
   */
  async liveRows(table: string, catalogVersion: number): Promise<number> {
    const info = this.tableOf(table);
    const counts = await Promise.all(
      shardsFor(info, {}, this.shardIds).map(async (id) => {
        const shard = this.shards.find((s) => s.id === id) as ShardRef;
        try {
          const r = await shard.api.query(`SELECT count(*) FROM ${ident(table)}`, [], catalogVersion, {});
          return Number(r.rows[0]?.[0] ?? 0);
        } catch (e) {
          throw this.unavailable(e, id, [table]);
        }
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * How far `table` (storage name) is in Parquet: the lowest OLAP watermark (ms) among the shards
   * holding it that have received a push of it; -1 when none has. One `watermarks()` call per
   * shard holding the table.
   * @throws what a shard's `watermarks()` throws (an unreachable shard)
   */
  async olapWatermark(storage: string): Promise<number> {
    const info = this.catalog.byStorage(storage);
    if (!info) return -1;
    const ws = await Promise.all(
      shardsFor(info, {}, this.shardIds).map(async (id) => {
        const shard = this.shards.find((s) => s.id === id) as ShardRef;
        return (await shard.api.watermarks())[storage] ?? -1;
      }),
    );
    const pushed = ws.filter((w) => w >= 0);
    return pushed.length === 0 ? -1 : Math.min(...pushed);
  }

  /**
   * Wait for a gather slot (FIFO, at most `limits.maxQueued` waiting).
   * @throws StratumError 53000 when the queue is full; the signal's reason (57014) when it aborts while waiting.
   */
  private async acquireSlot(signal: AbortSignal | undefined): Promise<number> {
    const { slots, maxQueued } = this.limits;
    this.slots ??= new Pool(
      Array.from({ length: Math.max(1, slots) }, (_, i) => i),
      maxQueued,
      () => {
        mGatherRefused.inc();
        return new StratumError(
          SqlState.insufficientResources,
          `the router is busy: ${maxQueued} scatter/gather statements already wait for one of its ${slots} gather slots`,
          { hint: 'Retry later, or raise router.gather_max_queued or router.gather_slots.' },
        );
      },
    );
    const pool = this.slots;
    const got = pool.acquire();
    mGatherQueued.set(pool.waiting);
    try {
      return await raceCancel(got, signal);
    } catch (e) {
      // A slot granted after the abort goes back at once.
      void got.then((s) => pool.release(s)).catch(() => {});
      throw e;
    } finally {
      mGatherQueued.set(pool.waiting);
    }
  }

  /** The router's DuckDB instance, opened on first use. */
  private db(): Promise<DuckDBInstance> {
    this.instance ??= DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      enable_external_access: 'false',
      threads: '2',
      ...(this.limits.memoryLimit !== undefined ? { memory_limit: this.limits.memoryLimit } : {}),
    });
    return this.instance;
  }

  /** The DuckDB connection of gather slot `slot` (PostgreSQL semantics set), opened on first use. */
  private async connection(slot: number): Promise<DuckDBConnection> {
    const c = this.slotConns[slot];
    if (c) return c;
    const conn = await (await this.db()).connect();
    await conn.run(PG_SEMANTICS_SQL);
    this.slotConns[slot] = conn;
    return conn;
  }

  /** Names of DuckDB's aggregate functions, lower case (`duckdb_functions()`), read once (plan/row-local.ts). */
  private aggregateNames(): Promise<ReadonlySet<string>> {
    this.aggregates ??= (async () => {
      const conn = await (await this.db()).connect();
      try {
        const r = await conn.runAndReadAll(
          "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type = 'aggregate'",
        );
        return new Set(r.getRows().map((row) => String(row[0])));
      } finally {
        conn.closeSync();
      }
    })();
    return this.aggregates;
  }

  /**
   * The table of a row-local statement (plan/row-local.ts) and the shards holding it, or
   * undefined when the statement is not row-local or not over one table spread over several shards.
   */
  private async rowLocalPlan(
    stmt: SelectStmt,
    refs: TableRef[],
    placement: Map<string, string[]>,
  ): Promise<{ name: string; info: TableInfo; ids: string[] } | undefined> {
    const ref = refs.length === 1 ? (refs[0] as TableRef) : undefined;
    if (!ref || routerRelation(ref.name) || ref.name.endsWith('__latest')) return undefined;
    const ids = placement.get(ref.name) ?? [];
    if (ids.length < 2 || !rowLocal(stmt, ref.name, await this.aggregateNames())) return undefined;
    return { name: ref.name, info: this.tableOf(ref.name), ids };
  }

  /**
   * Run `sql` with `params` on each of `ids` (the shards holding table `name`): their answers in
   * order, undefined for a shard left out because it is unavailable and the table allows
   * degraded reads (a notice says so). Shard notices are appended to `notices`.
   * @throws StratumError 58000 when a shard does not answer (not degraded); the shard's error otherwise
   */
  private askShards(
    name: string,
    info: TableInfo,
    ids: readonly string[],
    sql: string,
    params: Literal[],
    catalogVersion: number,
    opts: QueryOptions,
    signal: AbortSignal | undefined,
    notices: string[],
  ): Promise<(QueryResult | undefined)[]> {
    return Promise.all(
      ids.map(async (id) => {
        const shard = this.shards.find((s) => s.id === id) as ShardRef;
        mScatter.inc({ shard: id });
        try {
          const r = await shard.api.query(sql, params, catalogVersion, { ...opts, allowDegraded: info.options.degradedReads }, signal);
          for (const n of r.notices ?? []) notices.push(n);
          return r;
        } catch (e) {
          if (e instanceof TierUnavailableError && info.options.degradedReads) {
            mDegraded.inc({ shard: id });
            notices.push(`OLAP shard ${id} is unavailable: rows of ${name} held there are left out of this answer (degraded_reads)`);
            return undefined;
          }
          throw this.unavailable(e, id, [name]);
        }
      }),
    );
  }

  /** Close the router's DuckDB. */
  close(): void {
    for (const c of this.slotConns.splice(0)) c?.closeSync();
    void this.instance?.then((i) => i.closeSync()).catch(() => {});
    this.instance = undefined;
  }
}

function conflictRow(c: ConflictInfo, ingestion: string): Value[] {
  const us = (ms: number) => BigInt(Math.round(ms)) * 1000n;
  return [
    us(c.detectedAt),
    c.table,
    `(${c.key.map((v) => formatValue(v, typeof v === 'string' ? 'text' : typeof v === 'boolean' ? 'boolean' : 'bigint') ?? 'NULL').join(',')})`,
    c.existing.version,
    c.existing.engine,
    us(c.existing.commitTs),
    c.incoming.version,
    c.incoming.engine,
    us(c.incoming.commitTs),
    c.winner,
    c.policy,
    ingestion,
  ];
}

/** A stored value as a SQL literal of column type `t` (text form cast to the type). */
function sqlLiteral(v: Value, t: SqlType, typmod?: number): string {
  if (v === null) return 'NULL';
  const text = formatValue(v, t) ?? '';
  return `CAST('${text.replaceAll("'", "''")}' AS ${viewType(t, typmod)})`;
}

/** Double-quoted identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Load gathered rows (stored representation, see shared/src/types.ts) into a temporary table
 * `name` with the columns' DuckDB types (`loadValues`: every type, typmods included).
 */
async function loadTable(
  conn: DuckDBConnection,
  name: string,
  cols: { name: string; type: SqlType; typmod?: number }[],
  rows: Value[][],
  created: string[],
  _seq: number,
): Promise<void> {
  await loadValues(conn, name, cols, rows);
  created.push(name, `${name}__stratum_raw`);
}

/** Column names a statement references anywhere, or 'all' when it uses `*`. */
function referencedColumns(stmt: SelectStmt): Set<string> | 'all' {
  const out = new Set<string>();
  let star = false;
  forEachNode(stmt, (type, n) => {
    if (star) return false;
    if (type !== 'ColumnRef') return undefined;
    const last = n.fields?.[n.fields.length - 1];
    const name = strOf(last);
    if (nodeOf(last, 'A_Star')) star = true;
    else if (name) out.add(name);
    return undefined;
  });
  return star ? 'all' : out;
}
