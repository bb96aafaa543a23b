/**
 * A client session of the router: parses each statement with the PostgreSQL grammar,
 * classifies it and sends it to the tier that answers it (DESIGN §7):
 * DDL → catalog stream; INSERT/UPDATE/DELETE → the session's TX engine; point reads by
 * full primary key → TX engine (which falls back to ingestion); everything else that
 * reads → OLAP shard (Parquet + ingestion delta) in DuckDB.
 *
 * Read-your-writes (the default `monotonic_reads` mode, DESIGN §6): an analytical read
 * waits until the ingestion watermark has passed the session's last commit timestamp.
 */
import {
  type Catalog,
  type ColumnDef,
  columnOf,
  counter,
  formatValue,
  type IngestionApi,
  type Literal,
  type OlapShardApi,
  PG_TYPE_OID,
  type QueryResult,
  resolveTypeName,
  SchemaError,
  SqlState,
  StratumError,
  type TableDef,
  type TableInfo,
  type TxEngineApi,
  type TxResult,
  UnsupportedError,
  validateTableDef,
  type WriteOp,
} from '@stratum/shared';
import type { FieldDescription, PgSession, PreparedInfo, StatementResult, TxStatus } from './pgwire/types.ts';
import { literalOf, type Params, toExpr, typeNameOf } from './sql/literal.ts';
import { type Node, type ParsedStatement, parseSql, qualifiedName } from './sql/parse.ts';

const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);
const mErrors = counter('stratum_router_errors_total', 'Statements that failed, by SQLSTATE', ['code']);

/** What a session needs from the rest of the system. */
export interface RouterContext {
  catalog: Catalog;
  /** Publish a DDL event; resolves with its catalog version. */
  publishDdl(table: TableDef): Promise<number>;
  txEngines: TxEngineApi[];
  ingestion: IngestionApi[];
  olap: OlapShardApi;
  statementTimeoutMs: number;
  maxStatementBytes: number;
  serverVersion: string;
  /** Next TX engine index for a new session (round robin). */
  pickEngine(): number;
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

/** One session (one pgwire connection or one HTTP request sequence). */
export class RouterSession implements PgSession {
  private readonly settings: Record<string, string> = { ...DEFAULT_SETTINGS };
  private readonly engine: TxEngineApi;
  /** Highest commit timestamp this session wrote (ms); reads must include it. */
  lastCommitTs = 0;

  constructor(
    private readonly ctx: RouterContext,
    readonly user: string,
    readonly database: string,
    params: Record<string, string> = {},
  ) {
    const i = ctx.pickEngine();
    const e = ctx.txEngines[i % ctx.txEngines.length];
    if (!e) throw new StratumError(SqlState.connectionFailure, 'no TX engine is configured');
    this.engine = e;
    if (params.application_name) this.settings.application_name = params.application_name;
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
    return parseSql(sql).map((p) => this.prepared(p));
  }

  async prepare(sql: string, _paramTypeOids: number[]): Promise<PreparedInfo> {
    this.checkSize(sql);
    const list = parseSql(sql);
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
    try {
      return await this.withTimeout(this.run(parsed, params));
    } catch (e) {
      mErrors.inc({ code: (e as StratumError).code ?? 'XX000' });
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
    return 'I';
  }

  cancel(): void {}

  async close(): Promise<void> {}

  /** Execute one parsed statement. */
  async run(p: ParsedStatement, params: Params): Promise<StatementResult> {
    const s = p.stmt[p.kind] as Node;
    switch (p.kind) {
      case 'Empty':
        return { commandTag: '' };
      case 'CreateStmt':
        return this.createTable(s);
      case 'InsertStmt':
        return this.insert(s, params);
      case 'UpdateStmt':
        return this.update(s, params);
      case 'DeleteStmt':
        return this.remove(s, params);
      case 'SelectStmt':
        return this.select(p, s, params);
      case 'VariableSetStmt':
        return this.set(s);
      case 'VariableShowStmt':
        return this.show(s);
      case 'TransactionStmt':
        return this.transaction(s);
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
    const r = await this.engine.execute({ catalogVersion: this.ctx.catalog.version, ops });
    if (r.commitTs > this.lastCommitTs) this.lastCommitTs = r.commitTs;
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
    return { commandTag: `INSERT 0 ${r.counts[0] ?? 0}` };
  }

  private async update(s: Node, params: Params): Promise<StatementResult> {
    const t = this.table(s.relation);
    if (s.fromClause || s.returningList) throw new UnsupportedError('UPDATE ... FROM / RETURNING is not supported yet');
    const key = keyFromWhere(t, s.whereClause, params, relAlias(s.relation), 'UPDATE');
    const set = (s.targetList as Node[]).map((rt) => {
      const name = rt.ResTarget.name as string;
      columnOf(t, name);
      return { column: name, expr: toExpr(rt.ResTarget.val, params) };
    });
    const r = await this.write([{ kind: 'update', table: t.name, key, set }]);
    mStatements.inc({ kind: 'UpdateStmt', tier: 'tx' });
    return { commandTag: `UPDATE ${r.counts[0] ?? 0}` };
  }

  private async remove(s: Node, params: Params): Promise<StatementResult> {
    const t = this.table(s.relation);
    if (s.usingClause || s.returningList) throw new UnsupportedError('DELETE ... USING / RETURNING is not supported yet');
    const key = keyFromWhere(t, s.whereClause, params, relAlias(s.relation), 'DELETE');
    const r = await this.write([{ kind: 'delete', table: t.name, key }]);
    mStatements.inc({ kind: 'DeleteStmt', tier: 'tx' });
    return { commandTag: `DELETE ${r.counts[0] ?? 0}` };
  }

  private async select(p: ParsedStatement, s: Node, params: Params): Promise<StatementResult> {
    const ctes = new Set<string>();
    const rels: Node[] = [];
    collect(s, rels, ctes);
    for (const r of rels) {
      const name = relName(r);
      if (ctes.has(name) && !r.schemaname) continue;
      const base = name.endsWith('__history') ? name.slice(0, -'__history'.length) : name;
      if (!this.ctx.catalog.find(base)) {
        throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`, { position: charPos(p, r.location) });
      }
    }
    const point = pointRead(this.ctx.catalog, s, params);
    if (point) {
      mStatements.inc({ kind: 'SelectStmt', tier: 'tx' });
      const rv = await this.engine.get(point.table.name, point.key, this.ctx.catalog.version);
      const cols = point.columns.map((c) => columnOf(point.table, c.column));
      const fields = point.columns.map((c, i) => field(c.name, PG_TYPE_OID[cols[i]!.type]));
      const rows = rv?.row ? [cols.map((c) => formatValue(rv.row![c.name] ?? null, c.type))] : [];
      return { commandTag: `SELECT ${rows.length}`, fields, rows };
    }
    // Analytical: OLAP files + ingestion delta; first make sure the session's own writes are in.
    if (rels.length > 0 && this.lastCommitTs > 0) await this.waitForWatermark(this.lastCommitTs);
    mStatements.inc({ kind: 'SelectStmt', tier: rels.length ? 'olap' : 'local' });
    const sql = spliceSessionFunctions(p, this);
    const lits: Literal[] = params.map((v) => v);
    const res = await this.ctx.olap.query(sql, lits, this.ctx.catalog.version);
    const names = pgColumnNames(s);
    if (names && names.length === res.columns.length) res.columns = res.columns.map((c, i) => ({ ...c, name: names[i] ?? c.name }));
    return toStatementResult(res);
  }

  private async waitForWatermark(ts: number): Promise<void> {
    const deadline = Date.now() + this.ctx.statementTimeoutMs;
    for (;;) {
      let min = Number.POSITIVE_INFINITY;
      for (const i of this.ctx.ingestion) min = Math.min(min, (await i.status()).watermark);
      if (min >= ts) return;
      if (Date.now() > deadline) {
        throw new StratumError(
          SqlState.queryCanceled,
          `read-your-writes: ingestion watermark ${min} did not reach this session's last commit ${ts} within ${this.ctx.statementTimeoutMs} ms (mode monotonic_reads); is the bus or ingestion down?`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private set(s: Node): StatementResult {
    if (s.kind === 'VAR_RESET' || s.kind === 'VAR_RESET_ALL') {
      if (s.name) this.settings[s.name] = DEFAULT_SETTINGS[s.name] ?? '';
      return { commandTag: 'RESET' };
    }
    if (s.kind !== 'VAR_SET_VALUE' && s.kind !== 'VAR_SET_CURRENT' && s.kind !== 'VAR_SET_DEFAULT') {
      // SET TRANSACTION / SESSION CHARACTERISTICS: only the isolation level we provide is accepted.
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
    this.settings[name] = name === 'timezone' ? 'UTC' : value;
    const out: StatementResult = { commandTag: 'SET' };
    const rep = REPORTED[name];
    if (rep) out.parameterStatus = { [rep]: this.settings[name] ?? '' };
    return out;
  }

  private show(s: Node): StatementResult {
    const name = String(s.name).toLowerCase();
    let v: string | undefined;
    if (name === 'server_version') v = this.ctx.serverVersion;
    else if (name === 'all') {
      const rows = Object.entries(this.settings).map(([k, val]) => [k, val]);
      return { commandTag: `SHOW`, fields: [field('name', 25), field('setting', 25)], rows };
    } else v = this.settings[name];
    if (v === undefined) throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${s.name}"`);
    return { commandTag: 'SHOW', fields: [field(name, 25)], rows: [[v]] };
  }

  private transaction(s: Node): StatementResult {
    const k = s.kind as string;
    if (k === 'TRANS_STMT_COMMIT' || k === 'TRANS_STMT_ROLLBACK') {
      return {
        commandTag: k === 'TRANS_STMT_COMMIT' ? 'COMMIT' : 'ROLLBACK',
        notices: [{ severity: 'WARNING', code: '25P01', message: 'there is no transaction in progress' }],
      };
    }
    throw new UnsupportedError('transaction blocks (BEGIN ... COMMIT) are not supported yet: every statement commits on its own', {
      hint: 'Run statements in autocommit mode.',
    });
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

function field(name: string, typeOid: number): FieldDescription {
  return { name, typeOid };
}

/** Convert an OLAP result to text-format rows. */
export function toStatementResult(res: QueryResult): StatementResult {
  const fields = res.columns.map((c) => field(c.name, PG_TYPE_OID[c.type] ?? 25));
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
  columns: { name: string; column: string }[];
}

/** A SELECT that reads one row by its full primary key (served by the row tiers). */
function pointRead(catalog: Catalog, s: Node, params: Params): PointRead | undefined {
  if (s.op !== 'SETOP_NONE' || s.withClause || s.groupClause || s.havingClause || s.distinctClause || s.windowClause) return undefined;
  if (s.intoClause || s.lockingClause || s.limitOffset || s.valuesLists) return undefined;
  const from = s.fromClause as Node[] | undefined;
  if (from?.length !== 1 || !from[0]?.RangeVar) return undefined;
  const rv = from[0].RangeVar;
  const t = catalog.find(rv.relname);
  if (!t || rv.schemaname) return undefined;
  const alias = relAlias(rv);
  const key = matchKey(t, s.whereClause, params, alias);
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
  return { table: t, key, columns };
}

/**
 * Replace calls whose answer belongs to the session, not to DuckDB (version(), current_user,
 * current_database(), current_schema(), current_setting('x'), pg_backend_pid()), by literals,
 * using the byte locations of the AST.
 */
function spliceSessionFunctions(p: ParsedStatement, s: RouterSession): string {
  const edits: { at: number; len: number; text: string }[] = [];
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
  if (edits.length === 0) return p.sql;
  edits.sort((a, b) => a.at - b.at);
  const parts: Buffer[] = [];
  let pos = 0;
  for (const e of edits) {
    parts.push(bytes.subarray(pos, e.at), Buffer.from(e.text));
    pos = e.at + e.len;
  }
  parts.push(bytes.subarray(pos));
  return Buffer.concat(parts).toString('utf8');
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
