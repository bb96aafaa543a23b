/**
 * Bench: `COPY flights FROM STDIN (FORMAT csv)` of flights-3m (issue 10, "Benchmarks"): rows/s
 * of the COPY, and the time until `SELECT count(*) FROM flights` sees every row, Stratum
 * (embedded) against PostgreSQL 15's COPY into the same table shape, in the same run.
 *
 * The CSV is made once, before any server starts, by DuckDB from `flights-3m.parquet` (the
 * `vega-datasets` package) in the form `stratum load flights` sends: `id` = the file row
 * number, the timestamp as 'YYYY-MM-DD HH:MM:SS', NULL as an empty field, ordered by id, and
 * cut into `--connections` files of contiguous id ranges. The COPY then streams the files from
 * disk (`pg-copy-streams`, 64 KiB CopyData messages), one autocommit `COPY flights (id, date,
 * delay, distance, origin, destination) FROM STDIN WITH (FORMAT csv)` per connection, all at
 * once, so the client costs almost nothing and the figure is the server's.
 *
 * Per run: a fresh server, `CREATE TABLE flights (…)` (cli/src/load-flights.ts FLIGHTS_DDL),
 * the COPY timed from its first byte to the last `COPY n` tag, then `SELECT count(*) FROM
 * flights` polled on a new connection until it returns every row. Each run starts fresh
 * servers, alternating which target goes first; medians over `--runs`.
 *
 * Usage: npx tsx bench/copy-flights.ts [--rows N] [--runs 1] [--connections 1] [--visible-timeout-ms 1800000]
 *          [--skip-stratum] [--skip-postgres]
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { from as copyFrom } from 'pg-copy-streams';
import { FLIGHTS_DDL, flightsDataPaths, sqlString } from '../cli/src/load-flights.ts';
import {
  connect,
  connectMany,
  endAll,
  fmt,
  freshTargets,
  loadAverage,
  machineLine,
  makeTempDir,
  median,
  type PgTarget,
  parseArgs,
  printTable,
  removeTempDir,
  timeUntilCount,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const rowsArg = args.num('rows');
const runs = args.num('runs') ?? 1;
const connections = args.num('connections') ?? 1;
const visibleTimeoutMs = args.num('visible-timeout-ms') ?? 1_800_000;
const COPY_SQL = 'COPY flights (id, date, delay, distance, origin, destination) FROM STDIN WITH (FORMAT csv)';

interface RunResult {
  rows: number;
  copySeconds: number;
  /** ms from the last COPY tag to a count(*) that returned every row (NaN: never, within the timeout). */
  visibleMs: number;
  /** Duration of that last count(*), ms. */
  countMs: number;
}

/** Write the CSV files (one per connection, contiguous id ranges); returns their paths and row counts. */
async function makeCsv(dir: string): Promise<{ path: string; rows: number }[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const duck = await inst.connect();
  try {
    const src = `read_parquet(${sqlString(flightsDataPaths().flights)}, file_row_number=true)`;
    const total = Number(
      (
        await duck.runAndReadAll(`SELECT count(*) FROM ${src}${rowsArg === undefined ? '' : ` WHERE file_row_number < ${rowsArg}`}`)
      ).getRowsJS()[0]?.[0],
    );
    const files: { path: string; rows: number }[] = [];
    for (let i = 0; i < connections; i++) {
      const from = Math.floor((i * total) / connections);
      const to = Math.floor(((i + 1) * total) / connections);
      const path = join(dir, `flights-${i}.csv`);
      await duck.run(
        `COPY (SELECT file_row_number AS id, strftime(date, '%Y-%m-%d %H:%M:%S') AS date, delay, distance, origin, destination ` +
          `FROM ${src} WHERE file_row_number >= ${from} AND file_row_number < ${to} ORDER BY id) ` +
          `TO ${sqlString(path)} (FORMAT csv, HEADER false)`,
      );
      files.push({ path, rows: to - from });
    }
    return files;
  } finally {
    duck.closeSync();
    inst.closeSync();
  }
}

async function runOnce(t: PgTarget, files: { path: string; rows: number }[]): Promise<RunResult> {
  const setup = await connect(t);
  try {
    await setup.query(FLIGHTS_DDL);
  } finally {
    await setup.end();
  }
  const clients = await connectMany(t, files.length);
  const t0 = performance.now();
  let copied = 0;
  try {
    await Promise.all(
      files.map(async (f, i) => {
        const c = clients[i];
        if (c === undefined) throw new Error('no connection');
        const copy = c.query(copyFrom(COPY_SQL));
        await pipeline(createReadStream(f.path, { highWaterMark: 64 * 1024 }), copy);
        copied += copy.rowCount;
      }),
    );
  } finally {
    await endAll(clients);
  }
  const copySeconds = (performance.now() - t0) / 1000;
  const expected = files.reduce((a, f) => a + f.rows, 0);
  if (copied !== expected) throw new Error(`${t.label}: COPY reported ${copied} rows, expected ${expected}`);
  process.stderr.write(`  ${t.label}: COPY of ${fmt(copied)} rows in ${fmt(copySeconds, 1)} s (${fmt(copied / copySeconds)} rows/s)\n`);
  // Until count(*) on a new connection sees every row.
  const v = await timeUntilCount(t, 'flights', expected, visibleTimeoutMs);
  return { rows: copied, copySeconds, ...v };
}

const notes: string[] = [];
const targets = freshTargets(args, notes);

const loadAtStart = loadAverage();
const dir = await makeTempDir('stratum-copy-flights-');
const results = new Map<string, RunResult[]>();
let totalRows = 0;
try {
  process.stderr.write('writing the CSV with DuckDB\n');
  const files = await makeCsv(dir);
  totalRows = files.reduce((a, f) => a + f.rows, 0);
  for (let i = 0; i < runs; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      process.stderr.write(`run ${i + 1}/${runs}: ${t.name} (load average ${loadAverage()})\n`);
      let target: PgTarget | undefined;
      try {
        target = await t.start();
        const r = await runOnce(target, files);
        results.set(t.name, [...(results.get(t.name) ?? []), r]);
      } catch (e) {
        notes.push(`${t.name} run ${i + 1} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      } finally {
        await target?.stop();
      }
    }
  }
} finally {
  await removeTempDir(dir);
}

console.log(`\n## COPY flights FROM STDIN (FORMAT csv): ${fmt(totalRows)} rows, ${connections} connection(s), ${runs} run(s), medians\n`);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
const rowsOut: string[][] = [];
for (const t of targets) {
  const list = results.get(t.name) ?? [];
  const copyS = median(list.map((r) => r.copySeconds));
  const visible = median(list.map((r) => r.visibleMs));
  rowsOut.push([
    t.name,
    fmt(list[0]?.rows),
    fmt(copyS, 1),
    fmt(median(list.map((r) => r.rows / r.copySeconds))),
    fmt(visible),
    fmt(median(list.map((r) => r.copySeconds * 1000 + r.visibleMs)) / 1000, 1),
    fmt(median(list.map((r) => r.countMs))),
    list.map((r) => fmt(r.rows / r.copySeconds)).join(' · '),
  ]);
}
printTable(
  [
    'target',
    'rows',
    'COPY s',
    'COPY rows/s',
    'count(*) sees every row after ms (from the last COPY tag)',
    'COPY start → count(*) complete s',
    'last count(*) ms',
    'rows/s per run',
  ],
  rowsOut,
);
const s = results.get('Stratum (embedded)');
const p = results.get('PostgreSQL 15');
if (s !== undefined && p !== undefined && s.length > 0 && p.length > 0) {
  const ratio = median(s.map((r) => r.rows / r.copySeconds)) / median(p.map((r) => r.rows / r.copySeconds));
  const total = (l: RunResult[]) => median(l.map((r) => r.copySeconds * 1000 + r.visibleMs));
  console.log(
    `\nStratum / PostgreSQL COPY rows/s: ${fmt(ratio, 3)}×; time until count(*) sees every row (COPY start → complete): ${fmt(total(s) / total(p), 1)}× PostgreSQL's.`,
  );
}
for (const n of notes) console.log(`\nNote: ${n}`);
