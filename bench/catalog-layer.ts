/**
 * Bench: the candidates for Stratum's system-catalog layer (issue 11: "measure before you
 * choose"), on the catalog queries real tools send.
 *
 * 1. A throw-away PostgreSQL 15 gets a small application schema (tables with defaults, a unique
 *    constraint, a foreign key, a CHECK, an index, a view, a sequence). psql 15 runs `\d`, `\dt`,
 *    `\d orders`, `\d+ orders`, `\di`, `\dv`, `\ds`, `\dn`, `\l` and `\du` against it with `-E`,
 *    which prints every catalog query it sends; those queries are the workload.
 * 2. Each candidate runs in a child process of its own (so start-up and memory are its alone):
 *    - `pglite`: PostgreSQL in WASM (`@electric-sql/pglite`), given the same schema;
 *    - `duckdb`: an in-memory DuckDB (`@duckdb/node-api`, the engine the router already embeds)
 *      given the same tables in DuckDB's dialect, its built-in `pg_catalog` views answering;
 *    - `postgres`: the PostgreSQL 15 server itself, over TCP with `pg` (the reference latency).
 *    Per candidate: time from process start of the engine to its first answer (ms), RSS after
 *    the schema and every query ran (MiB, of the child process), how many of the captured
 *    queries run at all, and the p50 of each query's latency over `--reps` runs (ms, the median
 *    over the queries that run).
 *
 * Usage: npx tsx bench/catalog-layer.ts [--reps 50]
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { fmt, machineLine, median, parseArgs, printTable, startPostgres } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const reps = args.num('reps') ?? 50;

/** The application schema, PostgreSQL's dialect. */
const SCHEMA_PG = [
  'CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(80), created_at timestamptz DEFAULT now())',
  "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id), amount numeric(10,2) DEFAULT 0, status text CHECK (status IN ('new', 'paid')))",
  'CREATE INDEX orders_customer_idx ON orders (customer_id)',
  "CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid'",
  'CREATE SEQUENCE invoice_seq',
];

/** The same schema in DuckDB's dialect (no serial; sequences and defaults spelled its way). */
const SCHEMA_DUCKDB = [
  'CREATE SEQUENCE customers_id_seq',
  "CREATE TABLE customers (id integer PRIMARY KEY DEFAULT nextval('customers_id_seq'), email text NOT NULL UNIQUE, name varchar(80), created_at timestamptz DEFAULT now())",
  'CREATE SEQUENCE orders_id_seq',
  "CREATE TABLE orders (id bigint PRIMARY KEY DEFAULT nextval('orders_id_seq'), customer_id integer NOT NULL REFERENCES customers (id), amount decimal(10,2) DEFAULT 0, status text CHECK (status IN ('new', 'paid')))",
  'CREATE INDEX orders_customer_idx ON orders (customer_id)',
  "CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid'",
  'CREATE SEQUENCE invoice_seq',
];

const PSQL_COMMANDS = ['\\d', '\\dt', '\\d orders', '\\d+ orders', '\\di', '\\dv', '\\ds', '\\dn', '\\l', '\\du'];

/** What a candidate's child process reports. */
interface ChildReport {
  startMs: number;
  rssMiB: number;
  ran: number;
  failed: { command: string; error: string }[];
  p50s: number[];
}

/** A captured catalog query and the psql command that sent it. */
interface Captured {
  command: string;
  sql: string;
}

/** psql 15's catalog queries for each command, from `psql -E` against PostgreSQL. */
function captureQueries(url: string): Captured[] {
  const out: Captured[] = [];
  for (const command of PSQL_COMMANDS) {
    const text = execFileSync('psql', ['-X', '-E', '-c', command, url], { encoding: 'utf8' });
    const re = /^\*+ QUERY \*+\n([\s\S]*?)\n\*{10,}$/gm;
    for (const m of text.matchAll(re)) out.push({ command, sql: (m[1] as string).trim() });
  }
  return out;
}

async function timeQueries(
  queries: Captured[],
  run: (sql: string) => Promise<unknown>,
): Promise<Pick<ChildReport, 'ran' | 'failed' | 'p50s'>> {
  const failed: ChildReport['failed'] = [];
  const p50s: number[] = [];
  for (const q of queries) {
    try {
      await run(q.sql);
    } catch (e) {
      failed.push({ command: q.command, error: ((e as Error).message ?? String(e)).split('\n')[0] as string });
      continue;
    }
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run(q.sql);
      t.push(performance.now() - t0);
    }
    p50s.push(median(t));
  }
  return { ran: queries.length - failed.length, failed, p50s };
}

/** Child process: one candidate. Reads the captured queries (and the PostgreSQL URL) from argv. */
async function child(kind: string, queries: Captured[], url: string): Promise<ChildReport> {
  const t0 = performance.now();
  let run: (sql: string) => Promise<unknown>;
  let close: () => Promise<void>;
  if (kind === 'pglite') {
    // Not a dependency (the measurement chose against it): `npm install --no-save @electric-sql/pglite@0.6` to run this candidate.
    const pgliteModule = '@electric-sql/pglite';
    const { PGlite } = (await import(pgliteModule)) as {
      PGlite: { create(): Promise<{ query(sql: string): Promise<unknown>; exec(sql: string): Promise<unknown>; close(): Promise<void> }> };
    };
    const db = await PGlite.create();
    await db.query('SELECT 1');
    for (const s of SCHEMA_PG) await db.exec(s);
    run = (sql) => db.query(sql);
    close = () => db.close();
  } else if (kind === 'duckdb') {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const inst = await DuckDBInstance.create(':memory:');
    const conn = await inst.connect();
    await conn.run('SELECT 1');
    for (const s of SCHEMA_DUCKDB) await conn.run(s);
    run = (sql) => conn.runAndReadAll(sql);
    close = async () => conn.closeSync();
  } else {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('SELECT 1');
    run = (sql) => c.query(sql);
    close = () => c.end();
  }
  const startMs = performance.now() - t0;
  const timed = await timeQueries(queries, run);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  await close();
  return { startMs, rssMiB, ...timed };
}

async function runChild(kind: string, queries: Captured[], url: string): Promise<ChildReport> {
  const self = fileURLToPath(import.meta.url);
  const p = spawn(process.execPath, ['--import', 'tsx', self, '--child', kind, '--reps', String(reps)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  p.stdin.end(JSON.stringify({ queries, url }));
  let out = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  if (code !== 0) throw new Error(`${kind} child exited with ${code}`);
  return JSON.parse(out) as ChildReport;
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s;
}

const childKind = args.str('child');
if (childKind) {
  const { queries, url } = JSON.parse(await readStdin()) as { queries: Captured[]; url: string };
  process.stdout.write(JSON.stringify(await child(childKind, queries, url)));
  process.exit(0);
}

console.log(machineLine());
const ref = await startPostgres();
try {
  const c = new pg.Client({ connectionString: ref.url });
  await c.connect();
  for (const s of SCHEMA_PG) await c.query(s);
  await c.end();
  const queries = captureQueries(ref.url);
  console.log(`captured ${queries.length} catalog queries from psql 15 (${PSQL_COMMANDS.join(' ')}); ${reps} runs each`);
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const kind of ['postgres', 'pglite', 'duckdb']) {
    const r = await runChild(kind, queries, ref.url);
    rows.push([
      kind,
      fmt(r.startMs),
      kind === 'postgres' ? `${fmt(r.rssMiB)} (client only)` : fmt(r.rssMiB),
      `${r.ran}/${queries.length}`,
      r.p50s.length ? fmt(median(r.p50s), 3) : '—',
      r.p50s.length ? fmt(Math.max(...r.p50s), 3) : '—',
    ]);
    const byError = new Map<string, number>();
    for (const f of r.failed) byError.set(f.error, (byError.get(f.error) ?? 0) + 1);
    for (const [e, n] of byError) failures.push(`${kind}: ${n}× ${e}`);
  }
  printTable(['candidate', 'start to first answer ms', 'RSS MiB', 'queries that run', 'median p50 ms', 'slowest p50 ms'], rows);
  if (failures.length) {
    console.log('\nQueries that did not run, by error:');
    for (const f of failures) console.log(`- ${f}`);
  }
} finally {
  await ref.stop();
}
