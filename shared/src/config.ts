/**
 * Configuration: one `stratum.yaml` (DESIGN §9), validated with zod. Every option is
 * declared once here with its default and a one-line description; `docs/configuration.md`
 * is generated from this schema (`npm run docs:config`). Errors name the file, the path
 * inside it (with line:column) and what was expected. Environment variables
 * `STRATUM_<PATH>` override the file, path segments joined by `__`
 * (e.g. `STRATUM_ROUTER__PG_PORT=6543`, `STRATUM_CLUSTER__BUS=nats://127.0.0.1:4222`).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { TableOptions } from './catalog.ts';
import { DEFAULT_TABLE_OPTIONS } from './catalog.ts';
import { ConfigError } from './errors.ts';

const hostPort = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Address to listen on.'),
  port: z.number().int().min(0).max(65535).describe('TCP port to listen on (0 = pick a free one).'),
});

const url = z.string().regex(/^https?:\/\/[^/]+$/, 'expected an http URL like http://127.0.0.1:7501 (no path)');

const txEngineEntry = z.strictObject({
  id: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,32}$/, 'expected 1-32 letters, digits, _ or -')
    .describe('Engine id; stable across restarts (it names the engine in version stamps and offsets).'),
  url: url.describe('HTTP RPC address of this engine.'),
});

const ingestionEntry = z.strictObject({
  id: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,32}$/, 'expected 1-32 letters, digits, _ or -')
    .describe('Ingestion engine id.'),
  url: url.describe('HTTP RPC address of this ingestion engine.'),
  partitions: z
    .union([z.literal('all'), z.array(z.number().int().min(0))])
    .default('all')
    .describe('Stream partitions this engine consumes.'),
});

const shardEntry = z.strictObject({
  id: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,32}$/, 'expected 1-32 letters, digits, _ or -')
    .describe('OLAP shard id.'),
  url: url.describe('HTTP RPC address of this shard.'),
});

const tableOptions = z.strictObject({
  time_column: z
    .string()
    .optional()
    .describe('Column (timestamp, timestamptz or date) that OLAP time partitions and time-range routing use (default: commit time).'),
  partition: z
    .enum(['day', 'month', 'none'])
    .optional()
    .describe(
      'OLAP time partitions of this table: a push writes one file per partition it touches (UTC day or month of time_column, or one for `none`); compaction merges small files across partitions towards olap.target_file_rows. Default: month.',
    ),
  append_only: z.boolean().default(false).describe('Every version is a row; no latest-version view.'),
  conflict: z.enum(['lww', 'reject']).default('lww').describe('Policy for rows written concurrently on two TX engines.'),
  tx_retention_ms: z
    .number()
    .int()
    .min(1)
    .default(86_400_000)
    .describe(
      'Rows older than this (ms) that ingestion has merged are evicted from the TX engines; reads of them are served by ingestion.',
    ),
  ingestion_retention_ms: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      "ingestion_retention: how far back (ms) this table's rows stay in the ingestion tier (default ingestion.retention_ms); reads whose time_column range lies entirely before now − this skip the ingestion tier.",
    ),
  history_retention_ms: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      'OLAP compaction drops versions superseded longer ago than this (ms): time travel and `<table>__history` then reach back this far. Default: keep every version.',
    ),
  shard_key: z
    .string()
    .optional()
    .describe(
      'Column whose value picks the OLAP shard (hash over `shards`), e.g. a tenant or region. Must be a primary-key column unless the table is append_only.',
    ),
  shards: z
    .array(z.string())
    .min(1)
    .optional()
    .describe('OLAP shard ids that hold this table (default: every shard in cluster.olap_shards).'),
  time_shards: z
    .array(
      z.strictObject({
        shard: z.string().describe('OLAP shard id.'),
        until: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?$/, 'expected an ISO date like 2026-01-01 or 2026-01-01T00:00:00Z')
          .optional()
          .describe('Rows whose time_column is before this (UTC) go here; the last entry has no `until` and takes the rest.'),
      }),
    )
    .min(2)
    .optional()
    .describe(
      'Shard by time (hot/cold): each entry takes rows whose time_column is before its `until`. Needs time_column and append_only (a row must never move between shards).',
    ),
  durability: z
    .enum(['local', 'replicated'])
    .optional()
    .describe(
      "local: acknowledged once durable on the TX engine's disk; replicated: also once the bus acknowledged it, so losing the engine's disk loses nothing acknowledged (DESIGN §2). Default: replicated for strict_serializable tables, local otherwise.",
    ),
  degraded_reads: z
    .boolean()
    .default(false)
    .describe(
      'Analytical reads answer without unavailable data (a shard down, a quarantined file) and say what was left out in a NOTICE, instead of failing.',
    ),
});

/** Consistency modes of DESIGN §6 (commit-wait k·ε with k = 0, 1, 2, 3). */
export const CONSISTENCY_MODES = ['eventual', 'bounded_staleness', 'monotonic_reads', 'strict_serializable'] as const;

const consistencyEntry = z
  .strictObject({
    mode: z.enum(CONSISTENCY_MODES).describe('eventual | bounded_staleness | monotonic_reads | strict_serializable (DESIGN §6).'),
    max_staleness_ms: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('bounded_staleness: the most a read may lag behind the newest commit (ms); required for that mode.'),
    allow_degraded: z
      .boolean()
      .default(false)
      .describe(
        'When the mode cannot be met, answer anyway with a NOTICE (or HTTP warning) giving the possible staleness, instead of 40001/57014.',
      ),
  })
  .superRefine((v, ctx) => {
    if (v.mode === 'bounded_staleness' && v.max_staleness_ms === undefined) {
      ctx.addIssue({ code: 'custom', path: ['max_staleness_ms'], message: 'bounded_staleness needs max_staleness_ms (ms, ≥ 0)' });
    }
  });

/** The configuration schema. Field descriptions feed the generated configuration reference. */
export const configSchema = z.strictObject({
  log_level: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default('info')
    .describe('Log level of every service (logs are JSON lines on stderr); also read from STRATUM_LOG_LEVEL at start.'),
  threads: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe(
      'Threads of the embedded form (`stratum up`; docs/architecture.md, "Threads"): 1 = every tier on the main thread; 2 or more = the bus, ingestion and OLAP shards on a pipeline thread, the TX engine and a router front end on the main thread, and each thread beyond 2 another router front end sharing the pgwire port. The distributed form runs one service per process and ignores it.',
    ),
  data_dir: z
    .string()
    .default('./data')
    .describe('Directory for all stored data (relative to the working directory); each service uses a sub-directory named by its id.'),
  cluster: z
    .strictObject({
      partitions: z
        .number()
        .int()
        .min(1)
        .max(1024)
        .default(16)
        .describe('Number of change-stream partitions P (fixed for the life of the cluster).'),
      bus: z
        .string()
        .regex(
          /^(local|nats:\/\/[^/\s]+|kafka:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/,:[\]]+):\d{1,5}(,(\[[0-9A-Fa-f:.]+\]|[^\s/,:[\]]+):\d{1,5})*)$/,
          'expected "local" or nats://HOST:PORT or kafka://HOST:PORT[,HOST:PORT...]',
        )
        .default('local')
        .describe(
          'Change bus: "local" (embedded, in-process durable log), a NATS JetStream URL (nats://HOST:PORT), or Kafka brokers (kafka://HOST:PORT[,HOST:PORT...]).',
        ),
      tx_engines: z
        .array(txEngineEntry)
        .default([{ id: 'tx1', url: 'http://127.0.0.1:7501' }])
        .describe('TX engines (distributed form).'),
      ingestion: z
        .array(ingestionEntry)
        .default([{ id: 'ing1', url: 'http://127.0.0.1:7601', partitions: 'all' }])
        .describe('Ingestion engines (distributed form).'),
      olap_shards: z
        .array(shardEntry)
        .default([{ id: 'olap1', url: 'http://127.0.0.1:7701' }])
        .describe('OLAP shards (distributed form).'),
    })
    .default({
      partitions: 16,
      bus: 'local',
      tx_engines: [{ id: 'tx1', url: 'http://127.0.0.1:7501' }],
      ingestion: [{ id: 'ing1', url: 'http://127.0.0.1:7601', partitions: 'all' }],
      olap_shards: [{ id: 'olap1', url: 'http://127.0.0.1:7701' }],
    })
    .describe('Cluster topology.'),
  router: z
    .strictObject({
      pg: hostPort.default({ host: '127.0.0.1', port: 5433 }).describe('PostgreSQL wire protocol listener.'),
      http: hostPort.default({ host: '127.0.0.1', port: 7480 }).describe('HTTP JSON API, /health and /metrics.'),
      auth: z.enum(['trust', 'scram-sha-256']).default('trust').describe('Client authentication; trust is meant for loopback only.'),
      users: z.record(z.string(), z.string()).default({ stratum: 'stratum' }).describe('User → password for scram-sha-256.'),
      database: z.string().default('stratum').describe('The database name clients connect to.'),
      statement_timeout_ms: z.number().int().min(1).default(30_000).describe('Longest a statement may wait for a tier (ms).'),
      max_statement_bytes: z
        .number()
        .int()
        .min(1024)
        .default(16 * 1024 * 1024)
        .describe('Largest SQL statement accepted (bytes).'),
      result_cache_ttl_ms: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe('Lifetime of cached answers of analytical statements (ms); writes through this router drop them at once; 0 = off.'),
      partial_aggregation: z
        .boolean()
        .default(true)
        .describe(
          'Aggregates over a table spread over several OLAP shards are pre-aggregated on each shard and merged by the router (two-phase aggregation, docs/architecture.md "Partial aggregation"); false gathers rows.',
        ),
      gather_format: z
        .enum(['rows', 'arrow'])
        .default('rows')
        .describe(
          'How OLAP shards return the rows of a gathered scan: MessagePack rows, or an Arrow IPC stream (docs/architecture.md "Gathered scans on the wire" has the measurements behind the default).',
        ),
      gather_slots: z
        .number()
        .int()
        .min(1)
        .default(8)
        .describe(
          "Scatter/gather statements that finish in the router's own DuckDB at once, each on its own connection; more wait in a FIFO queue.",
        ),
      gather_max_queued: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe(
          'Scatter/gather statements that may wait for a gather slot; the next is refused with SQLSTATE 53000 (the queue never grows without bound).',
        ),
      gather_memory_limit: z
        .string()
        .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size like 4GB or 512MiB')
        .optional()
        .describe("Memory limit of the router's own DuckDB (its `memory_limit`), e.g. 2GB. Unset = DuckDB's default, 80 % of RAM."),
      copy_max_unmerged_rows: z
        .number()
        .int()
        .min(0)
        .default(50_000)
        .describe(
          'Backpressure of COPY FROM: before writing more rows, a COPY waits while more than this many of its committed rows are above the ingestion watermark, or more than `ingestion.push_rows` plus this many above the table\'s OLAP watermark, so its rows are readable analytically soon after `COPY n` (a watermark that does not advance for 10 s is no longer waited for; docs/architecture.md "Bulk writes and the pipeline"). 0 = never wait.',
        ),
      session_token_secret: z
        .string()
        .min(16, 'expected at least 16 characters')
        .optional()
        .describe(
          'HMAC-SHA256 key that signs session tokens (`Stratum-Session-Token`, `stratum.session_token`); give every router the same one so tokens work across routers and restarts. Default: a random key per router process.',
        ),
    })
    .default({
      pg: { host: '127.0.0.1', port: 5433 },
      http: { host: '127.0.0.1', port: 7480 },
      auth: 'trust',
      users: { stratum: 'stratum' },
      database: 'stratum',
      statement_timeout_ms: 30_000,
      max_statement_bytes: 16 * 1024 * 1024,
      result_cache_ttl_ms: 1000,
      partial_aggregation: true,
      gather_format: 'rows',
      gather_slots: 8,
      gather_max_queued: 1000,
      copy_max_unmerged_rows: 50_000,
    })
    .describe('Router (front end).'),
  tx: z
    .strictObject({
      group_commit_max_batch: z.number().int().min(1).default(1024).describe('Most transactions in one synced LevelDB batch.'),
      row_cache_mb: z
        .number()
        .int()
        .min(1)
        .default(128)
        .describe(
          'Memory for the hot-row cache of each TX engine (MiB, estimated from the rows held): point reads of rows in it skip LevelDB. Rows written and read recently stay; the least recently used go first.',
        ),
      heartbeat_ms: z.number().int().min(5).default(100).describe('Longest gap between closed-timestamp heartbeats per partition (ms).'),
      eager_heartbeat_gap_ms: z
        .number()
        .int()
        .min(0)
        .default(10)
        .describe(
          'After a commit is published, idle partitions send a closed-timestamp heartbeat at once, so the ingestion watermark (the minimum over partitions) passes the commit without waiting for heartbeat_ms; this is the shortest gap between two such heartbeats of one partition (ms). 0 = off.',
        ),
      relay_max_batch: z.number().int().min(1).default(2000).describe('Most outbox entries in one bus message.'),
      relay_max_bytes: z
        .number()
        .int()
        .min(1024)
        .default(512 * 1024)
        .describe("Most bytes of changes in one bus message; keep below the bus's limit (NATS max_payload, 1 MiB by default)."),
      max_txn_bytes: z
        .number()
        .int()
        .min(1024)
        .default(64 * 1024 * 1024)
        .describe(
          'Largest transaction write set (approximate bytes of its rows); a larger one fails with 54000. With NATS, raise max_payload to at least this.',
        ),
      txn_idle_timeout_ms: z
        .number()
        .int()
        .min(1000)
        .default(600_000)
        .describe('A transaction block idle this long (ms) is rolled back by its TX engine (its client or router went away).'),
      retention_check_ms: z
        .number()
        .int()
        .min(10)
        .default(60_000)
        .describe("How often a TX engine evicts rows past their table's tx_retention_ms (ms)."),
      replicated_ack_timeout_ms: z
        .number()
        .int()
        .min(1)
        .default(10_000)
        .describe(
          'Longest a commit of a `durability: replicated` table waits for the bus to acknowledge it (ms); past it the statement fails with 57014 saying the transaction committed locally and will be published when the bus returns.',
        ),
    })
    .default({
      group_commit_max_batch: 1024,
      row_cache_mb: 128,
      heartbeat_ms: 100,
      eager_heartbeat_gap_ms: 10,
      relay_max_batch: 2000,
      relay_max_bytes: 512 * 1024,
      max_txn_bytes: 64 * 1024 * 1024,
      txn_idle_timeout_ms: 600_000,
      retention_check_ms: 60_000,
      replicated_ack_timeout_ms: 10_000,
    })
    .describe('TX engine settings.'),
  ingestion: z
    .strictObject({
      push_interval_ms: z
        .number()
        .int()
        .min(100)
        .default(60_000)
        .describe('How often versions below the watermark are written to OLAP as Parquet (ms).'),
      push_rows: z.number().int().min(1).default(200_000).describe('Push early once this many versions wait.'),
      retention_ms: z
        .number()
        .int()
        .min(1)
        .default(7 * 86_400_000)
        .describe(
          'ingestion_retention: versions older than this (ms) that are already in OLAP are removed by GC, keeping the latest version of each live row.',
        ),
      gc_interval_ms: z.number().int().min(10).default(60_000).describe('How often ingestion GC runs (ms).'),
      stall_ms: z
        .number()
        .int()
        .min(10)
        .default(10_000)
        .describe('An (engine, partition) pair with no heartbeat for this long (ms) is reported as stalled (it holds the watermark back).'),
    })
    .default({ push_interval_ms: 60_000, push_rows: 200_000, retention_ms: 7 * 86_400_000, gc_interval_ms: 60_000, stall_ms: 10_000 })
    .describe('Ingestion settings.'),
  olap: z
    .strictObject({
      compaction_interval_ms: z
        .number()
        .int()
        .min(10)
        .default(30_000)
        .describe('How often each OLAP shard looks for partitions to compact (ms).'),
      compaction_min_files: z
        .number()
        .int()
        .min(2)
        .default(8)
        .describe(
          'A run of small files of one table (consecutive in time, across partitions) holding at least this many is compacted into large files sorted by time.',
        ),
      target_file_rows: z
        .number()
        .int()
        .min(1000)
        .default(1_000_000)
        .describe(
          'Files with fewer rows count as small; compaction writes files of up to this many rows (sorted by time, across partitions).',
        ),
      delta_idle_ms: z
        .number()
        .int()
        .min(0)
        .default(60_000)
        .describe(
          'Each OLAP shard keeps its delta (versions newer than its Parquet files) loaded in the background only until this long (ms) after its last query; the first query after an idle spell loads what arrived meanwhile. 0 = always.',
        ),
      threads: z
        .number()
        .int()
        .min(1)
        .max(256)
        .optional()
        .describe(
          'DuckDB worker threads that run each OLAP shard\'s queries (DuckDB\'s `threads` setting, with no external thread); unset = one per core. Queries run only on these threads, never on the thread pool that storage I/O uses (docs/architecture.md "Performance isolation").',
        ),
      max_queued_queries: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe(
          "Analytical queries that may wait for one of an OLAP shard's DuckDB connections; one more fails at once with SQLSTATE 53000 (the queue never grows without bound).",
        ),
      memory_limit: z
        .string()
        .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size like 4GB or 512MiB')
        .optional()
        .describe(
          "Memory limit of each OLAP shard's DuckDB (its `memory_limit`: queries beyond it spill to the shard's `.spill/` directory or fail with 53200), e.g. 4GB. Unset = DuckDB's default, 80 % of RAM.",
        ),
      worker_nice: z
        .number()
        .int()
        .min(0)
        .max(19)
        .default(10)
        .describe(
          'nice value (Linux, per thread) of the DuckDB worker threads that run analytical queries: transactions get the CPU first and dashboards what is left. 0 = the same priority as transactions. Not applied where thread ids cannot be read (other than Linux).',
        ),
      query_connections: z
        .number()
        .int()
        .min(1)
        .max(256)
        .default(4)
        .describe(
          'Analytical queries each OLAP shard runs at once (its DuckDB connection pool); more wait in its queue. Fewer bound the cores and memory dashboards take from OLTP on a shared machine.',
        ),
    })
    .default({
      compaction_interval_ms: 30_000,
      compaction_min_files: 8,
      target_file_rows: 1_000_000,
      delta_idle_ms: 60_000,
      query_connections: 4,
      max_queued_queries: 1000,
      worker_nice: 10,
    })
    .describe('OLAP shard settings.'),
  clock: z
    .strictObject({
      eps_ms: z
        .number()
        .min(0)
        .default(1)
        .describe(
          "A distributed node's own uncertainty ε (ms) when it has no clock sources (its local clock), or the error a clock service serves when it reads no chrony. The embedded form orders by one clock, so its ε is 0 whatever this says (no commit-wait).",
        ),
      url: url
        .default('http://127.0.0.1:7801')
        .describe('Where `stratum clock` serves GET /time when `sources` is empty (distributed form).'),
      sources: z
        .array(
          z.strictObject({
            id: z
              .string()
              .regex(/^[a-zA-Z0-9_-]{1,32}$/, 'expected 1-32 letters, digits, _ or -')
              .describe('Clock node id; heartbeats answered under another id are rejected.'),
            url: url.describe('Where this clock node serves GET /time.'),
          }),
        )
        .default([])
        .describe(
          'Clock nodes, primary first, then backups (DESIGN §8). Every service polls them each heartbeat_ms and bounds its ε from the round trip; empty = each node uses its local clock with eps_ms.',
        ),
      heartbeat_ms: z
        .number()
        .int()
        .min(10)
        .default(200)
        .describe('How often a node polls the clock sources (ms); also the request timeout.'),
      drift_ppm: z
        .number()
        .min(0)
        .default(200)
        .describe('Assumed worst-case drift of a local oscillator (ppm): ε grows by this much since the last good heartbeat.'),
      max_uncertainty_ms: z
        .number()
        .min(0)
        .default(250)
        .describe(
          'Past this ε (ms) a node reports itself unsynchronized: strict_serializable tables refuse writes until ε recovers; other tables cap their commit-wait at k × this.',
        ),
      chrony_socket: z
        .string()
        .optional()
        .describe(
          "When set, `stratum clock` exports chronyd's tracking data (`chronyc -h <this> -c tracking`) as stratum_chrony_* gauges on /metrics and serves chrony's error bound as its ε; e.g. /run/chrony/chronyd.sock.",
        ),
      chrony_interval_ms: z.number().int().min(100).default(1000).describe('How often the chrony exporter reads chronyc (ms).'),
    })
    .default({
      eps_ms: 1,
      url: 'http://127.0.0.1:7801',
      sources: [],
      heartbeat_ms: 200,
      drift_ppm: 200,
      max_uncertainty_ms: 250,
      chrony_interval_ms: 1000,
    })
    .describe('Clock settings.'),
  tables: z.record(z.string(), tableOptions).default({}).describe('Per-table options, by table name.'),
  table_consistency: z
    .record(z.string(), consistencyEntry)
    .default({})
    .describe(
      'Per-table consistency, by table name (seed design format); tables not listed use monotonic_reads. Reloaded on SIGHUP and by `stratum config reload`.',
    ),
});

/** Validated configuration (snake_case as in the YAML). */
export type StratumConfig = z.infer<typeof configSchema>;

/** Set a value at a `__`-separated env path inside a plain object. */
function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const [i, k] of path.entries()) {
    if (i === path.length - 1) o[k] = value;
    else {
      if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
      o = o[k] as Record<string, unknown>;
    }
  }
}

/** Parse an env value: numbers, booleans and JSON arrays/objects are decoded; anything else is a string. */
function envValue(s: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === 'true' || s === 'false') return s === 'true';
  if (s.startsWith('[') || s.startsWith('{')) {
    try {
      return JSON.parse(s);
    } catch {
      return s;
    }
  }
  return s;
}

/**
 * Validate a raw config object (already parsed from YAML, or built in code) after applying
 * `STRATUM_*` environment overrides.
 * @param source name used in error messages (the file path, or "<defaults>").
 * @param locate optional path → "line:col" resolver for messages.
 * @throws ConfigError naming the source, the path and what was expected.
 */
export function validateConfig(
  raw: unknown,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  locate?: (path: (string | number)[], atKey?: boolean) => string | undefined,
): StratumConfig {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a mapping of options at the top level`);
  }
  const obj = structuredClone(raw) as Record<string, unknown>;
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('STRATUM_') || k.startsWith('STRATUM_TEST_') || v === undefined) continue;
    const path = k.slice('STRATUM_'.length).toLowerCase().split('__');
    setPath(obj, path, envValue(v));
  }
  const r = configSchema.safeParse(obj);
  if (r.success) return r.data;
  const lines = r.error.issues.map((iss) => {
    let path = iss.path.map(String);
    let msg = iss.message;
    if (iss.code === 'unrecognized_keys') {
      const keys = (iss as { keys: string[] }).keys;
      msg = `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
      const first = keys[0];
      if (first !== undefined) path = [...path, first];
      const known = knownKeys(iss.path as (string | number)[]);
      if (known.length) msg += ` (expected one of: ${known.join(', ')})`;
    }
    const at = locate?.(
      path.map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
      iss.code === 'unrecognized_keys',
    );
    return `${source}${at ? `:${at}` : ''}: ${path.join('.') || '(top level)'}: ${msg}`;
  });
  throw new ConfigError(lines.join('\n'));
}

/** Option names accepted at a path of the schema (for "unknown key" messages). */
function knownKeys(path: (string | number)[]): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod internals generically.
  let s: any = configSchema;
  for (const p of path) {
    while (s?.def?.innerType) s = s.def.innerType;
    if (typeof p === 'number') s = s?.def?.element;
    else if (s?.def?.type === 'record') s = s.def.valueType;
    else s = s?.shape?.[p];
  }
  while (s?.def?.innerType) s = s.def.innerType;
  return s?.shape ? Object.keys(s.shape) : [];
}

/**
 * Load and validate a YAML config file.
 * @throws ConfigError for an unreadable file, invalid YAML (with line:column) or invalid options.
 */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): StratumConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file: ${(e as Error).message}`, { cause: e });
  }
  return parseConfigText(text, path, env);
}

/** Parse and validate YAML text as a config. @throws ConfigError (see {@link loadConfigFile}). */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): StratumConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e?.linePos?.[0];
    throw new ConfigError(`${source}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${e?.message.split('\n')[0]}`);
  }
  const pos = (off: number | undefined) => {
    if (off === undefined) return undefined;
    const p = lineCounter.linePos(off);
    return `${p.line}:${p.col}`;
  };
  const locate = (path: (string | number)[], atKey = false): string | undefined => {
    if (atKey && path.length > 0) {
      // Point at the key itself (for unknown keys).
      const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
      const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
      const pair = items?.find((it) => String(it.key?.value) === String(path[path.length - 1]));
      if (pair?.key?.range) return pos(pair.key.range[0]);
    }
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const at = pos(node?.range?.[0]);
      if (at) return at;
    }
    return undefined;
  };
  return validateConfig(doc.toJS(), source, env, locate);
}

/** The default configuration (no file), with env overrides applied. */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): StratumConfig {
  return validateConfig({}, '<defaults>', env);
}

/** A table's consistency from `table_consistency` (default monotonic_reads, not degraded). */
function consistencyOf(cfg: StratumConfig, table: string): TableOptions['consistency'] {
  const c = cfg.table_consistency[table];
  if (!c) return DEFAULT_TABLE_OPTIONS.consistency;
  return c.max_staleness_ms === undefined
    ? { mode: c.mode, allowDegraded: c.allow_degraded }
    : { mode: c.mode, maxStalenessMs: c.max_staleness_ms, allowDegraded: c.allow_degraded };
}

/** Table options from config, with defaults for tables not listed. */
export function tableOptionsFrom(cfg: StratumConfig): (table: string) => TableOptions {
  return (table) => {
    const t = cfg.tables[table];
    if (!t)
      return {
        ...DEFAULT_TABLE_OPTIONS,
        ingestionRetentionMs: cfg.ingestion.retention_ms,
        ...(cfg.table_consistency[table] ? { consistency: consistencyOf(cfg, table) } : {}),
      };
    const o: TableOptions = {
      appendOnly: t.append_only,
      conflict: t.conflict,
      txRetentionMs: t.tx_retention_ms,
      degradedReads: t.degraded_reads,
      ...(t.durability ? { durability: t.durability } : {}),
      consistency: consistencyOf(cfg, table),
    };
    if (t.time_column !== undefined) o.timeColumn = t.time_column;
    if (t.partition !== undefined) o.partition = t.partition;
    if (t.history_retention_ms !== undefined) o.historyRetentionMs = t.history_retention_ms;
    o.ingestionRetentionMs = t.ingestion_retention_ms ?? cfg.ingestion.retention_ms;
    if (t.shard_key !== undefined) o.shardKey = t.shard_key;
    if (t.shards !== undefined) o.shards = t.shards;
    if (t.time_shards !== undefined) {
      o.timeShards = t.time_shards.map((x) =>
        x.until === undefined
          ? { shard: x.shard }
          : { shard: x.shard, untilMs: Date.parse(x.until.length === 10 ? `${x.until}T00:00:00Z` : x.until) },
      );
    }
    return o;
  };
}

/** Absolute data directory of a service id (`<data_dir>/<id>`), relative paths against `cwd`. */
export function serviceDataDir(cfg: StratumConfig, id: string, cwd = process.cwd()): string {
  const base = isAbsolute(cfg.data_dir) ? cfg.data_dir : resolve(cwd, cfg.data_dir);
  return resolve(base, id);
}

/** Host and port of an http URL from the config. */
export function listenAddress(u: string): { host: string; port: number } {
  const p = new URL(u);
  return { host: p.hostname, port: Number(p.port || 80) };
}
