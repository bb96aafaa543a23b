/**
 * Index build time on the row tiers: a pgbench_accounts-like table (hidden `_rowid` key, no
 * primary key) gets `--rows` rows committed through a real TX engine, merged by a real ingestion
 * engine (LMDB) over a local bus; then a catalog `replace_table` adds a unique index on `aid` in
 * state `building` — what `ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)` publishes — and the
 * table gives the time until each tier reports the index `done` (indexStatus), median of --runs.
 * With `--writes`, single-row updates keep committing during the build (their count is printed).
 * `--only tx` starts no ingestion engine; `--only ingestion` closes the TX engine before the
 * build (each tier's build alone: in one process they share the event loop).
 *
 *   npx tsx bench/index-build.ts [--rows 100000] [--runs 3] [--writes] [--only tx|ingestion]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROW_TIER_ONLY, startIngestion } from '@stratum/ingestion';
import { Catalog, type IndexDef, LocalClock, openLocalBus, rootLogger, type TableDef, type Value } from '@stratum/shared';
import { startTxEngine } from '@stratum/tx-engine';
import { fmt, median, parseArgs, printTable } from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const ROWS = args.num('rows') ?? 100_000;
const RUNS = args.num('runs') ?? 3;
const WRITES = args.flag('writes');
const ONLY = args.str('only');
if (ONLY !== undefined && ONLY !== 'tx' && ONLY !== 'ingestion') throw new Error(`--only expects tx or ingestion, got ${ONLY}`);
if (ONLY === 'ingestion' && WRITES) throw new Error('--writes needs the TX engine (not --only ingestion)');

const accounts = (indexes: IndexDef[]): TableDef => ({
  name: 'pgbench_accounts',
  storage: 'pgbench_accounts_1',
  columns: [
    { name: 'aid', type: 'integer', notNull: true },
    { name: 'bid', type: 'integer', notNull: false },
    { name: 'abalance', type: 'integer', notNull: false },
    { name: 'filler', type: 'text', notNull: false },
    { name: '_rowid', type: 'uuid', notNull: true, hidden: true },
  ],
  primaryKey: ['_rowid'],
  indexes,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function once(): Promise<{ load: number; tx: number; ing: number; writes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-bench-ix-'));
  const log = rootLogger();
  const bus = await openLocalBus(join(dir, 'bus'));
  const catalog = new Catalog();
  catalog.apply(1, { kind: 'create_table', table: accounts([]), at: 0 });
  const ing =
    ONLY === 'tx'
      ? undefined
      : await startIngestion({
          id: 'i1',
          dir: join(dir, 'ing'),
          partitions: [0, 1, 2, 3],
          catalog,
          bus,
          ...ROW_TIER_ONLY,
          log,
        });
  const tx = await startTxEngine({
    id: 'txa',
    dir: join(dir, 'tx'),
    partitions: 4,
    catalog,
    bus,
    clock: new LocalClock(0),
    ...(ing ? { ingestion: ing } : {}),
    soleWriter: true,
    log,
  });
  let txOpen = true;
  try {
    const t0 = performance.now();
    let last = 0;
    const filler = ' '.repeat(84);
    for (let i = 0; i < ROWS; i += 5000) {
      const rows: Value[][] = [];
      for (let j = i; j < Math.min(ROWS, i + 5000); j++) rows.push([j + 1, Math.floor(j / 100_000) + 1, 0, filler]);
      const r = await tx.execute({
        catalogVersion: 1,
        ops: [{ kind: 'insert', table: 'pgbench_accounts_1', columns: ['aid', 'bid', 'abalance', 'filler'], rows }],
      });
      last = r.commitTs;
    }
    while (ing && (await ing.status()).watermark < last) await sleep(20);
    const load = performance.now() - t0;
    if (ONLY === 'ingestion') {
      await tx.close();
      txOpen = false;
    }
    const ix: IndexDef = { name: 'pgbench_accounts_pkey', columns: ['aid'], unique: true, state: 'building' };
    const t1 = performance.now();
    catalog.apply(2, { kind: 'replace_table', name: 'pgbench_accounts', table: accounts([ix]), at: 0 });
    let txDone = txOpen ? 0 : Number.NaN;
    let ingDone = ing ? 0 : Number.NaN;
    let writes = 0;
    let n = 0;
    while (txDone === 0 || ingDone === 0) {
      if (WRITES) {
        const aid = (n++ * 7919) % ROWS;
        await tx.execute({
          catalogVersion: 2,
          ops: [
            {
              kind: 'update',
              table: 'pgbench_accounts_1',
              source: { by: 'index', index: 'pgbench_accounts_pkey', eq: [aid + 1] },
              set: [{ column: 'abalance', expr: { k: 'const', v: n, t: 'integer' } }],
            },
          ],
        });
        writes++;
      } else await sleep(5);
      const [a, b] = await Promise.all([
        txOpen ? tx.indexStatus('pgbench_accounts_1', ix.name) : undefined,
        ing?.indexStatus('pgbench_accounts_1', ix.name),
      ]);
      if (a?.state === 'failed' || b?.state === 'failed') throw new Error(`build failed: ${JSON.stringify([a, b])}`);
      if (txDone === 0 && a?.state === 'done') txDone = performance.now() - t1;
      if (ingDone === 0 && b?.state === 'done') ingDone = performance.now() - t1;
    }
    return { load, tx: txDone, ing: ingDone, writes };
  } finally {
    if (txOpen) await tx.close();
    await ing?.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Awaited<ReturnType<typeof once>>[] = [];
for (let r = 0; r < RUNS; r++) {
  const x = await once();
  console.error(`run ${r + 1}: load ${fmt(x.load)} ms, TX build ${fmt(x.tx)} ms, ingestion build ${fmt(x.ing)} ms, writes ${x.writes}`);
  results.push(x);
}
const m = (f: (x: (typeof results)[number]) => number) => median(results.map(f));
printTable(
  ['rows', 'load ms', 'TX engine build ms', 'TX rows/s', 'ingestion build ms', 'ingestion rows/s', 'writes during build'],
  [
    [
      fmt(ROWS),
      fmt(m((x) => x.load)),
      fmt(m((x) => x.tx)),
      fmt(ROWS / (m((x) => x.tx) / 1000)),
      fmt(m((x) => x.ing)),
      fmt(ROWS / (m((x) => x.ing) / 1000)),
      fmt(m((x) => x.writes)),
    ],
  ],
);
