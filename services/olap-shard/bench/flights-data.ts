/**
 * Shared set-up of the flights-3m benchmarks (not a benchmark itself): the rows of
 * `vega-datasets/data/flights-3m.parquet` (3 M flights, Jan–Jun 2001) as row versions of a table
 * `flights (id BIGINT PRIMARY KEY, date TIMESTAMP, delay BIGINT, distance BIGINT, origin TEXT,
 * destination TEXT)`, time column `date`, pushed to a fresh shard one month per push.
 *
 * `id` is the row's position in the file (the data set has no key). Each version commits at its
 * flight's time plus its position within that minute (ms), so commit times rise with the file
 * order, mostly one version per millisecond (a trickle load: the worst case for UUIDv7 stamps,
 * whose random bits are redrawn every millisecond).
 *
 * Version stamps: `VERSIONS=random` (default) uses the TX engine's `VersionGenerator`
 * (shared/src/version.ts: the `uuidv7` package, 42-bit counter re-seeded at random each
 * millisecond + 32 random bits per stamp); `VERSIONS=counter` uses {@link CounterVersionGenerator}.
 */
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { VersionGenerator, type VersionRecord } from '@stratum/shared';
import { type OlapShard, startOlapShard } from '../src/index.ts';
import { ArraySource, makeCatalog, tempDir } from '../src/test-support.ts';

/** Path of flights-3m.parquet in the installed `vega-datasets` package. */
export const FLIGHTS_PARQUET = fileURLToPath(new URL('../../../node_modules/vega-datasets/data/flights-3m.parquet', import.meta.url));

/** The benchmark table. */
export const FLIGHTS = {
  name: 'flights',
  columns: [
    { name: 'id', type: 'bigint' as const, notNull: true },
    { name: 'date', type: 'timestamp' as const, notNull: true },
    { name: 'delay', type: 'bigint' as const, notNull: false },
    { name: 'distance', type: 'bigint' as const, notNull: false },
    { name: 'origin', type: 'text' as const, notNull: false },
    { name: 'destination', type: 'text' as const, notNull: false },
  ],
  primaryKey: ['id'],
};

/** The user rows in file order, with `id`, as DuckDB SQL over the data set. */
export const FLIGHTS_SQL = `SELECT row_number() OVER () AS id, date, delay, distance, origin, destination FROM read_parquet('${FLIGHTS_PARQUET}')`;

/**
 * A UUIDv7 generator per RFC 9562 §6.2 method 1 (fixed-length dedicated counter): 48-bit ms
 * timestamp, a 42-bit counter that only ever increments (12 bits in rand_a, 30 in rand_b), and
 * 32 bits drawn once per generator (a node id telling engines apart) instead of per stamp.
 * Monotonic and unique per generator like the TX engine's; measured here only, to size what
 * such stamps would save (shared/src/version.ts is the lead's call).
 */
export class CounterVersionGenerator {
  private counter = 0;
  private lastTs = 0;
  private readonly node = Math.floor(Math.random() * 2 ** 32);

  next(ts: number): string {
    if (ts < this.lastTs) ts = this.lastTs;
    this.lastTs = ts;
    const c = this.counter++;
    const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
    const t = hex(ts, 12);
    const hi = Math.floor(c / 2 ** 30) & 0xfff;
    const lo = c % 2 ** 30;
    // Variant bits 10, then the 30-bit counter_lo: the 4th group and the start of the 5th.
    const varLo = (0b10 * 2 ** 30 + lo) >>> 0;
    return `${t.slice(0, 8)}-${t.slice(8)}-7${hex(hi, 3)}-${hex(varLo >>> 16, 4)}-${hex(varLo & 0xffff, 4)}${hex(this.node, 8)}`;
  }
}

/** Read the data set into version records (inserts; commit time as described above). */
const LOAD_COMMITS = process.env.COMMIT === 'load';
const LOAD_START = Date.now();

export async function flightVersions(mode = process.env.VERSIONS ?? 'random'): Promise<VersionRecord[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run("SET TimeZone = 'UTC'");
  // Numbers (not BIGINT) cross into JS cheaply; every value here is a safe integer.
  const r = await conn.runAndReadAll(
    `SELECT CAST(id AS INTEGER), CAST(epoch_ms(date) AS DOUBLE) AS ms, CAST(delay AS INTEGER), CAST(distance AS INTEGER), origin, destination,
            CAST(row_number() OVER (PARTITION BY date ORDER BY id) - 1 AS INTEGER) AS nth FROM (${FLIGHTS_SQL}) ORDER BY id`,
  );
  const [ids, ms, delay, distance, origin, destination, nth] = r.getColumnsJS() as unknown as [
    number[],
    number[],
    (number | null)[],
    (number | null)[],
    (string | null)[],
    (string | null)[],
    number[],
  ];
  conn.disconnectSync();
  db.closeSync();
  const gen = mode === 'counter' ? new CounterVersionGenerator() : new VersionGenerator();
  const out: VersionRecord[] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    // COMMIT=load: committed like `stratum load flights` (1,000-row transactions, one per ms,
    // starting now); default: each flight committed at its own time (a live feed over 6 months).
    const commitTs = LOAD_COMMITS ? LOAD_START + Math.floor(i / 1000) : (ms[i] as number) + (nth[i] as number);
    const id = BigInt(ids[i] as number);
    out[i] = {
      table: 'flights',
      key: [id],
      version: gen.next(commitTs),
      prev: null,
      op: 'insert',
      commitTs,
      engine: 'tx1',
      row: {
        id,
        date: BigInt(ms[i] as number) * 1000n,
        delay: delay[i] ?? null,
        distance: distance[i] ?? null,
        origin: origin[i] ?? null,
        destination: destination[i] ?? null,
      },
    };
  }
  return out;
}

/**
 * Re-stamp the versions as one bulk load (`LAYOUT=bulk`): all committed within one day, 1 000 per
 * millisecond, and the table without a time column, so they land in one day partition (one file
 * per push) instead of 181.
 */
export function asBulkLoad(versions: VersionRecord[], mode = process.env.VERSIONS ?? 'random'): void {
  const gen = mode === 'counter' ? new CounterVersionGenerator() : new VersionGenerator();
  const t0 = Date.UTC(2001, 6, 2);
  for (let i = 0; i < versions.length; i++) {
    const v = versions[i] as VersionRecord;
    v.commitTs = t0 + Math.floor(i / 1000);
    v.version = gen.next(v.commitTs);
  }
}

/**
 * A shard in a fresh temp dir holding the flights, pushed one month (of commit time) per push;
 * `layout: 'bulk'` (see {@link asBulkLoad}) declares no time column.
 */
export async function flightsShard(
  versions: VersionRecord[],
  extra: {
    pruneFiles?: boolean;
    dir?: string;
    layout?: string;
    partition?: 'day' | 'month' | 'none';
    targetFileRows?: number;
    rowGroupSize?: number;
    memoryLimit?: string;
    queryConnections?: number;
    threads?: number;
  } = {},
): Promise<{ shard: OlapShard; dir: string; catalog: ReturnType<typeof makeCatalog>; pushMs: number }> {
  const part = extra.partition ? { partition: extra.partition } : {};
  const catalog = makeCatalog([FLIGHTS], { flights: extra.layout === 'bulk' ? part : { timeColumn: 'date', ...part } });
  const dir = extra.dir ?? (await tempDir('olap-flights-'));
  const shard = await startOlapShard({
    id: 'bench',
    dir,
    catalog,
    deltaSources: [{ id: 'ing1', api: new ArraySource() }],
    deltaPollMs: 0,
    compactionIntervalMs: 0,
    ...(extra.targetFileRows === undefined ? {} : { targetFileRows: extra.targetFileRows }),
    ...(extra.rowGroupSize === undefined ? {} : { rowGroupSize: extra.rowGroupSize }),
    ...(extra.memoryLimit === undefined ? {} : { memoryLimit: extra.memoryLimit }),
    ...(extra.queryConnections === undefined ? {} : { queryConnections: extra.queryConnections }),
    ...(extra.threads === undefined ? {} : { threads: extra.threads }),
    ...(process.env.WORKER_NICE === undefined ? {} : { workerNice: Number(process.env.WORKER_NICE) }),
    ...(extra.pruneFiles === undefined ? {} : { pruneFiles: extra.pruneFiles }),
  });
  const t = performance.now();
  let from = -1;
  if (LOAD_COMMITS) {
    // As ingestion pushes a bulk load: 200,000 versions per push (`ingestion.push_rows`), in commit order.
    for (let i = 0; i < versions.length; i += 200_000) {
      const batch = versions.slice(i, i + 200_000);
      const to = (batch[batch.length - 1] as VersionRecord).commitTs;
      await shard.push({ source: 'ing1', table: 'flights', fromTs: from, toTs: to, versions: batch });
      from = to;
    }
    return { shard, dir, catalog, pushMs: performance.now() - t };
  }
  for (let m = 1; m <= 8; m++) {
    const to = Date.UTC(2001, m, 1) - 1;
    const batch = versions.filter((v) => v.commitTs > from && v.commitTs <= to);
    await shard.push({ source: 'ing1', table: 'flights', fromTs: from, toTs: to, versions: batch });
    from = to;
  }
  return { shard, dir, catalog, pushMs: performance.now() - t };
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

/** Geometric mean. */
export function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}
