/**
 * OLAP shard service (DESIGN §5): immutable Parquet partitions under an atomically replaced
 * manifest, an in-memory delta of versions newer than the OLAP watermark pulled from
 * ingestion, and SQL over both through DuckDB views. The package's only public entry.
 *
 * Tables are stored by storage name and columns by field (catalog.ts); views `<table>`,
 * `<table>__history` and `<table>__latest` speak names, so RENAME only rebuilds views.
 *
 * Layout: `<dir>/<storage>/<partition>/part-<uuidv7>.parquet` (Hive style; partition: layout.ts,
 * the UTC day or month of the table's `time_column`, else of the commit time, or `all`),
 * `<dir>/manifest.json`, and
 * `<dir>/.spill/` for DuckDB's temporary files.
 */
import type { Catalog, IngestionApi, OlapShardApi, ServiceHandle, TableInfo, VersionRecord } from '@stratum/shared';
import type { CompactionReport } from './compaction.ts';
import { Shard, type ShardStats, type TableStats } from './shard.ts';

export type { CompactionReport, CompactionStats, PartitionCompaction } from './compaction.ts';

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
   * Ingestion engines to pull the delta from (`IngestionApi.delta`), each with its ingestion id
   * (`PushRequest.source`): the OLAP watermark is kept per (table, source), and a source's delta
   * rows are dropped once that source's push covers them. Keys are partitioned between ingestion
   * engines, so all versions of a key come from one source. The array is read at every refresh,
   * so an embedder may append sources after start (ingestion starts after OLAP).
   */
  deltaSources: { id: string; api: IngestionApi }[];
  /**
   * Whether this shard holds a version (DESIGN §5 placement; use `shardOfVersion` of
   * `@stratum/shared` sharding.ts with this shard's id). Delta versions it does not own are
   * ignored, so a table spread over shards is not counted twice. Default: every version.
   */
  owns?: (info: TableInfo, v: VersionRecord) => boolean;
  /**
   * Skip files that zone maps (per-column min/max, `_ts` range) and key bloom filters prove hold
   * no row a query's predicates can match, before DuckDB opens them (prune.ts). `false` opens
   * every file (for comparisons and benchmarks). Default true.
   */
  pruneFiles?: boolean;
  /** Structured log sink. Default: silent. */
  log?: (msg: string, fields?: object) => void;
  /** DuckDB connections for queries (queries beyond this wait). Default 4. */
  queryConnections?: number;
  /**
   * Queries that may wait for a connection (config `olap.max_queued_queries`); one more fails at
   * once with SQLSTATE 53000 instead of queueing in memory without bound. Default 1000.
   */
  maxQueuedQueries?: number;
  /**
   * DuckDB worker threads that run queries (DuckDB's `threads`, with `external_threads = 0`: the
   * caller never runs a query's tasks; shared/src/duckdb/workers.ts). Default: one per core
   * (`os.availableParallelism()`).
   */
  threads?: number;
  /**
   * nice value (0 – 19) of those worker threads (Linux; shared/src/duckdb/workers.ts), so the
   * process's transactions get the CPU first. Default 10; 0 = unchanged.
   */
  workerNice?: number;
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
  /**
   * Background delta pulls run only until this long (ms) after the shard's last query (config
   * `olap.delta_idle_ms`): a write-only load costs the shard nothing, and the first query after
   * an idle spell pulls what arrived meanwhile (versions already in Parquet are skipped at the
   * source). 0 = pull in the background always. Default 60 000.
   */
  deltaIdleMs?: number;
  /**
   * How often the background compactor looks for partitions to compact (ms; config
   * `olap.compaction_interval_ms`); 0 = never in the background, only {@link OlapShard.compactNow}.
   * Default 30 000.
   */
  compactionIntervalMs?: number;
  /**
   * A run of small files (consecutive in time, across partitions: compaction.ts) is compacted
   * once it holds at least this many (config `olap.compaction_min_files`, ≥ 2). Under a trickle
   * load a table holds about this many small files plus the pushes of one interval. Default 8.
   */
  compactionMinFiles?: number;
  /**
   * Files with fewer rows are small; compaction writes files of up to this many rows (config
   * `olap.target_file_rows`). Default 1 000 000.
   */
  targetFileRows?: number;
  /**
   * Wall clock (ms since epoch) for the history-retention horizon of compaction: versions
   * superseded before `now() − historyRetentionMs` (table option, config `history_retention_ms`)
   * are dropped, so `<table>__history` and time travel reach back only that far. Default `Date.now`.
   */
  now?: () => number;
}

/** A running OLAP shard. */
export interface OlapShard extends OlapShardApi, ServiceHandle {
  readonly id: string;
  /** Drain in-flight pushes and queries, then close every DuckDB connection and the database. Idempotent. */
  close(): Promise<void>;
  /** Files, bytes, rows per table, delta rows, query count and compaction counters, from memory (no I/O). */
  stats(): ShardStats;
  /**
   * Compact every eligible partition now, one at a time (the background compactor's work, for
   * tests and operations), then delete the replaced files that no running query can read.
   * Failures of single partitions are logged and counted in `stats().compaction.errors`, not thrown.
   * @throws StratumError 57P01 once closing.
   */
  compactNow(): Promise<CompactionReport>;
}

/**
 * Open (or create) a shard directory and start serving.
 *
 * On start the manifest is the source of truth: Parquet files not listed in it (left by a crash
 * between writing a file and replacing the manifest) are deleted; listed files that are missing
 * are logged and left out of queries (they stay in the manifest so a restored file is used again
 * after a restart); listed files of the wrong size or without Parquet magic are moved to
 * `<dir>/quarantine/` and recorded as quarantined. Queries touching a table with unavailable
 * files fail with XX001 naming them, or with `QueryOptions.allowDegraded` answer from the rest
 * with a notice; a file DuckDB fails to read at query time is quarantined the same way.
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
    watermarks: (source) => shard.watermarks(source),
    query: (sql, params, catalogVersion, options, signal) => shard.query(sql, params, catalogVersion, options, signal),
    close: () => shard.close(),
    stats: () => shard.stats(),
    compactNow: () => shard.compactNow(),
  };
}
