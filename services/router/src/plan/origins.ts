/**
 * Where the result columns of an analytical SELECT come from, for RowDescription's table OID and
 * column attribute number (pgwire protocol "RowDescription"): PostgreSQL's
 * markTargetListOrigins (parser/parse_target.c) marks a result column that is a plain reference
 * to a column of a table or view in the query's own FROM with that relation's oid and the
 * column's attnum, and everything else (expressions, set operations) with 0. Clients read them
 * back: pgjdbc's ResultSetMetaData.getTableName/getSchemaName/isNullable/isAutoIncrement ask
 * pg_attribute for that oid and attnum.
 *
 * Followed here: plain column references and `*` over tables and views named in the top-level
 * FROM (plain, cross and ON joins). Not followed (0, as for an expression): columns of
 * subqueries, CTEs and functions in FROM, which PostgreSQL follows to their own origin.
 */
import type { Node, SelectStmt } from '@pgsql/types';
import type { Catalog, ViewInfo } from '@stratum/shared';
import { nodeOf, strOf } from '../analyze/ast.ts';
import { type RelationRef, relationsOf } from '../analyze/relations.ts';
import { parseSelect } from '../sql/parse.ts';

/** The origin of one result column: the relation's pg_class oid and the column's attnum (1-based), and its typmod. */
export interface ColumnOrigin {
  tableOid: number;
  attnum: number;
  typmod?: number;
}

/** A relation of the top-level FROM with its columns in order (hidden columns left out). */
interface Source {
  alias: string;
  oid: number;
  columns: { name: string; attnum: number; typmod?: number }[];
}

function sourceOf(ref: RelationRef, catalog?: Catalog): Source | undefined {
  if (ref.kind === 'table') {
    if (ref.history) return undefined;
    const columns = ref.table.columns
      .filter((c) => !c.hidden)
      .map((c) => ({ name: c.name, attnum: c.attnum ?? 0, ...(c.typmod !== undefined ? { typmod: c.typmod } : {}) }));
    return { alias: ref.alias, oid: ref.table.oid, columns };
  }
  if (ref.kind === 'view') {
    const typmods = catalog ? viewTypmods(catalog, ref.view) : [];
    const columns = ref.view.columns.map((c, i) => {
      const typmod = typmods[i];
      return { name: c.name, attnum: i + 1, ...(typmod !== undefined ? { typmod } : {}) };
    });
    return { alias: ref.alias, oid: ref.view.oid, columns };
  }
  return undefined;
}

/**
 * The relations of a FROM item in the order `*` lists their columns, or undefined when it has
 * one whose columns are not followed (subquery, function, CTE, catalog relation, USING/NATURAL
 * join, which merges columns).
 */
function fromSources(item: Node, refs: RelationRef[], catalog?: Catalog): Source[] | undefined {
  const rv = nodeOf(item, 'RangeVar');
  if (rv) {
    const ref =
      refs.find((r) => r.node === rv) ?? refs.find((r) => r.node.relname === rv.relname && r.alias === (rv.alias?.aliasname ?? rv.relname));
    const src = ref ? sourceOf(ref, catalog) : undefined;
    return src ? [src] : undefined;
  }
  const j = nodeOf(item, 'JoinExpr');
  if (j && !j.usingClause && !j.isNatural && !j.alias && j.larg && j.rarg) {
    const l = fromSources(j.larg, refs, catalog);
    const r = fromSources(j.rarg, refs, catalog);
    return l && r ? [...l, ...r] : undefined;
  }
  return undefined;
}

/**
 * Origins of the result columns of `s` (undefined entries: no origin), or undefined when they
 * cannot be listed (a set operation, or `*` over a FROM item whose columns are not followed).
 * `refs`: the statement's resolved relations (analyze/relations.ts), over the same tree;
 * `catalog`, when given, gives view columns their typmods ({@link viewTypmods}).
 */
export function resultOrigins(s: SelectStmt, refs: RelationRef[], catalog?: Catalog): (ColumnOrigin | undefined)[] | undefined {
  if ((s.op && s.op !== 'SETOP_NONE') || !s.targetList) return undefined;
  const from: (Source[] | undefined)[] = (s.fromClause ?? []).map((f) => fromSources(f, refs, catalog));
  const known = from.flatMap((x) => x ?? []);
  const complete = from.every((x) => x !== undefined);
  const origin = (src: Source, c: Source['columns'][number]): ColumnOrigin => ({
    tableOid: src.oid,
    attnum: c.attnum,
    ...(c.typmod !== undefined ? { typmod: c.typmod } : {}),
  });
  const out: (ColumnOrigin | undefined)[] = [];
  for (const t of s.targetList) {
    const rt = nodeOf(t, 'ResTarget');
    const fields = nodeOf(rt?.val, 'ColumnRef')?.fields ?? [];
    const names = fields.map((f) => strOf(f));
    const star = nodeOf(fields[fields.length - 1], 'A_Star') !== undefined;
    if (star) {
      if (fields.length === 1) {
        if (!complete) return undefined;
        for (const src of known) for (const c of src.columns) out.push(origin(src, c));
      } else {
        const src = known.find((x) => x.alias === names[fields.length - 2]);
        if (!src || fields.length > 2) return undefined;
        for (const c of src.columns) out.push(origin(src, c));
      }
      continue;
    }
    const col = names[names.length - 1];
    if (!rt || fields.length === 0 || fields.length > 2 || col === undefined) {
      out.push(undefined);
      continue;
    }
    // Qualified: the relation of that alias. Unqualified: the one FROM item that has the column (all must be followed).
    const candidates = fields.length === 2 ? known.filter((x) => x.alias === names[0]) : complete ? known : [];
    const hits = candidates.flatMap((src) => src.columns.filter((c) => c.name === col).map((c) => origin(src, c)));
    out.push(hits.length === 1 ? hits[0] : undefined);
  }
  return out;
}

/**
 * The typmods of a view's columns (undefined: none), as PostgreSQL gives a view column the
 * typmod of its defining expression (exprTypmod): a plain reference to a column of a table or
 * view in the view query's FROM keeps that column's typmod (`varchar(200)`, `numeric(10,2)`).
 * A view whose SQL no longer parses or resolves gives none.
 */
export function viewTypmods(catalog: Catalog, view: ViewInfo): (number | undefined)[] {
  try {
    const s = parseSelect(view.sql);
    const origins = resultOrigins(
      s,
      relationsOf(catalog, { SelectStmt: s }, () => undefined),
      catalog,
    );
    return (origins ?? []).map((o) => o?.typmod);
  } catch {
    return [];
  }
}
