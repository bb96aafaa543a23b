/**
 * String functions whose DuckDB meaning differs (PostgreSQL 15 §9.4, §9.7): char(n) without its
 * padding, byte lengths, substrings and regular expressions, quoting, the output text of
 * concat's arguments, bytea encodings.
 */
import type { Node } from '@pgsql/types';
import { outText, textOf } from './coerce.ts';
import { argOf, callAs, castNode, constText, fn, intConst, opExpr, textConst, typedArgOf } from './nodes.ts';
import { type FnCall, TEXT_TYPES, type Typed } from './types.ts';

/** A string function of `c` rewritten, or undefined when DuckDB's own is PostgreSQL's. */
export function stringFunction(c: FnCall): Typed | undefined {
  const { name, call, nodes, sig, inFrom, a0, t } = c;
  switch (name) {
    case 'length':
    case 'char_length':
    case 'character_length':
      // bpcharlen: trailing spaces of char(n) do not count; length(bytea) is its byte count.
      if (a0 === 'bytea') return { node: castNode(callAs(c, 'octet_length'), 'integer'), t };
      return a0 === 'char' ? { node: castNode(fn('length', [fn('rtrim', [argOf(c, 0)])]), 'integer'), t } : undefined;
    case 'to_hex':
      return { node: fn('lower', [{ FuncCall: call }]), t };
    case 'octet_length':
      return a0 && TEXT_TYPES.has(a0) ? { node: castNode(callAs(c, 'strlen'), 'integer'), t } : undefined;
    case 'bit_length':
      return a0 && TEXT_TYPES.has(a0)
        ? {
            node: castNode(opExpr('*', callAs(c, 'strlen'), intConst(8)), 'integer'),
            t,
          }
        : undefined;
    case 'substr':
    case 'substring':
      if (a0 && TEXT_TYPES.has(a0) && sig.args[1] === 'integer')
        return { node: callAs(c, nodes.length === 3 ? 'pg_substr' : 'pg_substr2'), t };
      if (a0 && TEXT_TYPES.has(a0) && nodes.length === 2 && sig.args[1] === 'text') {
        // substring(text FROM pattern): the first parenthesized group's match, or the whole match.
        const groups = regexGroups(nodes[1]);
        if (groups === undefined) return undefined;
        return { node: fn('pg_substring_re', [argOf(c, 0), argOf(c, 1), intConst(groups > 0 ? 1 : 0)]), t };
      }
      return undefined;
    case 'split_part':
      return { node: callAs(c, 'pg_split_part'), t };
    case 'lpad':
    case 'rpad':
      return { node: callAs(c, `pg_${name}`, nodes.length === 2 ? [...nodes, textConst(' ')] : nodes), t };
    case 'initcap':
      return { node: callAs(c, 'pg_initcap'), t };
    case 'upper':
      return { node: callAs(c, 'pg_upper'), t };
    case 'btrim':
      return { node: callAs(c, 'trim'), t };
    case 'overlay':
      return { node: callAs(c, 'pg_overlay', nodes.length === 3 ? [...nodes, fn('length', [argOf(c, 1)])] : nodes), t };
    case 'quote_literal':
    case 'quote_nullable':
      return { node: callAs(c, `pg_${name}`, [textOf(typedArgOf(c, 0), argOf(c, 0))]), t };
    case 'quote_ident':
      return { node: callAs(c, 'pg_quote_ident'), t };
    case 'concat':
    case 'concat_ws':
      // The output function of each argument (boolean 't', float8out, interval_out).
      return {
        node: callAs(
          c,
          name,
          nodes.map((x, i) => (name === 'concat_ws' && i === 0 ? x : outText(typedArgOf(c, i), x))),
        ),
        t,
      };
    case 'encode': {
      const how = constText(nodes[1]);
      if (how === 'hex') return { node: fn('lower', [fn('hex', [argOf(c, 0)])]), t };
      if (how === 'base64') return { node: fn('to_base64', [argOf(c, 0)]), t };
      return undefined;
    }
    case 'decode': {
      const how = constText(nodes[1]);
      if (how === 'hex') return { node: fn('unhex', [argOf(c, 0)]), t };
      if (how === 'base64') return { node: fn('from_base64', [argOf(c, 0)]), t };
      return undefined;
    }
    case 'regexp_matches': {
      // A set-returning function in PostgreSQL (text[] rows); DuckDB's regexp_matches is a boolean.
      const groups = regexGroups(nodes[1]);
      const flags = nodes.length === 3 ? constText(nodes[2]) : '';
      if (groups === undefined || groups > 9 || flags === undefined || !/^[gi]*$/.test(flags)) return undefined;
      const pattern = flags.includes('i') ? opExpr('||', textConst('(?i)'), argOf(c, 1)) : argOf(c, 1);
      const list = fn(`${flags.includes('g') ? 'pg__rxall' : 'pg__rxfirst'}${groups}`, [argOf(c, 0), pattern]);
      return { node: inFrom ? list : fn('unnest', [list]), t };
    }
    case 'chr':
      return { node: callAs(c, 'pg_chr'), t };
    default:
      return undefined;
  }
}

/** Parenthesized capture groups of a constant regular expression, or undefined when not constant. */
function regexGroups(n: Node | undefined): number | undefined {
  const re = constText(n);
  if (re === undefined) return undefined;
  let count = 0;
  let inClass = false;
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(' && re[i + 1] !== '?') count++;
  }
  return count;
}
