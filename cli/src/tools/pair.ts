/**
 * The two engines a tool test compares: a throw-away PostgreSQL 15 (shared/src/testing/postgres.ts)
 * and an embedded Stratum (`stratum up`, cli/src/test-harness.ts), both given {@link SCHEMA} and
 * {@link ROWS}, plus the helpers every tool test needs: run a tool as a real process, open fresh
 * databases to restore into, read rows back, and read the statements a tool sent to PostgreSQL.
 *
 * Both are reached as user `stratum`, database `stratum` (Stratum's only database; on
 * PostgreSQL a superuser role and a database of that name are made), so dumps and reports need
 * no user or database renaming. PostgreSQL logs every statement (`log_statement = 'all'`) as
 * JSON lines; statements sent by this harness carry application_name {@link HARNESS_APP} and are
 * left out of {@link Pair.statements}.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type PostgresHandle, startPostgres } from '../../../shared/src/testing/postgres.ts';
import { type EmbeddedServer, startEmbeddedServer } from '../test-harness.ts';
import { READS, ROWS, SCHEMA } from './schema.ts';

/** application_name of the harness's own sessions (left out of captured statements). */
export const HARNESS_APP = 'stratum-tools-harness';
/** User and database on both engines. */
export const USER = 'stratum';
export const DATABASE = 'stratum';

/** Where a tool connects. */
export interface Target {
  /** `postgres` or `stratum`, for messages. */
  readonly engine: 'postgres' | 'stratum';
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** `postgres://user@127.0.0.1:port/database`. */
  readonly url: string;
}

/** One statement PostgreSQL logged (`log_statement = 'all'`). */
export interface LoggedStatement {
  /** The client's application_name ('' when it set none). */
  readonly app: string;
  /** SQL text as sent (simple query) or as parsed (`execute <name>: …` of the extended protocol). */
  readonly sql: string;
  /** Bind parameters as text (null for NULL) when sent with the extended protocol. */
  readonly params?: (string | null)[];
}

/** PostgreSQL 15 and Stratum with the same schema. */
export interface Pair {
  readonly postgres: Target;
  readonly stratum: Target;
  /** Every statement PostgreSQL logged from a session that is not the harness's, in the order run. */
  statements(): Promise<LoggedStatement[]>;
  /** A new, empty database on the PostgreSQL server (owner `stratum`). */
  freshPostgres(name: string): Promise<Target>;
  /** A new, empty Stratum (another `stratum up`), stopped by {@link Pair.close}. */
  freshStratum(): Promise<Target>;
  /** Stop everything and remove the temp directories. */
  close(): Promise<void>;
}

function target(engine: Target['engine'], port: number, database = DATABASE): Target {
  return { engine, host: '127.0.0.1', port, user: USER, database, url: `postgres://${USER}@127.0.0.1:${port}/${database}` };
}

/** Run `statements` in one session of `t` as the harness. */
export async function runSql(t: Target, statements: readonly string[]): Promise<void> {
  const c = new pg.Client({ connectionString: t.url, application_name: HARNESS_APP });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

/** Rows of every table and view of {@link READS} as `name: JSON row` lines (text form of every value). */
export async function readRows(t: Target): Promise<string> {
  const c = new pg.Client({ connectionString: t.url, application_name: HARNESS_APP });
  await c.connect();
  try {
    const out: string[] = [];
    for (const r of READS) {
      // Every value in the server's text form, so both engines' answers compare as text.
      const res = await c.query({ text: `SELECT * FROM ${r.name} ORDER BY ${r.orderBy}`, rowMode: 'array', types: TEXT_TYPES });
      for (const row of res.rows) out.push(`${r.name}: ${JSON.stringify(row)}`);
    }
    return out.join('\n');
  } finally {
    await c.end();
  }
}

/** Type parsers that keep every value as the server's text. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/**
 * Start PostgreSQL 15 (statement log on) and Stratum, and give both {@link SCHEMA} and {@link ROWS}.
 * @throws when either does not start, or either refuses a statement (with the engine named).
 */
export async function startPair(): Promise<Pair> {
  const dirs: string[] = [];
  const servers: EmbeddedServer[] = [];
  let pgHandle: PostgresHandle | undefined;
  const close = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    await pgHandle?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  };
  const freshStratum = async (): Promise<Target> => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-tools-'));
    dirs.push(dir);
    const srv = await startEmbeddedServer(join(dir, 'data'));
    servers.push(srv);
    return target('stratum', srv.pgPort);
  };
  try {
    pgHandle = await startPostgres({
      settings: { log_statement: 'all', logging_collector: 'on', log_destination: 'jsonlog', log_min_messages: 'warning' },
    });
    const admin = target('postgres', pgHandle.port, 'postgres');
    await runSql({ ...admin, user: 'postgres', url: pgHandle.url }, [
      `CREATE ROLE ${USER} SUPERUSER LOGIN`,
      `CREATE DATABASE ${DATABASE} OWNER ${USER}`,
    ]);
    const postgres = target('postgres', pgHandle.port);
    const stratum = await freshStratum();
    for (const t of [postgres, stratum]) {
      try {
        await runSql(t, [...SCHEMA, ...ROWS]);
      } catch (e) {
        throw new Error(`the tool-test schema failed on ${t.engine}: ${(e as Error).message}`, { cause: e });
      }
    }
    const logDir = join(pgHandle.dataDir, 'log');
    let marks = 0;
    return {
      postgres,
      stratum,
      freshStratum,
      async freshPostgres(name) {
        await runSql(postgres, [`CREATE DATABASE ${name} OWNER ${USER}`]);
        return target('postgres', postgres.port, name);
      },
      async statements() {
        // The logging collector writes behind the backends: send a marker and read until it shows.
        const mark = `stratum-tools-mark-${++marks}`;
        await runSql(postgres, [`SELECT '${mark}'`]);
        for (let tries = 0; ; tries++) {
          const lines = await readJsonLog(logDir);
          if (lines.some((l) => l.message?.includes(mark)) || tries > 200) return lines.flatMap(toStatement);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

interface JsonLogLine {
  message?: string;
  detail?: string;
  application_name?: string;
}

async function readJsonLog(dir: string): Promise<JsonLogLine[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const out: JsonLogLine[] = [];
  for (const f of files) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (line.trim() !== '') out.push(JSON.parse(line) as JsonLogLine);
    }
  }
  return out;
}

/** `statement: SQL` (simple query) or `execute NAME: SQL` with `parameters: $1 = '…', …` in the detail. */
function toStatement(l: JsonLogLine): LoggedStatement[] {
  if (l.application_name === HARNESS_APP || l.message === undefined) return [];
  const m = /^(?:statement|execute [^:]*): ([\s\S]*)$/.exec(l.message);
  if (m === null) return [];
  const app = l.application_name ?? '';
  const params = l.detail?.startsWith('parameters: ') ? parseParams(l.detail.slice('parameters: '.length)) : undefined;
  return [params === undefined ? { app, sql: m[1]! } : { app, sql: m[1]!, params }];
}

/** `$1 = 'a''b', $2 = NULL` → ['a\'b', null] (the log's quoting: values in single quotes, quotes doubled). */
function parseParams(s: string): (string | null)[] {
  const out: (string | null)[] = [];
  for (const m of s.matchAll(/\$(\d+) = (NULL|'((?:[^']|'')*)')/g))
    out[Number(m[1]) - 1] = m[2] === 'NULL' ? null : m[3]!.replace(/''/g, "'");
  return out;
}

/** What a finished process printed. */
export interface ToolRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a tool as a real process with `env` added to a C-locale environment (and `input` on stdin).
 * Never throws for a non-zero exit: the caller compares or asserts on {@link ToolRun}.
 */
export function runTool(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', TZ: 'UTC', PGTZ: 'UTC', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** libpq's environment for `t` (psql, pg_dump, pg_restore). */
export function libpqEnv(t: Target): NodeJS.ProcessEnv {
  return { PGHOST: t.host, PGPORT: String(t.port), PGUSER: t.user, PGDATABASE: t.database, PGCONNECT_TIMEOUT: '20' };
}
