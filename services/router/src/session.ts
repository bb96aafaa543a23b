/**
 * A client session of the router: the state one pgwire connection (or one HTTP request
 * sequence) carries — settings, the session token (what the session wrote and read, DESIGN §6),
 * the transaction block, `stratum.as_of` — and the statement pipeline over it:
 * parse (`sql/parse.ts`, cached) → analyze + plan (`plan/planner.ts`, cached per prepared
 * statement) → execute (`execute/`). See docs/architecture.md "Router".
 */
import {
  type CancelReason,
  type Catalog,
  type Clock,
  canceledError,
  counter,
  type DdlEvent,
  type EvalContext,
  type IngestionApi,
  type IsolationLevel,
  type Logger,
  pgTypeOid,
  QueryCanceledError,
  type SessionAccess,
  SqlState,
  StratumError,
  type TxEngineApi,
  type TxnWrite,
  typeOfOid,
  type WatermarkWatcher,
} from '@stratum/shared';
import { nodeOf } from './analyze/ast.ts';
import type { SessionValues } from './analyze/scope.ts';
import { parseCached, type ResultCache } from './caches.ts';
import { SESSION_ACTIVITY } from './catalog/activity.ts';
import { runPlan } from './execute/index.ts';
import type { OlapRouter } from './olap.ts';
import type { CopyInSink, CopyOutSource, FieldDescription, PgSession, PreparedInfo, StatementResult, TxStatus } from './pgwire/types.ts';
import { planKey, planStatement } from './plan/planner.ts';
import type { OutputColumn, PlannedStatement } from './plan/types.ts';
import {
  argumentsSelect,
  deallocateName,
  declaredTypeOids,
  declaredTypes,
  innerStatement,
  type SqlPrepared,
  SqlPreparedStatements,
} from './prepared-sql.ts';
import type { SequenceAllocator } from './sequences.ts';
import { SessionSequences } from './sequences.ts';
import { checkSet, currentSetting, type SettingsState, settingDef, showSetting } from './settings.ts';
import type { ParsedStatement } from './sql/parse.ts';
import type { SessionState, SessionTokens } from './token.ts';

/** What a session needs from the rest of the system. */
export interface RouterContext {
  catalog: Catalog;
  /** Publish a catalog event; resolves with its catalog version. */
  publishDdl(event: DdlEvent): Promise<number>;
  txEngines: TxEngineApi[];
  /** Ingestion engines with the stream partitions each consumes. */
  ingestion: IngestionRef[];
  /** Number of stream partitions P (to find the ingestion engine of a key). */
  partitions: number;
  /** Analytical reads: one shard whole, or scatter/gather across shards. */
  olap: OlapRouter;
  statementTimeoutMs: number;
  maxStatementBytes: number;
  serverVersion: string;
  /** Next TX engine index for a new session (round robin). */
  pickEngine(): number;
  /** Answers of analytical statements (shared by the router's sessions). */
  results: ResultCache;
  /** This router's clock (strict reads wait for a watermark past `now().latest`). */
  clock: Clock;
  /** Signs and checks session tokens. */
  tokens: SessionTokens;
  /** The lowest ingestion watermark (ms), one shared read for all waiting sessions. */
  watermarks: WatermarkWatcher;
  /** Most committed rows of one COPY above the ingestion watermark before it waits (execute/backpressure.ts); 0 = never wait. */
  copyMaxUnmergedRows: number;
  /** Most committed rows of one COPY above its table's OLAP watermark before it waits; 0 = never wait. */
  copyMaxUnpushedRows: number;
  /** Sequence ranges claimed by this router. */
  sequences: SequenceAllocator;
  /** Failed statements are logged at debug level (PostgreSQL's log_min_error_statement). */
  log?: Logger;
}

/** An ingestion engine as the router addresses it. */
export interface IngestionRef {
  id: string;
  api: IngestionApi;
  /** Stream partitions it consumes. */
  partitions: number[];
}

/**
 * Session values of the settings Stratum applies, at connection start, in the setting form
 * (settings.ts; other parameters have their default there). Keys are lower-case.
 */
export const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  timezone: 'UTC',
  datestyle: 'ISO, MDY',
  client_encoding: 'UTF8',
  server_encoding: 'UTF8',
  extra_float_digits: '1',
  application_name: '',
  search_path: '"$user", public',
  transaction_isolation: 'repeatable read',
  default_transaction_isolation: 'repeatable read',
  standard_conforming_strings: 'on',
  intervalstyle: 'postgres',
  statement_timeout: '0',
  integer_datetimes: 'on',
  client_min_messages: 'notice',
  'stratum.as_of': '',
};

/** When this router process started (µs since epoch): pg_postmaster_start_time(). */
const ROUTER_START_US = BigInt(Math.round(performance.timeOrigin * 1000));

const mCanceled = counter('stratum_router_statements_canceled_total', 'Statements stopped by a cancel request or statement_timeout', [
  'reason',
]);

/** The signal of a session with no statement running: never aborted. */
const IDLE_SIGNAL = new AbortController().signal;

/**
 * Plans the session waits for even after a cancel or timeout, leaving the decision to the tier:
 * a write stops only before its commit starts, so its outcome is never misreported (a 57014
 * for a write that committed). Copy and utility statements (COMMIT) are the same.
 */
const WAITS_FOR_TIER = new Set(['insert', 'update', 'delete', 'copy', 'utility']);

/** A transaction block (BEGIN … COMMIT) of this session, held on the session's TX engine. */
export interface OpenTxn {
  id: string;
  isolation: IsolationLevel;
  failed: boolean;
  /** Tables written in the block, by storage name (reads in the block see these writes). */
  wrote: Set<string>;
  /** A statement other than SET/SHOW ran in the block. */
  used: boolean;
  /** The "analytical reads see data committed when each statement starts" notice was sent. */
  noticed?: boolean;
  /** Table names written in the block (their cached answers are dropped at commit). */
  tables: Set<string>;
  /** Index of the TX engine that holds the block. */
  engine: number;
  /** The block read or wrote through its engine (it can no longer move to another one). */
  pinned: boolean;
  /** The transaction's start (µs since epoch): now() in the block. */
  startUs: bigint;
  /** The ingestion watermark read before the block's snapshot was taken (its predicate writes read candidates as of it). */
  watermark: Promise<number>;
  /** DDL of the block, published atomically at COMMIT. */
  ddl: DdlEvent[];
  /** The catalog as the block sees it (with its DDL applied), while it has DDL. */
  catalog?: Catalog;
  /** Savepoints with the block's DDL count when each was set. */
  savepoints: { name: string; ddl: number }[];
  /** The session's settings before the block's first SET (restored when the block ends). */
  settingsBefore?: Record<string, string>;
  /** Values of the block's SET SESSION statements, by name (kept after COMMIT). */
  sessionSets?: Map<string, string>;
}

interface Handle {
  parsed: ParsedStatement;
  declared: number[];
  planned?: PlannedStatement;
  key?: string;
  /** Settings the planner read (`setting(name)`) and the values it got: the plan holds them (e.g. a bound current_setting). */
  reads?: Map<string, string | undefined>;
}

/** Statements allowed in a failed transaction block: they end it or roll back to a savepoint. */
function endsFailedTransaction(p: ParsedStatement): boolean {
  const k = nodeOf(p.stmt, 'TransactionStmt')?.kind;
  return k === 'TRANS_STMT_ROLLBACK' || k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK_TO';
}

/** Names reported back as ParameterStatus when SET (PostgreSQL's GUC_REPORT set). */
export const REPORTED: Readonly<Record<string, string>> = {
  timezone: 'TimeZone',
  datestyle: 'DateStyle',
  client_encoding: 'client_encoding',
  application_name: 'application_name',
  intervalstyle: 'IntervalStyle',
  standard_conforming_strings: 'standard_conforming_strings',
  integer_datetimes: 'integer_datetimes',
  is_superuser: 'is_superuser',
  session_authorization: 'session_authorization',
  server_version: 'server_version',
  server_encoding: 'server_encoding',
  default_transaction_read_only: 'default_transaction_read_only',
  in_hot_standby: 'in_hot_standby',
};

/** One session (one pgwire connection or one HTTP request sequence). */
export class RouterSession implements PgSession, SessionValues, SettingsState {
  readonly settings: Record<string, string> = { ...DEFAULT_SETTINGS };
  /** Settings at connection start (defaults and the startup packet's): RESET and RESET ALL return to them. */
  readonly resetValues: Record<string, string> = { ...DEFAULT_SETTINGS };
  /** `client` for settings the startup packet set, `session` for SET ones (pg_settings.source). */
  readonly settingSources = new Map<string, string>();
  /** Statements of SQL-level PREPARE (prepared-sql.ts); DISCARD ALL clears them. */
  readonly sqlPrepared = new SqlPreparedStatements<unknown>();
  /** Index of the TX engine this session is sticky to (DESIGN §2). */
  engineIdx: number;
  /** Highest commit timestamp this session wrote (ms); reads must include it. */
  lastCommitTs = 0;
  /** Highest commit timestamp (ms) this session wrote through each TX engine, by index. */
  readonly writesAt: number[] = [];
  /** Highest commit timestamp (ms) of anything this session wrote or read (monotonic reads). */
  seenTs = 0;
  /** Newest commit (ms) of this session's autocommit writes, by table (time-range skips keep read-your-writes). */
  readonly tableWrites = new Map<string, number>();
  /** The open transaction block, if any. */
  txn: OpenTxn | undefined;
  /** `SET stratum.as_of`: reads return the state at this time (ms since epoch); writes are refused. */
  asOfMs: number | undefined;
  /** This session's sequence state (currval, lastval). */
  readonly sequences: SessionSequences;
  /** Backend pid (pg_stat_activity, catalog/activity.ts). */
  readonly backendPid: number;
  /**
   * The running statement's cancel signal (docs/architecture.md "Query cancel"): aborted by a
   * CancelRequest or `statement_timeout` with a {@link QueryCanceledError}; execute/* passes it
   * to every tier call. Between statements a signal that never aborts.
   */
  signal: AbortSignal = IDLE_SIGNAL;
  /** The running statement's controller, or undefined between statements. */
  private running: AbortController | undefined;
  /**
   * The controller statements share until one is aborted (then a fresh one): an AbortController
   * per statement measured ~4 % of a point read's CPU. Tier calls remove their listeners when
   * they end (abort.ts `onCancel`), so a shared signal collects none.
   */
  private stopper = new AbortController();
  /** Rejects the running statement's wait for its tier (set while one waits), for cancel and the timeout. */
  private stopWaiting: ((e: Error) => void) | undefined;
  /**
   * The statement_timeout timer, re-armed with `refresh()` at each statement's start (no timer
   * allocated per statement); `deadlineMs` is its duration, `deadlineOf` the statement it times
   * (0: none). Between statements it may fire and does nothing.
   */
  private deadline: NodeJS.Timeout | undefined;
  private deadlineMs = 0;
  private deadlineOf = 0;
  /** Statements started by this session (count), the identity {@link deadlineOf} refers to. */
  private statementNo = 0;

  constructor(
    readonly ctx: RouterContext,
    readonly user: string,
    readonly database: string,
    params: Record<string, string> = {},
  ) {
    if (ctx.txEngines.length === 0) throw new StratumError(SqlState.connectionFailure, 'no TX engine is configured');
    this.engineIdx = ctx.pickEngine() % ctx.txEngines.length;
    this.applyStartupParams(params);
    this.sequences = new SessionSequences(ctx.sequences);
    this.backendPid = SESSION_ACTIVITY.open(this, user, () => this.settings.application_name ?? '');
  }

  // ---------------------------------------------------------------- state

  /** The catalog this session sees: its block's (with pending DDL) or the router's. */
  get catalog(): Catalog {
    return this.txn?.catalog ?? this.ctx.catalog;
  }

  /** The TX engine of the open block, else the session's. */
  get engine(): TxEngineApi {
    return this.ctx.txEngines[this.txn?.engine ?? this.engineIdx] as TxEngineApi;
  }

  get serverVersion(): string {
    return this.ctx.serverVersion;
  }

  /**
   * Settings of the startup packet (PostgreSQL §55.2.1: any parameter, plus `options` with
   * `-c name=value` / `--name=value`), applied as SET and kept as RESET's values.
   * @throws what SET throws (the connection fails with it, as in PostgreSQL).
   */
  private applyStartupParams(params: Record<string, string>): void {
    const pairs: [string, string][] = [];
    for (const [k, v] of Object.entries(params)) {
      if (k === 'user' || k === 'database' || k === 'replication') continue;
      if (k === 'options') {
        const words = v.split(/\s+/).filter(Boolean);
        for (let i = 0; i < words.length; i++) {
          const w = words[i] as string;
          const kv = w === '-c' ? words[++i] : w.startsWith('--') ? w.slice(2) : w.startsWith('-c') ? w.slice(2) : undefined;
          const eq = kv?.indexOf('=') ?? -1;
          if (kv && eq > 0) pairs.push([kv.slice(0, eq).replace(/-/g, '_'), kv.slice(eq + 1)]);
        }
        continue;
      }
      pairs.push([k, v]);
    }
    for (const [k, v] of pairs) {
      const n = k.toLowerCase();
      const stored = checkSet(n, v, this.settings[n]);
      this.settings[n] = stored;
      this.resetValues[n] = stored;
      this.settingSources.set(n, 'client');
    }
  }

  /** Settings as they are reported at connection start (ParameterStatus, PostgreSQL's GUC_REPORT set). */
  reportedSettings(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, rep] of Object.entries(REPORTED)) out[rep] = this.setting(k) ?? '';
    return out;
  }

  /** A setting as SHOW and current_setting() print it (`10s`), or undefined for an unknown name. */
  setting(name: string): string | undefined {
    const n = name.toLowerCase();
    const raw = this.rawSetting(n);
    this.planReads?.set(n, raw);
    return raw === undefined || n === 'stratum.session_token' ? raw : showSetting(settingDef(n), raw);
  }

  /** A setting's stored form (what SHOW prints is a function of it), or undefined for an unknown name. */
  private rawSetting(n: string): string | undefined {
    return n === 'stratum.session_token' ? this.token() : currentSetting(this, n);
  }

  /** While a statement is planned: every setting the planner reads, stored form (see {@link planFor}). */
  private planReads: Map<string, string | undefined> | undefined;

  /** Whether every setting in `reads` still has the stored form it had when read. */
  private settingsUnchanged(reads: Map<string, string | undefined> | undefined): boolean {
    if (reads === undefined) return true;
    for (const [n, v] of reads) if (this.rawSetting(n) !== v) return false;
    return true;
  }

  /** Evaluation context of a statement starting now (now() = the block's start, else the statement's). */
  evalContext(): EvalContext {
    const stmt = BigInt(Date.now()) * 1000n;
    return {
      txnTimeUs: this.txn?.startUs ?? stmt,
      stmtTimeUs: stmt,
      timeZone: this.settings.timezone ?? 'UTC',
      sequences: this.sequences,
      session: this.sessionAccess(),
    };
  }

  /**
   * What session information functions (current_setting, set_config, …) read and change: built
   * once per session (every member reads the session when called).
   */
  private sessionAccess(): SessionAccess {
    this.access ??= this.buildSessionAccess();
    return this.access;
  }

  private access: SessionAccess | undefined;

  private buildSessionAccess(): SessionAccess {
    return {
      setting: (name) => this.setting(name),
      setConfig: (name, value, isLocal) => {
        const n = name.toLowerCase();
        if (isLocal && !this.txn) return this.setting(n) ?? value;
        const stored = checkSet(n, value, this.settings[n]);
        if (this.txn) {
          this.txn.settingsBefore ??= { ...this.settings };
          this.txn.sessionSets ??= new Map();
          if (!isLocal) this.txn.sessionSets.set(n, stored);
        }
        this.settings[n] = stored;
        if (!isLocal) this.settingSources.set(n, 'session');
        return this.setting(n) ?? stored;
      },
      user: this.user,
      backendPid: this.backendPid,
      txid: () => this.txn?.startUs ?? BigInt(Date.now()) * 1000n,
      startTimeUs: ROUTER_START_US,
      version: `PostgreSQL ${this.ctx.serverVersion} (Stratum 0.1.0) on x86_64-pc-linux-gnu, compiled by Node.js ${process.version}, 64-bit`,
    };
  }

  /** The session token: sticky engine, writes per engine, newest commit seen (see `token.ts`). */
  token(): string {
    return this.ctx.tokens.encode({ e: this.engineIdx, w: this.writesAt, s: this.seenTs });
  }

  /**
   * Continue the session a token describes: its engine, and reads no older than it saw.
   * @throws StratumError 22023 for a forged or malformed token; 25001 inside a transaction block.
   */
  adoptToken(token: string): void {
    if (this.txn) throw new StratumError('25001', 'cannot adopt a session token inside a transaction block');
    const st: SessionState = this.ctx.tokens.decode(token, this.ctx.txEngines.length, this.ctx.clock.now().latest + 1000);
    this.engineIdx = st.e;
    for (const [i, w] of st.w.entries()) this.noteWrite(i, w, []);
    this.seenTs = Math.max(this.seenTs, st.s);
  }

  /** A commit of this session at `ts` through engine index `engine`, writing `tables` (names): token, result cache, time-range skips. */
  noteWrite(engine: number, ts: number, tables: Iterable<string>): void {
    if (ts <= 0) return;
    for (const t of tables) {
      this.ctx.results.noteWrite(t, ts);
      this.tableWrites.set(t, ts);
    }
    while (this.writesAt.length <= engine) this.writesAt.push(0);
    if (ts > (this.writesAt[engine] ?? 0)) this.writesAt[engine] = ts;
    if (ts > this.lastCommitTs) this.lastCommitTs = ts;
    if (ts > this.seenTs) this.seenTs = ts;
  }

  /** Newest commit (ms) this session wrote through an engine other than `engine`. */
  writesElsewhere(engine: number): number {
    let m = 0;
    for (const [i, w] of this.writesAt.entries()) if (i !== engine && w > m) m = w;
    return m;
  }

  /** Statement timeout of this session (ms): `SET statement_timeout`, else the router's. */
  timeoutMs(): number {
    const ms = Number(this.settings.statement_timeout);
    return ms > 0 ? ms : this.ctx.statementTimeoutMs;
  }

  /** How long a statement may wait for a tier before the mode counts as not met (ms): leaves room to answer. */
  waitBudgetMs(): number {
    const t = this.timeoutMs();
    return Math.max(1, t - Math.min(1000, t / 5));
  }

  /** The block's own writes of table `storage` (analytical reads in the block see them). */
  async blockWrites(storage: string): Promise<TxnWrite[]> {
    const t = this.txn;
    if (!t?.wrote.has(storage)) return [];
    return (this.ctx.txEngines[t.engine] as TxEngineApi).txnWrites(t.id, storage);
  }

  // ---------------------------------------------------------------- pipeline

  private prepared(p: ParsedStatement, declared: number[]): PreparedInfo {
    const handle: Handle = { parsed: p, declared };
    const planned = this.planFor(handle);
    const fields = describe(planned);
    const info: PreparedInfo = { paramTypeOids: planned.paramTypes.map((t) => (t === 'unknown' ? 0 : pgTypeOid(t))), handle };
    if (fields !== undefined) info.fields = fields;
    else {
      const typed = plannedColumns(planned);
      if (typed) info.statementFields = typed;
    }
    return info;
  }

  /** The handle's plan, made again when the catalog or the session's planning state changed. */
  private planFor(h: Handle): PlannedStatement {
    const catalog = this.catalog;
    const key = planKey({ catalog, asOf: this.asOfMs !== undefined, inBlock: this.txn !== undefined });
    if (h.planned && h.key === key && this.settingsUnchanged(h.reads)) return h.planned;
    const env = {
      catalog,
      session: this as SessionValues,
      asOf: this.asOfMs !== undefined,
      inBlock: this.txn !== undefined,
      positionOf: (loc: number | undefined) =>
        loc === undefined || loc < 0
          ? undefined
          : h.parsed.bytes.subarray(0, Math.max(0, loc - h.parsed.offset)).toString('utf8').length + 1,
    };
    // Record every setting the planner reads: a value it binds into the plan (TimeZone and
    // DateStyle in the DuckDB SQL, search_path, current_setting in a row read) makes the plan
    // stale once the setting changes, as PostgreSQL re-plans a prepared statement then.
    const reads = new Map<string, string | undefined>();
    this.planReads = reads;
    try {
      h.planned = planStatement(
        h.parsed,
        env,
        h.declared.map((o) => (o ? typeOfOid(o) : undefined)),
      );
    } finally {
      this.planReads = undefined;
    }
    h.key = key;
    h.reads = reads;
    return h.planned;
  }

  async splitSimpleQuery(sql: string): Promise<PreparedInfo[]> {
    this.checkSize(sql);
    // Each statement is planned when it runs (an earlier one may change the catalog).
    return parseCached(sql).map((p) => ({ paramTypeOids: [], handle: { parsed: p, declared: [] } satisfies Handle }));
  }

  async prepare(sql: string, paramTypeOids: number[]): Promise<PreparedInfo> {
    this.checkSize(sql);
    const list = parseCached(sql);
    if (list.length > 1) throw new StratumError(SqlState.syntaxError, 'cannot insert multiple commands into a prepared statement');
    const p = list[0] ?? { stmt: undefined, kind: 'Empty', sql: '', bytes: Buffer.alloc(0), offset: 0 };
    return this.prepared(p, paramTypeOids);
  }

  private checkSize(sql: string): void {
    const n = Buffer.byteLength(sql);
    if (n > this.ctx.maxStatementBytes) {
      throw new StratumError(
        SqlState.programLimitExceeded,
        `statement of ${n} bytes exceeds the limit of ${this.ctx.maxStatementBytes} bytes (router.max_statement_bytes)`,
      );
    }
  }

  async execute(stmt: PreparedInfo, params: (string | null)[]): Promise<StatementResult | CopyInSink | CopyOutSource> {
    const h = stmt.handle as Handle;
    const { parsed } = h;
    if (this.txn?.failed && !endsFailedTransaction(parsed)) {
      throw new StratumError('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
    }
    if (this.txn && parsed.kind !== 'VariableSetStmt' && parsed.kind !== 'VariableShowStmt' && parsed.kind !== 'TransactionStmt') {
      this.txn.used = true;
    }
    const sqlLevel = parsed.kind === 'PrepareStmt' || parsed.kind === 'ExecuteStmt' || parsed.kind === 'DeallocateStmt';
    if (sqlLevel) return this.runSqlPrepared(parsed);
    SESSION_ACTIVITY.begin(this, parsed.sql);
    if (this.stopper.signal.aborted) this.stopper = new AbortController();
    const stop = this.stopper;
    const no = ++this.statementNo;
    this.running = stop;
    this.signal = stop.signal;
    try {
      const planned = this.planFor(h);
      // DDL (index builds, constraint checks over a table) runs to completion unless the session
      // set statement_timeout itself, as PostgreSQL has no default timeout.
      if (planned.plan.kind !== 'ddl' || Number(this.settings.statement_timeout) > 0) this.armDeadline(no);
      const run = runPlan(this, planned.plan, params, planned);
      return this.filterNotices(await (WAITS_FOR_TIER.has(planned.plan.kind) ? run : this.untilStopped(run)));
    } catch (err) {
      // Whatever the stopped tier threw (an interrupted DuckDB, an aborted RPC), the client sees PostgreSQL's 57014.
      const e = stop.signal.aborted && (err as StratumError).code === SqlState.queryCanceled ? canceledError(stop.signal) : err;
      if (e instanceof QueryCanceledError) mCanceled.inc({ reason: e.reason satisfies CancelReason });
      // PostgreSQL: any error inside a transaction block fails the whole block.
      if (this.txn && parsed.kind !== 'TransactionStmt') this.txn.failed = true;
      this.ctx.log?.debug({ code: (e as StratumError).code, err: (e as Error).message, sql: parsed.sql.slice(0, 500) }, 'statement failed');
      throw e;
    } finally {
      SESSION_ACTIVITY.end(this, this.txn !== undefined);
      this.deadlineOf = 0;
      this.stopWaiting = undefined;
      this.running = undefined;
      this.signal = IDLE_SIGNAL;
    }
  }

  /** Time statement `no` out after {@link timeoutMs}: the session's one timer, re-armed. */
  private armDeadline(no: number): void {
    const ms = this.timeoutMs();
    this.deadlineOf = no;
    if (this.deadline && this.deadlineMs === ms) {
      this.deadline.refresh();
      return;
    }
    clearTimeout(this.deadline);
    this.deadlineMs = ms;
    this.deadline = setTimeout(() => {
      if (this.deadlineOf !== 0 && this.deadlineOf === this.statementNo) this.stopRunning(new QueryCanceledError('timeout'));
    }, ms);
    this.deadline.unref();
  }

  /** Abort the running statement's signal with `reason` and stop waiting for its tier. */
  private stopRunning(reason: QueryCanceledError): void {
    const r = this.running;
    if (!r || r.signal.aborted) return;
    r.abort(reason);
    this.stopWaiting?.(reason);
  }

  /**
   * `run`, or a rejection with the cancel reason as soon as the statement is stopped (the tier
   * stops on the same signal; this only stops waiting for it). What raceCancel does, without an
   * abort listener per statement.
   */
  private untilStopped<T>(run: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.stopWaiting = reject;
      run.then(resolve, reject);
    });
  }

  /**
   * PREPARE / EXECUTE / DEALLOCATE (prepared-sql.ts). EXECUTE runs the prepared statement through
   * {@link RouterSession.execute} with its arguments as text parameters.
   * @throws StratumError 42P05, 26000, 42601 (prepared-sql.ts); the statement's own errors.
   */
  private async runSqlPrepared(parsed: ParsedStatement): Promise<StatementResult | CopyInSink | CopyOutSource> {
    const failBlock = (e: unknown): never => {
      if (this.txn) this.txn.failed = true;
      throw e;
    };
    const p = nodeOf(parsed.stmt, 'PrepareStmt');
    if (p) {
      try {
        const handle: Handle = { parsed: innerStatement(parsed, p), declared: declaredTypeOids(p) };
        const planned = this.planFor(handle);
        const params = Math.max(planned.paramTypes.length, handle.declared.length);
        this.sqlPrepared.add(p.name ?? '', { handle, types: declaredTypes(p), params });
      } catch (e) {
        failBlock(e);
      }
      return { commandTag: 'PREPARE' };
    }
    const d = nodeOf(parsed.stmt, 'DeallocateStmt');
    if (d) {
      // SQL PREPARE and the protocol's Parse share one namespace, as in PostgreSQL: a name not
      // prepared by SQL is the wire layer's to drop (26000 there when it has none either).
      const name = deallocateName(d);
      if (name !== undefined && !this.sqlPrepared.has(name)) return { commandTag: 'DEALLOCATE', deallocate: name };
      this.sqlPrepared.remove(name);
      return name === undefined ? { commandTag: 'DEALLOCATE ALL', deallocate: null } : { commandTag: 'DEALLOCATE' };
    }
    const e = nodeOf(parsed.stmt, 'ExecuteStmt');
    let prep: SqlPrepared<Handle> | undefined;
    let args: ReturnType<typeof argumentsSelect>;
    try {
      prep = this.sqlPrepared.get(e?.name ?? '') as SqlPrepared<Handle>;
      args = argumentsSelect(e?.name ?? '', e ?? {}, prep as SqlPrepared<unknown>);
    } catch (err) {
      failBlock(err);
    }
    let params: (string | null)[] = [];
    if (args) {
      const r = (await this.execute(
        { paramTypeOids: [], handle: { parsed: { ...parsed, stmt: args, kind: 'SelectStmt' }, declared: [] } },
        [],
      )) as StatementResult;
      params = r.rows?.[0] ?? [];
    }
    return this.execute({ paramTypeOids: [], handle: (prep as SqlPrepared<Handle>).handle }, params);
  }

  /** Drop notices below client_min_messages (PostgreSQL's levels; INFO is always sent). */
  private filterNotices<T>(out: T): T {
    const r = out as { notices?: { severity?: string }[] };
    if (!r || !Array.isArray(r.notices) || r.notices.length === 0) return out;
    const rank = (l: string) => ['debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'log', 'notice', 'warning', 'error'].indexOf(l);
    const min = rank((this.settings.client_min_messages ?? 'notice').toLowerCase());
    r.notices = r.notices.filter((n) => {
      const l = (n.severity ?? 'NOTICE').toLowerCase();
      return l === 'info' || rank(l) < 0 || rank(l) >= min;
    });
    return out;
  }

  txStatus(): TxStatus {
    return this.txn ? (this.txn.failed ? 'E' : 'T') : 'I';
  }

  /**
   * CancelRequest (PostgreSQL 15 §55.2.7): stop the running statement with 57014 "canceling
   * statement due to user request"; with none running it does nothing, as in PostgreSQL.
   */
  cancel(): void {
    this.stopRunning(new QueryCanceledError('user'));
  }

  /** Connection ended: a transaction left open is rolled back. */
  async close(): Promise<void> {
    clearTimeout(this.deadline);
    SESSION_ACTIVITY.close(this);
    const t = this.txn;
    this.txn = undefined;
    if (t) await (this.ctx.txEngines[t.engine] as TxEngineApi).rollback(t.id).catch(() => {});
  }
}

/** RowDescription fields of a planned statement when known before execution (undefined: execution tells; null: no rows). */
function describe(p: PlannedStatement): FieldDescription[] | null | undefined {
  const plan = p.plan.kind === 'explain' ? undefined : p.plan;
  if (!plan) return undefined;
  switch (plan.kind) {
    case 'row_read':
    case 'local':
      return plan.output.map(fieldOf);
    case 'insert':
    case 'update':
    case 'delete':
      return plan.returning ? plan.returning.map(fieldOf) : null;
    case 'ddl':
      return plan.op.op === 'create_table' && plan.op.asSelect ? null : null;
    case 'utility':
      return plan.op === 'show' ? undefined : null;
    case 'copy':
      return null;
    default:
      return undefined;
  }
}

/**
 * An analytical read's result columns as the planner types them (a range read's: its fallback's),
 * for Describe of the prepared statement; a type the rewrite could not tell is reported as text
 * (PostgreSQL's unknown-literal result type). Undefined for other statements.
 */
function plannedColumns(p: PlannedStatement): FieldDescription[] | undefined {
  const plan = p.plan.kind === 'row_scan' ? p.plan.fallback : p.plan;
  if (plan.kind !== 'analytical' || !plan.columns) return undefined;
  return plan.columns.map((c) => ({ name: c.name, typeOid: pgTypeOid(c.type === 'unknown' ? 'text' : c.type) }));
}

/** RowDescription field of an output column. */
export function fieldOf(c: OutputColumn): FieldDescription {
  const f: FieldDescription = { name: c.name, typeOid: c.typeOid ?? pgTypeOid(c.type) };
  if (c.tableOid !== undefined) f.tableOid = c.tableOid;
  if (c.attnum !== undefined) f.columnAttr = c.attnum;
  if (c.typmod !== undefined) (f as FieldDescription & { typeModifier?: number }).typeModifier = c.typmod;
  return f;
}
