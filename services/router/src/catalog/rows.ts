/**
 * Rows of the described catalog relations (relations.ts), generated from Stratum's catalog
 * (docs/architecture.md "System catalogs"). Object identifiers are stable: tables, views,
 * sequences and indexes carry the catalog's oids (assigned in log order from 16384, as
 * PostgreSQL's FirstNormalObjectId); objects the catalog gives none (constraints, defaults,
 * primary-key indexes, roles) get {@link stableOid} of what names them; built-in objects keep
 * PostgreSQL's oids (pg15.generated.ts).
 *
 * Rows are records by column name in the stored representation of the column's Stratum type
 * (shared/src/types.ts); a column a generator leaves out is NULL when PostgreSQL allows NULL
 * there, else its type's zero (`0`, `false`, `''`, an empty array).
 */
import {
  type Catalog,
  type ColumnDef,
  type ConstraintDef,
  coerceLiteral,
  elementType,
  isArrayType,
  PG_TYPE_OID,
  pgTypeName,
  pgTypeOid,
  type SqlType,
  type TableInfo,
  type Value,
} from '@stratum/shared';
import { strOf } from '../analyze/ast.ts';
import { forEachNode } from '../analyze/walk.ts';
import { viewTypmods } from '../plan/origins.ts';
import type { PgSettingRow } from '../settings.ts';
import { parseFirst, parseSelect } from '../sql/parse.ts';
import {
  PG15_AMS,
  PG15_COLLATIONS,
  PG15_LANGUAGES,
  PG15_NAMESPACES,
  PG15_PROCS,
  PG15_RELATION_OIDS,
  PG15_RELATIONS,
  PG15_TYPE_FORMATS,
  PG15_TYPES,
  PG15_VIEWS,
} from './pg15.generated.ts';
import type { CatalogColumn, CatalogRelation } from './relations.ts';
import { pgExprText, pgViewDefText, quoteIdentifier } from './ruleutils.ts';

/** Oids of the namespaces (PostgreSQL's). */
export const NSP = { pg_catalog: 11, pg_toast: 99, public: 2200, information_schema: 13207 } as const;
/** Oids of catalog tables used as classid/refclassid (PostgreSQL's). */
export const CLASS = { pg_class: 1259, pg_constraint: 2606, pg_attrdef: 2604, pg_namespace: 2615, pg_type: 1247 } as const;
/** Oid of the bootstrap superuser (PostgreSQL's BOOTSTRAP_SUPERUSERID); further roles get stable oids. */
export const BOOTSTRAP_ROLE = 10;
/** Oid of PostgreSQL's predefined role pg_database_owner (owner of schema public). */
export const DATABASE_OWNER_ROLE = 6171;
/** Oid of the database (PostgreSQL's `postgres` database has 5). */
export const DATABASE_OID = 5;
/** Oids of the heap and btree access methods and of the default collation. */
const HEAP = 2;
const BTREE = 403;
const DEFAULT_COLLATION = 100;

/**
 * A stable oid for an object the catalog assigns none: FNV-1a of `key` mapped into
 * [1e9, 2e9) (well above the catalog's sequential oids, below 2^31 so clients reading oids as
 * signed 32-bit integers read them right).
 */
export function stableOid(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1_000_000_000 + (h % 1_000_000_000);
}

/** A role as pg_roles lists it. */
export interface RoleInfo {
  name: string;
  superuser: boolean;
}

/** A backend as pg_stat_activity lists it. */
export interface ActivityInfo {
  pid: number;
  user: string;
  applicationName: string;
  clientAddr: string | null;
  clientPort: number | null;
  /** ms since the epoch */
  backendStartMs: number;
  xactStartMs: number | null;
  queryStartMs: number | null;
  stateChangeMs: number | null;
  state: string;
  query: string;
}

/** What the catalog relations are generated from. */
export interface CatalogSource {
  catalog: Catalog;
  /** The database name clients connect to. */
  database: string;
  /** Roles (the first is the bootstrap superuser, oid 10). */
  roles(): RoleInfo[];
}

/** What session-scope relations add: the asking session's view of the server. */
export interface SessionSource {
  user: string;
  settings(): PgSettingRow[];
  activity(): Promise<ActivityInfo[]>;
  /** Live row estimate of a table (pg_stat_user_tables.n_live_tup, pg_class.reltuples), when known. */
  liveRows(table: string): Promise<number | undefined>;
}

type Rec = Record<string, Value>;

/** The built-in type row of `oid` as a record (text values as PostgreSQL prints them). */
const TYPE_COLUMNS = (PG15_RELATIONS['pg_catalog.pg_type'] ?? []).map(([n]) => n);
const TYPES_BY_OID = new Map(PG15_TYPES.map((r) => [Number(r[0]), Object.fromEntries(TYPE_COLUMNS.map((n, i) => [n, r[i] ?? null]))]));

/** pg_type facts of a Stratum column type: oid, typlen, typbyval, typalign, typstorage, collation. */
function typeFacts(t: SqlType): { oid: number; len: number; byval: boolean; align: string; storage: string; collation: number } {
  const oid = pgTypeOid(t);
  const r = TYPES_BY_OID.get(oid);
  const coll = ['text', 'varchar', 'char'].includes(elementType(t)) ? DEFAULT_COLLATION : 0;
  return {
    oid,
    len: Number(r?.typlen ?? -1),
    byval: r?.typbyval === 'true',
    align: String(r?.typalign ?? 'i'),
    storage: String(r?.typstorage ?? 'p'),
    collation: coll,
  };
}

/** Oids of PostgreSQL's `record` and `_record` types (the pattern of every row type and its array). */
const PG_RECORD_OID = 2249;
const PG_RECORD_ARRAY_OID = 2287;

/** Oid of the row type (composite pg_type row) of a table or view. */
export function rowTypeOid(relOid: number): number {
  return stableOid(`rowtype:${relOid}`);
}

/** Oid of the array type of a table's or view's row type. */
export function rowArrayTypeOid(relOid: number): number {
  return stableOid(`rowtype[]:${relOid}`);
}

/**
 * pg_type rows (PostgreSQL's text output, in pg_type's column order) of the row types PostgreSQL
 * creates with every table and view (heap_create_with_catalog → AddNewRelationType): a composite
 * type named like the relation and its array type `_name`, both in schema public.
 */
export function rowTypeRows(cat: Catalog): (string | null)[][] {
  const rels = [...cat.list().map((t) => ({ oid: t.oid, name: t.name })), ...cat.listViews().map((v) => ({ oid: v.oid, name: v.name }))];
  const record = TYPES_BY_OID.get(PG_RECORD_OID) ?? {};
  const recordArray = TYPES_BY_OID.get(PG_RECORD_ARRAY_OID) ?? {};
  const row = (base: Record<string, string | null>, over: Record<string, string>) =>
    TYPE_COLUMNS.map((c) => (c in over ? (over[c] ?? null) : (base[c] ?? null)));
  return rels.flatMap((r) => [
    row(record, {
      oid: String(rowTypeOid(r.oid)),
      typname: r.name,
      typnamespace: String(NSP.public),
      typtype: 'c',
      typcategory: 'C',
      typrelid: String(r.oid),
      typarray: String(rowArrayTypeOid(r.oid)),
    }),
    row(recordArray, {
      oid: String(rowArrayTypeOid(r.oid)),
      typname: `_${r.name}`,
      typnamespace: String(NSP.public),
      typtype: 'b',
      typcategory: 'A',
      typelem: String(rowTypeOid(r.oid)),
    }),
  ]);
}
/** Oid of a table's primary-key index (an index of its own when the catalog lists one). */
export function primaryIndexOid(t: TableInfo, c: ConstraintDef & { kind: 'primary' | 'unique' }): number {
  return t.indexes?.find((i) => i.name === c.index)?.oid ?? stableOid(`index:${t.oid}:${c.index}`);
}

/** The primary-key or unique constraint of `t` over exactly `columns` (what a foreign key references). */
export function uniqueConstraintOf(t: TableInfo, columns: string[]): (ConstraintDef & { kind: 'primary' | 'unique' }) | undefined {
  for (const x of t.constraints ?? []) {
    if ((x.kind === 'primary' || x.kind === 'unique') && x.columns.join('\u0000') === columns.join('\u0000')) return x;
  }
  return undefined;
}

/** Oid of a table constraint. */
export function constraintOid(t: TableInfo, name: string): number {
  return stableOid(`constraint:${t.oid}:${name}`);
}

/** An index of a table as the catalog relations list it: primary and unique constraints' indexes included. */
export interface IndexRow {
  oid: number;
  name: string;
  table: TableInfo;
  columns: string[];
  unique: boolean;
  primary: boolean;
  valid: boolean;
  /** The constraint it backs. */
  constraint?: string;
}

/** Every index of a table (constraint indexes first, as PostgreSQL creates them with the table). */
export function indexesOf(t: TableInfo): IndexRow[] {
  const out: IndexRow[] = [];
  const seen = new Set<string>();
  for (const c of t.constraints ?? []) {
    if (c.kind !== 'primary' && c.kind !== 'unique') continue;
    const ix = t.indexes?.find((i) => i.name === c.index);
    out.push({
      oid: primaryIndexOid(t, c),
      name: c.index,
      table: t,
      columns: c.columns,
      unique: true,
      primary: c.kind === 'primary',
      valid: ix ? ix.state === 'valid' : true,
      constraint: c.name,
    });
    seen.add(c.index);
  }
  for (const ix of t.indexes ?? []) {
    if (seen.has(ix.name)) continue;
    out.push({
      oid: ix.oid ?? stableOid(`index:${t.oid}:${ix.name}`),
      name: ix.name,
      table: t,
      columns: ix.columns,
      unique: ix.unique,
      primary: false,
      valid: ix.state === 'valid',
      ...(ix.constraint ? { constraint: ix.constraint } : {}),
    });
  }
  return out;
}

/** Visible columns of a table, with their attnums. */
export function columnsOf(t: TableInfo): (ColumnDef & { attnum: number })[] {
  return t.columns.filter((c) => !c.hidden).map((c, i) => ({ ...c, attnum: c.attnum ?? i + 1 }));
}

function attnums(t: TableInfo, names: string[]): number[] {
  const cols = columnsOf(t);
  return names.map((n) => cols.find((c) => c.name === n)?.attnum ?? 0);
}

/** `CREATE [UNIQUE] INDEX name ON public.t USING btree (a, b)`, as pg_get_indexdef prints it. */
export function indexDef(ix: IndexRow): string {
  return `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdentifier(ix.name)} ON public.${quoteIdentifier(ix.table.name)} USING btree (${ix.columns.map(quoteIdentifier).join(', ')})`;
}

const FK_ACTIONS: Record<string, string> = {
  no_action: 'a',
  restrict: 'r',
  cascade: 'c',
  set_null: 'n',
  set_default: 'd',
};
const FK_WORDS: Record<string, string> = {
  restrict: 'RESTRICT',
  cascade: 'CASCADE',
  set_null: 'SET NULL',
  set_default: 'SET DEFAULT',
};

/** Column types of a table by name, for printing its expressions. */
function columnTypes(t: TableInfo): Map<string, { type: SqlType; typmod?: number }> {
  return new Map(columnsOf(t).map((c) => [c.name, c.typmod === undefined ? { type: c.type } : { type: c.type, typmod: c.typmod }]));
}

/** A column default as pg_get_expr prints it (PostgreSQL's ruleutils form, ruleutils.ts). */
export function defaultText(t: TableInfo, c: ColumnDef, pretty: boolean, qualify = false): string {
  const sql = c.default?.sql ?? '';
  return pgExprText(
    sql,
    columnTypes(t),
    { pretty, context: 'default', qualify },
    c.typmod === undefined ? { type: c.type } : { type: c.type, typmod: c.typmod },
  );
}

/** Columns of `t` a CHECK expression reads, in table order (pg_constraint.conkey). */
export function checkColumns(t: TableInfo, sql: string): string[] {
  const used = new Set<string>();
  const parsed = parseFirst(`SELECT ${sql}`);
  if (parsed) {
    forEachNode(parsed, (type, n) => {
      if (type !== 'ColumnRef') return;
      const f = n.fields ?? [];
      const name = strOf(f[f.length - 1]);
      if (name) used.add(name);
    });
  }
  return columnsOf(t)
    .filter((c) => used.has(c.name))
    .map((c) => c.name);
}

/**
 * A view's query as `pg_get_viewdef(oid)` prints it (pg_views.definition and
 * information_schema.views.view_definition hold the same text); see ruleutils.ts pgViewDefText.
 */
export function viewDefText(cat: Catalog, sql: string): string {
  return pgViewDefText(sql, (name) => {
    const t = cat.find(name);
    return t ? columnTypes(t) : undefined;
  });
}

/** A CHECK constraint's expression as PostgreSQL prints it. */
export function checkText(t: TableInfo, sql: string, pretty: boolean): string {
  return pgExprText(sql, columnTypes(t), { pretty, context: 'check' });
}

/**
 * A constraint's definition as pg_get_constraintdef prints it (`pretty`: its second argument;
 * a non-pretty CHECK wraps its expression in parentheses as PostgreSQL does).
 */
export function constraintDef(t: TableInfo, c: ConstraintDef, pretty = true, qualify = false): string {
  switch (c.kind) {
    case 'primary':
      return `PRIMARY KEY (${c.columns.map(quoteIdentifier).join(', ')})`;
    case 'unique':
      return `UNIQUE (${c.columns.map(quoteIdentifier).join(', ')})`;
    case 'check':
      // Non-pretty expressions come parenthesized (`CHECK ((a > 0))`), as ruleutils prints them.
      return `CHECK (${checkText(t, c.check.sql, pretty)})`;
    case 'foreign': {
      let s = `FOREIGN KEY (${c.columns.map(quoteIdentifier).join(', ')}) REFERENCES ${qualify ? 'public.' : ''}${quoteIdentifier(c.refTable)}(${c.refColumns.map(quoteIdentifier).join(', ')})`;
      if (c.onUpdate !== 'no_action') s += ` ON UPDATE ${FK_WORDS[c.onUpdate]}`;
      if (c.onDelete !== 'no_action') s += ` ON DELETE ${FK_WORDS[c.onDelete]}`;
      return s;
    }
  }
}

/** A built-in row (text values) as a record of stored values for `rel`'s columns. */
function builtinRows(rel: CatalogRelation, rows: readonly (readonly (string | null)[])[]): Rec[] {
  return rows.map((r) => Object.fromEntries(rel.columns.map((c, i) => [c.name, textValue(r[i] ?? null, c)])));
}

/** A value in PostgreSQL's text output as the stored value of a catalog column. */
function textValue(text: string | null, c: CatalogColumn): Value {
  if (text === null) return null;
  if (c.pgType === 'int2vector' || c.pgType === 'oidvector') {
    return text === '' ? [] : text.split(' ').map((x) => (c.pgType === 'oidvector' ? BigInt(x) : Number(x)));
  }
  if (c.pgType === 'regproc' && text === '-') return '-';
  return coerceLiteral(text, c.type);
}

/** The rows of a described relation of builtin or catalog scope. */
export function catalogRows(rel: CatalogRelation, src: CatalogSource): Rec[] {
  const cat = src.catalog;
  const tables = cat.list();
  const key = `${rel.schema}.${rel.name}`;
  switch (key) {
    case 'pg_catalog.pg_type':
      return [...builtinRows(rel, PG15_TYPES), ...builtinRows(rel, rowTypeRows(cat))];
    case 'pg_catalog.pg_proc':
      return builtinRows(rel, PG15_PROCS);
    case 'pg_catalog.pg_am':
      return builtinRows(rel, PG15_AMS);
    case 'pg_catalog.pg_collation':
      return builtinRows(rel, PG15_COLLATIONS);
    case 'pg_catalog.pg_language':
      return builtinRows(rel, PG15_LANGUAGES);
    case 'pg_catalog.pg_namespace':
      // PostgreSQL 15: schema public belongs to pg_database_owner (the owner of the current database).
      return builtinRows(rel, PG15_NAMESPACES).map((r) => ({
        ...r,
        nspowner: BigInt(r.nspname === 'public' ? DATABASE_OWNER_ROLE : BOOTSTRAP_ROLE),
        nspacl: null,
      }));
    case 'pg_catalog.pg_tablespace':
      return [
        { oid: 1663n, spcname: 'pg_default', spcowner: BigInt(BOOTSTRAP_ROLE) },
        { oid: 1664n, spcname: 'pg_global', spcowner: BigInt(BOOTSTRAP_ROLE) },
      ];
    case 'pg_catalog.pg_class':
      return pgClass(src);
    case 'pg_catalog.pg_attribute':
      return pgAttribute(src);
    case 'pg_catalog.pg_attrdef':
      return tables.flatMap((t) =>
        columnsOf(t)
          .filter((c) => c.default)
          .map((c) => ({
            oid: BigInt(stableOid(`attrdef:${t.oid}:${c.attnum}`)),
            adrelid: BigInt(t.oid),
            adnum: c.attnum,
            adbin: defaultText(t, c, false),
          })),
      );
    case 'pg_catalog.pg_index':
      return tables.flatMap((t) =>
        indexesOf(t).map((ix) => ({
          indexrelid: BigInt(ix.oid),
          indrelid: BigInt(t.oid),
          indnatts: ix.columns.length,
          indnkeyatts: ix.columns.length,
          indisunique: ix.unique,
          indisprimary: ix.primary,
          indimmediate: true,
          indisvalid: ix.valid,
          indisready: true,
          indislive: true,
          indkey: attnums(t, ix.columns),
          indcollation: ix.columns.map((n) => BigInt(typeFacts(columnsOf(t).find((c) => c.name === n)?.type ?? 'bigint').collation)),
          indclass: ix.columns.map(() => 0n),
          indoption: ix.columns.map(() => 0),
        })),
      );
    case 'pg_catalog.pg_constraint':
      return tables.flatMap((t) => (t.constraints ?? []).map((c) => constraintRow(t, c, cat)));
    case 'pg_catalog.pg_description':
      return [
        // initdb's comment on the public schema (pg_dump leaves a public schema with it alone).
        { objoid: 2200n, classoid: BigInt(CLASS.pg_namespace), objsubid: 0, description: 'standard public schema' },
        ...tables.flatMap((t) => [
          ...(t.comment ? [{ objoid: BigInt(t.oid), classoid: BigInt(CLASS.pg_class), objsubid: 0, description: t.comment }] : []),
          ...columnsOf(t)
            .filter((c) => c.comment)
            .map((c) => ({ objoid: BigInt(t.oid), classoid: BigInt(CLASS.pg_class), objsubid: c.attnum, description: c.comment ?? '' })),
        ]),
        ...cat
          .listViews()
          .filter((v) => v.comment)
          .map((v) => ({ objoid: BigInt(v.oid), classoid: BigInt(CLASS.pg_class), objsubid: 0, description: v.comment ?? '' })),
        ...cat
          .listSequences()
          .filter((s) => s.comment)
          .map((s) => ({ objoid: BigInt(s.oid), classoid: BigInt(CLASS.pg_class), objsubid: 0, description: s.comment ?? '' })),
      ];
    case 'pg_catalog.pg_sequence':
      return cat.listSequences().map((s) => ({
        seqrelid: BigInt(s.oid),
        seqtypid: BigInt(PG_TYPE_OID[s.type]),
        seqstart: s.start,
        seqincrement: s.increment,
        seqmax: s.max,
        seqmin: s.min,
        seqcache: BigInt(s.cache),
        seqcycle: s.cycle,
      }));
    case 'pg_catalog.pg_sequences':
      return cat.listSequences().map((s) => ({
        schemaname: 'public',
        sequencename: s.name,
        sequenceowner: ownerName(src),
        data_type: s.type,
        start_value: s.start,
        min_value: s.min,
        max_value: s.max,
        increment_by: s.increment,
        cycle: s.cycle,
        cache_size: BigInt(s.cache),
        last_value: s.next === s.start ? null : s.next - s.increment,
      }));
    case 'pg_catalog.pg_depend':
      return pgDepend(src);
    case 'pg_catalog.pg_rewrite':
      // Each view's `_RETURN` rule (PostgreSQL stores a view's query as one); Stratum has no other rules.
      return cat.listViews().map((v) => ({
        oid: BigInt(rewriteOid(v.oid ?? 0)),
        rulename: '_RETURN',
        ev_class: BigInt(v.oid ?? 0),
        ev_type: '1',
        ev_enabled: 'O',
        is_instead: true,
        ev_qual: '<>',
        ev_action: null,
      }));
    case 'pg_catalog.pg_tables':
      return tables.map((t) => ({
        schemaname: 'public',
        tablename: t.name,
        tableowner: ownerName(src),
        tablespace: null,
        hasindexes: indexesOf(t).length > 0,
        hasrules: false,
        hastriggers: hasForeignKeys(cat, t),
        rowsecurity: false,
      }));
    case 'pg_catalog.pg_views':
      return cat
        .listViews()
        .map((v) => ({ schemaname: 'public', viewname: v.name, viewowner: ownerName(src), definition: viewDefText(cat, v.sql) }));
    case 'pg_catalog.pg_indexes':
      return tables.flatMap((t) =>
        indexesOf(t).map((ix) => ({
          schemaname: 'public',
          tablename: t.name,
          indexname: ix.name,
          tablespace: null,
          indexdef: indexDef(ix),
        })),
      );
    case 'pg_catalog.pg_database':
      return [
        {
          oid: BigInt(DATABASE_OID),
          datname: src.database,
          datdba: BigInt(BOOTSTRAP_ROLE),
          encoding: 6,
          datlocprovider: 'c',
          datistemplate: false,
          datallowconn: true,
          datconnlimit: -1,
          datfrozenxid: 0n,
          datminmxid: 1n,
          dattablespace: 1663n,
          // Stratum compares and sorts text by code point: the C collation.
          datcollate: 'C',
          datctype: 'C',
        },
      ];
    case 'pg_catalog.pg_roles':
    case 'pg_catalog.pg_authid':
      return roleRows(src).map((r) => ({ ...r, rolpassword: key === 'pg_catalog.pg_roles' ? '********' : null }));
    case 'pg_catalog.pg_user':
      return roleRows(src).map((r) => ({
        usename: r.rolname ?? null,
        usesysid: r.oid ?? null,
        usecreatedb: r.rolcreatedb ?? null,
        usesuper: r.rolsuper ?? null,
        userepl: r.rolreplication ?? null,
        usebypassrls: r.rolbypassrls ?? null,
        passwd: '********',
        valuntil: null,
        useconfig: null,
      }));
    default:
      return informationSchemaRows(rel, src);
  }
}

/** Name of the owner of every object: the bootstrap superuser. */
function ownerName(src: CatalogSource): string {
  return src.roles()[0]?.name ?? 'stratum';
}

function roleRows(src: CatalogSource): Rec[] {
  const owner: Rec = {
    oid: BigInt(DATABASE_OWNER_ROLE),
    rolname: 'pg_database_owner',
    rolsuper: false,
    rolinherit: true,
    rolcreaterole: false,
    rolcreatedb: false,
    rolcanlogin: false,
    rolreplication: false,
    rolconnlimit: -1,
    rolvaliduntil: null,
    rolbypassrls: false,
    rolconfig: null,
  };
  return [
    owner,
    ...src.roles().map((r, i) => ({
      oid: BigInt(i === 0 ? BOOTSTRAP_ROLE : stableOid(`role:${r.name}`)),
      rolname: r.name,
      rolsuper: r.superuser,
      rolinherit: true,
      rolcreaterole: r.superuser,
      rolcreatedb: r.superuser,
      rolcanlogin: true,
      rolreplication: r.superuser,
      rolconnlimit: -1,
      rolvaliduntil: null,
      rolbypassrls: r.superuser,
      rolconfig: null,
    })),
  ];
}

/** The table has a foreign key or is referenced by one (PostgreSQL then has triggers on it: relhastriggers). */
function hasForeignKeys(cat: Catalog, t: TableInfo): boolean {
  return (t.constraints ?? []).some((c) => c.kind === 'foreign') || cat.referencing(t.oid).length > 0;
}

function pgClass(src: CatalogSource): Rec[] {
  const cat = src.catalog;
  const base = {
    relnamespace: BigInt(NSP.public),
    relowner: BigInt(BOOTSTRAP_ROLE),
    relpersistence: 'p',
    relispopulated: true,
    reltuples: -1,
  };
  const out: Rec[] = [];
  // In creation (oid) order, as a scan of PostgreSQL's pg_class heap returns a new database's tables
  // (tools list tables without ORDER BY: SQLAlchemy's get_table_names).
  for (const t of [...cat.list()].sort((a, b) => a.oid - b.oid)) {
    const ixs = indexesOf(t);
    const fks = hasForeignKeys(cat, t);
    out.push({
      ...base,
      oid: BigInt(t.oid),
      relname: t.name,
      relam: BigInt(HEAP),
      // PostgreSQL enforces foreign keys by (internal) triggers on both tables; psql reads this flag.
      relhastriggers: fks,
      relfilenode: BigInt(t.oid),
      reltype: BigInt(rowTypeOid(t.oid)),
      relkind: 'r',
      relnatts: columnsOf(t).length,
      relchecks: (t.constraints ?? []).filter((c) => c.kind === 'check').length,
      relhasindex: ixs.length > 0,
      relreplident: 'd',
      reloptions: t.reloptions ? Object.entries(t.reloptions).map(([k, v]) => `${k}=${v}`) : null,
    });
    for (const ix of ixs) {
      out.push({
        ...base,
        oid: BigInt(ix.oid),
        relname: ix.name,
        relam: BigInt(BTREE),
        relfilenode: BigInt(ix.oid),
        relkind: 'i',
        relnatts: ix.columns.length,
        relreplident: 'n',
        // Stratum keeps no index statistics: what PostgreSQL records for a btree built over an empty
        // table (its metapage, no tuples) until VACUUM or ANALYZE (pgjdbc's getIndexInfo CARDINALITY, PAGES).
        reltuples: 0,
        relpages: 1,
      });
    }
  }
  for (const s of cat.listSequences()) {
    out.push({ ...base, oid: BigInt(s.oid), relname: s.name, relfilenode: BigInt(s.oid), relkind: 'S', relnatts: 3, relreplident: 'n' });
  }
  for (const v of cat.listViews()) {
    out.push({
      ...base,
      oid: BigInt(v.oid),
      relname: v.name,
      reltype: BigInt(rowTypeOid(v.oid)),
      relkind: 'v',
      relnatts: v.columns.length,
      relhasrules: true,
      relreplident: 'n',
    });
  }
  // The catalog relations themselves, as PostgreSQL lists them (so `'pg_class'::regclass` is 1259).
  for (const [key, cols] of Object.entries(PG15_RELATIONS)) {
    const [schema, name] = key.split('.') as [string, string];
    const view = PG15_VIEWS.has(key);
    out.push({
      ...base,
      oid: BigInt(PG15_RELATION_OIDS[key] ?? 0),
      relname: name,
      relnamespace: BigInt(schema === 'pg_catalog' ? NSP.pg_catalog : NSP.information_schema),
      relam: BigInt(view ? 0 : HEAP),
      relkind: view ? 'v' : 'r',
      relnatts: cols.length,
      relhasrules: view,
      relreplident: view ? 'n' : 'd',
    });
  }
  return out;
}

/** Type oid of a catalog column's PostgreSQL type (0 for information_schema's domains). */
const CATALOG_TYPE_OIDS = new Map(PG15_TYPE_FORMATS.map(([oid, fmt]) => [fmt ?? '', Number(oid)]));

function attributeRow(relid: number, attnum: number, name: string, type: SqlType, typmod: number | undefined, extra: Rec = {}): Rec {
  const f = typeFacts(type);
  return {
    attrelid: BigInt(relid),
    attname: name,
    atttypid: BigInt(f.oid),
    attstattarget: -1,
    attlen: f.len,
    attnum,
    attndims: isArrayType(type) ? 1 : 0,
    attcacheoff: -1,
    atttypmod: typmod ?? -1,
    attbyval: f.byval,
    attalign: f.align,
    attstorage: f.storage,
    attcompression: '',
    attnotnull: false,
    atthasdef: false,
    atthasmissing: false,
    attidentity: '',
    attgenerated: '',
    attisdropped: false,
    attislocal: true,
    attinhcount: 0,
    attcollation: BigInt(f.collation),
    ...extra,
  };
}

function pgAttribute(src: CatalogSource): Rec[] {
  const cat = src.catalog;
  const out: Rec[] = [];
  for (const t of cat.list()) {
    const cols = columnsOf(t);
    for (const c of cols) {
      out.push(
        attributeRow(t.oid, c.attnum, c.name, c.type, c.typmod, {
          attnotnull: c.notNull || t.primaryKey.includes(c.name),
          atthasdef: Boolean(c.default),
          atthasmissing: c.missing !== undefined && c.missing !== null,
          attidentity: c.identity === 'always' ? 'a' : c.identity === 'by_default' ? 'd' : '',
        }),
      );
    }
    for (const ix of indexesOf(t)) {
      ix.columns.forEach((n, i) => {
        const c = cols.find((x) => x.name === n);
        if (c) out.push(attributeRow(ix.oid, i + 1, n, c.type, c.typmod, { attislocal: true }));
      });
    }
  }
  for (const v of cat.listViews()) {
    const typmods = viewTypmods(cat, v);
    for (const [i, c] of v.columns.entries()) out.push(attributeRow(v.oid, i + 1, c.name, c.type, typmods[i]));
  }
  for (const [key, cols] of Object.entries(PG15_RELATIONS)) {
    const relid = PG15_RELATION_OIDS[key] ?? 0;
    for (const [i, [name, pgType, notNull]] of cols.entries()) {
      out.push({
        ...attributeRow(relid, i + 1, name, 'text', undefined),
        atttypid: BigInt(CATALOG_TYPE_OIDS.get(pgType) ?? 0),
        attnotnull: notNull === 1,
      });
    }
  }
  return out;
}

function constraintRow(t: TableInfo, c: ConstraintDef, cat: Catalog): Rec {
  const row: Rec = {
    oid: BigInt(constraintOid(t, c.name)),
    conname: c.name,
    connamespace: BigInt(NSP.public),
    contype: c.kind === 'primary' ? 'p' : c.kind === 'unique' ? 'u' : c.kind === 'foreign' ? 'f' : 'c',
    condeferrable: false,
    condeferred: false,
    convalidated: true,
    conrelid: BigInt(t.oid),
    contypid: 0n,
    conindid: 0n,
    conparentid: 0n,
    confrelid: 0n,
    confupdtype: ' ',
    confdeltype: ' ',
    confmatchtype: ' ',
    conislocal: true,
    coninhcount: 0,
    connoinherit: false,
    conkey: null,
    confkey: null,
    conbin: null,
  };
  if (c.kind === 'foreign') {
    const ref = cat.find(c.refTable);
    row.conkey = attnums(t, c.columns);
    row.confrelid = BigInt(ref?.oid ?? c.refOid ?? 0);
    row.confkey = ref ? attnums(ref, c.refColumns) : [];
    row.confupdtype = FK_ACTIONS[c.onUpdate] ?? 'a';
    row.confdeltype = FK_ACTIONS[c.onDelete] ?? 'a';
    row.confmatchtype = 's';
    const target = ref ? uniqueConstraintOf(ref, c.refColumns) : undefined;
    if (ref && target) row.conindid = BigInt(primaryIndexOid(ref, target));
  } else if (c.kind === 'check') {
    row.conbin = checkText(t, c.check.sql, false);
    row.conkey = attnums(t, checkColumns(t, c.check.sql));
  } else {
    row.conindid = BigInt(primaryIndexOid(t, c));
    row.conkey = attnums(t, c.columns);
  }
  return row;
}

/** The pg_rewrite oid of view `viewOid`'s `_RETURN` rule. */
function rewriteOid(viewOid: number): number {
  return stableOid(`rewrite:${viewOid}`);
}

/**
 * A view's rule depends on the view (internal) and on each table and view its query reads
 * (normal), as PostgreSQL records them: pg_dump orders a view after what it reads from these.
 */
function viewDepends(cat: CatalogSource['catalog']): Rec[] {
  const out: Rec[] = [];
  for (const v of cat.listViews()) {
    const rule = { classid: BigInt(REWRITE_CLASS), objid: BigInt(rewriteOid(v.oid ?? 0)), objsubid: 0, refclassid: BigInt(CLASS.pg_class) };
    out.push({ ...rule, refobjid: BigInt(v.oid ?? 0), refobjsubid: 0, deptype: 'i' });
    const read = new Set<number>();
    try {
      forEachNode(parseSelect(v.sql), (type, n) => {
        if (type !== 'RangeVar' || (n.schemaname && n.schemaname !== 'public')) return;
        const oid = cat.find(n.relname ?? '')?.oid ?? cat.view(n.relname ?? '')?.oid;
        if (oid !== undefined && oid !== v.oid) read.add(oid);
      });
    } catch {
      // a view's text always parses (it was planned at CREATE VIEW); nothing to list otherwise
    }
    for (const oid of read) out.push({ ...rule, refobjid: BigInt(oid), refobjsubid: 0, deptype: 'n' });
  }
  return out;
}

/** pg_rewrite's pg_class oid (PostgreSQL 15). */
const REWRITE_CLASS = 2618;

function pgDepend(src: CatalogSource): Rec[] {
  const cat = src.catalog;
  const out: Rec[] = viewDepends(cat);
  for (const s of cat.listSequences()) {
    if (!s.ownedBy) continue;
    const t = cat.find(s.ownedBy.table);
    if (!t) continue;
    const col = columnsOf(t).find((c) => c.name === s.ownedBy?.column);
    out.push({
      classid: BigInt(CLASS.pg_class),
      objid: BigInt(s.oid),
      objsubid: 0,
      refclassid: BigInt(CLASS.pg_class),
      refobjid: BigInt(t.oid),
      refobjsubid: col?.attnum ?? 0,
      deptype: col?.identity ? 'i' : 'a',
    });
  }
  for (const t of cat.list()) {
    // A serial column's default depends on its sequence (normal) and on the column (auto), as in
    // PostgreSQL: pg_dump sees the table → default → sequence → table loop and prints the default apart.
    for (const c of columnsOf(t)) {
      const seq = c.default && c.sequence && !c.identity ? cat.sequence(c.sequence) : undefined;
      if (!seq) continue;
      const objid = BigInt(stableOid(`attrdef:${t.oid}:${c.attnum}`));
      const dep = { classid: BigInt(CLASS.pg_attrdef), objid, objsubid: 0, refclassid: BigInt(CLASS.pg_class) };
      out.push({ ...dep, refobjid: BigInt(seq.oid), refobjsubid: 0, deptype: 'n' });
      out.push({ ...dep, refobjid: BigInt(t.oid), refobjsubid: c.attnum, deptype: 'a' });
    }
    for (const ix of indexesOf(t)) {
      if (!ix.constraint) continue;
      out.push({
        classid: BigInt(CLASS.pg_class),
        objid: BigInt(ix.oid),
        objsubid: 0,
        refclassid: BigInt(CLASS.pg_constraint),
        refobjid: BigInt(constraintOid(t, ix.constraint)),
        refobjsubid: 0,
        deptype: 'i',
      });
    }
  }
  return out;
}

/** information_schema's yes/no. */
const yn = (b: boolean): string => (b ? 'YES' : 'NO');

/** information_schema.columns' data_type of a Stratum type (format_type without typmod; `character` for bpchar). */
function isDataType(t: SqlType): string {
  if (isArrayType(t)) return 'ARRAY';
  return t === 'char' ? 'character' : pgTypeName(t);
}

/** PostgreSQL's udt_name of a type (`int4`, `_int4`, `timestamptz`). */
function udtName(t: SqlType): string {
  return String(TYPES_BY_OID.get(pgTypeOid(t))?.typname ?? t);
}

function informationSchemaRows(rel: CatalogRelation, src: CatalogSource): Rec[] {
  const cat = src.catalog;
  const db = src.database;
  const owner = ownerName(src);
  const tables = cat.list();
  const con = (name: string) => ({ constraint_catalog: db, constraint_schema: 'public', constraint_name: name });
  const tab = (name: string) => ({ table_catalog: db, table_schema: 'public', table_name: name });
  switch (rel.name) {
    case 'information_schema_catalog_name':
      return [{ catalog_name: db }];
    case 'schemata':
      return ['pg_catalog', 'public', 'information_schema', 'pg_toast'].map((s) => ({
        catalog_name: db,
        schema_name: s,
        schema_owner: s === 'public' ? 'pg_database_owner' : owner,
      }));
    case 'enabled_roles':
      return src.roles().map((r) => ({ role_name: r.name }));
    case 'applicable_roles':
      return [];
    case 'tables':
      return [
        ...tables.map((t) => ({
          table_catalog: db,
          table_schema: 'public',
          table_name: t.name,
          table_type: 'BASE TABLE',
          is_insertable_into: 'YES',
          is_typed: 'NO',
        })),
        ...cat.listViews().map((v) => ({
          table_catalog: db,
          table_schema: 'public',
          table_name: v.name,
          table_type: 'VIEW',
          is_insertable_into: 'NO',
          is_typed: 'NO',
        })),
      ];
    case 'views':
      return cat.listViews().map((v) => ({
        table_catalog: db,
        table_schema: 'public',
        table_name: v.name,
        view_definition: viewDefText(cat, v.sql),
        check_option: 'NONE',
        is_updatable: 'NO',
        is_insertable_into: 'NO',
        is_trigger_updatable: 'NO',
        is_trigger_deletable: 'NO',
        is_trigger_insertable_into: 'NO',
      }));
    case 'columns':
      return [
        ...tables.flatMap((t) =>
          columnsOf(t).map((c) =>
            columnRow(db, t.name, c.attnum, c.name, c.type, c.typmod, !(c.notNull || t.primaryKey.includes(c.name)), c, t),
          ),
        ),
        ...cat.listViews().flatMap((v) => {
          const typmods = viewTypmods(cat, v);
          return v.columns.map((c, i) => columnRow(db, v.name, i + 1, c.name, c.type, typmods[i], true));
        }),
      ];
    case 'table_constraints':
      return tables.flatMap((t) => [
        ...(t.constraints ?? []).map((c) => ({
          ...con(c.name),
          ...tab(t.name),
          constraint_type: { primary: 'PRIMARY KEY', unique: 'UNIQUE', foreign: 'FOREIGN KEY', check: 'CHECK' }[c.kind],
          is_deferrable: 'NO',
          initially_deferred: 'NO',
          enforced: 'YES',
          nulls_distinct: c.kind === 'primary' || c.kind === 'unique' ? 'YES' : null,
        })),
        // PostgreSQL lists NOT NULL columns as CHECK constraints named <nsp oid>_<rel oid>_<attnum>_not_null.
        ...columnsOf(t)
          .filter((c) => c.notNull || t.primaryKey.includes(c.name))
          .map((c) => ({
            ...con(`${NSP.public}_${t.oid}_${c.attnum}_not_null`),
            ...tab(t.name),
            constraint_type: 'CHECK',
            is_deferrable: 'NO',
            initially_deferred: 'NO',
            enforced: 'YES',
            nulls_distinct: null,
          })),
      ]);
    case 'key_column_usage':
      return tables.flatMap((t) =>
        (t.constraints ?? []).flatMap((c) => {
          if (c.kind === 'check') return [];
          return c.columns.map((col, i) => {
            let pos: number | null = null;
            if (c.kind === 'foreign') {
              const ref = cat.find(c.refTable);
              const target = ref ? uniqueConstraintOf(ref, c.refColumns) : undefined;
              const refCol = c.refColumns[i];
              pos = target && refCol ? target.columns.indexOf(refCol) + 1 : i + 1;
            }
            return {
              ...con(c.name),
              ...tab(t.name),
              column_name: col,
              ordinal_position: i + 1,
              position_in_unique_constraint: pos,
            };
          });
        }),
      );
    case 'referential_constraints':
      return tables.flatMap((t) =>
        (t.constraints ?? []).flatMap((c) => {
          if (c.kind !== 'foreign') return [];
          const ref = cat.find(c.refTable);
          const target = ref ? uniqueConstraintOf(ref, c.refColumns) : undefined;
          const rule = (a: string) =>
            ({ no_action: 'NO ACTION', restrict: 'RESTRICT', cascade: 'CASCADE', set_null: 'SET NULL', set_default: 'SET DEFAULT' })[a];
          return [
            {
              constraint_catalog: db,
              constraint_schema: 'public',
              constraint_name: c.name,
              unique_constraint_catalog: target ? db : null,
              unique_constraint_schema: target ? 'public' : null,
              unique_constraint_name: target?.name ?? null,
              match_option: 'NONE',
              update_rule: rule(c.onUpdate) ?? 'NO ACTION',
              delete_rule: rule(c.onDelete) ?? 'NO ACTION',
            },
          ];
        }),
      );
    case 'constraint_column_usage':
      return tables.flatMap((t) =>
        (t.constraints ?? []).flatMap((c) => {
          const at = (table: string, cols: string[]) =>
            cols.map((col) => ({
              ...tab(table),
              column_name: col,
              ...con(c.name),
            }));
          if (c.kind === 'foreign') return at(c.refTable, c.refColumns);
          if (c.kind === 'check') return at(t.name, checkColumns(t, c.check.sql));
          return at(t.name, c.columns);
        }),
      );
    case 'constraint_table_usage':
      return tables.flatMap((t) =>
        (t.constraints ?? []).map((c) => ({
          ...tab(c.kind === 'foreign' ? c.refTable : t.name),
          ...con(c.name),
        })),
      );
    case 'check_constraints':
      return tables.flatMap((t) => [
        ...(t.constraints ?? []).flatMap((c) =>
          c.kind === 'check'
            ? [
                {
                  constraint_catalog: db,
                  constraint_schema: 'public',
                  constraint_name: c.name,
                  check_clause: `(${checkText(t, c.check.sql, false)})`,
                },
              ]
            : [],
        ),
        ...columnsOf(t)
          .filter((c) => c.notNull || t.primaryKey.includes(c.name))
          .map((c) => ({
            constraint_catalog: db,
            constraint_schema: 'public',
            constraint_name: `${NSP.public}_${t.oid}_${c.attnum}_not_null`,
            check_clause: `${quoteIdentifier(c.name)} IS NOT NULL`,
          })),
      ]);
    case 'sequences':
      // PostgreSQL leaves out identity columns' sequences.
      return cat
        .listSequences()
        .filter((s) => !(s.ownedBy && cat.find(s.ownedBy.table)?.columns.find((c) => c.name === s.ownedBy?.column)?.identity))
        .map((s) => ({
          sequence_catalog: db,
          sequence_schema: 'public',
          sequence_name: s.name,
          data_type: s.type,
          numeric_precision: s.type === 'smallint' ? 16 : s.type === 'integer' ? 32 : 64,
          numeric_precision_radix: 2,
          numeric_scale: 0,
          start_value: String(s.start),
          minimum_value: String(s.min),
          maximum_value: String(s.max),
          increment: String(s.increment),
          cycle_option: yn(s.cycle),
        }));
    default:
      return [];
  }
}

/** A row of information_schema.columns. */
function columnRow(
  db: string,
  tableName: string,
  pos: number,
  name: string,
  t: SqlType,
  typmod: number | undefined,
  nullable: boolean,
  c?: ColumnDef,
  table?: TableInfo,
): Rec {
  const elem = elementType(t);
  const charLen = (elem === 'varchar' || elem === 'char') && typmod !== undefined && typmod >= 4 ? typmod - 4 : null;
  const numeric: Record<string, [number, number, number | null]> = {
    smallint: [16, 2, 0],
    integer: [32, 2, 0],
    bigint: [64, 2, 0],
    real: [24, 2, null],
    double: [53, 2, null],
  };
  const num = !isArrayType(t) ? numeric[t] : undefined;
  const numPs =
    t === 'numeric' && typmod !== undefined && typmod >= 4
      ? [((typmod - 4) >> 16) & 0xffff, 10, (((typmod - 4) & 0xffff) << 16) >> 16]
      : undefined;
  const dtPrecision = ['timestamp', 'timestamptz', 'time'].includes(t)
    ? typmod !== undefined && typmod >= 0
      ? typmod
      : 6
    : t === 'date'
      ? 0
      : null;
  return {
    table_catalog: db,
    table_schema: 'public',
    table_name: tableName,
    column_name: name,
    ordinal_position: pos,
    column_default: c?.default && table ? defaultText(table, c, false) : null,
    is_nullable: yn(nullable),
    data_type: isDataType(t),
    character_maximum_length: charLen,
    character_octet_length: elem === 'text' || elem === 'varchar' || elem === 'char' ? (charLen === null ? 1073741824 : charLen * 4) : null,
    numeric_precision: num?.[0] ?? numPs?.[0] ?? null,
    numeric_precision_radix: num?.[1] ?? (t === 'numeric' ? 10 : null),
    numeric_scale: num ? num[2] : (numPs?.[2] ?? null),
    datetime_precision: dtPrecision,
    interval_type: null,
    interval_precision: null,
    udt_catalog: db,
    udt_schema: 'pg_catalog',
    udt_name: udtName(t),
    dtd_identifier: String(pos),
    is_self_referencing: 'NO',
    is_identity: yn(Boolean(c?.identity)),
    identity_generation: c?.identity === 'always' ? 'ALWAYS' : c?.identity === 'by_default' ? 'BY DEFAULT' : null,
    is_generated: 'NEVER',
    is_updatable: 'YES',
    collation_catalog: null,
  };
}

/** The rows of a described relation of session scope. */
export async function sessionRows(rel: CatalogRelation, src: CatalogSource, session: SessionSource): Promise<Rec[]> {
  const ms = (x: number | null) => (x === null ? null : BigInt(Math.round(x)) * 1000n);
  switch (rel.name) {
    case 'pg_settings':
      return session.settings().map((s) => ({ ...s, sourceline: s.sourceline }));
    case 'pg_stat_activity':
      return (await session.activity()).map((a) => ({
        datid: BigInt(DATABASE_OID),
        datname: src.database,
        pid: a.pid,
        usesysid: BigInt(BOOTSTRAP_ROLE),
        usename: a.user,
        application_name: a.applicationName,
        client_addr: a.clientAddr,
        client_port: a.clientPort,
        backend_start: ms(a.backendStartMs),
        xact_start: ms(a.xactStartMs),
        query_start: ms(a.queryStartMs),
        state_change: ms(a.stateChangeMs),
        state: a.state,
        query: a.query,
        backend_type: 'client backend',
      }));
    case 'pg_stat_user_tables':
    case 'pg_stat_all_tables': {
      const out: Rec[] = [];
      for (const t of src.catalog.list()) {
        const live = await session.liveRows(t.name);
        out.push({
          relid: BigInt(t.oid),
          schemaname: 'public',
          relname: t.name,
          n_live_tup: live === undefined ? null : BigInt(live),
          n_dead_tup: 0n,
          vacuum_count: 0n,
          autovacuum_count: 0n,
          analyze_count: 0n,
          autoanalyze_count: 0n,
        });
      }
      return out;
    }
    case 'pg_stat_user_indexes':
      return src.catalog.list().flatMap((t) =>
        indexesOf(t).map((ix) => ({
          relid: BigInt(t.oid),
          indexrelid: BigInt(ix.oid),
          schemaname: 'public',
          relname: t.name,
          indexrelname: ix.name,
        })),
      );
    default:
      return [];
  }
}

/** Default value of a column a generator left out: NULL where PostgreSQL allows it, else the type's zero. */
export function zeroOf(c: CatalogColumn): Value {
  if (!c.notNull) return null;
  if (isArrayType(c.type)) return [];
  switch (c.type) {
    case 'bigint':
      return 0n;
    case 'integer':
    case 'smallint':
    case 'real':
    case 'double':
      return 0;
    case 'numeric':
      return '0';
    case 'boolean':
      return false;
    default:
      return '';
  }
}
