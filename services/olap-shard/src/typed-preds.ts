/**
 * Turning a query's predicate operands (`plan.ts`) into values of the column's type (internal),
 * with DuckDB doing the casts in one round trip so pruning compares exactly what the query will.
 *
 * An operand is used only when casting it to the column type loses nothing
 * (`TRY_CAST(e AS T) = e` in DuckDB's own comparison), e.g. `int_col > 3.5` is not pruned on
 * (3.5 would round), and text/uuid columns only take string operands (DuckDB would otherwise
 * compare in another type, whose order differs from the zone map's). A predicate with any
 * unusable operand is dropped, which only means fewer files are skipped.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Literal, SqlType, TableInfo, Value } from '@stratum/shared';
import { columnCodec, convertValue, zoneComparable } from '@stratum/shared/duckdb';
import type { ValueExpr, ViewRef } from './plan.ts';
import type { TypedPred } from './prune.ts';
import { lit } from './sql.ts';

/** SQL literal of a bound parameter value as `bindParams` would type it; undefined for NULL/unsupported. */
function paramSql(v: Literal | undefined): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return lit(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return `CAST('${v}' AS HUGEINT)`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    if (Number.isInteger(v) && Math.abs(v) <= 2147483647) return `CAST(${v} AS INTEGER)`;
    if (Number.isSafeInteger(v)) return `CAST(${v} AS BIGINT)`;
    return `CAST('${v}' AS DOUBLE)`;
  }
  return undefined;
}

function exprSql(e: ValueExpr, params: readonly Literal[]): string | undefined {
  return 'sql' in e ? e.sql : paramSql(params[e.param - 1]);
}

const TEXTUAL = new Set<SqlType>(['text', 'varchar', 'char', 'uuid']);

/**
 * DuckDB type of a view column by field (its view type), or `_ts` TIMESTAMP; undefined for
 * columns zone maps cannot prune on (types without a usable order, `ColumnCodec.ordered`).
 */
function columnType(info: TableInfo, field: string): { sql: string; textual: boolean; type?: SqlType; typmod?: number } | undefined {
  if (field === '_ts') return { sql: 'TIMESTAMP', textual: false };
  const ci = info.fieldIndex.get(field);
  const c = ci === undefined ? undefined : info.columns[ci];
  if (!c) return undefined;
  const codec = columnCodec(c.type, c.typmod);
  if (!codec.ordered) return undefined;
  return { sql: codec.viewSql, textual: TEXTUAL.has(c.type), type: c.type, ...(c.typmod !== undefined ? { typmod: c.typmod } : {}) };
}

/**
 * Typed predicates of each reference (same order as `refs`); a reference whose predicates
 * cannot be typed gets fewer (possibly none). Never throws: a failing cast query disables
 * pruning for this query.
 */
export async function typedPredicates(
  conn: DuckDBConnection,
  refs: readonly { ref: ViewRef; info: TableInfo }[],
  params: readonly Literal[],
): Promise<TypedPred[][]> {
  const selects: string[] = [];
  const plans = refs.map(({ ref, info }) =>
    ref.preds.map((p) => {
      const t = columnType(info, p.column);
      const isKey = info.primaryKey.includes(p.column);
      const sqls = p.values.map((v) => exprSql(v, params));
      if (!t || sqls.some((x) => x === undefined)) return undefined;
      const cols = (sqls as string[]).map((e) => {
        const base = selects.length;
        const cast = `TRY_CAST(${e} AS ${t.sql})`;
        selects.push(cast, `(${cast} = ${e})`, `typeof(${e})`, isKey && (p.op === '=' || p.op === 'in') ? `hash(${cast})` : 'NULL');
        return base;
      });
      return { pred: p, t, cols, isKey };
    }),
  );
  if (selects.length === 0) return refs.map(() => []);
  let row: Value[];
  try {
    // A materialized result read synchronously: one round trip.
    const r = await conn.run(`SELECT ${selects.map((x, i) => `${x} AS "c${i}"`).join(', ')}`);
    const chunk = r.getChunk(0);
    row = selects.map((_, i) => convertValue(chunk.getColumnVector(i).getItem(0), r.columnType(i)));
  } catch {
    return refs.map(() => []);
  }
  return plans.map((list) => {
    const out: TypedPred[] = [];
    for (const plan of list) {
      if (!plan) continue;
      const values: Value[] = [];
      const hashes: bigint[] = [];
      let ok = true;
      for (const base of plan.cols) {
        const v = row[base] ?? null;
        const exact = row[base + 1] === true;
        const ty = String(row[base + 2]);
        const h = row[base + 3];
        if (v === null || !exact || (plan.t.textual && ty !== 'VARCHAR' && ty !== 'UUID')) {
          ok = false;
          break;
        }
        const cmp = plan.t.type ? zoneComparable(v, plan.t.type, plan.t.typmod) : v;
        if (cmp === undefined || cmp === null) {
          ok = false;
          break;
        }
        values.push(cmp);
        if (typeof h === 'bigint') hashes.push(h);
        else if (typeof h === 'number') hashes.push(BigInt(h));
      }
      if (!ok) continue;
      const tp: TypedPred = { column: plan.pred.column, op: plan.pred.op, values };
      if (hashes.length === values.length && plan.isKey) tp.hashes = hashes;
      out.push(tp);
    }
    return out;
  });
}
