/**
 * Numeric functions and aggregates whose DuckDB meaning differs (PostgreSQL 15 §9.3, §9.21):
 * result types (`sum(int4)` is bigint, `sum(int8)` and `avg` of integers numeric), exact
 * variances, text numerics' display scales, rounding half to even.
 */
import type { Node } from '@pgsql/types';
import { numKey, scaleOf } from './coerce.ts';
import { argOf, callAs, castNode, constInt, fn, intConst, opExpr } from './nodes.ts';
import { type FnCall, INT_TYPES, type Typed } from './types.ts';

/** A numeric function or aggregate of `c` rewritten, or undefined when DuckDB's own is PostgreSQL's. */
export function numericFunction(c: FnCall): Typed | undefined {
  const { name, call, nodes, args, a0, t } = c;
  switch (name) {
    case 'sum':
      if (a0 === 'interval') {
        // interval_pl adds months, days and µs separately (DuckDB has no sum(interval)).
        const part = (p: string): Node => callAs(c, 'sum', [fn(p, [argOf(c, 0)])]);
        return { node: fn('pg__iv', [part('pg__ivm'), part('pg__ivd'), part('pg__ivus')]), t };
      }
      if (a0 === 'smallint' || a0 === 'integer') return { node: castNode({ FuncCall: call }, 'bigint'), t };
      if (a0 === 'bigint') return { node: castNode({ FuncCall: call }, 'decimal', [38, 0]), t };
      // numeric_sum of text numerics: the largest display scale of the values summed.
      if (a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale))
        return { node: { FuncCall: call }, t, scale: callAs(c, 'max', [scaleOf(args[0], argOf(c, 0))]) };
      if (a0 === 'real') return { node: castNode({ FuncCall: call }, 'real'), t };
      return undefined;
    case 'variance':
    case 'var_samp':
    case 'var_pop':
      if (a0 === 'smallint' || a0 === 'integer') {
        // numeric_var: (N·Σx² − (Σx)²) / (N·(N−1)) (or N² for var_pop), exact, with numeric_div's scale.
        const x = castNode(argOf(c, 0), 'hugeint');
        const n = castNode(callAs(c, 'count'), 'hugeint');
        const sx = callAs(c, 'sum', [x]);
        const num = castNode(opExpr('-', opExpr('*', n, callAs(c, 'sum', [opExpr('*', x, x)])), opExpr('*', sx, sx)), 'decimal', [38, 0]);
        const den = name === 'var_pop' ? opExpr('*', n, n) : opExpr('*', n, opExpr('-', n, intConst(1)));
        return { node: fn('pg_var', [num, den]), t, div: [num, den], variance: true };
      }
      return undefined;
    case 'avg':
      if (a0 === 'interval') {
        const part = (p: string): Node => callAs(c, 'sum', [fn(p, [argOf(c, 0)])]);
        return {
          node: fn('pg_ivdiv', [
            fn('pg__iv', [part('pg__ivm'), part('pg__ivd'), part('pg__ivus')]),
            castNode(callAs(c, 'count'), 'double'),
          ]),
          t,
        };
      }
      if (a0 && (INT_TYPES.has(a0) || a0 === 'numeric')) {
        const sum = callAs(c, 'sum');
        const count = callAs(c, 'count');
        const dividend = a0 === 'numeric' ? sum : castNode(sum, 'decimal', [38, 0]);
        const out: Typed = { node: fn('pg_ndiv', [dividend, count]), t, div: [dividend, count] };
        if (a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale))
          out.divScales = [callAs(c, 'max', [scaleOf(args[0], argOf(c, 0))]), intConst(0)];
        return out;
      }
      return undefined;
    case 'min':
    case 'max':
      // The text of the smallest / largest value in numeric order (numeric_smaller / numeric_larger).
      if (a0 === 'numeric' && args[0]?.textNum) {
        const x = args[0].node;
        return { node: callAs(c, name === 'min' ? 'arg_min' : 'arg_max', [x, numKey(x)]), t, textNum: true };
      }
      return undefined;
    case 'array_agg':
      // The values' own text, in a numeric[] of text numerics.
      return a0 === 'numeric' && args[0]?.textNum ? { node: callAs(c, 'array_agg', [args[0].node]), t, textNum: true } : undefined;
    case 'abs':
      return a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale)
        ? { node: { FuncCall: call }, t, scale: scaleOf(args[0], argOf(c, 0)) }
        : undefined;
    case 'mod':
      if (a0 && INT_TYPES.has(a0)) return { node: callAs(c, 'pg_imod'), t };
      if (a0 === 'numeric') return { node: callAs(c, 'pg_nmod'), t };
      return undefined;
    case 'div':
      return { node: callAs(c, 'pg_ndivt'), t };
    case 'sign':
      // DuckDB's sign() is a TINYINT; PostgreSQL's has the argument's type.
      return a0 === 'numeric' ? { node: castNode({ FuncCall: call }, 'decimal', [1, 0]), t } : undefined;
    case 'trunc':
    case 'round': {
      if (name === 'round' && a0 === 'double' && nodes.length === 1)
        return { node: callAs(c, 'round_even', [argOf(c, 0), intConst(0)]), t };
      // round/trunc(numeric, s) have scale s (zeros appended); DuckDB keeps the argument's scale.
      const places = constInt(nodes[1]);
      if (a0 === 'numeric' && places !== undefined) return { node: castNode({ FuncCall: call }, 'decimal', [38, Math.max(0, places)]), t };
      return undefined;
    }
    case 'factorial':
      return { node: castNode(callAs(c, 'factorial', [castNode(argOf(c, 0), 'integer')]), 'decimal', [38, 0]), t };
    case 'every':
      return { node: callAs(c, 'bool_and'), t };
    case 'width_bucket':
      return nodes.length === 4 ? { node: callAs(c, 'pg_width_bucket'), t } : undefined;
    default:
      return undefined;
  }
}
