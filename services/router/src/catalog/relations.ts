/**
 * The relations of Stratum's system catalogs (docs/architecture.md "System catalogs"): every
 * `pg_catalog` and `information_schema` relation of PostgreSQL 15, with PostgreSQL's column
 * names (pg15.generated.ts), each in one of three kinds:
 *
 * - **described**: rows generated from Stratum's catalog (rows.ts) or copied from PostgreSQL
 *   for built-in objects (types, namespaces, access methods, collations, languages);
 * - **none here**: relations of objects Stratum does not have (triggers, policies, publications,
 *   extensions, foreign tables, rules, partitions, …), and relations PostgreSQL fills with
 *   built-in objects only a user could add to (operators, casts, operator classes, text search
 *   configurations, …): they list the user-defined objects, of which there are none, and are
 *   empty. Tools such as pg_dump read them to find user objects;
 * - **refused**: relations whose content Stratum cannot give truthfully (pg_locks, pg_stats, …):
 *   a query naming one fails with 0A000 naming it.
 *
 * Column types map to Stratum's SQL types ({@link sqlTypeOf}): `oid`, `xid` and the `reg*`
 * types a relation stores are integers (bigint) or names (text), `name`/`"char"`/`pg_node_tree`
 * are text, `int2vector`/`oidvector` are arrays.
 */
import { SqlState, type SqlType, StratumError } from '@stratum/shared';
import { PG15_RELATIONS } from './pg15.generated.ts';

/** A column of a catalog relation: PostgreSQL's name and type, and the Stratum type it is stored in. */
export interface CatalogColumn {
  name: string;
  /** The type as PostgreSQL 15's format_type prints it (`oid`, `"char"`, `information_schema.sql_identifier`). */
  pgType: string;
  type: SqlType;
  /** PostgreSQL declares it NOT NULL (a generator that leaves it out gives the type's zero, else NULL). */
  notNull: boolean;
}

/** How a relation's rows are had: see the module comment. */
export type RelationKind = 'described' | 'none' | 'refused';

/**
 * When a described relation's rows change: `builtin` never (PostgreSQL's built-in objects),
 * `catalog` with the catalog version, `session` per query (settings, activity, statistics).
 */
export type RelationScope = 'builtin' | 'catalog' | 'session';

/** A catalog relation. */
export interface CatalogRelation {
  /** `pg_catalog` or `information_schema`. */
  schema: string;
  name: string;
  columns: CatalogColumn[];
  kind: RelationKind;
  scope: RelationScope;
}

/**
 * Stratum's SQL type of a PostgreSQL catalog column type (as format_type prints it).
 * @throws Error for a type the generated column lists do not use (a new PostgreSQL release).
 */
export function sqlTypeOf(pgType: string): SqlType {
  if (pgType.endsWith('[]')) {
    const elem = sqlTypeOf(pgType.slice(0, -2));
    return `${elem}[]` as SqlType;
  }
  switch (pgType) {
    case 'oid':
    case 'xid':
    case 'bigint':
      return 'bigint';
    case 'integer':
    case 'information_schema.cardinal_number':
      return 'integer';
    case 'smallint':
      return 'smallint';
    case 'real':
      return 'real';
    case 'double precision':
      return 'double';
    case 'numeric':
      return 'numeric';
    case 'boolean':
      return 'boolean';
    case 'bytea':
      return 'bytea';
    case 'interval':
      return 'interval';
    case 'timestamp with time zone':
    case 'information_schema.time_stamp':
      return 'timestamptz';
    case 'int2vector':
      return 'smallint[]';
    case 'oidvector':
      return 'bigint[]';
    case 'aclitem':
    case 'regproc':
    case 'regtype':
    case '"char"':
    case 'name':
    case 'text':
    case 'inet':
    case 'anyarray':
    case 'pg_node_tree':
    case 'pg_lsn':
    case 'pg_dependencies':
    case 'pg_ndistinct':
    case 'pg_mcv_list':
    case 'pg_statistic':
    case 'information_schema.sql_identifier':
    case 'information_schema.character_data':
    case 'information_schema.yes_or_no':
      return 'text';
    default:
      throw new Error(`catalog column type ${pgType} has no Stratum type`);
  }
}

/** Relations whose rows rows.ts generates (or copies from PostgreSQL), by scope. */
const DESCRIBED: Record<string, RelationScope> = {
  'pg_catalog.pg_am': 'builtin',
  'pg_catalog.pg_collation': 'builtin',
  'pg_catalog.pg_language': 'builtin',
  // Built-in types and the row types of tables and views (rows.ts rowTypeRows).
  'pg_catalog.pg_type': 'catalog',
  'pg_catalog.pg_proc': 'builtin',
  'pg_catalog.pg_tablespace': 'builtin',
  'pg_catalog.pg_namespace': 'builtin',
  'pg_catalog.pg_class': 'catalog',
  'pg_catalog.pg_attribute': 'catalog',
  'pg_catalog.pg_attrdef': 'catalog',
  'pg_catalog.pg_index': 'catalog',
  'pg_catalog.pg_constraint': 'catalog',
  'pg_catalog.pg_description': 'catalog',
  'pg_catalog.pg_sequence': 'catalog',
  'pg_catalog.pg_sequences': 'catalog',
  'pg_catalog.pg_depend': 'catalog',
  'pg_catalog.pg_tables': 'catalog',
  'pg_catalog.pg_views': 'catalog',
  'pg_catalog.pg_indexes': 'catalog',
  'pg_catalog.pg_database': 'catalog',
  'pg_catalog.pg_roles': 'catalog',
  'pg_catalog.pg_authid': 'catalog',
  'pg_catalog.pg_user': 'catalog',
  'pg_catalog.pg_settings': 'session',
  'pg_catalog.pg_stat_activity': 'session',
  'pg_catalog.pg_stat_user_tables': 'session',
  'pg_catalog.pg_stat_all_tables': 'session',
  'pg_catalog.pg_stat_user_indexes': 'session',
  'information_schema.information_schema_catalog_name': 'catalog',
  'information_schema.schemata': 'catalog',
  'information_schema.tables': 'catalog',
  'information_schema.columns': 'catalog',
  'information_schema.views': 'catalog',
  'information_schema.table_constraints': 'catalog',
  'information_schema.key_column_usage': 'catalog',
  'information_schema.referential_constraints': 'catalog',
  'information_schema.constraint_column_usage': 'catalog',
  'information_schema.constraint_table_usage': 'catalog',
  'information_schema.check_constraints': 'catalog',
  'information_schema.sequences': 'catalog',
  'information_schema.enabled_roles': 'catalog',
  'information_schema.applicable_roles': 'catalog',
  'pg_catalog.pg_rewrite': 'catalog',
};

/**
 * Relations PostgreSQL fills with objects Stratum cannot know truthfully: refused with 0A000.
 * Everything not described and not here is empty (no such objects, or no user-defined ones).
 */
const REFUSED = new Set([
  'pg_catalog.pg_locks',
  'pg_catalog.pg_stats',
  'pg_catalog.pg_stats_ext',
  'pg_catalog.pg_stats_ext_exprs',
  'pg_catalog.pg_shadow',
  'pg_catalog.pg_config',
  'pg_catalog.pg_cursors',
  'pg_catalog.pg_prepared_statements',
  'pg_catalog.pg_timezone_abbrevs',
  'pg_catalog.pg_timezone_names',
  'pg_catalog.pg_available_extensions',
  'pg_catalog.pg_available_extension_versions',
  'pg_catalog.pg_replication_slots',
  'pg_catalog.pg_shdepend',
  'information_schema.sql_features',
  'information_schema.sql_implementation_info',
  'information_schema.sql_parts',
  'information_schema.sql_sizing',
  'information_schema.character_sets',
  'information_schema.collations',
  'information_schema.collation_character_set_applicability',
]);

function build(): Map<string, CatalogRelation> {
  const out = new Map<string, CatalogRelation>();
  for (const [key, cols] of Object.entries(PG15_RELATIONS)) {
    const [schema, name] = key.split('.') as [string, string];
    const scope = DESCRIBED[key];
    out.set(key, {
      schema,
      name,
      columns: cols.map(([n, t, nn]) => ({ name: n, pgType: t, type: sqlTypeOf(t), notNull: nn === 1 })),
      kind: scope ? 'described' : REFUSED.has(key) ? 'refused' : 'none',
      scope: scope ?? 'catalog',
    });
  }
  return out;
}

/** Every catalog relation by `schema.name`. */
export const CATALOG_RELATIONS: ReadonlyMap<string, CatalogRelation> = build();

/**
 * The catalog relation a RangeVar names, or undefined when it names none: `pg_catalog.x` and
 * `information_schema.x` as written; an unqualified name is a `pg_catalog` relation (PostgreSQL
 * searches pg_catalog before the search path).
 * @throws StratumError 0A000 for a relation Stratum refuses to describe (see {@link REFUSED});
 *   42P01 for a name in pg_catalog or information_schema that PostgreSQL 15 does not have.
 */
export function catalogRelation(schema: string | undefined, name: string): CatalogRelation | undefined {
  if (schema !== undefined && schema !== 'pg_catalog' && schema !== 'information_schema') return undefined;
  const rel = CATALOG_RELATIONS.get(`${schema ?? 'pg_catalog'}.${name}`);
  if (!rel) {
    if (schema === undefined) return undefined;
    throw new StratumError(SqlState.undefinedTable, `relation "${schema}.${name}" does not exist`);
  }
  if (rel.kind === 'refused') {
    throw new StratumError(SqlState.featureNotSupported, `system catalog relation ${rel.schema}.${rel.name} is not supported by Stratum`, {
      hint: 'See docs/sql.md "System catalogs" for the relations Stratum describes.',
    });
  }
  return rel;
}

/** The DuckDB table name a catalog relation is loaded as (in schema {@link CATALOG_SCHEMA}, or temporary for session scope). */
export function duckName(rel: CatalogRelation): string {
  return rel.schema === 'information_schema' ? `${rel.schema}__${rel.name}` : rel.name;
}

/** The router DuckDB's schema holding the catalog relations of builtin and catalog scope. */
export const CATALOG_SCHEMA = 'stratum_catalog';

/** Prefix of the temporary tables that hold session-scope relations during one query. */
export const SESSION_PREFIX = 'stratum_session__';

/** The `schema.name` key of a catalog relation by the name the catalog stage gave it in DuckDB (undefined for other names). */
export function loadedRelationKey(schema: string | undefined, name: string): string | undefined {
  return schema === CATALOG_SCHEMA
    ? name.includes('__')
      ? name.replace('__', '.')
      : `pg_catalog.${name}`
    : schema === undefined && name.startsWith(SESSION_PREFIX)
      ? `pg_catalog.${name.slice(SESSION_PREFIX.length)}`
      : undefined;
}

/** Columns of a catalog relation by the name the catalog stage gave it in DuckDB (undefined for other names). */
export function loadedRelationColumns(schema: string | undefined, name: string): { name: string; t: SqlType }[] | undefined {
  const key = loadedRelationKey(schema, name);
  const rel = key === undefined ? undefined : CATALOG_RELATIONS.get(key);
  return rel?.columns.map((c) => ({ name: c.name, t: c.type }));
}

/**
 * Whether a resolved relation name (analyze/relations.ts `RelationRef.name`, a plan's `refs`) is a
 * catalog relation: those are named `schema.name`, user tables and system tables never have a dot.
 */
export function isCatalogKey(name: string): boolean {
  return name.includes('.');
}
