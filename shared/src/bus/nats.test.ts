/**
 * Contract tests of the NATS JetStream change bus against a real nats-server started by
 * the test harness (random port, temp store), plus an outage test: the server is stopped
 * and started again while a subscriber runs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BusUnavailableError } from '../errors.ts';
import { type NatsServerHandle, startNatsServer } from '../testing/index.ts';
import { Collector, runBusContract, waitUntil } from './contract.ts';
import { openNatsBus } from './nats.ts';
import type { ChangeBus } from './types.ts';

// Every contract test gets its own server (fresh store, fresh streams).
runBusContract('nats', async () => {
  const server = await startNatsServer();
  let bus: ChangeBus;
  try {
    bus = await openNatsBus({ servers: server.url, name: 'contract' });
  } catch (e) {
    await server.destroy();
    throw e;
  }
  return {
    bus,
    reopen: async () => {
      await bus.close();
      bus = await openNatsBus({ servers: server.url, name: 'contract-reopened' });
      return bus;
    },
    cleanup: async () => {
      await bus.close();
      await server.destroy();
    },
  };
});

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.destroy();
});

/** Publish, retrying (bounded) while the bus is unavailable; the same msgId makes retries safe. */
async function publishWithRetry(bus: ChangeBus, partition: number, msgId: string, payload: Uint8Array): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await bus.publish('eng', partition, msgId, payload);
      return;
    } catch (e) {
      if (!(e instanceof BusUnavailableError)) throw e;
      if (Date.now() > deadline) throw new Error(`publish of ${msgId} kept failing: ${e.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('nats outage: publishes fail fast while the server is down; the subscriber resumes without gaps or duplicates', async () => {
  const bus = await openNatsBus({ servers: server.url, name: 'outage', publishTimeoutMs: 1000 });
  const col = new Collector();
  const sub = await bus.subscribe({ name: 'outage', partitions: [0, 1], after: new Map(), maxBatch: 3 }, col.handler);
  try {
    const expected: string[] = [];
    for (let i = 0; i < 6; i++) {
      await publishWithRetry(bus, i % 2, `o-${i}`, new Uint8Array([i]));
      expected.push(`o-${i}`);
    }
    await col.waitFor(expected, 'messages before the outage');
    assert.equal(bus.connected(), true);

    await server.stop();
    // The first publish after the stop may race the client noticing the disconnect; either
    // way it must reject with BusUnavailableError (not hang, not succeed).
    await assert.rejects(bus.publish('eng', 0, 'o-down', new Uint8Array([99])), BusUnavailableError);
    await waitUntil(
      () => !bus.connected(),
      () => 'connected() to turn false while the server is down',
    );
    await assert.rejects(bus.publish('eng', 1, 'o-down', new Uint8Array([99])), BusUnavailableError);
    await assert.rejects(bus.publishCatalog(new Uint8Array([1])), BusUnavailableError);

    await server.start();
    await waitUntil(
      () => bus.connected(),
      () => 'connected() to turn true after the server restarted',
    );
    // The failed publish is retried with the same id (the caller's job); dedupe makes it safe
    // even if the broker had stored the first attempt.
    await publishWithRetry(bus, 0, 'o-down', new Uint8Array([99]));
    expected.splice(6, 0, 'o-down');
    for (let i = 6; i < 12; i++) {
      await publishWithRetry(bus, i % 2, `o-${i}`, new Uint8Array([i]));
      expected.push(`o-${i}`);
    }
    await col.waitFor(expected, 'messages after the outage');
    // Sentinels behind everything: any duplicate would have arrived before them.
    await publishWithRetry(bus, 0, 'o-end-0', new Uint8Array());
    await publishWithRetry(bus, 1, 'o-end-1', new Uint8Array());
    await col.waitFor(['o-end-0', 'o-end-1'], 'sentinels');
  } finally {
    await sub.stop();
    await bus.close();
  }
  const got = col.ids().filter((id) => !id.startsWith('o-end'));
  assert.equal(new Set(got).size, got.length, `no duplicates: ${got.join(',')}`);
  const byPartition = (p: number): string[] =>
    col.msgs.filter((m) => m.partition === p && !m.msgId.startsWith('o-end')).map((m) => m.msgId);
  assert.deepEqual(byPartition(0), ['o-0', 'o-2', 'o-4', 'o-down', 'o-6', 'o-8', 'o-10']);
  assert.deepEqual(byPartition(1), ['o-1', 'o-3', 'o-5', 'o-7', 'o-9', 'o-11']);
  assert.ok(col.maxInFlight === 1 && col.batchSizes.every((n) => n <= 3));
});

test('nats: openNatsBus rejects with BusUnavailableError when no server listens', async () => {
  const { freePort } = await import('../testing/index.ts');
  const port = await freePort();
  await assert.rejects(openNatsBus({ servers: `nats://127.0.0.1:${port}` }), BusUnavailableError);
});
