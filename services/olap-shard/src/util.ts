/**
 * Small concurrency and durability helpers used inside the OLAP shard (internal).
 */
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** FIFO async mutex: `run(fn)` executes `fn` after every earlier `run` settled. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Run `fn` exclusively; resolves/rejects with its outcome. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

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

/** fsync a file or directory by path (directories: so a rename/create in it is durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replace `path` atomically with `data`: write `<path>.tmp-<pid>`, fsync it, rename over
 * `path`, fsync the directory. A crash leaves either the old or the new content (POSIX rename).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dirname(path));
}
