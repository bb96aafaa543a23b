/**
 * Test helpers for the OLAP shard suites (not part of the public entry): an array-backed
 * {@link IngestionApi}, a seeded workload generator, and a reference DuckDB that holds the same
 * final rows loaded directly, so answers are compared, never hard-coded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, DuckDBTimestampValue, DuckDBUUIDValue, type DuckDBValue } from '@duckdb/node-api';
import {
  Catalog,
  type ConflictInfo,
  DEFAULT_TABLE_OPTIONS,
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
import { columnCodec, convertResult } from '@stratum/shared/duckdb';
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

  async delta(
    afterLsn: number,
    limit: number,
    skip?: Readonly<Record<string, number>>,
  ): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
    this.deltaCalls++;
    if (this.failing) throw this.failing;
    const examined = this.log.slice(afterLsn, afterLsn + limit);
    const versions = examined.filter((v) => !(v.commitTs <= (skip?.[v.table] ?? Number.NEGATIVE_INFINITY)));
    return { versions, lastLsn: afterLsn + examined.length, watermark: -1 };
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
    return { table: this.table.storage, key, version, prev, op, commitTs, engine, row };
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

  /**
   * (Re)load `<table>` with the model's latest rows and `<table>__history` with every version,
   * visible columns by name in their view types (rows are keyed by field; a field a row lacks
   * is the column's missing value).
   */
  async load(table: TableInfo, versions: VersionRecord[]): Promise<void> {
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const visible = table.columns.filter((c) => !c.hidden);
    const codecs = visible.map((c) => columnCodec(c.type, c.typmod));
    const fieldValue = (v: VersionRecord, c: TableInfo['columns'][number]): Value => {
      const f = c.field ?? c.name;
      const kp = table.primaryKey.indexOf(f);
      if (!v.row) return kp >= 0 ? (v.key[kp] ?? null) : null;
      const x = v.row[f];
      return x === undefined ? (c.missing ?? null) : x;
    };
    const fill = async (name: string, rows: Value[][], extra: string) => {
      const raw = `${name}__raw`;
      const rawCols = visible.map((c, i) => `${q(c.name)} ${(codecs[i] as { rawSql: string }).rawSql}`);
      await this.conn.run(`CREATE OR REPLACE TABLE ${q(raw)} (${[...rawCols, ...(extra ? [extra] : [])].join(', ')})`);
      const a = await this.conn.createAppender(raw);
      for (const row of rows) {
        row.forEach((v, i) => {
          const codec = codecs[i];
          a.appendValue(v === null ? null : codec ? (codec.toRaw(v) ?? null) : (v as DuckDBValue), a.columnType(i));
        });
        a.endRow();
      }
      a.closeSync();
      const sel = visible.map((c, i) => {
        const codec = codecs[i] as (typeof codecs)[number];
        return `${codec.toView(codec.fromRaw(q(c.name)))} AS ${q(c.name)}`;
      });
      const sys = extra ? ', "_ts", "_version", "_op", "_engine"' : '';
      await this.conn.run(`CREATE OR REPLACE TABLE ${q(name)} AS SELECT ${sel.join(', ')}${sys} FROM ${q(raw)}; DROP TABLE ${q(raw)};`);
    };
    const latest = modelRows(table, versions).map((row) =>
      visible.map((c) => {
        const x = row[c.field ?? c.name];
        return x === undefined ? (c.missing ?? null) : x;
      }),
    );
    await fill(table.name, latest, '');
    const hist = versions.map((v) => [
      ...visible.map((c) => fieldValue(v, c)),
      new DuckDBTimestampValue(BigInt(v.commitTs) * 1000n),
      DuckDBUUIDValue.fromUint128(BigInt(`0x${v.version.replaceAll('-', '')}`)),
      v.op,
      v.engine,
    ]) as Value[][];
    await fill(`${table.name}__history`, hist, '"_ts" TIMESTAMP, "_version" UUID, "_op" VARCHAR, "_engine" VARCHAR');
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
