/**
 * A bounded pool of resources with a bounded FIFO queue of callers: the OLAP shard's query
 * connections and the router's gather slots (docs/architecture.md "OLAP shard", "Router").
 */

/** A fixed set of resources handed out one caller at a time (FIFO waiters, at most `maxWaiting`). */
export class Pool<T> {
  private readonly free: T[];
  private readonly waiters: ((r: T) => void)[] = [];
  /** Callers waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * @param full the error a caller gets instead of waiting when `maxWaiting` callers already wait
   * (the queue is bounded: memory never grows with the callers).
   */
  constructor(
    readonly all: readonly T[],
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
    private readonly full: () => Error = () => new Error('pool queue is full'),
  ) {
    this.free = [...all];
  }

  /**
   * Take a resource, waiting until one is free.
   * @throws the constructor's `full` error (rejected) when `maxWaiting` callers already wait.
   */
  acquire(): Promise<T> {
    const r = this.free.pop();
    if (r !== undefined) return Promise.resolve(r);
    if (this.waiters.length >= this.maxWaiting) return Promise.reject(this.full());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Give a resource back (to the oldest waiter, if any). */
  release(r: T): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.free.push(r);
  }

  /** Run `fn` with a resource. */
  async use<R>(fn: (r: T) => Promise<R>): Promise<R> {
    const r = await this.acquire();
    try {
      return await fn(r);
    } finally {
      this.release(r);
    }
  }
}
