/**
 * jsonb and array functions and operators' paths (PostgreSQL 15 §9.16, §9.19), as DuckDB's json
 * and list functions, and set-returning ones as unnest outside FROM.
 */
import type { Node } from '@pgsql/types';
import { isArrayType } from '@stratum/shared';
import { argOf, callAs, castNode, castTyped, constInt, constText, fn, jsonArray } from './nodes.ts';
import { arrayOf, type FnCall, INT_TYPES, type Typed } from './types.ts';

/** A json or array function of `c` rewritten, or undefined when DuckDB's own is PostgreSQL's. */
export function jsonArrayFunction(c: FnCall): Typed | undefined {
  const { name, call, nodes, inFrom, a0, t } = c;
  switch (name) {
    case 'array_to_string':
      return { node: callAs(c, nodes.length === 3 ? 'pg_array_to_string3' : 'pg_array_to_string'), t };
    case 'generate_series':
      if (nodes.length >= 2 && a0 && INT_TYPES.has(a0) && t !== 'unknown' && !isArrayType(t)) {
        const list = castTyped({ node: { FuncCall: call }, t: arrayOf(t) }, arrayOf(t));
        return { node: fn('unnest', [list]), t };
      }
      return inFrom ? undefined : { node: fn('unnest', [{ FuncCall: call }]), t };
    case 'unnest':
      return undefined;
    case 'cardinality':
      return { node: castNode(fn('len', nodes), 'integer'), t };
    case 'array_length':
    case 'array_upper':
      return constInt(nodes[1]) === 1 ? { node: fn('pg_array_length', [argOf(c, 0)]), t } : undefined;
    case 'array_lower':
      return constInt(nodes[1]) === 1 ? { node: fn('pg_array_lower', [argOf(c, 0)]), t } : undefined;
    case 'array_ndims':
      return { node: fn('pg_array_lower', nodes), t };
    case 'array_positions':
    case 'array_remove':
    case 'array_replace':
      return { node: callAs(c, `pg_${name}`), t };
    case 'array_append':
      return { node: callAs(c, 'list_append'), t };
    case 'array_prepend':
      return { node: callAs(c, 'list_prepend'), t };
    case 'array_cat':
      return { node: callAs(c, 'pg_array_cat'), t };
    case 'string_to_array':
      return { node: callAs(c, nodes.length === 3 ? 'pg_string_to_array3' : 'pg_string_to_array'), t };
    case 'jsonb_typeof':
    case 'json_typeof':
      return { node: callAs(c, 'pg_jsonb_typeof'), t };
    case 'jsonb_array_length':
    case 'json_array_length':
      return { node: castNode(callAs(c, 'json_array_length'), 'integer'), t };
    case 'jsonb_build_object':
    case 'json_build_object':
      return {
        node: callAs(
          c,
          'json_object',
          nodes.map((x, i) => (i % 2 === 0 ? castNode(x, 'varchar') : x)),
        ),
        t,
      };
    case 'jsonb_build_array':
    case 'json_build_array':
      return { node: callAs(c, 'json_array'), t };
    case 'to_jsonb':
      return { node: callAs(c, 'to_json'), t };
    case 'jsonb_agg':
    case 'json_agg':
      // An aggregate (ORDER BY, FILTER and DISTINCT apply), as DuckDB's json_group_array macro is not.
      return { node: fn('to_json', [callAs(c, 'array_agg')]), t };
    case 'jsonb_object_agg':
    case 'json_object_agg':
      if (call.agg_order || call.agg_filter || call.agg_distinct || call.over) return undefined;
      return { node: callAs(c, 'json_group_object', [castNode(argOf(c, 0), 'varchar'), argOf(c, 1)]), t };
    case 'jsonb_each':
    case 'json_each':
      return inFrom ? { node: callAs(c, 'json_each'), t } : undefined;
    case 'jsonb_object_keys':
    case 'json_object_keys':
      return inFrom ? undefined : { node: fn('unnest', [fn('json_keys', nodes)]), t };
    case 'jsonb_array_elements':
    case 'json_array_elements':
      return inFrom ? undefined : { node: fn('unnest', [jsonArray(argOf(c, 0))]), t };
    default:
      return undefined;
  }
}

/** A JSONPath for DuckDB from a PostgreSQL text[] path constant ('{c,0,d}' → '$."c"[0]."d"'), or undefined. */
export function jsonPath(n: Node | undefined): string | undefined {
  const text = constText(n);
  if (text === undefined || !/^\{.*\}$/s.test(text)) return undefined;
  const inner = text.slice(1, -1).trim();
  const keys = inner === '' ? [] : inner.split(',').map((k) => k.trim().replace(/^"(.*)"$/, '$1'));
  return `$${keys.map((k) => (/^-?\d+$/.test(k) ? `[${k}]` : `."${k.replace(/"/g, '\\"')}"`)).join('')}`;
}
