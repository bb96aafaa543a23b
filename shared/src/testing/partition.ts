/**
 * A network partition for tests (issue 5 item 6): a real TCP proxy (`node:net`) on
 * 127.0.0.1 in front of one port. Point a client at `url`/`port` instead of the target; then
 * `block()` cuts it off the way a partition does — new connections are accepted and never
 * forwarded (the client sees a hang, then its own timeout) and bytes on connections already
 * open stop flowing both ways — and `unblock()` heals it (stalled connections are destroyed so
 * the client reconnects; new ones are forwarded again).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A running partition proxy. */
export interface PartitionProxy {
  /** Port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for HTTP clients. */
  readonly url: string;
  /** Start the partition: stall open connections, hold new ones without forwarding. */
  block(): void;
  /** End the partition: destroy the stalled connections; new connections reach the target again. */
  unblock(): void;
  /** True while blocked. */
  blocked(): boolean;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

/**
 * Start a proxy on 127.0.0.1 (an ephemeral port unless `listenPort` is given) that forwards
 * to `targetPort` on `targetHost` (default 127.0.0.1).
 * @throws when the listen port cannot be bound.
 */
export async function startPartitionProxy(
  targetPort: number,
  opts: { targetHost?: string; listenPort?: number } = {},
): Promise<PartitionProxy> {
  const host = opts.targetHost ?? '127.0.0.1';
  let isBlocked = false;
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>();
  const stalled = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (isBlocked) {
      // Accept and say nothing: a partition drops packets, it does not refuse.
      client.pause();
      stalled.add(client);
      client.once('close', () => stalled.delete(client));
      return;
    }
    const upstream = createConnection({ host, port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', drop);
    upstream.once('close', drop);
    // Forward by hand (not pipe) so a partition can swallow bytes in flight.
    client.on('data', (d: Buffer) => {
      if (!isBlocked) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!isBlocked) client.write(d);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    block() {
      isBlocked = true;
      for (const p of pairs) stalled.add(p.client);
    },
    unblock() {
      isBlocked = false;
      for (const s of stalled) s.destroy();
      stalled.clear();
    },
    blocked: () => isBlocked,
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      for (const s of stalled) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
