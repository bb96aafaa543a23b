/**
 * Date/time functions whose DuckDB meaning differs (PostgreSQL 15 §9.9): extract's numeric
 * results, date_trunc's units and centuries, date_bin, make_interval.
 */
import type { FuncCall, Node } from '@pgsql/types';
import { intervalParts, StratumError } from '@stratum/shared';
import { constString, nodeOf, present } from '../../analyze/ast.ts';
import { argOf, callAs, castNode, castTyped, constText, fn, intConst, nullWhenNull, opExpr, textConst } from './nodes.ts';
import { displayName, type FnCall, type Rewriter, type Scope, type Typed } from './types.ts';
import { fromLocal, offsetSeconds, type SessionZone, sessionZone, toLocal, zoneRefused } from './zone.ts';

/** Units date_trunc accepts (PostgreSQL 15 §9.9.2, with the spellings datetktbl reads). */
const TRUNC_UNITS = new Set(
  'microsecond microseconds us usec usecs millisecond milliseconds ms msec msecs second seconds sec secs s minute minutes min mins m hour hours hr hrs h day days d week weeks w month months mon mons quarter qtr year years yr yrs y decade decades century centuries millennium millennia mil mils'.split(
    ' ',
  ),
);

/** date_trunc units below a day (timestamptz_trunc keeps the instant's offset for them). */
const SUB_DAY_UNITS = new Set(
  'microsecond microseconds us usec usecs millisecond milliseconds ms msec msecs second seconds sec secs s minute minutes min mins m hour hours hr hrs h'.split(
    ' ',
  ),
);

/** Fields extract accepts (PostgreSQL 15 §9.9.1). */
const EXTRACT_FIELDS = new Set([
  ...TRUNC_UNITS,
  ...'epoch dow doy isodow isoyear julian timezone timezone_hour timezone_minute'.split(' '),
]);

/**
 * A date/time function of `c` rewritten, or undefined when DuckDB's own is PostgreSQL's.
 * @throws StratumError 22023 for a unit or field PostgreSQL does not know.
 */
export function dateTimeFunction(c: FnCall): Typed | undefined {
  const z = sessionZone();
  if (z) {
    const inZone = zonedFunction(z, c);
    if (inZone) return inZone;
  }
  const { name, nodes, sig, t } = c;
  switch (name) {
    case 'extract':
      return extract(c);
    case 'date_trunc': {
      const unit = constText(nodes[0])?.toLowerCase();
      if (unit !== undefined && !TRUNC_UNITS.has(unit)) {
        throw new StratumError('22023', `unit "${unit}" not recognized for type ${displayName(sig.args[1] ?? 'timestamp')}`);
      }
      // PostgreSQL's centuries and millennia start at years 1, 101, …, 1001, 2001; DuckDB's at 0, 100, ….
      if ((unit === 'century' || unit === 'millennium') && sig.args[1] !== 'interval') {
        return { node: castTyped({ node: fn(`pg_trunc_${unit}`, [argOf(c, 1)]), t }, t), t };
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
 * The date/time functions of a timestamptz that read the session zone `z` (PostgreSQL 15 §9.9:
 * date_trunc, date_part and extract, age, make_timestamptz without a zone work on the local time),
 * computed on the local time; undefined for the others.
 * @throws StratumError 22023 as {@link dateTimeFunction}; 0A000 for generate_series over
 *   timestamptz (its steps add the interval in the zone) and the forms not rewritten.
 */
function zonedFunction(z: SessionZone, c: FnCall): Typed | undefined {
  const { name, sig, t } = c;
  const tstz = sig.args.map((a) => a === 'timestamptz');
  switch (name) {
    case 'date_trunc': {
      if (!tstz[1]) return undefined;
      if (c.nodes.length > 2) throw zoneRefused(z, 'date_trunc(text, timestamp with time zone, text)');
      // Truncated in local time (timestamptz_trunc_internal): from a day up, read back in the
      // zone; below a day, the instant keeps its offset (the local time's truncation subtracted).
      const x = argOf(c, 1);
      const local = { ...c, nodes: [argOf(c, 0), toLocal(z, x)], sig: { ...sig, args: ['text', 'timestamp'], t: 'timestamp' } } as FnCall;
      const inner = castNode((dateTimeFunction({ ...local, t: 'timestamp' }) ?? { node: callAs(local, 'date_trunc') }).node, 'timestamp');
      const unit = constText(c.nodes[0])?.toLowerCase();
      if (unit !== undefined && SUB_DAY_UNITS.has(unit)) return { node: opExpr('-', x, opExpr('-', toLocal(z, x), inner)), t };
      return { node: fromLocal(z, inner), t };
    }
    case 'extract':
    case 'date_part': {
      if (!tstz[1]) return undefined;
      const field = constText(c.nodes[0])?.toLowerCase();
      if (field === undefined) throw zoneRefused(z, `${name}() of a timestamp with time zone with a field that is not a constant`);
      if (field === 'epoch') return undefined;
      const x = argOf(c, 1);
      if (field === 'timezone' || field === 'timezone_hour' || field === 'timezone_minute') {
        const off = offsetSeconds(z, x);
        // timezone_hour / _minute truncate toward zero (DuckDB's // on BIGINT does too).
        const v =
          field === 'timezone'
            ? off
            : field === 'timezone_hour'
              ? opExpr('//', off, intConst(3600))
              : opExpr('//', opExpr('%', off, intConst(3600)), intConst(60));
        // A fixed zone's offset is a constant: NULL for a NULL timestamp all the same.
        return { node: nullWhenNull(x, name === 'extract' ? castNode(v, 'decimal', [38, 0]) : castNode(v, 'double')), t };
      }
      const local: FnCall = { ...c, nodes: [argOf(c, 0), toLocal(z, x)], sig: { ...sig, args: ['text', 'timestamp'] } };
      if (name === 'extract') return extract(local);
      return { node: castTyped({ node: callAs(local, 'date_part'), t }, t), t };
    }
    case 'age': {
      if (!tstz[0]) return undefined;
      // timestamptz_age: the difference of the local times' fields.
      const a = toLocal(z, argOf(c, 0));
      const b = c.nodes.length > 1 ? toLocal(z, argOf(c, 1)) : castNode(castNode(toLocal(z, fn('now', [])), 'date'), 'timestamp');
      return { node: castTyped({ node: callAs(c, 'age', c.nodes.length > 1 ? [a, b] : [b, a]), t }, t), t };
    }
    case 'make_timestamptz':
      if (c.nodes.length !== 6) throw zoneRefused(z, 'make_timestamptz() with a time zone argument');
      return { node: fromLocal(z, callAs(c, 'make_timestamp')), t };
    case 'generate_series': {
      // A step of hours and less is added to the instant: the series does not read the zone.
      // A step of days or months is added in local time, and each step's DST adjustment carries
      // into the next (generate_series_timestamptz): not rewritten.
      const step = c.args[2];
      const text = step?.ivText ?? (step?.strLit ? constString(step.node) : undefined);
      const parts = text === undefined ? undefined : intervalParts(text);
      if (tstz[0] && (parts?.months !== 0 || parts.days !== 0))
        throw zoneRefused(z, 'generate_series(timestamp with time zone, timestamp with time zone, interval) with a step of days or months');
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * extract(field FROM x): numeric in PostgreSQL 15 — seconds with 6 decimals, milliseconds with
 * 3, epoch of a timestamp or interval with 6, other fields integral.
 */
function extract(c: FnCall): Typed | undefined {
  const { nodes, sig, t } = c;
  const field = constText(nodes[0])?.toLowerCase();
  const x = argOf(c, 1);
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
export function makeInterval(rw: Rewriter, v: FuncCall, scope: Scope): Typed | undefined {
  const names = ['years', 'months', 'weeks', 'days', 'hours', 'mins', 'secs'];
  const given = new Map<string, Node>();
  for (const [i, a] of (v.args ?? []).entries()) {
    const named = nodeOf(a, 'NamedArgExpr');
    const name = named ? String(named.name) : names[i];
    if (!name) return undefined;
    given.set(name, rw.expr(named ? present(named.arg, `make_interval's ${name}`) : a, scope).node);
  }
  if ([...given.keys()].some((k) => !names.includes(k))) return undefined;
  const get = (k: string): Node => given.get(k) ?? intConst(0);
  const months = opExpr('+', opExpr('*', castNode(get('years'), 'integer'), intConst(12)), castNode(get('months'), 'integer'));
  const days = opExpr('+', opExpr('*', castNode(get('weeks'), 'integer'), intConst(7)), castNode(get('days'), 'integer'));
  const us = opExpr(
    '+',
    opExpr(
      '+',
      opExpr('*', castNode(get('hours'), 'bigint'), castNode(intConst(3600000), 'bigint')),
      opExpr('*', castNode(get('mins'), 'bigint'), castNode(intConst(60000), 'bigint')),
    ),
    castNode(fn('round', [opExpr('*', castNode(get('secs'), 'double'), castNode(intConst(1000), 'double'))]), 'bigint'),
  );
  return { node: fn('pg__iv', [months, days, opExpr('*', us, castNode(intConst(1000), 'bigint'))]), t: 'interval' };
}
