/**
 * The concurrent workload whose history the checker verifies (issue 5 item 7): N sessions
 * (one pgwire connection each, so one router session token each) run a random mix of point
 * reads, analytical reads and updates over four small tables, one per consistency mode, then
 * stop writing and poll until every key converges. Every statement is recorded with its
 * real-time bounds (`performance.now()` in this process) in a {@link HistoryRecorder}.
 *
 * Tables are `(id bigint PRIMARY KEY, v bigint)`; writes are `UPDATE <t> SET v = <unique> WHERE id = <k>`.
 * Statements:
 * - point read: `SELECT v FROM <t> WHERE id = $1` (full primary key → a TX engine);
 * - analytical read: `SELECT id, v FROM <t> WHERE id IN (k1, k2, …)` or `SELECT id, v FROM <t>` (OLAP + delta).
 */
import pg from 'pg';
import type { ClusterSpec } from '../test-harness.ts';
import {
  buildVersionOrder,
  type History,
  HistoryRecorder,
  type Phase,
  type ReadPath,
  type TableSpec,
  uniqueValue,
  type VersionOrder,
  type VersionRow,
} from './history.ts';
import { rng } from './synthetic.ts';

/** The four tables of the standard workload, one per mode (bounded staleness: 250 ms). */
export const DEFAULT_TABLES: readonly TableSpec[] = [
  { name: 'hist_eventual', mode: 'eventual' },
  { name: 'hist_bounded', mode: 'bounded_staleness', maxStalenessMs: 250 },
  { name: 'hist_monotonic', mode: 'monotonic_reads' },
  { name: 'hist_strict', mode: 'strict_serializable' },
];

/** The `table_consistency:` YAML lines for `tables` (to append to a stratum.yaml). */
export function consistencyYaml(tables: readonly TableSpec[]): string[] {
  return [
    'table_consistency:',
    ...tables.map(
      (t) =>
        `  ${t.name}: { mode: ${t.mode}${t.maxStalenessMs !== undefined ? `, max_staleness_ms: ${t.maxStalenessMs}` : ''}, allow_degraded: false }`,
    ),
  ];
}

/** Options of {@link runWorkload}. */
/**
 * The cluster the history workload runs on (issue 5 item 7): 2 TX engines whose clocks are
 * skewed by +skewMs and −skewMs (keep |skew| within ε), 1 ingestion engine, 1 OLAP shard, the
 * four mode tables of {@link DEFAULT_TABLES}.
 */
export function historyClusterSpec(o: { natsUrl: string; dir: string; epsMs: number; skewMs: number; pushRows: number }): ClusterSpec {
  return {
    natsUrl: o.natsUrl,
    dir: o.dir,
    tx: ['tx1', 'tx2'],
    ingestion: [{ id: 'ing1' }],
    shards: ['olap1'],
    yaml: [
      'clock:',
      `  eps_ms: ${o.epsMs}`,
      'ingestion:',
      '  push_interval_ms: 1000',
      `  push_rows: ${o.pushRows}`,
      ...consistencyYaml(DEFAULT_TABLES),
    ],
    env: {
      tx1: { STRATUM_TEST_CLOCK_FAULTS: JSON.stringify({ offsetMs: o.skewMs }) },
      tx2: { STRATUM_TEST_CLOCK_FAULTS: JSON.stringify({ offsetMs: -o.skewMs }) },
    },
  };
}

export interface WorkloadOptions {
  /** Router pgwire endpoint. */
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly database?: string;
  /** Concurrent sessions (≥ 1). */
  readonly sessions: number;
  readonly tables?: readonly TableSpec[];
  /** Keys per table (0 … keys−1), default 16. */
  readonly keys?: number;
  /** Load-phase operations per session (default 40); the load also stops after `durationMs`. */
  readonly opsPerSession?: number;
  /** Longest load phase, ms (default: unbounded). */
  readonly durationMs?: number;
  /** Relative weights of updates, point reads and analytical reads (default 4 : 3 : 3). */
  readonly mix?: { readonly write: number; readonly point: number; readonly analytical: number };
  /** Declared ε of the cluster (`clock.eps_ms`), ms; stored in the history for the checker. */
  readonly epsMs: number;
  /** How long to wait for `__history` to hold every acknowledged write, and for reads to converge, ms (default 60000). */
  readonly settleTimeoutMs?: number;
  /** Client-side timeout per statement, ms (default 30000); a timed-out statement is recorded as failed (outcome unknown). */
  readonly queryTimeoutMs?: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** What {@link runWorkload} returns. */
export interface WorkloadResult {
  readonly history: History;
  /** Each key's version order from `<table>__history` after quiescence. */
  readonly order: VersionOrder;
  /** Load-phase wall time, ms. */
  readonly loadMs: number;
  /** Load-phase operations recorded. */
  readonly loadOps: number;
  /** Time from writes stopping until every key read its last version in every session, ms. */
  readonly convergeMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pg error's SQLSTATE, when it has one. */
function sqlstateOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c) ? c : undefined;
}

/** One session: a connection, its id, its write counter and PRNG. */
interface Session {
  id: number;
  client: pg.Client;
  seq: number;
}

/**
 * Run the workload: create the tables and one row per key (setup session 0), run the load
 * phase over `sessions` connections, wait until `__history` holds every acknowledged write,
 * then let every session read every key until it sees the key's last version.
 * @throws when the setup fails (tables or initial rows); later failures are recorded, not thrown.
 */
export async function runWorkload(opts: WorkloadOptions): Promise<WorkloadResult> {
  const tables = opts.tables ?? DEFAULT_TABLES;
  const keys = opts.keys ?? 16;
  const opsPerSession = opts.opsPerSession ?? 40;
  const mix = opts.mix ?? { write: 4, point: 3, analytical: 3 };
  const settleMs = opts.settleTimeoutMs ?? 60_000;
  const queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
  const log = opts.log ?? (() => {});
  const rec = new HistoryRecorder();
  let nextSession = 1;
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      host: opts.host,
      port: opts.port,
      user: opts.user ?? 'stratum',
      database: opts.database ?? 'stratum',
      query_timeout: queryTimeoutMs,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const all: pg.Client[] = [];
  const open = async (id: number): Promise<Session> => {
    const client = await connect();
    all.push(client);
    return { id, client, seq: 0 };
  };

  /** Run one write and record it; a failure without SQLSTATE reconnects as a new session. */
  const write = async (s: Session, table: TableSpec, key: number, phase: Phase, sql = 'UPDATE'): Promise<void> => {
    const value = uniqueValue(s.id, s.seq++);
    const invokeMs = performance.now();
    let outcome: { ok: boolean; sqlstate?: string; error?: string };
    let lost = false;
    try {
      const r =
        sql === 'INSERT'
          ? await s.client.query(`INSERT INTO ${table.name} (id, v) VALUES ($1, $2)`, [key, value])
          : await s.client.query(`UPDATE ${table.name} SET v = $1 WHERE id = $2`, [value, key]);
      outcome = r.rowCount === 1 ? { ok: true } : { ok: false, sqlstate: 'ROWS0', error: `${sql} touched ${r.rowCount} rows` };
    } catch (e) {
      const sqlstate = sqlstateOf(e);
      outcome = { ok: false, ...(sqlstate ? { sqlstate } : {}), error: (e as Error).message };
      lost = !sqlstate;
    }
    rec.recordWrite({
      session: s.id,
      table: table.name,
      mode: table.mode,
      phase,
      key,
      value,
      invokeMs,
      completeMs: performance.now(),
      ...outcome,
    });
    if (lost) await reconnect(s);
  };

  /** Run one read and record it. `keysAsked` undefined = the whole table. */
  const read = async (
    s: Session,
    table: TableSpec,
    path: ReadPath,
    keysAsked: number[] | undefined,
    phase: Phase,
  ): Promise<(number | null)[] | undefined> => {
    const asked = keysAsked ?? Array.from({ length: keys }, (_, i) => i);
    const invokeMs = performance.now();
    let outcome: { ok: true; values: (number | null)[] } | { ok: false; sqlstate?: string; error: string };
    try {
      let values: (number | null)[];
      if (path === 'point') {
        const r = await s.client.query(`SELECT v FROM ${table.name} WHERE id = $1`, [asked[0]]);
        const v = r.rows[0]?.v;
        values = [v === undefined || v === null ? null : Number(v)];
      } else {
        const r = keysAsked
          ? // ORDER BY keeps it analytical (OLAP + delta): a bare short key list is read at the row tiers.
            await s.client.query(`SELECT id, v FROM ${table.name} WHERE id = ANY($1) ORDER BY id`, [keysAsked])
          : await s.client.query(`SELECT id, v FROM ${table.name}`);
        const got = new Map<number, number | null>();
        for (const row of r.rows) got.set(Number(row.id), row.v === null ? null : Number(row.v));
        values = asked.map((k) => got.get(k) ?? null);
      }
      outcome = { ok: true, values };
    } catch (e) {
      const sqlstate = sqlstateOf(e);
      outcome = { ok: false, ...(sqlstate ? { sqlstate } : {}), error: (e as Error).message };
    }
    rec.recordRead({
      session: s.id,
      table: table.name,
      mode: table.mode,
      phase,
      path,
      keys: asked,
      invokeMs,
      completeMs: performance.now(),
      ...(outcome.ok ? { values: outcome.values, ok: true } : { values: [], ...outcome }),
    });
    if (outcome.ok) return outcome.values;
    if (!outcome.sqlstate) await reconnect(s);
    return undefined;
  };

  /** A connection that failed without SQLSTATE is replaced; the new connection is a new session. */
  const reconnect = async (s: Session): Promise<void> => {
    await s.client.end().catch(() => {});
    s.id = nextSession++;
    s.seq = 0;
    s.client = await connect();
    all.push(s.client);
  };

  try {
    // ---- setup: tables and one row per key, written by session 0
    const setup = await open(0);
    for (const t of tables) await setup.client.query(`CREATE TABLE IF NOT EXISTS ${t.name} (id bigint PRIMARY KEY, v bigint)`);
    for (const t of tables) for (let k = 0; k < keys; k++) await write(setup, t, k, 'setup', 'INSERT');
    const failedSetup = rec.operations.filter((o) => !o.ok);
    if (failedSetup.length > 0) throw new Error(`setup writes failed: ${failedSetup.map((o) => o.error).join('; ')}`);

    // ---- load
    const sessions: Session[] = [];
    for (let i = 0; i < opts.sessions; i++) sessions.push(await open(nextSession++));
    const total = mix.write + mix.point + mix.analytical;
    const loadStart = performance.now();
    const loadEnd = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : loadStart + opts.durationMs;
    const before = rec.operations.length;
    let done = 0;
    const progress = setInterval(() => log(`load: ${rec.operations.length - before} operations`), 5000);
    await Promise.all(
      sessions.map(async (s, i) => {
        const rand = rng((opts.seed ?? 1) * 7919 + i);
        for (let n = 0; n < opsPerSession && performance.now() < loadEnd; n++) {
          const t = tables[Math.floor(rand() * tables.length)]!;
          const key = Math.floor(rand() * keys);
          const x = rand() * total;
          if (x < mix.write) await write(s, t, key, 'load');
          else if (x < mix.write + mix.point) await read(s, t, 'point', [key], 'load');
          else if (rand() < 0.15) await read(s, t, 'analytical', undefined, 'load');
          else {
            const ks = new Set([key]);
            const want = 1 + Math.floor(rand() * 4);
            while (ks.size < want) ks.add(Math.floor(rand() * keys));
            await read(s, t, 'analytical', [...ks], 'load');
          }
        }
        done++;
      }),
    );
    clearInterval(progress);
    const loadMs = performance.now() - loadStart;
    const loadOps = rec.operations.length - before;
    log(`load: ${loadOps} operations in ${loadMs.toFixed(0)} ms (${done} sessions)`);

    // ---- quiescence: every acknowledged write in __history
    const history0 = rec.toHistory(tables, opts.epsMs);
    const { order, missing } = await readVersionOrder(setup.client, tables, history0, settleMs);
    if (missing > 0) log(`quiescence: __history still lacks ${missing} acknowledged writes after ${settleMs} ms`);
    // ---- convergence: every session reads every key until it sees the key's last version
    const final = new Map<string, (number | null)[]>();
    for (const t of tables) {
      const byKey = order.get(t.name);
      final.set(
        t.name,
        Array.from({ length: keys }, (_, k) => {
          const l = byKey?.get(k);
          return l?.[l.length - 1]?.value ?? null;
        }),
      );
    }
    const quiescentMs = history0.quiescentMs;
    const deadline = performance.now() + settleMs;
    const convergedAt: number[] = [];
    await Promise.all(
      sessions.map(async (s) => {
        let confirmations = 0;
        while (confirmations < 2 && performance.now() < deadline) {
          let same = true;
          for (const t of tables) {
            const want = final.get(t.name)!;
            const whole = await read(s, t, 'analytical', undefined, 'converge');
            if (!whole || whole.some((v, k) => v !== want[k])) same = false;
            for (let k = s.id % keys; k < keys; k += Math.max(1, Math.min(keys, opts.sessions))) {
              const p = await read(s, t, 'point', [k], 'converge');
              if (!p || p[0] !== want[k]) same = false;
            }
          }
          if (same) {
            if (confirmations === 0) convergedAt.push(performance.now());
            confirmations++;
          } else {
            confirmations = 0;
            await sleep(50);
          }
        }
      }),
    );
    const convergeMs = convergedAt.length === sessions.length ? Math.max(...convergedAt) - quiescentMs : Number.NaN;
    log(`converge: ${Number.isNaN(convergeMs) ? 'not every session converged' : `${convergeMs.toFixed(0)} ms after writes stopped`}`);
    return { history: { ...rec.toHistory(tables, opts.epsMs), quiescentMs }, order, loadMs, loadOps, convergeMs };
  } finally {
    await Promise.allSettled(all.map((c) => c.end()));
  }
}

/**
 * Poll `<table>__history` (`id, v, _ts, _engine, _version`) until it holds every acknowledged
 * write of `history`, then return each key's version order. When `timeoutMs` passes first it
 * returns what is there, with the writes still missing (the checker reports them as lost).
 */
export async function readVersionOrder(
  client: pg.Client,
  tables: readonly TableSpec[],
  history: History,
  timeoutMs: number,
): Promise<{ order: VersionOrder; missing: number }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const rows = new Map<string, VersionRow[]>();
    for (const t of tables) {
      const r = await client.query(
        `SELECT id, v, epoch_ms(_ts) AS ts, _engine AS engine, _version::text AS version FROM ${t.name}__history`,
      );
      rows.set(
        t.name,
        r.rows.map((x) => ({
          key: Number(x.id),
          value: x.v === null ? null : Number(x.v),
          ts: Number(x.ts),
          engine: String(x.engine),
          version: String(x.version),
        })),
      );
    }
    const present = new Set<string>();
    for (const [t, l] of rows) for (const x of l) if (x.value !== null) present.add(`${t}/${x.value}`);
    const missing = history.operations.filter((o) => o.kind === 'write' && o.ok && !present.has(`${o.table}/${o.value}`)).length;
    if (missing === 0 || performance.now() > deadline) return { order: buildVersionOrder(rows), missing };
    await sleep(100);
  }
}
