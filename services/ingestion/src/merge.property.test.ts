/**
 * Property test of ingestion's merge (DESIGN §4) against a small reference model, through
 * the public entry (`startIngestion`), a real LMDB store and the real local bus.
 *
 * Each run generates 2–3 TX engines, 2–4 stream partitions and a handful of rows in two
 * tables (`lww_t`: `conflict: lww`, `rej_t`: `conflict: reject`), then a history of
 * transactions in which each engine writes with `prev` = the version it last saw (its own
 * last write, a fresh read, or a stale one: concurrent writers, hence conflicts), with
 * commit timestamps that tie within and across engines. The per-(engine, partition)
 * streams are cut into bus batches at random, published in a random interleaving that
 * keeps each pair's order (and never shows a version before the one it read), with
 * re-cut and republished duplicates (under the bus's dedupe id or a new one), heartbeat-only
 * batches, and restarts of the ingestion engine (close, reopen on the same directory; right
 * away, or after a stretch of publishing so that a backlog arrives in one delivery).
 *
 * The model applies each part once, in per-pair seq order, when it first becomes
 * applicable, i.e. at its first appearance in its bus partition's log. Only that order
 * matters: rows of one key share a partition, and the bus keeps a partition's order.
 *
 * Checked once the last heartbeats are merged: latest state of every row (`getMany`),
 * every non-rejected version exactly once in the delta feed with the model's content and
 * per-row apply order, conflicts (count in `status()`, records in `conflicts()`), and
 * per-pair offsets, closed timestamps and the watermark.
 *
 * A second property reads every row AS OF each commit time and checks the answer against the
 * model's history (newest non-rejected version by commit time; same-ms ties as the merge
 * resolved them; the latest version when reading after every commit).
 *
 * Replay a failure with the seed and path fast-check prints (select the property by name):
 *   STRATUM_FC_SEED=<seed> STRATUM_FC_PATH=<path> node --import tsx --test --test-name-pattern='<test name>' \
 *     services/ingestion/src/merge.property.test.ts
 * `STRATUM_FC_RUNS` sets the number of runs (default 300 for the merge, 100 for AS OF).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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
  type ConflictInfo,
  DEFAULT_TABLE_OPTIONS,
  encodeBusBatchFromParts,
  type IngestionStatus,
  openLocalBus,
  PROTOCOL_VERSION,
  partitionOf,
  type Row,
  rootLogger,
  type TableDef,
  type TxnPart,
} from '@stratum/shared';
import fc from 'fast-check';
import { type IngestionService, startIngestion } from './index.ts';

const LWW = 'lww_t';
const REJ = 'rej_t';
const TABLES = [LWW, REJ] as const;
type TableName = (typeof TABLES)[number];
/** Catalog version after both CREATE TABLEs. */
const CATALOG_VERSION = TABLES.length;
/**
 * Engine names in an order that differs from their index (which is in the version UUIDs), so
 * that at equal commit timestamps the engine order and the version order disagree: LWW must
 * break ties by engine first (DESIGN §4).
 */
const ENGINE_NAMES = ['tx2', 'tx1', 'tx3'];
const BASE_TS = 1_700_000_000_000;
/** Liveness bound while waiting for ingestion to catch up (not a timing assertion). */
const CATCH_UP_MS = 10_000;

const catalog = new Catalog((name) => (name === REJ ? { ...DEFAULT_TABLE_OPTIONS, conflict: 'reject' } : DEFAULT_TABLE_OPTIONS));
TABLES.forEach((name, i) => {
  const table: TableDef = {
    name,
    columns: [
      { name: 'id', type: 'bigint', notNull: true },
      { name: 'n', type: 'integer', notNull: false },
    ],
    primaryKey: ['id'],
  };
  catalog.apply(i + 1, { kind: 'create_table', at: 0, table });
});

// ---------------------------------------------------------------- generated intents

/** How a writer picked the version it read (`prev`). */
type ReadIntent = 'own' | 'fresh' | 'old';

interface OpIntent {
  table: number;
  key: number;
  read: ReadIntent;
  pick: number;
  del: boolean;
}

interface TxnIntent {
  engine: number;
  /** Clock advance of the engine before this commit (ms); 0 gives ties. */
  dt: number;
  ops: OpIntent[];
}

type StepIntent =
  | { kind: 'deliver'; pair: number; size: number; overlap: number }
  | { kind: 'redeliver'; pair: number; a: number; b: number; newId: boolean }
  | { kind: 'heartbeat'; pair: number }
  | { kind: 'stop' }
  | { kind: 'restart' }
  | { kind: 'settle' };

interface ScenarioIntent {
  engines: number;
  partitions: number;
  keysPerTable: number;
  clockOffsets: number[];
  txns: TxnIntent[];
  steps: StepIntent[];
  chunkVersions: number;
  flushVersions: number;
}

const opIntent: fc.Arbitrary<OpIntent> = fc.record({
  table: fc.nat(1),
  key: fc.nat(2),
  read: fc.oneof(
    { arbitrary: fc.constant<ReadIntent>('own'), weight: 3 },
    { arbitrary: fc.constant<ReadIntent>('fresh'), weight: 2 },
    { arbitrary: fc.constant<ReadIntent>('old'), weight: 1 },
  ),
  pick: fc.nat(7),
  del: fc.boolean(),
});

const txnIntent: fc.Arbitrary<TxnIntent> = fc.record({
  engine: fc.nat(2),
  dt: fc.nat(2),
  ops: fc.array(opIntent, { minLength: 1, maxLength: 3 }),
});

const stepIntent: fc.Arbitrary<StepIntent> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      pair: fc.nat(11),
      size: fc.integer({ min: 1, max: 3 }),
      overlap: fc.nat(2),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('redeliver' as const), pair: fc.nat(11), a: fc.nat(7), b: fc.nat(7), newId: fc.boolean() }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), pair: fc.nat(11) }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'stop' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'restart' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'settle' as const }), weight: 1 },
);

const scenarioIntent: fc.Arbitrary<ScenarioIntent> = fc.record({
  engines: fc.integer({ min: 2, max: 3 }),
  partitions: fc.integer({ min: 2, max: 4 }),
  keysPerTable: fc.integer({ min: 1, max: 3 }),
  clockOffsets: fc.array(fc.nat(2), { minLength: 3, maxLength: 3 }),
  txns: fc.array(txnIntent, { minLength: 1, maxLength: 20, size: 'medium' }),
  steps: fc.array(stepIntent, { maxLength: 60, size: 'medium' }),
  // Small chunks and flushes: deliveries cross LMDB transactions and issue their writes inside
  // messages (and the staged rows of committed chunks are dropped).
  chunkVersions: fc.constantFrom(1, 2, 3, 5, 4096),
  flushVersions: fc.constantFrom(1, 2, 3, 1024),
});

// ---------------------------------------------------------------- the built scenario

/** One generated row version. */
interface Ver {
  version: string;
  label: string;
  table: TableName;
  id: bigint;
  rowKey: string;
  engine: string;
  commitTs: number;
  op: Change['op'];
  prev: string | null;
  row: Row | null;
  pair: string;
  seq: number;
}

interface PairStream {
  key: string;
  engine: string;
  partition: number;
  parts: TxnPart[];
  /** For each seq (index seq-1): the (pair, seq) of other engines' versions its changes read. */
  deps: { pair: string; seq: number }[][];
  /** Closed timestamp after seq s (index s): below the next part's commit time. */
  closed: number[];
}

/**
 * `stop` closes ingestion until the next `restart` or `settle` (or the end), so what is
 * published meanwhile arrives as one backlog, many messages per delivery.
 */
type Step = { kind: 'publish'; batch: BusBatch; msgId: string; note: string } | { kind: 'stop' } | { kind: 'restart' } | { kind: 'settle' };

interface Scenario {
  engines: string[];
  partitions: number;
  keys: Record<TableName, bigint[]>;
  versions: Map<string, Ver>;
  pairs: Map<string, PairStream>;
  steps: Step[];
  /** Closed timestamp of the final heartbeat of every pair. */
  end: number;
  txnLines: string[];
  /** Ingestion's `chunkVersions` and `flushVersions`. */
  chunkVersions: number;
  flushVersions: number;
}

const pairKey = (engine: string, partition: number) => `${engine}/${partition}`;

/** A UUIDv7 with time field `ts` (ms); the rest from (engine index, per-engine counter), so runs replay exactly. */
function versionOf(ts: number, engineIdx: number, counter: number): string {
  const t = ts.toString(16).padStart(12, '0');
  const a = engineIdx.toString(16).padStart(3, '0');
  const c = counter.toString(16).padStart(15, '0');
  return `${t.slice(0, 8)}-${t.slice(8)}-7${a}-8${c.slice(0, 3)}-${c.slice(3)}`;
}

/** `count` ids of `table` whose partitions go round-robin over 0..P-1. */
function spreadKeys(table: string, count: number, partitions: number): bigint[] {
  const out: bigint[] = [];
  for (let id = 1n; out.length < count; id++) {
    if (partitionOf(table, [id], partitions) === out.length % partitions) out.push(id);
  }
  return out;
}

/** Turn intents into a concrete history and a publish schedule (deterministic). */
function buildScenario(si: ScenarioIntent): Scenario {
  const engines = ENGINE_NAMES.slice(0, si.engines);
  const P = si.partitions;
  const keys = { [LWW]: spreadKeys(LWW, si.keysPerTable, P), [REJ]: spreadKeys(REJ, si.keysPerTable, P) } as Record<TableName, bigint[]>;
  const clock = engines.map((_, i) => BASE_TS + (si.clockOffsets[i] ?? 0));
  const counters = engines.map(() => 0);
  const views = engines.map(() => new Map<string, Ver>());
  const rowHistory = new Map<string, Ver[]>();
  const versions = new Map<string, Ver>();
  const pairs = new Map<string, PairStream>();
  for (const engine of engines) {
    for (let p = 0; p < P; p++)
      pairs.set(pairKey(engine, p), { key: pairKey(engine, p), engine, partition: p, parts: [], deps: [], closed: [] });
  }
  const txnLines: string[] = [];
  let n = 0;
  for (const ti of si.txns) {
    const ei = ti.engine % engines.length;
    const engine = engines[ei]!;
    clock[ei]! += ti.dt;
    const ts = clock[ei]!;
    const txn = versionOf(ts, ei, counters[ei]!++);
    const byPartition = new Map<number, { changes: Change[]; vers: Ver[]; deps: { pair: string; seq: number }[] }>();
    const line: string[] = [];
    for (const oi of ti.ops) {
      const table = TABLES[oi.table % TABLES.length]!;
      const id = keys[table][oi.key % keys[table].length]!;
      const rowKey = `${table}/${id}`;
      const hist = rowHistory.get(rowKey) ?? [];
      const own = views[ei]!.get(rowKey) ?? null;
      // A read from ingestion (fresh, or stale by `pick` versions) never goes behind what the
      // engine itself already has: its own writes are serialized by its own concurrency control.
      const fetched =
        oi.read === 'own' ? -1 : oi.read === 'fresh' ? hist.length - 1 : hist.length - 1 - (oi.pick % Math.max(1, hist.length));
      const candidate = hist[fetched];
      const seen = !candidate || (own && (fetched < hist.indexOf(own) || candidate.engine === engine)) ? own : candidate;
      const op: Change['op'] = seen === null || seen.op === 'delete' ? 'insert' : oi.del ? 'delete' : 'update';
      const version = versionOf(ts, ei, counters[ei]!++);
      const row = op === 'delete' ? null : { id, n: ++n };
      const partition = partitionOf(table, [id], P);
      const pk = pairKey(engine, partition);
      const v: Ver = {
        version,
        label: `${engine}.${counters[ei]! - 1}`,
        table,
        id,
        rowKey,
        engine,
        commitTs: ts,
        op,
        prev: seen?.version ?? null,
        row,
        pair: pk,
        seq: 0,
      };
      let g = byPartition.get(partition);
      if (!g) byPartition.set(partition, (g = { changes: [], vers: [], deps: [] }));
      g.changes.push({ table, key: [id], op, version, prev: v.prev, row });
      g.vers.push(v);
      // A version of another engine is only visible once ingestion merged it: publish it first.
      if (seen && seen.engine !== engine) g.deps.push({ pair: seen.pair, seq: seen.seq });
      hist.push(v);
      rowHistory.set(rowKey, hist);
      views[ei]!.set(rowKey, v);
      versions.set(version, v);
      line.push(`${table}[${id}] ${op} ${v.label} prev=${seen ? seen.label : 'null'}`);
    }
    const seqs: string[] = [];
    for (const [partition, g] of [...byPartition].sort((a, b) => a[0] - b[0])) {
      const s = pairs.get(pairKey(engine, partition))!;
      const seq = s.parts.length + 1;
      s.parts.push({ engine, partition, seq, txn, commitTs: ts, changes: g.changes });
      s.deps.push(g.deps);
      for (const v of g.vers) v.seq = seq;
      seqs.push(`p${partition}#${seq}`);
    }
    txnLines.push(`${engine} ts=+${ts - BASE_TS} [${seqs.join(' ')}]: ${line.join('; ')}`);
  }
  const end = Math.max(...clock) + 1;
  for (const s of pairs.values()) {
    const ei = engines.indexOf(s.engine);
    for (let seq = 0; seq <= s.parts.length; seq++)
      s.closed.push(s.parts[seq]?.commitTs !== undefined ? s.parts[seq]!.commitTs - 1 : clock[ei]!);
  }

  // The schedule: first appearances keep each pair's order and put every version after the ones it read.
  const pairList = [...pairs.values()];
  const published = new Map<string, number>(pairList.map((s) => [s.key, 0]));
  const isReady = (s: PairStream, seq: number) =>
    seq <= s.parts.length && (s.deps[seq - 1] ?? []).every((d) => (published.get(d.pair) ?? 0) >= d.seq);
  const steps: Step[] = [];
  const batchOf = (s: PairStream, first: number, last: number, hbSeq = last): BusBatch => ({
    protocolVersion: PROTOCOL_VERSION,
    engine: s.engine,
    partition: s.partition,
    catalogVersion: CATALOG_VERSION,
    parts: s.parts.slice(first - 1, last),
    heartbeat: { engine: s.engine, partition: s.partition, seq: hbSeq, closedTs: s.closed[hbSeq]! },
  });
  const publish = (b: BusBatch, msgId: string, note: string) => steps.push({ kind: 'publish', batch: b, msgId, note });
  let dupIds = 0;
  const deliver = (s: PairStream, size: number, overlap: number) => {
    const pub = published.get(s.key)!;
    let last = pub;
    while (last - pub < size && isReady(s, last + 1)) last++;
    const first = Math.max(1, pub + 1 - overlap);
    published.set(s.key, last);
    const b = batchOf(s, first, last);
    publish(b, batchMessageId(b), `deliver ${s.key} #${first}..${last}`);
  };
  for (const st of si.steps) {
    if (st.kind === 'stop' || st.kind === 'restart' || st.kind === 'settle') {
      steps.push({ kind: st.kind });
    } else if (st.kind === 'deliver') {
      const ready = pairList.filter((s) => isReady(s, published.get(s.key)! + 1));
      const s = ready[st.pair % Math.max(1, ready.length)];
      if (s) deliver(s, st.size, st.overlap);
    } else if (st.kind === 'redeliver') {
      const some = pairList.filter((s) => published.get(s.key)! > 0);
      const s = some[st.pair % Math.max(1, some.length)];
      if (!s) continue;
      const pub = published.get(s.key)!;
      const a = 1 + (st.a % pub);
      const b = a + (st.b % (pub - a + 1));
      const batch = batchOf(s, a, b);
      const id = st.newId ? `${batchMessageId(batch)}~dup${++dupIds}` : batchMessageId(batch);
      publish(batch, id, `redeliver ${s.key} #${a}..${b}${st.newId ? ' (new id)' : ''}`);
    } else {
      const s = pairList[st.pair % pairList.length]!;
      const seq = published.get(s.key)!;
      const b = batchOf(s, 1, 0, seq);
      publish(b, batchMessageId(b), `heartbeat ${s.key} seq=${seq}`);
    }
  }
  // Deliver what is left in a causal order, then close every pair at `end`.
  for (;;) {
    const s = pairList.find((x) => isReady(x, published.get(x.key)! + 1));
    if (!s) break;
    deliver(s, 2, 0);
  }
  for (const s of pairList) {
    assert.equal(published.get(s.key), s.parts.length, `scenario builder left ${s.key} undelivered`);
    const b = {
      ...batchOf(s, 1, 0, s.parts.length),
      heartbeat: { engine: s.engine, partition: s.partition, seq: s.parts.length, closedTs: end },
    };
    publish(b, batchMessageId(b), `final heartbeat ${s.key} seq=${s.parts.length}`);
  }
  return {
    engines,
    partitions: P,
    keys,
    versions,
    pairs,
    steps,
    end,
    txnLines,
    chunkVersions: si.chunkVersions,
    flushVersions: si.flushVersions,
  };
}

/** Readable form of a scenario, for fast-check's counterexample report. */
function describeScenario(sc: Scenario): string {
  const keys = TABLES.map((t) => `${t}=[${sc.keys[t].map((k) => `${k}:p${partitionOf(t, [k], sc.partitions)}`).join(',')}]`).join(' ');
  const steps = sc.steps.map((s) => (s.kind === 'publish' ? `${s.note} closed=+${s.batch.heartbeat.closedTs - BASE_TS}` : s.kind));
  return [
    `engines=${sc.engines.join(',')} partitions=${sc.partitions} ${keys} chunkVersions=${sc.chunkVersions} flushVersions=${sc.flushVersions}`,
    'transactions:',
    ...sc.txnLines.map((l) => `  ${l}`),
    'schedule:',
    ...steps.map((l) => `  ${l}`),
  ].join('\n');
}

const scenarioArb: fc.Arbitrary<Scenario> = scenarioIntent.map((si) => {
  const sc = buildScenario(si);
  Object.defineProperty(sc, fc.toStringMethod, { value: () => `\n${describeScenario(sc)}\n`, enumerable: false });
  return sc;
});

// ---------------------------------------------------------------- the reference model

interface ModelConflict {
  table: string;
  key: bigint[];
  existing: { version: string; engine: string; commitTs: number };
  incoming: { version: string; engine: string; commitTs: number };
  winner: string;
  policy: 'lww' | 'reject';
}

/** DESIGN §4 in memory: exactly-once per pair seq, prev-based conflict detection, lww / reject. */
class Model {
  readonly applied = new Map<string, number>();
  readonly closed = new Map<string, number>();
  readonly latest = new Map<string, Ver>();
  readonly rejected = new Set<string>();
  /** Per row: versions in apply order. */
  readonly order = new Map<string, Ver[]>();
  readonly conflicts: ModelConflict[] = [];

  constructor(private readonly sc: Scenario) {}

  /** A message the bus stored (not deduped): apply the parts past the pair's offset, then its heartbeat. */
  deliver(b: BusBatch): void {
    const pk = pairKey(b.engine, b.partition);
    let seq = this.applied.get(pk) ?? 0;
    for (const part of b.parts) {
      if (part.seq <= seq) continue;
      assert.equal(part.seq, seq + 1, `model: the schedule has a gap on ${pk}`);
      for (const c of part.changes) this.merge(this.sc.versions.get(c.version)!);
      seq = part.seq;
    }
    this.applied.set(pk, seq);
    if (b.heartbeat.seq <= seq) this.closed.set(pk, Math.max(this.closed.get(pk) ?? -1, b.heartbeat.closedTs));
  }

  private merge(v: Ver): void {
    const cur = this.latest.get(v.rowKey);
    let wins = true;
    if ((cur?.version ?? null) !== v.prev) {
      assert.ok(cur, `model: ${v.label} read a version that is not merged yet (the schedule must prevent this)`);
      const policy = v.table === REJ ? 'reject' : 'lww';
      wins = policy === 'lww' && lwwAbove(v, cur);
      if (policy === 'reject') this.rejected.add(v.version);
      this.conflicts.push({
        table: v.table,
        key: [v.id],
        existing: { version: cur.version, engine: cur.engine, commitTs: cur.commitTs },
        incoming: { version: v.version, engine: v.engine, commitTs: v.commitTs },
        winner: wins ? v.version : cur.version,
        policy,
      });
    }
    if (wins) this.latest.set(v.rowKey, v);
    const o = this.order.get(v.rowKey) ?? [];
    o.push(v);
    this.order.set(v.rowKey, o);
  }
}

/** LWW order (DESIGN §4): (commitTs, engine, version), highest wins. */
function lwwAbove(a: Ver, b: Ver): boolean {
  if (a.commitTs !== b.commitTs) return a.commitTs > b.commitTs;
  if (a.engine !== b.engine) return a.engine > b.engine;
  return a.version > b.version;
}

// ---------------------------------------------------------------- running a scenario

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Totals over all runs, reported as diagnostics so a reader sees what was exercised. */
const totals = { runs: 0, versions: 0, lwwConflicts: 0, rejected: 0, restarts: 0, republished: 0, busDeduped: 0 };

let root: string;
let runNo = 0;

/** Checks run once every published message is merged. */
type Verify = (ing: IngestionService, sc: Scenario, model: Model, status: IngestionStatus) => Promise<void>;

async function runScenario(sc: Scenario, verify: Verify): Promise<void> {
  const dir = join(root, `run-${++runNo}`);
  const bus: ChangeBus = await openLocalBus(join(dir, 'bus'));
  const start = () =>
    startIngestion({
      id: 'prop',
      dir: join(dir, 'ing'),
      partitions: Array.from({ length: sc.partitions }, (_, i) => i),
      catalog,
      bus,
      olap: () => undefined,
      pushIntervalMs: 3_600_000,
      pushRows: 1_000_000_000,
      chunkVersions: sc.chunkVersions,
      flushVersions: sc.flushVersions,
      log: rootLogger(),
    });
  let ing: IngestionService | undefined;
  const model = new Model(sc);
  try {
    ing = await start();
    for (const step of sc.steps) {
      if (step.kind === 'stop' || step.kind === 'restart') {
        await ing?.close();
        ing = undefined;
        if (step.kind === 'restart') ing = await start();
        totals.restarts++;
      } else if (step.kind === 'settle') {
        ing ??= await start();
        await caughtUp(ing, model, 'settle');
      } else {
        const ack = await bus.publish(step.batch.engine, step.batch.partition, step.msgId, encodeBusBatchFromParts(step.batch));
        if (ack.duplicate) totals.busDeduped++;
        else model.deliver(step.batch);
        if (step.note.startsWith('redeliver')) totals.republished++;
      }
    }
    ing ??= await start();
    const status = await caughtUp(ing, model, 'the final heartbeats');
    await verify(ing, sc, model, status);
    totals.runs++;
    totals.versions += sc.versions.size;
    totals.lwwConflicts += model.conflicts.filter((c) => c.policy === 'lww').length;
    totals.rejected += model.rejected.size;
  } finally {
    await ing?.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Wait until ingestion's offsets and closed timestamps equal the model's for every pair the model has seen. */
async function caughtUp(ing: IngestionService, model: Model, what: string): Promise<IngestionStatus> {
  const deadline = Date.now() + CATCH_UP_MS;
  for (;;) {
    const s = await ing.status();
    const behind = [...model.applied].filter(([pk, seq]) => (s.offsets[pk] ?? 0) !== seq || s.closed[pk] !== model.closed.get(pk));
    if (behind.length === 0) return s;
    if (Date.now() > deadline) {
      const want = behind.map(
        ([pk, seq]) => `${pk}: want seq ${seq} closed ${model.closed.get(pk)}, have ${s.offsets[pk]} / ${s.closed[pk]}`,
      );
      assert.fail(`ingestion did not catch up with ${what} within ${CATCH_UP_MS} ms:\n${want.join('\n')}`);
    }
    await sleep(5);
  }
}

async function check(ing: IngestionService, sc: Scenario, model: Model, status: IngestionStatus): Promise<void> {
  const label = (v: string | null | undefined) => (v ? (sc.versions.get(v)?.label ?? v) : String(v));

  // Latest state of every row.
  for (const table of TABLES) {
    const got = await ing.getMany(
      table,
      sc.keys[table].map((id) => [id]),
    );
    const want = sc.keys[table].map((id) => {
      const v = model.latest.get(`${table}/${id}`);
      return v ? { version: label(v.version), commitTs: v.commitTs, row: v.row } : null;
    });
    assert.deepEqual(
      got.map((r) => (r ? { version: label(r.version), commitTs: r.commitTs, row: r.row } : null)),
      want,
      `latest rows of ${table}`,
    );
  }

  // Every merged (non-rejected) version exactly once in the delta feed, as written, in apply order per row.
  const d = await ing.delta(0, 1_000_000);
  const seen = new Map<string, number>();
  for (const r of d.versions) seen.set(r.version, (seen.get(r.version) ?? 0) + 1);
  const twice = [...seen].filter(([, c]) => c > 1).map(([v, c]) => `${label(v)}×${c}`);
  assert.deepEqual(twice, [], 'versions listed more than once in delta(0, ∞)');
  const expected = [...sc.versions.values()].filter((v) => !model.rejected.has(v.version));
  assert.deepEqual(
    [...seen.keys()].map(label).sort(),
    expected.map((v) => v.label).sort(),
    'delta(0, ∞) lists exactly the non-rejected versions',
  );
  for (const r of d.versions) {
    const v = sc.versions.get(r.version)!;
    assert.deepEqual(
      { table: r.table, key: r.key, op: r.op, prev: label(r.prev), commitTs: r.commitTs, engine: r.engine, row: r.row },
      { table: v.table, key: [v.id], op: v.op, prev: label(v.prev), commitTs: v.commitTs, engine: v.engine, row: v.row },
      `content of ${v.label} in the delta feed`,
    );
  }
  const byRow = new Map<string, string[]>();
  for (const r of d.versions) {
    const v = sc.versions.get(r.version)!;
    byRow.set(v.rowKey, [...(byRow.get(v.rowKey) ?? []), v.label]);
  }
  for (const [rowKey, vs] of model.order) {
    const want = vs.filter((v) => !model.rejected.has(v.version)).map((v) => v.label);
    assert.deepEqual(byRow.get(rowKey) ?? [], want, `apply (LSN) order of ${rowKey}'s versions in the delta feed`);
  }

  // Conflicts: counted once each, and recorded as the model has them. A rejected version is in
  // no read path but this one: as `incoming` exactly once, it was merged exactly once.
  assert.equal(status.conflicts, model.conflicts.length, 'status().conflicts');
  const got = await ing.conflicts({ limit: 100_000 });
  const norm = (c: ModelConflict | ConflictInfo) => ({
    table: c.table,
    key: c.key,
    existing: `${label(c.existing.version)}@${c.existing.engine}+${c.existing.commitTs - BASE_TS}`,
    incoming: `${label(c.incoming.version)}@${c.incoming.engine}+${c.incoming.commitTs - BASE_TS}`,
    winner: label(c.winner),
    policy: c.policy,
  });
  const byIncoming = (a: { incoming: string }, b: { incoming: string }) => (a.incoming < b.incoming ? -1 : a.incoming > b.incoming ? 1 : 0);
  for (const c of got) assert.equal(typeof c.detectedAt, 'number', 'conflict record has detectedAt');
  assert.deepEqual(got.map(norm).sort(byIncoming), model.conflicts.map(norm).sort(byIncoming), 'conflicts() records');

  // Offsets and closed timestamps per pair, and the watermark they give.
  for (const s of sc.pairs.values()) {
    assert.equal(status.offsets[s.key] ?? 0, s.parts.length, `offset of ${s.key}`);
    assert.equal(status.closed[s.key], sc.end, `closed timestamp of ${s.key}`);
  }
  assert.equal(status.watermark, sc.end, 'watermark = min closed timestamp over all pairs');
}

/**
 * `getMany(table, keys, asOf)` for every commit time of every row, the ms before it, and after
 * all. DESIGN §4 orders history by commit time, and pins down only this much where clocks skew
 * or conflicts depend on later commits, so that much is what is checked. The answer is:
 * - null exactly when the row has no non-rejected version with commitTs ≤ asOf, else one of those
 *   with the greatest commitTs (never a rejected version, never one committed after asOf);
 * - not a version that a non-rejected version with the same commit time read (`prev`): that
 *   transaction superseded it within the same ms;
 * - not the loser of an LWW conflict against a version with the same commit time;
 * - after every commit of the row, the row's latest version when that is also its newest by
 *   commit time (reading "as of now" shows the current state).
 */
async function checkAsOf(ing: IngestionService, sc: Scenario, model: Model): Promise<void> {
  const label = (v: string | null | undefined) => (v ? (sc.versions.get(v)?.label ?? v) : String(v));
  const supersededSameMs = new Set<string>();
  for (const v of sc.versions.values()) {
    const p = v.prev === null ? undefined : sc.versions.get(v.prev);
    if (p && p.commitTs === v.commitTs && !model.rejected.has(v.version)) supersededSameMs.add(p.version);
  }
  const lostSameMs = new Set<string>();
  for (const c of model.conflicts) {
    if (c.policy !== 'lww' || c.existing.commitTs !== c.incoming.commitTs) continue;
    lostSameMs.add(c.winner === c.incoming.version ? c.existing.version : c.incoming.version);
  }
  for (const table of TABLES) {
    const ids = sc.keys[table];
    const times = new Set<number>([sc.end]);
    for (const id of ids) {
      for (const v of model.order.get(`${table}/${id}`) ?? []) times.add(v.commitTs).add(v.commitTs - 1);
    }
    for (const asOf of [...times].sort((a, b) => a - b)) {
      const got = await ing.getMany(
        table,
        ids.map((id) => [id]),
        asOf,
      );
      ids.forEach((id, i) => {
        const rowKey = `${table}/${id}`;
        const r = got[i] ?? null;
        const where = `${rowKey} AS OF +${asOf - BASE_TS}: got ${r ? label(r.version) : 'null'}`;
        const visible = (model.order.get(rowKey) ?? []).filter((v) => v.commitTs <= asOf && !model.rejected.has(v.version));
        if (visible.length === 0) {
          assert.equal(r, null, `${where}, want null (no non-rejected version committed by then)`);
          return;
        }
        assert.ok(r, `${where}, want one of ${visible.map((v) => v.label).join(', ')}`);
        const v = sc.versions.get(r.version);
        const newest = Math.max(...visible.map((x) => x.commitTs));
        assert.ok(v && visible.includes(v), `${where}: not a non-rejected version of this row committed by then`);
        assert.equal(v.commitTs, newest, `${where}: committed at +${v.commitTs - BASE_TS}, not the newest (+${newest - BASE_TS})`);
        assert.deepEqual({ commitTs: r.commitTs, row: r.row }, { commitTs: v.commitTs, row: v.row }, `${where}: content`);
        assert.ok(!supersededSameMs.has(v.version), `${where}, which a version committed in the same ms read and replaced`);
        assert.ok(!lostSameMs.has(v.version), `${where}, which lost an LWW conflict against a version of the same commit time`);
        const latest = model.latest.get(rowKey);
        if (asOf === sc.end && latest && latest.commitTs === newest) {
          assert.equal(
            label(r.version),
            latest.label,
            `${where}, but the row's latest (also its newest by commit time) is ${latest.label}`,
          );
        }
      });
    }
  }
}

/** fast-check parameters: `numRuns` unless STRATUM_FC_RUNS says otherwise; seed and path to replay a failure. */
function fcParameters(numRuns: number): fc.Parameters<[Scenario]> {
  const seed = process.env.STRATUM_FC_SEED;
  const path = process.env.STRATUM_FC_PATH;
  return {
    numRuns: Number(process.env.STRATUM_FC_RUNS ?? numRuns),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
  };
}

// ---------------------------------------------------------------- the test

describe('ingestion merge (property, against a reference model)', () => {
  before(async () => {
    // A RAM file system when there is one: still real LMDB, but fsync costs nothing, so the
    // number of runs does not depend on how busy the disk is. Restarts here are clean closes.
    root = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'stratum-merge-prop-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('merges random interleavings, duplicates and redeliveries like the model: same state, every version once', async (t) => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (sc) => runScenario(sc, check)),
      fcParameters(300),
    );
    t.diagnostic(`model totals over ${totals.runs} passing runs: ${JSON.stringify(totals)}`);
  });

  test('AS OF reads: the newest non-rejected version by commit time, same-ms ties as the merge resolved them', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (sc) => runScenario(sc, checkAsOf)),
      fcParameters(100),
    );
  });
});
