/**
 * Array functions and subscripts, PostgreSQL 15 §9.19 (Table 9.52) and §8.15.3: array_length,
 * cardinality, array_lower/upper/ndims/dims, array_append/prepend/cat, array_position(s),
 * array_remove, array_replace, `a[i]` and `a[i:j]` (one dimension, lower bound 1; out of range
 * is NULL), and the remaining functions of the family: gen_random_uuid, the sequence functions
 * through `EvalContext.sequences`, encode/decode of bytea.
 */
import { randomUUID } from 'node:crypto';
import { DataError, SqlState, UnsupportedError } from '../errors.ts';
import { elementType, type ResultType, type SqlType, type Value } from '../types.ts';
import type { EvalContext, SequenceAccess } from './context.ts';
import { compareTyped } from './ops-core.ts';
import { defFn, type Impl, impl, implNonStrict, invalidParameter } from './registry.ts';

const isArr = (t: string | undefined): boolean => t !== undefined && (t.endsWith('[]') || t.startsWith('any'));
const elemOf = (t: string): ResultType => (t.endsWith('[]') ? elementType(t as SqlType) : 'text');

/** IS NOT DISTINCT FROM on elements (array_position, array_remove). */
function same(a: Value, b: Value, t: ResultType, ctx: EvalContext): boolean {
  if (a === null || b === null) return a === b;
  return compareTyped(a, t, b, t, ctx) === 0;
}

defFn('array_length', (args) =>
  isArr(args[0]) ? impl(([a, d]) => ((d as number) === 1 && (a as Value[]).length > 0 ? (a as Value[]).length : null)) : undefined,
);
defFn('cardinality', (args) => (isArr(args[0]) ? impl(([a]) => (a as Value[]).length) : undefined));
defFn('array_lower', (args) =>
  isArr(args[0]) ? impl(([a, d]) => ((d as number) === 1 && (a as Value[]).length > 0 ? 1 : null)) : undefined,
);
defFn('array_upper', (args) =>
  isArr(args[0]) ? impl(([a, d]) => ((d as number) === 1 && (a as Value[]).length > 0 ? (a as Value[]).length : null)) : undefined,
);
defFn('array_ndims', (args) => (isArr(args[0]) ? impl(([a]) => ((a as Value[]).length > 0 ? 1 : null)) : undefined));
defFn('array_dims', (args) =>
  isArr(args[0]) ? impl(([a]) => ((a as Value[]).length > 0 ? `[1:${(a as Value[]).length}]` : null)) : undefined,
);
defFn('array_append', () => implNonStrict(([a, e]) => [...((a as Value[] | null) ?? []), e as Value]));
defFn('array_prepend', () => implNonStrict(([e, a]) => [e as Value, ...((a as Value[] | null) ?? [])]));
defFn('array_cat', () =>
  implNonStrict(([a, b]) => (a === null ? (b as Value) : b === null ? a : [...(a as Value[]), ...(b as Value[])]) as Value),
);
defFn('array_position', (args) => {
  if (!isArr(args[0])) return undefined;
  const et = elemOf(args[0] as string);
  return implNonStrict(([a, e, start], ctx) => {
    if (a === null) return null;
    if (start === null) throw invalidParameter('initial position must not be null');
    const from = Math.max(1, (start as number | undefined) ?? 1);
    const arr = a as Value[];
    for (let i = from - 1; i < arr.length; i++) if (same(arr[i] as Value, e as Value, et, ctx)) return i + 1;
    return null;
  });
});
defFn('array_positions', (args) => {
  if (!isArr(args[0])) return undefined;
  const et = elemOf(args[0] as string);
  return implNonStrict(([a, e], ctx) => {
    if (a === null) return null;
    const out: Value[] = [];
    (a as Value[]).forEach((x, i) => {
      if (same(x, e as Value, et, ctx)) out.push(i + 1);
    });
    return out;
  });
});
defFn('array_remove', (args) => {
  if (!isArr(args[0])) return undefined;
  const et = elemOf(args[0] as string);
  return implNonStrict(([a, e], ctx) => (a === null ? null : (a as Value[]).filter((x) => !same(x, e as Value, et, ctx))));
});
defFn('array_replace', (args) => {
  if (!isArr(args[0])) return undefined;
  const et = elemOf(args[0] as string);
  return implNonStrict(([a, from, to], ctx) =>
    a === null ? null : (a as Value[]).map((x) => (same(x, from as Value, et, ctx) ? (to as Value) : x)),
  );
});

// Subscripts (not PostgreSQL functions: the analyze stage emits them for a[i] and a[i:j]).
defFn('[]', () => impl(([a, i]) => (a as Value[])[(i as number) - 1] ?? null));
defFn('[:]', () =>
  implNonStrict(([a, lo, hi]) => {
    if (a === null) return null;
    const arr = a as Value[];
    const from = Math.max(1, (lo as number | null) ?? 1);
    const to = Math.min(arr.length, (hi as number | null) ?? arr.length);
    return to < from ? [] : arr.slice(from - 1, to);
  }),
);

// ---------------------------------------------------------------------------------------------
// gen_random_uuid (§9.14) and sequence functions (§9.17).

defFn('gen_random_uuid', () => ({ run: () => randomUUID(), nonStrict: true }));

function sequences(ctx: EvalContext, call: string): SequenceAccess {
  if (!ctx.sequences) throw new UnsupportedError(`${call}() is not supported here (sequences are not reachable from this tier)`);
  return ctx.sequences;
}
defFn('nextval', () => impl(([n], ctx) => sequences(ctx, 'nextval').nextval(n as string)));
defFn('currval', () => impl(([n], ctx) => sequences(ctx, 'currval').currval(n as string)));
defFn('lastval', () => ({ run: (_a, ctx) => sequences(ctx, 'lastval').lastval(), nonStrict: true }));
defFn('setval', () =>
  impl(([n, v, called], ctx) =>
    sequences(ctx, 'setval').setval(n as string, BigInt(v as bigint | number), called === undefined ? true : (called as boolean)),
  ),
);

// ---------------------------------------------------------------------------------------------
// encode / decode (§9.5, Table 9.11): base64, hex, escape.

function encode(b: Uint8Array, format: string): string {
  const buf = Buffer.from(b);
  switch (format.toLowerCase()) {
    case 'hex':
      return buf.toString('hex');
    case 'base64':
      return (buf.toString('base64').match(/.{1,76}/g) ?? ['']).join('\n');
    case 'escape': {
      let s = '';
      for (const c of buf) s += c === 0x5c ? '\\\\' : c < 0x20 || c > 0x7e ? `\\${c.toString(8).padStart(3, '0')}` : String.fromCharCode(c);
      return s;
    }
    default:
      throw invalidParameter(`unrecognized encoding: "${format}"`);
  }
}

function decode(s: string, format: string): Uint8Array {
  switch (format.toLowerCase()) {
    case 'hex': {
      const t = s.replace(/\s+/g, '');
      if (t.length % 2 !== 0) throw new DataError(SqlState.invalidParameterValue, 'invalid hexadecimal data: odd number of digits');
      if (/[^0-9a-fA-F]/.test(t)) {
        const bad = /[^0-9a-fA-F]/.exec(t)?.[0] ?? '';
        throw new DataError(SqlState.invalidParameterValue, `invalid hexadecimal digit: "${bad}"`);
      }
      return Buffer.from(t, 'hex');
    }
    case 'base64':
      return Buffer.from(s.replace(/\s+/g, ''), 'base64');
    case 'escape': {
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        const c = s[i] as string;
        if (c === '\\') {
          if (s[i + 1] === '\\') {
            out.push(0x5c);
            i++;
          } else if (/^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
            out.push(Number.parseInt(s.slice(i + 1, i + 4), 8));
            i += 3;
          } else throw new DataError(SqlState.invalidTextRepresentation, 'invalid input syntax for type bytea');
        } else out.push(...Buffer.from(c, 'utf8'));
      }
      return Uint8Array.from(out);
    }
    default:
      throw invalidParameter(`unrecognized encoding: "${format}"`);
  }
}
defFn('encode', (args) => (args[0] === 'bytea' ? impl(([b, f]) => encode(b as Uint8Array, f as string)) : undefined));
defFn('decode', () => impl(([s, f]) => decode(s as string, f as string)));

/** Implementation type re-export for the family modules. */
export type { Impl };
