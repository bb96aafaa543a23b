/**
 * Free TCP ports for the servers tests and benches start as child processes.
 *
 * A port found by binding port 0 comes from the kernel's ephemeral range, the range outgoing
 * connections also take their local ports from. Between that check and the child's own
 * `listen`, any client connection of the machine can take the port, and the child fails with
 * EADDRINUSE (seen once in a whole-suite run of faults.nats.e2e). So ports come from below the
 * ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default), where no
 * outgoing connection lands:
 * - each process starts at its own offset, derived from its pid, and steps through the range;
 * - each candidate is checked by binding it once on 127.0.0.1.
 *
 * Where the range cannot be read or leaves too little room, ports come from port 0 as before.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out (above the registered ports most services use). */
const FLOOR = 10_000;
/** Fewest ports below the ephemeral range worth using; below this, port 0. */
const MIN_SPAN = 2_048;

/** [first, end) below the ephemeral range, or undefined. */
function portSpan(): [number, number] | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (!Number.isInteger(low) || low - FLOOR < MIN_SPAN) return undefined;
    return [FLOOR, low];
  } catch {
    return undefined;
  }
}

const span = portSpan();
/** Next candidate offset within the span: spread by pid so parallel test processes rarely meet. */
let cursor = span ? (process.pid * 7_919) % (span[1] - span[0]) : 0;

/** Bind `port` (0 = any) on 127.0.0.1, release it, and resolve with the port bound; undefined when it is taken. */
function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : undefined;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound once and released), from below the
 * ephemeral range when there is one (see the file comment).
 * @throws Error when no port could be bound at all.
 */
export async function freePort(): Promise<number> {
  if (span) {
    const size = span[1] - span[0];
    for (let i = 0; i < 64; i++) {
      const port = span[0] + (cursor % size);
      cursor = (cursor + 1) % size;
      if ((await tryBind(port)) === port) return port;
    }
  }
  const port = await tryBind(0);
  if (port === undefined || port === 0) throw new Error('could not determine a free port');
  return port;
}
