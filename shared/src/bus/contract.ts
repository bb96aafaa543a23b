/**
 * The ONE contract suite every {@link ChangeBus} adapter passes (DESIGN §3): ordering per
 * (engine, partition), at-least-once delivery, redelivery after a consumer restart,
 * dedupe of republished ids (also across a bus restart), backpressure, the catalog log,
 * and exact payload round-trips.
 *
 * Adapters that call {@link runBusContract}:
 * - local (embedded LMDB): `local.test.ts`
 * - NATS JetStream:        `nats.test.ts`
 * - Kafka:                 kafka.test.ts (skipped, with the reason, when KAFKA_BROKERS is not set)
 *
 * The tests never assert timings; every wait is bounded and fails with a message that
 * says what was awaited and what arrived.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeBus, DeliveredMessage } from './types.ts';

/** What a contract test gets from the adapter's factory. */
export interface BusContractHarness {
  /** A freshly opened bus over empty storage. */
  bus: ChangeBus;
  /**
   * Close the current bus (if still open) and open a new one over the same storage
   * (same LMDB directory / same broker). The returned bus replaces `bus`.
   */
  reopen: () => Promise<ChangeBus>;
  /** Close whatever bus is open and release the storage (temp dirs, broker processes). */
  cleanup: () => Promise<void>;
}

/** Bounded wait used by the suite (ms); generous, never a timing assertion. */
export const CONTRACT_WAIT_MS = 20_000;

const enc = new TextEncoder();
const dec = new TextDecoder();

function jsonBytes(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

function fromJsonBytes<T>(b: Uint8Array): T {
  return JSON.parse(dec.decode(b)) as T;
}

/** Poll `cond` every 10 ms until true; throws `Error(describe())` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, describe: () => string, timeoutMs = CONTRACT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects deliveries and checks the backpressure rules while doing so. */
export class Collector {
  readonly msgs: DeliveredMessage[] = [];
  readonly batchSizes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Optional per-batch work (e.g. a slow handler). */
  work: ((batch: DeliveredMessage[]) => Promise<void>) | undefined;

  readonly handler = async (batch: DeliveredMessage[]): Promise<void> => {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      this.batchSizes.push(batch.length);
      if (this.work) await this.work(batch);
      this.msgs.push(...batch);
    } finally {
      this.inFlight--;
    }
  };

  ids(): string[] {
    return this.msgs.map((m) => m.msgId);
  }

  /** Wait until the collected message ids include every id of `ids`. */
  async waitFor(ids: Iterable<string>, what: string): Promise<void> {
    const want = [...ids];
    await waitUntil(
      () => {
        const have = new Set(this.ids());
        return want.every((id) => have.has(id));
      },
      () => {
        const have = new Set(this.ids());
        const missing = want.filter((id) => !have.has(id));
        return `${what}: ${missing.length} of ${want.length} ids missing (first: ${missing.slice(0, 5).join(', ')}); got ${this.msgs.length} messages`;
      },
    );
  }
}

/** Check per-partition positions are strictly increasing in delivery order. */
function assertPositionsIncrease(msgs: DeliveredMessage[]): void {
  const last = new Map<number, number>();
  for (const m of msgs) {
    const prev = last.get(m.partition);
    if (prev !== undefined) {
      assert.ok(m.position > prev, `partition ${m.partition}: position ${m.position} delivered after ${prev}`);
    }
    last.set(m.partition, m.position);
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Run `fn` with a fresh harness; cleanup always runs. */
async function withBus(
  open: () => Promise<BusContractHarness>,
  fn: (h: { current: ChangeBus; reopen: () => Promise<ChangeBus> }) => Promise<void>,
): Promise<void> {
  const h = await open();
  const state = {
    current: h.bus,
    reopen: async () => {
      state.current = await h.reopen();
      return state.current;
    },
  };
  try {
    await fn(state);
  } finally {
    await h.cleanup();
  }
}

/** Publish and return the ack, asserting it is not a duplicate. */
async function pub(bus: ChangeBus, engine: string, partition: number, msgId: string, payload: Uint8Array): Promise<number> {
  const ack = await bus.publish(engine, partition, msgId, payload);
  assert.equal(ack.duplicate, false, `publish of ${msgId} reported duplicate`);
  assert.ok(ack.position > 0, `publish of ${msgId} returned position ${ack.position}`);
  return ack.position;
}

/**
 * Register the contract tests (node:test) for one adapter.
 * @param name adapter name used in the test titles ('local', 'nats', 'kafka').
 * @param open factory giving each test a fresh bus over empty storage, a `reopen` that
 *   restarts the bus over the same storage, and a `cleanup`.
 */
export function runBusContract(name: string, open: () => Promise<BusContractHarness>): void {
  describe(`ChangeBus contract: ${name}`, () => {
    test('ordering per (engine, partition) with interleaved engines and partitions', async () => {
      await withBus(open, async ({ current: bus }) => {
        const engines = ['e1', 'e2', 'e3'];
        const partitions = [0, 1, 2, 3];
        const perStream = 15;
        const col = new Collector();
        // Producers run concurrently (one sequential producer per stream) while the subscriber starts.
        const producers: Promise<void>[] = [];
        for (const e of engines) {
          for (const p of partitions) {
            producers.push(
              (async () => {
                for (let i = 0; i < perStream; i++) {
                  await pub(bus, e, p, `${e}:${p}:${i}`, jsonBytes({ e, p, i }));
                }
              })(),
            );
          }
        }
        const sub = await bus.subscribe({ name: 'order', partitions, after: new Map(), maxBatch: 7 }, col.handler);
        try {
          await Promise.all(producers);
          const all = engines.flatMap((e) => partitions.flatMap((p) => Array.from({ length: perStream }, (_, i) => `${e}:${p}:${i}`)));
          await col.waitFor(all, 'all interleaved messages');
        } finally {
          await sub.stop();
        }
        assertPositionsIncrease(col.msgs);
        const next = new Map<string, number>();
        for (const m of col.msgs) {
          const body = fromJsonBytes<{ e: string; p: number; i: number }>(m.payload);
          assert.equal(m.engine, body.e);
          assert.equal(m.partition, body.p);
          const key = `${body.e}:${body.p}`;
          const expected = next.get(key) ?? 0;
          // at-least-once: a re-delivery may repeat an earlier index, never skip or reorder
          assert.ok(body.i <= expected, `${key}: got index ${body.i} while expecting ${expected}`);
          if (body.i === expected) next.set(key, expected + 1);
        }
        for (const e of engines) for (const p of partitions) assert.equal(next.get(`${e}:${p}`), perStream, `${e}:${p} complete`);
        assert.ok(
          col.batchSizes.every((n) => n >= 1 && n <= 7),
          `batch sizes within maxBatch: ${col.batchSizes.join(',')}`,
        );
      });
    });

    test('at-least-once: everything published before and after subscribing is delivered, only subscribed partitions', async () => {
      await withBus(open, async ({ current: bus }) => {
        const before: string[] = [];
        for (let i = 0; i < 20; i++) {
          const id = `b-${i}`;
          await pub(bus, 'eng', i % 4, id, jsonBytes(i));
          before.push(id);
        }
        const col = new Collector();
        const sub = await bus.subscribe({ name: 'alo', partitions: [0, 1, 2], after: new Map() }, col.handler);
        try {
          const after: string[] = [];
          for (let i = 0; i < 20; i++) {
            const id = `a-${i}`;
            await pub(bus, 'eng', i % 4, id, jsonBytes(i));
            after.push(id);
          }
          const wanted = [...before, ...after].filter((_, idx) => idx % 4 !== 3);
          await col.waitFor(wanted, 'messages of partitions 0..2');
          // A sentinel on a subscribed partition after everything else proves nothing from partition 3 is coming.
          await pub(bus, 'eng', 0, 'sentinel', new Uint8Array([1]));
          await col.waitFor(['sentinel'], 'sentinel');
        } finally {
          await sub.stop();
        }
        assert.ok(
          col.msgs.every((m) => m.partition !== 3),
          'no message of an unsubscribed partition',
        );
        assertPositionsIncrease(col.msgs);
      });
    });

    test('redelivery after a consumer restart: resume after stored positions; an older position replays', async () => {
      await withBus(open, async ({ current: bus }) => {
        const ids: string[] = [];
        const posOf = new Map<string, number>();
        for (let i = 0; i < 40; i++) {
          const id = `r-${i}`;
          posOf.set(id, await pub(bus, 'eng', i % 2, id, jsonBytes(i)));
          ids.push(id);
        }
        // First consumer: processes about 10 messages, then "crashes": later batches are
        // dropped unprocessed and the subscription is stopped.
        const first = new Collector();
        let reached: () => void = () => {};
        const enough = new Promise<void>((r) => {
          reached = r;
        });
        const sub1 = await bus.subscribe({ name: 'restart', partitions: [0, 1], after: new Map(), maxBatch: 5 }, async (batch) => {
          if (first.msgs.length >= 10) {
            reached();
            return;
          }
          await first.handler(batch);
        });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          enough,
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`first consumer got only ${first.msgs.length} messages`)), CONTRACT_WAIT_MS);
          }),
        ]);
        clearTimeout(timer);
        await sub1.stop();
        const processed = first.msgs.length;
        assert.ok(processed >= 10 && processed < 40, `first consumer processed ${processed}`);
        const stored = new Map<number, number>();
        for (const m of first.msgs) stored.set(m.partition, m.position);
        const processedIds = new Set(first.ids());
        const rest = ids.filter((id) => !processedIds.has(id));

        // Restart with the stored positions: exactly the rest.
        const second = new Collector();
        const sub2 = await bus.subscribe({ name: 'restart', partitions: [0, 1], after: stored, maxBatch: 5 }, second.handler);
        try {
          await second.waitFor(rest, 'the unprocessed rest');
          await pub(bus, 'eng', 0, 'r-sentinel-0', new Uint8Array());
          await pub(bus, 'eng', 1, 'r-sentinel-1', new Uint8Array());
          await second.waitFor(['r-sentinel-0', 'r-sentinel-1'], 'sentinels');
        } finally {
          await sub2.stop();
        }
        assert.deepEqual(
          second
            .ids()
            .filter((id) => !id.startsWith('r-sentinel'))
            .sort(),
          [...rest].sort(),
          'second consumer got exactly the messages after the stored positions',
        );

        // Restart with an older position on partition 0 and none on partition 1: older ones again.
        const older = posOf.get('r-4');
        assert.ok(older !== undefined);
        const third = new Collector();
        const sub3 = await bus.subscribe({ name: 'restart', partitions: [0, 1], after: new Map([[0, older]]), maxBatch: 5 }, third.handler);
        try {
          const expected = [...ids.filter((_id, i) => i % 2 === 1 || i > 4), 'r-sentinel-0', 'r-sentinel-1'];
          await third.waitFor(expected, 'replay from an older position');
        } finally {
          await sub3.stop();
        }
        assert.ok(
          !third.ids().includes('r-0') && !third.ids().includes('r-2') && !third.ids().includes('r-4'),
          'nothing at or before `after`',
        );
        assertPositionsIncrease(third.msgs);
      });
    });

    test('a rejecting handler stops the subscription, reports onError, and the failed messages are not skipped', async () => {
      await withBus(open, async ({ current: bus }) => {
        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
          const id = `h-${i}`;
          await pub(bus, 'eng', 0, id, jsonBytes(i));
          ids.push(id);
        }
        const processed: string[] = [];
        let lastPos = 0;
        const errors: Error[] = [];
        const sub = await bus.subscribe(
          { name: 'failing', partitions: [0], after: new Map(), maxBatch: 2 },
          async (batch) => {
            if (batch.some((m) => m.msgId === 'h-5')) throw new Error('handler boom');
            for (const m of batch) {
              processed.push(m.msgId);
              lastPos = m.position;
            }
          },
          (e) => errors.push(e),
        );
        await waitUntil(
          () => errors.length > 0,
          () => `onError after the handler rejected (processed ${processed.join(',')})`,
        );
        await sub.stop();
        assert.equal(errors.length, 1, 'one error reported');
        assert.match((errors[0] as Error).message, /handler boom/);
        assert.ok(!processed.includes('h-5'));
        const expectedRest = ids.slice(processed.length);
        assert.ok(expectedRest.includes('h-5'));

        const col = new Collector();
        const sub2 = await bus.subscribe({ name: 'failing', partitions: [0], after: new Map([[0, lastPos]]) }, col.handler);
        try {
          await col.waitFor(expectedRest, 'the failed and later messages');
        } finally {
          await sub2.stop();
        }
        assert.deepEqual(col.ids(), expectedRest, 'resumed exactly at the failed messages');
      });
    });

    test('dedupe: a republished msgId is reported duplicate and delivered once', async () => {
      await withBus(open, async ({ current: bus }) => {
        const a1 = await bus.publish('eng', 1, 'dup-1', jsonBytes('first'));
        assert.equal(a1.duplicate, false);
        const a2 = await bus.publish('eng', 1, 'dup-1', jsonBytes('second'));
        assert.equal(a2.duplicate, true);
        assert.ok(a2.position === a1.position || a2.position === -1, `duplicate position ${a2.position} (original ${a1.position})`);
        // Same id on another partition is still a duplicate (ids are bus-wide).
        const a3 = await bus.publish('eng', 2, 'dup-1', jsonBytes('third'));
        assert.equal(a3.duplicate, true);
        await pub(bus, 'eng', 1, 'dup-sentinel', new Uint8Array());
        const col = new Collector();
        const sub = await bus.subscribe({ name: 'dedupe', partitions: [1, 2], after: new Map() }, col.handler);
        try {
          await col.waitFor(['dup-sentinel'], 'sentinel');
        } finally {
          await sub.stop();
        }
        const dups = col.msgs.filter((m) => m.msgId === 'dup-1');
        assert.equal(dups.length, 1, 'dup-1 delivered once');
        assert.equal(fromJsonBytes<string>((dups[0] as DeliveredMessage).payload), 'first');
      });
    });

    test('dedupe survives a restart of the bus', async () => {
      await withBus(open, async (h) => {
        const first = await h.current.publish('eng', 0, 'keep-1', jsonBytes(1));
        assert.equal(first.duplicate, false);
        const bus2 = await h.reopen();
        const again = await bus2.publish('eng', 0, 'keep-1', jsonBytes(2));
        assert.equal(again.duplicate, true, 'republish after restart is a duplicate');
        await pub(bus2, 'eng', 0, 'keep-2', jsonBytes(3));
        const col = new Collector();
        const sub = await bus2.subscribe({ name: 'dedupe-restart', partitions: [0], after: new Map() }, col.handler);
        try {
          await col.waitFor(['keep-1', 'keep-2'], 'messages after restart');
        } finally {
          await sub.stop();
        }
        assert.deepEqual(col.ids(), ['keep-1', 'keep-2']);
      });
    });

    test('backpressure: one handler call in flight, at most maxBatch messages per call', async () => {
      await withBus(open, async ({ current: bus }) => {
        const col = new Collector();
        col.work = async () => {
          // A slow handler: several event-loop turns per batch while publishes keep arriving.
          for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 2));
        };
        const maxBatch = 4;
        const sub = await bus.subscribe({ name: 'slow', partitions: [0, 1, 2], after: new Map(), maxBatch }, col.handler);
        const ids: string[] = [];
        try {
          for (let i = 0; i < 60; i++) {
            const id = `bp-${i}`;
            await pub(bus, 'eng', i % 3, id, jsonBytes(i));
            ids.push(id);
          }
          await col.waitFor(ids, 'all messages through the slow handler');
        } finally {
          await sub.stop();
        }
        assert.equal(col.maxInFlight, 1, 'never more than one handler call in flight');
        assert.ok(
          col.batchSizes.every((n) => n >= 1 && n <= maxBatch),
          `batch sizes: ${col.batchSizes.join(',')}`,
        );
        assertPositionsIncrease(col.msgs);
        assert.equal(col.inFlight, 0, 'stop() waited for the in-flight call');
      });
    });

    test('catalog: versions from 1, replay from `after`, then follow', async () => {
      await withBus(open, async ({ current: bus }) => {
        const versions: number[] = [];
        for (let i = 1; i <= 3; i++) versions.push(await bus.publishCatalog(jsonBytes({ ddl: i })));
        assert.deepEqual(versions, [1, 2, 3]);

        const seen: Array<[number, number]> = [];
        const sub = await bus.subscribeCatalog(0, (v, payload) => {
          seen.push([v, fromJsonBytes<{ ddl: number }>(payload).ddl]);
        });
        try {
          assert.deepEqual(
            seen,
            [
              [1, 1],
              [2, 2],
              [3, 3],
            ],
            'existing records handled before subscribeCatalog resolved',
          );
          assert.equal(await bus.publishCatalog(jsonBytes({ ddl: 4 })), 4);
          await waitUntil(
            () => seen.length >= 4,
            () => `catalog record 4 (have ${JSON.stringify(seen)})`,
          );
          assert.deepEqual(seen[3], [4, 4]);
        } finally {
          await sub.stop();
        }

        const tail: number[] = [];
        const sub2 = await bus.subscribeCatalog(2, (v) => {
          tail.push(v);
        });
        await sub2.stop();
        assert.deepEqual(tail, [3, 4], 'replay strictly after version 2');

        const none: number[] = [];
        const sub3 = await bus.subscribeCatalog(4, (v) => {
          none.push(v);
        });
        await sub3.stop();
        assert.deepEqual(none, [], 'nothing after the last version');
      });
    });

    test('payload bytes round-trip exactly (empty, small, ~1 MB)', async () => {
      await withBus(open, async ({ current: bus }) => {
        const payloads = new Map<string, Uint8Array>([
          ['empty', new Uint8Array(0)],
          ['bytes', new Uint8Array([0, 1, 2, 127, 128, 254, 255])],
          ['random-4k', pseudoRandomBytes(4096, 7)],
          // ~1 MB: fits NATS's default max_payload (1 MiB) including headers.
          ['large', pseudoRandomBytes(1_000_000, 42)],
        ]);
        for (const [id, payload] of payloads) await pub(bus, 'eng-x', 5, id, payload);
        const catalogBig = pseudoRandomBytes(200_000, 3);
        const v = await bus.publishCatalog(catalogBig);
        const col = new Collector();
        const sub = await bus.subscribe({ name: 'bytes', partitions: [5], after: new Map(), maxBatch: 2 }, col.handler);
        try {
          await col.waitFor(payloads.keys(), 'all payloads');
        } finally {
          await sub.stop();
        }
        for (const m of col.msgs) {
          const want = payloads.get(m.msgId);
          assert.ok(want !== undefined, `unexpected ${m.msgId}`);
          assert.ok(m.payload instanceof Uint8Array);
          assert.equal(m.payload.byteLength, want.byteLength, `${m.msgId} length`);
          assert.ok(Buffer.from(m.payload).equals(Buffer.from(want)), `${m.msgId} bytes`);
          assert.equal(m.engine, 'eng-x');
          assert.equal(m.partition, 5);
        }
        let got: Uint8Array | undefined;
        const csub = await bus.subscribeCatalog(v - 1, (_v, p) => {
          got = p;
        });
        await csub.stop();
        assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(catalogBig)), 'catalog payload bytes');
      });
    });
  });
}
