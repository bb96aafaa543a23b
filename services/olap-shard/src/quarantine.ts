/**
 * Unreadable Parquet files (issue 4 item 10a, internal): recognising them in a DuckDB error,
 * confirming by reading the file alone, moving them to `<dir>/quarantine/` and describing them
 * to the client. The manifest swap that records them is the shard's (`Shard.quarantine`).
 */
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CorruptionError } from '@stratum/shared';
import type { ManifestFile } from './manifest.ts';
import { lit } from './sql.ts';
import { fsyncPath } from './util.ts';

/** Folder (under the shard directory) quarantined files are moved to, keeping their relative path. */
export const QUARANTINE_DIR = 'quarantine';

/** Error messages of DuckDB that mean "this file's bytes are not valid Parquet". */
const FILE_ERROR_RE =
  /parquet|magic bytes|thrift|decompress|zstd|snappy|corrupt|truncat|invalid .*page|dictionary|footer|out of range|metadata/i;

/**
 * The files among `candidates` (absolute path → file) that a DuckDB error message blames: every
 * candidate whose path the message names, when the message looks like a read failure.
 */
export function filesBlamed(message: string, candidates: ReadonlyMap<string, ManifestFile>): ManifestFile[] {
  if (!/^(IO|Invalid Input|Invalid|Internal|Serialization|Conversion|Out of Range) Error/i.test(message) && !FILE_ERROR_RE.test(message))
    return [];
  const out: ManifestFile[] = [];
  for (const [abs, f] of candidates) if (message.includes(abs)) out.push(f);
  return out;
}

/**
 * Whether a DuckDB error without a file name may still come from damaged file bytes. Damaged
 * pages fail in many ways (e.g. "Invalid Error: Variable-length int over 10 bytes."), so any IO,
 * Invalid, Internal or Serialization error counts; the caller then reads each opened file alone
 * and quarantines only files that fail on their own, so a false alarm costs a scan, never data.
 */
export function mayBeFileDamage(message: string): boolean {
  return (
    /^(IO|Invalid|Internal|Serialization) Error/i.test(message) || (/^Invalid Input Error/i.test(message) && FILE_ERROR_RE.test(message))
  );
}

/**
 * Read every column of every row of `abs` on `conn`; returns DuckDB's error message when the
 * file is unreadable, undefined when it reads. Cost: one full scan of the file.
 */
export async function verifyParquet(conn: DuckDBConnection, abs: string): Promise<string | undefined> {
  try {
    // hash() of every column forces every page of every column to be decoded.
    await conn.run(`SELECT bit_xor(hash(COLUMNS(*))) FROM read_parquet(${lit(abs)}, hive_partitioning = false)`);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/**
 * Move `<dir>/<rel>` to `<dir>/quarantine/<rel>` durably (mkdir, rename, fsync both directories).
 * @returns the new relative path.
 */
export async function moveToQuarantine(dir: string, rel: string): Promise<string> {
  const to = `${QUARANTINE_DIR}/${rel}`;
  const abs = join(dir, to);
  await mkdir(dirname(abs), { recursive: true });
  await rename(join(dir, rel), abs);
  await fsyncPath(dirname(abs));
  await fsyncPath(dirname(join(dir, rel)));
  return to;
}

/** A reason when the file lacks the Parquet magic (`PAR1`) at both ends, else undefined. */
export async function parquetMagicProblem(path: string, size: number): Promise<string | undefined> {
  if (size < 12) return `too small for Parquet (${size} bytes)`;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    await fh.read(tail, 0, 4, size - 4);
    if (head.toString('latin1') !== 'PAR1' || tail.toString('latin1') !== 'PAR1') return 'no Parquet magic (truncated or corrupted)';
    return undefined;
  } finally {
    await fh.close();
  }
}

/** An unavailable file as a query reports it. */
export interface UnavailableFile {
  table: string;
  /** Its time partition (manifest `partition`). */
  partition: string;
  path: string;
  rows: number;
  reason: string;
}

/** One line naming table, partitions and files left out (for notices and errors). */
export function describeUnavailable(files: readonly UnavailableFile[]): string {
  const byTable = new Map<string, UnavailableFile[]>();
  for (const f of files) byTable.set(f.table, [...(byTable.get(f.table) ?? []), f]);
  return [...byTable]
    .map(([t, fs]) => {
      const parts = [...new Set(fs.map((f) => f.partition))].sort().join(', ');
      const rows = fs.reduce((s, f) => s + f.rows, 0);
      return `table "${t}", partition ${parts}: ${fs.length} file(s) unavailable (${rows} row versions): ${fs.map((f) => `${f.path} (${f.reason})`).join('; ')}`;
    })
    .join('; ');
}

/**
 * The error of a query that needs unavailable files (XX001, data_corrupted).
 * Hint: `allowDegraded` (table option `degraded_reads`) answers from the rest.
 */
export function unavailableError(shard: string, files: readonly UnavailableFile[]): CorruptionError {
  return new CorruptionError(`OLAP shard ${shard}: data unavailable: ${describeUnavailable(files)}`, {
    hint: 'Restore the file(s) from a backup or re-push the time range; set degraded_reads on the table to answer from the remaining data.',
  });
}
