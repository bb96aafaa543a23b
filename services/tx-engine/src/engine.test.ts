/**
 * TX engine against a real LevelDB store and the real local bus: validation (SQLSTATEs),
 * version stamps, group commit, outbox → bus in per-partition sequence order with closed
 * timestamps, and recovery of the outbox and sequence counters after a restart.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BusBatch,
  Catalog,
  type ChangeBus,
  decodeBusBatch,
  LocalClock,
  openLocalBus,
  registry,
  rootLogger,
  versionTimestamp,
} from '@stratum/shared';
import { startTxEngine, type TxEngine, type TxEngineOptions } from './index.ts';

const P = 4;

function catalogWithTable(): Catalog {
  const c = new Catalog();
  c.apply(1, {
    kind: 'create_table',
    at: 0,
    table: {
      name: 't',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'n', type: 'integer', notNull: true },
        { name: 's', type: 'text', notNull: false },
        { name: 'at', type: 'timestamp', notNull: false },
      ],
      primaryKey: ['id'],
    },
  });
  return c;
}

async function collect(bus: ChangeBus, until: (all: BusBatch[]) => boolean): Promise<BusBatch[]> {
  const got: BusBatch[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const sub = await bus.subscribe({ name: 'test', partitions: [...Array(P).keys()], after: new Map() }, async (msgs) => {
    for (const m of msgs) {
      const b = decodeBusBatch(m.payload);
      if (b.engine === 'txa') got.push(b);
    }
    if (until(got)) done();
  });
  const timer = setTimeout(done, 20_000);
  await finished;
  clearTimeout(timer);
  await sub.stop();
  return got;
}

/** Engine `txa` of P partitions in `dir`/tx, on a local clock with ε 0. */
function startEngineIn(dir: string, bus: ChangeBus, catalog: Catalog, o: Partial<TxEngineOptions>): Promise<TxEngine> {
  return startTxEngine({ id: 'txa', dir: join(dir, 'tx'), partitions: P, catalog, bus, clock: new LocalClock(0), log: rootLogger(), ...o });
}

describe('tx engine', () => {
  let dir: string;
  let bus: ChangeBus;
  let engine: TxEngine;
  const catalog = catalogWithTable();
  const log = rootLogger();

  const start = () =>
    startTxEngine({ id: 'txa', dir: join(dir, 'tx'), partitions: P, catalog, bus, clock: new LocalClock(0), heartbeatMs: 20, log });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-tx-'));
    bus = await openLocalBus(join(dir, 'bus'));
    engine = await start();
  });
  after(async () => {
    await engine.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('inserts, point reads, updates and deletes; versions carry the commit time', async () => {
    const r = await engine.execute({
      catalogVersion: 1,
      ops: [
        {
          kind: 'insert',
          table: 't',
          columns: ['id', 'n', 's', 'at'],
          rows: [
            [1n, 10, 'a', 1714979289000000n],
            [2n, 20, null, null],
          ],
        },
      ],
    });
    assert.deepEqual(r.counts, [2]);
    const one = await engine.get('t', [1], 1);
    assert.ok(one?.row);
    assert.deepEqual(one.row, { id: 1n, n: 10, s: 'a', at: 1714979289000000n });
    assert.equal(versionTimestamp(one.version), r.commitTs);
    const u = await engine.execute({
      catalogVersion: 1,
      ops: [
        {
          kind: 'update',
          table: 't',
          source: { by: 'key', keys: [[1n]] },
          set: [{ column: 'n', expr: { k: 'const', v: 30, t: 'integer' } }],
        },
      ],
    });
    assert.deepEqual(u.counts, [1]);
    assert.equal((await engine.get('t', [1], 1))?.row?.n, 30);
    const d = await engine.execute({
      catalogVersion: 1,
      ops: [
        { kind: 'delete', table: 't', source: { by: 'key', keys: [[2n]] } },
        { kind: 'delete', table: 't', source: { by: 'key', keys: [[99n]] } },
      ],
    });
    assert.deepEqual(d.counts, [1, 0]);
    assert.equal((await engine.get('t', [2], 1))?.row, null);
  });

  test('schema violations are refused with their SQLSTATE and store nothing', async () => {
    const cases: [unknown[][], string[], string][] = [
      [[[1n, 5]], ['id', 'n'], '23505'],
      [[[3n, null]], ['id', 'n'], '23502'],
      [[[3n]], ['id'], '23502'],
      [[[4n, 'x']], ['id', 'n'], '42804'],
      [[[5n, 1.5]], ['id', 'n'], '42804'],
      [[[6n, 1, 'ok', 'not a time']], ['id', 'n', 's', 'at'], '42804'],
      [[[7n, 1]], ['id', 'nope'], '42703'],
      [
        [
          [8n, 1],
          [8n, 2],
        ],
        ['id', 'n'],
        '23505',
      ],
    ];
    for (const [rows, columns, code] of cases) {
      await assert.rejects(
        engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns, rows: rows as never }] }),
        (e: { code: string; message: string }) => {
          assert.equal(e.code, code, e.message);
          return true;
        },
      );
    }
    for (const id of [3n, 4n, 5n, 6n, 7n, 8n]) assert.equal(await engine.get('t', [id], 1), null);
    await assert.rejects(engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 'nope', columns: ['id'], rows: [[1n]] }] }), {
      code: '42P01',
    });
  });

  test('a transaction over the size limit fails with 54000 and stores nothing, others in its group commit', async () => {
    const small = await startTxEngine({
      id: 'txs',
      dir: join(dir, 'txs'),
      partitions: P,
      catalog,
      bus,
      clock: new LocalClock(0),
      maxTxnBytes: 4096,
      log,
    });
    try {
      const big = Array.from({ length: 200 }, (_, i) => [BigInt(10_000 + i), i, 'x'.repeat(50)]);
      const results = await Promise.allSettled([
        small.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[20_000n, 1]] }] }),
        small.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n', 's'], rows: big }] }),
        small.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[20_001n, 1]] }] }),
      ]);
      assert.equal(results[0].status, 'fulfilled');
      assert.equal(results[2].status, 'fulfilled');
      assert.equal(results[1].status, 'rejected');
      assert.equal((results[1] as PromiseRejectedResult).reason.code, '54000');
      assert.equal(await small.get('t', [10_000], 1), null);
      assert.ok(await small.get('t', [20_001], 1));
    } finally {
      await small.close();
    }
  });

  test('concurrent transactions share group commits', async () => {
    const before =
      (await registry.getSingleMetric('stratum_tx_group_commits_total')?.get())?.values.find((v) => v.labels.engine === 'txa')?.value ?? 0;
    const n = 200;
    const all = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[BigInt(1000 + i), i]] }] }),
      ),
    );
    assert.equal(all.length, n);
    const afterCount =
      (await registry.getSingleMetric('stratum_tx_group_commits_total')?.get())?.values.find((v) => v.labels.engine === 'txa')?.value ?? 0;
    assert.ok(afterCount - before < n / 2, `expected far fewer synced batches than ${n} transactions, got ${afterCount - before}`);
  });

  test('the outbox reaches the bus in per-partition sequence order with closed timestamps', async () => {
    const last = await engine.execute({
      catalogVersion: 1,
      ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[5000n, 1]] }],
    });
    const batches = await collect(
      bus,
      (all) =>
        all.some((b) => b.heartbeat.closedTs >= last.commitTs) && all.filter((b) => b.heartbeat.closedTs >= last.commitTs).length >= P,
    );
    const next = new Map<number, number>();
    let versions = 0;
    for (const b of batches) {
      for (const p of b.parts) {
        assert.equal(p.engine, 'txa');
        assert.equal(p.seq, (next.get(b.partition) ?? 0) + 1, `partition ${b.partition} out of order`);
        next.set(b.partition, p.seq);
        assert.ok(b.heartbeat.closedTs >= p.commitTs, 'closed timestamp below a commit it covers');
        versions += p.changes.length;
      }
    }
    // 2 inserts + update + delete + 200 + 1.
    assert.equal(versions, 205);
  });

  test('a restart keeps sequence numbers and the data', async () => {
    await engine.close();
    engine = await start();
    assert.equal((await engine.get('t', [1], 1))?.row?.n, 30);
    await engine.execute({
      catalogVersion: 1,
      ops: [
        {
          kind: 'insert',
          table: 't',
          columns: ['id', 'n'],
          rows: [
            [6000n, 1],
            [6001n, 2],
            [6002n, 3],
          ],
        },
      ],
    });
    const batches = await collect(bus, (all) => all.reduce((n, b) => n + b.parts.reduce((m, p) => m + p.changes.length, 0), 0) >= 208);
    const seen = new Map<string, number>();
    for (const b of batches) {
      for (const p of b.parts) {
        const k = `${p.partition}:${p.seq}`;
        assert.ok(!seen.has(k) || seen.get(k) === p.changes.length, `seq ${k} reused for different content`);
        seen.set(k, p.changes.length);
      }
    }
    assert.equal(
      [...seen.values()].reduce((a, b) => a + b, 0),
      208,
    );
  });
});

describe('tx engine decommission', () => {
  test('refuses transactions, drains the outbox, announces final seqs with retired heartbeats, and stays retired after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-tx-retire-'));
    const bus = await openLocalBus(join(dir, 'bus'));
    const catalog = catalogWithTable();
    const log = rootLogger();
    const start = () =>
      startTxEngine({ id: 'txa', dir: join(dir, 'tx'), partitions: P, catalog, bus, clock: new LocalClock(0), heartbeatMs: 20, log });
    let engine = await start();
    try {
      const rows = Array.from({ length: 40 }, (_, i) => [BigInt(i), i]);
      await engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows }] });
      const r = await engine.decommission();
      assert.equal(r.engine, 'txa');
      assert.equal(r.finalSeqs.length, P);
      assert.equal(engine.outboxPending(), 0);
      await assert.rejects(
        engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[99n, 1]] }] }),
        (e: { code?: string; message: string }) => e.code === '57P01' && /decommissioned/.test(e.message),
      );
      await assert.rejects(engine.begin('repeatable_read'), (e: { code?: string }) => e.code === '57P01');
      const batches = await collect(bus, (all) => new Set(all.filter((b) => b.heartbeat.retired).map((b) => b.partition)).size === P);
      const retired = new Map<number, number>();
      let maxSeq = new Map<number, number>();
      for (const b of batches) {
        for (const p of b.parts) maxSeq.set(p.partition, Math.max(maxSeq.get(p.partition) ?? 0, p.seq));
        if (b.heartbeat.retired) retired.set(b.partition, b.heartbeat.seq);
      }
      for (let p = 0; p < P; p++) {
        assert.equal(retired.get(p), r.finalSeqs[p], `partition ${p}: retired heartbeat carries the final seq`);
        assert.equal(maxSeq.get(p) ?? 0, r.finalSeqs[p], `partition ${p}: every part was published before`);
      }
      await engine.close();
      engine = await start();
      await assert.rejects(
        engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[98n, 1]] }] }),
        (e: { code?: string }) => e.code === '57P01',
      );
      maxSeq = new Map();
    } finally {
      await engine.close();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tx engine parts over the bus message limit', () => {
  test("a partition's changes over the limit go out as consecutive parts; a single row over it fails with 54000", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-tx-split-'));
    const local = await openLocalBus(join(dir, 'bus'));
    // The same bus with NATS's kind of message limit (the engine keeps 1 KiB of it for framing).
    const bus: ChangeBus = Object.assign(Object.create(local) as ChangeBus, { maxPayloadBytes: () => 5 * 1024 });
    const catalog = catalogWithTable();
    const engine = await startEngineIn(dir, bus, catalog, { heartbeatMs: 20 });
    try {
      const rows = Array.from({ length: 300 }, (_, i) => [BigInt(i), i, 'x'.repeat(60)]);
      const r = await engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n', 's'], rows }] });
      assert.deepEqual(r.counts, [300]);
      const batches = await collect(local, (all) => all.reduce((n, b) => n + b.parts.reduce((m, p) => m + p.changes.length, 0), 0) >= 300);
      const parts = batches.flatMap((b) => b.parts);
      assert.equal(
        parts.reduce((n, p) => n + p.changes.length, 0),
        300,
      );
      assert.ok(parts.length > P, `split into more parts than partitions (${parts.length})`);
      for (let p = 0; p < P; p++) {
        const seqs = parts.filter((x) => x.partition === p).map((x) => x.seq);
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => i + 1),
          `partition ${p}: consecutive sequence numbers`,
        );
      }
      await assert.rejects(
        engine.execute({
          catalogVersion: 1,
          ops: [{ kind: 'insert', table: 't', columns: ['id', 'n', 's'], rows: [[9999n, 1, 'y'.repeat(8000)]] }],
        }),
        { code: '54000' },
      );
      await engine.execute({ catalogVersion: 1, ops: [{ kind: 'insert', table: 't', columns: ['id', 'n'], rows: [[10_000n, 1]] }] });
    } finally {
      await engine.close();
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tx engine: eager closing', () => {
  test('after a commit every partition closes past it without waiting for heartbeat_ms (the ingestion watermark is their minimum)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-tx-eager-'));
    const bus = await openLocalBus(join(dir, 'bus'));
    const catalog = catalogWithTable();
    // Regular heartbeats only at start, then not for 10 minutes: only eager ones can close the idle partitions.
    const engine = await startEngineIn(dir, bus, catalog, { heartbeatMs: 600_000, eagerHeartbeatGapMs: 10 });
    try {
      const r = await engine.execute({
        catalogVersion: 1,
        ops: [{ kind: 'insert', table: 't', columns: ['id', 'n', 's', 'at'], rows: [[7n, 1, null, null]] }],
      });
      const closedPast = (all: BusBatch[], p: number) => all.some((b) => b.partition === p && b.heartbeat.closedTs >= r.commitTs);
      const got = await collect(bus, (all) => [...Array(P).keys()].every((p) => closedPast(all, p)));
      const data = got.filter((b) => b.parts.length > 0);
      assert.equal(data.length, 1, 'the commit went out in one data message');
      for (let p = 0; p < P; p++) assert.ok(closedPast(got, p), `partition ${p} closed past the commit`);
      // The idle partitions closed by heartbeats (no parts), not by data.
      assert.ok(got.some((b) => b.parts.length === 0 && b.partition !== data[0]?.partition && b.heartbeat.closedTs >= r.commitTs));
    } finally {
      await engine.close();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
