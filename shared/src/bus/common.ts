/**
 * Helpers shared by the change-bus adapters (DESIGN §3): argument checks that keep every
 * adapter's accepted inputs identical, and a small wake-up signal used instead of polling.
 */

/** Default most messages per handler call when `SubscribeOptions.maxBatch` is not given. */
export const DEFAULT_MAX_BATCH = 256;

/** Longest accepted message id, in UTF-8 bytes (LMDB keys are limited to 1978 bytes). */
export const MAX_MSG_ID_BYTES = 512;

/** Longest accepted engine name, in characters. */
export const MAX_ENGINE_CHARS = 128;

/**
 * Engine names must be a single NATS subject token (no `.`, `*`, `>`, whitespace) so that
 * `stratum.cdc.<partition>.<engine>` is a literal subject on every adapter.
 */
const ENGINE_RE = /^[^\s.*>]+$/;

/**
 * Check the arguments of `ChangeBus.publish`.
 * @throws TypeError for an empty or non-token engine name, a partition that is not a
 *   non-negative safe integer, an empty or over-long (> {@link MAX_MSG_ID_BYTES}) msgId,
 *   or a payload that is not a Uint8Array.
 */
export function checkPublishArgs(engine: string, partition: number, msgId: string, payload: Uint8Array): void {
  if (typeof engine !== 'string' || engine.length === 0 || engine.length > MAX_ENGINE_CHARS || !ENGINE_RE.test(engine)) {
    throw new TypeError(
      `invalid engine name ${JSON.stringify(engine)}: must be 1..${MAX_ENGINE_CHARS} characters without '.', '*', '>' or whitespace`,
    );
  }
  checkPartition(partition);
  if (typeof msgId !== 'string' || msgId.length === 0 || Buffer.byteLength(msgId) > MAX_MSG_ID_BYTES) {
    throw new TypeError(`invalid msgId ${JSON.stringify(msgId)}: must be 1..${MAX_MSG_ID_BYTES} UTF-8 bytes`);
  }
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
}

/** @throws TypeError when `partition` is not a non-negative safe integer. */
export function checkPartition(partition: number): void {
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw new TypeError(`invalid partition ${String(partition)}: must be a non-negative integer`);
  }
}

/**
 * Normalise `SubscribeOptions.maxBatch` (default {@link DEFAULT_MAX_BATCH}).
 * @throws TypeError when it is not a positive safe integer.
 */
export function resolveMaxBatch(maxBatch: number | undefined): number {
  const n = maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`invalid maxBatch ${String(maxBatch)}: must be a positive integer`);
  return n;
}

/**
 * Check `SubscribeOptions.partitions` / `after` and return the de-duplicated partition list.
 * @throws TypeError on an empty list, an invalid partition or a negative/non-integer position.
 */
export function checkSubscribePartitions(partitions: number[], after: Map<number, number>): number[] {
  if (partitions.length === 0) throw new TypeError('subscribe needs at least one partition');
  const out = [...new Set(partitions)];
  for (const p of out) checkPartition(p);
  for (const [p, pos] of after) {
    checkPartition(p);
    if (!Number.isSafeInteger(pos) || pos < 0) {
      throw new TypeError(`invalid after position ${String(pos)} for partition ${p}: must be a non-negative integer`);
    }
  }
  return out;
}

/**
 * A level-triggered wake-up: `wait(seen)` resolves as soon as `version` differs from
 * `seen` (immediately if it already does). `notify()` bumps the version and wakes all
 * waiters. No timers, no polling.
 */
export class Signal {
  /** Incremented by every `notify()`. */
  version = 0;
  private waiters = new Set<() => void>();

  /** Bump the version and wake every waiter. */
  notify(): void {
    this.version++;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolve once `version !== seen`. */
  wait(seen: number): Promise<void> {
    if (this.version !== seen) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Like {@link wait}, but also resolves after `ms` milliseconds (the waiter is then dropped). */
  waitTimeout(seen: number, ms: number): Promise<void> {
    if (this.version !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

/** `e` as an Error (non-Error throwables are wrapped). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
