/**
 * The evaluator: compiles an {@link Expr} once into a tree of closures (cached per node
 * object) and runs it per row. Semantics of PostgreSQL 15: strict functions return NULL for a
 * NULL argument; AND/OR are three-valued (§9.1); CASE, COALESCE, GREATEST/LEAST and NULLIF
 * evaluate lazily (§9.18); x IN (…) and x op ANY/ALL (array) follow §9.24/§9.25 (NULL when no
 * element matches and some comparison was NULL).
 */
import { DataError, SqlState, UnsupportedError } from '../errors.ts';
import type { Expr } from '../tiers.ts';
import { elementType, type ResultType, type SqlType, type Value } from '../types.ts';
import { castValue } from './cast.ts';
import type { EvalContext } from './context.ts';
import { compareTyped } from './ops-core.ts';
import { FUNCTIONS, type Impl, OPERATORS } from './registry.ts';
import { displayType } from './resolve.ts';

/** The rows an expression reads: `col` nodes read `row` (or `excluded` with rel 1), `input` nodes read `inputs`. */
export interface EvalRow {
  row: Readonly<Record<string, Value>>;
  excluded?: Readonly<Record<string, Value>>;
  inputs?: readonly Value[];
}

type Run = (r: EvalRow, ctx: EvalContext) => Value;

/** The result type of a compiled expression. */
export function typeOf(e: Expr): ResultType {
  switch (e.k) {
    case 'and':
    case 'or':
    case 'not':
    case 'test':
    case 'in':
    case 'any':
    case 'distinct':
      return 'boolean';
    default:
      return e.t;
  }
}

const compiled = new WeakMap<Expr, Run>();

/**
 * Evaluate `e` over `r`.
 * @throws StratumError with PostgreSQL's SQLSTATE (22012, 22003, 22P02, …).
 */
export function evaluate(e: Expr, r: EvalRow, ctx: EvalContext): Value {
  let run = compiled.get(e);
  if (!run) {
    run = build(e);
    compiled.set(e, run);
  }
  return run(r, ctx);
}

/** The implementation of an operator or function call, for callers that apply one to values (ANY, CASE). */
export function lookupImpl(fn: string, args: ResultType[], t: ResultType): Impl {
  const isOp = !/^[a-z_]/.test(fn);
  const f = isOp ? (OPERATORS.get(`${fn}/${args.length}`) ?? FUNCTIONS.get(fn)) : FUNCTIONS.get(fn);
  const im = f?.(args, t);
  if (!im) {
    const what = isOp
      ? `operator ${args.length === 1 ? `${fn} ${displayType(args[0] as string)}` : `${displayType(args[0] as string)} ${fn} ${displayType(args[1] as string)}`}`
      : `function ${fn}(${args.map(displayType).join(', ')})`;
    throw new UnsupportedError(`${what} is not supported`);
  }
  return im;
}

function build(e: Expr): Run {
  switch (e.k) {
    case 'const': {
      const v = e.v;
      return () => v;
    }
    case 'col': {
      const { field, missing } = e;
      const dflt = missing ?? null;
      if (e.rel === 1) return (r) => r.excluded?.[field] ?? (r.excluded && field in r.excluded ? null : dflt);
      return (r) => {
        const v = r.row[field];
        return v === undefined ? dflt : v;
      };
    }
    case 'input': {
      const i = e.i;
      return (r) => r.inputs?.[i] ?? null;
    }
    case 'param': {
      const n = e.n;
      return () => {
        throw new DataError(SqlState.undefinedParameter, `there is no parameter $${n}`);
      };
    }
    case 'call':
      return buildCall(e.fn, e.args, e.t);
    case 'cast': {
      const arg = build(e.arg);
      const from = typeOf(e.arg);
      const { t, typmod } = e;
      const context = e.explicit ? 'explicit' : 'assignment';
      return (r, ctx) => castValue(arg(r, ctx), from, t, typmod, context, ctx);
    }
    case 'and': {
      const args = e.args.map(build);
      return (r, ctx) => {
        let sawNull = false;
        for (const a of args) {
          const v = a(r, ctx);
          if (v === false) return false;
          if (v === null) sawNull = true;
        }
        return sawNull ? null : true;
      };
    }
    case 'or': {
      const args = e.args.map(build);
      return (r, ctx) => {
        let sawNull = false;
        for (const a of args) {
          const v = a(r, ctx);
          if (v === true) return true;
          if (v === null) sawNull = true;
        }
        return sawNull ? null : false;
      };
    }
    case 'not': {
      const a = build(e.arg);
      return (r, ctx) => {
        const v = a(r, ctx);
        return v === null ? null : !v;
      };
    }
    case 'test': {
      const a = build(e.arg);
      switch (e.op) {
        case 'null':
          return (r, ctx) => a(r, ctx) === null;
        case 'not_null':
          return (r, ctx) => a(r, ctx) !== null;
        case 'true':
          return (r, ctx) => a(r, ctx) === true;
        case 'not_true':
          return (r, ctx) => a(r, ctx) !== true;
        case 'false':
          return (r, ctx) => a(r, ctx) === false;
        case 'not_false':
          return (r, ctx) => a(r, ctx) !== false;
        case 'unknown':
          return (r, ctx) => a(r, ctx) === null;
        case 'not_unknown':
          return (r, ctx) => a(r, ctx) !== null;
      }
      break;
    }
    case 'case': {
      const whens = e.when.map((w) => ({ cond: build(w.cond), result: build(w.then), ct: typeOf(w.cond) }));
      const otherwise = e.else ? build(e.else) : () => null;
      if (e.arg) {
        const arg = build(e.arg);
        const at = typeOf(e.arg);
        return (r, ctx) => {
          const v = arg(r, ctx);
          for (const w of whens) {
            if (v === null) continue;
            const c = w.cond(r, ctx);
            if (c !== null && compareTyped(v, at, c, w.ct, ctx) === 0) return w.result(r, ctx);
          }
          return otherwise(r, ctx);
        };
      }
      return (r, ctx) => {
        for (const w of whens) if (w.cond(r, ctx) === true) return w.result(r, ctx);
        return otherwise(r, ctx);
      };
    }
    case 'in': {
      const arg = build(e.arg);
      const at = typeOf(e.arg);
      const list = e.list.map((x) => ({ run: build(x), t: typeOf(x) }));
      const not = e.not === true;
      return (r, ctx) => {
        const v = arg(r, ctx);
        if (v === null) return null;
        let sawNull = false;
        for (const x of list) {
          const w = x.run(r, ctx);
          if (w === null) sawNull = true;
          else if (compareTyped(v, at, w, x.t, ctx) === 0) return !not;
        }
        return sawNull ? null : not;
      };
    }
    case 'any': {
      const arg = build(e.arg);
      const arr = build(e.array);
      const at = typeOf(e.arg);
      const et = elementType(typeOf(e.array) as SqlType);
      const op = lookupImpl(e.op, [at, et], 'boolean');
      const all = e.all === true;
      return (r, ctx) => {
        const v = arg(r, ctx);
        const a = arr(r, ctx) as Value[] | null;
        if (a === null) return null;
        if (a.length === 0) return all;
        if (v === null && !op.nonStrict) return null;
        let sawNull = false;
        for (const x of a) {
          const res = x === null && !op.nonStrict ? null : op.run([v, x], ctx);
          if (res === null) sawNull = true;
          else if (res === !all) return !all;
        }
        return sawNull ? null : all;
      };
    }
    case 'array': {
      const items = e.items.map(build);
      return (r, ctx) => items.map((i) => i(r, ctx));
    }
    case 'coalesce': {
      const args = e.args.map(build);
      return (r, ctx) => {
        for (const a of args) {
          const v = a(r, ctx);
          if (v !== null) return v;
        }
        return null;
      };
    }
    case 'greatest':
    case 'least': {
      const args = e.args.map(build);
      const t = e.t;
      const sign = e.k === 'greatest' ? 1 : -1;
      return (r, ctx) => {
        let best: Value = null;
        for (const a of args) {
          const v = a(r, ctx);
          if (v === null) continue;
          if (best === null || sign * compareTyped(v, t, best, t, ctx) > 0) best = v;
        }
        return best;
      };
    }
    case 'nullif': {
      const [a, b] = e.args.map(build) as [Run, Run];
      const [ta, tb] = e.args.map(typeOf) as [ResultType, ResultType];
      return (r, ctx) => {
        const x = a(r, ctx);
        if (x === null) return null;
        const y = b(r, ctx);
        return y !== null && compareTyped(x, ta, y, tb, ctx) === 0 ? null : x;
      };
    }
    case 'distinct': {
      const [a, b] = e.args.map(build) as [Run, Run];
      const [ta, tb] = e.args.map(typeOf) as [ResultType, ResultType];
      const not = e.not === true;
      return (r, ctx) => {
        const x = a(r, ctx);
        const y = b(r, ctx);
        let distinct: boolean;
        if (x === null || y === null) distinct = x !== y;
        else distinct = compareTyped(x, ta, y, tb, ctx) !== 0;
        return distinct !== not;
      };
    }
  }
  throw new UnsupportedError(`expression kind ${(e as { k: string }).k} is not supported`);
}

function buildCall(fn: string, argExprs: Expr[], t: ResultType): Run {
  const types = argExprs.map(typeOf);
  const im = lookupImpl(fn, types, t);
  const args = argExprs.map(build);
  const run = im.run;
  if (im.nonStrict) {
    return (r, ctx) =>
      run(
        args.map((a) => a(r, ctx)),
        ctx,
      );
  }
  if (args.length === 1) {
    const a0 = args[0] as Run;
    return (r, ctx) => {
      const v = a0(r, ctx);
      return v === null ? null : run([v], ctx);
    };
  }
  if (args.length === 2) {
    const [a0, a1] = args as [Run, Run];
    return (r, ctx) => {
      // PostgreSQL evaluates every argument before the strictness check (errors win over NULL).
      const v = a0(r, ctx);
      const w = a1(r, ctx);
      return v === null || w === null ? null : run([v, w], ctx);
    };
  }
  return (r, ctx) => {
    const vs = args.map((a) => a(r, ctx));
    return vs.includes(null) ? null : run(vs, ctx);
  };
}
