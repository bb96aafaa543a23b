/**
 * Issue 5 item 7 at small scale: 8 sessions × ~40 operations over a distributed cluster
 * (2 TX engines whose clocks are skewed +2 ms and −2 ms with ε = 5 ms, 1 ingestion engine,
 * 1 OLAP shard, the router, a harness-started nats-server), four tables, one per consistency
 * mode. The recorded history must have zero violations, and every check must have examined a
 * non-trivial number of operations.
 *
 * The same workload runs over the embedded form (`stratum up`), whose one clock makes ε = 0
 * (docs/architecture.md, "Clocks and commit-wait"): no commit-wait at all, and the checker is
 * given ε = 0, so real-time order is checked with no slack.
 *
 * Env: HISTORY_SESSIONS, HISTORY_OPS (per session) to scale it up by hand.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import { type Cluster, type EmbeddedServer, startCluster, startEmbeddedServer } from '../test-harness.ts';
import { CHECKS, checkHistory, formatReport } from './checker.ts';
import { consistencyYaml, DEFAULT_TABLES, historyClusterSpec, runWorkload } from './workload.ts';

const EPS_MS = 5;
const SESSIONS = Number(process.env.HISTORY_SESSIONS ?? 8);
const OPS = Number(process.env.HISTORY_OPS ?? 40);

/**
 * Run the workload against the router on `port`, check its history with the declared ε
 * (`epsMs`) and assert zero violations, every check exercised, and most statements succeeding
 * (the rest are expected retries/timeouts, counted in the report).
 */
async function workloadWithoutViolations(port: number, epsMs: number): Promise<Awaited<ReturnType<typeof runWorkload>>> {
  const res = await runWorkload({
    host: '127.0.0.1',
    port,
    sessions: SESSIONS,
    opsPerSession: OPS,
    keys: 16,
    epsMs,
    settleTimeoutMs: 60_000,
    log: (l) => process.env.STRATUM_TEST_LOG && console.log(l),
  });
  const report = checkHistory(res.history, res.order, { convergeDeadlineMs: 60_000 });
  const summary = formatReport(report, 40);
  console.log(summary);
  assert.equal(report.totalViolations, 0, summary);
  assert.ok(report.operations >= SESSIONS * OPS, summary);
  for (const c of CHECKS) assert.ok(report.checked[c] >= 10, `${c} examined only ${report.checked[c]}:\n${summary}`);
  const failed = Object.values(report.failedBySqlstate).reduce((a, b) => a + b, 0);
  assert.ok(failed < report.operations / 2, summary);
  return res;
}

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
    const res = await workloadWithoutViolations(cluster.pgPort, EPS_MS);
    // Both (skewed) engines committed versions, so the skew is actually exercised.
    const byEngine = new Map<string, number>();
    for (const byKey of res.order.values())
      for (const l of byKey.values()) for (const v of l) byEngine.set(v.engine, (byEngine.get(v.engine) ?? 0) + 1);
    assert.ok((byEngine.get('tx1') ?? 0) > 0 && (byEngine.get('tx2') ?? 0) > 0, `versions per engine: ${JSON.stringify([...byEngine])}`);
  });
});

describe('history checker over the embedded form: one clock, ε = 0', { timeout: 600_000 }, () => {
  let dir: string;
  let server: EmbeddedServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-history-embedded-'));
    const file = join(dir, 'stratum.yaml');
    // clock.eps_ms is deliberately large: the embedded form must not wait on it.
    await writeFile(
      file,
      ['clock:', '  eps_ms: 500', 'ingestion:', '  push_interval_ms: 1000', '  push_rows: 500', ...consistencyYaml(DEFAULT_TABLES)].join(
        '\n',
      ),
    );
    server = await startEmbeddedServer(join(dir, 'data'), ['--config', file]);
  });

  after(async () => {
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test(`${SESSIONS} sessions × ${OPS} operations over all four modes: zero violations with ε = 0`, async () => {
    await workloadWithoutViolations(server.pgPort, 0);
  });
});
