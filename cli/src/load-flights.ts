/**
 * `stratum load flights`: streams the US flights dataset shipped in the `vega-datasets`
 * npm package (`data/flights-3m.parquet`, 3,000,000 rows, and `data/airports.csv`,
 * 3,376 rows) through the write path over pgwire, in batched multi-row INSERTs on
 * several parallel connections.
 *
 * The Parquet file has 191 groups of fully duplicate rows, so the `flights` table gets a
 * synthetic primary key `id` = the 0-based row number in file order (DuckDB's
 * `file_row_number`). `--rows N` loads the rows with `id < N`, i.e. the first N rows in
 * file order. The same code loads PostgreSQL 15 in the benches (bench/load-flights.ts).
 *
 * The Parquet file is read with DuckDB (`@duckdb/node-api`) as a streaming result, one
 * 2,048-row data chunk at a time, so at most a few batches of rows exist as JS values.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';

/** Options of {@link loadFlights}. */
export interface LoadFlightsOptions {
  /** Server address (pgwire), e.g. `127.0.0.1`. */
  host: string;
  /** Server port (Stratum's default is 5433). */
  port: number;
  /** User name to connect as (Stratum's default is `stratum`). */
  user: string;
  /** Database to connect to (Stratum's default is `stratum`). */
  database: string;
  /** Password, when the server asks for one (SCRAM-SHA-256 / md5). */
  password?: string;
  /** Load only the first N flights in file order (ids 0 … N−1); default all 3,000,000. */
  rows?: number;
  /**
   * Rows per INSERT statement (default 1000). At most 10,922 (6 parameters per flight,
   * and a statement carries at most 65,535 parameters).
   */
  batchRows?: number;
  /** Parallel connections, each running one autocommit INSERT at a time (default 4). */
  connections?: number;
  /**
   * Report progress on stderr: a `cli-progress` bar when stderr is a TTY, else a plain
   * line every 5 s; then the final `loaded N flights + M airports in S s (R rows/s)` line.
   * Default false.
   */
  progress?: boolean;
  /** Also create and load `airports` (default true). */
  airports?: boolean;
}

/** What {@link loadFlights} loaded. */
export interface LoadFlightsResult {
  /** Flights rows inserted. */
  flights: number;
  /** Airports rows inserted (0 when `airports: false`). */
  airports: number;
  /**
   * Wall time in seconds from reading the first row to the acknowledgement of the last
   * INSERT (excludes connecting, DDL and the emptiness check).
   */
  seconds: number;
  /** (flights + airports) / seconds. */
  rowsPerSecond: number;
}

/**
 * A load failed. `code` is the server's SQLSTATE when the server reported the error
 * (it is also in the message), else undefined (connection failures, a non-empty table,
 * unreadable input files).
 */
export class LoadFlightsError extends Error {
  override name = 'LoadFlightsError';
  /** SQLSTATE reported by the server, when the server raised the error. */
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

/** DDL of the `flights` table (the Stratum and PostgreSQL schema both use it). */
export const FLIGHTS_DDL =
  'CREATE TABLE IF NOT EXISTS flights (id bigint PRIMARY KEY, date timestamp, delay bigint, distance bigint, origin text, destination text)';

/** DDL of the `airports` table; `iata` is the key. */
export const AIRPORTS_DDL =
  'CREATE TABLE IF NOT EXISTS airports (iata text PRIMARY KEY, name text, city text, state text, country text, latitude double precision, longitude double precision)';

const FLIGHTS_COLUMNS = ['id', 'date', 'delay', 'distance', 'origin', 'destination'] as const;
const AIRPORTS_COLUMNS = ['iata', 'name', 'city', 'state', 'country', 'latitude', 'longitude'] as const;
/** Largest number of bind parameters in one statement (Int16 count in the Bind message). */
const MAX_PARAMS = 65_535;
const DEFAULT_BATCH_ROWS = 1000;
const DEFAULT_CONNECTIONS = 4;
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

/**
 * Absolute paths of the dataset files inside the installed `vega-datasets` package:
 * `{ flights: …/data/flights-3m.parquet, airports: …/data/airports.csv }`.
 * @throws Error when `vega-datasets` is not installed (the files themselves are not checked).
 */
export function flightsDataPaths(): { flights: string; airports: string } {
  const require = createRequire(import.meta.url);
  // The package's `exports` map hides package.json (and data/), so require.resolve of
  // 'vega-datasets/package.json' fails; look the package directory up the way Node
  // would, along the module search paths.
  const searched = require.resolve.paths('vega-datasets') ?? [];
  for (const dir of searched) {
    const root = join(dir, 'vega-datasets');
    if (existsSync(join(root, 'package.json'))) {
      const data = join(root, 'data');
      return { flights: join(data, 'flights-3m.parquet'), airports: join(data, 'airports.csv') };
    }
  }
  throw new Error(
    `the 'vega-datasets' npm package is not installed (searched ${searched.slice(0, 3).join(', ')}, …); run 'npm install' in the Stratum checkout`,
  );
}

/** Quote a string as a SQL literal (for file paths in DuckDB table functions). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

type Param = string | null;

/** `INSERT INTO t (cols) VALUES ($1,…),(…)` for `rows` rows. */
function insertSql(table: string, columns: readonly string[], rows: number): string {
  const parts: string[] = [];
  let p = 1;
  for (let r = 0; r < rows; r++) {
    const ph: string[] = [];
    for (let c = 0; c < columns.length; c++) ph.push(`$${p++}`);
    parts.push(`(${ph.join(',')})`);
  }
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${parts.join(',')}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Epoch ms (UTC wall time of a TIMESTAMP) → 'YYYY-MM-DD HH:MM:SS' (the data has no fractional seconds). */
function formatTimestamp(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const base = `${y < 1000 ? String(y).padStart(4, '0') : y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const frac = d.getUTCMilliseconds();
  return frac === 0 ? base : `${base}.${String(frac).padStart(3, '0')}`;
}

/** Rethrow a pg error with what failed and the SQLSTATE in the message. */
function wrapError(what: string, e: unknown): LoadFlightsError {
  if (e instanceof LoadFlightsError) return e;
  if (e instanceof pg.DatabaseError) {
    const detail = e.detail !== undefined ? ` (detail: ${e.detail})` : '';
    return new LoadFlightsError(`${what}: ${e.message} (SQLSTATE ${e.code ?? '?????'})${detail}`, e.code, e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new LoadFlightsError(`${what}: ${msg}`, undefined, e);
}

/** Minimal shape of the `cli-progress` module we use (the package ships no types). */
interface ProgressBar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}
interface CliProgressModule {
  SingleBar: new (opts: Record<string, unknown>, preset?: unknown) => ProgressBar;
  Presets: Record<string, unknown>;
}

/** Progress reporting on stderr: a bar on a TTY, plain periodic lines otherwise. */
class Progress {
  private bar: ProgressBar | undefined;
  private lastLine = 0;
  private label = '';
  private total = 0;

  constructor(private readonly enabled: boolean) {}

  begin(label: string, total: number): void {
    this.end();
    this.label = label;
    this.total = total;
    if (!this.enabled) return;
    if (process.stderr.isTTY) {
      const require = createRequire(import.meta.url);
      const cli = require('cli-progress') as CliProgressModule;
      this.bar = new cli.SingleBar(
        {
          format: `${label.padEnd(8)} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          fps: 5,
        },
        cli.Presets.shades_classic,
      );
      this.bar.start(total, 0, { rate: 0 });
    } else {
      this.lastLine = Date.now();
    }
  }

  update(done: number, rate: number): void {
    if (!this.enabled) return;
    if (this.bar !== undefined) {
      this.bar.update(done, { rate: Math.round(rate) });
    } else if (Date.now() - this.lastLine >= PLAIN_PROGRESS_INTERVAL_MS) {
      this.lastLine = Date.now();
      const pct = this.total > 0 ? Math.floor((done / this.total) * 100) : 100;
      process.stderr.write(`${this.label}: ${done}/${this.total} rows (${pct}%), ${Math.round(rate)} rows/s\n`);
    }
  }

  end(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  line(text: string): void {
    if (this.enabled) process.stderr.write(`${text}\n`);
  }
}

/**
 * A fixed set of connections, each running one INSERT at a time. `submit` resolves once
 * the batch is handed to an idle connection (so the reader is throttled by the server);
 * `drain` waits for everything in flight and throws the first failure.
 */
class InsertPool {
  private readonly idle: pg.Client[];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: LoadFlightsError | undefined;
  private readonly textCache = new Map<string, string>();

  constructor(
    clients: pg.Client[],
    private readonly onDone: (rows: number) => void,
  ) {
    this.idle = [...clients];
  }

  /** The first error of any batch, if one failed. */
  get error(): LoadFlightsError | undefined {
    return this.failure;
  }

  async submit(table: string, columns: readonly string[], params: Param[]): Promise<void> {
    while (this.idle.length === 0) await Promise.race(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
    const client = this.idle.pop();
    if (client === undefined) throw new Error('insert pool: no idle connection');
    const rows = params.length / columns.length;
    const name = `stratum_load_${table}_${rows}`;
    let text = this.textCache.get(name);
    if (text === undefined) {
      text = insertSql(table, columns, rows);
      this.textCache.set(name, text);
    }
    const sqlText = text;
    const run = async (): Promise<void> => {
      try {
        // A named statement is parsed once per connection and then only bound and executed.
        await client.query({ name, text: sqlText, values: params });
        this.onDone(rows);
      } catch (e) {
        this.failure ??= wrapError(`INSERT of ${rows} rows into ${table} failed`, e);
      } finally {
        this.idle.push(client);
      }
    };
    const p: Promise<void> = run().finally(() => {
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }
}

async function connectAll(opts: LoadFlightsOptions, n: number, onError: (e: Error) => void): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const c = new pg.Client({
        host: opts.host,
        port: opts.port,
        user: opts.user,
        database: opts.database,
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        application_name: 'stratum load flights',
      });
      // An error on an idle connection is emitted, not thrown; record it so the load fails clearly.
      c.on('error', onError);
      clients.push(c);
      await c.connect();
    }
  } catch (e) {
    await Promise.allSettled(clients.map((c) => c.end()));
    throw wrapError(`cannot connect to ${opts.user}@${opts.host}:${opts.port}/${opts.database}`, e);
  }
  return clients;
}

async function hasRows(client: pg.Client, table: string): Promise<boolean> {
  try {
    const r = await client.query(`SELECT 1 FROM ${table} LIMIT 1`);
    return (r.rowCount ?? r.rows.length) > 0;
  } catch (e) {
    throw wrapError(`checking whether table ${table} is empty failed`, e);
  }
}

/** Read airports.csv with DuckDB: every column as text, empty fields as NULL (DuckDB's CSV default). */
async function readAirports(duck: DuckDBConnection, path: string): Promise<Param[][]> {
  const reader = await duck.runAndReadAll(
    `SELECT ${AIRPORTS_COLUMNS.join(', ')} FROM read_csv(${sqlString(path)}, header=true, all_varchar=true)`,
  );
  return reader.getRowsJS().map((row) =>
    row.map((v, i) => {
      if (v === null || v === undefined) return null;
      const s = String(v);
      // latitude/longitude are double precision: a blank would be a type error, so it is NULL.
      if (i >= 5 && s.trim() === '') return null;
      return s;
    }),
  );
}

/**
 * Load the flights dataset (and airports) into a PostgreSQL-protocol server: Stratum, or
 * PostgreSQL for comparison.
 *
 * Creates `flights` ({@link FLIGHTS_DDL}) and `airports` ({@link AIRPORTS_DDL}) when
 * missing, then inserts with parameterized multi-row INSERTs (extended protocol, named
 * statements, parameters as text: timestamps as 'YYYY-MM-DD HH:MM:SS', integers as
 * decimal strings) over `connections` connections, each statement in autocommit.
 * Airports are loaded first, then flights in file order (several batches are in flight
 * at once, so commit order across connections is not file order).
 *
 * @returns rows inserted and the wall time of the data movement (seconds), see {@link LoadFlightsResult}.
 * @throws LoadFlightsError when `flights` (or, with `airports: true`, `airports`) already
 *   has rows; when connecting fails; when the server rejects a statement (the message
 *   names the statement and carries the SQLSTATE, also in `code`).
 * @throws RangeError for a bad `rows`, `batchRows` or `connections`.
 */
export async function loadFlights(opts: LoadFlightsOptions): Promise<LoadFlightsResult> {
  const batchRows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const connections = opts.connections ?? DEFAULT_CONNECTIONS;
  const loadAirports = opts.airports ?? true;
  const maxBatch = Math.floor(MAX_PARAMS / FLIGHTS_COLUMNS.length);
  // airports rows are wider (7 parameters), so their statements may hold fewer rows.
  const airportsBatchRows = Math.min(batchRows, Math.floor(MAX_PARAMS / AIRPORTS_COLUMNS.length));
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > maxBatch) {
    throw new RangeError(`batchRows must be an integer in 1..${maxBatch} (65535 parameters per statement), got ${batchRows}`);
  }
  if (!Number.isInteger(connections) || connections < 1) {
    throw new RangeError(`connections must be a positive integer, got ${connections}`);
  }
  if (opts.rows !== undefined && (!Number.isInteger(opts.rows) || opts.rows < 0)) {
    throw new RangeError(`rows must be a non-negative integer, got ${opts.rows}`);
  }
  const paths = flightsDataPaths();
  const progress = new Progress(opts.progress ?? false);

  let connectionError: Error | undefined;
  const clients = await connectAll(opts, connections, (e) => {
    connectionError ??= e;
  });
  const duckInstance = await DuckDBInstance.create(':memory:');
  const duck = await duckInstance.connect();
  try {
    const first = clients[0];
    if (first === undefined) throw new Error('no connection');
    try {
      await first.query(FLIGHTS_DDL);
      if (loadAirports) await first.query(AIRPORTS_DDL);
    } catch (e) {
      throw wrapError('creating tables flights/airports failed', e);
    }
    if (await hasRows(first, 'flights')) {
      throw new LoadFlightsError(
        `table flights on ${opts.host}:${opts.port}/${opts.database} already has rows; ` +
          'load into an empty table (DROP TABLE flights, or start from a fresh data directory)',
        undefined,
      );
    }
    if (loadAirports && (await hasRows(first, 'airports'))) {
      throw new LoadFlightsError(
        `table airports on ${opts.host}:${opts.port}/${opts.database} already has rows; drop it, or load with airports disabled`,
        undefined,
      );
    }

    const countReader = await duck.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(paths.flights)})`);
    const fileRows = Number(countReader.getRowsJS()[0]?.[0] ?? 0);
    const flightsTotal = opts.rows === undefined ? fileRows : Math.min(opts.rows, fileRows);

    const t0 = performance.now();
    let loaded = 0;
    let phaseStart = t0; // the progress rate is per table
    const rate = (): number => loaded / Math.max((performance.now() - phaseStart) / 1000, 1e-3);
    const pool = new InsertPool(clients, (n) => {
      loaded += n;
      progress.update(loaded, rate());
    });

    let airportsLoaded = 0;
    if (loadAirports) {
      const airportRows = await readAirports(duck, paths.airports);
      progress.begin('airports', airportRows.length);
      for (let i = 0; i < airportRows.length; i += airportsBatchRows) {
        const params: Param[] = airportRows.slice(i, i + airportsBatchRows).flat();
        await pool.submit('airports', AIRPORTS_COLUMNS, params);
      }
      await pool.drain();
      airportsLoaded = airportRows.length;
      loaded = 0;
      phaseStart = performance.now();
      progress.end();
    }

    progress.begin('flights', flightsTotal);
    const ncol = FLIGHTS_COLUMNS.length;
    if (flightsTotal > 0) {
      // No ORDER BY: DuckDB keeps file order for a plain scan (preserve_insertion_order),
      // and ids come from file_row_number whatever the order, so the loaded set is exact.
      const where = opts.rows === undefined ? '' : ` WHERE file_row_number < ${flightsTotal}`;
      const result = await duck.stream(
        `SELECT file_row_number, epoch_ms(date), delay, distance, origin, destination ` +
          `FROM read_parquet(${sqlString(paths.flights)}, file_row_number=true)${where}`,
      );
      // Rows come roughly in time order, ~10 per distinct minute: reuse the last formatted timestamp.
      let lastMs = Number.NaN;
      let lastTs = '';
      let batch: Param[] = new Array<Param>(batchRows * ncol);
      let fill = 0;
      for (;;) {
        if (pool.error !== undefined) throw pool.error;
        if (connectionError !== undefined) throw wrapError('connection lost during load', connectionError);
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        // Column-wise reads of native types are ~4x faster than casting to VARCHAR in DuckDB.
        const cols = chunk.getColumns();
        const [ids, dates, delays, distances, origins, destinations] = cols;
        if (
          ids === undefined ||
          dates === undefined ||
          delays === undefined ||
          distances === undefined ||
          origins === undefined ||
          destinations === undefined
        ) {
          throw new Error('unexpected column count from read_parquet');
        }
        const n = chunk.rowCount;
        for (let r = 0; r < n; r++) {
          const date = dates[r];
          const delay = delays[r];
          const distance = distances[r];
          const origin = origins[r];
          const destination = destinations[r];
          batch[fill++] = String(ids[r]);
          if (date === null || date === undefined) batch[fill++] = null;
          else {
            const ms = Number(date);
            if (ms !== lastMs) {
              lastMs = ms;
              lastTs = formatTimestamp(ms);
            }
            batch[fill++] = lastTs;
          }
          batch[fill++] = delay === null || delay === undefined ? null : String(delay);
          batch[fill++] = distance === null || distance === undefined ? null : String(distance);
          batch[fill++] = origin === null || origin === undefined ? null : String(origin);
          batch[fill++] = destination === null || destination === undefined ? null : String(destination);
          if (fill === batch.length) {
            await pool.submit('flights', FLIGHTS_COLUMNS, batch);
            batch = new Array<Param>(batchRows * ncol);
            fill = 0;
          }
        }
      }
      if (fill > 0) await pool.submit('flights', FLIGHTS_COLUMNS, batch.slice(0, fill));
    }
    await pool.drain();
    if (connectionError !== undefined) throw wrapError('connection lost during load', connectionError);
    const flightsLoaded = loaded;
    const seconds = (performance.now() - t0) / 1000;
    progress.update(flightsLoaded, rate());
    progress.end();
    const total = flightsLoaded + airportsLoaded;
    const rowsPerSecond = seconds > 0 ? total / seconds : 0;
    progress.line(
      `loaded ${flightsLoaded} flights + ${airportsLoaded} airports in ${seconds.toFixed(1)} s (${Math.round(rowsPerSecond)} rows/s)`,
    );
    return { flights: flightsLoaded, airports: airportsLoaded, seconds, rowsPerSecond };
  } finally {
    progress.end();
    duck.closeSync();
    duckInstance.closeSync();
    await Promise.allSettled(clients.map((c) => c.end()));
  }
}
