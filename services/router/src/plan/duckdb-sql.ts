/**
 * The text the analytical tier runs (DuckDB, with PostgreSQL semantics set per connection,
 * shared/src/duckdb): the statement's AST rewritten by transformers — views inlined as
 * subqueries, session functions bound to their values — and deparsed with `pgsql-deparser`
 * (PostgreSQL syntax, which DuckDB's PostgreSQL-derived parser reads). No SQL text is edited by
 * byte offsets (STYLE: rewrites are transformers over nodes).
 */
import { createRequire } from 'node:module';
import { QuoteUtils } from '@pgsql/quotes';
import type { Alias, Node } from '@pgsql/types';
import { type Catalog, SqlState, StratumError, searchPath } from '@stratum/shared';
import { deparseSync } from 'pgsql-deparser';
import { constString, makeNode, type NodeEntry, nodeOf, strOf } from '../analyze/ast.ts';
import type { SessionValues } from '../analyze/scope.ts';
import { transformNodes } from '../analyze/walk.ts';
import { type CatalogRewrite, rewriteCatalog } from '../catalog/rewrite.ts';
import { parseFirst } from '../sql/parse.ts';
import { pgSemantics } from './rewrite/index.ts';
import type { Columns } from './rewrite/types.ts';

/**
 * Words DuckDB's grammar reserves that PostgreSQL's does not (`duckdb_keywords()` minus
 * PostgreSQL's reserved, column-name and type/function-name keywords): the deparser quotes
 * identifiers spelled like them, so a column named `at` or `map` reads as a column in DuckDB.
 */
const DUCKDB_ONLY_KEYWORDS = new Set([
  'anti',
  'asof',
  'at',
  'by',
  'columns',
  'describe',
  'generated',
  'glob',
  'grouping_id',
  'lambda',
  'map',
  'pivot',
  'pivot_longer',
  'pivot_wider',
  'positional',
  'qualify',
  'semi',
  'show',
  'struct',
  'summarize',
  'try_cast',
  'unpack',
  'unpivot',
]);

/** Make the deparser's identifier quoting (its ESM and CommonJS copies) quote DuckDB's extra keywords too. */
function quoteDuckDbKeywords(q: { quoteIdentifier(id: string): string; quoteIdentifierAfterDot(id: string): string }): void {
  const plain = q.quoteIdentifier.bind(q);
  const afterDot = q.quoteIdentifierAfterDot.bind(q);
  if ((q as { stratumPatched?: boolean }).stratumPatched) return;
  q.quoteIdentifier = (id: string) => (id && DUCKDB_ONLY_KEYWORDS.has(id) ? `"${id}"` : plain(id));
  q.quoteIdentifierAfterDot = (id: string) => (id && DUCKDB_ONLY_KEYWORDS.has(id) ? `"${id}"` : afterDot(id));
  (q as { stratumPatched?: boolean }).stratumPatched = true;
}
quoteDuckDbKeywords(QuoteUtils);
quoteDuckDbKeywords(createRequire(import.meta.url)('@pgsql/quotes').QuoteUtils);

/** Parsed view queries by view name and oid (views are inlined where used). */
const viewCache = new Map<string, Node>();

/**
 * The SelectStmt of a view's SQL.
 * @throws StratumError XX000 when the stored SQL holds no statement (a corrupt catalog entry).
 */
function viewQuery(sql: string, key: string): Node {
  let q = viewCache.get(key);
  if (!q) {
    q = parseFirst(sql);
    if (!q) throw new StratumError(SqlState.internalError, `the stored query of view ${key} holds no statement`);
    viewCache.set(key, q);
  }
  return q;
}

/** A string constant node. */
export function stringConst(v: string): Node {
  return { A_Const: { sval: { sval: v } } };
}

/**
 * Session functions answered by the router, not the tier: version(), current_database(),
 * current_schema(), current_user & co., pg_backend_pid(), current_setting('x').
 * @returns the constant node, or undefined for any other call.
 * @throws StratumError 42704 for current_setting of an unknown setting.
 */
export function sessionFunction(node: NodeEntry, s: SessionValues): Node | undefined {
  const [type, n] = node;
  if (type === 'FuncCall') {
    const names = (n.funcname ?? []).map((x) => strOf(x));
    const name = names[names.length - 1];
    if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return undefined;
    const args = n.args ?? [];
    if (name === 'version' && args.length === 0) {
      return stringConst(
        `PostgreSQL ${s.serverVersion} (Stratum 0.1.0) on x86_64-pc-linux-gnu, compiled by Node.js ${process.version}, 64-bit`,
      );
    }
    if (name === 'current_database' && args.length === 0) return stringConst(s.database);
    if (name === 'current_schema' && args.length === 0) {
      const first = searchPath(s, false)[0];
      return first === undefined ? { A_Const: { isnull: true } } : stringConst(first);
    }
    if (name === 'current_schemas' && args.length === 1) {
      const implicit = nodeOf(args[0], 'A_Const')?.boolval;
      if (!implicit && !nodeOf(args[0], 'A_Const')) return undefined;
      const elements = searchPath(s, implicit?.boolval === true).map(stringConst);
      return {
        TypeCast: {
          arg: { A_ArrayExpr: { elements } },
          typeName: { names: [{ String: { sval: 'text' } }], arrayBounds: [{ Integer: { ival: -1 } }] },
        },
      };
    }
    if (name === 'pg_backend_pid' && args.length === 0) return { A_Const: { ival: { ival: s.backendPid ?? process.pid } } };
    if (name === 'current_setting' && args.length >= 1) {
      const key = constString(args[0]);
      if (key === undefined) return undefined;
      const v = s.setting(key);
      if (v === undefined) {
        if (constString(args[1]) === undefined && !nodeOf(args[1], 'A_Const')?.boolval?.boolval) {
          throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${key}"`);
        }
        return { A_Const: { isnull: true } };
      }
      return stringConst(v);
    }
    return undefined;
  }
  if (type === 'SQLValueFunction') {
    const op = String(n.op ?? '');
    if (/^SVFOP_(CURRENT_USER|SESSION_USER|USER|CURRENT_ROLE)$/.test(op)) return stringConst(s.user);
    if (op === 'SVFOP_CURRENT_CATALOG') return stringConst(s.database);
    if (op === 'SVFOP_CURRENT_SCHEMA') {
      const first = searchPath(s, false)[0];
      return first === undefined ? { A_Const: { isnull: true } } : stringConst(first);
    }
  }
  return undefined;
}

/** Whether a search_path lists public (PostgreSQL then prints public's relations unqualified). */
function searchPathShowsPublic(searchPath: string): boolean {
  return searchPath.split(',').some((x) => x.trim().replace(/^"(.*)"$/, '$1') === 'public' || x.trim().toLowerCase() === 'public');
}

/**
 * The statement with views inlined (as `(SELECT …) AS alias`, recursively) and session functions
 * bound, catalog names pointed at the router's system catalogs (catalog/rewrite.ts), then
 * rewritten for PostgreSQL semantics in DuckDB (rewrite/index.ts). `ctes` are CTE names that
 * shadow views; `relations`: the tables (by alias) whose columns an expression (not a SELECT)
 * may name, such as a write's WHERE over its table. `catalogUse`, when given, receives what the
 * catalog stage found (the catalog relations the statement reads); `onColumns` a SELECT's output
 * columns as the PostgreSQL-semantics rewrite types them.
 * @throws StratumError 0A000 for a catalog relation or function Stratum does not answer.
 */
export function rewriteForTier(
  stmt: Node,
  catalog: Catalog,
  s: SessionValues,
  ctes: ReadonlySet<string> = new Set(),
  relations: readonly { alias: string; table: string }[] = [],
  catalogUse?: (use: CatalogRewrite) => void,
  onColumns?: (cols: Columns) => void,
): Node {
  let depth = 0;
  const rewrite = (tree: Node): Node =>
    transformNodes(tree, (type, n) => {
      const bound = sessionFunction([type, n] as NodeEntry, s);
      if (bound) return bound;
      // PostgreSQL: `FROM f(…) AS g` names the single output column of f `g` too; DuckDB would
      // make `g` the row. Spell the column alias out.
      if (type === 'RangeFunction' && n.alias && !n.alias.colnames && !n.coldeflist && (n.functions ?? []).length === 1) {
        const { alias: _, ...rest } = n;
        return makeNode('RangeFunction', {
          ...nodeOf(rewrite(makeNode('RangeFunction', rest)), 'RangeFunction'),
          alias: { ...n.alias, colnames: [makeNode('String', { sval: n.alias.aliasname ?? '' })] },
        });
      }
      if (type === 'RangeVar' && n.schemaname === 'public' && !ctes.has(n.relname ?? '')) {
        // `public.t` is `t` (Stratum's one schema; DuckDB has no schema of that name).
        const { schemaname: _, ...rest } = n;
        return rewrite(makeNode('RangeVar', { ...rest, alias: n.alias ?? { aliasname: n.relname ?? '' } }));
      }
      if (type === 'RangeVar' && !n.schemaname && !ctes.has(n.relname ?? '')) {
        const v = catalog.view(n.relname ?? '');
        if (!v) return undefined;
        if (++depth > 32) throw new StratumError('42P17', `infinite recursion detected in rules for relation "${v.name}"`);
        const q = rewrite(viewQuery(v.sql, `${v.oid}:${v.sql}`));
        depth--;
        const alias: Alias = { aliasname: n.alias?.aliasname ?? v.name };
        if (n.alias?.colnames) alias.colnames = n.alias.colnames;
        return makeNode('RangeSubselect', { subquery: q, alias });
      }
      return undefined;
    });
  const use = rewriteCatalog(rewrite(stmt), ctes, { qualify: !searchPathShowsPublic(s.setting('search_path') ?? '') });
  catalogUse?.(use);
  return pgSemantics(use.stmt, catalog, relations, onColumns, { timeZone: s.setting('TimeZone'), dateStyle: s.setting('DateStyle') });
}

/** PostgreSQL text of a statement or expression node (for DuckDB, EXPLAIN and the catalog). */
export function deparse(node: Node): string {
  try {
    return deparseSync(node, { pretty: false } as never);
  } catch (e) {
    throw new StratumError(SqlState.internalError, `could not print the statement for the analytical tier: ${(e as Error).message}`);
  }
}
