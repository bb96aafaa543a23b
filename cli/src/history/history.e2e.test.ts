/**
 * Issue 5 item 7 at small scale: 8 sessions × ~40 operations over a distributed cluster
 * (2 TX engines whose clocks are skewed +2 ms and −2 ms with ε = 5 ms, 1 ingestion engine,
 * 1 OLAP shard, the router, a harness-started nats-server), four tables, one per consistency
 * mode. The recorded history must have zero violations, and every check must have examined a
 * non-trivial number of operations.
 *
 * Env: HISTORY_SESSIONS, HISTORY_OPS (per session) to scale it up by hand.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import { type Cluster, startCluster } from '../test-harness.ts';
import { CHECKS, checkHistory, formatReport } from './checker.ts';
import { historyClusterSpec, runWorkload } from './workload.ts';

const EPS_MS = 5;
const SESSIONS = Number(process.env.HISTORY_SESSIONS ?? 8);
const OPS = Number(process.env.HISTORY_OPS ?? 40);

describe('history checker over a distributed cluster with skewed TX clocks', { timeout: 600_000 }, () => {
  let dir: string;
  let nats: NatsServerHandle;
  let cluster: Cluster;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-history-'));
    nats = await startNatsServer();
    cluster = await startCluster(historyClusterSpec({ natsUrl: nats.url, dir, epsMs: EPS_MS, skewMs: 2, pushRows: 500 }));
  });

  after(async () => {
    if (cluster) for (const p of cluster.procs.values()) await p.kill();
    await nats?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test(`${SESSIONS} sessions × ${OPS} operations over all four modes: zero violations`, async () => {
    const res = await runWorkload({
      host: '127.0.0.1',
      port: cluster.pgPort,
      sessions: SESSIONS,
      opsPerSession: OPS,
      keys: 16,
      epsMs: EPS_MS,
      settleTimeoutMs: 60_000,
      log: (l) => process.env.STRATUM_TEST_LOG && console.log(l),
    });
    const report = checkHistory(res.history, res.order, { convergeDeadlineMs: 60_000 });
    const summary = formatReport(report, 40);
    console.log(summary);
    assert.equal(report.totalViolations, 0, summary);
    assert.ok(report.operations >= SESSIONS * OPS, summary);
    for (const c of CHECKS) assert.ok(report.checked[c] >= 10, `${c} examined only ${report.checked[c]}:\n${summary}`);
    // Both (skewed) engines committed versions, so the skew is actually exercised.
    const byEngine = new Map<string, number>();
    for (const byKey of res.order.values())
      for (const l of byKey.values()) for (const v of l) byEngine.set(v.engine, (byEngine.get(v.engine) ?? 0) + 1);
    assert.ok((byEngine.get('tx1') ?? 0) > 0 && (byEngine.get('tx2') ?? 0) > 0, `versions per engine: ${JSON.stringify([...byEngine])}`);
    // Most statements succeed; the rest are expected retries/timeouts, counted above.
    const failed = Object.values(report.failedBySqlstate).reduce((a, b) => a + b, 0);
    assert.ok(failed < report.operations / 2, summary);
  });
});
