/**
 * OLAP push and GC against real OLAP shards (DuckDB + Parquet), a real LMDB store and the real
 * local bus: versions go to the shard `shardOfVersion` places them on, every shard of a table
 * gets its watermark advanced (also by a push without versions), pushes carry this ingestion's
 * id as `source`; GC removes versions past retention that OLAP already holds, keeps the version
 * visible at the cut and the latest, removes deleted rows entirely, and keeps what OLAP lacks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type OlapShard, startOlapShard } from '@stratum/olap-shard';
import {
  type BusBatch,
  batchMessageId,
  Catalog,
  type Change,
  type ChangeBus,
  DEFAULT_TABLE_OPTIONS,
  encodeBusBatchFromParts,
  openLocalBus,
  PROTOCOL_VERSION,
  registry,
  rootLogger,
  shardOfVersion,
  type TxnPart,
  VersionGenerator,
} from '@stratum/shared';
import { type IngestionService, startIngestion } from './index.ts';

const gen = new VersionGenerator();
const SHARDS = ['s1', 's2'];

function change(table: string, id: number, ts: number, n: number | null, prev: string | null = null, del = false): Change {
  return {
    table,
    key: [BigInt(id)],
    op: del ? 'delete' : prev ? 'update' : 'insert',
    version: gen.next(ts),
    prev,
    row: del ? null : { id: BigInt(id), n },
  };
}

const seqs = new Map<number, number>();
function part(ts: number, changes: Change[], partition = 0): TxnPart {
  const seq = (seqs.get(partition) ?? 0) + 1;
  seqs.set(partition, seq);
  return { engine: 'e1', partition, seq, txn: gen.next(ts), commitTs: ts, changes };
}

function batch(partition: number, parts: TxnPart[], closedTs: number): BusBatch {
  return {
    protocolVersion: PROTOCOL_VERSION,
    engine: 'e1',
    partition,
    catalogVersion: 3,
    parts,
    heartbeat: { engine: 'e1', partition, seq: seqs.get(partition) ?? 0, closedTs },
  };
}

async function publish(bus: ChangeBus, b: BusBatch): Promise<void> {
  await bus.publish(b.engine, b.partition, batchMessageId(b), encodeBusBatchFromParts(b));
}

/** Close both partitions at `ts` (and publish pending parts on partition 0) and wait for the watermark. */
async function closeAt(bus: ChangeBus, ing: IngestionService, ts: number, parts: TxnPart[] = []): Promise<void> {
  await publish(bus, batch(0, parts, ts));
  await publish(bus, batch(1, [], ts));
  assert.equal(await ing.waitForWatermark(ts, 15_000), true, `watermark ${ts}`);
}

describe('ingestion OLAP push and GC', () => {
  let dir: string;
  let bus: ChangeBus;
  let ing: IngestionService;
  const shards: OlapShard[] = [];
  let now = 100_000;
  const catalog = new Catalog((t) => (t === 'k' ? { ...DEFAULT_TABLE_OPTIONS, shardKey: 'id' } : DEFAULT_TABLE_OPTIONS));
  for (const [i, name] of ['k', 't', 'g'].entries()) {
    catalog.apply(i + 1, {
      kind: 'create_table',
      at: 0,
      table: {
        name,
        columns: [
          { name: 'id', type: 'bigint', notNull: true },
          { name: 'n', type: 'integer', notNull: false },
        ],
        primaryKey: ['id'],
      },
    });
  }
  const count = async (s: OlapShard, table: string) =>
    Number((await s.query(`SELECT count(*) FROM ${table}__history`, [], catalog.version)).rows[0]?.[0]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-olap-'));
    bus = await openLocalBus(join(dir, 'bus'));
    for (const id of SHARDS) shards.push(await startOlapShard({ id, dir: join(dir, id), catalog, deltaSources: [] }));
    ing = await startIngestion({
      id: 'ingA',
      dir: join(dir, 'ing'),
      partitions: [0, 1],
      catalog,
      bus,
      olap: () => shards.map((s, i) => ({ id: SHARDS[i] as string, api: s })),
      pushIntervalMs: 3_600_000,
      pushRows: 1_000_000,
      retentionMs: 1_000,
      gcIntervalMs: 0,
      now: () => now,
      log: rootLogger(),
    });
  });
  after(async () => {
    await ing.close();
    for (const s of shards) await s.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('pushes each version to the shard that holds it and advances every shard of the table', async () => {
    const ks: TxnPart[] = [];
    for (let i = 0; i < 20; i++) ks.push(part(1000 + i, [change('k', i, 1000 + i, i)]));
    ks.push(part(1019, [change('t', 1, 1019, 1)]));
    await closeAt(bus, ing, 1019, ks);
    await ing.pushNow();
    const info = catalog.get('k');
    const want = new Map(SHARDS.map((s) => [s, 0]));
    for (let i = 0; i < 20; i++) {
      const s = shardOfVersion(info, [BigInt(i)], { id: BigInt(i), n: i }, SHARDS);
      want.set(s, (want.get(s) ?? 0) + 1);
    }
    assert.ok((want.get('s1') ?? 0) > 0 && (want.get('s2') ?? 0) > 0, 'the keys spread over both shards');
    for (const [i, s] of shards.entries()) {
      assert.equal(await count(s, 'k'), want.get(SHARDS[i] as string), `rows of k on ${SHARDS[i]}`);
      assert.equal((await s.watermarks('ingA')).k, 1019, `k's watermark for source ingA on ${SHARDS[i]}`);
    }
    assert.equal((await shards[0]!.watermarks('ingA')).t, 1019, 't lives on the first shard');
    assert.equal(await count(shards[0]!, 't'), 1);
    assert.notEqual((await shards[1]!.watermarks('ingA')).t, 1019, 't is not pushed to s2');
    // No new versions: the push still advances every shard's watermark; pushing again is idempotent.
    await closeAt(bus, ing, 1500);
    await ing.pushNow();
    await ing.pushNow();
    for (const s of shards) assert.equal((await s.watermarks('ingA')).k, 1500);
    assert.equal((await count(shards[0]!, 'k')) + (await count(shards[1]!, 'k')), 20, 'nothing pushed twice');
  });

  test('GC removes what retention and OLAP allow, keeps the version visible at the cut, the latest, and what OLAP lacks', async () => {
    const r1 = [change('g', 1, 10_000, 1)];
    r1.push(change('g', 1, 11_000, 2, r1[0]!.version));
    r1.push(change('g', 1, 14_000, 3, r1[1]!.version));
    const r2 = [change('g', 2, 10_000, 1)];
    r2.push(change('g', 2, 11_000, null, r2[0]!.version, true));
    const r3 = change('g', 3, 10_000, 1);
    await closeAt(bus, ing, 14_000, [part(10_000, [r1[0]!, r2[0]!, r3]), part(11_000, [r1[1]!, r2[1]!]), part(14_000, [r1[2]!])]);
    await ing.pushNow();
    assert.equal((await shards[0]!.watermarks('ingA')).g, 14_000);
    // Versions after the OLAP watermark (not pushed).
    const r1v4 = change('g', 1, 15_000, 4, r1[2]!.version);
    const r5 = [change('g', 5, 15_000, 1)];
    r5.push(change('g', 5, 15_500, 2, r5[0]!.version));
    await closeAt(bus, ing, 16_000, [part(15_000, [r1v4, r5[0]!]), part(15_500, [r5[1]!])]);
    assert.equal((await ing.getMany('g', [[1n]], 10_500))[0]?.row?.n, 1, 'before GC the old version is there');

    now = 100_000; // retention cut 99 000; OLAP holds g up to 14 000: the cut is 14 000
    await ing.gcNow();
    const s = await ing.status();
    assert.equal(s.gcRemoved, 4, 'row 1: two superseded versions; row 2: insert and tombstone');
    assert.equal(s.gcHorizonMs, 14_000);
    const [a1, a2, a3] = await ing.getMany('g', [[1n], [2n], [3n]], 10_500);
    assert.equal(a1, null, 'superseded before the cut: gone (a read this old belongs to OLAP)');
    assert.equal(a2, null);
    assert.equal(a3?.row?.n, 1, 'a live row keeps its only version');
    assert.equal((await ing.getMany('g', [[1n]], 14_500))[0]?.row?.n, 3, 'the version visible at the cut stays');
    assert.equal((await ing.get('g', [1n]))?.row?.n, 4, 'the latest stays');
    assert.equal(await ing.get('g', [2n]), null);
    const r5at = await ing.getMany('g', [[5n]], 15_200);
    assert.equal(r5at[0]?.row?.n, 1, 'versions not yet in OLAP stay');
    const d = await ing.delta(0, 1_000_000);
    const rows = d.versions.filter((v) => v.table === 'g').map((v) => `${v.key[0]}@${v.commitTs}`);
    assert.deepEqual(
      rows.sort(),
      ['1@15000', '5@15000', '5@15500'],
      'the delta feed keeps only what is newer than the cut (OLAP has the rest)',
    );
    for (const asOf of [10_000, 11_000, 14_000, 20_000])
      assert.equal((await ing.getMany('g', [[2n]], asOf))[0], null, 'row 2 vanished entirely');
    // A second pass with the same cut removes nothing more.
    await ing.gcNow();
    assert.equal((await ing.status()).gcRemoved, 4);
    assert.match(await registry.metrics(), /stratum_ingestion_gc_removed_versions_total\{ingestion="ingA"\} 4/);
  });
});
