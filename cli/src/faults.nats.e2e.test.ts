/**
 * Fault injection on the distributed form (DESIGN §2 step 4, §4 exactly-once apply, §10–11):
 * nats-server + olap-shard + ingestion + one TX engine + router, each its own process.
 *
 * 1. Bus outage: under a steady write load, nats-server is stopped for 30 s and started
 *    again. The TX engine keeps acknowledging writes meanwhile (the outbox holds them);
 *    afterwards every acknowledged transaction reaches ingestion/OLAP exactly once,
 *    checked against a ledger where each transaction writes one unique id.
 * 2. Crash safety: the TX engine is SIGKILLed at random points under load, 20 times, and
 *    restarted on its disk. Every acknowledged transaction is present exactly once; every
 *    transaction (acknowledged or not) is either fully present or fully absent.
 *
 * Nothing here asserts timings: waits are bounded only so that a broken pipeline fails
 * with a message instead of hanging.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, type TestContext, test } from 'node:test';
import { type DeliveredMessage, decodeBusBatch, type IngestionApi, openNatsBus, partitionOf, rpcClient } from '@stratum/shared';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { freePort, type StratumProcess, spawnStratum } from './test-harness.ts';

const PARTITIONS = 16;
/** Kill rounds of the crash test (STRATUM_TEST_KILL_ROUNDS overrides, for soak runs). */
const KILL_ROUNDS = Number(process.env.STRATUM_TEST_KILL_ROUNDS ?? 20);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A distributed cluster of separate processes over a nats-server the test owns. */
interface Cluster {
  dir: string;
  nats: NatsServerHandle;
  pgPort: number;
  /** The storage name of a table (tier calls and stream partitions use it), from the router's GET /status. */
  storageOf(table: string): Promise<string>;
  txUrl: string;
  /** RPC client of the ingestion service (for diagnostics). */
  ingestion: IngestionApi & { closeClient(): Promise<void> };
  /** Running processes by service name. */
  procs: Map<string, StratumProcess>;
  /** Every TX engine process started, oldest first (for their output). */
  txHistory: StratumProcess[];
  /** (Re)start the TX engine with the same config, id and data dir. */
  startTx(): Promise<StratumProcess>;
  close(): Promise<void>;
}

async function startCluster(prefix: string): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const procs = new Map<string, StratumProcess>();
  const txHistory: StratumProcess[] = [];
  let nats: NatsServerHandle | undefined;
  let ingestion: Cluster['ingestion'] | undefined;
  const close = async () => {
    await ingestion?.closeClient().catch(() => {});
    for (const name of ['router', 'tx-engine', 'ingestion', 'olap-shard']) await procs.get(name)?.kill();
    await nats?.destroy();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    nats = await startNatsServer();
    const [tx, ing, olap, http, pgPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const cfg = [
      `data_dir: ${join(dir, 'data')}`,
      'cluster:',
      `  partitions: ${PARTITIONS}`,
      `  bus: ${nats.url}`,
      '  tx_engines:',
      `    - { id: tx1, url: "http://127.0.0.1:${tx}" }`,
      '  ingestion:',
      `    - { id: ing1, url: "http://127.0.0.1:${ing}" }`,
      '  olap_shards:',
      `    - { id: olap1, url: "http://127.0.0.1:${olap}" }`,
      'router:',
      `  pg: { port: ${pgPort} }`,
      `  http: { port: ${http} }`,
      '  statement_timeout_ms: 20000',
      '  result_cache_ttl_ms: 0',
      'ingestion:',
      '  push_interval_ms: 2000',
      '  push_rows: 20000',
      'tx:',
      '  replicated_ack_timeout_ms: 3000',
      'table_consistency:',
      '  pay: { mode: strict_serializable }',
    ].join('\n');
    const file = join(dir, 'stratum.yaml');
    await writeFile(file, cfg);
    const startTx = async () => {
      const p = await spawnStratum(['tx-engine', '--config', file, '--id', 'tx1']);
      procs.set('tx-engine', p);
      txHistory.push(p);
      return p;
    };
    procs.set('olap-shard', await spawnStratum(['olap-shard', '--config', file]));
    procs.set('ingestion', await spawnStratum(['ingestion', '--config', file]));
    await startTx();
    procs.set('router', await spawnStratum(['router', '--config', file]));
    ingestion = rpcClient<IngestionApi>(`http://127.0.0.1:${ing}`, ['get', 'getMany', 'delta', 'status'], { name: 'ingestion' });
    const storageOf = async (table: string) => {
      const st = (await (await fetch(`http://127.0.0.1:${http}/status`)).json()) as { tables: { name: string; storage: string }[] };
      return st.tables.find((x) => x.name === table)?.storage ?? table;
    };
    return { dir, nats, pgPort, txUrl: `http://127.0.0.1:${tx}`, ingestion, procs, txHistory, startTx, close, storageOf };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The TX engine's health: outbox entries not yet acknowledged by the bus, bus connection. */
async function txHealth(url: string): Promise<{ outbox: number; bus: boolean } | undefined> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    const h = (await r.json()) as { outbox: number; bus: boolean };
    return { outbox: h.outbox, bus: h.bus };
  } catch {
    return undefined;
  }
}

async function connect(pgPort: number): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'stratum', database: 'stratum' });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Outcome of one transaction attempt of a writer. */
interface Attempt {
  id: string;
  startedAt: number;
  endedAt: number;
}

/**
 * Writers: `n` pg connections, each running `txn(client, id)` in a loop with a fresh id per
 * attempt. An attempt that resolves is acknowledged, one that throws is unacknowledged
 * (it may or may not have committed). Broken connections are replaced.
 */
class Writers {
  readonly acked: Attempt[] = [];
  readonly failed: (Attempt & { error: string })[] = [];
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly clients = new Set<pg.Client>();

  constructor(
    private readonly pgPort: number,
    private readonly txn: (c: pg.Client, id: string) => Promise<unknown>,
  ) {}

  start(n: number): void {
    for (let i = 0; i < n; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    let c: pg.Client | undefined;
    let broken = false;
    while (!this.stopping) {
      if (!c || broken) {
        if (c) {
          this.clients.delete(c);
          await c.end().catch(() => {});
        }
        c = undefined;
        try {
          const nc = await connect(this.pgPort);
          broken = false;
          nc.on('error', () => {
            broken = true;
          });
          nc.on('end', () => {
            broken = true;
          });
          c = nc;
          this.clients.add(nc);
        } catch {
          await sleep(100);
          continue;
        }
      }
      const id = randomUUID();
      const startedAt = Date.now();
      try {
        await this.txn(c, id);
        this.acked.push({ id, startedAt, endedAt: Date.now() });
      } catch (e) {
        this.failed.push({ id, startedAt, endedAt: Date.now(), error: (e as Error).message });
        await sleep(20); // do not spin while the engine is down
      }
    }
    if (c) {
      this.clients.delete(c);
      await c.end().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Close connections without waiting for the loops (cleanup after a failure). */
  async abort(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.clients].map((c) => c.end().catch(() => {})));
  }
}

/**
 * Wait (bounded) until the pipeline has caught up with everything written so far: the TX
 * engine's outbox is empty, the ingestion watermark has passed the current time (so every
 * commit made until now is merged, DESIGN §4), and `count(*)` of `table` through the router
 * has reached `want` and stopped changing. Returns what it saw; the caller checks the rows.
 */
async function settle(
  cluster: Cluster,
  reader: pg.Client,
  table: string,
  want: number,
  timeoutMs: number,
): Promise<{ count: number; outbox: number | undefined; watermarkPassed: boolean; settled: boolean }> {
  const endTs = Date.now();
  const deadline = endTs + timeoutMs;
  let outbox: number | undefined;
  let watermarkPassed = false;
  while (Date.now() < deadline) {
    outbox = (await txHealth(cluster.txUrl))?.outbox;
    const w = await cluster.ingestion.status().then(
      (st) => st.watermark,
      () => -1,
    );
    watermarkPassed = w > endTs;
    if (outbox === 0 && watermarkPassed) break;
    await sleep(250);
  }
  let last = -1;
  let count = 0;
  while (Date.now() < deadline) {
    count = Number((await reader.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    if (count === last && count >= want && outbox === 0 && watermarkPassed) return { count, outbox, watermarkPassed, settled: true };
    last = count;
    await sleep(500);
  }
  return { count, outbox, watermarkPassed, settled: false };
}

const sample = (xs: Iterable<string>, n = 5) => [...xs].slice(0, n).join(', ');

describe('fault injection: bus outage', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let reader: pg.Client;
  let writers: Writers | undefined;

  before(async () => {
    cluster = await startCluster('stratum-fault-bus-');
    reader = await connect(cluster.pgPort);
    await reader.query('CREATE TABLE ledger (id text PRIMARY KEY, n bigint NOT NULL)');
    await reader.query('CREATE TABLE pay (id text PRIMARY KEY, n bigint NOT NULL)');
  });

  after(async () => {
    await writers?.abort();
    await reader?.end().catch(() => {});
    await cluster?.close();
  });

  test('30 s without nats-server: writes keep being acknowledged, every acknowledged one arrives exactly once', async (t: TestContext) => {
    let n = 0;
    writers = new Writers(cluster.pgPort, (c, id) => c.query('INSERT INTO ledger (id, n) VALUES ($1, $2)', [id, ++n]));
    const w = writers;
    w.start(4);
    await sleep(4000);
    assert.ok(w.acked.length > 0, `no write acknowledged before the outage; errors: ${w.failed.slice(0, 3).map((f) => f.error)}`);

    await cluster.nats.stop();
    const downAt = Date.now();
    // Watch the engine while the bus is down: it must notice, and hold entries in its outbox.
    let sawDisconnected = false;
    let maxOutbox = 0;
    let replicatedError: pg.DatabaseError | undefined;
    while (Date.now() - downAt < 30_000) {
      const h = await txHealth(cluster.txUrl);
      if (h) {
        if (!h.bus) sawDisconnected = true;
        maxOutbox = Math.max(maxOutbox, h.outbox);
      }
      // durability: replicated (strict tables' default): not acknowledged without the bus.
      if (sawDisconnected && !replicatedError) {
        await reader.query("INSERT INTO pay VALUES ('during-outage', 1)").then(
          () => assert.fail('a durability: replicated write was acknowledged while the bus was down'),
          (e: pg.DatabaseError) => {
            replicatedError = e;
          },
        );
      }
      await sleep(500);
    }
    assert.ok(replicatedError, 'no replicated write was tried while the bus was down');
    assert.equal(replicatedError.code, '57014');
    assert.match(
      replicatedError.message,
      /durability: replicated.*has already committed on TX engine tx1.*will be published when the bus returns/,
    );
    // The session counts it as written: its token carries the commit timestamp from the detail.
    const committedTs = Number(/\((\d+) ms\)\.$/.exec(replicatedError.detail ?? '')?.[1]);
    assert.ok(committedTs > 0, `detail names the commit timestamp: ${replicatedError.detail}`);
    const tok = String((await reader.query('SHOW stratum.session_token')).rows[0]['stratum.session_token']);
    const tokWrites = JSON.parse(Buffer.from(tok.split('.')[1] ?? '', 'base64url').toString('utf8')).w as number[];
    assert.ok(Math.max(...tokWrites) >= committedTs, 'the session token includes the locally committed write');
    const upAt = Date.now();
    await cluster.nats.start();
    const duringOutage = w.acked.filter((a) => a.startedAt >= downAt && a.endedAt <= upAt).length;
    const failedDuringOutage = w.failed.filter((a) => a.startedAt >= downAt && a.endedAt <= upAt).length;
    await sleep(4000);
    await w.stop();

    t.diagnostic(
      `acknowledged ${w.acked.length} (${duringOutage} while the bus was down), failed ${w.failed.length} ` +
        `(${failedDuringOutage} while down), outbox peak ${maxOutbox}`,
    );
    assert.ok(sawDisconnected, 'the TX engine never reported the bus as disconnected: the outage did not happen');
    assert.ok(maxOutbox > 0, 'the outbox never held entries while the bus was down');
    assert.ok(duringOutage > 0, `no write was acknowledged while nats-server was down (${failedDuringOutage} failed)`);

    const acked = new Set(w.acked.map((a) => a.id));
    assert.equal(acked.size, w.acked.length, 'a writer reused an id');
    const s = await settle(cluster, reader, 'ledger', acked.size, 120_000);
    t.diagnostic(`ledger settled=${s.settled} count=${s.count} outbox=${s.outbox} watermark passed=${s.watermarkPassed}`);

    const present = new Set<string>((await reader.query('SELECT id FROM ledger')).rows.map((r) => r.id as string));
    const missing = [...acked].filter((id) => !present.has(id));
    const why = missing.length > 0 ? `\n${await clusterReport(cluster)}` : '';
    assert.equal(
      missing.length,
      0,
      `${missing.length} of ${acked.size} acknowledged ids never reached the ledger ` +
        `(count ${s.count}, outbox ${s.outbox}), e.g. ${sample(missing)}${why}`,
    );
    const dup = await reader.query('SELECT id, count(*) AS c FROM ledger__history GROUP BY id HAVING count(*) > 1');
    assert.equal(dup.rows.length, 0, `ids applied more than once: ${JSON.stringify(dup.rows.slice(0, 5))}`);
    const history = Number((await reader.query('SELECT count(*) AS n FROM ledger__history')).rows[0].n);
    assert.equal(history, present.size, 'ledger__history holds a different number of versions than ledger has rows');
    const issued = new Set([...acked, ...w.failed.map((f) => f.id)]);
    const unknown = [...present].filter((id) => !issued.has(id));
    assert.equal(unknown.length, 0, `ids in the ledger that no writer issued: ${sample(unknown)}`);
    // The replicated write committed locally and was published once the bus returned.
    await reader.query("INSERT INTO pay VALUES ('after-outage', 2)");
    const pay = await reader.query('SELECT id FROM pay ORDER BY id');
    assert.deepEqual(
      pay.rows.map((r) => r.id),
      ['after-outage', 'during-outage'],
    );
    const failedPresent = w.failed.filter((f) => present.has(f.id)).length;
    t.diagnostic(`failed transactions that turned out committed: ${failedPresent} of ${w.failed.length}`);
    assert.equal(present.size, acked.size + failedPresent);
  });

  test('a COPY while nats-server is stopped is not held back by its backpressure: it completes, says why, and its rows arrive', async (t: TestContext) => {
    // More rows than router.copy_max_unmerged_rows (50,000): with the bus down the ingestion
    // watermark cannot advance, so the COPY must give up waiting instead of blocking.
    const rows = 60_000;
    await reader.query('CREATE TABLE bulk (id bigint PRIMARY KEY, v text NOT NULL)');
    const c = await connect(cluster.pgPort);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    let copied = -1;
    await cluster.nats.stop();
    try {
      const copy = c.query(copyFrom('COPY bulk (id, v) FROM STDIN WITH (FORMAT csv)'));
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 0; i < rows; i += 1000) {
              let s = '';
              for (let j = i; j < i + 1000; j++) s += `${j},row ${j}\n`;
              yield s;
            }
          })(),
        ),
        copy,
      );
      copied = copy.rowCount;
    } finally {
      await cluster.nats.start();
      await c.end().catch(() => {});
    }
    t.diagnostic(`notices: ${notices.join(' | ')}`);
    assert.equal(copied, rows);
    assert.ok(
      notices.some((m) => /stopped waiting for the change pipeline: the ingestion watermark did not advance/.test(m)),
      `no NOTICE said the COPY stopped waiting for the pipeline: ${JSON.stringify(notices)}`,
    );
    // The outbox held the rows; once the bus is back every one is readable analytically.
    let n = -1;
    const start = Date.now();
    while (Date.now() - start < 90_000) {
      n = Number((await reader.query<{ n: string }>('SELECT count(*) AS n FROM bulk')).rows[0]?.n);
      if (n === rows) break;
      await sleep(250);
    }
    assert.equal(n, rows, 'the rows of the COPY did not all arrive after the bus came back');
    const d = await reader.query<{ d: string }>('SELECT count(DISTINCT id) AS d FROM bulk');
    assert.equal(Number(d.rows[0]?.d), rows, 'the COPY stored a key twice');
  });
});

/** Storage name of table `pairs` (stream partitions hash it), set once the table exists. */
let PAIRS = 'pairs';

/** Three keys of one transaction, chosen to land in three different stream partitions. */
function keysFor(txn: string): [string, string, string] {
  const keys: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; keys.length < 3; i++) {
    const k = `${txn}:${i}`;
    const p = partitionOf(PAIRS, [k], PARTITIONS);
    if (seen.has(p)) continue;
    seen.add(p);
    keys.push(k);
  }
  return keys as [string, string, string];
}

/** For failure messages: the ingestion's state and the tail of every process's output. */
async function clusterReport(cluster: Cluster): Promise<string> {
  const lines: string[] = [];
  try {
    const st = await cluster.ingestion.status();
    lines.push(
      `ingestion watermark ${st.watermark}, applied ${st.applied}, dead letters ${st.deadLetters}, conflicts ${st.conflicts}, ` +
        `offsets ${JSON.stringify(st.offsets)}`,
    );
  } catch (e) {
    lines.push(`(could not ask ingestion: ${(e as Error).message})`);
  }
  const tail = (s: string) => s.trim().split('\n').slice(-15).join('\n');
  for (const name of ['ingestion', 'olap-shard', 'router']) {
    const out = cluster.procs.get(name)?.output() ?? '';
    if (out.trim()) lines.push(`${name} output:\n${tail(out)}`);
  }
  for (const [i, p] of cluster.txHistory.entries()) if (p.output().trim()) lines.push(`tx-engine run ${i} output:\n${tail(p.output())}`);
  return lines.join('\n');
}

/** For failure messages: where each row of these transactions is (ingestion, partition, commit time). */
async function explainTxns(cluster: Cluster, txns: string[], acked: Set<string>): Promise<string> {
  const lines: string[] = [];
  try {
    const absentIn = new Set<number>();
    for (const id of txns) {
      const keys = keysFor(id);
      const got = await cluster.ingestion.getMany(
        PAIRS,
        keys.map((k) => [k]),
      );
      const rows = keys.map((k, i) => {
        const p = partitionOf(PAIRS, [k], PARTITIONS);
        if (!got[i]) absentIn.add(p);
        return `${k}@p${p}:${got[i] ? `ts=${got[i]?.commitTs}` : 'absent'}`;
      });
      lines.push(`${id} (${acked.has(id) ? 'acknowledged' : 'failed'}): ingestion has ${rows.join(' ')}`);
    }
    const offsets = (await cluster.ingestion.status()).offsets;
    for (const p of [...absentIn].slice(0, 3)) {
      const have = offsets[`tx1/${p}`] ?? 0;
      lines.push(`stream partition ${p} around ingestion offset ${have}:`, ...(await dumpPartition(cluster, p, have)));
    }
  } catch (e) {
    lines.push(`(could not ask ingestion: ${(e as Error).message})`);
  }
  lines.push(await clusterReport(cluster));
  return lines.join('\n');
}

/** Messages of one stream partition whose seqs are near `seq`: position, message id, part seqs, heartbeat. */
async function dumpPartition(cluster: Cluster, partition: number, seq: number): Promise<string[]> {
  const bus = await openNatsBus({ servers: cluster.nats.url, name: 'fault-test-diagnostics' });
  const msgs: DeliveredMessage[] = [];
  let lastAt = Date.now();
  const sub = await bus.subscribe({ name: 'diag', partitions: [partition], after: new Map() }, async (m) => {
    msgs.push(...m);
    lastAt = Date.now();
  });
  const start = Date.now();
  while (Date.now() - lastAt < 1500 && Date.now() - start < 15_000) await sleep(100);
  await sub.stop();
  await bus.close();
  const out: string[] = [];
  for (const m of msgs) {
    const b = decodeBusBatch(m.payload);
    const first = b.parts[0]?.seq;
    const last = b.parts[b.parts.length - 1]?.seq;
    const near =
      (first !== undefined && last !== undefined && last >= seq - 3 && first <= seq + 10) || Math.abs(b.heartbeat.seq - seq) <= 2;
    if (near)
      out.push(
        `  pos ${m.position} id ${m.msgId} parts ${first ?? '-'}..${last ?? '-'} hb seq ${b.heartbeat.seq} closed ${b.heartbeat.closedTs}`,
      );
  }
  return out.slice(0, 60);
}

describe('fault injection: TX engine killed with SIGKILL under load', { timeout: 120_000 + KILL_ROUNDS * 8_000 }, () => {
  let cluster: Cluster;
  let reader: pg.Client;
  let writers: Writers | undefined;

  before(async () => {
    cluster = await startCluster('stratum-fault-kill-');
    reader = await connect(cluster.pgPort);
    await reader.query('CREATE TABLE pairs (k text PRIMARY KEY, txn text NOT NULL, part int NOT NULL)');
    PAIRS = await cluster.storageOf('pairs');
  });

  after(async () => {
    await writers?.abort();
    await reader?.end().catch(() => {});
    await cluster?.close();
  });

  test(`${KILL_ROUNDS} kill -9 rounds: acknowledged transactions are all there once, none is ever partly there`, async (t: TestContext) => {
    writers = new Writers(cluster.pgPort, (c, id) => {
      const [a, b, d] = keysFor(id);
      return c.query('INSERT INTO pairs (k, txn, part) VALUES ($1, $2, 0), ($3, $2, 1), ($4, $2, 2)', [a, id, b, d]);
    });
    const w = writers;
    w.start(4);
    await sleep(1500);
    for (let round = 0; round < KILL_ROUNDS; round++) {
      await sleep(200 + Math.floor(Math.random() * 1300));
      await cluster.procs.get('tx-engine')?.kill();
      await cluster.startTx();
    }
    // Writes resume after the last restart.
    const before = w.acked.length;
    const deadline = Date.now() + 30_000;
    while (w.acked.length < before + 50 && Date.now() < deadline) await sleep(100);
    await w.stop();
    assert.ok(
      w.acked.length >= before + 50,
      `writes did not resume after the last restart (${w.acked.length - before} acknowledged since); last errors: ` +
        w.failed
          .slice(-3)
          .map((f) => f.error)
          .join(' | '),
    );

    const acked = new Set(w.acked.map((a) => a.id));
    const failed = new Set(w.failed.map((f) => f.id));
    const s = await settle(cluster, reader, 'pairs', 3 * acked.size, 120_000);
    t.diagnostic(`pairs settled=${s.settled} count=${s.count} outbox=${s.outbox} watermark passed=${s.watermarkPassed}`);

    const byTxn = new Map<string, { c: number; d: number }>();
    for (const r of (await reader.query('SELECT txn, count(*) AS c, count(DISTINCT part) AS d FROM pairs GROUP BY txn')).rows) {
      byTxn.set(r.txn as string, { c: Number(r.c), d: Number(r.d) });
    }
    const missing = [...acked].filter((id) => !byTxn.has(id));
    const partial = [...byTxn].filter(([, v]) => v.c !== 3 || v.d !== 3).map(([id, v]) => `${id}=${v.c} rows/${v.d} parts`);
    const unknown = [...byTxn.keys()].filter((id) => !acked.has(id) && !failed.has(id));
    const failedCommitted = [...failed].filter((id) => byTxn.has(id)).length;
    t.diagnostic(
      `acknowledged ${acked.size}, failed ${failed.size}, of which committed ${failedCommitted}; ` +
        `txns present ${byTxn.size}; rows ${s.count}`,
    );
    const bad = [...missing, ...[...byTxn].filter(([, v]) => v.c !== 3 || v.d !== 3).map(([id]) => id)];
    const why = bad.length > 0 ? `\n${await explainTxns(cluster, bad.slice(0, 8), acked)}` : '';
    assert.equal(missing.length, 0, `${missing.length} acknowledged transactions are missing, e.g. ${sample(missing)}${why}`);
    assert.equal(partial.length, 0, `transactions partly present: ${sample(partial)}${why}`);
    assert.equal(unknown.length, 0, `transactions no writer issued: ${sample(unknown)}`);
    const dup = await reader.query('SELECT k, count(*) AS c FROM pairs__history GROUP BY k HAVING count(*) > 1');
    assert.equal(dup.rows.length, 0, `keys applied more than once: ${JSON.stringify(dup.rows.slice(0, 5))}`);
    const total = Number((await reader.query('SELECT count(*) AS n FROM pairs')).rows[0].n);
    assert.equal(total, 3 * (acked.size + failedCommitted));
  });
});
