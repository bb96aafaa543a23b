/**
 * The interfaces between tiers. In the embedded form services call each other through
 * these directly; in the distributed form `rpc.ts` carries the same calls over HTTP
 * (MessagePack bodies), so both forms run the same code below the transport.
 */
import type { Literal, ResultType, Row, SqlType, Value } from './types.ts';

/** A row version as kept by ingestion and shipped to OLAP. */
export interface VersionRecord {
  table: string;
  /** Primary-key values in key order. */
  key: Value[];
  /** UUIDv7 of this version. */
  version: string;
  /** Version the writer read; null for a fresh insert. */
  prev: string | null;
  op: 'insert' | 'update' | 'delete';
  /** Commit timestamp (ms since epoch). */
  commitTs: number;
  /** Engine that wrote it. */
  engine: string;
  /** Row after the change; null for deletes. */
  row: Row | null;
  /** Ingestion apply sequence number (local to one ingestion engine, strictly increasing in apply order). */
  lsn?: number;
}

/**
 * A compiled, typed scalar expression: what the router's analyze stage makes of a SQL
 * expression, evaluated by the row tiers with `evaluate` (shared/src/expr/). Plain data
 * (MessagePack-safe), so it travels in tier calls and lives in the catalog (DEFAULT, CHECK).
 * Arguments already have the types their function or operator takes: analyze inserts the
 * implicit casts PostgreSQL would (PostgreSQL 15 §10 "Type Conversion").
 */
export type Expr =
  /** A constant in the stored representation of `t` (types.ts). */
  | { k: 'const'; v: Value; t: ResultType }
  /**
   * A column of the row by storage field; `rel: 1` is the proposed row (EXCLUDED) of INSERT …
   * ON CONFLICT DO UPDATE. `missing` is the value of rows stored before the column existed.
   */
  | { k: 'col'; field: string; t: SqlType; rel?: 1; missing?: Value }
  /** The i-th per-row input value a write op carries (`WriteOp.inputs`: UPDATE … FROM, subquery results). */
  | { k: 'input'; i: number; t: ResultType }
  /** A parameter $n (1-based); bound to a `const` before an expression leaves the router. */
  | { k: 'param'; n: number; t: ResultType }
  /**
   * A function (PostgreSQL name: `lower`, `substr`, `now`, `jsonb_build_object`, …) or an
   * operator (its symbol: `+`, `||`, `=`, `~~` for LIKE, `->>`, `@>`, …; prefix `-` has one
   * argument), resolved for its argument types; `t` is the result type.
   */
  | { k: 'call'; fn: string; args: Expr[]; t: ResultType }
  /** `arg::t` (explicit: a CAST in the SQL; else an implicit or assignment cast analyze added). */
  | { k: 'cast'; arg: Expr; t: SqlType; typmod?: number; explicit?: boolean }
  | { k: 'and' | 'or'; args: Expr[] }
  | { k: 'not'; arg: Expr }
  /** IS [NOT] NULL / TRUE / FALSE / UNKNOWN. */
  | { k: 'test'; op: 'null' | 'not_null' | 'true' | 'not_true' | 'false' | 'not_false' | 'unknown' | 'not_unknown'; arg: Expr }
  /** CASE [arg] WHEN … THEN … [ELSE …] END (with `arg`, each `cond` is compared to it with =). */
  | { k: 'case'; arg?: Expr; when: { cond: Expr; then: Expr }[]; else?: Expr; t: ResultType }
  /** x [NOT] IN (list). */
  | { k: 'in'; arg: Expr; list: Expr[]; not?: boolean }
  /** x op ANY (array) / x op ALL (array). */
  | { k: 'any'; op: string; arg: Expr; array: Expr; all?: boolean }
  /** ARRAY[…]. */
  | { k: 'array'; items: Expr[]; t: SqlType }
  /** COALESCE / GREATEST / LEAST (lazy, as in PostgreSQL). */
  | { k: 'coalesce' | 'greatest' | 'least'; args: Expr[]; t: ResultType }
  | { k: 'nullif'; args: [Expr, Expr]; t: ResultType }
  /** a IS [NOT] DISTINCT FROM b. */
  | { k: 'distinct'; args: [Expr, Expr]; not?: boolean };

/**
 * How a statement finds the rows it reads or writes at the row tiers (DESIGN §7: "a predicate
 * write finds its rows where they live"). Key values are in the stored representation.
 */
export type RowSource =
  /** Rows by storage key (full key values, key order). */
  | { by: 'key'; keys: Value[][] }
  /** Equality on the leading columns of a valid index (`eq.length` ≤ its columns). */
  | { by: 'index'; index: string; eq: Value[] }
  /** A range on the first column of an index, or of the storage key when `index` is undefined. */
  | { by: 'range'; index?: string; lo?: { v: Value; incl: boolean }; hi?: { v: Value; incl: boolean } }
  /**
   * Candidate keys an analytical read found as of `asOf` (ms, at or below the ingestion
   * watermark), plus every row the engine committed after `asOf` and the transaction's own
   * writes; each is rechecked with the op's `where` at the row tier.
   */
  | { by: 'candidates'; keys: Value[][]; asOf: number }
  /** Every row of the table: the engine's and ingestion's. */
  | { by: 'scan' };

/** INSERT … ON CONFLICT (PostgreSQL 15 INSERT §ON CONFLICT). */
export type OnConflict =
  /** DO NOTHING; `index` undefined = any unique index or the storage key. */
  | { action: 'nothing'; index?: string }
  /** DO UPDATE SET … [WHERE …]: expressions see the existing row (fields) and the proposed one (`rel: 1`). */
  | { action: 'update'; index: string; set: { column: string; expr: Expr }[]; where?: Expr };

/**
 * A write operation of a transaction. `table` is the storage name (`TableInfo.storage`);
 * columns are fields. The router has computed inserted values and coerced them to the column
 * types (stored representation); the TX engine checks them again, applies NOT NULL, CHECK,
 * UNIQUE and FOREIGN KEY constraints, and assigns `_rowid` for tables without a primary key.
 */
export type WriteOp =
  | {
      kind: 'insert';
      table: string;
      columns: string[];
      rows: Value[][];
      onConflict?: OnConflict;
      /** Return the inserted (or conflict-updated) rows. */
      returning?: boolean;
    }
  | {
      kind: 'update';
      table: string;
      source: RowSource;
      /** Recheck at the row tier (row-local predicate); undefined = every row the source finds. */
      where?: Expr;
      set: { column: string; expr: Expr }[];
      /** Per-row inputs for `input` expressions, parallel to a `key` source's keys. */
      inputs?: Value[][];
      /** Versions the analytical tier saw, parallel to a `key` source's keys: a row now at another version fails with 40001. */
      seen?: string[];
      /** Return the new rows. */
      returning?: boolean;
    }
  | {
      kind: 'delete';
      table: string;
      source: RowSource;
      where?: Expr;
      inputs?: Value[][];
      seen?: string[];
      /** Return the deleted rows. */
      returning?: boolean;
    };

/**
 * Session values the row tiers need to evaluate a request's expressions as PostgreSQL would
 * (now(), statement_timestamp(), TimeZone). Absent: the engine's clock at the statement and UTC.
 */
export interface EvalSettings {
  /** Transaction start (µs since epoch): now(), current_timestamp. */
  txnTimeUs: bigint;
  /** Statement start (µs since epoch): statement_timestamp(). */
  stmtTimeUs: bigint;
  /** Session TimeZone (IANA name or offset). */
  timeZone: string;
}

/** A transaction request to a TX engine. */
export interface TxRequest {
  /** Catalog version the router planned with; the engine waits until it has it. */
  catalogVersion: number;
  ops: WriteOp[];
  /** Session values for evaluating the ops' expressions (SET, WHERE, ON CONFLICT, CHECK). */
  eval?: EvalSettings;
}

/** Outcome of a committed transaction. */
export interface TxResult {
  /** Commit timestamp (ms since epoch); 0 when nothing was written. */
  commitTs: number;
  /** Rows affected by each op, in order. */
  counts: number[];
  /** Per op with `returning`: the new rows (insert, update) or the old rows (delete), by field. */
  rows?: (Row[] | undefined)[];
  /** Warnings for the client (e.g. a strict write accepted under allow_degraded while the clock is unsynchronized). */
  notices?: string[];
}

/**
 * Freshness a point read must have (DESIGN §6): the answer includes every commit with
 * ts ≤ `minTs` (waiting for the ingestion watermark when the engine's own version is older).
 */
export interface ReadFreshness {
  /** Commit timestamp (ms since epoch) the answer must include; 0 = none. */
  minTs: number;
  /** Longest wait (ms); past it the read fails with 57014. */
  timeoutMs: number;
}

/** Latest version of a row as one tier knows it. */
export interface RowVersion {
  version: string;
  commitTs: number;
  /** null = deleted (a tombstone). */
  row: Row | null;
  /** Storage-key values (set by multi-row reads). */
  key?: Value[];
}

/** A multi-row read at the row tiers: index lookups, key lists, ranges. */
export interface ReadRequest {
  catalogVersion: number;
  /** Storage name. */
  table: string;
  source: RowSource;
  /** Row-local filter evaluated at the row tier. */
  where?: Expr;
  /** Read inside this transaction (its snapshot and its own writes). */
  txnId?: string;
  /** Outside transactions: include every commit with ts ≤ `fresh.minTs`. */
  fresh?: ReadFreshness;
  /** Stop after this many rows. */
  limit?: number;
  /** Session values for evaluating `where`. */
  eval?: EvalSettings;
}

/** A transaction's own uncommitted write of one row (for analytical reads inside its block). */
export interface TxnWrite {
  key: Value[];
  /** The row's state in the transaction; null = deleted. */
  row: Row | null;
}

/** Progress of an index build on one row tier (CREATE INDEX while writes continue). */
export interface IndexBuildStatus {
  state: 'building' | 'done' | 'failed';
  /** `failed`: why (a duplicate value of a unique index names it; SQLSTATE 23505). */
  error?: { code: string; message: string; detail?: string };
}

/** Isolation of an explicit transaction: snapshot isolation (reported as REPEATABLE READ), or SERIALIZABLE with commit-time read-set validation. */
export type IsolationLevel = 'repeatable_read' | 'serializable';

/** Savepoint operations of an explicit transaction. */
export type SavepointAction = 'set' | 'rollback' | 'release';

/**
 * TX engine as seen by the router.
 *
 * A trailing `signal` (docs/architecture.md "Query cancel") stops the call's work when it aborts:
 * the call throws the signal's reason (shared/src/abort.ts, 57014). Writes honour it only until
 * the transaction enters the group commit; from there the commit completes (PostgreSQL: a cancel
 * during commit arrives too late). In the distributed form only `read` carries it over RPC.
 */
export interface TxEngineApi {
  /**
   * Validate and commit an autocommit transaction (group-committed). `signal` stops finding the
   * rows of a predicate write; once the commit has the transaction it is ignored.
   * @throws StratumError with SQLSTATE; 57014 when `signal` aborted before the commit started.
   */
  execute(req: TxRequest, signal?: AbortSignal): Promise<TxResult>;
  /**
   * Point read: the engine's latest version (falls back to ingestion for rows it never had; when
   * other engines write too, the newer of its own and ingestion's), or inside transaction `txnId`
   * the snapshot's version with the transaction's own writes. `fresh` (outside transactions):
   * include every commit with ts ≤ `fresh.minTs`.
   * @throws StratumError 57014 when `fresh` cannot be met within its timeout.
   */
  get(table: string, key: Literal[], catalogVersion: number, txnId?: string, fresh?: ReadFreshness): Promise<RowVersion | null>;
  /**
   * Rows found by `req.source` (index lookups, key lists, ranges, candidates, scans) at this
   * engine's view (its rows, ingestion's for rows it does not hold; inside `req.txnId` the
   * snapshot plus the transaction's writes), filtered by `req.where`. Live rows only, with keys.
   * `signal` stops a scan between rows and between ingestion pages.
   * @throws StratumError 57014 when `signal` aborts.
   */
  read(req: ReadRequest, signal?: AbortSignal): Promise<RowVersion[]>;
  /** The uncommitted writes of transaction `txnId` to table `table` (storage name). */
  txnWrites(txnId: string, table: string): Promise<TxnWrite[]>;
  /**
   * Progress of building index `index` of table `table` (storage name) on this engine, once its
   * catalog has reached `catalogVersion` (the caller's, which created the index; another thread
   * or process may follow the catalog a little behind).
   */
  indexStatus(table: string, index: string, catalogVersion?: number): Promise<IndexBuildStatus>;
  /** BEGIN: open a transaction on a snapshot; returns its id. */
  begin(isolation: IsolationLevel): Promise<string>;
  /**
   * A statement inside transaction `txnId` (validated now, buffered until commit). A failure marks
   * the transaction failed (25P02 after); so does a cancel through `signal` (57014).
   */
  executeIn(txnId: string, req: TxRequest, signal?: AbortSignal): Promise<TxResult>;
  /**
   * COMMIT: first committer wins; 40001 when a concurrent transaction wrote a row this one
   * wrote (or, SERIALIZABLE, read). A failed transaction is rolled back instead (`rolledBack`).
   */
  commit(txnId: string): Promise<TxResult & { rolledBack?: boolean }>;
  /** ROLLBACK (idempotent). */
  rollback(txnId: string): Promise<void>;
  /** SAVEPOINT / ROLLBACK TO SAVEPOINT / RELEASE SAVEPOINT. @throws 3B001 for an unknown savepoint. */
  savepoint(txnId: string, name: string, action: SavepointAction): Promise<void>;
}

/** One (engine, partition) pair of the change stream as ingestion sees it. */
export interface StreamPairStatus {
  engine: string;
  partition: number;
  /** Last applied sequence number. */
  seq: number;
  /** Merged closed timestamp (ms since epoch; -1 before the first heartbeat). */
  closedTs: number;
  /** now − closedTs (ms) when the status was taken. */
  lagMs: number;
  /** No heartbeat newer than `stall_ms`: the pair holds the watermark back. */
  stalled: boolean;
  /** The engine was decommissioned and this pair is drained: it no longer counts in the watermark. */
  retired: boolean;
}

/** Outcome of decommissioning a TX engine. */
export interface DecommissionResult {
  engine: string;
  /** Final sequence number per partition (index = partition), announced by retired heartbeats. */
  finalSeqs: number[];
}

/** Operator calls of a TX engine (not used by the router). */
export interface TxEngineAdminApi {
  /**
   * Decommission: refuse transactions from now on (57P01), commit what is queued, drain the
   * outbox to the bus, and publish a retired heartbeat per partition (protocol 2). Resolves once
   * the bus acknowledged them all; idempotent; survives a restart (the store remembers it).
   */
  decommission(): Promise<DecommissionResult>;
}

/** Ingestion status (watermarks and positions). */
export interface IngestionStatus {
  /** Ingestion engine id. */
  id: string;
  /** Partitions this engine consumes. */
  partitions: number[];
  /** Watermark W (ms): every version with commitTs ≤ W is merged. -1 before any heartbeat. Never decreases. */
  watermark: number;
  /** Last applied LSN. */
  lsn: number;
  /** Closed timestamp per `engine/partition`. */
  closed: Record<string, number>;
  /** Applied sequence per `engine/partition`. */
  offsets: Record<string, number>;
  /** Every (engine, partition) pair, with lag, stall and retirement flags. */
  pairs: StreamPairStatus[];
  /** Engines fully retired (decommissioned and drained on every partition this engine consumes). */
  retiredEngines: string[];
  /** Versions applied since start. */
  applied: number;
  /** Malformed messages set aside (all time). */
  deadLetters: number;
  /** Conflicts recorded (all time). */
  conflicts: number;
  /** Versions removed by GC since start. */
  gcRemoved?: number;
  /**
   * GC horizon (ms since epoch; -1 before the first GC): versions at or below it may have been
   * removed from ingestion (OLAP holds them), so a read as of a time before it must be served by
   * OLAP; reads as of any time at or after it are exact in ingestion.
   */
  gcHorizonMs?: number;
}

/** A version as named in a conflict record. */
export interface ConflictSide {
  version: string;
  engine: string;
  /** Commit timestamp (ms since epoch). */
  commitTs: number;
}

/** A recorded conflict between two engines' concurrent writes of one row (DESIGN §4). */
export interface ConflictInfo {
  table: string;
  /** Primary-key values in key order. */
  key: Value[];
  /** The version that was latest when the incoming change arrived. */
  existing: ConflictSide;
  /** The incoming version whose `prev` did not match `existing`. */
  incoming: ConflictSide;
  /** Version that is latest after the merge (`existing.version` or `incoming.version`). */
  winner: string;
  policy: 'lww' | 'reject';
  /** When ingestion detected it (ms since epoch). */
  detectedAt: number;
}

/** Ingestion as seen by the router, TX engines and OLAP shards. */
export interface IngestionApi {
  /** Latest version of a row (null if unknown). */
  get(table: string, key: Value[]): Promise<RowVersion | null>;
  /**
   * Versions of many rows of one table, in the order of `keys` (one round trip): the latest, or
   * with `asOf` (ms) the newest with commitTs ≤ asOf.
   */
  getMany(table: string, keys: Value[][], asOf?: number): Promise<(RowVersion | null)[]>;
  /**
   * Live rows of `table` found by an `index`, `range` or `scan` source (with keys), latest or
   * as of `asOf` (ms); at most `limit`, after storage key `afterKey` (paging a scan).
   * @throws StratumError 57014 when `signal` has aborted (one page is read synchronously).
   */
  find(
    table: string,
    source: Exclude<RowSource, { by: 'key' } | { by: 'candidates' }>,
    opts: { asOf?: number; limit?: number; afterKey?: Value[] },
    signal?: AbortSignal,
  ): Promise<RowVersion[]>;
  /** Progress of building index `index` of table `table` (storage name) on this ingestion engine, once its catalog has reached `catalogVersion`. */
  indexStatus(table: string, index: string, catalogVersion?: number): Promise<IndexBuildStatus>;
  /**
   * Versions applied after `afterLsn`, in LSN order, at most `limit`; `lastLsn` = LSN of the last
   * returned (or afterLsn). `catalogVersion` (optional): a catalog version at least as new as the
   * one every returned row was written under (e.g. ingestion's catalog version when it answers);
   * the OLAP shard waits until its own catalog has it, so it knows every field the rows carry.
   * `skip` (optional), by table storage name: versions of that table committed at or before the
   * given time (ms) are left out without being read (the OLAP shard passes its watermarks, below
   * which it holds the versions in Parquet already); they still count towards `limit`.
   */
  delta(
    afterLsn: number,
    limit: number,
    skip?: Readonly<Record<string, number>>,
  ): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number; catalogVersion?: number }>;
  status(): Promise<IngestionStatus>;
  /** Recorded conflicts, oldest first, optionally of one table; at most `limit` (≤ 100,000). */
  conflicts(q: { table?: string; limit: number }): Promise<ConflictInfo[]>;
  /**
   * Stop counting `engine` in the watermark now, on every partition, without waiting for a
   * retired heartbeat (`stratum engine decommission ID --force`, for an engine whose disk is
   * lost). Versions of that engine that arrive later are still applied, but reads at or below
   * the watermark may already have missed them. Returns the status after.
   */
  retireEngine(engine: string): Promise<IngestionStatus>;
}

/** A result column: name and result type. */
export interface ResultColumn {
  name: string;
  type: ResultType;
}

/** A query result: typed columns and rows of stored-representation values (see types.ts). */
export interface QueryResult {
  columns: ResultColumn[];
  rows: Value[][];
  /** Messages for the client (sent as NOTICEs), e.g. data left out of a degraded read. */
  notices?: string[];
  /** Files of the tables the query read: in the manifests, and opened after zone-map/bloom pruning. */
  scan?: { filesTotal: number; filesOpened: number };
  /**
   * The rows as one Arrow IPC stream (`encodeArrowStream` of `@stratum/shared/arrow`: the schema
   * with each column's type in field metadata, record batches of at most 65,536 rows, the
   * end-of-stream marker; bytes, uncompressed), when the query asked for it with
   * {@link QueryOptions.resultFormat} `'arrow'`; `rows` is then empty. `columns`, `notices` and
   * `scan` are set as without it. Read either form with `resultRows` of `@stratum/shared/arrow`.
   */
  arrow?: Uint8Array;
}

/** Per-query options of {@link OlapShardApi.query}. */
export interface QueryOptions {
  /**
   * Read the state as of this time (ms since epoch, inclusive): `<t>` = newest version per key
   * with `_ts ≤ asOf`, `<t>__history` = versions with `_ts ≤ asOf` (SET stratum.as_of).
   */
  asOf?: number;
  /**
   * Answer even when some files are unavailable (quarantined or missing), leaving them out and
   * naming them in `notices`; otherwise such a query fails with XX001 naming the files.
   */
  allowDegraded?: boolean;
  /**
   * How the rows travel back: `'rows'` (default) as {@link QueryResult.rows}; `'arrow'` as one
   * Arrow IPC stream in {@link QueryResult.arrow} with `rows` empty, which crosses the RPC as one
   * MessagePack byte string instead of a value per cell (scatter/gather scans). A result Arrow
   * cannot carry (an interval whose time part exceeds 2^63 ns, about 292 years) still comes back
   * as rows, so callers read both forms (`resultRows`). A shard that predates the option answers
   * with rows too.
   */
  resultFormat?: 'rows' | 'arrow';
}

/** A push of versions to an OLAP shard (DESIGN §4 "OLAP push"). */
export interface PushRequest {
  /** Id of the ingestion engine pushing; the OLAP watermark is kept per (table, source). */
  source: string;
  /** Storage name of the table (`TableInfo.storage`, protocol 3). A push for a dead storage name (dropped or truncated table) is a no-op. */
  table: string;
  /** Exclusive lower bound of commitTs (ms): the table's OLAP watermark before this push. */
  fromTs: number;
  /** Inclusive upper bound (ms): becomes the table's OLAP watermark. */
  toTs: number;
  versions: VersionRecord[];
  /**
   * A catalog version at least as new as the one every row was written under (e.g. the
   * pusher's catalog version): the shard waits until its catalog has it, so it knows every
   * field the rows carry (a field it does not know is taken for a dropped column and not
   * stored). Optional; without it the shard uses its catalog as it is.
   */
  catalogVersion?: number;
}

/** OLAP shard as seen by ingestion and the router. */
export interface OlapShardApi {
  /**
   * Write the versions as Parquet and advance the table's OLAP watermark to `toTs`, atomically.
   * Idempotent: a push whose `toTs` is ≤ the current watermark writes nothing. Returns the watermark after.
   */
  push(req: PushRequest): Promise<{ watermark: number }>;
  /**
   * OLAP watermark per table, keyed by storage name as `PushRequest.table` (ms; -1 = nothing
   * pushed): of one ingestion `source`, or without it the minimum over the sources the shard
   * reads from (the time prefix every source has pushed).
   */
  watermarks(source?: string): Promise<Record<string, number>>;
  /**
   * Run a read-only SQL query (DuckDB dialect, PostgreSQL-compatible for the supported subset)
   * over the tables' Parquet files plus the ingestion delta. `params` bind $1..$n. Views are
   * named by table name: `<t>` (latest live rows, visible columns), `<t>__history` (every
   * version, visible columns + `_ts`, `_version`, `_op`, `_engine`) and `<t>__latest` (latest
   * live version per key with every column, hidden `_rowid` included, + `_version`, `_ts`; for
   * predicate writes' candidate keys, with `asOf` too). Column types: see shared/src/duckdb
   * `columnCodec` (unconstrained numeric is VARCHAR text there). When `signal` aborts, the
   * running DuckDB query is interrupted and the call throws the signal's reason (57014); over
   * RPC the HTTP request is aborted and the shard interrupts the query when the request's
   * connection closes. `options.resultFormat: 'arrow'` asks for the rows as an Arrow IPC stream
   * (`QueryResult.arrow`).
   * @throws StratumError with SQLSTATE (42P01, 42703, 42601, 22P02, 57014, ...).
   */
  query(sql: string, params: Literal[], catalogVersion: number, options?: QueryOptions, signal?: AbortSignal): Promise<QueryResult>;
}
