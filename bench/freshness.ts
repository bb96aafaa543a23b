/**
 * Bench: commit-to-visible latency in an analytical query (DESIGN §11, OLAP freshness
 * "< 1 s via the delta").
 *
 * One connection (the writer) inserts single rows with ids 0, 1, 2, … into a fresh table,
 * each INSERT its own autocommit transaction, pausing `--interval-ms` between rows. A
 * separate connection (the reader) runs `SELECT count(*), max(id) FROM <table>` back to
 * back. Because a single writer commits ids in order, a result with max(id) = m shows
 * every row with id ≤ m. For each row, latency = (completion time of the first reader
 * query that returned it) − (time the writer got the INSERT acknowledgement), clamped at 0.
 * It is an upper bound that includes up to one reader round trip; the PostgreSQL column,
 * where a commit is visible at once, shows that measurement floor.
 *
 * Under load: `--load-connections N` (default 2) other connections insert 100-row
 * transactions into another table back to back for the whole measurement (their rows/s is
 * reported), so the probe's rows travel through a busy TX engine, bus and ingestion.
 *
 * Usage: npx tsx bench/freshness.ts [--rows 500] [--interval-ms 2] [--runs 1] [--load-connections 2]
 *          [--timeout-ms 30000] [--skip-stratum] [--skip-postgres]
 */
import type pg from 'pg';
import { connect, fmt, freshTargets, machineLine, median, type PgTarget, parseArgs, percentile, printTable } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const rows = args.num('rows') ?? 500;
const intervalMs = args.num('interval-ms') ?? 2;
const runs = args.num('runs') ?? 1;
const timeoutMs = args.num('timeout-ms') ?? 30_000;
const loadConnections = args.num('load-connections') ?? 2;
const TABLE = 'freshness_probe';
const LOAD_TABLE = 'freshness_load';

interface FreshnessResult {
  /** Per-row commit-to-visible latency in ms (rows that became visible). */
  latencies: number[];
  /** Rows never seen within the timeout after the last INSERT. */
  invisible: number;
  /** Reader query durations in ms. */
  readerMs: number[];
  /** Writer INSERT round trips in ms. */
  writerMs: number[];
  /** Reader results whose count(*) was not max(id)+1 (a non-prefix snapshot). */
  nonPrefix: number;
  /** Background load: rows/s committed by the load connections during the measurement. */
  loadRowsPerSec: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(target: PgTarget): Promise<FreshnessResult> {
  const setup = await connect(target);
  await setup.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, written_at timestamp, payload text)`);
  await setup.query(`CREATE TABLE ${LOAD_TABLE} (id bigint PRIMARY KEY, k integer, payload text)`);
  await setup.end();
  const loaders = await Promise.all(Array.from({ length: loadConnections }, () => connect(target)));
  let loadStop = false;
  let loadRows = 0;
  const loadStart = performance.now();
  const loadJobs = loaders.map(async (c, li) => {
    let id = li * 1_000_000_000;
    const values = Array.from({ length: 100 }, (_, j) => `($${j * 3 + 1}, $${j * 3 + 2}, $${j * 3 + 3})`).join(', ');
    while (!loadStop) {
      const params: string[] = [];
      for (let j = 0; j < 100; j++) params.push(String(id++), String(j), `load row ${id}`);
      await c.query({ name: 'freshness_load', text: `INSERT INTO ${LOAD_TABLE} VALUES ${values}`, values: params });
      loadRows += 100;
    }
  });
  const writer = await connect(target);
  const reader = await connect(target);
  const ackAt: number[] = new Array<number>(rows).fill(Number.NaN);
  const visibleAt: number[] = new Array<number>(rows).fill(Number.NaN);
  const readerMs: number[] = [];
  const writerMs: number[] = [];
  let nonPrefix = 0;
  let writerDone = false;
  let writerDoneAt = 0;
  let seen = -1; // highest id seen so far

  const write = async (): Promise<void> => {
    for (let i = 0; i < rows; i++) {
      const t = performance.now();
      await writer.query({
        name: 'freshness_insert',
        text: `INSERT INTO ${TABLE} (id, written_at, payload) VALUES ($1, $2, $3)`,
        values: [String(i), new Date().toISOString().replace('T', ' ').replace('Z', ''), `row ${i}`],
      });
      const now = performance.now();
      ackAt[i] = now;
      writerMs.push(now - t);
      if (intervalMs > 0) await sleep(intervalMs);
    }
    writerDone = true;
    writerDoneAt = performance.now();
  };

  const read = async (client: pg.Client): Promise<void> => {
    for (;;) {
      const t = performance.now();
      const r = await client.query<[string, string | null]>({
        text: `SELECT count(*), max(id) FROM ${TABLE}`,
        rowMode: 'array',
      });
      const done = performance.now();
      readerMs.push(done - t);
      const row = r.rows[0];
      const count = Number(row?.[0] ?? 0);
      const max = row?.[1] === null || row?.[1] === undefined ? -1 : Number(row[1]);
      if (count !== max + 1) nonPrefix++;
      for (let i = seen + 1; i <= max && i < rows; i++) visibleAt[i] = done;
      if (max > seen) seen = max;
      if (seen >= rows - 1) return;
      if (writerDone && done - writerDoneAt > timeoutMs) return;
    }
  };

  let loadRowsPerSec = 0;
  try {
    await Promise.all([write(), read(reader)]);
  } finally {
    loadStop = true;
    loadRowsPerSec = loadRows / ((performance.now() - loadStart) / 1000);
    await Promise.allSettled(loadJobs);
    await Promise.allSettled([writer.end(), reader.end(), ...loaders.map((c) => c.end())]);
  }
  const latencies: number[] = [];
  let invisible = 0;
  for (let i = 0; i < rows; i++) {
    const a = ackAt[i] ?? Number.NaN;
    const v = visibleAt[i] ?? Number.NaN;
    if (Number.isNaN(v)) invisible++;
    else latencies.push(Math.max(0, v - a));
  }
  return { latencies, invisible, readerMs, writerMs, nonPrefix, loadRowsPerSec };
}

const notes: string[] = [];
const targets = freshTargets(args, notes);

const results = new Map<string, FreshnessResult[]>();
for (let run = 0; run < runs; run++) {
  for (const t of run % 2 === 0 ? targets : [...targets].reverse()) {
    process.stderr.write(`run ${run + 1}/${runs}: ${t.name}\n`);
    let target: PgTarget | undefined;
    try {
      target = await t.start();
      const r = await measure(target);
      const list = results.get(t.name) ?? [];
      list.push(r);
      results.set(t.name, list);
    } catch (e) {
      notes.push(`${t.name} run ${run + 1} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    } finally {
      await target?.stop();
    }
  }
}

console.log(
  `\n## Commit-to-visible latency (${rows} single-row INSERTs, ${intervalMs} ms apart; reader: SELECT count(*), max(id); ${loadConnections} load connection(s) of 100-row INSERTs; ${runs} run(s))\n`,
);
console.log(machineLine());
console.log('');
const tableRows: string[][] = [];
for (const t of targets) {
  const list = results.get(t.name) ?? [];
  // Pool all runs' samples: percentiles of the pooled distribution; medians of the per-run p50/p99 are also shown.
  const all = list.flatMap((r) => r.latencies);
  tableRows.push([
    t.name,
    fmt(all.length),
    fmt(percentile(all, 50), 2),
    fmt(percentile(all, 99), 2),
    fmt(percentile(all, 100), 2),
    fmt(median(list.map((r) => percentile(r.latencies, 99))), 2),
    fmt(
      percentile(
        list.flatMap((r) => r.readerMs),
        50,
      ),
      2,
    ),
    fmt(
      percentile(
        list.flatMap((r) => r.writerMs),
        50,
      ),
      2,
    ),
    fmt(list.reduce((s, r) => s + r.invisible, 0)),
    fmt(list.reduce((s, r) => s + r.nonPrefix, 0)),
    fmt(median(list.map((r) => r.loadRowsPerSec))),
  ]);
}
printTable(
  [
    'target',
    'rows',
    'p50 ms',
    'p99 ms',
    'max ms',
    'median of run p99 ms',
    'reader query p50 ms',
    'INSERT p50 ms',
    'never visible',
    'non-prefix reads',
    'load rows/s',
  ],
  tableRows,
);
for (const n of notes) console.log(`\nnote: ${n}`);
