/**
 * The text PostgreSQL 15 prints for a stored expression: a column default (`pg_get_expr(adbin)`)
 * or a CHECK constraint (`pg_get_constraintdef`). PostgreSQL stores the *analyzed* expression and
 * prints it back with ruleutils.c (`get_rule_expr`), so `status IN ('new', 'paid')` comes back as
 * `(status = ANY (ARRAY['new'::text, 'paid'::text]))`. Stratum stores the user's expression as SQL
 * text; this module analyzes that text the way PostgreSQL's parse analysis does (parse_expr.c,
 * parse_coerce.c, parse_oper.c over PostgreSQL's own pg_operator/pg_proc in shared/src/expr) into
 * a small tree of PostgreSQL's analyzed node kinds (Const, Var, OpExpr, FuncExpr, the coercion
 * nodes, ScalarArrayOpExpr, BoolExpr, CaseExpr, …), then prints that tree as ruleutils.c does:
 * casts PostgreSQL inserted are shown inside operators and calls and hidden at the top, constants
 * carry their `::type` labels, and parentheses follow PRETTYFLAG_PAREN (pretty) or wrap every
 * operator (not pretty). See docs/architecture.md (the catalog answers pg_catalog queries).
 *
 * What it cannot analyze (subqueries, COLLATE, row values, SQL-syntax functions such as EXTRACT,
 * types Stratum does not have) makes {@link pgExprText} return the stored text unchanged.
 */

import { keywordKindOf } from '@pgsql/quotes';
import type { A_ArrayExpr, A_Const, A_Expr, FuncCall, Node, TypeCast } from '@pgsql/types';
import {
  canCast,
  coerceLiteral,
  commonType,
  elementType,
  type FormatOptions,
  formatValue,
  isArrayType,
  pgTypeName,
  type ResultType,
  resolveFunctionDetail,
  resolveOperatorDetail,
  resolveTypeName,
  type ScalarType,
  type SqlType,
} from '@stratum/shared';
import { entryOf, listItems, nodeOf, strOf } from '../analyze/ast.ts';
import { figureColname } from '../analyze/colname.ts';
import { parseFirst } from '../sql/parse.ts';

/** A column's type as the expression sees it (`typmod`: PostgreSQL's atttypmod, absent = none). */
export interface ExprColumnType {
  type: SqlType;
  typmod?: number;
}

/** How {@link pgExprText} prints: `pretty` is the third argument of pg_get_expr / second of pg_get_constraintdef. */
export interface PgExprTextOptions {
  pretty: boolean;
  /** A column default (coerced to the column's type) or a CHECK constraint (coerced to boolean). */
  context: 'default' | 'check';
  /** Output settings of constants (timestamptz in TimeZone, intervals in IntervalStyle); default UTC, ISO, postgres. */
  format?: FormatOptions;
  /**
   * Relation names (regclass constants) printed schema-qualified, `public.s`, as regclassout
   * prints a relation its session's search_path does not show (pg_dump empties search_path).
   */
  qualify?: boolean;
}

/**
 * PostgreSQL 15's text of an analyzed expression (ruleutils.c `get_rule_expr`, pretty or not):
 * what `pg_get_expr(adbin, adrelid[, pretty])` prints for a column default, and what
 * `pg_get_constraintdef(oid[, pretty])` prints inside `CHECK (…)` for a CHECK constraint.
 *
 * `sql` is the stored text of the expression (as `pgsql-deparser` printed it); `columns` types the
 * column references (by name, as stored); `targetType` is the column's type for a default (the
 * default is coerced to it as PostgreSQL's cookDefault does; without it the expression is printed
 * as typed). The libpg-query module must be loaded (`initParser()`).
 *
 * Never throws: an expression it cannot analyze or print faithfully comes back as `sql` unchanged.
 * Source: PostgreSQL 15 ruleutils.c (get_rule_expr, get_const_expr, get_coercion_expr,
 * isSimpleNode) and parse analysis (transformAExprIn, transformAExprBetween, transformCaseExpr,
 * coerce_to_target_type).
 */
export function pgExprText(
  sql: string,
  columns: ReadonlyMap<string, ExprColumnType>,
  opts: PgExprTextOptions,
  targetType?: ExprColumnType,
): string {
  try {
    const stmt = nodeOf(parseFirst(`SELECT ${sql}`), 'SelectStmt');
    const items = stmt?.targetList ?? [];
    const raw = nodeOf(items[0], 'ResTarget')?.val;
    if (!raw || items.length !== 1 || stmt?.fromClause) return sql;
    const a = new Analyzer(columns, opts.format ?? {}, opts.qualify === true);
    let e = a.expr(raw);
    if (opts.context === 'check') e = a.toBoolean(e);
    else if (targetType) e = a.coerce(e, targetType.type, typmodOf(targetType.typmod), 'assignment', true);
    const p = new Printer(opts.pretty);
    p.expr(e, false);
    return p.buf;
  } catch {
    return sql;
  }
}

/**
 * PostgreSQL 15's text of a view's query as `pg_get_viewdef(oid)` prints it (ruleutils.c
 * get_query_def with PRETTYFLAG_INDENT, wrapColumn 0): ` SELECT a,\n    b\n   FROM (t x\n     JOIN u
 * y ON ((…)))\n  WHERE (…);`, every output column on its own line, operators in parentheses and
 * constants with their `::type` labels.
 *
 * `sql` is the view's stored query; `tableColumns` gives a table's columns by name (undefined for
 * anything else). Only a plain SELECT of expressions over tables and inner/outer joins with ON
 * and an optional WHERE is printed; anything else (DISTINCT, GROUP BY, ORDER BY, LIMIT,
 * subqueries, set operations, `*`, views over views) comes back as `sql` followed by `;`.
 * Never throws. Source: PostgreSQL 15 ruleutils.c (get_basic_select_query, get_target_list,
 * get_from_clause_item, get_rule_expr).
 */
export function pgViewDefText(sql: string, tableColumns: (name: string) => ReadonlyMap<string, ExprColumnType> | undefined): string {
  const plain = `${sql.replace(/;\s*$/, '')};`;
  try {
    const s = nodeOf(parseFirst(sql), 'SelectStmt');
    if (!s || s.distinctClause || s.groupClause || s.havingClause || s.sortClause || s.limitCount || s.limitOffset) return plain;
    if (s.withClause || s.windowClause || s.valuesLists || (s.op && s.op !== 'SETOP_NONE') || s.intoClause || s.lockingClause) return plain;
    const from = s.fromClause ?? [];
    if (from.length !== 1) return plain;
    const columns = new Map<string, ExprColumnType>();
    const fromText = viewFromItem(from[0] as Node, tableColumns, columns);
    const a = new Analyzer(columns, {});
    const print = (n: Node, bool: boolean): string => {
      const p = new Printer(false);
      p.expr(bool ? a.toBoolean(a.expr(n)) : a.expr(n), false);
      return p.buf;
    };
    const targets = (s.targetList ?? []).map((t) => {
      const rt = nodeOf(t, 'ResTarget');
      if (!rt?.val) return unsupported('target');
      const text = print(rt.val, false);
      // get_target_list: ` AS name` unless the column is a plain column reference of that name.
      const f = nodeOf(rt.val, 'ColumnRef')?.fields ?? [];
      const own = f.length > 0 ? strOf(f[f.length - 1]) : undefined;
      const name = rt.name ?? figureColname(rt.val);
      return own !== undefined && name === own ? text : `${text} AS ${quoteIdentifier(name)}`;
    });
    if (targets.length === 0) return plain;
    let out = ` SELECT ${targets.join(',\n    ')}\n   FROM ${fromText.text}`;
    if (s.whereClause) out += `\n  WHERE ${print(s.whereClause, true)}`;
    return `${out};`;
  } catch {
    return plain;
  }
}

/** A view's FROM item as get_from_clause_item prints it (joins in parentheses, each JOIN on a new line); adds its columns to `columns`. */
function viewFromItem(
  n: Node,
  tableColumns: (name: string) => ReadonlyMap<string, ExprColumnType> | undefined,
  columns: Map<string, ExprColumnType>,
): { text: string } {
  const rv = nodeOf(n, 'RangeVar');
  if (rv) {
    if (rv.alias?.colnames || (rv.schemaname && rv.schemaname !== 'public')) return unsupported('relation');
    const cols = tableColumns(rv.relname ?? '');
    if (!cols) return unsupported('relation');
    const alias = rv.alias?.aliasname ?? rv.relname ?? '';
    for (const [name, t] of cols) columns.set(`${alias}.${name}`, t);
    const name = quoteIdentifier(rv.relname ?? '');
    return { text: rv.alias ? `${name} ${quoteIdentifier(alias)}` : name };
  }
  const j = nodeOf(n, 'JoinExpr');
  if (!j || j.isNatural || j.usingClause || j.alias || !j.larg || !j.rarg || !j.quals) return unsupported('FROM item');
  const kind = JOIN_WORDS[String(j.jointype)];
  if (!kind) return unsupported('join');
  const l = viewFromItem(j.larg, tableColumns, columns);
  const r = viewFromItem(j.rarg, tableColumns, columns);
  const a = new Analyzer(columns, {});
  const p = new Printer(false);
  p.expr(a.toBoolean(a.expr(j.quals)), false);
  return { text: `(${l.text}\n     ${kind} ${r.text} ON (${p.buf}))` };
}

/** Join keywords as get_from_clause_item prints them. */
const JOIN_WORDS: Record<string, string> = { JOIN_INNER: 'JOIN', JOIN_LEFT: 'LEFT JOIN', JOIN_RIGHT: 'RIGHT JOIN', JOIN_FULL: 'FULL JOIN' };

// ---------------------------------------------------------------------------------------------
// The analyzed tree: PostgreSQL's primnodes.h, only what defaults and CHECKs hold.

/** A type of the analyzed tree: Stratum's types, and the two catalog types defaults name (`name`: CURRENT_USER; `regclass`: nextval). */
type PgType = ResultType | 'name' | 'regclass';

/** How a coercion node is built (parse_coerce.c): a cast function, a binary relabel, I/O conversion, or element by element. */
type CastKind = 'func' | 'relabel' | 'io' | 'array';

type PNode = (
  | { k: 'const'; text: string | null }
  | { k: 'var'; name: string; rel?: string }
  | { k: 'op'; op: string; args: PNode[] }
  | { k: 'distinct'; args: [PNode, PNode] }
  | { k: 'nullif'; args: [PNode, PNode] }
  | { k: 'saop'; op: string; useOr: boolean; args: [PNode, PNode] }
  | { k: 'func'; name: string; args: PNode[] }
  | { k: 'cast'; kind: CastKind; arg: PNode; implicit: boolean; length: boolean }
  | { k: 'bool'; op: 'AND' | 'OR' | 'NOT'; args: PNode[] }
  | { k: 'nulltest'; arg: PNode; not: boolean }
  | { k: 'booltest'; arg: PNode; test: string }
  | { k: 'case'; arg: PNode | undefined; whens: { expr: PNode; result: PNode }[]; def: PNode }
  | { k: 'coalesce'; name: 'COALESCE' | 'GREATEST' | 'LEAST'; args: PNode[] }
  | { k: 'array'; elements: PNode[] }
  | { k: 'svf'; text: string }
) & { t: PgType; typmod: number };

/** Raised for what the analyzer does not model; {@link pgExprText} then returns the stored text. */
class Unsupported extends Error {}

function unsupported(what: string): never {
  throw new Unsupported(what);
}

function typmodOf(t: number | undefined): number {
  return t === undefined || t < 0 ? -1 : t;
}

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const STRING_TYPES = new Set<PgType>(['text', 'varchar', 'char', 'name']);
/** pg_cast entries with castmethod 'b' (binary coercible: a RelabelType), over Stratum's types. */
const BINARY_CASTS = new Set(['varchar>text', 'text>varchar', 'text>char', 'varchar>char']);
/** Types with a length-coercion function (their typmod is applied by a FuncExpr). */
const LENGTH_TYPES = new Set<PgType>(['varchar', 'char', 'numeric', 'timestamp', 'timestamptz', 'time', 'interval']);

/** The SQLValueFunctions: their text and type (CURRENT_USER & co. are of type name). */
const SVF: Record<string, [string, PgType]> = {
  SVFOP_CURRENT_DATE: ['CURRENT_DATE', 'date'],
  SVFOP_CURRENT_TIMESTAMP: ['CURRENT_TIMESTAMP', 'timestamptz'],
  SVFOP_CURRENT_TIMESTAMP_N: ['CURRENT_TIMESTAMP', 'timestamptz'],
  SVFOP_LOCALTIMESTAMP: ['LOCALTIMESTAMP', 'timestamp'],
  SVFOP_LOCALTIMESTAMP_N: ['LOCALTIMESTAMP', 'timestamp'],
  SVFOP_LOCALTIME: ['LOCALTIME', 'time'],
  SVFOP_LOCALTIME_N: ['LOCALTIME', 'time'],
  SVFOP_CURRENT_ROLE: ['CURRENT_ROLE', 'name'],
  SVFOP_CURRENT_USER: ['CURRENT_USER', 'name'],
  SVFOP_USER: ['USER', 'name'],
  SVFOP_SESSION_USER: ['SESSION_USER', 'name'],
  SVFOP_CURRENT_CATALOG: ['CURRENT_CATALOG', 'name'],
  SVFOP_CURRENT_SCHEMA: ['CURRENT_SCHEMA', 'name'],
};

/** A concrete Stratum type (what the resolvers and casts know), or Unsupported. */
function known(t: PgType): ResultType {
  if (t === 'name' || t === 'regclass') unsupported(`type ${t}`);
  return t;
}

/** Whether the tree holds a column reference (transformAExprIn keeps those out of the array). */
function hasVar(n: PNode): boolean {
  return n.k === 'var' || children(n).some(hasVar);
}

/** The operands of a node. */
function children(n: PNode): PNode[] {
  switch (n.k) {
    case 'const':
    case 'var':
    case 'svf':
      return [];
    case 'cast':
    case 'nulltest':
    case 'booltest':
      return [n.arg];
    case 'case':
      return [...(n.arg ? [n.arg] : []), ...n.whens.flatMap((w) => [w.expr, w.result]), n.def];
    case 'array':
      return n.elements;
    default:
      return n.args;
  }
}

/** Parse analysis of a raw expression (parse_expr.c), over the table's columns. */
class Analyzer {
  constructor(
    private readonly columns: ReadonlyMap<string, ExprColumnType>,
    private readonly format: FormatOptions,
    private readonly qualify = false,
  ) {}

  expr(n: Node): PNode {
    const [type, v] = entryOf(n);
    switch (type) {
      case 'A_Const':
        return this.constant(v as A_Const);
      case 'ColumnRef': {
        const f = v.fields ?? [];
        if (f.length === 2) {
          // `rel.column` (a view's query): the columns map holds its type under that key.
          const [rel, col] = [strOf(f[0]), strOf(f[1])];
          const c = rel === undefined || col === undefined ? undefined : this.columns.get(`${rel}.${col}`);
          if (!c || rel === undefined || col === undefined) return unsupported('column');
          return { k: 'var', name: col, rel, t: c.type, typmod: typmodOf(c.typmod) };
        }
        const name = f.length === 1 ? strOf(f[0]) : undefined;
        const c = name === undefined ? undefined : this.columns.get(name);
        if (!c && name !== undefined) {
          // A view's unqualified column: qualified by the one relation that has it, as ruleutils prints it.
          const hits = [...this.columns.keys()].filter((k) => k.endsWith(`.${name}`) && k.indexOf('.') === k.length - name.length - 1);
          const t = hits.length === 1 ? this.columns.get(hits[0] as string) : undefined;
          if (t) return { k: 'var', name, rel: (hits[0] as string).slice(0, -name.length - 1), t: t.type, typmod: typmodOf(t.typmod) };
        }
        if (!c || name === undefined) return unsupported('column');
        return { k: 'var', name, t: c.type, typmod: typmodOf(c.typmod) };
      }
      case 'TypeCast':
        return this.typeCast(v as TypeCast);
      case 'A_Expr':
        return this.aExpr(v as A_Expr);
      case 'FuncCall':
        return this.call(v as FuncCall);
      case 'BoolExpr': {
        const op = v.boolop === 'AND_EXPR' ? 'AND' : v.boolop === 'OR_EXPR' ? 'OR' : 'NOT';
        return { k: 'bool', op, args: (v.args ?? []).map((a: Node) => this.toBoolean(this.expr(a))), t: 'boolean', typmod: -1 };
      }
      case 'NullTest':
        if (!v.arg) return unsupported('IS NULL');
        return { k: 'nulltest', arg: this.expr(v.arg), not: v.nulltesttype === 'IS_NOT_NULL', t: 'boolean', typmod: -1 };
      case 'BooleanTest': {
        const test = BOOL_TESTS[String(v.booltesttype)];
        if (!v.arg || !test) return unsupported('IS TRUE');
        return { k: 'booltest', arg: this.toBoolean(this.expr(v.arg)), test, t: 'boolean', typmod: -1 };
      }
      case 'SQLValueFunction': {
        const s = SVF[String(v.op)];
        if (!s) return unsupported('SQL value function');
        const typmod = typeof v.typmod === 'number' && v.typmod >= 0 ? v.typmod : -1;
        return { k: 'svf', text: typmod >= 0 ? `${s[0]}(${typmod})` : s[0], t: s[1], typmod };
      }
      case 'CaseExpr':
        return this.caseExpr(v);
      case 'CoalesceExpr':
        return this.coalesce('COALESCE', v.args ?? []);
      case 'MinMaxExpr':
        return this.coalesce(v.op === 'IS_GREATEST' ? 'GREATEST' : 'LEAST', v.args ?? []);
      case 'A_ArrayExpr':
        return this.array(v as A_ArrayExpr);
      default:
        return unsupported(type);
    }
  }

  /** make_const: an integer that fits int4 is int4, one that fits int8 int8, other numbers numeric, strings unknown. */
  private constant(v: A_Const): PNode {
    if (v.isnull) return { k: 'const', text: null, t: 'unknown', typmod: -1 };
    if (v.sval !== undefined) return { k: 'const', text: String(v.sval.sval ?? ''), t: 'unknown', typmod: -1 };
    if (v.boolval !== undefined) return { k: 'const', text: v.boolval.boolval ? 't' : 'f', t: 'boolean', typmod: -1 };
    if (v.ival !== undefined) {
      const i = Number(v.ival.ival ?? 0);
      if (i < INT4_MIN || i > INT4_MAX) return unsupported('integer');
      return { k: 'const', text: String(i), t: 'integer', typmod: -1 };
    }
    if (v.fval !== undefined) {
      const text = String(v.fval.fval ?? '');
      if (/^-?\d+$/.test(text)) {
        const b = BigInt(text);
        // An oversize integer literal (or -2147483648) is int4 if it fits, else int8.
        if (b >= INT4_MIN && b <= INT4_MAX) return { k: 'const', text: b.toString(), t: 'integer', typmod: -1 };
        if (b >= INT8_MIN && b <= INT8_MAX) return { k: 'const', text: b.toString(), t: 'bigint', typmod: -1 };
      }
      return { k: 'const', text: this.output(text, 'numeric'), t: 'numeric', typmod: -1 };
    }
    return unsupported('constant');
  }

  /** The output text of `text` read by type `t`'s input function (the value a Const holds, printed back). */
  private output(text: string, t: ResultType): string {
    if (t === 'unknown') return text;
    const out = formatValue(coerceLiteral(text, t as SqlType), t, this.format);
    if (out === null) return unsupported('constant');
    return out;
  }

  /** A TypeCast: `'x'::type` is a Const of the type, `ARRAY[…]::t[]` coerces the elements, else a coercion node. */
  private typeCast(v: TypeCast): PNode {
    const tn = v.typeName;
    if (!v.arg || !tn) return unsupported('cast');
    const names = (tn.names ?? []).map((x) => strOf(x) ?? '');
    const last = names[names.length - 1] ?? '';
    if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return unsupported('type');
    const arrayDims = tn.arrayBounds?.length ?? 0;
    if (last === 'regclass' && arrayDims === 0) return this.regclass(v.arg);
    const base = resolveTypeName(last);
    if (!base || arrayDims > 1 || tn.pct_type || tn.setof) return unsupported('type');
    const t: SqlType = arrayDims === 1 && !isArrayType(base) ? (`${base}[]` as SqlType) : base;
    const typmod = this.typmodOf(elementType(t), tn.typmods ?? []);
    if (nodeOf(v.arg, 'A_ArrayExpr') && isArrayType(t)) {
      if (typmod >= 0) return unsupported('array typmod');
      return this.array(nodeOf(v.arg, 'A_ArrayExpr') as A_ArrayExpr, elementType(t));
    }
    return this.coerce(this.expr(v.arg), t, typmod, 'explicit', false);
  }

  /** typenameTypeMod for the types Stratum has: varchar(n)/char(n) n + 4, numeric(p, s) ((p << 16) | s) + 4, timestamp(p) p. */
  private typmodOf(t: ScalarType, mods: Node[]): number {
    if (mods.length === 0) return -1;
    const m = mods.map((x) => {
      const c = nodeOf(x, 'A_Const');
      if (c?.ival === undefined) return unsupported('typmod');
      return Number(c.ival.ival ?? 0);
    });
    const [a = 0, b = 0] = m;
    if ((t === 'varchar' || t === 'char') && m.length === 1) return a + 4;
    if (t === 'numeric' && m.length <= 2) return ((a << 16) | b) + 4;
    if ((t === 'timestamp' || t === 'timestamptz' || t === 'time') && m.length === 1) return a;
    return unsupported('typmod');
  }

  /** `'name'::regclass`: regclassin reads the name as an identifier (folded unless quoted); regclassout prints it. */
  private regclass(arg: Node): PNode {
    const c = nodeOf(arg, 'A_Const');
    const s = c?.sval?.sval;
    if (typeof s !== 'string') return unsupported('regclass');
    const parts = s.split('.');
    const simple = /^[A-Za-z_][A-Za-z0-9_$]*$/;
    if (parts.length > 2 || !parts.every((p) => simple.test(p))) return unsupported('regclass');
    if (parts.length === 2 && parts[0]?.toLowerCase() !== 'public') return unsupported('regclass schema');
    const name = (parts[parts.length - 1] ?? '').toLowerCase();
    return { k: 'const', text: `${this.qualify ? 'public.' : ''}${quoteIdentifier(name)}`, t: 'regclass', typmod: -1 };
  }

  /** A_Expr: operators, IN lists, BETWEEN, LIKE, SIMILAR TO, IS DISTINCT FROM, NULLIF, op ANY/ALL. */
  private aExpr(v: A_Expr): PNode {
    const kind = String(v.kind);
    const op = operatorName(v.name);
    switch (kind) {
      case 'AEXPR_OP':
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE':
      case 'AEXPR_SIMILAR':
        return this.op(op, v.lexpr ? this.expr(v.lexpr) : undefined, this.expr(need(v.rexpr)));
      case 'AEXPR_IN':
        return this.inList(op, v);
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN':
      case 'AEXPR_BETWEEN_SYM':
      case 'AEXPR_NOT_BETWEEN_SYM':
        return this.between(kind, v);
      case 'AEXPR_DISTINCT':
      case 'AEXPR_NOT_DISTINCT': {
        const eq = this.op('=', this.expr(need(v.lexpr)), this.expr(need(v.rexpr)));
        if (eq.k !== 'op' || eq.t !== 'boolean') return unsupported('IS DISTINCT FROM');
        const d: PNode = { k: 'distinct', args: [need(eq.args[0]), need(eq.args[1])], t: 'boolean', typmod: -1 };
        return kind === 'AEXPR_DISTINCT' ? d : { k: 'bool', op: 'NOT', args: [d], t: 'boolean', typmod: -1 };
      }
      case 'AEXPR_NULLIF': {
        const eq = this.op('=', this.expr(need(v.lexpr)), this.expr(need(v.rexpr)));
        if (eq.k !== 'op') return unsupported('NULLIF');
        const [a, b] = [need(eq.args[0]), need(eq.args[1])];
        return { k: 'nullif', args: [a, b], t: a.t, typmod: -1 };
      }
      case 'AEXPR_OP_ANY':
      case 'AEXPR_OP_ALL':
        return this.scalarArrayOp(op, kind === 'AEXPR_OP_ANY', this.expr(need(v.lexpr)), this.expr(need(v.rexpr)));
      default:
        return unsupported(kind);
    }
  }

  /** make_op: the operator PostgreSQL resolves for the operands' types, the operands coerced to its argument types. */
  op(op: string, l: PNode | undefined, r: PNode): PNode {
    const args = l ? [l, r] : [r];
    const sig = resolveOperatorDetail(
      op,
      args.map((a) => known(a.t)),
      false,
    );
    if (typeof sig === 'string') return unsupported(`operator ${op}`);
    const coerced = args.map((a, i) => this.coerce(a, need(sig.args[i]), -1, 'implicit', true));
    return { k: 'op', op, args: coerced, t: sig.t, typmod: -1 };
  }

  /** make_scalar_array_op: `x op ANY|ALL (array)`, the array coerced to an array of the operator's right type. */
  private scalarArrayOp(op: string, useOr: boolean, l: PNode, arr: PNode): PNode {
    const at = known(arr.t);
    if (at !== 'unknown' && !isArrayType(at)) return unsupported('ANY of a non-array');
    const elem: ResultType = at === 'unknown' ? 'unknown' : elementType(at as SqlType);
    const sig = resolveOperatorDetail(op, [known(l.t), elem], false);
    if (typeof sig === 'string' || sig.t !== 'boolean') return unsupported(`operator ${op}`);
    const [a0, a1] = [need(sig.args[0]), need(sig.args[1])];
    if (isArrayType(a1)) return unsupported('array operator');
    const left = this.coerce(l, a0, -1, 'implicit', true);
    const right = this.coerce(arr, `${a1}[]` as ResultType, -1, 'implicit', true);
    return { k: 'saop', op, useOr, args: [left, right], t: 'boolean', typmod: -1 };
  }

  /** transformAExprIn: the non-Var items as `= ANY (ARRAY[…])` when there are two or more, the rest as `=` ORed (`<>` ANDed for NOT IN). */
  private inList(op: string, v: A_Expr): PNode {
    const useOr = op === '=';
    if (!useOr && op !== '<>') return unsupported('IN');
    const l = this.expr(need(v.lexpr));
    const items = (listItems(v.rexpr) ?? unsupported('IN list')).map((x) => this.expr(x));
    const vars = items.filter(hasVar);
    const nonVars = items.filter((x) => !hasVar(x));
    let result: PNode | undefined;
    let rest = items;
    if (nonVars.length > 1) {
      const scalar = this.commonType([l, ...nonVars], 'IN');
      if (!isArrayType(scalar)) {
        const elements = nonVars.map((x) => this.coerce(x, scalar, -1, 'implicit', true));
        const arr: PNode = { k: 'array', elements, t: `${scalar}[]` as ResultType, typmod: -1 };
        result = this.scalarArrayOp(op, useOr, l, arr);
        rest = vars;
      }
    }
    for (const r of rest) {
      const cmp = this.toBoolean(this.op(op, l, r));
      result = result ? { k: 'bool', op: useOr ? 'OR' : 'AND', args: [result, cmp], t: 'boolean', typmod: -1 } : cmp;
    }
    return result ?? unsupported('IN');
  }

  /** transformAExprBetween: `a >= b AND a <= c` and its NOT / SYMMETRIC forms. */
  private between(kind: string, v: A_Expr): PNode {
    const [b, c] = listItems(v.rexpr) ?? [];
    if (!b || !c || !v.lexpr) return unsupported('BETWEEN');
    const a = v.lexpr;
    const cmp = (o: string, x: Node, y: Node): PNode => this.toBoolean(this.op(o, this.expr(x), this.expr(y)));
    const bool = (op: 'AND' | 'OR', args: PNode[]): PNode => ({ k: 'bool', op, args, t: 'boolean', typmod: -1 });
    switch (kind) {
      case 'AEXPR_BETWEEN':
        return bool('AND', [cmp('>=', a, b), cmp('<=', a, c)]);
      case 'AEXPR_NOT_BETWEEN':
        return bool('OR', [cmp('<', a, b), cmp('>', a, c)]);
      case 'AEXPR_BETWEEN_SYM':
        return bool('OR', [bool('AND', [cmp('>=', a, b), cmp('<=', a, c)]), bool('AND', [cmp('>=', a, c), cmp('<=', a, b)])]);
      default:
        return bool('AND', [bool('OR', [cmp('<', a, b), cmp('>', a, c)]), bool('OR', [cmp('<', a, c), cmp('>', a, b)])]);
    }
  }

  /** A function call (ParseFuncOrColumn): resolved over pg_proc, its arguments coerced to the signature. */
  private call(v: FuncCall): PNode {
    const names = (v.funcname ?? []).map((x) => strOf(x) ?? '');
    if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return unsupported('schema');
    const name = names[names.length - 1] ?? '';
    if (v.funcformat === 'COERCE_SQL_SYNTAX' || v.agg_star || v.agg_distinct || v.agg_order || v.agg_filter || v.over || v.func_variadic)
      return unsupported('call form');
    const raw = v.args ?? [];
    if (raw.some((a) => nodeOf(a, 'NamedArgExpr'))) return unsupported('named argument');
    if ((name === 'nextval' || name === 'currval') && raw.length === 1) {
      const arg = this.expr(need(raw[0]));
      const seq = arg.k === 'const' && arg.t === 'unknown' && arg.text !== null ? this.regclass(need(raw[0])) : arg;
      if (seq.t !== 'regclass') return unsupported(name);
      return { k: 'func', name, args: [seq], t: 'bigint', typmod: -1 };
    }
    const args = raw.map((a) => this.expr(a));
    const sig = resolveFunctionDetail(
      name,
      args.map((a) => known(a.t)),
      false,
      false,
    );
    if (typeof sig === 'string' || sig.kind === 'aggregate' || sig.kind === 'window' || sig.setReturning) return unsupported(name);
    // Arguments declared "any" are passed as they are (coerce_type leaves them, unknown literals too).
    const anyFrom = ANY_ARGS[name] ?? Number.POSITIVE_INFINITY;
    const coerced = args.map((a, i) => (i >= anyFrom ? a : this.coerce(a, need(sig.args[i]), -1, 'implicit', true)));
    return { k: 'func', name, args: coerced, t: sig.t, typmod: -1 };
  }

  /** transformCaseExpr: `CASE x WHEN v` compares with `=`, results coerced to their common type (the ELSE first). */
  private caseExpr(v: { arg?: Node; args?: Node[]; defresult?: Node }): PNode {
    let arg = v.arg ? this.expr(v.arg) : undefined;
    if (arg?.t === 'unknown') arg = this.coerce(arg, 'text', -1, 'implicit', true);
    const whens = (v.args ?? []).map((w) => {
      const cw = nodeOf(w, 'CaseWhen') ?? unsupported('WHEN');
      const cond = this.expr(need(cw.expr));
      let expr: PNode;
      if (arg) {
        // CaseTestExpr = value: ruleutils prints only the value, as coerced by the operator.
        const eq = this.op('=', { ...arg }, cond);
        if (eq.k !== 'op' || eq.t !== 'boolean') return unsupported('CASE operand');
        expr = need(eq.args[1]);
      } else expr = this.toBoolean(cond);
      return { expr, result: this.expr(need(cw.result)) };
    });
    const def: PNode = v.defresult ? this.expr(v.defresult) : { k: 'const', text: null, t: 'unknown', typmod: -1 };
    const t = this.commonType([def, ...whens.map((w) => w.result)], 'CASE');
    return {
      k: 'case',
      arg,
      whens: whens.map((w) => ({ expr: w.expr, result: this.coerce(w.result, t, -1, 'implicit', true) })),
      def: this.coerce(def, t, -1, 'implicit', true),
      t,
      typmod: -1,
    };
  }

  /** COALESCE, GREATEST, LEAST: the arguments coerced to their common type. */
  private coalesce(name: 'COALESCE' | 'GREATEST' | 'LEAST', raw: Node[]): PNode {
    const args = raw.map((a) => this.expr(a));
    const t = this.commonType(args, name);
    return { k: 'coalesce', name, args: args.map((a) => this.coerce(a, t, -1, 'implicit', true)), t, typmod: -1 };
  }

  /** transformArrayExpr: elements coerced to their common type, or explicitly to `elem` under a cast. */
  private array(v: A_ArrayExpr, elem?: ScalarType): PNode {
    const els = (v.elements ?? []).map((e) => {
      if (nodeOf(e, 'A_ArrayExpr')) return unsupported('multidimensional array');
      return this.expr(e);
    });
    if (els.length === 0 && !elem) return unsupported('empty ARRAY');
    const et = elem ?? this.commonType(els, 'ARRAY');
    if (isArrayType(et) || et === 'unknown') return unsupported('array element type');
    const elements = els.map((e) => (elem ? this.coerce(e, et, -1, 'explicit', false) : this.coerce(e, et, -1, 'implicit', true)));
    return { k: 'array', elements, t: `${et}[]` as ResultType, typmod: -1 };
  }

  /** select_common_type, refusing (Unsupported) where PostgreSQL would raise an error. */
  private commonType(nodes: PNode[], what: string): ResultType {
    const types = nodes.map((n) => known(n.t));
    const t = commonType(types, what);
    if (!types.every((x) => canCast(x, t as SqlType, 'implicit'))) return unsupported(what);
    return t;
  }

  /** coerce_to_boolean: a boolean stays, an unknown literal becomes a boolean Const. */
  toBoolean(n: PNode): PNode {
    if (n.t === 'boolean') return n;
    if (n.t === 'unknown' && n.k === 'const') return this.coerce(n, 'boolean', -1, 'implicit', true);
    return unsupported('not boolean');
  }

  /**
   * coerce_to_target_type: `n` as type `to` (typmod `typmod`, -1 none) in cast context `ctx`;
   * `implicit` is the coercion's display form (hidden at the top of a printed expression).
   * An unknown literal becomes a Const of the type (typmod -1, the length coercion above it).
   */
  coerce(n: PNode, to: ResultType, typmod: number, ctx: 'implicit' | 'assignment' | 'explicit', implicit: boolean): PNode {
    if (to === 'unknown') return n;
    let out = n;
    if (n.t !== to) {
      if (n.k === 'const' && n.t === 'unknown') {
        if (isPolymorphicName(to)) return n;
        out = { k: 'const', text: n.text === null ? null : this.output(n.text, to), t: to, typmod: to === 'interval' ? typmod : -1 };
      } else {
        const from = n.t === 'name' ? 'text' : known(n.t);
        if (!canCast(from, to as SqlType, ctx)) return unsupported('cast');
        out = { k: 'cast', kind: castKind(n.t, to), arg: n, implicit, length: false, t: to, typmod: -1 };
      }
    }
    if (typmod >= 0 && LENGTH_TYPES.has(to) && !(out.k === 'const' && out.typmod === typmod) && n.typmod !== typmod) {
      // A length coercion over a type coercion hides the inner one (coerce_to_target_type's hideInputCoercion).
      const inner: PNode = out.k === 'cast' && out !== n ? { ...out, implicit: true } : out;
      out = { k: 'cast', kind: 'func', arg: inner, implicit, length: true, t: to, typmod };
    } else if (typmod >= 0 && isArrayType(to as SqlType) && n.typmod !== typmod) {
      return unsupported('array typmod');
    }
    return out;
  }
}

function isPolymorphicName(t: string): boolean {
  return t.startsWith('any');
}

/** The node parse_coerce.c builds for a cast from `from` to `to` (only the pretty parenthesization depends on it). */
function castKind(from: PgType, to: ResultType): CastKind {
  if (BINARY_CASTS.has(`${from}>${to}`)) return 'relabel';
  if (from !== 'unknown' && isArrayType(from as SqlType) && isArrayType(to as SqlType)) return 'array';
  if (from === 'json' || from === 'jsonb' || to === 'json' || to === 'jsonb') return 'io';
  if (STRING_TYPES.has(to) && !STRING_TYPES.has(from) && from !== 'boolean') return 'io';
  if (STRING_TYPES.has(from) && !STRING_TYPES.has(to)) return 'io';
  return 'func';
}

/** Functions whose arguments from this position on are declared "any" (pg_proc, PostgreSQL 15). */
const ANY_ARGS: Record<string, number> = {
  concat: 0,
  concat_ws: 1,
  format: 1,
  json_build_array: 0,
  json_build_object: 0,
  jsonb_build_array: 0,
  jsonb_build_object: 0,
  num_nonnulls: 0,
  num_nulls: 0,
  pg_column_size: 0,
};

const BOOL_TESTS: Record<string, string> = {
  IS_TRUE: ' IS TRUE',
  IS_NOT_TRUE: ' IS NOT TRUE',
  IS_FALSE: ' IS FALSE',
  IS_NOT_FALSE: ' IS NOT FALSE',
  IS_UNKNOWN: ' IS UNKNOWN',
  IS_NOT_UNKNOWN: ' IS NOT UNKNOWN',
};

function need<T>(x: T | undefined | null): T {
  if (x === undefined || x === null) return unsupported('missing operand');
  return x;
}

/** An operator's name (`OPERATOR(pg_catalog.+)` is `+`). */
function operatorName(names: Node[] | undefined): string {
  const parts = (names ?? []).map((x) => strOf(x) ?? '');
  if (parts.length === 2 && parts[0] === 'pg_catalog') return parts[1] ?? '';
  if (parts.length !== 1) return unsupported('operator name');
  return parts[0] ?? '';
}

/**
 * quote_identifier (ruleutils.c; also SQL's quote_ident): quoted unless lower-case letters,
 * digits, _ and $ and not a keyword beyond unreserved (PostgreSQL's kwlist, `@pgsql/quotes`).
 */
export function quoteIdentifier(id: string): string {
  const safe = /^[a-z_][a-z0-9_$]*$/.test(id);
  const kind = keywordKindOf(id);
  if (safe && (kind === 'NO_KEYWORD' || kind === 'UNRESERVED_KEYWORD')) return id;
  return `"${id.replaceAll('"', '""')}"`;
}

// ---------------------------------------------------------------------------------------------
// ruleutils.c: printing the analyzed tree.

const PRETTYINDENT_VAR = 4;

/** get_rule_expr and its helpers, writing into one buffer as ruleutils.c does (the indentation of CASE depends on it). */
class Printer {
  buf = '';
  private indent = 0;

  /** `pretty`: PRETTYFLAG_PAREN (pg_get_expr and pg_get_constraintdef always set PRETTYFLAG_INDENT). */
  constructor(private readonly pretty: boolean) {}

  expr(n: PNode, showImplicit: boolean): void {
    switch (n.k) {
      case 'var':
        this.buf += n.rel === undefined ? quoteIdentifier(n.name) : `${quoteIdentifier(n.rel)}.${quoteIdentifier(n.name)}`;
        return;
      case 'const':
        this.constant(n, 0);
        return;
      case 'svf':
        this.buf += n.text;
        return;
      case 'op':
        this.open();
        if (n.args.length === 2) {
          this.paren(need(n.args[0]), true, n);
          this.buf += ` ${n.op} `;
          this.paren(need(n.args[1]), true, n);
        } else {
          this.buf += `${n.op} `;
          this.paren(need(n.args[0]), true, n);
        }
        this.close();
        return;
      case 'distinct':
        this.open();
        this.paren(n.args[0], true, n);
        this.buf += ' IS DISTINCT FROM ';
        this.paren(n.args[1], true, n);
        this.close();
        return;
      case 'nullif':
        this.buf += 'NULLIF(';
        this.list(n.args);
        this.buf += ')';
        return;
      case 'saop':
        this.open();
        this.paren(n.args[0], true, n);
        this.buf += ` ${n.op} ${n.useOr ? 'ANY' : 'ALL'} (`;
        this.paren(n.args[1], true, n);
        this.buf += ')';
        this.close();
        return;
      case 'func':
        this.buf += `${quoteIdentifier(n.name)}(`;
        this.list(n.args);
        this.buf += ')';
        return;
      case 'cast':
        if (n.implicit && !showImplicit) this.paren(n.arg, false, n);
        else this.coercion(n.arg, n.t, n.length ? n.typmod : -1, n);
        return;
      case 'bool':
        this.open();
        if (n.op === 'NOT') {
          this.buf += 'NOT ';
          this.paren(need(n.args[0]), false, n);
        } else {
          n.args.forEach((a, i) => {
            if (i > 0) this.buf += ` ${n.op} `;
            this.paren(a, false, n);
          });
        }
        this.close();
        return;
      case 'nulltest':
        this.open();
        this.paren(n.arg, true, n);
        this.buf += n.not ? ' IS NOT NULL' : ' IS NULL';
        this.close();
        return;
      case 'booltest':
        this.open();
        this.paren(n.arg, false, n);
        this.buf += n.test;
        this.close();
        return;
      case 'case':
        this.keyword('CASE', 0, PRETTYINDENT_VAR);
        if (n.arg) {
          this.buf += ' ';
          this.expr(n.arg, true);
        }
        for (const w of n.whens) {
          this.keyword('WHEN ', 0, 0);
          this.expr(w.expr, false);
          this.buf += ' THEN ';
          this.expr(w.result, true);
        }
        this.keyword('ELSE ', 0, 0);
        this.expr(n.def, true);
        this.keyword('END', -PRETTYINDENT_VAR, 0);
        return;
      case 'coalesce':
        this.buf += `${n.name}(`;
        this.list(n.args);
        this.buf += ')';
        return;
      case 'array':
        this.buf += 'ARRAY[';
        this.list(n.elements);
        this.buf += ']';
        if (n.elements.length === 0) this.buf += `::${typeName(n.t, -1)}`;
        return;
    }
  }

  /** Arguments of a call or elements of an array: implicit casts shown. */
  private list(ns: PNode[]): void {
    ns.forEach((a, i) => {
      if (i > 0) this.buf += ', ';
      this.expr(a, true);
    });
  }

  private open(): void {
    if (!this.pretty) this.buf += '(';
  }

  private close(): void {
    if (!this.pretty) this.buf += ')';
  }

  /** get_rule_expr_paren: parentheses where PRETTYFLAG_PAREN finds the node not simple under its parent. */
  private paren(n: PNode, showImplicit: boolean, parent: PNode): void {
    const need = this.pretty && !isSimple(n, parent);
    if (need) this.buf += '(';
    this.expr(n, showImplicit);
    if (need) this.buf += ')';
  }

  /** appendContextKeyword under PRETTYFLAG_INDENT: a new line, indented. */
  private keyword(word: string, before: number, after: number): void {
    this.indent += before;
    this.buf = this.buf.replace(/ +$/, '');
    this.buf += `\n${' '.repeat(Math.max(this.indent, 0))}${word}`;
    this.indent = Math.max(this.indent + after, 0);
  }

  /** get_coercion_expr: `(arg)::type`, or a Const of the type printed bare with the label. */
  private coercion(arg: PNode, t: PgType, typmod: number, parent: PNode): void {
    if (arg.k === 'const' && arg.t === t && arg.typmod === -1) this.constant(arg, -1);
    else {
      this.open();
      this.paren(arg, false, parent);
      this.close();
    }
    this.buf += `::${typeName(t, typmod)}`;
  }

  /** get_const_expr: `showType` -1 no label, 0 a label where the literal would not read back as the type. */
  private constant(n: PNode & { k: 'const' }, showType: number): void {
    if (n.text === null) {
      this.buf += 'NULL';
      if (showType >= 0) this.buf += `::${typeName(n.t, n.typmod)}`;
      return;
    }
    const v = n.text;
    let label = false;
    switch (n.t) {
      case 'integer':
        if (v.startsWith('-')) {
          this.buf += `'${v}'`;
          label = true;
        } else this.buf += v;
        break;
      case 'numeric':
        if (/^\d/.test(v) && /[eE.]/.test(v)) this.buf += v;
        else {
          this.buf += `'${v}'`;
          label = true;
        }
        label ||= n.typmod >= 0;
        break;
      case 'boolean':
        this.buf += v === 't' ? 'true' : 'false';
        break;
      case 'unknown':
        this.buf += quoteLiteral(v);
        break;
      default:
        this.buf += quoteLiteral(v);
        label = true;
    }
    if (showType >= 0 && label) this.buf += `::${typeName(n.t, n.typmod)}`;
  }
}

/** simple_quote_literal with standard_conforming_strings on: quotes doubled. */
function quoteLiteral(v: string): string {
  return `'${v.replaceAll("'", "''")}'`;
}

/** format_type_with_typemod. */
function typeName(t: PgType, typmod: number): string {
  if (t === 'name' || t === 'regclass') return t;
  return pgTypeName(t, typmod >= 0 ? typmod : undefined);
}

const LO_PRI = new Set(['+', '-']);
const HI_PRI = new Set(['*', '/', '%']);

/** A one-character binary operator's name (get_simple_binary_op_name), else undefined. */
function simpleBinaryOp(n: PNode): string | undefined {
  return n.k === 'op' && n.args.length === 2 && n.op.length === 1 ? n.op : undefined;
}

/** Whether `parent` is a FuncExpr printed as a cast (a 'func' coercion node). */
function isCastFunc(parent: PNode): boolean {
  return parent.k === 'cast';
}

/** Parents with their own separators or parentheses (isSimpleNode's list for SubLink, NullTest and BoolExpr children). */
function ownParens(parent: PNode): boolean {
  return parent.k === 'array' || parent.k === 'coalesce' || parent.k === 'nullif' || parent.k === 'case';
}

/** isSimpleNode (ruleutils.c): whether `n` needs no parentheses under `parent` in pretty mode. */
function isSimple(n: PNode, parent: PNode): boolean {
  switch (n.k) {
    case 'var':
    case 'const':
    case 'array':
    case 'coalesce':
    case 'svf':
    case 'nullif':
    case 'func':
    case 'case':
      return true;
    case 'cast':
      return n.kind === 'func' ? true : isSimple(n.arg, n);
    case 'op':
      if (parent.k === 'op') {
        const op = simpleBinaryOp(n);
        const pop = simpleBinaryOp(parent);
        if (!op || !pop) return false;
        const lo = LO_PRI.has(op);
        const hi = HI_PRI.has(op);
        const plo = LO_PRI.has(pop);
        const phi = HI_PRI.has(pop);
        if (!(lo || hi) || !(plo || phi)) return false;
        if (hi && plo) return true;
        if (lo && phi) return false;
        return parent.args[0] === n;
      }
      return parentSeparates(parent);
    case 'nulltest':
    case 'booltest':
    case 'distinct':
      return parentSeparates(parent);
    case 'bool':
      if (parent.k === 'bool') {
        if (n.op === 'NOT' || n.op === 'AND') return parent.op === 'AND' || parent.op === 'OR';
        return parent.op === 'OR';
      }
      if (parent.k === 'func') return true;
      if (isCastFunc(parent)) return false;
      return ownParens(parent);
    default:
      return false;
  }
}

/** The parents under which an operator, NullTest or BooleanTest needs no parentheses. */
function parentSeparates(parent: PNode): boolean {
  if (parent.k === 'func') return true;
  if (isCastFunc(parent)) return false;
  return parent.k === 'bool' || ownParens(parent);
}
