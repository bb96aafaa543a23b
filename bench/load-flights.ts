/**
 * Bench: end-to-end load of the flights dataset (vega-datasets flights-3m.parquet +
 * airports.csv) over pgwire with the `stratum load flights` code (loadFlights: COPY FROM STDIN
 * in CSV on several connections), into
 *   (a) an embedded Stratum (`node cli/bin/stratum.mjs up`, fresh data directory), and
 *   (b) a throw-away PostgreSQL 15 (default settings, synchronous_commit on),
 * and, after each load, the time until the last loaded row is visible to the analytical
 * query `SELECT count(*) FROM flights` on a new connection.
 *
 * Usage: npx tsx bench/load-flights.ts [--rows N] [--runs R] [--batch-rows B]
 *          [--connections C] [--skip-stratum] [--skip-postgres]
 * Prints a markdown table of medians over R runs (each run on a fresh server).
 */
import { loadFlights } from '../cli/src/load-flights.ts';
import { fmt, freshTargets, machineLine, median, type PgTarget, parseArgs, printTable, timeUntilCount } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const rows = args.num('rows');
const runs = args.num('runs') ?? 1;
const batchRows = args.num('batch-rows') ?? 1000;
const connections = args.num('connections') ?? 4;
const visibleTimeoutMs = args.num('visible-timeout-ms') ?? 600_000;

interface RunResult {
  seconds: number;
  rowsPerSecond: number;
  /** ms from loadFlights returning to `count(*)` returning the full count; NaN if never. */
  visibleMs: number;
  /** Duration of the last `count(*)` query (ms): the part of visibleMs that is query time. */
  countMs: number;
}

async function runOnce(start: () => Promise<PgTarget>): Promise<RunResult & { label: string; flights: number }> {
  const target = await start();
  try {
    const r = await loadFlights({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      ...(rows !== undefined ? { rows } : {}),
      batchRows,
      connections,
      progress: true,
    });
    const v = await timeUntilCount(target, 'flights', r.flights, visibleTimeoutMs);
    return { label: target.label, flights: r.flights, seconds: r.seconds, rowsPerSecond: r.rowsPerSecond, ...v };
  } finally {
    await target.stop();
  }
}

const notes: string[] = [];
const targets = freshTargets(args, notes);

const results = new Map<string, (RunResult & { flights: number })[]>();
for (let i = 0; i < runs; i++) {
  // Alternate the order so a warm page cache or a noisy neighbour does not favour one side.
  const order = i % 2 === 0 ? targets : [...targets].reverse();
  for (const t of order) {
    process.stderr.write(`run ${i + 1}/${runs}: ${t.name}\n`);
    try {
      const r = await runOnce(t.start);
      const list = results.get(t.name) ?? [];
      list.push(r);
      results.set(t.name, list);
    } catch (e) {
      notes.push(`${t.name} run ${i + 1} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
}

console.log(
  `\n## Flights load (${rows === undefined ? 'all 3,000,000' : fmt(rows)} flights + airports, COPY FROM STDIN csv, ${batchRows} rows per CopyData, ${connections} connections, ${runs} run(s), medians)\n`,
);
console.log(machineLine());
console.log('');
const tableRows: string[][] = [];
for (const t of targets) {
  const list = results.get(t.name) ?? [];
  tableRows.push([
    t.name,
    fmt(list[0]?.flights),
    fmt(median(list.map((r) => r.seconds)), 1),
    fmt(median(list.map((r) => r.rowsPerSecond))),
    fmt(median(list.map((r) => r.visibleMs))),
    fmt(median(list.map((r) => r.countMs))),
    String(list.length),
  ]);
}
printTable(['target', 'flights', 'load s', 'rows/s', 'all rows visible to count(*) after ms', 'count(*) query ms', 'runs'], tableRows);
const s = results.get('Stratum (embedded)');
const p = results.get('PostgreSQL 15');
if (s !== undefined && p !== undefined && s.length > 0 && p.length > 0) {
  const ratio = median(s.map((r) => r.rowsPerSecond)) / median(p.map((r) => r.rowsPerSecond));
  console.log(`\nStratum / PostgreSQL rows/s: ${fmt(ratio, 2)}×`);
}
for (const n of notes) console.log(`\nnote: ${n}`);
