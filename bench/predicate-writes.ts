/**
 * Bench: UPDATE and DELETE by a non-key predicate (issue 10, "Benchmarks"): statements matching
 * 1, 100 and 10,000 rows of a 1M-row table, with and without an index on the predicate column,
 * p50 and p99 latency per statement, Stratum (embedded) against PostgreSQL 15 in the same run.
 *
 * Table (both servers, same rows):
 *
 *     pw (id bigint PRIMARY KEY, grp int, grp_ix int, val int, pad text)  +  CREATE INDEX pw_grp_ix ON pw (grp_ix)
 *
 * `grp` has no index, `grp_ix` has one. The rows are split in two halves by a fixed permutation
 * of the ids (so a group's rows are scattered over the table, not clustered in load order):
 * in one half `grp` carries the groups the statements use and `grp_ix` a unique filler value; in
 * the other half the reverse. The groups of each column are `2 × reps` groups of 10,000 rows, of
 * 100 rows and of 1 row (one set for UPDATE, one for DELETE), every other row has a unique
 * value. Every repetition of a case uses a group of its own, so each statement matches exactly
 * its size (checked against the command tag) and no statement sees rows an earlier one touched,
 * and the cases on `grp` never touch rows of the cases on `grp_ix`.
 *
 * Statements (named prepared statements, autocommit, one client per server):
 *
 *     UPDATE pw SET val = val + 1 WHERE grp = $1        DELETE FROM pw WHERE grp = $1
 *     UPDATE pw SET val = val + 1 WHERE grp_ix = $1     DELETE FROM pw WHERE grp_ix = $1
 *
 * Both servers are loaded with COPY FROM STDIN (CSV, `--connections` connections on disjoint id
 * ranges), then PostgreSQL gets `VACUUM ANALYZE` and Stratum is waited on until ingestion has
 * merged every loaded row and pushed it to the OLAP tier (the steady state of a table loaded
 * a while ago; bounded by `--settle-timeout`). Measurement runs in rounds: in each round every
 * case runs its next repetition (cases with fewer repetitions are spread evenly over the
 * rounds), first on one server, then on the other (the order alternates per round), so both
 * see the same noise of the box. After Stratum's part of a round the bench waits (bounded)
 * until ingestion has merged the versions the round wrote, so Stratum's background work does
 * not land in PostgreSQL's part; the wait is not counted.
 *
 * Usage: npx tsx bench/predicate-writes.ts [--rows 1000000] [--reps-1 200] [--reps-100 100]
 *          [--reps-10000 10] [--warmup 5] [--pad 40] [--connections 4] [--settle-timeout 300]
 *          [--skip-stratum] [--skip-postgres]
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  connect,
  connectMany,
  endAll,
  fmt,
  loadAverage,
  machineLine,
  type PgTarget,
  parseArgs,
  percentiles,
  printTable,
  startPostgresTarget,
  startStratum,
  stratumAvailable,
  waitForIngestion,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const N = args.num('rows') ?? 1_000_000;
const SIZES = [1, 100, 10_000] as const;
type Size = (typeof SIZES)[number];
const reps: Record<Size, number> = {
  1: args.num('reps-1') ?? 200,
  100: args.num('reps-100') ?? 100,
  10000: args.num('reps-10000') ?? 10,
};
const warmup = args.num('warmup') ?? 5;
const padLen = args.num('pad') ?? 40;
const loadConnections = args.num('connections') ?? 4;
const settleTimeoutS = args.num('settle-timeout') ?? 300;
const TABLE = 'pw';
const OPS = ['UPDATE', 'DELETE'] as const;
type Op = (typeof OPS)[number];
const COLUMNS = [
  { column: 'grp', indexed: false },
  { column: 'grp_ix', indexed: true },
] as const;
type Column = (typeof COLUMNS)[number]['column'];

// ------------------------------------------------------------------ data layout

const half = Math.floor(N / 2);
/** Positions a column needs: per size, one block of groups for UPDATE and one for DELETE (+ warm-up groups of size 1). */
const needed = SIZES.reduce((a, s) => a + s * 2 * reps[s], 0) + 2 * warmup;
if (needed > N - half) {
  throw new Error(
    `--rows ${N} is too small: each half (${N - half} rows) must hold ${needed} rows of groups; lower --reps-* or raise --rows`,
  );
}
/** A multiplier coprime to N: position p(id) = id · MULT mod N is a permutation of 0 … N−1. */
const MULT = (() => {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let m = 982_451_653 % N || 1;
  while (gcd(m, N) !== 1) m++;
  return m;
})();
const position = (id: number): number => Number((BigInt(id) * BigInt(MULT)) % BigInt(N));
/** Filler values (unique, never used by a statement) start here. */
const FILLER = 100_000_000;

/** Group value of position q (0 … half−1) inside a column's half: blocks of 10,000-row, 100-row, then 1-row groups. */
function groupAt(q: number): number {
  let start = 0;
  let value = 0;
  for (const s of [...SIZES].reverse()) {
    const count = 2 * reps[s] + (s === 1 ? 2 * warmup : 0);
    if (q < start + count * s) return value + Math.floor((q - start) / s);
    start += count * s;
    value += count;
  }
  return FILLER + q;
}

/** The group values a case uses, in order: rep j of (op, size) → value. Warm-up groups come from the 1-row block's tail. */
function groupsOf(op: Op, size: Size): number[] {
  let value = 0;
  for (const s of [...SIZES].reverse()) {
    const count = 2 * reps[s] + (s === 1 ? 2 * warmup : 0);
    if (s === size) {
      const first = value + (op === 'UPDATE' ? 0 : reps[s]);
      return Array.from({ length: reps[s] }, (_, j) => first + j);
    }
    value += count;
  }
  return [];
}
function warmupGroups(op: Op): number[] {
  // The 1-row block is the last: its last 2·warmup values.
  const total = SIZES.reduce((a, s) => a + 2 * reps[s], 0) + 2 * warmup;
  const first = total - 2 * warmup + (op === 'UPDATE' ? 0 : warmup);
  return Array.from({ length: warmup }, (_, j) => first + j);
}

/** CSV lines of ids [from, to): id, grp, grp_ix, val, pad. */
function* csvRows(from: number, to: number): Generator<string> {
  const pad = 'x'.repeat(padLen);
  const lines: string[] = [];
  for (let id = from; id < to; id++) {
    const p = position(id);
    const grp = p < half ? groupAt(p) : FILLER + p;
    const grpIx = p < half ? FILLER + p : groupAt(p - half);
    lines.push(`${id},${grp},${grpIx},${id % 1000},${pad}\n`);
    if (lines.length === 1000) {
      yield lines.join('');
      lines.length = 0;
    }
  }
  if (lines.length > 0) yield lines.join('');
}

// ------------------------------------------------------------------ servers

interface Server {
  label: string;
  target: PgTarget;
  /** The measuring connection, once the table is loaded. */
  client: pg.Client | undefined;
  /** Stratum: its HTTP base URL (for /metrics); undefined for PostgreSQL. */
  metricsUrl: string | undefined;
  /** Stratum: versions written by measured statements so far (for the settle between rounds). */
  written: number;
  loadSeconds: number;
  settleSeconds: number;
}

async function load(t: PgTarget): Promise<number> {
  const c = await connect(t);
  try {
    await c.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, grp int, grp_ix int, val int, pad text)`);
    await c.query(`CREATE INDEX ${TABLE}_grp_ix ON ${TABLE} (grp_ix)`);
  } finally {
    await c.end();
  }
  const clients = await connectMany(t, loadConnections);
  const t0 = performance.now();
  try {
    await Promise.all(
      clients.map(async (c, i) => {
        const from = Math.floor((i * N) / clients.length);
        const to = Math.floor(((i + 1) * N) / clients.length);
        const copy = c.query(copyFrom(`COPY ${TABLE} (id, grp, grp_ix, val, pad) FROM STDIN WITH (FORMAT csv)`));
        await pipeline(Readable.from(csvRows(from, to)), copy);
        if (copy.rowCount !== to - from) throw new Error(`COPY of ids ${from}…${to - 1} reported ${copy.rowCount} rows`);
      }),
    );
  } finally {
    await endAll(clients);
  }
  return (performance.now() - t0) / 1000;
}

/** Wait until Stratum's ingestion has merged `versions` versions (and, if `pushed`, pushed as many to OLAP); seconds waited. */
async function settle(s: Server, versions: number, pushed: boolean, timeoutS: number): Promise<number> {
  if (s.metricsUrl === undefined) return 0;
  const w = await waitForIngestion(s.metricsUrl, versions, { pushed, timeoutS });
  if (!w.reached) {
    notes.push(
      `${s.label}: after ${timeoutS} s ingestion had merged ${w.applied} and pushed ${w.pushed} of ${versions} versions; measuring anyway`,
    );
  }
  return w.seconds;
}

const notes: string[] = [];
const servers: Server[] = [];
const loadAtStart = loadAverage();
if (!args.flag('skip-stratum')) {
  if (!stratumAvailable()) notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
  else {
    const st = await startStratum({ echo: process.env.BENCH_ECHO === '1' });
    servers.push({
      label: 'Stratum',
      target: st,
      client: undefined,
      metricsUrl: `http://127.0.0.1:${st.httpPort}`,
      written: 0,
      loadSeconds: 0,
      settleSeconds: 0,
    });
  }
}
if (!args.flag('skip-postgres')) {
  const p = await startPostgresTarget();
  servers.push({
    label: 'PostgreSQL 15',
    target: p,
    client: undefined,
    metricsUrl: undefined,
    written: 0,
    loadSeconds: 0,
    settleSeconds: 0,
  });
}

interface Case {
  op: Op;
  size: Size;
  column: Column;
  indexed: boolean;
  groups: number[];
  /** Round at which repetition j runs. */
  rounds: number[];
  /** latencies per server label, ms */
  lat: Map<string, number[]>;
  wrongCounts: Map<string, number>;
  errors: Map<string, string[]>;
}
const maxReps = Math.max(...SIZES.map((s) => reps[s]));
const cases: Case[] = [];
for (const size of SIZES) {
  for (const { column, indexed } of COLUMNS) {
    for (const op of OPS) {
      const groups = groupsOf(op, size);
      cases.push({
        op,
        size,
        column,
        indexed,
        groups,
        rounds: groups.map((_, j) => Math.floor((j * maxReps) / groups.length)),
        lat: new Map(),
        wrongCounts: new Map(),
        errors: new Map(),
      });
    }
  }
}
const sqlOf = (op: Op, column: Column): string =>
  op === 'UPDATE' ? `UPDATE ${TABLE} SET val = val + 1 WHERE ${column} = $1` : `DELETE FROM ${TABLE} WHERE ${column} = $1`;
const nameOf = (op: Op, column: Column): string => `pw_${op.toLowerCase()}_${column}`;

async function runOne(s: Server, op: Op, column: Column, value: number): Promise<{ ms: number; count: number }> {
  if (s.client === undefined) throw new Error(`${s.label}: not connected`);
  const t = performance.now();
  const r = await s.client.query({ name: nameOf(op, column), text: sqlOf(op, column), values: [value] });
  return { ms: performance.now() - t, count: r.rowCount ?? -1 };
}

const explains: string[] = [];
try {
  // Load one server after the other (both at once would share the 2 cores).
  for (const s of servers) {
    process.stderr.write(`${s.label}: loading ${fmt(N)} rows with COPY over ${loadConnections} connections\n`);
    s.loadSeconds = await load(s.target);
    process.stderr.write(`  ${fmt(N / s.loadSeconds)} rows/s\n`);
    const client = await connect(s.target);
    s.client = client;
    if (s.metricsUrl === undefined) await client.query(`VACUUM ANALYZE ${TABLE}`);
    else {
      process.stderr.write('  waiting until ingestion merged every row and pushed it to OLAP\n');
      s.settleSeconds = await settle(s, N, true, settleTimeoutS);
      process.stderr.write(`  settled after ${fmt(s.settleSeconds, 1)} s\n`);
      for (const { column } of COLUMNS) {
        for (const op of OPS) {
          const r = await client.query(`EXPLAIN ${sqlOf(op, column).replace('$1', '1')}`);
          explains.push(`${sqlOf(op, column)}\n${r.rows.map((row: Record<string, string>) => `    ${Object.values(row)[0]}`).join('\n')}`);
        }
      }
    }
  }
  const byLabel = new Map(servers.map((s) => [s.label, s]));
  // Warm-up: prepare every statement and run it a few times on 1-row groups (not counted).
  for (const s of servers) {
    for (const { column } of COLUMNS) {
      for (const op of OPS) {
        for (const g of warmupGroups(op)) await runOne(s, op, column, g);
      }
    }
    s.written += 2 * 2 * warmup;
  }

  for (let round = 0; round < maxReps; round++) {
    if (round % 20 === 0) process.stderr.write(`round ${round + 1}/${maxReps} (load average ${loadAverage()})\n`);
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    // Rotate the case order per round, so no case always runs right after a 10,000-row one.
    const rotated = cases.map((_, i) => cases[(i + round) % cases.length] as Case);
    for (const s of order) {
      for (const c of rotated) {
        for (let j = 0; j < c.groups.length; j++) {
          if (c.rounds[j] !== round) continue;
          const value = c.groups[j] as number;
          try {
            const r = await runOne(s, c.op, c.column, value);
            c.lat.set(s.label, [...(c.lat.get(s.label) ?? []), r.ms]);
            if (r.count !== c.size) c.wrongCounts.set(s.label, (c.wrongCounts.get(s.label) ?? 0) + 1);
            s.written += Math.max(r.count, 0);
          } catch (e) {
            const err = e as { code?: string; message?: string };
            const list = c.errors.get(s.label) ?? [];
            list.push(`${err.code ?? ''} ${err.message ?? String(e)}`);
            c.errors.set(s.label, list);
          }
        }
      }
      if (s.metricsUrl !== undefined && byLabel.size > 1) await settle(s, N + s.written, false, 60);
    }
  }
} finally {
  for (const s of servers) {
    await s.client?.end().catch(() => undefined);
    await s.target.stop();
  }
}

// ------------------------------------------------------------------ report

const st = servers.find((s) => s.metricsUrl !== undefined);
const pgs = servers.find((s) => s.metricsUrl === undefined);
console.log(
  `\n## Predicate UPDATE / DELETE on a ${fmt(N)}-row table (autocommit, one client, named prepared statements; ` +
    `repetitions: ${SIZES.map((s) => `${fmt(reps[s])} × ${fmt(s)}-row`).join(', ')} per case)\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
/** a / b as `1.2×`, or `—` when either is missing. */
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? '—' : `${fmt(a / b, a / b < 10 ? 2 : 1)}×`;
const rows: string[][] = [];
for (const c of cases) {
  const [pp50, pp99] = percentiles(c.lat.get(pgs?.label ?? '') ?? [], [50, 99]);
  const [cs50, cs99] = percentiles(c.lat.get(st?.label ?? '') ?? [], [50, 99]);
  const bad = servers
    .map((s) => {
      const w = c.wrongCounts.get(s.label) ?? 0;
      const e = c.errors.get(s.label)?.length ?? 0;
      return w + e > 0 ? `${s.label}: ${w} wrong count, ${e} errors` : '';
    })
    .filter((x) => x !== '')
    .join('; ');
  rows.push([
    c.op,
    fmt(c.size),
    c.indexed ? 'yes' : 'no',
    String(c.groups.length),
    fmt(cs50, 2),
    fmt(cs99, 2),
    fmt(pp50, 2),
    fmt(pp99, 2),
    ratio(cs50, pp50),
    ratio(cs99, pp99),
    bad === '' ? '0' : bad,
  ]);
}
printTable(
  [
    'statement',
    'rows matched',
    'index',
    'reps',
    'Stratum p50 ms',
    'Stratum p99 ms',
    'PostgreSQL p50 ms',
    'PostgreSQL p99 ms',
    'p50 Stratum / PG',
    'p99 Stratum / PG',
    'errors',
  ],
  rows,
);
console.log('');
printTable(
  ['server', 'COPY load s', 'load rows/s', 'settle s (ingestion merged + pushed to OLAP)'],
  servers.map((s) => [s.label, fmt(s.loadSeconds, 1), fmt(N / s.loadSeconds), s.metricsUrl === undefined ? '—' : fmt(s.settleSeconds, 1)]),
);
if (explains.length > 0) {
  console.log('\nStratum EXPLAIN of each statement (how it finds its rows):\n');
  console.log('```');
  for (const e of explains) console.log(e);
  console.log('```');
}
for (const c of cases) {
  for (const [label, list] of c.errors) notes.push(`${label} ${c.op} ${c.column} ${c.size}: ${list.length} errors, e.g. ${list[0]}`);
}
for (const n of notes) console.log(`\nNote: ${n}`);
