/**
 * Closed timestamps and the watermark against a real LMDB store and the real local bus: the
 * watermark is persisted and never decreases (a joining engine, a restart), stalled pairs,
 * retired heartbeats (protocol 2) and forced retirement, a retired engine writing again,
 * dead-lettering of parts with malformed changes (consumption goes on), and conflict records.
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
  type Change,
  type ChangeBus,
  encodeBusBatchFromParts,
  openLocalBus,
  PROTOCOL_VERSION,
  registry,
  rootLogger,
  type TxnPart,
  VersionGenerator,
} from '@stratum/shared';
import { type IngestionService, startIngestion } from './index.ts';

const gen = new VersionGenerator();

function change(id: number, ts: number, n: number, prev: string | null = null): Change {
  return { table: 't', key: [BigInt(id)], op: prev ? 'update' : 'insert', version: gen.next(ts), prev, row: { id: BigInt(id), n } };
}

function part(engine: string, partition: number, seq: number, ts: number, changes: Change[]): TxnPart {
  return { engine, partition, seq, txn: gen.next(ts), commitTs: ts, changes };
}

function batch(
  engine: string,
  partition: number,
  parts: TxnPart[],
  closedTs: number,
  opts: { seq?: number; retired?: true } = {},
): BusBatch {
  const seq = opts.seq ?? parts[parts.length - 1]?.seq ?? 0;
  return {
    protocolVersion: PROTOCOL_VERSION,
    engine,
    partition,
    catalogVersion: 1,
    parts,
    heartbeat: { engine, partition, seq, closedTs, ...(opts.retired ? { retired: true as const } : {}) },
  };
}

async function publish(bus: ChangeBus, b: BusBatch): Promise<void> {
  await bus.publish(b.engine, b.partition, `${batchMessageId(b)}${b.heartbeat.retired ? ':retired' : ''}`, encodeBusBatchFromParts(b));
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ingestion watermark, retirement, dead letters, conflicts', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  let now = 10_000;
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
      id: 'w1',
      dir: join(dir, 'ing'),
      partitions: [0, 1],
      catalog,
      bus,
      olap: () => [],
      pushIntervalMs: 60_000,
      pushRows: 1_000_000,
      gcIntervalMs: 0,
      stallMs: 5_000,
      now: () => now,
      log: rootLogger(),
    });
  const pairOf = async (engine: string, partition: number) =>
    (await ing.status()).pairs.find((p) => p.engine === engine && p.partition === partition);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-wm-'));
    bus = await openLocalBus(join(dir, 'bus'));
    ing = await start();
  });
  after(async () => {
    await ing.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the watermark is the min over pairs, persisted, and never moves back when an engine joins or after a restart', async () => {
    await publish(bus, batch('e1', 0, [part('e1', 0, 1, 1000, [change(1, 1000, 1)])], 1000));
    await until(async () => (await ing.status()).offsets['e1/0'] === 1, 'e1/0 seq 1');
    assert.equal((await ing.status()).watermark, -1, 'the first engine must report every partition first');
    await publish(bus, batch('e1', 1, [], 1200, { seq: 0 }));
    await until(async () => (await ing.status()).watermark === 1000, 'watermark 1000');
    // e2 joins on partition 0 with an older closed timestamp and has not reported partition 1.
    await publish(bus, batch('e2', 0, [part('e2', 0, 1, 900, [change(2, 900, 1)])], 900));
    await until(async () => (await ing.status()).offsets['e2/0'] === 1, 'e2/0 seq 1');
    assert.equal((await ing.status()).watermark, 1000, 'a joining engine neither resets nor regresses the watermark');
    await publish(bus, batch('e2', 1, [], 1500, { seq: 0 }));
    await publish(bus, batch('e2', 0, [], 1400, { seq: 1 }));
    await publish(bus, batch('e1', 0, [], 1600, { seq: 1 }));
    await publish(bus, batch('e1', 1, [], 1700, { seq: 0 }));
    await until(async () => (await ing.status()).watermark === 1400, 'watermark = min closed = 1400');
    await ing.close();
    ing = await start();
    const s = await ing.status();
    assert.equal(s.watermark, 1400, 'the watermark survives a restart');
    assert.deepEqual(s.partitions, [0, 1]);
    assert.equal(s.id, 'w1');
    assert.equal(s.pairs.length, 4, 'two engines × two partitions');
  });

  test('a pair whose closed timestamp is older than stall_ms is stalled, with its lag', async () => {
    now = 1400 + 4_000;
    let p = await pairOf('e2', 0);
    assert.equal(p?.stalled, false);
    assert.equal(p?.lagMs, 4_000);
    now = 1400 + 5_001;
    p = await pairOf('e2', 0);
    assert.equal(p?.stalled, true, 'lag 5001 ms > stall_ms 5000');
    assert.equal((await pairOf('e1', 1))?.stalled, false, 'closed at 1700: lag 4701 ms');
    const metrics = await registry.metrics();
    assert.match(metrics, /stratum_ingestion_closed_lag_ms\{ingestion="w1",engine="e2",partition="0"\}/);
  });

  test('retired heartbeats retire a pair once applied up to their seq; the watermark stops waiting for it', async () => {
    // e2 drains: one last part on partition 0, then retired heartbeats on both partitions.
    await publish(bus, batch('e2', 0, [part('e2', 0, 2, 1450, [change(3, 1450, 1)])], 1450, { retired: true }));
    await until(async () => (await pairOf('e2', 0))?.retired === true, 'e2/0 retired');
    assert.deepEqual((await ing.status()).retiredEngines, [], 'e2 still has a live pair on partition 1');
    // A retired heartbeat ahead of what is applied waits for the parts.
    await publish(bus, batch('e2', 1, [], 1500, { seq: 1, retired: true }));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await pairOf('e2', 1))?.retired, false, 'seq 1 on e2/1 is not applied yet');
    await publish(bus, batch('e2', 1, [part('e2', 1, 1, 1500, [change(4, 1500, 1)])], 1500, { retired: true }));
    await until(async () => (await ing.status()).retiredEngines.includes('e2'), 'e2 retired');
    const s = await ing.status();
    assert.equal(s.watermark, 1600, 'min over e1 only');
    assert.equal(s.pairs.find((p) => p.engine === 'e2')?.stalled, false, 'a retired pair is never stalled');
    await ing.close();
    ing = await start();
    assert.deepEqual((await ing.status()).retiredEngines, ['e2'], 'retirement is persisted');
  });

  test('a retired engine that writes again counts again', async () => {
    await publish(bus, batch('e2', 0, [part('e2', 0, 3, 1650, [change(5, 1650, 1)])], 1650));
    await until(async () => (await ing.status()).offsets['e2/0'] === 3, 'e2/0 seq 3');
    const s = await ing.status();
    assert.deepEqual(s.retiredEngines, []);
    assert.equal(s.pairs.find((p) => p.engine === 'e2' && p.partition === 0)?.retired, false);
    assert.equal(s.watermark, 1600, 'e2/1 is still retired; e2/0 at 1650 and e1 at 1600');
    assert.equal((await ing.get('t', [5n]))?.row?.n, 1);
  });

  test('retireEngine retires every pair of an engine at once (forced); its old parts do not count it again', async () => {
    // e3 reports only partition 0: its missing partition 1 holds the watermark at 1600.
    await publish(bus, batch('e3', 0, [part('e3', 0, 1, 1800, [change(6, 1800, 1)])], 1800));
    await publish(bus, batch('e1', 0, [], 2000, { seq: 1 }));
    await publish(bus, batch('e1', 1, [], 2000, { seq: 0 }));
    await publish(bus, batch('e2', 0, [], 2000, { seq: 3 }));
    await until(async () => {
      const c = (await ing.status()).closed;
      return c['e3/0'] === 1800 && c['e2/0'] === 2000 && c['e1/0'] === 2000 && c['e1/1'] === 2000;
    }, 'e3 and heartbeats');
    assert.equal((await ing.status()).watermark, 1600, 'held by e3/1, which has not reported');
    now = 50_000;
    const s = await ing.retireEngine('e3');
    assert.deepEqual(s.retiredEngines, ['e3']);
    assert.equal(s.watermark, 2000, 'no longer waits for e3');
    // A part e3 committed before the forced retirement (still on the bus) is applied but does not revive it.
    await publish(bus, batch('e3', 0, [part('e3', 0, 2, 1900, [change(7, 1900, 1)])], 1900));
    await until(async () => (await ing.status()).offsets['e3/0'] === 2, 'e3/0 seq 2');
    assert.deepEqual((await ing.status()).retiredEngines, ['e3']);
    assert.equal((await ing.get('t', [7n]))?.row?.n, 1, 'its version is applied');
    await assert.rejects(ing.retireEngine(''), /engine id/);
  });

  test('a part with a malformed change is dead-lettered with its reason; the sequence advances and other parts apply; fields of dropped columns are ignored', async () => {
    const before = await ing.status();
    const parts = [
      part('e1', 0, 2, 2100, [change(20, 2100, 1)]),
      part('e1', 0, 3, 2101, [{ ...change(21, 2101, 1), table: 'nope' }]),
      part('e1', 0, 4, 2102, [change(22, 2102, 1), { ...change(23, 2102, 1), key: [] }]),
      // A field the table does not have is a dropped column's (fields are never reused): ignored.
      part('e1', 0, 5, 2103, [{ ...change(24, 2103, 1), row: { id: 24n, n: 1, extra: 'x' } }]),
      part('e1', 0, 6, 2104, [{ ...change(25, 2104, 1), row: { id: 26n, n: 1 } }]),
      part('e1', 0, 7, 2105, [{ ...change(27, 2105, 1), row: { id: 27n, n: 'text' } }]),
      part('e1', 0, 8, 2106, [change(28, 2106, 1)]),
    ];
    await publish(bus, batch('e1', 0, parts, 2106));
    await until(async () => (await ing.status()).offsets['e1/0'] === 8, 'e1/0 seq 8');
    const s = await ing.status();
    assert.equal(s.deadLetters - before.deadLetters, 4, 'four bad parts');
    assert.equal(s.applied - before.applied, 3, 'the three good parts');
    assert.equal((await ing.get('t', [24n]))?.row?.n, 1, "a dropped column's field does not set a row aside");
    assert.equal((await ing.get('t', [20n]))?.row?.n, 1);
    assert.equal((await ing.get('t', [28n]))?.row?.n, 1);
    assert.equal(await ing.get('t', [22n]), null, 'a part is applied whole or not at all');
    // The next batch is consumed as usual.
    await publish(bus, batch('e1', 0, [part('e1', 0, 9, 2200, [change(29, 2200, 1)])], 2200));
    await until(async () => (await ing.status()).offsets['e1/0'] === 9, 'e1/0 seq 9');
    assert.match(await registry.metrics(), /stratum_ingestion_dead_letters_total\{ingestion="w1"\} [1-9]/);
  });

  test('conflicts() serves both sides, the winner and the policy, oldest first, by table', async () => {
    const base = (await ing.get('t', [1n]))!;
    now = 60_000;
    const a = part('e1', 0, 10, 3000, [change(1, 3000, 100, base.version)]);
    const b = part('e2', 0, 4, 3001, [change(1, 3001, 200, base.version)]);
    await publish(bus, batch('e1', 0, [a], 3000));
    await publish(bus, batch('e2', 0, [b], 3001));
    await until(async () => (await ing.status()).offsets['e2/0'] === 4, 'both updates');
    const got = await ing.conflicts({ limit: 10 });
    assert.equal(got.length, 1);
    const c = got[0]!;
    assert.equal(c.table, 't');
    assert.deepEqual(c.key, [1n]);
    assert.deepEqual(c.existing, { version: a.changes[0]!.version, engine: 'e1', commitTs: 3000 });
    assert.deepEqual(c.incoming, { version: b.changes[0]!.version, engine: 'e2', commitTs: 3001 });
    assert.equal(c.winner, b.changes[0]!.version);
    assert.equal(c.policy, 'lww');
    assert.equal(c.detectedAt, 60_000);
    assert.deepEqual(await ing.conflicts({ table: 'other', limit: 10 }), []);
    assert.deepEqual(await ing.conflicts({ limit: 0 }), []);
    await assert.rejects(ing.conflicts({ limit: -1 }), /limit/);
    assert.equal((await ing.status()).conflicts, 1);
  });
});
