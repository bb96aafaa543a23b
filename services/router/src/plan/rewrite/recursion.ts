/**
 * Recursive CTEs PostgreSQL 15 refuses at parse analysis (parse_cte.c checkWellFormedRecursion,
 * 42P19), which DuckDB would run.
 */
import type { CommonTableExpr, Node, SelectStmt } from '@pgsql/types';
import { SqlState, StratumError } from '@stratum/shared';
import { nodeOf } from '../../analyze/ast.ts';
import { forEachNode, someNode, type Tree } from '../../analyze/walk.ts';
import { funcName } from './nodes.ts';

/** True when `tree` refers to relation `name` (an unqualified RangeVar). */
export function refersTo(tree: Tree, name: string): boolean {
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

/** PostgreSQL's 42P19 error `what`, naming the CTE. */
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
export function checkRecursion(cte: CommonTableExpr, name: string): void {
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

/** checkWellFormedRecursionWalker: the references to the CTE in `tree`, refused in the contexts of {@link RECURSION_MESSAGES}. */
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
          if (w.recursive) {
            st.inner.unshift(ctes.map((c) => String(c?.ctename)));
            for (const c of ctes) walkRecursion(c?.ctequery, st);
          } else {
            const visible: string[] = [];
            st.inner.unshift(visible);
            for (const c of ctes) {
              walkRecursion(c?.ctequery, st);
              visible.push(String(c?.ctename));
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

/** Aggregate functions the recursive term may not call. */
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

/** True when FROM item `f` reads relation `name` directly (not through a subquery). */
function fromReads(f: Node | undefined, name: string): boolean {
  const rv = nodeOf(f, 'RangeVar');
  if (rv) return !rv.schemaname && rv.relname === name;
  const j = nodeOf(f, 'JoinExpr');
  if (j) return fromReads(j.larg, name) || fromReads(j.rarg, name);
  return false;
}

/** True when `n` calls an aggregate (outside subqueries). */
export function hasAggregateCall(n: Node): boolean {
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
