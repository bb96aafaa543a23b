/**
 * Issue 5 item 4 (last bullet) across processes: every service polls a clock primary (a real
 * `stratum clock` process); when the primary is gone, each node's ε grows with the assumed drift
 * until it passes `max_uncertainty_ms`, and then
 * - strict_serializable tables refuse writes (40001 naming the table, the mode and the clock)
 *   and strict analytical reads (the router cannot bound "now"), while
 * - other tables keep accepting writes, and a strict table with allow_degraded accepts them with
 *   a warning;
 * a TX engine started while no clock source answers commits the other modes with finite
 * timestamps; once the primary is back, strict writes are accepted again. Nothing is half-applied: the
 * refused rows are absent.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '@stratum/shared/testing';
import pg from 'pg';
import { type Cluster, freePort, type StratumProcess, spawnStratum, startCluster } from './test-harness.ts';

describe('clock primary lost: strict tables pause, others go on', { timeout: 600_000 }, () => {
  let nats: NatsServerHandle;
  let cluster: Cluster;
  let clock: StratumProcess | undefined;
  let clockFile: string;
  let c: pg.Client;
  const clockYaml = (url: string) => [
    'clock:',
    `  sources: [{ id: c1, url: "${url}" }]`,
    '  heartbeat_ms: 50',
    '  drift_ppm: 200000',
    '  max_uncertainty_ms: 100',
    '  eps_ms: 1',
  ];
  const startClock = async () => {
    clock = await spawnStratum(['clock', '--config', clockFile, '--id', 'c1']);
  };

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-unsync-'));
    nats = await startNatsServer();
    const url = `http://127.0.0.1:${await freePort()}`;
    clockFile = join(dir, 'clock.yaml');
    await writeFile(clockFile, clockYaml(url).join('\n'));
    await startClock();
    cluster = await startCluster({
      natsUrl: nats.url,
      dir,
      tx: ['tx1'],
      ingestion: [{ id: 'ing1' }],
      shards: ['olap1'],
      yaml: [
        ...clockYaml(url),
        'table_consistency:',
        '  pay: { mode: strict_serializable }',
        '  payd: { mode: strict_serializable, allow_degraded: true }',
        '  logs: { mode: eventual }',
      ],
    });
    c = new pg.Client({ host: '127.0.0.1', port: cluster.pgPort, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    await c.connect();
    for (const t of ['pay', 'payd', 'logs', 'mr']) await c.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, v bigint)`);
  });

  after(async () => {
    await c?.end().catch(() => {});
    if (cluster) for (const p of cluster.procs.values()) await p.kill();
    await clock?.kill();
    await nats?.destroy();
  });

  /** Retry `fn` until it stops throwing (or `deadlineMs` passes, then rethrow). */
  const eventually = async <T>(fn: () => Promise<T>, deadlineMs = 60_000): Promise<T> => {
    const end = Date.now() + deadlineMs;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  test('strict writes refused while unsynchronized, accepted again after the primary returns', async () => {
    await eventually(() => c.query('INSERT INTO pay VALUES (1, 1)'));
    await clock?.kill();
    // ε grows by 20 % of the time since the last heartbeat: past 100 ms within about half a second.
    let id = 100;
    const refused = await eventually(async () => {
      id++;
      try {
        await c.query('INSERT INTO pay VALUES ($1, 1)', [id]);
      } catch (e) {
        return { id, e: e as pg.DatabaseError };
      }
      throw new Error('strict write still accepted');
    });
    assert.equal(refused.e.code, '40001');
    assert.match(refused.e.message, /table "pay" \(strict_serializable\): write refused on TX engine tx1: its clock is unsynchronized/);
    // Reads of a strict table cannot bound "now" either. The router polls the clock on its own,
    // so its ε may cross the bound a few ms after the TX engine's.
    const readRefused = await eventually(async () => {
      try {
        await c.query('SELECT count(*) FROM pay');
      } catch (e) {
        return e as pg.DatabaseError;
      }
      throw new Error('strict read still answered');
    });
    assert.equal(readRefused.code, '40001');
    assert.match(readRefused.message, /table "pay" \(strict_serializable\): read refused: this router's clock is unsynchronized/);
    // Other modes keep going; allow_degraded strict tables accept with a warning.
    await c.query('INSERT INTO logs VALUES (1, 1)');
    await c.query('INSERT INTO mr VALUES (1, 1)');
    const warnings: string[] = [];
    c.on('notice', (n) => warnings.push(n.message ?? ''));
    await c.query('INSERT INTO payd VALUES (1, 1)');
    assert.ok(
      warnings.some((w) => /table "payd" \(strict_serializable, allow_degraded\): written while the clock is unsynchronized/.test(w)),
      warnings.join('\n'),
    );
    // A TX engine that starts while no clock source answers: finite commit timestamps for the
    // other modes, strict writes still refused.
    await cluster.kill('tx1');
    await cluster.start('tx1');
    await eventually(() => c.query('INSERT INTO logs VALUES (2, 2)'));
    await assert.rejects(c.query('INSERT INTO pay VALUES (3, 3)'), (e: pg.DatabaseError) => e.code === '40001');
    const logs = await eventually(async () => {
      const r = await c.query('SELECT id, _ts FROM logs__history ORDER BY id');
      if (r.rows.length < 2) throw new Error('not merged yet');
      return r.rows;
    });
    for (const r of logs) assert.ok(Number.isFinite(new Date(r._ts).getTime()), `commit time of logs ${r.id}: ${r._ts}`);
    // The primary returns: strict writes are accepted again.
    await startClock();
    await eventually(() => c.query('INSERT INTO pay VALUES (2, 2)'));
    const rows = await eventually(async () => {
      const r = await c.query('SELECT id FROM pay ORDER BY id');
      return r.rows.map((x) => Number(x.id));
    });
    assert.ok(!rows.includes(refused.id), `the refused row ${refused.id} is absent`);
    assert.ok(rows.includes(1) && rows.includes(2), `rows: ${rows.join(', ')}`);
  });
});
