/**
 * Per-connection state machine: startup, authentication, simple and extended query protocol.
 *
 * Protocol reference: PostgreSQL 15 docs §55.2 "Message Flow" (startup §55.2.1, simple query
 * §55.2.2, extended query §55.2.3, COPY §55.2.6, cancellation §55.2.7, termination §55.2.8) and §55.7.
 */
import type { Socket } from 'node:net';
import { decodeBinaryParam, encodeBinaryValue, supportsBinary, type TextSettings } from './binary-format.ts';
import {
  CANCEL_REQUEST_CODE,
  encodeDataRow,
  type Frame,
  FrameReader,
  GSSENC_REQUEST_CODE,
  backendMessage as msg,
  PayloadReader,
  SSL_REQUEST_CODE,
} from './codec.ts';
import { PgError, ProtocolViolation, toPgErrorLike } from './errors.ts';
import { SCRAM_MECHANISM, ScramServerExchange } from './scram.ts';
import type {
  CopyInSink,
  CopyOutSource,
  FieldDescription,
  PgErrorLike,
  PgSession,
  PgWireOptions,
  PreparedInfo,
  StatementResult,
} from './types.ts';

/** Services a {@link Connection} gets from the server that accepted it. */
export interface ConnectionHost {
  readonly options: PgWireOptions;
  /** Effective frontend message size limit in bytes. */
  readonly maxMessageBytes: number;
  /**
   * Allocate BackendKeyData (process id, secret key) and register the connection for
   * CancelRequest; `preferred`: the session's backend pid, used when no other connection has it.
   */
  register(conn: Connection, preferred?: number): { pid: number; secret: number };
  /** Route a CancelRequest to the matching connection, if any (§55.2.7). */
  cancel(pid: number, secret: number): void;
  /** The connection's socket closed; forget it. */
  release(conn: Connection): void;
}

/** Time allowed from connect until ReadyForQuery, like PostgreSQL's authentication_timeout. */
const AUTH_TIMEOUT_MS = 60_000;
/** Pending output size that triggers a socket write while streaming rows. */
const FLUSH_BYTES = 64 * 1024;
/** Queued input that pauses reading from the socket. */
const INPUT_HIGH_WATER = 1024 * 1024;
/** Grace period between ending our side of a socket and destroying it. */
const LINGER_MS = 2000;

const T = (c: string) => c.charCodeAt(0);

/** A prepared statement (Parse). `paramOids[i]` is the effective type of $i+1 (0 = unspecified). */
interface Statement {
  sql: string;
  /** Empty query string: Execute answers EmptyQueryResponse. */
  empty: boolean;
  info: PreparedInfo;
  paramOids: number[];
}

/** What executing a statement gives: rows and a tag, or a COPY to run. */
type ExecResult = StatementResult | CopyInSink | CopyOutSource;

const isCopy = (r: ExecResult): r is CopyInSink | CopyOutSource => 'kind' in r && (r.kind === 'copy-in' || r.kind === 'copy-out');

/** A portal (Bind): a statement with parameter values, executed at most once and buffered for suspension. */
interface Portal {
  stmt: Statement;
  params: (string | null)[];
  /** Result format codes exactly as sent in Bind (0, 1 or one per column). */
  formatCodes: number[];
  result?: ExecResult;
  /** Rows already sent by Execute. */
  sent: number;
  suspended: boolean;
  done: boolean;
}

/** Outgoing byte batcher honouring socket backpressure. */
class Output {
  private parts: Buffer[] = [];
  size = 0;

  constructor(private readonly socket: Socket) {}

  push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  /** Write everything pending; waits for 'drain' (or 'close') when the socket buffer is full. */
  async flush(): Promise<void> {
    if (this.size === 0) return;
    const data = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    const s = this.socket;
    if (s.destroyed || !s.writable) return;
    if (s.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  }
}

/** PostgreSQL's error for a statement stopped by a CancelRequest. */
const CANCELED: PgErrorLike = { code: '57014', message: 'canceling statement due to user request' };

const isFatal = (e: unknown) => e instanceof ProtocolViolation || toPgErrorLike(e).severity === 'FATAL';

/** Replace the row count at the end of a command tag ('SELECT 10' → 'SELECT 3'). */
const retag = (tag: string, rows: number) => tag.replace(/\d+$/, String(rows));

/**
 * One client connection. Frames are decoded as they arrive and handled strictly in order by a
 * single async pump; nothing is thrown out of socket handlers. `closed` resolves once the socket
 * is gone and `PgSession.close()` (called exactly once) has settled.
 */
export class Connection {
  /** Resolves when the connection is fully cleaned up. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly remote: string;
  private readonly framer: FrameReader;
  private readonly out: Output;
  private queue: Frame[] = [];
  private queuedBytes = 0;
  private pumping = false;
  private phase: 'startup' | 'auth' | 'ready' = 'startup';
  /** Our side is ending (FATAL sent, Terminate, shutdown): no more frames are handled. */
  private ending = false;
  private socketClosed = false;
  private finished = false;
  private shutdownRequested = false;
  private authTimer: NodeJS.Timeout | undefined;
  private user = '';
  private database = '';
  private startupParams: Record<string, string> = {};
  private scram: ScramServerExchange | null = null;
  private scramStarted = false;
  private session: PgSession | null = null;
  /** After an error in an extended-protocol message: ignore everything until Sync (§55.2.3). */
  private discarding = false;
  /** Copy-in mode (§55.2.6): CopyData/CopyDone/CopyFail go to this sink. */
  private copyIn: { sink: CopyInSink; extended: boolean; portal: Portal | null } | null = null;
  /** A CancelRequest arrived during copy-in or copy-out. */
  private copyCancelled = false;
  private copyingOut = false;
  /** DateStyle, TimeZone and IntervalStyle as last announced in ParameterStatus. */
  private textSettings: TextSettings = {};
  /** The statements of the current simple Query not yet run (a COPY FROM STDIN pauses them). */
  private simple: { stmts: PreparedInfo[]; next: number } | null = null;
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.remote = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    this.framer = new FrameReader(host.maxMessageBytes);
    this.out = new Output(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      /* ECONNRESET etc.: 'close' follows and cleans up */
    });
    socket.on('close', () => {
      this.socketClosed = true;
      this.queue = [];
      clearTimeout(this.authTimer);
      if (!this.pumping) this.background(this.finish());
    });
    this.authTimer = setTimeout(() => {
      if (this.phase === 'ready' || this.ending) return;
      if (this.pumping) this.socket.destroy();
      else this.background(this.terminate({ code: '08P01', message: 'canceling authentication due to timeout' }));
    }, AUTH_TIMEOUT_MS);
    this.authTimer.unref();
  }

  /** Server shutdown: idle connections get FATAL 57P01 and are ended; busy ones after their current message. */
  shutdown(): void {
    this.shutdownRequested = true;
    if (!this.pumping && !this.ending && !this.socketClosed) this.background(this.terminateForShutdown());
  }

  /** Hard stop (shutdown grace period elapsed): destroy the socket and cancel a running statement. */
  destroy(): void {
    this.socket.destroy();
    if (this.pumping) this.cancel();
  }

  /** CancelRequest matched this connection's key (§55.2.7). */
  cancel(): void {
    try {
      this.session?.cancel();
    } catch (e) {
      this.report(e);
    }
    // A COPY is a statement too: copy-in stops at once (or after the CopyData being stored), copy-out before its next row.
    if (this.copyIn || this.copyingOut) {
      this.copyCancelled = true;
      // The pump handles it in order with the messages (it may be idle, waiting for CopyData).
      if (this.copyIn) this.background(this.pump());
    }
  }

  /** Fail copy-in with 57014 when a CancelRequest arrived for it (called by the pump only, between messages). */
  private async checkCopyCancel(): Promise<void> {
    if (!this.copyCancelled || !this.copyIn || this.ending || this.socketClosed) return;
    this.copyCancelled = false;
    await this.copyInFailed(CANCELED, CANCELED.message);
  }

  // ------------------------------------------------------------------ plumbing

  private onData(chunk: Buffer): void {
    if (this.ending || this.socketClosed) return;
    try {
      for (const f of this.framer.push(chunk)) {
        this.queue.push(f);
        if (f.kind === 'message' || f.kind === 'startup') this.queuedBytes += f.payload.length;
      }
      if (this.queuedBytes > INPUT_HIGH_WATER) this.socket.pause();
      this.background(this.pump());
    } catch (e) {
      this.report(e);
      this.socket.destroy();
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        await this.checkCopyCancel();
        while (this.queue.length > 0 && !this.ending && !this.socketClosed) {
          const f = this.queue.shift() as Frame;
          if (f.kind === 'message' || f.kind === 'startup') this.queuedBytes -= f.payload.length;
          await this.handle(f);
          await this.checkCopyCancel();
        }
        await this.out.flush();
        if (this.queue.length === 0 || this.ending || this.socketClosed) break;
      }
    } catch (e) {
      this.report(e);
      this.socket.destroy();
    } finally {
      this.pumping = false;
      if (this.copyCancelled && this.copyIn && !this.socketClosed && !this.ending) this.background(this.pump());
      if (this.socketClosed) this.background(this.finish());
      else if (this.shutdownRequested && !this.ending) this.background(this.terminateForShutdown());
      else if (this.socket.isPaused() && !this.ending) this.socket.resume();
    }
  }

  private async handle(f: Frame): Promise<void> {
    try {
      switch (f.kind) {
        case 'violation':
          throw new ProtocolViolation(f.message);
        case 'startup':
          if (this.phase !== 'startup') throw new ProtocolViolation('unexpected startup packet');
          return await this.onStartupPacket(f.payload);
        case 'oversized':
          return await this.onOversized(f.type, f.length);
        case 'message':
          if (this.phase === 'auth') return await this.onAuthMessage(f.type, f.payload);
          return await this.onMessage(f.type, f.payload);
      }
    } catch (e) {
      if (e instanceof ProtocolViolation) {
        this.report(e);
        await this.terminate({ code: '08P01', message: e.message });
      } else {
        const err = toPgErrorLike(e);
        if (err.code === 'XX000') this.report(e);
        await this.terminate(err);
      }
    }
  }

  /** Send a FATAL ErrorResponse and end the connection. */
  private async terminate(err: PgErrorLike): Promise<void> {
    this.out.push(msg.errorResponse({ ...err, severity: 'FATAL' }));
    await this.endGracefully();
  }

  private async terminateForShutdown(): Promise<void> {
    await this.terminate({ code: '57P01', message: 'terminating connection due to administrator command' });
  }

  /** Flush, end our side, keep draining input until the peer closes; destroy after a grace period. */
  private async endGracefully(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    this.queue = [];
    clearTimeout(this.authTimer);
    try {
      await this.out.flush();
    } finally {
      this.socket.end();
      this.socket.resume();
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    }
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.host.release(this);
    const session = this.session;
    this.session = null;
    const copy = this.copyIn;
    this.copyIn = null;
    this.simple = null;
    try {
      await copy?.sink.fail('connection to client lost');
    } catch (e) {
      this.report(e);
    }
    try {
      await session?.close();
    } catch (e) {
      this.report(e);
    } finally {
      this.resolveClosed();
    }
  }

  /** Run a promise detached from any caller; a failure is reported and drops the socket. */
  private background(p: Promise<void>): void {
    p.catch((e: unknown) => {
      this.report(e);
      this.socket.destroy();
    });
  }

  private report(e: unknown): void {
    try {
      this.host.options.onProtocolError?.(e instanceof Error ? e : new Error(String(e)), this.remote);
    } catch {
      /* a failing logger must not take the connection down */
    }
  }

  // ------------------------------------------------------------------ startup & authentication

  private async onStartupPacket(payload: Buffer): Promise<void> {
    const r = new PayloadReader(payload, 'startup packet');
    const code = r.int32('protocol version');
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      r.end();
      this.out.push(Buffer.from('N'));
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      const pid = r.int32('process id');
      const secret = r.int32('secret key');
      r.end();
      this.host.cancel(pid, secret);
      await this.endGracefully();
      return;
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    if (major !== 3) {
      throw new PgError('0A000', `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`, { severity: 'FATAL' });
    }
    const entries: [string, string][] = [];
    const unrecognized: string[] = [];
    for (;;) {
      if (r.remaining === 0) throw new ProtocolViolation('invalid startup packet layout: expected terminator as last byte');
      const key = r.cstring('parameter name');
      if (key === '') break;
      const value = r.cstring('parameter value');
      if (key.startsWith('_pq_.')) unrecognized.push(key);
      else entries.push([key, value]);
    }
    r.end();
    if (minor > 0 || unrecognized.length > 0) this.out.push(msg.negotiateProtocolVersion(0, unrecognized));
    this.startupParams = Object.fromEntries(entries);
    const user = this.startupParams.user;
    if (!user) throw new PgError('28000', 'no PostgreSQL user name specified in startup packet', { severity: 'FATAL' });
    this.user = user;
    this.database = this.startupParams.database || user;
    this.phase = 'auth';
    const auth = this.host.options.auth;
    if (auth.method === 'trust') return this.completeAuth();
    this.scram = new ScramServerExchange(user, Object.hasOwn(auth.users, user) ? (auth.users[user] ?? null) : null);
    this.out.push(msg.authenticationSasl([SCRAM_MECHANISM]));
  }

  /** SASLInitialResponse, then SASLResponse ('p'), §55.3. */
  private async onAuthMessage(type: number, payload: Buffer): Promise<void> {
    if (type !== T('p') || !this.scram) {
      throw new ProtocolViolation(`expected SASL response, got message type ${type}`);
    }
    const r = new PayloadReader(payload, 'SASL response');
    if (!this.scramStarted) {
      const mechanism = r.cstring('mechanism');
      const len = r.int32('data length');
      if (len < 0) throw new PgError('08P01', 'malformed SCRAM message', { severity: 'FATAL', detail: 'missing client-first-message' });
      const data = r.bytes(len, 'client-first-message');
      r.end();
      if (mechanism !== SCRAM_MECHANISM) {
        throw new PgError('08P01', 'client selected an invalid SASL authentication mechanism', { severity: 'FATAL' });
      }
      this.scramStarted = true;
      this.out.push(msg.authenticationSaslContinue(this.scram.clientFirst(data.toString('utf8'))));
      return;
    }
    const serverFinal = await this.scram.clientFinal(r.rest().toString('utf8'));
    this.out.push(msg.authenticationSaslFinal(serverFinal));
    await this.completeAuth();
  }

  private async completeAuth(): Promise<void> {
    this.out.push(msg.authenticationOk());
    try {
      this.session = await this.host.options.backend.openSession({
        user: this.user,
        database: this.database,
        params: this.startupParams,
        remoteAddress: this.socket.remoteAddress ?? '',
      });
    } catch (e) {
      const { code, message, detail, hint } = toPgErrorLike(e);
      throw new PgError(code, message, { severity: 'FATAL', ...(detail ? { detail } : {}), ...(hint ? { hint } : {}) });
    }
    const status: [string, string][] = [
      ['server_version', this.host.options.serverVersion ?? '15.0'],
      ['server_encoding', 'UTF8'],
      ['client_encoding', 'UTF8'],
      ['DateStyle', 'ISO, MDY'],
      ['IntervalStyle', 'postgres'],
      ['TimeZone', 'UTC'],
      ['integer_datetimes', 'on'],
      ['standard_conforming_strings', 'on'],
      ['is_superuser', 'off'],
      ['session_authorization', this.user],
      ['application_name', this.startupParams.application_name ?? ''],
      ['default_transaction_read_only', 'off'],
      ['in_hot_standby', 'off'],
    ];
    const own = this.session.reportedSettings?.() ?? {};
    for (const [k, v] of status) this.parameterStatus(k, own[k] ?? v);
    const key = this.host.register(this, this.session.backendPid);
    this.out.push(msg.backendKeyData(key.pid, key.secret));
    this.out.push(msg.readyForQuery(this.session.txStatus()));
    this.phase = 'ready';
    this.scram = null;
    clearTimeout(this.authTimer);
  }

  // ------------------------------------------------------------------ ready phase

  private get sess(): PgSession {
    if (!this.session) throw new PgError('08006', 'no session');
    return this.session;
  }

  private async onOversized(type: number, length: number): Promise<void> {
    const err = new PgError('54000', `message of ${length} bytes exceeds the limit of ${this.host.maxMessageBytes} bytes`);
    if (this.phase !== 'ready') throw new ProtocolViolation(err.message);
    if (this.copyIn) return this.copyInFailed(err, err.message);
    if (this.discarding) return;
    this.out.push(msg.errorResponse(err));
    if (type === T('Q')) this.out.push(msg.readyForQuery(this.sess.txStatus()));
    else this.discarding = true;
  }

  private async onMessage(type: number, payload: Buffer): Promise<void> {
    if (this.copyIn) return this.onCopyInMessage(type, payload);
    const r = new PayloadReader(payload, String.fromCharCode(type));
    if (this.discarding && type !== T('S') && type !== T('X')) return;
    switch (type) {
      case T('Q'):
        return this.simpleQuery(r);
      case T('P'):
      case T('B'):
      case T('D'):
      case T('E'):
      case T('C'):
        try {
          await this.extended(type, r);
        } catch (e) {
          if (isFatal(e)) throw e;
          this.out.push(msg.errorResponse(toPgErrorLike(e)));
          this.discarding = true;
        }
        return;
      case T('S'):
        r.end();
        this.discarding = false;
        if (this.sess.txStatus() === 'I') this.portals.clear();
        this.out.push(msg.readyForQuery(this.sess.txStatus()));
        return this.out.flush();
      case T('H'):
        r.end();
        return this.out.flush();
      case T('X'):
        return this.endGracefully();
      case T('F'):
        this.out.push(msg.errorResponse({ code: '0A000', message: 'function call protocol is not supported' }));
        this.out.push(msg.readyForQuery(this.sess.txStatus()));
        return this.out.flush();
      case T('d'):
      case T('c'):
      case T('f'):
        return; // copy messages outside COPY are ignored, as PostgreSQL does
      default:
        throw new ProtocolViolation(`unexpected message type '${String.fromCharCode(type)}' after authentication`);
    }
  }

  /** Query ('Q'), §55.2.2. */
  private async simpleQuery(r: PayloadReader): Promise<void> {
    const sql = r.cstring('query string');
    r.end();
    this.statements.delete('');
    this.portals.delete('');
    this.simple = null;
    try {
      const stmts = await this.sess.splitSimpleQuery(sql);
      if (stmts.length === 0) this.out.push(msg.emptyQueryResponse());
      this.simple = { stmts, next: 0 };
    } catch (e) {
      if (isFatal(e)) throw e;
      this.out.push(msg.errorResponse(toPgErrorLike(e)));
    }
    await this.continueSimple();
  }

  /** Run the rest of the current simple Query; a COPY FROM STDIN pauses it until CopyDone. ReadyForQuery ends it. */
  private async continueSimple(): Promise<void> {
    const q = this.simple;
    try {
      while (q && q.next < q.stmts.length && !this.socketClosed) {
        const result = await this.run(q.stmts[q.next++] as PreparedInfo, []);
        if (isCopy(result)) {
          if (result.kind === 'copy-in') return await this.startCopyIn(result, null);
          await this.copyOut(result);
          continue;
        }
        const rows = result.rows ?? [];
        if (result.fields) {
          this.out.push(msg.rowDescription(result.fields, []));
          await this.sendRows(result.fields, rows, 0, rows.length, null);
        }
        this.out.push(msg.commandComplete(result.commandTag));
      }
    } catch (e) {
      if (isFatal(e)) throw e;
      this.out.push(msg.errorResponse(toPgErrorLike(e)));
    }
    this.simple = null;
    this.out.push(msg.readyForQuery(this.sess.txStatus()));
    await this.out.flush();
  }

  /** Execute through the session and queue its notices and ParameterStatus messages. */
  private async run(stmt: PreparedInfo, params: (string | null)[]): Promise<ExecResult> {
    const result = await this.sess.execute(stmt, params);
    if (!isCopy(result)) this.sendSideMessages(result);
    if (!isCopy(result) && result.deallocate !== undefined) this.deallocate(result.deallocate);
    return result;
  }

  /**
   * DEALLOCATE of a statement prepared with Parse (null: all named ones, as DEALLOCATE ALL), with
   * its portals.
   * @throws PgError 26000 when no statement has that name (PostgreSQL's DeallocateQuery).
   */
  private deallocate(name: string | null): void {
    if (name !== null && !this.statements.has(name)) throw new PgError('26000', `prepared statement "${name}" does not exist`);
    for (const [k, stmt] of this.statements) {
      if (k === '' || (name !== null && k !== name)) continue;
      this.statements.delete(k);
      for (const [p, portal] of this.portals) if (portal.stmt === stmt) this.portals.delete(p);
    }
  }

  private sendSideMessages(result: StatementResult): void {
    for (const n of result.notices ?? []) this.out.push(msg.noticeResponse(n));
    for (const [k, v] of Object.entries(result.parameterStatus ?? {})) this.parameterStatus(k, v);
  }

  /** Send ParameterStatus, remembering the settings that shape the SQL layer's date/time text (read back for binary results). */
  private parameterStatus(name: string, value: string): void {
    this.out.push(msg.parameterStatus(name, value));
    if (name === 'DateStyle') this.textSettings = { ...this.textSettings, dateStyle: value };
    else if (name === 'TimeZone') this.textSettings = { ...this.textSettings, timeZone: value };
    else if (name === 'IntervalStyle')
      this.textSettings = { ...this.textSettings, intervalStyle: value as NonNullable<TextSettings['intervalStyle']> };
  }

  // ------------------------------------------------------------------ COPY (§55.2.6)

  /** Enter copy-in mode: CopyInResponse, then CopyData/CopyDone/CopyFail are routed to the sink. */
  private async startCopyIn(sink: CopyInSink, portal: Portal | null): Promise<void> {
    this.copyIn = { sink, extended: portal !== null, portal };
    this.out.push(msg.copyInResponse(sink.format === 'binary', sink.columnFormats));
    await this.out.flush();
  }

  /**
   * A message in copy-in mode. Flush and Sync are ignored; anything but CopyData, CopyDone and CopyFail
   * aborts the COPY with 08P01, as in PostgreSQL (`CopyGetData`).
   */
  private async onCopyInMessage(type: number, payload: Buffer): Promise<void> {
    const copy = this.copyIn as NonNullable<typeof this.copyIn>;
    switch (type) {
      case T('d'):
        try {
          await copy.sink.write(payload);
        } catch (e) {
          if (isFatal(e)) throw e;
          await this.copyInEnded(toPgErrorLike(e));
        }
        return;
      case T('c'): {
        new PayloadReader(payload, 'CopyDone').end();
        let result: StatementResult;
        try {
          result = await copy.sink.end();
        } catch (e) {
          if (isFatal(e)) throw e;
          return this.copyInEnded(toPgErrorLike(e));
        }
        this.copyIn = null;
        this.copyCancelled = false;
        this.sendSideMessages(result);
        this.out.push(msg.commandComplete(result.commandTag));
        if (copy.portal) {
          copy.portal.done = true;
          copy.portal.result = { commandTag: result.commandTag };
          return this.out.flush();
        }
        return this.continueSimple();
      }
      case T('f'): {
        const message = new PayloadReader(payload, 'CopyFail').cstring('error message');
        return this.copyInFailed({ code: '57014', message: `COPY from stdin failed: ${message}` }, message);
      }
      case T('H'):
      case T('S'):
        return;
      case T('X'):
        await this.copyInFailed(null, 'client terminated the connection during COPY');
        return this.endGracefully();
      default: {
        const hex = type.toString(16).toUpperCase().padStart(2, '0');
        const message = `unexpected message type 0x${hex} during COPY from stdin`;
        return this.copyInFailed({ code: '08P01', message }, message);
      }
    }
  }

  /** Abandon copy-in: tell the sink, then report `err` (null: nothing to report). */
  private async copyInFailed(err: PgErrorLike | null, reason: string): Promise<void> {
    const copy = this.copyIn;
    if (!copy) return;
    try {
      await copy.sink.fail(reason);
    } catch (e) {
      this.report(e);
    }
    if (err) await this.copyInEnded(err);
    else this.copyIn = null;
  }

  /**
   * Copy-in is over with an error: ErrorResponse, then ReadyForQuery (simple Query: the rest of the query
   * string is dropped) or discard until Sync (extended). Later CopyData/CopyDone/CopyFail are dropped.
   */
  private async copyInEnded(err: PgErrorLike): Promise<void> {
    const copy = this.copyIn;
    this.copyIn = null;
    this.copyCancelled = false;
    this.out.push(msg.errorResponse(err));
    if (copy?.extended) {
      this.discarding = true;
      return this.out.flush();
    }
    this.simple = null;
    this.out.push(msg.readyForQuery(this.sess.txStatus()));
    await this.out.flush();
  }

  /**
   * Copy-out: CopyOutResponse, one CopyData per buffer (flushed with socket backpressure), CopyDone and
   * CommandComplete. An error from the source becomes the ErrorResponse (thrown to the caller) instead of CopyDone.
   */
  private async copyOut(source: CopyOutSource): Promise<string> {
    this.out.push(msg.copyOutResponse(source.format === 'binary', source.columnFormats));
    this.copyingOut = true;
    this.copyCancelled = false;
    try {
      for await (const data of source.data()) {
        if (this.socketClosed) return 'COPY';
        if (this.copyCancelled) throw new PgError(CANCELED.code, CANCELED.message);
        this.out.push(msg.copyData(data));
        if (this.out.size >= FLUSH_BYTES) await this.out.flush();
      }
    } finally {
      this.copyingOut = false;
      this.copyCancelled = false;
    }
    this.out.push(msg.copyDone());
    const result = await source.end();
    this.sendSideMessages(result);
    this.out.push(msg.commandComplete(result.commandTag));
    return result.commandTag;
  }

  /** DataRows for rows[from, to); `formats` null = all text. */
  private async sendRows(
    fields: FieldDescription[],
    rows: (string | null)[][],
    from: number,
    to: number,
    formats: number[] | null,
  ): Promise<void> {
    const binary = formats?.includes(1) ? formats : null;
    for (let i = from; i < to; i++) {
      const row = rows[i] as (string | null)[];
      if (row.length !== fields.length) {
        throw new PgError('XX000', `result row ${i + 1} has ${row.length} values but the result has ${fields.length} columns`);
      }
      const values = binary
        ? row.map((v, c) =>
            v === null || binary[c] !== 1 ? v : encodeBinaryValue((fields[c] as FieldDescription).typeOid, v, this.textSettings),
          )
        : row;
      this.out.push(encodeDataRow(values));
      if (this.out.size >= FLUSH_BYTES) await this.out.flush();
    }
  }

  // ------------------------------------------------------------------ extended query (§55.2.3)

  private async extended(type: number, r: PayloadReader): Promise<void> {
    switch (type) {
      case T('P'):
        return this.parse(r);
      case T('B'):
        return this.bind(r);
      case T('D'):
        return this.describe(r);
      case T('E'):
        return this.execute(r);
      default:
        return this.close(r);
    }
  }

  private async parse(r: PayloadReader): Promise<void> {
    const name = r.cstring('statement name');
    const sql = r.cstring('query string');
    const count = r.uint16('parameter type count');
    const declared: number[] = [];
    for (let i = 0; i < count; i++) declared.push(r.uint32('parameter type'));
    r.end();
    if (name === '') this.statements.delete('');
    else if (this.statements.has(name)) throw new PgError('42P05', `prepared statement "${name}" already exists`);
    const empty = /^[\s;]*$/.test(sql);
    const info: PreparedInfo = empty ? { paramTypeOids: [], fields: null, handle: null } : await this.sess.prepare(sql, declared);
    const n = Math.max(declared.length, info.paramTypeOids.length);
    const paramOids = Array.from({ length: n }, (_, i) => declared[i] || info.paramTypeOids[i] || 0);
    this.statements.set(name, { sql, empty, info, paramOids });
    this.out.push(msg.parseComplete());
  }

  private async bind(r: PayloadReader): Promise<void> {
    const portalName = r.cstring('portal name');
    const stmtName = r.cstring('statement name');
    const paramFormats: number[] = [];
    for (let i = r.uint16('parameter format count'); i > 0; i--) paramFormats.push(r.int16('parameter format'));
    const raw: (Buffer | null)[] = [];
    for (let i = r.uint16('parameter count'); i > 0; i--) {
      const len = r.int32('parameter length');
      if (len < -1) throw new ProtocolViolation(`invalid B message format: parameter length ${len}`);
      raw.push(len === -1 ? null : r.bytes(len, 'parameter value'));
    }
    const formatCodes: number[] = [];
    for (let i = r.uint16('result format count'); i > 0; i--) formatCodes.push(r.int16('result format'));
    r.end();

    if (portalName === '') this.portals.delete('');
    else if (this.portals.has(portalName)) throw new PgError('42P03', `portal "${portalName}" already exists`);
    const stmt = this.statements.get(stmtName);
    if (!stmt) throw new PgError('26000', `prepared statement "${stmtName}" does not exist`);
    if (paramFormats.length > 1 && paramFormats.length !== raw.length) {
      throw new PgError('08P01', `bind message has ${paramFormats.length} parameter formats but ${raw.length} parameters`);
    }
    if (raw.length !== stmt.paramOids.length) {
      throw new PgError(
        '08P01',
        `bind message supplies ${raw.length} parameters, but prepared statement "${stmtName}" requires ${stmt.paramOids.length}`,
      );
    }
    const params = raw.map((value, i) => {
      if (value === null) return null;
      const format = paramFormats.length === 0 ? 0 : (paramFormats[paramFormats.length === 1 ? 0 : i] as number);
      if (format === 0) return value.toString('utf8');
      if (format !== 1) throw new PgError('22023', `unsupported format code: ${format}`);
      try {
        return decodeBinaryParam(stmt.paramOids[i] as number, value);
      } catch (e) {
        // PostgreSQL's exec_bind_message: the leftover-bytes check names the parameter; every error gets its CONTEXT.
        const err = toPgErrorLike(e);
        const message =
          err.code === '22P03' && err.message === 'incorrect binary data format'
            ? `${err.message} in bind parameter ${i + 1}`
            : err.message;
        throw new PgError(err.code, message, {
          ...(err.detail !== undefined ? { detail: err.detail } : {}),
          where: portalName === '' ? `unnamed portal parameter $${i + 1}` : `portal "${portalName}" parameter $${i + 1}`,
        });
      }
    });
    for (const c of formatCodes) if (c !== 0 && c !== 1) throw new PgError('22023', `unsupported format code: ${c}`);
    if (stmt.info.fields) resolveFormats(formatCodes, stmt.info.fields);
    this.portals.set(portalName, { stmt, params, formatCodes, sent: 0, suspended: false, done: false });
    this.out.push(msg.bindComplete());
  }

  private async describe(r: PayloadReader): Promise<void> {
    const kind = r.byte('describe target');
    const name = r.cstring('name');
    r.end();
    if (kind === T('S')) {
      const stmt = this.statements.get(name);
      if (!stmt) throw new PgError('26000', `prepared statement "${name}" does not exist`);
      this.out.push(msg.parameterDescription(stmt.paramOids.map((o) => o || 25)));
      // Fields unknown before execution are reported as NoData: the SQL layer must provide
      // `fields` at prepare time for row-returning statements that clients Describe.
      const fields = stmt.info.fields ?? stmt.info.statementFields;
      this.out.push(fields ? msg.rowDescription(fields, []) : msg.noData());
      return;
    }
    if (kind !== T('P')) throw new ProtocolViolation(`invalid DESCRIBE message subtype ${kind}`);
    const portal = this.portals.get(name);
    if (!portal) throw new PgError('34000', `portal "${name}" does not exist`);
    const fieldsOf = (r: ExecResult) => (isCopy(r) ? null : r.fields);
    let fields = portal.result ? fieldsOf(portal.result) : portal.stmt.empty ? null : portal.stmt.info.fields;
    if (fields === undefined) fields = fieldsOf(await this.runPortal(portal));
    this.out.push(fields ? msg.rowDescription(fields, resolveFormats(portal.formatCodes, fields)) : msg.noData());
  }

  private async runPortal(portal: Portal): Promise<ExecResult> {
    portal.result = await this.run(portal.stmt.info, portal.params);
    return portal.result;
  }

  private async execute(r: PayloadReader): Promise<void> {
    const name = r.cstring('portal name');
    const maxRows = r.int32('row limit');
    r.end();
    const portal = this.portals.get(name);
    if (!portal) throw new PgError('34000', `portal "${name}" does not exist`);
    if (portal.stmt.empty) {
      this.out.push(msg.emptyQueryResponse());
      return;
    }
    const result = portal.result ?? (await this.runPortal(portal));
    if (isCopy(result)) {
      if (portal.done) throw new PgError('55000', `portal "${name}" cannot be run`);
      if (result.kind === 'copy-in') return this.startCopyIn(result, portal);
      portal.done = true;
      portal.result = { commandTag: 'COPY' };
      portal.result = { commandTag: await this.copyOut(result) };
      return;
    }
    if (portal.done) {
      this.out.push(msg.commandComplete(result.fields ? retag(result.commandTag, 0) : result.commandTag));
      return;
    }
    let tag = result.commandTag;
    if (result.fields) {
      const formats = resolveFormats(portal.formatCodes, result.fields);
      const rows = result.rows ?? [];
      const end = maxRows > 0 ? Math.min(rows.length, portal.sent + maxRows) : rows.length;
      await this.sendRows(result.fields, rows, portal.sent, end, formats);
      const batch = end - portal.sent;
      portal.sent = end;
      if (end < rows.length) {
        portal.suspended = true;
        this.out.push(msg.portalSuspended());
        return;
      }
      if (portal.suspended) tag = retag(tag, batch);
    }
    portal.done = true;
    portal.result = { commandTag: result.commandTag, ...(result.fields ? { fields: result.fields } : {}) };
    this.out.push(msg.commandComplete(tag));
  }

  private async close(r: PayloadReader): Promise<void> {
    const kind = r.byte('close target');
    const name = r.cstring('name');
    r.end();
    if (kind === T('S')) {
      const stmt = this.statements.get(name);
      this.statements.delete(name);
      for (const [k, p] of this.portals) if (p.stmt === stmt) this.portals.delete(k);
    } else if (kind === T('P')) {
      this.portals.delete(name);
    } else {
      throw new ProtocolViolation(`invalid CLOSE message subtype ${kind}`);
    }
    this.out.push(msg.closeComplete());
  }
}

/**
 * Per-column format codes from Bind's result format list (none = all text, one = applies to
 * all, else one per column). Binary is only allowed for types this layer can encode (else 0A000).
 */
function resolveFormats(codes: number[], fields: FieldDescription[]): number[] {
  if (codes.length > 1 && codes.length !== fields.length) {
    throw new PgError('08P01', `bind message has ${codes.length} result formats but query has ${fields.length} columns`);
  }
  return fields.map((f, i) => {
    const code = codes.length === 0 ? 0 : (codes[codes.length === 1 ? 0 : i] as number);
    if (code === 1 && !supportsBinary(f.typeOid)) {
      throw new PgError('0A000', `binary output format is not supported for type OID ${f.typeOid} (column "${f.name}")`);
    }
    return code;
  });
}
