/**
 * Two-phase aggregation for scatter/gather reads (docs/architecture.md "Router", "Partial
 * aggregation"): an aggregate over one table that spans several OLAP shards is split into
 * - a *partial* statement each shard runs: its WHERE clause, grouped by the statement's group
 *   keys, with a partial state per aggregate (count, sum, min, max, bool_and, bool_or as they
 *   are; avg as sum and count);
 * - a *final* statement the router runs over the shards' partial rows: the statement itself with
 *   its group keys read from the partial table and each aggregate merged (count → sum of the
 *   counts, sum → sum, min → min, …, avg → Σsum / Σcount).
 * So what crosses the wire is one row per group per shard instead of every row. The statement
 * is the analytical tier's DuckDB form (after `rewriteForTier`), where PostgreSQL's aggregates
 * are already DuckDB's (`sum(int4)` → `CAST(sum(x) AS BIGINT)`, `avg(int)` → `pg_ndiv(sum, count)`).
 *
 * Each partial value crosses as text with its DuckDB type name (`typeof`), and the router casts
 * it back, so every type round-trips exactly (HUGEINT and DECIMAL sums, doubles in shortest
 * form, timestamps in µs).
 *
 * When the group keys include the table's shard key, no group is on two shards: a shard's
 * partial states of a group are its final ones. With an ORDER BY and a constant LIMIT, each shard
 * then keeps only its first LIMIT + OFFSET groups in the statement's order (HAVING applied
 * first), computed by the final statement itself over its own partial rows; the global first
 * ones are among the union of those (top-k pushdown). The router's final statement is the same.
 *
 * Statements this does not apply to (joins, DISTINCT, window functions, subqueries, set
 * operations, parameters, grouping sets, other aggregates, an aggregate with DISTINCT, FILTER or
 * ORDER BY, or a column read outside an aggregate and the group keys) get `undefined`: the router
 * then gathers rows as before.
 */
import type { ColumnRef, FuncCall, Node, ResTarget, SelectStmt, SortBy } from '@pgsql/types';
import type { QueryResult, Value } from '@stratum/shared';
import { forEachNode, transformNodes } from '../analyze/walk.ts';
import { deparse } from './duckdb-sql.ts';

/** Aggregates merged by the same function over the partial states. */
const SELF_MERGED = new Set(['sum', 'min', 'max', 'bool_and', 'bool_or']);

/** A statement split into the shards' partial aggregation and the router's final one. */
export interface PartialAggregation {
  /**
   * DuckDB SQL each shard runs. For each of {@link columns} in order it outputs either one column
   * (`_p<i>`, the value as it is) when the column's `type` is known, or two: `_p<i>` (the value as
   * VARCHAR) then `_p<i>_type` (its DuckDB type name, `typeof`). A lone `count(*)` with no WHERE
   * clause is exactly `SELECT count(*) AS _p1 FROM t`, which a shard answers from its manifest.
   */
  shardSql: string;
  /**
   * The partial columns, in order: `_g<i>` group keys, then `_a<i>` aggregate states; `type` is
   * the DuckDB type when it does not depend on the data (counts: BIGINT).
   */
  columns: { name: string; type?: string }[];
  /**
   * DuckDB SQL of the final statement, reading the partial rows from relation {@link table} (the
   * router supplies it as a CTE over the typed partial rows).
   */
  finalSql: string;
  /** Name of the relation the final statement reads the partial rows from. */
  table: string;
  /**
   * Set when the statement is only counts (no GROUP BY, HAVING, LIMIT or OFFSET; each output a
   * bare `count`): its one row is each output's sum of the shards' counts, which
   * {@link finishCounts} computes without the final statement. The output names and the index in
   * {@link columns} of each output's count.
   */
  counts?: { name: string; column: number }[];
}

/**
 * The answer of a counts-only statement ({@link PartialAggregation.counts}) from the shards'
 * partial rows (each shard's row: its counts, BIGINT): one row of bigint sums, as the final
 * statement would give. Undefined when the plan is not counts-only.
 */
export function finishCounts(plan: PartialAggregation, rows: readonly (readonly Value[])[]): QueryResult | undefined {
  if (!plan.counts) return undefined;
  // Where each partial column sits in a shard row (a column of unknown type crosses as two).
  const at: number[] = [];
  let pos = 0;
  for (const c of plan.columns) {
    at.push(pos);
    pos += c.type ? 1 : 2;
  }
  const sums = plan.counts.map((c) => rows.reduce((s, r) => s + BigInt((r[at[c.column] as number] as bigint | number | null) ?? 0), 0n));
  return { columns: plan.counts.map((c) => ({ name: c.name, type: 'bigint' as const })), rows: [sums] };
}

/** Options of {@link partialAggregation}. */
export interface PartialOptions {
  /**
   * The table's shard key column (lower case), when rows are placed by it and equal keys are
   * equal values (so a group keyed by it is on one shard only); undefined otherwise.
   */
  shardKey?: string | undefined;
}

/** The value of a constant LIMIT/OFFSET node (an absent or zero one is 0), or undefined when it is not a constant. */
function constCount(n: Node | undefined): number | undefined {
  if (n === undefined) return 0;
  const c = (n as { A_Const?: { ival?: { ival?: number }; isnull?: boolean } }).A_Const;
  if (!c || c.isnull || c.ival === undefined) return undefined;
  return c.ival.ival ?? 0;
}

/** Node with `location` fields removed, as a key for structural equality. */
function keyOf(n: unknown): string {
  return JSON.stringify(n, (k, v) => (k === 'location' ? undefined : v));
}

function colRef(name: string): Node {
  return { ColumnRef: { fields: [{ String: { sval: name } }] } };
}

function call(name: string, args: Node[]): Node {
  return { FuncCall: { funcname: [{ String: { sval: name } }], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

function cast(arg: Node, type: string): Node {
  return { TypeCast: { arg, typeName: { names: [{ String: { sval: type } }], typemod: -1 } } };
}

function nameOf(f: FuncCall): string | undefined {
  const parts = (f.funcname ?? []).map((x) => (x as { String?: { sval?: string } }).String?.sval);
  if (parts.length === 1) return parts[0]?.toLowerCase();
  if (parts.length === 2 && parts[0]?.toLowerCase() === 'pg_catalog') return parts[1]?.toLowerCase();
  return undefined;
}

/** An aggregate call this module can split, or undefined (a plain function, or one it cannot). */
function splittable(f: FuncCall): 'count' | 'avg' | 'self' | 'no' | undefined {
  const name = nameOf(f);
  const aggregate = name === 'count' || name === 'avg' || (name !== undefined && SELF_MERGED.has(name));
  if (!aggregate) return f.over ? 'no' : undefined;
  if (f.over) return 'no';
  if (f.agg_distinct || f.agg_filter || f.agg_order || f.agg_within_group) return 'no';
  if (name === 'count') return f.agg_star || (f.args?.length ?? 0) === 1 ? 'count' : 'no';
  if ((f.args?.length ?? 0) !== 1) return 'no';
  return name === 'avg' ? 'avg' : 'self';
}

/** True when a tree holds something that rules the split out anywhere in it. */
function hasBlocker(tree: unknown): boolean {
  let bad = false;
  forEachNode(tree as object, (type) => {
    if (type === 'SubLink' || type === 'ParamRef' || type === 'GroupingSet' || type === 'GroupingFunc' || type === 'RangeSubselect') {
      bad = true;
      return false;
    }
    return undefined;
  });
  return bad;
}

/**
 * Split `stmt` (the DuckDB form of a SELECT over the one table `table`, named as in its FROM
 * clause) into partial and final aggregation, or undefined when it does not apply (see the
 * module comment). `tableColumns` are the names the table's rows have (lower case): a column read
 * outside the aggregates and group keys rules the split out. `seq` makes the partial table's name
 * unique on the router's connection. `opts.shardKey` enables the top-k pushdown.
 */
export function partialAggregation(
  stmt: SelectStmt,
  table: string,
  tableColumns: ReadonlySet<string>,
  seq: number,
  opts: PartialOptions = {},
): PartialAggregation | undefined {
  if (stmt.op && stmt.op !== 'SETOP_NONE') return undefined;
  if (stmt.withClause || stmt.distinctClause || stmt.windowClause || stmt.valuesLists || stmt.intoClause || stmt.lockingClause)
    return undefined;
  const from = stmt.fromClause ?? [];
  const rv = from.length === 1 ? (from[0] as { RangeVar?: { relname?: string; schemaname?: string } }).RangeVar : undefined;
  if (!rv || rv.relname !== table || rv.schemaname) return undefined;
  if (hasBlocker(stmt)) return undefined;
  const targets = (stmt.targetList ?? []).map((t) => (t as { ResTarget?: ResTarget }).ResTarget);
  if (targets.some((t) => !t?.val)) return undefined;
  let star = false;
  forEachNode(stmt.targetList, (type) => {
    if (type === 'A_Star') star = true;
  });
  if (star) return undefined;

  // Group keys: expressions (a positional `GROUP BY 2` names the second output column's).
  const groups: Node[] = [];
  for (const g of stmt.groupClause ?? []) {
    const ival = (g as { A_Const?: { ival?: { ival?: number } } }).A_Const?.ival;
    if ((g as { A_Const?: unknown }).A_Const !== undefined) {
      const pos = ival?.ival ?? 0;
      const t = targets[pos - 1];
      if (!t?.val) return undefined;
      groups.push(t.val);
    } else groups.push(g);
  }
  const groupKeys = new Map(groups.map((g, i) => [keyOf(g), i]));

  // Aggregates: each distinct call once, with its partial states.
  const partials: { key: string; states: Node[]; merge: (cols: Node[]) => Node }[] = [];
  const stateCols: string[] = [];
  const aggIndex = new Map<string, number>();
  let unsplittable = false;
  const addAgg = (f: FuncCall): number => {
    const key = keyOf(f);
    const known = aggIndex.get(key);
    if (known !== undefined) return known;
    const kind = splittable(f);
    const arg = f.args?.[0] as Node;
    let states: Node[];
    let merge: (cols: Node[]) => Node;
    if (kind === 'count') {
      states = [{ FuncCall: f }];
      merge = ([c]) => cast({ CoalesceExpr: { args: [call('sum', [c as Node]), { A_Const: { ival: {} } }] } }, 'int8');
    } else if (kind === 'avg') {
      states = [call('sum', [arg]), call('count', [arg])];
      // Σsum / Σcount; NULL when no value was counted (nullif), as avg of no values.
      merge = ([s, c]) => ({
        A_Expr: {
          kind: 'AEXPR_OP',
          name: [{ String: { sval: '/' } }],
          lexpr: cast(call('sum', [s as Node]), 'float8'),
          rexpr: {
            A_Expr: {
              kind: 'AEXPR_NULLIF',
              name: [{ String: { sval: '=' } }],
              lexpr: call('sum', [c as Node]),
              rexpr: { A_Const: { ival: {} } },
            },
          },
        },
      });
    } else {
      const name = nameOf(f) as string;
      states = [{ FuncCall: f }];
      merge = ([s]) => call(name, [s as Node]);
    }
    const idx = partials.length;
    partials.push({ key, states, merge });
    for (let i = 0; i < states.length; i++) stateCols.push(`_a${stateCols.length + 1}`);
    aggIndex.set(key, idx);
    return idx;
  };

  // The final statement's expressions: group keys → `_g<i>`, aggregates → merged states.
  const finalExpr = (tree: unknown): unknown =>
    transformNodes(tree as object, (type, n) => {
      const whole = groupKeys.get(keyOf({ [type]: n }));
      if (whole !== undefined) return colRef(`_g${whole + 1}`);
      if (type !== 'FuncCall') return undefined;
      const kind = splittable(n);
      if (kind === undefined) return undefined;
      if (kind === 'no') {
        unsplittable = true;
        return undefined;
      }
      const idx = addAgg(n);
      return { __agg: idx } as unknown as Node;
    });
  const newTargets = targets.map((t) => {
    const r = t as ResTarget;
    // Keep the output name a bare column had (`SELECT origin` outputs "origin", not "_g1").
    const bare = (r.val as { ColumnRef?: ColumnRef }).ColumnRef?.fields;
    const last = bare?.[bare.length - 1] as { String?: { sval?: string } } | undefined;
    const name = r.name ?? last?.String?.sval;
    return { ResTarget: { ...r, val: finalExpr(r.val) as Node, ...(name !== undefined ? { name } : {}) } };
  });
  const having = stmt.havingClause ? (finalExpr(stmt.havingClause) as Node) : undefined;
  const sorts = (stmt.sortClause ?? []).map((s) => {
    const sb = (s as { SortBy: SortBy }).SortBy;
    return { SortBy: { ...sb, node: finalExpr(sb.node) as Node } };
  });
  if (unsplittable || partials.length === 0) return undefined;

  // Assign state columns, then place the merge expressions.
  let col = 0;
  const merged: Node[] = partials.map((p) => {
    const cols = p.states.map(() => colRef(`_a${++col}`));
    return p.merge(cols);
  });
  const placeAggs = (tree: unknown): unknown =>
    JSON.parse(JSON.stringify(tree), (_k, v) =>
      v && typeof v === 'object' && typeof (v as { __agg?: unknown }).__agg === 'number' ? merged[(v as { __agg: number }).__agg] : v,
    );
  const finalTargets = placeAggs(newTargets) as Node[];
  const finalHaving = having ? (placeAggs(having) as Node) : undefined;
  const finalSorts = placeAggs(sorts) as Node[];

  // No column of the table may be read in the final statement outside the group keys; an ORDER
  // BY may name an output column.
  const outputs = new Set(newTargets.map((t) => t.ResTarget.name?.toLowerCase()).filter((n): n is string => n !== undefined));
  const readsTable = (tree: unknown, allowOutputs: boolean): boolean => {
    let reads = false;
    forEachNode(tree as object, (type, n) => {
      if (type !== 'ColumnRef') return undefined;
      const fields = (n as ColumnRef).fields ?? [];
      const last = (fields[fields.length - 1] as { String?: { sval?: string } } | undefined)?.String?.sval?.toLowerCase();
      if (fields.length !== 1 || last === undefined) reads = true;
      else if (/^_[ga]\d+$/.test(last)) return undefined;
      else if (tableColumns.has(last) && !(allowOutputs && outputs.has(last))) reads = true;
      return undefined;
    });
    return reads;
  };
  if (readsTable(finalTargets, false) || (finalHaving && readsTable(finalHaving, false)) || readsTable(finalSorts, true)) return undefined;

  const partialTable = `__stratum_partial_${seq}`;
  const exprs = [...groups, ...partials.flatMap((p) => p.states)];
  const isCount = (e: Node) => {
    const f = (e as { FuncCall?: FuncCall }).FuncCall;
    return f !== undefined && nameOf(f) === 'count';
  };
  const columns = [...groups.map((_, i) => ({ name: `_g${i + 1}` })), ...stateCols.map((name) => ({ name }))].map((c, i) =>
    isCount(exprs[i] as Node) ? { ...c, type: 'BIGINT' } : c,
  );
  /** The partial columns a shard outputs (see {@link PartialAggregation.shardSql}), from `value(i)`. */
  const shardTargets = (value: (i: number) => Node): Node[] =>
    exprs.flatMap((e, i) =>
      isCount(e)
        ? [{ ResTarget: { name: `_p${i + 1}`, val: value(i) } }]
        : [
            { ResTarget: { name: `_p${i + 1}`, val: cast(value(i), 'varchar') } },
            { ResTarget: { name: `_p${i + 1}_type`, val: call('typeof', [value(i)]) } },
          ],
    );
  const fin: SelectStmt = {
    ...stmt,
    targetList: finalTargets,
    fromClause: [{ RangeVar: { relname: partialTable, inh: true, relpersistence: 'p' } }],
    ...(groups.length > 0 ? { groupClause: groups.map((_, i) => colRef(`_g${i + 1}`)) } : {}),
  };
  delete fin.whereClause;
  if (finalHaving) fin.havingClause = finalHaving;
  if (stmt.sortClause) fin.sortClause = finalSorts;

  const grouped: SelectStmt = {
    targetList: shardTargets((i) => exprs[i] as Node),
    fromClause: from,
    ...(stmt.whereClause ? { whereClause: stmt.whereClause } : {}),
    ...(groups.length > 0 ? { groupClause: groups } : {}),
    limitOption: 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  const top = topK(stmt, groups, opts.shardKey);
  let shard = grouped;
  if (top !== undefined) {
    // The final statement over this shard's own partial rows (each group once: its merge is the
    // identity), keeping the partial columns of its first `top` groups.
    const partial: SelectStmt = {
      targetList: exprs.map((e, i) => ({ ResTarget: { name: columns[i]?.name as string, val: e } })),
      fromClause: from,
      ...(stmt.whereClause ? { whereClause: stmt.whereClause } : {}),
      groupClause: groups,
      limitOption: 'LIMIT_OPTION_DEFAULT',
      op: 'SETOP_NONE',
    };
    // The statement's outputs first, so that a positional ORDER BY names the same column; the
    // ones the ORDER BY does not name are NULL (a quotient's text costs a macro per row).
    const named = new Set<string>();
    const positions = new Set<number>();
    for (const sb of stmt.sortClause ?? []) {
      const n = (sb as { SortBy: SortBy }).SortBy.node;
      const pos = constCount(n);
      if ((n as { A_Const?: unknown }).A_Const !== undefined && pos !== undefined) positions.add(pos);
      forEachNode({ n } as object, (type, c) => {
        const fields = type === 'ColumnRef' ? ((c as ColumnRef).fields ?? []) : [];
        const only = fields.length === 1 ? (fields[0] as { String?: { sval?: string } }).String?.sval : undefined;
        if (only !== undefined) named.add(only.toLowerCase());
      });
    }
    const outputs = finalTargets.map((t, i) => {
      const r = (t as { ResTarget: ResTarget }).ResTarget;
      const used = positions.has(i + 1) || (r.name !== undefined && named.has(r.name.toLowerCase()));
      return used ? t : { ResTarget: { ...r, val: { A_Const: { isnull: true } } as Node } };
    });
    const kept: SelectStmt = {
      ...fin,
      targetList: [
        ...outputs,
        ...columns.map((c) => ({
          ResTarget: { name: `_k${c.name}`, val: c.name.startsWith('_g') ? colRef(c.name) : call('any_value', [colRef(c.name)]) },
        })),
      ],
      fromClause: [{ RangeSubselect: { subquery: { SelectStmt: partial }, alias: { aliasname: partialTable } } }],
      limitCount: { A_Const: { ival: { ival: top } } },
    };
    delete kept.limitOffset;
    shard = {
      targetList: shardTargets((i) => colRef(`_k${columns[i]?.name}`)),
      fromClause: [{ RangeSubselect: { subquery: { SelectStmt: kept }, alias: { aliasname: `${partialTable}_top` } } }],
      limitOption: 'LIMIT_OPTION_DEFAULT',
      op: 'SETOP_NONE',
    };
  }
  const plan: PartialAggregation = {
    shardSql: deparse({ SelectStmt: shard }),
    columns,
    finalSql: deparse({ SelectStmt: fin }),
    table: partialTable,
  };
  const counts = countsOnly(stmt, groups, targets as ResTarget[], (f) => aggIndex.get(keyOf(f)));
  if (counts) plan.counts = counts;
  return plan;
}

/**
 * The outputs of a counts-only statement (see {@link PartialAggregation.counts}), each with the
 * index of its count among the partial columns (no group keys: aggregate `i`'s state is column
 * `i` when every aggregate is a count), or undefined.
 */
function countsOnly(
  stmt: SelectStmt,
  groups: Node[],
  targets: ResTarget[],
  aggOf: (f: FuncCall) => number | undefined,
): { name: string; column: number }[] | undefined {
  if (groups.length > 0 || stmt.havingClause || stmt.limitCount || stmt.limitOffset) return undefined;
  const out: { name: string; column: number }[] = [];
  for (const t of targets) {
    const f = (t.val as { FuncCall?: FuncCall }).FuncCall;
    const i = f && splittable(f) === 'count' ? aggOf(f) : undefined;
    if (i === undefined || t.name === undefined) return undefined;
    out.push({ name: t.name, column: i });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * How many groups each shard may keep (LIMIT + OFFSET) when no group can be on two shards (a
 * group key is the bare shard key column) and the statement has an ORDER BY and a constant
 * LIMIT; undefined otherwise (every group crosses).
 */
function topK(stmt: SelectStmt, groups: Node[], shardKey: string | undefined): number | undefined {
  if (shardKey === undefined || !stmt.sortClause?.length || stmt.limitCount === undefined) return undefined;
  if (stmt.limitOption && stmt.limitOption !== 'LIMIT_OPTION_COUNT' && stmt.limitOption !== 'LIMIT_OPTION_DEFAULT') return undefined;
  const limit = constCount(stmt.limitCount);
  const offset = constCount(stmt.limitOffset);
  if (limit === undefined || offset === undefined) return undefined;
  const byKey = groups.some((g) => {
    const fields = (g as { ColumnRef?: ColumnRef }).ColumnRef?.fields ?? [];
    const last = (fields[fields.length - 1] as { String?: { sval?: string } } | undefined)?.String?.sval;
    return fields.length >= 1 && fields.length <= 2 && last?.toLowerCase() === shardKey;
  });
  return byKey ? limit + offset : undefined;
}
