/**
 * RPC between threads of one process (docs/architecture.md, "Threads"): the same method lists
 * as the HTTP RPC of the distributed form (rpc.ts), errors as {@link ErrorPayload} with their
 * SQLSTATE, over a `MessagePort`.
 *
 * Arguments and results travel by structured clone, which keeps every stored value as the
 * calling thread had it (bigint, -0, NaN, byte arrays; MessagePack, the RPC codec between
 * processes, writes -0 as 0). All calls (answers) made in one event-loop turn go in one
 * `postMessage`, so one serialization covers them. Cancellation: a call whose last argument is
 * an AbortSignal, to a method listed as `abortable`, sends a cancel frame when the signal aborts;
 * the serving side passes its own signal at that argument index and aborts it. Other methods drop
 * the signal and wait for the answer (a write must not lose its outcome), as over HTTP.
 */
import type { MessagePort } from 'node:worker_threads';
import { canceledError } from '../abort.ts';
import { type ErrorPayload, fromErrorPayload, TierUnavailableError, toErrorPayload } from '../errors.ts';

/** A call: [id, method, arguments, signal argument index or -1]. */
type CallFrame = [number, string, unknown[], number];
/** An answer: [id, result] or [id, null, error]. */
type AnswerFrame = [number, unknown, ErrorPayload?];
/** One postMessage: calls, answers and cancels of one event-loop turn. */
interface Envelope {
  calls?: CallFrame[];
  answers?: AnswerFrame[];
  cancels?: number[];
}

/** Collects frames of one event-loop turn and posts them as one message. */
class Outbox {
  private env: Envelope | undefined;
  /** @param failed a call that could not be cloned (e.g. a function among its arguments): its id and why. */
  constructor(
    private readonly port: MessagePort,
    private readonly failed: (id: number, e: Error) => void = () => {},
  ) {}
  private envelope(): Envelope {
    if (!this.env) {
      this.env = {};
      setImmediate(() => this.flush());
    }
    return this.env;
  }
  call(f: CallFrame): void {
    (this.envelope().calls ??= []).push(f);
  }
  answer(f: AnswerFrame): void {
    (this.envelope().answers ??= []).push(f);
  }
  cancel(id: number): void {
    (this.envelope().cancels ??= []).push(id);
  }
  private flush(): void {
    const env = this.env;
    this.env = undefined;
    if (!env) return;
    try {
      this.port.postMessage(env);
    } catch {
      // Something in it cannot be cloned: send frame by frame, and fail only those that cannot.
      for (const f of env.calls ?? []) {
        try {
          this.port.postMessage({ calls: [f] });
        } catch (e) {
          this.failed(f[0], e as Error);
        }
      }
      for (const f of env.answers ?? []) {
        try {
          this.port.postMessage({ answers: [f] });
        } catch (e) {
          this.port.postMessage({ answers: [[f[0], null, toErrorPayload(e)]] });
        }
      }
      if (env.cancels) this.port.postMessage({ cancels: env.cancels });
    }
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
    for (const [id, m, args, at] of env.calls ?? []) void run(id, m, args, at);
  };
  const run = async (id: number, m: string, args: unknown[], at: number) => {
    try {
      if (!allowed.has(m)) throw Object.assign(new Error(`no thread RPC method "${m}"`), { code: '42883' });
      if (at >= 0) {
        const abort = new AbortController();
        running.set(id, abort);
        while (args.length < at) args.push(undefined);
        args[at] = abort.signal;
      }
      const fn = (impl as Record<string, (...a: unknown[]) => unknown>)[m];
      const result = await fn?.apply(impl, args);
      out.answer([id, result ?? null]);
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
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const out = new Outbox(port, (id, e) => {
    pending.get(id)?.reject(new Error(`${opts.name}: the call's arguments cannot cross threads: ${e.message}`));
    pending.delete(id);
  });
  const abortable = new Set(opts.abortable ?? []);
  let next = 1;
  let closed = false;
  port.on('message', (env: Envelope) => {
    for (const [id, result, err] of env.answers ?? []) {
      const p = pending.get(id);
      if (!p) continue;
      pending.delete(id);
      if (err) p.reject(fromErrorPayload(err));
      else p.resolve(result);
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
        if (!cancellable) {
          pending.set(id, { resolve, reject });
          out.call([id, m, args, -1]);
          return;
        }
        // The listener goes when the call settles: a statement's signal outlives many calls
        // (a scan's pages), and listeners left behind would pile up on it.
        const onAbort = () => {
          if (pending.has(id)) out.cancel(id);
        };
        const off = () => cancellable.removeEventListener('abort', onAbort);
        pending.set(id, {
          resolve: (v) => {
            off();
            resolve(v);
          },
          reject: (e) => {
            off();
            reject(e);
          },
        });
        out.call([id, m, args, at]);
        cancellable.addEventListener('abort', onAbort, { once: true });
      });
    };
  }
  return client as T & { closeClient(): Promise<void> };
}
