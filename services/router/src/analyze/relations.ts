/**
 * Name resolution of relations (analyze stage, docs/architecture.md "Router"): every
 * RangeVar of a statement is a user table, a table's history (`<t>__history`), a view
 * (inlined as a subquery), a system table served by the router, or a CTE. Unknown names fail
 * with 42P01 and the 1-based character position of the name, as PostgreSQL reports them.
 */

import type { RangeVar } from '@pgsql/types';
import { type Catalog, SchemaError, SqlState, type TableInfo, type ViewInfo } from '@stratum/shared';
import { catalogRelation, loadedRelationKey } from '../catalog/relations.ts';
import { forEachNode, type Tree } from './walk.ts';

/** Names of the system tables the router serves (DESIGN §4 conflicts). */
export const SYSTEM_TABLES = new Set(['stratum_conflicts']);

/**
 * A resolved RangeVar (`node`). System relations are `stratum_conflicts` and the catalog
 * relations (`pg_catalog.pg_class`, `information_schema.tables`: names with a dot).
 */
export type RelationRef =
  | { kind: 'table'; table: TableInfo; history: boolean; alias: string; node: RangeVar }
  | { kind: 'view'; view: ViewInfo; alias: string; node: RangeVar }
  | { kind: 'system'; name: string; alias: string; node: RangeVar }
  | { kind: 'cte'; name: string; alias: string; node: RangeVar };

/** Character position (1-based) of a byte offset into the statement text. */
export type PositionOf = (byteLocation: number | undefined) => number | undefined;

/** The name of a RangeVar, `schema.name` when a schema is given. */
export function rangeVarName(rv: RangeVar): { schema?: string; name: string } {
  const name = rv.relname ?? '';
  return rv.schemaname ? { schema: rv.schemaname, name } : { name };
}

/** Alias of a RangeVar: its alias, else its name. */
export function aliasOf(rv: RangeVar): string {
  return rv.alias?.aliasname ?? rv.relname ?? '';
}

/**
 * Resolve one RangeVar against the catalog: schema `public` (or none) for user objects;
 * `pg_catalog` and `information_schema` (or an unqualified catalog name, as PostgreSQL searches
 * pg_catalog first) for the system catalogs (catalog/relations.ts).
 * @throws SchemaError 42P01 with the name's position; StratumError 0A000 for a catalog relation
 *   Stratum does not describe.
 */
export function resolveRangeVar(catalog: Catalog, rv: RangeVar, ctes: ReadonlySet<string>, positionOf: PositionOf): RelationRef {
  const { schema, name } = rangeVarName(rv);
  const alias = aliasOf(rv);
  const pos = positionOf(rv.location);
  const opts = pos === undefined ? {} : { position: pos };
  if (schema === undefined && ctes.has(name)) return { kind: 'cte', name, alias, node: rv };
  const system = catalogRelation(schema, name);
  if (system) return { kind: 'system', name: `${system.schema}.${system.name}`, alias, node: rv };
  const loaded = loadedRelationKey(schema, name);
  if (loaded) return { kind: 'system', name: loaded, alias, node: rv };
  if (schema !== undefined && schema !== 'public') {
    throw new SchemaError(SqlState.undefinedTable, `relation "${schema}.${name}" does not exist`, opts);
  }
  if (SYSTEM_TABLES.has(name)) return { kind: 'system', name, alias, node: rv };
  const base = name.endsWith('__history') ? name.slice(0, -'__history'.length) : name;
  const table = catalog.find(base);
  if (table) return { kind: 'table', table, history: base !== name, alias, node: rv };
  const view = catalog.view(name);
  if (view) return { kind: 'view', view, alias, node: rv };
  throw new SchemaError(SqlState.undefinedTable, `relation "${schema ? `${schema}.` : ''}${name}" does not exist`, opts);
}

/**
 * Every relation a statement reads (RangeVars anywhere in it, CTE names excluded), resolved.
 * @throws SchemaError 42P01 for the first unknown name.
 */
export function relationsOf(catalog: Catalog, stmt: Tree, positionOf: PositionOf): RelationRef[] {
  const ctes = new Set<string>();
  forEachNode(stmt, (type, n) => {
    if (type === 'CommonTableExpr' && n.ctename) ctes.add(n.ctename);
  });
  const out: RelationRef[] = [];
  forEachNode(stmt, (type, n) => {
    if (type === 'RangeVar') out.push(resolveRangeVar(catalog, n, ctes, positionOf));
  });
  return out;
}
