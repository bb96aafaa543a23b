/**
 * Time travel across tiers (issue 4 item 3) in the embedded form, with a short ingestion
 * retention so GC runs: `SET stratum.as_of` returns the state at that time — point reads from
 * ingestion while it still holds the versions, from OLAP once ingestion's GC removed them —
 * and analytical reads from OLAP. The expected states are the rows this test wrote, recorded
 * at the times it read the clock.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

describe('time travel with ingestion GC', { timeout: 180_000 }, () => {
  let dir: string;
  let server: EmbeddedServer;
  let c: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-tt-'));
    const file = join(dir, 'stratum.yaml');
    await writeFile(
      file,
      ['ingestion:', '  push_interval_ms: 200', '  push_rows: 100', '  retention_ms: 1500', '  gc_interval_ms: 200'].join('\n'),
    );
    server = await startEmbeddedServer(join(dir, 'data'), ['--config', file]);
    c = new pg.Client({ host: '127.0.0.1', port: server.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    await c.query('CREATE TABLE items (id bigint PRIMARY KEY, qty integer, label text)');
  });

  after(async () => {
    await c?.end().catch(() => {});
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  const metric = async (re: RegExp) => {
    const m = re.exec(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
    return m ? Number(m[1]) : 0;
  };
  const status = async () =>
    (await (await fetch(`http://127.0.0.1:${server.httpPort}/status`)).json()) as {
      watermark: number;
      ingestion: { gcHorizonMs?: number; gcRemoved?: number }[];
    };

  test('as_of reads come from ingestion while it holds the versions, from OLAP after its GC', async () => {
    const states: { at: number; rows: Map<number, { qty: number; label: string }> }[] = [];
    const cur = new Map<number, { qty: number; label: string }>();
    for (let round = 0; round < 3; round++) {
      for (let id = 1; id <= 20; id++) {
        const row = { qty: round * 100 + id, label: `r${round}` };
        if (round === 0) await c.query('INSERT INTO items VALUES ($1, $2, $3)', [id, row.qty, row.label]);
        else if (round === 2 && id % 5 === 0) {
          await c.query('DELETE FROM items WHERE id = $1', [id]);
          cur.delete(id);
          continue;
        } else await c.query('UPDATE items SET qty = $2, label = $3 WHERE id = $1', [id, row.qty, row.label]);
        cur.set(id, row);
      }
      await c.query('SELECT count(*) FROM items'); // read-your-writes: everything above is merged
      await new Promise((r) => setTimeout(r, 30));
      states.push({ at: Date.now(), rows: new Map(cur) });
      await new Promise((r) => setTimeout(r, 30));
    }
    const check = async (s: (typeof states)[number], tierWanted: 'ingestion' | 'olap') => {
      await c.query(`SET stratum.as_of = '${new Date(s.at).toISOString()}'`);
      const before = await metric(new RegExp(`stratum_router_statements_total\\{kind="SelectStmt",tier="${tierWanted}"\\} (\\d+)`));
      for (const id of [1, 5, 7]) {
        const r = (await c.query('SELECT qty, label FROM items WHERE id = $1', [id])).rows;
        const want = s.rows.get(id);
        assert.deepEqual(r, want ? [{ qty: want.qty, label: want.label }] : [], `id ${id} as of ${s.at}`);
      }
      const after = await metric(new RegExp(`stratum_router_statements_total\\{kind="SelectStmt",tier="${tierWanted}"\\} (\\d+)`));
      assert.equal(after - before, 3, `point reads as of ${s.at} served by ${tierWanted}`);
      const all = (await c.query({ text: 'SELECT id, qty, label FROM items ORDER BY id', rowMode: 'array' })).rows;
      assert.deepEqual(
        all,
        [...s.rows].sort((a, b) => a[0] - b[0]).map(([id, v]) => [String(id), v.qty, v.label]),
        `analytical read as of ${s.at}`,
      );
      await c.query('RESET stratum.as_of');
    };
    // Soon after: ingestion still holds every version.
    const st0 = await status();
    if ((st0.ingestion[0]?.gcHorizonMs ?? Number.NEGATIVE_INFINITY) < (states[0]?.at ?? 0)) await check(states[0]!, 'ingestion');
    // After the retention and a GC pass: the old versions are gone from ingestion; OLAP answers.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await status();
      if ((st.ingestion[0]?.gcHorizonMs ?? 0) > (states[1]?.at ?? 0) && (st.ingestion[0]?.gcRemoved ?? 0) > 0) break;
      assert.ok(Date.now() < deadline, `GC did not pass the first states: ${JSON.stringify(st)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await check(states[0]!, 'olap');
    await check(states[1]!, 'olap');
    // The current state is intact.
    const now = (await c.query({ text: 'SELECT id, qty, label FROM items ORDER BY id', rowMode: 'array' })).rows;
    assert.deepEqual(
      now,
      [...cur].sort((a, b) => a[0] - b[0]).map(([id, v]) => [String(id), v.qty, v.label]),
    );
  });
});
