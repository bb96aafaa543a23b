/**
 * The session TimeZone made explicit in the DuckDB SQL. DuckDB runs every analytical statement
 * with its own TimeZone locked at UTC (shared/src/duckdb), so wherever PostgreSQL 15 reads a
 * timestamptz in the session's zone (§8.5.1.3 "Time Stamps", §9.9 "Date/Time Functions"), the
 * rewrite spells the zone out: a timestamptz's local time is `timezone('Zone', tstz)` and a local
 * time's instant `timezone('Zone', ts)` (ICU; a fixed offset as plain arithmetic, since ICU only
 * knows whole-hour `Etc/GMT±h` zones). Under UTC every rule here is the identity, so the SQL of a
 * UTC session is what it always was.
 *
 * The zone is the rewrite's dynamic context ({@link withZone}), not a parameter: the implicit
 * coercions (coerce.ts) that meet it are called from every module without the Rewriter.
 * The rewrite is synchronous, so the context cannot leak into another statement.
 */
import type { Node } from '@pgsql/types';
import {
  formatTimestampStyle,
  intervalParts,
  parseTimestamp,
  type ResultType,
  SqlState,
  StratumError,
  timeZoneOffsetMs,
  zoneAbbreviation,
  zoneForEngine,
} from '@stratum/shared';
import { constString } from '../../analyze/ast.ts';
import { castNode, fn, intConst, opExpr, textConst } from './nodes.ts';
import type { Typed } from './types.ts';

/** A session zone other than UTC, as DuckDB is told it. */
export interface SessionZone {
  /** The TimeZone as SHOW prints it (messages, literal input). */
  setting: string;
  /** DateStyle, for reading literals (`01/02/2024`). */
  dateStyle: string | undefined;
  /** A fixed offset, seconds east of UTC; or the tz database name ICU reads. */
  engine: { fixed: number } | { name: string };
}

let current: SessionZone | undefined;

/**
 * Run `f` (a rewrite) with the session TimeZone `zone` (SHOW's text; undefined or a zero offset:
 * UTC, no rule applies) and DateStyle `dateStyle`.
 */
export function withZone<T>(zone: string | undefined, dateStyle: string | undefined, f: () => T): T {
  const engine = zone === undefined ? null : zoneForEngine(zone);
  const before = current;
  current = engine === null || ('fixed' in engine && engine.fixed === 0) ? undefined : { setting: zone as string, dateStyle, engine };
  try {
    return f();
  } finally {
    current = before;
  }
}

/** The session zone of the statement being rewritten, undefined under UTC. */
export function sessionZone(): SessionZone | undefined {
  return current;
}

/** `x` (a DuckDB TIMESTAMPTZ) as the local TIMESTAMP in zone `z` (PostgreSQL's timestamptz → timestamp). */
export function toLocal(z: SessionZone, x: Node): Node {
  if ('name' in z.engine) return fn('timezone', [textConst(z.engine.name), x]);
  return castNode(opExpr('+', castNode(x, 'timestamp'), fn('to_seconds', [castNode(intConst(z.engine.fixed), 'bigint')])), 'timestamp');
}

/**
 * `x` (a DuckDB TIMESTAMP, a local time in zone `z`) as the instant, a TIMESTAMPTZ (PostgreSQL's
 * timestamp → timestamptz: a time in a DST gap reads with the offset before the gap, a time in an
 * overlap as the later instant — ICU's default is PostgreSQL's DetermineTimeZoneOffset).
 */
export function fromLocal(z: SessionZone, x: Node): Node {
  if ('name' in z.engine) return fn('timezone', [textConst(z.engine.name), x]);
  return castNode(opExpr('-', castNode(x, 'timestamp'), fn('to_seconds', [castNode(intConst(z.engine.fixed), 'bigint')])), 'timestamptz');
}

/** The offset of zone `z` at instant `x` (a TIMESTAMPTZ), in seconds east of UTC, as a BIGINT. */
export function offsetSeconds(z: SessionZone, x: Node): Node {
  if ('fixed' in z.engine) return castNode(intConst(z.engine.fixed), 'bigint');
  return opExpr('//', opExpr('-', fn('epoch_us', [toLocal(z, x)]), fn('epoch_us', [x])), castNode(intConst(1_000_000), 'bigint'));
}

/** The 0A000 of a construct whose answer depends on the session zone and is not rewritten. */
export function zoneRefused(z: SessionZone, what: string): StratumError {
  return new StratumError(
    SqlState.featureNotSupported,
    `${what} is not supported in analytical queries under TimeZone "${z.setting}" (only under UTC)`,
    { hint: 'SET TimeZone = \'UTC\' for this statement; see docs/sql.md "Settings".' },
  );
}

/**
 * `x` converted from its type to `want` where the conversion reads the session zone (casts
 * between timestamptz and timestamp, date, time or text; a string literal read as timestamptz),
 * or undefined when it does not (or the zone is UTC).
 * @throws StratumError 22007/22008 for a literal PostgreSQL cannot read; 0A000 for text that is
 *   not a literal read as timestamptz.
 */
export function zoneCast(x: Typed, want: ResultType): Node | undefined {
  const z = current;
  // DuckDB casts TIMESTAMPTZ to TIME only through TIMESTAMP (its UTC fields, under UTC).
  if (!z) return x.t === 'timestamptz' && want === 'time' ? castNode(castNode(x.node, 'timestamp'), 'time') : undefined;
  if (want === 'timestamptz') {
    if (x.strLit) return tstzLiteral(z, constString(x.node) ?? '');
    if (x.t === 'timestamp') return fromLocal(z, x.node);
    if (x.t === 'date') return fromLocal(z, castNode(x.node, 'timestamp'));
    if (x.t === 'text' || x.t === 'varchar' || x.t === 'char') throw zoneRefused(z, `a cast of text to timestamp with time zone`);
    return undefined;
  }
  if (x.t !== 'timestamptz') return undefined;
  switch (want) {
    case 'timestamp':
      return toLocal(z, x.node);
    case 'date':
      return castNode(toLocal(z, x.node), 'date');
    case 'time':
      return castNode(toLocal(z, x.node), 'time');
    case 'text':
    case 'varchar':
      return fn('pg_tstz_text', [toLocal(z, x.node), offsetSeconds(z, x.node)]);
    default:
      return undefined;
  }
}

/** Special inputs that read the clock (a cached plan must not hold their value). */
const CLOCK_WORDS = /^\s*(now|today|tomorrow|yesterday)\s*$/i;

/**
 * A timestamptz literal read in the session zone by the router's own parser (PostgreSQL's
 * timestamptz_in): the instant as a UTC TIMESTAMPTZ constant.
 */
function tstzLiteral(z: SessionZone, text: string): Node {
  if (CLOCK_WORDS.test(text)) {
    if (/now/i.test(text)) return castNode(textConst(text), 'timestamptz');
    throw zoneRefused(z, `the timestamp input '${text.trim()}'`);
  }
  const settings = z.dateStyle === undefined ? { timeZone: z.setting } : { timeZone: z.setting, dateStyle: z.dateStyle };
  const us = parseTimestamp(text, 'timestamptz', settings);
  return castNode(textConst(formatTimestampStyle(us, 'UTC', 'ISO')), 'timestamptz');
}

/**
 * `x ± iv` for a timestamptz `x` (timestamptz_pl_interval): the interval's months and days are
 * added to the local time in zone `z`, its time part to the instant. `strIv`: the interval's
 * literal text, when it is one (its parts are then known here).
 */
export function tstzPlusInterval(z: SessionZone, op: '+' | '-', x: Node, iv: Node, strIv: string | undefined): Node | undefined {
  let calendar: Node;
  let clock: Node | undefined;
  if (strIv !== undefined) {
    const p = intervalParts(strIv);
    if (p.months === 0 && p.days === 0) return undefined;
    calendar = opExpr('+', fn('to_months', [intConst(p.months)]), fn('to_days', [intConst(p.days)]));
    clock = p.micros === 0n ? undefined : fn('to_microseconds', [castNode({ A_Const: { fval: { fval: String(p.micros) } } }, 'bigint')]);
  } else {
    calendar = opExpr(
      '+',
      fn('to_months', [castNode(fn('pg__ivm', [iv]), 'integer')]),
      fn('to_days', [castNode(fn('pg__ivd', [iv]), 'integer')]),
    );
    clock = fn('to_microseconds', [castNode(fn('pg__ivus', [iv]), 'bigint')]);
  }
  const moved = fromLocal(z, opExpr(op, toLocal(z, x), calendar));
  return clock ? opExpr(op, moved, clock) : moved;
}

/** Distinct (offset → abbreviation) pairs of a zone, sampled twice a year over 1900–2100, by zone. */
const abbrevCache = new Map<string, Map<number, string>>();

/**
 * to_char's `TZ` of instant `x` in zone `z`: the zone's abbreviation for the offset in force
 * (the tz database's, as the router prints them; sampled in January and July of 1900–2100, so
 * an abbreviation a zone used only briefly prints as its offset, and one offset has one name), else the numeric offset.
 */
export function zoneAbbrevNode(z: SessionZone, x: Node): Node {
  let m = abbrevCache.get(z.setting);
  if (!m) {
    m = new Map();
    for (let y = 1900; y <= 2100; y++) {
      for (const mo of [0, 6]) {
        const ms = Date.UTC(y, mo, 15);
        const off = Math.round(timeZoneOffsetMs(z.setting, ms) / 1000);
        const a = zoneAbbreviation(z.setting, BigInt(ms) * 1000n);
        // ICU names old dates by offset only: a letter abbreviation of any year wins.
        if (!m.has(off) || (/^[+-]/.test(m.get(off) ?? '') && !/^[+-]/.test(a))) m.set(off, a);
      }
    }
    abbrevCache.set(z.setting, m);
  }
  const off = offsetSeconds(z, x);
  const whens = [...m].map(([o, a]): Node => ({ CaseWhen: { expr: opExpr('=', off, intConst(o)), result: textConst(a) } }));
  return { CaseExpr: { args: whens, defresult: fn('pg_tz_offset_text', [off]) } };
}
