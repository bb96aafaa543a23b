/**
 * The plan: the stage boundary between analyze/plan and execute (docs/architecture.md
 * "Router"). A plan is a plain, immutable data object — a discriminated union of read, write,
 * DDL and utility plans — that execute runs and EXPLAIN prints, so the two can never disagree
 * (the shape of DuckDB's `client_context.cpp` pipeline and `bind_explain.cpp`). Plans refer to
 * parameters symbolically (`param` expressions), so a prepared statement keeps its plan; each
 * plan records the catalog version it was made with and is made again when the catalog moved.
 *
 * Every plan carries its tier, the consistency requirements of the tables it touches, the rule
 * that picks its read timestamp and the reason for the choice, in words.
 */

import type {
  AlterSeqStmt,
  AlterTableStmt,
  CommentStmt,
  CreateSeqStmt,
  CreateStmt,
  CreateTableAsStmt,
  IndexStmt,
  RenameStmt,
  SelectStmt,
  VariableSetStmt,
  ViewStmt,
} from '@pgsql/types';
import type { ColumnDef, Expr, IsolationLevel, ResultType, SqlType, TableInfo, TableOptions } from '@stratum/shared';
import type { CopyOptions } from '../copy/options.ts';
import type { ColumnOrigin } from './origins.ts';
import type { SessionCall } from './session-calls.ts';

/** Consistency mode of a table (DESIGN §6). */
export type Mode = TableOptions['consistency']['mode'];

/** Where a plan is served. */
export type Tier =
  /** The session's TX engine (the key's owner for strict tables), falling back to ingestion. */
  | 'tx'
  /** The ingestion engine of the key's partition (reads as of a time). */
  | 'ingestion'
  /** OLAP shards + the ingestion delta (one shard whole, or scatter/gather finished in the router). */
  | 'olap'
  /** The router alone (expressions without tables, settings). */
  | 'router'
  /** The catalog stream on the bus. */
  | 'catalog';

/** How the read timestamp is chosen. */
export type ReadTsRule =
  /** The newest state of the serving tier, after the tables' consistency waits. */
  | 'latest'
  /** The session's `stratum.as_of` (reads wait until every watermark passed it). */
  | 'as_of'
  /** The transaction block's snapshot, plus its own writes. */
  | 'snapshot'
  /** The current ingestion watermark (candidate keys of predicate writes), plus newer rows of the TX engine. */
  | 'watermark'
  /** No read. */
  | 'none';

/** A table a plan touches, with its mode. */
export interface PlanTable {
  name: string;
  storage: string;
  mode: Mode;
}

/** What every plan carries. */
export interface PlanBase {
  tier: Tier;
  readTs: ReadTsRule;
  /** Tables touched, with their consistency modes (DESIGN §6). */
  tables: PlanTable[];
  /** Why this plan, in words (EXPLAIN). */
  reason: string;
}

/** An output column of a row-tier read or RETURNING: an expression over one row. */
export interface OutputColumn {
  name: string;
  expr: Expr;
  type: ResultType;
  typmod?: number;
  /** The source table column, for RowDescription (pg_class oid, attnum). */
  tableOid?: number;
  attnum?: number;
  /** A PostgreSQL type the ResultType cannot name (int2vector, oidvector), reported in its place. */
  typeOid?: number;
}

/** How a statement finds its rows at the row tiers. */
export type Finder =
  /** Full storage keys: constants or parameters; `list` = an array parameter (`pk = ANY($n)`). */
  | { by: 'key'; keys: Expr[][]; list?: { param: number; type: SqlType } }
  /** Equality on the leading columns of a valid index. */
  | { by: 'index'; index: string; eq: Expr[] }
  /** A range on the first storage-key column or index column. */
  | { by: 'range'; index?: string; lo?: { expr: Expr; incl: boolean }; hi?: { expr: Expr; incl: boolean } }
  /**
   * Candidate keys from the analytical tier as of the ingestion watermark: `sql` (DuckDB)
   * selects the storage-key columns of the rows matching the predicate from `<table>__latest`;
   * the TX engine adds its newer rows and rechecks the predicate.
   */
  | {
      by: 'candidates';
      sql: string;
      /** The statement's parameter numbers `sql`'s `$1…$k` stand for (1-based; see write.ts denseParams). */
      params?: number[];
    }
  /**
   * Rows found by a statement over several tables (UPDATE … FROM, DELETE … USING, subqueries):
   * `sql` (DuckDB) selects the storage key, `_version` and the per-row inputs; a row whose
   * version changed since fails with 40001 (first committer wins).
   */
  | {
      by: 'join';
      sql: string;
      inputs: { name: string; type: ResultType }[];
      /** The statement's parameter numbers `sql`'s `$1…$k` stand for (1-based; see write.ts denseParams). */
      params?: number[];
    }
  /** Every row of the table. */
  | { by: 'scan' };

/** A read served by the row tiers: point reads, key lists, index lookups. */
export interface RowReadPlan extends PlanBase {
  kind: 'row_read';
  table: string;
  finder: Finder;
  /** Row-local filter rechecked at the row tier (the conjuncts the finder does not cover). */
  where?: Expr;
  output: OutputColumn[];
  limit?: Expr;
}

/**
 * A single-table read bounded by a range on the storage key (or an index's first column) whose
 * rows the row tiers supply — fresh, including the session's and its block's writes, with no
 * watermark wait — and whose SQL (aggregates, sorts, DISTINCT) the router's DuckDB finishes.
 * When the range holds more than `maxRows` rows the read runs as `fallback` instead (DESIGN §7:
 * "short key ranges → row tiers").
 */
export interface RowScanPlan extends PlanBase {
  kind: 'row_scan';
  table: string;
  finder: Extract<Finder, { by: 'range' }>;
  /** Row-local predicate rechecked at the row tier. */
  where?: Expr;
  /** Most rows read from the row tier before falling back to the analytical plan. */
  maxRows: number;
  fallback: AnalyticalPlan;
  /** Set when the router finishes the statement itself (row-local: no aggregates, grouping or windows); else DuckDB does. */
  finish?: RowScanFinish;
}

/** An ORDER BY item of a {@link RowScanFinish}: an output column (by index) or an expression over the row. */
export interface SortKey {
  key: { output: number } | { expr: Expr; type: ResultType };
  desc: boolean;
  /** NULLs sort first (PostgreSQL's default for DESC). */
  nullsFirst: boolean;
}

/**
 * An aggregate of a {@link RowScanFinish} without GROUP BY: `count(*)` (no arg), `count(x)`,
 * `sum(x)`, `min(x)`, `max(x)`; result types as PostgreSQL's (count → bigint; sum of
 * smallint/integer → bigint, of bigint → numeric, of numeric/real/double → the same; min/max → the argument's).
 */
export interface RowAggregate {
  fn: 'count' | 'sum' | 'min' | 'max';
  arg?: Expr;
  argType?: ResultType;
}

/** How the router finishes a range read: project, DISTINCT, sort, then OFFSET and LIMIT (PostgreSQL's order of steps). */
export interface RowScanFinish {
  /** Output columns; with `aggregates`, their types and names only (one row of aggregates, `aggregates[i]` → column i). */
  output: OutputColumn[];
  aggregates?: RowAggregate[];
  distinct: boolean;
  order: SortKey[];
  /** LIMIT / OFFSET (bigint expressions of constants or parameters); absent = none. */
  limit?: Expr;
  offset?: Expr;
}

/** A read served by OLAP + delta (one shard whole, or scatter/gather). */
export interface AnalyticalPlan extends PlanBase {
  kind: 'analytical';
  /** The SELECT, rewritten for DuckDB (views inlined, session functions bound). */
  stmt: SelectStmt;
  /** Its DuckDB text; `$n` are the statement's parameters. */
  sql: string;
  /** Table references (for shard placement; CTE names excluded). */
  refs: { name: string; alias: string; topLevel: boolean }[];
  /** Result column names as PostgreSQL gives them, when the target list has no `*`. */
  names?: string[];
  /**
   * Result columns as the PostgreSQL-semantics rewrite types them ('unknown' where it cannot):
   * what Describe of the prepared statement reports before it runs (the rows' own types come
   * from DuckDB at execution).
   */
  columns?: { name: string; type: ResultType }[];
  /** Result columns' source table or view columns, for RowDescription (plan/origins.ts); unset when not listed. */
  origins?: (ColumnOrigin | undefined)[];
  /** Result columns' type oids where the catalog stage printed a type Stratum has not (catalog/rewrite.ts `typeOids`). */
  typeOids?: (number | undefined)[];
  /** Array parameters (`x = ANY($n)`, `arraycol @> $n`): inlined as typed lists at execution. */
  arrays: { param: number; elementType: string }[];
  /**
   * It reads the system catalogs (catalog/): the catalog relations (`schema.name`) to load; it
   * runs on the router's DuckDB (user tables it joins are gathered there).
   */
  catalog?: string[];
  /** Select-list calls the router applies to DuckDB's rows (session-calls.ts: set_config). */
  sessionCalls?: SessionCall[];
}

/** A SELECT without tables, evaluated by the router with PostgreSQL semantics. */
export interface LocalPlan extends PlanBase {
  kind: 'local';
  output: OutputColumn[];
  /** Rows of a VALUES list (each row one expression per output column); undefined = one row. */
  rows?: Expr[][];
}

/** The rows an INSERT writes. */
export type InsertSource =
  /** VALUES: per row, one expression per target column (DEFAULT already bound). */
  | { kind: 'values'; rows: Expr[][] }
  /** INSERT … SELECT: a read plan whose output columns feed the target columns (assignment casts at execution). */
  | { kind: 'select'; plan: ReadPlan };

/** INSERT (DESIGN §2 write path). */
export interface InsertPlan extends PlanBase {
  kind: 'insert';
  table: string;
  /** Target fields, in order; every other column gets its default. */
  columns: string[];
  source: InsertSource;
  /** Defaults of the columns the statement does not name (field → expression), evaluated per row. */
  defaults: { field: string; expr: Expr }[];
  onConflict?:
    | { action: 'nothing'; index?: string }
    | { action: 'update'; index: string; set: { field: string; expr: Expr }[]; where?: Expr };
  returning?: OutputColumn[];
}

/** UPDATE / DELETE. */
export interface ModifyPlan extends PlanBase {
  kind: 'update' | 'delete';
  table: string;
  finder: Finder;
  /** Row-local predicate rechecked at the row tier. */
  where?: Expr;
  /** UPDATE: field ← expression over the old row (and `input`s of a join finder). */
  set: { field: string; expr: Expr }[];
  returning?: OutputColumn[];
}

/** A DDL statement: the catalog events it publishes are built at execution from the catalog then. */
export interface DdlPlan extends PlanBase {
  kind: 'ddl';
  /** Command tag (CREATE TABLE, ALTER TABLE, …). */
  tag: string;
  op: DdlOp;
}

/**
 * What a DDL statement does. The catalog events are built at execution from the catalog then
 * (a definition changed by another session since planning is seen), and published through
 * the catalog stream ahead of any data that depends on them.
 */
export type DdlOp =
  | { op: 'create_table'; stmt: CreateStmt; asSelect?: undefined }
  | { op: 'create_table'; stmt: CreateTableAsStmt; asSelect: { plan: ReadPlan; withData: boolean; names?: string[] } }
  | { op: 'drop'; relkind: 'table' | 'view' | 'sequence' | 'index'; names: string[]; ifExists: boolean; cascade: boolean }
  | { op: 'truncate'; names: string[]; cascade: boolean; restartIdentity: boolean }
  | { op: 'alter_table'; stmt: AlterTableStmt }
  | { op: 'rename'; stmt: RenameStmt }
  | { op: 'create_index'; stmt: IndexStmt }
  | { op: 'create_sequence'; stmt: CreateSeqStmt }
  | { op: 'alter_sequence'; stmt: AlterSeqStmt }
  | { op: 'create_view'; stmt: ViewStmt; columns?: ReadPlan }
  | { op: 'comment'; stmt: CommentStmt }
  | { op: 'noop'; notice?: string };

/** What a session or transaction statement does. */
export type UtilityOp =
  | { op: 'set'; stmt: VariableSetStmt }
  | { op: 'show'; name: string }
  | { op: 'begin'; isolation?: IsolationLevel }
  | { op: 'commit' }
  | { op: 'rollback' }
  | { op: 'savepoint' | 'release' | 'rollback_to'; name: string }
  | { op: 'empty' }
  | { op: 'discard' }
  /** DEALLOCATE name (null: ALL): the wire layer drops the protocol-level prepared statement. */
  | { op: 'deallocate'; name: string | null }
  | { op: 'unsupported'; message: string };

/** Session and transaction statements. */
export type UtilityPlan = PlanBase & { kind: 'utility' } & UtilityOp;

/** EXPLAIN [ANALYZE] of another plan: renders it, and with ANALYZE runs it. */
export interface ExplainPlan extends PlanBase {
  kind: 'explain';
  analyze: boolean;
  inner: Plan;
}

/** COPY … FROM STDIN / TO STDOUT. */
export interface CopyPlan extends PlanBase {
  kind: 'copy';
  direction: 'from' | 'to';
  /** COPY FROM: the table (name) and the copied columns, in input order. */
  table?: string;
  columns: ColumnDef[];
  /** COPY TO: the read producing the rows. */
  read?: ReadPlan;
  /** Options resolved with PostgreSQL's rules (copy/options.ts). */
  options: CopyOptions;
}

/** Reads. */
export type ReadPlan = RowReadPlan | RowScanPlan | AnalyticalPlan | LocalPlan;

/** Every plan. */
export type Plan = ReadPlan | InsertPlan | ModifyPlan | DdlPlan | UtilityPlan | ExplainPlan | CopyPlan;

/** A planned statement: the plan, its parameter types and result description, for a prepared statement. */
export interface PlannedStatement {
  plan: Plan;
  /** Inferred types of $1..$n (`unknown` = text). */
  paramTypes: ResultType[];
  /** Catalog version the plan was made with. */
  catalogVersion: number;
}

/** The table of a plan, from the catalog at execution. */
export type PlanTableInfo = TableInfo;
