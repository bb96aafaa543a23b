/**
 * Date/time functions whose DuckDB meaning differs (PostgreSQL 15 §9.9): extract's numeric
 * results, date_trunc's units and centuries, date_bin, make_interval.
 */
import { type ResultType, type Signature, StratumError } from '@stratum/shared';
import { callAs, castNode, castTyped, constText, fn, intConst, str, textConst } from './nodes.ts';
import { displayName, type FnCall, type Node, type Rewriter, type Scope, type Typed } from './types.ts';

/** Units date_trunc accepts (PostgreSQL 15 §9.9.2, with the spellings datetktbl reads). */
const TRUNC_UNITS = new Set(
  'microsecond microseconds us usec usecs millisecond milliseconds ms msec msecs second seconds sec secs s minute minutes min mins m hour hours hr hrs h day days d week weeks w month months mon mons quarter qtr year years yr yrs y decade decades century centuries millennium millennia mil mils'.split(
    ' ',
  ),
);

/** Fields extract accepts (PostgreSQL 15 §9.9.1). */
const EXTRACT_FIELDS = new Set([
  ...TRUNC_UNITS,
  ...'epoch dow doy isodow isoyear julian timezone timezone_hour timezone_minute'.split(' '),
]);

/** A date/time function of `c` rewritten, or undefined when DuckDB's own is PostgreSQL's.
 * @throws StratumError 22023 for a unit or field PostgreSQL does not know.
 */
export function dateTimeFunction(c: FnCall): Typed | undefined {
  const { name, nodes, sig } = c;
  const t = sig.t;
  switch (name) {
    case 'extract':
      return extract(nodes, sig, t);
    case 'date_trunc': {
      const unit = constText(nodes[0])?.toLowerCase();
      if (unit !== undefined && !TRUNC_UNITS.has(unit)) {
        throw new StratumError('22023', `unit "${unit}" not recognized for type ${displayName(sig.args[1] ?? 'timestamp')}`);
      }
      // PostgreSQL's centuries and millennia start at years 1, 101, …, 1001, 2001; DuckDB's at 0, 100, ….
      if ((unit === 'century' || unit === 'millennium') && sig.args[1] !== 'interval') {
        return { node: castTyped({ node: fn(`pg_trunc_${unit}`, [nodes[1] as Node]), t }, t), t };
      }
      return undefined;
    }
    case 'date_bin':
      return { node: castTyped({ node: callAs(c, 'time_bucket'), t }, t), t };
    default:
      return undefined;
  }
}

/**
 * extract(field FROM x): numeric in PostgreSQL 15 — seconds with 6 decimals, milliseconds with
 * 3, epoch of a timestamp or interval with 6, other fields integral.
 */
function extract(nodes: Node[], sig: Signature, t: ResultType): Typed | undefined {
  const field = constText(nodes[0])?.toLowerCase();
  const x = nodes[1] as Node;
  const src = sig.args[1];
  if (!field) return undefined;
  if (!EXTRACT_FIELDS.has(field))
    throw new StratumError('22023', `unit "${field}" not recognized for type ${displayName(src ?? 'timestamp')}`);
  const us = fn('date_part', [textConst('microsecond'), x]);
  const scaled = (v: Node, scale: number): Node => castNode(fn('pg__scaled', [v, intConst(scale)]), 'decimal', [38, scale]);
  switch (field) {
    case 'second':
      return src === 'date' ? undefined : { node: scaled(us, 6), t };
    case 'millisecond':
    case 'milliseconds':
      return src === 'date' ? undefined : { node: scaled(us, 3), t };
    case 'epoch':
      if (src === 'date') return { node: castNode(fn('epoch', [castNode(x, 'timestamp')]), 'decimal', [38, 0]), t };
      if (src === 'interval') return { node: scaled(fn('pg__interval_us', [x]), 6), t };
      return { node: scaled(fn('epoch_us', [x]), 6), t };
    case 'julian':
      return src === 'date' ? { node: castNode(fn('date_part', [textConst('julian'), x]), 'decimal', [38, 0]), t } : undefined;
    default:
      return { node: castNode(fn('date_part', [textConst(field), x]), 'decimal', [38, 0]), t };
  }
}

/** make_interval(years, months, weeks, days, hours, mins, secs), positional or named (PostgreSQL 15 §9.9). */
export function makeInterval(rw: Rewriter, v: Node, scope: Scope): Typed | undefined {
  const names = ['years', 'months', 'weeks', 'days', 'hours', 'mins', 'secs'];
  const given = new Map<string, Node>();
  for (const [i, a] of ((v.args ?? []) as Node[]).entries()) {
    if (a.NamedArgExpr) given.set(String(a.NamedArgExpr.name), rw.expr(a.NamedArgExpr.arg as Node, scope).node);
    else if (names[i]) given.set(names[i] as string, rw.expr(a, scope).node);
    else return undefined;
  }
  if ([...given.keys()].some((k) => !names.includes(k))) return undefined;
  const get = (k: string): Node => given.get(k) ?? intConst(0);
  const op = (o: string, l: Node, r: Node): Node => ({ A_Expr: { kind: 'AEXPR_OP', name: [str(o)], lexpr: l, rexpr: r } });
  const months = op('+', op('*', castNode(get('years'), 'integer'), intConst(12)), castNode(get('months'), 'integer'));
  const days = op('+', op('*', castNode(get('weeks'), 'integer'), intConst(7)), castNode(get('days'), 'integer'));
  const us = op(
    '+',
    op(
      '+',
      op('*', castNode(get('hours'), 'bigint'), castNode(intConst(3600000), 'bigint')),
      op('*', castNode(get('mins'), 'bigint'), castNode(intConst(60000), 'bigint')),
    ),
    castNode(fn('round', [op('*', castNode(get('secs'), 'double'), castNode(intConst(1000), 'double'))]), 'bigint'),
  );
  return { node: fn('pg__iv', [months, days, op('*', us, castNode(intConst(1000), 'bigint'))]), t: 'interval' };
}
