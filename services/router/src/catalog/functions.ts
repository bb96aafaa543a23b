/**
 * The catalog functions tools call (docs/architecture.md "System catalogs"), as DuckDB macros in
 * the router DuckDB's catalog schema, over the catalog relations and two helper relations the
 * store loads with them:
 *
 * - `stratum_defs(kind, oid, sub, def, key)`: definitions PostgreSQL's ruleutils would print
 *   (`index` → pg_get_indexdef, with `sub` > 0 the key column's name; `constraint` →
 *   pg_get_constraintdef, `sub` 1 the pretty form; `view` → pg_get_viewdef; `serial` →
 *   pg_get_serial_sequence by table oid and attnum; `pretty` → the pretty form of the
 *   expression text `key`, for pg_get_expr(…, true));
 * - `stratum_format(oid, typmod, fmt)`: format_type's answer for every built-in type with a NULL
 *   typmod (stored as -2) and -1, and for each (type, typmod) a column uses.
 *
 * The macros' own relation aliases start with `m_`: DuckDB expands a macro's arguments inside its
 * body, so an alias the body shared with the caller (`c.oid::regclass` over `pg_class c`) would
 * capture the caller's column reference.
 *
 * A call rewrite.ts cannot answer here (an unknown or unsupported function) is refused before
 * DuckDB sees it. Privileges: every Stratum user is a superuser (roles and grants are not yet
 * modelled), so the has_*_privilege family answers true, as PostgreSQL does for a superuser.
 */
import { COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS } from '@pgsql/quotes';
import { MACRO_FUNCTION_NAMES, PRIVILEGE_FUNCTIONS } from './function-names.ts';
import { CATALOG_SCHEMA } from './relations.ts';

const S = CATALOG_SCHEMA;

/** Keywords quote_ident quotes (all but unreserved ones; PostgreSQL's kwlist via `@pgsql/quotes`), as a DuckDB list. */
const QUOTED_KEYWORDS = `[${[...RESERVED_KEYWORDS, ...COL_NAME_KEYWORDS, ...TYPE_FUNC_NAME_KEYWORDS].map((k) => `'${k}'`).join(', ')}]`;

/**
 * The SQL that defines the catalog macros (run once per DuckDB instance, after the catalog
 * relations exist, see store.ts). `startedAtUs`: the server's start, µs since the epoch
 * (pg_postmaster_start_time).
 */
export function catalogMacrosSql(startedAtUs: bigint): string {
  const def = (kind: string, oid: string, sub = '0') =>
    `(SELECT m_d.def FROM ${S}.stratum_defs m_d WHERE m_d.kind = '${kind}' AND m_d.oid = ${oid} AND m_d.sub = ${sub})`;
  const truth = (n: number) => Array.from({ length: n }, (_, i) => `a${i}`).join(', ');
  return [
    // format_type's typmod rules (PostgreSQL's format_type.c) for the types that take one; arrays by their element.
    `CREATE OR REPLACE MACRO ${S}.format_typmod(t, m) AS CASE t
       WHEN 1043 THEN 'character varying(' || (m - 4) || ')'
       WHEN 1042 THEN 'character(' || (m - 4) || ')'
       WHEN 1700 THEN 'numeric(' || (((m - 4) >> 16) & 65535) || ',' || ((m - 4) & 65535) || ')'
       WHEN 1114 THEN 'timestamp(' || m || ') without time zone'
       WHEN 1184 THEN 'timestamp(' || m || ') with time zone'
       WHEN 1083 THEN 'time(' || m || ') without time zone'
       WHEN 1266 THEN 'time(' || m || ') with time zone'
       WHEN 1560 THEN 'bit(' || m || ')'
       WHEN 1562 THEN 'bit varying(' || m || ')' END`,
    `CREATE OR REPLACE MACRO ${S}.format_type(t, m) AS CASE WHEN t IS NULL THEN NULL ELSE coalesce(
       (SELECT m_f.fmt FROM ${S}.stratum_format m_f WHERE m_f.oid = t AND m_f.typmod = coalesce(m, -2)),
       CASE WHEN m >= 0 THEN coalesce(${S}.format_typmod(t, m),
         ${S}.format_typmod((SELECT first(m_e.typelem) FROM ${S}.pg_type m_e WHERE m_e.oid = t AND m_e.typcategory = 'A'), m) || '[]') END,
       (SELECT m_f.fmt FROM ${S}.stratum_format m_f WHERE m_f.oid = t AND m_f.typmod = -1), '???') END`,
    `CREATE OR REPLACE MACRO ${S}.quote_ident(x) AS CASE WHEN regexp_full_match(x, '[a-z_][a-z0-9_$]*')
       AND NOT list_contains(${QUOTED_KEYWORDS}, x) THEN x ELSE '"' || replace(x, '"', '""') || '"' END`,
    // reg* input: a name (already unquoted and folded by rewrite.ts when it is a constant) or digits.
    `CREATE OR REPLACE MACRO ${S}.regclass_in(s) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE coalesce((SELECT first(m_c.oid) FROM ${S}.pg_class m_c WHERE m_c.relname = s),
         error('pg:42P01:relation "' || s || '" does not exist')) END`,
    // regclassin's reading of a name computed at run time: `schema.` (pg_catalog or public) dropped, quoted or folded.
    `CREATE OR REPLACE MACRO ${S}.regclass_parse(s) AS CASE
       WHEN regexp_full_match(s, '(?s)("?(pg_catalog|public)"?\\.)?".*"')
         THEN replace(regexp_extract(s, '(?s)^(?:"?(?:pg_catalog|public)"?\\.)?"(.*)"$', 1), '""', '"')
       ELSE lower(trim(regexp_replace(s, '^(pg_catalog|public)\\.', '', 'i'))) END`,
    `CREATE OR REPLACE MACRO ${S}.regtype_in(s) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE coalesce((SELECT first(m_f.oid) FROM ${S}.stratum_format m_f WHERE m_f.fmt = s AND m_f.typmod = -1),
         (SELECT first(m_t.oid) FROM ${S}.pg_type m_t WHERE m_t.typname = s),
         error('pg:42704:type "' || s || '" does not exist')) END`,
    `CREATE OR REPLACE MACRO ${S}.regproc_in(s) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE coalesce((SELECT first(m_p.oid) FROM ${S}.pg_proc m_p WHERE m_p.proname = s),
         error('pg:42883:function "' || s || '" does not exist')) END`,
    `CREATE OR REPLACE MACRO ${S}.regnamespace_in(s) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE coalesce((SELECT first(m_n.oid) FROM ${S}.pg_namespace m_n WHERE m_n.nspname = s),
         error('pg:3F000:schema "' || s || '" does not exist')) END`,
    `CREATE OR REPLACE MACRO ${S}.regrole_in(s) AS CASE WHEN s IS NULL THEN NULL
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE coalesce((SELECT first(m_r.oid) FROM ${S}.pg_authid m_r WHERE m_r.rolname = s),
         error('pg:42704:role "' || s || '" does not exist')) END`,
    // A regproc column's stored name as its oid, in comparisons: '-' is 0, an unknown name NULL (it matches no oid).
    `CREATE OR REPLACE MACRO ${S}.regproc_oid(s) AS CASE WHEN s IS NULL THEN NULL WHEN CAST(s AS VARCHAR) = '-' THEN 0
       WHEN regexp_full_match(CAST(s AS VARCHAR), '[0-9]+') THEN CAST(s AS BIGINT)
       ELSE (SELECT first(p.oid) FROM ${S}.pg_proc p WHERE p.proname = s) END`,
    // reg* output: the name (an oid with no object prints as its digits, as PostgreSQL's).
    `CREATE OR REPLACE MACRO ${S}.regclass_out(o) AS CASE WHEN o = 0 THEN '-' ELSE
       coalesce((SELECT first(${S}.quote_ident(m_c.relname)) FROM ${S}.pg_class m_c WHERE m_c.oid = o), CAST(o AS VARCHAR)) END`,
    `CREATE OR REPLACE MACRO ${S}.regtype_out(o) AS CASE WHEN o = 0 THEN '-' ELSE ${S}.format_type(o, NULL) END`,
    `CREATE OR REPLACE MACRO ${S}.regproc_out(o) AS
       coalesce((SELECT first(m_p.proname) FROM ${S}.pg_proc m_p WHERE m_p.oid = o), CASE WHEN o = 0 THEN '-' ELSE CAST(o AS VARCHAR) END)`,
    `CREATE OR REPLACE MACRO ${S}.regnamespace_out(o) AS CASE WHEN o = 0 THEN '-' ELSE
       coalesce((SELECT first(m_n.nspname) FROM ${S}.pg_namespace m_n WHERE m_n.oid = o), CAST(o AS VARCHAR)) END`,
    `CREATE OR REPLACE MACRO ${S}.regrole_out(o) AS CASE WHEN o = 0 THEN '-' ELSE
       coalesce((SELECT first(m_r.rolname) FROM ${S}.pg_authid m_r WHERE m_r.oid = o), CAST(o AS VARCHAR)) END`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_expr(e, r) AS e, (e, r, p) AS CASE WHEN p THEN
       coalesce((SELECT first(m_d.def) FROM ${S}.stratum_defs m_d WHERE m_d.kind = 'pretty' AND m_d.key = e), e) ELSE e END`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_indexdef(o) AS ${def('index', 'o')},
       (o, c, p) AS ${def('index', 'o', 'c')}`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_constraintdef(o) AS ${def('constraint', 'o')},
       (o, p) AS ${def('constraint', 'o', 'CASE WHEN p THEN 1 ELSE 0 END')}`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_viewdef(o) AS ${def('view', 'o')}, (o, p) AS ${def('view', 'o')}`,
    // The same, for a session whose search_path does not show public (rewrite.ts picks them): names qualified.
    `CREATE OR REPLACE MACRO ${S}.pg_get_expr_q(e, r) AS
       coalesce((SELECT first(d.def) FROM ${S}.stratum_defs d WHERE d.kind = 'qualified' AND d.sub = 0 AND d.key = e), e),
       (e, r, p) AS coalesce((SELECT first(d.def) FROM ${S}.stratum_defs d WHERE d.kind = 'qualified'
         AND d.sub = CASE WHEN p THEN 1 ELSE 0 END AND d.key = e), ${S}.pg_get_expr(e, r, p))`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_constraintdef_q(o) AS ${def('constraint', 'o', '2')},
       (o, p) AS ${def('constraint', 'o', 'CASE WHEN p THEN 3 ELSE 2 END')}`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_viewdef_q(o) AS ${def('view', 'o', '1')}, (o, p) AS ${def('view', 'o', '1')}`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_serial_sequence(t, c) AS
       (SELECT m_d.def FROM ${S}.stratum_defs m_d WHERE m_d.kind = 'serial' AND m_d.oid = ${S}.regclass_in(${S}.regclass_parse(t))
          AND m_d.sub = (SELECT m_a.attnum FROM ${S}.pg_attribute m_a WHERE m_a.attrelid = m_d.oid AND m_a.attname = c))`,
    `CREATE OR REPLACE MACRO ${S}.pg_table_is_visible(o) AS o IS NOT NULL OR NULL`,
    `CREATE OR REPLACE MACRO ${S}.pg_type_is_visible(o) AS o IS NOT NULL OR NULL`,
    `CREATE OR REPLACE MACRO ${S}.pg_function_is_visible(o) AS o IS NOT NULL OR NULL`,
    `CREATE OR REPLACE MACRO ${S}.obj_description(o) AS
       (SELECT first(m_d.description) FROM ${S}.pg_description m_d WHERE m_d.objoid = o AND m_d.objsubid = 0),
       (o, c) AS (SELECT first(m_d.description) FROM ${S}.pg_description m_d WHERE m_d.objoid = o AND m_d.objsubid = 0
          AND m_d.classoid = CASE c WHEN 'pg_class' THEN 1259 WHEN 'pg_namespace' THEN 2615 WHEN 'pg_constraint' THEN 2606
            WHEN 'pg_type' THEN 1247 WHEN 'pg_proc' THEN 1255 ELSE -1 END)`,
    `CREATE OR REPLACE MACRO ${S}.col_description(o, n) AS
       (SELECT first(m_d.description) FROM ${S}.pg_description m_d WHERE m_d.objoid = o AND m_d.objsubid = n AND m_d.classoid = 1259)`,
    `CREATE OR REPLACE MACRO ${S}.shobj_description(o, c) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_userbyid(o) AS
       coalesce((SELECT first(m_r.rolname) FROM ${S}.pg_authid m_r WHERE m_r.oid = o), 'unknown (OID=' || o || ')')`,
    ...PRIVILEGE_FUNCTIONS.map(
      (p) => `CREATE OR REPLACE MACRO ${S}.${p}(${truth(1)}) AS true, (${truth(2)}) AS true, (${truth(3)}) AS true, (${truth(4)}) AS true`,
    ),
    `CREATE OR REPLACE MACRO ${S}.pg_encoding_to_char(e) AS CASE e WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END`,
    `CREATE OR REPLACE MACRO ${S}.pg_char_to_encoding(e) AS CASE upper(e) WHEN 'UTF8' THEN 6 WHEN 'SQL_ASCII' THEN 0 ELSE -1 END`,
    `CREATE OR REPLACE MACRO ${S}.pg_postmaster_start_time() AS make_timestamptz(${startedAtUs}::BIGINT)`,
    `CREATE OR REPLACE MACRO ${S}.pg_relation_is_publishable(o) AS false`,
    `CREATE OR REPLACE MACRO ${S}.pg_partition_ancestors(o) AS o`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_triggerdef(o) AS CAST(NULL AS VARCHAR), (o, p) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_statisticsobjdef_columns(o) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_function_identity_arguments(o) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_function_arguments(o) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_get_function_result(o) AS CAST(NULL AS VARCHAR)`,
    `CREATE OR REPLACE MACRO ${S}.pg_tablespace_location(o) AS ''`,
    `CREATE OR REPLACE MACRO ${S}.pg_is_in_recovery() AS false`,
    // ACLs: Stratum has no grants yet, so every ACL is the default (NULL, as PostgreSQL stores a default ACL).
    `CREATE OR REPLACE MACRO ${S}.acldefault(c, o) AS CAST(NULL AS VARCHAR[])`,
    `CREATE OR REPLACE MACRO ${S}._pg_expandarray(a) AS unnest(list_transform(range(1, len(a) + 1), i -> {'x': a[i], 'n': i}))`,
    // One-dimensional arrays with lower bound 1 (Stratum's arrays, and the catalog's vectors).
    `CREATE OR REPLACE MACRO ${S}.generate_subscripts(a, d) AS unnest(CASE WHEN d = 1 THEN range(1, len(a) + 1) ELSE [] END)`,
    // FROM-clause pg_options_to_table(text[]): 'k=v' texts as (option_name, option_value), split at the first '='
    // (a text without one has a NULL value); no rows for NULL or an empty array, as PostgreSQL's.
    `CREATE OR REPLACE MACRO ${S}.pg_options_to_table(a) AS TABLE SELECT split_part(o, '=', 1) AS option_name,
       CASE WHEN strpos(o, '=') > 0 THEN substr(o, strpos(o, '=') + 1) END AS option_value FROM unnest(a) AS t(o)`,
  ].join(';\n');
}

/** Catalog relations each macro reads (the store loads them before a query that calls it). */
export const MACRO_RELATIONS: Readonly<Record<string, readonly string[]>> = {
  format_type: [],
  pg_get_serial_sequence: ['pg_catalog.pg_class', 'pg_catalog.pg_attribute'],
  obj_description: ['pg_catalog.pg_description'],
  col_description: ['pg_catalog.pg_description'],
  pg_get_userbyid: ['pg_catalog.pg_authid'],
  regclass_in: ['pg_catalog.pg_class'],
  regclass_out: ['pg_catalog.pg_class'],
  regtype_in: ['pg_catalog.pg_type'],
  regtype_out: [],
  regproc_in: ['pg_catalog.pg_proc'],
  regproc_out: ['pg_catalog.pg_proc'],
  regproc_oid: ['pg_catalog.pg_proc'],
  regnamespace_in: ['pg_catalog.pg_namespace'],
  regnamespace_out: ['pg_catalog.pg_namespace'],
  regrole_in: ['pg_catalog.pg_authid'],
  regrole_out: ['pg_catalog.pg_authid'],
};

/** Catalog functions with a `_q` macro for sessions whose search_path does not show public. */
export const QUALIFYING_FUNCTIONS: ReadonlySet<string> = new Set(['pg_get_expr', 'pg_get_constraintdef', 'pg_get_viewdef']);

/** Catalog functions rewrite.ts sends to the macros above (names as PostgreSQL spells them). */
export const MACRO_FUNCTIONS: ReadonlySet<string> = new Set([...MACRO_FUNCTION_NAMES, 'pg_options_to_table']);

/**
 * pg_catalog functions Stratum refuses (0A000 naming the function): their answers would need
 * storage sizes, locks or server internals the catalog does not have.
 */
export const REFUSED_FUNCTIONS = new Set([
  'pg_relation_size',
  'pg_total_relation_size',
  'pg_table_size',
  'pg_indexes_size',
  'pg_database_size',
  'pg_tablespace_size',
  'pg_relation_filenode',
  'pg_relation_filepath',
  'pg_stat_get_numscans',
  'pg_stat_get_live_tuples',
  'pg_try_advisory_lock',
  'pg_advisory_lock',
  'pg_advisory_unlock',
  'pg_advisory_xact_lock',
  'pg_current_wal_lsn',
  'pg_last_wal_receive_lsn',
  'pg_get_keywords',
  'pg_get_ruledef',
  'pg_get_partkeydef',
  'pg_get_function_sqlbody',
  'pg_get_functiondef',
  'pg_stat_get_activity',
  'pg_ls_dir',
  'pg_read_file',
]);
