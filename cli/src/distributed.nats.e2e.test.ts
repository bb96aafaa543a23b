/**
 * Point 8 of the pipeline issue: the distributed form — 1 router, 2 TX engines, 1 ingestion
 * and 1 OLAP shard, each its own `stratum <service> --config stratum.yaml` process, over a
 * nats-server the harness starts — loads 50k flights through the router and answers every
 * reference query exactly as DuckDB does over the original files. Both TX engines take writes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { compareAnswers, FLIGHTS_QUERIES, pgAnswers, referenceAnswers } from './flights-queries.ts';
import { loadFlights } from './load-flights.ts';
import { freePort, type StratumProcess, spawnStratum, waitForRows } from './test-harness.ts';

const ROWS = 50_000;

describe('distributed form over NATS JetStream', { timeout: 400_000 }, () => {
  let dir: string;
  let nats: NatsServerHandle;
  const procs: StratumProcess[] = [];
  let pgPort = 0;
  let client: pg.Client;
  const txUrls: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-dist-'));
    nats = await startNatsServer();
    const port = () => freePort();
    const [tx1, tx2, ing, olap, http] = [await port(), await port(), await port(), await port(), await port()];
    pgPort = await port();
    txUrls.push(`http://127.0.0.1:${tx1}`, `http://127.0.0.1:${tx2}`);
    const cfg = [
      `data_dir: ${join(dir, 'data')}`,
      'cluster:',
      `  bus: ${nats.url}`,
      '  tx_engines:',
      `    - { id: tx1, url: "http://127.0.0.1:${tx1}" }`,
      `    - { id: tx2, url: "http://127.0.0.1:${tx2}" }`,
      '  ingestion:',
      `    - { id: ing1, url: "http://127.0.0.1:${ing}" }`,
      '  olap_shards:',
      `    - { id: olap1, url: "http://127.0.0.1:${olap}" }`,
      'router:',
      `  pg: { port: ${pgPort} }`,
      `  http: { port: ${http} }`,
      'ingestion:',
      '  push_interval_ms: 2000',
      '  push_rows: 20000',
    ].join('\n');
    const file = join(dir, 'stratum.yaml');
    await writeFile(file, cfg);
    for (const args of [
      ['olap-shard', '--config', file],
      ['ingestion', '--config', file],
      ['tx-engine', '--config', file, '--id', 'tx1'],
      ['tx-engine', '--config', file, '--id', 'tx2'],
      ['router', '--config', file],
    ]) {
      procs.push(await spawnStratum(args));
    }
  });

  after(async () => {
    await client?.end().catch(() => {});
    for (const p of procs.reverse()) await p.kill();
    await nats?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test('loads 50k flights through the router, over both TX engines', async () => {
    const r = await loadFlights({
      host: '127.0.0.1',
      port: pgPort,
      user: 'stratum',
      database: 'stratum',
      rows: ROWS,
      connections: 4,
      progress: false,
    });
    assert.equal(r.flights, ROWS);
    for (const url of txUrls) {
      const m = await (await fetch(`${url}/metrics`)).text();
      const commits = /stratum_tx_commits_total\{engine="tx\d"\} (\d+)/.exec(m);
      assert.ok(commits && Number(commits[1]) > 0, `${url} committed nothing`);
    }
  });

  test('every reference query returns exactly what DuckDB returns', async () => {
    client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'stratum', database: 'stratum' });
    client.on('error', () => {});
    await client.connect();
    await waitForRows(client, ROWS);
    const want = await referenceAnswers(ROWS);
    const got = await pgAnswers(client);
    for (const q of FLIGHTS_QUERIES) {
      assert.deepEqual(compareAnswers(want.get(q.name) ?? [], got.get(q.name) ?? [], { relTol: q.relTol ?? 0 }), [], q.name);
    }
  });

  test('every process shuts down cleanly on SIGINT', async () => {
    await client.end();
    for (const p of [...procs].reverse()) assert.equal(await p.stop(), 0, p.output());
  });
});
