/**
 * Operator commands that talk to a running cluster: `stratum status` (watermarks, stalled
 * stream pairs, OLAP watermarks, from the router's GET /status) and `stratum engine
 * decommission ID` (drain a TX engine and release the watermark it holds back).
 */
import {
  type DecommissionResult,
  type IngestionApi,
  type IngestionStatus,
  rpcClient,
  type StratumConfig,
  type TxEngineAdminApi,
} from '@stratum/shared';

/** One ingestion engine in GET /status (an unreachable one carries `error`). */
type IngestionEntry = (IngestionStatus & { id: string }) | { id: string; error: string };

/** Body of the router's GET /status. */
export interface ClusterStatus {
  now: number;
  watermark: number;
  /** The router's clock: ε (null before the first heartbeat), synchronized, and why not. */
  clock?: { epsMs: number | null; synchronized: boolean; reason?: string };
  ingestion: IngestionEntry[];
  shards: ({ id: string; watermarks: Record<string, number> } | { id: string; error: string })[];
}

const iso = (ms: number) => (ms < 0 ? 'none yet' : new Date(ms).toISOString());
const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;

/** Human-readable lines of a cluster status (what `stratum status` prints without --json). */
export function formatStatus(health: Record<string, unknown>, st: ClusterStatus): string {
  const out: string[] = [];
  out.push(
    `router: ${String(health.status ?? 'unknown')} (${String(health.form ?? 'distributed')} form, pg port ${String(health.pgPort ?? '?')})`,
  );
  out.push(`watermark: ${iso(st.watermark)}${st.watermark >= 0 ? ` (lag ${secs(st.now - st.watermark)})` : ''}`);
  if (st.clock) {
    const eps = st.clock.epsMs === null ? 'unbounded' : `${st.clock.epsMs.toFixed(2)} ms`;
    out.push(st.clock.synchronized ? `clock: synchronized, ε ${eps}` : `clock: UNSYNCHRONIZED, ε ${eps}: ${st.clock.reason ?? ''}`);
  }
  for (const i of st.ingestion) {
    if ('error' in i) {
      out.push(`ingestion ${i.id}: UNREACHABLE: ${i.error}`);
      continue;
    }
    out.push(
      `ingestion ${i.id}: watermark ${iso(i.watermark)}, partitions ${i.partitions.length}, applied ${i.applied}, conflicts ${i.conflicts}, dead letters ${i.deadLetters}`,
    );
    const stalled = i.pairs.filter((p) => p.stalled && !p.retired);
    if (stalled.length > 0) {
      const byEngine = new Map<string, typeof stalled>();
      for (const p of stalled) byEngine.set(p.engine, [...(byEngine.get(p.engine) ?? []), p]);
      for (const [engine, ps] of byEngine) {
        const worst = Math.max(...ps.map((p) => p.lagMs));
        out.push(
          `  STALLED: engine ${engine} has sent no heartbeat on ${ps.length} partition(s) for up to ${secs(worst)}; it holds the watermark back (restart it, or \`stratum engine decommission ${engine}\`)`,
        );
      }
    }
    if (i.retiredEngines.length > 0) out.push(`  retired engines: ${i.retiredEngines.join(', ')}`);
  }
  for (const s of st.shards) {
    if ('error' in s) out.push(`olap shard ${s.id}: UNREACHABLE: ${s.error}`);
    else {
      const t = Object.entries(s.watermarks);
      out.push(`olap shard ${s.id}: ${t.length === 0 ? 'no tables' : t.map(([k, v]) => `${k} ≤ ${iso(v)}`).join(', ')}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * `stratum engine decommission ID`: ask the TX engine to refuse transactions, drain its outbox
 * and publish retired heartbeats, then wait until every ingestion engine has released it. With
 * `force` and an unreachable engine, ingestion releases it at once (anything left in its outbox
 * may then land below the watermark: only for an engine whose disk is lost).
 * @throws Error naming what did not answer or did not finish within `timeoutMs`.
 */
export async function decommissionEngine(
  cfg: StratumConfig,
  id: string,
  opts: { force: boolean; timeoutMs: number; progress: (line: string) => void },
): Promise<{ result?: DecommissionResult; forced: boolean }> {
  const e = cfg.cluster.tx_engines.find((t) => t.id === id);
  if (!e) throw new Error(`no TX engine "${id}" in cluster.tx_engines (have: ${cfg.cluster.tx_engines.map((t) => t.id).join(', ')})`);
  const ings = cfg.cluster.ingestion.map((i) => ({
    id: i.id,
    api: rpcClient<IngestionApi>(i.url, ['status', 'retireEngine'], { name: `ingestion ${i.id}`, timeoutMs: 10_000 }),
  }));
  const tx = rpcClient<TxEngineAdminApi>(e.url, ['decommission'], { name: `tx-engine ${id}`, timeoutMs: opts.timeoutMs });
  let result: DecommissionResult | undefined;
  let forced = false;
  try {
    opts.progress(`asking tx-engine ${id} (${e.url}) to refuse transactions and drain its outbox…`);
    result = await tx.decommission();
    opts.progress(`outbox drained; final sequence numbers published on ${result.finalSeqs.length} partitions`);
  } catch (err) {
    if (!opts.force) {
      throw new Error(
        `${(err as Error).message}\nThe engine must drain its outbox first: start it again on its data directory, or pass --force if its disk is lost (unpublished transactions are then lost).`,
      );
    }
    opts.progress(`tx-engine ${id} unreachable; --force: releasing it on every ingestion engine now`);
    for (const i of ings) await i.api.retireEngine(id);
    forced = true;
  } finally {
    await tx.closeClient();
  }
  const deadline = Date.now() + opts.timeoutMs;
  for (const i of ings) {
    for (;;) {
      const st = await i.api.status();
      if (st.retiredEngines.includes(id) || !st.pairs.some((p) => p.engine === id)) break;
      if (Date.now() > deadline)
        throw new Error(`ingestion ${i.id} has not applied tx-engine ${id}'s final heartbeats within ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    opts.progress(`ingestion ${i.id}: ${id} no longer holds the watermark back`);
    await i.api.closeClient();
  }
  return result ? { result, forced } : { forced };
}
