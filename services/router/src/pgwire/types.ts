/**
 * Contract between the PostgreSQL wire-protocol front end (`server.ts`) and the SQL
 * layer behind it. The wire layer knows framing, startup, authentication, the simple
 * and extended query protocols and value formats; it knows nothing about tables.
 *
 * Protocol reference: PostgreSQL 15 docs, chapter 55 "Frontend/Backend Protocol".
 */

/** A column of a result set, as sent in RowDescription. */
export interface FieldDescription {
  /** Column name shown to the client. */
  name: string;
  /** PostgreSQL type OID (e.g. 20 int8, 23 int4, 25 text, 701 float8, 16 bool, 1114 timestamp, 1184 timestamptz, 2950 uuid, 1700 numeric). */
  typeOid: number;
  /** Type size in bytes as in pg_type.typlen (-1 for varlena). Optional: derived from typeOid when absent. */
  typeSize?: number;
  /** Table OID and attribute number; 0 when not a plain table column. */
  tableOid?: number;
  columnAttr?: number;
  /**
   * pg_attribute.atttypmod, sent as given; -1 (the default) when the type has no modifier.
   * PostgreSQL's encodings: varchar(n) and char(n) → n + 4; numeric(p,s) → ((p << 16) | s) + 4;
   * time(p), timestamp(p), interval(p) → p.
   */
  typeModifier?: number;
}

/** A NOTICE/WARNING sent to the client before the statement completes. */
export interface Notice {
  severity: 'NOTICE' | 'WARNING' | 'INFO' | 'DEBUG' | 'LOG';
  /** SQLSTATE, e.g. '01000' for warning, '00000' for notice. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** Outcome of one executed statement. */
export interface StatementResult {
  /** CommandComplete tag, e.g. 'SELECT 3', 'INSERT 0 2', 'UPDATE 1', 'CREATE TABLE'. */
  commandTag: string;
  /** Present when the statement returns rows (SELECT, SHOW, RETURNING...). Empty array allowed. */
  fields?: FieldDescription[];
  /** Row values in PostgreSQL *text* format (null = SQL NULL); one inner array per row, same order as `fields`. */
  rows?: (string | null)[][];
  /** Notices to send before CommandComplete. */
  notices?: Notice[];
  /** ParameterStatus messages to send (e.g. after SET TimeZone). */
  parameterStatus?: Record<string, string>;
  /**
   * DEALLOCATE ran: the prepared statement to drop (null = every named one). SQL's DEALLOCATE and
   * the protocol's Parse share one namespace (psqlODBC deallocates its `_PLAN…` statements so).
   */
  deallocate?: string | null;
}

/** What `prepare` learned about a statement without executing it. */
export interface PreparedInfo {
  /**
   * Parameter type OIDs for $1..$n (n = highest placeholder used). 0 = unknown (sent as 25 text).
   * A type the client declared in Parse (non-zero) wins over this one: it is what ParameterDescription
   * reports and how binary parameters are decoded, as in PostgreSQL.
   */
  paramTypeOids: number[];
  /**
   * Result columns if known before execution; `null` when the statement returns no rows (COPY included);
   * `undefined` when only execution can tell (the wire layer then executes on Describe and buffers).
   */
  fields?: FieldDescription[] | null;
  /**
   * With `fields` undefined: the result columns as the planner types them, which Describe of the
   * prepared statement reports (PostgreSQL describes a statement before any Bind, and clients
   * such as postgres.js read every row by that description). Describe of a portal still runs it.
   */
  statementFields?: FieldDescription[];
  /** Opaque handle the SQL layer wants back in `execute` (e.g. its parsed AST). */
  handle: unknown;
}

/**
 * Error carried to the client as an ErrorResponse. Anything else thrown by the SQL layer
 * is reported as XX000 internal_error with its message.
 */
export interface PgErrorLike {
  /** SQLSTATE, five characters. */
  code: string;
  message: string;
  severity?: 'ERROR' | 'FATAL';
  detail?: string;
  hint?: string;
  /** 1-based character position in the query string, when known. */
  position?: number;
  /**
   * Context of the error (ErrorResponse field 'W', shown by psql as CONTEXT), e.g.
   * `COPY t, line 3, column b: "x"`. Lines are separated by newlines, innermost first.
   */
  where?: string;
}

/** Data format of a COPY (the FORMAT option). */
export type CopyFormat = 'text' | 'csv' | 'binary';

/**
 * What `execute` returns for `COPY … FROM STDIN` (PostgreSQL 15 §55.2.6 "COPY Operations"). The wire
 * layer answers CopyInResponse and feeds the client's CopyData to `write`, in order, one call at a
 * time. Exactly one of `end` (CopyDone) or `fail` (CopyFail, a protocol error, the connection closing)
 * is called, unless `write` rejected: then the COPY is over and nothing else is called. The sink must
 * make nothing of a failed COPY visible. `createCopyInSink` in `../copy/` builds one from a row consumer.
 */
export interface CopyInSink {
  readonly kind: 'copy-in';
  /** Overall format: CopyInResponse says binary (1) for 'binary', textual (0) otherwise. */
  readonly format: CopyFormat;
  /** One format code per copied column (0 text/csv, 1 binary), sent in CopyInResponse. */
  readonly columnFormats: readonly number[];
  /**
   * One CopyData payload. Chunks split rows and multi-byte characters anywhere. The wire layer awaits
   * the promise before the next message (input backpressure). Rejecting (a PgErrorLike, e.g. 22P04
   * with `where`) ends the COPY with that ErrorResponse; later CopyData/CopyDone/CopyFail are dropped.
   */
  write(chunk: Buffer): Promise<void>;
  /** CopyDone: finish and store the rows atomically; resolves to the result (tag `COPY n`). Rejecting fails the COPY. */
  end(): Promise<StatementResult>;
  /**
   * The COPY is abandoned: `message` is the client's CopyFail text, or why the wire layer gave up.
   * Discard everything; the wire layer reports the error itself (57014 for CopyFail).
   */
  fail(message: string): Promise<void>;
}

/**
 * What `execute` returns for `COPY … TO STDOUT` (§55.2.6). The wire layer answers CopyOutResponse,
 * sends each buffer of `data()` as one CopyData message (flushing with socket backpressure), then
 * CopyDone and the CommandComplete of `end()`. If `data()` throws, an ErrorResponse replaces CopyDone.
 * If the connection closes mid-way, iteration stops (the iterator's `return` runs) and `end` is not called.
 * `createCopyOutSource` in `../copy/` builds one from text rows.
 */
export interface CopyOutSource {
  readonly kind: 'copy-out';
  readonly format: CopyFormat;
  /** One format code per column (0 text/csv, 1 binary), sent in CopyOutResponse. */
  readonly columnFormats: readonly number[];
  /** CopyData payloads in order: one row each, as PostgreSQL sends (binary: the file header precedes the first row, the trailer is last). */
  data(): AsyncIterable<Buffer>;
  /** After `data()` is exhausted: the result (tag `COPY n`, notices). */
  end(): Promise<StatementResult>;
}

/** Transaction status reported in ReadyForQuery: idle, in a transaction block, or in a failed block. */
export type TxStatus = 'I' | 'T' | 'E';

/** One client connection's SQL session. All methods may throw a PgErrorLike. */
export interface PgSession {
  /** The session's backend pid (pg_backend_pid()), sent in BackendKeyData when set. */
  readonly backendPid?: number;
  /**
   * Split a simple-query string into statements, parsing each (syntax errors throw 42601).
   * Returns one prepared handle per statement, in order; empty array for an empty query.
   */
  splitSimpleQuery(sql: string): Promise<PreparedInfo[]>;
  /** Parse message: analyse one statement. `paramTypeOids` are what the client declared (0 = unspecified). */
  prepare(sql: string, paramTypeOids: number[]): Promise<PreparedInfo>;
  /**
   * Execute a prepared statement with text-format parameter values (binary parameters are
   * decoded to text by the wire layer; null = SQL NULL). `maxRows` is the Execute row limit (0 = all);
   * the wire layer handles portal suspension itself, so the SQL layer may ignore it.
   * `COPY … FROM STDIN` returns a {@link CopyInSink} and `COPY … TO STDOUT` a {@link CopyOutSource}
   * (both in the simple and the extended protocol); everything else a {@link StatementResult}.
   */
  execute(stmt: PreparedInfo, params: (string | null)[]): Promise<StatementResult | CopyInSink | CopyOutSource>;
  /** Current transaction status for ReadyForQuery. */
  /** ParameterStatus values to report after authentication (TimeZone, DateStyle, …), by reported name; absent: the defaults. */
  reportedSettings?(): Record<string, string>;
  txStatus(): TxStatus;
  /** CancelRequest for this session arrived (best effort). */
  cancel(): void;
  /** Connection ended (Terminate, socket close or error). Must roll back any open transaction. */
  close(): Promise<void>;
}

/** Startup information for a new connection. */
export interface SessionStartup {
  user: string;
  database: string;
  /** All StartupMessage parameters (application_name, client_encoding, options, ...). */
  params: Record<string, string>;
  remoteAddress: string;
}

/** The SQL layer as seen by the wire server. */
export interface PgBackend {
  /** Open a session after authentication succeeded. Throwing refuses the connection (e.g. 3D000 unknown database). */
  openSession(startup: SessionStartup): Promise<PgSession>;
}

/** Authentication policy. */
export type PgAuthConfig =
  | { method: 'trust' }
  /** SCRAM-SHA-256 (RFC 5802/7677) against plaintext passwords held in config. */
  | { method: 'scram-sha-256'; users: Record<string, string> };

/** Options of the wire server. */
export interface PgWireOptions {
  host: string;
  port: number;
  /**
   * Front-end threads (docs/architecture.md, "Threads"): accept on this already listening socket
   * of another thread of the process instead of binding `host:port`. Such a server never closes
   * the socket (its owner does); `close()` stops accepting and ends the connections.
   */
  listenFd?: number;
  /**
   * Forward CancelRequests for keys this server does not hold to the other front-end threads
   * (and act on theirs), over a BroadcastChannel of this name.
   */
  cancelChannel?: string;
  backend: PgBackend;
  auth: PgAuthConfig;
  /** Largest accepted frontend message in bytes; larger ones are skipped and answered with 54000. Default 16 MiB + 1 KiB framing headroom. */
  maxMessageBytes?: number;
  /** server_version reported in ParameterStatus. Default '15.0'. */
  serverVersion?: string;
  /** Called for every connection-level error (malformed messages etc.) for logging. */
  onProtocolError?: (err: Error, remoteAddress: string) => void;
}
