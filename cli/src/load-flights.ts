/**
 * `stratum load flights`: streams the US flights dataset shipped in the `vega-datasets`
 * npm package (`data/flights-3m.parquet`, 3,000,000 rows, and `data/airports.csv`,
 * 3,376 rows) through the write path over pgwire, with `COPY … FROM STDIN (FORMAT csv)`
 * on several parallel connections, each connection on its own range of ids.
 *
 * The Parquet file has 191 groups of fully duplicate rows, so the `flights` table gets a
 * synthetic primary key `id` = the 0-based row number in file order (DuckDB's
 * `file_row_number`). `--rows N` loads the rows with `id < N`, i.e. the first N rows in
 * file order. The same code loads PostgreSQL 15 in the benches (bench/load-flights.ts).
 *
 * The Parquet file is read with DuckDB (`@duckdb/node-api`) as streaming results (one per
 * connection, filtered on `file_row_number`, which DuckDB pushes into the Parquet scan), one
 * 2,048-row data chunk at a time, formatted as CSV and written to the connection's COPY
 * stream (`pg-copy-streams`) with the socket's backpressure, so at most a few CopyData
 * messages of rows exist in memory per connection.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { type CopyStreamQuery, from as copyFrom } from 'pg-copy-streams';

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
   * Rows per CopyData message, i.e. per write to a connection's COPY stream (default 1000,
   * at most 100,000; a flights row is ~50 bytes of CSV).
   */
  batchRows?: number;
  /**
   * Parallel connections (default 4). Each runs one `COPY flights … FROM STDIN` (autocommit)
   * over its own contiguous range of ids: connection i of C loads ids
   * [i·N/C, (i+1)·N/C). Airports go first, in one COPY on the first connection.
   */
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
   * COPY (its `COPY n` command tag; excludes connecting, DDL and the emptiness check).
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
/** The COPY statement of each table: CSV, so an unquoted empty field is NULL and `""` the empty string. */
const FLIGHTS_COPY = `COPY flights (${FLIGHTS_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv)`;
const AIRPORTS_COPY = `COPY airports (${AIRPORTS_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv)`;
const MAX_BATCH_ROWS = 100_000;
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

/**
 * One CSV field as PostgreSQL's COPY … (FORMAT csv) reads it: NULL is an unquoted empty
 * field; a value is quoted (with `"` doubled) when it is empty or holds a delimiter, quote,
 * line break or backslash (so no line can read as the `\.` end marker).
 */
export function csvField(v: string | null): string {
  if (v === null) return '';
  return v === '' || /[",\r\n\\]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
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
 * One `COPY … FROM STDIN` on `client`: `write` sends one CopyData message and waits while the
 * socket is backed up; `finish` sends CopyDone and resolves with the server's row count (the
 * `COPY n` tag); `fail` sends CopyFail (the server discards the COPY) and waits for the answer.
 * Every method rejects with the server's error once the COPY failed.
 */
class CopyIn {
  private readonly stream: CopyStreamQuery;
  private readonly done: Promise<void>;
  private error: unknown;

  constructor(client: pg.Client, sql: string) {
    this.stream = client.query(copyFrom(sql));
    this.done = new Promise<void>((resolve, reject) => {
      this.stream.once('finish', resolve);
      // `on`, not `once`: after a failed COPY, pg can report the connection's end to the stream again.
      this.stream.on('error', (e) => {
        this.error ??= e;
        reject(e);
      });
    });
    // Observed through write/finish/fail; never an unhandled rejection.
    this.done.catch(() => undefined);
  }

  async write(data: string): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (!this.stream.write(data)) {
      // 'drain' once the socket took it; an error of the COPY rejects the wait (events.once).
      await Promise.race([once(this.stream, 'drain'), this.done]);
    }
  }

  async finish(): Promise<number> {
    if (this.error !== undefined) throw this.error;
    this.stream.end();
    await this.done;
    return this.stream.rowCount;
  }

  async fail(reason: string): Promise<void> {
    if (this.error === undefined && !this.stream.destroyed) this.stream.destroy(new Error(reason));
    await this.done.catch(() => undefined);
  }
}

/** COPY the airports rows into `airports` on `client`; returns the rows copied. */
async function copyAirports(client: pg.Client, rows: readonly Param[][]): Promise<number> {
  const copy = new CopyIn(client, AIRPORTS_COPY);
  try {
    let text = '';
    for (const row of rows) text += `${row.map(csvField).join(',')}\n`;
    await copy.write(text);
    return await copy.finish();
  } catch (e) {
    await copy.fail('load of airports failed');
    throw wrapError(`COPY of ${rows.length} rows into airports failed`, e);
  }
}

/**
 * COPY the flights with ids in [from, to) on `client`: a DuckDB streaming scan of that range
 * (native column vectors, no casts), formatted as CSV lines, `batchRows` lines per CopyData.
 * `onSent(n)` reports rows handed to the socket. Stops with CopyFail when `signal` aborts.
 * @returns the rows the server copied (its `COPY n` tag).
 */
async function copyFlightsRange(
  client: pg.Client,
  duck: DuckDBConnection,
  path: string,
  from: number,
  to: number,
  batchRows: number,
  onSent: (rows: number) => void,
  signal: AbortSignal,
): Promise<number> {
  const copy = new CopyIn(client, FLIGHTS_COPY);
  const onAbort = (): void => {
    void copy.fail('another connection of the load failed');
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // No ORDER BY: DuckDB keeps file order for a plain scan (preserve_insertion_order), and
    // ids come from file_row_number whatever the order, so the loaded set is exact.
    const result = await duck.stream(
      `SELECT file_row_number, epoch_ms(date), delay, distance, origin, destination ` +
        `FROM read_parquet(${sqlString(path)}, file_row_number=true) WHERE file_row_number >= ${from} AND file_row_number < ${to}`,
    );
    // Rows come roughly in time order, ~10 per distinct minute: reuse the last formatted timestamp.
    let lastMs = Number.NaN;
    let lastTs = '';
    let text = '';
    let fill = 0;
    for (;;) {
      if (signal.aborted) throw new Error('load aborted');
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) break;
      // Column-wise reads of native types are ~4x faster than casting to VARCHAR in DuckDB.
      const [ids, dates, delays, distances, origins, destinations] = chunk.getColumns();
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
        let ts = '';
        if (date !== null && date !== undefined) {
          const ms = Number(date);
          if (ms !== lastMs) {
            lastMs = ms;
            lastTs = formatTimestamp(ms);
          }
          ts = lastTs;
        }
        const delay = delays[r];
        const distance = distances[r];
        const origin = origins[r];
        const destination = destinations[r];
        text +=
          `${String(ids[r])},${ts},${delay === null || delay === undefined ? '' : String(delay)},` +
          `${distance === null || distance === undefined ? '' : String(distance)},` +
          `${csvField(origin === null || origin === undefined ? null : String(origin))},` +
          `${csvField(destination === null || destination === undefined ? null : String(destination))}\n`;
        if (++fill === batchRows) {
          await copy.write(text);
          onSent(fill);
          text = '';
          fill = 0;
        }
      }
    }
    if (fill > 0) {
      await copy.write(text);
      onSent(fill);
    }
    return await copy.finish();
  } catch (e) {
    await copy.fail(e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Load the flights dataset (and airports) into a PostgreSQL-protocol server: Stratum, or
 * PostgreSQL for comparison.
 *
 * Creates `flights` ({@link FLIGHTS_DDL}) and `airports` ({@link AIRPORTS_DDL}) when
 * missing, then loads with `COPY … FROM STDIN (FORMAT csv)` (timestamps as
 * 'YYYY-MM-DD HH:MM:SS', integers in decimal, NULL as an empty field): airports first, in one
 * COPY on the first connection, then flights over `connections` connections at once, each
 * running one autocommit COPY of its own contiguous id range in file order.
 *
 * A COPY is atomic in PostgreSQL. In Stratum a COPY outside a block commits in batches and
 * deletes them again if it fails (docs/sql.md "COPY"), so other sessions may see rows of a
 * running load. When one connection's COPY fails, the COPYs still running are stopped with
 * CopyFail, so they store nothing; the ranges whose COPY had already completed stay loaded,
 * and the error says how many rows that is (TRUNCATE flights before loading again).
 *
 * @returns rows copied (the servers' `COPY n` tags) and the wall time of the data movement
 *   (seconds), see {@link LoadFlightsResult}.
 * @throws LoadFlightsError when `flights` (or, with `airports: true`, `airports`) already
 *   has rows; when connecting fails; when the server rejects a COPY (the message names the
 *   table and range and carries the SQLSTATE, also in `code`).
 * @throws RangeError for a bad `rows`, `batchRows` or `connections`.
 */
export async function loadFlights(opts: LoadFlightsOptions): Promise<LoadFlightsResult> {
  const batchRows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const connections = opts.connections ?? DEFAULT_CONNECTIONS;
  const loadAirports = opts.airports ?? true;
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > MAX_BATCH_ROWS) {
    throw new RangeError(`batchRows must be an integer in 1..${MAX_BATCH_ROWS} (rows per CopyData message), got ${batchRows}`);
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
  const ducks: DuckDBConnection[] = [];
  try {
    for (let i = 0; i < connections; i++) ducks.push(await duckInstance.connect());
    const first = clients[0];
    const duck = ducks[0];
    if (first === undefined || duck === undefined) throw new Error('no connection');
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
    let airportsLoaded = 0;
    if (loadAirports) {
      const airportRows = await readAirports(duck, paths.airports);
      progress.begin('airports', airportRows.length);
      airportsLoaded = await copyAirports(first, airportRows);
      progress.update(airportsLoaded, airportsLoaded / Math.max((performance.now() - t0) / 1000, 1e-3));
      progress.end();
    }

    progress.begin('flights', flightsTotal);
    const phaseStart = performance.now();
    let sent = 0;
    const onSent = (n: number): void => {
      sent += n;
      progress.update(sent, sent / Math.max((performance.now() - phaseStart) / 1000, 1e-3));
    };
    const abort = new AbortController();
    let failure: LoadFlightsError | undefined;
    const ranges: [number, number][] = [];
    for (let i = 0; i < connections; i++) {
      const from = Math.floor((i * flightsTotal) / connections);
      const to = Math.floor(((i + 1) * flightsTotal) / connections);
      if (to > from) ranges.push([from, to]);
    }
    const copied = await Promise.all(
      ranges.map(async ([from, to], i) => {
        const client = clients[i];
        const conn = ducks[i];
        if (client === undefined || conn === undefined) throw new Error('no connection');
        try {
          return await copyFlightsRange(client, conn, paths.flights, from, to, batchRows, onSent, abort.signal);
        } catch (e) {
          // The first failure is the one to report; the others are the CopyFails it caused.
          if (failure === undefined) {
            failure =
              connectionError !== undefined
                ? wrapError('connection lost during load', connectionError)
                : wrapError(`COPY of flights ids ${from}…${to - 1} into flights failed`, e);
            abort.abort();
          }
          return 0;
        }
      }),
    );
    if (failure !== undefined) {
      const kept = copied.reduce((a, b) => a + b, 0);
      if (kept > 0) {
        const f: LoadFlightsError = failure;
        throw new LoadFlightsError(
          `${f.message}; ${kept} rows of other id ranges whose COPY had completed stay in flights (TRUNCATE flights before loading again)`,
          f.code,
          f.cause,
        );
      }
      throw failure;
    }
    if (connectionError !== undefined) throw wrapError('connection lost during load', connectionError);
    const flightsLoaded = copied.reduce((a, b) => a + b, 0);
    const seconds = (performance.now() - t0) / 1000;
    progress.update(flightsLoaded, flightsLoaded / Math.max((performance.now() - phaseStart) / 1000, 1e-3));
    progress.end();
    const total = flightsLoaded + airportsLoaded;
    const rowsPerSecond = seconds > 0 ? total / seconds : 0;
    progress.line(
      `loaded ${flightsLoaded} flights + ${airportsLoaded} airports in ${seconds.toFixed(1)} s (${Math.round(rowsPerSecond)} rows/s)`,
    );
    return { flights: flightsLoaded, airports: airportsLoaded, seconds, rowsPerSecond };
  } finally {
    progress.end();
    for (const d of ducks) d.closeSync();
    duckInstance.closeSync();
    await Promise.allSettled(clients.map((c) => c.end()));
  }
}
