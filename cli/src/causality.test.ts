/**
 * Commit order follows causality across TX engines whose clocks disagree (hybrid-logical-clock
 * receive rule in the TX engine): an engine whose clock runs 300 ms behind updates a row another
 * engine wrote; its version must commit after the one it replaced, so ingestion's `latest`,
 * its AS OF reads (ordered by commit time) and the LWW order agree, and no conflict is
 * recorded. Real LevelDB, LMDB and the local bus, in one process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type IngestionService, startIngestion } from '@stratum/ingestion';
import { Catalog, type ChangeBus, LocalClock, openLocalBus, rootLogger } from '@stratum/shared';
import { startTxEngine, type TxEngine } from '@stratum/tx-engine';

const P = 4;

describe('causal commit order across skewed TX engines', () => {
  let dir: string;
  let bus: ChangeBus;
  let ingestion: IngestionService;
  let ahead: TxEngine;
  let behind: TxEngine;
  const catalog = new Catalog();
  const log = rootLogger().child({ test: 'causality' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-causal-'));
    bus = await openLocalBus(join(dir, 'bus'));
    catalog.apply(1, {
      kind: 'create_table',
      at: 0,
      table: {
        name: 'acct',
        columns: [
          { name: 'id', type: 'bigint', notNull: true },
          { name: 'n', type: 'integer', notNull: false },
        ],
        primaryKey: ['id'],
      },
    });
    ingestion = await startIngestion({
      id: 'ing1',
      dir: join(dir, 'ing'),
      partitions: [...Array(P).keys()],
      catalog,
      bus,
      olap: () => [],
      pushIntervalMs: 60_000,
      pushRows: 100_000,
      log,
    });
    const engine = (id: string, skewMs: number) =>
      startTxEngine({
        id,
        dir: join(dir, id),
        partitions: P,
        catalog,
        bus,
        clock: new LocalClock(0, () => Date.now() + skewMs),
        ingestion,
        heartbeatMs: 20,
        log,
      });
    ahead = await engine('txa', 300);
    behind = await engine('txb', 0);
  });

  after(async () => {
    await behind?.close();
    await ahead?.close();
    await ingestion?.close();
    await bus?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an update on the engine behind commits after the version it replaced', async () => {
    for (let id = 1; id <= 20; id++) {
      const w = await ahead.execute({
        catalogVersion: 1,
        ops: [{ kind: 'insert', table: 'acct', columns: ['id', 'n'], rows: [[BigInt(id), 1]] }],
      });
      // The engine behind reads rows it never held from ingestion: wait until ingestion has it.
      for (let i = 0; i < 500 && !(await ingestion.get('acct', [BigInt(id)])); i++) await new Promise((r) => setTimeout(r, 10));
      const u = await behind.execute({
        catalogVersion: 1,
        ops: [
          {
            kind: 'update',
            table: 'acct',
            source: { by: 'key', keys: [[BigInt(id)]] },
            set: [{ column: 'n', expr: { k: 'const', v: 2, t: 'integer' } }],
          },
        ],
      });
      assert.equal(u.counts[0], 1, `row ${id} found through ingestion`);
      assert.ok(u.commitTs > w.commitTs, `row ${id}: update at ${u.commitTs} must commit after the insert at ${w.commitTs}`);
    }
    for (let id = 1; id <= 20; id++) {
      let latest = await ingestion.get('acct', [BigInt(id)]);
      for (let i = 0; i < 500 && latest?.row?.n !== 2; i++) {
        await new Promise((r) => setTimeout(r, 10));
        latest = await ingestion.get('acct', [BigInt(id)]);
      }
      assert.equal(latest?.row?.n, 2, `row ${id}: latest is the update`);
      const [asOf] = await ingestion.getMany('acct', [[BigInt(id)]], Date.now() + 60_000);
      assert.equal(asOf?.version, latest?.version, `row ${id}: AS OF after every commit agrees with latest`);
    }
    assert.equal((await ingestion.conflicts({ limit: 100 })).length, 0, 'sequential updates are not conflicts');
  });
});
