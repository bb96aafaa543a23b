/**
 * Per-file bloom filters of the primary-key columns (DESIGN §5 "bloom filters on key columns"),
 * kept by the shard in a sidecar next to each Parquet file (`part-….parquet.bloom`) and used to
 * skip files for point lookups before DuckDB opens them (internal).
 *
 * Why not Parquet's own filters: DuckDB 1.5 writes a Parquet bloom filter only for
 * dictionary-encoded column chunks, with no per-column switch (see README "Bloom filters").
 *
 * Hashing is DuckDB's `hash()` of the typed value, both when building (over the written file)
 * and when probing (over the query's constant cast to the column type), so JS never has to
 * reproduce DuckDB's value semantics. The filter remembers `hash(42::BIGINT)` of the DuckDB that
 * built it; a different DuckDB (whose hash may differ) ignores the sidecar, so a stale filter
 * can never hide a present key. Bit positions: Kirsch–Mitzenmacher double hashing
 * `(h1 + i·h2) mod m` over the two 32-bit halves of the 64-bit hash ("Less Hashing, Same
 * Performance", ESA 2006); `m = ⌈n·ln(1/p)/ln²2⌉` bits, `k = round(m/n·ln 2)`, p = 1 %.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, lit } from './sql.ts';
import { fsyncPath } from './util.ts';

const MAGIC = 'SBF1';
/** Target false-positive rate. */
const FPP = 0.01;

/** SQL of the hash check value: differs between DuckDB builds whose `hash()` differs. */
export const HASH_CHECK_SQL = 'CAST(hash(CAST(42 AS BIGINT)) AS VARCHAR)';

/** One column's filter. */
interface ColumnFilter {
  bits: Uint8Array;
  /** Bits (m). */
  m: number;
  /** Hash functions (k). */
  k: number;
}

/** Bloom filters of one file, by key column name. */
export class FileBloom {
  constructor(
    readonly columns: Map<string, ColumnFilter>,
    /** Size of the Parquet file it was built from (bytes); a different size means another file. */
    readonly parquetBytes: number,
  ) {}

  /**
   * False when `column` provably holds none of `hashes` (64-bit DuckDB hashes); true when it
   * may hold one, or when the file has no filter for the column.
   */
  mayContainAny(column: string, hashes: readonly bigint[]): boolean {
    const f = this.columns.get(column);
    if (!f) return true;
    return hashes.some((h) => probe(f, h));
  }
}

function halves(h: bigint): [number, number] {
  return [Number(h & 0xffffffffn), Number((h >> 32n) & 0xffffffffn)];
}

function probe(f: ColumnFilter, h: bigint): boolean {
  const [h1, h2] = halves(h);
  for (let i = 0; i < f.k; i++) {
    const pos = (h1 + i * h2) % f.m;
    if (((f.bits[pos >>> 3] as number) & (1 << (pos & 7))) === 0) return false;
  }
  return true;
}

/** Filter parameters for `n` distinct values. */
function sizing(n: number): { m: number; k: number } {
  const m = Math.max(64, Math.ceil((Math.max(1, n) * Math.log(1 / FPP)) / (Math.LN2 * Math.LN2)));
  const k = Math.max(1, Math.min(16, Math.round((m / Math.max(1, n)) * Math.LN2)));
  return { m, k };
}

/**
 * Build the key-column filters of the Parquet file `abs` (reading it with DuckDB) and write the
 * sidecar `<abs>.bloom` durably (tmp, fsync, rename). Returns the in-memory filter.
 * @throws the DuckDB or file-system error (the caller logs it; a file without a filter is only
 * not bloom-pruned).
 */
export async function buildBloom(conn: DuckDBConnection, abs: string, keyColumns: readonly string[]): Promise<FileBloom> {
  const parquetBytes = (await stat(abs)).size;
  const check = await conn.runAndReadAll(`SELECT ${HASH_CHECK_SQL}`);
  const hashCheck = String(check.getRows()[0]?.[0]);
  const columns = new Map<string, ColumnFilter>();
  for (const col of keyColumns) {
    const r = await conn.runAndReadAll(
      `SELECT CAST(h & 4294967295 AS UINTEGER) AS lo, CAST(h >> 32 AS UINTEGER) AS hi
       FROM (SELECT DISTINCT hash(${ident(col)}) AS h FROM read_parquet(${lit(abs)}, hive_partitioning = false))`,
    );
    const [los, his] = r.getColumns() as [number[], number[]];
    const n = los.length;
    const { m, k } = sizing(n);
    const bits = new Uint8Array(Math.ceil(m / 8));
    for (let j = 0; j < n; j++) {
      const h1 = los[j] as number;
      const h2 = his[j] as number;
      for (let i = 0; i < k; i++) {
        const pos = (h1 + i * h2) % m;
        bits[pos >>> 3] = (bits[pos >>> 3] as number) | (1 << (pos & 7));
      }
    }
    columns.set(col, { bits, m, k });
  }
  const header = Buffer.from(
    JSON.stringify({ parquetBytes, hashCheck, columns: [...columns].map(([name, f]) => ({ name, m: f.m, k: f.k, bytes: f.bits.length })) }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  const tmp = `${abs}.bloom.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(Buffer.concat([Buffer.from(MAGIC), len, header, ...[...columns.values()].map((f) => f.bits)]));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, `${abs}.bloom`);
  await fsyncPath(dirname(abs));
  return new FileBloom(columns, parquetBytes);
}

/**
 * Read the sidecar of Parquet file `abs`. Returns undefined when it is missing, malformed, built
 * by a DuckDB whose hash differs (`hashCheck` = the value of {@link HASH_CHECK_SQL} now), or
 * built from a file of another size.
 */
export async function readBloom(abs: string, hashCheck: string, parquetBytes: number): Promise<FileBloom | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(`${abs}.bloom`);
  } catch {
    return undefined;
  }
  try {
    if (buf.length < 8 || buf.subarray(0, 4).toString('latin1') !== MAGIC) return undefined;
    const hlen = buf.readUInt32LE(4);
    const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as {
      parquetBytes: number;
      hashCheck: string;
      columns: { name: string; m: number; k: number; bytes: number }[];
    };
    if (header.hashCheck !== hashCheck || header.parquetBytes !== parquetBytes) return undefined;
    const columns = new Map<string, ColumnFilter>();
    let off = 8 + hlen;
    for (const c of header.columns) {
      if (c.bytes !== Math.ceil(c.m / 8) || off + c.bytes > buf.length || !(c.k >= 1)) return undefined;
      columns.set(c.name, { bits: new Uint8Array(buf.subarray(off, off + c.bytes)), m: c.m, k: c.k });
      off += c.bytes;
    }
    return new FileBloom(columns, parquetBytes);
  } catch {
    return undefined;
  }
}

/** Remove the sidecar of `abs` (if any). */
export async function removeBloom(abs: string): Promise<void> {
  await rm(`${abs}.bloom`, { force: true });
  await rm(`${abs}.bloom.tmp`, { force: true });
}
