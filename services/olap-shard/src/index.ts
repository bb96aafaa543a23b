/**
 * OLAP shard service (DESIGN §5): immutable Parquet partitions under an atomically replaced
 * manifest, an in-memory delta of versions newer than the OLAP watermark pulled from
 * ingestion, and SQL over both through DuckDB views. The package's only public entry.
 *
 * Layout: `<dir>/<table>/day=YYYY-MM-DD/part-<uuidv7>.parquet` (Hive style, day = UTC date of
 * the table's `time_column`, else of the commit time), `<dir>/manifest.json`, and
 * `<dir>/.spill/` for DuckDB's temporary files.
 */
import type { Catalog, IngestionApi, OlapShardApi, ServiceHandle } from '@stratum/shared';
import { Shard, type ShardStats, type TableStats } from './shard.ts';

export type { Manifest, ManifestFile, ManifestTable, ZoneMap, ZoneValue } from './manifest.ts';
export type { ShardStats as OlapShardStats, TableStats as OlapTableStats };

/** Options of {@link startOlapShard}. */
export interface OlapShardOptions {
  /** Shard id (logs, errors, manifest). */
  id: string;
  /** Data directory; created when missing. */
  dir: string;
  /** Catalog followed by this process; tables may appear at any time. */
  catalog: Catalog;
  /**
   * Ingestion engines to pull the delta from (`IngestionApi.delta`). The array is read at every
   * refresh, so an embedder may append sources after start (ingestion starts after OLAP).
   */
  deltaSources: IngestionApi[];
  /** Structured log sink. Default: silent. */
  log?: (msg: string, fields?: object) => void;
  /** DuckDB connections for queries (queries beyond this wait). Default 4. */
  queryConnections?: number;
  /** DuckDB worker threads. Default: DuckDB's (number of cores). */
  threads?: number;
  /** DuckDB memory limit, e.g. `'4GB'`. Default: DuckDB's (80 % of RAM). */
  memoryLimit?: string;
  /**
   * Write Parquet bloom filters for the key columns. DuckDB 1.5 writes a bloom filter only for
   * dictionary-encoded column chunks and has no per-column switch, so this raises
   * DICTIONARY_SIZE_LIMIT (to the file's row count) for every column: measured on 1M rows,
   * files grow ~2× when non-key columns have many distinct values, writes slow ~3× and scans
   * slow 10–30 %. Files are sorted by primary key, so row-group min/max statistics already
   * prune point lookups on the leading key column; the filters help lookups on later key
   * columns and on absent keys. Default false.
   */
  keyBloomFilters?: boolean;
  /** Rows per Parquet row group. Default 122 880 (DuckDB's). */
  rowGroupSize?: number;
  /** Versions per `delta()` call. Default 50 000. */
  deltaBatch?: number;
  /** How long `query` waits for the catalog version it was planned with (ms). Default 10 000. */
  catalogWaitMs?: number;
  /** Background delta pull interval (ms); 0 = pull only when a query needs it. Default 200. */
  deltaPollMs?: number;
}

/** A running OLAP shard. */
export interface OlapShard extends OlapShardApi, ServiceHandle {
  readonly id: string;
  /** Drain in-flight pushes and queries, then close every DuckDB connection and the database. Idempotent. */
  close(): Promise<void>;
  /** Files, bytes, rows per table, delta rows and query count, from memory (no I/O). */
  stats(): ShardStats;
}

/**
 * Open (or create) a shard directory and start serving.
 *
 * On start the manifest is the source of truth: Parquet files not listed in it (left by a crash
 * between writing a file and replacing the manifest) are deleted; listed files that are missing,
 * of the wrong size or without Parquet magic are logged and left out of queries (they stay in
 * the manifest so a restored file is used again after a restart).
 *
 * @throws CorruptionError (XX001) when `manifest.json` exists but is unreadable — nothing is
 * deleted in that case; StratumError from DuckDB start-up.
 */
export async function startOlapShard(opts: OlapShardOptions): Promise<OlapShard> {
  const shard = new Shard(opts);
  await shard.start();
  return {
    id: opts.id,
    name: `olap-shard ${opts.id}`,
    push: (req) => shard.push(req),
    watermarks: () => shard.watermarks(),
    query: (sql, params, catalogVersion) => shard.query(sql, params, catalogVersion),
    close: () => shard.close(),
    stats: () => shard.stats(),
  };
}
