/**
 * Finishing a range read in the router (execute stage of a `row_scan` plan with `finish`, see
 * plan/row-finish.ts): the rows the row tier returned are projected, made DISTINCT, sorted,
 * then OFFSET and LIMIT applied, in PostgreSQL's order of steps and with its ordering rules
 * (btree order per type; NULLs last ascending and first descending unless the item says).
 */
import {
  compareSqlValues,
  DataError,
  type EvalContext,
  type Expr,
  evaluate,
  numericArith,
  numericFromInt,
  type ResultType,
  type Row,
  type Value,
} from '@stratum/shared';
import type { RowAggregate, RowScanFinish, SortKey } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import { bindExpr, type Params } from './bind.ts';

/** One result row with its sort keys. */
interface Item {
  out: Value[];
  keys: Value[];
}

/**
 * The result rows of `finish` over `rows` (already filtered by the plan's WHERE at the row tier).
 * @throws DataError 2201W / 2201X for a negative LIMIT / OFFSET (PostgreSQL's messages);
 *   evaluation errors of the output expressions (22012, 22003, …).
 */
export function finishRows(s: RouterSession, finish: RowScanFinish, rows: readonly Row[], params: Params): Value[][] {
  const ctx = s.evalContext();
  if (finish.aggregates) {
    const row = finish.aggregates.map((a) => aggregate(a, a.arg ? bindExpr(a.arg, params, ctx) : undefined, rows, ctx));
    const { offset, end } = bounds(finish, params, ctx);
    return offset === 0 && end > 0 ? [row] : [];
  }
  const output = finish.output.map((c) => bindExpr(c.expr, params, ctx));
  const exprKeys = finish.order.map((o) => ('expr' in o.key ? bindExpr(o.key.expr, params, ctx) : undefined));
  let items: Item[] = rows.map((row) => {
    const out = output.map((e) => evaluate(e, { row }, ctx));
    const keys = finish.order.map((o, i) => {
      const e = exprKeys[i];
      return e ? evaluate(e, { row }, ctx) : (('output' in o.key ? out[o.key.output] : null) ?? null);
    });
    return { out, keys };
  });
  const types = finish.order.map((o) => ('output' in o.key ? (finish.output[o.key.output]?.type ?? 'unknown') : o.key.type));
  const byOrder = (a: Item, b: Item) => {
    for (let i = 0; i < finish.order.length; i++) {
      const c = compareKey(a.keys[i] ?? null, b.keys[i] ?? null, finish.order[i] as SortKey, types[i] ?? 'unknown');
      if (c !== 0) return c;
    }
    return 0;
  };
  if (finish.distinct) {
    // Equal rows end up adjacent when the order keys (output columns) come first, then every column.
    const outTypes = finish.output.map((c) => c.type);
    const byRow = (a: Item, b: Item) => {
      for (let i = 0; i < outTypes.length; i++) {
        const c = compareKey(a.out[i] ?? null, b.out[i] ?? null, ASCENDING, outTypes[i] ?? 'unknown');
        if (c !== 0) return c;
      }
      return 0;
    };
    items.sort((a, b) => byOrder(a, b) || byRow(a, b));
    items = items.filter((x, i) => i === 0 || byRow(items[i - 1] as Item, x) !== 0);
  } else if (finish.order.length > 0) items.sort(byOrder);
  const { offset, end } = bounds(finish, params, ctx);
  return items.slice(offset, end).map((x) => x.out);
}

/**
 * One aggregate over the rows (NULL arguments skipped; no rows: count 0, others NULL), as PostgreSQL computes it.
 * @throws DataError 22003 when a real/double sum overflows to infinity from finite inputs (float4pl/float8pl).
 */
function aggregate(a: RowAggregate, arg: Expr | undefined, rows: readonly Row[], ctx: EvalContext): Value {
  if (!arg) return BigInt(rows.length);
  const t = a.argType as ResultType;
  let n = 0n;
  let acc: Value = null;
  for (const row of rows) {
    const v = evaluate(arg, { row }, ctx);
    if (v === null) continue;
    n++;
    if (a.fn === 'count') continue;
    if (acc === null) {
      acc = a.fn === 'sum' ? sumStart(v, t) : v;
      continue;
    }
    if (a.fn === 'sum') acc = sumStep(acc, v, t);
    else {
      const c = compareSqlValues(v, acc, t);
      if (a.fn === 'min' ? c < 0 : c > 0) acc = v;
    }
  }
  return a.fn === 'count' ? n : acc;
}

/** The first value of a sum, in the sum's representation (bigint for integer sums, numeric text for bigint and numeric). */
function sumStart(v: Value, t: ResultType): Value {
  if (t === 'smallint' || t === 'integer') return BigInt(v as number);
  if (t === 'bigint') return numericFromInt(v as number | bigint);
  if (t === 'real') return Math.fround(v as number);
  return v;
}

/** Add `v` to a running sum (see {@link sumStart}). */
function sumStep(acc: Value, v: Value, t: ResultType): Value {
  switch (t) {
    case 'smallint':
    case 'integer':
      return (acc as bigint) + BigInt(v as number);
    case 'bigint':
      return numericArith('+', acc as string, numericFromInt(v as number | bigint));
    case 'numeric':
      return numericArith('+', acc as string, v as string);
    default: {
      const x = acc as number;
      const y = v as number;
      const r = t === 'real' ? Math.fround(x + y) : x + y;
      if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) {
        throw new DataError('22003', 'value out of range: overflow');
      }
      return r;
    }
  }
}

/** Ascending, NULLs last: the order DISTINCT sorts equal rows together by. */
const ASCENDING: SortKey = { key: { output: 0 }, desc: false, nullsFirst: false };

/** The rows OFFSET and LIMIT keep: `[offset, end)` (end = Infinity without a LIMIT). */
function bounds(finish: RowScanFinish, params: Params, ctx: EvalContext): { offset: number; end: number } {
  const at = (e: Expr | undefined, what: 'LIMIT' | 'OFFSET') =>
    e ? count(evaluate(bindExpr(e, params, ctx), { row: {} }, ctx), what) : what === 'LIMIT' ? Number.POSITIVE_INFINITY : 0;
  const offset = at(finish.offset, 'OFFSET');
  return { offset, end: offset + at(finish.limit, 'LIMIT') };
}

/** A LIMIT / OFFSET value (NULL: no limit / no offset). */
function count(v: Value, what: 'LIMIT' | 'OFFSET'): number {
  if (v === null) return what === 'LIMIT' ? Number.POSITIVE_INFINITY : 0;
  const n = Number(v);
  if (n < 0) throw new DataError(what === 'LIMIT' ? '2201W' : '2201X', `${what} must not be negative`);
  return n;
}

/** One ORDER BY item of two rows: NULLs first or last as the item says, then the type's order, reversed for DESC. */
function compareKey(a: Value, b: Value, o: SortKey, t: Parameters<typeof compareSqlValues>[2]): number {
  if (a === null || b === null) {
    if (a === null && b === null) return 0;
    return (a === null) === o.nullsFirst ? -1 : 1;
  }
  const c = compareSqlValues(a, b, t);
  return o.desc ? -c : c;
}
