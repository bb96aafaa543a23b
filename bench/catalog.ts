/**
 * Bench: the system catalogs' cost (issue 11 benchmarks).
 *
 * - **psql `\d orders`**: the catalog queries psql 15 sends for `\d orders` (captured with
 *   `psql -E` from each server, so each carries that server's oids) run in order over one
 *   connection, `--reps` times; p50 and p99 of the whole describe, Stratum against PostgreSQL 15
 *   in the same run. Also the wall time of a real `psql -X -c '\d orders'` process (connect,
 *   describe, exit), p50 over `--psql-reps`.
 * - **Start-up and memory**: time from spawning `stratum up` to its first answered `SELECT 1`,
 *   the first `\d orders` after start (it loads the catalog relations into the router's DuckDB),
 *   and RSS after `--idle` seconds idle before and after that first describe. With `--baseline
 *   DIR` the same start-up and idle RSS of another checkout (the code before this change) are
 *   measured in the same run, alternating which starts first.
 *
 * Schema: the tool tests' (cli/src/tools/schema.ts): a sequence, tables with defaults, a
 * unique and a foreign key, CHECKs, an index, a view, a comment. Medians over `--runs` runs,
 * each on fresh servers.
 *
 * Usage: npx tsx bench/catalog.ts [--runs 3] [--reps 200] [--psql-reps 20] [--idle 5] [--baseline /path/to/other/checkout]
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { ROWS, SCHEMA } from '../cli/src/tools/schema.ts';
import {
  connect,
  fmt,
  machineLine,
  median,
  mib,
  type PgTarget,
  parseArgs,
  percentile,
  printTable,
  processMemory,
  startPostgresTarget,
  startStratum,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const runs = args.num('runs') ?? 3;
const reps = args.num('reps') ?? 200;
const psqlReps = args.num('psql-reps') ?? 20;
const idleS = args.num('idle') ?? 5;
const baseline = args.str('baseline');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The queries psql sends for `command` to `t` (`psql -E`). */
function capture(t: PgTarget, command: string): string[] {
  const text = execFileSync('psql', ['-X', '-E', '-h', t.host, '-p', String(t.port), '-U', t.user, '-d', t.database, '-c', command], {
    encoding: 'utf8',
    env: { ...process.env, PGTZ: 'UTC' },
  });
  return [...text.matchAll(/^\*+ QUERY \*+\n([\s\S]*?)\n\*{10,}$/gm)].map((m) => (m[1] as string).trim());
}

/** Run the describe's queries in order once; ms. */
async function describeOnce(c: pg.Client, queries: readonly string[]): Promise<number> {
  const t0 = performance.now();
  for (const q of queries) await c.query(q);
  return performance.now() - t0;
}

/** Wall time of one `psql -X -c command` process; ms. */
function psqlWall(t: PgTarget, command: string): number {
  const t0 = performance.now();
  execFileSync('psql', ['-X', '-q', '-h', t.host, '-p', String(t.port), '-U', t.user, '-d', t.database, '-c', command], {
    stdio: 'ignore',
  });
  return performance.now() - t0;
}

interface DescribeRun {
  p50: number;
  p99: number;
  psqlP50: number;
}

async function describeBench(t: PgTarget): Promise<DescribeRun> {
  const c = await connect(t);
  try {
    for (const s of [...SCHEMA, ...ROWS]) await c.query(s);
    const queries = capture(t, '\\d orders');
    if (queries.length === 0) throw new Error(`psql sent no query to ${t.label}`);
    for (let i = 0; i < 20; i++) await describeOnce(c, queries);
    const samples: number[] = [];
    for (let i = 0; i < reps; i++) samples.push(await describeOnce(c, queries));
    const walls: number[] = [];
    for (let i = 0; i < psqlReps; i++) walls.push(psqlWall(t, '\\d orders'));
    return { p50: percentile(samples, 50), p99: percentile(samples, 99), psqlP50: median(walls) };
  } finally {
    await c.end();
  }
}

interface StartRun {
  startMs: number;
  firstDescribeMs?: number;
  idleRss: number;
  afterDescribeRss?: number;
}

/** Start a Stratum (this checkout or `root`), time its first answer and first describe, and read its idle RSS. */
async function startBench(root: string | undefined, describe: boolean): Promise<StartRun> {
  const t0 = performance.now();
  const s = await startStratum(root ? { repoRoot: root } : {});
  const startMs = performance.now() - t0;
  try {
    await sleep(idleS * 1000);
    const idleRss = processMemory(s.pid)?.rss ?? Number.NaN;
    const out: StartRun = { startMs, idleRss };
    if (describe) {
      const c = await connect(s);
      try {
        for (const q of SCHEMA) await c.query(q);
      } finally {
        await c.end();
      }
      const t1 = performance.now();
      psqlWall(s, '\\d orders');
      out.firstDescribeMs = performance.now() - t1;
      await sleep(idleS * 1000);
      out.afterDescribeRss = processMemory(s.pid)?.rss ?? Number.NaN;
    }
    return out;
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  console.log(machineLine());
  const stratum: DescribeRun[] = [];
  const postgres: DescribeRun[] = [];
  const starts: StartRun[] = [];
  const baseStarts: StartRun[] = [];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['stratum', 'postgres'] : ['postgres', 'stratum'];
    for (const which of order) {
      const t = which === 'stratum' ? await startStratum() : await startPostgresTarget();
      try {
        (which === 'stratum' ? stratum : postgres).push(await describeBench(t));
      } finally {
        await t.stop();
      }
    }
    const startOrder = baseline && r % 2 === 1 ? ['baseline', 'this'] : ['this', 'baseline'];
    for (const which of startOrder) {
      if (which === 'this') starts.push(await startBench(undefined, true));
      else if (baseline) baseStarts.push(await startBench(baseline, false));
    }
  }
  const med = (xs: DescribeRun[], k: keyof DescribeRun) => median(xs.map((x) => x[k]));
  console.log(`\npsql \\d orders (${reps} describes over one connection per run, medians of ${runs} runs)\n`);
  printTable(
    ['target', 'describe p50 ms', 'describe p99 ms', 'psql process p50 ms'],
    [
      ['Stratum', fmt(med(stratum, 'p50'), 2), fmt(med(stratum, 'p99'), 2), fmt(med(stratum, 'psqlP50'), 1)],
      ['PostgreSQL 15', fmt(med(postgres, 'p50'), 2), fmt(med(postgres, 'p99'), 2), fmt(med(postgres, 'psqlP50'), 1)],
      [
        'ratio (Stratum / PostgreSQL)',
        fmt(med(stratum, 'p50') / med(postgres, 'p50'), 1),
        fmt(med(stratum, 'p99') / med(postgres, 'p99'), 1),
        fmt(med(stratum, 'psqlP50') / med(postgres, 'psqlP50'), 2),
      ],
    ],
  );
  const m = (xs: StartRun[], f: (x: StartRun) => number | undefined) => median(xs.map(f).filter((x): x is number => x !== undefined));
  console.log(`\nstratum up: start-up and memory (medians of ${runs} starts; RSS after ${idleS} s idle)\n`);
  const rows = [
    [
      'this change',
      fmt(m(starts, (x) => x.startMs)),
      fmt(m(starts, (x) => x.firstDescribeMs)),
      mib(m(starts, (x) => x.idleRss)),
      mib(m(starts, (x) => x.afterDescribeRss)),
    ],
  ];
  if (baseline) rows.push(['before (--baseline)', fmt(m(baseStarts, (x) => x.startMs)), '—', mib(m(baseStarts, (x) => x.idleRss)), '—']);
  printTable(['code', 'time to first query ms', 'first \\d orders ms', 'idle RSS', 'idle RSS after \\d'], rows);
}

await main();
