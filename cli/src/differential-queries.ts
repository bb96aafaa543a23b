/**
 * The differential test's data and queries (issue 4, item 9; DESIGN §10 "Differential"):
 *
 * - a seeded random workload of INSERT / UPDATE (including setting NULLs) / DELETE on two
 *   mutable tables, `accounts` and `orders`, run through the PostgreSQL wire protocol (simple
 *   and extended protocol, autocommit and transaction blocks with savepoints and rollbacks),
 *   while a JS model ({@link MutableModel}) keeps the rows that must be there at the end;
 * - the reference: DuckDB in memory, with PostgreSQL's NULL ordering, holding the model's final
 *   rows (and the flights rows, loaded directly from the dataset files by
 *   {@link createReferenceTables});
 * - analytical queries over both datasets ({@link DIFF_QUERIES}), valid PostgreSQL (checked
 *   against PostgreSQL 15) that DuckDB also runs, whose answers must be equal.
 *
 * Normalizations (representation only) are those of flights-queries.ts ({@link Cell}): integers
 * as exact digits, other numbers through `String(Number(text))` (so a float8 and a DOUBLE are
 * equal exactly when they are the same double, and `12.50` equals `12.5`), booleans as
 * 'true'/'false', timestamps/dates/intervals as the server's text vs DuckDB's `toString()`
 * (both are PostgreSQL's ISO style). Queries whose ORDER BY is not total are compared as
 * sorted multisets ({@link DiffQuery.ordered} false); the others row by row, in order.
 *
 * Aggregates over double precision columns other than min/max are avoided: a floating sum's
 * last bits depend on the order DuckDB adds partial sums in (threads, row groups, the
 * Parquet/delta split), which is not a representation difference and not a bug.
 */

import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { seededRandom } from '@stratum/shared/testing';
import type pg from 'pg';
import { type Cell, normalizeDuckRows, normalizePgResult, RAW_TEXT_TYPES } from './flights-queries.ts';
import { flightsDataPaths, sqlString } from './load-flights.ts';

// ---------------------------------------------------------------------------------------------
// Schema of the mutable tables (the same DDL runs on Stratum and on the DuckDB reference).

/** `accounts`: integer key, text with NULLs and odd values, bigint, double, real, boolean, date, timestamptz. */
export const ACCOUNTS_DDL =
  'CREATE TABLE accounts (id integer PRIMARY KEY, owner text, region text, balance bigint, score double precision, ' +
  'active boolean, opened date, updated_at timestamptz, ratio real)';

/** `orders`: bigint key, a nullable reference to accounts (sometimes dangling), smallint, text, timestamptz, date, timestamp, uuid. */
export const ORDERS_DDL =
  'CREATE TABLE orders (order_id bigint PRIMARY KEY, account_id integer, amount_cents bigint, qty smallint, ' +
  'price double precision, status text, note text, created_at timestamptz, shipped date, due_at timestamp, ref uuid)';

type ColType = 'integer' | 'smallint' | 'bigint' | 'double' | 'real' | 'text' | 'boolean' | 'date' | 'timestamptz' | 'timestamp' | 'uuid';
/**
 * A model value: integers as number (integer, smallint) or bigint, doubles as number, reals as a
 * number that is exactly a float4, dates 'YYYY-MM-DD', timestamptz as a literal with offset,
 * timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]', uuids as canonical lower-case text.
 */
export type ModelValue = number | bigint | string | boolean | null;
/** A model row, column → value. */
export type ModelRow = Record<string, ModelValue>;

const ACCOUNTS_COLUMNS: readonly (readonly [string, ColType])[] = [
  ['id', 'integer'],
  ['owner', 'text'],
  ['region', 'text'],
  ['balance', 'bigint'],
  ['score', 'double'],
  ['active', 'boolean'],
  ['opened', 'date'],
  ['updated_at', 'timestamptz'],
  ['ratio', 'real'],
];
const ORDERS_COLUMNS: readonly (readonly [string, ColType])[] = [
  ['order_id', 'bigint'],
  ['account_id', 'integer'],
  ['amount_cents', 'bigint'],
  ['qty', 'smallint'],
  ['price', 'double'],
  ['status', 'text'],
  ['note', 'text'],
  ['created_at', 'timestamptz'],
  ['shipped', 'date'],
  ['due_at', 'timestamp'],
  ['ref', 'uuid'],
];
const TABLE_COLUMNS = { accounts: ACCOUNTS_COLUMNS, orders: ORDERS_COLUMNS } as const;
type MutableTable = keyof typeof TABLE_COLUMNS;
const KEY: Record<MutableTable, string> = { accounts: 'id', orders: 'order_id' };

/** The rows that must be in `accounts` and `orders`, by primary key (as a string). */
export class MutableModel {
  constructor(
    readonly accounts = new Map<string, ModelRow>(),
    readonly orders = new Map<string, ModelRow>(),
  ) {}
  clone(): MutableModel {
    const copy = (m: Map<string, ModelRow>) => new Map([...m].map(([k, v]) => [k, { ...v }]));
    return new MutableModel(copy(this.accounts), copy(this.orders));
  }
  table(t: MutableTable): Map<string, ModelRow> {
    return t === 'accounts' ? this.accounts : this.orders;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness and value generators.

class Gen {
  constructor(readonly rnd: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  orNull<T>(p: number, v: () => T): T | null {
    return this.chance(p) ? null : v();
  }
  /** A date, mostly 1965-01-01 … 2035-12-31 (before and after the epoch), rarely 0218 … 2298. */
  date(): string {
    const day = this.chance(0.03) ? this.int(-640_000, 120_000) : this.int(-1826, 24105);
    return new Date(day * 86_400_000).toISOString().slice(0, 10);
  }
  /**
   * A timestamptz literal with a UTC offset (+00, +02:00, -05:30, +05:45, …), microsecond
   * fractions (sometimes none), 1965 … 2035; the same instant always parses the same way.
   */
  timestamptz(): string {
    const utcSec = this.chance(0.03) ? this.int(-2_500_000_000, 7_000_000_000) : this.int(-157_766_400, 2_082_758_399);
    const micros = this.chance(0.3) ? 0 : this.int(0, 999_999);
    const off = this.pick([0, 0, 120, -300, -330, 345, 60, -480]);
    const wall = new Date((utcSec + off * 60) * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const frac = micros === 0 ? '' : `.${String(micros).padStart(6, '0')}`;
    const sign = off < 0 ? '-' : '+';
    const a = Math.abs(off);
    const hh = String(Math.floor(a / 60)).padStart(2, '0');
    const mm = String(a % 60).padStart(2, '0');
    return `${wall}${frac}${sign}${hh}${off % 60 === 0 && this.chance(0.5) ? '' : `:${mm}`}`;
  }
  /** A double with a full 17-digit mantissa (exercises float text round trips), sometimes negative. */
  double(): number {
    return (this.rnd() - 0.3) * 10 ** this.int(-3, 9);
  }
  /** A float4 value (a double exactly representable as float4). */
  real(): number {
    return Math.fround((this.rnd() - 0.5) * 10 ** this.int(-2, 6));
  }
  /** A timestamp without time zone, microseconds sometimes, mostly 1965 … 2035. */
  timestamp(): string {
    const sec = this.chance(0.03) ? this.int(-2_500_000_000, 7_000_000_000) : this.int(-157_766_400, 2_082_758_399);
    const micros = this.chance(0.4) ? 0 : this.int(0, 999_999);
    const base = new Date(sec * 1000).toISOString().slice(0, 19).replace('T', ' ');
    return micros === 0 ? base : `${base}.${String(micros).padStart(6, '0')}`;
  }
  /** A random version-4-shaped uuid from the seeded generator. */
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(0, 15).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
  }
  /** {@link double}, or rarely NaN / ±Infinity (PostgreSQL sorts NaN above every other value). */
  doubleOrSpecial(): number {
    return this.chance(0.04) ? this.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) : this.double();
  }
}

const OWNERS = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  "o'brien",
  'zoë',
  '',
  'tab\there',
  'back\\slash',
  '🙂 smile',
  'MixedCase',
];
const REGIONS = ['north', 'south', 'east', 'west'];
const STATUSES = ['new', 'paid', 'shipped', 'cancelled'];
const NOTES = ['gift', 'rush', ' padded ', 'ünïcode', '', 'call before delivery'];

function newAccount(g: Gen, id: number): ModelRow {
  return {
    id,
    owner: g.orNull(0.1, () => g.pick(OWNERS)),
    region: g.orNull(0.15, () => g.pick(REGIONS)),
    balance: g.orNull(0.1, () => BigInt(g.int(-1_000_000, 2_000_000)) * BigInt(g.pick([1, 1, 1, 1000, 1_000_000]))),
    score: g.orNull(0.1, () => g.double()),
    active: g.orNull(0.1, () => g.chance(0.6)),
    opened: g.orNull(0.1, () => g.date()),
    updated_at: g.orNull(0.1, () => g.timestamptz()),
    ratio: g.orNull(0.2, () => g.real()),
  };
}

function newOrder(g: Gen, id: bigint, accountIds: readonly number[]): ModelRow {
  return {
    order_id: id,
    account_id: g.orNull(0.05, () => (g.chance(0.05) || accountIds.length === 0 ? g.int(90_000, 90_100) : g.pick(accountIds))),
    amount_cents: g.orNull(0.05, () => BigInt(g.int(-5_000, 5_000_000))),
    qty: g.orNull(0.1, () => g.int(1, 50)),
    price: g.orNull(0.1, () => g.doubleOrSpecial()),
    status: g.orNull(0.1, () => g.pick(STATUSES)),
    note: g.orNull(0.5, () => g.pick(NOTES)),
    created_at: g.orNull(0.05, () => g.timestamptz()),
    shipped: g.orNull(0.4, () => g.date()),
    due_at: g.orNull(0.2, () => g.timestamp()),
    ref: g.orNull(0.1, () => g.uuid()),
  };
}

// ---------------------------------------------------------------------------------------------
// Literals.

/** A value as a literal in the statements sent to Stratum (PostgreSQL syntax). */
function pgLiteral(v: ModelValue, t: ColType): string {
  if (v === null) return 'NULL';
  switch (t) {
    case 'integer':
    case 'smallint':
    case 'bigint':
      return String(v);
    case 'double':
      return `CAST('${String(v)}' AS double precision)`;
    case 'real':
      return `CAST('${String(v)}' AS real)`;
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return sqlString(String(v));
  }
}

/** A value as a literal for the DuckDB reference (typed, so DuckDB parses it as the column type would). */
function duckLiteral(v: ModelValue, t: ColType): string {
  if (v === null) return 'NULL';
  switch (t) {
    case 'integer':
    case 'smallint':
    case 'bigint':
      return String(v);
    case 'double':
      return `CAST('${String(v)}' AS DOUBLE)`;
    case 'real':
      return `CAST('${String(v)}' AS REAL)`;
    case 'timestamp':
      return `TIMESTAMP ${sqlString(String(v))}`;
    case 'uuid':
      return `CAST(${sqlString(String(v))} AS UUID)`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'date':
      return `DATE ${sqlString(String(v))}`;
    case 'timestamptz':
      return `TIMESTAMPTZ ${sqlString(String(v))}`;
    default:
      return sqlString(String(v));
  }
}

/** A value as a text parameter of the extended protocol. */
function pgParam(v: ModelValue): string | null {
  if (v === null) return null;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// The workload.

/** What a workload run did, for the test's assertions and its log. */
export interface WorkloadStats {
  statements: number;
  blocks: number;
  rolledBack: number;
  expectedErrors: number;
  /** Command tags or errors that differed from what the model expected (should stay empty). */
  mismatches: string[];
}

type Client = pg.ClientBase;

/** A workload's state: the seeded generator, the model, the next fresh keys, and what happened. */
export interface Ctx {
  g: Gen;
  model: MutableModel;
  nextAccount: number;
  nextOrder: bigint;
  stats: WorkloadStats;
  /** Every statement sent, prefixed with the backend pid of its connection (for diagnosing a difference). */
  log: string[];
}

/** One statement and its effect on a model (applied only when the statement succeeds). */
interface Stmt {
  text: string;
  values?: (string | null)[];
  /** Expected rowCount of the command tag. */
  rows: number;
  apply: (m: MutableModel) => void;
}

function insertStmt(table: MutableTable, rows: ModelRow[], useParams: boolean): Stmt {
  const cols = TABLE_COLUMNS[table];
  const names = cols.map(([c]) => c).join(', ');
  const apply = (mm: MutableModel) => {
    for (const r of rows) mm.table(table).set(String(r[KEY[table]]), { ...r });
  };
  if (useParams) {
    const values: (string | null)[] = [];
    const param = (v: string | null): string => {
      values.push(v);
      return `$${values.length}`;
    };
    const tuples = rows.map((r) => `(${cols.map(([c]) => param(pgParam(r[c] ?? null))).join(', ')})`);
    return { text: `INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}`, values, rows: rows.length, apply };
  }
  const tuples = rows.map((r) => `(${cols.map(([c, t]) => pgLiteral(r[c] ?? null, t)).join(', ')})`);
  return { text: `INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}`, rows: rows.length, apply };
}

/** A key of `table` in `m`, or (3 %, or when empty) a key that does not exist. */
function pickKey(ctx: Ctx, m: MutableModel, table: MutableTable): string {
  const keys = [...m.table(table).keys()];
  if (keys.length === 0 || ctx.g.chance(0.03)) return table === 'accounts' ? String(ctx.g.int(80_000, 80_010)) : '99999999999'; // missing key
  return ctx.g.pick(keys);
}

/** A random UPDATE by primary key: literals (often NULL), parameters, or expressions over the row. */
function updateStmt(ctx: Ctx, m: MutableModel, table: MutableTable): Stmt {
  const g = ctx.g;
  const key = pickKey(ctx, m, table);
  const exists = m.table(table).has(key);
  const sets: string[] = [];
  const values: (string | null)[] = [];
  const fns: ((r: ModelRow) => void)[] = [];
  const setLit = (col: string, t: ColType, v: ModelValue) => {
    if (g.chance(0.5)) {
      values.push(pgParam(v));
      sets.push(`${col} = $${values.length}`);
    } else sets.push(`${col} = ${pgLiteral(v, t)}`);
    fns.push((r) => {
      r[col] = v;
    });
  };
  const n = g.int(1, 3);
  // PostgreSQL refuses two assignments to one column (42601), so each kind names its column once.
  const column: Record<MutableTable, readonly string[]> = {
    accounts: ['owner', 'region', 'balance', 'balance', 'score', 'active', 'opened', 'updated_at', 'owner', 'score', 'ratio', 'ratio'],
    orders: ['status', 'shipped', 'amount_cents', 'note', 'qty', 'created_at', 'account_id', 'note', 'price', 'qty', 'due_at', 'ref'],
  };
  const used = new Set<string>();
  for (let i = 0; i < n; i++) {
    const kind = g.int(0, 11);
    const col = column[table][kind] as string;
    if (used.has(col)) continue;
    used.add(col);
    if (table === 'accounts') {
      switch (kind) {
        case 0:
          setLit(
            'owner',
            'text',
            g.orNull(0.3, () => g.pick(OWNERS)),
          );
          break;
        case 1:
          setLit(
            'region',
            'text',
            g.orNull(0.3, () => g.pick(REGIONS)),
          );
          break;
        case 2: {
          const d = g.int(-500, 500);
          sets.push(`balance = balance + ${d}`);
          fns.push((r) => {
            r.balance = r.balance === null ? null : (r.balance as bigint) + BigInt(d);
          });
          break;
        }
        case 3:
          sets.push('balance = coalesce(balance, 0) - 7');
          fns.push((r) => {
            r.balance = ((r.balance as bigint | null) ?? 0n) - 7n;
          });
          break;
        case 4:
          setLit(
            'score',
            'double',
            g.orNull(0.3, () => g.double()),
          );
          break;
        case 5:
          setLit(
            'active',
            'boolean',
            g.orNull(0.3, () => g.chance(0.5)),
          );
          break;
        case 6:
          setLit(
            'opened',
            'date',
            g.orNull(0.3, () => g.date()),
          );
          break;
        case 7:
          setLit(
            'updated_at',
            'timestamptz',
            g.orNull(0.2, () => g.timestamptz()),
          );
          break;
        case 8:
          sets.push('owner = upper(owner)');
          fns.push((r) => {
            r.owner = r.owner === null ? null : String(r.owner).toUpperCase();
          });
          break;
        case 10:
          setLit(
            'ratio',
            'real',
            g.orNull(0.3, () => g.real()),
          );
          break;
        case 11:
          sets.push('ratio = -ratio');
          fns.push((r) => {
            r.ratio = r.ratio === null ? null : -(r.ratio as number);
          });
          break;
        default:
          sets.push('score = score * 2');
          fns.push((r) => {
            r.score = r.score === null ? null : (r.score as number) * 2;
          });
      }
    } else {
      switch (kind) {
        case 0:
          setLit(
            'status',
            'text',
            g.orNull(0.2, () => g.pick(STATUSES)),
          );
          break;
        case 1:
          setLit(
            'shipped',
            'date',
            g.orNull(0.4, () => g.date()),
          );
          break;
        case 2: {
          const d = g.int(-1000, 1000);
          sets.push(`amount_cents = amount_cents + ${d}`);
          fns.push((r) => {
            r.amount_cents = r.amount_cents === null ? null : (r.amount_cents as bigint) + BigInt(d);
          });
          break;
        }
        case 3:
          sets.push("note = coalesce(note, '') || '!'");
          fns.push((r) => {
            r.note = `${(r.note as string | null) ?? ''}!`;
          });
          break;
        case 4:
          setLit(
            'qty',
            'smallint',
            g.orNull(0.3, () => g.int(1, 50)),
          );
          break;
        case 5:
          setLit(
            'created_at',
            'timestamptz',
            g.orNull(0.2, () => g.timestamptz()),
          );
          break;
        case 6:
          setLit(
            'account_id',
            'integer',
            g.orNull(0.3, () => g.pick([...m.accounts.keys()].map(Number).concat([90_001]))),
          );
          break;
        case 7:
          sets.push('note = upper(note)');
          fns.push((r) => {
            r.note = r.note === null ? null : String(r.note).toUpperCase();
          });
          break;
        case 8:
          setLit(
            'price',
            'double',
            g.orNull(0.3, () => g.doubleOrSpecial()),
          );
          break;
        case 10:
          setLit(
            'due_at',
            'timestamp',
            g.orNull(0.3, () => g.timestamp()),
          );
          break;
        case 11:
          setLit(
            'ref',
            'uuid',
            g.orNull(0.3, () => g.uuid()),
          );
          break;
        default:
          sets.push('qty = abs(qty - 25)');
          fns.push((r) => {
            r.qty = r.qty === null ? null : Math.abs((r.qty as number) - 25);
          });
      }
    }
  }
  const keyCol = KEY[table];
  const text = `UPDATE ${table} SET ${sets.join(', ')} WHERE ${keyCol} = ${key}`;
  return {
    text,
    ...(values.length > 0 ? { values } : {}),
    rows: exists ? 1 : 0,
    apply: (mm) => {
      const r = mm.table(table).get(key);
      if (r) for (const f of fns) f(r);
    },
  };
}

function deleteStmt(ctx: Ctx, m: MutableModel, table: MutableTable): Stmt {
  const key = pickKey(ctx, m, table);
  const exists = m.table(table).has(key);
  return {
    text: `DELETE FROM ${table} WHERE ${KEY[table]} = ${key}`,
    rows: exists ? 1 : 0,
    apply: (mm) => {
      mm.table(table).delete(key);
    },
  };
}

/** A random statement over the model `m` (the model the statement will run against). */
function randomStmt(ctx: Ctx, m: MutableModel, mix: { insert: number; update: number }): Stmt {
  const g = ctx.g;
  const table: MutableTable = g.chance(0.45) ? 'accounts' : 'orders';
  const r = g.rnd();
  if (r < mix.insert) {
    const n = g.int(1, 25);
    const rows: ModelRow[] = [];
    for (let i = 0; i < n; i++) {
      // Sometimes re-insert a key deleted earlier (a new version after a delete).
      if (table === 'accounts') {
        const reuse = g.chance(0.1) ? g.int(1, ctx.nextAccount - 1) : 0;
        const id = reuse > 0 && !m.accounts.has(String(reuse)) && !rows.some((x) => x.id === reuse) ? reuse : ctx.nextAccount++;
        rows.push(newAccount(g, id));
      } else {
        rows.push(newOrder(g, ctx.nextOrder++, [...m.accounts.keys()].map(Number)));
      }
    }
    return insertStmt(table, rows, g.chance(0.4));
  }
  if (r < mix.insert + mix.update) return updateStmt(ctx, m, table);
  return deleteStmt(ctx, m, table);
}

async function exec(client: Client, s: Stmt, ctx: Ctx): Promise<void> {
  ctx.log.push(`${(client as { processID?: number }).processID ?? '?'}: ${s.text}${s.values ? ` -- ${JSON.stringify(s.values)}` : ''}`);
  const res = await client.query(s.values ? { text: s.text, values: s.values } : s.text);
  ctx.stats.statements++;
  if ((res.rowCount ?? -1) !== s.rows) {
    ctx.stats.mismatches.push(`${s.text.slice(0, 200)}: expected ${s.rows} rows affected, got ${res.rowCount}`);
  }
}

/**
 * Run `steps` random steps against Stratum and the model: autocommit statements (alternating
 * between the given connections) and transaction blocks on the first connection, which commit,
 * roll back, use savepoints, and sometimes hit a duplicate-key error (23505) and recover with
 * ROLLBACK TO SAVEPOINT. `mix` sets the share of inserts and updates (the rest are deletes).
 */
export async function runWorkload(
  clients: readonly Client[],
  ctx: Ctx,
  steps: number,
  mix: { insert: number; update: number },
): Promise<void> {
  const g = ctx.g;
  for (let step = 0; step < steps; step++) {
    if (!g.chance(0.12)) {
      const client = clients[step % clients.length] as Client;
      const s = randomStmt(ctx, ctx.model, mix);
      await exec(client, s, ctx);
      s.apply(ctx.model);
      continue;
    }
    // A transaction block on the first connection.
    const client = clients[0] as Client;
    ctx.stats.blocks++;
    let view = ctx.model.clone();
    const ctl = async (sql: string) => {
      ctx.log.push(`${(client as { processID?: number }).processID ?? '?'}: ${sql}`);
      return client.query(sql);
    };
    await ctl(g.chance(0.5) ? 'BEGIN' : 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const n = g.int(2, 8);
    let saved: MutableModel | undefined;
    for (let i = 0; i < n; i++) {
      if (saved === undefined && g.chance(0.2)) {
        await ctl('SAVEPOINT sp');
        saved = view.clone();
      }
      if (saved !== undefined && g.chance(0.15)) {
        // A duplicate key fails the block; ROLLBACK TO SAVEPOINT recovers it.
        const existing = [...view.accounts.values()][0];
        if (existing) {
          try {
            await ctl(`INSERT INTO accounts (id, owner) VALUES (${existing.id}, 'dup')`);
            ctx.stats.mismatches.push(`duplicate key ${existing.id} in a block was accepted`);
          } catch (e) {
            const code = (e as { code?: string }).code;
            if (code !== '23505') ctx.stats.mismatches.push(`duplicate key in a block: expected 23505, got ${code}: ${String(e)}`);
            else ctx.stats.expectedErrors++;
          }
          await ctl('ROLLBACK TO SAVEPOINT sp');
          view = saved.clone();
          continue;
        }
      }
      const s = randomStmt(ctx, view, mix);
      await exec(client, s, ctx);
      s.apply(view);
    }
    if (saved !== undefined && g.chance(0.3)) {
      await ctl('ROLLBACK TO sp');
      view = saved;
    }
    if (g.chance(0.2)) {
      await ctl('ROLLBACK');
      ctx.stats.rolledBack++;
    } else {
      const r = await ctl(g.chance(0.5) ? 'COMMIT' : 'END');
      if (r.command !== 'COMMIT') ctx.stats.mismatches.push(`COMMIT answered ${r.command}`);
      ctx.model.accounts.clear();
      ctx.model.orders.clear();
      for (const [k, v] of view.accounts) ctx.model.accounts.set(k, v);
      for (const [k, v] of view.orders) ctx.model.orders.set(k, v);
    }
  }
}

/** A fresh workload context with a seed. */
export function newWorkload(seed: number): Ctx {
  return {
    g: new Gen(seededRandom(seed)),
    model: new MutableModel(),
    nextAccount: 1,
    nextOrder: 10_000_000_000n,
    stats: { statements: 0, blocks: 0, rolledBack: 0, expectedErrors: 0, mismatches: [] },
    log: [],
  };
}

/** Insert `n` new accounts and `n * 3` orders in multi-row INSERTs (the first phase's bulk). */
export async function seedRows(client: Client, ctx: Ctx, accounts: number): Promise<void> {
  for (let done = 0; done < accounts; done += 50) {
    const rows: ModelRow[] = [];
    for (let i = 0; i < 50 && done + i < accounts; i++) rows.push(newAccount(ctx.g, ctx.nextAccount++));
    const s = insertStmt('accounts', rows, done % 100 === 0);
    await exec(client, s, ctx);
    s.apply(ctx.model);
  }
  const ids = [...ctx.model.accounts.keys()].map(Number);
  for (let done = 0; done < accounts * 3; done += 100) {
    const rows: ModelRow[] = [];
    for (let i = 0; i < 100 && done + i < accounts * 3; i++) rows.push(newOrder(ctx.g, ctx.nextOrder++, ids));
    const s = insertStmt('orders', rows, done % 200 === 0);
    await exec(client, s, ctx);
    s.apply(ctx.model);
  }
}

/** Insert one more account on `client`: after it is visible there, every earlier write of any session is too (one TX engine, one clock). */
export async function barrierWrite(client: Client, ctx: Ctx): Promise<void> {
  const s = insertStmt('accounts', [newAccount(ctx.g, ctx.nextAccount++)], false);
  await exec(client, s, ctx);
  s.apply(ctx.model);
}

/** Create `accounts` and `orders` in DuckDB holding exactly the model's rows. */
export async function createMutableReference(duck: DuckDBConnection, model: MutableModel): Promise<void> {
  await duck.run(ACCOUNTS_DDL);
  await duck.run(ORDERS_DDL);
  for (const table of ['accounts', 'orders'] as const) {
    const cols = TABLE_COLUMNS[table];
    const rows = [...model.table(table).values()];
    for (let i = 0; i < rows.length; i += 500) {
      const tuples = rows.slice(i, i + 500).map((r) => `(${cols.map(([c, t]) => duckLiteral(r[c] ?? null, t)).join(', ')})`);
      await duck.run(`INSERT INTO ${table} (${cols.map(([c]) => c).join(', ')}) VALUES ${tuples.join(', ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Flights rows beyond the loader's first N (inserted in the second phase, so they are in the delta).

/**
 * Insert flights rows with ids `from` … `to − 1` (file order, id = file row number, as
 * load-flights.ts assigns them), formatted as the loader does, in parameterized multi-row INSERTs.
 */
export async function insertFlightsRange(client: Client, duck: DuckDBConnection, from: number, to: number): Promise<number> {
  const reader = await duck.runAndReadAll(
    "SELECT CAST(file_row_number AS VARCHAR), strftime(date, '%Y-%m-%d %H:%M:%S'), CAST(delay AS VARCHAR), " +
      'CAST(distance AS VARCHAR), origin, destination ' +
      `FROM read_parquet(${sqlString(flightsDataPaths().flights)}, file_row_number=true) ` +
      `WHERE file_row_number >= ${from} AND file_row_number < ${to}`,
  );
  const rows = reader.getRowsJS() as (string | null)[][];
  let n = 0;
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    const values: (string | null)[] = [];
    const param = (v: string | null): string => {
      values.push(v);
      return `$${values.length}`;
    };
    const tuples = batch.map((r) => `(${r.map(param).join(',')})`);
    const res = await client.query({
      text: `INSERT INTO flights (id, date, delay, distance, origin, destination) VALUES ${tuples.join(',')}`,
      values,
    });
    n += res.rowCount ?? 0;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The queries.

/** One differential query. */
export interface DiffQuery {
  /** Stable identifier. */
  name: string;
  /** PostgreSQL SQL, also run as is by the DuckDB reference. */
  sql: string;
  /** Parameters ($1 …), sent in the extended protocol as text; DuckDB binds them as typed values. */
  params?: readonly (string | number)[];
  /** Rows are compared in order (the ORDER BY is total); otherwise as sorted multisets. */
  ordered: boolean;
  /**
   * DuckDB SQL for the reference answer where DuckDB's own semantics differ from PostgreSQL's
   * (the reference must give PostgreSQL's answer, which Stratum promises); each use says why, and
   * was checked against PostgreSQL 15. Default: {@link sql}.
   */
  referenceSql?: string;
  /** Relative tolerance for numeric cells (only where PostgreSQL's answer is `numeric` and DuckDB's a double). Default 0. */
  relTol?: number;
  /** Why the query is expected to fail today (then it is run with Node's `todo`). */
  todo?: string;
}

/** Queries over `accounts` and `orders` (after the seeded workload). */
export const MUTABLE_QUERIES: readonly DiffQuery[] = [
  {
    // Every column of every live row: the Parquet/delta merge, updates to NULL, deletes, re-inserts, and the text of each type.
    name: 'accounts_all_rows',
    sql: 'SELECT * FROM accounts',
    ordered: false,
  },
  {
    name: 'orders_all_rows',
    sql: 'SELECT * FROM orders',
    ordered: false,
  },
  {
    name: 'accounts_totals',
    sql:
      'SELECT count(*) AS n, count(owner) AS owners, count(DISTINCT region) AS regions, sum(balance) AS total, ' +
      'min(balance) AS lo, max(balance) AS hi, avg(balance) AS mean, min(score) AS min_score, max(score) AS max_score, ' +
      'min(opened) AS first_opened, max(opened) AS last_opened, min(updated_at) AS first_update, max(updated_at) AS last_update ' +
      'FROM accounts',
    ordered: true,
  },
  {
    name: 'per_region_filtered_aggregates',
    sql:
      'SELECT region, count(*) AS n, count(*) FILTER (WHERE active) AS active_n, count(*) FILTER (WHERE active IS NULL) AS unknown_n, ' +
      'sum(balance) FILTER (WHERE balance > 0) AS credit, avg(balance) AS mean, bool_and(active) AS all_active, bool_or(active) AS any_active ' +
      'FROM accounts GROUP BY region ORDER BY region NULLS FIRST',
    ordered: true,
  },
  {
    name: 'group_having_default_nulls_last',
    sql:
      'SELECT region, active, count(*) AS n, max(balance) AS hi FROM accounts GROUP BY region, active ' +
      'HAVING count(*) > 5 ORDER BY region, active',
    ordered: true,
  },
  {
    // PostgreSQL: NULLs sort first in DESC by default.
    name: 'order_desc_default_nulls_first_limit_offset',
    sql: 'SELECT id, balance, owner FROM accounts ORDER BY balance DESC, id LIMIT 40 OFFSET 5',
    ordered: true,
  },
  {
    name: 'order_asc_default_nulls_last',
    sql: 'SELECT id, opened FROM accounts ORDER BY opened, id DESC LIMIT 30 OFFSET 0',
    ordered: true,
  },
  {
    name: 'order_explicit_nulls',
    sql:
      'SELECT id, owner, score, updated_at FROM accounts ' +
      'ORDER BY owner NULLS FIRST, score DESC NULLS LAST, updated_at ASC NULLS FIRST, id LIMIT 60',
    ordered: true,
  },
  {
    name: 'order_tail_of_nulls',
    sql: 'SELECT order_id, created_at, shipped FROM orders ORDER BY created_at DESC NULLS LAST, shipped NULLS FIRST, order_id DESC LIMIT 25 OFFSET 20',
    ordered: true,
  },
  {
    name: 'window_rank_per_region',
    sql:
      'SELECT id, region, balance, row_number() OVER (PARTITION BY region ORDER BY balance DESC, id) AS rn, ' +
      'rank() OVER (PARTITION BY region ORDER BY balance DESC) AS rk, dense_rank() OVER (PARTITION BY region ORDER BY balance) AS drk, ' +
      'count(*) OVER (PARTITION BY region) AS in_region FROM accounts ORDER BY id',
    ordered: true,
  },
  {
    name: 'window_running_sum_and_frames',
    sql:
      'SELECT order_id, account_id, amount_cents, ' +
      'sum(amount_cents) OVER (PARTITION BY account_id ORDER BY created_at, order_id) AS running, ' +
      'sum(qty) OVER (ORDER BY order_id ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS qty_window, ' +
      'first_value(status) OVER (PARTITION BY account_id ORDER BY order_id) AS first_status, ' +
      'ntile(4) OVER (ORDER BY amount_cents, order_id) AS quartile ' +
      'FROM orders ORDER BY order_id',
    ordered: true,
  },
  {
    name: 'window_lag_lead',
    sql:
      'SELECT order_id, account_id, created_at, lag(amount_cents) OVER w AS prev_amount, ' +
      "lead(status, 1, 'none') OVER w AS next_status, lag(created_at, 2) OVER w AS prev2_created " +
      'FROM orders WINDOW w AS (PARTITION BY account_id ORDER BY created_at, order_id) ORDER BY order_id',
    ordered: true,
  },
  {
    name: 'left_join_accounts_orders',
    sql:
      'SELECT a.id, a.owner, count(o.order_id) AS orders, sum(o.amount_cents) AS spent, max(o.created_at) AS last_order ' +
      'FROM accounts a LEFT JOIN orders o ON o.account_id = a.id GROUP BY a.id, a.owner ORDER BY a.id',
    ordered: true,
  },
  {
    name: 'orphan_orders_left_join',
    sql:
      'SELECT o.order_id, o.account_id, a.region FROM orders o LEFT JOIN accounts a ON a.id = o.account_id ' +
      'WHERE a.id IS NULL ORDER BY o.account_id NULLS FIRST, o.order_id',
    ordered: true,
  },
  {
    name: 'self_join_same_day_same_region',
    sql:
      'SELECT a.id AS a_id, b.id AS b_id, a.region FROM accounts a JOIN accounts b ' +
      "ON a.region = b.region AND a.id < b.id AND date_trunc('year', a.opened) = date_trunc('year', b.opened) " +
      'AND a.active = b.active WHERE a.balance > b.balance',
    ordered: false,
  },
  {
    name: 'distinct_and_distinct_on',
    sql:
      'SELECT DISTINCT ON (account_id) account_id, order_id, amount_cents FROM orders ' +
      'ORDER BY account_id, amount_cents DESC NULLS LAST, order_id',
    ordered: true,
  },
  {
    name: 'distinct_pairs',
    sql: 'SELECT DISTINCT region, active FROM accounts ORDER BY region NULLS FIRST, active DESC',
    ordered: true,
  },
  {
    name: 'count_distinct_having',
    sql:
      'SELECT account_id, count(DISTINCT status) AS statuses, count(*) AS n, min(shipped) AS first_shipped FROM orders ' +
      'WHERE account_id IS NOT NULL GROUP BY account_id HAVING count(DISTINCT status) >= 2 AND sum(qty) > 10 ORDER BY account_id',
    ordered: true,
  },
  {
    name: 'timestamps_month_buckets',
    sql:
      "SELECT date_trunc('month', created_at) AS month, count(*) AS n, min(created_at) AS first_at, max(created_at) AS last_at " +
      "FROM orders WHERE created_at >= TIMESTAMPTZ '2000-01-01 00:00:00+00' AND created_at < TIMESTAMPTZ '2030-01-01 00:00:00+00' " +
      'GROUP BY 1 ORDER BY 1',
    ordered: true,
  },
  {
    // PostgreSQL: extract() is numeric (here epoch with 6 decimals, exact), which Stratum returns; the
    // reference spells it exactly in DuckDB (its own epoch is a double).
    name: 'timestamps_extract_time_zone',
    sql:
      'SELECT order_id, extract(year FROM created_at) AS y, extract(dow FROM created_at) AS dow, extract(hour FROM created_at) AS h, ' +
      "extract(epoch FROM created_at) AS epoch, created_at AT TIME ZONE 'America/New_York' AS ny_wall, " +
      "created_at + INTERVAL '1 day 2 hours' AS later, date_trunc('hour', created_at) AS hour " +
      'FROM orders WHERE created_at IS NOT NULL ORDER BY created_at, order_id LIMIT 200',
    referenceSql:
      'SELECT order_id, extract(year FROM created_at) AS y, extract(dow FROM created_at) AS dow, extract(hour FROM created_at) AS h, ' +
      "CAST(epoch_us(created_at) AS DECIMAL(18,0)) * 0.000001 AS epoch, created_at AT TIME ZONE 'America/New_York' AS ny_wall, " +
      "created_at + INTERVAL '1 day 2 hours' AS later, date_trunc('hour', created_at) AS hour " +
      'FROM orders WHERE created_at IS NOT NULL ORDER BY created_at, order_id LIMIT 200',
    ordered: true,
  },
  {
    name: 'dates_ranges_and_arithmetic',
    sql:
      'SELECT id, opened, opened + 30 AS plus_30, extract(year FROM opened) AS y, extract(month FROM opened) AS m ' +
      "FROM accounts WHERE opened BETWEEN DATE '1969-06-01' AND DATE '2001-12-31' ORDER BY opened DESC, id",
    ordered: true,
  },
  {
    name: 'timestamp_range_before_epoch',
    sql:
      'SELECT count(*) AS n, min(updated_at) AS lo, max(updated_at) AS hi FROM accounts ' +
      "WHERE updated_at < TIMESTAMPTZ '1970-01-01 00:00:00+00' OR updated_at >= TIMESTAMPTZ '2030-01-01 00:00:00-05'",
    ordered: true,
  },
  {
    // PostgreSQL: avg of sum(bigint) is numeric; Stratum's is exact to 16 decimals inside the
    // subquery, the reference's a double (off by up to an ulp of the mean, ~1e-9, before the
    // subtraction): relTol 1e-12.
    name: 'cte_and_scalar_subquery',
    relTol: 1e-12,
    sql:
      'WITH spend AS (SELECT account_id, sum(amount_cents) AS total FROM orders WHERE status IS DISTINCT FROM ' +
      "'cancelled' GROUP BY account_id) SELECT a.id, a.region, s.total, s.total - (SELECT avg(total) FROM spend) AS vs_mean " +
      'FROM accounts a JOIN spend s ON s.account_id = a.id WHERE s.total > (SELECT avg(total) FROM spend) ORDER BY s.total DESC, a.id',
    ordered: true,
  },
  {
    name: 'subqueries_in_exists_not_in_with_nulls',
    sql:
      'SELECT (SELECT count(*) FROM accounts WHERE id NOT IN (SELECT account_id FROM orders)) AS not_in_with_null, ' +
      '(SELECT count(*) FROM accounts WHERE id NOT IN (SELECT account_id FROM orders WHERE account_id IS NOT NULL)) AS not_in, ' +
      '(SELECT count(*) FROM accounts a WHERE EXISTS (SELECT 1 FROM orders o WHERE o.account_id = a.id AND o.status = ' +
      "'paid')) AS with_paid, (SELECT count(*) FROM orders WHERE account_id IN (SELECT id FROM accounts WHERE active)) AS of_active",
    ordered: true,
  },
  {
    name: 'case_coalesce_buckets',
    sql:
      "SELECT CASE WHEN balance IS NULL THEN 'unknown' WHEN balance < 0 THEN 'negative' WHEN balance < 1000000 THEN 'small' " +
      "ELSE 'large' END AS bucket, coalesce(region, '(none)') AS region, count(*) AS n, " +
      "sum(CASE WHEN active THEN 1 ELSE 0 END) AS active_n, coalesce(max(owner), '-') AS max_owner " +
      'FROM accounts GROUP BY 1, 2 ORDER BY 1, 2',
    ordered: true,
  },
  {
    name: 'string_functions',
    sql:
      "SELECT id, upper(owner) AS up, length(owner) AS len, substr(owner, 2, 3) AS mid, owner || '@' || coalesce(region, '?') AS tag, " +
      "replace(owner, 'a', 'A') AS repl, position('a' IN owner) AS pos, left(owner, 2) AS l2, right(owner, 2) AS r2, " +
      "concat(owner, '-', id) AS cat, owner LIKE '%a%' AS has_a, owner ILIKE 'B%' AS starts_b " +
      'FROM accounts ORDER BY id',
    ordered: true,
  },
  {
    name: 'string_agg_ordered_trim',
    sql:
      "SELECT status, string_agg(DISTINCT trim(note), ',' ORDER BY trim(note)) AS notes, count(note) AS with_note, " +
      'max(length(note)) AS longest FROM orders GROUP BY status ORDER BY status NULLS FIRST',
    ordered: true,
  },
  {
    name: 'set_operations',
    sql:
      'SELECT account_id AS id FROM orders WHERE account_id IS NOT NULL EXCEPT SELECT id FROM accounts ' +
      'UNION ALL SELECT id FROM accounts WHERE balance IS NULL INTERSECT SELECT account_id FROM orders',
    ordered: false,
  },
  {
    name: 'rollup',
    sql:
      'SELECT region, active, count(*) AS n, sum(balance) AS total FROM accounts GROUP BY ROLLUP (region, active) ' +
      'ORDER BY region NULLS FIRST, active NULLS FIRST, n',
    ordered: false,
  },
  {
    name: 'percentiles',
    sql:
      'SELECT status, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount_cents) AS median, ' +
      'percentile_disc(0.9) WITHIN GROUP (ORDER BY qty) AS p90_qty, min(price) AS min_price, max(price) AS max_price ' +
      'FROM orders GROUP BY status ORDER BY status NULLS LAST',
    ordered: true,
  },
  {
    name: 'empty_aggregate',
    sql: "SELECT count(*) AS n, sum(balance) AS s, max(opened) AS m, string_agg(owner, ',') AS o FROM accounts WHERE id < 0",
    ordered: true,
  },
  {
    name: 'params_extended_protocol',
    sql:
      'SELECT order_id, status, amount_cents FROM orders WHERE amount_cents > $1 AND status = $2 ' +
      'ORDER BY amount_cents DESC, order_id LIMIT $3 OFFSET $4',
    params: [100000, 'paid', 15, 3],
    ordered: true,
  },
  {
    // Range and key bounds that are expressions of parameters (sysbench/pgbench style): read at the row tiers.
    name: 'params_expression_range',
    sql: 'SELECT id, owner, balance FROM accounts WHERE id BETWEEN $1 AND $1 + 40 ORDER BY id',
    params: [20],
    ordered: true,
  },
  {
    name: 'params_expression_range_aggregate',
    sql: 'SELECT count(*) AS n, sum(balance) AS s, max(owner) AS m FROM accounts WHERE id >= $1 * 2 AND id < abs($2::int) + 60',
    params: [5, -3],
    ordered: true,
  },
  {
    // An untyped parameter of an overloaded function: PostgreSQL resolves abs(unknown) to abs(float8).
    name: 'params_untyped_function_argument',
    sql: 'SELECT count(*) AS n, max(id) AS m FROM accounts WHERE id < abs($1) + 60 AND owner <> lower($2)',
    params: [-3, 'NOBODY'],
    ordered: true,
  },
  {
    name: 'params_expression_key',
    sql: 'SELECT id, owner, region FROM accounts WHERE id = $1 + 1',
    params: [9],
    ordered: true,
  },
  {
    // real (float4) and timestamp (without time zone) columns, uuid order (PostgreSQL compares uuids bytewise).
    name: 'real_timestamp_uuid',
    sql:
      'SELECT region, min(ratio) AS lo, max(ratio) AS hi, count(ratio) AS n, max(ratio) FILTER (WHERE ratio < 0) AS neg_hi FROM accounts ' +
      'GROUP BY region ORDER BY region NULLS FIRST',
    ordered: true,
  },
  {
    name: 'timestamp_week_buckets',
    sql:
      "SELECT date_trunc('week', due_at) AS wk, count(*) AS n, min(due_at) AS first_due, max(due_at) AS last_due, " +
      "max(due_at) - min(due_at) AS span FROM orders GROUP BY 1 HAVING count(*) > 1 OR min(due_at) < TIMESTAMP '1950-01-01 00:00:00' " +
      'ORDER BY 1 NULLS FIRST',
    ordered: true,
  },
  {
    name: 'uuid_order_and_distinct',
    sql:
      'SELECT ref, order_id, due_at, (SELECT count(DISTINCT ref) FROM orders) AS refs FROM orders WHERE ref IS NOT NULL ' +
      'ORDER BY ref DESC, order_id LIMIT 30',
    ordered: true,
  },
  {
    name: 'in_list_and_between',
    sql:
      "SELECT status, count(*) AS n, sum(qty) AS qty FROM orders WHERE status IN ('paid', 'shipped', 'new') AND qty BETWEEN 5 AND 40 " +
      'AND order_id NOT BETWEEN 10000000100 AND 10000000200 AND account_id NOT IN (1, 2, 3) GROUP BY status ORDER BY status',
    ordered: true,
  },
  {
    // PostgreSQL: NaN sorts above every other float8, Infinity next; NULLs first in DESC.
    name: 'nan_infinity_order',
    sql:
      'SELECT order_id, price, price > 0 AS positive FROM orders ' +
      'WHERE price IS NULL OR price > 1e8 OR price < -1e8 OR price <> price ORDER BY price DESC, order_id LIMIT 60',
    ordered: true,
  },
  {
    name: 'window_default_null_order',
    sql:
      'SELECT id, opened, active, row_number() OVER (ORDER BY opened DESC, id) AS rn_desc, ' +
      'row_number() OVER (ORDER BY active, id) AS rn_active, lag(opened) OVER (ORDER BY opened NULLS FIRST, id) AS prev_opened ' +
      'FROM accounts ORDER BY id',
    ordered: true,
  },
  {
    name: 'boolean_order_fetch_first',
    sql: 'SELECT id, active, region FROM accounts ORDER BY active DESC, region, id FETCH FIRST 40 ROWS ONLY',
    ordered: true,
  },
  {
    name: 'timestamptz_params',
    sql:
      'SELECT order_id, created_at, shipped FROM orders WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz ' +
      'AND (shipped IS NULL OR shipped > $3::date) ORDER BY created_at, order_id',
    params: ['1999-12-31 19:00:00-05', '2001-06-30 12:30:00+02', '1990-01-01'],
    ordered: true,
  },
  {
    name: 'far_dates_and_times',
    sql:
      "SELECT id, opened, updated_at, extract(year FROM opened) AS y FROM accounts WHERE opened < DATE '1900-01-01' " +
      "OR opened > DATE '2100-01-01' OR updated_at < TIMESTAMPTZ '1940-01-01 00:00:00+00' OR updated_at > TIMESTAMPTZ '2100-01-01 00:00:00+00' " +
      'ORDER BY id',
    ordered: true,
  },
  {
    name: 'numeric_casts',
    sql:
      'SELECT region, CAST(sum(balance) AS numeric(38, 2)) / 100 AS total_hundreds, round(avg(balance) / 1000.0, 3) AS mean_k, ' +
      'max(balance) / 7 AS int_div, CAST(max(balance) AS double precision) / 3 AS third FROM accounts ' +
      'WHERE balance IS NOT NULL GROUP BY region ORDER BY region NULLS LAST',
    ordered: true,
  },
  // PostgreSQL semantics DuckDB does not share (so the reference spells PostgreSQL's answer in DuckDB SQL).
  {
    // sum(bigint) is numeric in PostgreSQL, so `/ count(*)` is numeric division, not integer division
    // (DuckDB's sum is HUGEINT, which integer_division=true truncates). PostgreSQL's numeric quotient
    // has ≥ 16 significant digits, the reference's is a double: relTol 1e-14.
    name: 'sum_bigint_divided_is_numeric',
    sql: 'SELECT region, sum(balance) / count(*) AS mean FROM accounts WHERE balance IS NOT NULL GROUP BY region ORDER BY region NULLS LAST',
    referenceSql:
      'SELECT region, CAST(sum(balance) AS DOUBLE) / count(*) AS mean FROM accounts WHERE balance IS NOT NULL GROUP BY region ORDER BY region NULLS LAST',
    relTol: 1e-14,
    ordered: true,
  },
  {
    // round(double precision) rounds half to even in PostgreSQL (rint); DuckDB's round() rounds half away from zero.
    name: 'round_double_half_even',
    sql: 'SELECT k, round(CAST(k AS double precision) / 2) AS r FROM (SELECT DISTINCT id % 9 - 4 AS k FROM accounts) t ORDER BY k',
    referenceSql: 'SELECT k, round_even(CAST(k AS DOUBLE) / 2, 0) AS r FROM (SELECT DISTINCT id % 9 - 4 AS k FROM accounts) t ORDER BY k',
    ordered: true,
  },
  {
    // date_trunc(text, date) resolves to date_trunc(text, timestamptz) in PostgreSQL (the date is cast to
    // timestamptz), so the answer is a timestamptz; DuckDB returns a TIMESTAMP.
    name: 'date_trunc_of_date_is_timestamptz',
    sql: "SELECT DISTINCT date_trunc('year', opened) AS y FROM accounts WHERE opened IS NOT NULL ORDER BY y",
    referenceSql: "SELECT DISTINCT date_trunc('year', CAST(opened AS TIMESTAMPTZ)) AS y FROM accounts WHERE opened IS NOT NULL ORDER BY y",
    ordered: true,
  },
];

/** Queries over `flights` (the loader's rows plus the later ones) and `airports`. */
export const FLIGHTS_DIFF_QUERIES: readonly DiffQuery[] = [
  {
    name: 'flights_top3_delays_per_origin',
    sql:
      'SELECT origin, id, delay, rn FROM (SELECT origin, id, delay, row_number() OVER (PARTITION BY origin ORDER BY delay DESC, id) AS rn ' +
      'FROM flights) t WHERE rn <= 3 ORDER BY origin, rn',
    ordered: true,
  },
  {
    name: 'flights_daily_running_total',
    sql:
      "SELECT date_trunc('day', date) AS day, count(*) AS n, sum(count(*)) OVER (ORDER BY date_trunc('day', date)) AS running, " +
      "lag(count(*)) OVER (ORDER BY date_trunc('day', date)) AS prev_n, max(delay) AS worst " +
      "FROM flights GROUP BY date_trunc('day', date) ORDER BY day",
    ordered: true,
  },
  {
    name: 'flights_state_to_state',
    sql:
      'SELECT o.state AS from_state, d.state AS to_state, count(*) AS n, avg(f.distance) AS mean_distance FROM flights f ' +
      'JOIN airports o ON f.origin = o.iata JOIN airports d ON f.destination = d.iata ' +
      'GROUP BY o.state, d.state ORDER BY n DESC, from_state, to_state LIMIT 25',
    ordered: true,
  },
  {
    name: 'airports_left_join_flights',
    sql:
      'SELECT a.state, count(DISTINCT a.iata) AS airports, count(f.id) AS departures FROM airports a ' +
      'LEFT JOIN flights f ON f.origin = a.iata GROUP BY a.state ORDER BY a.state NULLS FIRST',
    ordered: true,
  },
  {
    name: 'flights_distinct_late_origins',
    sql: 'SELECT DISTINCT origin FROM flights WHERE delay > 180 ORDER BY origin',
    ordered: true,
  },
  {
    name: 'flights_destinations_having',
    sql:
      'SELECT origin, count(DISTINCT destination) AS destinations, count(*) AS n FROM flights GROUP BY origin ' +
      'HAVING count(DISTINCT destination) > 10 ORDER BY destinations DESC, origin',
    ordered: true,
  },
  {
    name: 'flights_weekday_hour',
    sql:
      'SELECT extract(dow FROM date) AS dow, extract(hour FROM date) AS hour, count(*) AS n, min(delay) AS best FROM flights ' +
      "WHERE date BETWEEN TIMESTAMP '2001-01-03 06:00:00' AND TIMESTAMP '2001-01-20 22:30:00' GROUP BY 1, 2 ORDER BY 1, 2",
    ordered: true,
  },
  {
    name: 'flights_delay_buckets',
    sql:
      "SELECT CASE WHEN delay < 0 THEN 'early' WHEN delay = 0 THEN 'on time' WHEN delay <= 15 THEN 'minor' ELSE 'late' END AS bucket, " +
      'count(*) AS n, avg(distance) AS mean_distance, sum(delay) AS total FROM flights GROUP BY 1 ORDER BY 1',
    ordered: true,
  },
  {
    name: 'flights_median_delay',
    sql:
      'SELECT origin, percentile_cont(0.5) WITHIN GROUP (ORDER BY delay) AS median, percentile_disc(0.25) WITHIN GROUP (ORDER BY distance) AS q1 ' +
      'FROM flights GROUP BY origin ORDER BY origin',
    ordered: true,
  },
  {
    name: 'flights_cte_worse_than_average',
    sql:
      'WITH per AS (SELECT origin, avg(delay) AS d, count(*) AS n FROM flights GROUP BY origin) ' +
      'SELECT p.origin, p.n, a.city FROM per p LEFT JOIN airports a ON a.iata = p.origin ' +
      'WHERE p.d > (SELECT avg(delay) FROM flights) AND p.n >= 50 ORDER BY p.origin',
    ordered: true,
  },
  {
    name: 'airports_strings',
    sql:
      "SELECT iata, lower(name) AS lname, length(city) AS len, substr(name, 1, 8) AS short, coalesce(state, '??') AS st, " +
      "name LIKE '%International%' AS intl, upper(left(city, 3)) AS c3 FROM airports WHERE iata LIKE 'S%' ORDER BY iata",
    ordered: true,
  },
  {
    name: 'airports_state_extremes',
    sql:
      'SELECT state, count(*) AS n, min(latitude) AS south, max(latitude) AS north, max(longitude) AS east FROM airports ' +
      'GROUP BY state ORDER BY state NULLS FIRST',
    ordered: true,
  },
  {
    name: 'flights_percent_rank_limit_offset',
    sql:
      'SELECT id, date, delay, percent_rank() OVER (ORDER BY delay, id) AS pr FROM flights ' +
      'ORDER BY delay DESC, id LIMIT 20 OFFSET 100',
    ordered: true,
  },
  {
    name: 'flights_round_trips_self_join',
    sql:
      'SELECT a.origin, a.destination, a.n AS there, b.n AS back FROM ' +
      '(SELECT origin, destination, count(*) AS n FROM flights GROUP BY origin, destination) a JOIN ' +
      '(SELECT origin, destination, count(*) AS n FROM flights GROUP BY origin, destination) b ' +
      'ON a.origin = b.destination AND a.destination = b.origin WHERE a.origin < a.destination AND a.n + b.n > 60',
    ordered: false,
  },
  {
    name: 'flights_newest_rows',
    sql: "SELECT id, date, date + INTERVAL '90 minutes' AS arrival_guess, CAST(date AS date) AS day FROM flights ORDER BY id DESC LIMIT 30",
    ordered: true,
  },
];

/**
 * Point reads by the full primary key (served by the TX engine, not OLAP): the rows of some
 * keys of the model, some deleted or never used keys, in the simple and the extended protocol.
 */
export function pointReadQueries(model: MutableModel, seed: number): DiffQuery[] {
  const g = new Gen(seededRandom(seed));
  const out: DiffQuery[] = [];
  const accounts = [...model.accounts.keys()];
  const orders = [...model.orders.keys()];
  for (let i = 0; i < 12; i++) {
    const id = i < 10 && accounts.length > 0 ? g.pick(accounts) : String(80_000 + i);
    out.push(
      i % 2 === 0
        ? { name: `point_account_${id}`, sql: `SELECT * FROM accounts WHERE id = ${id}`, ordered: true }
        : {
            name: `point_account_${id}`,
            sql: 'SELECT owner, balance, score, active, opened, updated_at FROM accounts WHERE id = $1',
            params: [Number(id)],
            ordered: true,
          },
    );
    const oid = i < 10 && orders.length > 0 ? g.pick(orders) : String(99_999_999_990n + BigInt(i));
    out.push({ name: `point_order_${oid}`, sql: `SELECT * FROM orders WHERE order_id = ${oid}`, ordered: true });
  }
  return out;
}

/** Every differential query. */
export const DIFF_QUERIES: readonly DiffQuery[] = [...MUTABLE_QUERIES, ...FLIGHTS_DIFF_QUERIES];

/**
 * The answer of a query on a pg connection, canonical ({@link normalizePgResult}). With `name`,
 * the query runs as a named prepared statement (extended protocol) even without parameters.
 */
export async function pgAnswer(client: Client, q: DiffQuery, name?: string): Promise<Cell[][]> {
  const r = await client.query<unknown[]>({
    text: q.sql,
    ...(name !== undefined ? { name } : {}),
    rowMode: 'array',
    types: RAW_TEXT_TYPES,
    ...(q.params ? { values: q.params.map(String) } : {}),
  });
  // float4 text is its shortest float4 form ('0.3') in PostgreSQL; DuckDB gives the float4 widened to a
  // double (0.30000001192092896): compare the float4 values, as doubles.
  const reals = r.fields.map((f) => f.dataTypeID === PG_FLOAT4_OID);
  return normalizePgResult(r).map((row) =>
    row.map((c, i) => (reals[i] && c !== null && Number.isFinite(Number(c)) ? String(Math.fround(Number(c))) : c)),
  );
}

const PG_FLOAT4_OID = 700;

/** The answer of a query in the DuckDB reference, canonical ({@link normalizeDuckRows}). */
export async function duckAnswer(duck: DuckDBConnection, q: DiffQuery): Promise<Cell[][]> {
  const sql = q.referenceSql ?? q.sql;
  const reader = q.params
    ? await duck.runAndReadAll(
        sql,
        q.params.map((p) => p as DuckDBValue),
      )
    : await duck.runAndReadAll(sql);
  return normalizeDuckRows(reader.getRows());
}

/** Rows sorted by their JSON text (for queries without a total order). */
export function sortRows(rows: readonly (readonly Cell[])[]): Cell[][] {
  return rows
    .map((r) => [...r])
    .sort((a, b) => {
      const x = JSON.stringify(a);
      const y = JSON.stringify(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
}
