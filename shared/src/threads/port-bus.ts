/**
 * The change bus of another thread (docs/architecture.md, "Threads"): {@link serveBus} runs
 * where the bus is open (the pipeline thread of `stratum up --threads`), {@link portBus} is a
 * {@link ChangeBus} over a `MessagePort` for the threads that publish (the TX engines' relay) and
 * follow the catalog (every thread with a Catalog), but do not consume change messages.
 *
 * Frames are structured-clone objects; payloads travel in buffers of their own, transferred.
 * Publishes resolve once the bus thread's bus stored the message (its own durability rule);
 * catalog records reach every follower in version order. `subscribe` (consuming change
 * messages) is not offered: consumers run on the bus's own thread.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ChangeBus, PublishAck, Subscription } from '../bus/types.ts';
import { BusUnavailableError, type ErrorPayload, fromErrorPayload, toErrorPayload } from '../errors.ts';

type Request =
  | { t: 'pub'; id: number; engine: string; partition: number; msgId: string; payload: Uint8Array }
  | { t: 'pubCat'; id: number; payload: Uint8Array }
  | { t: 'subCat'; id: number; sub: number; after: number }
  | { t: 'unsubCat'; sub: number };
type Reply =
  | { t: 'done'; id: number; value?: unknown; error?: ErrorPayload }
  | { t: 'cat'; sub: number; version: number; payload: Uint8Array }
  | { t: 'state'; connected: boolean; maxPayloadBytes: number };

/** A copy of `b` in a buffer of its own, and that buffer for the transfer list. */
function owned(b: Uint8Array): [Uint8Array, ArrayBuffer[]] {
  const c = new Uint8Array(b.length);
  c.set(b);
  return [c, [c.buffer as ArrayBuffer]];
}

/**
 * Serve `bus` to a {@link portBus} on the other end of `port`.
 * @returns a function that stops serving and ends the catalog subscriptions it made.
 */
export function serveBus(port: MessagePort, bus: ChangeBus): () => Promise<void> {
  const subs = new Map<number, Subscription>();
  const send = (r: Reply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  let lastConnected: boolean | undefined;
  const state = () => {
    const c = bus.connected();
    if (c !== lastConnected) {
      lastConnected = c;
      send({ t: 'state', connected: c, maxPayloadBytes: bus.maxPayloadBytes() });
    }
  };
  state();
  const timer = setInterval(state, 250);
  timer.unref();
  const answer = async (id: number, fn: () => Promise<unknown>) => {
    try {
      send({ t: 'done', id, value: await fn() });
    } catch (e) {
      send({ t: 'done', id, error: toErrorPayload(e) });
    }
  };
  port.on('message', (r: Request) => {
    switch (r.t) {
      case 'pub':
        void answer(r.id, () => bus.publish(r.engine, r.partition, r.msgId, r.payload));
        break;
      case 'pubCat':
        void answer(r.id, () => bus.publishCatalog(r.payload));
        break;
      case 'subCat':
        void answer(r.id, async () => {
          const sub = await bus.subscribeCatalog(r.after, (version, payload) => {
            const [p, transfer] = owned(payload);
            send({ t: 'cat', sub: r.sub, version, payload: p }, transfer);
          });
          subs.set(r.sub, sub);
          return null;
        });
        break;
      case 'unsubCat':
        void subs.get(r.sub)?.stop();
        subs.delete(r.sub);
        break;
    }
  });
  return async () => {
    clearInterval(timer);
    await Promise.all([...subs.values()].map((s) => s.stop()));
    subs.clear();
  };
}

/**
 * A {@link ChangeBus} served by {@link serveBus} on the other end of `port`. `name` appears in
 * errors; `maxPayloadBytes` is the served bus's limit (bytes) until its first state frame.
 * Pending calls fail with BusUnavailableError when the bus thread goes away.
 */
export function portBus(port: MessagePort, name: string, maxPayloadBytes: number): ChangeBus {
  let next = 1;
  let connected = true;
  let maxPayload = maxPayloadBytes;
  let closed = false;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const followers = new Map<number, (version: number, payload: Uint8Array) => void>();
  port.on('message', (r: Reply) => {
    if (r.t === 'state') {
      connected = r.connected;
      maxPayload = r.maxPayloadBytes;
    } else if (r.t === 'cat') {
      followers.get(r.sub)?.(r.version, r.payload);
    } else {
      const p = pending.get(r.id);
      pending.delete(r.id);
      if (r.error) p?.reject(fromErrorPayload(r.error));
      else p?.resolve(r.value);
    }
  });
  const gone = () => new BusUnavailableError(`${name}: the bus thread has stopped`);
  port.on('close', () => {
    closed = true;
    connected = false;
    for (const p of pending.values()) p.reject(gone());
    pending.clear();
  });
  const call = <T>(make: (id: number) => [Request, ArrayBuffer[]]): Promise<T> => {
    if (closed) return Promise.reject(gone());
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const [req, transfer] = make(id);
      port.postMessage(req, transfer);
    });
  };
  return {
    kind: 'local',
    publish(engine, partition, msgId, payload): Promise<PublishAck> {
      return call((id) => {
        const [p, transfer] = owned(payload);
        return [{ t: 'pub', id, engine, partition, msgId, payload: p }, transfer];
      });
    },
    async subscribe() {
      throw new Error(`${name}: change messages are consumed on the bus's own thread`);
    },
    publishCatalog(payload) {
      return call((id) => {
        const [p, transfer] = owned(payload);
        return [{ t: 'pubCat', id, payload: p }, transfer];
      });
    },
    async subscribeCatalog(after, handler) {
      const sub = next++;
      followers.set(sub, handler);
      await call((id) => [{ t: 'subCat', id, sub, after }, []]);
      return {
        ack() {},
        async stop() {
          followers.delete(sub);
          if (!closed) port.postMessage({ t: 'unsubCat', sub } satisfies Request);
        },
      };
    },
    connected: () => connected && !closed,
    maxPayloadBytes: () => maxPayload,
    async close() {
      closed = true;
      followers.clear();
    },
  };
}
