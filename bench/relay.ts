/**
 * Bench: outbox relay throughput onto NATS JetStream and the TX engine's memory (DESIGN §2
 * steps 3–4, §3), in the distributed form.
 *
 * Starts a real nats-server (`startNatsServer()`, JetStream in a temp dir) and, as in
 * cli/src/distributed.nats.e2e.test.ts, one process per service from one stratum.yaml:
 * `olap-shard`, `ingestion`, `tx-engine --id tx1` (a single engine) and `router`. Through the
 * router's pgwire port, `--connections` connections insert rows into a fresh table with
 * multi-row INSERTs (`--rows-per-insert` rows each, one autocommit transaction per
 * statement, so every row is one insert change). All along the bench samples, every
 * `--sample-ms` (every 20 ms at most while the backlog drains), the tx-engine's /metrics (`stratum_relay_published_changes_total`,
 * `stratum_relay_outbox_entries`, `stratum_relay_lag_seconds`) and the tx-engine process's
 * /proc/<pid>/status (VmRSS, and VmHWM = peak RSS since the process started).
 *
 * Two phases per run, on the same cluster:
 *
 * 1. **live**: `--changes` rows inserted with the bus up; the relay publishes while the
 *    engine commits. The relay cannot publish faster than the engine commits, so while it
 *    keeps up this measures the commit rate; "outbox drained after load" and the peak relay
 *    lag show how far behind it fell.
 * 2. **backlog** (skip with `--skip-backlog`): the nats-server is stopped, another
 *    `--changes` rows are inserted (DESIGN §2.4: writes keep being accepted, entries wait in
 *    the outbox), the nats-server is started again on the same port and store, and the
 *    relay's drain of the full outbox is timed: this is the relay's own throughput,
 *    independent of the commit rate.
 *
 * `stratum_relay_published_changes_total` counts *transaction parts* (its help text says so):
 * a transaction is split into one part per stream partition it touches (16 by default), so
 * with multi-row INSERTs one part carries several changes. The table gives both parts/s,
 * straight from the counter, and changes/s = rows inserted / publish window. Live phase:
 * the window runs from the first INSERT sent until the counter reached its final value.
 * Backlog phase: from the first sample in which the counter moved after the restart until
 * the outbox was empty (the reconnect delay is shown separately). With
 * `--rows-per-insert 1`, parts = changes. After each phase the bench also waits (bounded by
 * `--ingest-timeout`) until the ingestion process merged every change
 * (`stratum_ingestion_applied_versions_total` on its /metrics), for the record.
 *
 * Usage: npx tsx bench/relay.ts [--changes 200000] [--rows-per-insert 500] [--connections 4]
 *          [--runs 1] [--sample-ms 100] [--drain-timeout 120] [--ingest-timeout 120] [--skip-backlog]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { type NatsServerHandle, startNatsServer } from '../shared/src/testing/nats-server.ts';
import {
  endAll,
  fmt,
  freePort,
  loadAverage,
  machineLine,
  makeTempDir,
  median,
  metricSum,
  mib,
  parseArgs,
  printTable,
  processCpuSeconds,
  processMemory,
  removeTempDir,
  type ServiceProcess,
  scrapeMetrics,
  spawnStratumService,
  stratumAvailable,
} from './lib.ts';

const args = parseArgs(process.argv.slice(2));
const changes = args.num('changes') ?? 200_000;
const rowsPerInsert = args.num('rows-per-insert') ?? 500;
const connections = args.num('connections') ?? 4;
const runs = args.num('runs') ?? 1;
const sampleMs = args.num('sample-ms') ?? 100;
const drainTimeoutS = args.num('drain-timeout') ?? 120;
const ingestTimeoutS = args.num('ingest-timeout') ?? 120;
const backlog = !args.flag('skip-backlog');
const TABLE = 'relay_bench';
const ENGINE = 'tx1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One sample of the tx-engine. */
interface Sample {
  /** ms (performance.now()). */
  t: number;
  /** stratum_relay_published_changes_total (absolute). */
  published: number;
  outbox: number;
  lagS: number;
  rss: number;
  hwm: number;
}

interface Cluster {
  procs: ServiceProcess[];
  tx: ServiceProcess;
  txUrl: string;
  ingUrl: string;
  pgPort: number;
}

/** Background sampler of the tx-engine's /metrics and /proc status. */
class Sampler {
  readonly samples: Sample[] = [];
  error: string | undefined;
  /** Rows acknowledged so far in the current phase (progress line only). */
  sent = 0;
  /** Pause between samples, ms (shortened while the backlog drains, for resolution). */
  intervalMs = sampleMs;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly c: Cluster) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let lastLog = 0;
    while (this.running) {
      const t = performance.now();
      try {
        const m = await scrapeMetrics(this.c.txUrl, 2000);
        const mem = processMemory(this.c.tx.pid);
        const s: Sample = {
          t,
          published: metricSum(m, 'stratum_relay_published_changes_total', { engine: ENGINE }),
          outbox: metricSum(m, 'stratum_relay_outbox_entries', { engine: ENGINE }),
          lagS: metricSum(m, 'stratum_relay_lag_seconds', { engine: ENGINE }),
          rss: mem?.rss ?? Number.NaN,
          hwm: mem?.hwm ?? Number.NaN,
        };
        this.samples.push(s);
        if (t - lastLog >= 2000) {
          lastLog = t;
          process.stderr.write(
            `    rows acknowledged ${fmt(this.sent)}, parts published ${fmt(s.published)}, outbox ${fmt(s.outbox)}, ` +
              `lag ${fmt(s.lagS, 2)} s, tx-engine RSS ${mib(s.rss)} MiB\n`,
          );
        }
      } catch (e) {
        this.error ??= e instanceof Error ? e.message : String(e);
        if (this.c.tx.exitInfo() !== undefined) return;
      }
      await sleep(this.intervalMs);
    }
  }

  last(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Samples taken at or after `t`. */
  since(t: number): Sample[] {
    return this.samples.filter((s) => s.t >= t);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

async function startCluster(dir: string, nats: NatsServerHandle): Promise<Cluster> {
  const ports: number[] = [];
  while (ports.length < 5) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const [txPort, ingPort, olapPort, httpPort, pgPort] = ports as [number, number, number, number, number];
  const cfg = [
    `data_dir: ${join(dir, 'data')}`,
    'cluster:',
    `  bus: ${nats.url}`,
    '  tx_engines:',
    `    - { id: ${ENGINE}, url: "http://127.0.0.1:${txPort}" }`,
    '  ingestion:',
    `    - { id: ing1, url: "http://127.0.0.1:${ingPort}" }`,
    '  olap_shards:',
    `    - { id: olap1, url: "http://127.0.0.1:${olapPort}" }`,
    'router:',
    `  pg: { port: ${pgPort} }`,
    `  http: { port: ${httpPort} }`,
    'ingestion:',
    '  push_interval_ms: 2000',
    '  push_rows: 20000',
    '',
  ].join('\n');
  const file = join(dir, 'stratum.yaml');
  await writeFile(file, cfg);
  const procs: ServiceProcess[] = [];
  let tx: ServiceProcess | undefined;
  try {
    for (const a of [
      ['olap-shard', '--config', file],
      ['ingestion', '--config', file],
      ['tx-engine', '--config', file, '--id', ENGINE],
      ['router', '--config', file],
    ]) {
      process.stderr.write(`  starting stratum ${a[0]}\n`);
      const p = await spawnStratumService(a);
      procs.push(p);
      if (a[0] === 'tx-engine') tx = p;
    }
  } catch (e) {
    await stopAll(procs, []);
    throw e;
  }
  if (tx === undefined) throw new Error('tx-engine did not start');
  return { procs, tx, txUrl: `http://127.0.0.1:${txPort}`, ingUrl: `http://127.0.0.1:${ingPort}`, pgPort };
}

async function stopAll(procs: ServiceProcess[], notes: string[]): Promise<void> {
  for (const p of [...procs].reverse()) {
    const how = await p.stop(30_000);
    if (how !== 'exit code 0, signal null')
      notes.push(`${p.name} did not exit cleanly on SIGINT (${how}); last output:\n${p.output().slice(-2000)}`);
  }
}

/** Insert rows [from, from + count) through the router; resolves with the wall time in ms. */
async function insertRows(clients: pg.Client[], from: number, count: number, sampler: Sampler): Promise<number> {
  const t0 = performance.now();
  let next = from;
  const end = from + count;
  let failure: unknown;
  let failedAfter = 0;
  sampler.sent = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (failure === undefined && next < end) {
        const first = next;
        const n = Math.min(rowsPerInsert, end - first);
        next += n;
        const values: (string | number)[] = [];
        const tuples: string[] = [];
        for (let i = 0; i < n; i++) {
          const id = first + i;
          const b = 4 * i;
          tuples.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4})`);
          values.push(String(id), id % 1000, (id % 10_000) / 7, `note ${id} ${'n'.repeat(20)}`);
        }
        try {
          await c.query({ name: `relay_bench_insert_${n}`, text: `INSERT INTO ${TABLE} VALUES ${tuples.join(', ')}`, values });
          sampler.sent += n;
        } catch (e) {
          failure ??= e;
          failedAfter = sampler.sent;
        }
      }
    }),
  );
  if (failure !== undefined) {
    const e = failure as { message?: string; code?: string };
    throw new Error(`INSERT through the router failed after ${failedAfter} rows: ${e.code ?? ''} ${e.message ?? String(failure)}`);
  }
  return performance.now() - t0;
}

/** Wait until the outbox is empty and the counter stable over 3 samples taken after `after`; the first of them, or undefined on timeout. */
async function waitDrained(c: Cluster, sampler: Sampler, after: number): Promise<Sample | undefined> {
  const deadline = performance.now() + drainTimeoutS * 1000;
  for (;;) {
    await sleep(sampleMs);
    const recent = sampler.since(after).slice(-3);
    const top = recent[recent.length - 1];
    if (recent.length === 3 && top !== undefined && recent.every((s) => s.outbox === 0 && s.published === top.published)) {
      return sampler.since(after).find((s) => s.outbox === 0 && s.published >= top.published);
    }
    if (c.tx.exitInfo() !== undefined) throw new Error(`tx-engine exited (${c.tx.exitInfo()}):\n${c.tx.output().slice(-4000)}`);
    if (performance.now() > deadline) return undefined;
  }
}

/**
 * Seconds from `since` until ingestion merged `target` versions in total (NaN on timeout;
 * then a note says how far it got, whether its /metrics answered and how much CPU it used).
 */
async function waitIngested(c: Cluster, target: number, since: number, notes: string[], what: string): Promise<number> {
  const deadline = performance.now() + ingestTimeoutS * 1000;
  const ing = c.procs.find((p) => p.name.startsWith('stratum ingestion'));
  const cpu0 = ing === undefined ? undefined : processCpuSeconds(ing.pid);
  let applied = Number.NaN;
  let failures = 0;
  let firstError: string | undefined;
  for (;;) {
    try {
      applied = metricSum(await scrapeMetrics(c.ingUrl, 5000), 'stratum_ingestion_applied_versions_total');
      if (applied >= target) return (performance.now() - since) / 1000;
    } catch (e) {
      failures++;
      firstError ??= e instanceof Error ? e.message : String(e);
    }
    if (performance.now() > deadline || ing?.exitInfo() !== undefined) break;
    await sleep(200);
  }
  const cpu1 = ing === undefined ? undefined : processCpuSeconds(ing.pid);
  notes.push(
    `${what}: ingestion had merged ${fmt(applied)} of ${fmt(target)} changes ${ingestTimeoutS} s later` +
      (failures > 0 ? `; ${failures} scrapes of its /metrics failed (first: ${firstError})` : '') +
      (cpu0 !== undefined && cpu1 !== undefined ? `; the ingestion process used ${fmt(cpu1 - cpu0, 1)} CPU s meanwhile` : '') +
      (ing?.exitInfo() !== undefined ? `; it exited (${ing.exitInfo()}):\n${ing.output().slice(-3000)}` : ''),
  );
  return Number.NaN;
}

/** Highest publish rate (parts/s) over any ~1 s span of samples; NaN when the samples span less than 1 s. */
function peakRate(samples: readonly Sample[]): number {
  let peak = Number.NaN;
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (j < i && samples[i]!.t - samples[j]!.t > 1000) j++;
    const dt = samples[i]!.t - samples[j]!.t;
    if (dt >= 900) peak = Math.max(Number.isNaN(peak) ? 0 : peak, ((samples[i]!.published - samples[j]!.published) * 1000) / dt);
  }
  return peak;
}

const maxOf = (xs: number[]): number => Math.max(0, ...xs.filter((x) => Number.isFinite(x)));

interface LiveResult {
  loadS: number;
  insertRowsPerS: number;
  commits: number;
  windowS: number;
  changesPerS: number;
  parts: number;
  partsPerS: number;
  peakPartsPerS: number;
  messages: number;
  drainAfterLoadS: number;
  maxLagS: number;
  maxOutbox: number;
  rssBefore: number;
  maxRss: number;
  hwm: number;
  ingestS: number;
  publishErrors: number;
}

interface BacklogResult {
  loadS: number;
  insertRowsPerS: number;
  outboxBeforeRestart: number;
  reconnectS: number;
  windowS: number;
  changesPerS: number;
  parts: number;
  partsPerS: number;
  peakPartsPerS: number;
  messages: number;
  rssFullOutbox: number;
  maxRss: number;
  hwm: number;
  ingestS: number;
}

async function counters(c: Cluster): Promise<{ published: number; messages: number; commits: number; errors: number }> {
  const m = await scrapeMetrics(c.txUrl);
  return {
    published: metricSum(m, 'stratum_relay_published_changes_total', { engine: ENGINE }),
    messages: metricSum(m, 'stratum_relay_messages_total', { engine: ENGINE, kind: 'batch' }),
    commits: metricSum(m, 'stratum_tx_commits_total', { engine: ENGINE }),
    errors: metricSum(m, 'stratum_relay_publish_errors_total', { engine: ENGINE }),
  };
}

async function livePhase(run: number, c: Cluster, clients: pg.Client[], sampler: Sampler, notes: string[]): Promise<LiveResult> {
  const before = await counters(c);
  const rssBefore = processMemory(c.tx.pid)?.rss ?? Number.NaN;
  process.stderr.write(`  run ${run}, live: inserting ${fmt(changes)} rows (${rowsPerInsert} per INSERT, ${connections} connections)\n`);
  const t0 = performance.now();
  const loadMs = await insertRows(clients, 0, changes, sampler);
  process.stderr.write(`  run ${run}, live: load done in ${fmt(loadMs / 1000, 1)} s; waiting for the outbox to drain\n`);
  const drained = await waitDrained(c, sampler, t0 + loadMs);
  if (drained === undefined)
    notes.push(`run ${run}, live: outbox not empty ${drainTimeoutS} s after the load (last sample ${JSON.stringify(sampler.last())})`);
  const after = await counters(c);
  const parts = after.published - before.published;
  const window = sampler.since(t0);
  const reached = window.find((s) => s.published >= after.published);
  const windowS = reached === undefined ? Number.NaN : (reached.t - t0) / 1000;
  const expectedCommits = Math.ceil(changes / rowsPerInsert);
  if (after.commits - before.commits !== expectedCommits) {
    notes.push(`run ${run}, live: tx-engine counted ${after.commits - before.commits} commits, expected ${expectedCommits}`);
  }
  const ingestS = await waitIngested(c, changes, t0 + loadMs, notes, `run ${run}, live`);
  const hwm = processMemory(c.tx.pid)?.hwm ?? Number.NaN;
  return {
    loadS: loadMs / 1000,
    insertRowsPerS: changes / (loadMs / 1000),
    commits: after.commits - before.commits,
    windowS,
    changesPerS: changes / windowS,
    parts,
    partsPerS: parts / windowS,
    peakPartsPerS: peakRate(window.filter((x) => reached !== undefined && x.t <= reached.t)),
    messages: after.messages - before.messages,
    drainAfterLoadS: drained === undefined ? Number.NaN : Math.max(0, drained.t - t0 - loadMs) / 1000,
    maxLagS: maxOf(window.map((s) => s.lagS)),
    maxOutbox: maxOf(window.map((s) => s.outbox)),
    rssBefore,
    maxRss: maxOf(window.map((s) => s.rss)),
    hwm,
    ingestS,
    publishErrors: after.errors - before.errors,
  };
}

async function backlogPhase(
  run: number,
  c: Cluster,
  nats: NatsServerHandle,
  clients: pg.Client[],
  sampler: Sampler,
  notes: string[],
): Promise<BacklogResult> {
  const before = await counters(c);
  process.stderr.write(`  run ${run}, backlog: stopping nats-server, inserting ${fmt(changes)} rows\n`);
  await nats.stop();
  const t0 = performance.now();
  const loadMs = await insertRows(clients, changes, changes, sampler);
  // Let the relay's gauge catch up with the last commits (it is set on its tick).
  await sleep(Math.max(300, 3 * sampleMs));
  const full = await counters(c);
  const fullSample = sampler.last();
  const outboxBeforeRestart = fullSample?.outbox ?? Number.NaN;
  const rssFullOutbox = processMemory(c.tx.pid)?.rss ?? Number.NaN;
  if (full.published !== before.published) {
    notes.push(`run ${run}, backlog: ${full.published - before.published} parts were counted as published while nats-server was stopped`);
  }
  process.stderr.write(
    `  run ${run}, backlog: ${fmt(changes)} rows in ${fmt(loadMs / 1000, 1)} s with the bus down, outbox ${fmt(outboxBeforeRestart)}; starting nats-server\n`,
  );
  sampler.intervalMs = Math.min(sampleMs, 20);
  await nats.start();
  const restartedAt = performance.now();
  const drained = await waitDrained(c, sampler, restartedAt);
  sampler.intervalMs = sampleMs;
  if (drained === undefined)
    notes.push(
      `run ${run}, backlog: outbox not empty ${drainTimeoutS} s after nats-server restarted (last sample ${JSON.stringify(sampler.last())})`,
    );
  const after = await counters(c);
  const window = sampler.since(restartedAt);
  const firstMove = window.find((s) => s.published > full.published);
  // The publish window starts at the last sample before the counter moved (the first part went out after it).
  const startIdx = firstMove === undefined ? -1 : sampler.samples.indexOf(firstMove) - 1;
  const start = startIdx >= 0 ? sampler.samples[startIdx]! : undefined;
  const reached = window.find((s) => s.published >= after.published && s.outbox === 0);
  const windowS = start !== undefined && reached !== undefined ? (reached.t - Math.max(start.t, restartedAt)) / 1000 : Number.NaN;
  const parts = after.published - full.published;
  const ingestS = await waitIngested(c, 2 * changes, restartedAt, notes, `run ${run}, backlog`);
  return {
    loadS: loadMs / 1000,
    insertRowsPerS: changes / (loadMs / 1000),
    outboxBeforeRestart,
    reconnectS: start === undefined ? Number.NaN : Math.max(0, start.t - restartedAt) / 1000,
    windowS,
    changesPerS: changes / windowS,
    parts,
    partsPerS: parts / windowS,
    peakPartsPerS: peakRate(window.filter((x) => start !== undefined && reached !== undefined && x.t >= start.t && x.t <= reached.t)),
    messages: after.messages - full.messages,
    rssFullOutbox,
    maxRss: maxOf(sampler.since(t0).map((s) => s.rss)),
    hwm: processMemory(c.tx.pid)?.hwm ?? Number.NaN,
    ingestS,
  };
}

async function oneRun(run: number, notes: string[]): Promise<{ live?: LiveResult; backlog?: BacklogResult }> {
  const dir = await makeTempDir('stratum-bench-relay-');
  let nats: NatsServerHandle | undefined;
  let cluster: Cluster | undefined;
  let sampler: Sampler | undefined;
  const clients: pg.Client[] = [];
  const out: { live?: LiveResult; backlog?: BacklogResult } = {};
  try {
    nats = await startNatsServer();
    cluster = await startCluster(dir, nats);
    for (let i = 0; i < connections; i++) {
      const c = new pg.Client({ host: '127.0.0.1', port: cluster.pgPort, user: 'stratum', database: 'stratum' });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
    }
    await clients[0]?.query(`CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, k integer, amount double precision, note text)`);
    await sleep(500);
    sampler = new Sampler(cluster);
    out.live = await livePhase(run, cluster, clients, sampler, notes);
    if (backlog) out.backlog = await backlogPhase(run, cluster, nats, clients, sampler, notes);
  } catch (e) {
    const dead = cluster?.procs.filter((p) => p.exitInfo() !== undefined) ?? [];
    const extra = dead.map((p) => `\n${p.name} exited (${p.exitInfo()}); last output:\n${p.output().slice(-4000)}`).join('');
    notes.push(`run ${run} failed: ${e instanceof Error ? e.message : String(e)}${extra}`);
  } finally {
    await sampler?.stop();
    if (sampler?.error !== undefined) notes.push(`run ${run}: a /metrics sample of the tx-engine failed (${sampler.error})`);
    await endAll(clients);
    if (nats !== undefined) await nats.start().catch(() => undefined); // services drain against a live bus
    if (cluster !== undefined) await stopAll(cluster.procs, notes);
    await nats?.destroy();
    await removeTempDir(dir);
  }
  return out;
}

const notes: string[] = [];
const lives: LiveResult[] = [];
const backlogs: BacklogResult[] = [];
const loadAtStart = loadAverage();
if (!stratumAvailable()) notes.push('Stratum CLI (cli/bin/stratum.mjs) not found; nothing measured.');
else {
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`run ${run}/${runs}\n`);
    const r = await oneRun(run, notes);
    if (r.live !== undefined) lives.push(r.live);
    if (r.backlog !== undefined) backlogs.push(r.backlog);
  }
}

const med = <T>(list: T[], f: (r: T) => number): number => median(list.map(f).filter((x) => !Number.isNaN(x)));
console.log(
  `\n## Relay onto NATS JetStream (distributed form: 1 tx-engine, ingestion, olap-shard and router processes; ` +
    `${fmt(changes)} rows per phase inserted through the router, ${rowsPerInsert} rows per INSERT, ${connections} connections; ` +
    `medians over ${runs} run(s))\n`,
);
console.log(`${machineLine()}; 1-min load average ${loadAtStart} at start, ${loadAverage()} at end\n`);
const L = (f: (r: LiveResult) => number, d = 0): string => fmt(med(lives, f), d);
const B = (f: (r: BacklogResult) => number, d = 0): string => (backlog ? fmt(med(backlogs, f), d) : 'skipped');
const LM = (f: (r: LiveResult) => number): string => mib(med(lives, f));
const BM = (f: (r: BacklogResult) => number): string => (backlog ? mib(med(backlogs, f)) : 'skipped');
printTable(
  ['metric', 'live (bus up while loading)', 'backlog (outbox filled with bus down, then drained)'],
  [
    ['rows inserted', L(() => changes), B(() => changes)],
    ['load s (first INSERT sent → last acknowledged)', L((r) => r.loadS, 2), B((r) => r.loadS, 2)],
    ['insert rate, rows/s', L((r) => r.insertRowsPerS), B((r) => r.insertRowsPerS)],
    ['nats-server restart → first part published, s', '—', B((r) => r.reconnectS, 2)],
    ['publish window, s', L((r) => r.windowS, 2), B((r) => r.windowS, 2)],
    ['**relay changes/s** (rows / publish window)', L((r) => r.changesPerS), B((r) => r.changesPerS)],
    ['transaction parts published (Δ stratum_relay_published_changes_total)', L((r) => r.parts), B((r) => r.parts)],
    ['parts/s over the publish window', L((r) => r.partsPerS), B((r) => r.partsPerS)],
    ['peak parts/s over 1 s (— when the window is shorter)', L((r) => r.peakPartsPerS), B((r) => r.peakPartsPerS)],
    ['changes per part', L((r) => changes / r.parts, 2), B((r) => changes / r.parts, 2)],
    ['bus messages (batches)', L((r) => r.messages), B((r) => r.messages)],
    ['publish errors (retried; the bus is down in backlog)', L((r) => r.publishErrors), '—'],
    ['outbox entries when nats-server restarted', '—', B((r) => r.outboxBeforeRestart)],
    ['outbox drained, s after last INSERT acknowledged', L((r) => r.drainAfterLoadS, 2), '—'],
    ['peak relay lag (stratum_relay_lag_seconds), s', L((r) => r.maxLagS, 2), '—'],
    ['peak outbox entries', L((r) => r.maxOutbox), '—'],
    ['ingestion merged every change, s after load / restart', L((r) => r.ingestS, 2), B((r) => r.ingestS, 2)],
    ['tx-engine RSS before the phase (live) / with full outbox (backlog), MiB', LM((r) => r.rssBefore), BM((r) => r.rssFullOutbox)],
    ['tx-engine max sampled RSS in the phase, MiB', LM((r) => r.maxRss), BM((r) => r.maxRss)],
    ['**tx-engine peak RSS (VmHWM since start) at end of phase, MiB**', LM((r) => r.hwm), BM((r) => r.hwm)],
  ],
);
for (const n of notes) console.log(`\nNote: ${n}`);
