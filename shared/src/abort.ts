/**
 * Cancellation of a statement's work (docs/architecture.md "Query cancel"): the router makes one
 * AbortSignal per statement, aborted by a CancelRequest or by `statement_timeout` with a
 * {@link QueryCanceledError} as its reason, and passes it down to the tier calls. Tiers stop
 * between units of work (`throwIfCanceled`) and interrupt native engines (`onCancel`); the error
 * they throw is the signal's reason, so the client sees PostgreSQL's 57014 message.
 */
import { QueryCanceledError, StratumError } from './errors.ts';

/**
 * The error a stopped call throws: the signal's reason when it is a StratumError (the router's
 * {@link QueryCanceledError}), else a 57014 "user request" (a signal aborted without a reason,
 * e.g. the RPC server's when the client disconnected).
 */
export function canceledError(signal: AbortSignal): StratumError {
  const r: unknown = signal.reason;
  return r instanceof StratumError ? r : new QueryCanceledError('user', { cause: r });
}

/** @throws the signal's {@link canceledError} when `signal` is aborted; no-op without a signal. */
export function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw canceledError(signal);
}

/**
 * Call `fn` once when `signal` aborts (at once if it already has). Returns the function that
 * removes the listener; call it when the work is over so a late abort does nothing.
 */
export function onCancel(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * `p`, or a rejection with the signal's {@link canceledError} as soon as `signal` aborts (the
 * work behind `p` is expected to stop on the same signal; this only stops waiting for it).
 */
export function raceCancel<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  let off = () => {};
  const canceled = new Promise<never>((_, reject) => {
    off = onCancel(signal, () => reject(canceledError(signal)));
  });
  return Promise.race([p, canceled]).finally(off);
}
