/**
 * The catalog: table schemas from DDL plus per-table options from the config file.
 * The catalog is a log of {@link DdlEvent}s published on the bus's catalog stream; every
 * service replays it on start and follows it, so all services agree on schemas by
 * catalog version (the position of the last applied event, 1-based; 0 = empty).
 */
import { SchemaError, SqlState } from './errors.ts';
import type { SqlType } from './types.ts';

/** A column of a table. */
export interface ColumnDef {
  name: string;
  type: SqlType;
  notNull: boolean;
}

/** A table's schema as created by DDL. `primaryKey` lists column names in key order (at least one). */
export interface TableDef {
  name: string;
  columns: ColumnDef[];
  primaryKey: string[];
}

/** One catalog change. Published on the bus catalog stream ahead of any data for the table. */
export type DdlEvent = { kind: 'create_table'; table: TableDef; at: number };

/** Per-table options that live in the config file (DESIGN §9). */
export interface TableOptions {
  /** Column used for day partitioning and time-range routing; default: commit time. */
  timeColumn?: string;
  /** Every version is a row (no latest-version view). */
  appendOnly: boolean;
  /** Conflict policy between TX engines (DESIGN §4). */
  conflict: 'lww' | 'reject';
  /** Rows older than this (ms) that ingestion has merged are evicted from TX engines (DESIGN §2 step 6). */
  txRetentionMs: number;
  /** How far back (ms) the table's rows stay in the ingestion tier (DESIGN §7 routing); undefined = `ingestion.retention_ms`, 7 d by default. */
  ingestionRetentionMs?: number;
  /** OLAP compaction drops versions superseded longer ago than this (ms); undefined = keep all. */
  historyRetentionMs?: number;
  /** Column whose value picks the OLAP shard (hash over `shards`); see `sharding.ts`. */
  shardKey?: string;
  /** Shard ids holding the table (default: all shards of the cluster). */
  shards?: string[];
  /** Time sharding (hot/cold) on `timeColumn`: rows before `untilMs` go to `shard`; the last entry has none. */
  timeShards?: { shard: string; untilMs?: number }[];
  /** Analytical reads leave out unavailable data (with a NOTICE) instead of failing. */
  degradedReads: boolean;
  /**
   * When a commit is acknowledged (DESIGN §2): `local` once durable on the TX engine's disk,
   * `replicated` also once the bus acknowledged it. Undefined = replicated for
   * strict_serializable tables, local otherwise.
   */
  durability?: 'local' | 'replicated';
  /** Consistency mode (DESIGN §6) from `table_consistency`; default monotonic_reads. */
  consistency: {
    mode: 'eventual' | 'bounded_staleness' | 'monotonic_reads' | 'strict_serializable';
    maxStalenessMs?: number;
    allowDegraded: boolean;
  };
}

/** Default options of a table with no entry in the config. */
export const DEFAULT_TABLE_OPTIONS: TableOptions = {
  appendOnly: false,
  conflict: 'lww',
  txRetentionMs: 86_400_000,
  degradedReads: false,
  consistency: { mode: 'monotonic_reads', allowDegraded: false },
};

/** A table with its schema, options and derived lookups. */
export interface TableInfo extends TableDef {
  options: TableOptions;
  /** Column name → index in `columns`. */
  columnIndex: Map<string, number>;
  /** Indexes of primary-key columns in `columns`, in key order. */
  pkIndexes: number[];
}

/** Names a user may not give to tables or columns (system columns and system tables). */
const RESERVED_COLUMNS = new Set(['_ts', '_version', '_op', '_engine', '_key', '_lsn']);

/**
 * Validate a table definition from CREATE TABLE.
 * @throws SchemaError 42701 duplicate column, 42P16 missing/invalid primary key, 42939 reserved names.
 */
export function validateTableDef(def: TableDef): void {
  const seen = new Set<string>();
  if (def.columns.length === 0) {
    throw new SchemaError(SqlState.invalidTableDefinition, `table "${def.name}" must have at least one column`);
  }
  if (def.name.startsWith('stratum_') || def.name.includes('__')) {
    throw new SchemaError('42939', `table name "${def.name}" is reserved (prefix "stratum_" and "__" are for system tables)`);
  }
  for (const c of def.columns) {
    if (seen.has(c.name)) throw new SchemaError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`);
    if (RESERVED_COLUMNS.has(c.name)) {
      throw new SchemaError('42939', `column name "${c.name}" is reserved for system columns`);
    }
    seen.add(c.name);
  }
  if (def.primaryKey.length === 0) {
    throw new SchemaError(
      SqlState.invalidTableDefinition,
      `table "${def.name}" needs a PRIMARY KEY: every row version is identified by its key`,
      { hint: 'Add PRIMARY KEY (col, ...) to the CREATE TABLE statement.' },
    );
  }
  for (const k of def.primaryKey) {
    if (!seen.has(k)) {
      throw new SchemaError(SqlState.undefinedColumn, `column "${k}" named in key does not exist`);
    }
  }
}

/** In-memory catalog state. Not thread-shared: each service owns one and feeds it from the catalog stream. */
export class Catalog {
  private readonly tables = new Map<string, TableInfo>();
  private optionsOf: (table: string) => TableOptions;
  private versionNow = 0;
  private readonly waiters: { version: number; resolve: () => void }[] = [];

  /** @param optionsOf per-table options from config (defaults when the table has no entry). */
  constructor(optionsOf: (table: string) => TableOptions = () => DEFAULT_TABLE_OPTIONS) {
    this.optionsOf = optionsOf;
  }

  /** Catalog version: number of applied events. */
  get version(): number {
    return this.versionNow;
  }

  /** Replace the per-table options source (config reload); applies to all tables at once. */
  setOptions(optionsOf: (table: string) => TableOptions): void {
    this.optionsOf = optionsOf;
    for (const [name, t] of this.tables) this.tables.set(name, { ...t, options: optionsOf(name) });
  }

  /** The {@link TableInfo} a definition would get with the current options (nothing is stored). */
  infoOf(t: TableDef): TableInfo {
    return {
      ...t,
      options: this.optionsOf(t.name),
      columnIndex: new Map(t.columns.map((c, i) => [c.name, i])),
      pkIndexes: t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k)),
    };
  }

  /** Apply the event at catalog position `version` (must be the next one; older ones are ignored as replays). */
  apply(version: number, ev: DdlEvent | null): void {
    if (version <= this.versionNow) return;
    if (ev?.kind === 'create_table') {
      const t = ev.table;
      if (!this.tables.has(t.name)) {
        this.tables.set(t.name, this.infoOf(t));
      }
    }
    this.versionNow = version;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.version <= version) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolve once the catalog has reached `version` (or immediately); rejects after `timeoutMs`. */
  waitFor(version: number, timeoutMs: number): Promise<void> {
    if (this.versionNow >= version) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { version, resolve: () => {} };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new SchemaError(
            SqlState.connectionFailure,
            `catalog version ${version} not received within ${timeoutMs} ms (have ${this.versionNow}); is the bus reachable?`,
          ),
        );
      }, timeoutMs);
      w.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(w);
    });
  }

  /** The table, or undefined. */
  find(name: string): TableInfo | undefined {
    return this.tables.get(name);
  }

  /** The table. @throws SchemaError 42P01 when it does not exist. */
  get(name: string): TableInfo {
    const t = this.tables.get(name);
    if (!t) throw new SchemaError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    return t;
  }

  /** All tables, in creation order. */
  list(): TableInfo[] {
    return [...this.tables.values()];
  }
}

/**
 * The column of `table`.
 * @throws SchemaError 42703 naming the column and the table.
 */
export function columnOf(table: TableInfo, name: string): import('./catalog.ts').ColumnDef {
  const i = table.columnIndex.get(name);
  const c = i === undefined ? undefined : table.columns[i];
  if (!c) throw new SchemaError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
  return c;
}
