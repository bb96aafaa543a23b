/**
 * Analytical queries on DuckDB's own worker threads, at a lower CPU priority than transactions
 * (performance isolation, docs/architecture.md "Performance isolation").
 *
 * `@duckdb/node-api` runs a statement as async work on a libuv thread-pool thread, and that
 * thread then executes the query's tasks beside DuckDB's worker threads. The pool is the one
 * LevelDB's writes and every `fs` call share, and its threads run at the priority of the TX
 * engine's commits. Measured under `bench/pgbench.ts --workloads htap` (2 cores, 4 dashboard
 * clients): the four pool threads each took ~35 % of a core for dashboards, and the main thread's
 * run-queue wait went from ~110 to ~480 ms per second, which halved the INSERT rate.
 *
 * Here a query is started as a DuckDB pending result (`DuckDBPreparedStatement.start`, on the
 * calling thread: 0.08 ms over a DuckDB table, but DuckDB binds a statement over `read_parquet`
 * again there, ~0.4 ms for one file and ~0.9 ms for 60), and its state is polled without
 * executing tasks (`duckdb_pending_execute_check_state`), so only DuckDB's worker threads run
 * it. Those threads are created by `SET threads` right after the instance opens and are given a
 * nice value with `os.setPriority(tid, nice)`, which on Linux applies to that one thread
 * (setpriority(2), PRIO_PROCESS with a thread id). The kernel's scheduler then gives
 * transactions the CPU first and analytics whatever is left.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { DuckDBInstance, type DuckDBMaterializedResult, type DuckDBPreparedStatement } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';

/**
 * Default nice value of the worker threads: the usual increment for background work (nice(1)).
 * Measured under `bench/pgbench.ts --workloads htap`, 10 and 19 kept the same INSERT rate with
 * dashboards running; 10 leaves dashboards more of a busy CPU.
 */
export const DEFAULT_WORKER_NICE = 10;

/** Where a DuckDB instance runs its queries; see {@link openWorkerInstance}. */
export interface WorkerInstance {
  instance: DuckDBInstance;
  /** DuckDB worker threads (background threads, not counting callers); 0 = queries run on the caller. */
  workers: number;
  /** Thread ids of the worker threads found, [] when not found (other than Linux, or a race at start). */
  workerTids: number[];
  /** The nice value the worker threads were given; 0 when none was (asked 0, or tids not found). */
  nice: number;
}

/** Options of {@link openWorkerInstance}. */
export interface WorkerOptions {
  /** DuckDB worker threads to run queries on (≥ 1). DuckDB's `threads` setting becomes this + 1 (it counts the caller). */
  workers: number;
  /** nice value (0 – 19) of the worker threads; 0 leaves them at the process's priority. */
  nice: number;
  /** Called with a warning when the worker threads cannot be found or reniced (queries still run on them). */
  warn?: (message: string) => void;
}

/** Thread ids of this process (Linux `/proc/self/task`); [] elsewhere. */
function threadIds(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

/**
 * Open an in-memory DuckDB instance with `config` whose `opts.workers` worker threads run the
 * queries given to {@link runOnWorkers}, at nice `opts.nice`.
 *
 * The instance opens with `threads = 1` (no worker threads), then `SET external_threads = 0;
 * SET threads = workers` creates the workers; the thread ids that appear across that statement
 * are theirs. No thread is counted as external: the caller of {@link runOnWorkers} never runs
 * tasks, and DuckDB plans its parallelism (thread-local hash tables, partitions) for the threads
 * that do. `SET threads = workers + 1` with the default one external thread planned for one
 * thread more than ran: on 2 cores, aggregates over flights-3m took 1.4× as long (46 against
 * 33 ms for `distance / 500 * 500 … GROUP BY 1`; 35 ms this way). If another
 * part of the process creates threads at the same moment, the count differs and the step is
 * repeated (3 tries); after that the workers run unreniced and `warn` is called. `config.threads`
 * is ignored. Set `lock_configuration` only after this returns.
 * @throws what DuckDBInstance.create throws for a bad config.
 */
export async function openWorkerInstance(config: Record<string, string>, opts: WorkerOptions): Promise<WorkerInstance> {
  const workers = Math.max(1, Math.floor(opts.workers));
  const instance = await DuckDBInstance.create(':memory:', { ...config, threads: '1' });
  const conn = await instance.connect();
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = new Set(threadIds());
      await conn.run(`SET external_threads = 0; SET threads = ${workers}`);
      const fresh = threadIds()
        .filter((t) => !before.has(t))
        .map(Number);
      if (fresh.length === workers) {
        if (opts.nice <= 0) return { instance, workers, workerTids: fresh, nice: 0 };
        try {
          for (const tid of fresh) setPriority(tid, Math.min(19, Math.floor(opts.nice)));
          return { instance, workers, workerTids: fresh, nice: Math.min(19, Math.floor(opts.nice)) };
        } catch (e) {
          opts.warn?.(`DuckDB worker threads keep their priority: setpriority failed (${(e as Error).message})`);
          return { instance, workers, workerTids: fresh, nice: 0 };
        }
      }
      if (before.size === 0) break; // no /proc: nothing to find
      await conn.run('SET external_threads = 1; SET threads = 1');
    }
    await conn.run(`SET external_threads = 0; SET threads = ${workers}`);
    opts.warn?.(`DuckDB worker threads keep their priority: could not tell their thread ids apart (${workers} expected)`);
    return { instance, workers, workerTids: [], nice: 0 };
  } finally {
    conn.disconnectSync();
  }
}

/** Poll delays (ms) of {@link runOnWorkers}: two immediate checks, then every 1 ms. */
const POLL_MS = [0, 0, 1];

/** The native handle behind a DuckDBPendingResult (a plain property of the JS class in @duckdb/node-api 1.5). */
function pendingHandle(p: unknown): duckdb.PendingResult | undefined {
  const h = (p as { pending_result?: duckdb.PendingResult }).pending_result;
  return h !== undefined && h !== null ? h : undefined;
}

/**
 * Run a bound prepared statement on its instance's worker threads and return the materialized
 * result, as `stmt.run()` does, without executing any of its tasks on the calling thread or the
 * libuv pool (see the file comment). Needs an instance with worker threads
 * ({@link openWorkerInstance}); with none it would never finish, so `workers` 0 runs `stmt.run()`.
 * An interrupt (`DuckDBConnection.interrupt`) ends the wait with DuckDB's interrupt error.
 * @throws DuckDB's error for the statement (as `stmt.run()` throws it).
 */
export async function runOnWorkers(stmt: DuckDBPreparedStatement, workers: number): Promise<DuckDBMaterializedResult> {
  if (workers <= 0) return stmt.run();
  const pending = stmt.start();
  const handle = pendingHandle(pending);
  if (handle === undefined) return stmt.run();
  for (let i = 0; ; i++) {
    const state = duckdb.pending_execute_check_state(handle);
    if (state === duckdb.PendingState.ERROR) {
      // A failed query (its error, as stmt.run() would throw it), or, with an empty error, a
      // finished one (seen with 1.5: the check maps "execution finished" to ERROR).
      const message = duckdb.pending_error(handle);
      if (message !== '') throw new Error(message);
      break;
    }
    if (state !== duckdb.PendingState.NO_TASKS_AVAILABLE && state !== duckdb.PendingState.RESULT_NOT_READY) break;
    const ms = POLL_MS[Math.min(i, POLL_MS.length - 1)] ?? 1;
    await new Promise<void>((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
  }
  return (await pending.getResult()) as DuckDBMaterializedResult;
}
