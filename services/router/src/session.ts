/**
 * A client session of the router: parses each statement with the PostgreSQL grammar,
 * classifies it and sends it to the tier that answers it (DESIGN §7):
 * DDL → catalog stream; INSERT/UPDATE/DELETE → the session's TX engine; point reads by
 * full primary key → TX engine (which falls back to ingestion); everything else that
 * reads → OLAP (one shard whole, or scatter/gather, see `olap.ts`). `SET stratum.as_of`
 * makes reads return the state at that time: point reads from the owning ingestion engine
 * (or OLAP when its GC passed that time), analytical reads from OLAP as of it.
 *
 * Consistency modes (DESIGN §6), per table from `table_consistency`:
 * - eventual: reads are served at once by the session's TX engine or OLAP + delta;
 * - bounded_staleness: reads include every commit with ts ≤ now().latest − max_staleness_ms;
 * - monotonic_reads (default): reads include what the session wrote or read before (its session
 *   token): analytical reads wait for the ingestion watermark to pass it, point reads ask the
 *   engine for versions written through other engines;
 * - strict_serializable: writes and point reads go to the key's owning TX engine (hash of the
 *   primary key over the engine list); analytical reads wait until the watermark passes
 *   now().latest of the read's start.
 * A requirement not met within the statement timeout fails with 57014 naming the table, the mode
 * and what was missing, or, with allow_degraded, is answered with a NOTICE giving the staleness.
 */
import {
  type Catalog,
  type Clock,
  type ColumnDef,
  checkPlacement,
  coerceLiteral,
  columnOf,
  counter,
  duckdbType,
  formatValue,
  type IngestionApi,
  type IsolationLevel,
  type Literal,
  pgTypeOid,
  partitionOf,
  type QueryOptions,
  type QueryResult,
  type RowVersion,
  resolveTypeName,
  SchemaError,
  SqlState,
  StratumError,
  type TableDef,
  type TableInfo,
  type TxEngineApi,
  type TxResult,
  UnsupportedError,
  type Value,
  validateTableDef,
  type WatermarkWatcher,
  type WriteOp,
} from '@stratum/shared';
import { parseCached, type ResultCache } from './caches.ts';
import { type OlapRouter, SYSTEM_TABLE_NAMES, type TableRef, timeRangeOf } from './olap.ts';
import type { FieldDescription, Notice, PgSession, PreparedInfo, StatementResult, TxStatus } from './pgwire/types.ts';
import { literalOf, type Params, toExpr, typeNameOf } from './sql/literal.ts';
import { type Node, type ParsedStatement, qualifiedName } from './sql/parse.ts';
import type { SessionState, SessionTokens } from './token.ts';

const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);
const mReads = counter('stratum_router_reads_total', 'Reads by the tier that served them and the consistency mode of the tables read', [
  'tier',
  'mode',
]);
const mErrors = counter('stratum_router_errors_total', 'Statements that failed, by SQLSTATE', ['code']);

/** What a session needs from the rest of the system. */
export interface RouterContext {
  catalog: Catalog;
  /** Publish a DDL event; resolves with its catalog version. */
  publishDdl(table: TableDef): Promise<number>;
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
}

/** A table's consistency requirement for one analytical read. */
interface Requirement {
  table: string;
  mode: string;
  /** Commit timestamp (ms) the watermark must reach. */
  ts: number;
  /** What that timestamp stands for, for messages. */
  what: string;
  allowDegraded: boolean;
}

/** An ingestion engine as the router addresses it. */
export interface IngestionRef {
  id: string;
  api: IngestionApi;
  /** Stream partitions it consumes. */
  partitions: number[];
}

/** Settings a client may SET; reported by SHOW. Keys are lower-case. */
const DEFAULT_SETTINGS: Record<string, string> = {
  timezone: 'UTC',
  datestyle: 'ISO, MDY',
  client_encoding: 'UTF8',
  server_encoding: 'UTF8',
  extra_float_digits: '1',
  application_name: '',
  search_path: 'public',
  transaction_isolation: 'repeatable read',
  default_transaction_isolation: 'repeatable read',
  standard_conforming_strings: 'on',
  intervalstyle: 'postgres',
  statement_timeout: '0',
  integer_datetimes: 'on',
  'stratum.as_of': '',
};

/** Names reported back as ParameterStatus when SET (PostgreSQL's GUC_REPORT set). */
const REPORTED: Record<string, string> = {
  timezone: 'TimeZone',
  datestyle: 'DateStyle',
  client_encoding: 'client_encoding',
  application_name: 'application_name',
  intervalstyle: 'IntervalStyle',
};

interface Handle {
  parsed: ParsedStatement;
}

/** A transaction block (BEGIN … COMMIT) of this session, held on the session's TX engine. */
interface OpenTxn {
  id: string;
  isolation: IsolationLevel;
  failed: boolean;
  /** The block wrote something (analytical reads would not see it). */
  wrote: boolean;
  /** The "analytical reads see committed data" notice was sent. */
  noticed: boolean;
  /** A statement other than SET/SHOW ran in the block. */
  used: boolean;
  /** Tables written in the block (their cached answers are dropped at commit). */
  tables: Set<string>;
  /** Index of the TX engine that holds the block. */
  engine: number;
  /** The block read or wrote through its engine (it can no longer move to another one). */
  pinned: boolean;
}

/** Statements allowed in a failed transaction block: they end it or roll back to a savepoint. */
function endsFailedTransaction(p: ParsedStatement): boolean {
  if (p.kind !== 'TransactionStmt') return false;
  const k = (p.stmt.TransactionStmt as Node).kind as string;
  return k === 'TRANS_STMT_ROLLBACK' || k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK_TO';
}

/** One session (one pgwire connection or one HTTP request sequence). */
export class RouterSession implements PgSession {
  private readonly settings: Record<string, string> = { ...DEFAULT_SETTINGS };
  /** Index of the TX engine this session is sticky to (DESIGN §2). */
  private engineIdx: number;
  /** Highest commit timestamp this session wrote (ms); reads must include it. */
  lastCommitTs = 0;
  /** Highest commit timestamp (ms) this session wrote through each TX engine, by index. */
  private writesAt: number[] = [];
  /** Highest commit timestamp (ms) of anything this session wrote or read (monotonic reads). */
  seenTs = 0;
  /** Newest commit (ms) of this session's autocommit writes, by table (time-range skips keep read-your-writes). */
  private readonly tableWrites = new Map<string, number>();
  /** Tables whose row tiers the last analytical read skipped by time range, with the reason (EXPLAIN). */
  private skipped: string[] = [];
  /** The open transaction block, if any. */
  private txn: OpenTxn | undefined;
  /** `SET stratum.as_of`: reads return the state at this time (ms since epoch); writes are refused. */
  asOfMs: number | undefined;

  constructor(
    private readonly ctx: RouterContext,
    readonly user: string,
    readonly database: string,
    params: Record<string, string> = {},
  ) {
    if (ctx.txEngines.length === 0) throw new StratumError(SqlState.connectionFailure, 'no TX engine is configured');
    this.engineIdx = ctx.pickEngine() % ctx.txEngines.length;
    if (params.application_name) this.settings.application_name = params.application_name;
  }

  /** The TX engine of the open block, else the session's. */
  private get engine(): TxEngineApi {
    return this.ctx.txEngines[this.txn?.engine ?? this.engineIdx] as TxEngineApi;
  }

  /** The TX engine holding block `t`. */
  private blockEngine(t: OpenTxn): TxEngineApi {
    return this.ctx.txEngines[t.engine] as TxEngineApi;
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

  /** A commit of this session at `ts` through engine index `engine`, writing `tables`: token, result cache, time-range skips. */
  private noteWrite(engine: number, ts: number, tables: Iterable<string>): void {
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
  private writesElsewhere(engine: number): number {
    let m = 0;
    for (const [i, w] of this.writesAt.entries()) if (i !== engine && w > m) m = w;
    return m;
  }

  /**
   * A write that failed only because the bus did not acknowledge it in time (durability:
   * replicated) has committed: record its commit timestamp (session token, result cache) so the
   * session's later reads include it, then rethrow.
   */
  private committedAnyway(e: unknown, engine: number, tables: string[]): never {
    const m = /\((\d+) ms\)\.$/.exec((e as StratumError).detail ?? '');
    if ((e as StratumError).code === SqlState.queryCanceled && m) this.noteWrite(engine, Number(m[1]), tables);
    throw e;
  }

  /** Statement timeout of this session (ms): `SET statement_timeout`, else the router's. */
  private timeoutMs(): number {
    const ms = Number(this.settings.statement_timeout);
    return ms > 0 ? ms : this.ctx.statementTimeoutMs;
  }

  /** How long a statement may wait for a tier before the mode counts as not met (ms): leaves room to answer. */
  private waitBudgetMs(): number {
    const t = this.timeoutMs();
    return Math.max(1, t - Math.min(1000, t / 5));
  }

  /** Primary-key values of the rows a write op touches (column types applied). @throws on values of the wrong type. */
  private opKeys(t: TableInfo, op: WriteOp): Value[][] {
    const typeOf = (j: number) => columnOf(t, t.primaryKey[j] as string).type;
    if (op.kind === 'insert') {
      const pos = t.primaryKey.map((k) => op.columns.indexOf(k));
      if (pos.some((i) => i < 0)) return [];
      return op.rows.map((r) => pos.map((i, j) => coerceLiteral(r[i] ?? null, typeOf(j))));
    }
    return [op.key.map((v, j) => coerceLiteral(v, typeOf(j)))];
  }

  /** Index of the TX engine that owns `key` of `t` (DESIGN §2: hash of the primary key over the engine list). */
  private ownerOf(t: TableInfo, key: Value[]): number {
    return partitionOf(t.name, key, this.ctx.txEngines.length);
  }

  /**
   * The TX engine a write goes to: the owner of its keys for strict_serializable tables (DESIGN
   * §2, hash of the primary key over the engine list), else the session's engine.
   * @throws UnsupportedError (0A000) when one statement writes strict keys of different owners.
   */
  private targetOf(ops: WriteOp[]): number | undefined {
    const n = this.ctx.txEngines.length;
    if (n <= 1) return undefined;
    let owner: number | undefined;
    for (const op of ops) {
      const t = this.ctx.catalog.find(op.table);
      if (t?.options.consistency.mode !== 'strict_serializable') continue;
      let keys: Value[][];
      try {
        keys = this.opKeys(t, op);
      } catch {
        continue; // the engine reports the bad value
      }
      for (const k of keys) {
        const o = this.ownerOf(t, k);
        if (owner === undefined) owner = o;
        else if (owner !== o) {
          throw new UnsupportedError(
            `one statement writes keys of strict_serializable table "${t.name}" owned by different TX engines (${owner + 1} and ${o + 1} of ${n}); each key is written by its owning engine`,
            { hint: 'Write these rows in separate statements.' },
          );
        }
      }
    }
    return owner;
  }

  /**
   * Put block `t` on TX engine `target` (the owner of a strict key it is about to touch): moved
   * there while nothing ran in it yet.
   * @throws UnsupportedError (0A000) when the block already runs statements on another engine.
   */
  private async moveBlock(t: OpenTxn, target: number, what: string): Promise<void> {
    if (target === t.engine) return;
    if (t.pinned) {
      throw new UnsupportedError(
        `this transaction block runs on TX engine ${t.engine + 1}, but it ${what} a key of a strict_serializable table owned by engine ${target + 1}`,
        {
          hint: "Touch keys of one owner per transaction block (start the block with the strict table's statement), or use autocommit statements.",
        },
      );
    }
    // Nothing ran in the block yet: move it to the owner.
    await this.blockEngine(t).rollback(t.id);
    t.id = await (this.ctx.txEngines[target] as TxEngineApi).begin(t.isolation);
    t.engine = target;
  }

  private prepared(p: ParsedStatement): PreparedInfo {
    const n = maxParam(p.stmt);
    return { paramTypeOids: new Array<number>(n).fill(0), handle: { parsed: p } satisfies Handle, ...this.describe(p) };
  }

  /** Result fields when known without running the statement (rows-returning statements answer at execution). */
  private describe(p: ParsedStatement): { fields?: FieldDescription[] | null } {
    if (p.kind === 'SelectStmt' || p.kind === 'VariableShowStmt' || p.kind === 'ExplainStmt') return {};
    return { fields: null };
  }

  async splitSimpleQuery(sql: string): Promise<PreparedInfo[]> {
    this.checkSize(sql);
    return parseCached(sql).map((p) => this.prepared(p));
  }

  async prepare(sql: string, _paramTypeOids: number[]): Promise<PreparedInfo> {
    this.checkSize(sql);
    const list = parseCached(sql);
    if (list.length > 1) throw new StratumError(SqlState.syntaxError, 'cannot insert multiple commands into a prepared statement');
    const p = list[0];
    if (!p)
      return {
        paramTypeOids: [],
        fields: null,
        handle: { parsed: { stmt: {}, kind: 'Empty', sql: '', bytes: Buffer.alloc(0), offset: 0 } },
      };
    return this.prepared(p);
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

  async execute(stmt: PreparedInfo, params: (string | null)[]): Promise<StatementResult> {
    const { parsed } = stmt.handle as Handle;
    if (this.txn?.failed && !endsFailedTransaction(parsed)) {
      mErrors.inc({ code: '25P02' });
      throw new StratumError('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
    }
    if (this.txn && parsed.kind !== 'VariableSetStmt' && parsed.kind !== 'VariableShowStmt' && parsed.kind !== 'TransactionStmt') {
      this.txn.used = true;
    }
    try {
      return await this.withTimeout(this.run(parsed, params));
    } catch (e) {
      mErrors.inc({ code: (e as StratumError).code ?? 'XX000' });
      // PostgreSQL: any error inside a transaction block fails the whole block.
      if (this.txn && parsed.kind !== 'TransactionStmt') this.txn.failed = true;
      throw e;
    }
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = Number(this.settings.statement_timeout) > 0 ? Number(this.settings.statement_timeout) : this.ctx.statementTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StratumError(SqlState.queryCanceled, `canceling statement due to statement timeout (${ms} ms)`)),
        ms,
      );
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  txStatus(): TxStatus {
    return this.txn ? (this.txn.failed ? 'E' : 'T') : 'I';
  }

  cancel(): void {}

  /** Connection ended: a transaction left open is rolled back. */
  async close(): Promise<void> {
    const t = this.txn;
    this.txn = undefined;
    if (t)
      await this.blockEngine(t)
        .rollback(t.id)
        .catch(() => {});
  }

  /** Execute one parsed statement. */
  async run(p: ParsedStatement, params: Params): Promise<StatementResult> {
    const s = p.stmt[p.kind] as Node;
    switch (p.kind) {
      case 'Empty':
        return { commandTag: '' };
      case 'InsertStmt':
        return this.insert(s, params);
      case 'UpdateStmt':
        return this.update(s, params);
      case 'DeleteStmt':
        return this.remove(s, params);
      case 'SelectStmt':
        return this.select(p, s, params);
      case 'ExplainStmt':
        return this.explain(p, s, params);
      case 'VariableSetStmt':
        return this.set(s);
      case 'VariableShowStmt':
        return this.show(s);
      case 'TransactionStmt':
        return this.transaction(s);
      case 'CreateStmt':
        if (this.txn) throw new UnsupportedError('CREATE TABLE inside a transaction block is not supported: run DDL on its own');
        return this.createTable(s);
      default:
        mStatements.inc({ kind: p.kind, tier: 'none' });
        throw new UnsupportedError(`${statementName(p.kind)} is not supported by Stratum yet`);
    }
  }

  private async createTable(s: Node): Promise<StatementResult> {
    const name = relName(s.relation);
    const { catalog } = this.ctx;
    if (catalog.find(name)) {
      if (s.if_not_exists) {
        return {
          commandTag: 'CREATE TABLE',
          notices: [{ severity: 'NOTICE', code: '42P07', message: `relation "${name}" already exists, skipping` }],
        };
      }
      throw new SchemaError(SqlState.duplicateTable, `relation "${name}" already exists`);
    }
    const columns: ColumnDef[] = [];
    const pk: string[] = [];
    for (const el of (s.tableElts ?? []) as Node[]) {
      if (el.ColumnDef) {
        const cd = el.ColumnDef;
        const tn = typeNameOf(cd.typeName);
        const type = resolveTypeName(tn);
        if (!type) {
          throw new UnsupportedError(`type "${tn}" of column "${cd.colname}" is not supported`, {
            hint: 'Supported types: smallint, integer, bigint, real, double precision, text/varchar, boolean, timestamp, timestamptz, date, uuid.',
            position: (cd.typeName?.location ?? 0) + 1,
          });
        }
        if (cd.typeName?.arrayBounds) throw new UnsupportedError(`array column "${cd.colname}" is not supported`);
        let notNull = false;
        for (const c of (cd.constraints ?? []) as Node[]) {
          const t = c.Constraint?.contype;
          if (t === 'CONSTR_PRIMARY') {
            pk.push(cd.colname);
            notNull = true;
          } else if (t === 'CONSTR_NOTNULL') notNull = true;
          else if (t === 'CONSTR_NULL') notNull = false;
          else throw new UnsupportedError(`constraint ${String(t).replace('CONSTR_', '')} on column "${cd.colname}" is not supported`);
        }
        columns.push({ name: cd.colname, type, notNull });
      } else if (el.Constraint?.contype === 'CONSTR_PRIMARY') {
        if (pk.length) throw new SchemaError(SqlState.invalidTableDefinition, `multiple primary keys for table "${name}" are not allowed`);
        for (const k of (el.Constraint.keys ?? []) as Node[]) pk.push(k.String.sval);
      } else {
        throw new UnsupportedError(`table element ${Object.keys(el)[0]} is not supported in CREATE TABLE`);
      }
    }
    for (const c of columns) if (pk.includes(c.name)) c.notNull = true;
    const def: TableDef = { name, columns, primaryKey: pk };
    validateTableDef(def);
    checkPlacement(catalog.infoOf(def), this.ctx.olap.shardIds);
    const version = await this.ctx.publishDdl(def);
    await catalog.waitFor(version, this.ctx.statementTimeoutMs);
    mStatements.inc({ kind: 'CreateStmt', tier: 'catalog' });
    return { commandTag: 'CREATE TABLE' };
  }

  private table(rel: Node): TableInfo {
    const name = relName(rel);
    const t = this.ctx.catalog.find(name);
    if (!t) throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`, { position: (rel.location ?? 0) + 1 });
    return t;
  }

  private async write(ops: WriteOp[]): Promise<TxResult> {
    if (this.asOfMs !== undefined) {
      throw new StratumError(
        '25006',
        `cannot write while stratum.as_of is set (reads return the state as of ${this.settings['stratum.as_of']})`,
        {
          hint: 'RESET stratum.as_of to write.',
        },
      );
    }
    for (const op of ops) this.ctx.results.invalidate(op.table);
    const owner = this.targetOf(ops);
    const t = this.txn;
    if (t) {
      if (owner !== undefined) await this.moveBlock(t, owner, 'writes');
      t.pinned = true;
      t.wrote = true;
      for (const op of ops) t.tables.add(op.table);
      return this.blockEngine(t).executeIn(t.id, { catalogVersion: this.ctx.catalog.version, ops });
    }
    const target = owner ?? this.engineIdx;
    const r = await (this.ctx.txEngines[target] as TxEngineApi).execute({ catalogVersion: this.ctx.catalog.version, ops }).catch((e) =>
      this.committedAnyway(
        e,
        target,
        ops.map((o) => o.table),
      ),
    );
    this.noteWrite(
      target,
      r.commitTs,
      ops.map((o) => o.table),
    );
    return r;
  }

  private async insert(s: Node, params: Params): Promise<StatementResult> {
    const t = this.table(s.relation);
    if (s.returningList) throw new UnsupportedError('INSERT ... RETURNING is not supported yet');
    if (s.onConflictClause) throw new UnsupportedError('INSERT ... ON CONFLICT is not supported yet');
    const columns = s.cols ? (s.cols as Node[]).map((c) => c.ResTarget.name as string) : t.columns.map((c) => c.name);
    for (const [i, c] of columns.entries()) {
      if (!t.columnIndex.has(c)) {
        throw new SchemaError(SqlState.undefinedColumn, `column "${c}" of relation "${t.name}" does not exist`, {
          position: ((s.cols as Node[])[i]?.ResTarget?.location ?? 0) + 1,
        });
      }
    }
    const sel = s.selectStmt?.SelectStmt;
    if (!sel?.valuesLists) throw new UnsupportedError('INSERT supports VALUES lists only (INSERT ... SELECT is not supported yet)');
    const rows: Literal[][] = (sel.valuesLists as Node[]).map((l) => (l.List.items as Node[]).map((e) => literalOf(e, params)));
    const r = await this.write([{ kind: 'insert', table: t.name, columns, rows }]);
    mStatements.inc({ kind: 'InsertStmt', tier: 'tx' });
    return withTxNotices({ commandTag: `INSERT 0 ${r.counts[0] ?? 0}` }, r);
  }

  private async update(s: Node, params: Params): Promise<StatementResult> {
    const t = this.table(s.relation);
    if (s.fromClause || s.returningList) throw new UnsupportedError('UPDATE ... FROM / RETURNING is not supported yet');
    const key = keyFromWhere(t, s.whereClause, params, relAlias(s.relation), 'UPDATE');
    const assigned = new Set<string>();
    const set = (s.targetList as Node[]).map((rt) => {
      const name = rt.ResTarget.name as string;
      columnOf(t, name);
      if (assigned.has(name)) {
        throw new StratumError(SqlState.syntaxError, `multiple assignments to same column "${name}"`, {
          position: (rt.ResTarget.location ?? 0) + 1,
        });
      }
      assigned.add(name);
      return { column: name, expr: toExpr(rt.ResTarget.val, params) };
    });
    const r = await this.write([{ kind: 'update', table: t.name, key, set }]);
    mStatements.inc({ kind: 'UpdateStmt', tier: 'tx' });
    return withTxNotices({ commandTag: `UPDATE ${r.counts[0] ?? 0}` }, r);
  }

  private async remove(s: Node, params: Params): Promise<StatementResult> {
    const t = this.table(s.relation);
    if (s.usingClause || s.returningList) throw new UnsupportedError('DELETE ... USING / RETURNING is not supported yet');
    const key = keyFromWhere(t, s.whereClause, params, relAlias(s.relation), 'DELETE');
    const r = await this.write([{ kind: 'delete', table: t.name, key }]);
    mStatements.inc({ kind: 'DeleteStmt', tier: 'tx' });
    return withTxNotices({ commandTag: `DELETE ${r.counts[0] ?? 0}` }, r);
  }

  private async select(p: ParsedStatement, s: Node, params: Params): Promise<StatementResult> {
    const ctes = new Set<string>();
    const rels: Node[] = [];
    collect(s, rels, ctes);
    for (const r of rels) {
      const name = relName(r);
      if (ctes.has(name) && !r.schemaname) continue;
      const base = name.endsWith('__history') ? name.slice(0, -'__history'.length) : name;
      if (SYSTEM_TABLE_NAMES.has(name) && !r.schemaname) continue;
      if (!this.ctx.catalog.find(base)) {
        throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`, { position: charPos(p, r.location) });
      }
    }
    let point = pointRead(this.ctx.catalog, s, params);
    // A short key list as of a time, or inside a transaction block: the analytical path answers it.
    if (point?.keys && (this.asOfMs !== undefined || this.txn)) point = undefined;
    if (point && this.asOfMs !== undefined) {
      const rv = await this.readAsOf(point.table, point.key, this.asOfMs);
      if (rv !== 'olap') {
        mStatements.inc({ kind: 'SelectStmt', tier: 'ingestion' });
        mReads.inc({ tier: 'ingestion', mode: point.table.options.consistency.mode });
        const cols = point.columns.map((c) => columnOf(point.table, c.column));
        const fields = point.columns.map((c, i) => field(c.name, pgTypeOid(cols[i]!.type)));
        const rows = rv?.row ? [cols.map((c) => formatValue(rv.row![c.name] ?? null, c.type))] : [];
        return { commandTag: `SELECT ${rows.length}`, fields, rows };
      }
    } else if (point) {
      mStatements.inc({ kind: 'SelectStmt', tier: 'tx' });
      mReads.inc({ tier: 'tx', mode: point.table.options.consistency.mode });
      const notices: Notice[] = [];
      const pt = point;
      const rvs = await Promise.all((pt.keys ?? [pt.key]).map((k) => this.pointGet(pt.table, k, notices)));
      for (const rv of rvs) if (rv && rv.commitTs > this.seenTs) this.seenTs = rv.commitTs;
      // Keys spelled differently (`{1,01}`) read the same row once.
      const versions = new Set<string>();
      for (let i = 0; i < rvs.length; i++) {
        const v = rvs[i]?.version;
        if (v === undefined) continue;
        if (versions.has(v)) rvs[i] = null;
        else versions.add(v);
      }
      const cols = point.columns.map((c) => columnOf(point.table, c.column));
      const fields = point.columns.map((c, i) => field(c.name, pgTypeOid(cols[i]!.type)));
      const rows = rvs.filter((rv) => rv?.row).map((rv) => cols.map((c) => formatValue(rv!.row![c.name] ?? null, c.type)));
      const out: StatementResult = { commandTag: `SELECT ${rows.length}`, fields, rows };
      if (notices.length > 0) out.notices = notices;
      return out;
    }
    const notices: Notice[] = [];
    if (this.txn && rels.length > 0) {
      if (this.txn.isolation === 'serializable') {
        throw new UnsupportedError(
          'analytical SELECTs (scans, aggregates, joins) are not supported in SERIALIZABLE transactions: their reads cannot be validated at commit',
          {
            hint: 'Read single rows by primary key, or use REPEATABLE READ.',
          },
        );
      }
      if (this.txn.wrote) {
        throw new UnsupportedError(
          'an analytical SELECT after writes in the same transaction is not supported: it would not see the uncommitted writes',
          {
            hint: 'Commit first, or read the rows by primary key.',
          },
        );
      }
      if (!this.txn.noticed) {
        this.txn.noticed = true;
        notices.push({
          severity: 'NOTICE',
          code: '00000',
          message:
            'analytical reads in a transaction block see the data committed when each statement starts, not the transaction snapshot',
        });
      }
    }
    const refsEarly = rels.filter((r) => !(ctes.has(relName(r)) && !r.schemaname)).map((r) => ({ name: relName(r), alias: relAlias(r) }));
    const reqs = this.asOfMs === undefined && rels.length > 0 ? this.requirements(refsEarly, s.whereClause, params) : [];
    const need = reqs.reduce((m, r) => Math.max(m, r.ts), 0);
    const cacheable =
      !this.txn &&
      rels.length > 0 &&
      this.ctx.results.ttlMs > 0 &&
      this.asOfMs === undefined &&
      !reqs.some((r) => r.mode === 'strict_serializable');
    let coveredTs = -1;
    if (cacheable) {
      const hit = this.ctx.results.get(p.sql, params, Math.max(need, this.seenTs));
      if (hit) {
        mStatements.inc({ kind: 'SelectStmt', tier: 'result-cache' });
        return hit;
      }
    }
    // Analytical: OLAP files + ingestion delta; first the watermark the tables' modes need.
    if (need > 0) notices.push(...(await this.meet(reqs)));
    // As of T: the state at T is complete once every ingestion engine's watermark passed T.
    if (rels.length > 0 && this.asOfMs !== undefined) await this.waitForAsOf(this.asOfMs);
    if (rels.length > 0 && this.asOfMs === undefined) {
      coveredTs = await this.minWatermark();
      if (coveredTs > this.seenTs) this.seenTs = coveredTs;
    }
    const spliced = spliceForDuckDb(
      p,
      this,
      params,
      refsEarly.map((r) => this.ctx.catalog.find(r.name.replace(/__history$/, ''))).filter((t): t is TableInfo => t !== undefined),
    );
    const sql = spliced.sql;
    const refs: TableRef[] = rels
      .filter((r) => !(ctes.has(relName(r)) && !r.schemaname))
      .map((r) => ({ name: relName(r), alias: relAlias(r), topLevel: ((s.fromClause ?? []) as Node[]).some((f) => f.RangeVar === r) }));
    const opts: QueryOptions = this.asOfMs === undefined ? {} : { asOf: this.asOfMs };
    const res = await this.ctx.olap.query(s, refs, sql, spliced.params, this.ctx.catalog.version, opts, params);
    mStatements.inc({ kind: 'SelectStmt', tier: rels.length ? (res.tier === 'gather' ? 'olap-gather' : 'olap') : 'local' });
    for (const m of this.modesOf(refs)) mReads.inc({ tier: res.tier === 'gather' ? 'olap-gather' : 'olap', mode: m });
    for (const n of res.notices ?? []) notices.push({ severity: 'NOTICE', code: '01000', message: n });
    const names = pgColumnNames(s);
    if (names && names.length === res.columns.length) res.columns = res.columns.map((c, i) => ({ ...c, name: names[i] ?? c.name }));
    const out = toStatementResult(res);
    if (notices.length > 0) out.notices = notices;
    if (cacheable) {
      const tables = [...new Set(rels.map((r) => String(r.relname).replace(/__history$/, '')))];
      this.ctx.results.set(p.sql, params, tables, coveredTs, out);
    }
    return out;
  }

  /**
   * Point read under the table's mode (DESIGN §6): strict_serializable tables read at the key's
   * owning engine, others at the session's; the engine includes commits this session made through
   * other engines, and for bounded_staleness every commit up to now().latest − max_staleness_ms.
   * With allow_degraded an unmet requirement answers from the engine's state with a NOTICE.
   * @throws StratumError 57014 naming the table, mode and what was missing.
   */
  private async pointGet(t: TableInfo, key: Literal[], notices: Notice[]): Promise<RowVersion | null> {
    const version = this.ctx.catalog.version;
    const cons = t.options.consistency;
    const n = this.ctx.txEngines.length;
    let idx = this.engineIdx;
    if (cons.mode === 'strict_serializable' && n > 1) {
      try {
        idx = this.ownerOf(t, this.opKeys(t, { kind: 'delete', table: t.name, key })[0] ?? []);
      } catch {
        // A key of the wrong type: the engine reports it.
      }
    }
    if (this.txn) {
      // A strict key is read at its owner, inside the block too (the block moves there if it can).
      if (cons.mode === 'strict_serializable' && n > 1) await this.moveBlock(this.txn, idx, 'reads');
      this.txn.pinned = true;
      return this.engine.get(t.name, key, version, this.txn.id);
    }
    let minTs = this.writesElsewhere(idx);
    let what = 'commits this session made through another TX engine';
    if (cons.mode === 'bounded_staleness') {
      const b = this.ctx.clock.now().latest - (cons.maxStalenessMs ?? 0);
      if (b > minTs) {
        minTs = b;
        what = `every commit up to now − ${cons.maxStalenessMs} ms`;
      }
    }
    const engine = this.ctx.txEngines[idx] as TxEngineApi;
    if (minTs <= 0 || cons.mode === 'eventual') return engine.get(t.name, key, version);
    try {
      return await engine.get(t.name, key, version, undefined, { minTs, timeoutMs: this.waitBudgetMs() });
    } catch (e) {
      if ((e as StratumError).code !== SqlState.queryCanceled) throw e;
      if (!cons.allowDegraded) {
        throw new StratumError(
          SqlState.queryCanceled,
          `table "${t.name}" (${cons.mode}): the read must include ${what} (${new Date(minTs).toISOString()}); ${(e as Error).message}`,
          { hint: 'Is the bus, a TX engine or ingestion down? allow_degraded: true answers such reads with a staleness notice.' },
        );
      }
      const rv = await engine.get(t.name, key, version);
      notices.push({
        severity: 'NOTICE',
        code: '01000',
        message: `table "${t.name}" (${cons.mode}, allow_degraded): answered without ${what}; it may be stale by up to ${Math.max(0, Math.round(this.ctx.clock.now().latest - minTs))} ms or more`,
      });
      return rv;
    }
  }

  /**
   * What an analytical read of `names` must include, per table mode (DESIGN §6): nothing
   * (eventual), every commit up to now().latest − max_staleness_ms (bounded_staleness), what the
   * session wrote or read (monotonic_reads), every commit acknowledged before now (strict).
   * @throws StratumError 40001 for a strict table while this router's clock is unsynchronized
   *   (unless allow_degraded, which then reads without the real-time guarantee).
   */
  private requirements(refs: { name: string; alias: string }[], where?: Node, params: Params = []): Requirement[] {
    const out: Requirement[] = [];
    this.skipped = [];
    const seen = new Set<string>();
    const now = this.ctx.clock.now();
    for (const { name, alias } of refs) {
      const base = name.replace(/__history$/, '');
      if (seen.has(base)) continue;
      seen.add(base);
      const t = this.ctx.catalog.find(base);
      if (!t) continue;
      const c = t.options.consistency;
      const r = { table: base, mode: c.mode, allowDegraded: c.allowDegraded };
      // DESIGN §7: a time range that ends before the ingestion tier's retention skips that tier.
      const col = t.options.timeColumn;
      const hi = refs.length === 1 ? timeRangeOf(t, where, params, alias, true)?.hiMs : undefined;
      const keep = t.options.ingestionRetentionMs ?? 7 * 86_400_000;
      if (hi !== undefined && hi < now.earliest - keep && !this.tableWrites.has(base) && !this.txn?.tables.has(base)) {
        this.skipped.push(
          `${base}: ${col} ends ${new Date(hi).toISOString()}, before now − ingestion_retention (${keep} ms): row tiers skipped, OLAP files only`,
        );
        continue;
      }
      if (c.mode === 'monotonic_reads') {
        const ts = this.seenTs;
        if (ts > 0) out.push({ ...r, ts, what: 'what this session wrote or read before (its session token)' });
      } else if (c.mode === 'bounded_staleness') {
        out.push({ ...r, ts: now.latest - (c.maxStalenessMs ?? 0), what: `every commit up to now − ${c.maxStalenessMs} ms` });
      } else if (c.mode === 'strict_serializable') {
        if (!this.ctx.clock.synchronized() || !Number.isFinite(now.latest)) {
          const why = this.ctx.clock.unsynchronizedReason?.() || `ε ${this.ctx.clock.eps()} ms`;
          if (!c.allowDegraded) {
            throw new StratumError(
              SqlState.serializationFailure,
              `table "${base}" (strict_serializable): read refused: this router's clock is unsynchronized (${why}), so "every commit acknowledged before the read" has no bound`,
              { hint: 'Retry once the clock service is reachable again; see the stratum_clock_* metrics.' },
            );
          }
          out.push({ ...r, ts: Number.POSITIVE_INFINITY, what: 'every commit acknowledged before the read (clock unsynchronized)' });
        } else out.push({ ...r, ts: now.latest, what: 'every commit acknowledged before the read began (now().latest)' });
      }
    }
    return out;
  }

  /**
   * Wait until every ingestion watermark meets the requirements, up to the statement's wait budget.
   * @returns NOTICEs for tables served degraded (allow_degraded) with their possible staleness.
   * @throws StratumError 57014 naming the first table whose mode was not met, the mode, the
   *   timestamp it needed and the watermark reached.
   */
  private async meet(reqs: Requirement[]): Promise<Notice[]> {
    const budget = this.waitBudgetMs();
    const deadline = performance.now() + budget;
    // An unbounded requirement (strict, clock unsynchronized, allow_degraded) cannot be met by
    // waiting: wait for the bounded ones only.
    const need = reqs.reduce((m, r) => (Number.isFinite(r.ts) ? Math.max(m, r.ts) : m), 0);
    const w = await this.ctx.watermarks.waitFor(need, deadline);
    const unmet = reqs.filter((r) => r.ts > w);
    const hard = unmet.find((r) => !r.allowDegraded);
    const wm = (ms: number) => (ms < 0 ? 'none yet' : Number.isFinite(ms) ? new Date(ms).toISOString() : 'unbounded');
    if (hard) {
      throw new StratumError(
        SqlState.queryCanceled,
        `table "${hard.table}" (${hard.mode}): the read must include ${hard.what} (${wm(hard.ts)}), but the ingestion watermark reached only ${wm(w)} within ${Math.round(budget)} ms`,
        { hint: 'Is the bus, a TX engine or ingestion down? allow_degraded: true answers such reads with a staleness notice.' },
      );
    }
    const now = this.ctx.clock.now().latest;
    return unmet.map((r) => ({
      severity: 'NOTICE' as const,
      code: '01000',
      message: `table "${r.table}" (${r.mode}, allow_degraded): answered from watermark ${wm(w)}, without ${r.what}; rows may be stale by up to ${w < 0 ? 'an unknown time' : `${Math.max(0, Math.round(now - w))} ms`}`,
    }));
  }

  /** Consistency modes of the user tables among `refs` (DESIGN §6), distinct. */
  private modesOf(refs: TableRef[]): string[] {
    const out = new Set<string>();
    for (const r of refs) {
      const t = this.ctx.catalog.find(r.name.replace(/__history$/, ''));
      if (t) out.add(t.options.consistency.mode);
    }
    return [...out];
  }

  /**
   * EXPLAIN [ANALYZE] of a SELECT: the tier that serves it and why, the consistency modes of its
   * tables, the read timestamp and the ingestion watermarks consulted; for a statement one OLAP
   * shard runs whole, DuckDB's plan from that shard. ANALYZE runs the statement and adds rows
   * and time. One text column "QUERY PLAN", as PostgreSQL.
   * @throws 0A000 for EXPLAIN of anything but a SELECT.
   */
  private async explain(p: ParsedStatement, s: Node, params: Params): Promise<StatementResult> {
    const analyze = ((s.options ?? []) as Node[]).some((o) => o.DefElem?.defname === 'analyze');
    const sel = (s.query as Node | undefined)?.SelectStmt as Node | undefined;
    if (!sel) throw new UnsupportedError("EXPLAIN supports SELECT statements only (writes always go to the session's TX engine)");
    const lines: string[] = [];
    const ctes = new Set<string>();
    const rels: Node[] = [];
    collect(sel, rels, ctes);
    const refs: TableRef[] = rels
      .filter((r) => !(ctes.has(relName(r)) && !r.schemaname))
      .map((r) => ({ name: relName(r), alias: relAlias(r), topLevel: ((sel.fromClause ?? []) as Node[]).some((f) => f.RangeVar === r) }));
    for (const r of refs) {
      if (!SYSTEM_TABLE_NAMES.has(r.name) && !this.ctx.catalog.find(r.name.replace(/__history$/, ''))) {
        throw new SchemaError(SqlState.undefinedTable, `relation "${r.name}" does not exist`);
      }
    }
    const point = pointRead(this.ctx.catalog, sel, params);
    let whole: string | undefined;
    if (point) {
      lines.push(
        this.asOfMs === undefined
          ? `Stratum point read of ${point.table.name} by ${point.keys ? `a short key list (${point.keys.length} keys, each read by its primary key)` : 'its full primary key'} → TX engine (${point.table.options.consistency.mode === 'strict_serializable' ? "the key's owning engine" : "the session's"}; falls back to ingestion for rows it never held or evicted)`
          : `Stratum point read of ${point.table.name} as of ${new Date(this.asOfMs).toISOString()} → the ingestion engine of the key's partition (OLAP when that time is before its GC horizon)`,
      );
    } else {
      const plan = this.ctx.olap.plan(sel, refs, params);
      whole = plan.whole;
      lines.push(
        whole
          ? `Stratum analytical read → OLAP shard ${whole}, whole statement`
          : "Stratum analytical read → OLAP scatter/gather, finished in the router's DuckDB",
      );
      lines.push(`  reason: ${plan.reason}`);
      if (!whole)
        for (const [t, ids] of plan.placement)
          lines.push(`  scan ${t} on ${ids.join(', ')} (projection and single-table conjuncts pushed down)`);
    }
    const modes = this.modesOf(refs);
    if (modes.length > 0) lines.push(`  consistency: ${modes.join(', ')} (table_consistency)`);
    if (!point && this.asOfMs === undefined) {
      try {
        const reqs = this.requirements(refs, sel.whereClause, params);
        for (const r of reqs)
          lines.push(
            `  waits for the ingestion watermark to reach ${new Date(r.ts).toISOString()}: table ${r.table} (${r.mode}) must include ${r.what}`,
          );
        for (const sk of this.skipped) lines.push(`  time range: ${sk}`);
      } catch (e) {
        lines.push(`  mode not met now: ${(e as Error).message}`);
      }
    }
    const statuses = await Promise.all(this.ctx.ingestion.map(async (i) => ({ id: i.id, st: await i.api.status() })));
    const wm = (ms: number) => (ms < 0 ? 'none yet' : new Date(ms).toISOString());
    lines.push(
      this.asOfMs !== undefined
        ? `  read timestamp: as of ${new Date(this.asOfMs).toISOString()} (stratum.as_of; waits for every watermark to pass it)`
        : this.lastCommitTs > 0 && refs.length > 0 && !point
          ? `  read timestamp: the newest merged state, after the watermark passes this session's last commit ${wm(this.lastCommitTs)}`
          : '  read timestamp: the newest state of the serving tier',
    );
    lines.push(`  watermarks: ${statuses.map((x) => `${x.id} = ${wm(x.st.watermark)}`).join(', ') || 'none'}`);
    if (analyze) {
      // The SELECT alone, at the same byte positions (the EXPLAIN prefix blanked), so AST locations still hold.
      const prefix = /^\s*EXPLAIN\s*(?:\([^)]*\)\s*|ANALY[SZ]E\s+|VERBOSE\s+)*/i.exec(p.sql)?.[0].length ?? 0;
      const bytes = Buffer.from(p.bytes);
      bytes.fill(0x20, 0, prefix);
      const inner: ParsedStatement = { ...p, kind: 'SelectStmt', stmt: { SelectStmt: sel }, sql: bytes.toString('utf8'), bytes };
      const t0 = performance.now();
      const r = await this.select(inner, sel, params);
      lines.push(`  actual: ${r.rows?.length ?? 0} rows in ${(performance.now() - t0).toFixed(3)} ms`);
    } else if (whole) {
      const shard = this.ctx.olap.shards.find((x) => x.id === whole);
      if (shard) {
        const res = await shard.api.query(
          spliceSessionFunctions(p, this),
          params.map((v) => v),
          this.ctx.catalog.version,
          {},
        );
        lines.push(`DuckDB plan on ${whole}:`);
        for (const row of res.rows)
          for (const cell of row) if (typeof cell === 'string') for (const l of cell.split('\n')) if (l.trim()) lines.push(`  ${l}`);
      }
    }
    mStatements.inc({ kind: 'ExplainStmt', tier: 'router' });
    return { commandTag: 'EXPLAIN', fields: [field('QUERY PLAN', 25)], rows: lines.map((l) => [l]) };
  }

  /** The lowest watermark over the ingestion engines (ms), read once for all sessions waiting now. */
  private minWatermark(): Promise<number> {
    return this.ctx.watermarks.current();
  }

  /**
   * A row as of `asOfMs` from the ingestion engine that owns its partition, or 'olap' when that
   * engine's GC may already have removed versions that old (DESIGN §4 "GC"): OLAP then holds it.
   */
  private async readAsOf(t: TableInfo, key: Literal[], asOfMs: number): Promise<RowVersion | null | 'olap'> {
    const k = key.map((v, i) => coerceLiteral(v, t.columns[t.pkIndexes[i] ?? 0]?.type ?? 'text'));
    const part = partitionOf(t.name, k, this.ctx.partitions);
    const ing = this.ctx.ingestion.find((i) => i.partitions.includes(part));
    if (!ing) return 'olap';
    const st = await ing.api.status();
    const horizon = st.gcHorizonMs;
    if (horizon !== undefined && asOfMs < horizon) return 'olap';
    await this.waitForAsOf(asOfMs);
    const [rv] = await ing.api.getMany(t.name, [k], asOfMs);
    return rv ?? null;
  }

  /**
   * Wait until every ingestion watermark has passed `stratum.as_of` (the state at that time is
   * then complete), up to the statement's wait budget.
   * @throws StratumError 57014 naming the watermark reached.
   */
  private async waitForAsOf(ts: number): Promise<void> {
    const budget = this.waitBudgetMs();
    const w = await this.ctx.watermarks.waitFor(ts, performance.now() + budget);
    if (w >= ts) return;
    throw new StratumError(
      SqlState.queryCanceled,
      `ingestion watermark ${w < 0 ? 'none yet' : new Date(w).toISOString()} did not reach stratum.as_of ${new Date(ts).toISOString()} within ${Math.round(budget)} ms; is the bus, a TX engine or ingestion down?`,
    );
  }

  private async set(s: Node): Promise<StatementResult> {
    if (s.kind === 'VAR_RESET' || s.kind === 'VAR_RESET_ALL') {
      if (s.name) this.settings[s.name] = DEFAULT_SETTINGS[s.name] ?? '';
      if (s.kind === 'VAR_RESET_ALL' || String(s.name).toLowerCase() === 'stratum.as_of') {
        this.asOfMs = undefined;
        this.settings['stratum.as_of'] = '';
      }
      return { commandTag: 'RESET' };
    }
    if (s.kind === 'VAR_SET_MULTI') {
      // SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ...
      const isolation = isolationOf(s.args, this.settings.default_transaction_isolation ?? 'repeatable read');
      if (s.name === 'TRANSACTION') {
        const t = this.txn;
        if (!t) {
          return {
            commandTag: 'SET',
            notices: [{ severity: 'WARNING', code: '25P01', message: 'SET TRANSACTION can only be used in transaction blocks' }],
          };
        }
        if (t.isolation !== isolation) {
          if (t.used) throw new StratumError('25001', 'SET TRANSACTION ISOLATION LEVEL must be called before any query');
          await this.blockEngine(t).rollback(t.id);
          t.id = await this.blockEngine(t).begin(isolation);
          t.isolation = isolation;
        }
      } else this.settings.default_transaction_isolation = isolation === 'serializable' ? 'serializable' : 'repeatable read';
      return { commandTag: 'SET' };
    }
    if (s.kind !== 'VAR_SET_VALUE' && s.kind !== 'VAR_SET_CURRENT' && s.kind !== 'VAR_SET_DEFAULT') {
      return { commandTag: 'SET' };
    }
    const name = String(s.name).toLowerCase();
    const value =
      s.kind === 'VAR_SET_DEFAULT'
        ? (DEFAULT_SETTINGS[name] ?? '')
        : ((s.args ?? []) as Node[])
            .map((a) => {
              const v = a.A_Const ? literalOf(a, []) : a.TypeCast ? literalOf(a.TypeCast.arg, []) : '';
              return String(v);
            })
            .join(', ');
    if (name === 'timezone' && !/^(utc|gmt|z|etc\/utc|\+?0+|00:00)$/i.test(value.trim())) {
      throw new StratumError(SqlState.invalidParameterValue, `time zone "${value}" is not supported: Stratum sessions run in UTC`);
    }
    if (name === 'client_encoding' && !/^(utf-?8|unicode)$/i.test(value.trim())) {
      throw new StratumError(SqlState.invalidParameterValue, `client encoding "${value}" is not supported: use UTF8`);
    }
    if (name === 'statement_timeout' && !/^\d+$/.test(value.trim())) {
      throw new StratumError(
        SqlState.invalidParameterValue,
        `invalid value for parameter "statement_timeout": "${value}" (give milliseconds)`,
      );
    }
    if (name === 'stratum.as_of') {
      this.setAsOf(value);
      return { commandTag: 'SET' };
    }
    if (name === 'stratum.session_token') {
      if (value.trim() !== '') this.adoptToken(value);
      return { commandTag: 'SET' };
    }
    if (name === 'default_transaction_isolation' || name === 'transaction_isolation') {
      const v = value.trim().toLowerCase();
      if (!['serializable', 'repeatable read', 'read committed', 'read uncommitted'].includes(v)) {
        throw new StratumError(SqlState.invalidParameterValue, `invalid value for parameter "${name}": "${value}"`);
      }
      if (name === 'transaction_isolation') {
        return this.set({
          kind: 'VAR_SET_MULTI',
          name: 'TRANSACTION',
          args: [{ DefElem: { defname: 'transaction_isolation', arg: { A_Const: { sval: { sval: v } } } } }],
        });
      }
    }
    this.settings[name] = name === 'timezone' ? 'UTC' : value;
    const out: StatementResult = { commandTag: 'SET' };
    const rep = REPORTED[name];
    if (rep) out.parameterStatus = { [rep]: this.settings[name] ?? '' };
    return out;
  }

  /**
   * `SET stratum.as_of = '<timestamp>'` (ISO 8601 / PostgreSQL timestamp text; no zone = UTC;
   * '' or DEFAULT turns it off). Refused inside a transaction block that wrote.
   * @throws 22007 for text that is not a timestamp, 22008 for a time in the future.
   */
  setAsOf(value: string): void {
    const v = value.trim();
    if (v === '' || v.toLowerCase() === 'default' || v.toLowerCase() === 'off') {
      this.asOfMs = undefined;
      this.settings['stratum.as_of'] = '';
      return;
    }
    const ms = parseTimestampMs(v);
    if (ms === undefined) {
      throw new StratumError(
        SqlState.invalidDatetimeFormat,
        `invalid input syntax for stratum.as_of: "${value}" (expected a timestamp such as 2026-11-22 10:00:00+00)`,
      );
    }
    if (ms > Date.now()) {
      throw new StratumError('22008', `stratum.as_of ${value} is in the future: the state at that time is not known yet`);
    }
    if (this.txn?.wrote) throw new StratumError('25001', 'cannot set stratum.as_of after writes in this transaction block');
    this.asOfMs = ms;
    this.settings['stratum.as_of'] = new Date(ms).toISOString();
  }

  private show(s: Node): StatementResult {
    const name = String(s.name).toLowerCase();
    if (name === 'stratum.consistency') {
      // Per-table consistency from `table_consistency` (reloaded with the config), one row per table.
      const rows = this.ctx.catalog
        .list()
        .map((t) => [
          t.name,
          t.options.consistency.mode,
          t.options.consistency.maxStalenessMs?.toString() ?? null,
          t.options.consistency.allowDegraded ? 'on' : 'off',
        ]);
      rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      return {
        commandTag: 'SHOW',
        fields: [field('table_name', 25), field('mode', 25), field('max_staleness_ms', 25), field('allow_degraded', 25)],
        rows,
      };
    }
    let v: string | undefined;
    if (name === 'server_version') v = this.ctx.serverVersion;
    else if (name === 'stratum.session_token') v = this.token();
    else if (name === 'transaction_isolation') {
      const iso = this.txn
        ? this.txn.isolation
        : this.settings.default_transaction_isolation === 'serializable'
          ? 'serializable'
          : 'repeatable_read';
      v = iso === 'serializable' ? 'serializable' : 'repeatable read';
    } else if (name === 'all') {
      const rows = Object.entries(this.settings).map(([k, val]) => [k, val]);
      return { commandTag: `SHOW`, fields: [field('name', 25), field('setting', 25)], rows };
    } else v = this.settings[name];
    if (v === undefined) throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${s.name}"`);
    return { commandTag: 'SHOW', fields: [field(name, 25)], rows: [[v]] };
  }

  /** BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE / ROLLBACK TO (PostgreSQL semantics). */
  private async transaction(s: Node): Promise<StatementResult> {
    const k = s.kind as string;
    const warn = (code: string, message: string) => [{ severity: 'WARNING' as const, code, message }];
    switch (k) {
      case 'TRANS_STMT_BEGIN':
      case 'TRANS_STMT_START': {
        if (this.txn) return { commandTag: 'BEGIN', notices: warn('25001', 'there is already a transaction in progress') };
        const isolation = isolationOf(s.options, this.settings.default_transaction_isolation ?? 'repeatable read');
        const id = await this.engine.begin(isolation);
        this.txn = {
          id,
          isolation,
          failed: false,
          wrote: false,
          noticed: false,
          used: false,
          tables: new Set(),
          engine: this.engineIdx,
          pinned: false,
        };
        return { commandTag: 'BEGIN' };
      }
      case 'TRANS_STMT_COMMIT': {
        const t = this.txn;
        if (!t) return { commandTag: 'COMMIT', notices: warn('25P01', 'there is no transaction in progress') };
        this.txn = undefined;
        if (t.failed) {
          await this.blockEngine(t).rollback(t.id);
          return { commandTag: 'ROLLBACK' };
        }
        const r = await this.blockEngine(t)
          .commit(t.id)
          .catch((e) => this.committedAnyway(e, t.engine, [...t.tables]));
        this.noteWrite(t.engine, r.commitTs, t.tables);
        mStatements.inc({ kind: 'Commit', tier: 'tx' });
        return withTxNotices({ commandTag: r.rolledBack ? 'ROLLBACK' : 'COMMIT' }, r);
      }
      case 'TRANS_STMT_ROLLBACK': {
        const t = this.txn;
        if (!t) return { commandTag: 'ROLLBACK', notices: warn('25P01', 'there is no transaction in progress') };
        this.txn = undefined;
        await this.blockEngine(t).rollback(t.id);
        return { commandTag: 'ROLLBACK' };
      }
      case 'TRANS_STMT_SAVEPOINT':
      case 'TRANS_STMT_RELEASE':
      case 'TRANS_STMT_ROLLBACK_TO': {
        const t = this.txn;
        const what = k === 'TRANS_STMT_SAVEPOINT' ? 'SAVEPOINT' : k === 'TRANS_STMT_RELEASE' ? 'RELEASE' : 'ROLLBACK';
        if (!t)
          throw new StratumError('25P01', `${what === 'ROLLBACK' ? 'ROLLBACK TO SAVEPOINT' : what} can only be used in transaction blocks`);
        const name = s.savepoint_name as string;
        t.pinned = true; // the savepoint lives on this engine
        try {
          await this.blockEngine(t).savepoint(
            t.id,
            name,
            k === 'TRANS_STMT_SAVEPOINT' ? 'set' : k === 'TRANS_STMT_RELEASE' ? 'release' : 'rollback',
          );
        } catch (e) {
          t.failed = true;
          throw e;
        }
        if (k === 'TRANS_STMT_ROLLBACK_TO') t.failed = false;
        return { commandTag: what };
      }
      default:
        throw new UnsupportedError('two-phase commit (PREPARE TRANSACTION / COMMIT PREPARED) is not supported');
    }
  }

  /** server_version this router reports. */
  serverVersion(): string {
    return this.ctx.serverVersion;
  }

  /** Session settings (SHOW / current_setting). */
  setting(name: string): string | undefined {
    return this.settings[name.toLowerCase()];
  }
}

/** A statement result with the TX engine's warnings (e.g. a degraded strict write) as NOTICEs. */
function withTxNotices(out: StatementResult, r: TxResult): StatementResult {
  if (r.notices?.length)
    out.notices = [...(out.notices ?? []), ...r.notices.map((m) => ({ severity: 'WARNING' as const, code: '01000', message: m }))];
  return out;
}

function field(name: string, typeOid: number): FieldDescription {
  return { name, typeOid };
}

/** Convert an OLAP result to text-format rows. */
export function toStatementResult(res: QueryResult): StatementResult {
  const fields = res.columns.map((c) => field(c.name, pgTypeOid(c.type) ?? 25));
  const types = res.columns.map((c) => c.type);
  const rows = res.rows.map((r) => r.map((v, i) => formatValue(v, types[i] ?? 'text')));
  return { commandTag: `SELECT ${rows.length}`, fields, rows };
}

function relName(rel: Node): string {
  return rel.relname as string;
}

function relAlias(rel: Node): string {
  return (rel.alias?.aliasname as string | undefined) ?? (rel.relname as string);
}

function charPos(p: ParsedStatement, byteLoc: number | undefined): number {
  return p.bytes.subarray(0, byteLoc ?? 0).toString('utf8').length + 1;
}

function statementName(kind: string): string {
  return kind
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/** Highest $n used in a statement. */
function maxParam(n: unknown): number {
  let max = 0;
  const walk = (x: unknown) => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x && typeof x === 'object') {
      const o = x as Node;
      if (o.ParamRef) max = Math.max(max, o.ParamRef.number ?? 0);
      for (const v of Object.values(o)) walk(v);
    }
  };
  walk(n);
  return max;
}

/** Collect RangeVar nodes and CTE names of a statement tree. */
function collect(n: unknown, rels: Node[], ctes: Set<string>): void {
  if (Array.isArray(n)) {
    for (const x of n) collect(x, rels, ctes);
    return;
  }
  if (!n || typeof n !== 'object') return;
  const o = n as Node;
  if (o.RangeVar) rels.push(o.RangeVar);
  if (o.CommonTableExpr?.ctename) ctes.add(o.CommonTableExpr.ctename);
  for (const v of Object.values(o)) collect(v, rels, ctes);
}

/**
 * The primary-key values of a WHERE clause that is exactly `pk1 = v1 AND pk2 = v2 ...`.
 * @throws UnsupportedError for other predicates (UPDATE/DELETE go by primary key).
 */
function keyFromWhere(t: TableInfo, where: Node | undefined, params: Params, alias: string, what: string): Literal[] {
  const key = matchKey(t, where, params, alias);
  if (!key) {
    throw new UnsupportedError(
      `${what} must identify one row by its full primary key: WHERE ${t.primaryKey.map((k) => `${k} = …`).join(' AND ')}`,
      {
        hint: 'Range and multi-row updates are not supported yet.',
      },
    );
  }
  return key;
}

function matchKey(t: TableInfo, where: Node | undefined, params: Params, alias: string): Literal[] | undefined {
  if (!where) return undefined;
  const conj: Node[] = where.BoolExpr?.boolop === 'AND_EXPR' ? (where.BoolExpr.args as Node[]) : [where];
  const found = new Map<string, Literal>();
  for (const c of conj) {
    const e = c.A_Expr;
    if (e?.kind !== 'AEXPR_OP' || qualifiedName(e.name) !== '=') return undefined;
    let col = columnName(e.lexpr, alias);
    let val: Node = e.rexpr;
    if (!col) {
      col = columnName(e.rexpr, alias);
      val = e.lexpr;
    }
    if (!col || !t.primaryKey.includes(col) || found.has(col)) return undefined;
    if (!(val.A_Const || val.ParamRef || val.TypeCast || (val.A_Expr && !val.A_Expr.lexpr))) return undefined;
    found.set(col, literalOf(val, params));
  }
  if (found.size !== t.primaryKey.length) return undefined;
  return t.primaryKey.map((k) => found.get(k) ?? null);
}

function columnName(e: Node | undefined, alias: string): string | undefined {
  const f = e?.ColumnRef?.fields as Node[] | undefined;
  if (!f) return undefined;
  if (f.length === 1) return f[0]?.String?.sval;
  if (f.length === 2 && f[0]?.String?.sval === alias) return f[1]?.String?.sval;
  return undefined;
}

interface PointRead {
  table: TableInfo;
  key: Literal[];
  /** A short key list (`pk IN (…)`, at most {@link MAX_KEY_LIST} distinct keys), read key by key from the row tiers. */
  keys?: Literal[][];
  columns: { name: string; column: string }[];
}

/** Longest `pk IN (…)` list served by point reads at the row tiers (DESIGN §7: short key ranges); longer lists scan OLAP. */
const MAX_KEY_LIST = 64;

/**
 * Elements of a one-dimensional PostgreSQL array literal (`{1,2}`, `{"a b","c\\"d",NULL}`;
 * PostgreSQL 15 §8.15.6), as text or null; undefined when `text` is not one.
 */
export function parsePgArray(text: string): (string | null)[] | undefined {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  const body = t.slice(1, -1);
  const out: (string | null)[] = [];
  if (body.trim() === '') return out;
  let i = 0;
  while (i <= body.length) {
    while (body[i] === ' ') i++;
    if (body[i] === '{') return undefined; // nested arrays
    let v = '';
    let quoted = false;
    if (body[i] === '"') {
      quoted = true;
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        v += body[i] ?? '';
        i++;
      }
      if (body[i] !== '"') return undefined;
      i++;
    } else {
      while (i < body.length && body[i] !== ',') v += body[i++];
      v = v.trim();
      if (v === '' || v.includes('"') || v.includes('\\')) return undefined;
    }
    while (body[i] === ' ') i++;
    out.push(!quoted && v.toUpperCase() === 'NULL' ? null : v);
    if (i >= body.length) break;
    if (body[i] !== ',') return undefined;
    i++;
  }
  return out;
}

/** The array parameter of `x = ANY($n)` / `x = ANY($n::type[])`: its elements, or undefined. */
function anyArrayParam(e: Node, params: Params): { number: number; items: (string | null)[] } | undefined {
  if (e.kind !== 'AEXPR_OP_ANY' && e.kind !== 'AEXPR_OP_ALL') return undefined;
  const ref = (e.rexpr?.ParamRef ?? e.rexpr?.TypeCast?.arg?.ParamRef) as Node | undefined;
  const n = ref?.number as number | undefined;
  const v = n === undefined ? undefined : params[n - 1];
  const items = typeof v === 'string' ? parsePgArray(v) : undefined;
  return n !== undefined && items ? { number: n, items } : undefined;
}

/** Keys of `WHERE pk IN (c1, c2, …)` or `WHERE pk = ANY($n)` (an array parameter) on a one-column primary key, distinct, in list order. */
function matchKeyList(t: TableInfo, where: Node | undefined, params: Params, alias: string): Literal[][] | undefined {
  const e = where?.A_Expr;
  if (t.primaryKey.length !== 1 || !e || qualifiedName(e.name) !== '=') return undefined;
  if (columnName(e.lexpr, alias) !== t.primaryKey[0]) return undefined;
  if (e.kind === 'AEXPR_OP_ANY') {
    const arr = anyArrayParam(e, params);
    if (!arr || arr.items.length === 0 || arr.items.length > MAX_KEY_LIST || arr.items.includes(null)) return undefined;
    return [...new Set(arr.items as string[])].map((k) => [k]);
  }
  if (e.kind !== 'AEXPR_IN') return undefined;
  const items = e.rexpr?.List?.items as Node[] | undefined;
  if (!items || items.length === 0 || items.length > MAX_KEY_LIST) return undefined;
  const out: Literal[][] = [];
  const seen = new Set<string>();
  for (const v of items) {
    if (!(v.A_Const || v.ParamRef || v.TypeCast || (v.A_Expr && !v.A_Expr.lexpr))) return undefined;
    const lit = literalOf(v, params);
    const k = JSON.stringify(lit, (_, x) => (typeof x === 'bigint' ? x.toString() : x));
    if (seen.has(k)) continue;
    seen.add(k);
    out.push([lit]);
  }
  return out;
}

/** A SELECT that reads one row by its full primary key (served by the row tiers). */
function pointRead(catalog: Catalog, s: Node, params: Params): PointRead | undefined {
  if (s.op !== 'SETOP_NONE' || s.withClause || s.groupClause || s.havingClause || s.distinctClause || s.windowClause) return undefined;
  if (s.intoClause || s.lockingClause || s.limitOffset || s.limitCount || s.valuesLists) return undefined;
  const from = s.fromClause as Node[] | undefined;
  if (from?.length !== 1 || !from[0]?.RangeVar) return undefined;
  const rv = from[0].RangeVar;
  const t = catalog.find(rv.relname);
  if (!t || rv.schemaname) return undefined;
  const alias = relAlias(rv);
  let key = matchKey(t, s.whereClause, params, alias);
  let keys: Literal[][] | undefined;
  if (!key && !s.sortClause) {
    // A key list answers in no particular order: with ORDER BY it is an analytical read.
    keys = matchKeyList(t, s.whereClause, params, alias);
    key = keys?.[0];
  }
  if (!key) return undefined;
  const columns: PointRead['columns'] = [];
  for (const rt of (s.targetList ?? []) as Node[]) {
    const f = rt.ResTarget?.val?.ColumnRef?.fields as Node[] | undefined;
    if (!f) return undefined;
    const last = f[f.length - 1];
    if (f.length === 2 && f[0]?.String?.sval !== alias) return undefined;
    if (f.length > 2) return undefined;
    if (last?.A_Star) {
      for (const c of t.columns) columns.push({ name: c.name, column: c.name });
    } else {
      const col = last?.String?.sval as string;
      if (!t.columnIndex.has(col)) return undefined; // let the OLAP path report 42703 with DuckDB's message
      columns.push({ name: (rt.ResTarget.name as string | undefined) ?? col, column: col });
    }
  }
  return keys ? { table: t, key, keys, columns } : { table: t, key, columns };
}

/** Milliseconds since epoch of timestamp text (ISO 8601 or `YYYY-MM-DD HH:MM:SS[.fff][+zz[:zz]]`; no zone = UTC). */
export function parseTimestampMs(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  if (!m) return undefined;
  let zone = m[3] ?? 'Z';
  if (/^(z|utc)$/i.test(zone)) zone = 'Z';
  else if (/^[+-]\d{2}$/.test(zone)) zone = `${zone}:00`;
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const time = (m[2] ?? '00:00:00').replace(/\.(\d{1,3})\d*$/, '.$1');
  const ms = Date.parse(`${m[1]}T${time.length === 5 ? `${time}:00` : time}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Replace calls whose answer belongs to the session, not to DuckDB (version(), current_user,
 * current_database(), current_schema(), current_setting('x'), pg_backend_pid()), by literals,
 * using the byte locations of the AST.
 */
function spliceSessionFunctions(p: ParsedStatement, s: RouterSession): string {
  return spliceForDuckDb(p, s, []).sql;
}

/**
 * The statement's text for DuckDB: session functions replaced by their values (see
 * {@link spliceSessionFunctions}) and array parameters of `x = ANY($n)` / `ALL($n)` (text in
 * PostgreSQL's array form, as drivers send arrays) inlined as typed DuckDB lists, the other
 * parameters renumbered.
 * @returns the text and the parameters it still uses.
 */
function spliceForDuckDb(p: ParsedStatement, s: RouterSession, params: Params, tables: TableInfo[] = []): { sql: string; params: Params } {
  const edits: { at: number; len: number; text: string }[] = [];
  /** Inlined array parameters: number → the list literal that replaces every `$n`. */
  const inlined = new Map<number, string>();
  const refs: { at: number; number: number }[] = [];
  const bytes = p.bytes;
  const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const callEnd = (from: number): number => {
    let depth = 0;
    for (let i = from; i < bytes.length; i++) {
      const ch = bytes[i];
      if (ch === 0x28) depth++;
      else if (ch === 0x29) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return bytes.length;
  };
  const walk = (x: unknown) => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    if (!x || typeof x !== 'object') return;
    const o = x as Node;
    if (o.FuncCall) {
      const name = qualifiedName(o.FuncCall.funcname).replace(/^pg_catalog\./, '');
      const at = (o.FuncCall.location as number) - p.offset;
      const args = (o.FuncCall.args ?? []) as Node[];
      let text: string | undefined;
      if (name === 'version' && args.length === 0)
        text = quote(
          `PostgreSQL ${s.serverVersion()} (Stratum 0.1.0) on x86_64-pc-linux-gnu, compiled by Node.js ${process.version}, 64-bit`,
        );
      else if (name === 'current_database' && args.length === 0) text = quote(s.database);
      else if (name === 'current_schema' && args.length === 0) text = quote('public');
      else if (name === 'pg_backend_pid' && args.length === 0) text = String(process.pid);
      else if (name === 'current_setting' && args.length >= 1 && args[0]?.A_Const?.sval) {
        const v = s.setting(args[0].A_Const.sval.sval);
        if (v === undefined) {
          throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${args[0].A_Const.sval.sval}"`);
        }
        text = quote(v);
      }
      if (text !== undefined && at >= 0) {
        edits.push({ at, len: callEnd(at) - at, text });
        return;
      }
    }
    if (o.ParamRef && typeof o.ParamRef.number === 'number') {
      refs.push({ at: ((o.ParamRef.location as number | undefined) ?? 0) - p.offset, number: o.ParamRef.number as number });
    }
    if (o.A_Expr && params.length > 0) {
      const arr = anyArrayParam(o.A_Expr, params);
      const ref = (o.A_Expr.rexpr?.ParamRef ?? o.A_Expr.rexpr?.TypeCast?.arg?.ParamRef) as Node | undefined;
      if (arr && ref) {
        const col = (o.A_Expr.lexpr?.ColumnRef?.fields as Node[] | undefined)?.at(-1)?.String?.sval as string | undefined;
        // Element type: the compared column's, when the statement's tables agree on it; else text
        // (an explicit `$n::type[]` cast converts it).
        const types = new Set(
          o.A_Expr.rexpr?.TypeCast || !col
            ? []
            : tables.flatMap((t) => t.columns.filter((c) => c.name === col).map((c) => duckdbType(c.type))),
        );
        const type = types.size === 1 ? ([...types][0] as string) : 'VARCHAR';
        const list = `[${arr.items.map((v) => (v === null ? 'NULL' : quote(v))).join(', ')}]`;
        if (!inlined.has(arr.number)) inlined.set(arr.number, `CAST(${list} AS ${type}[])`);
      }
    }
    if (o.SQLValueFunction) {
      const op = o.SQLValueFunction.op as string;
      const at = (o.SQLValueFunction.location as number) - p.offset;
      const m = /^SVFOP_(CURRENT_USER|SESSION_USER|USER|CURRENT_ROLE|CURRENT_CATALOG|CURRENT_SCHEMA)$/.exec(op);
      if (m && at >= 0) {
        const kw = /^[a-z_]+/i.exec(bytes.subarray(at, at + 32).toString('latin1'))?.[0] ?? '';
        const val = m[1] === 'CURRENT_CATALOG' ? s.database : m[1] === 'CURRENT_SCHEMA' ? 'public' : s.user;
        edits.push({ at, len: kw.length, text: quote(val) });
        return;
      }
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(p.stmt);
  let rest: Params = params;
  for (const r of refs) {
    const text = inlined.get(r.number);
    if (text !== undefined && r.at >= 0) edits.push({ at: r.at, len: `$${r.number}`.length, text });
  }
  if (inlined.size > 0) {
    // DuckDB numbers the parameters it still sees from $1: renumber the others.
    const renum = new Map<number, number>();
    const kept: (typeof params)[number][] = [];
    params.forEach((v, i) => {
      if (!inlined.has(i + 1)) {
        kept.push(v);
        renum.set(i + 1, kept.length);
      }
    });
    rest = kept;
    for (const r of refs) {
      if (inlined.has(r.number) || r.at < 0) continue;
      const to = renum.get(r.number);
      if (to !== undefined && to !== r.number) edits.push({ at: r.at, len: `$${r.number}`.length, text: `$${to}` });
    }
  }
  if (edits.length === 0) return { sql: p.sql, params: rest };
  edits.sort((a, b) => a.at - b.at);
  const parts: Buffer[] = [];
  let pos = 0;
  for (const e of edits) {
    parts.push(bytes.subarray(pos, e.at), Buffer.from(e.text));
    pos = e.at + e.len;
  }
  parts.push(bytes.subarray(pos));
  return { sql: Buffer.concat(parts).toString('utf8'), params: rest };
}

/**
 * Result column names as PostgreSQL gives them (`FigureColname` in parse_target.c): the alias,
 * else the column or function name, else `?column?`. Undefined when the target list has a `*`
 * (then DuckDB's names stand) or the statement is a set operation.
 */
export function pgColumnNames(s: Node): string[] | undefined {
  const sel = s.op && s.op !== 'SETOP_NONE' ? undefined : s;
  if (!sel?.targetList) return undefined;
  const out: string[] = [];
  for (const rt of sel.targetList as Node[]) {
    const r = rt.ResTarget;
    if (!r) return undefined;
    if (r.val?.ColumnRef?.fields?.some((f: Node) => f.A_Star)) return undefined;
    out.push(r.name ?? figureColname(r.val) ?? '?column?');
  }
  return out;
}

function figureColname(e: Node | undefined): string | undefined {
  if (!e) return undefined;
  if (e.ColumnRef) {
    const f = e.ColumnRef.fields as Node[];
    return f[f.length - 1]?.String?.sval;
  }
  if (e.FuncCall) {
    const n = e.FuncCall.funcname as Node[];
    return n[n.length - 1]?.String?.sval;
  }
  if (e.TypeCast) return figureColname(e.TypeCast.arg) ?? typeNameOf(e.TypeCast.typeName).replace(/^.*\./, '');
  if (e.CaseExpr) return 'case';
  if (e.CoalesceExpr) return 'coalesce';
  if (e.MinMaxExpr) return e.MinMaxExpr.op === 'IS_GREATEST' ? 'greatest' : 'least';
  if (e.NullIfExpr) return 'nullif';
  if (e.A_ArrayExpr) return 'array';
  if (e.RowExpr) return 'row';
  if (e.SQLValueFunction) {
    const op = String(e.SQLValueFunction.op)
      .replace(/^SVFOP_/, '')
      .toLowerCase();
    return op.replace(/_n$/, '');
  }
  if (e.SubLink) {
    const t = e.SubLink.subLinkType;
    if (t === 'EXISTS_SUBLINK') return 'exists';
    if (t === 'ARRAY_SUBLINK') return 'array';
    if (t === 'EXPR_SUBLINK') return pgColumnNames(e.SubLink.subselect?.SelectStmt ?? {})?.[0];
  }
  return undefined;
}

/**
 * Isolation requested by BEGIN's options (or the session default). READ UNCOMMITTED / READ
 * COMMITTED / REPEATABLE READ all get snapshot isolation (at least as strong; PostgreSQL itself
 * maps READ UNCOMMITTED up); SERIALIZABLE gets commit-time read-set validation, never less.
 */
function isolationOf(options: Node[] | undefined, dflt: string): IsolationLevel {
  let level = dflt;
  for (const o of options ?? []) {
    const d = o.DefElem;
    if (d?.defname === 'transaction_isolation') level = String(d.arg?.A_Const?.sval?.sval ?? level);
    if (d?.defname === 'transaction_deferrable') continue;
  }
  return level.toLowerCase() === 'serializable' ? 'serializable' : 'repeatable_read';
}
