/**
 * The catalog: relations (tables, views, sequences and their indexes and constraints) from
 * DDL, plus per-table options from the config file. The catalog is a log of
 * {@link DdlEvent}s published on the bus's catalog stream; every service replays it on start
 * and follows it, so all services agree on schemas by catalog version (the position of the
 * last applied event, 1-based; 0 = empty). See docs/architecture.md "Catalog".
 *
 * Two name spaces, as in PostgreSQL:
 * - the SQL level speaks **names** (tables, columns), which RENAME changes;
 * - the storage level speaks **storage names** of tables (`TableDef.storage`: the `table`
 *   of change events, LevelDB/LMDB keys, OLAP directories) and **fields** of columns
 *   (`ColumnDef.field`: the key of a value in a stored row, a Parquet column name). Both are
 *   stable for a relation's life and never reused, so DROP, TRUNCATE (a new storage name, like
 *   PostgreSQL's relfilenode) and RENAME are catalog changes only, and a new table of an old
 *   name never sees old rows.
 *
 * Primary keys, indexes, constraints and compiled expressions refer to columns by field.
 * Tables created without a primary key get a hidden `_rowid` column (a UUIDv7 given by the
 * TX engine at insert) as their storage key; `SELECT *` never shows it.
 */
import { SchemaError, SqlState } from './errors.ts';
import type { Expr } from './tiers.ts';
import type { SqlType, Value } from './types.ts';

/** An expression kept in the catalog: PostgreSQL text (for `pg_get_expr`, EXPLAIN) and its compiled form. */
export interface ExprDef {
  /** SQL text as PostgreSQL would print it (deparsed). */
  sql: string;
  /** Compiled, typed expression over the table's fields (see `Expr` in tiers.ts). */
  expr: Expr;
  /** Contains a volatile call (nextval, gen_random_uuid, random, clock_timestamp): evaluate per row. */
  volatile?: boolean;
}

/** A column of a table. */
export interface ColumnDef {
  name: string;
  type: SqlType;
  notNull: boolean;
  /**
   * PostgreSQL's atttypmod: undefined or -1 = none; `varchar(n)`/`char(n)`: n + 4;
   * `numeric(p, s)`: ((p << 16) | s) + 4 (see {@link numericTypmod}).
   */
  typmod?: number;
  /** Key of this column's value in stored rows; default `name`. Stable across RENAME COLUMN, never reused. */
  field?: string;
  /** PostgreSQL attnum: 1-based, never reused in a table; default position + 1. */
  attnum?: number;
  /** DEFAULT expression (serial and identity columns: `nextval('seq')`). */
  default?: ExprDef;
  /**
   * Value of rows stored before this column was added (PostgreSQL's attmissingval): the ADD
   * COLUMN default when it was a constant; undefined = NULL.
   */
  missing?: Value;
  /** `GENERATED ALWAYS | BY DEFAULT AS IDENTITY`. */
  identity?: 'always' | 'by_default';
  /** Name of the sequence owned by this column (serial, identity). */
  sequence?: string;
  /** A system column no `SELECT *` shows (`_rowid` of tables without a primary key). */
  hidden?: boolean;
  /** COMMENT ON COLUMN. */
  comment?: string;
}

/** Referential action of a foreign key (PostgreSQL 15 §5.4.5). */
export type FkAction = 'no_action' | 'restrict' | 'cascade' | 'set_null' | 'set_default';

/** A table constraint. Column lists are fields. */
export type ConstraintDef =
  /** Backed by the unique index `index` (for `primary`, the storage key unless the table has a `_rowid`). */
  | { kind: 'primary' | 'unique'; name: string; columns: string[]; index: string }
  | { kind: 'check'; name: string; check: ExprDef }
  | {
      kind: 'foreign';
      name: string;
      columns: string[];
      /** Referenced table by name as of the event; the catalog keeps it current across RENAME. */
      refTable: string;
      /** Referenced fields (a primary key or unique constraint of `refTable`). */
      refColumns: string[];
      onDelete: FkAction;
      onUpdate: FkAction;
      /** oid of the referenced table, set by the catalog when it applies the event. */
      refOid?: number;
    };

/**
 * A secondary index, maintained by the TX engines and ingestion (DESIGN §7: lookups by it are
 * point reads). Built while writes continue: `building` until every row tier reported it
 * complete, then `valid` (PostgreSQL's indisvalid); the planner uses valid ones only.
 */
export interface IndexDef {
  name: string;
  /** Assigned by the catalog. */
  oid?: number;
  /** Indexed fields, in order. */
  columns: string[];
  unique: boolean;
  state: 'building' | 'valid';
  /** A primary key or unique constraint owns it (DROP INDEX refuses; DROP CONSTRAINT drops it). */
  constraint?: string;
}

/** A table's schema as created and altered by DDL. */
export interface TableDef {
  name: string;
  columns: ColumnDef[];
  /** Fields of the storage key, in key order: the declared primary key, or `['_rowid']`. */
  primaryKey: string[];
  /** Assigned by the catalog when it applies `create_table`. */
  oid?: number;
  /** Storage name (see the module comment); default `name`. Set by the router to a fresh name for every new table and TRUNCATE. */
  storage?: string;
  constraints?: ConstraintDef[];
  indexes?: IndexDef[];
  /** COMMENT ON TABLE. */
  comment?: string;
  /** `WITH (…)` storage parameters as given (accepted, not used). */
  reloptions?: Record<string, string>;
  /** Next attnum to give a column (attnums and fields are never reused); default columns + 1. */
  nextAttnum?: number;
}

/** A sequence (CREATE SEQUENCE, serial, identity). Values are given out in claimed ranges, unique across nodes. */
export interface SequenceDef {
  name: string;
  oid?: number;
  type: 'smallint' | 'integer' | 'bigint';
  start: bigint;
  increment: bigint;
  min: bigint;
  max: bigint;
  cycle: boolean;
  /** Values a node claims at once (CACHE); at least 1. */
  cache: number;
  /** `OWNED BY table.column` (dropped with it). */
  ownedBy?: { table: string; column: string };
  comment?: string;
}

/** A view: its query text, inlined where it is used. */
export interface ViewDef {
  name: string;
  oid?: number;
  /** The SELECT, as PostgreSQL text. */
  sql: string;
  /** Output columns (names and types), as the view was created. */
  columns: { name: string; type: SqlType }[];
  comment?: string;
}

/**
 * One catalog change. Published on the bus catalog stream ahead of any data that depends on it.
 * Relations are named as they are when the event applies; the catalog assigns oids in log
 * order, so every service assigns the same ones.
 */
export type DdlEvent =
  | { kind: 'create_table'; table: TableDef; at: number }
  /** A new definition of table `name` (ALTER TABLE, CREATE/DROP INDEX, TRUNCATE, COMMENT); `table.name` may differ (RENAME TO). */
  /**
   * `ifVersion`: applied only when the table's definition is still the one changed at that
   * catalog version (`TableInfo.defVersion`), so concurrent ALTERs cannot overwrite each other.
   */
  | { kind: 'replace_table'; name: string; table: TableDef; at: number; ifVersion?: number }
  | { kind: 'drop_table'; name: string; at: number }
  | { kind: 'create_sequence'; sequence: SequenceDef; at: number }
  | { kind: 'replace_sequence'; name: string; sequence: SequenceDef; at: number }
  | { kind: 'drop_sequence'; name: string; at: number }
  /**
   * A node claims `count` values of sequence `name`; the catalog gives it the next range in log
   * order, found with {@link Catalog.claimed} by `claim` (unique per claim).
   */
  | { kind: 'seq_claim'; name: string; claim: string; count: number; at: number }
  /** setval(name, value, isCalled). */
  | { kind: 'seq_set'; name: string; value: bigint; isCalled: boolean; at: number }
  | { kind: 'create_view'; view: ViewDef; replace: boolean; at: number }
  | { kind: 'drop_view'; name: string; at: number }
  /** A transaction block's DDL, applied atomically (all or nothing) at its COMMIT. */
  | { kind: 'batch'; events: DdlEvent[]; at: number };

/** Per-table options that live in the config file (DESIGN §9). */
export interface TableOptions {
  /** Column used for OLAP time partitions and time-range routing; default: commit time. */
  timeColumn?: string;
  /** OLAP time partition granularity (olap-shard `layout.ts`); undefined = the shard's default (month). */
  partition?: 'day' | 'month' | 'none';
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
  oid: number;
  storage: string;
  options: TableOptions;
  /** Column name → index in `columns`. */
  columnIndex: Map<string, number>;
  /** Field → index in `columns`. */
  fieldIndex: Map<string, number>;
  /** Indexes of storage-key columns in `columns`, in key order. */
  pkIndexes: number[];
  /** The table has no declared primary key: its storage key is the hidden `_rowid`. */
  rowid: boolean;
  /** Catalog version of the event that last changed this table's definition. */
  defVersion: number;
}

/** A sequence with its claim state. */
export interface SequenceInfo extends SequenceDef {
  oid: number;
  /** The next value not yet claimed by any node (before bounds/cycling are applied). */
  next: bigint;
  /** Catalog version of its last setval / definition change: nodes drop ranges claimed before it. */
  resetVersion: number;
}

/** A view as the catalog holds it. */
export interface ViewInfo extends ViewDef {
  oid: number;
}

/** Name of the hidden storage-key column of tables without a primary key. */
export const ROWID = '_rowid';

/** First oid the catalog assigns (PostgreSQL's FirstNormalObjectId). */
export const FIRST_OID = 16384;

/** Names a user may not give to columns (system columns of the tiers and the rowid). */
const RESERVED_COLUMNS = new Set(['_ts', '_version', '_op', '_engine', '_key', '_lsn', ROWID]);

/** The storage field of a column. */
export function fieldOf(c: ColumnDef): string {
  return c.field ?? c.name;
}

/**
 * A column's value in a stored row: the row's field, else the column's missing value (rows
 * stored before ADD COLUMN), else NULL.
 */
export function readField(row: Readonly<Record<string, Value>>, c: ColumnDef): Value {
  const v = row[c.field ?? c.name];
  return v === undefined ? (c.missing ?? null) : v;
}

/** PostgreSQL's typmod of `numeric(p, s)`. */
export function numericTypmod(precision: number, scale: number): number {
  return ((precision << 16) | (scale & 0xffff)) + 4;
}

/** Precision and scale of a numeric typmod, or undefined for none. */
export function numericPrecision(typmod: number | undefined): { precision: number; scale: number } | undefined {
  if (typmod === undefined || typmod < 4) return undefined;
  const t = typmod - 4;
  return { precision: (t >> 16) & 0xffff, scale: ((t & 0xffff) << 16) >> 16 };
}

/** Length of a `varchar(n)` / `char(n)` typmod, or undefined. */
export function charLength(typmod: number | undefined): number | undefined {
  return typmod === undefined || typmod < 4 ? undefined : typmod - 4;
}

/**
 * Validate a table definition from CREATE TABLE / ALTER TABLE.
 * @throws SchemaError 42701 duplicate column, 42P16 invalid key, 42939 reserved names, 42703 unknown key column.
 */
export function validateTableDef(def: TableDef): void {
  const names = new Set<string>();
  const fields = new Set<string>();
  if (def.columns.filter((c) => !c.hidden).length === 0 && def.columns.length === 0) {
    throw new SchemaError(SqlState.invalidTableDefinition, `table "${def.name}" must have at least one column`);
  }
  if (def.name.startsWith('stratum_') || def.name.includes('__')) {
    throw new SchemaError('42939', `table name "${def.name}" is reserved (prefix "stratum_" and "__" are for system tables)`);
  }
  for (const c of def.columns) {
    if (names.has(c.name)) throw new SchemaError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`);
    if (RESERVED_COLUMNS.has(c.name) && !(c.hidden && c.name === ROWID)) {
      throw new SchemaError('42939', `column name "${c.name}" is reserved for system columns`);
    }
    names.add(c.name);
    fields.add(fieldOf(c));
  }
  if (def.primaryKey.length === 0) {
    throw new SchemaError(SqlState.invalidTableDefinition, `table "${def.name}" has no storage key`);
  }
  for (const k of def.primaryKey) {
    if (!fields.has(k)) throw new SchemaError(SqlState.undefinedColumn, `column "${k}" named in key does not exist`);
  }
}

/** Listener of applied catalog events (after the state changed). */
export type CatalogListener = (version: number, ev: DdlEvent) => void;

/** In-memory catalog state. Not thread-shared: each service owns one and feeds it from the catalog stream. */
export class Catalog {
  private readonly tables = new Map<string, TableInfo>();
  private readonly byStorageName = new Map<string, TableInfo>();
  private readonly sequences = new Map<string, SequenceInfo>();
  private readonly views = new Map<string, ViewInfo>();
  /** Storage names that belonged to dropped or truncated tables (their data is garbage). */
  private readonly dead = new Set<string>();
  /** Ranges of recent sequence claims, by claim id (kept for the last {@link MAX_CLAIMS}). */
  private readonly claims = new Map<string, { first: bigint; last: bigint; step: bigint; version: number }>();
  private optionsOf: (table: string) => TableOptions;
  private versionNow = 0;
  private nextOid = FIRST_OID;
  private readonly waiters: { version: number; resolve: () => void }[] = [];
  private readonly listeners: CatalogListener[] = [];
  /** Recent versions whose event did not fit the state and changed nothing. */
  private readonly refused = new Set<number>();

  /** @param optionsOf per-table options from config (defaults when the table has no entry). */
  constructor(optionsOf: (table: string) => TableOptions = () => DEFAULT_TABLE_OPTIONS) {
    this.optionsOf = optionsOf;
  }

  /**
   * A private copy of the state (no listeners or waiters): a transaction block applies its
   * pending DDL to one, so its own later statements see it before COMMIT publishes it.
   */
  clone(): Catalog {
    const c = new Catalog(this.optionsOf);
    for (const [k, v] of this.tables) c.tables.set(k, v);
    for (const [k, v] of this.byStorageName) c.byStorageName.set(k, v);
    for (const [k, v] of this.sequences) c.sequences.set(k, { ...v });
    for (const [k, v] of this.views) c.views.set(k, v);
    for (const d of this.dead) c.dead.add(d);
    c.versionNow = this.versionNow;
    c.nextOid = this.nextOid;
    return c;
  }

  /** Apply an event to this (private, cloned) state without advancing the version. @returns false when it did not fit. */
  applyPrivately(ev: DdlEvent): boolean {
    return this.applyEvent(this.versionNow, ev);
  }

  /** True when the event at `version` was applied (false: it no longer fit the state, e.g. a concurrent DDL won). */
  applied(version: number): boolean {
    return version <= this.versionNow && !this.refused.has(version);
  }

  /** Catalog version: number of applied events. */
  get version(): number {
    return this.versionNow;
  }

  /** Replace the per-table options source (config reload); applies to all tables at once. */
  setOptions(optionsOf: (table: string) => TableOptions): void {
    this.optionsOf = optionsOf;
    for (const [name, t] of this.tables) this.put({ ...t, options: optionsOf(name) });
  }

  /** Be told about every applied event (after the state changed). */
  onApply(l: CatalogListener): void {
    this.listeners.push(l);
  }

  /**
   * The {@link TableInfo} a definition would get with the current options (nothing is stored).
   * Missing oid/storage/attnum/field get their defaults.
   */
  infoOf(t: TableDef, oid = t.oid ?? 0, defVersion = this.versionNow): TableInfo {
    const columns = t.columns.map((c, i) => ({ ...c, field: c.field ?? c.name, attnum: c.attnum ?? i + 1 }));
    const fieldIndex = new Map(columns.map((c, i) => [c.field, i]));
    return {
      ...t,
      columns,
      oid,
      storage: t.storage ?? t.name,
      options: this.optionsOf(t.name),
      columnIndex: new Map(columns.map((c, i) => [c.name, i])),
      fieldIndex,
      pkIndexes: t.primaryKey.map((k) => fieldIndex.get(k) ?? columns.findIndex((c) => c.name === k)),
      rowid: t.primaryKey.length === 1 && t.primaryKey[0] === ROWID,
      defVersion,
    };
  }

  private put(t: TableInfo): void {
    this.tables.set(t.name, t);
    this.byStorageName.set(t.storage, t);
  }

  private takeOid(): number {
    return this.nextOid++;
  }

  /** True when `name` is used by any relation (table, view, sequence, index). */
  relationExists(name: string): boolean {
    if (this.tables.has(name) || this.views.has(name) || this.sequences.has(name)) return true;
    for (const t of this.tables.values()) if (t.indexes?.some((i) => i.name === name)) return true;
    return false;
  }

  /**
   * Apply the event at catalog position `version` (must be the next one; older ones are ignored
   * as replays). An event that no longer fits the state (a replayed or racing DDL: the table
   * already exists, or is gone) changes nothing, so every service ends in the same state.
   */
  apply(version: number, ev: DdlEvent | null): void {
    if (version <= this.versionNow) return;
    this.versionNow = version;
    if (ev && !this.applyEvent(version, ev)) {
      this.refused.add(version);
      if (this.refused.size > 4096) this.refused.delete(this.refused.values().next().value as number);
    }
    if (ev) for (const l of this.listeners) l(version, ev);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.version <= version) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private applyEvent(version: number, ev: DdlEvent): boolean {
    switch (ev.kind) {
      case 'create_table': {
        const t = ev.table;
        if (this.relationExists(t.name) || (t.storage !== undefined && (this.dead.has(t.storage) || this.byStorageName.has(t.storage))))
          return false;
        const oid = this.takeOid();
        this.put(this.infoOf(this.withOids(t, oid, undefined), oid, version));
        return true;
      }
      case 'replace_table': {
        const old = this.tables.get(ev.name);
        if (!old || (ev.ifVersion !== undefined && old.defVersion !== ev.ifVersion)) return false;
        const def = this.withOids(ev.table, old.oid, old);
        if (def.name !== old.name && this.relationExists(def.name)) return false;
        this.tables.delete(old.name);
        this.byStorageName.delete(old.storage);
        const next = this.infoOf(def, old.oid, version);
        if (next.storage !== old.storage) this.dead.add(old.storage);
        this.put(next);
        if (next.name !== old.name) this.renameReferences(old.name, next.name);
        return true;
      }
      case 'drop_table': {
        const old = this.tables.get(ev.name);
        if (!old) return false;
        this.tables.delete(old.name);
        this.byStorageName.delete(old.storage);
        this.dead.add(old.storage);
        for (const [name, s] of this.sequences) if (s.ownedBy?.table === old.name) this.sequences.delete(name);
        return true;
      }
      case 'create_sequence': {
        const s = ev.sequence;
        if (this.relationExists(s.name)) return false;
        this.sequences.set(s.name, { ...s, oid: this.takeOid(), next: s.start, resetVersion: version });
        return true;
      }
      case 'replace_sequence': {
        const old = this.sequences.get(ev.name);
        if (!old) return false;
        this.sequences.delete(ev.name);
        this.sequences.set(ev.sequence.name, { ...ev.sequence, oid: old.oid, next: old.next, resetVersion: version });
        return true;
      }
      case 'drop_sequence':
        return this.sequences.delete(ev.name);
      case 'seq_claim': {
        const s = this.sequences.get(ev.name);
        if (!s) return false;
        const range = claimRange(s, BigInt(Math.max(1, ev.count)));
        if (!range) {
          this.claims.set(ev.claim, { first: 0n, last: -1n, step: s.increment, version });
        } else {
          s.next = range.next;
          this.claims.set(ev.claim, { first: range.first, last: range.last, step: s.increment, version });
        }
        if (this.claims.size > MAX_CLAIMS) {
          const oldest = this.claims.keys().next().value;
          if (oldest !== undefined) this.claims.delete(oldest);
        }
        return true;
      }
      case 'seq_set': {
        const s = this.sequences.get(ev.name);
        if (!s) return false;
        s.next = ev.isCalled ? ev.value + s.increment : ev.value;
        s.resetVersion = version;
        return true;
      }
      case 'create_view': {
        const v = ev.view;
        const old = this.views.get(v.name);
        if (old && ev.replace) {
          this.views.set(v.name, { ...v, oid: old.oid });
          return true;
        }
        if (this.relationExists(v.name)) return false;
        this.views.set(v.name, { ...v, oid: this.takeOid() });
        return true;
      }
      case 'drop_view':
        return this.views.delete(ev.name);
      case 'batch': {
        // All or nothing: try on a copy first.
        const trial = this.clone();
        if (!ev.events.every((e) => trial.applyEvent(version, e))) return false;
        for (const e of ev.events) this.applyEvent(version, e);
        return true;
      }
    }
  }

  /** A definition with oids for its new indexes and the referenced oids of its foreign keys. */
  private withOids(t: TableDef, self: number, old: TableInfo | undefined): TableDef {
    const oldIdx = new Map((old?.indexes ?? []).map((i) => [i.name, i.oid]));
    const out: TableDef = { ...t };
    if (t.indexes) out.indexes = t.indexes.map((i) => ({ ...i, oid: i.oid ?? oldIdx.get(i.name) ?? this.takeOid() }));
    if (t.constraints) {
      out.constraints = t.constraints.map((c): ConstraintDef => {
        if (c.kind !== 'foreign') return c;
        const refOid = c.refTable === t.name || c.refTable === old?.name ? self : (this.tables.get(c.refTable)?.oid ?? c.refOid);
        return refOid === undefined ? c : { ...c, refOid };
      });
    }
    return out;
  }

  /** Foreign keys and owned sequences follow a renamed table. */
  private renameReferences(from: string, to: string): void {
    for (const t of [...this.tables.values()]) {
      if (!t.constraints?.some((c) => c.kind === 'foreign' && c.refTable === from)) continue;
      this.put({ ...t, constraints: t.constraints.map((c) => (c.kind === 'foreign' && c.refTable === from ? { ...c, refTable: to } : c)) });
    }
    for (const s of this.sequences.values()) if (s.ownedBy?.table === from) s.ownedBy = { ...s.ownedBy, table: to };
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

  /** The table named `name`, or undefined. */
  find(name: string): TableInfo | undefined {
    return this.tables.get(name);
  }

  /** The table whose storage name is `storage` (what change events and tier APIs carry), or undefined. */
  byStorage(storage: string): TableInfo | undefined {
    return this.byStorageName.get(storage);
  }

  /** True when `storage` belonged to a dropped or truncated table: its data is garbage. */
  isDead(storage: string): boolean {
    return this.dead.has(storage);
  }

  /** Storage names of dropped and truncated tables. */
  deadStorages(): string[] {
    return [...this.dead];
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

  /** The sequence, or undefined. */
  sequence(name: string): SequenceInfo | undefined {
    return this.sequences.get(name);
  }

  /** All sequences. */
  listSequences(): SequenceInfo[] {
    return [...this.sequences.values()];
  }

  /** The view, or undefined. */
  view(name: string): ViewInfo | undefined {
    return this.views.get(name);
  }

  /** All views. */
  listViews(): ViewInfo[] {
    return [...this.views.values()];
  }

  /**
   * The range a `seq_claim` event gave: values `first`, `first + step`, … up to `last`
   * inclusive (empty when `last` is before `first`: the sequence was exhausted), and the
   * catalog version it was applied at. Undefined when the claim is unknown (not applied yet).
   */
  claimed(claim: string): { first: bigint; last: bigint; step: bigint; version: number } | undefined {
    return this.claims.get(claim);
  }

  /** Tables with a foreign key referencing table `oid`. */
  referencing(oid: number): TableInfo[] {
    return this.list().filter((t) => t.constraints?.some((c) => c.kind === 'foreign' && c.refOid === oid));
  }
}

/** Sequence claims remembered for {@link Catalog.claimed}. */
const MAX_CLAIMS = 4096;

/**
 * The next `count` values of sequence `s` from `s.next`, honouring increment, bounds and CYCLE
 * (PostgreSQL 15 CREATE SEQUENCE). Undefined when no value is left (nextval then fails 2200H).
 */
function claimRange(s: SequenceInfo, count: bigint): { first: bigint; last: bigint; next: bigint } | undefined {
  const inc = s.increment;
  let first = s.next;
  if (inc > 0n ? first > s.max : first < s.min) {
    if (!s.cycle) return undefined;
    first = inc > 0n ? s.min : s.max;
  }
  let last = first + inc * (count - 1n);
  if (inc > 0n && last > s.max) last = first + ((s.max - first) / inc) * inc;
  if (inc < 0n && last < s.min) last = first - ((first - s.min) / -inc) * -inc;
  return { first, last, next: last + inc };
}

/**
 * The column of `table` named `name`.
 * @throws SchemaError 42703 naming the column and the table.
 */
export function columnOf(table: TableInfo, name: string): ColumnDef {
  const i = table.columnIndex.get(name);
  const c = i === undefined ? undefined : table.columns[i];
  if (!c) throw new SchemaError(SqlState.undefinedColumn, `column "${name}" of relation "${table.name}" does not exist`);
  return c;
}

/** The column of `table` with storage field `field`. @throws SchemaError 42703. */
export function columnByField(table: TableInfo, field: string): ColumnDef {
  const i = table.fieldIndex.get(field);
  const c = i === undefined ? undefined : table.columns[i];
  if (!c) throw new SchemaError(SqlState.undefinedColumn, `column with field "${field}" of relation "${table.name}" does not exist`);
  return c;
}
