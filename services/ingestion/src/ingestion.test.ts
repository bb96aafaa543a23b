/**
 * Ingestion against a real LMDB store and the real local bus, fed with change batches as a
 * TX engine would publish them: exactly-once apply under republished and re-cut batches,
 * watermarks from closed timestamps, dead-lettering of malformed input, the delta feed,
 * conflicts between engines, and resumption after a restart.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BusBatch,
  batchMessageId,
  Catalog,
  type ChangeBus,
  encode,
  encodeBusBatchFromParts,
  openLocalBus,
  PROTOCOL_VERSION,
  rootLogger,
  type TxnPart,
  VersionGenerator,
} from '@stratum/shared';
import { type IngestionService, startIngestion } from './index.ts';

const gen = new VersionGenerator();

function part(engine: string, partition: number, seq: number, ts: number, id: number, prev: string | null = null, n = 1): TxnPart {
  return {
    engine,
    partition,
    seq,
    txn: gen.next(ts),
    commitTs: ts,
    changes: [{ table: 't', key: [BigInt(id)], op: prev ? 'update' : 'insert', version: gen.next(ts), prev, row: { id: BigInt(id), n } }],
  };
}

function batch(engine: string, partition: number, parts: TxnPart[], closedTs: number, seq?: number): BusBatch {
  return {
    protocolVersion: PROTOCOL_VERSION,
    engine,
    partition,
    catalogVersion: 1,
    parts,
    heartbeat: { engine, partition, seq: seq ?? parts[parts.length - 1]?.seq ?? 0, closedTs },
  };
}

async function publish(bus: ChangeBus, b: BusBatch, id = batchMessageId(b)): Promise<void> {
  await bus.publish(b.engine, b.partition, id, encodeBusBatchFromParts(b));
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ingestion', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  const catalog = new Catalog();
  catalog.apply(1, {
    kind: 'create_table',
    at: 0,
    table: {
      name: 't',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'n', type: 'integer', notNull: false },
      ],
      primaryKey: ['id'],
    },
  });
  const start = () =>
    startIngestion({
      id: 'i1',
      dir: join(dir, 'ing'),
      partitions: [0, 1],
      catalog,
      bus,
      olap: () => undefined,
      pushIntervalMs: 60_000,
      pushRows: 1_000_000,
      log: rootLogger(),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-'));
    bus = await openLocalBus(join(dir, 'bus'));
    ing = await start();
  });
  after(async () => {
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  const p1 = part('e1', 0, 1, 1000, 1);
  const p2 = part('e1', 0, 2, 1001, 2);
  const p3 = part('e1', 0, 3, 1002, 3);

  test('applies each part once, even when republished or re-cut differently', async () => {
    await publish(bus, batch('e1', 0, [p1, p2], 1001));
    await publish(bus, batch('e1', 0, [p1, p2], 1001)); // same id: the bus dedupes
    await publish(bus, batch('e1', 0, [p2, p3], 1002)); // re-cut after a restart: p2 again
    await publish(bus, batch('e1', 1, [], 1002, 0));
    await until(async () => (await ing.status()).offsets['e1/0'] === 3, 'seq 3 on e1/0');
    await until(async () => (await ing.status()).watermark === 1002, 'watermark from both partitions');
    const s = await ing.status();
    assert.equal(s.applied, 3);
    assert.equal(s.watermark, 1002);
    const d = await ing.delta(0, 100);
    assert.deepEqual(
      d.versions.map((v) => v.key[0]),
      [1n, 2n, 3n],
    );
    assert.equal((await ing.get('t', [2n]))?.row?.n, 1);
  });

  test('the watermark is held back by the slowest (engine, partition)', async () => {
    await publish(bus, batch('e2', 0, [part('e2', 0, 1, 1500, 10)], 1500));
    await until(async () => (await ing.status()).offsets['e2/0'] === 1, 'e2/0');
    assert.equal((await ing.status()).watermark, 1002, 'a joining engine holds the watermark but never moves it back');
    await publish(bus, batch('e2', 1, [], 1400, 0));
    await until(async () => (await ing.status()).watermark === 1002, 'watermark = min closed');
    assert.equal(await ing.waitForWatermark(1002, 1000), true);
  });

  test('a malformed batch is dead-lettered and consumption goes on', async () => {
    await bus.publish('e1', 0, 'garbage-1', Buffer.from('not msgpack at all \xff\xfe'));
    await bus.publish('e1', 0, 'garbage-2', encode({ protocolVersion: 99, engine: 'e1', partition: 0 }));
    const p4 = part('e1', 0, 4, 1600, 4);
    await publish(bus, batch('e1', 0, [p4], 1600));
    await until(async () => (await ing.status()).offsets['e1/0'] === 4, 'seq 4 after garbage');
    assert.equal((await ing.status()).deadLetters, 2);
  });

  test('concurrent writes of one row by two engines are detected and resolved last-writer-wins', async () => {
    // e1 and e2 both update row 1 from the same prev.
    const base = (await ing.get('t', [1n]))!;
    const a = part('e1', 0, 5, 2000, 1, base.version, 100);
    const b = part('e2', 0, 2, 2001, 1, base.version, 200);
    await publish(bus, batch('e2', 0, [b], 2001));
    await publish(bus, batch('e1', 0, [a], 2000));
    await until(async () => (await ing.status()).offsets['e1/0'] === 5, 'both updates');
    assert.equal((await ing.get('t', [1n]))?.row?.n, 200, 'the later commit wins');
    assert.equal((await ing.status()).conflicts, 1);
  });

  test('delta pages through a part of several versions in apply order', async () => {
    const before = (await ing.status()).lsn;
    const multi = part('e1', 0, 6, 2500, 7);
    for (const id of [8, 9])
      multi.changes.push({
        table: 't',
        key: [BigInt(id)],
        op: 'insert',
        version: gen.next(2500),
        prev: null,
        row: { id: BigInt(id), n: 1 },
      });
    await publish(bus, batch('e1', 0, [multi], 2500));
    await until(async () => (await ing.status()).offsets['e1/0'] === 6, 'seq 6');
    const keys: bigint[] = [];
    let after = before;
    for (;;) {
      const d = await ing.delta(after, 1);
      if (d.lastLsn === after) break;
      assert.ok(d.versions.length <= 1 && d.lastLsn === after + 1, 'one LSN per page');
      keys.push(...d.versions.map((v) => v.key[0] as bigint));
      after = d.lastLsn;
    }
    assert.deepEqual(keys, [7n, 8n, 9n]);
    assert.equal(after, before + 3);
  });

  test("delta leaves out versions at or below a table's skip time, and still pages past them", async () => {
    const all = await ing.delta(0, 1000);
    const cut = 1600;
    const skipped = await ing.delta(0, 1000, { t: cut });
    assert.ok(
      all.versions.some((v) => v.commitTs <= cut) && all.versions.some((v) => v.commitTs > cut),
      'versions on both sides of the cut',
    );
    assert.deepEqual(
      skipped.versions.map((v) => v.version),
      all.versions.filter((v) => v.commitTs > cut).map((v) => v.version),
    );
    assert.equal(skipped.lastLsn, all.lastLsn, 'skipped versions are examined, so the next call starts after them');
    const other = await ing.delta(0, 1000, { other_table: Number.MAX_SAFE_INTEGER });
    assert.equal(other.versions.length, all.versions.length, 'a skip time of another table changes nothing');
  });

  test('a restart resumes after the stored positions without applying anything twice', async () => {
    const before = await ing.status();
    await ing.close();
    ing = await start();
    await publish(bus, batch('e1', 0, [part('e1', 0, 7, 3000, 6)], 3000));
    await until(async () => (await ing.status()).offsets['e1/0'] === 7, 'seq 7 after restart');
    const d = await ing.delta(0, 1000);
    const versions = d.versions.map((v) => v.version);
    assert.equal(new Set(versions).size, versions.length, 'no version twice in the delta');
    assert.equal(versions.length, before.applied + 1 + 0);
  });
});
