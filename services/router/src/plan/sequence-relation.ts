/**
 * A sequence read as a relation (PostgreSQL 15 "CREATE SEQUENCE": `SELECT last_value, is_called
 * FROM seq`, which pg_dump sends for every sequence it dumps): the one row `(last_value bigint,
 * log_cnt bigint, is_called boolean)` from the sequence's catalog state, put in place of the name
 * as a constant subquery before the statement is planned.
 *
 * Stratum hands out values in claimed ranges (sequences.ts), so the catalog's position is the end
 * of the last claimed range: `last_value` is the last value claimed by any node, which may be
 * past the last value used (gaps are allowed, as after a crash in PostgreSQL). `is_called` is
 * false until the first claim or setval(…, true) moves the position off its start.
 */
import type { Node, SelectStmt } from '@pgsql/types';
import type { Catalog } from '@stratum/shared';
import { forEachNode, transformNodes } from '../analyze/walk.ts';

function constNode(v: bigint | boolean): Node {
  if (typeof v === 'boolean') return { A_Const: { boolval: { boolval: v } } };
  return {
    TypeCast: { arg: { A_Const: { sval: { sval: String(v) } } }, typeName: { names: [{ String: { sval: 'int8' } }], typemod: -1 } },
  };
}

/**
 * `s` with every FROM reference to a sequence (`seq`, `public.seq`; not a table or view of that
 * name) replaced by the sequence's one-row subquery, aliased as written; `s` itself when none.
 */
export function inlineSequences(s: SelectStmt, catalog: Catalog): SelectStmt {
  if (catalog.listSequences().length === 0) return s;
  const ctes = new Set<string>();
  forEachNode({ SelectStmt: s } as Node, (type, n) => {
    if (type === 'CommonTableExpr' && n.ctename) ctes.add(n.ctename);
  });
  let changed = false;
  const out = transformNodes({ SelectStmt: s } as Node, (type, n) => {
    if (type !== 'RangeVar') return undefined;
    const name = n.relname ?? '';
    if (n.schemaname ? n.schemaname !== 'public' : ctes.has(name)) return undefined;
    const seq = catalog.find(name) || catalog.view(name) ? undefined : catalog.sequence(name);
    if (!seq) return undefined;
    changed = true;
    const called = seq.next !== seq.start;
    const last = called ? seq.next - seq.increment : seq.start;
    const col = (nm: string, v: bigint | boolean): Node => ({ ResTarget: { name: nm, val: constNode(v) } });
    return {
      RangeSubselect: {
        subquery: {
          SelectStmt: {
            targetList: [col('last_value', last), col('log_cnt', 0n), col('is_called', called)],
            op: 'SETOP_NONE',
            limitOption: 'LIMIT_OPTION_DEFAULT',
          },
        },
        alias: n.alias ?? { aliasname: name },
      },
    } as Node;
  });
  return changed ? ((out as { SelectStmt: SelectStmt }).SelectStmt ?? s) : s;
}
