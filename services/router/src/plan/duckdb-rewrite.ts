/**
 * PostgreSQL semantics on the analytical tier: a rewrite of the statement's AST, after views are
 * inlined, before it is deparsed for DuckDB, wherever DuckDB's answer would differ from
 * PostgreSQL's. The rewrite types every expression the way PostgreSQL 15 does (chapter 10
 * "Type Conversion", over PostgreSQL's own pg_operator/pg_proc in shared/src/expr), then:
 *
 * - casts operands to the types of the operator or function PostgreSQL chose, so DuckDB computes
 *   in PostgreSQL's types (`smallint * 2` is integer arithmetic; `date_trunc('year', date)` is
 *   `date_trunc(text, timestamptz)`; an integer literal is an int4, not DuckDB's narrowest type);
 * - replaces operators and functions whose DuckDB meaning differs by the macros of
 *   shared/src/duckdb/pg-macros.ts (division by zero raises 22012, `round(float8)` rounds half to
 *   even, `sum(int4)` is bigint and `sum(int8)` numeric, `avg` of integers is an exact numeric,
 *   string, date and formatting functions, `regexp_matches` returns text[] rows, …);
 * - refuses recursive CTEs PostgreSQL refuses at parse analysis (42P19), which DuckDB would run.
 *
 * Expressions whose type cannot be told (unknown relations, DuckDB-only functions) are left as
 * they are. See docs/sql.md "Known differences" for what is not rewritten, and why.
 */
import type { A_Const, A_Expr, CommonTableExpr, FuncCall, Node as PgNode, SelectStmt, TypeName } from '@pgsql/types';
import {
  type Catalog,
  commonType,
  elementType,
  functionKind,
  intervalParts,
  isArrayType,
  numericPrecision,
  type ResultType,
  resolveFunctionDetail,
  resolveOperatorDetail,
  resolveTypeName,
  type Signature,
  SqlState,
  type SqlType,
  StratumError,
} from '@stratum/shared';
import { PG_NUMERIC_FIELD } from '@stratum/shared/duckdb';
import { constString, entryOf, nodeOf, strOf } from '../analyze/ast.ts';
import { forEachNode, someNode, type Tree } from '../analyze/walk.ts';
import { strptimeFormat, toCharNumber, toCharTimestamp } from './duckdb-to-char.ts';

// ---------------------------------------------------------------------------------------------
// Node helpers (libpg-query AST, `{ Type: fields }`).

/**
 * The untyped view of a node the Rewriter class still reads (issue 10: the last file to convert
 * to `@pgsql/types`). The helpers below and the module's entry take and build typed nodes.
 */
// biome-ignore lint/suspicious/noExplicitAny: transitional, the Rewriter's reads are not typed yet.
type Node = any;

/** A typed expression after rewriting: its new node and PostgreSQL's type of it. */
interface Typed {
  node: Node;
  t: ResultType;
  /** numeric typmod (precision/scale) when known. */
  typmod?: number;
  /** The node is a numeric literal (DuckDB types those by value: they need an explicit cast). */
  numLit?: boolean;
  /** The node is a string literal (PostgreSQL's type unknown). */
  strLit?: boolean;
  /** A numeric quotient (`/`, avg): its dividend and divisor, for the output text (see Rewriter.select). */
  div?: [Node, Node];
  /** The quotient is a variance (numeric_var: 0 when the numerator is not positive, NULL without rows). */
  variance?: true;
  /**
   * A numeric (or numeric[]) DuckDB holds as PostgreSQL's text of each value: an unconstrained
   * numeric column (shared/src/duckdb/columns.ts), or a value passed through from one.
   */
  textNum?: true;
  /** PostgreSQL's display scale of each value (a DuckDB expression), where it is not the DECIMAL's scale. */
  scale?: Node;
  /** The display scales of {@link div}'s operands, when not their DECIMAL scales. */
  divScales?: [Node, Node];
}

/**
 * Unconstrained numeric, and numeric(p,s) with p > 38, is VARCHAR in DuckDB (the exact text of
 * each value): computed on as DECIMAL(38,10) (exact up to 28 integer and 10 fraction digits),
 * compared and ordered by {@link numKey}, printed as it is.
 */
const TEXT_NUMERIC_DECIMAL: [number, number] = [38, 10];

/** True when a column of type `t` (numeric or numeric[]) is held as text in DuckDB (see {@link TEXT_NUMERIC_DECIMAL}). */
function isTextNumeric(t: ResultType, typmod: number | undefined): boolean {
  if (t !== 'numeric' && t !== 'numeric[]') return false;
  const pr = numericPrecision(typmod);
  return !pr || pr.precision > 38;
}

/** What `e` sorts by where DuckDB's order of it differs: a text numeric's key, a char(n) value trimmed. */
function sortKey(e: Typed): Node | undefined {
  if (e.textNum && e.t === 'numeric') return numKey(e.node);
  return e.t === 'char' ? fn('rtrim', [e.node]) : undefined;
}

/** The numeric-order key of a numeric's text (pg_nkey). */
function numKey(text: Node): Node {
  return fn('pg_nkey', [text]);
}

/** PostgreSQL's text of a numeric value: a text numeric as it is, a DECIMAL as DuckDB prints it (with its scale). */
function numText(x: Typed): Node {
  if (x.textNum) return x.node;
  if (x.scale) return fn('pg_nfmt', [coerce(x, 'numeric'), x.scale]);
  return castNode(coerce(x, 'numeric'), 'varchar');
}

/** The display scale of numeric `x` (coerced to DECIMAL as `node`) as a DuckDB expression. */
function scaleOf(x: Typed, node: Node): Node {
  if (x.scale) return x.scale;
  if (x.textNum) return fn('pg_nscale', [x.node]);
  return fn('pg__sc', [node]);
}

function str(s: string): PgNode {
  return { String: { sval: s } };
}

function fn(name: string, args: PgNode[]): PgNode {
  return { FuncCall: { funcname: [str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

function intConst(n: number): PgNode {
  return { A_Const: { ival: { ival: n } } };
}

function textConst(s: string): PgNode {
  return { A_Const: { sval: { sval: s } } };
}

/** DuckDB type name of a PostgreSQL type, for the casts the rewrite inserts. */
const DUCK_TYPE: Partial<Record<string, string>> = {
  smallint: 'smallint',
  integer: 'integer',
  bigint: 'bigint',
  real: 'real',
  double: 'double',
  text: 'varchar',
  varchar: 'varchar',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  interval: 'interval',
  time: 'time',
  uuid: 'uuid',
  bytea: 'blob',
  json: 'json',
  jsonb: 'json',
};

/** `CAST(node AS duckType)` (`duckType` a DuckDB type name, possibly with modifiers). */
function castNode(node: PgNode, duckType: string, mods: number[] = []): PgNode {
  const tn: TypeName = { names: [str(duckType)], typemod: -1 };
  if (mods.length) tn.typmods = mods.map(intConst);
  return { TypeCast: { arg: node, typeName: tn } };
}

function duckTypeOf(t: ResultType): string | undefined {
  if (t === 'unknown') return undefined;
  if (isArrayType(t)) {
    const e = DUCK_TYPE[elementType(t)];
    return e ? `${e}[]` : undefined;
  }
  return DUCK_TYPE[t];
}

function castTyped(x: Typed, t: ResultType): PgNode {
  const d = duckTypeOf(t);
  if (!d) return x.node;
  if (d.endsWith('[]'))
    return { TypeCast: { arg: x.node, typeName: { names: [str(d.slice(0, -2))], typemod: -1, arrayBounds: [intConst(-1)] } } };
  return castNode(x.node, d);
}

/** Units date_trunc accepts (PostgreSQL 15 §9.9.2, with the spellings datetktbl reads). */
const TRUNC_UNITS = new Set(
  'microsecond microseconds us usec usecs millisecond milliseconds ms msec msecs second seconds sec secs s minute minutes min mins m hour hours hr hrs h day days d week weeks w month months mon mons quarter qtr year years yr yrs y decade decades century centuries millennium millennia mil mils'.split(
    ' ',
  ),
);

/** Fields extract accepts (PostgreSQL 15 §9.9.1). */
const EXTRACT_FIELDS = new Set([
  ...TRUNC_UNITS,
  ...'epoch dow doy isodow isoyear julian timezone timezone_hour timezone_minute'.split(' '),
]);

/** FROM-clause functions of jsonb, as DuckDB's json_each / unnest (their columns as PostgreSQL names them). */
const FROM_FUNCTIONS: Record<string, { cols: Columns; node: (args: Node[]) => Node; unnest?: true }> = {
  jsonb_each: {
    cols: [
      { name: 'key', t: 'text' },
      { name: 'value', t: 'jsonb' },
    ],
    node: (a) => fn('json_each', a),
  },
  json_each: {
    cols: [
      { name: 'key', t: 'text' },
      { name: 'value', t: 'json' },
    ],
    node: (a) => fn('json_each', a),
  },
  jsonb_array_elements: { cols: [{ name: 'value', t: 'jsonb' }], node: (a) => fn('unnest', [jsonArray(a[0] as Node)]), unnest: true },
  json_array_elements: { cols: [{ name: 'value', t: 'json' }], node: (a) => fn('unnest', [jsonArray(a[0] as Node)]), unnest: true },
};

/** `CAST(x AS JSON[])`. */
function jsonArray(x: PgNode): PgNode {
  return { TypeCast: { arg: x, typeName: { names: [str('json')], typemod: -1, arrayBounds: [intConst(-1)] } } };
}

/** Output types DuckDB lacks, marked for result conversion (shared/src/duckdb/pg-macros.ts MARKED). */
const MARKED_OUTPUT: Partial<Record<ResultType, string>> = { varchar: 'pg_varchar', char: 'pg_bpchar', jsonb: 'pg_jsonb' };

/**
 * The outermost SELECT's output of `x` in a form result conversion reads as PostgreSQL's type
 * (pg-macros.ts MARKED), or undefined when DuckDB's own type is PostgreSQL's:
 * numeric quotients with their value-dependent scale (`pg_ndiv_out`); text numerics as their text
 * (numeric, or numeric[] element by element), sorting by their numeric-order key; numerics with a
 * display scale of their own; varchar, char (sorting without trailing spaces) and jsonb.
 * `grouped`: `x` is a GROUP BY expression, which must stay as it is grouped.
 */
function markOutput(x: Typed, grouped: boolean): Node | undefined {
  // NULL stays NULL (a STRUCT of NULL fields would sort as a value); `of`: the value before formatting.
  const pack = (field: string, value: Node, order?: Node, of = value): Node => ({
    CaseExpr: {
      args: [{ CaseWhen: { expr: { NullTest: { arg: of, nulltesttype: 'IS_NULL' } }, result: { A_Const: { isnull: true } } } }],
      defresult: fn('struct_pack', [
        ...(order ? [{ NamedArgExpr: { name: 'v', arg: order, argnumber: -1 } }] : []),
        { NamedArgExpr: { name: field, arg: value, argnumber: -1 } },
      ]),
    },
  });
  if (x.t === 'numeric' && x.div) {
    if (grouped) return undefined;
    if (x.divScales && !x.variance) return fn('pg_ndiv_outs', [...x.div, ...x.divScales]);
    return fn(x.variance ? 'pg_var_out' : 'pg_ndiv_out', x.div);
  }
  if (x.textNum && x.t === 'numeric') return pack(PG_NUMERIC_FIELD, x.node, numKey(x.node));
  if (x.textNum && x.t === 'numeric[]') return fn('pg_nlist_out', [x.node]);
  if (x.scale && x.t === 'numeric' && !grouped) return pack(PG_NUMERIC_FIELD, fn('pg_nfmt', [x.node, x.scale]), x.node, x.node);
  const field = MARKED_OUTPUT[x.t];
  if (!field) return undefined;
  if (x.t === 'jsonb') return pack(field, castNode(x.node, 'varchar'));
  return pack(field, x.node, x.t === 'char' ? fn('rtrim', [x.node]) : undefined);
}

/** Result types the rewrite casts scalar and window function results to (see Rewriter.call). */
const RESULT_CAST = new Set<ResultType>([
  'smallint',
  'integer',
  'bigint',
  'real',
  'double',
  'boolean',
  'date',
  'timestamp',
  'timestamptz',
  'interval',
]);

/** Regular-expression match operators: [negated, DuckDB options]. */
const REGEX_OPS: Record<string, [boolean, string]> = { '~': [false, ''], '~*': [false, 'i'], '!~': [true, ''], '!~*': [true, 'i'] };

const INT_TYPES = new Set<ResultType>(['smallint', 'integer', 'bigint']);
const COMPARISON_OPS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/**
 * PostgreSQL's display scale of a numeric operator's result (numeric.c: add_var and sub_var keep
 * the larger scale, mul_var adds them, mod_var keeps the larger), or undefined for other operators.
 */
function resultScale(op: string, args: Typed[], nodes: Node[]): Node | undefined {
  const sc = args.map((a, i) => scaleOf(a, nodes[i] as Node));
  if (sc.length === 1) return op === '-' || op === '+' ? sc[0] : undefined;
  const [x, y] = sc as [Node, Node];
  if (op === '+' || op === '-' || op === '%') return { MinMaxExpr: { op: 'IS_GREATEST', args: [x, y] } };
  if (op === '*') return { A_Expr: { kind: 'AEXPR_OP', name: [str('+')], lexpr: x, rexpr: y } };
  return undefined;
}
const FLOAT_TYPES = new Set<ResultType>(['real', 'double']);
const TEXT_TYPES = new Set<ResultType>(['text', 'varchar', 'char']);

/**
 * `x` as an argument of PostgreSQL type `want`: cast when its type differs (an implicit
 * coercion PostgreSQL inserts), or when it is a literal DuckDB would type by value. Numeric
 * targets are left to DuckDB (its DECIMAL arithmetic with integers is PostgreSQL's), and so are
 * text targets of text-like values.
 */
/**
 * An interval literal as DuckDB reads it: PostgreSQL's input syntax ('-1 day +02:00', '1 mon',
 * '1 year 2 months') parsed by PostgreSQL's rules (shared), rebuilt from its months, days and µs.
 */
function intervalLiteral(text: string): PgNode | undefined {
  let p: { months: number; days: number; micros: bigint };
  try {
    p = intervalParts(text);
  } catch {
    return undefined;
  }
  const add = (a: PgNode, b: PgNode): PgNode => ({ A_Expr: { kind: 'AEXPR_OP', name: [str('+')], lexpr: a, rexpr: b } });
  const micros: PgNode =
    p.micros >= -2147483648n && p.micros <= 2147483647n
      ? intConst(Number(p.micros))
      : castNode({ A_Const: { fval: { fval: String(p.micros) } } }, 'bigint');
  return add(
    add(fn('to_months', [intConst(p.months)]), fn('to_days', [intConst(p.days)])),
    fn('to_microseconds', [castNode(micros, 'bigint')]),
  );
}

function coerce(x: Typed, want: ResultType): PgNode {
  if (want === 'interval' && x.strLit) {
    const iv = intervalLiteral(constString(x.node) ?? '');
    if (iv) return iv;
  }
  // char(n) → text drops the padding (rtrim1).
  if (x.t === 'char' && (want === 'text' || want === 'varchar')) return fn('rtrim', [x.node]);
  if (isNullConst(x.node) && want !== 'unknown' && want !== 'numeric' && duckTypeOf(want)) return castTyped(x, want);
  if (want === 'numeric') return toNumeric(x) ?? x.node;
  if (want === 'unknown') return x.node;
  // A text numeric becomes an integer as numeric does (rounded half away from zero, via DECIMAL).
  if (x.textNum && INT_TYPES.has(want)) return castTyped({ node: toNumeric(x) as Node, t: 'numeric' }, want);
  if (TEXT_TYPES.has(want) && (TEXT_TYPES.has(x.t) || x.strLit)) return x.node;
  if (x.t === want && !x.numLit) return x.node;
  if (x.t === 'unknown' && !x.strLit) return x.node;
  if (want === 'text' && (FLOAT_TYPES.has(x.t) || x.t === 'interval')) return textOf(x, x.node);
  return castTyped(x, want);
}

const INT_DECIMAL: Partial<Record<ResultType, number>> = { smallint: 5, integer: 10, bigint: 19 };

/**
 * `x` as a DuckDB DECIMAL where PostgreSQL converts it to numeric: integers keep scale 0
 * (DuckDB's unqualified DECIMAL would be DECIMAL(18,3)), a string literal the scale it is
 * written with; undefined when `x` is already numeric or its scale depends on the value.
 */
function toNumeric(x: Typed): PgNode | undefined {
  if (x.textNum) return castNode(x.node, 'decimal', TEXT_NUMERIC_DECIMAL);
  const p = INT_DECIMAL[x.t];
  if (p !== undefined) return castNode(x.node, 'decimal', [p, 0]);
  if (x.strLit) {
    const text = (constString(x.node) ?? '').trim();
    const m = /^[+-]?(\d*)(?:\.(\d*))?$/.exec(text);
    if (m && (m[1] || m[2]) && (m[1]?.length ?? 0) + (m[2]?.length ?? 0) <= 38) {
      return castNode(x.node, 'decimal', [38, m[2]?.length ?? 0]);
    }
  }
  return undefined;
}

/**
 * `x` as the text its type's output function prints (concat, format): booleans 't'/'f',
 * floats as float8out, intervals as interval_out; text as it is.
 */
function outText(x: Typed, node: PgNode): PgNode {
  if (x.t === 'boolean') return fn('pg_bool_out', [node]);
  return textOf(x, node);
}

/** `x` as text the way a cast to text prints it (`||`, quote_literal): floats and intervals as PostgreSQL prints them. */
function textOf(x: Typed, node: PgNode): PgNode {
  if (FLOAT_TYPES.has(x.t)) return floatText({ ...x, node });
  if (x.t === 'interval') return fn('pg_interval_text', [node]);
  return node;
}

/** float8out / float4out text of a float (shortest digits, PostgreSQL's exponent thresholds). */
function floatText(x: Typed): PgNode {
  return fn(x.t === 'real' ? 'pg_real_text' : 'pg_float_text', [x.node]);
}

/** Names of a function call, lower case, without `pg_catalog.`. */
function funcName(f: FuncCall): string {
  const names = (f.funcname ?? []).map((n) => strOf(n) ?? '');
  const last = names[names.length - 1] ?? '';
  return names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog') ? last : names.join('.');
}

function opName(e: A_Expr): string {
  const names = (e.name ?? []).map((n) => strOf(n) ?? '');
  return names[names.length - 1] ?? '';
}

/** PostgreSQL's output column name of an expression (FigureColname). */
function figureColname(n: PgNode | undefined): string {
  if (!n) return '?column?';
  const [type, v] = entryOf(n);
  switch (type) {
    case 'ColumnRef': {
      const fields = v.fields ?? [];
      const last = nodeOf(fields[fields.length - 1], 'String');
      return last ? String(last.sval) : '?column?';
    }
    case 'FuncCall':
      return funcName(v).split('.').pop() ?? '?column?';
    case 'TypeCast': {
      const inner = figureColname(v.arg);
      if (inner !== '?column?') return inner;
      const names = v.typeName?.names ?? [];
      return strOf(names[names.length - 1]) ?? '?column?';
    }
    case 'CaseExpr':
      return 'case';
    case 'CoalesceExpr':
      return 'coalesce';
    case 'MinMaxExpr':
      return v.op === 'IS_GREATEST' ? 'greatest' : 'least';
    case 'A_ArrayExpr':
      return 'array';
    case 'SubLink':
      if (v.subLinkType === 'EXISTS_SUBLINK') return 'exists';
      if (v.subLinkType === 'ARRAY_SUBLINK') return 'array';
      if (v.subLinkType === 'EXPR_SUBLINK') {
        const t = nodeOf(nodeOf(v.subselect, 'SelectStmt')?.targetList?.[0], 'ResTarget');
        return t?.name ? String(t.name) : figureColname(t?.val);
      }
      return '?column?';
    case 'A_Indirection': {
      const ind = v.indirection ?? [];
      const last = nodeOf(ind[ind.length - 1], 'String');
      if (last) return String(last.sval);
      return figureColname(v.arg);
    }
    case 'SQLValueFunction': {
      const op = String(v.op ?? '')
        .replace(/^SVFOP_/, '')
        .replace(/_N$/, '')
        .toLowerCase();
      return op === 'current_catalog' ? 'current_catalog' : op;
    }
    case 'XmlExpr':
      return 'xmlelement';
    default:
      return '?column?';
  }
}

// ---------------------------------------------------------------------------------------------
// Scopes: what column names mean in an expression.

/** Output columns of a relation: name and type (`textNum`: see {@link Typed.textNum}). */
type Columns = { name: string; t: ResultType; typmod?: number; textNum?: true }[];

/** One FROM item visible to expressions: its alias and columns. */
interface RangeEntry {
  alias: string;
  cols: Columns;
}

/** A query level's FROM items, and the levels around it (correlated subqueries). */
interface Scope {
  entries: RangeEntry[];
  outer: Scope | undefined;
  /** CTEs visible here, by name. */
  ctes: Map<string, Columns>;
}

/** System columns of `<table>__history` views (DESIGN §5). */
const HISTORY_COLUMNS: Columns = [
  { name: '_ts', t: 'timestamp' },
  { name: '_version', t: 'uuid' },
  { name: '_op', t: 'text' },
  { name: '_engine', t: 'text' },
];

function lookupColumn(scope: Scope | undefined, names: string[]): Columns[number] | undefined {
  for (let s = scope; s; s = s.outer) {
    if (names.length === 1) {
      for (const e of s.entries) {
        const c = e.cols.find((x) => x.name === names[0]);
        if (c) return c;
      }
    } else {
      const rel = names[names.length - 2];
      const col = names[names.length - 1];
      const e = s.entries.find((x) => x.alias === rel);
      if (e) {
        const c = e.cols.find((x) => x.name === col);
        return c ?? undefined;
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The rewriter.

/** Function names DuckDB spells differently but means the same. */
const RENAMED: Record<string, string> = {};

class Rewriter {
  constructor(private readonly catalog: Catalog) {}

  /** Rewrite any node generically: expressions inside get rewritten, the node's type is unknown. */
  private generic(node: Node, scope: Scope): Node {
    const out: Node = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = this.genericValue(v, scope);
    }
    return out;
  }

  private genericValue(v: unknown, scope: Scope): unknown {
    if (Array.isArray(v)) return v.map((x) => this.genericValue(x, scope));
    if (!v || typeof v !== 'object') return v;
    const o = v as Node;
    const keys = Object.keys(o);
    if (keys.length === 1 && /^[A-Z]/.test(keys[0] as string)) {
      const k = keys[0] as string;
      if (k === 'SelectStmt') return this.select(o.SelectStmt as Node, scope).node;
      if (k === 'String' || k === 'Integer' || k === 'Float' || k === 'Boolean' || k === 'A_Star' || k === 'TypeName') return o;
      return this.expr(o, scope).node;
    }
    const out: Node = {};
    for (const [k, x] of Object.entries(o)) out[k] = this.genericValue(x, scope);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  /** Rewrite a SelectStmt; returns the new node and its output columns. */
  /**
   * Rewrite a SelectStmt; returns the new node and its output columns. In the statement's
   * outermost SELECT (`root`), numeric quotients are returned with PostgreSQL's result scale
   * (numeric_div's select_div_scale, which depends on the values): `pg_ndiv_out` gives DuckDB a
   * STRUCT of the value (ordering) and PostgreSQL's text, which result conversion reads as numeric.
   * Inner quotients are DECIMAL(38,16).
   */
  select(s: Node, outer: Scope | undefined, cteNames?: Map<string, Columns>, root = false): { node: Node; cols: Columns } {
    const ctes = new Map(cteNames ?? outer?.ctes ?? []);
    const out: Node = { ...s };
    if (s.withClause) {
      const w = s.withClause as Node;
      const list: Node[] = [];
      for (const c of (w.ctes ?? []) as Node[]) {
        const cte = c.CommonTableExpr as Node;
        const name = String(cte.ctename);
        if (w.recursive) checkRecursion(cte, name);
        const q = cte.ctequery as Node;
        let cols: Columns;
        let node: Node;
        if (w.recursive && q.SelectStmt && q.SelectStmt.op !== 'SETOP_NONE' && refersTo(q.SelectStmt.rarg, name)) {
          // Type the non-recursive term first, then the recursive one with the CTE in scope.
          const sel = q.SelectStmt as Node;
          const l = this.select(sel.larg as Node, outer, ctes);
          cols = renameCols(l.cols, cte.aliascolnames as Node[] | undefined);
          ctes.set(name, cols);
          const r = this.select(sel.rarg as Node, outer, ctes);
          node = { SelectStmt: { ...sel, larg: l.node.SelectStmt, rarg: r.node.SelectStmt } };
        } else if (q.SelectStmt) {
          const r = this.select(q.SelectStmt as Node, outer, ctes);
          cols = renameCols(r.cols, cte.aliascolnames as Node[] | undefined);
          node = r.node;
        } else {
          node = this.generic(q, { entries: [], outer, ctes });
          cols = [];
        }
        ctes.set(name, cols);
        list.push({ CommonTableExpr: { ...cte, ctequery: node } });
      }
      out.withClause = { ...w, ctes: list };
    }
    if (s.op && s.op !== 'SETOP_NONE') {
      const l = this.select(s.larg as Node, outer, ctes);
      const r = this.select(s.rarg as Node, outer, ctes);
      out.larg = l.node.SelectStmt;
      out.rarg = r.node.SelectStmt;
      const cols: Columns = l.cols.map((c, i) => {
        const rt = r.cols[i]?.t ?? 'unknown';
        let t: ResultType = 'unknown';
        if (c.t !== 'unknown' && rt !== 'unknown') {
          try {
            t = commonType([c.t, rt], s.op === 'SETOP_UNION' ? 'UNION' : s.op === 'SETOP_INTERSECT' ? 'INTERSECT' : 'EXCEPT');
          } catch {
            t = 'unknown';
          }
        } else if (c.t !== 'unknown' || rt !== 'unknown') {
          // A string literal in one arm takes the other arm's type (select_common_type).
          t = c.t !== 'unknown' ? c.t : rt;
          castLiteralColumn(c.t === 'unknown' ? (out.larg as Node) : (out.rarg as Node), i, t);
        }
        // DuckDB unites text numerics with DECIMALs as text (a DECIMAL's text has its scale, as numeric's).
        return t === 'numeric' && (c.textNum || r.cols[i]?.textNum) ? { name: c.name, t, textNum: true as const } : { name: c.name, t };
      });
      const scope: Scope = { entries: [{ alias: '', cols }], outer, ctes };
      if (s.sortClause) out.sortClause = (s.sortClause as Node[]).map((x) => this.genericValue(x, scope));
      return { node: { SelectStmt: out }, cols };
    }
    if (s.valuesLists) {
      const rows = (s.valuesLists as Node[]).map((row) =>
        ((row.List?.items ?? []) as Node[]).map((e) => this.expr(e, { entries: [], outer, ctes })),
      );
      out.valuesLists = rows.map((r) => ({ List: { items: r.map((x) => x.node) } }));
      const n = rows[0]?.length ?? 0;
      const cols: Columns = [];
      for (let i = 0; i < n; i++) {
        const types = rows.map((r) => r[i]?.t ?? 'unknown');
        let t: ResultType = 'unknown';
        if (types.every((x) => x !== 'unknown')) {
          try {
            t = commonType(types, 'VALUES');
          } catch {
            t = 'unknown';
          }
        }
        cols.push({ name: `column${i + 1}`, t });
      }
      return { node: { SelectStmt: out }, cols };
    }
    const scope: Scope = { entries: [], outer, ctes };
    if (s.fromClause) out.fromClause = (s.fromClause as Node[]).map((f) => this.fromItem(f, scope));
    const cols: Columns = [];
    /** The typed output expressions (undefined for `*`), as ORDER BY may name them. */
    const outs: (Typed | undefined)[] = [];
    if (s.targetList) {
      const targets: Node[] = [];
      for (const t of s.targetList as Node[]) {
        const rt = t.ResTarget as Node;
        const val = rt.val as Node;
        if (val.ColumnRef && ((val.ColumnRef.fields ?? []) as Node[]).some((f) => f.A_Star)) {
          const fields = val.ColumnRef.fields as Node[];
          const rel = fields.length > 1 ? String(fields[fields.length - 2]?.String?.sval) : undefined;
          const entries = scope.entries.filter((e) => rel === undefined || e.alias === rel);
          for (const e of entries) cols.push(...e.cols);
          for (const e of entries) for (const _ of e.cols) outs.push(undefined);
          // In the outermost SELECT, `*` over plain relations is spelled out when a column needs
          // its PostgreSQL type marked (varchar, char, jsonb), as PostgreSQL expands it.
          const plain = ((s.fromClause ?? []) as Node[]).every(plainFrom);
          if (
            root &&
            plain &&
            entries.every((e) => e.cols.length > 0 && e.alias) &&
            entries.some((e) => e.cols.some((c) => MARKED_OUTPUT[c.t] || c.textNum))
          ) {
            for (const e of entries) {
              for (const c of e.cols) {
                const ref: Node = { ColumnRef: { fields: [str(e.alias), str(c.name)] } };
                const node = markOutput({ node: ref, t: c.t, ...(c.textNum ? { textNum: true as const } : {}) }, false) ?? ref;
                targets.push({ ResTarget: { name: c.name, val: node } });
              }
            }
            continue;
          }
          targets.push(t);
          continue;
        }
        const x = this.expr(val, scope);
        outs.push(x);
        // A quotient that is also a GROUP BY expression must stay as grouped (DuckDB matches them by shape).
        const groupedExpr = ((s.groupClause ?? []) as Node[]).some((g) => !g.ColumnRef && !g.A_Const);
        const marked = root ? markOutput(x, groupedExpr && !hasAggregateCall(val)) : undefined;
        const name = rt.name ? String(rt.name) : figureColname(val);
        cols.push({
          name,
          t: x.t,
          ...(x.typmod === undefined ? {} : { typmod: x.typmod }),
          ...(x.textNum && !marked ? { textNum: true as const } : {}),
        });
        const nrt: Node = { ...rt, val: marked ?? x.node };
        if (nrt.val !== val && !rt.name && name !== '?column?') nrt.name = name;
        targets.push({ ResTarget: nrt });
      }
      out.targetList = targets;
    }
    const withOutputs: Scope = { entries: [...scope.entries, { alias: '', cols }], outer, ctes };
    for (const k of ['whereClause', 'havingClause'] as const) if (s[k]) out[k] = this.expr(s[k] as Node, scope).node;
    for (const k of ['groupClause', 'distinctClause', 'windowClause'] as const) {
      if (s[k]) out[k] = (s[k] as Node[]).map((x) => this.genericValue(x, k === 'groupClause' ? withOutputs : scope));
    }
    if (s.sortClause) out.sortClause = (s.sortClause as Node[]).map((x) => this.sortBy(x, withOutputs, cols, outs, root));
    for (const k of ['limitCount', 'limitOffset'] as const) if (s[k]) out[k] = this.expr(s[k] as Node, scope).node;
    return { node: { SelectStmt: out }, cols };
  }

  /**
   * An ORDER BY item. Text numerics sort by their numeric-order key and char(n) values without
   * their trailing spaces (bpcharcmp). An output column named or numbered is the outermost
   * SELECT's marked output (its STRUCT sorts by its first field, the key), or elsewhere its
   * expression.
   */
  private sortBy(x: Node, scope: Scope, cols: Columns, outs: (Typed | undefined)[], root: boolean): Node {
    const sb = x.SortBy as Node | undefined;
    if (!sb) return this.genericValue(x, scope) as Node;
    const target = sb.node as Node;
    const fields = (target.ColumnRef?.fields ?? []) as Node[];
    const pos = target.A_Const ? constInt(target) : undefined;
    const i =
      fields.length === 1 && fields[0]?.String
        ? cols.findIndex((c) => c.name === String(fields[0]?.String?.sval))
        : pos !== undefined
          ? pos - 1
          : -1;
    if (i >= 0 && i < cols.length) {
      const e = outs[i];
      const k = root || !e ? undefined : sortKey(e);
      return k ? { SortBy: { ...sb, node: k } } : (this.genericValue(x, scope) as Node);
    }
    const e = this.expr(target, scope);
    return { SortBy: { ...sb, node: sortKey(e) ?? e.node } };
  }

  /** The visible columns of table `name` (none when the catalog has no such table). */
  tableColumns(name: string): Columns {
    const t = this.catalog.find(name);
    if (!t) return [];
    return t.columns
      .filter((c) => !c.hidden)
      .map((c) => ({
        name: c.name,
        t: c.type,
        ...(c.typmod === undefined ? {} : { typmod: c.typmod }),
        ...(isTextNumeric(c.type, c.typmod) ? { textNum: true as const } : {}),
      }));
  }

  /** A FROM item: rewritten, and its columns added to `scope`. */
  private fromItem(f: Node, scope: Scope): Node {
    if (f.RangeVar) {
      const rv = f.RangeVar as Node;
      const name = String(rv.relname);
      const alias = rv.alias?.aliasname ? String(rv.alias.aliasname) : name;
      let cols: Columns = [];
      const cte = !rv.schemaname ? scope.ctes.get(name) : undefined;
      if (cte) cols = cte;
      else {
        const hist = name.endsWith('__history') ? name.slice(0, -'__history'.length) : undefined;
        cols = this.tableColumns(hist ?? name);
        if (hist && cols.length) cols = [...cols, ...HISTORY_COLUMNS];
      }
      scope.entries.push({ alias, cols: renameCols(cols, rv.alias?.colnames as Node[] | undefined) });
      return f;
    }
    if (f.RangeSubselect) {
      const rs = f.RangeSubselect as Node;
      const inner: Scope | undefined = rs.lateral ? { ...scope, entries: [...scope.entries] } : scope.outer;
      const r = this.select(rs.subquery.SelectStmt as Node, inner, scope.ctes);
      const alias = rs.alias?.aliasname ? String(rs.alias.aliasname) : '';
      scope.entries.push({ alias, cols: renameCols(r.cols, rs.alias?.colnames as Node[] | undefined) });
      return { RangeSubselect: { ...rs, subquery: r.node } };
    }
    if (f.JoinExpr) {
      const j = f.JoinExpr as Node;
      const before = scope.entries.length;
      const larg = this.fromItem(j.larg as Node, scope);
      const rarg = this.fromItem(j.rarg as Node, scope);
      const out: Node = { ...j, larg, rarg };
      if (j.quals) out.quals = this.expr(j.quals as Node, scope).node;
      if (j.alias?.aliasname) {
        const cols = scope.entries.slice(before).flatMap((e) => e.cols);
        scope.entries.push({ alias: String(j.alias.aliasname), cols });
      }
      return { JoinExpr: out };
    }
    if (f.RangeFunction) {
      const rf = f.RangeFunction as Node;
      const fns = (rf.functions ?? []) as Node[];
      const only = ((fns[0]?.List?.items ?? []) as Node[])[0]?.FuncCall as Node | undefined;
      const record = fns.length === 1 && only && !rf.ordinality ? FROM_FUNCTIONS[funcName(only)] : undefined;
      if (record && only) {
        // A record-returning function: a LATERAL subquery of its PostgreSQL columns (DuckDB's json_each has more).
        const args = ((only.args ?? []) as Node[]).map((a) => this.expr(a, scope).node);
        const name = rf.alias?.aliasname ? String(rf.alias.aliasname) : funcName(only);
        const given = (rf.alias?.colnames ?? []) as Node[];
        // `AS e` alone names the relation (the column-alias spelling of a scalar function does not apply).
        const colnames = record.cols.length > 1 && given.length === 1 && given[0]?.String?.sval === name ? [] : given;
        const cols = renameCols(record.cols, colnames.length ? colnames : undefined);
        const sub: Node = {
          targetList: record.cols.map((c, i) => ({
            ResTarget: { name: cols[i]?.name ?? c.name, val: { ColumnRef: { fields: [str(c.name)] } } },
          })),
          fromClause: [
            {
              RangeFunction: {
                functions: [{ List: { items: [record.node(args), null] } }],
                alias: record.unnest ? { aliasname: 'f', colnames: [str('value')] } : { aliasname: 'f' },
              },
            },
          ],
          op: 'SETOP_NONE',
          limitOption: 'LIMIT_OPTION_DEFAULT',
        };
        scope.entries.push({ alias: name, cols });
        return { RangeSubselect: { lateral: true, subquery: { SelectStmt: sub }, alias: { aliasname: name } } };
      }
      const cols: Columns = [];
      const items = fns.map((item) => {
        const list = (item.List?.items ?? []) as Node[];
        const call = list[0];
        if (!call?.FuncCall) return item;
        const fromFn = FROM_FUNCTIONS[funcName(call.FuncCall as Node)];
        if (fromFn) {
          const args = ((call.FuncCall.args ?? []) as Node[]).map((a) => this.expr(a, scope).node);
          cols.push(...fromFn.cols);
          return { List: { items: [fromFn.node(args), ...list.slice(1)] } };
        }
        const x = this.call(call.FuncCall as Node, scope, true);
        cols.push({ name: funcName(call.FuncCall as Node), t: x.t });
        return { List: { items: [x.node, ...list.slice(1)] } };
      });
      const alias = rf.alias?.aliasname ? String(rf.alias.aliasname) : (cols[0]?.name ?? '');
      if (cols.length === 1 && rf.alias?.aliasname && !rf.alias.colnames) cols[0] = { ...(cols[0] as Columns[number]), name: alias };
      if (rf.ordinality) cols.push({ name: 'ordinality', t: 'bigint' });
      scope.entries.push({ alias, cols: renameCols(cols, rf.alias?.colnames as Node[] | undefined) });
      return { RangeFunction: { ...rf, functions: items } };
    }
    return this.generic(f, scope);
  }

  // -------------------------------------------------------------------------------------------
  // Expressions

  /** Rewrite an expression node and type it. */
  expr(n: Node, scope: Scope): Typed {
    const [type, v] = Object.entries(n)[0] as [string, Node];
    switch (type) {
      case 'A_Const':
        return constType(n, v);
      case 'ColumnRef': {
        const names = ((v.fields ?? []) as Node[]).map((f) => (f.String ? String(f.String.sval) : '*'));
        const c = lookupColumn(scope, names);
        if (!c) return { node: n, t: 'unknown' };
        const x: Typed = c.typmod === undefined ? { node: n, t: c.t } : { node: n, t: c.t, typmod: c.typmod };
        if (c.textNum) x.textNum = true;
        return x;
      }
      case 'TypeCast':
        return this.typeCast(v, scope);
      case 'A_Expr':
        return this.aExpr(v, scope);
      case 'FuncCall':
        return this.call(v, scope, false);
      case 'BoolExpr':
        return { node: { BoolExpr: { ...v, args: ((v.args ?? []) as Node[]).map((a) => this.expr(a, scope).node) } }, t: 'boolean' };
      case 'NullTest':
      case 'BooleanTest':
        return { node: { [type]: { ...v, arg: this.expr(v.arg as Node, scope).node } }, t: 'boolean' };
      case 'SubLink':
        return this.subLink(v, scope);
      case 'CaseExpr':
        return this.caseExpr(v, scope);
      case 'CoalesceExpr':
      case 'MinMaxExpr': {
        const args = ((v.args ?? []) as Node[]).map((a) => this.expr(a, scope));
        const t = common(
          args.map((a) => a.t),
          type === 'CoalesceExpr' ? 'COALESCE' : v.op === 'IS_GREATEST' ? 'GREATEST' : 'LEAST',
        );
        // COALESCE, GREATEST and LEAST of text numerics: one of the values, as its own text.
        if (t === 'numeric' && args.some((a) => a.textNum)) {
          const nodes = args.map((a) => numText(a));
          if (type === 'CoalesceExpr') return { node: { CoalesceExpr: { ...v, args: nodes } }, t, textNum: true };
          return {
            node: fn(v.op === 'IS_GREATEST' ? 'pg_ngreatest' : 'pg_nleast', [{ A_ArrayExpr: { elements: nodes } }]),
            t,
            textNum: true,
          };
        }
        const nodes = args.map((a) => (t !== 'unknown' && t !== 'numeric' && (a.t !== t || a.numLit) ? coerce(a, t) : a.node));
        return { node: { [type]: { ...v, args: nodes } }, t };
      }
      case 'A_ArrayExpr': {
        const els = ((v.elements ?? []) as Node[]).map((a) => this.expr(a, scope));
        const et =
          els.length > 0 && els.every((a) => a.strLit)
            ? 'text'
            : common(
                els.map((a) => a.t),
                'ARRAY',
              );
        const t: ResultType = et === 'unknown' ? 'unknown' : isArrayType(et) ? et : (`${et}[]` as SqlType);
        const nodes = els.map((a) => (et !== 'unknown' && et !== 'numeric' && (a.t !== et || a.numLit) ? coerce(a, et) : a.node));
        return { node: { A_ArrayExpr: { ...v, elements: nodes } }, t };
      }
      case 'A_Indirection': {
        const arg = this.expr(v.arg as Node, scope);
        const ind = ((v.indirection ?? []) as Node[]).map((x) => this.genericValue(x, scope) as Node);
        const subscript = ind.every((x) => x.A_Indices);
        const slice = ind.some((x) => x.A_Indices?.is_slice);
        const t: ResultType = subscript && isArrayType(arg.t) ? (slice ? arg.t : elementType(arg.t)) : 'unknown';
        const node: Node = { A_Indirection: { ...v, arg: arg.node, indirection: ind } };
        return arg.textNum && t !== 'unknown' ? { node, t, textNum: true } : { node, t };
      }
      case 'SQLValueFunction':
        return { node: n, t: SVF_TYPES[String(v.op)] ?? 'unknown' };
      case 'ParamRef':
        return { node: n, t: 'unknown' };
      case 'SortBy': {
        // Window and aggregate ORDER BY: text numerics by their numeric-order key, char(n) without trailing spaces.
        const e = this.expr(v.node as Node, scope);
        return { node: { SortBy: { ...v, node: sortKey(e) ?? e.node } }, t: 'unknown' };
      }
      case 'CollateClause':
        return { ...this.expr(v.arg as Node, scope), node: { CollateClause: { ...v, arg: this.expr(v.arg as Node, scope).node } } };
      default:
        return { node: this.generic(n, scope), t: 'unknown' };
    }
  }

  private typeCast(v: Node, scope: Scope): Typed {
    const arg = this.expr(v.arg as Node, scope);
    const tn = v.typeName as Node;
    const names = ((tn.names ?? []) as Node[]).map((x) => String(x.String?.sval ?? ''));
    const base = resolveTypeName(names[names.length - 1] ?? '');
    const t: ResultType = base ? ((tn.arrayBounds?.length ?? 0) > 0 && !isArrayType(base) ? (`${base}[]` as SqlType) : base) : 'unknown';
    const node: Node = { TypeCast: { ...v, arg: arg.node } };
    if (t === 'unknown') return { node, t };
    const typed: Typed = { node, t };
    const mods = (tn.typmods ?? []) as Node[];
    if (t === 'numeric' && mods.length > 0) {
      const p = Number(mods[0]?.A_Const?.ival?.ival ?? 0);
      const s = Number(mods[1]?.A_Const?.ival?.ival ?? 0);
      typed.typmod = ((p << 16) | s) + 4;
    } else if (t === 'numeric' && !tn.arrayBounds) {
      // Unconstrained numeric keeps the value's own scale: integers 0, a literal as written,
      // a numeric as it is (DuckDB's DECIMAL would be DECIMAL(18,3)).
      if (arg.t === 'numeric') return { ...arg, node: arg.node };
      const n = toNumeric(arg);
      if (n) typed.node = n;
    }
    if (arg.textNum && INT_TYPES.has(t)) typed.node = coerce(arg, t);
    if (arg.textNum && t === 'numeric[]' && !mods.length) return { ...arg, t };
    if (t === 'bytea' && (TEXT_TYPES.has(arg.t) || arg.strLit)) typed.node = fn('pg_text_bytea', [arg.node]);
    if (t === 'jsonb') typed.node = castNode(arg.node, 'json');
    if (t === 'jsonb[]' || t === 'json[]')
      typed.node = { TypeCast: { arg: arg.node, typeName: { names: [str('json')], typemod: -1, arrayBounds: [intConst(-1)] } } };
    if (t === 'interval' && arg.strLit && !mods.length) {
      const text = String(arg.node.A_Const?.sval?.sval ?? '');
      typed.node = intervalLiteral(text) ?? typed.node;
      // PostgreSQL reads a literal at parse analysis: bad input fails whatever the rows.
      if (typed.node === node) throw new StratumError(SqlState.invalidDatetimeFormat, `invalid input syntax for type interval: "${text}"`);
    }
    // varchar(n) truncates on an explicit cast, char(n) truncates and pads (the length is not enforced by DuckDB).
    const len = Number(mods[0]?.A_Const?.ival?.ival ?? 0);
    if (t === 'varchar' && len > 0) typed.node = fn('left', [castNode(arg.node, 'varchar'), intConst(len)]);
    if (t === 'char' && len > 0)
      typed.node = fn('rpad', [fn('left', [castNode(arg.node, 'varchar'), intConst(len)]), intConst(len), textConst(' ')]);
    // float → integer casts round half to even in PostgreSQL (rint); DuckDB's round half away.
    if (INT_TYPES.has(t) && FLOAT_TYPES.has(arg.t))
      typed.node = castTyped({ node: fn('round_even', [arg.node, intConst(0)]), t: 'double' }, t);
    // boolean → text is 'true'/'false' in both; float → text is float8out's shortest form.
    if (TEXT_TYPES.has(t) && (FLOAT_TYPES.has(arg.t) || arg.t === 'interval')) typed.node = textOf(arg, arg.node);
    return typed;
  }

  private aExpr(v: Node, scope: Scope): Typed {
    const kind = String(v.kind);
    if (kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') {
      // x op ANY (array): NULL for a NULL array (DuckDB answers false / true).
      const out = this.generic({ A_Expr: v }, scope);
      const arr = out.A_Expr.rexpr as Node;
      if (arr.SubLink) return { node: out, t: 'boolean' };
      return {
        node: {
          CaseExpr: {
            args: [{ CaseWhen: { expr: { NullTest: { arg: arr, nulltesttype: 'IS_NULL' } }, result: { A_Const: { isnull: true } } } }],
            defresult: out,
          },
        },
        t: 'boolean',
      };
    }
    if ((kind === 'AEXPR_IN' || kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN') && v.rexpr?.List) {
      const ordered = this.orderedList(v, scope);
      if (ordered) return { node: ordered, t: 'boolean' };
    }
    if (kind !== 'AEXPR_OP') {
      const out = this.generic({ A_Expr: v }, scope);
      const t: ResultType = kind === 'AEXPR_NULLIF' ? this.expr(v.lexpr as Node, scope).t : 'boolean';
      return { node: out, t };
    }
    const op = opName(v);
    const l = v.lexpr ? this.expr(v.lexpr as Node, scope) : undefined;
    const r = this.expr(v.rexpr as Node, scope);
    const args = l ? [l, r] : [r];
    const types = args.map((a) => a.t);
    const keep: Typed = { node: { A_Expr: { ...v, ...(l ? { lexpr: l.node } : {}), rexpr: r.node } }, t: 'unknown' };
    // A parameter compared with a text numeric is a numeric (PostgreSQL infers its type so): by key.
    if (l && COMPARISON_OPS.has(op) && args.some((a) => a.textNum && a.t === 'numeric') && args.some((a) => a.node.ParamRef))
      return { node: { A_Expr: { ...v, lexpr: numKey(numText(l)), rexpr: numKey(numText(r)) } }, t: 'boolean' };
    // An untyped parameter resolves like an unknown literal (PostgreSQL types `$1 + 99` as integer).
    if (args.some((a) => a.t === 'unknown' && !argIsLiteral(a) && !isUntypedParam(a))) return keep;
    const sig = resolveOperatorDetail(op, types, false);
    if (typeof sig === 'string') {
      if (sig === 'none' && types.every((t) => t !== 'unknown')) {
        const shown = types.map((t) => displayName(t));
        throw new StratumError(
          SqlState.undefinedFunction,
          `operator does not exist: ${l ? `${shown[0]} ${op} ${shown[1]}` : `${op} ${shown[0]}`}`,
          { hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.' },
        );
      }
      return keep;
    }
    const nodes = args.map((a, i) => {
      const want = sig.args[i] ?? 'unknown';
      // DuckDB cannot type a parameter from an arithmetic operator: cast it to the operand type PostgreSQL chose.
      if (isUntypedParam(a) && want !== 'unknown' && want !== 'numeric' && duckTypeOf(want)) return castTyped(a, want);
      return coerce(a, want);
    });
    const [a0, a1] = sig.args;
    if (l && COMPARISON_OPS.has(op)) {
      // numeric_cmp of text numerics: by their numeric-order keys (exact at any precision).
      if (a0 === 'numeric' && a1 === 'numeric' && args.some((a) => a.textNum))
        return { node: { A_Expr: { ...v, lexpr: numKey(numText(l)), rexpr: numKey(numText(r)) } }, t: 'boolean' };
      // bpchareq, bpcharlt, …: trailing spaces do not count (bpcharcmp compares the trimmed strings).
      if (a0 === 'char' && a1 === 'char')
        return { node: { A_Expr: { ...v, lexpr: fn('rtrim', [nodes[0] as Node]), rexpr: fn('rtrim', [nodes[1] as Node]) } }, t: 'boolean' };
    }
    const special = this.operator(op, nodes, sig, args);
    const scaled = a0 === 'numeric' && sig.t === 'numeric' && args.some((a) => a.textNum || a.scale);
    if (special) {
      if (scaled && special.div)
        special.divScales = [scaleOf(args[0] as Typed, nodes[0] as Node), scaleOf(args[1] as Typed, nodes[1] as Node)];
      else if (scaled) {
        const scale = resultScale(op, args, nodes);
        if (scale) special.scale = scale;
      }
      return special;
    }
    const node: Node = { A_Expr: { ...v, ...(l ? { lexpr: nodes[0] } : {}), rexpr: nodes[nodes.length - 1] } };
    const out: Typed = { node, t: sig.t };
    const scale = scaled ? resultScale(op, args, nodes) : undefined;
    if (scale) out.scale = scale;
    return out;
  }

  /**
   * `x [NOT] IN (list)` and `x [NOT] BETWEEN a AND b` over text numerics (by numeric-order keys)
   * or char(n) values (trailing spaces trimmed); undefined for other types (left to DuckDB).
   */
  private orderedList(v: Node, scope: Scope): Node | undefined {
    const l = this.expr(v.lexpr as Node, scope);
    const items = ((v.rexpr.List.items ?? []) as Node[]).map((i) => this.expr(i, scope));
    const all = [l, ...items];
    let f: ((x: Typed) => Node) | undefined;
    if (
      all.some((x) => x.textNum && x.t === 'numeric') &&
      all.every((x) => x.t === 'numeric' || INT_TYPES.has(x.t) || argIsLiteral(x) || x.node.ParamRef)
    )
      f = (x) => numKey(numText(x));
    else if (all.some((x) => x.t === 'char') && all.every((x) => x.t === 'char' || argIsLiteral(x))) f = (x) => fn('rtrim', [x.node]);
    if (!f) return undefined;
    return { A_Expr: { ...v, lexpr: f(l), rexpr: { List: { items: items.map(f) } } } };
  }

  /** Operators whose DuckDB meaning differs (after the operands were cast to `sig.args`). */
  private operator(op: string, nodes: Node[], sig: Signature, args: Typed[]): Typed | undefined {
    const [a0, a1] = sig.args;
    if (nodes.length === 2 && (op === '/' || op === '%')) {
      const [x, y] = nodes as [Node, Node];
      if (INT_TYPES.has(a0 as ResultType) && INT_TYPES.has(a1 as ResultType))
        return { node: fn(op === '/' ? 'pg_idiv' : 'pg_imod', [x, y]), t: sig.t };
      if (a0 === 'numeric' && a1 === 'numeric') {
        return op === '/' ? { node: fn('pg_ndiv', [x, y]), t: sig.t, div: [x, y] } : { node: fn('pg_nmod', [x, y]), t: sig.t };
      }
      if (op === '/' && FLOAT_TYPES.has(a0 as ResultType) && FLOAT_TYPES.has(a1 as ResultType))
        return { node: fn('pg_fdiv', [x, y]), t: sig.t };
      if (op === '/' && a0 === 'interval') return { node: fn('pg_ivdiv', [x, y]), t: sig.t };
    }
    if (REGEX_OPS[op] && sig.t === 'boolean' && nodes.length === 2 && TEXT_TYPES.has(a0 as ResultType)) {
      // PostgreSQL's ~ finds a match anywhere; DuckDB's ~ must match the whole string.
      const [negate, flags] = REGEX_OPS[op] as [boolean, string];
      const call = fn('regexp_matches', flags ? [...nodes, textConst(flags)] : nodes);
      return { node: negate ? { BoolExpr: { boolop: 'NOT_EXPR', args: [call] } } : call, t: 'boolean' };
    }
    if (op === '||' && nodes.length === 2 && (isArrayType(a0 as ResultType) || isArrayType(a1 as ResultType))) {
      // array || element, element || array, array || array (array_append / array_prepend / array_cat).
      const name =
        isArrayType(a0 as ResultType) && isArrayType(a1 as ResultType)
          ? 'pg_array_cat'
          : isArrayType(a0 as ResultType)
            ? 'list_append'
            : 'list_prepend';
      return { node: fn(name, nodes), t: sig.t };
    }
    if (a0 === 'jsonb' && nodes.length === 2) {
      const [j, k] = nodes as [Node, Node];
      switch (op) {
        case '?':
          return { node: fn('pg_jsonb_exists', [j, k]), t: sig.t };
        case '||':
          return { node: fn('pg_jsonb_concat', [j, k]), t: sig.t };
        case '-':
          return a1 === 'text' ? { node: fn('pg_jsonb_delete', [j, k]), t: sig.t } : undefined;
        case '?|':
          return { node: fn('pg_jsonb_exists_any', [j, k]), t: sig.t };
        case '?&':
          return { node: fn('pg_jsonb_exists_all', [j, k]), t: sig.t };
        case '@>':
          return { node: fn('json_contains', [j, k]), t: sig.t };
        case '<@':
          return { node: fn('json_contains', [k, j]), t: sig.t };
        case '#>':
        case '#>>': {
          const path = jsonPath(k);
          if (!path) return undefined;
          return { node: fn(op === '#>' ? 'json_extract' : 'json_extract_string', [j, textConst(path)]), t: sig.t };
        }
      }
    }
    if (op === '-' && a0 === 'date' && a1 === 'date') {
      return { node: castNode({ A_Expr: { kind: 'AEXPR_OP', name: [str('-')], lexpr: nodes[0], rexpr: nodes[1] } }, 'integer'), t: sig.t };
    }
    if (op === '*' && a0 === 'numeric' && a1 === 'numeric' && nodes.length === 2) {
      // DuckDB multiplies DECIMALs of precision ≤ 18 in 64 bits and overflows where numeric does not.
      return { node: fn('pg_nmul', nodes), t: sig.t };
    }
    if (op === '||' && sig.t === 'text' && nodes.length === 2) {
      // anytextcat/textanycat cast the non-text side to text (coerce did); DuckDB types `x || NULL` as INTEGER.
      // A numeric's text is its own (a text numeric's, or one with a display scale of its own).
      const side = (i: number): Node => {
        const a = args[i] as Typed;
        return a.t === 'numeric' && (a.textNum || a.scale) ? numText(a) : (nodes[i] as Node);
      };
      return {
        node: castNode({ A_Expr: { kind: 'AEXPR_OP', name: [str('||')], lexpr: side(0), rexpr: side(1) } }, 'varchar'),
        t: 'text',
      };
    }
    return undefined;
  }

  /**
   * format() with a constant format string (PostgreSQL 15 §9.4.1): %s (the output text, NULL as
   * ''), %I (quote_ident), %L (quote_literal, NULL as NULL), %% and `n$` positions, as a concat.
   * Widths and non-constant formats are left to DuckDB (known difference).
   */
  private format(nodes: Node[], args: Typed[], t: ResultType): Typed | undefined {
    const f = constText(nodes[0]);
    if (f === undefined) return undefined;
    const parts: Node[] = [];
    let lit = '';
    let next = 1;
    for (let i = 0; i < f.length; i++) {
      const c = f[i];
      if (c !== '%') {
        lit += c;
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

  /** make_interval(years, months, weeks, days, hours, mins, secs), positional or named (PostgreSQL 15 §9.9). */
  private makeInterval(v: Node, scope: Scope): Typed | undefined {
    const names = ['years', 'months', 'weeks', 'days', 'hours', 'mins', 'secs'];
    const given = new Map<string, Node>();
    for (const [i, a] of ((v.args ?? []) as Node[]).entries()) {
      if (a.NamedArgExpr) given.set(String(a.NamedArgExpr.name), this.expr(a.NamedArgExpr.arg as Node, scope).node);
      else if (names[i]) given.set(names[i] as string, this.expr(a, scope).node);
      else return undefined;
    }
    if ([...given.keys()].some((k) => !names.includes(k))) return undefined;
    const get = (k: string): Node => given.get(k) ?? intConst(0);
    const op = (o: string, l: Node, r: Node): Node => ({ A_Expr: { kind: 'AEXPR_OP', name: [str(o)], lexpr: l, rexpr: r } });
    const months = op('+', op('*', castNode(get('years'), 'integer'), intConst(12)), castNode(get('months'), 'integer'));
    const days = op('+', op('*', castNode(get('weeks'), 'integer'), intConst(7)), castNode(get('days'), 'integer'));
    const us = op(
      '+',
      op(
        '+',
        op('*', castNode(get('hours'), 'bigint'), castNode(intConst(3600000), 'bigint')),
        op('*', castNode(get('mins'), 'bigint'), castNode(intConst(60000), 'bigint')),
      ),
      castNode(fn('round', [op('*', castNode(get('secs'), 'double'), castNode(intConst(1000), 'double'))]), 'bigint'),
    );
    return { node: fn('pg__iv', [months, days, op('*', us, castNode(intConst(1000), 'bigint'))]), t: 'interval' };
  }

  /**
   * extract(field FROM x): numeric in PostgreSQL 15 — seconds with 6 decimals, milliseconds with
   * 3, epoch of a timestamp or interval with 6, other fields integral.
   */
  private extract(nodes: Node[], sig: Signature, t: ResultType): Typed | undefined {
    const field = constText(nodes[0])?.toLowerCase();
    const x = nodes[1] as Node;
    const src = sig.args[1];
    if (!field) return undefined;
    if (!EXTRACT_FIELDS.has(field))
      throw new StratumError('22023', `unit "${field}" not recognized for type ${displayName(src ?? 'timestamp')}`);
    const us = fn('date_part', [textConst('microsecond'), x]);
    const scaled = (v: Node, scale: number): Node => castNode(fn('pg__scaled', [v, intConst(scale)]), 'decimal', [38, scale]);
    switch (field) {
      case 'second':
        return src === 'date' ? undefined : { node: scaled(us, 6), t };
      case 'millisecond':
      case 'milliseconds':
        return src === 'date' ? undefined : { node: scaled(us, 3), t };
      case 'epoch':
        if (src === 'date') return { node: castNode(fn('epoch', [castNode(x, 'timestamp')]), 'decimal', [38, 0]), t };
        if (src === 'interval') return { node: scaled(fn('pg__interval_us', [x]), 6), t };
        return { node: scaled(fn('epoch_us', [x]), 6), t };
      case 'julian':
        return src === 'date' ? { node: castNode(fn('date_part', [textConst('julian'), x]), 'decimal', [38, 0]), t } : undefined;
      default:
        return { node: castNode(fn('date_part', [textConst(field), x]), 'decimal', [38, 0]), t };
    }
  }

  /** to_char(timestamp | date | interval | number, constant template): see {@link toCharTimestamp} and {@link toCharNumber}. */
  private toChar(nodes: Node[], args: Typed[], sig: Signature, t: ResultType): Typed | undefined {
    const f = constText(nodes[1]);
    if (f === undefined) return undefined;
    const a0 = sig.args[0];
    const x = nodes[0] as Node;
    if (a0 === 'timestamp' || a0 === 'timestamptz') {
      const node = toCharTimestamp(x, f);
      return node ? { node, t } : undefined;
    }
    if (a0 && (INT_TYPES.has(a0) || a0 === 'numeric' || FLOAT_TYPES.has(a0))) {
      const node = toCharNumber(x, f, args[0]?.t === 'unknown' ? a0 : (args[0]?.t ?? a0));
      return node ? { node, t } : undefined;
    }
    return undefined;
  }

  private caseExpr(v: Node, scope: Scope): Typed {
    const arg = v.arg ? this.expr(v.arg as Node, scope) : undefined;
    const whens = ((v.args ?? []) as Node[]).map((w) => {
      const cw = w.CaseWhen as Node;
      return { cw, expr: this.expr(cw.expr as Node, scope), result: this.expr(cw.result as Node, scope) };
    });
    const def = v.defresult ? this.expr(v.defresult as Node, scope) : undefined;
    const results = [...whens.map((w) => w.result), ...(def ? [def] : [])];
    const t = common(
      results.map((r) => r.t),
      'CASE',
    );
    // A CASE with a text numeric result gives every result as numeric text (each value's own text).
    const textual = t === 'numeric' && results.some((r) => r.textNum);
    const fix = (x: Typed): Node =>
      textual ? numText(x) : t !== 'unknown' && t !== 'numeric' && (x.t !== t || x.numLit) ? coerce(x, t) : x.node;
    const node: Node = {
      CaseExpr: {
        ...v,
        ...(arg ? { arg: arg.node } : {}),
        args: whens.map((w) => ({ CaseWhen: { ...w.cw, expr: w.expr.node, result: fix(w.result) } })),
        ...(def ? { defresult: fix(def) } : {}),
      },
    };
    return textual ? { node, t, textNum: true } : { node, t };
  }

  private subLink(v: Node, scope: Scope): Typed {
    const kind = String(v.subLinkType);
    const sub = this.select(v.subselect.SelectStmt as Node, scope, scope.ctes);
    const out: Node = { ...v, subselect: sub.node };
    if (v.testexpr) out.testexpr = this.expr(v.testexpr as Node, scope).node;
    const first = sub.cols[0]?.t ?? 'unknown';
    const t: ResultType =
      kind === 'EXPR_SUBLINK'
        ? first
        : kind === 'ARRAY_SUBLINK'
          ? first === 'unknown' || isArrayType(first)
            ? 'unknown'
            : (`${first}[]` as SqlType)
          : 'boolean';
    return kind === 'EXPR_SUBLINK' && sub.cols[0]?.textNum ? { node: { SubLink: out }, t, textNum: true } : { node: { SubLink: out }, t };
  }

  /** A function call (`inFrom`: a FROM-clause function). */
  call(v: Node, scope: Scope, inFrom: boolean): Typed {
    const name = funcName(v);
    if (name === 'make_interval') {
      const made = this.makeInterval(v, scope);
      if (made) return made;
    }
    const args = ((v.args ?? []) as Node[]).map((a) => this.expr(a, scope));
    const base: Node = { ...v };
    if (v.args) base.args = args.map((a) => a.node);
    if (v.agg_filter) base.agg_filter = this.expr(v.agg_filter as Node, scope).node;
    if (v.agg_order) base.agg_order = this.genericValue(v.agg_order, scope);
    if (v.over) base.over = this.genericValue(v.over, scope);
    if (RENAMED[name]) base.funcname = [str(RENAMED[name])];
    const keep: Typed = { node: { FuncCall: base }, t: 'unknown' };
    if (v.func_variadic || v.agg_within_group || name.includes('.')) return keep;
    if (args.some((a) => a.t === 'unknown' && !a.strLit && !isNullConst(a.node))) return keep;
    const sig = v.agg_star
      ? resolveFunctionDetail(name, [], false, false)
      : resolveFunctionDetail(
          name,
          args.map((a) => a.t),
          false,
          false,
        );
    if (sig === 'none' && functionKind(name) !== undefined && args.every((a) => a.t !== 'unknown')) {
      throw new StratumError(
        SqlState.undefinedFunction,
        `function ${name}(${args.map((a) => displayName(a.t)).join(', ')}) does not exist`,
        {
          hint: 'No function matches the given name and argument types. You might need to add explicit type casts.',
        },
      );
    }
    if (typeof sig === 'string') return keep;
    const nodes = args.map((a, i) => coerce(a, sig.args[i] ?? 'unknown'));
    if (v.args) base.args = nodes;
    const special = this.func(name, base, nodes, args, sig, inFrom);
    if (special) return special;
    // DuckDB's result type may differ (length() is BIGINT, sign() TINYINT, ntile() BIGINT):
    // cast scalar and window results to PostgreSQL's type where that is lossless.
    if (sig.kind !== 'aggregate' && !sig.setReturning && !inFrom && RESULT_CAST.has(sig.t)) {
      return { node: castTyped({ node: { FuncCall: base }, t: sig.t }, sig.t), t: sig.t };
    }
    return { node: { FuncCall: base }, t: sig.t };
  }

  /** Functions whose DuckDB meaning differs (arguments already cast to `sig.args`). */
  private func(name: string, call: Node, nodes: Node[], args: Typed[], sig: Signature, inFrom: boolean): Typed | undefined {
    const a0 = sig.args[0];
    const t = sig.t;
    const withName = (n: string, extra: Node[] = nodes): Node => ({ FuncCall: { ...call, funcname: [str(n)], args: extra } });
    void inFrom;
    void args;
    switch (name) {
      case 'sum':
        if (a0 === 'interval') {
          // interval_pl adds months, days and µs separately (DuckDB has no sum(interval)).
          const part = (p: string): Node => withName('sum', [fn(p, [nodes[0] as Node])]);
          return { node: fn('pg__iv', [part('pg__ivm'), part('pg__ivd'), part('pg__ivus')]), t };
        }
        if (a0 === 'smallint' || a0 === 'integer') return { node: castNode({ FuncCall: call }, 'bigint'), t };
        if (a0 === 'bigint') return { node: castNode({ FuncCall: call }, 'decimal', [38, 0]), t };
        // numeric_sum of text numerics: the largest display scale of the values summed.
        if (a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale))
          return { node: { FuncCall: call }, t, scale: withName('max', [scaleOf(args[0], nodes[0] as Node)]) };
        if (a0 === 'real') return { node: castNode({ FuncCall: call }, 'real'), t };
        return undefined;
      case 'variance':
      case 'var_samp':
      case 'var_pop':
        if (a0 === 'smallint' || a0 === 'integer') {
          // numeric_var: (N·Σx² − (Σx)²) / (N·(N−1)) (or N² for var_pop), exact, with numeric_div's scale.
          const x = castNode(nodes[0] as Node, 'hugeint');
          const n = castNode(withName('count'), 'hugeint');
          const op = (o: string, l: Node, r: Node): Node => ({ A_Expr: { kind: 'AEXPR_OP', name: [str(o)], lexpr: l, rexpr: r } });
          const sx = withName('sum', [x]);
          const num = castNode(op('-', op('*', n, withName('sum', [op('*', x, x)])), op('*', sx, sx)), 'decimal', [38, 0]);
          const den = name === 'var_pop' ? op('*', n, n) : op('*', n, op('-', n, intConst(1)));
          return { node: fn('pg_var', [num, den]), t, div: [num, den], variance: true };
        }
        return undefined;
      case 'avg':
        if (a0 === 'interval') {
          const part = (p: string): Node => withName('sum', [fn(p, [nodes[0] as Node])]);
          return {
            node: fn('pg_ivdiv', [
              fn('pg__iv', [part('pg__ivm'), part('pg__ivd'), part('pg__ivus')]),
              castNode(withName('count'), 'double'),
            ]),
            t,
          };
        }
        if (a0 && (INT_TYPES.has(a0) || a0 === 'numeric')) {
          const sum = withName('sum');
          const count = withName('count');
          const dividend = a0 === 'numeric' ? sum : castNode(sum, 'decimal', [38, 0]);
          const out: Typed = { node: fn('pg_ndiv', [dividend, count]), t, div: [dividend, count] };
          if (a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale))
            out.divScales = [withName('max', [scaleOf(args[0], nodes[0] as Node)]), intConst(0)];
          return out;
        }
        return undefined;
      case 'min':
      case 'max':
        // The text of the smallest / largest value in numeric order (numeric_smaller / numeric_larger).
        if (a0 === 'numeric' && args[0]?.textNum) {
          const x = args[0].node;
          return { node: withName(name === 'min' ? 'arg_min' : 'arg_max', [x, numKey(x)]), t, textNum: true };
        }
        return undefined;
      case 'array_agg':
        // The values' own text, in a numeric[] of text numerics.
        return a0 === 'numeric' && args[0]?.textNum ? { node: withName('array_agg', [args[0].node]), t, textNum: true } : undefined;
      case 'abs':
        return a0 === 'numeric' && (args[0]?.textNum || args[0]?.scale)
          ? { node: { FuncCall: call }, t, scale: scaleOf(args[0], nodes[0] as Node) }
          : undefined;
      case 'mod':
        if (a0 && INT_TYPES.has(a0)) return { node: withName('pg_imod'), t };
        if (a0 === 'numeric') return { node: withName('pg_nmod'), t };
        return undefined;
      case 'div':
        return { node: withName('pg_ndivt'), t };
      case 'sign':
        // DuckDB's sign() is a TINYINT; PostgreSQL's has the argument's type.
        return a0 === 'numeric' ? { node: castNode({ FuncCall: call }, 'decimal', [1, 0]), t } : undefined;
      case 'trunc':
      case 'round': {
        if (name === 'round' && a0 === 'double' && nodes.length === 1)
          return { node: withName('round_even', [nodes[0] as Node, intConst(0)]), t };
        // round/trunc(numeric, s) have scale s (zeros appended); DuckDB keeps the argument's scale.
        const places = constInt(nodes[1]);
        if (a0 === 'numeric' && places !== undefined)
          return { node: castNode({ FuncCall: call }, 'decimal', [38, Math.max(0, places)]), t };
        return undefined;
      }
      case 'factorial':
        return { node: castNode(withName('factorial', [castNode(nodes[0] as Node, 'integer')]), 'decimal', [38, 0]), t };
      case 'length':
      case 'char_length':
      case 'character_length':
        // bpcharlen: trailing spaces of char(n) do not count; length(bytea) is its byte count.
        if (a0 === 'bytea') return { node: castNode(withName('octet_length'), 'integer'), t };
        return a0 === 'char' ? { node: castNode(fn('length', [fn('rtrim', [nodes[0] as Node])]), 'integer'), t } : undefined;
      case 'to_hex':
        return { node: fn('lower', [{ FuncCall: call }]), t };
      case 'octet_length':
        return a0 && TEXT_TYPES.has(a0) ? { node: castNode(withName('strlen'), 'integer'), t } : undefined;
      case 'bit_length':
        return a0 && TEXT_TYPES.has(a0)
          ? {
              node: castNode({ A_Expr: { kind: 'AEXPR_OP', name: [str('*')], lexpr: withName('strlen'), rexpr: intConst(8) } }, 'integer'),
              t,
            }
          : undefined;
      case 'substr':
      case 'substring':
        if (a0 && TEXT_TYPES.has(a0) && sig.args[1] === 'integer')
          return { node: withName(nodes.length === 3 ? 'pg_substr' : 'pg_substr2'), t };
        if (a0 && TEXT_TYPES.has(a0) && nodes.length === 2 && sig.args[1] === 'text') {
          // substring(text FROM pattern): the first parenthesized group's match, or the whole match.
          const groups = regexGroups(nodes[1]);
          if (groups === undefined) return undefined;
          return { node: fn('pg_substring_re', [nodes[0] as Node, nodes[1] as Node, intConst(groups > 0 ? 1 : 0)]), t };
        }
        return undefined;
      case 'split_part':
        return { node: withName('pg_split_part'), t };
      case 'lpad':
      case 'rpad':
        return { node: withName(`pg_${name}`, nodes.length === 2 ? [...nodes, textConst(' ')] : nodes), t };
      case 'initcap':
        return { node: withName('pg_initcap'), t };
      case 'upper':
        return { node: withName('pg_upper'), t };
      case 'btrim':
        return { node: withName('trim'), t };
      case 'overlay':
        return { node: withName('pg_overlay', nodes.length === 3 ? [...nodes, fn('length', [nodes[1] as Node])] : nodes), t };
      case 'quote_literal':
      case 'quote_nullable':
        return { node: withName(`pg_${name}`, [textOf(args[0] as Typed, nodes[0] as Node)]), t };
      case 'quote_ident':
        return { node: withName('pg_quote_ident'), t };
      case 'concat':
      case 'concat_ws':
        // The output function of each argument (boolean 't', float8out, interval_out).
        return {
          node: withName(
            name,
            nodes.map((x, i) => (name === 'concat_ws' && i === 0 ? x : outText(args[i] as Typed, x))),
          ),
          t,
        };
      case 'format':
        return this.format(nodes, args, t);
      case 'encode': {
        const how = constText(nodes[1]);
        if (how === 'hex') return { node: fn('lower', [fn('hex', [nodes[0] as Node])]), t };
        if (how === 'base64') return { node: fn('to_base64', [nodes[0] as Node]), t };
        return undefined;
      }
      case 'decode': {
        const how = constText(nodes[1]);
        if (how === 'hex') return { node: fn('unhex', [nodes[0] as Node]), t };
        if (how === 'base64') return { node: fn('from_base64', [nodes[0] as Node]), t };
        return undefined;
      }
      case 'regexp_matches': {
        // A set-returning function in PostgreSQL (text[] rows); DuckDB's regexp_matches is a boolean.
        const groups = regexGroups(nodes[1]);
        const flags = nodes.length === 3 ? constText(nodes[2]) : '';
        if (groups === undefined || groups > 9 || flags === undefined || !/^[gi]*$/.test(flags)) return undefined;
        const pattern = flags.includes('i')
          ? { A_Expr: { kind: 'AEXPR_OP', name: [str('||')], lexpr: textConst('(?i)'), rexpr: nodes[1] } }
          : (nodes[1] as Node);
        const list = fn(`${flags.includes('g') ? 'pg__rxall' : 'pg__rxfirst'}${groups}`, [nodes[0] as Node, pattern]);
        return { node: inFrom ? list : fn('unnest', [list]), t };
      }
      case 'to_number': {
        const f = constText(nodes[1]);
        if (f === undefined) return undefined;
        const dot = f.search(/[.D]/);
        const scale = dot < 0 ? 0 : (f.slice(dot + 1).match(/[09]/g) ?? []).length;
        const digits = fn('regexp_replace', [nodes[0] as Node, textConst('[^0-9.-]'), textConst(''), textConst('g')]);
        return { node: castNode(digits, 'decimal', [38, scale]), t };
      }
      case 'extract':
        return this.extract(nodes, sig, t);
      case 'date_trunc': {
        const unit = constText(nodes[0])?.toLowerCase();
        if (unit !== undefined && !TRUNC_UNITS.has(unit)) {
          throw new StratumError('22023', `unit "${unit}" not recognized for type ${displayName(sig.args[1] ?? 'timestamp')}`);
        }
        // PostgreSQL's centuries and millennia start at years 1, 101, …, 1001, 2001; DuckDB's at 0, 100, ….
        if ((unit === 'century' || unit === 'millennium') && sig.args[1] !== 'interval') {
          return { node: castTyped({ node: fn(`pg_trunc_${unit}`, [nodes[1] as Node]), t }, t), t };
        }
        return undefined;
      }
      case 'date_bin':
        return { node: castTyped({ node: withName('time_bucket'), t }, t), t };
      case 'every':
        return { node: withName('bool_and'), t };
      case 'array_to_string':
        return { node: withName(nodes.length === 3 ? 'pg_array_to_string3' : 'pg_array_to_string'), t };
      case 'generate_series':
        if (nodes.length >= 2 && INT_TYPES.has(a0 as ResultType)) {
          const list = castTyped({ node: { FuncCall: call }, t: `${t}[]` as SqlType }, `${t}[]` as SqlType);
          return { node: fn('unnest', [list]), t };
        }
        return inFrom ? undefined : { node: fn('unnest', [{ FuncCall: call }]), t };
      case 'unnest':
        return undefined;
      case 'to_char':
        return this.toChar(nodes, args, sig, t);
      case 'to_timestamp':
      case 'to_date': {
        if (nodes.length !== 2) return undefined;
        const f = constText(nodes[1]);
        const fmt = f === undefined ? undefined : strptimeFormat(f);
        if (fmt === undefined) return undefined;
        return { node: castTyped({ node: fn('strptime', [nodes[0] as Node, textConst(fmt)]), t }, t), t };
      }
      case 'chr':
        return { node: withName('pg_chr'), t };
      case 'cardinality':
        return { node: castNode(fn('len', nodes), 'integer'), t };
      case 'array_length':
      case 'array_upper':
        return constInt(nodes[1]) === 1 ? { node: fn('pg_array_length', [nodes[0] as Node]), t } : undefined;
      case 'array_lower':
        return constInt(nodes[1]) === 1 ? { node: fn('pg_array_lower', [nodes[0] as Node]), t } : undefined;
      case 'array_ndims':
        return { node: fn('pg_array_lower', nodes), t };
      case 'array_positions':
      case 'array_remove':
      case 'array_replace':
        return { node: withName(`pg_${name}`), t };
      case 'array_append':
        return { node: withName('list_append'), t };
      case 'array_prepend':
        return { node: withName('list_prepend'), t };
      case 'array_cat':
        return { node: withName('pg_array_cat'), t };
      case 'string_to_array':
        return { node: withName(nodes.length === 3 ? 'pg_string_to_array3' : 'pg_string_to_array'), t };
      case 'jsonb_typeof':
      case 'json_typeof':
        return { node: withName('pg_jsonb_typeof'), t };
      case 'jsonb_array_length':
      case 'json_array_length':
        return { node: castNode(withName('json_array_length'), 'integer'), t };
      case 'jsonb_build_object':
      case 'json_build_object':
        return {
          node: withName(
            'json_object',
            nodes.map((x, i) => (i % 2 === 0 ? castNode(x, 'varchar') : x)),
          ),
          t,
        };
      case 'jsonb_build_array':
      case 'json_build_array':
        return { node: withName('json_array'), t };
      case 'to_jsonb':
        return { node: withName('to_json'), t };
      case 'jsonb_agg':
      case 'json_agg':
        // An aggregate (ORDER BY, FILTER and DISTINCT apply), as DuckDB's json_group_array macro is not.
        return { node: fn('to_json', [withName('array_agg')]), t };
      case 'jsonb_object_agg':
      case 'json_object_agg':
        if (call.agg_order || call.agg_filter || call.agg_distinct || call.over) return undefined;
        return { node: withName('json_group_object', [castNode(nodes[0] as Node, 'varchar'), nodes[1] as Node]), t };
      case 'jsonb_each':
      case 'json_each':
        return inFrom ? { node: withName('json_each'), t } : undefined;
      case 'jsonb_object_keys':
      case 'json_object_keys':
        return inFrom ? undefined : { node: fn('unnest', [fn('json_keys', nodes)]), t };
      case 'jsonb_array_elements':
      case 'json_array_elements':
        return inFrom
          ? undefined
          : {
              node: fn('unnest', [
                { TypeCast: { arg: nodes[0], typeName: { names: [str('json')], typemod: -1, arrayBounds: [intConst(-1)] } } },
              ]),
              t,
            };
      case 'width_bucket':
        return nodes.length === 4 ? { node: withName('pg_width_bucket'), t } : undefined;
      default:
        return undefined;
    }
  }
}

const SVF_TYPES: Record<string, ResultType> = {
  SVFOP_CURRENT_DATE: 'date',
  SVFOP_CURRENT_TIMESTAMP: 'timestamptz',
  SVFOP_CURRENT_TIMESTAMP_N: 'timestamptz',
  SVFOP_LOCALTIMESTAMP: 'timestamp',
  SVFOP_LOCALTIMESTAMP_N: 'timestamp',
  SVFOP_LOCALTIME: 'time',
  SVFOP_LOCALTIME_N: 'time',
  SVFOP_CURRENT_ROLE: 'text',
  SVFOP_CURRENT_USER: 'text',
  SVFOP_USER: 'text',
  SVFOP_SESSION_USER: 'text',
  SVFOP_CURRENT_CATALOG: 'text',
  SVFOP_CURRENT_SCHEMA: 'text',
};

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;

function constType(n: PgNode, v: A_Const): Typed {
  if (v.isnull) return { node: n, t: 'unknown' };
  if (v.sval !== undefined) return { node: n, t: 'unknown', strLit: true };
  if (v.boolval !== undefined) return { node: n, t: 'boolean' };
  if (v.fval !== undefined) {
    const text = String(v.fval.fval ?? '');
    if (/^-?\d+$/.test(text)) {
      const b = BigInt(text);
      if (b >= -(2n ** 63n) && b < 2n ** 63n) return { node: n, t: 'bigint', numLit: true };
    }
    // A numeric literal with an exponent (1e3) is numeric in PostgreSQL, DOUBLE in DuckDB.
    if (/e/i.test(text)) {
      const plain = plainDecimal(text);
      const scale = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
      return { node: castNode({ A_Const: { ...v, fval: { fval: plain } } }, 'decimal', [38, scale]), t: 'numeric', numLit: true };
    }
    return { node: n, t: 'numeric', numLit: true };
  }
  if (v.bsval !== undefined) return { node: n, t: 'unknown' };
  const i = Number(v.ival?.ival ?? 0);
  return { node: n, t: i >= INT4_MIN && i <= INT4_MAX ? 'integer' : 'bigint', numLit: true };
}

/** `1.5e3` as `1500`, `1e-3` as `0.001` (numeric_in keeps the digits, scale max(0, digits − exponent)). */
function plainDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?e([+-]?\d+)$/i.exec(text);
  if (!m) return text;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  const exp = Number(m[4]);
  const digits = int + frac;
  let point = int.length + exp;
  let ds = digits;
  if (point < 0) {
    ds = '0'.repeat(-point) + ds;
    point = 0;
  }
  if (point > ds.length) ds += '0'.repeat(point - ds.length);
  const ip = ds.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const fp = ds.slice(point);
  return `${m[1] === '-' ? '-' : ''}${ip}${fp ? `.${fp}` : ''}`;
}

/** A FROM item whose relations' columns `*` lists in order (no USING, NATURAL or join alias merging them). */
function plainFrom(f: PgNode | undefined): boolean {
  if (nodeOf(f, 'RangeVar') || nodeOf(f, 'RangeSubselect')) return true;
  const j = nodeOf(f, 'JoinExpr');
  return !!j && !j.usingClause && !j.isNatural && !j.alias && plainFrom(j.larg) && plainFrom(j.rarg);
}

/** Cast the string literal at output position `i` of a leaf SELECT of a set operation to `t` (DuckDB would keep it text). */
function castLiteralColumn(sel: SelectStmt | undefined, i: number, t: ResultType): void {
  if (!sel) return;
  if (sel.op && sel.op !== 'SETOP_NONE') {
    castLiteralColumn(sel.larg, i, t);
    castLiteralColumn(sel.rarg, i, t);
    return;
  }
  const rt = nodeOf(sel.targetList?.[i], 'ResTarget');
  if (rt && nodeOf(rt.val, 'A_Const')?.sval !== undefined && duckTypeOf(t)) {
    rt.val = castTyped({ node: rt.val, t: 'unknown', strLit: true }, t);
  }
}

/** A JSONPath for DuckDB from a PostgreSQL text[] path constant ('{c,0,d}' → '$."c"[0]."d"'), or undefined. */
function jsonPath(n: PgNode | undefined): string | undefined {
  const text = constText(n);
  if (text === undefined || !/^\{.*\}$/s.test(text)) return undefined;
  const inner = text.slice(1, -1).trim();
  const keys = inner === '' ? [] : inner.split(',').map((k) => k.trim().replace(/^"(.*)"$/, '$1'));
  return `$${keys.map((k) => (/^-?\d+$/.test(k) ? `[${k}]` : `."${k.replace(/"/g, '\\"')}"`)).join('')}`;
}

/** The text of a string constant node (possibly cast), or undefined. */
function constText(n: PgNode | undefined): string | undefined {
  const cast = nodeOf(n, 'TypeCast');
  return cast ? constText(cast.arg) : constString(n);
}

/** Parenthesized capture groups of a constant regular expression, or undefined when not constant. */
function regexGroups(n: PgNode | undefined): number | undefined {
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

/** The value of an integer constant node (possibly cast), or undefined. */
function constInt(n: PgNode | undefined): number | undefined {
  const cast = nodeOf(n, 'TypeCast');
  if (cast) return constInt(cast.arg);
  const c = nodeOf(n, 'A_Const');
  if (c && !c.fval && !c.sval && !c.isnull && !c.boolval) return Number(c.ival?.ival ?? 0);
  return undefined;
}

function isNullConst(n: PgNode | undefined): boolean {
  return nodeOf(n, 'A_Const')?.isnull === true;
}

/** Whether `x` is a bare `$n` whose type nothing has fixed yet (DuckDB binds it from context, if at all). */
function isUntypedParam(x: Typed): boolean {
  return x.t === 'unknown' && nodeOf(x.node, 'ParamRef') !== undefined;
}

function argIsLiteral(x: Typed | undefined): boolean {
  return !!x && (x.strLit === true || isNullConst(x.node));
}

function common(types: ResultType[], what: string): ResultType {
  const known = types.filter((t) => t !== 'unknown');
  if (known.length === 0) return 'unknown';
  try {
    return commonType(known, what);
  } catch {
    return 'unknown';
  }
}

function displayName(t: ResultType): string {
  return t === 'double'
    ? 'double precision'
    : t === 'timestamptz'
      ? 'timestamp with time zone'
      : t === 'timestamp'
        ? 'timestamp without time zone'
        : t;
}

function renameCols(cols: Columns, colnames: PgNode[] | undefined): Columns {
  if (!colnames?.length) return cols;
  return cols.map((c, i) => (colnames[i] ? { ...c, name: strOf(colnames[i]) ?? c.name } : c));
}

// ---------------------------------------------------------------------------------------------
// Recursive CTEs (PostgreSQL 15 parse_cte.c checkWellFormedRecursion).

/** True when `tree` refers to relation `name` (an unqualified RangeVar). */
function refersTo(tree: Tree, name: string): boolean {
  return someNode(tree, (type, n) => type === 'RangeVar' && !n.schemaname && n.relname === name);
}

/** Contexts where a recursive self-reference is refused (parse_cte.c RecursionContext), with PostgreSQL's messages. */
const RECURSION_MESSAGES = {
  ok: '',
  nonrecursive: 'recursive reference to query "%s" must not appear within its non-recursive term',
  sublink: 'recursive reference to query "%s" must not appear within a subquery',
  outerjoin: 'recursive reference to query "%s" must not appear within an outer join',
  intersect: 'recursive reference to query "%s" must not appear within INTERSECT',
  except: 'recursive reference to query "%s" must not appear within EXCEPT',
} as const;

type RecursionContext = keyof typeof RECURSION_MESSAGES;

/** The walk of checkWellFormedRecursionWalker: the CTE's name, the inner WITH lists that shadow it, the context, the references seen. */
interface RecursionState {
  name: string;
  inner: string[][];
  context: RecursionContext;
  refs: number;
}

function recursionError(st: RecursionState, what: string): StratumError {
  return new StratumError('42P19', what.replace('%s', st.name));
}

/**
 * Refuse a recursive CTE the way PostgreSQL 15's parse analysis does (parse_cte.c
 * checkWellFormedRecursion): a self-referencing CTE must be `non-recursive-term UNION [ALL]
 * recursive-term`, the non-recursive term must not refer to it, and the recursive term must
 * refer to it exactly once, not within a subquery in an expression, the nullable side of an
 * outer join, INTERSECT ALL or EXCEPT; ORDER BY/LIMIT/OFFSET/FOR UPDATE on the UNION are not
 * implemented (0A000), and the recursive term may not aggregate (parse_agg.c).
 * @throws StratumError 42P19 (or 0A000) with PostgreSQL's message.
 */
function checkRecursion(cte: CommonTableExpr, name: string): void {
  const q = nodeOf(cte.ctequery, 'SelectStmt');
  if (!q || !refersTo(q, name)) return;
  const st: RecursionState = { name, inner: [], context: 'ok', refs: 0 };
  if (q.op !== 'SETOP_UNION') {
    throw recursionError(st, 'recursive query "%s" does not have the form non-recursive-term UNION [ALL] recursive-term');
  }
  st.context = 'nonrecursive';
  walkRecursion({ SelectStmt: q.larg }, st);
  st.context = 'ok';
  walkRecursion({ SelectStmt: q.rarg }, st);
  if (q.sortClause) throw new StratumError(SqlState.featureNotSupported, 'ORDER BY in a recursive query is not implemented');
  if (q.limitOffset) throw new StratumError(SqlState.featureNotSupported, 'OFFSET in a recursive query is not implemented');
  if (q.limitCount) throw new StratumError(SqlState.featureNotSupported, 'LIMIT in a recursive query is not implemented');
  if (q.lockingClause) throw new StratumError(SqlState.featureNotSupported, 'FOR UPDATE/SHARE in a recursive query is not implemented');
  if (selfReferencingAggregate(q.rarg, name)) {
    throw recursionError(st, "aggregate functions are not allowed in a recursive query's recursive term");
  }
}

function walkRecursion(tree: Tree, st: RecursionState): void {
  forEachNode(tree, (type, n) => {
    const save = st.context;
    switch (type) {
      case 'RangeVar':
        if (n.schemaname || st.inner.some((list) => list.includes(String(n.relname)))) return false;
        if (n.relname === st.name) {
          if (st.context !== 'ok') throw recursionError(st, RECURSION_MESSAGES[st.context]);
          if (++st.refs > 1) throw recursionError(st, 'recursive reference to query "%s" must not appear more than once');
        }
        return false;
      case 'SelectStmt': {
        const w = n.withClause;
        if (w) {
          const ctes = (w.ctes ?? []).map((c) => nodeOf(c, 'CommonTableExpr'));
          const names = ctes.map((c) => String(c?.ctename));
          if (w.recursive) {
            st.inner.unshift(names);
            for (const c of ctes) walkRecursion(c?.ctequery, st);
          } else {
            const visible: string[] = [];
            st.inner.unshift(visible);
            for (const [i, c] of ctes.entries()) {
              walkRecursion(c?.ctequery, st);
              visible.push(names[i] as string);
            }
          }
          checkSelectRecursion(n, st);
          st.inner.shift();
        } else checkSelectRecursion(n, st);
        return false;
      }
      case 'WithClause':
        return false;
      case 'JoinExpr': {
        const outer = (c: RecursionContext): RecursionContext => (c === 'ok' ? 'outerjoin' : c);
        switch (String(n.jointype ?? 'JOIN_INNER')) {
          case 'JOIN_LEFT':
            walkRecursion(n.larg, st);
            st.context = outer(save);
            walkRecursion(n.rarg, st);
            break;
          case 'JOIN_FULL':
            st.context = outer(save);
            walkRecursion(n.larg, st);
            walkRecursion(n.rarg, st);
            break;
          case 'JOIN_RIGHT':
            st.context = outer(save);
            walkRecursion(n.larg, st);
            st.context = save;
            walkRecursion(n.rarg, st);
            break;
          default:
            walkRecursion(n.larg, st);
            walkRecursion(n.rarg, st);
        }
        st.context = save;
        walkRecursion(n.quals, st);
        return false;
      }
      case 'SubLink':
        st.context = 'sublink';
        walkRecursion(n.subselect, st);
        st.context = save;
        walkRecursion(n.testexpr, st);
        return false;
      default:
        return undefined;
    }
  });
}

/** checkWellFormedSelectStmt: INTERSECT ALL and EXCEPT refuse the reference below them. */
function checkSelectRecursion(sel: SelectStmt, st: RecursionState): void {
  const save = st.context;
  const { withClause: _w, ...rest } = sel;
  if (save !== 'ok' || !sel.op || sel.op === 'SETOP_NONE' || sel.op === 'SETOP_UNION') {
    walkRecursion(rest, st);
    return;
  }
  if (sel.all) st.context = sel.op === 'SETOP_INTERSECT' ? 'intersect' : 'except';
  walkRecursion({ SelectStmt: sel.larg }, st);
  if (sel.op === 'SETOP_EXCEPT') st.context = 'except';
  walkRecursion({ SelectStmt: sel.rarg }, st);
  st.context = save;
  walkRecursion([sel.sortClause, sel.limitOffset, sel.limitCount, sel.lockingClause], st);
}

const AGGREGATES = new Set([
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'array_agg',
  'string_agg',
  'bool_and',
  'bool_or',
  'every',
  'stddev',
  'variance',
  'json_agg',
  'jsonb_agg',
]);

/** The SELECT of the recursive term that reads the CTE directly aggregates (parseCheckAggregates, hasSelfRefRTEs). */
function selfReferencingAggregate(sel: SelectStmt | undefined, name: string): boolean {
  if (!sel) return false;
  if (sel.op && sel.op !== 'SETOP_NONE') return selfReferencingAggregate(sel.larg, name) || selfReferencingAggregate(sel.rarg, name);
  const direct = (sel.fromClause ?? []).some((f) => fromReads(f, name));
  return direct && hasAggregate(sel);
}

function fromReads(f: PgNode | undefined, name: string): boolean {
  const rv = nodeOf(f, 'RangeVar');
  if (rv) return !rv.schemaname && rv.relname === name;
  const j = nodeOf(f, 'JoinExpr');
  if (j) return fromReads(j.larg, name) || fromReads(j.rarg, name);
  return false;
}

/** True when `n` calls an aggregate (outside subqueries). */
function hasAggregateCall(n: PgNode): boolean {
  return hasAggregate({ targetList: [n] });
}

/** True when the target list or HAVING of `sel` calls an aggregate (not looking into subqueries). */
function hasAggregate(sel: SelectStmt): boolean {
  let found = false;
  forEachNode([sel.targetList, sel.havingClause], (type, n) => {
    if (found || type === 'SelectStmt') return false;
    if (type === 'FuncCall' && !n.over && AGGREGATES.has(funcName(n))) {
      found = true;
      return false;
    }
    return undefined;
  });
  return found;
}

// ---------------------------------------------------------------------------------------------
// Entry point.

/**
 * The statement `stmt` (views already inlined) rewritten so DuckDB answers as PostgreSQL 15
 * would: a SELECT, or an expression a write runs in DuckDB over the tables `relations` (by alias;
 * only what can be typed — their columns, constants, subqueries — is rewritten).
 * @throws StratumError 42P19 for a recursive CTE PostgreSQL refuses; 42883 for an operator
 *   PostgreSQL does not have for the operands' types (e.g. `double precision % integer`).
 */
export function pgSemantics(stmt: PgNode, catalog: Catalog, relations: readonly { alias: string; table: string }[] = []): PgNode {
  const r = new Rewriter(catalog);
  const select = nodeOf(stmt, 'SelectStmt');
  if (!select) {
    const entries = relations.map((x) => ({ alias: x.alias, cols: r.tableColumns(x.table) }));
    return r.expr(stmt, { entries, outer: undefined, ctes: new Map() }).node;
  }
  return r.select(select, undefined, undefined, true).node;
}
