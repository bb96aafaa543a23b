/**
 * Issue 4 across processes: 2 TX engines, 2 ingestion engines splitting the 16 stream
 * partitions (ing1: 0–7, ing2: 8–15), 2 OLAP shards holding tables by `shard_key`, and the
 * router, over a harness-started nats-server. Checks:
 * - analytical answers equal DuckDB's over the rows we wrote, whether the router sends the
 *   query to one shard whole (its predicates pick the shard) or scatters scans and finishes it;
 * - concurrent updates of one row on both TX engines are recorded in `stratum_conflicts`, and
 *   the LWW winner is the row's latest version;
 * - `SET stratum.as_of` / HTTP `asOf` return the state at that time; `<t>__history` lists
 *   every version with `_ts` and `_op`;
 * - kill -9 of one ingestion engine under write load: after its restart every acknowledged
 *   row is present exactly once;
 * - an OLAP shard down fails queries that need it with SQLSTATE 58000 naming it, other queries
 *   still answer, and a `degraded_reads` table answers with a NOTICE;
 * - a TX engine that stops heartbeating shows as stalled in `stratum status`; `stratum engine
 *   decommission` drains it and releases the watermark.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { rpcClient, shardOfKeyValue, type TxEngineApi } from '@stratum/shared';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { type Cluster, freePort, spawnStratum, startCluster } from './test-harness.ts';

const BIN = fileURLToPath(new URL('../bin/stratum.mjs', import.meta.url));
const run = promisify(execFile);
const SHARDS = ['olap1', 'olap2'];
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

describe('cluster: 2 TX engines, 2 ingestion engines, 2 OLAP shards', { timeout: 600_000 }, () => {
  let dir: string;
  let nats: NatsServerHandle;
  let cluster: Cluster;
  const clients: pg.Client[] = [];
  /** Final rows we wrote: `${tenant}/${id}` → balance. */
  const accounts = new Map<string, { tenant: string; id: number; balance: number; note: string | null }>();

  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: cluster.pgPort, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const metric = async (url: string, re: RegExp) => {
    const m = re.exec(await (await fetch(`${url}/metrics`)).text());
    return m ? Number(m[1]) : 0;
  };
  const routerUrl = () => `http://127.0.0.1:${cluster.httpPort}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-cluster-'));
    nats = await startNatsServer();
    cluster = await startCluster({
      natsUrl: nats.url,
      dir,
      tx: ['tx1', 'tx2'],
      ingestion: [
        { id: 'ing1', partitions: [0, 1, 2, 3, 4, 5, 6, 7] },
        { id: 'ing2', partitions: [8, 9, 10, 11, 12, 13, 14, 15] },
      ],
      shards: ['olap1', 'olap2'],
      yaml: [
        'ingestion:',
        '  push_interval_ms: 1000',
        '  push_rows: 500',
        '  stall_ms: 1500',
        'tables:',
        '  accounts: { shard_key: tenant }',
        '  readings: { shard_key: region, append_only: true, degraded_reads: true }',
        '  ledger: {}',
      ],
    });
    const c = await connect();
    await c.query('CREATE TABLE accounts (tenant text, id bigint, balance bigint NOT NULL, note text, PRIMARY KEY (tenant, id))');
    await c.query('CREATE TABLE readings (id bigint PRIMARY KEY, region text NOT NULL, v double precision)');
    await c.query('CREATE TABLE ledger (id bigint PRIMARY KEY, v bigint)');
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    if (cluster) for (const p of cluster.procs.values()) await p.kill();
    await nats?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test('writes over both TX engines; answers equal DuckDB whether one shard runs the query or the router gathers', async () => {
    const conns = [await connect(), await connect(), await connect()];
    let n = 0;
    for (const tenant of TENANTS) {
      for (let id = 1; id <= 60; id++) {
        const balance = (id * 37 + tenant.length * 11) % 1000;
        const note = id % 7 === 0 ? null : `${tenant}-${id}`;
        await conns[n++ % conns.length]!.query('INSERT INTO accounts VALUES ($1, $2, $3, $4)', [tenant, id, balance, note]);
        accounts.set(`${tenant}/${id}`, { tenant, id, balance, note });
      }
    }
    for (let id = 1; id <= 300; id++) {
      await conns[id % conns.length]!.query('INSERT INTO readings VALUES ($1, $2, $3)', [id, TENANTS[id % 4], id / 8]);
    }
    for (const [tx] of [['tx1'], ['tx2']]) {
      assert.ok((await metric(cluster.urls[tx!]!, /stratum_tx_commits_total\{engine="tx\d"\} (\d+)/)) > 0, `${tx} committed nothing`);
    }
    const c = conns[0]!;
    assert.equal(new Set(TENANTS.map((t) => shardOfKeyValue(t, SHARDS))).size, 2, 'the tenants spread over both shards');
    // Reference: DuckDB over the rows we wrote.
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    await duck.run(`SET default_null_order = 'nulls_last_on_asc_first_on_desc'`);
    await duck.run('CREATE TABLE accounts (tenant VARCHAR, id BIGINT, balance BIGINT, note VARCHAR)');
    const app = await duck.createAppender('accounts');
    for (const r of accounts.values()) {
      app.appendVarchar(r.tenant);
      app.appendBigInt(BigInt(r.id));
      app.appendBigInt(BigInt(r.balance));
      if (r.note === null) app.appendNull();
      else app.appendVarchar(r.note);
      app.endRow();
    }
    app.flushSync();
    app.closeSync();
    const queries = [
      { sql: 'SELECT tenant, count(*), sum(balance), min(note) FROM accounts GROUP BY tenant ORDER BY tenant', whole: false },
      { sql: "SELECT count(*), sum(balance), max(balance) FROM accounts WHERE tenant = 'acme'", whole: true },
      { sql: "SELECT id, balance FROM accounts WHERE tenant = 'globex' AND balance > 500 ORDER BY balance DESC, id", whole: true },
      {
        sql: "SELECT tenant, id, rank() OVER (PARTITION BY tenant ORDER BY balance DESC, id) AS r FROM accounts WHERE tenant IN ('acme', 'hooli') ORDER BY tenant, r LIMIT 20",
        whole: false,
      },
      { sql: 'SELECT note IS NULL AS missing, count(*) FROM accounts GROUP BY 1 ORDER BY 1', whole: false },
      {
        sql: 'SELECT a.tenant, count(*) FROM accounts a JOIN accounts b ON a.tenant = b.tenant AND a.id = b.id + 1 GROUP BY a.tenant ORDER BY 1',
        whole: false,
      },
    ];
    await waitFor(async () => Number((await c.query('SELECT count(*) AS n FROM accounts')).rows[0].n) === accounts.size);
    for (const q of queries) {
      const whole0 = await metric(routerUrl(), /stratum_router_olap_queries_total\{shard="gather"\} (\d+)/);
      const got = (await c.query({ text: q.sql, rowMode: 'array' })).rows.map((r) => r.map(String));
      const whole1 = await metric(routerUrl(), /stratum_router_olap_queries_total\{shard="gather"\} (\d+)/);
      const want = (await duck.runAndReadAll(q.sql)).getRows().map((r) => r.map(String));
      assert.deepEqual(got, want, q.sql);
      assert.equal(whole1 - whole0, q.whole ? 0 : 1, `${q.sql}: expected ${q.whole ? 'one shard to run it whole' : 'scatter/gather'}`);
    }
    // Both shards hold some accounts.
    for (const s of ['olap1', 'olap2']) {
      const st = (await (await fetch(`${routerUrl()}/status`)).json()) as { shards: { id: string; watermarks?: Record<string, number> }[] };
      assert.ok(
        st.shards.find((x) => x.id === s && x.watermarks),
        `${s} does not answer /status`,
      );
    }
    duck.closeSync();
  });

  test('concurrent updates of one row on both TX engines are recorded in stratum_conflicts; the LWW winner is latest', async () => {
    const a = await connect();
    const b = await connect();
    // Sessions are assigned round robin: make sure a and b sit on different engines.
    let probe = 900_000;
    const engineOf = async (c: pg.Client) => {
      const before1 = await metric(cluster.urls.tx1!, /stratum_tx_commits_total\{engine="tx1"\} (\d+)/);
      await c.query('INSERT INTO ledger VALUES ($1, 0)', [probe++]);
      const after1 = await metric(cluster.urls.tx1!, /stratum_tx_commits_total\{engine="tx1"\} (\d+)/);
      return after1 > before1 ? 'tx1' : 'tx2';
    };
    let other = b;
    if ((await engineOf(a)) === (await engineOf(b))) other = await connect();
    let conflicts = 0;
    for (let k = 1; k <= 20 && conflicts === 0; k++) {
      await a.query('INSERT INTO accounts VALUES ($1, $2, 0, NULL)', ['zeta', k]);
      // Visible through ingestion, so the other engine reads the same prev.
      await waitFor(
        async () => (await other.query('SELECT balance FROM accounts WHERE tenant = $1 AND id = $2', ['zeta', k])).rows.length === 1,
      );
      await Promise.all([
        a.query('UPDATE accounts SET balance = 1 WHERE tenant = $1 AND id = $2', ['zeta', k]),
        other.query('UPDATE accounts SET balance = 2 WHERE tenant = $1 AND id = $2', ['zeta', k]),
      ]);
      await waitFor(async () => {
        const r = await a.query("SELECT count(*) AS n FROM accounts__history WHERE tenant = 'zeta' AND id = $1", [k]);
        return Number(r.rows[0].n) === 3;
      });
      conflicts = Number((await a.query("SELECT count(*) AS n FROM stratum_conflicts WHERE table_name = 'accounts'")).rows[0].n);
    }
    assert.ok(conflicts > 0, 'no conflict in 20 rounds of concurrent updates on two engines');
    const rows = (
      await a.query(
        "SELECT key, existing_version::text AS ev, existing_engine, existing_commit_ts, incoming_version::text AS iv, incoming_engine, incoming_commit_ts, winner::text AS winner, policy FROM stratum_conflicts WHERE table_name = 'accounts'",
      )
    ).rows;
    for (const r of rows) {
      assert.equal(r.policy, 'lww');
      const m = /^\(zeta,(\d+)\)$/.exec(r.key);
      assert.ok(m, `conflict key ${r.key}`);
      const latest = (
        await a.query(
          "SELECT _version::text AS v, _op FROM accounts__history WHERE tenant = 'zeta' AND id = $1 ORDER BY _ts DESC, _engine DESC, _version DESC LIMIT 1",
          [Number(m[1])],
        )
      ).rows[0];
      assert.equal(latest.v, r.winner, 'the LWW winner is the latest version');
      assert.ok([r.ev, r.iv].includes(r.winner));
    }
    assert.ok(
      (await metric(cluster.urls.ing1!, /stratum_ingestion_conflicts_total\{[^}]*\} (\d+)/)) +
        (await metric(cluster.urls.ing2!, /stratum_ingestion_conflicts_total\{[^}]*\} (\d+)/)) >
        0,
    );
  });

  test('SET stratum.as_of and HTTP asOf return the state at that time; __history lists every version', async () => {
    const c = await connect();
    await c.query("INSERT INTO accounts VALUES ('tt', 1, 100, 'first')");
    await waitFor(async () => (await c.query("SELECT count(*) AS n FROM accounts WHERE tenant = 'tt'")).rows[0].n === '1');
    await sleep(50);
    const t1 = new Date();
    await sleep(50);
    await c.query("UPDATE accounts SET balance = 200, note = 'second' WHERE tenant = 'tt' AND id = 1");
    await c.query("INSERT INTO accounts VALUES ('tt', 2, 7, NULL)");
    await c.query("DELETE FROM accounts WHERE tenant = 'tt' AND id = 2");
    await waitFor(async () => (await c.query("SELECT count(*) AS n FROM accounts__history WHERE tenant = 'tt'")).rows[0].n === '4');
    await c.query(`SET stratum.as_of = '${t1.toISOString()}'`);
    assert.equal((await c.query('SHOW stratum.as_of')).rows[0]['stratum.as_of'], t1.toISOString());
    assert.deepEqual((await c.query("SELECT balance, note FROM accounts WHERE tenant = 'tt' AND id = 1")).rows, [
      { balance: '100', note: 'first' },
    ]);
    assert.deepEqual(
      (await c.query("SELECT id, balance FROM accounts WHERE tenant = 'tt' ORDER BY id")).rows,
      [{ id: '1', balance: '100' }],
      'analytical read as of t1',
    );
    await assert.rejects(c.query("INSERT INTO accounts VALUES ('tt', 3, 0, NULL)"), (e: { code?: string }) => e.code === '25006');
    await c.query('RESET stratum.as_of');
    assert.deepEqual((await c.query("SELECT id, balance FROM accounts WHERE tenant = 'tt' ORDER BY id")).rows, [
      { id: '1', balance: '200' },
    ]);
    const hist = (await c.query("SELECT id, _op, balance FROM accounts__history WHERE tenant = 'tt' ORDER BY _ts, id")).rows;
    assert.deepEqual(
      hist.map((r) => `${r.id}:${r._op}:${r.balance}`),
      ['1:insert:100', '1:update:200', '2:insert:7', '2:delete:null'],
    );
    const http = await fetch(`${routerUrl()}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: "SELECT balance FROM accounts WHERE tenant = 'tt' AND id = 1", asOf: t1.toISOString() }),
    });
    assert.deepEqual(((await http.json()) as { rows: unknown[][] }).rows, [[100]]);
    await assert.rejects(c.query("SET stratum.as_of = 'not a time'"), (e: { code?: string }) => e.code === '22007');
  });

  test('kill -9 of an ingestion engine under write load: after restart every acknowledged row is there exactly once', async () => {
    const conns = [await connect(), await connect()];
    const acked: number[] = [];
    let next = 1;
    let stop = false;
    const writers = conns.map(async (c) => {
      while (!stop) {
        const id = next++;
        try {
          await c.query('INSERT INTO ledger VALUES ($1, $2)', [id, id * 3]);
          acked.push(id);
        } catch {
          // not acknowledged: may or may not be there
        }
      }
    });
    await waitFor(async () => acked.length >= 300);
    await cluster.kill('ing2');
    const atKill = acked.length;
    await waitFor(async () => acked.length >= atKill + 300);
    await cluster.start('ing2');
    await waitFor(async () => acked.length >= atKill + 600);
    stop = true;
    await Promise.all(writers);
    const c = conns[0]!;
    await waitFor(
      async () => Number((await c.query('SELECT count(*) AS n FROM ledger WHERE id < 900000')).rows[0].n) >= acked.length,
      60_000,
    );
    const r = (await c.query('SELECT count(*) AS n, count(DISTINCT id) AS d FROM ledger__history WHERE id < 900000')).rows[0];
    assert.equal(r.n, r.d, 'a version applied twice');
    const ids = new Set(
      (await c.query({ text: 'SELECT id FROM ledger WHERE id < 900000', rowMode: 'array' })).rows.map((x) => Number(x[0])),
    );
    const missing = acked.filter((id) => !ids.has(id));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged rows missing`);
  });

  test('an OLAP shard down: queries needing it fail naming it (58000), others answer, degraded tables answer with a NOTICE', async () => {
    const c = await connect();
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    const full = Number((await c.query('SELECT count(*) AS n FROM readings')).rows[0].n);
    await cluster.kill('olap2');
    await assert.rejects(c.query('SELECT tenant, count(*) FROM accounts GROUP BY tenant'), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '58000');
      assert.match(e.message, /olap2/);
      return true;
    });
    // A tenant on olap1 still answers.
    let onOlap1: string | undefined;
    for (const t of TENANTS) {
      try {
        await c.query('SELECT count(*) FROM accounts WHERE tenant = $1', [t]);
        onOlap1 = t;
        break;
      } catch (e) {
        assert.equal((e as { code?: string }).code, '58000');
      }
    }
    assert.ok(onOlap1, 'no tenant answered with olap2 down');
    // (Another statement text than above: the router's result cache would rightly answer that one.)
    const part = Number((await c.query('SELECT count(id) AS n FROM readings')).rows[0].n);
    assert.ok(part < full, 'degraded answer left olap2 out');
    assert.ok(
      notices.some((n) => /olap2/.test(n)),
      `NOTICE naming olap2: ${notices.join(' | ')}`,
    );
    await cluster.start('olap2');
    await waitFor(async () => {
      try {
        return Number((await c.query('SELECT count(v) + count(*) - count(v) AS n FROM readings')).rows[0].n) === full;
      } catch {
        return false;
      }
    });
  });

  test('a new TX engine joins without restarting anything: its writes are merged and the watermark keeps moving', async () => {
    const port = await freePort();
    const file2 = join(dir, 'stratum-tx3.yaml');
    const cfg = await readFile(cluster.file, 'utf8');
    await writeFile(file2, cfg.replace('  ingestion:\n', `    - { id: tx3, url: "http://127.0.0.1:${port}" }\n  ingestion:\n`));
    const tx3 = await spawnStratum(['tx-engine', '--config', file2, '--id', 'tx3']);
    cluster.procs.set('tx3', tx3);
    const api = rpcClient<TxEngineApi>(`http://127.0.0.1:${port}`, ['execute'], { name: 'tx-engine tx3' });
    const c = await connect();
    const status = (await (await fetch(`${routerUrl()}/status`)).json()) as {
      watermark: number;
      tables: { name: string; storage: string }[];
    };
    const w0 = status.watermark;
    // Tier calls name tables by their storage name (GET /status lists them) and carry values in
    // the stored representation (bigint columns take BigInt).
    const ledger = status.tables.find((t) => t.name === 'ledger')?.storage as string;
    for (let i = 0; i < 20; i++) {
      const catalogVersion = ((await (await fetch(`${routerUrl()}/health`)).json()) as { catalogVersion: number }).catalogVersion;
      const r = await api.execute({
        catalogVersion,
        ops: [{ kind: 'insert', table: ledger, columns: ['id', 'v'], rows: [[BigInt(800_000 + i), BigInt(i)]] }],
      });
      assert.ok(r.commitTs > w0, 'a joining engine commits above the published watermark');
    }
    await api.closeClient();
    await waitFor(
      async () => Number((await c.query('SELECT count(*) AS n FROM ledger WHERE id BETWEEN 800000 AND 800019')).rows[0].n) === 20,
    );
    const st = (await (await fetch(`${routerUrl()}/status`)).json()) as { watermark: number; ingestion: { pairs: { engine: string }[] }[] };
    assert.ok(st.watermark >= w0, 'the watermark did not go back');
    assert.ok(
      st.ingestion.every((i) => i.pairs.some((p) => p.engine === 'tx3')),
      'every ingestion engine knows tx3',
    );
    await tx3.stop();
    cluster.procs.delete('tx3');
    await run(process.execPath, [BIN, 'engine', 'decommission', 'tx3', '--force', '--config', file2]);
  });

  test('a TX engine that stops heartbeating shows as stalled; decommission drains it and releases the watermark', async () => {
    const status = async () => (await run(process.execPath, [BIN, 'status', '--http-port', String(cluster.httpPort)])).stdout;
    const tx2 = cluster.procs.get('tx2')!;
    tx2.proc.kill('SIGSTOP');
    try {
      await waitFor(async () => /STALLED: engine tx2/.test(await status()));
    } finally {
      tx2.proc.kill('SIGCONT');
    }
    const out = await run(process.execPath, [BIN, 'engine', 'decommission', 'tx2', '--config', cluster.file]);
    assert.match(out.stdout, /tx-engine tx2 decommissioned/);
    assert.match(await status(), /retired engines: tx2/);
    await cluster.kill('tx2');
    // The watermark keeps moving without tx2: a read-your-writes read after a write on tx1 answers.
    const st0 = (await (await fetch(`${routerUrl()}/status`)).json()) as { watermark: number };
    await waitFor(
      async () => ((await (await fetch(`${routerUrl()}/status`)).json()) as { watermark: number }).watermark > st0.watermark + 500,
    );
    // Without --force, decommissioning an unreachable engine says what to do; --force releases it.
    await assert.rejects(
      run(process.execPath, [BIN, 'engine', 'decommission', 'tx2', '--config', cluster.file, '--timeout-ms', '5000']),
      (e: { stderr?: string }) => {
        assert.match(e.stderr ?? '', /tx-engine tx2 .*unavailable[\s\S]*--force/);
        return true;
      },
    );
    const forced = await run(process.execPath, [BIN, 'engine', 'decommission', 'tx2', '--force', '--config', cluster.file]);
    assert.match(forced.stdout, /decommissioned \(forced\)/);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every 100 ms until true; fails after `timeoutMs` (a liveness bound, not a timing assertion). */
async function waitFor(cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${cond.toString().slice(0, 200)}`);
    await sleep(100);
  }
}
