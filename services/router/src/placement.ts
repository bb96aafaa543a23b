/**
 * Where a table's rows live, read from a statement (docs/architecture.md "Router", "Sharding"):
 * the simple `column op constant` conjuncts of a WHERE clause, the shard-key values and time
 * range they pin (which shards a read needs, shared/src/sharding.ts `shardsFor`), the filters a
 * gathered scan pushes down to the shards, and whether a GROUP BY on the shard key keeps each
 * group on one shard. Pure functions over the parsed statement; the router (olap.ts) plans with
 * them.
 */
import type { Node } from '@pgsql/types';
import type { Literal, PlacementPredicate, ResultType, SqlType, TableInfo, Value } from '@stratum/shared';
import { timeValueMs } from '@stratum/shared';
import { listItems, nodeOf, strOf } from './analyze/ast.ts';
import { literalOf, type Params } from './sql/literal.ts';
import { qualifiedName } from './sql/parse.ts';

/** Double-quoted identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface Conjunct {
  column: string;
  op: '=' | '<' | '<=' | '>' | '>=' | 'in';
  values: Literal[];
}

/** Simple `col op constant` conjuncts of a WHERE clause that belong to table alias `alias`. */
function conjuncts(info: TableInfo, where: Node | undefined, params: Params, alias: string, unqualifiedOk: boolean): Conjunct[] {
  if (!where) return [];
  const and = nodeOf(where, 'BoolExpr');
  const list = and?.boolop === 'AND_EXPR' ? (and.args ?? []) : [where];
  const out: Conjunct[] = [];
  const col = (e: Node | undefined): string | undefined => {
    const f = nodeOf(e, 'ColumnRef')?.fields;
    if (!f) return undefined;
    const name = f.length === 1 && unqualifiedOk ? strOf(f[0]) : f.length === 2 && strOf(f[0]) === alias ? strOf(f[1]) : undefined;
    return name !== undefined && info.columnIndex.has(name) ? name : undefined;
  };
  const constant = (e: Node | undefined): Literal | undefined => {
    const arg = nodeOf(e, 'TypeCast')?.arg;
    const isConstant = (x: Node | undefined) => Boolean(nodeOf(x, 'A_Const') || nodeOf(x, 'ParamRef'));
    if (!e || !(isConstant(e) || isConstant(arg))) return undefined;
    try {
      return literalOf(e, params);
    } catch {
      return undefined;
    }
  };
  const flip: Record<string, Conjunct['op']> = { '=': '=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
  for (const c of list) {
    const e = nodeOf(c, 'A_Expr');
    if (!e) continue;
    if (e.kind === 'AEXPR_OP') {
      const op = qualifiedName(e.name);
      if (!(op in flip)) continue;
      const l = col(e.lexpr);
      const r = col(e.rexpr);
      if (l !== undefined) {
        const v = constant(e.rexpr);
        if (v !== undefined && v !== null) out.push({ column: l, op: op as Conjunct['op'], values: [v] });
      } else if (r !== undefined) {
        const v = constant(e.lexpr);
        if (v !== undefined && v !== null) out.push({ column: r, op: flip[op] as Conjunct['op'], values: [v] });
      }
    } else if (e.kind === 'AEXPR_IN' && qualifiedName(e.name) === '=') {
      const l = col(e.lexpr);
      const items = listItems(e.rexpr) ?? [];
      const vals = items.map(constant);
      if (l !== undefined && vals.length > 0 && vals.every((v) => v !== undefined && v !== null)) {
        out.push({ column: l, op: 'in', values: vals as Literal[] });
      }
    } else if (e.kind === 'AEXPR_BETWEEN') {
      const l = col(e.lexpr);
      const [lo, hi] = (listItems(e.rexpr) ?? []).map(constant);
      if (l !== undefined && lo !== undefined && lo !== null && hi !== undefined && hi !== null) {
        out.push({ column: l, op: '>=', values: [lo] }, { column: l, op: '<=', values: [hi] });
      }
    }
  }
  return out;
}

/** Milliseconds of a time literal (timestamp text without zone = UTC; date → midnight UTC); undefined if not a time. */
function literalMs(v: Literal, type: ResultType): number | undefined {
  if (typeof v === 'string') {
    const s = v.trim();
    const iso = /^\d{4}-\d{2}-\d{2}$/.test(s)
      ? `${s}T00:00:00Z`
      : /[zZ]|[+-]\d{2}(:?\d{2})?$/.test(s)
        ? s.replace(' ', 'T')
        : `${s.replace(' ', 'T')}Z`;
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (typeof v === 'number' || typeof v === 'bigint') return timeValueMs(v, type) ?? undefined;
  return undefined;
}

/**
 * The range (ms since epoch) the WHERE clause allows for `info`'s time_column, from its
 * `col op constant`, IN and BETWEEN conjuncts; undefined when the table has no time column or
 * the clause does not bound it. Used for time shards and for skipping tiers by retention.
 */
export function timeRangeOf(
  info: TableInfo,
  where: Node | undefined,
  params: Params,
  alias: string,
  unqualifiedOk: boolean,
): { loMs?: number; hiMs?: number } | undefined {
  const col = info.options.timeColumn;
  if (!col) return undefined;
  let r: { loMs?: number; hiMs?: number } | undefined;
  const t = info.columns[info.columnIndex.get(col) ?? 0]?.type ?? 'timestamp';
  for (const c of conjuncts(info, where, params, alias, unqualifiedOk)) {
    if (c.column !== col) continue;
    const ms = c.values.map((v) => literalMs(v, t));
    if (ms.some((m) => m === undefined)) continue;
    r ??= {};
    const nums = ms as number[];
    if (c.op === '=' || c.op === 'in') {
      r.loMs = Math.max(r.loMs ?? Number.NEGATIVE_INFINITY, Math.min(...nums));
      r.hiMs = Math.min(r.hiMs ?? Number.POSITIVE_INFINITY, Math.max(...nums));
    } else if (c.op === '>' || c.op === '>=') r.loMs = Math.max(r.loMs ?? Number.NEGATIVE_INFINITY, nums[0] as number);
    else r.hiMs = Math.min(r.hiMs ?? Number.POSITIVE_INFINITY, nums[0] as number);
  }
  return r;
}

/** Column types whose equal values are equal stored values, so that they hash to one shard. */
const EXACT_KEY_TYPES: ReadonlySet<SqlType> = new Set<SqlType>([
  'smallint',
  'integer',
  'bigint',
  'text',
  'varchar',
  'char',
  'uuid',
  'boolean',
  'date',
  'timestamp',
  'timestamptz',
]);

/**
 * The shard key of `info` (lower case) when a GROUP BY on it keeps each group on one shard: rows
 * are placed by the hash of its stored value, and the column's type has no two equal values
 * stored differently (numeric 1.0 and 1.00, float -0 and 0 would); undefined otherwise.
 */
export function exactShardKey(info: TableInfo): string | undefined {
  const key = info.options.shardKey;
  if (key === undefined || info.options.timeShards) return undefined;
  const col = info.columns[info.columnIndex.get(key) ?? -1];
  return col && EXACT_KEY_TYPES.has(col.type) ? key.toLowerCase() : undefined;
}

/** What the WHERE clause says about `info`'s placement columns (shard key values, time range). */
export function placementPredicate(
  info: TableInfo,
  where: Node | undefined,
  params: Params,
  alias: string,
  unqualifiedOk: boolean,
): PlacementPredicate {
  const o = info.options;
  const out: PlacementPredicate = {};
  if (!o.shardKey && !o.timeShards) return out;
  if (o.shardKey) {
    for (const c of conjuncts(info, where, params, alias, unqualifiedOk)) {
      if (c.column === o.shardKey && (c.op === '=' || c.op === 'in')) {
        const t = info.columns[info.columnIndex.get(c.column) ?? 0]?.type ?? 'text';
        out.shardKeyIn = c.values.map((v) => normalizeKeyValue(v, t));
      }
    }
  }
  if (o.timeShards) {
    const r = timeRangeOf(info, where, params, alias, unqualifiedOk);
    if (r) out.timeRange = r;
  }
  return out;
}

/** A literal as the stored value of a column of type `t` (so hashing matches the writer's). */
function normalizeKeyValue(v: Literal, t: SqlType): Value {
  if (t === 'bigint' && (typeof v === 'number' || (typeof v === 'string' && /^-?\d+$/.test(v)))) return BigInt(v);
  if ((t === 'integer' || t === 'smallint') && typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  if (t === 'boolean' && typeof v === 'string') return v === 't' || v === 'true';
  if (t === 'text' || t === 'uuid') return String(v);
  return v as Value;
}

/** SQL text of the pushable conjuncts (constants inlined as SQL literals). */
export function pushableFilter(info: TableInfo, where: Node | undefined, params: Params, alias: string, unqualifiedOk: boolean): string[] {
  const lit = (v: Literal) =>
    typeof v === 'number' || typeof v === 'bigint'
      ? String(v)
      : typeof v === 'boolean'
        ? v
          ? 'TRUE'
          : 'FALSE'
        : `'${String(v).replaceAll("'", "''")}'`;
  return conjuncts(info, where, params, alias, unqualifiedOk).map((c) =>
    c.op === 'in' ? `${ident(c.column)} IN (${c.values.map(lit).join(', ')})` : `${ident(c.column)} ${c.op} ${lit(c.values[0] as Literal)}`,
  );
}
