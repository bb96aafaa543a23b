/**
 * The catalog stage of the analytical rewrite (docs/architecture.md "System catalogs"): a
 * transformer over the statement's AST, before the PostgreSQL-semantics rewrite, that points
 * catalog names at what the router's DuckDB holds:
 *
 * - `pg_catalog.x`, `information_schema.x` and unqualified catalog relation names (PostgreSQL
 *   searches pg_catalog first) → the loaded relation (relations.ts `duckName`), aliased by the
 *   name as written so qualified column references still resolve;
 * - catalog functions (functions.ts) → the catalog schema's macros; `pg_catalog.f` → `f` (not
 *   the calls the parser made from SQL syntax);
 *   refused functions → 0A000 naming them;
 * - casts to `regclass`, `regtype`, `regproc`, `regprocedure`, `regnamespace`, `regrole`: a string
 *   constant becomes the object's oid (its name parsed as PostgreSQL's `regclassin` does:
 *   optional schema, quoted or case-folded; a catalog relation's is PostgreSQL's oid), any other
 *   value the object's name; `oid` casts are integer casts; a reg* constant compared with a
 *   regproc/regtype catalog column (stored as names) becomes the name PostgreSQL prints for it;
 * - int2vector/oidvector columns (stored as 1-based lists): subscripts and
 *   `array_lower`/`array_upper`/`generate_subscripts` as PostgreSQL's, from 0; as result columns
 *   of the outermost SELECT, printed space-separated (`typeOids` gives their type oids);
 * - `OPERATOR(pg_catalog.op)` → `op`; `COLLATE pg_catalog.default`, `"C"`, `"POSIX"` are dropped
 *   (Stratum compares text by code point);
 * - the FROM-clause function `pg_partition_ancestors(x)` → the relation itself (Stratum has no
 *   partitions).
 *
 * The result says which catalog relations the statement needs loaded.
 */
import type { FuncCall, JoinExpr, Node, TypeCast } from '@pgsql/types';
import { SqlState, StratumError } from '@stratum/shared';
import { constString, nodeOf, strOf } from '../analyze/ast.ts';
import { forEachNode, someNode, transformNodes } from '../analyze/walk.ts';
import { MACRO_FUNCTIONS, MACRO_RELATIONS, QUALIFYING_FUNCTIONS, REFUSED_FUNCTIONS } from './functions.ts';
import { PG15_RELATION_OIDS } from './pg15.generated.ts';
import { CATALOG_RELATIONS, CATALOG_SCHEMA, type CatalogRelation, catalogRelation, duckName, SESSION_PREFIX } from './relations.ts';

/** A statement after the catalog stage, with the catalog relations it reads (`schema.name` keys). */
export interface CatalogRewrite {
  stmt: Node;
  /** Relations to load before it runs (read directly or through a macro). */
  relations: Set<string>;
  /** It reads the catalog (relations or functions): it must run on the router's DuckDB. */
  catalog: boolean;
  /**
   * Result columns whose PostgreSQL type has no Stratum type (int2vector, oidvector: printed as
   * text here), by position: the type oid RowDescription reports. Unset when there are none.
   */
  typeOids?: (number | undefined)[];
}

/** Session facts the catalog stage prints by. */
export interface CatalogRewriteOptions {
  /** The session's search_path does not show public (pg_dump empties it): definitions name `public.t`. */
  qualify?: boolean;
}

const REG_TYPES: Record<string, string> = {
  regclass: 'regclass',
  regtype: 'regtype',
  regproc: 'regproc',
  regprocedure: 'regproc',
  regnamespace: 'regnamespace',
  regrole: 'regrole',
};

/** Catalog relations the helper tables stand in for (loaded with every catalog statement). */
const ALWAYS = ['stratum.stratum_defs', 'stratum.stratum_format'];

/** Arguments of catalog functions that PostgreSQL types as regclass/oid (a string constant there is an object name or oid). */
const REGCLASS_ARGS: Record<string, number[]> = {
  pg_partition_ancestors: [0],
  pg_relation_is_publishable: [0],
  pg_table_is_visible: [0],
  obj_description: [0],
  col_description: [0],
  pg_get_indexdef: [0],
  pg_get_constraintdef: [],
  pg_get_viewdef: [0],
  has_table_privilege: [],
};

/**
 * Parse a relation name as `regclassin` does: `a.b`, `"Quoted"`, unquoted folded to lower case;
 * the schema (pg_catalog or public) is dropped.
 */
export function parseObjectName(s: string): string {
  const parts = parseNameParts(s);
  return parts[parts.length - 1] ?? '';
}

/**
 * The dot-separated parts of a name as `regclassin` reads them: `"Quoted"` parts kept as
 * written (`""` → `"`), unquoted parts folded to lower case. `public.t` → ['public', 't'].
 */
export function parseNameParts(s: string): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === '"') {
      let j = i + 1;
      let out = '';
      while (j < s.length) {
        if (s[j] === '"' && s[j + 1] === '"') {
          out += '"';
          j += 2;
        } else if (s[j] === '"') break;
        else out += s[j++];
      }
      parts.push(out);
      i = j + 1;
    } else {
      let j = i;
      while (j < s.length && s[j] !== '.') j++;
      parts.push(s.slice(i, j).trim().toLowerCase());
      i = j;
    }
    if (s[i] === '.') i++;
  }
  return parts;
}

function funcNames(f: FuncCall): string[] {
  return (f.funcname ?? []).map((n) => strOf(n) ?? '');
}

function str(s: string): Node {
  return { String: { sval: s } };
}

function macroCall(name: string, args: Node[]): Node {
  return { FuncCall: { funcname: [str(CATALOG_SCHEMA), str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

function textConst(s: string): Node {
  return { A_Const: { sval: { sval: s } } };
}

/** A string constant `s` in a reg* cast: the oid (digits) as an integer constant, or the macro call on the parsed name. */
function regConstant(reg: string, s: string, need: Set<string>): Node {
  if (/^\s*\d+\s*$/.test(s)) return { A_Const: { ival: { ival: Number(s.trim()) } } };
  if (reg === 'regclass') {
    // A catalog relation (`pg_class`, `pg_catalog.pg_class`): PostgreSQL 15's oid, as pg_catalog is searched first.
    const parts = parseNameParts(s);
    const schema = parts.length === 2 ? parts[0] : parts.length === 1 ? 'pg_catalog' : undefined;
    const oid =
      schema === 'pg_catalog' || schema === 'information_schema' ? PG15_RELATION_OIDS[`${schema}.${parts[parts.length - 1]}`] : undefined;
    if (oid !== undefined) return { A_Const: { ival: { ival: oid } } };
  }
  for (const r of MACRO_RELATIONS[`${reg}_in`] ?? []) need.add(r);
  const name =
    reg === 'regtype'
      ? s
          .trim()
          .toLowerCase()
          .replace(/^pg_catalog\./, '')
      : parseObjectName(s);
  return macroCall(`${reg}_in`, [textConst(name)]);
}

/**
 * The catalog stage over `stmt`. `ctes`: CTE names (they shadow unqualified catalog names only
 * when PostgreSQL would: never for pg_catalog relations, which are searched first — but a CTE
 * is in scope before any schema, so a CTE named like a catalog relation wins).
 * @throws StratumError 0A000 naming a refused relation or function; 42P01 for an unknown
 *   pg_catalog/information_schema relation.
 */
export function rewriteCatalog(stmt: Node, ctes: ReadonlySet<string>, opts: CatalogRewriteOptions = {}): CatalogRewrite {
  const need = new Set<string>();
  // Most statements (every user query) name nothing of the catalog: one walk decides, the stage's
  // analyses below walk the tree several times.
  if (!namesCatalog(stmt, ctes)) return { stmt, relations: need, catalog: false };
  let catalog = false;
  const tableOids = catalogTableOids(stmt, ctes);
  const vectors = vectorNames(stmt);
  const isVector = (x: Node | undefined): boolean => {
    const f = nodeOf(x, 'ColumnRef')?.fields;
    return f !== undefined && vectors.has(strOf(f[f.length - 1]) ?? '');
  };
  const regprocColumn = regprocColumns(stmt, ctes);
  const rw = (tree: Node): Node =>
    transformNodes(tree, (type, n) => {
      switch (type) {
        case 'ResTarget': {
          // `'orders'::regclass` as an output column prints the name (the constant is an oid elsewhere).
          const cast = nodeOf(n.val, 'TypeCast');
          const tn = (cast?.typeName?.names ?? []).map((x) => strOf(x) ?? '');
          const reg = REG_TYPES[tn[tn.length - 1] ?? ''];
          const s = cast && !cast.typeName?.arrayBounds ? constString(cast.arg) : undefined;
          if (!reg || s === undefined) return undefined;
          catalog = true;
          for (const r of MACRO_RELATIONS[`${reg}_out`] ?? []) need.add(r);
          return { ResTarget: { ...n, val: macroCall(`${reg}_out`, [regConstant(reg, s, need)]) } };
        }
        case 'JoinExpr': {
          const lateral = lateralOuterJoin(n, ctes);
          return lateral === undefined ? undefined : rw(lateral);
        }
        case 'ColumnRef': {
          // The system column `tableoid` of a catalog row: the pg_class oid of its catalog relation.
          const f = (n.fields ?? []).map((x) => strOf(x));
          if (f[f.length - 1] !== 'tableoid' || f.length > 2) return undefined;
          const oid = f.length === 2 ? tableOids.byAlias.get(f[0] ?? '') : tableOids.only;
          return oid === undefined ? undefined : { A_Const: { ival: { ival: oid } } };
        }
        case 'RangeVar': {
          const name = n.relname ?? '';
          if (!n.schemaname && ctes.has(name)) return undefined;
          const rel: CatalogRelation | undefined = catalogRelation(n.schemaname, name);
          if (!rel) return undefined;
          catalog = true;
          need.add(`${rel.schema}.${rel.name}`);
          const alias = n.alias ?? { aliasname: name };
          return rel.scope === 'session'
            ? { RangeVar: { relname: `${SESSION_PREFIX}${duckName(rel)}`, inh: true, relpersistence: 'p', alias } }
            : { RangeVar: { schemaname: CATALOG_SCHEMA, relname: duckName(rel), inh: true, relpersistence: 'p', alias } };
        }
        case 'FuncCall': {
          const names = funcNames(n);
          const last = names[names.length - 1] ?? '';
          if (isExpandArray(n)) {
            catalog = true;
            return macroCall(
              '_pg_expandarray',
              (n.args ?? []).map((a) => rw(a)),
            );
          }
          if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return undefined;
          if (VECTOR_BOUNDS.has(last) && isVector(n.args?.[0])) {
            // Bounds and subscripts of an int2vector/oidvector start at 0 (the stored list's at 1).
            catalog = true;
            const bound = macroCall(
              last,
              (n.args ?? []).map((a) => rw(a)),
            );
            return { A_Expr: { kind: 'AEXPR_OP', name: [str('-')], lexpr: bound, rexpr: { A_Const: { ival: { ival: 1 } } } } };
          }
          if (isFirstDimensionBound(n)) {
            const args = (n.args ?? []).map((a) => rw(a));
            return { FuncCall: { ...n, funcname: [str(last)], args } };
          }
          if (REFUSED_FUNCTIONS.has(last)) {
            throw new StratumError(SqlState.featureNotSupported, `function ${last}() is not supported by Stratum's system catalogs`, {
              hint: 'See docs/sql.md "System catalogs" for the catalog functions Stratum answers.',
            });
          }
          const args = (n.args ?? []).map((a, i) => {
            const s = constString(a);
            if (s !== undefined && REGCLASS_ARGS[last]?.includes(i)) return regConstant('regclass', s, need);
            return rw(a);
          });
          if (MACRO_FUNCTIONS.has(last)) {
            catalog = true;
            for (const r of MACRO_RELATIONS[last] ?? []) need.add(r);
            const macro = opts.qualify && QUALIFYING_FUNCTIONS.has(last) ? `${last}_q` : last;
            return { FuncCall: { ...n, funcname: [str(CATALOG_SCHEMA), str(macro)], ...(n.args ? { args } : {}) } };
          }
          // `pg_catalog.f(…)` → `f(…)` (DuckDB would read `pg_catalog.f` as a method call on a column), except
          // calls the parser made from SQL syntax (EXTRACT, …, and SIMILAR TO's similar_to_escape): the deparser
          // prints those back as syntax.
          if (names.length === 2 && n.funcformat !== 'COERCE_SQL_SYNTAX' && last !== 'similar_to_escape') {
            return { FuncCall: { ...n, funcname: [str(last)], ...(n.args ? { args } : {}) } };
          }
          return undefined;
        }
        case 'TypeCast': {
          const tn = (n.typeName?.names ?? []).map((x) => strOf(x) ?? '');
          const last = tn[tn.length - 1] ?? '';
          const reg = REG_TYPES[last];
          const stored = n.arg && regprocColumn(n.arg) && !n.typeName?.arrayBounds && tn.length <= 2;
          // A regproc column holds the function's name: `::regproc` is the column, `::oid` its oid.
          if (stored && (last === 'regproc' || last === 'text')) return rw(n.arg as Node);
          if (stored && (last === 'oid' || last === 'int8' || last === 'int4')) {
            catalog = true;
            for (const r of MACRO_RELATIONS.regproc_oid ?? []) need.add(r);
            return macroCall('regproc_oid', [rw(n.arg as Node)]);
          }
          if (reg && !n.typeName?.arrayBounds) {
            catalog = true;
            const s = constString(n.arg);
            if (s !== undefined) return regConstant(reg, s, need);
            for (const r of MACRO_RELATIONS[`${reg}_out`] ?? []) need.add(r);
            // A name computed at run time (`pg_get_serial_sequence(…)::regclass`): looked up (it must exist), printed as the name.
            if (isText(n.arg)) return macroCall(`${reg}_out`, [regNameIn(reg, n.arg as Node)]);
            const arg = rw(n.arg as Node);
            // `x::regclass` compared or joined stays an oid; printed (or cast on to text) it is the name.
            return macroCall(`${reg}_out`, [arg]);
          }
          if ((last === 'text' || last === 'varchar') && tn.length <= 2 && isVector(n.arg)) {
            // int2vector and oidvector print as their elements separated by spaces (int2vectorout), not as arrays.
            const joined: Node = {
              FuncCall: {
                funcname: [str('array_to_string')],
                args: [rw(n.arg as Node), textConst(' ')],
                funcformat: 'COERCE_EXPLICIT_CALL',
              },
            };
            return { TypeCast: { ...n, arg: joined } };
          }
          if ((last === 'name' || last === 'aclitem' || last === 'pg_node_tree') && tn.length <= 2) {
            // `name`, `aclitem` and `pg_node_tree` values are text here.
            const out: TypeCast = { ...n, typeName: { ...n.typeName, names: [str('pg_catalog'), str('text')] } };
            if (n.arg) out.arg = rw(n.arg);
            return { TypeCast: out };
          }
          if ((last === 'oid' || last === 'xid') && tn.length <= 2) {
            const inner = nodeOf(n.arg, 'TypeCast');
            const innerNames = (inner?.typeName?.names ?? []).map((x) => strOf(x) ?? '');
            const innerReg = REG_TYPES[innerNames[innerNames.length - 1] ?? ''];
            if (inner?.arg && innerReg && !inner.typeName?.arrayBounds && constString(inner.arg) === undefined) {
              // `x::regclass::oid`: the oid of a name computed at run time, or of an oid the oid itself (only
              // regclass's text form is the name).
              catalog = true;
              const arg = isText(inner.arg) ? regNameIn(innerReg, inner.arg) : rw(inner.arg);
              return { TypeCast: { ...n, typeName: { ...n.typeName, names: [str('pg_catalog'), str('int8')] }, arg } };
            }
            const out: TypeCast = { ...n, typeName: { ...n.typeName, names: [str('pg_catalog'), str('int8')] } };
            if (n.arg) out.arg = rw(n.arg);
            return { TypeCast: out };
          }
          if (last === 'char' && tn.length === 1 && !n.typeName?.typmods) {
            // `"char"` (PostgreSQL's one-byte type) is text here.
            const out: TypeCast = { ...n, typeName: { ...n.typeName, names: [str('pg_catalog'), str('text')] } };
            if (n.arg) out.arg = rw(n.arg);
            return { TypeCast: out };
          }
          return undefined;
        }
        case 'A_Indirection': {
          if (isVector(n.arg)) {
            // A subscript of an int2vector/oidvector: PostgreSQL's start at 0, the stored list's at 1.
            const [first, ...rest] = n.indirection ?? [];
            const ix = nodeOf(first, 'A_Indices');
            if (!ix) return undefined;
            const shifted = { ...ix };
            if (ix.uidx) shifted.uidx = plusOne(rw(ix.uidx));
            if (ix.lidx) shifted.lidx = plusOne(rw(ix.lidx));
            return { A_Indirection: { ...n, arg: rw(n.arg as Node), indirection: [{ A_Indices: shifted }, ...rest.map((x) => rw(x))] } };
          }
          if (isNameColumn(n.arg) && n.indirection?.length === 1) {
            // A subscript of a `name` (PostgreSQL's fixed char array, from 0): one character of the text.
            const ix = nodeOf(n.indirection[0], 'A_Indices');
            if (ix?.uidx && !ix.is_slice) {
              return {
                FuncCall: {
                  funcname: [str('substr')],
                  args: [rw(n.arg as Node), plusOne(rw(ix.uidx)), { A_Const: { ival: { ival: 1 } } }],
                  funcformat: 'COERCE_EXPLICIT_CALL',
                },
              };
            }
          }
          // `(information_schema._pg_expandarray(a)).x`: the field of the macro's struct.
          const inner = nodeOf(n.arg, 'FuncCall');
          if (!inner || !isExpandArray(inner)) return undefined;
          catalog = true;
          return { A_Indirection: { ...n, arg: rw(n.arg as Node) } };
        }
        case 'A_Expr': {
          const op = (n.name ?? []).map((x) => strOf(x) ?? '');
          const cmp = op[op.length - 1] ?? '';
          if (
            (n.kind === 'AEXPR_OP' || n.kind === 'AEXPR_DISTINCT' || n.kind === 'AEXPR_NOT_DISTINCT') &&
            COMPARISONS.has(cmp) &&
            ((n.lexpr && regprocColumn(n.lexpr)) || (n.rexpr && regprocColumn(n.rexpr)))
          ) {
            // regproc compares as its oid (PostgreSQL's regproc is an oid alias).
            catalog = true;
            for (const r of MACRO_RELATIONS.regproc_oid ?? []) need.add(r);
            const side = (x: Node | undefined) =>
              x === undefined ? undefined : regprocColumn(x) ? macroCall('regproc_oid', [rw(x)]) : rw(x);
            const out = { ...n, name: [str(cmp)] };
            const l = side(n.lexpr);
            const r = side(n.rexpr);
            if (l) out.lexpr = l;
            if (r) out.rexpr = r;
            return { A_Expr: out };
          }
          if (op.length === 2 && op[0] === 'pg_catalog') {
            const out = { ...n, name: [str(op[1] ?? '')] };
            if (n.lexpr) out.lexpr = rw(n.lexpr);
            if (n.rexpr) out.rexpr = rw(n.rexpr);
            return { A_Expr: out };
          }
          return undefined;
        }
        case 'CollateClause': {
          const c = (n.collname ?? []).map((x) => strOf(x) ?? '');
          const last = c[c.length - 1];
          if (n.arg && (last === 'default' || last === 'C' || last === 'POSIX')) return rw(n.arg);
          return undefined;
        }
        case 'RangeFunction': {
          const first = nodeOf((n.functions?.[0] as { List?: { items?: Node[] } } | undefined)?.List?.items?.[0], 'FuncCall');
          const names = first ? funcNames(first) : [];
          if (names[names.length - 1] !== 'pg_partition_ancestors' || !first) return undefined;
          catalog = true;
          const arg = first.args?.[0];
          const s = constString(arg);
          const relid = s !== undefined ? regConstant('regclass', s, need) : rw(arg as Node);
          const target = [{ ResTarget: { name: 'relid', val: relid } }];
          if (n.ordinality) target.push({ ResTarget: { name: 'depth', val: { A_Const: { ival: { ival: 1 } } } } });
          const colnames = n.alias?.colnames;
          return {
            RangeSubselect: {
              lateral: true,
              subquery: { SelectStmt: { targetList: target, op: 'SETOP_NONE', limitOption: 'LIMIT_OPTION_DEFAULT' } },
              alias: { aliasname: n.alias?.aliasname ?? 'pg_partition_ancestors', ...(colnames ? { colnames } : {}) },
            },
          };
        }
        default:
          return undefined;
      }
    });
  /** The oid of the object a run-time name names (regclassin and friends): `reg_in(name)`, a regclass name parsed first. */
  const regNameIn = (reg: string, e: Node): Node => {
    for (const r of MACRO_RELATIONS[`${reg}_in`] ?? []) need.add(r);
    const name = rw(e);
    return macroCall(`${reg}_in`, [reg === 'regclass' ? macroCall('regclass_parse', [name]) : name]);
  };
  const out = rw(bindScopedTableoid(stmt, ctes, undefined));
  if (!catalog) return { stmt: out, relations: need, catalog };
  for (const r of ALWAYS) need.add(r);
  const printed = printVectors(out);
  return { stmt: printed.stmt, relations: need, catalog, ...(printed.typeOids ? { typeOids: printed.typeOids } : {}) };
}

/**
 * The statement with its result columns that are int2vector/oidvector catalog columns printed
 * as PostgreSQL's int2vectorout/oidvectorout print them: the elements separated by spaces
 * (`1 2`), not as an array (`{1,2}`); psqlODBC's SQLStatistics parses `pg_index.indkey` so.
 * Only plain column references of the outermost SELECT; the value is text, and `typeOids` says
 * the column's type (when no `*` makes positions unknown).
 */
function printVectors(stmt: Node): { stmt: Node; typeOids?: (number | undefined)[] } {
  const s = nodeOf(stmt, 'SelectStmt');
  if (!s?.targetList || (s.op && s.op !== 'SETOP_NONE')) return { stmt };
  const oids: (number | undefined)[] = [];
  let star = false;
  const targetList = s.targetList.map((t) => {
    const r = nodeOf(t, 'ResTarget');
    const f = nodeOf(r?.val, 'ColumnRef')?.fields;
    const name = strOf(f?.[f.length - 1]);
    if (f?.some((x) => nodeOf(x, 'A_Star'))) star = true;
    const oid = name === undefined ? undefined : VECTOR_COLUMNS.get(name);
    oids.push(oid);
    if (!r?.val || name === undefined || oid === undefined) return t;
    const val: Node = {
      FuncCall: { funcname: [str('array_to_string')], args: [r.val, textConst(' ')], funcformat: 'COERCE_EXPLICIT_CALL' },
    };
    return { ResTarget: { ...r, name: r.name ?? name, val } };
  });
  if (!oids.some((o) => o !== undefined)) return { stmt };
  return { stmt: { SelectStmt: { ...s, targetList } }, ...(star ? {} : { typeOids: oids }) };
}

/**
 * Whether a statement calls a catalog function or casts to a reg* type (it must run on the
 * router's DuckDB even when it reads no relation). Catalog relations are found by name
 * resolution (analyze/relations.ts).
 */
export function callsCatalog(tree: Node): boolean {
  return someNode(tree, (type, n) => {
    if (type === 'FuncCall') {
      const names = funcNames(n);
      const last = names[names.length - 1] ?? '';
      return (MACRO_FUNCTIONS.has(last) && !isFirstDimensionBound(n)) || REFUSED_FUNCTIONS.has(last);
    }
    if (type === 'TypeCast') {
      const tn = n.typeName?.names ?? [];
      return REG_TYPES[strOf(tn[tn.length - 1]) ?? ''] !== undefined;
    }
    return false;
  });
}

/**
 * `A LEFT JOIN r ON c` with `c` holding `x op ANY/ALL (array)` and `r` a catalog relation, as
 * `A LEFT JOIN LATERAL (SELECT * FROM r WHERE c) r ON true` (the same rows: a left join keeps
 * each row of A with the rows of r that satisfy c, or with nulls); undefined for any other join.
 * DuckDB plans `x = ANY(list)` as a subquery and refuses a subquery in the condition of a
 * non-inner join ("Cannot perform non-inner join on subquery"); in a lateral subquery's WHERE it
 * runs. SQLAlchemy's index reflection joins pg_attribute so (`a.attnum = ANY(ix.indkey)`).
 */
function lateralOuterJoin(j: JoinExpr, ctes: ReadonlySet<string>): Node | undefined {
  if (j.jointype !== 'JOIN_LEFT' || j.isNatural || j.usingClause || j.quals === undefined) return undefined;
  const r = nodeOf(j.rarg, 'RangeVar');
  if (!r || r.alias?.colnames || (!r.schemaname && ctes.has(r.relname ?? ''))) return undefined;
  let rel: CatalogRelation | undefined;
  try {
    rel = catalogRelation(r.schemaname, r.relname ?? '');
  } catch {
    return undefined;
  }
  const arrayOp = (type: string, x: { kind?: unknown; rexpr?: Node }): boolean =>
    type === 'A_Expr' && (x.kind === 'AEXPR_OP_ANY' || x.kind === 'AEXPR_OP_ALL') && nodeOf(x.rexpr, 'SubLink') === undefined;
  if (!rel || !someNode(j.quals, (type, x) => arrayOp(type, x as { kind?: unknown; rexpr?: Node }))) return undefined;
  const star: Node = { ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } };
  const subquery: Node = {
    SelectStmt: {
      targetList: [star],
      fromClause: [{ RangeVar: r }],
      whereClause: j.quals,
      op: 'SETOP_NONE',
      limitOption: 'LIMIT_OPTION_DEFAULT',
    },
  };
  const rarg: Node = { RangeSubselect: { lateral: true, subquery, alias: { aliasname: r.alias?.aliasname ?? r.relname ?? '' } } };
  return { JoinExpr: { ...j, rarg, quals: { A_Const: { boolval: { boolval: true } } } } };
}

/** Functions of text results whose value a reg* cast reads as a name (regclassin and friends). */
const TEXT_FUNCTIONS = new Set([
  'pg_get_serial_sequence',
  'quote_ident',
  'format',
  'concat',
  'concat_ws',
  'lower',
  'upper',
  'btrim',
  'trim',
]);

/**
 * Whether a reg* cast's operand is text (a name to look up, as PostgreSQL's regclassin reads it)
 * rather than an oid: a string constant or parameter, a cast to text, a `||` concatenation or a
 * function of a text result.
 */
function isText(e: Node | undefined): boolean {
  if (e === undefined) return false;
  if (constString(e) !== undefined || nodeOf(e, 'ParamRef')) return true;
  const cast = nodeOf(e, 'TypeCast');
  if (cast) {
    const tn = (cast.typeName?.names ?? []).map((x) => strOf(x) ?? '');
    return ['text', 'varchar', 'name', 'bpchar'].includes(tn[tn.length - 1] ?? '') && !cast.typeName?.arrayBounds;
  }
  const op = nodeOf(e, 'A_Expr');
  if (op) return op.kind === 'AEXPR_OP' && (op.name ?? []).map((x) => strOf(x)).join('.') === '||';
  const f = nodeOf(e, 'FuncCall');
  if (f) return TEXT_FUNCTIONS.has(funcNames(f).at(-1) ?? '');
  return false;
}

/** Functions of an array's bounds and subscripts (catalog macros), which differ for int2vector/oidvector. */
const VECTOR_BOUNDS = new Set(['array_lower', 'array_upper', 'generate_subscripts']);

const INT2VECTOR_OID = 22;
const OIDVECTOR_OID = 30;

/**
 * Catalog columns of type int2vector or oidvector (stored as 1-based lists; PostgreSQL's
 * subscripts start at 0), with the type's oid (22, 30).
 */
const VECTOR_COLUMNS: ReadonlyMap<string, number> = new Map(
  [...CATALOG_RELATIONS.values()]
    .filter((r) => r.kind === 'described')
    .flatMap((r) =>
      r.columns
        .filter((c) => c.pgType === 'int2vector' || c.pgType === 'oidvector')
        .map((c) => [c.name, c.pgType === 'int2vector' ? INT2VECTOR_OID : OIDVECTOR_OID] as const),
    ),
);

/**
 * Names that hold an int2vector/oidvector in `stmt`: the catalog's vector columns, and the names
 * a subquery gives them (`i.indoption AS i_indoption`, pgjdbc's getIndexInfo). By name: a column
 * of another relation spelled the same is taken for a vector too.
 */
function vectorNames(stmt: Node): Set<string> {
  const out = new Set(VECTOR_COLUMNS.keys());
  forEachNode(stmt, (type, n) => {
    if (type !== 'ResTarget' || !n.name) return;
    const f = nodeOf(n.val, 'ColumnRef')?.fields;
    if (f && VECTOR_COLUMNS.has(strOf(f[f.length - 1]) ?? '')) out.add(n.name);
  });
  return out;
}

/**
 * `array_upper(a, 1)` / `array_lower(a, 1)`: the PostgreSQL-semantics stage answers them for any
 * one-dimensional array (plan/rewrite/fn-json-array.ts), so they need no catalog macro (and a
 * query over user tables calling them is no catalog query).
 */
function isFirstDimensionBound(f: FuncCall): boolean {
  const names = funcNames(f);
  const last = names[names.length - 1] ?? '';
  const d = f.args?.[1];
  return (last === 'array_upper' || last === 'array_lower') && f.args?.length === 2 && nodeOf(d, 'A_Const')?.ival?.ival === 1;
}

/** `(x) + 1`. */
function plusOne(x: Node): Node {
  return { A_Expr: { kind: 'AEXPR_OP', name: [str('+')], lexpr: x, rexpr: { A_Const: { ival: { ival: 1 } } } } };
}

/** `information_schema._pg_expandarray(a)`: PostgreSQL's set-returning (x, n) of an array's elements and positions. */
function isExpandArray(f: FuncCall): boolean {
  const names = funcNames(f);
  return names[names.length - 1] === '_pg_expandarray' && (names.length === 1 || names[0] === 'information_schema');
}

/**
 * The pg_class oids of the catalog relations a statement reads, by alias, and the one oid when
 * every catalog relation of the statement is the same relation (an unqualified `tableoid`).
 */
function catalogTableOids(stmt: Node, ctes: ReadonlySet<string>): { byAlias: Map<string, number>; only: number | undefined } {
  const byAlias = new Map<string, number>();
  const all = new Set<number>();
  forEachNode(stmt, (type, n) => {
    if (type !== 'RangeVar') return;
    const name = n.relname ?? '';
    if (!n.schemaname && ctes.has(name)) return;
    let rel: CatalogRelation | undefined;
    try {
      rel = catalogRelation(n.schemaname, name);
    } catch {
      return;
    }
    const oid = rel ? PG15_RELATION_OIDS[`${rel.schema}.${rel.name}`] : undefined;
    if (oid === undefined) return;
    byAlias.set(n.alias?.aliasname ?? name, oid);
    all.add(oid);
  });
  return { byAlias, only: all.size === 1 ? [...all][0] : undefined };
}

/**
 * Unqualified `tableoid` bound by scope, as PostgreSQL resolves a column name: in a SELECT whose
 * FROM clause is one catalog relation (joined to itself or not), it is that relation's pg_class
 * oid; a SELECT without FROM (a subquery's select list) sees its outer query's. Statements whose
 * FROM mixes relations leave it to {@link catalogTableOids}'s whole-statement rule.
 */
function bindScopedTableoid(tree: Node, ctes: ReadonlySet<string>, outer: number | undefined): Node {
  const replacer =
    (scope: number | undefined) =>
    (type: string, n: Record<string, unknown>): Node | undefined => {
      if (type === 'SelectStmt') {
        const from = (n.fromClause as Node[] | undefined) ?? [];
        const local = from.length === 0 ? scope : fromCatalogOid(from, ctes);
        return { SelectStmt: transformNodes(n as never, replacer(local) as never) } as Node;
      }
      if (type === 'ColumnRef' && scope !== undefined) {
        const f = ((n.fields as Node[] | undefined) ?? []).map((x) => strOf(x));
        if (f.length === 1 && f[0] === 'tableoid') return { A_Const: { ival: { ival: scope } } };
      }
      return undefined;
    };
  return transformNodes(tree, replacer(outer) as never);
}

/** The pg_class oid of a FROM clause made of one catalog relation only (RangeVars under joins), else undefined. */
function fromCatalogOid(from: readonly Node[], ctes: ReadonlySet<string>): number | undefined {
  const oids = new Set<number>();
  let other = false;
  const visit = (item: Node | undefined): void => {
    const rv = nodeOf(item, 'RangeVar');
    const join = nodeOf(item, 'JoinExpr');
    if (join) {
      visit(join.larg);
      visit(join.rarg);
      return;
    }
    if (!rv || (!rv.schemaname && ctes.has(rv.relname ?? ''))) {
      other = true;
      return;
    }
    let rel: CatalogRelation | undefined;
    try {
      rel = catalogRelation(rv.schemaname, rv.relname ?? '');
    } catch {
      rel = undefined;
    }
    const oid = rel ? PG15_RELATION_OIDS[`${rel.schema}.${rel.name}`] : undefined;
    if (oid === undefined) other = true;
    else oids.add(oid);
  };
  for (const item of from) visit(item);
  return !other && oids.size === 1 ? [...oids][0] : undefined;
}

/** Comparison operators under which a regproc column compares as its oid. */
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/**
 * A predicate over column references of `stmt`: true for a catalog column of type `regproc`
 * (stored as the function's name, see relations.ts), found by the alias qualifying it or, for an
 * unqualified name, by the one catalog relation of the statement that has such a column.
 */
function regprocColumns(stmt: Node, ctes: ReadonlySet<string>): (n: Node) => boolean {
  const typeOf = catalogColumnTypes(stmt, ctes);
  return (n) => typeOf(n) === 'regproc';
}

/**
 * The PostgreSQL type (`pgType`) of a column reference of `stmt` to a catalog relation's column,
 * found by the alias qualifying it or, unqualified, by the one catalog relation of the statement
 * that has such a column; undefined otherwise.
 */
function catalogColumnTypes(stmt: Node, ctes: ReadonlySet<string>): (n: Node) => string | undefined {
  const byAlias = new Map<string, CatalogRelation>();
  forEachNode(stmt, (type, n) => {
    if (type !== 'RangeVar' || (!n.schemaname && ctes.has(n.relname ?? ''))) return;
    try {
      const rel = catalogRelation(n.schemaname, n.relname ?? '');
      if (rel) byAlias.set(n.alias?.aliasname ?? n.relname ?? '', rel);
    } catch {
      // unknown pg_catalog names fail later, in the rewrite itself
    }
  });
  if (byAlias.size === 0) return () => undefined;
  return (n) => {
    const ref = nodeOf(n, 'ColumnRef');
    const f = (ref?.fields ?? []).map((x) => strOf(x));
    const col = f[f.length - 1];
    if (!ref || col === undefined || f.length > 2) return undefined;
    const rels = f.length === 2 ? [byAlias.get(f[0] ?? '')] : [...byAlias.values()];
    const hits = rels.filter((r) => r?.columns.some((c) => c.name === col));
    return hits.length === 1 ? hits[0]?.columns.find((c) => c.name === col)?.pgType : undefined;
  };
}

/** Catalog columns of type `name` (stored as text), by name. */
const NAME_COLUMNS: ReadonlySet<string> = new Set(
  [...CATALOG_RELATIONS.values()].flatMap((r) => r.columns.filter((c) => c.pgType === 'name').map((c) => c.name)),
);

/** A column reference to a {@link NAME_COLUMNS} column (`typname[0]`, pg_dump's array-type test). */
function isNameColumn(n: Node | undefined): boolean {
  const f = nodeOf(n, 'ColumnRef')?.fields;
  return f !== undefined && NAME_COLUMNS.has(strOf(f[f.length - 1]) ?? '');
}

/** Cast targets the catalog stage rewrites (besides the reg* types). */
const CATALOG_CAST_TYPES = new Set(['oid', 'xid', 'name', 'aclitem', 'pg_node_tree', 'char']);

/**
 * Whether `stmt` has anything the catalog stage rewrites: a catalog relation, a pg_catalog- or
 * information_schema-qualified or catalog function, a cast to a catalog type, an
 * `OPERATOR(pg_catalog.op)` or a COLLATE. Everything else the stage does concerns rows of
 * catalog relations.
 */
function namesCatalog(stmt: Node, ctes: ReadonlySet<string>): boolean {
  return someNode(stmt, (type, n) => {
    switch (type) {
      case 'RangeVar': {
        const name = n.relname ?? '';
        if (n.schemaname === 'pg_catalog' || n.schemaname === 'information_schema') return true;
        return !n.schemaname && !ctes.has(name) && CATALOG_RELATIONS.has(`pg_catalog.${name}`);
      }
      case 'FuncCall': {
        const names = funcNames(n);
        const last = names[names.length - 1] ?? '';
        return names.length > 1 || MACRO_FUNCTIONS.has(last) || REFUSED_FUNCTIONS.has(last) || last === '_pg_expandarray';
      }
      case 'TypeCast': {
        const tn = n.typeName?.names ?? [];
        const last = strOf(tn[tn.length - 1]) ?? '';
        return REG_TYPES[last] !== undefined || CATALOG_CAST_TYPES.has(last);
      }
      case 'A_Expr':
        return (n.name ?? []).length > 1;
      case 'CollateClause':
        return true;
      default:
        return false;
    }
  });
}
