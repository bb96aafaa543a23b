/**
 * RPC between threads of one process (docs/architecture.md, "Threads"): the same method lists
 * and codec as the HTTP RPC of the distributed form (rpc.ts: MessagePack via protocol/index.ts,
 * errors as {@link ErrorPayload} with their SQLSTATE), over a `MessagePort`.
 *
 * What crosses is cheap: each call's arguments (and each answer) are encoded once into a buffer
 * of their own that is *transferred*, not copied, and all calls (answers) made in one event-loop
 * turn travel in one `postMessage`. Cancellation: a call whose last argument is an AbortSignal,
 * to a method listed as `abortable`, sends a cancel frame when the signal aborts; the serving
 * side passes its own signal at that argument index and aborts it. Other methods drop the signal
 * and wait for the answer (a write must not lose its outcome), as over HTTP.
 */
import type { MessagePort } from 'node:worker_threads';
import { canceledError } from '../abort.ts';
import { type ErrorPayload, fromErrorPayload, TierUnavailableError, toErrorPayload } from '../errors.ts';
import { decode, encode } from '../protocol/index.ts';

/** A call: [id, method, encoded arguments, signal argument index or -1]. */
type CallFrame = [number, string, Uint8Array, number];
/** An answer: [id, encoded result] or [id, null, error]. */
type AnswerFrame = [number, Uint8Array | null, ErrorPayload?];
/** One postMessage: calls, answers and cancels of one event-loop turn. */
interface Envelope {
  calls?: CallFrame[];
  answers?: AnswerFrame[];
  cancels?: number[];
}

/** Encode into a buffer of its own (so it can be transferred; msgpack's output shares a pool). */
function own(v: unknown): Uint8Array {
  const b = encode(v);
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** Collects frames of one event-loop turn and posts them as one message. */
class Outbox {
  private env: Envelope | undefined;
  private transfer: ArrayBuffer[] = [];
  constructor(private readonly port: MessagePort) {}
  private envelope(): Envelope {
    if (!this.env) {
      this.env = {};
      setImmediate(() => this.flush());
    }
    return this.env;
  }
  call(f: CallFrame): void {
    const e = this.envelope();
    (e.calls ??= []).push(f);
    this.transfer.push(f[2].buffer as ArrayBuffer);
  }
  answer(f: AnswerFrame): void {
    const e = this.envelope();
    (e.answers ??= []).push(f);
    if (f[1]) this.transfer.push(f[1].buffer as ArrayBuffer);
  }
  cancel(id: number): void {
    (this.envelope().cancels ??= []).push(id);
  }
  private flush(): void {
    const env = this.env;
    const transfer = this.transfer;
    this.env = undefined;
    this.transfer = [];
    if (env) this.port.postMessage(env, transfer);
  }
}

/**
 * Serve `methods` of `impl` on `port` (the other end gets a {@link portClient}).
 * @returns a function that stops serving (in-flight calls still answer).
 */
export function servePort<T extends object>(port: MessagePort, impl: T, methods: readonly (keyof T & string)[]): () => void {
  const allowed = new Set<string>(methods);
  const out = new Outbox(port);
  const running = new Map<number, AbortController>();
  const onMessage = (env: Envelope) => {
    for (const id of env.cancels ?? []) running.get(id)?.abort();
    for (const [id, m, argBuf, at] of env.calls ?? []) void run(id, m, argBuf, at);
  };
  const run = async (id: number, m: string, argBuf: Uint8Array, at: number) => {
    try {
      if (!allowed.has(m)) throw Object.assign(new Error(`no thread RPC method "${m}"`), { code: '42883' });
      const args = decode<unknown[]>(argBuf, `thread RPC ${m} request`);
      if (at >= 0) {
        const abort = new AbortController();
        running.set(id, abort);
        while (args.length < at) args.push(undefined);
        args[at] = abort.signal;
      }
      const fn = (impl as Record<string, (...a: unknown[]) => unknown>)[m];
      const result = await fn?.apply(impl, args);
      out.answer([id, own(result ?? null)]);
    } catch (e) {
      out.answer([id, null, toErrorPayload(e)]);
    } finally {
      running.delete(id);
    }
  };
  port.on('message', onMessage);
  return () => port.off('message', onMessage);
}

/** Options of a {@link portClient}. */
export interface PortClientOptions {
  /** Name used in errors (e.g. "ingestion ing1"). */
  name: string;
  /** Methods whose trailing AbortSignal cancels the remote call (reads). */
  abortable?: readonly string[];
}

/**
 * A client for {@link servePort} methods on `port`: an object whose listed methods send the
 * call. Remote errors are rethrown as StratumError with the remote SQLSTATE; calls pending when
 * the port closes (the other thread exited) fail with {@link TierUnavailableError}.
 */
export function portClient<T extends object>(
  port: MessagePort,
  methods: readonly (keyof T & string)[],
  opts: PortClientOptions,
): T & { closeClient(): Promise<void> } {
  const out = new Outbox(port);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const abortable = new Set(opts.abortable ?? []);
  let next = 1;
  let closed = false;
  port.on('message', (env: Envelope) => {
    for (const [id, buf, err] of env.answers ?? []) {
      const p = pending.get(id);
      if (!p) continue;
      pending.delete(id);
      if (err) p.reject(fromErrorPayload(err));
      else {
        try {
          p.resolve(decode(buf as Uint8Array, `thread RPC answer from ${opts.name}`));
        } catch (e) {
          p.reject(e as Error);
        }
      }
    }
  });
  port.on('close', () => {
    closed = true;
    for (const p of pending.values()) p.reject(new TierUnavailableError(`${opts.name} is unavailable: its thread has stopped`));
    pending.clear();
  });
  const client: Record<string, unknown> = {
    closeClient: async () => {},
  };
  for (const m of methods) {
    client[m] = (...args: unknown[]) => {
      const last = args[args.length - 1];
      const signal = last instanceof AbortSignal ? last : undefined;
      if (signal) args.pop();
      const at = args.length;
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      if (closed) return Promise.reject(new TierUnavailableError(`${opts.name} is unavailable: its thread has stopped`));
      const cancellable = signal && abortable.has(m) ? signal : undefined;
      if (cancellable?.aborted) return Promise.reject(canceledError(cancellable));
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        out.call([id, m, own(args), cancellable ? at : -1]);
        cancellable?.addEventListener(
          'abort',
          () => {
            if (!pending.has(id)) return;
            out.cancel(id);
          },
          { once: true },
        );
      });
    };
  }
  return client as T & { closeClient(): Promise<void> };
}
