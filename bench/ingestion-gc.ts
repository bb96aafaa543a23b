/**
 * Ingestion GC keeps the LMDB store bounded (DESIGN §4 GC): a steady update load over a fixed
 * key set (one simulated TX engine publishing to the local bus, `--partitions` partitions, every
 * update's `prev` = the key's previous version), one ingestion engine with a short retention and
 * a real in-process OLAP shard receiving its pushes. `--updates` updates are published at up
 * to `--rate` per second; the size of ingestion's `data.mdb` (bytes, `stat`) is sampled after
 * every tenth of them (so both modes are compared at the same amount of history), once with GC
 * every `--gc-ms` and once without GC, and printed as a markdown table (MB), followed by a summary
 * (versions applied, removed by GC, final and max size, seconds taken). Each configuration runs
 * `--runs` times (alternating order); figures are medians over the runs.
 *
 *   npx tsx bench/ingestion-gc.ts [--updates 100000] [--rate 5000] [--keys 2000] [--retention-ms 2000]
 *                                 [--gc-ms 500] [--push-ms 500] [--partitions 4] [--runs 1]
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIngestion } from '@stratum/ingestion';
import { startOlapShard } from '@stratum/olap-shard';
import {
  batchMessageId,
  Catalog,
  type Change,
  encodeBusBatchFromParts,
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
const UPDATES = opt('updates', 100_000);
const RATE = opt('rate', 5000);
const KEYS = opt('keys', 2000);
const RETENTION_MS = opt('retention-ms', 2000);
const GC_MS = opt('gc-ms', 500);
const PUSH_MS = opt('push-ms', 500);
const SAMPLES = 10;
const P = opt('partitions', 4);
const RUNS = opt('runs', 1);
const TICK_MS = 10;

interface RunResult {
  samples: number[];
  applied: number;
  removed: number;
  seconds: number;
}

async function once(gc: boolean): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-bench-gc-'));
  const log = rootLogger().child({}, { level: 'warn' });
  const catalog = new Catalog();
  catalog.apply(1, {
    kind: 'create_table',
    at: 0,
    table: {
      name: 'acct',
      columns: [
        { name: 'id', type: 'bigint', notNull: true },
        { name: 'balance', type: 'bigint', notNull: false },
        { name: 'note', type: 'text', notNull: false },
      ],
      primaryKey: ['id'],
    },
  });
  const bus = await openLocalBus(join(dir, 'bus'));
  const shard = await startOlapShard({ id: 'olap1', dir: join(dir, 'olap1'), catalog, deltaSources: [] });
  const ingDir = join(dir, 'ing');
  const ing = await startIngestion({
    id: 'ing1',
    dir: ingDir,
    partitions: [...Array(P).keys()],
    catalog,
    bus,
    olap: () => [{ id: 'olap1', api: shard }],
    pushIntervalMs: PUSH_MS,
    pushRows: 1_000_000,
    retentionMs: RETENTION_MS,
    gcIntervalMs: gc ? GC_MS : 0,
    log,
  });
  const gen = new VersionGenerator();
  const latest = new Map<number, string>();
  const seqs = new Array<number>(P).fill(0);
  const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
  const samples: number[] = [];
  const t0 = Date.now();
  let balance = 0n;
  let published = 0;
  let nextSample = 0;
  const sample = async () => samples.push((await stat(join(ingDir, 'data.mdb'))).size);
  while (published < UPDATES) {
    const ts = Date.now();
    const byPart = new Map<number, Change[]>();
    for (let i = 0; i < perTick && published < UPDATES; i++, published++) {
      const id = Math.floor(Math.random() * KEYS);
      const key = [BigInt(id)];
      const version = gen.next(ts);
      const prev = latest.get(id) ?? null;
      latest.set(id, version);
      const p = partitionOf('acct', key, P);
      let l = byPart.get(p);
      if (!l) byPart.set(p, (l = []));
      l.push({
        table: 'acct',
        key,
        op: prev ? 'update' : 'insert',
        version,
        prev,
        row: { id: BigInt(id), balance: balance++, note: 'steady update load' },
      });
    }
    const sends: Promise<unknown>[] = [];
    for (let p = 0; p < P; p++) {
      const changes = byPart.get(p);
      const parts: TxnPart[] = changes ? [{ engine: 'tx1', partition: p, seq: ++seqs[p]!, txn: gen.next(ts), commitTs: ts, changes }] : [];
      const b = {
        protocolVersion: PROTOCOL_VERSION,
        engine: 'tx1',
        partition: p,
        catalogVersion: 1,
        parts,
        heartbeat: { engine: 'tx1', partition: p, seq: seqs[p]!, closedTs: ts },
      };
      sends.push(bus.publish('tx1', p, batchMessageId(b), encodeBusBatchFromParts(b)));
    }
    await Promise.all(sends);
    if (published >= nextSample && published < UPDATES) {
      await sample();
      nextSample += UPDATES / SAMPLES;
    }
    const wait = ts + TICK_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  // Let ingestion catch up with what was published, then take the last sample.
  while ((await ing.status()).applied < UPDATES && Date.now() - t0 < 600_000) await new Promise((r) => setTimeout(r, 50));
  const seconds = (Date.now() - t0) / 1000;
  await sample();
  const s = await ing.status();
  await ing.close();
  await shard.close();
  await bus.close();
  await rm(dir, { recursive: true, force: true });
  return { samples, applied: s.applied, removed: s.gcRemoved ?? 0, seconds };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

const results: Record<'gc' | 'nogc', RunResult[]> = { gc: [], nogc: [] };
for (let r = 0; r < RUNS; r++) {
  for (const mode of r % 2 === 0 ? (['nogc', 'gc'] as const) : (['gc', 'nogc'] as const)) {
    process.stderr.write(`run ${r + 1} ${mode}…\n`);
    const res = await once(mode === 'gc');
    results[mode].push(res);
    process.stderr.write(`  applied ${res.applied}, removed ${res.removed}, final ${mb(res.samples[res.samples.length - 1] ?? 0)} MB\n`);
  }
}
const n = Math.min(...[...results.gc, ...results.nogc].map((r) => r.samples.length));
const col = (mode: 'gc' | 'nogc', i: number) => median(results[mode].map((r) => r.samples[i] ?? 0));
let out = `ingestion GC: ${UPDATES} updates at ≤ ${RATE}/s over ${KEYS} keys, retention ${RETENTION_MS} ms, GC every ${GC_MS} ms, push every ${PUSH_MS} ms (medians of ${RUNS} run(s))\n\n`;
out += '| updates published | data.mdb MB without GC | data.mdb MB with GC |\n|---|---|---|\n';
for (let i = 0; i < n; i++) {
  const u = i === n - 1 ? `${UPDATES} (all applied)` : String(Math.round((i * UPDATES) / SAMPLES));
  out += `| ${u} | ${mb(col('nogc', i))} | ${mb(col('gc', i))} |\n`;
}
out += '\n| mode | versions applied | removed by GC | final data.mdb MB | max data.mdb MB | seconds |\n|---|---|---|---|---|---|\n';
for (const mode of ['nogc', 'gc'] as const) {
  const rs = results[mode];
  out += `| ${mode === 'gc' ? 'with GC' : 'without GC'} | ${median(rs.map((r) => r.applied))} | ${median(rs.map((r) => r.removed))} | ${mb(median(rs.map((r) => r.samples[r.samples.length - 1] ?? 0)))} | ${mb(median(rs.map((r) => Math.max(...r.samples))))} | ${median(rs.map((r) => r.seconds)).toFixed(1)} |\n`;
}
process.stdout.write(out);
