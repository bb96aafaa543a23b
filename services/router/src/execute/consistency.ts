/**
 * Consistency modes at read time (DESIGN §6, per table from `table_consistency`):
 * - eventual: reads are served at once by the session's TX engine or OLAP + delta;
 * - bounded_staleness: reads include every commit with ts ≤ now().latest − max_staleness_ms;
 * - monotonic_reads (default): reads include what the session wrote or read before (its session
 *   token): analytical reads wait for the ingestion watermark to pass it, point reads ask the
 *   engine for versions written through other engines;
 * - strict_serializable: writes and point reads go to the key's owning TX engine (hash of the
 *   primary key over the engine list); analytical reads wait until the watermark passes
 *   now().latest of the read's start.
 * A requirement not met within the statement timeout fails with 57014 naming the table, the mode
 * and what was missing, or, with allow_degraded, is answered with a NOTICE giving the staleness.
 */

import type { SelectStmt } from '@pgsql/types';
import {
  partitionOf,
  type ReadFreshness,
  type RowVersion,
  SqlState,
  StratumError,
  type TableInfo,
  type TxEngineApi,
  type Value,
} from '@stratum/shared';
import type { Notice } from '../pgwire/types.ts';
import { timeRangeOf } from '../placement.ts';
import type { PlanTable } from '../plan/types.ts';
import type { RouterSession } from '../session.ts';
import type { Params } from './bind.ts';

/** A table's consistency requirement for one analytical read. */
export interface Requirement {
  table: string;
  mode: string;
  /** Commit timestamp (ms) the watermark must reach. */
  ts: number;
  /** What that timestamp stands for, for messages. */
  what: string;
  allowDegraded: boolean;
}

/**
 * What an analytical read of `tables` must include, per table mode (DESIGN §6): nothing
 * (eventual), every commit up to now().latest − max_staleness_ms (bounded_staleness), what the
 * session wrote or read (monotonic_reads), every commit acknowledged before now (strict).
 * Tables whose time range (WHERE on `time_column`, one table only) ends before the ingestion
 * retention skip the row tiers and need nothing (DESIGN §7); they are listed in `skipped`.
 * @throws StratumError 40001 for a strict table while this router's clock is unsynchronized
 *   (unless allow_degraded, which then reads without the real-time guarantee).
 */
export function requirements(
  s: RouterSession,
  tables: PlanTable[],
  where: { stmt: SelectStmt; refs: { name: string; alias: string }[] } | undefined,
  params: Params,
): { reqs: Requirement[]; skipped: string[] } {
  const out: Requirement[] = [];
  const skipped: string[] = [];
  const now = s.ctx.clock.now();
  for (const pt of tables) {
    const t = s.catalog.find(pt.name);
    if (!t) continue;
    const c = t.options.consistency;
    const r = { table: t.name, mode: c.mode, allowDegraded: c.allowDegraded };
    // DESIGN §7: a time range that ends before the ingestion tier's retention skips that tier.
    const col = t.options.timeColumn;
    const ref = where && where.refs.length === 1 ? where.refs[0] : undefined;
    const hi = ref && ref.name === t.name ? timeRangeOf(t, where?.stmt.whereClause, params, ref.alias, true)?.hiMs : undefined;
    const keep = t.options.ingestionRetentionMs ?? 7 * 86_400_000;
    if (hi !== undefined && hi < now.earliest - keep && !s.tableWrites.has(t.name) && !s.txn?.tables.has(t.name)) {
      skipped.push(
        `${t.name}: ${col} ends ${new Date(hi).toISOString()}, before now − ingestion_retention (${keep} ms): row tiers skipped, OLAP files only`,
      );
      continue;
    }
    if (c.mode === 'monotonic_reads') {
      const ts = s.seenTs;
      if (ts > 0) out.push({ ...r, ts, what: 'what this session wrote or read before (its session token)' });
    } else if (c.mode === 'bounded_staleness') {
      out.push({ ...r, ts: now.latest - (c.maxStalenessMs ?? 0), what: `every commit up to now − ${c.maxStalenessMs} ms` });
    } else if (c.mode === 'strict_serializable') {
      if (!s.ctx.clock.synchronized() || !Number.isFinite(now.latest)) {
        const why = s.ctx.clock.unsynchronizedReason?.() || `ε ${s.ctx.clock.eps()} ms`;
        if (!c.allowDegraded) {
          throw new StratumError(
            SqlState.serializationFailure,
            `table "${t.name}" (strict_serializable): read refused: this router's clock is unsynchronized (${why}), so "every commit acknowledged before the read" has no bound`,
            { hint: 'Retry once the clock service is reachable again; see the stratum_clock_* metrics.' },
          );
        }
        out.push({ ...r, ts: Number.POSITIVE_INFINITY, what: 'every commit acknowledged before the read (clock unsynchronized)' });
      } else out.push({ ...r, ts: now.latest, what: 'every commit acknowledged before the read began (now().latest)' });
    }
  }
  return { reqs: out, skipped };
}

/** A watermark as text for messages. */
export function wmText(ms: number): string {
  return ms < 0 ? 'none yet' : Number.isFinite(ms) ? new Date(ms).toISOString() : 'unbounded';
}

/**
 * Wait until every ingestion watermark meets the requirements, up to the statement's wait budget.
 * @returns NOTICEs for tables served degraded (allow_degraded) with their possible staleness.
 * @throws StratumError 57014 naming the first table whose mode was not met, the mode, the
 *   timestamp it needed and the watermark reached.
 */
export async function meet(s: RouterSession, reqs: Requirement[]): Promise<Notice[]> {
  const budget = s.waitBudgetMs();
  const deadline = performance.now() + budget;
  // An unbounded requirement (strict, clock unsynchronized, allow_degraded) cannot be met by
  // waiting: wait for the bounded ones only.
  const need = reqs.reduce((m, r) => (Number.isFinite(r.ts) ? Math.max(m, r.ts) : m), 0);
  const w = await s.ctx.watermarks.waitFor(need, deadline);
  const unmet = reqs.filter((r) => r.ts > w);
  const hard = unmet.find((r) => !r.allowDegraded);
  if (hard) {
    throw new StratumError(
      SqlState.queryCanceled,
      `table "${hard.table}" (${hard.mode}): the read must include ${hard.what} (${wmText(hard.ts)}), but the ingestion watermark reached only ${wmText(w)} within ${Math.round(budget)} ms`,
      { hint: 'Is the bus, a TX engine or ingestion down? allow_degraded: true answers such reads with a staleness notice.' },
    );
  }
  const now = s.ctx.clock.now().latest;
  return unmet.map((r) => ({
    severity: 'NOTICE' as const,
    code: '01000',
    message: `table "${r.table}" (${r.mode}, allow_degraded): answered from watermark ${wmText(w)}, without ${r.what}; rows may be stale by up to ${w < 0 ? 'an unknown time' : `${Math.max(0, Math.round(now - w))} ms`}`,
  }));
}

/**
 * Wait until every ingestion watermark has passed `stratum.as_of` (the state at that time is
 * then complete), up to the statement's wait budget.
 * @throws StratumError 57014 naming the watermark reached.
 */
export async function waitForAsOf(s: RouterSession, ts: number): Promise<void> {
  const budget = s.waitBudgetMs();
  const w = await s.ctx.watermarks.waitFor(ts, performance.now() + budget);
  if (w >= ts) return;
  throw new StratumError(
    SqlState.queryCanceled,
    `ingestion watermark ${wmText(w)} did not reach stratum.as_of ${new Date(ts).toISOString()} within ${Math.round(budget)} ms; is the bus, a TX engine or ingestion down?`,
  );
}

/**
 * Index of the TX engine that owns `key` of `t` (DESIGN §2: hash of the table and primary key
 * over the engine list). By table name, so an operator can compute an owner from SQL alone.
 */
export function ownerOf(s: RouterSession, t: TableInfo, key: Value[]): number {
  return partitionOf(t.name, key, s.ctx.txEngines.length);
}

/**
 * Put block `s.txn` on TX engine `target` (the owner of a strict key it is about to touch):
 * moved there while nothing ran in it yet.
 * @throws UnsupportedError (0A000) when the block already runs statements on another engine.
 */
export async function moveBlock(
  s: RouterSession,
  target: number,
  what: string,
  table = 'a key of a strict_serializable table',
): Promise<void> {
  const t = s.txn;
  if (!t || target === t.engine) return;
  if (t.pinned) {
    throw new StratumError(
      SqlState.featureNotSupported,
      `this transaction block runs on TX engine ${t.engine + 1}, but it ${what} ${table} owned by engine ${target + 1}`,
      {
        hint: "Touch keys of one owner per transaction block (start the block with the owning table's statement), or use autocommit statements.",
      },
    );
  }
  // Nothing ran in the block yet: move it to the owner.
  await (s.ctx.txEngines[t.engine] as TxEngineApi).rollback(t.id);
  t.id = await (s.ctx.txEngines[target] as TxEngineApi).begin(t.isolation);
  t.engine = target;
}

/**
 * The freshness a point read at engine `idx` needs (DESIGN §6): commits this session made
 * through other engines, and for bounded_staleness every commit up to now − max_staleness_ms.
 */
export function pointFreshness(s: RouterSession, t: TableInfo, idx: number): { fresh?: ReadFreshness; what: string } {
  const cons = t.options.consistency;
  let minTs = s.writesElsewhere(idx);
  let what = 'commits this session made through another TX engine';
  if (cons.mode === 'bounded_staleness') {
    const b = s.ctx.clock.now().latest - (cons.maxStalenessMs ?? 0);
    if (b > minTs) {
      minTs = b;
      what = `every commit up to now − ${cons.maxStalenessMs} ms`;
    }
  }
  if (minTs <= 0 || cons.mode === 'eventual') return { what };
  return { fresh: { minTs, timeoutMs: s.waitBudgetMs() }, what };
}

/**
 * A row-tier read under the table's mode, degraded when allowed: runs `read(fresh)`, and when
 * the freshness cannot be met in time either fails with 57014 naming table, mode and what was
 * missing, or (allow_degraded) reads without it and adds a NOTICE.
 */
export async function withFreshness<T>(
  s: RouterSession,
  t: TableInfo,
  idx: number,
  notices: Notice[],
  read: (fresh: ReadFreshness | undefined) => Promise<T>,
): Promise<T> {
  const { fresh, what } = pointFreshness(s, t, idx);
  if (!fresh) return read(undefined);
  try {
    return await read(fresh);
  } catch (e) {
    if ((e as StratumError).code !== SqlState.queryCanceled) throw e;
    const cons = t.options.consistency;
    if (!cons.allowDegraded) {
      throw new StratumError(
        SqlState.queryCanceled,
        `table "${t.name}" (${cons.mode}): the read must include ${what} (${new Date(fresh.minTs).toISOString()}); ${(e as Error).message}`,
        { hint: 'Is the bus, a TX engine or ingestion down? allow_degraded: true answers such reads with a staleness notice.' },
      );
    }
    const out = await read(undefined);
    notices.push({
      severity: 'NOTICE',
      code: '01000',
      message: `table "${t.name}" (${cons.mode}, allow_degraded): answered without ${what}; it may be stale by up to ${Math.max(0, Math.round(s.ctx.clock.now().latest - fresh.minTs))} ms or more`,
    });
    return out;
  }
}

/**
 * Rows as of `asOfMs` from the ingestion engines that own their partitions, or 'olap' when an
 * engine's GC may already have removed versions that old (DESIGN §4 "GC"): OLAP then holds them.
 */
export async function readAsOf(s: RouterSession, t: TableInfo, keys: Value[][], asOfMs: number): Promise<(RowVersion | null)[] | 'olap'> {
  const byIng = new Map<number, number[]>();
  for (const [i, k] of keys.entries()) {
    const part = partitionOf(t.storage, k, s.ctx.partitions);
    const ing = s.ctx.ingestion.findIndex((x) => x.partitions.includes(part));
    if (ing < 0) return 'olap';
    byIng.set(ing, [...(byIng.get(ing) ?? []), i]);
  }
  for (const ing of byIng.keys()) {
    const st = await (s.ctx.ingestion[ing] as (typeof s.ctx.ingestion)[number]).api.status();
    if (st.gcHorizonMs !== undefined && asOfMs < st.gcHorizonMs) return 'olap';
  }
  await waitForAsOf(s, asOfMs);
  const out: (RowVersion | null)[] = new Array(keys.length).fill(null);
  for (const [ing, idx] of byIng) {
    const got = await (s.ctx.ingestion[ing] as (typeof s.ctx.ingestion)[number]).api.getMany(
      t.storage,
      idx.map((i) => keys[i] as Value[]),
      asOfMs,
    );
    idx.forEach((i, j) => {
      out[i] = got[j] ?? null;
    });
  }
  return out;
}
