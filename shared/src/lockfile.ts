/**
 * Exclusive use of a data directory by one process: `<dir>/stratum.lock` holds the owner's
 * pid, created with O_EXCL. A lock whose pid is no longer alive is stale and taken over
 * (the previous owner crashed). LevelDB locks its own files, but LMDB allows several
 * processes, so without this two servers could share one ingestion store.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StratumError } from './errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take the lock of `dir` (created if missing) for this process.
 * @returns a function releasing it (idempotent; also released when the process exits).
 * @throws StratumError 55006 when another live process holds it, naming the directory and pid.
 */
export function lockDirectory(dir: string, what: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'stratum.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StratumError(
          '55006',
          `${what} data directory ${dir} is in use by process ${pid}; stop it first or choose another --data-dir`,
        );
      }
      rmSync(file, { force: true }); // stale: its owner is gone
    }
  }
  throw new StratumError('55006', `cannot lock ${what} data directory ${dir}`);
}
