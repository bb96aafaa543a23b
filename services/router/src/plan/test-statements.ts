/**
 * Test support for the scatter/gather planners (partial-agg.ts, row-local.ts): one table `f`
 * (id bigint key, origin text, delay integer, at timestamp) and the analytical tier's DuckDB form
 * of a statement over it (parse, `rewriteForTier`), as the router hands it to them.
 */
import type { SelectStmt } from '@pgsql/types';
import { Catalog, DEFAULT_TABLE_OPTIONS } from '@stratum/shared';
import type { SessionValues } from '../analyze/scope.ts';
import { parseFirst } from '../sql/parse.ts';
import { rewriteForTier } from './duckdb-sql.ts';

const SESSION: SessionValues = { user: 'stratum', database: 'stratum', serverVersion: '15.0', setting: () => undefined };

const catalog = new Catalog(() => ({ ...DEFAULT_TABLE_OPTIONS }));
catalog.apply(1, {
  kind: 'create_table',
  table: {
    name: 'f',
    columns: [
      { name: 'id', type: 'bigint', notNull: true },
      { name: 'origin', type: 'text', notNull: false },
      { name: 'delay', type: 'integer', notNull: false },
      { name: 'at', type: 'timestamp', notNull: false },
    ],
    primaryKey: ['id'],
  },
  at: 0,
});

/** The columns of `f`, lower case. */
export const F_COLUMNS: ReadonlySet<string> = new Set(['id', 'origin', 'delay', 'at']);

/** The DuckDB form of `sql`, a SELECT over `f` (the parser must be initialized: `initParser`). */
export function duckdbSelect(sql: string): SelectStmt {
  return (rewriteForTier(parseFirst(sql) as never, catalog, SESSION) as { SelectStmt: SelectStmt }).SelectStmt;
}
