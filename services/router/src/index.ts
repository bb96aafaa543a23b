/**
 * Router service (DESIGN §7): the PostgreSQL wire protocol on 5433 and an HTTP JSON API on
 * 7480 in front of the tiers. Stateless: sessions hold only settings and the session's
 * last commit timestamp.
 */
import {
  type Catalog,
  type Clock,
  coerceLiteral,
  counter,
  type DdlEvent,
  formatValue,
  type Health,
  type HttpServer,
  type Logger,
  type ServiceHandle,
  SqlState,
  StratumError,
  startHttpServer,
  type TxEngineApi,
  toErrorPayload,
  typeOfOid,
  type ValueContext,
  WatermarkWatcher,
} from '@stratum/shared';
import { ResultCache } from './caches.ts';
import { SESSION_ACTIVITY } from './catalog/activity.ts';
import { PgCatalogStore } from './catalog/store.ts';
import { formatOptions } from './execute/read.ts';
import { setAsOf } from './execute/utility.ts';
import { type GatherLimits, OlapRouter, type ShardRef } from './olap.ts';
import { startPgWireServer } from './pgwire/server.ts';
import type { PgAuthConfig, StatementResult } from './pgwire/types.ts';
import { SequenceAllocator } from './sequences.ts';
import { type IngestionRef, type RouterContext, RouterSession } from './session.ts';
import { initParser } from './sql/parse.ts';
import { SessionTokens } from './token.ts';

export type { ShardRef } from './olap.ts';
export type { PgAuthConfig } from './pgwire/types.ts';
export type { IngestionRef } from './session.ts';

/** Options of {@link startRouter}. */
export interface RouterOptions {
  catalog: Catalog;
  /** Publish a catalog event on the bus's catalog stream; resolves with its catalog version. */
  publishDdl(event: DdlEvent): Promise<number>;
  txEngines: TxEngineApi[];
  /** Ingestion engines with the partitions each consumes. */
  ingestion: IngestionRef[];
  /** Number of stream partitions P. */
  partitions: number;
  /** OLAP shards in cluster order (placement rules index into this order, see shared/src/sharding.ts). */
  olapShards: ShardRef[];
  pg: { host: string; port: number };
  /** HTTP API listener; omit to serve no HTTP (the embedded runner may mount its own). */
  http?: { host: string; port: number };
  auth: PgAuthConfig;
  database: string;
  statementTimeoutMs: number;
  maxStatementBytes: number;
  /** Lifetime of cached analytical answers (ms); 0 turns the result cache off. Default 1000. */
  resultCacheTtlMs?: number;
  /** `router.partial_aggregation`: pre-aggregate scatter/gather aggregates on the shards (default true). */
  partialAggregation?: boolean;
  /** `router.gather_format`: how shards return gathered scans (default 'rows'). */
  gatherFormat?: 'rows' | 'arrow';
  /** `router.gather_slots`, `gather_max_queued`, `gather_memory_limit` (default 8 slots, 1000 queued, DuckDB's memory default). */
  gatherLimits?: GatherLimits;
  /** Backpressure of COPY FROM: most committed rows of one COPY above the ingestion watermark before it waits; 0 = never wait. Default 50,000. */
  copyMaxUnmergedRows?: number;
  /** Backpressure of COPY FROM: most committed rows of one COPY above its table's OLAP watermark before it waits; 0 = never wait. Default 250,000 (ingestion's push_rows + 50,000). */
  copyMaxUnpushedRows?: number;
  /** This router's clock (DESIGN §8): strict reads wait for a watermark past its `now().latest`. */
  clock: Clock;
  /** `router.session_token_secret`: HMAC key of session tokens (default: random per process). */
  sessionTokenSecret?: string;
  /** Reload the process's config file (`POST /admin/reload`, `stratum config reload`). */
  reload?: () => Promise<{ ok: boolean; message: string }>;
  /** Extra health fields (embedded form reports every service). */
  health?: () => Record<string, unknown>;
  /**
   * One of several front-end threads of this router (docs/architecture.md, "Threads"): they
   * share one pgwire socket (`listenFd`: the first thread's, absent on that thread), forward
   * CancelRequests and answer pg_stat_activity for each other over BroadcastChannels named
   * after `channel`; `peers` is the number of other front-end threads.
   */
  frontEnd?: { listenFd?: number; channel: string; peers: number };
  log: Logger;
}

/** A running router. */
export interface Router extends ServiceHandle {
  pgPort: number;
  httpPort: number | undefined;
  /** The pgwire listening socket's descriptor (for other front-end threads' `frontEnd.listenFd`). */
  pgListenFd(): number;
}

const mConnections = counter('stratum_router_connections_total', 'pgwire connections opened', []);
const SERVER_VERSION = '15.0';

/**
 * Start the pgwire and HTTP listeners.
 * @throws when a port cannot be bound.
 */
export async function startRouter(o: RouterOptions): Promise<Router> {
  await initParser();
  let next = 0;
  const olap = new OlapRouter(o.catalog, o.olapShards, () => o.ingestion);
  olap.partialAggregation = o.partialAggregation ?? true;
  olap.gatherFormat = o.gatherFormat ?? 'rows';
  if (o.gatherLimits) olap.limits = o.gatherLimits;
  // Every user is a superuser until roles are modelled: configured SCRAM users, else whoever connects.
  const configured = o.auth.method === 'scram-sha-256' ? Object.keys(o.auth.users) : ['stratum'];
  olap.pgCatalog = new PgCatalogStore(
    {
      catalog: o.catalog,
      database: o.database,
      roles: () => {
        const names = new Set([...configured, ...SESSION_ACTIVITY.list().map((a) => a.user)]);
        return [...names].map((name) => ({ name, superuser: true }));
      },
    },
    Date.now(),
  );
  const ctx: RouterContext = {
    catalog: o.catalog,
    publishDdl: o.publishDdl,
    txEngines: o.txEngines,
    ingestion: o.ingestion,
    partitions: o.partitions,
    olap,
    statementTimeoutMs: o.statementTimeoutMs,
    maxStatementBytes: o.maxStatementBytes,
    serverVersion: SERVER_VERSION,
    pickEngine: () => next++,
    results: new ResultCache(o.resultCacheTtlMs ?? 1000),
    copyMaxUnmergedRows: o.copyMaxUnmergedRows ?? 50_000,
    copyMaxUnpushedRows: o.copyMaxUnpushedRows ?? 250_000,
    clock: o.clock,
    tokens: new SessionTokens(o.sessionTokenSecret),
    watermarks: new WatermarkWatcher(async () => {
      const all = await Promise.all(o.ingestion.map((i) => i.api.status()));
      return all.length === 0 ? -1 : Math.min(...all.map((s) => s.watermark));
    }),
    sequences: new SequenceAllocator(o.catalog, o.publishDdl, o.statementTimeoutMs),
    log: o.log,
  };
  const fe = o.frontEnd;
  if (fe) SESSION_ACTIVITY.sharePeers(`${fe.channel}:activity`, fe.peers);
  const pg = await startPgWireServer({
    host: o.pg.host,
    port: o.pg.port,
    ...(fe?.listenFd !== undefined ? { listenFd: fe.listenFd } : {}),
    ...(fe ? { cancelChannel: `${fe.channel}:cancel` } : {}),
    auth: o.auth,
    serverVersion: SERVER_VERSION,
    maxMessageBytes: o.maxStatementBytes + 1024,
    onProtocolError: (err, remote) => o.log.warn({ err: err.message, remote }, 'pgwire protocol error'),
    backend: {
      async openSession(st) {
        if (st.database !== o.database) {
          throw new StratumError('3D000', `database "${st.database}" does not exist (this server has "${o.database}")`);
        }
        mConnections.inc();
        return new RouterSession(ctx, st.user, st.database, st.params);
      },
    },
  });
  let http: HttpServer | undefined;
  if (o.http) {
    http = await startHttpServer({
      host: o.http.host,
      port: o.http.port,
      health: (): Health => ({ status: 'ok', pgPort: pg.port, ...(o.health?.() ?? {}) }),
      setup: (app) => {
        mountQueryApi(app, ctx);
        const reload = o.reload;
        if (reload) {
          app.post('/admin/reload', async (_req, reply) => {
            const r = await reload();
            return reply.code(r.ok ? 200 : 400).send(r);
          });
        }
      },
    });
  }
  o.log.info({ pg: `${o.pg.host}:${pg.port}`, http: http ? `${o.http?.host}:${http.port}` : undefined }, 'router listening');
  let closing: Promise<void> | undefined;
  return {
    name: 'router',
    pgPort: pg.port,
    httpPort: http?.port,
    pgListenFd: () => pg.fd(),
    close() {
      closing ??= (async () => {
        await pg.close();
        await http?.close();
        olap.close();
      })();
      return closing;
    },
  };
}

/**
 * `POST /query` with JSON `{ sql: string, params?: (string|number|boolean|null)[], asOf?: string | number }` →
 * (`asOf`: a timestamp text or ms since epoch; the statements read the state as of then, like
 * `SET stratum.as_of`)
 * `{ commandTag, columns: [{name, typeOid}], rows: [[...]], notices, warnings }`; values are PostgreSQL
 * text form (strings) except numbers and booleans, which stay JSON numbers/booleans when exact.
 * With `Accept: application/vnd.apache.arrow.stream` (preferred to `application/json`) the answer
 * is instead the last statement's result as an Arrow IPC stream (`@stratum/shared/arrow`: typed
 * columns, `stratum.type` / `stratum.type_oid` field metadata, notices in schema metadata), with
 * the command tag in the `Stratum-Command-Tag` header; a statement without a result set (INSERT,
 * DDL, SET) answers a stream with no fields and no rows.
 * Errors: HTTP 400 with `{ error: { code, message, ... } }` (SQLSTATE in `code`), in JSON whatever
 * the Accept header.
 */
export function mountQueryApi(app: import('fastify').FastifyInstance, ctx: RouterContext): void {
  // GET /status: watermarks and stream positions of every ingestion engine, OLAP watermarks of
  // every shard; a tier that does not answer is listed with its error (the call still succeeds).
  app.get('/status', async () => {
    const ingestion = await Promise.all(
      ctx.ingestion.map(async (i) => {
        try {
          return { ...(await i.api.status()), id: i.id };
        } catch (e) {
          return { id: i.id, error: (e as Error).message };
        }
      }),
    );
    const shards = await Promise.all(
      ctx.olap.shards.map(async (s) => {
        try {
          return { id: s.id, watermarks: await s.api.watermarks() };
        } catch (e) {
          return { id: s.id, error: (e as Error).message };
        }
      }),
    );
    const marks = ingestion.map((i) => ('watermark' in i ? i.watermark : -1));
    const eps = ctx.clock.eps();
    const clock = {
      epsMs: Number.isFinite(eps) ? eps : null,
      synchronized: ctx.clock.synchronized(),
      ...(ctx.clock.synchronized() ? {} : { reason: ctx.clock.unsynchronizedReason?.() ?? '' }),
    };
    // Tables with their storage names (the names data directories and tier calls use) and oids.
    const tables = ctx.catalog.list().map((t) => ({ name: t.name, storage: t.storage, oid: t.oid }));
    return { now: Date.now(), watermark: marks.length ? Math.min(...marks) : -1, clock, ingestion, shards, tables };
  });

  app.post('/query', async (req, reply) => {
    const body = req.body as { sql?: unknown; params?: unknown; asOf?: unknown } | undefined;
    if (!body || typeof body.sql !== 'string') {
      return reply.code(400).send({ error: { code: SqlState.syntaxError, message: 'body must be JSON {"sql": "...", "params": [...]}' } });
    }
    const params = Array.isArray(body.params) ? body.params.map((p) => (p === null || p === undefined ? null : String(p))) : [];
    const session = new RouterSession(ctx, 'http', ctx.catalog ? 'stratum' : 'stratum');
    const header = req.headers['stratum-session-token'];
    let tokenOk = false;
    try {
      // Monotonic reads across requests (DESIGN §6): continue the session the client's token describes.
      if (typeof header === 'string' && header !== '') session.adoptToken(header);
      else if (Array.isArray(header))
        throw new StratumError(SqlState.invalidParameterValue, 'invalid session token: send one Stratum-Session-Token header');
      tokenOk = true;
      if (body.asOf !== undefined && body.asOf !== null) {
        if (typeof body.asOf !== 'string' && typeof body.asOf !== 'number') {
          throw new StratumError(SqlState.invalidParameterValue, 'asOf must be a timestamp string or milliseconds since the epoch');
        }
        setAsOf(session, typeof body.asOf === 'number' ? new Date(body.asOf).toISOString() : body.asOf);
      }
      const stmts = await session.splitSimpleQuery(body.sql);
      let last: StatementResult = { commandTag: '' };
      for (const s of stmts) {
        const r = await session.execute(s, params);
        if ('kind' in r) throw new StratumError(SqlState.featureNotSupported, 'COPY is not supported over HTTP; use pgwire (psql \\copy)');
        last = r;
      }
      const types = (last.fields ?? []).map((f) => f.typeOid);
      if (prefersArrow(req.headers.accept)) {
        const stream = await arrowStream(session, last);
        reply.header('Stratum-Session-Token', session.token());
        reply.header('Stratum-Command-Tag', last.commandTag);
        return reply.header('content-type', ARROW_STREAM).send(stream);
      }
      reply.header('Stratum-Session-Token', session.token());
      return {
        commandTag: last.commandTag,
        columns: (last.fields ?? []).map((f) => ({ name: f.name, typeOid: f.typeOid })),
        rows: (last.rows ?? []).map((r) => r.map((v, i) => jsonValue(v, types[i] ?? 25))),
        notices: last.notices ?? [],
        // Reads answered below their table's mode (allow_degraded), with the possible staleness.
        warnings: (last.notices ?? []).filter((n) => n.code === '01000').map((n) => n.message),
      };
    } catch (e) {
      // A refused token is not replaced by a fresh one: the client must notice its error.
      if (tokenOk) reply.header('Stratum-Session-Token', session.token());
      return reply.code(400).send({ error: toErrorPayload(e) });
    }
  });
}

/** Media type of an Arrow IPC stream (`ARROW_STREAM_MEDIA_TYPE` of `@stratum/shared/arrow`, which is loaded only when asked for). */
const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

/**
 * Whether an Accept header asks for an Arrow stream: it lists `application/vnd.apache.arrow.stream`
 * with a q-value above 0 and not below that of `application/json` (RFC 9110 §12.5.1; wildcard
 * ranges and an absent header mean JSON).
 */
function prefersArrow(accept: string | undefined): boolean {
  if (!accept) return false;
  let arrow = 0;
  let json = -1;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((x) => x.trim().toLowerCase());
    const qp = params.find((x) => x.startsWith('q='));
    const q = qp === undefined ? 1 : Number(qp.slice(2));
    if (type === ARROW_STREAM) arrow = Math.max(arrow, q);
    else if (type === 'application/json') json = Math.max(json, q);
  }
  return arrow > 0 && arrow >= json;
}

/**
 * A statement's result as an Arrow IPC stream. The rows come as PostgreSQL text under the session's
 * settings; each value is read back into its stored representation with the type's input function
 * (`coerceLiteral` under the same TimeZone, DateStyle and IntervalStyle), which gives the exact
 * value for every type at the default extra_float_digits (floats' shortest exact text). Types
 * Stratum does not have (catalog columns of type `name`, `oid`, …) stay text, their OID in
 * `stratum.type_oid`.
 */
async function arrowStream(session: RouterSession, r: StatementResult): Promise<Buffer> {
  const { encodeArrowStream } = await import('@stratum/shared/arrow');
  const fmt = formatOptions(session) ?? {};
  const ctx: ValueContext = {};
  if (fmt.timeZone !== undefined) ctx.timeZone = fmt.timeZone;
  if (fmt.dateStyle !== undefined) ctx.dateStyle = fmt.dateStyle;
  if (fmt.intervalStyle !== undefined) ctx.intervalStyle = fmt.intervalStyle;
  const columns = (r.fields ?? []).map((f) => ({ name: f.name, type: typeOfOid(f.typeOid) ?? 'text', typeOid: f.typeOid }));
  const rows = (r.rows ?? []).map((row) =>
    row.map((v, i) => {
      const type = columns[i]?.type ?? 'unknown';
      return v === null || type === 'unknown' ? v : coerceLiteral(v, type, ctx);
    }),
  );
  const notices = (r.notices ?? []).map((n) => n.message);
  const bytes = encodeArrowStream({ columns, rows, ...(notices.length > 0 ? { notices } : {}) });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function jsonValue(v: string | null, oid: number): unknown {
  if (v === null) return null;
  if (oid === 16) return v === 't';
  if (oid === 21 || oid === 23 || oid === 700 || oid === 701) return Number(v);
  if (oid === 20) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  return v;
}

export { formatValue };
