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
