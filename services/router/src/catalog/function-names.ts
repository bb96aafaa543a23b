/**
 * Names of the catalog functions Stratum's system catalogs answer (docs/architecture.md "System
 * catalogs"): the functions tools call on `pg_catalog` rows. functions.ts defines them;
 * gen-pg15.ts copies their pg_proc rows from PostgreSQL 15.
 */

/** The has_*_privilege family and pg_has_role (answered true: every user is a superuser, see functions.ts). */
export const PRIVILEGE_FUNCTIONS: readonly string[] = [
  'has_table_privilege',
  'has_schema_privilege',
  'has_database_privilege',
  'has_sequence_privilege',
  'has_column_privilege',
  'has_any_column_privilege',
  'has_function_privilege',
  'has_tablespace_privilege',
  'has_language_privilege',
  'has_foreign_data_wrapper_privilege',
  'has_server_privilege',
  'has_type_privilege',
  'pg_has_role',
];

/** Catalog functions answered by the macros of functions.ts (rewrite.ts points calls at them). */
export const MACRO_FUNCTION_NAMES: readonly string[] = [
  'format_type',
  'pg_get_expr',
  'pg_get_indexdef',
  'pg_get_constraintdef',
  'pg_get_viewdef',
  'pg_get_serial_sequence',
  'pg_table_is_visible',
  'pg_type_is_visible',
  'pg_function_is_visible',
  'obj_description',
  'col_description',
  'shobj_description',
  'pg_get_userbyid',
  ...PRIVILEGE_FUNCTIONS,
  'pg_encoding_to_char',
  'pg_char_to_encoding',
  'pg_postmaster_start_time',
  'pg_relation_is_publishable',
  'pg_partition_ancestors',
  'pg_get_triggerdef',
  'pg_get_statisticsobjdef_columns',
  'pg_get_function_identity_arguments',
  'pg_get_function_arguments',
  'pg_get_function_result',
  'pg_tablespace_location',
  'pg_is_in_recovery',
  'acldefault',
  'generate_subscripts',
];

/** Every catalog function whose pg_proc row Stratum lists: the macros and the session functions the router binds. */
export const CATALOG_FUNCTION_NAMES: readonly string[] = [
  ...MACRO_FUNCTION_NAMES,
  'txid_current',
  'pg_backend_pid',
  'array_to_string',
  'quote_ident',
  'current_setting',
  'set_config',
];
