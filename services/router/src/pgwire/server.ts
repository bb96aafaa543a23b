/**
 * PostgreSQL wire-protocol (v3.0) TCP server in front of a {@link PgBackend}.
 *
 * Protocol reference: PostgreSQL 15 docs chapter 55 "Frontend/Backend Protocol". TLS and GSSAPI
 * encryption are declined ('N'); authentication is trust or SCRAM-SHA-256. Connection handling
 * lives in `connection.ts`, framing in `codec.ts`, SCRAM in `scram.ts`, binary values in
 * `binary-format.ts`.
 *
 * Limitation: Describe of a *statement* whose `PreparedInfo.fields` is `undefined` answers NoData
 * (nothing is executed at that point), so the SQL layer must return `fields` from `prepare` for
 * row-returning statements that clients describe before binding. Describe of a *portal* executes
 * the portal instead and buffers the result for the following Execute.
 */

import { randomInt, timingSafeEqual } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { BroadcastChannel } from 'node:worker_threads';
import { DEFAULT_MAX_MESSAGE_BYTES } from './codec.ts';
import { Connection, type ConnectionHost } from './connection.ts';
import type { PgWireOptions } from './types.ts';

/** A running wire server. */
export interface PgWireServer {
  /** Bound TCP port (the real one when started with port 0). */
  port: number;
  /** Bound address, e.g. '127.0.0.1'. */
  address: string;
  /**
   * Stop accepting connections, send FATAL 57P01 to idle connections and end them, let busy ones
   * finish their current message, and wait for all of them (at most ~2 s, then sockets are
   * destroyed). Resolves after every session's `close()` has settled. Idempotent.
   */
  close(): Promise<void>;
  /** Number of open client connections. */
  connections(): number;
  /** The listening socket's file descriptor (for {@link PgWireOptions.listenFd} of other threads). */
  fd(): number;
}

/** Grace period of `close()` before remaining sockets are destroyed. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * Start listening on `opts.host:opts.port` (port 0 = random). Resolves once listening; rejects
 * with the listen error (e.g. EADDRINUSE). Errors on individual connections never escape: they are
 * answered on that connection and reported through `opts.onProtocolError`.
 */
export async function startPgWireServer(opts: PgWireOptions): Promise<PgWireServer> {
  const conns = new Set<Connection>();
  const keys = new Map<number, { secret: number; conn: Connection }>();
  let shuttingDown = false;
  let closing: Promise<void> | null = null;

  const host: ConnectionHost = {
    options: opts,
    maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    register(conn, preferred) {
      // The session's own pid when it has one (pg_backend_pid(), pg_stat_activity), else a random one.
      let pid = preferred !== undefined && preferred > 0 && !keys.has(preferred) ? preferred : randomInt(1, 0x7fffffff);
      while (keys.has(pid)) pid = randomInt(1, 0x7fffffff);
      const secret = randomInt(-0x80000000, 0x7fffffff);
      keys.set(pid, { secret, conn });
      return { pid, secret };
    },
    cancel(pid, secret) {
      // A wrong key is ignored without an answer, as PostgreSQL does; the secret is compared in
      // constant time so its bytes cannot be guessed one by one from response times.
      const entry = keys.get(pid);
      if (entry) {
        if (sameSecret(entry.secret, secret)) entry.conn.cancel();
      } else cancels?.postMessage({ pid, secret });
    },
    release(conn) {
      conns.delete(conn);
      for (const [pid, entry] of keys) if (entry.conn === conn) keys.delete(pid);
    },
  };

  // The session may be on another front-end thread: they all hear keys this one does not hold.
  const cancels = opts.cancelChannel ? new BroadcastChannel(opts.cancelChannel) : undefined;
  if (cancels) {
    cancels.unref();
    cancels.onmessage = (ev) => {
      const { pid, secret } = (ev as { data: { pid: number; secret: number } }).data;
      const entry = keys.get(pid);
      if (entry && sameSecret(entry.secret, secret)) entry.conn.cancel();
    };
  }

  const server = createServer((socket: Socket) => {
    if (shuttingDown) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    conns.add(new Connection(socket, host));
  });
  server.on('error', (err) => {
    try {
      opts.onProtocolError?.(err, '');
    } catch {
      /* ignore logger failures */
    }
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    server.once('error', fail);
    const listening = () => {
      server.off('error', fail);
      resolve();
    };
    if (opts.listenFd !== undefined) server.listen({ fd: opts.listenFd }, listening);
    else server.listen(opts.port, opts.host, listening);
  });
  const bound = server.address() as AddressInfo;
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;

  async function shutdown(): Promise<void> {
    shuttingDown = true;
    cancels?.close();
    // A borrowed socket stays open (its owner thread closes it; closing it here could close
    // whatever file later reuses the descriptor): this server only stops taking connections.
    const listenerClosed = opts.listenFd === undefined ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const open = [...conns];
    const settled = Promise.all(open.map((c) => c.closed)).then(() => undefined);
    const within = (ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      const elapsed = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      });
      return Promise.race([settled, elapsed]).finally(() => clearTimeout(timer));
    };
    for (const c of open) c.shutdown();
    await within(SHUTDOWN_GRACE_MS);
    for (const c of open) c.destroy();
    // A session stuck in execute() delays its close(); do not wait for it forever.
    await within(SHUTDOWN_GRACE_MS);
    await listenerClosed;
  }

  return {
    port: bound.port,
    address: bound.address,
    close: () => (closing ??= shutdown()),
    connections: () => conns.size,
    fd: () => fd,
  };
}

/** Whether two int32 cancel keys are equal, compared in constant time. */
function sameSecret(a: number, b: number): boolean {
  const x = Buffer.alloc(4);
  const y = Buffer.alloc(4);
  x.writeInt32BE(a | 0);
  y.writeInt32BE(b | 0);
  return timingSafeEqual(x, y);
}
