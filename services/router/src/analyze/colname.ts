/**
 * Output column names as PostgreSQL 15 gives them to unnamed select-list items: a port of
 * `FigureColname` / `FigureColnameInternal` (src/backend/parser/parse_target.c), used by every
 * tier so a statement's RowDescription names its columns as PostgreSQL would, whichever tier
 * answers it.
 */
import type { Node, SelectStmt } from '@pgsql/types';
import { entryOf, nodeOf, strOf } from './ast.ts';

/**
 * A name and how sure it is (PostgreSQL's "strength"): 2 = a real name (a column, a function, a
 * keyword acting as one), 1 = a fallback (`case`, a cast's type name) that a stronger name inside
 * a CASE's ELSE or a cast's argument overrides, 0 = none.
 */
type Figured = [name: string | undefined, strength: 0 | 1 | 2];

const SVF_NAMES: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};

const XML_NAMES: Record<string, string> = {
  IS_XMLCONCAT: 'xmlconcat',
  IS_XMLELEMENT: 'xmlelement',
  IS_XMLFOREST: 'xmlforest',
  IS_XMLPARSE: 'xmlparse',
  IS_XMLPI: 'xmlpi',
  IS_XMLROOT: 'xmlroot',
  IS_XMLSERIALIZE: 'xmlserialize',
};

/** The last `String` of a list (ColumnRef fields, indirection), ignoring `*` and subscripts. */
function lastString(items: readonly Node[] | undefined): string | undefined {
  let out: string | undefined;
  for (const i of items ?? []) {
    const s = nodeOf(i, 'String');
    if (s) out = s.sval ?? '';
  }
  return out;
}

/** The leftmost leaf SELECT of a set operation (whose target list names the result). */
function leftmost(s: SelectStmt): SelectStmt {
  let cur = s;
  while (cur.op && cur.op !== 'SETOP_NONE' && cur.larg) cur = cur.larg;
  return cur;
}

function figure(n: Node | undefined): Figured {
  if (!n) return [undefined, 0];
  const [type, v] = entryOf(n);
  switch (type) {
    case 'ColumnRef': {
      const f = lastString(v.fields);
      return f === undefined ? [undefined, 0] : [f, 2];
    }
    case 'A_Indirection': {
      const f = lastString(v.indirection);
      return f === undefined ? figure(v.arg) : [f, 2];
    }
    case 'FuncCall': {
      const names = v.funcname ?? [];
      return [strOf(names[names.length - 1]), 2];
    }
    case 'A_Expr':
      return v.kind === 'AEXPR_NULLIF' ? ['nullif', 2] : [undefined, 0];
    case 'TypeCast': {
      const inner = figure(v.arg);
      if (inner[1] > 1) return inner;
      const names = v.typeName?.names ?? [];
      return names.length > 0 ? [strOf(names[names.length - 1]), 1] : inner;
    }
    case 'CollateClause':
      return figure(v.arg);
    case 'GroupingFunc':
      return ['grouping', 2];
    case 'SubLink': {
      if (v.subLinkType === 'EXISTS_SUBLINK') return ['exists', 2];
      if (v.subLinkType === 'ARRAY_SUBLINK') return ['array', 2];
      if (v.subLinkType !== 'EXPR_SUBLINK') return [undefined, 0];
      // PostgreSQL reads the transformed subquery's first target name, which unnamed items get
      // from this same rule (`?column?` included).
      const sel = nodeOf(v.subselect, 'SelectStmt');
      const rt = nodeOf(sel ? leftmost(sel).targetList?.[0] : undefined, 'ResTarget');
      if (!rt) return [undefined, 0];
      return [rt.name ?? figureColname(rt.val), 2];
    }
    case 'CaseExpr': {
      const inner = figure(v.defresult);
      return inner[1] > 1 ? inner : ['case', 1];
    }
    case 'A_ArrayExpr':
      return ['array', 2];
    case 'RowExpr':
      return ['row', 2];
    case 'CoalesceExpr':
      return ['coalesce', 2];
    case 'MinMaxExpr':
      return v.op === 'IS_GREATEST' ? ['greatest', 2] : v.op === 'IS_LEAST' ? ['least', 2] : [undefined, 0];
    case 'SQLValueFunction': {
      const name = SVF_NAMES[String(v.op)];
      return name ? [name, 2] : [undefined, 0];
    }
    case 'XmlExpr': {
      const name = XML_NAMES[String(v.op)];
      return name ? [name, 2] : [undefined, 0];
    }
    case 'XmlSerialize':
      return ['xmlserialize', 2];
    default:
      return [undefined, 0];
  }
}

/**
 * PostgreSQL's name of an unnamed select-list expression (`FigureColname`, parse_target.c):
 * the column, field or function name, a keyword acting as a function (`coalesce`, `exists`,
 * `current_date`, …), a CASE's ELSE name or `case`, a cast's argument name or its type name, else
 * `?column?`.
 */
export function figureColname(n: Node | undefined): string {
  const [name, strength] = figure(n);
  return strength > 0 && name !== undefined ? name : '?column?';
}
