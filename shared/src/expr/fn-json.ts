/**
 * json and jsonb operators and functions, PostgreSQL 15 §9.16 (Tables 9.44–9.47): `-> ->> #>
 * #>>` for both types, `@> <@ ? ?| ?& - #- ||` for jsonb, json(b)_build_object/array,
 * to_json(b), jsonb_set, jsonb_insert, json(b)_typeof, json(b)_array_length,
 * json(b)_extract_path(_text), jsonb_pretty, json(b)_strip_nulls. Values parse with types.ts's
 * JSON parser; jsonb results are its canonical text, json results compact text.
 */
import { DataError, SqlState } from '../errors.ts';
import {
  canonicalJsonb,
  elementType,
  escapeJsonString,
  formatJsonb,
  formatJsonNode,
  formatValue,
  isArrayType,
  JSON_SOURCE,
  type JsonNode,
  normalizeJsonb,
  parseJson,
  type ResultType,
  type SqlType,
  type Value,
} from '../types.ts';
import { castHooks } from './cast.ts';
import type { EvalContext } from './context.ts';
import { compareTyped, concatHooks } from './ops-core.ts';
import { defFn, defOp, type Impl, impl, implNonStrict, invalidParameter, OPERATORS } from './registry.ts';

const isJson = (t: string | undefined): t is 'json' | 'jsonb' => t === 'json' || t === 'jsonb';

/** Compact json text of a node (json results; PostgreSQL keeps the input text, which tests write compactly). */
const jsonCompact = (n: JsonNode): string => formatJsonNode(n, true);

function parse(v: Value, t: ResultType): JsonNode {
  return parseJson(v as string, t === 'jsonb');
}

function out(n: JsonNode, t: 'json' | 'jsonb'): string {
  return t === 'jsonb' ? formatJsonb(normalizeJsonb(n)) : (JSON_SOURCE.get(n) ?? jsonCompact(n));
}

/** ->> text of a node: strings unquoted, null as SQL NULL, others as their json text. */
function asText(n: JsonNode, t: 'json' | 'jsonb'): string | null {
  if (n.t === 'null') return null;
  if (n.t === 'str') return n.v;
  return out(n, t);
}

function getField(n: JsonNode, key: string | number): JsonNode | undefined {
  if (typeof key === 'number') {
    if (n.t !== 'arr') return undefined;
    const i = key < 0 ? n.items.length + key : key;
    return n.items[i];
  }
  if (n.t !== 'obj') return undefined;
  let found: JsonNode | undefined;
  for (const [k, v] of n.pairs) if (k === key) found = v;
  return found;
}

function getPath(n: JsonNode, path: (string | null)[]): JsonNode | undefined {
  let cur: JsonNode | undefined = n;
  for (const p of path) {
    if (cur === undefined || p === null) return undefined;
    if (cur.t === 'arr') {
      if (!/^\s*-?\d+\s*$/.test(p)) return undefined;
      cur = getField(cur, Number(p));
    } else cur = getField(cur, p);
  }
  return cur;
}

function arrowFactory(text: boolean) {
  return (args: ResultType[]): Impl | undefined => {
    const t = args[0];
    if (!isJson(t)) return undefined;
    const key = args[1];
    return impl(([j, k]) => {
      const n = getField(parse(j as Value, t), key === 'integer' ? (k as number) : (k as string));
      if (n === undefined) return null;
      return text ? asText(n, t) : out(n, t);
    });
  };
}
defOp('->', arrowFactory(false));
defOp('->>', arrowFactory(true));

function pathFactory(text: boolean) {
  return (args: ResultType[]): Impl | undefined => {
    const t = args[0];
    if (!isJson(t)) return undefined;
    return impl(([j, p]) => {
      const n = getPath(parse(j as Value, t), p as (string | null)[]);
      if (n === undefined) return null;
      return text ? asText(n, t) : out(n, t);
    });
  };
}
defOp('#>', pathFactory(false));
defOp('#>>', pathFactory(true));
defFn(['json_extract_path', 'jsonb_extract_path'], (args) => {
  const t = args[0];
  if (!isJson(t)) return undefined;
  return impl((vs) => {
    const n = getPath(parse(vs[0] as Value, t), vs.slice(1) as string[]);
    return n === undefined ? null : out(n, t);
  });
});
defFn(['json_extract_path_text', 'jsonb_extract_path_text'], (args) => {
  const t = args[0];
  if (!isJson(t)) return undefined;
  return impl((vs) => {
    const n = getPath(parse(vs[0] as Value, t), vs.slice(1) as string[]);
    return n === undefined ? null : asText(n, t);
  });
});

/** jsonb containment (§8.14.3): objects by key subsets, arrays by element inclusion, scalars by equality. */
function contains(a: JsonNode, b: JsonNode, top = true): boolean {
  if (a.t === 'obj') {
    if (b.t !== 'obj') return false;
    return b.pairs.every(([k, v]) => {
      const x = getField(a, k);
      return x !== undefined && contains(x, v, false);
    });
  }
  if (a.t === 'arr') {
    if (b.t === 'arr')
      return b.items.every((bi) => a.items.some((ai) => (bi.t === 'arr' || bi.t === 'obj' ? contains(ai, bi, false) : scalarEq(ai, bi))));
    // A top-level array contains a bare scalar.
    return top && b.t !== 'obj' && a.items.some((ai) => scalarEq(ai, b));
  }
  return scalarEq(a, b);
}

function scalarEq(a: JsonNode, b: JsonNode): boolean {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'null':
      return true;
    case 'bool':
      return a.v === (b as { v: boolean }).v;
    case 'num':
      return compareTyped(a.text, 'numeric', (b as { text: string }).text, 'numeric', NO_CTX) === 0;
    case 'str':
      return a.v === (b as { v: string }).v;
    default:
      return false;
  }
}

const NO_CTX: EvalContext = { txnTimeUs: 0n, stmtTimeUs: 0n, timeZone: 'UTC' };

defOp('@>', (args) =>
  args[0] === 'jsonb' ? impl(([a, b]) => contains(parse(a as Value, 'jsonb'), parse(b as Value, 'jsonb'))) : arrayContains(args, false),
);
defOp('<@', (args) =>
  args[0] === 'jsonb' ? impl(([a, b]) => contains(parse(b as Value, 'jsonb'), parse(a as Value, 'jsonb'))) : arrayContains(args, true),
);

/** jsonb ? key: a top-level key, or a string element of a top-level array. */
function hasKey(n: JsonNode, k: string): boolean {
  if (n.t === 'obj') return n.pairs.some(([x]) => x === k);
  if (n.t === 'arr') return n.items.some((i) => i.t === 'str' && i.v === k);
  return n.t === 'str' && n.v === k;
}
defOp('?', (args) => (args[0] === 'jsonb' ? impl(([a, k]) => hasKey(parse(a as Value, 'jsonb'), k as string)) : undefined));
defOp('?|', (args) =>
  args[0] === 'jsonb'
    ? impl(([a, ks]) => (ks as (string | null)[]).some((k) => k !== null && hasKey(parse(a as Value, 'jsonb'), k)))
    : undefined,
);
defOp('?&', (args) =>
  args[0] === 'jsonb'
    ? impl(([a, ks]) => (ks as (string | null)[]).every((k) => k !== null && hasKey(parse(a as Value, 'jsonb'), k)))
    : undefined,
);

function deleteKey(n: JsonNode, k: string | number): JsonNode {
  if (typeof k === 'number') {
    if (n.t !== 'arr') {
      if (n.t === 'obj') throw invalidParameter('cannot delete from object using integer index');
      throw invalidParameter('cannot delete from scalar');
    }
    const i = k < 0 ? n.items.length + k : k;
    return { t: 'arr', items: n.items.filter((_, j) => j !== i) };
  }
  if (n.t === 'obj') return { t: 'obj', pairs: n.pairs.filter(([x]) => x !== k) };
  if (n.t === 'arr') return { t: 'arr', items: n.items.filter((i) => !(i.t === 'str' && i.v === k)) };
  throw invalidParameter('cannot delete from scalar');
}

const numericMinus = OPERATORS.get('-/2');
defOp('-', (args, t) => {
  if (args[0] !== 'jsonb') return numericMinus?.(args, t);
  if (args[1] === 'text[]')
    return impl(([a, ks]) =>
      out(
        (ks as string[]).reduce((n, k) => (k === null ? n : deleteKey(n, k)), parse(a as Value, 'jsonb')),
        'jsonb',
      ),
    );
  return impl(([a, k]) => out(deleteKey(parse(a as Value, 'jsonb'), k as string | number), 'jsonb'));
});

/** Replace (or with `create` insert) the value at `path`; `mode` insert places it before/after an array position (jsonb_insert). */
function setPath(n: JsonNode, path: string[], value: JsonNode, create: boolean, mode: 'set' | 'before' | 'after' | 'delete'): JsonNode {
  if (path.length === 0) return mode === 'delete' ? n : value;
  const [k, ...rest] = path as [string, ...string[]];
  if (n.t === 'obj') {
    const idx = n.pairs.findIndex(([x]) => x === k);
    if (rest.length === 0) {
      if (mode === 'delete') return idx < 0 ? n : { t: 'obj', pairs: n.pairs.filter((_, i) => i !== idx) };
      if (idx >= 0) {
        if (mode !== 'set') throw invalidParameter('cannot replace existing key');
        return { t: 'obj', pairs: n.pairs.map((p, i) => (i === idx ? [k, value] : p)) };
      }
      return create || mode !== 'set' ? { t: 'obj', pairs: [...n.pairs, [k, value]] } : n;
    }
    if (idx < 0) return n;
    return { t: 'obj', pairs: n.pairs.map((p, i) => (i === idx ? [k, setPath(p[1], rest, value, create, mode)] : p)) };
  }
  if (n.t === 'arr') {
    if (!/^\s*-?\d+\s*$/.test(k)) {
      throw new DataError(SqlState.invalidTextRepresentation, `path element at position ${1} is not an integer: "${k}"`);
    }
    const len = n.items.length;
    let i = Number(k);
    if (i < 0) i += len;
    if (rest.length === 0) {
      const items = n.items.slice();
      if (mode === 'delete') return i >= 0 && i < len ? { t: 'arr', items: items.filter((_, j) => j !== i) } : n;
      if (mode === 'set') {
        if (i >= 0 && i < len) items[i] = value;
        else if (create) {
          if (i < 0) items.unshift(value);
          else items.push(value);
        }
        return { t: 'arr', items };
      }
      const at = Math.max(0, Math.min(len, i < 0 ? 0 : mode === 'after' ? i + 1 : i));
      items.splice(at, 0, value);
      return { t: 'arr', items };
    }
    if (i < 0 || i >= len) return n;
    return { t: 'arr', items: n.items.map((x, j) => (j === i ? setPath(x, rest, value, create, mode) : x)) };
  }
  if (mode === 'delete') throw invalidParameter('cannot delete path in scalar');
  throw invalidParameter('cannot set path in scalar');
}

defOp('#-', (args) =>
  args[0] === 'jsonb'
    ? impl(([a, p]) => out(setPath(parse(a as Value, 'jsonb'), p as string[], { t: 'null' }, false, 'delete'), 'jsonb'))
    : undefined,
);
defFn('jsonb_set', () =>
  impl(([a, p, v, create]) =>
    out(setPath(parse(a as Value, 'jsonb'), p as string[], parse(v as Value, 'jsonb'), create !== false, 'set'), 'jsonb'),
  ),
);
defFn('jsonb_insert', () =>
  impl(([a, p, v, after]) =>
    out(setPath(parse(a as Value, 'jsonb'), p as string[], parse(v as Value, 'jsonb'), true, after === true ? 'after' : 'before'), 'jsonb'),
  ),
);

/** jsonb || jsonb: objects merge (right wins), arrays concatenate, scalars become one-element arrays. */
function concatJsonb(a: JsonNode, b: JsonNode): JsonNode {
  if (a.t === 'obj' && b.t === 'obj') {
    const pairs = a.pairs.filter(([k]) => !b.pairs.some(([x]) => x === k));
    return { t: 'obj', pairs: [...pairs, ...b.pairs] };
  }
  const items = (n: JsonNode): JsonNode[] => (n.t === 'arr' ? n.items : [n]);
  return { t: 'arr', items: [...items(a), ...items(b)] };
}

function jsonType(n: JsonNode): string {
  return { null: 'null', bool: 'boolean', num: 'number', str: 'string', arr: 'array', obj: 'object' }[n.t];
}
defFn(['json_typeof', 'jsonb_typeof'], (args) =>
  isJson(args[0]) ? impl(([j]) => jsonType(parse(j as Value, args[0] as ResultType))) : undefined,
);
defFn(['json_array_length', 'jsonb_array_length'], (args) => {
  const t = args[0];
  if (!isJson(t)) return undefined;
  return impl(([j]) => {
    const n = parse(j as Value, t);
    if (n.t !== 'arr')
      throw invalidParameter(n.t === 'obj' ? 'cannot get array length of a non-array' : 'cannot get array length of a scalar');
    return n.items.length;
  });
});
function stripNulls(n: JsonNode): JsonNode {
  if (n.t === 'obj') return { t: 'obj', pairs: n.pairs.filter(([, v]) => v.t !== 'null').map(([k, v]) => [k, stripNulls(v)]) };
  if (n.t === 'arr') return { t: 'arr', items: n.items.map(stripNulls) };
  return n;
}
defFn(['json_strip_nulls', 'jsonb_strip_nulls'], (args) =>
  isJson(args[0]) ? impl(([j]) => out(stripNulls(parse(j as Value, args[0] as ResultType)), args[0] as 'json')) : undefined,
);

function pretty(n: JsonNode, indent: string): string {
  const next = `${indent}    `;
  switch (n.t) {
    case 'arr':
      return n.items.length === 0 ? '[]' : `[\n${n.items.map((i) => next + pretty(i, next)).join(',\n')}\n${indent}]`;
    case 'obj':
      return n.pairs.length === 0
        ? '{}'
        : `{\n${n.pairs.map(([k, v]) => `${next}${escapeJsonString(k)}: ${pretty(v, next)}`).join(',\n')}\n${indent}}`;
    default:
      return formatJsonb(n);
  }
}
defFn('jsonb_pretty', () => impl(([j]) => pretty(normalizeJsonb(parse(j as Value, 'jsonb')), '')));

/** A SQL value as a JSON node (to_json / to_jsonb / json_build_*), PostgreSQL 15 §9.16.1. */
export function toJsonNode(v: Value, t: ResultType, ctx: EvalContext): JsonNode {
  if (v === null) return { t: 'null' };
  if (t !== 'unknown' && isArrayType(t)) {
    const et = elementType(t as SqlType);
    return { t: 'arr', items: (v as Value[]).map((e) => toJsonNode(e, et, ctx)) };
  }
  switch (t) {
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
      return /^-?\d/.test(String(v)) ? { t: 'num', text: String(v) } : { t: 'str', v: String(v) };
    case 'real':
    case 'double': {
      const s = formatValue(v, t) as string;
      return Number.isFinite(v as number) ? { t: 'num', text: s } : { t: 'str', v: s };
    }
    case 'boolean':
      return { t: 'bool', v: v as boolean };
    case 'json':
    case 'jsonb':
      return parseJson(v as string, t === 'jsonb');
    case 'timestamp':
    case 'timestamptz':
    case 'date': {
      const s = formatValue(v, t, { timeZone: ctx.timeZone }) as string;
      if (t === 'date') return { t: 'str', v: s };
      const iso = s.replace(' ', 'T');
      return { t: 'str', v: t === 'timestamptz' ? iso.replace(/([+-]\d\d)$/, '$1:00') : iso };
    }
    default:
      return { t: 'str', v: t === 'unknown' ? String(v) : (formatValue(v, t, { timeZone: ctx.timeZone }) ?? '') };
  }
}

/** json_build_object text: PostgreSQL writes `{"a" : 1, "b" : 2}`. */
function buildObjectText(pairs: [string, JsonNode][]): string {
  return `{${pairs.map(([k, v]) => `${escapeJsonString(k)} : ${jsonCompact(v)}`).join(', ')}}`;
}

function buildObject(json: boolean) {
  return (args: ResultType[]): Impl =>
    implNonStrict((vs, ctx) => {
      if (vs.length % 2 !== 0) {
        throw invalidParameter('argument list must have even number of elements');
      }
      const pairs: [string, JsonNode][] = [];
      for (let i = 0; i < vs.length; i += 2) {
        const k = vs[i] as Value;
        if (k === null) throw invalidParameter(`argument ${i + 1}: key must not be null`);
        const kt = args[i] as ResultType;
        const key =
          kt === 'text' || kt === 'varchar' || kt === 'unknown' ? (k as string) : (formatValue(k, kt, { timeZone: ctx.timeZone }) ?? '');
        pairs.push([key, toJsonNode(vs[i + 1] as Value, args[i + 1] as ResultType, ctx)]);
      }
      return json ? buildObjectText(pairs) : canonicalJsonb(jsonCompact({ t: 'obj', pairs }));
    });
}
defFn('json_build_object', buildObject(true));
defFn('jsonb_build_object', buildObject(false));
defFn('json_build_array', (args) =>
  implNonStrict((vs, ctx) => `[${vs.map((v, i) => jsonCompact(toJsonNode(v, args[i] as ResultType, ctx))).join(', ')}]`),
);
defFn('jsonb_build_array', (args) =>
  implNonStrict((vs, ctx) => canonicalJsonb(jsonCompact({ t: 'arr', items: vs.map((v, i) => toJsonNode(v, args[i] as ResultType, ctx)) }))),
);
defFn('to_json', (args) => impl(([v], ctx) => jsonCompact(toJsonNode(v as Value, args[0] as ResultType, ctx))));
defFn('to_jsonb', (args) => impl(([v], ctx) => canonicalJsonb(jsonCompact(toJsonNode(v as Value, args[0] as ResultType, ctx)))));

// ---------------------------------------------------------------------------------------------
// Array containment (§9.19, Table 9.51): @> <@ &&, NULL elements never match.

function arrayContains(args: ResultType[], reversed: boolean): Impl | undefined {
  const t = args[0] as string;
  if (!t.endsWith('[]') && t !== 'anyarray') return undefined;
  const et = t === 'anyarray' ? 'text' : elementType(t as SqlType);
  return impl(([a, b], ctx) => {
    const [big, small] = (reversed ? [b, a] : [a, b]) as [Value[], Value[]];
    return small.every((x) => x !== null && big.some((y) => y !== null && compareTyped(x, et, y, et, ctx) === 0));
  });
}
defOp('&&', (args) => {
  const t = args[0] as string;
  if (!t.endsWith('[]') && t !== 'anyarray') return undefined;
  const et = t === 'anyarray' ? 'text' : elementType(t as SqlType);
  return impl(([a, b], ctx) =>
    (a as Value[]).some((x) => x !== null && (b as Value[]).some((y) => y !== null && compareTyped(x, et, y, et, ctx) === 0)),
  );
});

/** `||` on jsonb, arrays and bytea. */
concatHooks.factory = (args: ResultType[], t: ResultType): Impl | undefined => {
  const [l, r] = args as [ResultType, ResultType];
  if (t === 'jsonb') return impl(([a, b]) => out(concatJsonb(parse(a as Value, 'jsonb'), parse(b as Value, 'jsonb')), 'jsonb'));
  if (t === 'bytea') return impl(([a, b]) => Buffer.concat([a as Uint8Array, b as Uint8Array]));
  const lArr = (l as string).endsWith('[]') || (l as string).startsWith('anycompatiblearray');
  const rArr = (r as string).endsWith('[]') || (r as string).startsWith('anycompatiblearray');
  if (lArr && rArr) return implNonStrict(([a, b]) => (a === null ? b : b === null ? a : [...(a as Value[]), ...(b as Value[])]) as Value);
  if (lArr) return implNonStrict(([a, b]) => [...((a as Value[] | null) ?? []), b as Value]);
  if (rArr) return implNonStrict(([a, b]) => [a as Value, ...((b as Value[] | null) ?? [])]);
  return undefined;
};

/** jsonb → boolean / numbers (jsonb_bool, jsonb_int4, …): the value must be a scalar of that JSON type (22023 otherwise). */
const previousSpecial = castHooks.special;
castHooks.special = (v, from, to, ctx) => {
  if (
    from === 'jsonb' &&
    (to === 'boolean' || to === 'numeric' || to === 'smallint' || to === 'integer' || to === 'bigint' || to === 'real' || to === 'double')
  ) {
    const n = parse(v, 'jsonb');
    const want = to === 'boolean' ? 'bool' : 'num';
    if (n.t !== want) {
      const got = { null: 'null', bool: 'boolean', num: 'numeric', str: 'string', arr: 'array', obj: 'object' }[n.t];
      throw invalidParameter(`cannot cast jsonb ${got} to type ${to === 'double' ? 'double precision' : to}`);
    }
    if (n.t === 'bool') return n.v;
    return castHooks.numeric?.((n as { text: string }).text, to, ctx);
  }
  return previousSpecial?.(v, from, to, ctx);
};
