/**
 * Bench: `INSERT … RETURNING` and `INSERT … ON CONFLICT (id) DO UPDATE` at 32 clients (issue 10,
 * "Benchmarks"): txn/s of Stratum (embedded) and PostgreSQL 15 in the same run, driven by
 * Debian's `pgbench` (a C client, so the load generator costs little CPU) with custom scripts:
 *
 *   returning:  \set v random(1, 1000000)
 *               INSERT INTO ru_returning (v) VALUES (:v) RETURNING id, created;
 *               -- ru_returning (id bigserial PRIMARY KEY, v int, created timestamptz DEFAULT now())
 *
 *   upsert:     \set id random(1, 2 · --keys)
 *               \set v random(1, 1000000)
 *               INSERT INTO ru_upsert (id, v, n) VALUES (:id, :v, 1)
 *                 ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = ru_upsert.n + 1;
 *               -- ru_upsert (id bigint PRIMARY KEY, v int, n int), --keys rows preloaded (ids 1 … keys),
 *               -- so at the start half the statements update an existing row and half insert
 *
 * Each statement is its own autocommit transaction. `pgbench -n -M prepared -c <clients> -j 2
 * -T <seconds> --max-tries 10 -f <script>`: named prepared statements, no vacuum, serialization
 * failures (40001, two clients upserting one key at once) retried up to 10 times, as an
 * application would; retries and failures are columns.
 *
 * Both servers run side by side for the whole bench. Each round runs every workload on one
 * server, then on the other (the order alternates per round), so both see the same noise of
 * the box; after Stratum's part the bench waits (bounded, not counted) until ingestion has
 * merged what the part wrote, so Stratum's background work does not land in PostgreSQL's part.
 * Figures are medians over `--rounds`.
 *
 * Usage: npx tsx bench/returning-upsert.ts [--seconds 20] [--clients 32] [--rounds 3] [--keys 100000]
 *          [--skip-stratum] [--skip-postgres]
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import {
  connect,
  fmt,
  loadAverage,
  machineLine,
  makeTempDir,
  median,
  type PgTarget,
  parseArgs,
  printTable,
  removeTempDir,
  startPostgresTarget,
  startStratum,
  stratumAvailable,
  waitForIngestion,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const seconds = args.num('seconds') ?? 20;
const clients = args.num('clients') ?? 32;
const rounds = args.num('rounds') ?? 3;
const keys = args.num('keys') ?? 100_000;

const WORKLOADS = [
  {
    name: 'INSERT … RETURNING',
    table: 'ru_returning',
    script: 'ru-returning.sql',
    text: '\\set v random(1, 1000000)\nINSERT INTO ru_returning (v) VALUES (:v) RETURNING id, created;\n',
  },
  {
    name: 'INSERT … ON CONFLICT (id) DO UPDATE',
    table: 'ru_upsert',
    script: 'ru-upsert.sql',
    text:
      `\\set id random(1, ${2 * keys})\n\\set v random(1, 1000000)\n` +
      'INSERT INTO ru_upsert (id, v, n) VALUES (:id, :v, 1) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = ru_upsert.n + 1;\n',
  },
] as const;
type Workload = (typeof WORKLOADS)[number];

interface Server {
  label: string;
  target: PgTarget;
  metricsUrl: string | undefined;
  /** Versions written so far (Stratum: for the wait between parts). */
  written: number;
}

interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
  retried: number;
  /** Non-empty when pgbench exited non-zero or printed no tps line. */
  error: string;
}

/** Run pgbench against a target; parses its summary. */
function pgbench(t: PgTarget, script: string): Promise<PgbenchResult> {
  const argv = [
    '-n',
    '-M',
    'prepared',
    '-c',
    String(clients),
    '-j',
    '2',
    '-T',
    String(seconds),
    '--max-tries',
    '10',
    '-f',
    script,
    '-h',
    t.host,
    '-p',
    String(t.port),
    '-U',
    t.user,
    t.database,
  ];
  return new Promise((resolve) => {
    const child = spawn('pgbench', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.on('error', (e) => resolve({ tps: Number.NaN, latencyMs: Number.NaN, transactions: 0, failed: 0, retried: 0, error: e.message }));
    child.on('exit', (code) => {
      const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? Number.NaN);
      const tps = num(/^tps = ([\d.]+)/m);
      const errorLines = out
        .split('\n')
        .filter((l) => /error|FATAL|aborted/i.test(l))
        .slice(0, 3)
        .join(' | ');
      resolve({
        tps,
        latencyMs: num(/^latency average = ([\d.]+) ms/m),
        transactions: num(/^number of transactions actually processed: (\d+)/m),
        failed: num(/^number of failed transactions: (\d+)/m) || 0,
        retried: num(/^number of transactions retried: (\d+)/m) || 0,
        error: code !== 0 || Number.isNaN(tps) ? `pgbench exit ${code}: ${errorLines || out.slice(-300)}` : errorLines,
      });
    });
  });
}

/** Stratum: wait (bounded) until ingestion has merged every version written so far. */
async function settle(s: Server, timeoutS: number): Promise<void> {
  if (s.metricsUrl !== undefined) await waitForIngestion(s.metricsUrl, s.written, { timeoutS });
}

async function setup(s: Server): Promise<void> {
  const c = await connect(s.target);
  try {
    await c.query('CREATE TABLE ru_returning (id bigserial PRIMARY KEY, v int, created timestamptz DEFAULT now())');
    await c.query('CREATE TABLE ru_upsert (id bigint PRIMARY KEY, v int, n int)');
    function* rows(): Generator<string> {
      for (let i = 1; i <= keys; i += 1000) {
        let text = '';
        for (let id = i; id < Math.min(i + 1000, keys + 1); id++) text += `${id},${id % 1000},0\n`;
        yield text;
      }
    }
    await pipeline(Readable.from(rows()), c.query(copyFrom('COPY ru_upsert (id, v, n) FROM STDIN WITH (FORMAT csv)')));
    s.written += keys;
    if (s.metricsUrl === undefined) await c.query('VACUUM ANALYZE ru_upsert');
  } finally {
    await c.end();
  }
  await settle(s, 300);
}

async function rowCount(t: PgTarget, table: string): Promise<number> {
  const c = await connect(t);
  try {
    return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? Number.NaN);
  } finally {
    await c.end();
  }
}

const notes: string[] = [];
const servers: Server[] = [];
const dir = await makeTempDir('stratum-ru-');
const loadAtStart = loadAverage();
/** results[workload][server] = one result per round */
const results = new Map<string, Map<string, PgbenchResult[]>>();
const upsertInserted = new Map<string, number>();
try {
  for (const w of WORKLOADS) await writeFile(join(dir, w.script), w.text);
  if (!args.flag('skip-stratum')) {
    if (!stratumAvailable()) notes.push('Stratum skipped: cli/bin/stratum.mjs not found.');
    else {
      const st = await startStratum();
      servers.push({ label: 'Stratum', target: st, metricsUrl: `http://127.0.0.1:${st.httpPort}`, written: 0 });
    }
  }
  if (!args.flag('skip-postgres')) {
    const p = await startPostgresTarget({ max_connections: '300' });
    servers.push({ label: 'PostgreSQL 15', target: p, metricsUrl: undefined, written: 0 });
  }
  for (const s of servers) {
    process.stderr.write(`${s.label}: creating tables, preloading ${fmt(keys)} rows of ru_upsert\n`);
    await setup(s);
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      for (const w of round % 2 === 0 ? WORKLOADS : [...WORKLOADS].reverse()) {
        process.stderr.write(
          `round ${round + 1}/${rounds}: ${s.label}, ${w.name}, ${clients} clients, ${seconds} s (load ${loadAverage()})\n`,
        );
        const r = await pgbench(s.target, join(dir, w.script));
        process.stderr.write(`  ${fmt(r.tps)} txn/s, latency avg ${fmt(r.latencyMs, 2)} ms${r.error ? `, ${r.error}` : ''}\n`);
        const byServer = results.get(w.name) ?? new Map<string, PgbenchResult[]>();
        byServer.set(s.label, [...(byServer.get(s.label) ?? []), r]);
        results.set(w.name, byServer);
        if (r.error !== '') notes.push(`${s.label}, ${w.name}, round ${round + 1}: ${r.error}`);
        s.written += Number.isNaN(r.transactions) ? 0 : r.transactions;
        if (s.metricsUrl !== undefined && servers.length > 1) await settle(s, 60);
      }
    }
  }
  for (const s of servers) upsertInserted.set(s.label, (await rowCount(s.target, 'ru_upsert')) - keys);
} finally {
  for (const s of servers) await s.target.stop();
  await removeTempDir(dir);
}

console.log(
  `\n## INSERT … RETURNING and INSERT … ON CONFLICT DO UPDATE: pgbench -M prepared -c ${clients} -j 2 -T ${seconds} --max-tries 10 ` +
    `(medians over ${rounds} round(s); autocommit)\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
const st = servers.find((s) => s.metricsUrl !== undefined)?.label;
const pgl = servers.find((s) => s.metricsUrl === undefined)?.label;
const med = (list: PgbenchResult[] | undefined, f: (r: PgbenchResult) => number): number =>
  list === undefined ? Number.NaN : median(list.map(f).filter((x) => !Number.isNaN(x)));
const rows: string[][] = [];
for (const w of WORKLOADS as readonly Workload[]) {
  const byServer = results.get(w.name);
  const s = byServer?.get(st ?? '');
  const p = byServer?.get(pgl ?? '');
  const sTps = med(s, (r) => r.tps);
  const pTps = med(p, (r) => r.tps);
  const perRound = (list: PgbenchResult[] | undefined): string => (list ?? []).map((r) => fmt(r.tps)).join(' · ');
  rows.push([
    w.name,
    fmt(sTps),
    fmt(
      med(s, (r) => r.latencyMs),
      2,
    ),
    fmt(pTps),
    fmt(
      med(p, (r) => r.latencyMs),
      2,
    ),
    Number.isNaN(sTps) || Number.isNaN(pTps) ? '—' : `${fmt(sTps / pTps, 2)}×`,
    `${perRound(s)} / ${perRound(p)}`,
    `${fmt((s ?? []).reduce((a, r) => a + r.retried, 0))} / ${fmt((s ?? []).reduce((a, r) => a + r.failed, 0))}`,
    `${fmt((p ?? []).reduce((a, r) => a + r.retried, 0))} / ${fmt((p ?? []).reduce((a, r) => a + r.failed, 0))}`,
  ]);
}
printTable(
  [
    'statement',
    'Stratum txn/s',
    'Stratum latency avg ms',
    'PostgreSQL txn/s',
    'PostgreSQL latency avg ms',
    'Stratum / PG',
    'txn/s per round (Stratum / PG)',
    'Stratum retried / failed',
    'PG retried / failed',
  ],
  rows,
);
const upserts = (label: string | undefined): number =>
  (results.get(WORKLOADS[1].name)?.get(label ?? '') ?? []).reduce((a, r) => a + (Number.isNaN(r.transactions) ? 0 : r.transactions), 0);
for (const label of [st, pgl]) {
  if (label === undefined) continue;
  const inserted = upsertInserted.get(label) ?? Number.NaN;
  const total = upserts(label);
  console.log(
    `\n${label}: ${fmt(total)} upserts in all rounds, ${fmt(inserted)} inserted a new key, ${fmt(total - inserted)} updated an existing row (${fmt((100 * (total - inserted)) / total, 0)} %).`,
  );
}
for (const n of notes) console.log(`\nNote: ${n}`);
