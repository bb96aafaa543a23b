/**
 * Formatting functions (PostgreSQL 15 §9.4.1 format, §9.8 to_char, to_number, to_timestamp,
 * to_date) with constant templates, compiled to DuckDB expressions (to-char.ts).
 */
import type { Node } from '@pgsql/types';
import { StratumError } from '@stratum/shared';
import { outText } from './coerce.ts';
import { argOf, castNode, castTyped, constText, fn, textConst } from './nodes.ts';
import { strptimeFormat, toCharNumber, toCharTimestamp } from './to-char.ts';
import { FLOAT_TYPES, type FnCall, INT_TYPES, type Typed } from './types.ts';
import { fromLocal, sessionZone, toLocal } from './zone.ts';

/** A formatting function of `c` rewritten, or undefined when its template is not constant or not known. */
export function formatFunction(c: FnCall): Typed | undefined {
  const { name, nodes, t } = c;
  switch (name) {
    case 'format':
      return format(c);
    case 'to_number': {
      const f = constText(nodes[1]);
      if (f === undefined) return undefined;
      const dot = f.search(/[.D]/);
      const scale = dot < 0 ? 0 : (f.slice(dot + 1).match(/[09]/g) ?? []).length;
      const digits = fn('regexp_replace', [argOf(c, 0), textConst('[^0-9.-]'), textConst(''), textConst('g')]);
      return { node: castNode(digits, 'decimal', [38, scale]), t };
    }
    case 'to_char':
      return toChar(c);
    case 'to_timestamp':
    case 'to_date': {
      if (nodes.length !== 2) return undefined;
      const f = constText(nodes[1]);
      const fmt = f === undefined ? undefined : strptimeFormat(f);
      if (fmt === undefined) return undefined;
      const z = sessionZone();
      // to_timestamp(text, text) reads a local time of the session zone.
      if (z && name === 'to_timestamp')
        return { node: fromLocal(z, castNode(fn('strptime', [argOf(c, 0), textConst(fmt)]), 'timestamp')), t };
      return { node: castTyped({ node: fn('strptime', [argOf(c, 0), textConst(fmt)]), t }, t), t };
    }
    default:
      return undefined;
  }
}

/**
 * format() with a constant format string (PostgreSQL 15 §9.4.1): %s (the output text, NULL as
 * ''), %I (quote_ident), %L (quote_literal, NULL as NULL), %% and `n$` positions, as a concat.
 * Widths and non-constant formats are left to DuckDB (known difference).
 */
function format(c: FnCall): Typed | undefined {
  const { nodes, args, t } = c;
  const f = constText(nodes[0]);
  if (f === undefined) return undefined;
  const parts: Node[] = [];
  let lit = '';
  let next = 1;
  for (let i = 0; i < f.length; i++) {
    const ch = f[i];
    if (ch !== '%') {
      lit += ch;
      continue;
    }
    const m = /^(?:(\d+)\$)?([sIL%])/.exec(f.slice(i + 1));
    if (!m) return undefined;
    i += m[0].length;
    if (m[2] === '%') {
      lit += '%';
      continue;
    }
    const k = m[1] !== undefined ? Number(m[1]) : next;
    next = k + 1;
    const arg = args[k];
    const node = nodes[k];
    if (!arg || !node) throw new StratumError('22023', 'too few arguments for format()');
    if (lit) parts.push(textConst(lit));
    lit = '';
    const text = outText(arg, node);
    if (m[2] === 's') parts.push({ CoalesceExpr: { args: [castNode(text, 'varchar'), textConst('')] } });
    else if (m[2] === 'I') parts.push(fn('pg_quote_ident', [castNode(text, 'varchar')]));
    else parts.push(fn('pg_quote_nullable', [castNode(text, 'varchar')]));
  }
  if (lit) parts.push(textConst(lit));
  return { node: parts.length === 0 ? textConst('') : fn('concat', parts), t };
}

/** to_char(timestamp | date | interval | number, constant template): see {@link toCharTimestamp} and {@link toCharNumber}. */
function toChar(c: FnCall): Typed | undefined {
  const { nodes, args, a0, t } = c;
  const f = constText(nodes[1]);
  if (f === undefined) return undefined;
  const x = argOf(c, 0);
  if (a0 === 'timestamp' || a0 === 'timestamptz') {
    // A timestamptz prints its local time and zone in the session zone (UTC: its UTC fields).
    const z = a0 === 'timestamptz' ? sessionZone() : undefined;
    const node = toCharTimestamp(z ? toLocal(z, x) : x, f, a0 === 'timestamptz' ? (z ? { zone: z, at: x } : 'utc') : undefined);
    return node ? { node, t } : undefined;
  }
  if (a0 && (INT_TYPES.has(a0) || a0 === 'numeric' || FLOAT_TYPES.has(a0))) {
    const node = toCharNumber(x, f, args[0]?.t === 'unknown' ? a0 : (args[0]?.t ?? a0));
    return node ? { node, t } : undefined;
  }
  return undefined;
}
