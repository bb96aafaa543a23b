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
import {
  connect,
  fmt,
  machineLine,
  median,
  type PgTarget,
  parseArgs,
  printTable,
  startPostgresTarget,
  startStratum,
  stratumAvailable,
} from './lib.ts';

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

/** Poll `SELECT count(*) FROM flights` until it returns `expected` (ms waited, NaN on timeout; last query's ms). */
async function timeToVisible(target: PgTarget, expected: number): Promise<{ visibleMs: number; countMs: number }> {
  const t0 = performance.now();
  const c = await connect(target);
  try {
    for (;;) {
      const q0 = performance.now();
      const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM flights');
      const now = performance.now();
      if (Number(r.rows[0]?.n ?? -1) === expected) return { visibleMs: now - t0, countMs: now - q0 };
      if (now - t0 > visibleTimeoutMs) return { visibleMs: Number.NaN, countMs: now - q0 };
      await new Promise((res) => setTimeout(res, 10));
    }
  } finally {
    await c.end();
  }
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
    const v = await timeToVisible(target, r.flights);
    return { label: target.label, flights: r.flights, seconds: r.seconds, rowsPerSecond: r.rowsPerSecond, ...v };
  } finally {
    await target.stop();
  }
}

const targets: { name: string; start: () => Promise<PgTarget> }[] = [];
const notes: string[] = [];
if (!args.flag('skip-stratum')) {
  if (stratumAvailable()) targets.push({ name: 'Stratum (embedded)', start: () => startStratum() });
  else notes.push('Stratum skipped: cli/bin/stratum.mjs not found (the `stratum up` command is not built yet).');
}
if (!args.flag('skip-postgres')) targets.push({ name: 'PostgreSQL 15', start: () => startPostgresTarget() });

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
