/**
 * Test helpers for the OLAP shard suites (not part of the public entry): an array-backed
 * {@link IngestionApi}, a seeded workload generator, and a reference DuckDB that holds the same
 * final rows loaded directly, so answers are compared, never hard-coded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBDateValue,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUUIDValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import {
  Catalog,
  type ConflictInfo,
  DEFAULT_TABLE_OPTIONS,
  duckdbType,
  type IndexBuildStatus,
  type IngestionApi,
  type IngestionStatus,
  type Literal,
  type QueryResult,
  type Row,
  type RowVersion,
  type TableDef,
  type TableInfo,
  type TableOptions,
  type Value,
  VersionGenerator,
  type VersionRecord,
} from '@stratum/shared';
import { convertResult } from '@stratum/shared/duckdb';
import { seededRandom } from '@stratum/shared/testing';

/** A fresh temp directory. */
export function tempDir(prefix = 'olap-shard-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Remove a directory tree. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** A catalog with `defs` created in order (versions 1..n), options per table. */
export function makeCatalog(defs: TableDef[], options: Record<string, Partial<TableOptions>> = {}): Catalog {
  const cat = new Catalog((name) => ({ ...DEFAULT_TABLE_OPTIONS, ...options[name] }) as TableOptions);
  defs.forEach((d, i) => {
    cat.apply(i + 1, { kind: 'create_table', table: d, at: 0 });
  });
  return cat;
}

/** IngestionApi over an in-memory array (LSN = position + 1). Counts `delta` calls. */
export class ArraySource implements IngestionApi {
  readonly log: VersionRecord[] = [];
  deltaCalls = 0;
  failing: Error | undefined;

  /** Apply versions (assigns LSNs). */
  add(vs: VersionRecord[]): void {
    for (const v of vs) this.log.push({ ...v, lsn: this.log.length + 1 });
  }

  async get(): Promise<RowVersion | null> {
    return null;
  }

  async getMany(_table: string, keys: Value[][]): Promise<(RowVersion | null)[]> {
    return keys.map(() => null);
  }

  async find(): Promise<RowVersion[]> {
    return [];
  }

  async indexStatus(): Promise<IndexBuildStatus> {
    return { state: 'done' };
  }

  async delta(afterLsn: number, limit: number): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
    this.deltaCalls++;
    if (this.failing) throw this.failing;
    const versions = this.log.slice(afterLsn, afterLsn + limit);
    return { versions, lastLsn: afterLsn + versions.length, watermark: -1 };
  }

  async status(): Promise<IngestionStatus> {
    return {
      id: 'array',
      partitions: [],
      watermark: -1,
      lsn: this.log.length,
      closed: {},
      offsets: {},
      pairs: [],
      retiredEngines: [],
      applied: this.log.length,
      deadLetters: 0,
      conflicts: 0,
    };
  }

  async conflicts(): Promise<ConflictInfo[]> {
    return [];
  }

  async retireEngine(): Promise<IngestionStatus> {
    return this.status();
  }
}

/** Deterministic PRNG (mulberry32). */
export const rng = seededRandom;

/** Builds version records with real UUIDv7 stamps per engine. */
export class Versions {
  private readonly gens = new Map<string, VersionGenerator>();
  /** Latest version per key (JSON of key) for `prev`. */
  private readonly latest = new Map<string, string>();

  constructor(private readonly table: TableInfo) {}

  /** One version of `row` (or a delete of `key` when row is null). */
  make(op: VersionRecord['op'], key: Value[], row: Row | null, commitTs: number, engine = 'e1'): VersionRecord {
    let g = this.gens.get(engine);
    if (!g) this.gens.set(engine, (g = new VersionGenerator()));
    const version = g.next(commitTs);
    const k = JSON.stringify(key, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
    const prev = op === 'insert' ? null : (this.latest.get(k) ?? null);
    this.latest.set(k, version);
    return { table: this.table.name, key, version, prev, op, commitTs, engine, row };
  }
}

/** DESIGN §4 LWW: higher (commitTs, engine, version) wins. */
function newer(a: VersionRecord, b: VersionRecord): boolean {
  if (a.commitTs !== b.commitTs) return a.commitTs > b.commitTs;
  if (a.engine !== b.engine) return a.engine > b.engine;
  return a.version > b.version;
}

/** Independent model of the latest view: latest version per key, deletes dropped (or every non-delete for append-only). */
export function modelRows(table: TableInfo, versions: VersionRecord[]): Row[] {
  if (table.options.appendOnly) return versions.filter((v) => v.op !== 'delete').map((v) => v.row as Row);
  const best = new Map<string, VersionRecord>();
  for (const v of versions) {
    const k = JSON.stringify(v.key, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
    const cur = best.get(k);
    if (!cur || newer(v, cur)) best.set(k, v);
  }
  return [...best.values()].filter((v) => v.op !== 'delete').map((v) => v.row as Row);
}

function duckValue(v: Value, type: string): DuckDBValue {
  if (v === null) return null;
  switch (type) {
    case 'TIMESTAMP':
      return new DuckDBTimestampValue(v as bigint);
    case 'TIMESTAMPTZ':
      return new DuckDBTimestampTZValue(v as bigint);
    case 'DATE':
      return new DuckDBDateValue(v as number);
    case 'UUID':
      return DuckDBUUIDValue.fromUint128(BigInt(`0x${(v as string).replaceAll('-', '')}`));
    default:
      return v;
  }
}

/** A plain in-memory DuckDB holding the expected rows as ordinary tables. */
export class Reference {
  private constructor(
    private readonly db: DuckDBInstance,
    readonly conn: DuckDBConnection,
  ) {}

  static async create(): Promise<Reference> {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`SET TimeZone = 'UTC'; SET default_null_order = 'nulls_last_on_asc_first_on_desc'; SET integer_division = true;`);
    return new Reference(db, conn);
  }

  /** (Re)load `<table>` with the model's latest rows and `<table>__history` with every version. */
  async load(table: TableInfo, versions: VersionRecord[]): Promise<void> {
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const cols = table.columns.map((c) => `${q(c.name)} ${duckdbType(c.type)}`).join(', ');
    await this.conn.run(`CREATE OR REPLACE TABLE ${q(table.name)} (${cols})`);
    await this.conn.run(
      `CREATE OR REPLACE TABLE ${q(`${table.name}__history`)} (${cols}, "_ts" TIMESTAMP, "_version" UUID, "_op" VARCHAR, "_engine" VARCHAR)`,
    );
    const types = table.columns.map((c) => duckdbType(c.type));
    const a = await this.conn.createAppender(table.name);
    for (const row of modelRows(table, versions)) {
      table.columns.forEach((c, i) => {
        a.appendValue(duckValue(row[c.name] ?? null, types[i] as string), a.columnType(i));
      });
      a.endRow();
    }
    a.closeSync();
    const h = await this.conn.createAppender(`${table.name}__history`);
    for (const v of versions) {
      table.columns.forEach((c, i) => {
        const kp = table.primaryKey.indexOf(c.name);
        const val = v.row ? (v.row[c.name] ?? null) : kp >= 0 ? (v.key[kp] ?? null) : null;
        h.appendValue(duckValue(val, types[i] as string), h.columnType(i));
      });
      h.appendValue(new DuckDBTimestampValue(BigInt(v.commitTs) * 1000n));
      h.appendValue(duckValue(v.version, 'UUID'));
      h.appendValue(v.op);
      h.appendValue(v.engine);
      h.endRow();
    }
    h.closeSync();
  }

  /** Run `sql` with `params` and convert like the shard does. */
  async query(sql: string, params: Literal[] = []): Promise<QueryResult> {
    const stmt = await this.conn.prepare(sql);
    try {
      stmt.bind(params as DuckDBValue[]);
      return await convertResult(await stmt.run());
    } finally {
      stmt.destroySync();
    }
  }

  close(): void {
    this.conn.disconnectSync();
    this.db.closeSync();
  }
}

/** Comparable text of a result's columns and rows (bigint-safe; scan statistics and notices left out). */
export function show(r: QueryResult): string {
  return JSON.stringify({ columns: r.columns, rows: r.rows }, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** Assert two results are equal; on failure name the first differing row (short message). */
export function assertSameResult(got: QueryResult, want: QueryResult, sql: string): void {
  const j = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
  if (j(got.columns) !== j(want.columns)) throw new Error(`${sql}: columns ${j(got.columns)} ≠ ${j(want.columns)}`);
  const n = Math.max(got.rows.length, want.rows.length);
  for (let i = 0; i < n; i++) {
    if (j(got.rows[i]) !== j(want.rows[i])) {
      throw new Error(
        `${sql}: row ${i} is ${j(got.rows[i])}, expected ${j(want.rows[i])} (${got.rows.length} vs ${want.rows.length} rows)`,
      );
    }
  }
}
