/**
 * Thread RPC and the bus over a MessagePort (docs/architecture.md, "Threads"), on real
 * MessageChannels and a real local bus: values arrive as the caller had them, errors keep their
 * SQLSTATE, abortable calls cancel the remote work, a closed port fails pending calls, and the
 * bus's publishes and catalog stream cross in order.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { openLocalBus } from '../bus/index.ts';
import { StratumError } from '../errors.ts';
import { portBus, serveBus } from './port-bus.ts';
import { portClient, servePort } from './port-rpc.ts';

interface Api {
  echo(v: unknown): Promise<unknown>;
  fail(code: string): Promise<void>;
  wait(signal?: AbortSignal): Promise<string>;
  quick(signal?: AbortSignal): Promise<string>;
}

function pair() {
  const ch = new MessageChannel();
  let aborted = false;
  const impl: Api = {
    echo: async (v) => v,
    fail: async (code) => {
      throw new StratumError(code, `failed with ${code}`);
    },
    wait: (signal) =>
      new Promise((resolve, reject) => {
        signal?.addEventListener('abort', () => {
          aborted = true;
          reject(new StratumError('57014', 'canceling statement due to user request'));
        });
        setTimeout(() => resolve('done'), 60_000).unref();
      }),
    quick: async () => 'quick',
  };
  servePort(ch.port2, impl, ['echo', 'fail', 'wait', 'quick']);
  const client = portClient<Api>(ch.port1, ['echo', 'fail', 'wait', 'quick'], { name: 'test thread', abortable: ['wait', 'quick'] });
  return { ch, client, aborted: () => aborted };
}

test('thread RPC: values arrive as sent (bigint, -0, NaN, bytes, nested arrays)', async () => {
  const { ch, client } = pair();
  const v = [1n << 70n, -0, Number.NaN, new Uint8Array([1, 2, 3]), ['a', [null, true]], { k: 'v' }];
  const got = (await client.echo(v)) as unknown[];
  assert.deepEqual(got, v);
  assert.ok(Object.is(got[1], -0), '-0 stays -0');
  // Many calls in one turn travel together and each gets its own answer.
  const many = await Promise.all(Array.from({ length: 100 }, (_, i) => client.echo(i)));
  assert.deepEqual(
    many,
    Array.from({ length: 100 }, (_, i) => i),
  );
  ch.port1.close();
});

test('thread RPC: remote errors keep their SQLSTATE; an abortable call cancels the remote work', async () => {
  const { ch, client, aborted } = pair();
  await assert.rejects(client.fail('23505'), (e: StratumError) => e.code === '23505' && /failed with 23505/.test(e.message));
  const ac = new AbortController();
  const p = client.wait(ac.signal);
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(p, (e: StratumError) => e.code === '57014');
  assert.equal(aborted(), true, 'the serving side saw the abort');
  ch.port1.close();
});

test("thread RPC: abortable calls that settle leave no listener on the caller's signal", async () => {
  const { ch, client } = pair();
  const ac = new AbortController();
  // A statement's signal outlives many calls (a scan's pages).
  const got = await Promise.all(Array.from({ length: 50 }, () => client.quick(ac.signal)));
  assert.equal(got.length, 50);
  await assert.rejects(client.fail('23505'));
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  ch.port1.close();
});

test('thread RPC: a closed port fails pending and later calls with 08006', async () => {
  const { ch, client } = pair();
  const p = client.wait();
  ch.port2.close();
  await assert.rejects(p, (e: StratumError) => e.code === '08006');
  await assert.rejects(client.echo(1), (e: StratumError) => e.code === '08006');
});

test('bus over a port: publish stores on the served bus; the catalog stream replays, then follows, in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stratum-port-bus-'));
  const bus = await openLocalBus(dir);
  const ch = new MessageChannel();
  const stop = serveBus(ch.port2, bus);
  const remote = portBus(ch.port1, 'test bus', bus.maxPayloadBytes());
  try {
    await bus.publishCatalog(new Uint8Array([1]));
    const ack = await remote.publish('tx1', 3, 'tx1:3:1-1', new Uint8Array([7, 7]));
    assert.equal(ack.duplicate, false);
    assert.equal((await remote.publish('tx1', 3, 'tx1:3:1-1', new Uint8Array([7, 7]))).duplicate, true, 'dedupe by message id');
    const seen: [number, number][] = [];
    const sub = await remote.subscribeCatalog(0, (v, p) => seen.push([v, p[0] ?? -1]));
    assert.deepEqual(seen, [[1, 1]], 'records existing at subscribe time are handled before it resolves');
    assert.equal(await remote.publishCatalog(new Uint8Array([2])), 2);
    await bus.publishCatalog(new Uint8Array([3]));
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, [
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    await sub.stop();
    // The message published through the port is in the served bus's log.
    const got: number[][] = [];
    const s2 = await bus.subscribe({ name: 't', partitions: [3], after: new Map() }, async (msgs) => {
      for (const m of msgs) got.push([...m.payload]);
    });
    for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [[7, 7]]);
    await s2.stop();
  } finally {
    await stop();
    ch.port1.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
});
