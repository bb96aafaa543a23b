/**
 * Type resolution as PostgreSQL 15 chapter 10 "Type Conversion" describes it: the cast graph
 * (pg_cast plus automatic I/O conversion casts and array coercion, §10.1), operators (§10.2,
 * `oper_select_candidate`), functions (§10.3, `func_select_candidate`, with variadic and
 * defaulted arguments and polymorphic pseudo-types, §38.2.5) and the common type of UNION,
 * CASE, ARRAY and similar constructs (§10.5, `select_common_type`).
 *
 * The candidate signatures are PostgreSQL's own (pg-catalog.ts, generated from a PostgreSQL 15
 * catalog), so a call resolves to the signature and result type PostgreSQL picks.
 */
import { DataError, SqlState } from '../errors.ts';
import { elementType, isArrayType, type ResultType, type ScalarType, type SqlType } from '../types.ts';
import { SESSION_SIGNATURES } from './fn-session.ts';
import { PG_CASTS, PG_FUNCTIONS, PG_OPERATORS, PG_TYPE_CATEGORY } from './pg-catalog.ts';

/** Where a cast is applied (PostgreSQL 15 §10.1: implicit in expressions, assignment to columns, explicit CAST). */
export type CastContext = 'implicit' | 'assignment' | 'explicit';

/** A resolved function or operator signature: the types its arguments are cast to and its result type. */
export interface Signature {
  /** Types each argument must have (analyze casts them; variadic calls list every argument). */
  args: ResultType[];
  /** Result type. */
  t: ResultType;
  /** Volatile (nextval, random, gen_random_uuid, clock_timestamp): evaluated per row, never folded. */
  volatile?: boolean;
  /** Aggregate or window function: the analytical tier only. */
  kind?: 'scalar' | 'aggregate' | 'window';
  /** The function returns a set (generate_series, unnest, regexp_matches): allowed only where rows are produced. */
  setReturning?: boolean;
}

const LEVEL: Record<string, number> = { i: 0, a: 1, e: 2 };
const CONTEXT_LEVEL: Record<CastContext, number> = { implicit: 0, assignment: 1, explicit: 2 };

const castTable = new Map<string, number>();
for (const [s, t, c] of PG_CASTS) castTable.set(`${s}>${t}`, LEVEL[c] ?? 2);

/** PostgreSQL's type category letter (pg_type.typcategory): N numeric, S string, B boolean, D date/time, T timespan, U user, A array, X unknown. */
export function typeCategory(t: string): string {
  if (t === 'unknown') return 'X';
  if (t.endsWith('[]')) return 'A';
  return PG_TYPE_CATEGORY[t]?.[0] ?? 'P';
}

/** Whether `t` is the preferred type of its category (pg_type.typispreferred: text, double, boolean, timestamptz, interval). */
export function isPreferredType(t: string): boolean {
  return PG_TYPE_CATEGORY[t]?.[1] === true;
}

const STRING_TYPES = new Set(['text', 'varchar', 'char']);

/**
 * The weakest context in which a value of `from` casts to `to`, as a level (0 implicit,
 * 1 assignment, 2 explicit), or undefined when no cast exists. Includes pg_cast, array
 * coercion element by element, and automatic I/O conversion (to a string type: assignment;
 * from a string type: explicit), PostgreSQL 15 §10.1 and CREATE CAST.
 */
export function castLevel(from: ResultType, to: ResultType): number | undefined {
  if (from === to) return 0;
  if (from === 'unknown') return 0;
  if (to === 'unknown') return undefined;
  const direct = castTable.get(`${from}>${to}`);
  if (direct !== undefined) return direct;
  if (isArrayType(from) && isArrayType(to)) return castLevel(elementType(from), elementType(to));
  if (STRING_TYPES.has(to)) return 1;
  if (STRING_TYPES.has(from)) return 2;
  return undefined;
}

/** Whether a value of `from` casts to `to` in `context` (pg_cast, array coercion, I/O conversion). */
export function canCast(from: ResultType, to: SqlType, context: CastContext): boolean {
  const l = castLevel(from, to);
  return l !== undefined && l <= CONTEXT_LEVEL[context];
}

/** Implicit coercion of `from` to `to` (unknown literals coerce to anything). */
export function canCoerceImplicit(from: ResultType, to: ResultType): boolean {
  return castLevel(from, to) === 0;
}

/** The error of a failed common-type choice: 42804 "CASE types integer and text cannot be matched". */
function cannotMatch(what: string, a: string, b: string): DataError {
  return new DataError(SqlState.datatypeMismatch, `${what} types ${displayType(a)} and ${displayType(b)} cannot be matched`);
}

/** PostgreSQL's display name of a type in messages (`integer`, `text`, `character varying`, `integer[]`). */
export function displayType(t: string): string {
  if (t.endsWith('[]')) return `${displayType(t.slice(0, -2))}[]`;
  return DISPLAY[t] ?? t;
}

const DISPLAY: Record<string, string> = {
  double: 'double precision',
  varchar: 'character varying',
  char: 'character',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  time: 'time without time zone',
};

/**
 * The common type of the branches of CASE / COALESCE / UNION / ARRAY / VALUES, PostgreSQL 15
 * §10.5 (`select_common_type`): all unknown → text; else the first preferred type of the
 * category, or the last type the earlier ones implicitly convert to. `what` names the
 * construct in the error ("CASE", "COALESCE", "UNION", "ARRAY", "VALUES").
 * @throws DataError 42804 when the branches belong to different categories.
 */
export function commonType(types: ResultType[], what: string): ResultType {
  const known = types.filter((t) => t !== 'unknown');
  const first = known[0];
  if (first === undefined) return 'text';
  if (known.every((t) => t === first)) return first;
  let p: ResultType = first;
  let pCat = typeCategory(p);
  let pPref = isPreferredType(p);
  for (const n of known.slice(1)) {
    if (n === p) continue;
    const nCat = typeCategory(n);
    if (nCat !== pCat) throw cannotMatch(what, p, n);
    if (!pPref && canCoerceImplicit(p, n) && !canCoerceImplicit(n, p)) {
      p = n;
      pCat = nCat;
      pPref = isPreferredType(n);
    }
  }
  return p;
}

/** commonType without throwing: undefined when the types do not match. */
function tryCommonType(types: ResultType[]): ResultType | undefined {
  try {
    const t = commonType(types, '');
    return types.every((x) => canCoerceImplicit(x, t)) ? t : undefined;
  } catch {
    return undefined;
  }
}

const POLY_ELEM = new Set(['anyelement', 'anyarray', 'anynonarray']);
const POLY_COMPAT = new Set(['anycompatible', 'anycompatiblearray', 'anycompatiblenonarray']);

function isPolymorphic(t: string): boolean {
  return POLY_ELEM.has(t) || POLY_COMPAT.has(t);
}

/** A candidate signature with its declared (possibly polymorphic) argument types. */
interface Candidate {
  args: string[];
  result: string;
  flags: string;
}

/**
 * Check an argument list against a candidate and work out the concrete types
 * (check_generic_type_consistency + enforce_generic_type_consistency). Returns undefined
 * when the arguments do not implicitly coerce to it.
 */
function bind(inputs: ResultType[], cand: Candidate): { args: ResultType[]; t: ResultType } | undefined {
  let elem: ResultType | undefined;
  const compat: ResultType[] = [];
  let hasElem = false;
  let hasCompat = false;
  for (let i = 0; i < inputs.length; i++) {
    const a = inputs[i] as ResultType;
    const d = cand.args[i] as string;
    if (d === 'any') continue;
    if (POLY_ELEM.has(d)) {
      hasElem = true;
      if (a === 'unknown') continue;
      let e: ResultType;
      if (d === 'anyarray') {
        if (!isArrayType(a)) return undefined;
        e = elementType(a);
      } else {
        if (d === 'anynonarray' && isArrayType(a)) return undefined;
        e = a;
      }
      if (elem === undefined) elem = e;
      else if (elem !== e) return undefined;
      continue;
    }
    if (POLY_COMPAT.has(d)) {
      hasCompat = true;
      if (a === 'unknown') continue;
      if (d === 'anycompatiblearray') {
        if (!isArrayType(a)) return undefined;
        compat.push(elementType(a));
      } else {
        if (d === 'anycompatiblenonarray' && isArrayType(a)) return undefined;
        compat.push(a);
      }
      continue;
    }
    if (!canCoerceImplicit(a, d as ResultType)) return undefined;
  }
  // A result or argument anyelement with only unknown inputs cannot be determined (42804 later);
  // PostgreSQL still accepts the candidate here and fails when enforcing.
  let compatType: ResultType | undefined;
  if (hasCompat) {
    compatType = compat.length === 0 ? 'text' : tryCommonType(compat);
    if (compatType === undefined) return undefined;
  }
  if (hasElem && elem === undefined) elem = 'unknown';
  const concrete = (d: string, actual: ResultType): ResultType | undefined => {
    switch (d) {
      case 'any':
        return actual === 'unknown' ? 'text' : actual;
      case 'anyelement':
      case 'anynonarray':
        return elem;
      case 'anyarray':
        return elem === 'unknown' || elem === undefined ? 'unknown' : isArrayType(elem) ? undefined : (`${elem}[]` as ResultType);
      case 'anycompatible':
      case 'anycompatiblenonarray':
        return compatType;
      case 'anycompatiblearray':
        return compatType === undefined || isArrayType(compatType) ? undefined : (`${compatType}[]` as ResultType);
      default:
        return d as ResultType;
    }
  };
  const args: ResultType[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const c = concrete(cand.args[i] as string, inputs[i] as ResultType);
    if (c === undefined) return undefined;
    args.push(c);
  }
  const t = concrete(cand.result, 'unknown');
  if (t === undefined) return undefined;
  return { args, t };
}

/**
 * Pick the best candidate, PostgreSQL's `func_select_candidate` (§10.2 step 3, §10.3 step 4):
 * most exact matches, then most preferred types where coercion is needed, then unknown
 * arguments resolved by category (string wins), then "all known arguments have the same type".
 */
function selectCandidate(inputs: ResultType[], cands: Candidate[]): Candidate | undefined {
  let cs = cands;
  const n = inputs.length;
  const keepMax = (score: (c: Candidate) => number): void => {
    let best = -1;
    let out: Candidate[] = [];
    for (const c of cs) {
      const s = score(c);
      if (s > best) {
        best = s;
        out = [c];
      } else if (s === best) out.push(c);
    }
    cs = out;
  };
  keepMax((c) => inputs.reduce((k, a, i) => k + (a !== 'unknown' && c.args[i] === a ? 1 : 0), 0));
  if (cs.length === 1) return cs[0];
  keepMax((c) =>
    inputs.reduce((k, a, i) => {
      if (a === 'unknown') return k;
      const d = c.args[i] as string;
      return k + (d === a || (isPreferredType(d) && typeCategory(d) === typeCategory(a)) ? 1 : 0);
    }, 0),
  );
  if (cs.length === 1) return cs[0];
  const nUnknown = inputs.filter((a) => a === 'unknown').length;
  if (nUnknown === 0) return undefined;
  const slotCat: string[] = [];
  const slotPref: boolean[] = [];
  let resolved = true;
  for (let i = 0; i < n; i++) {
    if (inputs[i] !== 'unknown') continue;
    let cat = '';
    let pref = false;
    let conflict = false;
    for (const c of cs) {
      const d = c.args[i] as string;
      const dc = typeCategory(d);
      const dp = isPreferredType(d);
      if (cat === '') {
        cat = dc;
        pref = dp;
      } else if (dc === cat) pref ||= dp;
      else if (dc === 'S') {
        cat = dc;
        pref = dp;
      } else conflict = true;
    }
    if (conflict && cat !== 'S') {
      resolved = false;
      break;
    }
    slotCat[i] = cat;
    slotPref[i] = pref;
  }
  if (resolved) {
    const kept = cs.filter((c) => {
      for (let i = 0; i < n; i++) {
        if (inputs[i] !== 'unknown') continue;
        const d = c.args[i] as string;
        if (typeCategory(d) !== slotCat[i]) return false;
        if (slotPref[i] && !isPreferredType(d)) return false;
      }
      return true;
    });
    if (kept.length === 1) return kept[0];
    if (kept.length > 0) cs = kept;
  }
  if (nUnknown < n) {
    const known = inputs.filter((a) => a !== 'unknown');
    const k = known[0] as ResultType;
    if (known.every((a) => a === k)) {
      const as = inputs.map(() => k);
      const fits = cands.filter((c) => bind(as, c) !== undefined);
      if (fits.length === 1) return fits[0];
    }
  }
  return undefined;
}

/**
 * Why a resolution failed: no candidate fits, several fit equally (PostgreSQL words them
 * differently), or PostgreSQL's choice is a signature the evaluator does not implement.
 */
export type ResolveFailure = 'none' | 'ambiguous' | 'unsupported';

function resolveAmong(inputs: ResultType[], cands: Candidate[]): { cand: Candidate; args: ResultType[]; t: ResultType } | ResolveFailure {
  // Exact match first (no coercion at all).
  for (const c of cands) {
    if (c.args.length === inputs.length && c.args.every((d, i) => d === inputs[i]))
      return { cand: c, args: inputs.slice(), t: c.result as ResultType };
  }
  const fits: { cand: Candidate; args: ResultType[]; t: ResultType }[] = [];
  for (const c of cands) {
    const b = bind(inputs, c);
    if (b) fits.push({ cand: c, ...b });
  }
  if (fits.length === 0) return 'none';
  if (fits.length === 1) return fits[0] as (typeof fits)[number];
  const best = selectCandidate(
    inputs,
    fits.map((f) => f.cand),
  );
  if (best === undefined) return 'ambiguous';
  return fits.find((f) => f.cand === best) as (typeof fits)[number];
}

const operatorsByName = new Map<string, Candidate[]>();
for (const [name, l, r, res] of PG_OPERATORS) {
  const key = `${name}/${l === null ? 1 : 2}`;
  let list = operatorsByName.get(key);
  if (!list) operatorsByName.set(key, (list = []));
  list.push({ args: l === null ? [r] : [l, r], result: res, flags: '' });
}

const functionsByName = new Map<string, Candidate[]>();
for (const [name, args, res, flags] of [...PG_FUNCTIONS, ...SESSION_SIGNATURES]) {
  let list = functionsByName.get(name);
  if (!list) functionsByName.set(name, (list = []));
  list.push({ args, result: res, flags });
}

/** Names of operators the evaluator implements; others fail to resolve (42883). */
let operatorFilter: (op: string, args: ResultType[], t: ResultType) => boolean = () => true;
/** Names of functions the evaluator implements. */
let functionFilter: (name: string, args: ResultType[], t: ResultType) => boolean = () => true;

/** Install the evaluator's "is this implemented" predicates (called once by the evaluator module). */
export function setImplemented(
  ops: (op: string, args: ResultType[], t: ResultType) => boolean,
  fns: (name: string, args: ResultType[], t: ResultType) => boolean,
): void {
  operatorFilter = ops;
  functionFilter = fns;
}

/**
 * Resolve operator `op` for argument types (`unknown` = an untyped literal; one argument = a
 * prefix operator), PostgreSQL 15 §10.2. Undefined when no operator fits (42883).
 */
export function resolveOperator(op: string, args: ResultType[]): Signature | undefined {
  const r = resolveOperatorDetail(op, args);
  return typeof r === 'string' ? undefined : r;
}

/** {@link resolveOperator}, telling why it failed; `implementedOnly` false also returns signatures the evaluator lacks. */
export function resolveOperatorDetail(op: string, args: ResultType[], implementedOnly = true): Signature | ResolveFailure {
  const cands = operatorsByName.get(`${op}/${args.length}`) ?? [];
  const check = (sig: Signature): Signature | ResolveFailure =>
    !implementedOnly || operatorFilter(op, sig.args, sig.t) ? sig : 'unsupported';
  // binary_oper_exact: an unknown argument is assumed to have the other argument's type.
  if (args.length === 2) {
    const [l, r] = args as [ResultType, ResultType];
    const probe: ResultType[] | undefined =
      l === 'unknown' && r !== 'unknown' ? [r, r] : r === 'unknown' && l !== 'unknown' ? [l, l] : undefined;
    if (probe) {
      const exact = cands.find((c) => c.args[0] === probe[0] && c.args[1] === probe[1]);
      if (exact) return check({ args: probe, t: exact.result as ResultType });
    }
  }
  const r = resolveAmong(args, cands);
  if (typeof r === 'string') return r;
  return check({ args: r.args, t: r.t });
}

/** Expand a pg_proc row for a call with `n` arguments (variadic expansion, defaulted trailing arguments). */
function expand(c: Candidate, n: number, variadicArray: boolean): Candidate | undefined {
  const decl = c.args;
  const variadic = c.flags.includes('V');
  const dm = /D(\d+)/.exec(c.flags);
  const defaults = dm ? Number(dm[1]) : 0;
  if (variadic && !variadicArray) {
    if (n < decl.length) return undefined;
    const last = decl[decl.length - 1] as string;
    const el =
      last === 'any' ? 'any' : last === 'anyarray' ? 'anyelement' : last === 'anycompatiblearray' ? 'anycompatible' : last.slice(0, -2);
    const args = decl.slice(0, -1);
    while (args.length < n) args.push(el);
    return { ...c, args };
  }
  if (variadicArray && !variadic) return undefined;
  if (n === decl.length) return c;
  if (n < decl.length && n >= decl.length - defaults) return { ...c, args: decl.slice(0, n) };
  return undefined;
}

/** Resolve function `name` (lower case, no schema) for argument types, PostgreSQL 15 §10.3. Undefined when none fits (42883). */
export function resolveFunction(name: string, args: ResultType[]): Signature | undefined {
  const r = resolveFunctionDetail(name, args, false);
  return typeof r === 'string' ? undefined : r;
}

/**
 * {@link resolveFunction}, telling a missing function from an ambiguous one. `variadicArray`:
 * the call passes its variadic arguments as one array (`VARIADIC ARRAY[…]`); `implementedOnly`
 * false also returns signatures the evaluator lacks.
 */
export function resolveFunctionDetail(
  name: string,
  args: ResultType[],
  variadicArray: boolean,
  implementedOnly = true,
): Signature | ResolveFailure {
  const all = functionsByName.get(name) ?? [];
  const cands: Candidate[] = [];
  for (const c of all) {
    const e = expand(c, args.length, variadicArray);
    if (e) cands.push(e);
  }
  const r = resolveAmong(args, cands);
  if (typeof r === 'string') return r;
  if (implementedOnly && !functionFilter(name, r.args, r.t)) return 'unsupported';
  const sig: Signature = { args: r.args, t: r.t };
  const f = r.cand.flags;
  if (f.includes('v')) sig.volatile = true;
  if (f.includes('A')) sig.kind = 'aggregate';
  else if (f.includes('W')) sig.kind = 'window';
  if (f.includes('R')) sig.setReturning = true;
  return sig;
}

/** Whether any function of this name exists (for "function does not exist" vs. a wrong argument list). */
export function functionExists(name: string): boolean {
  return functionsByName.has(name);
}

/** Aggregate and window function names (count, sum, row_number, …), for clear refusals outside the analytical tier. */
export function functionKind(name: string): 'aggregate' | 'window' | 'scalar' | undefined {
  const list = functionsByName.get(name);
  if (!list) return undefined;
  if (list.some((c) => c.flags.includes('A'))) return 'aggregate';
  if (list.some((c) => c.flags.includes('W'))) return 'window';
  return 'scalar';
}

/** Whether `t` is a scalar type name of the model. */
export function isScalarType(t: string): t is ScalarType {
  return t in PG_TYPE_CATEGORY && !t.endsWith('[]');
}

/** Whether `t` is a polymorphic pseudo-type name (anyelement, anycompatible, …). */
export { isPolymorphic };
