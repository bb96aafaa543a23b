/** Contract tests of the embedded (LMDB) change bus, plus local-only checks (trim after ack). */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { tempDir } from '../testing/index.ts';
import { Collector, runBusContract } from './contract.ts';
import { openLocalBus } from './local.ts';
import type { ChangeBus } from './types.ts';

runBusContract('local', async () => {
  const dir = await tempDir('stratum-local-bus-');
  let bus: ChangeBus = await openLocalBus(dir);
  return {
    bus,
    reopen: async () => {
      await bus.close();
      bus = await openLocalBus(dir);
      return bus;
    },
    cleanup: async () => {
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('local bus: acked entries are trimmed lazily; unacked ones stay', async () => {
  const dir = await tempDir('stratum-local-bus-trim-');
  const bus = await openLocalBus(dir);
  try {
    for (let i = 1; i <= 10; i++) await bus.publish('eng', 0, `t-${i}`, new Uint8Array([i]));
    for (let i = 1; i <= 3; i++) await bus.publish('eng', 1, `u-${i}`, new Uint8Array([i]));
    const col = new Collector();
    const sub = await bus.subscribe({ name: 'trim', partitions: [0, 1], after: new Map() }, col.handler);
    await col.waitFor(['t-10', 'u-3'], 'all messages');
    sub.ack(0, 6);
    // Trimming is lazy; poll (bounded) until a fresh reader no longer sees positions <= 6 of partition 0.
    const deadline = Date.now() + 10_000;
    let firstSeen = 0;
    for (;;) {
      const probe = new Collector();
      const s = await bus.subscribe({ name: 'probe', partitions: [0], after: new Map() }, probe.handler);
      await probe.waitFor(['t-10'], 'probe');
      await s.stop();
      firstSeen = probe.msgs[0]?.position ?? 0;
      if (firstSeen === 7) break;
      assert.ok(Date.now() < deadline, `log of partition 0 not trimmed to position 6 (first position ${firstSeen})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await sub.stop();
    // Partition 1 was never acked: still complete. New publishes continue the positions.
    const all = new Collector();
    const s2 = await bus.subscribe({ name: 'after-trim', partitions: [0, 1], after: new Map() }, all.handler);
    const ack = await bus.publish('eng', 0, 't-11', new Uint8Array([11]));
    assert.equal(ack.position, 11);
    await all.waitFor(['u-1', 'u-2', 'u-3', 't-11'], 'untrimmed partition and new message');
    await s2.stop();
    // Dedupe still knows trimmed ids.
    const dup = await bus.publish('eng', 0, 't-1', new Uint8Array([1]));
    assert.deepEqual(dup, { position: 1, duplicate: true });
  } finally {
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('local bus: publish after close rejects with BusUnavailableError; invalid arguments throw TypeError', async () => {
  const dir = await tempDir('stratum-local-bus-closed-');
  const bus = await openLocalBus(dir);
  try {
    await assert.rejects(bus.publish('bad.engine', 0, 'x', new Uint8Array()), TypeError);
    await assert.rejects(bus.publish('eng', -1, 'x', new Uint8Array()), TypeError);
    await assert.rejects(bus.publish('eng', 0, '', new Uint8Array()), TypeError);
    assert.equal(bus.connected(), true);
  } finally {
    await bus.close();
  }
  assert.equal(bus.connected(), false);
  await assert.rejects(bus.publish('eng', 0, 'x', new Uint8Array()), (e: Error) => e.name === 'BusUnavailableError');
  await rm(dir, { recursive: true, force: true });
});
