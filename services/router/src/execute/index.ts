/**
 * The execute stage's entry: run a plan (docs/architecture.md "Router"). EXPLAIN renders the
 * same plan object (plan/explain.ts) and adds what only execution knows; EXPLAIN ANALYZE runs
 * that plan, so what is shown and what runs cannot disagree.
 */
import { counter, SqlState, StratumError } from '@stratum/shared';
import type { CopyInSink, CopyOutSource, StatementResult } from '../pgwire/types.ts';
import { explainLines } from '../plan/explain.ts';
import type { ExplainPlan, Plan, PlannedStatement } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import type { Params } from './bind.ts';
import { requirements, wmText } from './consistency.ts';
import { runCopy } from './copy.ts';
import { runDdl } from './ddl.ts';
import { runRead, toStatementResult } from './read.ts';
import { runUtility } from './utility.ts';
import { runInsert, runModify } from './write.ts';

const mErrors = counter('stratum_router_errors_total', 'Statements that failed, by SQLSTATE', ['code']);
const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);

/**
 * Run one planned statement for session `s`.
 * @throws StratumError with the SQLSTATE the client sees.
 */
export async function runPlan(
  s: RouterSession,
  plan: Plan,
  params: Params,
  planned?: PlannedStatement,
): Promise<StatementResult | CopyInSink | CopyOutSource> {
  try {
    return await dispatch(s, plan, params, planned);
  } catch (e) {
    mErrors.inc({ code: (e as StratumError).code ?? 'XX000' });
    throw e;
  }
}

async function dispatch(
  s: RouterSession,
  plan: Plan,
  params: Params,
  planned?: PlannedStatement,
): Promise<StatementResult | CopyInSink | CopyOutSource> {
  switch (plan.kind) {
    case 'row_read':
    case 'row_scan':
    case 'analytical':
    case 'local': {
      const r = await runRead(s, plan, params);
      mStatements.inc({ kind: 'SelectStmt', tier: r.tier });
      return toStatementResult(s, r);
    }
    case 'insert':
      return runInsert(s, plan, params);
    case 'update':
    case 'delete':
      return runModify(s, plan, params);
    case 'ddl':
      return runDdl(s, plan, params);
    case 'utility':
      return runUtility(s, plan);
    case 'explain':
      return explain(s, plan, params, planned);
    case 'copy':
      return runCopy(s, plan, params);
  }
}

/**
 * EXPLAIN [ANALYZE]: the plan's lines, the waits its tables' modes need now, the watermarks
 * consulted; for an analytical read one OLAP shard runs whole, DuckDB's own plan; with ANALYZE
 * the plan runs and its row count and time follow. One text column "QUERY PLAN", as PostgreSQL.
 */
async function explain(s: RouterSession, plan: ExplainPlan, params: Params, planned?: PlannedStatement): Promise<StatementResult> {
  const inner = plan.inner;
  const lines = explainLines(inner);
  if (inner.kind === 'analytical' && inner.refs.length > 0) {
    const placement = s.ctx.olap.plan(inner.stmt, inner.refs, params);
    lines.push(
      placement.whole
        ? `  placement: OLAP shard ${placement.whole}, whole statement`
        : "  placement: OLAP scatter/gather, finished in the router's DuckDB",
    );
    lines.push(`  reason: ${placement.reason}`);
    const partial = placement.whole ? undefined : await s.ctx.olap.explainPartial(inner.stmt, inner.refs, placement.placement);
    if (partial) lines.push(`  ${partial}`);
    else if (!placement.whole)
      for (const [t, ids] of placement.placement)
        lines.push(`  scan ${t} on ${ids.join(', ')} (projection and single-table conjuncts pushed down)`);
    if (s.asOfMs === undefined) {
      try {
        const { reqs, skipped } = requirements(s, inner.tables, { stmt: inner.stmt, refs: inner.refs }, params);
        for (const r of reqs)
          lines.push(`  waits for the ingestion watermark to reach ${wmText(r.ts)}: table ${r.table} (${r.mode}) must include ${r.what}`);
        for (const sk of skipped) lines.push(`  time range: ${sk}`);
      } catch (e) {
        lines.push(`  mode not met now: ${(e as Error).message}`);
      }
    }
    if (!plan.analyze && placement.whole) {
      const shard = s.ctx.olap.shards.find((x) => x.id === placement.whole);
      if (shard) {
        const res = await shard.api.query(
          `EXPLAIN ${inner.sql}`,
          params.map((v) => v),
          s.catalog.version,
          {},
        );
        lines.push(`DuckDB plan on ${placement.whole}:`);
        for (const row of res.rows)
          for (const cell of row) if (typeof cell === 'string') for (const l of cell.split('\n')) if (l.trim()) lines.push(`  ${l}`);
      }
    }
  }
  if (s.asOfMs !== undefined && inner.readTs === 'as_of')
    lines.push(`  read timestamp: as of ${new Date(s.asOfMs).toISOString()} (stratum.as_of; waits for every watermark to pass it)`);
  const statuses = await Promise.all(s.ctx.ingestion.map(async (i) => ({ id: i.id, st: await i.api.status() })));
  lines.push(`  watermarks: ${statuses.map((x) => `${x.id} = ${wmText(x.st.watermark)}`).join(', ') || 'none'}`);
  if (plan.analyze) {
    const t0 = performance.now();
    const r = (await dispatch(s, inner, params, planned)) as StatementResult;
    const n = r.rows?.length ?? Number(/(\d+)$/.exec(r.commandTag)?.[1] ?? 0);
    lines.push(`  actual: ${n} rows in ${(performance.now() - t0).toFixed(3)} ms`);
  }
  mStatements.inc({ kind: 'ExplainStmt', tier: 'router' });
  return { commandTag: 'EXPLAIN', fields: [{ name: 'QUERY PLAN', typeOid: 25 }], rows: lines.map((l) => [l]) };
}

export { SqlState, StratumError };
