/**
 * Ingestion merge rate (changes/s) of one ingestion engine: a local bus is pre-filled with
 * change batches as a TX engine publishes them (16 partitions, 1,000-row transactions of a
 * flights-like row), then an ingestion engine starts and applies them; the table gives the
 * wall time until its offsets reach the end, and changes/s (median of --runs).
 *
 *   npx tsx bench/ingestion-merge.ts [--changes 200000] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIngestion } from '@stratum/ingestion';
import {
  batchMessageId,
  Catalog,
  type EncodedPart,
  encodeBusBatch,
  encodePart,
  openLocalBus,
  PROTOCOL_VERSION,
  partitionOf,
  rootLogger,
  type TxnPart,
  VersionGenerator,
} from '@stratum/shared';
import { parseArgs } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const opt = (name: string, d: number) => args.num(name) ?? d;
const CHANGES = opt('changes', 200_000);
const RUNS = opt('runs', 3);
const P = 16;

async function once(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-bench-ing-'));
  const bus = await openLocalBus(join(dir, 'bus'));
  const gen = new VersionGenerator();
  const seqs = new Array<number>(P).fill(0);
  const pending: EncodedPart[][] = Array.from({ length: P }, () => []);
  let ts = Date.now();
  for (let i = 0; i < CHANGES; i += 1000) {
    ts++;
    const byPart = new Map<number, TxnPart['changes']>();
    for (let k = i; k < Math.min(CHANGES, i + 1000); k++) {
      const key = [BigInt(k)];
      const p = partitionOf('flights', key, P);
      let l = byPart.get(p);
      if (!l) byPart.set(p, (l = []));
      l.push({
        table: 'flights',
        key,
        op: 'insert',
        version: gen.next(ts),
        prev: null,
        row: {
          id: BigInt(k),
          date: 978307260000000n + BigInt(k) * 60_000_000n,
          delay: BigInt(k % 90),
          distance: 500n,
          origin: 'LAS',
          destination: 'PHL',
        },
      });
    }
    const txn = gen.next(ts);
    for (const [p, changes] of byPart)
      pending[p]!.push(encodePart({ engine: 'tx1', partition: p, seq: ++seqs[p]!, txn, commitTs: ts, changes }));
  }
  for (let p = 0; p < P; p++) {
    const parts = pending[p]!;
    for (let i = 0; i < parts.length; i += 200) {
      const take = parts.slice(i, i + 200);
      const head = {
        protocolVersion: PROTOCOL_VERSION,
        engine: 'tx1',
        partition: p,
        catalogVersion: 1,
        heartbeat: { engine: 'tx1', partition: p, seq: take[take.length - 1]!.seq, closedTs: ts },
      };
      await bus.publish('tx1', p, batchMessageId({ ...head, parts: take }), encodeBusBatch(head, take));
    }
  }
  const catalog = new Catalog();
  catalog.apply(1, {
    kind: 'create_table',
    at: 0,
    table: {
      name: 'flights',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'date', type: 'timestamp', notNull: false },
        { name: 'delay', type: 'bigint', notNull: false },
        { name: 'distance', type: 'bigint', notNull: false },
        { name: 'origin', type: 'text', notNull: false },
        { name: 'destination', type: 'text', notNull: false },
      ],
      primaryKey: ['id'],
    },
  });
  const t0 = performance.now();
  const ing = await startIngestion({
    id: 'i',
    dir: join(dir, 'ing'),
    partitions: [...Array(P).keys()],
    catalog,
    bus,
    olap: () => [],
    pushIntervalMs: 3_600_000,
    pushRows: 1e12,
    log: rootLogger(),
  });
  for (;;) {
    const s = await ing.status();
    if (s.applied >= CHANGES) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const secs = (performance.now() - t0) / 1000;
  await ing.close();
  await bus.close();
  await rm(dir, { recursive: true, force: true });
  return CHANGES / secs;
}

const rates: number[] = [];
for (let r = 0; r < RUNS; r++) {
  rates.push(await once());
  process.stderr.write(`run ${r + 1}: ${Math.round(rates[rates.length - 1]!)} changes/s\n`);
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)]!;
process.stdout.write(
  `| bench | changes | runs | median changes/s |\n|---|---|---|---|\n| ingestion merge (1 engine, LMDB) | ${CHANGES} | ${RUNS} | ${Math.round(median)} |\n`,
);
