/**
 * The system catalogs in the router's DuckDB (docs/architecture.md "System catalogs"): each
 * catalog relation a statement reads is loaded into schema `stratum_catalog` as a table of the
 * catalog version it describes, behind a view of the relation's name that is swapped to the new
 * table when the catalog changes (statements already running keep reading the old one).
 * Relations of built-in objects load once; relations of the catalog load again only after DDL;
 * session relations (settings, activity, statistics) are temporary tables of the one query.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Node } from '@pgsql/types';
import { pgTypeName, pgTypeOid, type SqlType, type Value } from '@stratum/shared';
import { loadValues } from '@stratum/shared/duckdb';
import { forEachNode, transformNodes } from '../analyze/walk.ts';
import { deparse } from '../plan/duckdb-sql.ts';
import { parseSelect } from '../sql/parse.ts';
import { catalogMacrosSql } from './functions.ts';
import { PG15_TYPE_FORMATS } from './pg15.generated.ts';
import { CATALOG_RELATIONS, CATALOG_SCHEMA, type CatalogRelation, duckName, SESSION_PREFIX } from './relations.ts';
import {
  type CatalogSource,
  catalogRows,
  checkText,
  columnsOf,
  constraintDef,
  constraintOid,
  defaultText,
  indexDef,
  indexesOf,
  rowArrayTypeOid,
  rowTypeOid,
  type SessionSource,
  sessionRows,
  viewDefText,
  zeroOf,
} from './rows.ts';
import { quoteIdentifier } from './ruleutils.ts';

/** The helper relations of functions.ts, as relations of their own. */
const HELPERS: Record<string, CatalogRelation> = {
  'stratum.stratum_defs': {
    schema: 'stratum',
    name: 'stratum_defs',
    kind: 'described',
    scope: 'catalog',
    columns: [
      { name: 'kind', pgType: 'text', type: 'text', notNull: true },
      { name: 'oid', pgType: 'oid', type: 'bigint', notNull: true },
      { name: 'sub', pgType: 'integer', type: 'integer', notNull: true },
      { name: 'def', pgType: 'text', type: 'text', notNull: true },
      { name: 'key', pgType: 'text', type: 'text', notNull: false },
    ],
  },
  'stratum.stratum_format': {
    schema: 'stratum',
    name: 'stratum_format',
    kind: 'described',
    scope: 'catalog',
    columns: [
      { name: 'oid', pgType: 'oid', type: 'bigint', notNull: true },
      { name: 'typmod', pgType: 'integer', type: 'integer', notNull: true },
      { name: 'fmt', pgType: 'text', type: 'text', notNull: true },
    ],
  },
};

/** Relations the macros read: loaded (and the macros created) when the store is first used. */
const MACRO_TABLES = [
  'stratum.stratum_defs',
  'stratum.stratum_format',
  'pg_catalog.pg_class',
  'pg_catalog.pg_attribute',
  'pg_catalog.pg_description',
  'pg_catalog.pg_authid',
  'pg_catalog.pg_type',
  'pg_catalog.pg_proc',
  'pg_catalog.pg_namespace',
];

/** Loads catalog relations into a DuckDB instance's catalog schema on demand. */
export class PgCatalogStore {
  /** Relation key → catalog version of the table its view points at (-1: built-in, never reloaded). */
  private readonly loaded = new Map<string, { version: number; table: string }>();
  private ready: Promise<void> | undefined;
  private lock: Promise<void> = Promise.resolve();
  private seq = 0;

  /**
   * @param src the catalog and server facts the relations describe
   * @param startedAtMs the server's start (pg_postmaster_start_time), ms since the epoch
   */
  constructor(
    private readonly src: CatalogSource,
    private readonly startedAtMs: number,
  ) {}

  /**
   * Make the relations `keys` (`schema.name`) readable on `conn` for one statement: catalog
   * tables current as of the catalog's version, session tables (temporary, named in `created`
   * so the caller drops them) from `session`.
   * @throws what DuckDB throws while loading (a row that does not fit its column: 22P02)
   */
  async prepare(conn: DuckDBConnection, keys: ReadonlySet<string>, session: SessionSource | undefined, created: string[]): Promise<void> {
    this.ready ??= this.serialized(() => this.setup(conn));
    await this.ready;
    const shared = [...keys].filter((k) => this.relation(k)?.scope !== 'session');
    if (shared.some((k) => this.stale(k)))
      await this.serialized(async () => {
        for (const k of shared) if (this.stale(k)) await this.load(conn, k);
      });
    for (const k of keys) {
      const rel = this.relation(k);
      if (rel?.scope !== 'session') continue;
      const name = `${SESSION_PREFIX}${duckName(rel)}`;
      const rows = session ? await sessionRows(rel, this.src, session) : [];
      await loadValues(
        conn,
        name,
        this.columns(rel),
        rows.map((r) => this.valuesOf(rel, r)),
      );
      created.push(name, `${name}__stratum_raw`);
    }
  }

  private relation(key: string): CatalogRelation | undefined {
    return HELPERS[key] ?? CATALOG_RELATIONS.get(key);
  }

  private stale(key: string): boolean {
    const rel = this.relation(key);
    const have = this.loaded.get(key);
    if (!rel || !have) return true;
    return rel.scope !== 'builtin' && have.version !== this.src.catalog.version;
  }

  /** Run `f` after every earlier load (one DDL-time reload at a time). */
  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async setup(conn: DuckDBConnection): Promise<void> {
    await conn.run(`CREATE SCHEMA IF NOT EXISTS ${CATALOG_SCHEMA}`);
    for (const k of MACRO_TABLES) await this.load(conn, k);
    await conn.run(catalogMacrosSql(BigInt(Math.round(this.startedAtMs)) * 1000n));
  }

  private columns(rel: CatalogRelation): { name: string; type: SqlType }[] {
    return rel.columns.map((c) => ({ name: c.name, type: c.type }));
  }

  private valuesOf(rel: CatalogRelation, r: Record<string, Value>): Value[] {
    return rel.columns.map((c) => (c.name in r ? (r[c.name] ?? null) : zeroOf(c)));
  }

  /** Load relation `key` as a new table and point its view at it. */
  private async load(conn: DuckDBConnection, key: string): Promise<void> {
    const rel = this.relation(key);
    if (!rel) return;
    const version = this.src.catalog.version;
    const rows = rel.schema === 'stratum' ? this.helperRows(rel.name) : rel.kind === 'described' ? catalogRows(rel, this.src) : [];
    const view = duckName(rel);
    const table = `${view}__${++this.seq}`;
    await loadValues(
      conn,
      table,
      this.columns(rel),
      rows.map((r) => this.valuesOf(rel, r)),
      CATALOG_SCHEMA,
    );
    await conn.run(`CREATE OR REPLACE VIEW ${CATALOG_SCHEMA}."${view}" AS SELECT * FROM ${CATALOG_SCHEMA}."${table}"`);
    const old = this.loaded.get(key);
    this.loaded.set(key, { version, table });
    if (old) await conn.run(`DROP TABLE IF EXISTS ${CATALOG_SCHEMA}."${old.table}"`);
  }

  /** Rows of the helper relations (see functions.ts). */
  private helperRows(name: string): Record<string, Value>[] {
    const cat = this.src.catalog;
    if (name === 'stratum_format') {
      const out: Record<string, Value>[] = [];
      for (const [oid, fmtNull, fmtDefault] of PG15_TYPE_FORMATS) {
        out.push({ oid: BigInt(oid ?? 0), typmod: -2, fmt: fmtNull ?? '' }, { oid: BigInt(oid ?? 0), typmod: -1, fmt: fmtDefault ?? '' });
      }
      for (const r of [...cat.list(), ...cat.listViews()]) {
        for (const typmod of [-2, -1]) {
          out.push({ oid: BigInt(rowTypeOid(r.oid)), typmod, fmt: quoteIdentifier(r.name) });
          out.push({ oid: BigInt(rowArrayTypeOid(r.oid)), typmod, fmt: `${quoteIdentifier(r.name)}[]` });
        }
      }
      const seen = new Set<string>();
      for (const t of cat.list()) {
        for (const c of columnsOf(t)) {
          if (c.typmod === undefined || c.typmod < 0) continue;
          const oid = pgTypeOid(c.type);
          const k = `${oid}:${c.typmod}`;
          if (seen.has(k)) continue;
          seen.add(k);
          out.push({ oid: BigInt(oid), typmod: c.typmod, fmt: pgTypeName(c.type, c.typmod) });
        }
      }
      return out;
    }
    const out: Record<string, Value>[] = [];
    for (const t of cat.list()) {
      for (const ix of indexesOf(t)) {
        out.push({ kind: 'index', oid: BigInt(ix.oid), sub: 0, def: indexDef(ix) });
        for (const [i, c] of ix.columns.entries()) out.push({ kind: 'index', oid: BigInt(ix.oid), sub: i + 1, def: c });
      }
      for (const c of t.constraints ?? []) {
        const oid = BigInt(constraintOid(t, c.name));
        out.push(
          { kind: 'constraint', oid, sub: 0, def: constraintDef(t, c, false) },
          { kind: 'constraint', oid, sub: 1, def: constraintDef(t, c, true) },
          // With public not on search_path (pg_dump): sub 2 and 3, names schema-qualified.
          { kind: 'constraint', oid, sub: 2, def: constraintDef(t, c, false, true) },
          { kind: 'constraint', oid, sub: 3, def: constraintDef(t, c, true, true) },
        );
      }
      for (const c of columnsOf(t)) {
        if (!c.default) continue;
        // pg_get_expr(adbin, rel, true): adbin holds the non-pretty text; the pretty one is looked up by it.
        const plain = defaultText(t, c, false);
        const pretty = defaultText(t, c, true);
        if (pretty !== plain) out.push({ kind: 'pretty', oid: 0n, sub: 0, def: pretty, key: plain });
        const qualified = defaultText(t, c, false, true);
        if (qualified !== plain) {
          out.push({ kind: 'qualified', oid: 0n, sub: 0, def: qualified, key: plain });
          out.push({ kind: 'qualified', oid: 0n, sub: 1, def: defaultText(t, c, true, true), key: plain });
        }
      }
      for (const c of t.constraints ?? []) {
        if (c.kind !== 'check') continue;
        const plain = checkText(t, c.check.sql, false);
        const pretty = checkText(t, c.check.sql, true);
        if (pretty !== plain) out.push({ kind: 'pretty', oid: 0n, sub: 0, def: pretty, key: plain });
      }
    }
    for (const v of cat.listViews()) {
      // pg_get_viewdef ends the query with ';' as PostgreSQL's does (pg_dump cuts the last character off).
      const def = viewDefText(cat, v.sql);
      out.push({ kind: 'view', oid: BigInt(v.oid), sub: 0, def: def.endsWith(';') ? def : `${def};` });
      out.push({ kind: 'view', oid: BigInt(v.oid), sub: 1, def: `${qualifiedQuery(v.sql, cat)};` });
    }
    for (const s of cat.listSequences()) {
      if (!s.ownedBy) continue;
      const t = cat.find(s.ownedBy.table);
      const col = t && columnsOf(t).find((c) => c.name === s.ownedBy?.column);
      if (t && col) out.push({ kind: 'serial', oid: BigInt(t.oid), sub: col.attnum, def: `public.${s.name}` });
    }
    return out;
  }
}

/**
 * A view's query with its table and view names schema-qualified (`public.t`), as ruleutils
 * prints relations a search_path without public does not show; the text as written when it
 * cannot be reprinted.
 */
function qualifiedQuery(sql: string, cat: { find(n: string): unknown; view(n: string): unknown }): string {
  try {
    const ctes = new Set<string>();
    const stmt = parseSelect(sql);
    forEachNode(stmt, (type, n) => {
      if (type === 'CommonTableExpr' && n.ctename) ctes.add(n.ctename);
    });
    const out = transformNodes({ SelectStmt: stmt } as Node, (type, n) => {
      if (type !== 'RangeVar' || n.schemaname || ctes.has(n.relname ?? '')) return undefined;
      if (!cat.find(n.relname ?? '') && !cat.view(n.relname ?? '')) return undefined;
      return { RangeVar: { ...n, schemaname: 'public' } };
    });
    return deparse(out);
  } catch {
    return sql.replace(/;\s*$/, '');
  }
}
