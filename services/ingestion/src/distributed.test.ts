/**
 * `find` and `indexStatus` as the distributed form serves them: over the HTTP RPC of shared/src/rpc.ts
 * (MessagePack: bigint and byte-string keys survive, errors keep their SQLSTATE), and across two
 * ingestion engines that split the stream partitions, seen as one `IngestionApi` through
 * `ingestionSet` (scans merged in storage-key order so paging is exact; builds done once done on
 * both).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Catalog,
  type ChangeBus,
  type HttpServer,
  type IngestionApi,
  ingestionSet,
  openLocalBus,
  partitionOf,
  registerRpc,
  rootLogger,
  rpcClient,
  startHttpServer,
  type Value,
} from '@stratum/shared';
import { type IngestionService, ROW_TIER_ONLY, startIngestion } from './index.ts';
import { ins, until, Writer } from './test-support.ts';

const METHODS = ['get', 'getMany', 'find', 'indexStatus', 'status'] as const;

describe('ingestion find and indexStatus over RPC and across engines', () => {
  let dir: string;
  let bus: ChangeBus;
  const engines: IngestionService[] = [];
  const servers: HttpServer[] = [];
  const clients: (IngestionApi & { closeClient(): Promise<void> })[] = [];
  const catalog = new Catalog();
  let set: IngestionApi;
  const keys: bigint[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-ing-rpc-'));
    bus = await openLocalBus(join(dir, 'bus'));
    catalog.apply(1, {
      kind: 'create_table',
      at: 0,
      table: {
        name: 'kv',
        storage: 'kv_7',
        columns: [
          { name: 'k', type: 'bigint', notNull: true },
          { name: 'v', type: 'text', notNull: false },
          { name: 'b', type: 'bytea', notNull: false },
        ],
        primaryKey: ['k'],
        indexes: [{ name: 'kv_v', columns: ['v'], unique: false, state: 'building' }],
      },
    });
    for (const p of [0, 1]) {
      const ing = await startIngestion({
        id: `i${p}`,
        dir: join(dir, `ing${p}`),
        partitions: [p],
        catalog,
        bus,
        ...ROW_TIER_ONLY,
        log: rootLogger(),
      });
      engines.push(ing);
      const srv = await startHttpServer({
        host: '127.0.0.1',
        port: 0,
        health: () => ({ status: 'ok' }),
        setup: (app) => registerRpc(app, ing, METHODS),
      });
      servers.push(srv);
      clients.push(rpcClient<IngestionApi>(`http://127.0.0.1:${srv.port}`, METHODS, { name: `ingestion i${p}` }));
    }
    set = ingestionSet(
      clients.map((api, p) => ({ id: `i${p}`, api, partitions: [p] })),
      2,
    );
    const writers = [new Writer(bus, catalog, 'e1', 0), new Writer(bus, catalog, 'e1', 1)];
    const changes: Parameters<Writer['commit']>[1][] = [[], []];
    for (let i = 0; i < 60; i++) {
      const k = 2n ** 60n + BigInt(i * 7919);
      keys.push(k);
      changes[partitionOf('kv_7', [k], 2)]?.push(ins('kv_7', [k], { k, v: `v${i % 5}`, b: Buffer.from([i, 0, 255]) }, 1000));
    }
    for (const p of [0, 1]) await writers[p]?.commit(1000, changes[p] ?? []);
    for (const ing of engines) await until(async () => (await ing.status()).watermark >= 1000, 'watermark');
    keys.sort((a, b) => (a < b ? -1 : 1));
  });
  after(async () => {
    for (const c of clients) await c.closeClient();
    for (const s of servers) await s.close();
    for (const e of engines) await e.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a scan paged through ingestionSet returns every row once, in key order, with exact bigint and bytea values', async () => {
    const seen: Value[] = [];
    let afterKey: Value[] | undefined;
    for (;;) {
      const page = await set.find('kv_7', { by: 'scan' }, afterKey ? { limit: 7, afterKey } : { limit: 7 });
      if (page.length === 0) break;
      for (const r of page) seen.push(r.key?.[0] as Value);
      afterKey = page[page.length - 1]?.key;
    }
    assert.deepEqual(seen, keys);
    const [one] = await set.find(
      'kv_7',
      { by: 'range', lo: { v: keys[3] as bigint, incl: true }, hi: { v: keys[3] as bigint, incl: true } },
      {},
    );
    assert.equal(one?.row?.k, keys[3]);
    assert.ok(one?.row?.b instanceof Uint8Array);
  });

  test('index lookups and build status across engines; errors keep their SQLSTATE over RPC', async () => {
    await until(async () => (await set.indexStatus('kv_7', 'kv_v')).state === 'done', 'both builds');
    const got = await set.find('kv_7', { by: 'index', index: 'kv_v', eq: ['v3'] }, {});
    assert.equal(got.length, 12);
    assert.ok(got.every((r) => r.row?.v === 'v3'));
    await assert.rejects(clients[0]?.indexStatus('kv_7', 'nope') as Promise<unknown>, { code: '42704' });
    await assert.rejects(clients[1]?.find('kv_7', { by: 'index', index: 'kv_v', eq: ['x'] }, { afterKey: [1n] }) as Promise<unknown>, {
      code: '22023',
    });
  });
});
