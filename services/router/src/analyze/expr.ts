/**
 * Scalar expressions of the analyze stage: a libpg-query AST node (`@pgsql/types`) becomes a
 * typed {@link Expr} with the implicit casts PostgreSQL 15 would insert (chapter 10 "Type
 * Conversion"), untyped literals turned into constants of the type their context wants, and
 * parameters typed the way PostgreSQL infers them (`WHERE id = $1` makes $1 an integer).
 *
 * Names are resolved through a {@link Scope} the statement analyzer provides (columns,
 * parameters, subqueries, session values); errors carry PostgreSQL's SQLSTATE, message and
 * 1-based character position.
 */

import type {
  A_ArrayExpr,
  A_Const,
  A_Expr,
  A_Indirection,
  BoolExpr,
  BooleanTest,
  CaseExpr,
  CoalesceExpr,
  CollateClause,
  ColumnRef,
  FuncCall,
  MinMaxExpr,
  Node,
  NullTest,
  ParamRef,
  SQLValueFunction,
  TypeCast,
  TypeName,
} from '@pgsql/types';
import {
  type CastContext,
  canCast,
  castValue,
  commonType,
  type DataError,
  displayType,
  type EvalContext,
  type Expr,
  elementType,
  functionKind,
  isArrayType,
  type Literal,
  type ResultType,
  resolveFunctionDetail,
  resolveOperatorDetail,
  resolveTypeName,
  type Signature,
  SqlState,
  type SqlType,
  StratumError,
  type StratumErrorOptions,
  typeOf,
  type UnsupportedError,
  type Value,
} from '@stratum/shared';

/** Session values an expression may read at analyze time (CURRENT_USER, literal input in the session TimeZone). */
export interface SessionValues {
  user: string;
  database: string;
  /** First schema of the search path (CURRENT_SCHEMA). */
  schema: string;
  /** Session TimeZone (literal timestamptz input). */
  timeZone: string;
}

/**
 * What an expression can see. The statement analyzer implements it over the catalog and the
 * statement's range table; an empty scope (constants only) is {@link constantScope}.
 */
export interface Scope {
  /**
   * A column reference (`a`, `t.a`, `s.t.a`, names as the parser folded them): its compiled
   * expression (a `col` or `input` node), or undefined when no column matches (42703 follows).
   * May throw 42702 for an ambiguous reference.
   */
  column(names: string[], location: number | undefined): { expr: Expr } | undefined;
  /**
   * The type of parameter $n. Without `wanted`: its type so far ('unknown' while PostgreSQL
   * would not know it yet). With `wanted`: the context wants that type (an untyped parameter
   * takes it, like PostgreSQL does for `WHERE id = $1`); returns the parameter's type after.
   * @throws StratumError 42P02 for a parameter number out of range.
   */
  param(n: number, wanted?: ResultType): ResultType;
  /** A subquery (SubLink); absent: 0A000. The analyzer may evaluate uncorrelated subqueries first. */
  subquery?(node: Node, location: number | undefined): Expr;
  /** An aggregate or window call (count(*), sum(x), row_number() OVER …); absent: 42803 names the context. */
  aggregate?(call: FuncCall, location: number | undefined): Expr;
  /** Whether set-returning functions (generate_series, unnest, regexp_matches) are allowed here; absent = no (0A000). */
  setReturning?(call: FuncCall, sig: Signature, args: Expr[]): Expr;
  /** Session values (CURRENT_USER, TimeZone); absent: user/database "stratum", schema "public", UTC. */
  session?: SessionValues;
  /** What the expression is, for messages: "WHERE", "DEFAULT expressions", "check constraints", …. */
  exprKind?: string;
  /** 1-based character position of a byte offset from the AST (default: offset + 1, right for ASCII text). */
  position?(location: number): number;
}

/** A scope with no columns, where parameters keep the types PostgreSQL infers (for constant expressions). */
export function constantScope(paramTypes: ResultType[] = [], session?: SessionValues): Scope & { paramTypes: ResultType[] } {
  const s: Scope & { paramTypes: ResultType[] } = {
    paramTypes,
    column: () => undefined,
    param(n, wanted) {
      if (n < 1 || n > 65535) throw new StratumError(SqlState.undefinedParameter, `there is no parameter $${n}`);
      const cur = paramTypes[n - 1] ?? 'unknown';
      if (cur === 'unknown' && wanted !== undefined) {
        while (paramTypes.length < n - 1) paramTypes.push('unknown');
        paramTypes[n - 1] = wanted;
        return wanted;
      }
      if (paramTypes.length < n) {
        while (paramTypes.length < n) paramTypes.push('unknown');
      }
      return cur;
    },
  };
  if (session) s.session = session;
  return s;
}

const DEFAULT_SESSION: SessionValues = { user: 'stratum', database: 'stratum', schema: 'public', timeZone: 'UTC' };

/** A compile-time error with position. */
function err(code: string, message: string, scope: Scope, location: number | undefined, opts: StratumErrorOptions = {}): StratumError {
  const o: StratumErrorOptions = { ...opts };
  if (location !== undefined && location >= 0) o.position = scope.position ? scope.position(location) : location + 1;
  return new StratumError(code, message, o);
}

/** Re-throw a data error from compile-time literal conversion with the literal's position. */
function withPosition<T>(scope: Scope, location: number | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StratumError && e.position === undefined && location !== undefined && location >= 0) {
      const o: StratumErrorOptions = { position: scope.position ? scope.position(location) : location + 1 };
      if (e.detail !== undefined) o.detail = e.detail;
      if (e.hint !== undefined) o.hint = e.hint;
      const ne = new StratumError(e.code, e.message, o);
      ne.name = e.name;
      throw ne;
    }
    throw e;
  }
}

function evalCtx(scope: Scope): EvalContext {
  return { txnTimeUs: 0n, stmtTimeUs: 0n, timeZone: (scope.session ?? DEFAULT_SESSION).timeZone };
}

/** Location of a node (most node types carry `location`). */
function loc(node: Node | undefined): number | undefined {
  if (!node) return undefined;
  const inner = Object.values(node)[0] as { location?: number } | undefined;
  return inner?.location;
}

/**
 * Compile a scalar expression.
 * @throws StratumError with PostgreSQL's SQLSTATE and position: 42703 unknown column, 42883
 *   unknown operator or function (with HINT), 42725 ambiguous, 42804 type mismatch, 42846 no
 *   such cast, 42P18 undetermined type, 22P02 / 22003 / 22008 bad literal, 0A000 unsupported.
 */
export function compileExpr(node: Node, scope: Scope): Expr {
  return new Compiler(scope).compile(node);
}

/**
 * Coerce a compiled expression to `target` (PostgreSQL's coerce_to_target_type): unknown
 * literals become constants of the type, untyped parameters take it, other types get a cast
 * node if the cast exists in `context` ('assignment' for INSERT/UPDATE targets, 'implicit'
 * for function arguments, 'explicit' for CAST).
 * @throws StratumError 42804 (assignment: "column … is of type … but expression is of type …"
 *   is the caller's wording; here "cannot cast"), 22P02 etc. for literals.
 */
export function coerceExpr(
  e: Expr,
  target: SqlType,
  context: CastContext,
  scope: Scope,
  opts: { typmod?: number; location?: number } = {},
): Expr {
  return new Compiler(scope).coerce(e, target, context, opts.location, opts.typmod);
}

/** The output type rule of a select list (resolveTargetListUnknowns): unknown literals and parameters become text. */
export function finalizeOutput(e: Expr, scope: Scope): Expr {
  if (typeOf(e) !== 'unknown') return e;
  return coerceExpr(e, 'text', 'implicit', scope);
}

/**
 * Replace parameters by constants (a bind step): `values[n-1]` is the text or binary-decoded
 * value of $n, converted to the parameter's type.
 * @throws DataError 22P02 etc. for a parameter value that is not valid input for its type.
 */
export function bindParams(e: Expr, values: readonly (Literal | Value)[], ctx: EvalContext): Expr {
  const walk = (x: Expr): Expr => {
    switch (x.k) {
      case 'param': {
        const v = values[x.n - 1];
        if (v === undefined) throw new StratumError(SqlState.undefinedParameter, `there is no parameter $${x.n}`);
        const t = x.t === 'unknown' ? 'text' : x.t;
        const conv = v === null ? null : typeof v === 'string' ? castValue(v, 'unknown', t, undefined, 'explicit', ctx) : (v as Value);
        return { k: 'const', v: conv, t };
      }
      case 'const':
      case 'col':
      case 'input':
        return x;
      case 'call':
        return { ...x, args: x.args.map(walk) };
      case 'cast':
        return { ...x, arg: walk(x.arg) };
      case 'and':
      case 'or':
        return { ...x, args: x.args.map(walk) };
      case 'not':
      case 'test':
        return { ...x, arg: walk(x.arg) };
      case 'case': {
        const out: Expr = { ...x, when: x.when.map((w) => arm(walk(w.cond), walk(w.then))) };
        if (x.arg) out.arg = walk(x.arg);
        if (x.else) out.else = walk(x.else);
        return out;
      }
      case 'in':
        return { ...x, arg: walk(x.arg), list: x.list.map(walk) };
      case 'any':
        return { ...x, arg: walk(x.arg), array: walk(x.array) };
      case 'array':
        return { ...x, items: x.items.map(walk) };
      case 'coalesce':
      case 'greatest':
      case 'least':
        return { ...x, args: x.args.map(walk) };
      case 'nullif':
        return { ...x, args: [walk(x.args[0]), walk(x.args[1])] };
      case 'distinct':
        return { ...x, args: [walk(x.args[0]), walk(x.args[1])] };
    }
  };
  return walk(e);
}

/** A CASE arm of the Expr IR (its `then` field is the IR's, not a promise's). */
function arm(cond: Expr, result: Expr): { cond: Expr; then: Expr } {
  // biome-ignore lint/suspicious/noThenProperty: the Expr IR names the CASE result `then`.
  return { cond, then: result };
}

/** Names of a `names` list, without a leading pg_catalog. */
function nameList(names: Node[] | undefined): string[] {
  const out = (names ?? []).map((n) => ('String' in n ? (n.String.sval ?? '') : ''));
  return out.length > 1 && out[0] === 'pg_catalog' ? out.slice(1) : out;
}

const TYPMOD_TYPES = new Set(['varchar', 'char', 'numeric']);

/** Resolve a TypeName to a type and typmod. @throws 42704 for unknown types, 0A000 for types Stratum lacks. */
export function resolveTypeNameNode(tn: TypeName, scope: Scope): { t: SqlType; typmod?: number } {
  const raw = (tn.names ?? []).map((n) => ('String' in n ? (n.String.sval ?? '') : ''));
  const qualified = raw.length > 1 && raw[0] === 'pg_catalog';
  const name = raw[raw.length - 1] ?? '';
  const where = tn.location;
  if (!qualified && name === 'char') throw err(SqlState.featureNotSupported, 'type "char" is not supported', scope, where);
  const base = resolveTypeName(name);
  if (!base) {
    const known =
      /^(money|inet|cidr|macaddr|point|line|box|path|polygon|circle|xml|tsvector|tsquery|bit|varbit|oid|regclass|name|timetz|int4range|daterange|tsrange|tstzrange)$/.test(
        name,
      );
    if (known) throw err(SqlState.featureNotSupported, `type ${name} is not supported`, scope, where);
    throw err(SqlState.undefinedObject, `type "${name}" does not exist`, scope, where);
  }
  let typmod: number | undefined;
  const mods = (tn.typmods ?? []).map((m) => {
    const c = 'A_Const' in m ? m.A_Const : undefined;
    const v = c?.ival?.ival ?? (c?.ival ? 0 : undefined);
    if (v === undefined) throw err(SqlState.syntaxError, 'type modifiers must be simple constants or identifiers', scope, where);
    return v;
  });
  if (mods.length > 0 && TYPMOD_TYPES.has(base)) {
    if (base === 'numeric') {
      const p = mods[0] as number;
      const s = mods[1] ?? 0;
      if (p < 1 || p > 1000) {
        throw err('22023', `NUMERIC precision ${p} must be between 1 and 1000`, scope, where);
      }
      if (s < 0 || s > p) throw err('22023', `NUMERIC scale ${s} must be between 0 and precision ${p}`, scope, where);
      typmod = ((p << 16) | s) + 4;
    } else {
      const n = mods[0] as number;
      if (n < 1) throw err('22023', `length for type ${base === 'char' ? 'char' : 'varchar'} must be at least 1`, scope, where);
      typmod = n + 4;
    }
  }
  const t = (tn.arrayBounds?.length ?? 0) > 0 ? (isArrayType(base) ? base : (`${base}[]` as SqlType)) : base;
  return typmod === undefined ? { t } : { t, typmod };
}

const BOOL_TESTS = {
  IS_TRUE: 'true',
  IS_NOT_TRUE: 'not_true',
  IS_FALSE: 'false',
  IS_NOT_FALSE: 'not_false',
  IS_UNKNOWN: 'unknown',
  IS_NOT_UNKNOWN: 'not_unknown',
} as const;

/** Functions whose pg_proc argument is regclass: Stratum passes the sequence name as text. */
const SEQUENCE_FUNCTIONS: Record<string, { args: SqlType[]; t: SqlType }[]> = {
  nextval: [{ args: ['text'], t: 'bigint' }],
  currval: [{ args: ['text'], t: 'bigint' }],
  lastval: [{ args: [], t: 'bigint' }],
  setval: [
    { args: ['text', 'bigint'], t: 'bigint' },
    { args: ['text', 'bigint', 'boolean'], t: 'bigint' },
  ],
};

/** Argument names of functions callable with named notation (proargnames), with their defaults. */
const NAMED_ARGS: Record<string, { names: string[]; defaults: Expr[] }> = {
  make_interval: {
    names: ['years', 'months', 'weeks', 'days', 'hours', 'mins', 'secs'],
    defaults: [...Array.from({ length: 6 }, (): Expr => ({ k: 'const', v: 0, t: 'integer' })), { k: 'const', v: 0, t: 'double' }],
  },
};

class Compiler {
  constructor(readonly scope: Scope) {}

  compile(node: Node): Expr {
    if ('A_Const' in node) return this.constant(node.A_Const);
    if ('ColumnRef' in node) return this.columnRef(node.ColumnRef);
    if ('ParamRef' in node) return this.paramRef(node.ParamRef);
    if ('A_Expr' in node) return this.aExpr(node.A_Expr);
    if ('BoolExpr' in node) return this.boolExpr(node.BoolExpr);
    if ('NullTest' in node) return this.nullTest(node.NullTest);
    if ('BooleanTest' in node) return this.booleanTest(node.BooleanTest);
    if ('TypeCast' in node) return this.typeCast(node.TypeCast);
    if ('FuncCall' in node) return this.funcCall(node.FuncCall);
    if ('CaseExpr' in node) return this.caseExpr(node.CaseExpr);
    if ('CoalesceExpr' in node) return this.coalesce(node.CoalesceExpr);
    if ('MinMaxExpr' in node) return this.minMax(node.MinMaxExpr);
    if ('A_ArrayExpr' in node) return this.arrayExpr(node.A_ArrayExpr, undefined);
    if ('A_Indirection' in node) return this.indirection(node.A_Indirection);
    if ('SQLValueFunction' in node) return this.sqlValueFunction(node.SQLValueFunction);
    if ('CollateClause' in node) return this.collate(node.CollateClause);
    if ('SubLink' in node) {
      if (!this.scope.subquery)
        throw err(SqlState.featureNotSupported, 'subqueries are not supported here', this.scope, node.SubLink.location);
      return this.scope.subquery(node, node.SubLink.location);
    }
    const kind = Object.keys(node)[0] ?? 'unknown';
    throw err(SqlState.featureNotSupported, `expression ${kind} is not supported`, this.scope, loc(node));
  }

  // -------------------------------------------------------------------------------------------
  // Leaves

  constant(c: A_Const): Expr {
    if (c.isnull) return { k: 'const', v: null, t: 'unknown' };
    if (c.ival !== undefined) return { k: 'const', v: c.ival.ival ?? 0, t: 'integer' };
    if (c.fval !== undefined) {
      const text = c.fval.fval ?? '0';
      if (/^-?\d+$/.test(text)) {
        const b = BigInt(text);
        if (b >= -2147483648n && b <= 2147483647n) return { k: 'const', v: Number(b), t: 'integer' };
        if (b >= -(2n ** 63n) && b < 2n ** 63n) return { k: 'const', v: b, t: 'bigint' };
      }
      return {
        k: 'const',
        v: withPosition(this.scope, c.location, () => castValue(text, 'unknown', 'numeric', undefined, 'explicit', evalCtx(this.scope))),
        t: 'numeric',
      };
    }
    if (c.sval !== undefined) return { k: 'const', v: c.sval.sval ?? '', t: 'unknown' };
    if (c.boolval !== undefined) return { k: 'const', v: c.boolval.boolval === true, t: 'boolean' };
    if (c.bsval !== undefined) throw err(SqlState.featureNotSupported, 'bit string constants are not supported', this.scope, c.location);
    // libpg-query omits zero/false fields: an A_Const with nothing set is integer 0 or false.
    return { k: 'const', v: 0, t: 'integer' };
  }

  columnRef(c: ColumnRef): Expr {
    const names: string[] = [];
    for (const f of c.fields ?? []) {
      if ('A_Star' in f) throw err(SqlState.syntaxError, 'a "*" is not allowed in this expression', this.scope, c.location);
      names.push('String' in f ? (f.String.sval ?? '') : '');
    }
    const r = this.scope.column(names, c.location);
    if (!r) {
      const shown = names.length > 1 ? names.join('.') : `"${names[0]}"`;
      throw err(SqlState.undefinedColumn, `column ${shown} does not exist`, this.scope, c.location);
    }
    return r.expr;
  }

  paramRef(p: ParamRef): Expr {
    const n = p.number ?? 0;
    const t = withPosition(this.scope, p.location, () => this.scope.param(n));
    return { k: 'param', n, t };
  }

  // -------------------------------------------------------------------------------------------
  // Coercion

  /** Coerce to `target`; see {@link coerceExpr}. */
  coerce(e: Expr, target: SqlType, context: CastContext, location: number | undefined, typmod?: number): Expr {
    const from = typeOf(e);
    if (from === target && typmod === undefined) return e;
    if (e.k === 'const' && from === 'unknown') {
      const v = withPosition(this.scope, location, () =>
        castValue(e.v, 'unknown', target, typmod, context === 'explicit' ? 'explicit' : 'assignment', evalCtx(this.scope)),
      );
      return { k: 'const', v, t: target };
    }
    if (e.k === 'param' && from === 'unknown') {
      const t = this.scope.param(e.n, target);
      const p: Expr = { k: 'param', n: e.n, t };
      return t === target && typmod === undefined ? p : this.coerce(p, target, context, location, typmod);
    }
    if (e.k === 'array' && from !== target && isArrayType(target)) {
      // Casts of ARRAY[…] apply to the elements (PostgreSQL pushes them down).
      const te = elementType(target);
      const ok = e.items.every((i) => canCast(typeOf(i), te, context));
      if (ok) {
        return { k: 'array', items: e.items.map((i) => this.coerce(i, te, context, location, typmod)), t: target };
      }
    }
    if (from === target) {
      const c: Expr = { k: 'cast', arg: e, t: target, typmod: typmod as number };
      if (typmod === undefined) delete (c as { typmod?: number }).typmod;
      if (context === 'explicit') (c as { explicit?: boolean }).explicit = true;
      return c;
    }
    if (!canCast(from, target, context)) {
      if (context === 'explicit') {
        throw err('42846', `cannot cast type ${displayType(from)} to ${displayType(target)}`, this.scope, location);
      }
      throw err(SqlState.datatypeMismatch, `cannot cast type ${displayType(from)} to ${displayType(target)}`, this.scope, location);
    }
    const c: { k: 'cast'; arg: Expr; t: SqlType; typmod?: number; explicit?: boolean } = { k: 'cast', arg: e, t: target };
    if (typmod !== undefined) c.typmod = typmod;
    if (context === 'explicit') c.explicit = true;
    return c;
  }

  /** Coerce to boolean for AND/OR/NOT/WHERE/CASE WHEN. @throws 42804 "argument of AND must be type boolean, not type integer". */
  toBoolean(e: Expr, what: string, location: number | undefined): Expr {
    const t = typeOf(e);
    if (t === 'boolean') return e;
    if (t === 'unknown') return this.coerce(e, 'boolean', 'implicit', location);
    throw err(SqlState.datatypeMismatch, `argument of ${what} must be type boolean, not type ${displayType(t)}`, this.scope, location);
  }

  /** Coerce branches to their common type (§10.5). */
  unify(exprs: Expr[], what: string, locations: (number | undefined)[]): { exprs: Expr[]; t: ResultType } {
    const types = exprs.map(typeOf);
    let t: ResultType;
    try {
      t = commonType(types, what);
    } catch (e) {
      const known = types.map((x, i) => ({ x, i })).filter((p) => p.x !== 'unknown');
      const first = known[0];
      const bad = known.find((p) => first && p.x !== first.x && p.x !== 'unknown');
      throw err(SqlState.datatypeMismatch, (e as Error).message, this.scope, bad ? locations[bad.i] : undefined);
    }
    if (t === 'unknown') return { exprs, t };
    return {
      exprs: exprs.map((e, i) => {
        const from = typeOf(e);
        if (from !== 'unknown' && from !== t && !canCast(from, t as SqlType, 'implicit')) {
          throw err('42846', `${what} could not convert type ${displayType(from)} to ${displayType(t)}`, this.scope, locations[i]);
        }
        return this.coerce(e, t as SqlType, 'implicit', locations[i]);
      }),
      t,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Operators

  operatorName(names: Node[] | undefined): string {
    const n = nameList(names);
    return n[n.length - 1] ?? '';
  }

  /** Resolve and build an operator call over compiled arguments. */
  op(name: string, args: Expr[], location: number | undefined, argLocs: (number | undefined)[]): Expr {
    const types = args.map(typeOf);
    const sig = resolveOperatorDetail(name, types);
    if (typeof sig === 'string') {
      const shown =
        types.length === 1
          ? `${name} ${displayType(types[0] as string)}`
          : `${displayType(types[0] as string)} ${name} ${displayType(types[1] as string)}`;
      if (sig === 'ambiguous') {
        throw err('42725', `operator is not unique: ${shown}`, this.scope, location, {
          hint: 'Could not choose a best candidate operator. You might need to add explicit type casts.',
        });
      }
      if (sig === 'unsupported') throw err(SqlState.featureNotSupported, `operator ${shown} is not supported`, this.scope, location);
      throw err(SqlState.undefinedFunction, `operator does not exist: ${shown}`, this.scope, location, {
        hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
      });
    }
    this.checkPolymorphic(sig, location);
    const cast = args.map((a, i) => this.coerce(a, sig.args[i] as SqlType, 'implicit', argLocs[i] ?? location));
    return { k: 'call', fn: name, args: cast, t: sig.t };
  }

  checkPolymorphic(sig: Signature, location: number | undefined): void {
    if (sig.t === 'unknown' || sig.args.some((a) => a === 'unknown')) {
      throw err(SqlState.datatypeMismatch, 'could not determine polymorphic type because input has type unknown', this.scope, location);
    }
  }

  aExpr(a: A_Expr): Expr {
    const kind = a.kind ?? 'AEXPR_OP';
    const name = this.operatorName(a.name);
    const location = a.location;
    switch (kind) {
      case 'AEXPR_OP':
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE':
      case 'AEXPR_SIMILAR': {
        if (a.lexpr === undefined) {
          const r = this.compile(a.rexpr as Node);
          return this.op(name, [r], location, [loc(a.rexpr)]);
        }
        const l = this.compile(a.lexpr);
        const r = this.compile(a.rexpr as Node);
        return this.op(name, [l, r], location, [loc(a.lexpr), loc(a.rexpr)]);
      }
      case 'AEXPR_OP_ANY':
      case 'AEXPR_OP_ALL':
        return this.anyAll(name, a, kind === 'AEXPR_OP_ALL');
      case 'AEXPR_DISTINCT':
      case 'AEXPR_NOT_DISTINCT': {
        const eq = this.op('=', [this.compile(a.lexpr as Node), this.compile(a.rexpr as Node)], location, [loc(a.lexpr), loc(a.rexpr)]);
        if (eq.k !== 'call' || eq.t !== 'boolean')
          throw err(SqlState.datatypeMismatch, 'IS DISTINCT FROM requires = operator to yield boolean', this.scope, location);
        const out: Expr = { k: 'distinct', args: [eq.args[0] as Expr, eq.args[1] as Expr] };
        if (kind === 'AEXPR_NOT_DISTINCT') out.not = true;
        return out;
      }
      case 'AEXPR_NULLIF': {
        const eq = this.op('=', [this.compile(a.lexpr as Node), this.compile(a.rexpr as Node)], location, [loc(a.lexpr), loc(a.rexpr)]);
        if (eq.k !== 'call') throw err(SqlState.datatypeMismatch, 'NULLIF requires = operator to yield boolean', this.scope, location);
        const [x, y] = eq.args as [Expr, Expr];
        return { k: 'nullif', args: [x, y], t: typeOf(x) };
      }
      case 'AEXPR_IN':
        return this.inList(a, name === '<>');
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN':
      case 'AEXPR_BETWEEN_SYM':
      case 'AEXPR_NOT_BETWEEN_SYM':
        return this.between(a, kind);
    }
    throw err(SqlState.featureNotSupported, `operator kind ${kind} is not supported`, this.scope, location);
  }

  anyAll(name: string, a: A_Expr, all: boolean): Expr {
    const location = a.location;
    if (a.rexpr && 'SubLink' in a.rexpr) {
      if (!this.scope.subquery) throw err(SqlState.featureNotSupported, 'subqueries are not supported here', this.scope, location);
    }
    const l = this.compile(a.lexpr as Node);
    const r = a.rexpr && 'A_ArrayExpr' in a.rexpr ? this.arrayExpr(a.rexpr.A_ArrayExpr, undefined, true) : this.compile(a.rexpr as Node);
    const rt = typeOf(r);
    let elem: ResultType;
    if (rt === 'unknown') elem = 'unknown';
    else if (isArrayType(rt)) elem = elementType(rt);
    else throw err('42809', 'op ANY/ALL (array) requires array on right side', this.scope, location);
    const types: ResultType[] = [typeOf(l), elem];
    const sig = resolveOperatorDetail(name, types);
    if (typeof sig === 'string') {
      const shown = `${displayType(types[0] as string)} ${name} ${displayType(types[1] as string)}`;
      if (sig === 'unsupported') throw err(SqlState.featureNotSupported, `operator ${shown} is not supported`, this.scope, location);
      if (sig === 'ambiguous') {
        throw err('42725', `operator is not unique: ${shown}`, this.scope, location, {
          hint: 'Could not choose a best candidate operator. You might need to add explicit type casts.',
        });
      }
      throw err(SqlState.undefinedFunction, `operator does not exist: ${shown}`, this.scope, location, {
        hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
      });
    }
    if (sig.t !== 'boolean') throw err('42809', 'op ANY/ALL (array) requires operator to yield boolean', this.scope, location);
    const left = this.coerce(l, sig.args[0] as SqlType, 'implicit', loc(a.lexpr));
    const arrT = `${sig.args[1] as string}[]` as SqlType;
    const right = this.coerce(r, arrT, 'implicit', loc(a.rexpr));
    const out: Expr = { k: 'any', op: name, arg: left, array: right };
    if (all) out.all = true;
    return out;
  }

  inList(a: A_Expr, not: boolean): Expr {
    const location = a.location;
    const rex = a.rexpr as Node;
    if ('SubLink' in rex) {
      if (!this.scope.subquery) throw err(SqlState.featureNotSupported, 'subqueries are not supported here', this.scope, location);
      return this.scope.subquery({ SubLink: rex.SubLink }, location);
    }
    const items = 'List' in rex ? (rex.List.items ?? []) : [rex];
    const l = this.compile(a.lexpr as Node);
    const list = items.map((i) => this.compile(i));
    const all = [l, ...list];
    // transformAExprIn: one common type for the whole list when there is one and = exists for it.
    let common: ResultType | undefined;
    try {
      common = commonType(all.map(typeOf), 'IN');
      if (!all.every((e) => canCast(typeOf(e), common as SqlType, 'implicit'))) common = undefined;
    } catch {
      common = undefined;
    }
    if (common !== undefined) {
      const t = common === 'unknown' ? 'text' : common;
      const sig = resolveOperatorDetail(not ? '<>' : '=', [t, t]);
      if (typeof sig !== 'string' && sig.t === 'boolean' && sig.args[0] === t && sig.args[1] === t) {
        const arg = this.coerce(l, t as SqlType, 'implicit', loc(a.lexpr));
        const out: Expr = { k: 'in', arg, list: list.map((e, i) => this.coerce(e, t as SqlType, 'implicit', loc(items[i]))) };
        if (not) out.not = true;
        return out;
      }
    }
    // Otherwise a chain of = (OR) / <> (AND), each resolved on its own.
    const parts = list.map((e, i) => this.op(not ? '<>' : '=', [l, e], location, [loc(a.lexpr), loc(items[i])]));
    if (parts.length === 1) return parts[0] as Expr;
    return { k: not ? 'and' : 'or', args: parts };
  }

  between(a: A_Expr, kind: string): Expr {
    const location = a.location;
    const items = (a.rexpr && 'List' in a.rexpr ? a.rexpr.List.items : []) ?? [];
    const [lo, hi] = items as [Node, Node];
    const not = kind === 'AEXPR_NOT_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN_SYM';
    const mk = (x: Node, y: Node): Expr => {
      const v = this.compile(a.lexpr as Node);
      const ge = this.op(not ? '<' : '>=', [v, this.compile(x)], location, [loc(a.lexpr), loc(x)]);
      const le = this.op(not ? '>' : '<=', [this.compile(a.lexpr as Node), this.compile(y)], location, [loc(a.lexpr), loc(y)]);
      return { k: not ? 'or' : 'and', args: [ge, le] };
    };
    const direct = mk(lo, hi);
    if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN') return direct;
    const swapped = mk(hi, lo);
    return { k: not ? 'and' : 'or', args: [direct, swapped] };
  }

  boolExpr(b: BoolExpr): Expr {
    const args = b.args ?? [];
    const op = b.boolop ?? 'AND_EXPR';
    const what = op === 'AND_EXPR' ? 'AND' : op === 'OR_EXPR' ? 'OR' : 'NOT';
    const compiled = args.map((x) => this.toBoolean(this.compile(x), what, loc(x)));
    if (op === 'NOT_EXPR') return { k: 'not', arg: compiled[0] as Expr };
    return { k: op === 'AND_EXPR' ? 'and' : 'or', args: compiled };
  }

  nullTest(n: NullTest): Expr {
    const arg = this.compile(n.arg as Node);
    return { k: 'test', op: n.nulltesttype === 'IS_NOT_NULL' ? 'not_null' : 'null', arg };
  }

  booleanTest(b: BooleanTest): Expr {
    const op = BOOL_TESTS[b.booltesttype ?? 'IS_TRUE'];
    const what = `IS ${op.replace('not_', 'NOT ').toUpperCase()}`;
    return { k: 'test', op, arg: this.toBoolean(this.compile(b.arg as Node), what, loc(b.arg)) };
  }

  // -------------------------------------------------------------------------------------------
  // Casts, arrays, subscripts

  typeCast(c: TypeCast): Expr {
    const { t, typmod } = resolveTypeNameNode(c.typeName as TypeName, this.scope);
    const argNode = c.arg as Node;
    let arg: Expr;
    if ('A_ArrayExpr' in argNode && isArrayType(t)) arg = this.arrayExpr(argNode.A_ArrayExpr, t);
    else arg = this.compile(argNode);
    const location = c.location !== undefined && c.location >= 0 ? c.location : loc(argNode);
    // Literal input is reported at the literal.
    const at = typeOf(arg) === 'unknown' && arg.k === 'const' ? loc(argNode) : location;
    return this.coerce(arg, t, 'explicit', at, typmod);
  }

  arrayExpr(a: A_ArrayExpr, target: SqlType | undefined, forAny = false): Expr {
    const els = a.elements ?? [];
    if (els.some((e) => 'A_ArrayExpr' in e))
      throw err(SqlState.featureNotSupported, 'multidimensional arrays are not supported', this.scope, a.location);
    const items = els.map((e) => this.compile(e));
    if (target !== undefined) {
      const te = elementType(target);
      return { k: 'array', items: items.map((e, i) => this.coerce(e, te, 'explicit', loc(els[i]))), t: target };
    }
    if (items.length === 0) {
      throw err('42P18', 'cannot determine type of empty array', this.scope, a.location, {
        hint: 'Explicitly cast to the desired type, for example ARRAY[]::integer[].',
      });
    }
    const u = this.unify(
      items,
      'ARRAY',
      els.map((e) => loc(e)),
    );
    let t = u.t;
    if (t === 'unknown') t = 'text';
    void forAny;
    if (isArrayType(t)) throw err(SqlState.featureNotSupported, 'multidimensional arrays are not supported', this.scope, a.location);
    const coerced = u.t === 'unknown' ? items.map((e, i) => this.coerce(e, 'text', 'implicit', loc(els[i]))) : u.exprs;
    return { k: 'array', items: coerced, t: `${t}[]` as SqlType };
  }

  indirection(ind: A_Indirection): Expr {
    let e = this.compile(ind.arg as Node);
    for (const step of ind.indirection ?? []) {
      if ('A_Indices' in step) {
        const t = typeOf(e);
        const idx = step.A_Indices;
        if (t === 'jsonb' && !idx.is_slice) {
          const k = this.compile(idx.uidx as Node);
          const kt = typeOf(k);
          const key =
            kt === 'unknown'
              ? this.coerce(k, 'text', 'implicit', loc(idx.uidx))
              : kt === 'text' || kt === 'integer'
                ? k
                : this.coerce(k, 'text', 'implicit', loc(idx.uidx));
          e = { k: 'call', fn: '->', args: [e, key], t: 'jsonb' };
          continue;
        }
        if (!isArrayType(t)) {
          throw err(
            SqlState.datatypeMismatch,
            `cannot subscript type ${displayType(t)} because it does not support subscripting`,
            this.scope,
            loc(ind.arg),
          );
        }
        const sub = (n: Node | undefined): Expr | undefined => {
          if (!n) return undefined;
          const x = this.compile(n);
          const xt = typeOf(x);
          if (xt !== 'integer' && !canCast(xt, 'integer', 'assignment')) {
            throw err(SqlState.datatypeMismatch, 'array subscript must have type integer', this.scope, loc(n));
          }
          return this.coerce(x, 'integer', 'assignment', loc(n));
        };
        if (idx.is_slice) {
          const lo = sub(idx.lidx) ?? { k: 'const', v: null, t: 'integer' };
          const hi = sub(idx.uidx) ?? { k: 'const', v: null, t: 'integer' };
          e = { k: 'call', fn: '[:]', args: [e, lo, hi], t };
        } else {
          e = { k: 'call', fn: '[]', args: [e, sub(idx.uidx) as Expr], t: elementType(t) };
        }
      } else {
        throw err(SqlState.featureNotSupported, 'field selection is not supported', this.scope, loc(ind.arg));
      }
    }
    return e;
  }

  collate(c: CollateClause): Expr {
    const arg = this.compile(c.arg as Node);
    const name = nameList(c.collname).join('.');
    if (!/^(C|POSIX|default|ucs_basic)$/.test(name)) {
      throw err(
        SqlState.featureNotSupported,
        `collation "${name}" is not supported (text compares in the C collation)`,
        this.scope,
        c.location,
      );
    }
    const t = typeOf(arg);
    if (
      t !== 'unknown' &&
      t !== 'text' &&
      t !== 'varchar' &&
      t !== 'char' &&
      !(isArrayType(t) && ['text', 'varchar', 'char'].includes(elementType(t)))
    ) {
      throw err('42804', `collations are not supported by type ${displayType(t)}`, this.scope, c.location);
    }
    return arg;
  }

  // -------------------------------------------------------------------------------------------
  // Conditionals

  caseExpr(c: CaseExpr): Expr {
    const whens = c.args ?? [];
    const results = whens.map((w) => ('CaseWhen' in w ? w.CaseWhen : {}));
    const thenExprs = results.map((w) => this.compile(w.result as Node));
    const elseExpr = c.defresult ? this.compile(c.defresult) : undefined;
    const all = elseExpr ? [...thenExprs, elseExpr] : thenExprs;
    const locs = [...results.map((w) => loc(w.result)), loc(c.defresult)];
    const u = this.unify(all, 'CASE', locs);
    let t = u.t;
    let outs = u.exprs;
    if (t === 'unknown') {
      t = 'text';
      outs = all.map((e, i) => this.coerce(e, 'text', 'implicit', locs[i]));
    }
    const out: { k: 'case'; arg?: Expr; when: { cond: Expr; then: Expr }[]; else?: Expr; t: ResultType } = { k: 'case', when: [], t };
    if (c.arg) {
      const arg = this.compile(c.arg);
      let argT = typeOf(arg);
      const conds = results.map((w) => this.compile(w.expr as Node));
      const eqs = conds.map((x, i) => this.op('=', [arg, x], loc(results[i]?.expr), [loc(c.arg), loc(results[i]?.expr)]));
      const sameArg = eqs.every(
        (eq) => eq.k === 'call' && JSON.stringify(eq.args[0]) === JSON.stringify(eqs[0]?.k === 'call' ? eqs[0].args[0] : undefined),
      );
      if (sameArg && eqs[0]?.k === 'call') {
        out.arg = eqs[0].args[0] as Expr;
        argT = typeOf(out.arg);
        void argT;
        out.when = eqs.map((eq, i) => arm((eq as { args: Expr[] }).args[1] as Expr, outs[i] as Expr));
      } else {
        out.when = eqs.map((eq, i) => arm(eq, outs[i] as Expr));
      }
    } else {
      out.when = results.map((w, i) => arm(this.toBoolean(this.compile(w.expr as Node), 'CASE/WHEN', loc(w.expr)), outs[i] as Expr));
    }
    if (elseExpr) out.else = outs[outs.length - 1] as Expr;
    return out;
  }

  coalesce(c: CoalesceExpr): Expr {
    const nodes = c.args ?? [];
    const args = nodes.map((n) => this.compile(n));
    const locs = nodes.map((n) => loc(n));
    const u = this.unify(args, 'COALESCE', locs);
    if (u.t === 'unknown') return { k: 'coalesce', args: args.map((e, i) => this.coerce(e, 'text', 'implicit', locs[i])), t: 'text' };
    return { k: 'coalesce', args: u.exprs, t: u.t };
  }

  minMax(m: MinMaxExpr): Expr {
    const nodes = m.args ?? [];
    const what = m.op === 'IS_LEAST' ? 'LEAST' : 'GREATEST';
    const args = nodes.map((n) => this.compile(n));
    const locs = nodes.map((n) => loc(n));
    const u = this.unify(args, what, locs);
    let t = u.t;
    let exprs = u.exprs;
    if (t === 'unknown') {
      t = 'text';
      exprs = args.map((e, i) => this.coerce(e, 'text', 'implicit', locs[i]));
    }
    const cmp = resolveOperatorDetail('<', [t, t]);
    if (typeof cmp === 'string') {
      throw err(SqlState.undefinedFunction, `could not identify a comparison function for type ${displayType(t)}`, this.scope, m.location);
    }
    return { k: what === 'LEAST' ? 'least' : 'greatest', args: exprs, t };
  }

  // -------------------------------------------------------------------------------------------
  // Functions

  sqlValueFunction(f: SQLValueFunction): Expr {
    const s = this.scope.session ?? DEFAULT_SESSION;
    switch (f.op) {
      case 'SVFOP_CURRENT_DATE':
        return { k: 'call', fn: 'current_date', args: [], t: 'date' };
      case 'SVFOP_CURRENT_TIMESTAMP':
      case 'SVFOP_CURRENT_TIMESTAMP_N':
        return { k: 'call', fn: 'now', args: [], t: 'timestamptz' };
      case 'SVFOP_LOCALTIMESTAMP':
      case 'SVFOP_LOCALTIMESTAMP_N':
        return { k: 'call', fn: 'localtimestamp', args: [], t: 'timestamp' };
      case 'SVFOP_LOCALTIME':
      case 'SVFOP_LOCALTIME_N':
        return { k: 'call', fn: 'localtime', args: [], t: 'time' };
      case 'SVFOP_CURRENT_ROLE':
      case 'SVFOP_CURRENT_USER':
      case 'SVFOP_USER':
      case 'SVFOP_SESSION_USER':
        return { k: 'const', v: s.user, t: 'text' };
      case 'SVFOP_CURRENT_CATALOG':
        return { k: 'const', v: s.database, t: 'text' };
      case 'SVFOP_CURRENT_SCHEMA':
        return { k: 'const', v: s.schema, t: 'text' };
      default:
        throw err(SqlState.featureNotSupported, 'CURRENT_TIME (time with time zone) is not supported', this.scope, f.location);
    }
  }

  funcCall(f: FuncCall): Expr {
    const names = nameList(f.funcname);
    const name = (names[names.length - 1] ?? '').toLowerCase();
    const location = f.location;
    const kind = functionKind(name);
    if (
      f.over ||
      f.agg_star ||
      f.agg_distinct ||
      f.agg_filter ||
      (f.agg_order?.length ?? 0) > 0 ||
      kind === 'aggregate' ||
      kind === 'window'
    ) {
      if (kind === 'scalar' && !f.over) {
        throw err(
          SqlState.syntaxError,
          `${f.agg_star ? `${name}(*)` : 'DISTINCT/ORDER BY'} specified, but ${name} is not an aggregate function`,
          this.scope,
          location,
        );
      }
      if (this.scope.aggregate) return this.scope.aggregate(f, location);
      const what = f.over || kind === 'window' ? 'window functions' : 'aggregate functions';
      throw err(
        f.over || kind === 'window' ? '42P20' : '42803',
        `${what} are not allowed in ${this.scope.exprKind ?? 'this context'}`,
        this.scope,
        location,
      );
    }
    const argNodes = f.args ?? [];
    // Named notation (make_interval(days => 3)).
    if (argNodes.some((a) => 'NamedArgExpr' in a)) return this.namedCall(name, f);
    const args = argNodes.map((a) => this.compile(a));
    const argLocs = argNodes.map((a) => loc(a));
    const seq = SEQUENCE_FUNCTIONS[name];
    if (seq) return this.sequenceCall(name, seq, args, argLocs, location);
    return this.call(name, args, argLocs, location, f.func_variadic === true, f);
  }

  namedCall(name: string, f: FuncCall): Expr {
    const spec = NAMED_ARGS[name];
    if (!spec) throw err(SqlState.featureNotSupported, `named arguments are not supported for ${name}()`, this.scope, f.location);
    const slots: (Expr | undefined)[] = [];
    const locs: (number | undefined)[] = [];
    let pos = 0;
    for (const a of f.args ?? []) {
      if ('NamedArgExpr' in a) {
        const i = spec.names.indexOf(a.NamedArgExpr.name ?? '');
        if (i < 0)
          throw err(
            SqlState.undefinedFunction,
            `function ${name} does not have an argument named "${a.NamedArgExpr.name}"`,
            this.scope,
            f.location,
          );
        slots[i] = this.compile(a.NamedArgExpr.arg as Node);
        locs[i] = loc(a.NamedArgExpr.arg);
      } else {
        slots[pos] = this.compile(a);
        locs[pos] = loc(a);
        pos++;
      }
    }
    const args = spec.names.map((_, i) => slots[i] ?? (spec.defaults[i] as Expr));
    return this.call(name, args, locs, f.location, false, f);
  }

  sequenceCall(
    name: string,
    sigs: { args: SqlType[]; t: SqlType }[],
    args: Expr[],
    argLocs: (number | undefined)[],
    location: number | undefined,
  ): Expr {
    const sig = sigs.find((s) => s.args.length === args.length);
    if (!sig) {
      throw err(
        SqlState.undefinedFunction,
        `function ${name}(${args.map((a) => displayType(typeOf(a))).join(', ')}) does not exist`,
        this.scope,
        location,
        {
          hint: 'No function matches the given name and argument types. You might need to add explicit type casts.',
        },
      );
    }
    const cast = args.map((a, i) => this.coerce(a, sig.args[i] as SqlType, 'implicit', argLocs[i] ?? location));
    return { k: 'call', fn: name, args: cast, t: sig.t };
  }

  call(name: string, args: Expr[], argLocs: (number | undefined)[], location: number | undefined, variadic: boolean, f: FuncCall): Expr {
    const types = args.map(typeOf);
    const sig = resolveFunctionDetail(name, types, variadic);
    if (typeof sig === 'string') {
      const shown = `${name}(${types.map((t) => displayType(t)).join(', ')})`;
      if (sig === 'ambiguous') {
        throw err('42725', `function ${shown} is not unique`, this.scope, location, {
          hint: 'Could not choose a best candidate function. You might need to add explicit type casts.',
        });
      }
      // A type name used as a function is a cast (int4(x), text(x)).
      const asType = resolveTypeName(name);
      if (asType && args.length === 1 && canCast(types[0] as ResultType, asType, 'explicit')) {
        return this.coerce(args[0] as Expr, asType, 'explicit', location);
      }
      if (sig === 'unsupported') throw err(SqlState.featureNotSupported, `function ${shown} is not supported`, this.scope, location);
      throw err(SqlState.undefinedFunction, `function ${shown} does not exist`, this.scope, location, {
        hint: 'No function matches the given name and argument types. You might need to add explicit type casts.',
      });
    }
    this.checkPolymorphic(sig, location);
    const cast = args.map((a, i) => this.coerce(a, sig.args[i] as SqlType, 'implicit', argLocs[i] ?? location));
    if (sig.setReturning) {
      if (this.scope.setReturning) return this.scope.setReturning(f, sig, cast);
      throw err(
        SqlState.featureNotSupported,
        `set-returning functions are not allowed in ${this.scope.exprKind ?? 'this context'}`,
        this.scope,
        location,
      );
    }
    return { k: 'call', fn: name, args: cast, t: sig.t };
  }
}

/** Unused-type guard: DataError is part of this module's documented throws. */
export type CompileError = DataError | StratumError | UnsupportedError;
