/**
 * HTTP between services (distributed form). Every service process serves `GET /health`,
 * `GET /metrics` and `POST /rpc/<method>` on one fastify server. RPC bodies are MessagePack
 * (same codec as the change protocol, so bigint and µs timestamps survive): the request is
 * the array of arguments, the response `{ ok: result }` or `{ error: ErrorPayload }`.
 *
 * Cancellation (docs/architecture.md "Query cancel"): a call whose last argument is an
 * AbortSignal sends the arguments before it, and the header {@link SIGNAL_HEADER} with the
 * signal's argument index. For a method the client lists as `abortable`, an abort ends the HTTP
 * request; the server passes a signal of its own at that index, aborted when the request's
 * connection closes before the answer is sent, so the remote work stops too.
 */
import fastify, { type FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { canceledError } from './abort.ts';
import { type ErrorPayload, fromErrorPayload, TierUnavailableError, toErrorPayload } from './errors.ts';
import { metricsText } from './metrics.ts';
import { decode, encode } from './protocol/index.ts';

/** Largest RPC body accepted (bytes). Pushes of many versions are split below this. */
export const MAX_RPC_BYTES = 512 * 1024 * 1024;

/** Request header naming the argument index where the server passes its per-request AbortSignal. */
export const SIGNAL_HEADER = 'stratum-signal';

/** A running HTTP server. */
export interface HttpServer {
  app: FastifyInstance;
  /** Bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** Health report returned by `GET /health`. */
export interface Health {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  [k: string]: unknown;
}

/**
 * Start a fastify server with `/health` and `/metrics`; `setup` adds routes before listening.
 * @throws when the port cannot be bound (EADDRINUSE names host:port).
 */
export async function startHttpServer(opts: {
  host: string;
  port: number;
  health: () => Health | Promise<Health>;
  setup?: (app: FastifyInstance) => void;
}): Promise<HttpServer> {
  const app = fastify({ logger: false, bodyLimit: MAX_RPC_BYTES, keepAliveTimeout: 60_000 });
  app.addContentTypeParser('application/msgpack', { parseAs: 'buffer', bodyLimit: MAX_RPC_BYTES }, (_req, body, done) => done(null, body));
  app.get('/health', async (_req, reply) => {
    const h = await opts.health();
    reply.code(h.status === 'ok' || h.status === 'degraded' ? 200 : 503).send(h);
  });
  app.get('/metrics', async (_req, reply) => {
    const m = await metricsText();
    reply.header('content-type', m.contentType).send(m.text);
  });
  opts.setup?.(app);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    throw new Error(`cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`, { cause: e });
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return { app, port, close: () => app.close() };
}

/**
 * Expose `methods` of `impl` as `POST /rpc/<method>`. Arguments and results are MessagePack;
 * errors travel as {@link ErrorPayload} with their SQLSTATE.
 */
export function registerRpc<T extends object>(app: FastifyInstance, impl: T, methods: readonly (keyof T & string)[]): void {
  const allowed = new Set<string>(methods);
  app.post<{ Params: { method: string } }>('/rpc/:method', async (req, reply) => {
    const m = req.params.method;
    reply.header('content-type', 'application/msgpack');
    if (!allowed.has(m)) {
      return reply.code(404).send(encode({ error: { name: 'Error', code: '42883', message: `no RPC method "${m}"` } }));
    }
    let args: unknown;
    try {
      args = decode<unknown>(req.body as Buffer, `RPC ${m} request`);
      if (!Array.isArray(args)) throw new Error(`RPC ${m}: arguments must be an array`);
    } catch (e) {
      return reply.code(400).send(encode({ error: toErrorPayload(e) }));
    }
    const list = args as unknown[];
    const at = Number(req.headers[SIGNAL_HEADER]);
    const abort = new AbortController();
    if (Number.isInteger(at) && at >= 0 && at <= 64) {
      while (list.length < at) list.push(undefined);
      list[at] = abort.signal;
      // The client gave up (its signal aborted, or it went away): stop the work too.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
    }
    try {
      const fn = (impl as Record<string, (...a: unknown[]) => unknown>)[m];
      const result = await fn?.apply(impl, list);
      return reply.send(encode({ ok: result ?? null }));
    } catch (e) {
      return reply.code(200).send(encode({ error: toErrorPayload(e) }));
    }
  });
}

/** Options of an RPC client. */
export interface RpcClientOptions {
  /** Per-call timeout (ms). Default 60 000. */
  timeoutMs?: number;
  /** Name used in errors (e.g. "tx-engine tx1"). */
  name?: string;
  /**
   * Methods whose trailing AbortSignal ends the HTTP request when it aborts (reads). Other
   * methods drop the signal and wait for the answer: a write must not lose its outcome.
   */
  abortable?: readonly string[];
}

/**
 * A client for `registerRpc` methods at `baseUrl`: an object whose listed methods send the call.
 * Transport failures throw {@link TierUnavailableError} naming the service and URL; remote errors
 * are rethrown as StratumError with the remote SQLSTATE.
 */
export function rpcClient<T extends object>(
  baseUrl: string,
  methods: readonly (keyof T & string)[],
  opts: RpcClientOptions = {},
): T & { closeClient(): Promise<void> } {
  const pool = new Pool(baseUrl, { connections: 16, pipelining: 1, keepAliveTimeout: 30_000 });
  const timeout = opts.timeoutMs ?? 60_000;
  const name = opts.name ?? baseUrl;
  const abortable = new Set(opts.abortable ?? []);
  const out: Record<string, unknown> = {
    closeClient: () => pool.close(),
  };
  for (const m of methods) {
    out[m] = async (...args: unknown[]) => {
      const last = args[args.length - 1];
      const signal = last instanceof AbortSignal ? last : undefined;
      if (signal) args.pop();
      const at = args.length;
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      const headers: Record<string, string> = { 'content-type': 'application/msgpack' };
      const cancellable = signal && abortable.has(m) ? signal : undefined;
      if (cancellable) {
        if (cancellable.aborted) throw canceledError(cancellable);
        headers[SIGNAL_HEADER] = String(at);
      }
      let body: Buffer;
      try {
        const res = await pool.request({
          path: `/rpc/${m}`,
          method: 'POST',
          headers,
          body: encode(args),
          headersTimeout: timeout,
          bodyTimeout: timeout,
          ...(cancellable ? { signal: cancellable } : {}),
        });
        body = Buffer.from(await res.body.arrayBuffer());
      } catch (e) {
        if (cancellable?.aborted) throw canceledError(cancellable);
        throw new TierUnavailableError(`${name} (${baseUrl}) is unavailable: ${(e as Error).message}`, { cause: e });
      }
      const r = decode<{ ok?: unknown; error?: ErrorPayload }>(body, `RPC ${m} response from ${name}`);
      if (r.error) throw fromErrorPayload(r.error);
      return r.ok;
    };
  }
  return out as T & { closeClient(): Promise<void> };
}
