/**
 * Bad input against a running `stratum up`: oversized statements, malformed and truncated
 * wire messages, invalid config files. Each gets a clear error, the server keeps serving,
 * and nothing stored changes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, spawnStratum, startEmbeddedServer } from './test-harness.ts';

function startupPacket(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const b = Buffer.alloc(8 + body.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(196608, 4);
  body.copy(b, 8);
  return b;
}

/** Open a raw socket, do the startup, resolve once ReadyForQuery arrived. */
async function rawSession(port: number): Promise<{ sock: Socket; data: () => Buffer; closed: Promise<void> }> {
  const sock = netConnect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
  });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(startupPacket('stratum', 'stratum'));
  const deadline = Date.now() + 10_000;
  while (!buf.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) {
    if (Date.now() > deadline) throw new Error('no ReadyForQuery after startup');
    await new Promise((r) => setTimeout(r, 5));
  }
  buf = Buffer.alloc(0);
  return { sock, data: () => buf, closed };
}

/** SQLSTATE codes of ErrorResponse messages in a byte stream. */
function errorCodes(b: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i + 5 <= b.length) {
    const type = b[i]!;
    const len = b.readInt32BE(i + 1);
    if (type === 0x45) {
      const body = b.subarray(i + 5, i + 1 + len).toString();
      const m = /C([0-9A-Z]{5})\0/.exec(body);
      if (m?.[1]) out.push(m[1]);
    }
    i += 1 + len;
  }
  return out;
}

describe('bad input', { timeout: 180_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let client: pg.Client;
  const snapshot = async () => (await client.query('SELECT count(*)::bigint AS n, sum(v)::bigint AS s FROM kv')).rows[0];
  let baseline: unknown;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-bad-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
    client = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await client.connect();
    await client.query('CREATE TABLE kv (k text PRIMARY KEY, v bigint NOT NULL)');
    await client.query("INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3)");
    baseline = await snapshot();
  });

  after(async () => {
    await client?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('a statement over 16 MiB gets 54000 and the connection stays usable', async () => {
    const big = `INSERT INTO kv VALUES ('big', ${'1'.repeat(17 * 1024 * 1024)})`;
    await assert.rejects(client.query(big), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '54000', e.message);
      assert.match(e.message, /exceeds the limit/);
      return true;
    });
    await assert.rejects(client.query({ text: big.replace(/1+\)$/, '$1)'), values: ['1'.repeat(17 * 1024 * 1024)] }), { code: '54000' });
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
    assert.deepEqual(await snapshot(), baseline);
  });

  test('malformed wire messages close only that connection with 08P01', async () => {
    const garbage: Buffer[] = [
      Buffer.from([0x51, 0, 0, 0, 2]), // Query with a length below 4
      Buffer.from([0x7a, 0, 0, 0, 4]), // unknown message type 'z'
      Buffer.concat([Buffer.from([0x50, 0, 0, 0, 12]), Buffer.from('s1\0SELECT')]), // Parse without terminators
      Buffer.concat([Buffer.from([0x42, 0, 0, 0, 10]), Buffer.from('\0\0'), Buffer.from([0, 9, 0, 0])]), // Bind claiming 9 formats
    ];
    for (const g of garbage) {
      const s = await rawSession(srv.pgPort);
      s.sock.write(g);
      await s.closed;
      assert.deepEqual(errorCodes(s.data()), ['08P01'], `for ${g.toString('hex')}`);
    }
    // A truncated message followed by a hang-up.
    const t = await rawSession(srv.pgPort);
    t.sock.end(Buffer.from([0x51, 0, 0, 1, 0, 0x53, 0x45]));
    await t.closed;
    assert.equal((await client.query('SELECT 2 AS two')).rows[0].two, 2);
    assert.deepEqual(await snapshot(), baseline);
  });

  test('SQL errors in the extended protocol leave the session usable', async () => {
    await assert.rejects(client.query({ text: 'SELEKT $1', values: [1] }), { code: '42601' });
    await assert.rejects(client.query({ text: 'INSERT INTO kv VALUES ($1, $2)', values: ['d', 'not a number'] }), { code: '22P02' });
    await assert.rejects(client.query({ text: 'INSERT INTO kv (k, nope) VALUES ($1, $2)', values: ['d', 1] }), { code: '42703' });
    await assert.rejects(client.query({ text: 'SELECT * FROM kv WHERE nope = $1', values: [1] }), { code: '42703' });
    assert.equal((await client.query({ text: 'SELECT v FROM kv WHERE k = $1', values: ['b'] })).rows[0].v, '2');
    assert.deepEqual(await snapshot(), baseline);
  });

  test('an invalid config file is refused at start with file, line, path and expectation', async () => {
    const file = join(dir, 'stratum.yaml');
    await writeFile(file, 'cluster:\n  partitions: 16\n  tx_engine: []\nrouter:\n  pg: { port: "five" }\n');
    const err = await spawnStratum(['up', '--config', file, '--data-dir', join(dir, 'other')]).then(
      () => assert.fail('started with an invalid config'),
      (e: Error) => e.message,
    );
    assert.match(err, /exited with 2/);
    assert.ok(err.includes(`${file}:3:3: cluster.tx_engine: unknown key "tx_engine"`), err);
    assert.ok(err.includes(`${file}:5:`), err);
    assert.match(err, /router\.pg\.port: .*expected number/i);
  });

  test('a second server on the same data directory is refused', async () => {
    const err = await spawnStratum(['up', '--data-dir', srv.dataDir, '--pg-port', '0', '--http-port', '0']).then(
      () => assert.fail('a second server started on the same data directory'),
      (e: Error) => e.message,
    );
    assert.match(err, /data directory .* is in use by process \d+/);
  });

  test('the server is still healthy and nothing stored changed', async () => {
    const h = await fetch(`http://127.0.0.1:${srv.httpPort}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await snapshot(), baseline);
  });
});
