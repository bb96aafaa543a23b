/**
 * SIGKILL of the embedded process under load loses no acknowledged write, in every thread
 * layout (docs/architecture.md, "Threads"): one thread; the pipeline thread (bus, ingestion,
 * OLAP) beside the main thread; and a router front-end thread on top. Per layout, 3 rounds of:
 * 8 connections insert rows back to back (autocommit single rows and 10-row transactions), the
 * process is SIGKILLed while they run, restarted on the same data directory, and every row whose
 * INSERT or COMMIT was acknowledged must be there — by point read (row tier) and in the
 * analytical count once ingestion has caught up — while rows never acknowledged may or may not be.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const ROUNDS = 3;
const WRITERS = 8;

/** Run writers against `port` until `stop()`; returns the ids whose writes were acknowledged. */
function writeLoad(port: number, round: number): { stop: () => void; done: Promise<Set<number>> } {
  let stopped = false;
  const acked = new Set<number>();
  const writer = async (w: number) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    try {
      await c.connect();
    } catch {
      return;
    }
    let n = 0;
    try {
      while (!stopped) {
        const base = (round * 100 + w) * 1_000_000 + n;
        if (w % 2 === 0) {
          await c.query('INSERT INTO crash_rows VALUES ($1, $2)', [base, `r${round} w${w}`]);
          acked.add(base);
          n++;
        } else {
          await c.query('BEGIN');
          for (let i = 0; i < 10; i++) await c.query('INSERT INTO crash_rows VALUES ($1, $2)', [base + i, `t r${round} w${w}`]);
          await c.query('COMMIT');
          for (let i = 0; i < 10; i++) acked.add(base + i);
          n += 10;
        }
      }
    } catch {
      // the server went away mid-statement: that write's outcome is unknown, not acknowledged
    } finally {
      await c.end().catch(() => {});
    }
  };
  const done = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w))).then(() => acked);
  return { stop: () => (stopped = true), done };
}

for (const threads of [1, 2, 3]) {
  describe(`SIGKILL of stratum up --threads ${threads} under load`, { timeout: 300_000 }, () => {
    let dir: string;
    let srv: EmbeddedServer | undefined;
    after(async () => {
      await srv?.kill();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test(`${ROUNDS} kills: every acknowledged row survives`, async () => {
      dir = await mkdtemp(join(tmpdir(), `stratum-crash-${threads}-`));
      const data = join(dir, 'data');
      const args = ['--threads', String(threads)];
      srv = await startEmbeddedServer(data, args);
      const setup = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
      await setup.connect();
      await setup.query('CREATE TABLE crash_rows (id bigint PRIMARY KEY, note text)');
      await setup.end();
      const all = new Set<number>();
      for (let round = 0; round < ROUNDS; round++) {
        const load = writeLoad(srv.pgPort, round);
        // Kill once this round has acknowledged some writes (the load is running, not a timing).
        const c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
        await c.connect();
        const before = Number((await c.query('SELECT count(*) AS n FROM crash_rows')).rows[0].n);
        for (let i = 0; i < 600; i++) {
          const now = Number((await c.query('SELECT count(*) AS n FROM crash_rows')).rows[0].n);
          if (now >= before + 200) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.end().catch(() => {});
        await srv.kill();
        load.stop();
        const acked = await load.done;
        assert.ok(acked.size > 0, `round ${round}: some writes were acknowledged before the kill`);
        for (const id of acked) all.add(id);
        srv = await startEmbeddedServer(data, args);
        const r = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
        await r.connect();
        try {
          // Row tier: every acknowledged id, by point read.
          const missing: number[] = [];
          for (const id of all) {
            const got = await r.query('SELECT id FROM crash_rows WHERE id = $1', [id]);
            if (got.rows.length !== 1) missing.push(id);
          }
          assert.deepEqual(missing, [], `round ${round}: acknowledged rows missing after SIGKILL and restart`);
          // Analytical tier: once ingestion has caught up, the acknowledged ids are all there.
          let seen = new Set<number>();
          for (let i = 0; i < 600; i++) {
            const rows = (await r.query('SELECT id FROM crash_rows')).rows as { id: string }[];
            seen = new Set(rows.map((x) => Number(x.id)));
            if ([...all].every((id) => seen.has(id))) break;
            await new Promise((res) => setTimeout(res, 100));
          }
          assert.deepEqual(
            [...all].filter((id) => !seen.has(id)),
            [],
            `round ${round}: acknowledged rows missing from the analytical read`,
          );
        } finally {
          await r.end();
        }
      }
    });
  });
}
